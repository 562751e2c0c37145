# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class StockLot(models.Model):
    _inherit = "stock.lot"

    def _backflush_is_expired(self):
        """The lot's removal date has passed (product_expiry installed):
        a backflush never consumes it by itself."""
        self.ensure_one() if self else None
        removal = self and "removal_date" in self._fields and self.removal_date
        return bool(removal and removal <= fields.Datetime.now())
