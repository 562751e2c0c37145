# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.exceptions import UserError
from odoo.tests import Form, new_test_user, tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestShortage(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.chair = cls._product("Chair", 0.0)
        cls.leg = cls._product("Leg", 2.0)
        cls.seat = cls._product("Seat", 10.0)
        cls.bom = cls._bom(cls.chair, [(cls.leg, 4), (cls.seat, 1)])
        cls._stock(cls.leg, 300)
        cls._stock(cls.seat, 500)
        cls.manager = new_test_user(
            cls.env,
            "bf_short_manager",
            groups="mrp.group_mrp_manager,stock.group_stock_manager",
        )
        cls.operator = new_test_user(
            cls.env,
            "bf_short_operator",
            groups="mrp.group_mrp_user,stock.group_stock_user",
        )

    def _assert_required(self, mo, product, required):
        """posted + pending = required, never posted twice."""
        posted = sum(
            mo.move_raw_ids.filtered(
                lambda m: m.product_id == product and m.state == "done"
            ).mapped("quantity")
        )
        pending = sum(
            mo.backflush_exception_ids.filtered(
                lambda e: e.product_id == product and e.state == "pending"
            ).mapped("quantity")
        )
        self.assertAlmostEqual(posted + pending, required)

    def test_block_names_each_short_component(self):
        mo = self._mo(self.bom, 100)
        with self.assertRaises(UserError) as error:
            self._mark_done_request(mo)
        message = str(error.exception)
        self.assertIn(mo.name, message)
        self.assertIn(self.leg.display_name, message)
        self.assertIn("needs 400.0 Units", message)
        self.assertIn("300.0 available, 100.0 missing", message)
        self.assertIn(self.stock_location.display_name, message)
        self.assertNotIn(self.seat.display_name, message)
        self.assertEqual(mo.state, "confirmed")
        self.assertEqual(self._qty(self.leg), 300)
        self.assertFalse(mo.backflush_run_ids)
        self.assertFalse(mo.backflush_exception_ids)

    def test_block_mass_mark_done_is_atomic(self):
        self.bom.backflush_shortage_policy = "block"
        mo_ok = self._mo(self.bom, 50)
        mo_short = self._mo(self.bom, 30)
        mo_ok2 = self._mo(self.bom, 5)
        mos = mo_ok | mo_short | mo_ok2
        layers_before = self.env["stock.valuation.layer"].search_count([])
        with self.assertRaises(UserError) as error:
            self._mark_done_request(mos)
        self.assertIn(mo_short.name, str(error.exception))
        self.assertNotIn(mo_ok.name + ":", str(error.exception))
        self.assertEqual(set(mos.mapped("state")), {"confirmed"})
        self.assertEqual(self._qty(self.leg), 300)
        self.assertEqual(self._qty(self.seat), 500)
        self.assertEqual(
            self.env["stock.valuation.layer"].search_count([]), layers_before
        )
        self.assertFalse(mos.backflush_run_ids)

    def test_negative_posts_and_records_shortage(self):
        self.bom.backflush_shortage_policy = "negative"
        mo = self._mo(self.bom, 100)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg), -100)
        line = mo.backflush_run_ids.line_ids.filtered(
            lambda line: line.product_id == self.leg
        )
        self.assertEqual(line.consumed_qty, 400)
        self.assertEqual(line.shortage_qty, 100)
        self.assertEqual(line.shortage_action, "negative")
        self.assertEqual(mo.backflush_run_ids.state, "shortage")
        body = mo.message_ids.filtered(lambda m: "Backflush posted" in m.body).body
        self.assertIn(self.leg.display_name, body)
        self.assertIn("negative", body)
        self.assertFalse(mo.backflush_exception_ids)

    def test_defer_posts_available_and_retries(self):
        self.bom.backflush_shortage_policy = "defer"
        mo = self._mo(self.bom, 100)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg), 0)
        exc = mo.backflush_exception_ids
        self.assertEqual(len(exc), 1)
        self.assertEqual(
            (
                exc.product_id,
                exc.quantity,
                exc.state,
                exc.location_id,
                exc.product_uom_id,
            ),
            (self.leg, 100, "pending", self.stock_location, self.leg.uom_id),
        )
        self.assertEqual(exc.bom_line_id.product_id, self.leg)
        self.assertEqual(mo.backflush_pending_count, 1)
        self.assertIn(
            mo, self.env["mrp.production"].search([("backflush_pending_count", ">", 0)])
        )
        self._assert_required(mo, self.leg, 400)
        finished_value = self._layers_value(mo.move_finished_ids)
        self.assertAlmostEqual(finished_value, 300 * 2 + 100 * 10)

        # nothing arrived: nothing posted, still pending
        exc.with_user(self.operator).action_retry()
        self.assertEqual(exc.quantity, 100)
        self.assertEqual(len(mo.backflush_run_ids), 1)

        # part arrives at a higher price
        self.leg.standard_price = 3.0
        self._stock(self.leg, 60)
        exc.with_user(self.operator).action_retry()
        self.assertEqual((exc.quantity, exc.posted_qty, exc.state), (40, 60, "pending"))
        self._assert_required(mo, self.leg, 400)
        self.assertEqual(self._qty(self.leg), 0)
        deferred = mo.move_raw_ids.filtered(lambda m: m.backflush_role == "deferred")
        self.assertEqual(deferred.quantity, 60)
        self.assertEqual(deferred.stock_valuation_layer_ids.backflush_role, "deferred")
        retry_run = mo.backflush_run_ids.filtered(lambda r: r.trigger == "retry")
        self.assertEqual(retry_run.line_ids.consumed_qty, 60)
        self.assertAlmostEqual(retry_run.line_ids.value, 180)
        # the finished goods carry the late consumption
        self.assertAlmostEqual(
            self._layers_value(mo.move_finished_ids), 300 * 2 + 100 * 10 + 60 * 3
        )
        finished_layer = mo.move_finished_ids.stock_valuation_layer_ids.filtered(
            "quantity"
        )
        self.assertAlmostEqual(finished_layer.remaining_value, 1600 + 180)

        self._stock(self.leg, 100)
        self.env.ref("mrp_backflush.ir_cron_backflush_retry").method_direct_trigger()
        self.assertEqual((exc.quantity, exc.posted_qty, exc.state), (0, 100, "done"))
        self.assertEqual(self._qty(self.leg), 60)
        self._assert_required(mo, self.leg, 400)
        self.assertEqual(mo.backflush_pending_count, 0)
        with self.assertRaisesRegex(UserError, "Only pending"):
            exc.action_retry()
        self.assertEqual(self._qty(self.leg), 60)

    def test_defer_avco_finished_cost(self):
        self.chair.categ_id = self.categ_avco
        self.bom.backflush_shortage_policy = "defer"
        mo = self._mo(self.bom, 100)
        mo.button_mark_done()
        self.assertAlmostEqual(self.chair.standard_price, 16.0)  # (600 + 1000) / 100
        # half of the chairs leave before the missing legs arrive
        self._stock(self.chair, 50)  # inventory to 50: 50 chairs out
        self._stock(self.leg, 100)
        mo.backflush_exception_ids.action_retry()
        # 100 legs at 2.0 = 200, half of it on the 50 chairs still in stock
        self.assertAlmostEqual(self.chair.standard_price, 16.0 + 100 / 50)
        self.assertAlmostEqual(self.chair.value_svl, 50 * 18.0)

    def test_defer_automated_valuation_entry(self):
        categ = self.env["product.category"].create(
            {
                "name": "Automated FIFO",
                "property_cost_method": "fifo",
                "property_valuation": "real_time",
            }
        )
        (self.chair | self.leg | self.seat).categ_id = categ
        self.bom.backflush_shortage_policy = "defer"
        mo = self._mo(self.bom, 100)
        mo.button_mark_done()
        self._stock(self.leg, 100)
        mo.backflush_exception_ids.action_retry()
        catch_up = mo.move_finished_ids.stock_valuation_layer_ids.filtered(
            lambda line: line.backflush_role == "finished_value"
        )
        self.assertAlmostEqual(catch_up.value, 200.0)
        self.assertTrue(catch_up.account_move_id)
        stock_account = categ.property_stock_valuation_account_id
        debit = sum(
            catch_up.account_move_id.line_ids.filtered(
                lambda line: line.account_id == stock_account
            ).mapped("debit")
        )
        self.assertAlmostEqual(debit, 200.0)

    def test_mixed_policies_mass_mark_done(self):
        bom_defer = self._bom(
            self.chair, [(self.leg, 4)], backflush_shortage_policy="defer"
        )
        bom_negative = self._bom(
            self.chair, [(self.leg, 4)], backflush_shortage_policy="negative"
        )
        mo_defer = self._mo(bom_defer, 50)  # 200 legs
        mo_negative = self._mo(bom_negative, 50)  # 200 more: 100 short
        (mo_defer | mo_negative).button_mark_done()
        self.assertEqual(self._qty(self.leg), -100)
        self.assertFalse(mo_defer.backflush_exception_ids)
        line = mo_negative.backflush_run_ids.line_ids
        self.assertEqual((line.consumed_qty, line.shortage_qty), (200, 100))

    def test_cancel_exception_manager_only(self):
        self.bom.backflush_shortage_policy = "defer"
        mo = self._mo(self.bom, 100)
        mo.button_mark_done()
        exc = mo.backflush_exception_ids
        with self.assertRaises(UserError):
            exc.with_user(self.operator)._cancel("not my job")
        wizard = Form(
            self.env["mrp.backflush.exception.cancel"]
            .with_user(self.manager)
            .with_context(**exc.with_user(self.manager).action_cancel()["context"])
        )
        wizard.reason = "legs were found broken, written off"
        wizard.save().action_confirm()
        self.assertEqual(exc.state, "cancel")
        self.assertTrue(
            any("written off" in body for body in exc.message_ids.mapped("body"))
        )
        self._stock(self.leg, 100)
        with self.assertRaisesRegex(UserError, "Only pending"):
            exc.action_retry()
        self.assertEqual(self._qty(self.leg), 100)

    def test_own_reservation_counts_as_available(self):
        """Stock reserved by the MO itself is available to its backflush,
        stock reserved by another document is not."""
        self.bom.backflush_shortage_policy = "block"
        other = self._mo(self.bom, 50)  # reserves 200 legs
        self.assertEqual(
            other.move_raw_ids.filtered(lambda m: m.product_id == self.leg).quantity,
            200,
        )
        mo = self._mo(self.bom, 30)  # only 100 free
        with self.assertRaisesRegex(UserError, "100.0 available, 20.0 missing"):
            self._mark_done_request(mo)
        other.button_mark_done()
        self.assertEqual(self._qty(self.leg), 100)
