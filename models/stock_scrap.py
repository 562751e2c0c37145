# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import models


class StockScrap(models.Model):
    _inherit = "stock.scrap"

    def do_scrap(self):
        res = super().do_scrap()
        self._backflush_set_actual_scrap()
        return res

    def _backflush_set_actual_scrap(self):
        """Scrap recorded on an MO (components or finished units) is actual
        scrap: its move and valuation layer carry the role and the MO, so the
        valuation report and the Backflush Analysis show it beside the
        planned scrap. Set once posted: the role is the module's to write."""
        moves = self.filtered("production_id").move_ids
        moves._backflush_write({"backflush_role": "actual_scrap"})
        # The layer took its role from the move when it was created.
        moves.sudo().stock_valuation_layer_ids._compute_backflush_role()
