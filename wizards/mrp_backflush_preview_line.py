# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models

# The planner already rounded every figure to its unit; a fixed precision
# spares a decimal-precision lookup per value on 1000-line previews.
PREVIEW_DIGITS = (16, 3)


class MrpBackflushPreviewLine(models.TransientModel):
    _name = "mrp.backflush.preview.line"
    _description = "Backflush Preview Line"

    preview_id = fields.Many2one(
        "mrp.backflush.preview", required=True, ondelete="cascade"
    )
    production_id = fields.Many2one("mrp.production", readonly=True)
    bom_line_id = fields.Many2one("mrp.bom.line", readonly=True)
    component_id = fields.Many2one("product.product", readonly=True)
    product_id = fields.Many2one("product.product", readonly=True)
    role = fields.Selection(
        [("component", "Component"), ("substitute", "Substitute")], readonly=True
    )
    product_uom_id = fields.Many2one("uom.uom", readonly=True)
    location_id = fields.Many2one("stock.location", readonly=True)
    required_qty = fields.Float(digits=PREVIEW_DIGITS, readonly=True)
    net_qty = fields.Float(
        "To Post",
        digits=PREVIEW_DIGITS,
        readonly=True,
        help="Quantity that will be consumed (without planned scrap).",
    )
    scrap_qty = fields.Float("Planned Scrap", digits=PREVIEW_DIGITS, readonly=True)
    available_qty = fields.Float(digits=PREVIEW_DIGITS, readonly=True)
    shortage_qty = fields.Float(digits=PREVIEW_DIGITS, readonly=True)
    lot_ids = fields.Many2many("stock.lot", string="Lots/Serials", readonly=True)
    action = fields.Selection(
        [
            ("none", "Covered"),
            ("block", "Blocks Mark Done"),
            ("negative", "Posted into negative stock"),
            ("defer", "Deferred to an exception"),
        ],
        string="Policy Outcome",
        readonly=True,
    )
