# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import new_test_user, tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestMonitor(BackflushCase):
    """Pending postings carry their cause, age and value; an MO with
    pending postings needs a decision before it is cancelled or unlocked;
    the responsible is told once when they get old."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stool = cls._product("Monitor Stool", 0.0)
        cls.leg = cls._product("Monitor Leg", 2.5)
        cls.bom = cls._bom(cls.stool, [(cls.leg, 4)], backflush_shortage_policy="defer")
        cls.manager = new_test_user(
            cls.env,
            "bf_monitor_manager",
            groups="mrp.group_mrp_manager,stock.group_stock_manager",
        )

    def _deferred(self, qty=2):
        mo = self._mo(self.bom, qty)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        return mo, mo.backflush_exception_ids

    def _age(self, exceptions, days):
        exceptions.sudo().date = fields.Datetime.now() - timedelta(days=days)

    def test_cause_follows_each_retry(self):
        mo, exc = self._deferred()
        self.assertEqual(exc.cause, "no_stock")
        self.assertIn("Receive or move", exc.cause_help)
        # archived component: nothing can be posted, the cause says why
        self.leg.active = False
        exc.action_retry()
        self.assertEqual((exc.state, exc.cause), ("pending", "product_archived"))
        self.leg.active = True
        # a defect during the retry: cause error, with what it ran into
        Exceptions = self.env.registry["mrp.backflush.exception"]
        with patch.object(Exceptions, "_post_available", side_effect=UserError("Boom")):
            exc.action_retry()
        self.assertEqual((exc.cause, exc.cause_detail), ("error", "Boom"))
        # stock arrives: posted
        self._stock(self.leg, 8)
        exc.action_retry()
        self.assertEqual(exc.state, "done")

    def test_unusable_location(self):
        _mo, exc = self._deferred()
        location = self.env["stock.location"].create(
            {"name": "Old bin", "usage": "internal", "active": False}
        )
        exc.sudo().location_id = location
        exc.action_retry()
        self.assertEqual(exc.cause, "location")
        action = exc.action_open_fix()
        self.assertEqual(
            (action["res_model"], action["res_id"]), (location._name, location.id)
        )

    def test_age_value_and_grouping(self):
        _mo, exc_new = self._deferred(1)
        _mo, exc_old = self._deferred(2)
        self._age(exc_old, 10)
        (exc_new | exc_old)._refresh_monitor()
        self.assertEqual(exc_new.age_bucket, "today")
        self.assertEqual(exc_old.age_bucket, "month")
        self.assertEqual(exc_old.age_days, 10)
        self.assertAlmostEqual(exc_old.value, 8 * 2.5)
        Monitor = self.env["mrp.backflush.exception"].with_user(self.manager)
        groups = Monitor.read_group(
            [("state", "=", "pending"), ("product_id", "=", self.leg.id)],
            ["value:sum"],
            ["age_bucket"],
        )
        self.assertEqual(
            {g["age_bucket"]: g["value"] for g in groups},
            {"today": 4 * 2.5, "month": 8 * 2.5},
        )
        by_cause = Monitor.read_group(
            [("product_id", "=", self.leg.id)], ["cause"], ["cause"]
        )
        self.assertEqual([g["cause"] for g in by_cause], ["no_stock"])

    def test_value_is_for_stock_managers_only(self):
        operator = new_test_user(
            self.env, "bf_monitor_operator", groups="mrp.group_mrp_user"
        )
        self.assertNotIn(
            "value",
            self.env["mrp.backflush.exception"].with_user(operator).fields_get(),
        )

    def test_bulk_retry_posts_what_is_there_and_keeps_the_rest(self):
        _mo_a, exc_a = self._deferred(2)  # 8 legs
        _mo_b, exc_b = self._deferred(3)  # 12 legs
        self._stock(self.leg, 10)
        (exc_a | exc_b).with_user(self.manager).action_retry()
        self.assertEqual(exc_a.state, "done")
        self.assertEqual((exc_b.state, exc_b.quantity), ("pending", 10))
        self.assertEqual(self._qty(self.leg), 0)

    def test_guards_name_the_pending_postings(self):
        mo, exc = self._deferred()
        with self.assertRaisesRegex(UserError, "Backflush Monitor") as refusal:
            mo.action_toggle_is_locked()
        self.assertIn(exc.name, str(refusal.exception))
        self.assertTrue(mo.is_locked)
        with self.assertRaisesRegex(UserError, "cannot be cancelled"):
            mo.action_cancel()
        # once decided, the order is the user's again
        exc.with_user(self.manager)._cancel("not needed")
        mo.action_toggle_is_locked()
        self.assertFalse(mo.is_locked)

    def test_responsible_is_told_once(self):
        self.company.backflush_pending_alert_days = 3
        mo, exc = self._deferred()
        mo.user_id = self.manager
        Exceptions = self.env["mrp.backflush.exception"]
        Exceptions._cron_retry()
        self.assertFalse(mo.activity_ids)
        self._age(exc, 4)
        Exceptions._cron_retry()
        Exceptions._cron_retry()
        self.assertEqual(len(mo.activity_ids), 1)
        self.assertEqual(mo.activity_ids.user_id, self.manager)
        self.assertIn(self.leg.display_name, mo.activity_ids.note)

    def test_pending_before_the_lock_date(self):
        _mo, exc = self._deferred()
        self._age(exc, 10)
        self.assertFalse(exc.before_lock_date)
        lock = fields.Date.today() - timedelta(days=2)
        Company = self.env.registry["res.company"]
        with patch.object(Company, "_get_user_fiscal_lock_date", return_value=lock):
            exc.invalidate_recordset(["before_lock_date"])
            self.assertTrue(exc.before_lock_date)
