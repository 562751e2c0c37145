# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import format_list


class MrpBackflushCorrection(models.TransientModel):
    """Correct what a done MO consumed: more used, or leftovers returned.

    The corrections' business methods live here too: what a done MO
    consumed, the lock, and the audit of a correction, whether made in this
    wizard or by editing the done components of an unlocked MO.

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
        help="Where returned leftovers go; by default the MO's source location. "
        "Components taken from a line-side bin go back to their bin.",
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
        self._check_no_pending(production)
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
                self._backflush_consumption(production).items(),
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
                    state=production._backflush_state_label(),
                )
            )

    @api.model
    def _check_no_pending(self, production):
        # A retry would post the pending quantity on top of what the
        # correction says was used: the manager decides on it first.
        production._backflush_check_no_pending(self.env._("corrected"))

    def action_confirm(self):
        self.ensure_one()
        self._check_manager()
        production = self.production_id
        self._backflush_lock_for_correction(production)
        self._check_done(production)
        self._check_no_pending(production)
        consumption = self._backflush_consumption(production)
        self.line_ids._check_against(consumption)
        changed = self.line_ids.filtered(lambda line: not line._is_unchanged())
        if not changed:
            raise UserError(self.env._("Nothing to correct: no quantity was changed."))
        moves = changed._post(consumption, self.location_id)
        line_vals = [
            line._run_line_vals(move, self.reason_tag_ids)
            for line, move in zip(changed, moves, strict=True)
        ]
        self._backflush_record_correction(
            production,
            line_vals,
            moves.sudo().stock_valuation_layer_ids,
            note=self.note,
        )
        return {"type": "ir.actions.act_window_close"}

    # ------------------------------------------------------------------
    # Corrections after Mark Done (this wizard, edits of done components)
    # ------------------------------------------------------------------
    @api.model
    def _backflush_consumption(self, production):
        """What the MO consumed net of returns, per (product, BOM line,
        lot), in the product's unit: ``{key: (qty, consuming moves)}``.
        Scrap is not consumption; corrections are; returns (corrections,
        unbuilds) are moves linked to the raw move they return, counted
        against its BOM line (Odoo's own unbuild names none)."""
        production.ensure_one()
        move_lines = self.env["stock.move.line"].search(
            [
                ("state", "=", "done"),
                ("move_id.scrapped", "=", False),
                "|",
                ("move_id.raw_material_production_id", "=", production.id),
                (
                    "move_id.origin_returned_move_id.raw_material_production_id",
                    "=",
                    production.id,
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

    @api.model
    def _backflush_lock_for_correction(self, production):
        """Lock the MO and mark its row changed: a second correction that
        read the MO before this one commits then fails to serialize, and
        Odoo's retry of its request sees what this one posted."""
        self.env.cr.execute(
            "UPDATE mrp_production SET write_date = NOW() AT TIME ZONE 'UTC', "
            "write_uid = %s WHERE id IN %s",
            [self.env.uid, tuple(production.ids)],
        )

    @api.model
    def _backflush_record_correction(self, production, line_vals, layers, note=False):
        """Audit a correction of the consumption of a done MO and let the
        finished goods' value follow: one run (trigger ``correction``), the
        catch-up of the value, a chatter line naming who, what and why.
        ``line_vals``: run lines, ``consumed_qty`` signed (< 0: returned)."""
        production.ensure_one()
        vals = self.env["mrp.backflush.engine"]._run_vals(
            production, "correction", line_vals, note=note
        )
        run = self.env["mrp.backflush.run"].sudo().create(vals)
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
        self.env["mrp.backflush.valuation"]._backflush_add_finished_value(
            production,
            layers,
            self.env._("%(mo)s - consumption corrected", mo=production.name),
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
        production._message_log(body=body)
        return run.sudo(False)
