# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import models

from .mrp_backflush_protected_mixin import BACKFLUSH_WRITE


class StockScrap(models.Model):
    _inherit = "stock.scrap"

    def do_scrap(self):
        # The scrap move carries a protected backflush role (see below).
        return super(
            StockScrap, self.with_context(**{BACKFLUSH_WRITE: True})
        ).do_scrap()

    def _prepare_move_values(self):
        # Scrap recorded on an MO (components or finished units) is actual
        # scrap: its valuation layer carries the role and the MO, so the
        # valuation report and the Backflush Analysis show it beside the
        # planned scrap.
        vals = super()._prepare_move_values()
        if self.production_id:
            vals["backflush_role"] = "actual_scrap"
        return vals
