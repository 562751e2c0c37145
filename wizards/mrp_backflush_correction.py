# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError


class MrpBackflushCorrection(models.TransientModel):
    """Correct what a done MO consumed: more used, or leftovers returned.

    Reasons are ``stock.scrap.reason.tag``: what makes consumption differ
    from the BOM is what scrap reasons already name (damaged, badly cut,
    over-issued), and one vocabulary lets the analysis and the BOM advice
    group scrap and corrections together.
    """

    _name = "mrp.backflush.correction"
    _description = "Backflush Consumption Correction"
    _check_company_auto = True

    production_id = fields.Many2one(
        "mrp.production",
        "Manufacturing Order",
        required=True,
        readonly=True,
        ondelete="cascade",
    )
    company_id = fields.Many2one(related="production_id.company_id")
    bom_id = fields.Many2one(related="production_id.bom_id")
    line_ids = fields.One2many("mrp.backflush.correction.line", "wizard_id")
    location_id = fields.Many2one(
        "stock.location",
        string="Return To",
        required=True,
        check_company=True,
        domain="[('usage', '=', 'internal')]",
        help="Where returned leftovers go; by default the MO's source location.",
    )
    reason_tag_ids = fields.Many2many("stock.scrap.reason.tag", string="Reasons")
    note = fields.Text()

    @api.constrains("location_id")
    def _check_location(self):
        for wizard in self:
            if wizard.location_id.usage != "internal":
                raise ValidationError(
                    self.env._(
                        "Correction of %(mo)s: leftovers cannot be returned to "
                        "%(location)s; choose an internal location.",
                        mo=wizard.production_id.name,
                        location=wizard.location_id.display_name,
                    )
                )

    @api.model
    def _open_for(self, production):
        self._check_manager()
        self._check_done(production)
        lines = [
            fields.Command.create(
                {
                    "product_id": product.id,
                    "bom_line_id": bom_line.id,
                    "lot_id": lot.id,
                    "consumed_qty": qty,
                    "qty_used": qty,
                }
            )
            for (product, bom_line, lot), (qty, _moves) in sorted(
                production._backflush_consumption().items(),
                key=lambda item: (item[0][1].sequence, item[0][1].id, item[0][0].id),
            )
        ]
        wizard = self.create(
            {
                "production_id": production.id,
                "location_id": production.location_src_id.id,
                "line_ids": lines,
            }
        )
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Correct Consumption"),
            "res_model": self._name,
            "res_id": wizard.id,
            "view_mode": "form",
            "target": "new",
            # one row per component, lot and unit: wide enough to read
            "context": {"dialog_size": "extra-large"},
        }

    def _check_manager(self):
        if not self.env.user.has_group("mrp.group_mrp_manager"):
            raise AccessError(
                self.env._("Only a manufacturing manager can correct consumption.")
            )

    @api.model
    def _check_done(self, production):
        # Only a done MO's value is in its finished goods; a running one
        # records its consumption itself, a cancelled one consumed nothing.
        if production.state != "done":
            raise UserError(
                self.env._(
                    "%(mo)s is %(state)s, not done: only the consumption of a "
                    "done order is corrected here.",
                    mo=production.name,
                    state=dict(
                        production._fields["state"]._description_selection(self.env)
                    )[production.state],
                )
            )

    def action_confirm(self):
        self.ensure_one()
        self._check_manager()
        production = self.production_id
        production._backflush_lock_for_correction()
        self._check_done(production)
        consumption = production._backflush_consumption()
        self.line_ids._check_against(consumption)
        changed = self.line_ids.filtered(lambda line: not line._is_unchanged())
        if not changed:
            raise UserError(self.env._("Nothing to correct: no quantity was changed."))
        moves = changed._post(consumption, self.location_id)
        line_vals = [
            line._run_line_vals(move, self.reason_tag_ids)
            for line, move in zip(changed, moves, strict=True)
        ]
        production._backflush_record_correction(
            line_vals, moves.sudo().stock_valuation_layer_ids, note=self.note
        )
        return {"type": "ir.actions.act_window_close"}
