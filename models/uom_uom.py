# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import models
from odoo.tools import float_is_zero, formatLang


class UomUom(models.Model):
    _inherit = "uom.uom"

    def _backflush_format_qty(self, qty):
        """``qty`` for a message, in the user's language, with as many
        decimals as this unit's rounding needs (0.01: 2; 0.5: 1, so 2.5
        reads 2.5; 1 or more: none). The one formatter of the module."""
        self.ensure_one()
        return formatLang(self.env, qty, digits=self._backflush_digits())

    def _backflush_digits(self):
        """Decimal places of this unit's rounding."""
        self.ensure_one()
        rounding = self.rounding or 0.01
        if rounding >= 1:
            return 0
        # The smallest d with rounding × 10^d whole (0.5 → 1, 0.01 → 2),
        # tolerant of the binary representation of the rounding.
        digits = 0
        while digits < 10 and not float_is_zero(
            rounding * 10**digits - round(rounding * 10**digits),
            precision_digits=6,
        ):
            digits += 1
        return digits
