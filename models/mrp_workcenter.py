# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models


class MrpWorkcenter(models.Model):
    _inherit = "mrp.workcenter"

    backflush_location_id = fields.Many2one(
        "stock.location",
        string="Input Location",
        domain="[('usage', '=', 'internal')]",
        check_company=True,
        help="Where the backflush consumes the components of operations done "
        "here (the work center's line-side stock), unless their BOM line "
        "names its own supply location.",
    )

    @api.constrains("backflush_location_id")
    def _check_backflush_location(self):
        for workcenter in self:
            workcenter.backflush_location_id._backflush_check_supply(
                self.env._("Work center %(name)s", name=workcenter.display_name)
            )
