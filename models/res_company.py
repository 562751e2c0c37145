# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import ValidationError

# Labels fit a radio button in a half-width column; the fields' help
# says the rest.
BACKFLUSH_MODES = [
    ("finish", "When produced"),
    ("operation", "When its work order ends"),
    ("manual", "Recorded by hand"),
]
SHORTAGE_POLICIES = [
    ("block", "Refuse to produce"),
    ("negative", "Allow negative stock"),
    ("defer", "Defer what is missing"),
]
SUBSTITUTIONS = [
    ("none", "None"),
    ("priority", "In priority order"),
    ("full", "First that covers all"),
]
BACKFLUSH_ROLES = [
    ("component", "Component"),
    ("substitute", "Substitute"),
    ("planned_scrap", "Planned scrap"),
    ("actual_scrap", "Actual scrap"),
    ("deferred", "Deferred"),
    ("correction", "Correction"),
    # Layers only: value added to (or removed from) the finished goods after
    # Mark Done, so a consumption role never nets out against it.
    ("finished_value", "Added to Finished Goods"),
]


class ResCompany(models.Model):
    _inherit = "res.company"

    backflush_mode = fields.Selection(
        BACKFLUSH_MODES,
        string="Default Backflush Timing",
        default="finish",
        required=True,
    )
    backflush_shortage_policy = fields.Selection(
        SHORTAGE_POLICIES,
        string="Default Backflush Shortage Policy",
        # Odoo's own outcome (stock may go negative) until an admin opts in.
        default="negative",
        required=True,
    )
    backflush_substitution = fields.Selection(
        SUBSTITUTIONS,
        string="Default Backflush Substitutes",
        default="none",
        required=True,
    )
    backflush_background_threshold = fields.Integer(
        string="Background Mark Done Above",
        default=50,
        help="Mark as Done from the list on more manufacturing orders than "
        "this runs in the background, in batches. 0: never in the background.",
    )
    backflush_pending_alert_days = fields.Integer(
        string="Alert on Pending Postings After",
        default=3,
        help="Days after which a pending backflush posting gives the order's "
        "responsible an activity, once. 0: no activity.",
    )

    @api.constrains("backflush_background_threshold", "backflush_pending_alert_days")
    def _check_backflush_counts(self):
        # Negative would read "always": every selection in the background,
        # an activity the moment a posting is deferred.
        for company in self:
            for name in (
                "backflush_background_threshold",
                "backflush_pending_alert_days",
            ):
                if company[name] < 0:
                    raise ValidationError(
                        self.env._(
                            "%(company)s: %(field)s cannot be negative (got "
                            "%(value)s); 0 turns it off.",
                            company=company.name,
                            field=self._fields[name]._description_string(self.env),
                            value=company[name],
                        )
                    )
