# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_compare, float_is_zero

from ..models.mrp_bom_line import check_numbers


class MrpBackflushCorrectionLine(models.TransientModel):
    _name = "mrp.backflush.correction.line"
    _description = "Backflush Consumption Correction Line"

    wizard_id = fields.Many2one(
        "mrp.backflush.correction", required=True, ondelete="cascade"
    )
    production_id = fields.Many2one(related="wizard_id.production_id")
    bom_line_id = fields.Many2one(
        "mrp.bom.line",
        string="BOM Line",
        domain="[('bom_id', '=', parent.bom_id)]",
        help="The BOM line the component was consumed for (a substitute "
        "keeps the line it stood in for).",
    )
    product_id = fields.Many2one("product.product", string="Component", required=True)
    tracking = fields.Selection(related="product_id.tracking")
    lot_id = fields.Many2one(
        "stock.lot",
        string="Lot/Serial",
        domain="[('product_id', '=', product_id)]",
    )
    product_uom_id = fields.Many2one(related="product_id.uom_id", string="Unit")
    consumed_qty = fields.Float(
        "Consumed",
        digits="Product Unit of Measure",
        compute="_compute_consumed_qty",
        store=True,
        help="Consumed by the MO (every posting and correction), net of returns.",
    )
    qty_used = fields.Float(
        "Really Used",
        digits="Product Unit of Measure",
        required=True,
        help="What the floor really used: more posts an extra consumption, "
        "less returns the leftovers.",
    )
    difference = fields.Float(
        digits="Product Unit of Measure", compute="_compute_difference"
    )

    @api.depends("wizard_id.production_id", "product_id", "bom_line_id", "lot_id")
    def _compute_consumed_qty(self):
        for wizard, lines in self.grouped("wizard_id").items():
            consumption = wizard._backflush_consumption(wizard.production_id)
            for line in lines:
                line.consumed_qty = consumption.get(line._key(), (0.0, None))[0]

    @api.depends("qty_used", "consumed_qty")
    def _compute_difference(self):
        for line in self:
            line.difference = line.qty_used - line.consumed_qty

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            check_numbers(self, vals, ["qty_used"], self._backflush_label)
        return super().create(vals_list)

    def write(self, vals):
        check_numbers(self, vals, ["qty_used"], self._backflush_label)
        return super().write(vals)

    def _backflush_label(self, vals):
        """MO and component of ``self``, or of the line ``vals`` create."""
        wizard = self.wizard_id or self.env["mrp.backflush.correction"].browse(
            vals.get("wizard_id")
        )
        product = self.product_id or self.env["product.product"].browse(
            vals.get("product_id")
        )
        return self.env._(
            "Correction of %(mo)s, component %(product)s",
            mo=", ".join(wizard.production_id.mapped("name")),
            product=", ".join(product.mapped("display_name")),
        )

    @api.onchange("bom_line_id")
    def _onchange_bom_line_id(self):
        if self.bom_line_id and not self.product_id:
            self.product_id = self.bom_line_id.product_id

    def _key(self):
        self.ensure_one()
        return (self.product_id, self.bom_line_id, self.lot_id)

    def _is_unchanged(self):
        self.ensure_one()
        return float_is_zero(
            self.difference, precision_rounding=self.product_uom_id.rounding
        )

    def _check_against(self, consumption):
        """Refuse a stale wizard (someone corrected meanwhile), a line given
        twice, a tracked component without lot and a negative use: with
        ``consumption`` read under the MO's lock, a return then never
        exceeds what was consumed per product, BOM line and lot."""
        seen = set()
        for line in self:
            key = line._key()
            rounding = line.product_uom_id.rounding
            consumed = consumption.get(key, (0.0, None))[0]
            if float_compare(line.consumed_qty, consumed, precision_rounding=rounding):
                raise UserError(
                    self.env._(
                        "The consumption of %(product)s on %(mo)s changed since "
                        "you opened this correction: close it and open it again.",
                        product=line.product_id.display_name,
                        mo=line.production_id.name,
                    )
                )
            if key in seen:
                raise UserError(
                    self.env._(
                        "%(product)s%(lot)s is on two lines: correct it on one.",
                        product=line.product_id.display_name,
                        lot=" (%s)" % line.lot_id.name if line.lot_id else "",
                    )
                )
            seen.add(key)
            if line.tracking != "none" and not line.lot_id:
                raise UserError(
                    self.env._(
                        "%(product)s is tracked: choose the lot/serial to correct.",
                        product=line.product_id.display_name,
                    )
                )
            if line.tracking == "serial" and line.qty_used > 1:
                raise UserError(
                    self.env._(
                        "%(product)s (%(lot)s) is a serial number: at most one "
                        "was used.",
                        product=line.product_id.display_name,
                        lot=line.lot_id.name,
                    )
                )
            if float_compare(line.qty_used, 0.0, precision_rounding=rounding) < 0:
                raise UserError(
                    self.env._(
                        "%(product)s: the quantity really used cannot be negative; "
                        "at most the %(consumed)s %(uom)s consumed can be returned.",
                        product=line.product_id.display_name,
                        consumed=consumed,
                        uom=line.product_uom_id.name,
                    )
                )

    def _post(self, consumption, return_location):
        """Post each line's difference, done at once, in line order: an
        extra raw move of the MO, or a return from the production location
        linked to the move it consumed (its cost, Odoo's traceability)."""
        Move = self.env["stock.move"]
        vals_list = []
        taking = []  # (raw move, lot, qty) consumed more
        for line in self:
            qty = abs(line.difference)
            moves = consumption.get(line._key(), (0.0, Move))[1] or (
                line.production_id.move_raw_ids.filtered(
                    lambda m, line=line: (
                        m.state == "done"
                        and m.product_id == line.product_id
                        and m.bom_line_id == line.bom_line_id
                    )
                )
            )
            template = moves.sorted("id")[-1:]
            if not template:
                raise UserError(
                    self.env._(
                        "%(product)s was never consumed by %(mo)s for this BOM "
                        "line: it cannot be corrected here.",
                        product=line.product_id.display_name,
                        mo=line.production_id.name,
                    )
                )
            if line.difference > 0:
                vals = template._backflush_extra_move_vals(
                    "correction", line.product_id, line.product_uom_id, qty, qty
                )
                vals["backflush_replaced_move_id"] = False
                taking.append(
                    (
                        template,
                        line.lot_id,
                        line.product_uom_id._compute_quantity(
                            qty, line.product_id.uom_id, round=False
                        ),
                    )
                )
            else:
                vals = line._return_move_vals(template, qty, return_location)
            vals_list.append(vals)
        if taking:
            # another open order's picked stock is never taken, lots or not
            self.env["mrp.backflush.staging"]._check_not_taken_from_others(taking)
        moves = Move._backflush_create(vals_list)
        moves._action_confirm(merge=False)
        # mrp picks raw moves created on a running MO: reserve first.
        moves.picked = False
        for line, move in zip(self, moves, strict=True):
            if move.raw_material_production_id and not line.lot_id:
                move._action_assign()
                move._set_quantity_done(move.product_uom_qty)
            else:
                move.move_line_ids.unlink()
                self.env["stock.move.line"].create(line._move_line_vals(move))
        if taking:
            self.env["mrp.backflush.staging"]._free_family_reservations(
                moves.filtered("raw_material_production_id")
            )
        moves.picked = True
        moves.with_context(skip_mo_check=True)._action_done()
        # Traceability: what was consumed later went into the same goods.
        self.env["mrp.production"]._backflush_link_consumed(
            moves.filtered("raw_material_production_id").move_line_ids
        )
        return moves

    def _return_move_vals(self, origin, qty, location):
        self.ensure_one()
        production = self.production_id
        location = origin._backflush_return_location(location)
        return {
            "name": production.name,
            "origin": production.name,
            "product_id": self.product_id.id,
            "product_uom": self.product_uom_id.id,
            "product_uom_qty": qty,
            "location_id": origin.location_dest_id.id,
            "location_dest_id": location.id,
            "warehouse_id": location.warehouse_id.id,
            "company_id": production.company_id.id,
            "procure_method": "make_to_stock",
            "bom_line_id": self.bom_line_id.id,
            "origin_returned_move_id": origin.id,
            "backflush_role": "correction",
        }

    def _move_line_vals(self, move):
        """A lot is consumed where it lies (a child location of the
        source, if need be); returns come from the production location."""
        self.ensure_one()
        location = move.location_id
        if move.raw_material_production_id:
            quant = self.env["stock.quant"]._gather(
                self.product_id, location, lot_id=self.lot_id, strict=False
            )
            location = quant.filtered(lambda q: q.quantity > 0)[:1].location_id or (
                location
            )
        return {
            "move_id": move.id,
            "product_id": self.product_id.id,
            "product_uom_id": move.product_uom.id,
            "lot_id": self.lot_id.id,
            "quantity": move.product_uom_qty,
            "location_id": location.id,
            "location_dest_id": move.location_dest_id.id,
        }

    def _run_line_vals(self, move, reasons):
        self.ensure_one()
        return {
            "product_id": self.product_id.id,
            "bom_line_id": self.bom_line_id.id,
            "role": "correction",
            "move_id": move.id,
            "product_uom_id": self.product_uom_id.id,
            "consumed_qty": self.difference,
            "location_id": (
                move.location_id if self.difference > 0 else move.location_dest_id
            ).id,
            "lot_id": self.lot_id.id,
            "scrap_reason_ids": [fields.Command.set(reasons.ids)],
        }
