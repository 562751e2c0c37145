# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, models
from odoo.exceptions import AccessError


class MrpBackflushAuditMixin(models.AbstractModel):
    """Audit records: written once by the backflush (as superuser), then
    immutable for everybody else, managers included."""

    _name = "mrp.backflush.audit.mixin"
    _description = "Backflush Audit Record"

    def write(self, vals):
        if not self.env.su:
            raise AccessError(
                self.env._(
                    "%(record)s is part of the backflush audit trail: "
                    "it cannot be changed.",
                    record=self._description,
                )
            )
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_audit(self):
        if not self.env.su:
            raise AccessError(
                self.env._(
                    "%(record)s is part of the backflush audit trail: "
                    "it cannot be deleted.",
                    record=self._description,
                )
            )
