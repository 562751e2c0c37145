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
        exceptions = self.exception_ids
        exceptions._cancel(self.reason)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "title": self.env._("Backflush exceptions cancelled"),
                "message": self.env._(
                    "%(exceptions)s: cancelled, their quantity will not be "
                    "consumed. The reason is in each exception's chatter.",
                    exceptions=", ".join(exceptions.mapped("name"))
                    if len(exceptions) <= 3
                    else self.env._("%(count)s exceptions", count=len(exceptions)),
                ),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
