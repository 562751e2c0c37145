# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import ValidationError


class MrpBackflushExceptionCancel(models.TransientModel):
    _name = "mrp.backflush.exception.cancel"
    _description = "Cancel Backflush Exceptions"

    exception_ids = fields.Many2many("mrp.backflush.exception", required=True)
    reason = fields.Text(required=True)

    @api.constrains("reason")
    def _check_reason(self):
        for wizard in self:
            if not (wizard.reason or "").strip():
                raise ValidationError(
                    self.env._(
                        "Cancelling a backflush exception needs a reason: the "
                        "quantity will never be consumed, say why."
                    )
                )

    def action_confirm(self):
        self.exception_ids._cancel(self.reason)
        return {"type": "ir.actions.act_window_close"}
