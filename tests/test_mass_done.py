# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestMassDone(BackflushCase):
    """Mark as Done from the list on more MOs than the company's threshold
    runs on the scheduler, in batches, each MO told in its chatter."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stool = cls._product("Stool", 0.0)
        cls.leg = cls._product("Stool Leg", 2.0)
        cls.seat = cls._product("Stool Seat", 5.0)
        cls.bom_stool = cls._bom(cls.stool, [(cls.leg, 3), (cls.seat, 1)])
        cls._stock(cls.leg, 1000)
        cls._stock(cls.seat, 100)
        cls.company.backflush_background_threshold = 2
        cls.operator = new_test_user(
            cls.env,
            "bf_mass_operator",
            groups="mrp.group_mrp_user,stock.group_stock_user",
        )
        cls.list_action = cls.env.ref("mrp.action_production_order_mark_done")
        cls.cron = cls.env.ref("mrp_backflush.ir_cron_backflush_mark_done")

    def _mos(self, count, qty=2):
        return self.env["mrp.production"].concat(
            *(self._mo(self.bom_stool, qty) for _i in range(count))
        )

    def _mark_done_from_list(self, productions):
        return (
            self.list_action.with_user(self.operator)
            .with_context(active_model="mrp.production", active_ids=productions.ids)
            .run()
        )

    def _messages(self, production):
        return self.env["mail.message"].search(
            [("model", "=", "mrp.production"), ("res_id", "=", production.id)]
        )

    def _run_cron(self, batch_size=20):
        """One call of the scheduler's job, reporting its progress."""
        progress = self.env["ir.cron.progress"].create({"cron_id": self.cron.id})
        self.env["mrp.backflush.queue"].with_context(
            ir_cron_progress_id=progress.id
        )._cron_backflush_mark_done(batch_size=batch_size)
        return progress

    def test_list_above_threshold_is_queued(self):
        mos = self._mos(3)
        triggers = self.env["ir.cron.trigger"].search_count(
            [("cron_id", "=", self.cron.id)]
        )
        action = self._mark_done_from_list(mos)
        self.assertEqual(action["tag"], "display_notification")
        self.assertIn("3", action["params"]["message"])
        self.assertEqual(set(mos.mapped("state")), {"confirmed"})
        self.assertEqual(mos.backflush_queue_user_id, self.operator)
        self.assertFalse(mos.backflush_run_ids)
        self.assertEqual(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", self.cron.id)]),
            triggers + 1,
        )
        for mo in mos:
            self.assertIn("Queued by", self._messages(mo)[0].body)

    def test_list_within_threshold_and_code_are_synchronous(self):
        two = self._mos(2)
        self._mark_done_from_list(two)
        self.assertEqual(set(two.mapped("state")), {"done"})
        # Code paths (subcontracting, other modules) call button_mark_done
        # without the list's context key: done when the call returns.
        three = self._mos(3)
        three.with_user(self.operator).button_mark_done()
        self.assertEqual(set(three.mapped("state")), {"done"})
        self.assertFalse((two | three).backflush_queue_user_id)

    def test_cron_posts_in_batches_with_progress(self):
        mos = self._mos(3)
        self._mark_done_from_list(mos)
        progress = self._run_cron(batch_size=2)
        self.assertEqual((progress.done, progress.remaining), (2, 1))
        self.assertEqual(mos.mapped("state"), ["done", "done", "confirmed"])
        progress = self._run_cron(batch_size=2)
        self.assertEqual((progress.done, progress.remaining), (1, 0))
        self.assertEqual(set(mos.mapped("state")), {"done"})
        self.assertFalse(mos.backflush_queue_user_id)
        self.assertEqual(self._qty(self.leg), 1000 - 3 * 2 * 3)
        for mo in mos:
            run = mo.backflush_run_ids
            self.assertEqual(len(run), 1)
            # Posted as the user who queued it, not as the scheduler's user.
            self.assertEqual(run.user_id, self.operator)
            self.assertIn("Marked done in the background", self._messages(mo)[0].body)

    def test_one_failing_mo_does_not_stop_the_others(self):
        mos = self._mos(2)
        # 200 seats needed, 100 in stock: the "block" policy refuses it.
        self.bom_stool.backflush_shortage_policy = "block"
        big = self._mo(self.bom_stool, 200)
        queued = mos | big
        self._mark_done_from_list(queued)
        self._run_cron()
        self.assertEqual(set(mos.mapped("state")), {"done"})
        self.assertEqual(big.state, "confirmed")
        self.assertFalse(big.backflush_run_ids)
        self.assertFalse(queued.backflush_queue_user_id)
        body = self._messages(big)[0].body
        self.assertIn("failed, nothing was posted", body)
        self.assertIn("Not enough components", body)
        self.assertEqual(self._qty(self.seat), 100 - 2 * 2)

    def test_mo_done_meanwhile_is_dropped_from_the_queue(self):
        mos = self._mos(3)
        self._mark_done_from_list(mos)
        mos[0].with_user(self.operator).button_mark_done()
        progress = self._run_cron()
        self.assertEqual((progress.done, progress.remaining), (3, 0))
        self.assertEqual(len(mos[0].backflush_run_ids), 1)
        self.assertEqual(set(mos.mapped("state")), {"done"})

    def test_queue_is_written_by_queueing_only(self):
        """Nobody queues an MO in someone else's name, nor takes another
        user's MO out of the queue: only queueing and the scheduler do."""
        admin = self.env.ref("base.user_admin")
        colleague = new_test_user(
            self.env,
            "bf_mass_colleague",
            groups="mrp.group_mrp_user,stock.group_stock_user",
        )
        free, queued = self._mos(1), self._mos(3)
        self._mark_done_from_list(queued)
        self.assertEqual(queued.backflush_queue_user_id, self.operator)
        for user in (self.operator, colleague):
            env = self.env(user=user, context={"mrp_backflush_write": True})
            for records, vals in (
                (free, {"backflush_queue_user_id": admin.id}),
                (queued[0], {"backflush_queue_user_id": False}),
                (queued[0], {"backflush_queue_user_id": colleague.id}),
            ):
                with (
                    self.subTest(user=user.login, mo=records.name, vals=vals),
                    self.assertRaisesRegex(AccessError, "only the backflush writes"),
                ):
                    records.with_env(env).write(vals)
        with self.assertRaisesRegex(AccessError, "only the backflush writes"):
            self.env["mrp.production"].with_user(self.operator).create(
                {
                    "product_id": self.stool.id,
                    "bom_id": self.bom_stool.id,
                    "product_qty": 1,
                    "backflush_queue_user_id": admin.id,
                }
            )
        self.assertFalse(free.backflush_queue_user_id)
        self.assertEqual(queued.backflush_queue_user_id, self.operator)
        self._run_cron()
        self.assertEqual(set(queued.mapped("state")), {"done"})
        self.assertEqual(queued.backflush_run_ids.user_id, self.operator)
        self.assertFalse(queued.backflush_queue_user_id)
        self.assertEqual(free.state, "confirmed")

    def _inbox(self, user):
        return self.env["mail.message"].search(
            [("notified_partner_ids", "in", user.partner_id.ids)]
        )

    def _bus(self, user):
        self.env.cr.precommit.run()  # notifications are written at commit
        return self.env["bus.bus"].search(
            [
                ("channel", "like", f'"res.partner",{user.partner_id.id}]'),
                ("message", "like", "simple_notification"),
            ]
        )

    def test_failed_order_gets_an_activity_and_the_filter(self):
        self.bom_stool.backflush_shortage_policy = "block"
        mos = self._mos(2)
        big = self._mo(self.bom_stool, 200)
        self._mark_done_from_list(mos | big)
        self._run_cron()
        activity = big.activity_ids
        self.assertEqual(activity.user_id, self.operator)
        self.assertEqual(activity.summary, "Mark Done failed")
        self.assertIn("Not enough components", activity.note)
        # a line per component, as on the order's banner
        self.assertRegex(str(activity.note), r"<br\s*/?>\s*- ")
        self.assertRegex(str(self._messages(big)[0].body), r"<br\s*/?>\s*- ")
        self.assertIn("Not enough components", big.backflush_queue_error)
        self.assertFalse(mos.activity_ids)
        self.assertEqual(
            self.env["mrp.production"].search(
                [
                    ("backflush_queue_error", "!=", False),
                    ("state", "not in", ("done", "cancel")),
                    ("id", "in", (mos | big).ids),
                ]
            ),
            big,
        )
        # Queued again: the old reason no longer applies.
        self._mark_done_from_list(big | self._mos(2))
        self.assertFalse(big.backflush_queue_error)

    def test_order_needing_a_decision_says_the_form_s_button(self):
        self.bom_stool.consumption = "warning"
        mos = self._mos(3)
        for mo in mos:
            mo.qty_producing = 2
            mo._set_qty_producing()
        # The BOM changed after the orders were created: Odoo's consumption
        # warning is a decision the background cannot take.
        self.bom_stool.bom_line_ids.filtered(
            lambda li: li.product_id == self.leg
        ).product_qty = 4
        self._mark_done_from_list(mos)
        self._run_cron()
        self.assertNotIn("done", mos.mapped("state"))
        for mo in mos:
            self.assertIn("click Produce All", mo.backflush_queue_error)
            self.assertNotIn("Mark Done needs", mo.backflush_queue_error)

    def test_person_who_queued_sees_progress_and_the_end(self):
        self.bom_stool.backflush_shortage_policy = "block"
        mos = self._mos(2)
        big = self._mo(self.bom_stool, 200)
        self._mark_done_from_list(mos | big)
        self._run_cron(batch_size=2)
        progress = self._bus(self.operator)
        self.assertEqual(len(progress), 1)
        self.assertIn("2 of 3 orders done, 0 failed; 1 still queued", progress.message)
        self.assertFalse(self._inbox(self.operator))
        self._run_cron(batch_size=2)
        end = self._bus(self.operator) - progress
        self.assertIn("finished: 2 of 3 orders done, 1 failed", end.message)
        inbox = self._inbox(self.operator)
        self.assertEqual(len(inbox), 1)
        self.assertIn("2 of 3 orders done, 1 failed", inbox.body)
        self.assertIn(big.name, inbox.body)
        self.assertIn("Not enough components", inbox.body)
        self.assertFalse((mos | big).backflush_queue_round_user_id)

    def test_inbox_summary_keeps_the_reason_s_lines(self):
        """The reason's lines (the refusal, each component short, what to
        do) ran together in one paragraph of the inbox summary."""
        self.bom_stool.backflush_shortage_policy = "block"
        big = self._mo(self.bom_stool, 200)
        self._mark_done_from_list(big | self._mos(2))
        self._run_cron()
        lines = [ln for ln in big.backflush_queue_error.splitlines() if ln.strip()]
        self.assertGreater(len(lines), 1)
        self.assertEqual(
            lines[0], "Not enough components to backflush; nothing was posted."
        )
        self.assertIn(lines[0] + "<br>", self._inbox(self.operator).body)
