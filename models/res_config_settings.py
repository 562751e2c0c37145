# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    backflush_mode = fields.Selection(
        related="company_id.backflush_mode", readonly=False
    )
    backflush_shortage_policy = fields.Selection(
        related="company_id.backflush_shortage_policy", readonly=False
    )
    backflush_substitution = fields.Selection(
        related="company_id.backflush_substitution", readonly=False
    )
    backflush_background_threshold = fields.Integer(
        related="company_id.backflush_background_threshold", readonly=False
    )
    backflush_pending_alert_days = fields.Integer(
        related="company_id.backflush_pending_alert_days", readonly=False
    )
