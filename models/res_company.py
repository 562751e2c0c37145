# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models

BACKFLUSH_MODES = [
    ("finish", "At Mark Done"),
    ("operation", "At operation completion"),
    ("manual", "Manual (operator records consumption)"),
]
SHORTAGE_POLICIES = [
    ("block", "Block Mark Done"),
    ("negative", "Allow negative stock"),
    ("defer", "Post what is available, defer the rest"),
]
SUBSTITUTIONS = [
    ("none", "No substitutes"),
    ("priority", "Fill the shortfall in priority order"),
    ("full", "First substitute covering the whole shortfall"),
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
        string="Default Backflush Substitution",
        default="none",
        required=True,
    )
