# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import math

from odoo import models
from odoo.tools import formatLang


class UomUom(models.Model):
    _inherit = "uom.uom"

    def _backflush_format_qty(self, qty):
        """``qty`` for a message: at this unit's precision (rounding 0.01
        gives 2 decimals), in the user's language."""
        rounding = self.rounding or 0.01
        digits = max(0, round(-math.log10(rounding))) if rounding < 1 else 0
        return formatLang(self.env, qty, digits=digits)
