# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from markupsafe import Markup

from odoo import api, fields, models
from odoo.tools import format_list

from .res_company import BACKFLUSH_MODES, SHORTAGE_POLICIES, SUBSTITUTIONS


class MrpBackflushRun(models.Model):
    _name = "mrp.backflush.run"
    _inherit = ["mrp.backflush.audit.mixin"]
    _description = "Backflush Run"
    _order = "date desc, id desc"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name")
    production_id = fields.Many2one(
        "mrp.production",
        "Manufacturing Order",
        required=True,
        index=True,
        ondelete="restrict",
        readonly=True,
    )
    company_id = fields.Many2one(related="production_id.company_id", store=True)
    product_id = fields.Many2one(related="production_id.product_id", store=True)
    bom_id = fields.Many2one("mrp.bom", "BOM", readonly=True, check_company=True)
    user_id = fields.Many2one(
        "res.users", default=lambda self: self.env.user, required=True, readonly=True
    )
    date = fields.Datetime(default=fields.Datetime.now, required=True, readonly=True)
    trigger = fields.Selection(
        [
            ("mark_done", "Order produced"),
            ("operation", "Work order finished"),
            ("retry", "Deferred shortage posted"),
            ("correction", "Consumption corrected"),
            ("unbuild", "Unbuild"),
        ],
        required=True,
        readonly=True,
    )
    state = fields.Selection(
        [("done", "Posted"), ("shortage", "Posted with shortage")],
        compute="_compute_state",
        store=True,
    )
    workorder_id = fields.Many2one("mrp.workorder", readonly=True, check_company=True)
    note = fields.Text(readonly=True, help="Why the consumption was corrected.")
    produced_qty = fields.Float(
        digits="Product Unit of Measure",
        readonly=True,
        help="Finished quantity this posting consumed components for.",
    )
    # Policy snapshot: what the BOM said when this run posted.
    backflush_mode = fields.Selection(BACKFLUSH_MODES, "Timing", readonly=True)
    backflush_shortage_policy = fields.Selection(
        SHORTAGE_POLICIES, "Shortage Policy", readonly=True
    )
    backflush_substitution = fields.Selection(
        SUBSTITUTIONS, "Substitutes", readonly=True
    )
    line_ids = fields.One2many("mrp.backflush.run.line", "run_id", readonly=True)
    leftover_picking_ids = fields.Many2many(
        "stock.picking",
        string="Leftovers Returned",
        readonly=True,
        help="Return transfers of the components staged for the order and "
        "not consumed (the BOM's leftover policy).",
    )
    move_ids = fields.One2many("stock.move", "backflush_run_id", readonly=True)
    value = fields.Monetary(
        compute="_compute_value",
        currency_field="currency_id",
        groups="stock.group_stock_manager",
    )
    currency_id = fields.Many2one(related="company_id.currency_id")

    def _compute_name(self):
        # "WH/MO/00007 · Consumption corrected #2": the order, what posted,
        # and which of the order's runs it is.
        run_ids = dict(
            self.sudo()._read_group(
                [("production_id", "in", self.production_id.ids)],
                ["production_id"],
                ["id:array_agg"],
            )
        )
        triggers = dict(self._fields["trigger"]._description_selection(self.env))
        for run in self:
            ids = sorted(run_ids.get(run.production_id, []))
            run.name = self.env._(
                "%(mo)s · %(trigger)s #%(number)s",
                mo=run.production_id.name,
                trigger=triggers.get(run.trigger, ""),
                number=ids.index(run.id) + 1 if run.id in ids else len(ids) + 1,
            )

    @api.depends("line_ids.shortage_qty")
    def _compute_state(self):
        for run in self:
            run.state = (
                "shortage" if any(run.line_ids.mapped("shortage_qty")) else "done"
            )

    def _compute_value(self):
        for run in self:
            run.value = sum(run.line_ids.mapped("value"))

    @api.model
    def _create_postings(self, vals_list):
        """Write runs as the backflush does (users may only read the audit
        trail) and link each posted move to its run."""
        runs = self.sudo().create(vals_list)
        for run in runs:
            run.line_ids.move_id._backflush_write({"backflush_run_id": run.id})
        return runs.sudo(False)

    def _notify_productions(self):
        """One chatter line per posting, logged in one batch."""
        if not self:
            return
        self.production_id._message_log_batch(
            bodies={run.production_id.id: run._notify_body() for run in self}
        )

    def _notify_body(self):
        """Chatter line of this posting on its order, counted as the BOM
        reads: one component per BOM line, whatever extra moves (planned
        scrap, substitutes) it took."""
        self.ensure_one()
        lines = self.line_ids
        short = lines.filtered("shortage_qty")
        # No value here: the chatter is read by operators, costs are not
        # for them (the run shows them to stock managers).
        components = lines.filtered(
            lambda ln: ln.role not in ("actual_scrap", "substitute")
        )
        count = len({ln.bom_line_id or ln.product_id for ln in components})
        parts = [
            self.env._("1 component")
            if count == 1
            else self.env._("%(count)s components", count=count)
        ]
        scrap = lines.filtered(lambda ln: ln.role == "planned_scrap")
        if scrap:
            parts.append(
                self.env._(
                    "planned scrap of %(products)s",
                    products=", ".join(scrap.product_id.mapped("display_name")),
                )
            )
        substitutes = lines.filtered(lambda ln: ln.role == "substitute")
        if substitutes:
            parts.append(
                self.env._(
                    "substitutes: %(products)s",
                    products=", ".join(substitutes.product_id.mapped("display_name")),
                )
            )
        actual = lines.filtered(lambda ln: ln.role == "actual_scrap")
        if actual:
            parts.append(
                self.env._("%(count)s scrap records reported", count=len(actual))
            )
        body = self.env._(
            "Backflush posted (%(trigger)s): %(summary)s.",
            trigger=dict(self._fields["trigger"]._description_selection(self.env))[
                self.trigger
            ],
            summary="; ".join(parts),
        )
        if short:
            details = format_list(
                self.env,
                [
                    self.env._(
                        "%(product)s: %(qty)s %(uom)s %(action)s",
                        product=line.product_id.display_name,
                        qty=line.product_uom_id._backflush_format_qty(
                            line.shortage_qty
                        ),
                        uom=line.product_uom_id.name,
                        action=dict(line._fields["shortage_action"].selection)[
                            line.shortage_action
                        ],
                    )
                    for line in short
                ],
            )
            body += Markup("<br/>") + self.env._("Short: %(details)s", details=details)
        return body
