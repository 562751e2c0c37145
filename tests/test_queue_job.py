# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Background work on queue_job, when it is installed (scripts/test runs
this file on a database with queue_job; elsewhere it is skipped and the
scheduled actions of tests/test_mass_done.py do the work)."""

from unittest import SkipTest

from odoo.tests import new_test_user, tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestQueueJob(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if "queue.job" not in cls.env:
            raise SkipTest("queue_job is not installed")
        cls.stool = cls._product("Queued Stool", 0.0)
        cls.leg = cls._product("Queued Leg", 2.0)
        cls.bom = cls._bom(cls.stool, [(cls.leg, 3)])
        cls._stock(cls.leg, 1000)
        cls.company.backflush_background_threshold = 2
        cls.operator = new_test_user(
            cls.env,
            "bf_queue_operator",
            groups="mrp.group_mrp_user,stock.group_stock_user",
        )

    def _trap(self):
        from odoo.addons.queue_job.tests.common import trap_jobs

        return trap_jobs()

    def test_mass_mark_done_is_one_job_per_batch_in_its_channel(self):
        mos = self.env["mrp.production"].concat(
            *(self._mo(self.bom, 2) for _i in range(25))
        )
        action = self.env.ref("mrp.action_production_order_mark_done")
        with self._trap() as trap:
            action.with_user(self.operator).with_context(
                active_model="mrp.production", active_ids=mos.ids
            ).run()
            trap.assert_jobs_count(2)  # 20 + 5
            self.assertEqual(
                {job.channel for job in trap.enqueued_jobs}, {"root.mrp_backflush"}
            )
            self.assertEqual(
                {job.user_id for job in trap.enqueued_jobs}, {self.operator.id}
            )
            self.assertEqual(set(mos.mapped("state")), {"confirmed"})
            trap.perform_enqueued_jobs()
        self.assertEqual(set(mos.mapped("state")), {"done"})
        self.assertFalse(mos.filtered("backflush_queue_user_id"))
        # each order posted once
        self.assertEqual(self._qty(self.leg), 1000 - 25 * 6)
        self.assertEqual(set(mos.mapped(lambda p: len(p.backflush_run_ids))), {1})
        self.assertEqual(len(mos.backflush_run_ids), 25)

    def test_a_job_run_twice_posts_once(self):
        mos = self._mo(self.bom, 2) | self._mo(self.bom, 2) | self._mo(self.bom, 2)
        mos.sudo().backflush_queue_user_id = self.operator
        queue = self.env["mrp.backflush.queue"]
        queue._backflush_mark_done_job(mos)
        queue._backflush_mark_done_job(mos)  # requeued after a crash
        self.assertEqual(set(mos.mapped("state")), {"done"})
        self.assertEqual(len(mos.backflush_run_ids), 3)

    def test_retry_of_pending_postings_is_queued_once(self):
        self.bom.backflush_shortage_policy = "defer"
        short = self._product("Queued Seat", 5.0)
        self.bom.bom_line_ids = [(0, 0, {"product_id": short.id, "product_qty": 1})]
        mo = self._mo(self.bom, 4)
        mo.button_mark_done()
        exc = mo.backflush_exception_ids
        self.assertEqual(exc.quantity, 4)
        self._stock(short, 10)
        Exceptions = self.env["mrp.backflush.exception"]
        with self._trap() as trap:
            Exceptions._cron_retry()
            trap.assert_jobs_count(1)
            self.assertEqual(trap.enqueued_jobs[0].channel, "root.mrp_backflush")
            self.assertEqual(exc.state, "pending")
            trap.perform_enqueued_jobs()
        self.assertEqual(exc.state, "done")
