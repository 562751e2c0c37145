# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import logging
import math
import re
from collections import defaultdict
from contextlib import closing

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.osv import expression
from odoo.tools import (
    float_compare,
    float_is_zero,
    float_round,
    format_date,
    format_list,
)

from .. import planning, queue_jobs
from ..failures import savepoint_failure
from .mrp_bom_line import MAX_QUANTITY
from .stock_move_line import backflush_collect_edits
from .stock_quant import VALID_LOTS_ONLY

_logger = logging.getLogger(__name__)

# The fields of backflush_report's values (SPEC §3).
REPORT_FIELDS = (
    "production",
    "qty",
    "finished_lot",
    "component_lots",
    "idempotency_key",
)


class MrpProduction(models.Model):
    _name = "mrp.production"
    _inherit = ["mrp.production", "mrp.backflush.protected.mixin"]
    # The background Mark Done runs as this user: set by queueing only.
    _backflush_protected_fields = ("backflush_queue_user_id",)

    backflush_run_ids = fields.One2many(
        "mrp.backflush.run", "production_id", string="Backflush Runs"
    )
    backflush_run_count = fields.Integer(compute="_compute_backflush_run_count")
    backflush_exception_ids = fields.One2many(
        "mrp.backflush.exception", "production_id", string="Backflush Exceptions"
    )
    backflush_pending_count = fields.Integer(
        compute="_compute_backflush_pending_count",
        search="_search_backflush_pending_count",
        string="Pending Backflush Exceptions",
    )
    backflush_is_staged = fields.Boolean(
        compute="_compute_backflush_is_staged",
        help="Components are picked to pre-production for this order.",
    )
    backflush_queue_user_id = fields.Many2one(
        "res.users",
        string="Mark Done Queued By",
        copy=False,
        readonly=True,
        index="btree_not_null",
        help="Set while the order waits to be marked done in the background.",
    )
    backflush_queue_round_user_id = fields.Many2one(
        "res.users",
        string="Mark Done Round Of",
        copy=False,
        readonly=True,
        index="btree_not_null",
        help="Who queued the order to be marked done in the background; kept "
        "until all the orders that person queued are processed, to tell them "
        "how many were done and which need them.",
    )
    backflush_queue_error = fields.Text(
        "Mark Done Failed",
        copy=False,
        readonly=True,
        help="Why the order could not be marked done in the background; "
        "cleared when it is queued again.",
    )

    @api.constrains("bom_id", "company_id")
    def _check_backflush_bom_company(self):
        # The backflush posts the BOM's policy: it must be this company's.
        for production in self:
            bom_company = production.bom_id.company_id
            if bom_company and bom_company != production.company_id:
                raise ValidationError(
                    self.env._(
                        "%(mo)s belongs to %(company)s but its bill of materials "
                        "%(bom)s belongs to %(bom_company)s: choose a BOM of the "
                        "same company.",
                        mo=production.display_name,
                        company=production.company_id.name,
                        bom=production.bom_id.display_name,
                        bom_company=bom_company.name,
                    )
                )

    @api.depends("backflush_run_ids")
    def _compute_backflush_run_count(self):
        counts = dict(
            self.env["mrp.backflush.run"]._read_group(
                [("production_id", "in", self.ids)], ["production_id"], ["__count"]
            )
        )
        for production in self:
            production.backflush_run_count = counts.get(production, 0)

    @api.depends("move_raw_ids.move_orig_ids")
    def _compute_backflush_is_staged(self):
        staging = self.env["mrp.backflush.staging"]
        for production in self:
            production.backflush_is_staged = bool(
                staging._transfers(production.move_raw_ids)
            )

    @api.depends("backflush_exception_ids.state")
    def _compute_backflush_pending_count(self):
        counts = dict(
            self.env["mrp.backflush.exception"]._read_group(
                [("production_id", "in", self.ids), ("state", "=", "pending")],
                ["production_id"],
                ["__count"],
            )
        )
        for production in self:
            production.backflush_pending_count = counts.get(production, 0)

    def _search_backflush_pending_count(self, operator, value):
        if operator not in (">", "!=") or value != 0:
            raise UserError(
                self.env._("Only 'has pending backflush exceptions' can be searched.")
            )
        pending = self.env["mrp.backflush.exception"]._search(
            [("state", "=", "pending")]
        )
        return [("id", "in", pending.subselect("production_id"))]

    def write(self, vals):
        # The Components tab of an unlocked done MO saves every edited
        # move at once: one correction for the save.
        if (
            "move_raw_ids" not in vals
            or not self.move_raw_ids._backflush_edits_done_consumption()
        ):
            return super().write(vals)
        with backflush_collect_edits(self.env):
            return super().write(vals)

    def web_read(self, specification):
        # The Components tab of a done order lists each component's lines
        # together, the component first. Display only: an order in the
        # view's arch (default_order) would also be the order the form
        # creates the raw moves of a new MO in.
        result = super().web_read(specification)
        if "move_raw_ids" not in specification:
            return result
        for production, values in zip(self, result, strict=True):
            lines = values.get("move_raw_ids")
            moves = production.move_raw_ids
            if (
                production.state == "done"
                and lines
                and isinstance(lines[0], dict)
                and any(moves.mapped("backflush_role"))
            ):
                rank = moves._backflush_display_rank()
                lines.sort(key=lambda line: rank.get(line["id"], (math.inf,)))
        return result

    # ------------------------------------------------------------------
    # Odoo hooks
    # ------------------------------------------------------------------
    def _button_mark_done_sanity_checks(self):
        # Two users marking the same MO done: the second waits here, then
        # PostgreSQL refuses its stale snapshot and Odoo retries the request,
        # which finds the MO done. A done MO has nothing left to backflush:
        # Mark Done on it posts nothing, as in Odoo (which calls it after
        # _post_inventory itself). Only a cancelled MO is refused.
        if self.ids:
            self.env.cr.execute(
                "SELECT id FROM mrp_production WHERE id IN %s FOR UPDATE",
                [tuple(self.ids)],
            )
        cancelled = self.filtered(lambda p: p.state == "cancel")
        if cancelled:
            raise UserError(
                self.env._(
                    "%(mos)s is cancelled: it cannot be marked as done.",
                    mos=", ".join(cancelled.mapped("name")),
                )
            )
        return super()._button_mark_done_sanity_checks()

    def _get_move_raw_values(
        self, product, product_uom_qty, product_uom, operation_id=False, bom_line=False
    ):
        vals = super()._get_move_raw_values(
            product, product_uom_qty, product_uom, operation_id, bom_line
        )
        if bom_line and self.product_qty and self._backflush_is_managed():
            # Demand includes planned scrap so reservation and replenishment
            # see the real need; the per-unit net quantity is kept apart.
            unit_qty = self.env["stock.move"]._backflush_line_unit_qty(
                self, bom_line, product_uom, product_uom_qty
            )
            vals["backflush_unit_qty"] = unit_qty
            if bom_line.scrap_percent or bom_line.scrap_fixed_qty:
                vals["product_uom_qty"] = self._backflush_demand(
                    bom_line, unit_qty, product, product_uom
                )
        return vals

    def _get_consumption_issues(self):
        # Planned scrap makes a line's demand per unit uneven (1,450 g for 7
        # units): Odoo's share for 3 units, 621.43 g, reads as 0.63 kg once
        # rounded up to the product's unit, against an unrounded 0.6214. No
        # one changed anything: the unit cannot hold the difference.
        managed = self._backflush_is_managed()
        return [
            (order, product, consumed, expected)
            for order, product, consumed, expected in super()._get_consumption_issues()
            if order not in managed
            or float_compare(
                consumed,
                float_round(
                    expected,
                    precision_rounding=product.uom_id.rounding,
                    rounding_method="UP",
                ),
                precision_rounding=product.uom_id.rounding,
            )
        ]

    def _split_productions(
        self, amounts=False, cancel_remaining_qty=False, set_consumed_qty=False
    ):
        productions = super()._split_productions(
            amounts, cancel_remaining_qty, set_consumed_qty
        )
        (productions - self)._backflush_set_backorder_demand()
        return productions

    def _set_quantities(self):
        # Mark Done with nothing producing: Odoo picks every component, then
        # refuses the tracked ones it takes as manual (lines with an
        # operation) without a lot on every line. The backflush posts those
        # by policy (see _backflush_set_component_quantities).
        return super(
            MrpProduction, self.with_context(backflush_set_quantities=True)
        )._set_quantities()

    def _set_qty_producing(self, pick_manual_consumption_moves=True):
        res = super()._set_qty_producing(pick_manual_consumption_moves)
        if self.env.context.get("backflush_set_quantities"):
            # The lines without a lot Odoo just filled in are placeholders
            # the backflush replaces: not picked, they are no record.
            posted = self._backflush_get_moves("mark_done") | (
                self._backflush_get_moves("operation")
            )
            posted.filtered(lambda m: m.has_tracking != "none").move_line_ids.filtered(
                lambda ml: not ml.lot_id and ml.picked
            ).picked = False
        return res

    def _cal_price(self, consumed_moves):
        # Components posted when their work order finished are part of the
        # finished good's cost too, though done before Mark Done.
        posted_early = self.move_raw_ids.filtered(
            lambda m: m.state == "done" and m.backflush_run_id.trigger == "operation"
        )
        return super()._cal_price(consumed_moves | posted_early)

    def _post_inventory(self, cancel_backorder=False):
        # Push rules are the same for every MO of the call: see
        # procurement.group._get_push_rule.
        productions = self.with_context(backflush_push_rule_cache={})
        runs = productions._backflush("mark_done")
        res = super(MrpProduction, productions)._post_inventory(
            cancel_backorder=cancel_backorder
        )
        # Odoo links only the components it posts now to the finished
        # goods; those posted when their work order finished are theirs too.
        early = self.move_raw_ids.filtered(
            lambda m: m.state == "done" and m.backflush_run_id.trigger == "operation"
        )
        self._backflush_link_consumed(early.move_line_ids)
        runs._notify_productions()
        self.env["mrp.backflush.staging"]._return_leftovers(
            self._backflush_is_managed().filtered(lambda p: p.state == "done"), runs
        )
        return res

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------
    def button_mark_done(self):
        if self._backflush_mark_done_in_background():
            return self._backflush_queue_mark_done()
        return super().button_mark_done()

    def action_confirm(self):
        self._backflush_set_supply_locations()
        return super().action_confirm()

    def action_cancel(self):
        self._backflush_check_no_pending(self.env._("cancelled"))
        return super().action_cancel()

    def action_toggle_is_locked(self):
        self.filtered("is_locked")._backflush_check_no_pending(
            self.env._("unlocked for editing")
        )
        return super().action_toggle_is_locked()

    def action_view_backflush_runs(self):
        action = self.env["ir.actions.actions"]._for_xml_id(
            "mrp_backflush.mrp_backflush_run_action"
        )
        action["domain"] = [("production_id", "in", self.ids)]
        action["context"] = {"search_default_group_by_production": len(self) > 1}
        return action

    def action_view_backflush_exceptions(self):
        action = self.env["ir.actions.actions"]._for_xml_id(
            "mrp_backflush.mrp_backflush_exception_action"
        )
        action["domain"] = [("production_id", "in", self.ids)]
        action["context"] = {"search_default_filter_pending": 1}
        return action

    def action_view_stock_valuation_layers(self):
        # Leftovers returned by a correction are no raw move of the MO, yet
        # the controller reconciling the MO must see them.
        action = super().action_view_stock_valuation_layers()
        action["domain"] = expression.OR(
            [action["domain"], [("backflush_production_id", "=", self.id)]]
        )
        return action

    def action_backflush_correct(self):
        self.ensure_one()
        return self.env["mrp.backflush.correction"]._open_for(self)

    def action_backflush_preview(self):
        wizard = self.env["mrp.backflush.preview"].create(
            {"production_ids": [fields.Command.set(self.ids)]}
        )
        return wizard._get_action()

    @api.model
    def backflush_station_read(self, code, qty=None):
        """What producing the order ``code`` names would post, for the
        station: the engine's preview as plain JSON, without costs.

        ``code`` is what was scanned or typed: an MO's name (its barcode)
        or a work order's barcode (``<MO name>/<id>``), which stands for its
        MO; the name an MO had before a partial production finds its first
        open backorder. ``qty``: preview producing that quantity (the
        order's unit) instead of what is set on the order. Nothing is
        written.
        """
        production = self._backflush_station_production(code, "code")
        production._backflush_station_check_open()
        if qty is not None:
            qty = self._backflush_station_qty(qty, "qty")
        # The preview wizard and the quantity tried are rolled back.
        with closing(self.env.cr.savepoint()):
            if qty is not None:
                production.qty_producing = qty
            return production._backflush_station_payload()

    @api.model
    def backflush_report(self, values):
        """Report an order produced, from a station, an MES or a script
        (SPEC §3)::

            {"production": MO name or barcode, "qty": float,
             "finished_lot": name, "component_lots": [{"product": barcode
             or internal reference, "lot": name, "qty": float}],
             "idempotency_key": str}
            -> {"production", "state", "runs": [ids], "exceptions": [ids],
                "backorders": [names], "messages": [str]}

        It sets the quantity producing and the finished lot, records the
        component lots given on the raw moves (posted as recorded), then
        marks the order done through Odoo's Mark Done, deciding by policy
        where Odoo would open a dialog. The same key again (per company)
        returns the first answer and posts nothing. Bad input is refused
        with a ``UserError`` naming the field, and nothing is posted.
        """
        values = self._backflush_report_check_values(values)
        code, key = values["production"], values["idempotency_key"]
        Report = self.env["mrp.backflush.report"]
        # Before the order is looked up: a partial report renames it (Odoo
        # numbers the order and its backorder -001, -002).
        report = Report._backflush_find(code, key)
        if not report:
            production = self._backflush_station_production(code, "production")
            production._backflush_station_check_open()
            todo = production._backflush_report_prepare(values)
            report = Report._backflush_claim(production, code, key)
            if not report:  # taken by a call committed since this one began
                raise UserError(
                    self.env._(
                        "idempotency_key: a report with %(key)s is being posted "
                        "right now: ask again in a moment for its answer.",
                        key=key,
                    )
                )
            report._backflush_write(
                {"answer": production._backflush_report_post(**todo)}
            )
        return report.answer

    def _backflush_idle_reason(self):
        """Why producing the order posts no component now, for the preview."""
        self.ensure_one()
        if self.state in ("draft", "done", "cancel"):
            return self.env._(
                "it is %(state)s: nothing to post.",
                state=dict(self._fields["state"]._description_selection(self.env))[
                    self.state
                ],
            )
        open_moves = self.move_raw_ids.filtered(
            lambda m: m.state not in ("done", "cancel")
        )
        if not open_moves:
            return self.env._("no component is left to post.")
        if all(m._backflush_is_manual() for m in open_moves):
            return self.env._(
                "its components are recorded by hand (manual consumption): enter "
                "the consumed quantities on the order before producing."
            )
        if all(m.bom_line_id._get_backflush_mode() == "operation" for m in open_moves):
            return self.env._(
                "its components are posted when their work orders finish."
            )
        return self.env._("no component is left to post.")

    def _backflush_set_supply_locations(self):
        """Components come from their line's supply location (SPEC §4
        *Supply locations*): set on the draft moves before Odoo confirms
        and reserves them, one write per location. Set here rather than in
        the BOM explosion, which forms and the web client rebuild with the
        fields of their view only."""
        moves = self._backflush_is_managed().move_raw_ids.filtered(
            lambda m: m.state == "draft" and m.bom_line_id
        )
        for location, located in moves.grouped(
            lambda m: m.bom_line_id._get_backflush_location()
        ).items():
            located = located.filtered(lambda m, loc=location: m.location_id != loc)
            if location and located:
                located.location_id = location

    def _backflush_check_no_pending(self, what):
        """Pending postings need a decision (post or cancel them) before the
        order is ``what``: they would be left behind, or posted against an
        order that changed under them."""
        pending = self.backflush_exception_ids.filtered(lambda e: e.state == "pending")
        if pending:
            raise UserError(
                self.env._(
                    "%(mos)s cannot be %(what)s while backflush postings are "
                    "pending: %(exceptions)s. Post them (Retry) or cancel them "
                    "with a reason in Manufacturing > Backflush Monitor first.",
                    mos=", ".join(pending.production_id.mapped("name")),
                    what=what,
                    exceptions=", ".join(pending.mapped("name")),
                )
            )

    # ------------------------------------------------------------------
    # Station and integrations (backflush_station_read, backflush_report)
    # ------------------------------------------------------------------
    @api.model
    def _backflush_station_production(self, code, field):
        """The order ``code`` names among the user's companies: an MO's
        name, else a work order's barcode, else the name an MO had before
        a partial production (its first open backorder)."""
        if not isinstance(code, str) or not code.strip():
            raise UserError(
                self.env._(
                    "%(field)s: scan or type a manufacturing order.", field=field
                )
            )
        code = code.strip()
        productions = self.search([("name", "=", code)])
        if not productions:
            productions = (
                self.env["mrp.workorder"]
                .search([("barcode", "=", code)], limit=1)
                .production_id
            )
        if not productions:
            # The name printed before a partial production: Odoo renamed the
            # order -001 and numbered its backorders; the first open one.
            pattern = re.sub(r"([\\%_])", r"\\\1", code) + "-%"
            productions = self.search(
                [
                    ("name", "=like", pattern),
                    ("state", "not in", ("done", "cancel")),
                ],
                order="id",
                limit=1,
            )
        if len(productions) > 1:  # one name in two companies
            current = productions.filtered(lambda p: p.company_id == self.env.company)
            if not current:
                raise UserError(
                    self.env._(
                        "%(field)s: %(code)s is an order of %(companies)s: "
                        "switch to the company it is for.",
                        field=field,
                        code=code,
                        companies=", ".join(productions.company_id.mapped("name")),
                    )
                )
            productions = current
        if not productions:
            raise UserError(
                self.env._(
                    "%(field)s: no manufacturing order or work order %(code)s "
                    "in your companies.",
                    field=field,
                    code=code,
                )
            )
        return productions.with_company(productions.company_id)

    def _backflush_station_check_open(self):
        self.ensure_one()
        if self.state not in ("confirmed", "progress", "to_close"):
            raise UserError(
                self.env._(
                    "%(mo)s is %(state)s: only a confirmed or started order "
                    "can be produced.",
                    mo=self.name,
                    state=dict(self._fields["state"]._description_selection(self.env))[
                        self.state
                    ],
                )
            )

    @api.model
    def _backflush_station_qty(self, qty, field, zero=False):
        """A finite quantity, above zero (or zero if ``zero``), within the
        module's bound for quantities."""
        if isinstance(qty, bool) or not isinstance(qty, (int, float)):
            raise UserError(
                self.env._(
                    "%(field)s: a number is expected, not %(value)s.",
                    field=field,
                    value=repr(qty),
                )
            )
        if (
            not math.isfinite(qty)
            or qty < 0
            or (qty == 0 and not zero)
            or qty > MAX_QUANTITY
        ):
            raise UserError(
                self.env._(
                    "%(field)s: must be a number %(low)s and at most %(max)s "
                    "(got %(value)s).",
                    field=field,
                    low=self.env._("of 0 or more")
                    if zero
                    else self.env._("greater than 0"),
                    max=f"{MAX_QUANTITY:,.0f}",
                    value=qty,
                )
            )
        return float(qty)

    def _backflush_station_payload(self):
        """The station's view of the engine's preview of ``self``."""
        self.ensure_one()
        preview = self.env["mrp.backflush.preview"].create(
            {"production_ids": [fields.Command.set(self.ids)]}
        )
        lines = preview.line_ids
        labels = dict(lines._fields["status"]._description_selection(self.env))
        uom = self.product_uom_id
        return {
            "production": {
                "id": self.id,
                "name": self.name,
                "product": self.product_id.display_name,
                "product_id": self.product_id.id,
                "barcode": self.product_id.barcode or "",
                "qty": self.product_qty,
                "qty_producing": self._backflush_produced_qty(),
                "uom": uom.name,
                "state": self.state,
                "tracking": self.product_tracking or "none",
                "finished_lot": self.lot_producing_id.name or "",
            },
            "lines": [
                {
                    "product": line.product_id.display_name,
                    "product_id": line.product_id.id,
                    "barcode": line.product_id.barcode or "",
                    "default_code": line.product_id.default_code or "",
                    "location": line.location_id.display_name,
                    "qty": line.to_post_qty,
                    "qty_display": self._backflush_station_qty_display(
                        line.to_post_qty, line.product_uom_id
                    ),
                    "uom": line.product_uom_id.name,
                    "required_qty": line.required_qty,
                    "available_qty": line.available_qty,
                    "shortage_qty": line.shortage_qty,
                    "role": line.role,
                    "lots": line.lot_ids.mapped("name"),
                    "tracking": line.product_id.tracking,
                    "outcome": line.status,
                    "outcome_label": labels[line.status],
                    "message": line._backflush_station_message(),
                }
                for line in lines
            ],
            "blocked": preview.has_block,
            "messages": [
                note
                for note in (preview.blocked_note or "").split("\n")
                + (preview.idle_note or "").split("\n")
                if note
            ],
        }

    @api.model
    def _backflush_station_qty_display(self, qty, uom):
        return self.env._(
            "%(qty)s %(uom)s", qty=uom._backflush_format_qty(qty), uom=uom.name
        )

    def _backflush_report_check_values(self, values):
        """``values`` of backflush_report, checked for shape and types;
        returned with defaults."""
        if not isinstance(values, dict):
            raise UserError(
                self.env._(
                    "values: an object with production, qty, finished_lot, "
                    "component_lots and idempotency_key is expected, not "
                    "%(value)s.",
                    value=type(values).__name__,
                )
            )
        unknown = set(values) - set(REPORT_FIELDS)
        if unknown:
            raise UserError(
                self.env._(
                    "%(fields)s: unknown field; expected %(expected)s.",
                    fields=", ".join(sorted(map(str, unknown))),
                    expected=", ".join(REPORT_FIELDS),
                )
            )
        production = values.get("production")
        if not isinstance(production, str) or not production.strip():
            raise UserError(
                self.env._(
                    "production: the name or barcode of a manufacturing order "
                    "is required."
                )
            )
        key = values.get("idempotency_key")
        if not isinstance(key, str) or not key.strip() or len(key) > 255:
            raise UserError(
                self.env._(
                    "idempotency_key: a text of 1 to 255 characters is "
                    "required, unique per report (a UUID)."
                )
            )
        if "qty" not in values:
            raise UserError(self.env._("qty: the quantity produced is required."))
        finished_lot = values.get("finished_lot") or ""
        if not isinstance(finished_lot, str):
            raise UserError(
                self.env._("finished_lot: a lot or serial number name is expected.")
            )
        component_lots = values.get("component_lots") or []
        if not isinstance(component_lots, list):
            raise UserError(
                self.env._("component_lots: a list of objects is expected.")
            )
        components = []
        for index, entry in enumerate(component_lots):
            field = f"component_lots[{index}]"
            if not isinstance(entry, dict) or set(entry) - {"product", "lot", "qty"}:
                raise UserError(
                    self.env._(
                        "%(field)s: an object with product, lot and qty is expected.",
                        field=field,
                    )
                )
            product, lot = entry.get("product"), entry.get("lot") or ""
            if not isinstance(product, str) or not product.strip():
                raise UserError(
                    self.env._(
                        "%(field)s.product: the component's barcode or internal "
                        "reference is required.",
                        field=field,
                    )
                )
            if not isinstance(lot, str):
                raise UserError(
                    self.env._(
                        "%(field)s.lot: a lot or serial number name is expected.",
                        field=field,
                    )
                )
            components.append(
                {
                    "field": field,
                    "product": product.strip(),
                    "lot": lot.strip(),
                    "qty": self._backflush_station_qty(
                        entry.get("qty"), f"{field}.qty", zero=True
                    ),
                }
            )
        return {
            "production": production.strip(),
            "qty": self._backflush_station_qty(values["qty"], "qty"),
            "finished_lot": finished_lot.strip(),
            "component_lots": components,
            "idempotency_key": key.strip(),
        }

    def _backflush_report_prepare(self, values):
        """Check ``values`` against the order, writing nothing; return the
        arguments of _backflush_report_post."""
        self.ensure_one()
        qty = values["qty"]
        tracking = self.product_tracking or "none"
        if tracking == "serial" and float_compare(
            self.product_uom_id._compute_quantity(qty, self.product_id.uom_id),
            1.0,
            precision_rounding=self.product_id.uom_id.rounding,
        ):
            raise UserError(
                self.env._(
                    "qty: %(product)s is tracked by serial number: report one "
                    "unit at a time.",
                    product=self.product_id.display_name,
                )
            )
        finished_lot, new_lot = self._backflush_report_finished_lot(
            values["finished_lot"]
        )
        return {
            "qty": qty,
            "finished_lot": finished_lot,
            "new_lot": new_lot,
            "components": self._backflush_report_components(values["component_lots"]),
        }

    def _backflush_report_finished_lot(self, name):
        """The finished lot named ``name``, as (lot, name to create): an
        existing lot of the product, else a new one, as Odoo's form creates
        the name an operator types (when the operation type creates lots)."""
        self.ensure_one()
        product = self.product_id
        Lot = self.env["stock.lot"]
        if not name:
            return Lot, ""
        if product.tracking == "none":
            raise UserError(
                self.env._(
                    "finished_lot: %(product)s is not tracked by lots or serial "
                    "numbers: leave it empty.",
                    product=product.display_name,
                )
            )
        lot = Lot.search(
            [
                ("name", "=", name),
                ("product_id", "=", product.id),
                ("company_id", "in", (False, self.company_id.id)),
            ],
            limit=1,
        )
        if lot:
            return lot, ""
        if not self.picking_type_id.use_create_lots:
            raise UserError(
                self.env._(
                    "finished_lot: %(lot)s is no lot of %(product)s, and "
                    "%(operation)s does not create new ones.",
                    lot=name,
                    product=product.display_name,
                    operation=self.picking_type_id.display_name,
                )
            )
        return Lot, name

    def _backflush_report_components(self, entries):
        """Resolve the component lots reported against the order's open
        components: a list of (move, lot, qty), the quantity in the move's
        unit. Two reads, whatever the number of entries."""
        self.ensure_one()
        if not entries:
            return []
        moves = self.move_raw_ids.filtered(
            lambda m: (
                m.state not in ("done", "cancel")
                and m.backflush_role in (False, "component")
            )
        )
        by_code = {}
        for move in moves:
            for code in (move.product_id.barcode, move.product_id.default_code):
                if code:
                    by_code.setdefault(code, move)
        resolved = []
        for entry in entries:
            move = by_code.get(entry["product"])
            if not move:
                raise UserError(
                    self.env._(
                        "%(field)s.product: no open component of %(mo)s has the "
                        "barcode or internal reference %(code)s.",
                        field=entry["field"],
                        mo=self.name,
                        code=entry["product"],
                    )
                )
            resolved.append((entry, move))
        lot_names = {entry["lot"] for entry, _move in resolved if entry["lot"]}
        Lot = self.env["stock.lot"]
        lots = Lot.search(
            [
                ("name", "in", list(lot_names)),
                ("company_id", "in", (False, self.company_id.id)),
            ]
        )
        by_key = {(lot.product_id, lot.name): lot for lot in lots}
        by_name = {lot.name: lot for lot in lots}
        result = []
        for entry, move in resolved:
            product, field = move.product_id, entry["field"]
            if product.tracking == "none":
                if entry["lot"]:
                    raise UserError(
                        self.env._(
                            "%(field)s.lot: %(product)s is not tracked by lots "
                            "or serial numbers: leave it empty.",
                            field=field,
                            product=product.display_name,
                        )
                    )
                result.append((move, Lot, entry["qty"]))
                continue
            if not entry["lot"]:
                raise UserError(
                    self.env._(
                        "%(field)s.lot: %(product)s is tracked: give its lot or "
                        "serial number.",
                        field=field,
                        product=product.display_name,
                    )
                )
            lot = by_key.get((product, entry["lot"]))
            if not lot:
                other = by_name.get(entry["lot"])
                raise UserError(
                    self.env._(
                        "%(field)s.lot: %(lot)s is a lot of %(other)s, not of "
                        "%(product)s.",
                        field=field,
                        lot=entry["lot"],
                        other=other.product_id.display_name,
                        product=product.display_name,
                    )
                    if other
                    else self.env._(
                        "%(field)s.lot: %(product)s has no lot or serial number "
                        "%(lot)s.",
                        field=field,
                        lot=entry["lot"],
                        product=product.display_name,
                    )
                )
            if product.tracking == "serial" and entry["qty"] > 1:
                raise UserError(
                    self.env._(
                        "%(field)s.qty: %(lot)s is a serial number: at most 1 "
                        "is consumed.",
                        field=field,
                        lot=lot.name,
                    )
                )
            result.append((move, lot, entry["qty"]))
        return result

    def _backflush_report_post(self, qty, finished_lot, new_lot, components):
        """Produce ``qty`` of ``self`` as reported and mark it done; return
        the answer of backflush_report."""
        self.ensure_one()
        runs_before = self.backflush_run_ids
        exceptions_before = self.backflush_exception_ids
        family_before = self.procurement_group_id.mrp_production_ids
        if new_lot:
            finished_lot = finished_lot.create(
                {
                    "name": new_lot,
                    "product_id": self.product_id.id,
                    "company_id": self.company_id.id,
                }
            )
        if finished_lot:
            self.lot_producing_id = finished_lot
        elif self.product_tracking in ("lot", "serial") and not self.lot_producing_id:
            # As Odoo's Mark Done of an order with no quantity set.
            self.action_generate_serial()
        self.qty_producing = qty
        # As the form does when the quantity is typed: the components follow.
        self._set_qty_producing(False)
        self._backflush_record_components(components)
        messages = self._backflush_report_check_consumption()
        backorder = (
            float_compare(
                qty,
                self.product_qty - self.qty_produced,
                precision_rounding=self.product_uom_id.rounding,
            )
            < 0
            and self.picking_type_id.create_backorder != "never"
        )
        # No one answers a dialog: consumption was decided above, the
        # backorder by the operation type, expired lots are never consumed.
        self.with_context(
            skip_redirection=True,
            skip_expired=True,
            skip_consumption=True,
            skip_backorder=True,
            mo_ids_to_backorder=self.ids if backorder else [],
        ).button_mark_done()
        if self.state != "done":
            raise UserError(
                self.env._(
                    "%(mo)s could not be marked done: open the order and click "
                    "%(button)s.",
                    mo=self.name,
                    button=self._backflush_produce_button_label(),
                )
            )
        runs = self.env["mrp.backflush.run"].search(
            [("production_id", "=", self.id), ("id", "not in", runs_before.ids)]
        )
        exceptions = self.env["mrp.backflush.exception"].search(
            [
                ("production_id", "=", self.id),
                ("id", "not in", exceptions_before.ids),
            ]
        )
        backorders = self.procurement_group_id.mrp_production_ids - family_before
        return {
            "production": self.name,
            "state": self.state,
            "runs": runs.ids,
            "exceptions": exceptions.ids,
            "backorders": backorders.mapped("name"),
            "messages": self._backflush_report_messages(runs, exceptions, backorders)
            + messages,
        }

    def _backflush_record_components(self, components):
        """Record the reported lots and quantities on the raw moves, as an
        operator does in the form: replace their lines, pick them. The
        backflush posts them as recorded."""
        if not components:
            return
        moves = self.env["stock.move"].union(*(move for move, _lot, _qty in components))
        moves.move_line_ids.unlink()
        self.env["stock.move.line"].create(
            [
                {
                    "move_id": move.id,
                    "product_id": move.product_id.id,
                    "product_uom_id": move.product_uom.id,
                    "lot_id": lot.id,
                    "quantity": qty,
                    "location_id": move.location_id.id,
                    "location_dest_id": move.location_dest_id.id,
                    "picked": True,
                }
                for move, lot, qty in components
            ]
        )
        moves.picked = True

    def _backflush_report_check_consumption(self):
        """Odoo's consumption check, decided without its dialog: a BOM that
        is strict refuses quantities other than its own, a BOM that warns
        posts them and says so."""
        self.ensure_one()
        issues = self._get_consumption_issues()
        if not issues:
            return []
        products = ", ".join(product.display_name for _mo, product, *_q in issues)
        if self.consumption == "strict":
            raise UserError(
                self.env._(
                    "component_lots: the bill of materials of %(mo)s is strict "
                    "and %(products)s differ from it: report its quantities, or "
                    "ask a manager to allow other quantities.",
                    mo=self.name,
                    products=products,
                )
            )
        return [
            self.env._(
                "%(products)s: consumed as reported, not as the bill of materials "
                "says.",
                products=products,
            )
        ]

    def _backflush_report_messages(self, runs, exceptions, backorders):
        """What the report did, in plain words, no costs."""
        self.ensure_one()
        lot = self.lot_producing_id
        messages = [
            self.env._(
                "%(mo)s is done: %(qty)s of %(product)s produced%(lot)s.",
                mo=self.name,
                qty=self._backflush_station_qty_display(
                    self.qty_produced, self.product_uom_id
                ),
                product=self.product_id.display_name,
                lot=" (%s)" % lot.name if lot else "",
            )
        ]
        for backorder in backorders:
            messages.append(
                self.env._(
                    "Backorder %(mo)s: %(qty)s left to produce.",
                    mo=backorder.name,
                    qty=self._backflush_station_qty_display(
                        backorder.product_qty, backorder.product_uom_id
                    ),
                )
            )
        for line in runs.line_ids.filtered(
            lambda ln: ln.shortage_action == "negative" and ln.shortage_qty > 0
        ):
            messages.append(
                self.env._(
                    "%(product)s: %(qty)s posted into negative stock at %(location)s.",
                    product=line.product_id.display_name,
                    qty=self._backflush_station_qty_display(
                        line.shortage_qty, line.product_uom_id
                    ),
                    location=line.location_id.display_name,
                )
            )
        causes = dict(exceptions._fields["cause"]._description_selection(self.env))
        for exception in exceptions:
            messages.append(
                self.env._(
                    "%(product)s: %(qty)s deferred (%(cause)s), posted when the "
                    "stock is there: %(exception)s.",
                    product=exception.product_id.display_name,
                    qty=self._backflush_station_qty_display(
                        exception.quantity, exception.product_uom_id
                    ),
                    cause=causes[exception.cause],
                    exception=exception.name,
                )
            )
        return messages

    # ------------------------------------------------------------------
    # Mark Done in the background (too many MOs for one request)
    # ------------------------------------------------------------------
    def _backflush_mark_done_in_background(self):
        """Only a person's selection in the list goes to the background:
        Odoo's own server action *Mark as Done* runs with the selection as
        ``active_ids``. Code paths (subcontracting, tests, other modules)
        expect Mark Done to be over when the call returns."""
        threshold = self.env.company.backflush_background_threshold
        context = self.env.context
        return bool(
            threshold
            and len(self) > threshold
            and context.get("active_model") == self._name
            and set(self.ids) <= set(context.get("active_ids") or ())
        )

    def _backflush_queue_mark_done(self):
        """Flag the MOs for the scheduler and tell the user."""
        productions = self.filtered(
            lambda p: (
                p.state not in ("done", "cancel") and not p.backflush_queue_user_id
            )
        )
        productions.check_access("write")
        productions._backflush_write(
            {
                "backflush_queue_user_id": self.env.user.id,
                "backflush_queue_round_user_id": self.env.user.id,
                "backflush_queue_error": False,
            }
        )
        productions._message_log_batch(
            bodies=dict.fromkeys(
                productions.ids,
                self.env._(
                    "Queued by %(user)s to be marked done in the background.",
                    user=self.env.user.name,
                ),
            )
        )
        if queue_jobs.installed(self.env):
            productions._backflush_enqueue_mark_done()
        else:
            self.env.ref("mrp_backflush.ir_cron_backflush_mark_done").sudo()._trigger()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "info",
                "title": self.env._("Mark Done queued"),
                "message": self.env._(
                    "%(count)s manufacturing orders will be marked done in the "
                    "background. You will be notified when they are; the orders "
                    "that need you get a to-do (filter: Mark Done failed).",
                    count=len(productions),
                ),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _backflush_enqueue_mark_done(self, batch_size=20):
        """With queue_job: one job per batch (one user, one company), in the
        module's channel, which spreads them over every worker of every
        server; a concurrency error requeues the job."""
        for (user, company), productions in self.grouped(
            lambda p: (p.backflush_queue_user_id, p.company_id)
        ).items():
            for batch in queue_jobs.batches(productions, batch_size):
                batch.with_user(user).with_company(company).with_delay(
                    channel=queue_jobs.CHANNEL,
                    description=self.env._(
                        "Mark Done in the background: %(mos)s",
                        mos=", ".join(batch.mapped("name")),
                    ),
                )._backflush_mark_done_job()

    def _backflush_mark_done_job(self):
        """A queue job's batch: the orders still queued are marked done."""
        closed = self.filtered(
            lambda p: p.state in ("done", "cancel") or not p.backflush_queue_user_id
        )
        closed.filtered("backflush_queue_user_id")._backflush_write(
            {"backflush_queue_user_id": False}
        )
        users = self.backflush_queue_user_id
        if self - closed:
            (self - closed)._backflush_mark_done_queued()
        self._backflush_queue_notify(users)

    @api.model
    def _cron_backflush_mark_done(self, batch_size=20):
        """Mark done one batch of queued MOs; the scheduler commits and
        calls again while ``remaining`` is reported."""
        domain = [("backflush_queue_user_id", "!=", False)]
        batch = self.search(domain, order="id", limit=batch_size)
        users = batch.backflush_queue_user_id
        closed = batch.filtered(lambda p: p.state in ("done", "cancel"))
        closed._backflush_write({"backflush_queue_user_id": False})
        for (user, company), productions in (
            (batch - closed)
            .grouped(lambda p: (p.backflush_queue_user_id, p.company_id))
            .items()
        ):
            productions.with_user(user).with_company(
                company
            )._backflush_mark_done_queued()
        self.env["ir.cron"]._notify_progress(
            done=len(batch), remaining=self.search_count(domain)
        )
        self._backflush_queue_notify(users)

    def _backflush_mark_done_queued(self):
        """Mark ``self`` done in one call (one user, one company); if that
        fails, each MO alone, so one bad MO does not hold back the others."""
        what = "the background Mark Done of " + ", ".join(self.mapped("name"))
        with savepoint_failure(self.env, what) as failure:
            # No one is there to answer a dialog: expired lots are never
            # consumed by the backflush anyway (mrp_product_expiry's key).
            self.with_context(
                skip_redirection=True, skip_expired=True
            ).button_mark_done()
            stuck = self.filtered(lambda p: p.state != "done")
            if stuck:
                raise UserError(
                    self.env._(
                        "Producing it needs a decision the background cannot "
                        "take (consumption warning, backorder or serial "
                        "numbers): open the order and click %(button)s.",
                        button=stuck._backflush_produce_button_label(),
                    )
                )
        if not failure.message:
            self._backflush_log_queue_result(
                self.env._("Marked done in the background.")
            )
        elif len(self) > 1:
            for production in self:
                production._backflush_mark_done_queued()
        else:
            _logger.info(
                "Background Mark Done of %s failed: %s", self.name, failure.message
            )
            self._backflush_queue_failed(failure.message)

    def _backflush_log_queue_result(self, body):
        self._backflush_write({"backflush_queue_user_id": False})
        self._message_log_batch(bodies=dict.fromkeys(self.ids, body))

    def _backflush_produce_button_label(self):
        """The words of the form's button that marks the order done."""
        if all(self.mapped("show_produce_all")):
            return self.env._("Produce All")
        return self.env._("Produce")

    def _backflush_queue_failed(self, reason):
        """The order stays as it was: say why in its chatter, flag it for the
        filter *Mark Done failed* and give the person who queued it a to-do."""
        self.ensure_one()
        user = self.backflush_queue_user_id
        self._backflush_log_queue_result(
            self.env._(
                "Mark Done in the background failed, nothing was posted: %(error)s",
                error=reason,
            )
        )
        self.backflush_queue_error = reason
        self.activity_schedule(
            "mail.mail_activity_data_todo",
            user_id=user.id,
            summary=self.env._("Mark Done failed"),
            note=reason,
        )

    @api.model
    def _backflush_queue_notify(self, users):
        """Tell each of ``users`` how their queued orders are going: a
        notification after each batch, and at the end of their round (none
        of theirs queued any more) a message in their inbox with how many
        are done and which need them."""
        if not users:
            return
        rounds = self.search(
            [("backflush_queue_round_user_id", "in", users.ids)]
        ).grouped("backflush_queue_round_user_id")
        for user in users:
            env = self.with_context(lang=user.lang).env  # in the user's language
            productions = rounds.get(user, self.browse())
            queued = productions.filtered("backflush_queue_user_id")
            processed = productions - queued
            done = processed.filtered(lambda p: p.state == "done")
            failed = processed.filtered("backflush_queue_error")
            values = {
                "done": len(done),
                "total": len(productions),
                "failed": len(failed),
                "queued": len(queued),
            }
            if queued:
                user._bus_send(
                    "simple_notification",
                    {
                        "type": "info",
                        "title": env._("Mark Done in the background"),
                        "message": env._(
                            "%(done)s of %(total)s orders done, %(failed)s "
                            "failed; %(queued)s still queued.",
                            **values,
                        ),
                    },
                )
                continue
            productions.backflush_queue_round_user_id = False
            summary = env._(
                "Mark Done in the background finished: %(done)s of %(total)s "
                "orders done, %(failed)s failed.",
                **values,
            )
            if failed:
                summary += " " + env._(
                    "Each failed order has a to-do with the reason (filter: "
                    "Mark Done failed)."
                )
            user._bus_send(
                "simple_notification",
                {
                    "type": "warning" if failed else "success",
                    "title": env._("Mark Done in the background"),
                    "message": summary,
                    "sticky": bool(failed),
                },
            )
            self._backflush_queue_send_summary(
                user, env._("Mark Done in the background"), summary, failed
            )

    @api.model
    def _backflush_queue_send_summary(self, user, subject, summary, failed):
        """The end of a round in the user's inbox, each failed order linked
        with its reason (its to-do says the same)."""
        body = Markup("<p>%s</p>") % summary
        if failed:
            body += Markup("<ul>%s</ul>") % Markup().join(
                Markup(
                    '<li><a href="#" data-oe-model="mrp.production" '
                    'data-oe-id="%s">%s</a>: %s</li>'
                )
                % (production.id, production.name, production.backflush_queue_error)
                for production in failed
            )
        # As OdooBot: the user need not be able to send mail (no email address).
        self.env["mail.thread"].sudo().message_notify(
            partner_ids=user.partner_id.ids,
            author_id=self.env.ref("base.partner_root").id,
            subject=subject,
            body=body,
        )

    # ------------------------------------------------------------------
    # Backflush: selection, planning, posting
    # ------------------------------------------------------------------
    def _backflush_is_managed(self):
        """The MOs of ``self`` whose consumption the backflush posts.

        Subcontracted MOs are left to Odoo: their components are in the
        subcontractor's location, not ours to block on, and what the
        subcontractor records is what was used (mrp_subcontracting is not a
        dependency, hence the plain string).
        """
        return self.filtered(lambda p: p.bom_id.type != "subcontract")

    def _backflush_demand(self, bom_line, unit_qty, product, uom):
        """Demand of a raw move of ``bom_line`` (``uom``): the order's net and
        its planned scrap, rounded up to a quantity the units can hold, as
        posted. The fixed scrap is only in the demand of the family's first
        MO: the ledger posts it once per family, with the family's first
        posting (the order a backorder is split from), so Odoo's
        consumption check must not expect it again on a backorder."""
        self.ensure_one()
        net = unit_qty * self.product_qty
        scrap = bom_line._get_planned_scrap(
            net, first_posting=self.backorder_sequence <= 1
        )
        return planning.round_up(
            net + scrap, self.env["stock.move"]._backflush_step(product, uom)
        )

    def _backflush_set_backorder_demand(self):
        """Odoo copies a backorder's raw moves pro rata of the order split:
        a share of the fixed planned scrap and of the split order's
        rounding. Lines with planned scrap get the backorder's own demand
        (see ``_backflush_demand``), which Odoo's consumption check expects;
        what is reserved stays."""
        moves = self._backflush_is_managed().move_raw_ids.filtered(
            lambda m: (
                m.state not in ("done", "cancel")
                and (m.bom_line_id.scrap_fixed_qty or m.bom_line_id.scrap_percent)
                and m.backflush_unit_qty
                and not m.additional
            )
        )
        by_qty = defaultdict(lambda: self.env["stock.move"])
        for move in moves:
            demand = move.raw_material_production_id._backflush_demand(
                move.bom_line_id,
                move.backflush_unit_qty,
                move.product_id,
                move.product_uom,
            )
            by_qty[demand] |= move
        for qty, same in by_qty.items():
            same.with_context(do_not_unreserve=True).product_uom_qty = qty

    def _backflush_get_moves(self, trigger="mark_done", workorders=None):
        """Raw moves the backflush posts now.

        Moves the operator recorded by hand (manual consumption) and moves
        already posted are left alone; ``operation`` lines post when their
        work order finishes, ``finish`` lines at Mark Done. Subcontracted
        MOs are left to Odoo (see ``_backflush_is_managed``).
        """
        return self._backflush_is_managed().move_raw_ids.filtered(
            lambda m: (
                m.state not in ("done", "cancel")
                and m.bom_line_id
                and not m._backflush_is_manual()
                and m.backflush_role in (False, "component")
                and m._backflush_trigger() == trigger
                and (workorders is None or m.workorder_id in workorders)
            )
        )

    def _backflush_is_finishing(self):
        """Everything left of the order is produced now."""
        self.ensure_one()
        return (
            float_compare(
                self.qty_producing or self.product_qty,
                self.product_qty - self.qty_produced,
                precision_rounding=self.product_uom_id.rounding,
            )
            >= 0
        )

    def _backflush_produced_qty(self):
        """Finished quantity (production UoM) posted now: what the operator
        set as producing, else the whole remaining quantity, as Mark Done
        and vanilla's work-order finish assume."""
        self.ensure_one()
        return (self.qty_producing or self.product_qty) - self.qty_produced

    def _backflush_covered_qty(self, bom_line):
        """Finished units whose ``bom_line`` components this MO posted from
        the BOM: what it produced so far (also when part of it was posted
        before the order is done); an operation line is posted when its
        work order finishes."""
        self.ensure_one()
        covered = self.qty_produced
        if self.state != "done" and bom_line._get_backflush_mode() == "operation":
            workorders = self.workorder_ids.filtered(
                lambda w: w.operation_id == bom_line.operation_id and w.state == "done"
            )
            covered = max(covered, sum(workorders.mapped("qty_produced")))
        return covered

    def _backflush_requirements(self, moves, produced_by_mo):
        """Turn raw moves into planner requirements, in move order: each
        posts what its family's ledger still owes its BOM line."""
        ledger = self.env["mrp.backflush.ledger"]
        staging = self.env["mrp.backflush.staging"]
        moves_by_key = {}
        for move in moves:
            family = ledger._family_key(move.raw_material_production_id)
            moves_by_key.setdefault((family, move.bom_line_id), move)
        entries = ledger._entries(
            moves.raw_material_production_id, moves.bom_line_id, moves_by_key
        )
        requirements = []
        for move in moves:
            production = move.raw_material_production_id
            bom = production.bom_id
            uom = move.product_uom
            entry = entries[(ledger._family_key(production), move.bom_line_id)]
            produced = produced_by_mo[production]
            net, scrap = entry.to_post(produced)
            fixed = entry.fixed_now(produced)
            # Two MOs of one family in one call: the second owes the rest.
            entry.produced += produced
            entry.posted["component"] += net
            entry.posted["planned_scrap"] += scrap
            requirements.append(
                planning.Requirement(
                    key=move.id,
                    product_id=move.product_id.id,
                    location_id=move.location_id.id,
                    net_qty=net,
                    scrap_qty=scrap,
                    rounding=move._backflush_rounding(),
                    to_pool=uom._compute_quantity(
                        1.0, move.product_id.uom_id, round=False
                    ),
                    policy=move._backflush_shortage_policy(),
                    substitution=bom.backflush_substitution,
                    fixed_scrap_qty=min(fixed, scrap),
                    serial_qty=move._backflush_serial_qty(),
                    substitutes=move._backflush_substitutes()
                    if bom.backflush_substitution != "none"
                    else (),
                    staged_key=staging._staged_key(
                        ledger._family_key(production), move.location_id
                    ),
                )
            )
        return requirements

    @api.model
    def _backflush_stock_pool(self, moves, products, own_moves=None):
        """Free quantity of ``products`` under each source location of
        ``moves`` (children included), in reference units: one grouped read.

        What ``own_moves`` reserved is theirs, so it counts as free;
        non-storable products are never short; expired lots are never
        consumed, so they are not counted. By default ``own_moves`` is what
        the MOs of ``moves`` and their families reserved: a backorder holds
        its share of what the order it was split from reserved, and the
        family consumes it as one (the ledger says what each MO posts).
        """
        locations = moves.location_id
        # In sudo as Odoo's own availability (stock.quant's
        # _get_available_quantity): the MOs' locations are read whatever
        # companies the request has selected.
        Quant = self.env["stock.quant"]
        domain = [
            ("product_id", "in", products.ids),
            ("location_id", "child_of", locations.ids),
        ]
        if Quant._backflush_uses_expiry():
            domain += Quant._backflush_valid_domain()
        quants = Quant.sudo()._read_group(
            domain,
            ["product_id", "location_id"],
            ["quantity:sum", "reserved_quantity:sum"],
        )
        pool = defaultdict(float)
        for product, location, qty, reserved in quants:
            for parent in locations:
                if location.parent_path.startswith(parent.parent_path):
                    pool[product.id, parent.id] += qty - reserved
        if own_moves is None:
            productions = moves.raw_material_production_id
            own_moves = moves | (
                productions.procurement_group_id.mrp_production_ids | productions
            ).move_raw_ids.filtered(lambda m: m.state not in ("done", "cancel"))
        for ml in own_moves.move_line_ids:
            if (
                ml.product_id.is_storable
                and ml.state != "done"
                and not ml.lot_id._backflush_is_expired()
            ):
                pool[ml.product_id.id, ml.move_id.location_id.id] += (
                    ml.quantity_product_uom
                )
        # Staged for another order: not free; staged for these: theirs.
        shares = self.env["mrp.backflush.staging"]._pool_shares(
            moves, products, own_moves
        )
        for key, qty in shares.items():
            pool[key] += qty
        for product in products.filtered(lambda p: not p.is_storable):
            for location in locations:
                pool[product.id, location.id] = float("inf")
        return pool

    def _backflush_check_blocked(self, plan):
        blocked = plan.blocked
        if not blocked:
            return
        Move = self.env["stock.move"]
        short_moves = Move.browse(line.requirement.key for line in blocked)
        expired = self.env["stock.quant"]._backflush_expired_stock(
            short_moves.product_id, short_moves.location_id
        )
        lines = []
        for line in blocked:
            move = Move.browse(line.requirement.key)
            uom = move.product_uom
            covered = sum(
                m.replaces_qty for m in line.moves if m.role == planning.ROLE_SUBSTITUTE
            )
            values = {
                "mo": move.raw_material_production_id.name,
                "product": move.product_id.display_name,
                "location": move.location_id.display_name,
                "uom": uom.name,
                "needed": self._backflush_format_qty(line.required_qty, uom),
                "available": self._backflush_format_qty(line.available_qty, uom),
                "covered": self._backflush_format_qty(covered, uom),
                "missing": self._backflush_format_qty(line.shortage_qty, uom),
            }
            if move.has_tracking == "serial":
                lines.append(
                    self.env._(
                        "- %(mo)s: %(product)s needs %(needed)s %(uom)s with serial "
                        "numbers, %(available)s reserved or recorded: %(missing)s "
                        "%(uom)s without serial numbers. The backflush never picks "
                        "serial numbers: reserve or record them on the order.",
                        **values,
                    )
                )
            elif float_is_zero(covered, precision_rounding=uom.rounding):
                lines.append(
                    self.env._(
                        "- %(mo)s: %(product)s needs %(needed)s %(uom)s in "
                        "%(location)s, %(available)s available, %(missing)s missing",
                        **values,
                    )
                )
            else:
                lines.append(
                    self.env._(
                        "- %(mo)s: %(product)s needs %(needed)s %(uom)s in "
                        "%(location)s, %(available)s available, %(covered)s "
                        "covered by substitutes, %(missing)s missing",
                        **values,
                    )
                )
            lots = expired.get((move.product_id.id, move.location_id.id))
            if lots:
                lines.append(
                    self.env._(
                        "  expired lots are never consumed: %(lots)s",
                        lots=", ".join(
                            self.env._(
                                "%(lot)s (%(qty)s %(uom)s, removal date %(date)s)",
                                lot=lot.name,
                                qty=move.product_id.uom_id._backflush_format_qty(qty),
                                uom=move.product_id.uom_id.name,
                                date=format_date(self.env, lot.removal_date),
                            )
                            for lot, qty in lots.items()
                        ),
                    )
                )
        raise UserError(
            self.env._(
                "Not enough components to backflush; nothing was posted.\n%(lines)s\n\n"
                "Receive or move the missing stock into the source location, or "
                "ask a manager to change the BOM's shortage policy.",
                lines="\n".join(lines),
            )
        )

    @api.model
    def _backflush_format_qty(self, qty, uom):
        """``qty`` at the precision of ``uom``, in the user's language."""
        return uom._backflush_format_qty(qty)

    def _backflush(self, trigger, workorders=None):
        """Plan and post the backflush of ``self``; return the runs written
        (see ``mrp.backflush.engine``)."""
        # Expired lots are never reserved for a backflush (stock.quant); the
        # families are locked before their ledger is read (a preview plans
        # without locking).
        productions = self.with_context(**{VALID_LOTS_ONLY: True})
        self.env["mrp.backflush.ledger"]._lock_families(productions)
        engine = productions.env["mrp.backflush.engine"]
        return engine._post(engine._plan(productions, trigger, workorders))

    @api.model
    def _backflush_link_consumed(self, move_lines):
        """Link component ``move_lines`` posted apart from Mark Done (by a
        work order before it, by a retry or a correction after it) to the
        finished goods of their order, as Odoo links what Mark Done
        consumes: Odoo's traceability report then shows them under the
        finished lot."""
        for production, lines in move_lines.grouped(
            lambda ml: ml.move_id.raw_material_production_id
        ).items():
            finished = production.move_finished_ids.move_line_ids.filtered(
                lambda ml: ml.state == "done"
            )
            missing = finished - lines.produce_line_ids
            if production and missing:
                lines.produce_line_ids = [
                    fields.Command.link(line.id) for line in missing
                ]

    def _backflush_set_component_quantities(self, moves, plan_by_move, trigger):
        """Set the components' quantities to the plan; return the serial
        numbers each serial-tracked move gave back ({move id: lots}), which
        its planned scrap takes."""
        # Tracked components: lines without a lot are only vanilla's
        # placeholders; reserve instead, so lots follow the removal strategy.
        # Expired lots Odoo reserved are never consumed automatically.
        # Serial numbers are never picked: only those reserved or recorded
        # are consumed (the plan counted them).
        tracked = moves.filtered(lambda m: m.has_tracking != "none")
        tracked.move_line_ids.filtered(
            lambda ml: not ml.lot_id or ml.lot_id._backflush_is_expired()
        ).unlink()
        serials = tracked.filtered(lambda m: m.has_tracking == "serial")
        lots = tracked - serials
        lots.picked = False
        lots._recompute_state()
        lots._action_assign()
        lots.filtered("move_orig_ids")._backflush_reserve_free(
            {move.id: plan_by_move[move.id].required_qty for move in lots}
        )
        held = {move.id: move.move_line_ids.lot_id for move in serials}
        quantities = {
            move.id: plan_by_move[move.id].qty(
                planning.ROLE_COMPONENT, move.product_id.id
            )
            for move in moves
        }
        moves._backflush_set_quantities(quantities)
        # The demand reads as what this move was for: its net share (the
        # planned scrap and substitutes have moves of their own). Not when
        # only part of the order is posted (Odoo keeps the rest of the
        # demand on a move of its own). Written once per quantity.
        finishing = moves.filtered(
            lambda m: (
                trigger == "operation"
                or m.raw_material_production_id._backflush_is_finishing()
            )
        )
        by_qty = defaultdict(lambda: self.env["stock.move"])
        for move in moves:
            by_qty[quantities[move.id]] |= move
        for qty, same in by_qty.items():
            same._backflush_write({"backflush_line_qty": qty})
            above = (same & finishing).filtered(
                lambda m, q=qty: float_compare(
                    m.product_uom_qty, q, precision_rounding=m.product_uom.rounding
                )
            )
            if above:
                above.with_context(do_not_unreserve=True).product_uom_qty = qty
        # Vanilla already picked most of them: write only what changes, the
        # inverse of `picked` rewrites every move line.
        moves.filtered(lambda m: not m.picked).picked = True
        moves._backflush_write({"backflush_role": "component"})
        return {move.id: held[move.id] - move.move_line_ids.lot_id for move in serials}

    def _backflush_create_extra_moves(self, moves, plan_by_move, released=None):
        """Planned-scrap and substitute moves, created in one call. A
        planned scrap with serial numbers takes those its component gave
        back (``released``: {component move id: lots})."""
        vals_list = []
        Product = self.env["product.product"]
        for move in moves:
            for plan_move in plan_by_move[move.id].moves:
                if plan_move.role == planning.ROLE_COMPONENT:
                    continue
                product = Product.browse(plan_move.product_id)
                uom = move.product_uom
                if product != move.product_id:
                    uom = move.bom_line_id.substitute_ids.filtered(
                        lambda s, p=product: s.product_id == p
                    ).product_uom_id
                vals_list.append(
                    move._backflush_extra_move_vals(
                        plan_move.role,
                        product,
                        uom,
                        plan_move.qty,
                        line_qty=plan_move.replaces_qty,
                    )
                )
        if not vals_list:
            return self.env["stock.move"]
        new_moves = self.env["stock.move"]._backflush_create(vals_list)
        released = released or {}
        new_moves.with_context(**{VALID_LOTS_ONLY: True})._backflush_pick_demand(
            serials={
                move.id: released[move.backflush_replaced_move_id.id]
                for move in new_moves
                if move.backflush_replaced_move_id.id in released
            }
        )
        return new_moves

    def _backflush_create_runs(
        self, trigger, moves, new_moves, plan_by_move, produced_by_mo, workorders
    ):
        new_by_origin = defaultdict(lambda: self.env["stock.move"])
        for new_move in new_moves:
            new_by_origin[new_move.backflush_replaced_move_id.id] |= new_move
        run_vals = []
        for production, mo_moves in moves.grouped("raw_material_production_id").items():
            lines = []
            for move in mo_moves:
                if move.backflush_recorded:
                    lines += move._backflush_recorded_run_line_vals(
                        produced_by_mo[production]
                    )
                    continue
                line = plan_by_move[move.id]
                lines += move._backflush_run_line_vals(line, new_by_origin[move.id])
            if trigger == "mark_done":
                lines += production._backflush_actual_scrap_line_vals()
            run_vals.append(
                production._backflush_run_vals(
                    trigger,
                    lines,
                    workorder_id=workorders
                    and workorders.filtered(
                        lambda w, p=production: w.production_id == p
                    )[:1].id,
                    produced_qty=produced_by_mo[production],
                )
            )
        return self.env["mrp.backflush.run"]._create_postings(run_vals)

    def _backflush_run_vals(self, trigger, line_vals, **extra):
        """One run: what was posted, by which trigger, under which policy."""
        self.ensure_one()
        bom = self.bom_id
        return dict(
            {
                "production_id": self.id,
                "bom_id": bom.id,
                "trigger": trigger,
                "backflush_mode": bom.backflush_mode,
                "backflush_shortage_policy": bom.backflush_shortage_policy,
                "backflush_substitution": bom.backflush_substitution,
                "line_ids": [
                    fields.Command.create(
                        dict(vals, production_id=self.id, company_id=self.company_id.id)
                    )
                    for vals in line_vals
                ],
            },
            **extra,
        )

    def _backflush_actual_scrap_line_vals(self):
        """Scrap recorded on the MO (components or finished units) before
        Mark Done, reported beside the planned scrap of the same run."""
        self.ensure_one()
        scrap_moves = self.scrap_ids.move_ids.filtered(
            lambda m: m.state == "done" and not m.backflush_run_id
        )
        return [
            {
                "product_id": move.product_id.id,
                "role": "actual_scrap",
                "move_id": move.id,
                "product_uom_id": move.product_uom.id,
                "consumed_qty": move.quantity,
                "location_id": move.location_id.id,
                "scrap_reason_ids": [
                    fields.Command.set(move.scrap_id.scrap_reason_tag_ids.ids)
                ],
            }
            for move in scrap_moves
        ]

    def _backflush_create_exceptions(self, moves, plan_by_move):
        """One pending exception per line deferred by the policy."""
        vals_list = [
            move._backflush_exception_vals(plan_by_move[move.id])
            for move in moves
            if plan_by_move[move.id].action == planning.POLICY_DEFER
        ]
        if vals_list:
            Exceptions = self.env["mrp.backflush.exception"].sudo()
            causes = Exceptions._shortage_causes(moves.product_id, moves.location_id)
            for vals in vals_list:
                vals["cause"] = causes[vals["product_id"], vals["location_id"]]
                if vals["cause"] == "lot_required":
                    vals["cause_detail"] = Exceptions._serials_missing_detail(
                        self.env["product.product"].browse(vals["product_id"]),
                        vals["quantity"],
                        self.env["uom.uom"].browse(vals["product_uom_id"]),
                    )
            Exceptions.create(vals_list)

    def _backflush_notify_body(self, run):
        """Chatter line of one posting, counted as the BOM reads: one
        component per BOM line, whatever extra moves (planned scrap,
        substitutes) it took."""
        self.ensure_one()
        lines = run.line_ids
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
            trigger=dict(run._fields["trigger"]._description_selection(self.env))[
                run.trigger
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

    # ------------------------------------------------------------------
    # Corrections after Mark Done
    # ------------------------------------------------------------------
    def _backflush_consumption(self):
        """What the MO consumed net of returns, per (product, BOM line,
        lot), in the product's unit: ``{key: (qty, consuming moves)}``.
        Scrap is not consumption; corrections are; returns (corrections,
        unbuilds) are moves linked to the raw move they return, counted
        against its BOM line (Odoo's own unbuild names none)."""
        self.ensure_one()
        move_lines = self.env["stock.move.line"].search(
            [
                ("state", "=", "done"),
                ("move_id.scrapped", "=", False),
                "|",
                ("move_id.raw_material_production_id", "=", self.id),
                (
                    "move_id.origin_returned_move_id.raw_material_production_id",
                    "=",
                    self.id,
                ),
            ]
        )
        consumption = {}
        for ml in move_lines:
            move = ml.move_id
            returned = not move.raw_material_production_id
            line = (
                move.origin_returned_move_id.bom_line_id
                if returned
                else move.bom_line_id
            )
            key = (ml.product_id, line, ml.lot_id)
            qty, moves = consumption.get(key, (0.0, self.env["stock.move"]))
            sign = -1 if returned else 1
            consumption[key] = (
                qty + sign * ml.quantity_product_uom,
                moves if returned else moves | move,
            )
        return consumption

    def _backflush_lock_for_correction(self):
        """Lock the MO and mark its row changed: a second correction that
        read the MO before this one commits then fails to serialize, and
        Odoo's retry of its request sees what this one posted."""
        self.env.cr.execute(
            "UPDATE mrp_production SET write_date = NOW() AT TIME ZONE 'UTC', "
            "write_uid = %s WHERE id IN %s",
            [self.env.uid, tuple(self.ids)],
        )

    def _backflush_record_correction(self, line_vals, layers, note=False):
        """Audit a correction of the consumption of a done MO and let the
        finished goods' value follow: one run (trigger ``correction``), the
        catch-up of the value, a chatter line naming who, what and why.
        ``line_vals``: run lines, ``consumed_qty`` signed (< 0: returned)."""
        self.ensure_one()
        run = (
            self.env["mrp.backflush.run"]
            .sudo()
            .create(self._backflush_run_vals("correction", line_vals, note=note))
        )
        # Moves posted for the correction belong to it; an edited move
        # stays with the run that posted it.
        run.line_ids.move_id.filtered(
            lambda m: m.backflush_role == "correction" and not m.backflush_run_id
        )._backflush_write({"backflush_run_id": run.id})
        changes = format_list(
            self.env,
            [
                self.env._(
                    "%(product)s%(lot)s %(qty)s %(uom)s",
                    product=line.product_id.display_name,
                    lot=" (%s)" % line.lot_id.name if line.lot_id else "",
                    qty=("+" if line.consumed_qty > 0 else "")
                    + line.product_uom_id._backflush_format_qty(line.consumed_qty),
                    uom=line.product_uom_id.name,
                )
                for line in run.line_ids
            ],
        )
        self._backflush_add_finished_value(
            layers,
            self.env._("%(mo)s - consumption corrected", mo=self.name),
        )
        reasons = run.line_ids.scrap_reason_ids
        body = self.env._(
            "Consumption corrected by %(user)s: %(changes)s.",
            user=self.env.user.name,
            changes=changes,
        )
        if reasons:
            body += " " + self.env._(
                "Reason: %(reasons)s.", reasons=", ".join(reasons.mapped("name"))
            )
        if note:
            body += " " + note
        self._message_log(body=body)
        return run.sudo(False)

    # ------------------------------------------------------------------
    # Value of components posted after Mark Done
    # ------------------------------------------------------------------
    def _backflush_add_finished_value(self, layers, description):
        """The one catch-up of the finished goods' value: add the value of
        component ``layers`` posted after Mark Done (deferred postings,
        corrections; a return has a positive layer and removes value).

        As landed costs do: the share of finished units still in stock
        becomes a zero-quantity layer linked to each finished layer (its
        remaining value, and the AVCO cost, follow); the share already gone
        is expensed. Entries follow the finished move's accounts under
        automated valuation. A standard-cost product keeps its standard:
        the component postings already debited the production account,
        which Odoo uses as the variance account of standard-cost
        production, so nothing is added.
        The layers carry role ``finished_value``: no consumption role ever
        nets out against them."""
        self.ensure_one()
        currency = self.company_id.currency_id
        value = -sum(layers.sudo().mapped("value"))
        product = self.product_id.with_company(self.company_id)
        finished_moves = self.move_finished_ids.filtered(
            lambda m: m.product_id == self.product_id and m.state == "done"
        )
        finished_layers = finished_moves.sudo().stock_valuation_layer_ids.filtered(
            lambda svl: svl.quantity > 0
        )
        produced = sum(finished_layers.mapped("quantity"))
        if currency.is_zero(value) or not produced or product.cost_method == "standard":
            return
        # The value goes to the units of the MO not unbuilt since: those
        # still in stock carry it, the others are gone.
        unbuilds = (
            self.env["mrp.unbuild"]
            .sudo()
            .search([("mo_id", "=", self.id), ("state", "=", "done")])
        )
        left = produced - sum(
            unbuild.product_uom_id._compute_quantity(
                unbuild.product_qty, product.uom_id, round=False
            )
            for unbuild in unbuilds
        )
        vals_list = []
        for layer in finished_layers:
            in_stock = currency.round(
                value * min(layer.remaining_qty / left, 1.0)
                if layer.remaining_qty and left > 0
                else 0.0
            )
            if currency.is_zero(in_stock):
                continue
            vals_list.append(
                {
                    "company_id": self.company_id.id,
                    "product_id": product.id,
                    "stock_move_id": layer.stock_move_id.id,
                    "stock_valuation_layer_id": layer.id,
                    "description": description,
                    "quantity": 0,
                    "unit_cost": 0,
                    "value": in_stock,
                    "remaining_qty": 0,
                    "backflush_role": "finished_value",
                    "backflush_production_id": self.id,
                }
            )
            layer.remaining_value += in_stock
        svls = self.env["stock.valuation.layer"].sudo().create(vals_list)
        in_stock_total = sum(svls.mapped("value"))
        if product.cost_method == "average" and product.quantity_svl > 0:
            product.sudo().with_context(disable_auto_svl=True).standard_price += (
                in_stock_total / product.quantity_svl
            )
        svls._validate_accounting_entries()
        gone = currency.round(value - in_stock_total)
        if not currency.is_zero(gone) and product.valuation == "real_time":
            self._backflush_expense_gone_share(finished_moves[-1], gone, description)

    def _backflush_expense_gone_share(self, finished_move, amount, description):
        """Late component cost of finished units no longer in stock: expense
        it against the production account the finished move credited."""
        journal_id, acc_src, _acc_dest, _acc_valuation = (
            finished_move._get_accounting_data_for_valuation()
        )
        expense = self.product_id.product_tmpl_id.with_company(
            self.company_id
        ).get_product_accounts()["expense"]
        line = {"name": description, "product_id": self.product_id.id}
        move = (
            self.env["account.move"]
            .sudo()
            .create(
                {
                    "journal_id": journal_id,
                    "company_id": self.company_id.id,
                    "ref": description,
                    "move_type": "entry",
                    "line_ids": [
                        fields.Command.create(
                            dict(line, account_id=expense.id, balance=amount)
                        ),
                        fields.Command.create(
                            dict(line, account_id=acc_src, balance=-amount)
                        ),
                    ],
                }
            )
        )
        move._post()
