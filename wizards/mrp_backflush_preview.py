# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import math

from odoo import api, fields, models

from .. import planning


class MrpBackflushPreview(models.TransientModel):
    _name = "mrp.backflush.preview"
    _description = "Backflush Preview"

    production_ids = fields.Many2many("mrp.production", required=True)
    line_ids = fields.One2many("mrp.backflush.preview.line", "preview_id")
    has_block = fields.Boolean(compute="_compute_has_block")

    @api.depends("line_ids.action")
    def _compute_has_block(self):
        for wizard in self:
            wizard.has_block = "block" in wizard.line_ids.mapped("action")

    @api.model_create_multi
    def create(self, vals_list):
        wizards = super().create(vals_list)
        for wizard in wizards:
            wizard.line_ids = [
                fields.Command.create(v) for v in wizard._compute_plan_lines()
            ]
        return wizards

    def _compute_plan_lines(self):
        """Plan exactly as Mark Done would, without writing anything."""
        self.ensure_one()
        productions = self.production_ids.filtered(
            lambda p: p.state in ("confirmed", "progress", "to_close")
        )
        moves = productions._backflush_get_moves()
        if not moves:
            return []
        produced = {mo: mo._backflush_produced_qty() for mo in productions}
        plan = productions._backflush_plan(moves, produced)
        Move = self.env["stock.move"]
        vals = []
        for line in plan.lines:
            move = Move.browse(line.requirement.key)
            common = {
                "production_id": move.raw_material_production_id.id,
                "bom_line_id": move.bom_line_id.id,
                "location_id": move.location_id.id,
                "component_id": move.product_id.id,
            }
            vals.append(
                dict(
                    common,
                    product_id=move.product_id.id,
                    role="component",
                    product_uom_id=move.product_uom.id,
                    required_qty=line.required_qty,
                    net_qty=line.qty(planning.ROLE_COMPONENT),
                    scrap_qty=line.qty(planning.ROLE_PLANNED_SCRAP, move.product_id.id),
                    # non-storable products are never short
                    available_qty=line.available_qty
                    if math.isfinite(line.available_qty)
                    else line.required_qty,
                    shortage_qty=line.shortage_qty,
                    action=line.action,
                    lot_ids=[fields.Command.set(self._preview_lots(move, line).ids)],
                )
            )
            substitutes = dict.fromkeys(
                m.product_id for m in line.moves if m.product_id != move.product_id.id
            )
            for product_id in substitutes:
                sub = move.bom_line_id.substitute_ids.filtered(
                    lambda s, p=product_id: s.product_id.id == p
                )
                vals.append(
                    dict(
                        common,
                        product_id=product_id,
                        role="substitute",
                        product_uom_id=sub.product_uom_id.id,
                        net_qty=line.qty(planning.ROLE_SUBSTITUTE, product_id),
                        scrap_qty=line.qty(planning.ROLE_PLANNED_SCRAP, product_id),
                        action="none",
                    )
                )
        return vals

    @api.model
    def _preview_lots(self, move, plan_line):
        """Lots a tracked component would take: those already reserved, then
        the location's removal strategy (FIFO, FEFO...), as Odoo reserves."""
        lots = self.env["stock.lot"]
        if move.has_tracking == "none":
            return lots
        needed = move.product_uom._compute_quantity(
            plan_line.qty(planning.ROLE_COMPONENT), move.product_id.uom_id
        )
        reserved = move.move_line_ids.filtered("lot_id")
        lots |= reserved.lot_id
        needed -= sum(reserved.mapped("quantity_product_uom"))
        quants = self.env["stock.quant"]._gather(move.product_id, move.location_id)
        taken = reserved.lot_id
        for quant in quants.filtered(lambda q: q.lot_id and q.lot_id not in taken):
            if needed <= 0:
                break
            free = quant.quantity - quant.reserved_quantity
            if free > 0:
                lots |= quant.lot_id
                needed -= free
        return lots

    def _get_action(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Backflush Preview"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }

    def action_mark_done(self):
        return self.production_ids.button_mark_done()
