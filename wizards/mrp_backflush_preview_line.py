# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.tools import float_compare, float_is_zero


class MrpBackflushPreviewLine(models.TransientModel):
    _name = "mrp.backflush.preview.line"
    _description = "Backflush Preview Line"

    preview_id = fields.Many2one(
        "mrp.backflush.preview", required=True, ondelete="cascade"
    )
    production_id = fields.Many2one("mrp.production", "MO", readonly=True)
    bom_line_id = fields.Many2one("mrp.bom.line", "BOM Line", readonly=True)
    component_id = fields.Many2one(
        "product.product",
        "For",
        readonly=True,
        help="The BOM component this line posts or stands in for.",
    )
    product_id = fields.Many2one("product.product", readonly=True)
    role = fields.Selection(
        [("component", "Component"), ("substitute", "Substitute")], readonly=True
    )
    product_uom_id = fields.Many2one("uom.uom", "Unit", readonly=True)
    location_id = fields.Many2one("stock.location", "From", readonly=True)
    required_qty = fields.Float(
        "Required",
        digits="Product Unit of Measure",
        readonly=True,
        help="Component: the BOM quantity for what is produced, planned scrap "
        "included. Substitute: what it must cover of the component's "
        "shortfall, in the substitute's unit.",
    )
    to_post_qty = fields.Float(
        "To Post",
        digits="Product Unit of Measure",
        readonly=True,
        help="Quantity of this product that will be consumed, planned scrap included.",
    )
    net_qty = fields.Float(
        "Net",
        digits="Product Unit of Measure",
        readonly=True,
        help="Part of To Post that goes into the product (planned scrap excluded).",
    )
    scrap_qty = fields.Float(
        "Scrap",
        digits="Product Unit of Measure",
        readonly=True,
        help="Part of To Post that is planned scrap.",
    )
    available_qty = fields.Float(
        "Available",
        digits="Product Unit of Measure",
        readonly=True,
        help="Free in the source location, after the lines above took theirs.",
    )
    shortage_qty = fields.Float(
        "Short",
        digits="Product Unit of Measure",
        readonly=True,
        help="Missing once substitutes are used; the outcome says what happens to it.",
    )
    lot_ids = fields.Many2many("stock.lot", string="Lots/Serials", readonly=True)
    workorder_id = fields.Many2one(
        "mrp.workorder",
        "Work Order",
        readonly=True,
        help="The line is consumed in this operation: finishing the work "
        "order posts it (Produce All finishes open work orders first).",
    )
    action = fields.Selection(
        [
            ("none", "Covered"),
            ("recorded", "Recorded"),
            ("block", "Blocks"),
            ("lot_required", "Lot Needed"),
            ("archived", "Archived"),
            ("negative", "Goes negative"),
            ("defer", "Deferred"),
        ],
        string="Outcome",
        readonly=True,
        help="What producing does with this line: covered by stock, posted "
        "as recorded by hand, refused (a shortage blocks the order, a "
        "tracked component has no lot in stock for it, the product is "
        "archived), posted into negative stock, or the shortage deferred to "
        "a backflush exception.",
    )
    status = fields.Selection(
        [
            ("covered", "In stock"),
            ("nothing", "Nothing to post"),
            ("substitute", "Stands in"),
            ("partial", "Partly stands in"),
            ("replaced", "With substitutes"),
            ("recorded", "Recorded"),
            ("block", "Blocks"),
            ("lot_required", "Lot needed"),
            ("archived", "Archived"),
            ("waits", "Order blocked"),
            ("negative", "Goes negative"),
            ("defer", "Deferred"),
        ],
        compute="_compute_status",
        help="What producing does with this line: posted from stock, nothing "
        "left to post, a component (partly) replaced by substitutes, a "
        "substitute standing in for (part of) the component's shortfall, "
        "refused (blocks the order; its other lines wait), posted into "
        "negative stock, or the shortage deferred to a backflush "
        "exception.",
    )

    @api.depends(
        "action", "role", "required_qty", "to_post_qty", "preview_id.line_ids.action"
    )
    def _compute_status(self):
        blocked = self.preview_id.line_ids.filtered(
            lambda ln: ln.action == "block"
        ).production_id
        for line in self:
            rounding = line.product_uom_id.rounding or 0.01
            if line.action != "none":
                line.status = line.action
            elif line.production_id in blocked:
                line.status = "waits"
            elif float_is_zero(line.required_qty, precision_rounding=rounding):
                line.status = "nothing"
            elif line.role != "substitute":
                short = float_compare(
                    line.to_post_qty, line.required_qty, precision_rounding=rounding
                )
                line.status = "replaced" if short < 0 else "covered"
            elif (
                float_compare(
                    line.to_post_qty, line.required_qty, precision_rounding=rounding
                )
                < 0
            ):
                line.status = "partial"
            else:
                line.status = "substitute"

    def _backflush_station_message(self):
        """One sentence on what producing does with this line, for the
        station (no costs); empty when it is simply posted."""
        self.ensure_one()
        if self.action in ("block", "lot_required", "archived"):
            return self._refusal_note()
        uom = self.product_uom_id
        short = uom._backflush_format_qty(self.shortage_qty)
        if self.action == "defer":
            return self.env._(
                "Short by %(qty)s %(uom)s: deferred, posted when the stock is there.",
                qty=short,
                uom=uom.name,
            )
        if self.action == "negative":
            return self.env._(
                "Short by %(qty)s %(uom)s: posted into negative stock.",
                qty=short,
                uom=uom.name,
            )
        if self.status == "waits":
            return self.env._("Waits: another line blocks the order.")
        if self.role == "substitute":
            return self.env._(
                "Stands in for %(component)s.",
                component=self.component_id.display_name,
            )
        if self.action == "recorded":
            return self.env._("Posted as recorded.")
        return ""

    def _refusal_note(self):
        """Why this line keeps its order from being produced."""
        self.ensure_one()
        values = {
            "mo": self.production_id.name,
            "product": self.product_id.display_name,
            "uom": self.product_uom_id.name,
        }
        if self.action == "archived":
            return self.env._(
                "%(mo)s: %(product)s is archived: reactivate it or remove it "
                "from the order",
                **values,
            )
        if self.action == "lot_required":
            return self.env._(
                "%(mo)s: %(product)s needs a lot/serial number: %(qty)s %(uom)s "
                "have none in stock or recorded",
                qty=self.product_uom_id._backflush_format_qty(
                    self.shortage_qty or self.to_post_qty
                ),
                **values,
            )
        qty = self.product_uom_id._backflush_format_qty(self.shortage_qty)
        if self.product_id.tracking == "serial":
            return self.env._(
                "%(mo)s: %(product)s needs serial numbers for %(qty)s %(uom)s "
                "more: reserve or record them on the order",
                qty=qty,
                **values,
            )
        return self.env._(
            "%(mo)s: %(product)s is short by %(qty)s %(uom)s", qty=qty, **values
        )
