# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import UserError


class MrpBackflushReport(models.Model):
    """One ``mrp.production.backflush_report`` call that posted: its key and
    its answer, so the same key again answers the same and posts nothing."""

    _name = "mrp.backflush.report"
    _inherit = ["mrp.backflush.protected.mixin"]
    _description = "Backflush Report over RPC"
    _order = "id desc"
    _rec_name = "key"
    # The module's record of a posting: written by backflush_report only.
    _backflush_protected_fields = (
        "key",
        "code",
        "company_id",
        "production_id",
        "user_id",
        "answer",
    )

    key = fields.Char("Idempotency Key", required=True, readonly=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    production_id = fields.Many2one(
        "mrp.production",
        "Manufacturing Order",
        required=True,
        readonly=True,
        index=True,
        ondelete="cascade",
    )
    code = fields.Char(
        "Reported Order", readonly=True, help="The order as the report named it."
    )
    user_id = fields.Many2one("res.users", "Reported By", readonly=True)
    answer = fields.Json(readonly=True)

    _sql_constraints = [
        (
            "key_company_uniq",
            "unique(company_id, key)",
            "An idempotency key is used once per company.",
        )
    ]

    @api.model
    def _backflush_find(self, code, key):
        """The report stored with ``key`` in the user's companies; a key
        used for another order is refused."""
        reports = self.search([("key", "=", key)])
        if not reports:
            return reports
        same = reports.filtered(lambda r: r.code == code)[:1]
        if not same:
            raise UserError(
                self.env._(
                    "idempotency_key: %(key)s was already used to report "
                    "%(mo)s: use a new key for each report.",
                    key=key,
                    mo=reports[0].code,
                )
            )
        return same

    @api.model
    def _backflush_claim(self, production, code, key):
        """Take ``key`` for ``production`` before anything is posted; return
        the new record, or an empty one when the key was taken meanwhile.

        A concurrent call holding the same key makes this one wait; once
        that call commits, PostgreSQL refuses this one's snapshot (a
        serialization failure in REPEATABLE READ) and Odoo retries the
        request, which then finds the stored answer. If that call failed,
        this one goes on. Written as the module writes its records (see
        ``_backflush_write``); the caller then marks the order done with
        its own rights."""
        self.env.cr.execute(
            """
            INSERT INTO mrp_backflush_report
                (key, code, company_id, production_id, user_id,
                 create_uid, write_uid, create_date, write_date)
            VALUES (%(key)s, %(code)s, %(company)s, %(production)s, %(uid)s,
                    %(uid)s, %(uid)s, now() at time zone 'UTC',
                    now() at time zone 'UTC')
            ON CONFLICT (company_id, key) DO NOTHING
            RETURNING id
            """,
            {
                "key": key,
                "code": code,
                "company": production.company_id.id,
                "production": production.id,
                "uid": self.env.uid,
            },
        )
        row = self.env.cr.fetchone()
        return self.browse(row and row[0])
