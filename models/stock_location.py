# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import ValidationError

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

    @api.constrains("usage")
    def _check_backflush_supply_usage(self):
        # A location BOM lines or work centers consume from stays internal.
        unusable = self.filtered(lambda loc: loc.usage != "internal")
        if not unusable:
            return
        for model in ("mrp.bom.line", "mrp.workcenter"):
            self.env[model].sudo().search(
                [("backflush_location_id", "in", unusable.ids)]
            )._check_backflush_location()

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

    def _backflush_check_supply(self, owner):
        """A supply location gives stock to the backflush: an internal one
        (a view, a partner's or a virtual location holds no stock of ours).
        ``owner`` names the record that sets it."""
        usages = dict(self._fields["usage"]._description_selection(self.env))
        for location in self.filtered(lambda loc: loc.usage != "internal"):
            raise ValidationError(
                self.env._(
                    "%(owner)s: %(location)s (type %(usage)s) cannot supply "
                    "components; choose an internal location.",
                    owner=owner,
                    location=location.display_name,
                    usage=usages[location.usage],
                )
            )
