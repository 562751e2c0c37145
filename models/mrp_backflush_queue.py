# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import logging

from markupsafe import Markup

from odoo import api, models
from odoo.exceptions import UserError
from odoo.tools import plaintext2html

from .. import queue_jobs
from ..failures import savepoint_failure

_logger = logging.getLogger(__name__)


class MrpBackflushQueue(models.AbstractModel):
    """Mark Done in the background, for more orders than one request holds
    (the company's *background threshold*): the list's *Mark as Done* flags
    the orders; the scheduled action, or a queue_job job per batch when
    OCA's queue_job is installed, marks them done as the user who queued
    them, and tells that user how the round went."""

    _name = "mrp.backflush.queue"
    _description = "Backflush: Mark Done in the Background"

    @api.model
    def _backflush_mark_done_in_background(self, productions):
        """Only a person's selection in the list goes to the background:
        Odoo's own server action *Mark as Done* runs with the selection as
        ``active_ids``. Code paths (subcontracting, tests, other modules)
        expect Mark Done to be over when the call returns."""
        threshold = self.env.company.backflush_background_threshold
        context = self.env.context
        # a request may send any JSON value as active_ids
        active_ids = context.get("active_ids")
        return bool(
            threshold
            and len(productions) > threshold
            and context.get("active_model") == productions._name
            and isinstance(active_ids, list)
            and set(productions.ids)
            <= {id_ for id_ in active_ids if isinstance(id_, int)}
        )

    @api.model
    def _backflush_queue_mark_done(self, productions):
        """Flag the MOs for the scheduler and tell the user."""
        productions = productions.filtered(
            lambda p: (
                p.state not in ("done", "cancel") and not p.backflush_queue_user_id
            )
        )
        productions.check_access("write")
        productions._backflush_write(
            {
                "backflush_queue_user_id": self.env.user.id,
                "backflush_queue_round_user_id": self.env.user.id,
                "backflush_queue_error": False,
            }
        )
        productions._message_log_batch(
            bodies=dict.fromkeys(
                productions.ids,
                self.env._(
                    "Queued by %(user)s to be marked done in the background.",
                    user=self.env.user.name,
                ),
            )
        )
        if queue_jobs.installed(self.env):
            self._backflush_enqueue_mark_done(productions)
        else:
            self.env.ref("mrp_backflush.ir_cron_backflush_mark_done").sudo()._trigger()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "info",
                "title": self.env._("Mark Done queued"),
                "message": self.env._(
                    "%(count)s manufacturing orders will be marked done in the "
                    "background. You will be notified when they are; the orders "
                    "that need you get a to-do (filter: Mark Done failed).",
                    count=len(productions),
                ),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    @api.model
    def _backflush_enqueue_mark_done(self, productions, batch_size=20):
        """With queue_job: one job per batch (one user, one company), in the
        module's channel, which spreads them over every worker of every
        server; a concurrency error requeues the job."""
        for (user, company), group in productions.grouped(
            lambda p: (p.backflush_queue_user_id, p.company_id)
        ).items():
            for batch in queue_jobs.batches(group, batch_size):
                self.with_user(user).with_company(company).with_delay(
                    channel=queue_jobs.CHANNEL,
                    description=self.env._(
                        "Mark Done in the background: %(mos)s",
                        mos=", ".join(batch.mapped("name")),
                    ),
                )._backflush_mark_done_job(batch)

    @api.model
    def _backflush_mark_done_job(self, productions):
        """A queue job's batch: the orders still queued are marked done, as
        the user and company the job runs as."""
        productions = productions.with_env(self.env)
        # read in sudo: who queued them may have lost their rights since
        closed = productions.sudo().filtered(
            lambda p: p.state in ("done", "cancel") or not p.backflush_queue_user_id
        )
        closed.filtered("backflush_queue_user_id")._backflush_write(
            {"backflush_queue_user_id": False}
        )
        users = productions.sudo().backflush_queue_user_id
        if productions - closed:
            self._backflush_mark_done_queued(productions - closed)
        self._backflush_queue_notify(users)

    @api.model
    def _cron_backflush_mark_done(self, batch_size=20):
        """Mark done one batch of queued MOs; the scheduler commits and
        calls again while ``remaining`` is reported."""
        Production = self.env["mrp.production"]
        domain = [("backflush_queue_user_id", "!=", False)]
        batch = Production.search(domain, order="id", limit=batch_size)
        users = batch.backflush_queue_user_id
        closed = batch.filtered(lambda p: p.state in ("done", "cancel"))
        closed._backflush_write({"backflush_queue_user_id": False})
        for (user, company), productions in (
            (batch - closed)
            .grouped(lambda p: (p.backflush_queue_user_id, p.company_id))
            .items()
        ):
            self._backflush_mark_done_queued(
                productions.with_user(user).with_company(company)
            )
        self.env["ir.cron"]._notify_progress(
            done=len(batch), remaining=Production.search_count(domain)
        )
        self._backflush_queue_notify(users)

    @api.model
    def _backflush_mark_done_queued(self, productions):
        """Mark ``productions`` done in one call (one user, one company, as
        their environment says); if that fails, each MO alone, so one bad MO
        does not hold back the others. The outcome is recorded in sudo: the
        user may have lost the rights on them since queueing (the failure
        then says so)."""
        names = ", ".join(productions.sudo().mapped("name"))
        what = "the background Mark Done of " + names
        with savepoint_failure(productions.env, what) as failure:
            # No one is there to answer a dialog: expired lots are never
            # consumed by the backflush anyway (mrp_product_expiry's key).
            productions.with_context(
                skip_redirection=True, skip_expired=True
            ).button_mark_done()
            stuck = productions.filtered(lambda p: p.state != "done")
            if stuck:
                raise UserError(
                    self.env._(
                        "Producing it needs a decision the background cannot "
                        "take (consumption warning, backorder or serial "
                        "numbers): open the order and click %(button)s.",
                        button=stuck._backflush_produce_button_label(),
                    )
                )
        if not failure.message:
            self._backflush_log_queue_result(
                productions, self.env._("Marked done in the background.")
            )
        elif len(productions) > 1:
            for production in productions:
                self._backflush_mark_done_queued(production)
        else:
            _logger.info(
                "Background Mark Done of %s failed: %s", names, failure.message
            )
            self._backflush_queue_failed(productions.sudo(), failure.message)

    @api.model
    def _backflush_log_queue_result(self, productions, body):
        productions._backflush_write({"backflush_queue_user_id": False})
        productions._message_log_batch(bodies=dict.fromkeys(productions.ids, body))

    @api.model
    def _backflush_queue_failed(self, production, reason):
        """The order stays as it was: say why in its chatter, flag it for the
        filter *Mark Done failed* and give the person who queued it a to-do."""
        production.ensure_one()
        user = production.backflush_queue_user_id
        # the reason has a line per component: kept in the chatter and to-do
        self._backflush_log_queue_result(
            production,
            plaintext2html(
                self.env._(
                    "Mark Done in the background failed, nothing was posted: %(error)s",
                    error=reason,
                )
            ),
        )
        production._backflush_write({"backflush_queue_error": reason})
        production.activity_schedule(
            "mail.mail_activity_data_todo",
            user_id=user.id,
            summary=self.env._("Mark Done failed"),
            note=plaintext2html(reason),
        )

    @api.model
    def _backflush_queue_notify(self, users):
        """Tell each of ``users`` how their queued orders are going: a
        notification after each batch, and at the end of their round (none
        of theirs queued any more) a message in their inbox with how many
        are done and which need them."""
        if not users:
            return
        Production = self.env["mrp.production"]
        rounds = Production.search(
            [("backflush_queue_round_user_id", "in", users.ids)]
        ).grouped("backflush_queue_round_user_id")
        for user in users:
            env = self.with_context(lang=user.lang).env  # in the user's language
            productions = rounds.get(user, Production.browse())
            queued = productions.filtered("backflush_queue_user_id")
            processed = productions - queued
            done = processed.filtered(lambda p: p.state == "done")
            failed = processed.filtered("backflush_queue_error")
            values = {
                "done": len(done),
                "total": len(productions),
                "failed": len(failed),
                "queued": len(queued),
            }
            if queued:
                user._bus_send(
                    "simple_notification",
                    {
                        "type": "info",
                        "title": env._("Mark Done in the background"),
                        "message": env._(
                            "%(done)s of %(total)s orders done, %(failed)s "
                            "failed; %(queued)s still queued.",
                            **values,
                        ),
                    },
                )
                continue
            productions._backflush_write({"backflush_queue_round_user_id": False})
            summary = env._(
                "Mark Done in the background finished: %(done)s of %(total)s "
                "orders done, %(failed)s failed.",
                **values,
            )
            if failed:
                summary += " " + env._(
                    "Each failed order has a to-do with the reason (filter: "
                    "Mark Done failed)."
                )
            user._bus_send(
                "simple_notification",
                {
                    "type": "warning" if failed else "success",
                    "title": env._("Mark Done in the background"),
                    "message": summary,
                    "sticky": bool(failed),
                },
            )
            self._backflush_queue_send_summary(
                user, env._("Mark Done in the background"), summary, failed
            )

    @api.model
    def _backflush_queue_send_summary(self, user, subject, summary, failed):
        """The end of a round in the user's inbox, each failed order linked
        with its reason (its to-do says the same)."""
        body = Markup("<p>%s</p>") % summary
        if failed:
            # a reason runs over several lines (one per component short)
            body += Markup("<ul>%s</ul>") % Markup().join(
                Markup(
                    '<li><a href="#" data-oe-model="mrp.production" '
                    'data-oe-id="%s">%s</a>: %s</li>'
                )
                % (
                    production.id,
                    production.name,
                    Markup("<br/>").join(production.backflush_queue_error.splitlines()),
                )
                for production in failed
            )
        # As OdooBot: the user need not be able to send mail (no email address).
        self.env["mail.thread"].sudo().message_notify(
            partner_ids=user.partner_id.ids,
            author_id=self.env.ref("base.partner_root").id,
            subject=subject,
            body=body,
        )
