# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class MrpBackflushExceptionSerials(models.TransientModel):
    _name = "mrp.backflush.exception.serials"
    _description = "Record Serial Numbers of a Pending Backflush"

    exception_id = fields.Many2one(
        "mrp.backflush.exception", required=True, ondelete="cascade"
    )
    product_id = fields.Many2one(related="exception_id.product_id")
    location_id = fields.Many2one(related="exception_id.location_id")
    quantity = fields.Float(related="exception_id.quantity")
    product_uom_id = fields.Many2one(related="exception_id.product_uom_id")
    lot_ids = fields.Many2many(
        "stock.lot",
        string="Serial Numbers",
        help="The serial numbers the order consumed: the retry posts those in "
        "stock under the location.",
    )

    def action_confirm(self):
        self.ensure_one()
        return self.exception_id._record_serials(self.lot_ids)
