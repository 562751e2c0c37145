# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models

from .res_company import SHORTAGE_POLICIES


class StockLocation(models.Model):
    _inherit = "stock.location"

    backflush_shortage_policy = fields.Selection(
        SHORTAGE_POLICIES,
        help="What the backflush does when a component consumed from this "
        "location (or its sublocations) is short; overrides the BOM's policy. "
        "Empty: the BOM's policy. E.g. line-side bins replenished by kanban may "
        "go negative while the main stock refuses.",
    )

    def _get_backflush_shortage_policy(self):
        """The policy of the nearest location, up from this one, that sets
        one; False when none does."""
        self.ensure_one()
        location = self
        while location:
            if location.backflush_shortage_policy:
                return location.backflush_shortage_policy
            location = location.location_id
        return False
