# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import models


class MrpWorkorder(models.Model):
    _inherit = "mrp.workorder"

    def button_finish(self):
        finishing = self.filtered(lambda w: w.state not in ("done", "cancel"))
        res = super().button_finish()
        runs = finishing.production_id._backflush("operation", workorders=finishing)
        runs._notify_productions()
        return res
