# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import models


class MrpWorkorder(models.Model):
    _inherit = "mrp.workorder"

    def button_finish(self):
        finishing = self.filtered(lambda w: w.state not in ("done", "cancel"))
        res = super().button_finish()
        productions = finishing.production_id
        runs = productions._backflush("operation", workorders=finishing)
        runs._notify_productions()
        # The last work order of the whole quantity: leftovers of what the
        # operations consumed go back now (what Mark Done consumes, then).
        self.env["mrp.backflush.staging"]._return_leftovers(
            productions.filtered(
                lambda p: (
                    all(w.state in ("done", "cancel") for w in p.workorder_ids)
                    and p._backflush_is_finishing()
                )
            ),
            runs,
        )
        return res
