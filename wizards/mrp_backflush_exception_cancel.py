# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models


class MrpBackflushExceptionCancel(models.TransientModel):
    _name = "mrp.backflush.exception.cancel"
    _description = "Cancel Backflush Exceptions"

    exception_ids = fields.Many2many("mrp.backflush.exception", required=True)
    reason = fields.Text(required=True)

    def action_confirm(self):
        self.exception_ids._cancel(self.reason)
        return {"type": "ir.actions.act_window_close"}
