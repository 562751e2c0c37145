# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, models
from odoo.exceptions import AccessError


class MrpBackflushProtectedMixin(models.AbstractModel):
    """Fields that tell what the backflush posted: written by the module
    only, whoever calls (administrators included), as account.move protects
    the fields of its integrity hash.

    The one way through is superuser mode, which only code enters
    (``sudo()``): no request reaches it, whatever its context says. The
    module writes through :meth:`_backflush_write` and
    :meth:`_backflush_create`; a migration script or another module that
    must fix such a field does the same, or writes in ``sudo()`` itself.
    Odoo's own flows never change these fields, in superuser mode or not.
    """

    _name = "mrp.backflush.protected.mixin"
    _description = "Fields Written by the Backflush Only"

    # Refused in create() and write() outside superuser mode.
    _backflush_protected_fields = ()

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._backflush_check_protected(vals, self._backflush_protected_fields)
        return super().create(vals_list)

    def write(self, vals):
        # Odoo's own flows may write the same value again (the BOM explosion
        # of a draft MO whose quantity changes): only a change is refused.
        changed = [
            name
            for name in self._backflush_write_protected_fields()
            if name in vals
            and any(
                self._fields[name].convert_to_cache(vals[name], record)
                != self._fields[name].convert_to_cache(record[name], record)
                for record in self
            )
        ]
        self._backflush_check_protected(
            vals, self._backflush_protected_fields + tuple(changed)
        )
        return super().write(vals)

    def _backflush_write_protected_fields(self):
        """Fields ``self`` may get at creation from Odoo's own flows, but
        not change afterwards."""
        return ()

    def _backflush_check_protected(self, vals, field_names):
        if self.env.su:
            return
        touched = [name for name in field_names if name in vals]
        if touched:
            raise AccessError(
                self.env._(
                    "%(fields)s of %(model)s: only the backflush writes them.",
                    fields=", ".join(
                        self._fields[name]._description_string(self.env)
                        for name in touched
                    ),
                    model=self._description,
                )
            )

    def _backflush_write(self, vals):
        """The module's own writes of its protected fields."""
        return self.sudo().write(vals)

    @api.model
    def _backflush_create(self, vals_list):
        """The module's own creation of records with protected fields,
        returned in the caller's environment."""
        return self.sudo().create(vals_list).with_env(self.env)
