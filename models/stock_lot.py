# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class StockLot(models.Model):
    _inherit = "stock.lot"

    def _backflush_is_expired(self):
        """The lot's removal date has passed (product_expiry installed):
        a backflush never consumes it by itself. No lot is not expired."""
        if not self or "removal_date" not in self._fields:
            return False
        self.ensure_one()
        return bool(self.removal_date and self.removal_date <= fields.Datetime.now())
