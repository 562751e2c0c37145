# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import logging
from collections import defaultdict

from psycopg2 import errors

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, float_is_zero, formatLang

from .. import planning, queue_jobs
from ..failures import savepoint_failure
from .stock_quant import VALID_LOTS_ONLY

_logger = logging.getLogger(__name__)

EXCEPTION_CAUSES = [
    ("no_stock", "No stock"),
    ("lot_expired", "Only expired lots"),
    ("lot_required", "Serial numbers needed"),
    ("product_archived", "Product archived"),
    ("location", "Location unusable"),
    ("error", "Error"),
]
AGE_BUCKETS = [
    ("today", "Today"),
    ("week", "2–7 days"),
    ("month", "8–30 days"),
    ("older", "Older"),
]
# Upper bound (days) of each age bucket but the last.
AGE_LIMITS = (("today", 1), ("week", 7), ("month", 30))


class MrpBackflushException(models.Model):
    _name = "mrp.backflush.exception"
    _description = "Deferred Backflush Shortage"
    _inherit = ["mail.thread"]
    _order = "state, date desc, id desc"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name")
    production_id = fields.Many2one(
        "mrp.production",
        "Manufacturing Order",
        required=True,
        index=True,
        readonly=True,
        ondelete="restrict",
    )
    company_id = fields.Many2one(related="production_id.company_id", store=True)
    move_id = fields.Many2one(
        "stock.move",
        readonly=True,
        check_company=True,
        help="The component move that was short.",
    )
    product_id = fields.Many2one(
        "product.product", required=True, readonly=True, check_company=True
    )
    bom_line_id = fields.Many2one(
        "mrp.bom.line", "BOM Line", readonly=True, check_company=True
    )
    quantity = fields.Float(
        "Pending",
        digits="Product Unit of Measure",
        readonly=True,
        help="Still to be consumed; decreases as stock arrives and is posted.",
    )
    initial_qty = fields.Float(
        "Missing",
        digits="Product Unit of Measure",
        readonly=True,
        compute="_compute_initial_qty",
        store=True,
    )
    posted_qty = fields.Float(
        "Posted Since", digits="Product Unit of Measure", readonly=True
    )
    unbuilt_qty = fields.Float(
        "Cancelled by Unbuild",
        digits="Product Unit of Measure",
        readonly=True,
        help="No longer needed: the finished units it was for were unbuilt.",
    )
    unbuilt_scrap_qty = fields.Float(
        "Planned Scrap Cancelled by Unbuild",
        digits=False,  # exact: the ledger no longer requires it
        readonly=True,
        help="Of the quantity cancelled by unbuilds, the planned scrap of the "
        "unbuilt units: never posted, so never lost.",
    )
    product_uom_id = fields.Many2one("uom.uom", required=True, readonly=True)
    location_id = fields.Many2one(
        "stock.location", required=True, readonly=True, check_company=True
    )
    date = fields.Datetime(default=fields.Datetime.now, readonly=True)
    state = fields.Selection(
        [("pending", "Pending"), ("done", "Posted"), ("cancel", "Cancelled")],
        default="pending",
        required=True,
        readonly=True,
        tracking=True,
        index=True,
    )
    move_ids = fields.Many2many(
        "stock.move",
        string="Posted Moves",
        readonly=True,
        copy=False,
        help="The stock moves that consumed the deferred quantity.",
    )
    cause = fields.Selection(
        EXCEPTION_CAUSES,
        default="no_stock",
        required=True,
        readonly=True,
        tracking=True,
        index=True,
        help="Why the quantity is still pending, as of the last posting or retry.",
    )
    cause_detail = fields.Char(
        "Cause Details", readonly=True, help="What the last retry ran into."
    )
    cause_help = fields.Char("What Fixes It", compute="_compute_cause_help")
    product_tracking = fields.Selection(related="product_id.tracking")
    lot_ids = fields.Many2many(
        "stock.lot",
        string="Serial Numbers",
        readonly=True,
        copy=False,
        help="Serial numbers recorded for the pending quantity: a retry "
        "consumes those in stock. The backflush never picks serial numbers "
        "by itself.",
    )
    age_bucket = fields.Selection(
        AGE_BUCKETS,
        "Age",
        readonly=True,
        default="today",
        help="How long the quantity has been pending; refreshed by the hourly retry.",
    )
    age_days = fields.Integer("Days Pending", compute="_compute_age_days")
    value = fields.Monetary(
        "Value at Cost",
        readonly=True,
        groups="stock.group_stock_manager",
        help="Pending quantity at the product's cost, refreshed at each retry.",
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    before_lock_date = fields.Boolean(
        compute="_compute_before_lock_date",
        help="Pending since before the accounting lock date: a retry posts "
        "at today's date, in the open period.",
    )
    alerted = fields.Boolean(
        readonly=True,
        copy=False,
        help="The order's responsible was given an activity about it.",
    )

    _sql_constraints = [
        (
            "quantity_positive",
            "CHECK(quantity >= 0)",
            "A pending quantity cannot be negative.",
        ),
    ]

    @api.depends("cause")
    def _compute_cause_help(self):
        helps = {
            "no_stock": self.env._(
                "Receive or move the component into the location, then retry."
            ),
            "lot_expired": self.env._(
                "Only expired lots are there: receive valid lots, then retry."
            ),
            "lot_required": self.env._(
                "Record the serial numbers consumed (Record Serial Numbers), "
                "then retry."
            ),
            "product_archived": self.env._(
                "The component is archived: restore it, or cancel with a reason."
            ),
            "location": self.env._(
                "The location cannot give stock (archived or not internal): "
                "fix it, then retry."
            ),
            "error": self.env._(
                "The retry failed (see the details): fix the cause, then retry."
            ),
        }
        for exc in self:
            exc.cause_help = helps.get(exc.cause, "")

    @api.depends("date")
    def _compute_age_days(self):
        today = fields.Date.context_today(self)
        for exc in self:
            exc.age_days = (
                (today - fields.Date.context_today(self, exc.date)).days
                if exc.date
                else 0
            )

    @api.depends("date", "state", "company_id")
    def _compute_before_lock_date(self):
        Journal = self.env["account.journal"]
        for exc in self:
            lock = exc.company_id.sudo()._get_user_fiscal_lock_date(Journal)
            exc.before_lock_date = bool(
                exc.state == "pending" and exc.date and exc.date.date() <= lock
            )

    def _compute_name(self):
        for exc in self:
            exc.name = f"{exc.production_id.name}: {exc.product_id.display_name}"

    @api.depends("quantity", "posted_qty", "unbuilt_qty")
    def _compute_initial_qty(self):
        # Retries and unbuilds move quantity out of pending; the sum never
        # moves.
        for exc in self:
            exc.initial_qty = exc.quantity + exc.posted_qty + exc.unbuilt_qty

    @api.model_create_multi
    def create(self, vals_list):
        exceptions = super().create(vals_list)
        # the monitor adds up and groups by value and age from the start
        exceptions._refresh_monitor()
        return exceptions

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------
    def action_retry(self):
        """Post what has arrived; keep the rest pending. Says what was
        posted, what is still pending and what could not be posted."""
        if not self:
            return True
        pending = self._lock_pending()
        if not pending:
            raise UserError(
                self.env._("Only pending backflush exceptions can be posted.")
            )
        runs, failures = pending._post_by_production()
        runs._notify_productions()
        messages = [
            self.env._(
                "%(exceptions)s not posted: %(error)s",
                exceptions=", ".join(exceptions.mapped("name")),
                error=error,
            )
            for exceptions, error in failures
        ]
        failed = self.browse(exc.id for excs, _error in failures for exc in excs)
        posted_qty = defaultdict(float)
        for line in runs.line_ids:
            posted_qty[line.move_id.id] += line.consumed_qty
        posted = (pending - failed).filtered(
            lambda e: any(posted_qty[m.id] for m in e.move_ids)
        )
        empty = pending - failed - posted
        details = [
            self.env._(
                "%(mo)s, %(product)s: %(posted)s %(uom)s posted, %(left)s %(uom)s "
                "still pending",
                mo=exc.production_id.name,
                product=exc.product_id.display_name,
                posted=exc.product_uom_id._backflush_format_qty(
                    sum(posted_qty[m.id] for m in exc.move_ids)
                ),
                left=exc.product_uom_id._backflush_format_qty(exc.quantity),
                uom=exc.product_uom_id.name,
            )
            if exc.state == "pending"
            else self.env._(
                "%(mo)s, %(product)s: all posted",
                mo=exc.production_id.name,
                product=exc.product_id.display_name,
            )
            for exc in posted
        ]
        if details:
            messages.append(
                "; ".join(details[:10])
                + (
                    "; " + self.env._("and %(count)s more.", count=len(details) - 10)
                    if len(details) > 10
                    else "."
                )
            )
        if empty:
            messages.append(
                self.env._(
                    "Still nothing in stock for %(products)s: "
                    "the exceptions stay pending.",
                    products=", ".join(empty.product_id.mapped("display_name")),
                )
            )
        still = pending.filtered(lambda e: e.state == "pending")
        still._refresh_monitor()
        kind = "danger" if failures else ("warning" if still else "success")
        return self._retry_notification(kind, "\n".join(messages))

    def _retry_notification(self, kind, message):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": kind,
                "title": self.env._("Backflush exceptions"),
                "message": message,
                "sticky": kind != "success",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    @api.model
    def retrieve_monitor_figures(self):
        """Headline of the Backflush Monitor, in a constant number of
        queries: pending lines, their value at cost (stock managers only),
        the oldest one's age, the negative quants left by backflushes and
        the BOM lines the accuracy advice flags."""
        show_value = self.env.user.has_group("stock.group_stock_manager")
        rows = self._read_group(
            [("state", "=", "pending")],
            ["company_id"],
            ["__count", "date:min"] + (["value:sum"] if show_value else []),
        )
        oldest = min((row[2] for row in rows if row[2]), default=False)
        today = fields.Date.context_today(self)
        days = (today - fields.Date.context_today(self, oldest)).days if oldest else 0
        figures = {
            "pending_count": sum(row[1] for row in rows),
            "oldest_days": days,
            "oldest_bucket": oldest
            and next((name for name, limit in AGE_LIMITS if days < limit), "older"),
            "negative_quant_count": len(self._monitor_negative_quants()),
            "advice_count": len(self._monitor_advice()),
            "show_value": show_value,
        }
        if show_value:
            currency = self.env.company.currency_id
            value = sum(
                company.currency_id._convert(value, currency, self.env.company, today)
                for company, _count, _date, value in rows
            )
            figures["value"] = value
            figures["value_display"] = formatLang(
                self.env, value, currency_obj=currency
            )
        return figures

    @api.model
    def action_open_monitor_figure(self, figure):
        """What a headline figure counts: the negative quants, or the
        BOM accuracy advice computed with its defaults."""
        if figure == "negative_quants":
            return {
                "type": "ir.actions.act_window",
                "name": self.env._("Negative Stock Left by Backflushes"),
                "res_model": "stock.quant",
                "view_mode": "list",
                "views": [(False, "list")],
                "domain": [("id", "in", self._monitor_negative_quants().ids)],
            }
        if figure == "advice":
            advice = self.env["mrp.bom.backflush.advice"].create(
                {"basis": "consumption"}
            )
            return advice.action_compute()
        raise UserError(self.env._("Unknown figure %(figure)s.", figure=figure))

    @api.model
    def _monitor_negative_quants(self):
        """Quants below zero in internal locations where a backflush posted
        a shortage into negative stock: one query."""
        Quant = self.env["stock.quant"]
        self.env["mrp.backflush.run.line"].flush_model(
            ["shortage_action", "product_id", "location_id"]
        )
        query = Quant._search(
            [("quantity", "<", 0), ("location_id.usage", "=", "internal")]
        )
        query.add_where(
            SQL(
                "EXISTS (SELECT 1 FROM mrp_backflush_run_line line "
                "WHERE line.shortage_action = 'negative' "
                "AND line.product_id = %s AND line.location_id = %s)",
                SQL.identifier(query.table, "product_id"),
                SQL.identifier(query.table, "location_id"),
            )
        )
        return Quant.browse(query.get_result_ids())

    @api.model
    def _monitor_advice(self):
        """The advice lines of the BOM accuracy advice from the last done
        orders, with its defaults, that carry a suggestion (values, not
        records). Not from counts: the headline is read at every reload of
        the list, the counts of a year are read on demand."""
        Advice = self.env["mrp.bom.backflush.advice"].with_context(
            default_basis="consumption"
        )
        advice = Advice.new(Advice.default_get(list(Advice._fields)))
        return [vals for vals in advice._advice_line_vals() if vals["suggestion_type"]]

    def action_open_fix(self):
        """Open what fixes the cause: the product's replenishment, its lots,
        the archived product, the location, or the order."""
        self.ensure_one()
        if self.cause == "no_stock":
            action = self.env["ir.actions.actions"]._for_xml_id(
                "stock.action_orderpoint_replenish"
            )
            action["domain"] = [("product_id", "=", self.product_id.id)]
            action["context"] = {
                "search_default_filter_to_reorder": 0,
                "default_product_id": self.product_id.id,
            }
            return action
        if self.cause == "lot_required" and self.product_tracking == "serial":
            return self.action_record_serials()
        if self.cause in ("lot_expired", "lot_required"):
            action = self.env["ir.actions.actions"]._for_xml_id(
                "stock.action_production_lot_form"
            )
            action["domain"] = [("product_id", "=", self.product_id.id)]
            action["context"] = {"default_product_id": self.product_id.id}
            return action
        record = {
            "product_archived": self.product_id,
            "location": self.location_id,
        }.get(self.cause, self.production_id)
        return {
            "type": "ir.actions.act_window",
            "res_model": record._name,
            "res_id": record.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "current",
        }

    def action_record_serials(self):
        """Record the serial numbers the order consumed, then post them."""
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Record Serial Numbers"),
            "res_model": "mrp.backflush.exception.serials",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_exception_id": self.id,
                "default_lot_ids": self.lot_ids.ids,
            },
        }

    def _record_serials(self, lots):
        """Record ``lots`` as the serial numbers the pending quantity is
        consumed with (written in sudo: the exception is read-only for
        users), say so in the chatter and post what is in stock."""
        self.ensure_one()
        if self.state != "pending":
            raise UserError(
                self.env._("Only pending backflush exceptions can be posted.")
            )
        if self.product_id.tracking != "serial":
            # lots are chosen by the retry (staged, reserved, then removal
            # order): recorded here, they would never be used
            raise UserError(
                self.env._(
                    "%(product)s is not tracked by serial numbers: the retry of "
                    "%(exception)s takes its lots by itself.",
                    product=self.product_id.display_name,
                    exception=self.name,
                )
            )
        wrong = lots.filtered(lambda lot: lot.product_id != self.product_id)
        if wrong:
            raise UserError(
                self.env._(
                    "%(lots)s are not serial numbers of %(product)s.",
                    lots=", ".join(wrong.mapped("name")),
                    product=self.product_id.display_name,
                )
            )
        foreign = lots.sudo().filtered(
            lambda lot: lot.company_id and lot.company_id != self.company_id
        )
        if foreign:
            raise UserError(
                self.env._(
                    "%(lots)s are serial numbers of another company than %(mo)s.",
                    lots=", ".join(foreign.mapped("name")),
                    mo=self.production_id.name,
                )
            )
        self._check_serials_free(lots)
        self.sudo().lot_ids = lots
        self.sudo().message_post(
            body=self.env._(
                "Serial numbers recorded by %(user)s: %(lots)s.",
                user=self.env.user.name,
                lots=", ".join(lots.mapped("name")) or "-",
            )
        )
        return self.action_retry()

    def _check_serials_free(self, lots):
        """A serial number waits on one pending posting only: a retry posts
        it once and would count it for each."""
        others = self.sudo().search(
            [
                ("state", "=", "pending"),
                ("id", "!=", self.id),
                ("lot_ids", "in", lots.ids),
            ]
        )
        if not others:
            return
        # a lot shared across companies must not name another company's order
        visible = others.filtered(
            lambda exc: exc.company_id in self.env.user.company_ids
        )
        raise UserError(
            "\n".join(
                self.env._(
                    "%(lot)s is already recorded on %(exception)s (%(mo)s): "
                    "a serial number is consumed by one order only.",
                    lot=lot.name,
                    exception=exc.name,
                    mo=exc.production_id.name,
                )
                if exc in visible
                else self.env._(
                    "%(lot)s is already recorded on a pending posting of another "
                    "company: a serial number is consumed by one order only.",
                    lot=lot.name,
                )
                for exc in others
                for lot in exc.lot_ids & lots
            )
        )

    def action_cancel(self):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Cancel Backflush Exceptions"),
            "res_model": "mrp.backflush.exception.cancel",
            "view_mode": "form",
            "target": "new",
            "context": {"default_exception_ids": self.ids},
        }

    def _cancel(self, reason):
        if not self.env.user.has_group("mrp.group_mrp_manager"):
            raise AccessError(
                self.env._(
                    "Only a manufacturing manager can cancel a backflush exception."
                )
            )
        pending = self._lock_pending()
        if pending != self:
            raise UserError(
                self.env._("Only pending backflush exceptions can be cancelled.")
            )
        pending.sudo().state = "cancel"
        for exc in pending.sudo():
            exc.message_post(
                body=self.env._(
                    "Cancelled by %(user)s: %(reason)s. %(qty)s %(uom)s of %(product)s "
                    "will not be consumed by %(mo)s.",
                    user=self.env.user.name,
                    reason=reason,
                    qty=exc.product_uom_id._backflush_format_qty(exc.quantity),
                    uom=exc.product_uom_id.name,
                    product=exc.product_id.display_name,
                    mo=exc.production_id.name,
                )
            )

    @api.model
    def _cron_retry(self, batch_size=50):
        """Post what arrived, per company; with queue_job, one job per batch
        in the module's channel (a batch already queued is not queued
        twice)."""
        pending = self.search([("state", "=", "pending")])
        for company, exceptions in pending.grouped("company_id").items():
            exceptions = exceptions.with_company(company)
            if not queue_jobs.installed(self.env):
                exceptions._retry_batch()
                continue
            for batch in queue_jobs.batches(exceptions, batch_size):
                batch.with_delay(
                    channel=queue_jobs.CHANNEL,
                    identity_key=queue_jobs.identity_key(),
                    description=self.env._("Backflush: post pending postings"),
                )._retry_batch()

    def _retry_batch(self):
        # Exceptions a user is posting right now are left for the next run;
        # a broken one is logged and skipped: the others are posted. Those
        # it could lock get their age, value and alert refreshed.
        exceptions = self._lock_pending(skip_locked=True)
        runs, failures = exceptions._post_by_production()
        runs._notify_productions()
        for failed, error in failures:
            _logger.warning(
                "Backflush retry skipped %s: %s",
                ", ".join(failed.mapped("name")),
                error,
            )
        still = exceptions.filtered(lambda e: e.state == "pending")
        still._refresh_monitor()
        still._alert_responsibles()

    # ------------------------------------------------------------------
    # Business methods
    # ------------------------------------------------------------------
    def _refresh_monitor(self):
        """Age bucket and value at cost of pending exceptions, for the
        monitor to group and add up: a few batched writes."""
        today = fields.Date.context_today(self)
        by_vals = defaultdict(lambda: self.browse())
        for exc in self:
            days = (today - fields.Date.context_today(self, exc.date)).days
            bucket = next((name for name, limit in AGE_LIMITS if days < limit), "older")
            product = exc.product_id.with_company(exc.company_id)
            value = (
                exc.product_uom_id._compute_quantity(
                    exc.quantity, product.uom_id, round=False
                )
                * product.standard_price
            )
            value = exc.company_id.currency_id.round(value)
            by_vals[bucket, value] |= exc
        for (bucket, value), excs in by_vals.items():
            stale = excs.sudo().filtered(
                lambda e, b=bucket, v=value: (e.age_bucket, e.value) != (b, v)
            )
            if stale:
                stale.write({"age_bucket": bucket, "value": value})

    def _alert_responsibles(self):
        """One activity per MO whose pending postings passed the company's
        alert age, for the order's responsible; never twice for one."""
        today = fields.Date.context_today(self)
        due = self.filtered(
            lambda e: (
                not e.alerted
                and e.company_id.backflush_pending_alert_days
                and (today - fields.Date.context_today(self, e.date)).days
                >= e.company_id.backflush_pending_alert_days
            )
        )
        if not due:
            return
        activity_type = self.env.ref("mail.mail_activity_data_todo")
        for production, excs in due.grouped("production_id").items():
            production.sudo().activity_schedule(
                activity_type_id=activity_type.id,
                summary=self.env._("Backflush postings pending"),
                note=self.env._(
                    "%(count)s component postings of %(mo)s have been pending for "
                    "%(days)s days or more: %(products)s. Open the Backflush "
                    "Monitor to post or cancel them.",
                    count=len(excs),
                    mo=production.name,
                    days=production.company_id.backflush_pending_alert_days,
                    products=", ".join(excs.product_id.mapped("display_name")),
                ),
                user_id=(production.user_id or self.env.ref("base.user_root")).id,
            )
        due.sudo().alerted = True

    def _lock_pending(self, skip_locked=False):
        """Lock the rows, so a user and the cron never post the same
        quantity twice, then re-read them: the other may have posted.
        With ``skip_locked``, rows locked by someone else are left out."""
        if not self:
            return self
        if skip_locked:
            self.env.cr.execute(
                "SELECT id FROM mrp_backflush_exception "
                "WHERE id IN %s FOR UPDATE SKIP LOCKED",
                [tuple(self.ids)],
            )
            locked = self.browse(row[0] for row in self.env.cr.fetchall())
        else:
            try:
                self.env.cr.execute(
                    "SELECT id FROM mrp_backflush_exception "
                    "WHERE id IN %s FOR UPDATE NOWAIT",
                    [tuple(self.ids)],
                )
            except (errors.LockNotAvailable, errors.SerializationFailure) as error:
                raise UserError(
                    self.env._(
                        "These backflush exceptions are being posted by someone "
                        "else; try again in a moment."
                    )
                ) from error
            locked = self
        locked.invalidate_recordset(["state", "quantity", "posted_qty"])
        return locked.filtered(lambda e: e.state == "pending")

    def _post_by_production(self):
        """Post each MO's exceptions in its own savepoint: one that fails
        (a deleted product, a locked quant, a bug) is rolled back and
        reported, the others are posted. Return the runs and a list of
        (exceptions, error) for the MOs that failed."""
        runs = self.env["mrp.backflush.run"]
        failures = []
        for exceptions in self.grouped("production_id").values():
            what = "the backflush retry of " + ", ".join(exceptions.mapped("name"))
            with savepoint_failure(self.env, what) as failure:
                runs |= exceptions._post_available()
            if failure.message:
                failures.append((exceptions, failure.message))
                exceptions._set_cause("error", failure.message)
        return runs, failures

    @api.model
    def _shortage_causes(self, products, locations):
        """Why each of ``products`` is short at each of ``locations``:
        {(product id, location id): cause}. Serials wait to be recorded;
        expired lots there mean valid lots are missing; else no stock."""
        expired = self.env["stock.quant"]._backflush_expired_stock(products, locations)
        causes = {}
        for product in products:
            for location in locations:
                if product.tracking == "serial":
                    cause = "lot_required"
                elif expired.get((product.id, location.id)):
                    cause = "lot_expired"
                else:
                    cause = "no_stock"
                causes[product.id, location.id] = cause
        return causes

    def _set_shortage_causes(self):
        """Say why each of ``self`` is still short; for serial numbers,
        how many are missing."""
        causes = self._shortage_causes(self.product_id, self.location_id)
        for cause, excs in self.grouped(
            lambda e: causes[e.product_id.id, e.location_id.id]
        ).items():
            if cause != "lot_required":
                excs._set_cause(cause)
                continue
            for exc in excs:
                exc._set_cause(
                    cause,
                    self._serials_missing_detail(
                        exc.product_id, exc.quantity, exc.product_uom_id
                    ),
                )

    @api.model
    def _serials_missing_detail(self, product, qty, uom):
        return self.env._(
            "%(product)s: %(qty)s %(uom)s without serial numbers reserved or "
            "recorded; the backflush never picks serial numbers.",
            product=product.display_name,
            qty=uom._backflush_format_qty(qty),
            uom=uom.name,
        )

    def _recorded_serial_qty(self):
        """What the serial numbers recorded on each exception of a
        serial-tracked product cover, free and valid under its location
        ({exception id: qty in its unit}): one grouped read."""
        serial = self.filtered(lambda e: e.product_id.tracking == "serial")
        if not serial:
            return {}
        Quant = self.env["stock.quant"]
        domain = [
            ("lot_id", "in", serial.lot_ids.ids),
            ("location_id", "child_of", serial.location_id.ids),
        ]
        if Quant._backflush_uses_expiry():
            domain += Quant._backflush_valid_domain()
        free = defaultdict(list)
        for lot, location, qty, reserved in Quant.sudo()._read_group(
            domain, ["lot_id", "location_id"], ["quantity:sum", "reserved_quantity:sum"]
        ):
            free[lot].append((location, qty - reserved))
        result = {}
        for exc in serial:
            qty = sum(
                max(free_qty, 0.0)
                for lot in exc.lot_ids
                for location, free_qty in free[lot]
                if location.parent_path.startswith(exc.location_id.parent_path)
            )
            result[exc.id] = exc.product_id.uom_id._compute_quantity(
                qty, exc.product_uom_id, round=False
            )
        return result

    def _set_cause(self, cause, detail=False):
        """Record why ``self`` is still pending, writing only what changes."""
        changed = self.filtered(
            lambda e: (e.cause, e.cause_detail or False) != (cause, detail)
        )
        if changed:
            changed.sudo().write({"cause": cause, "cause_detail": detail})

    def _set_blocking_causes(self):
        """Exceptions no stock can help now: an archived component, a
        location that gives no stock. Their cause says so; returns them."""
        archived = self.filtered(lambda e: not e.product_id.active)
        archived._set_cause("product_archived")
        unusable = (self - archived).filtered(
            lambda e: not e.location_id.active or e.location_id.usage != "internal"
        )
        unusable._set_cause("location")
        return archived | unusable

    def _cancel_unbuilt(self, qty, planned_scrap=0.0):
        """The units this shortage, pending or cancelled, was for were
        unbuilt: ``qty`` is no longer needed, ``planned_scrap`` of it their
        planned scrap. Returns the quantity cancelled."""
        self.ensure_one()
        qty = min(qty, self.quantity)
        vals = self._take_vals(qty, "unbuilt_qty")
        if self.state == "cancel":
            # given up already: the rest stays given up
            vals["state"] = "cancel"
        if planned_scrap:
            vals["unbuilt_scrap_qty"] = self.unbuilt_scrap_qty + min(planned_scrap, qty)
        self.sudo().write(vals)
        return qty

    def _take_vals(self, qty, into):
        """Values that move ``qty`` out of the pending quantity into
        ``into`` (posted or unbuilt); settled once nothing is left."""
        self.ensure_one()
        remaining = self.quantity - qty
        settled = float_is_zero(
            remaining, precision_rounding=self.product_uom_id.rounding
        )
        posted = self.posted_qty + (qty if into == "posted_qty" else 0.0)
        return {
            "quantity": 0.0 if settled else remaining,
            into: self[into] + qty,
            "state": ("done" if posted else "cancel") if settled else "pending",
        }

    def _post_available(self):
        """Consume what stock allows now; one run per MO, role `deferred`."""
        orphans = self.filtered(lambda e: not e.move_id)
        if orphans:
            raise UserError(
                self.env._(
                    "%(exceptions)s lost the component move it defers: "
                    "cancel it with a reason.",
                    exceptions=", ".join(orphans.mapped("name")),
                )
            )
        blocked = self._set_blocking_causes()
        if blocked == self:
            return self.env["mrp.backflush.run"]
        if blocked:
            return (self - blocked)._post_available()
        ledger = self.env["mrp.backflush.ledger"]
        staging = self.env["mrp.backflush.staging"]
        origin_moves = self.move_id
        pool = self.env["mrp.backflush.engine"]._stock_pool(
            origin_moves, self.product_id, own_moves=self.env["stock.move"]
        )
        serial_qty = self._recorded_serial_qty()
        requirements = [
            planning.Requirement(
                key=exc.id,
                product_id=exc.product_id.id,
                location_id=exc.location_id.id,
                net_qty=exc.quantity,
                rounding=exc.product_uom_id.rounding,
                to_pool=exc.product_uom_id._compute_quantity(
                    1.0, exc.product_id.uom_id, round=False
                ),
                policy=planning.POLICY_DEFER,
                staged_key=staging._staged_key(
                    ledger._family_key(exc.production_id), exc.location_id
                ),
                serial_qty=serial_qty.get(exc.id),
            )
            for exc in self
        ]
        plan = planning.plan(requirements, pool)
        to_post = {
            line.requirement.key: line.qty(planning.ROLE_COMPONENT)
            for line in plan.lines
            if line.qty(planning.ROLE_COMPONENT) > 0
        }
        exceptions = self.filtered(lambda e: e.id in to_post)
        if not exceptions:
            self._set_shortage_causes()
            return self.env["mrp.backflush.run"]
        moves = self.env["stock.move"]._backflush_create(
            [
                exc.move_id._backflush_extra_move_vals(
                    "deferred",
                    exc.product_id,
                    exc.product_uom_id,
                    to_post[exc.id],
                    line_qty=to_post[exc.id],
                )
                for exc in exceptions
            ]
        )
        move_by_exc = dict(zip(exceptions, moves, strict=True))
        moves.with_context(**{VALID_LOTS_ONLY: True})._backflush_pick_demand(
            serials={move_by_exc[exc].id: exc.lot_ids for exc in exceptions}
        )
        moves.with_context(skip_mo_check=True)._action_done()
        exceptions.production_id._backflush_link_consumed(moves.move_line_ids)
        for exc in exceptions:
            move = move_by_exc[exc]
            exc.sudo().write(
                dict(
                    exc._take_vals(to_post[exc.id], "posted_qty"),
                    move_ids=[fields.Command.link(move.id)],
                    lot_ids=[
                        fields.Command.unlink(lot.id)
                        for lot in move.move_line_ids.lot_id & exc.lot_ids
                    ],
                )
            )
        self.filtered(lambda e: e.state == "pending")._set_shortage_causes()
        runs = exceptions._create_retry_runs(move_by_exc)
        for run in runs:
            production = run.production_id
            self.env["mrp.backflush.valuation"]._backflush_add_finished_value(
                production,
                # in sudo: operators retry, valuation is for stock managers
                run.line_ids.move_id.sudo().stock_valuation_layer_ids,
                self.env._(
                    "%(mo)s - deferred backflush of %(products)s",
                    mo=production.name,
                    products=", ".join(run.line_ids.product_id.mapped("display_name")),
                ),
            )
        return runs

    def _create_retry_runs(self, move_by_exc):
        by_mo = defaultdict(list)
        for exc in self:
            move = move_by_exc[exc]
            by_mo[exc.production_id].append(
                {
                    "product_id": exc.product_id.id,
                    "bom_line_id": exc.bom_line_id.id,
                    "role": "deferred",
                    "move_id": move.id,
                    "product_uom_id": exc.product_uom_id.id,
                    "planned_qty": exc.initial_qty,
                    "consumed_qty": move.quantity,
                    "shortage_qty": exc.quantity,
                    "shortage_action": "defer" if exc.quantity else False,
                    "location_id": exc.location_id.id,
                }
            )
        return self.env["mrp.backflush.run"]._create_postings(
            [
                self.env["mrp.backflush.engine"]._run_vals(production, "retry", lines)
                for production, lines in by_mo.items()
            ]
        )
