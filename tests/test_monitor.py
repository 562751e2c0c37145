# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import Form, new_test_user, tagged

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

    # ------------------------------------------------------------------
    # headline figures
    # ------------------------------------------------------------------
    def _figures(self, user):
        Monitor = self.env["mrp.backflush.exception"].with_user(user)
        Monitor.env.invalidate_all()
        return Monitor.retrieve_monitor_figures()

    def _negative_and_flagged(self):
        """A component posted into negative stock; a BOM line whose 3 last
        orders scrapped 10 % more than it plans."""
        bolt = self._product("Monitor Bolt", 0.1)
        seat = self._product("Monitor Seat", 4.0)
        self._stock(seat, 100)
        bench = self._product("Monitor Bench", 0.0)
        bom = self._bom(
            bench, [(bolt, 1), (seat, 4)], backflush_shortage_policy="negative"
        )
        seat_line = bom.bom_line_ids.filtered(lambda li: li.product_id == seat)
        for _i in range(3):
            mo = self._mo(bom, 5)
            action = mo.button_scrap()
            form = Form(
                self.env["stock.scrap"].with_context(**action["context"]),
                view=action["views"][0][0],
            )
            form.product_id = seat
            form.scrap_qty = 2
            form.save().action_validate()
            mo.button_mark_done()
        return bolt, seat_line

    def test_headline_figures(self):
        operator = new_test_user(
            self.env, "bf_monitor_headline_op", groups="mrp.group_mrp_user"
        )
        before = self._figures(self.manager)
        self.assertNotIn(
            "value", self._figures(operator), "costs are not for operators"
        )
        _mo, exc_new = self._deferred(2)  # 8 legs at 2.5
        _mo, exc_old = self._deferred(3)  # 12 legs at 2.5
        self._age(exc_old, 40)
        bolt, seat_line = self._negative_and_flagged()
        figures = self._figures(self.manager)
        self.assertEqual(figures["pending_count"], before["pending_count"] + 2)
        self.assertAlmostEqual(figures["value"], before["value"] + 20 * 2.5)
        # other tests of the run may leave pending postings behind
        self.assertIn(f"{figures['value']:,.2f}", figures["value_display"])
        self.assertGreaterEqual(figures["oldest_days"], 40)
        self.assertEqual(figures["oldest_bucket"], "older")
        self.assertEqual(
            figures["negative_quant_count"], before["negative_quant_count"] + 1
        )
        self.assertEqual(figures["advice_count"], before["advice_count"] + 1)
        self.assertIn(
            seat_line.id,
            [
                vals["bom_line_id"]
                for vals in self.env["mrp.backflush.exception"]._monitor_advice()
            ],
        )
        seen = self._figures(operator)
        self.assertEqual(seen["pending_count"], figures["pending_count"])
        self.assertFalse(seen["show_value"])
        self.assertNotIn("value", seen)
        self.assertNotIn("value_display", seen)
        # each figure opens what it counts
        Monitor = self.env["mrp.backflush.exception"].with_user(self.manager)
        quants = self.env["stock.quant"].search(
            Monitor.action_open_monitor_figure("negative_quants")["domain"]
        )
        self.assertIn(bolt, quants.product_id)
        self.assertTrue(all(q.quantity < 0 for q in quants))
        action = Monitor.action_open_monitor_figure("advice")
        advice = self.env[action["res_model"]].browse(action["res_id"])
        self.assertIn(seat_line, advice.line_ids.bom_line_id)

    def test_headline_query_count(self):
        """The same number of queries for 1 pending posting as for 6, with
        one negative quant or two and one flagged BOM line or two."""
        Monitor = self.env["mrp.backflush.exception"].with_user(self.manager)
        self._deferred(1)
        self._negative_and_flagged()
        Monitor.env.invalidate_all()
        # warm the registry's caches (access rules) that new records clear
        Monitor.retrieve_monitor_figures()
        Monitor.env.invalidate_all()
        start = self.cr.sql_log_count
        Monitor.retrieve_monitor_figures()
        few = self.cr.sql_log_count - start
        for qty in range(1, 6):
            self._deferred(qty)
        self._negative_and_flagged()
        Monitor.env.invalidate_all()
        Monitor.retrieve_monitor_figures()
        Monitor.env.invalidate_all()
        start = self.cr.sql_log_count
        Monitor.retrieve_monitor_figures()
        many = self.cr.sql_log_count - start
        self.assertEqual(many, few)
        self.assertLessEqual(few, 20)
