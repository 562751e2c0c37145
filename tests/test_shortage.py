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
        self.bom.backflush_shortage_policy = "block"
        mo = self._mo(self.bom, 100)
        with self.assertRaises(UserError) as error:
            self._mark_done_request(mo)
        message = str(error.exception)
        self.assertIn(mo.name, message)
        self.assertIn(self.leg.display_name, message)
        self.assertIn("needs 400.00 Units", message)
        self.assertIn("300.00 available, 100.00 missing", message)
        self.assertNotIn("substitutes", message)
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
        action = exc.with_user(self.operator).action_retry()
        self.assertEqual((exc.quantity, exc.posted_qty, exc.state), (40, 60, "pending"))
        # a partial retry says what it posted and what is still pending
        self.assertEqual(action["tag"], "display_notification")
        self.assertEqual(action["params"]["type"], "warning")
        self.assertIn(
            "60.00 Units posted, 40.00 Units still pending", action["params"]["message"]
        )
        self.assertIn(mo.name, action["params"]["message"])
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
        with self.assertRaisesRegex(UserError, "100.00 available, 20.00 missing"):
            self._mark_done_request(mo)
        other.button_mark_done()
        self.assertEqual(self._qty(self.leg), 100)

    # ------------------------------------------------------------------
    # defaults keep Odoo's outcome
    # ------------------------------------------------------------------
    def test_default_policy_keeps_odoo_outcome(self):
        """Nobody's Mark Done stops until an admin opts in to block/defer."""
        company = self.env["res.company"].create({"name": "New Factory"})
        self.assertEqual(company.backflush_shortage_policy, "negative")
        self.assertEqual(self.bom.backflush_shortage_policy, "negative")
        # BOMs that existed before the module was installed got it too
        odoo_demo_boms = self.env["mrp.bom"].browse(
            self.env["ir.model.data"]
            .search([("module", "=", "mrp"), ("model", "=", "mrp.bom")])
            .mapped("res_id")
        )
        self.assertTrue(odoo_demo_boms, "the test database has Odoo's demo data")
        self.assertEqual(
            set(odoo_demo_boms.mapped("backflush_shortage_policy")), {"negative"}
        )
        mo = self._mo(self.bom, 100)  # 400 legs, 300 in stock
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg), -100)
        line = mo.backflush_run_ids.line_ids.filtered(
            lambda r: r.product_id == self.leg
        )
        self.assertEqual((line.shortage_qty, line.shortage_action), (100, "negative"))

    def test_block_message_at_the_unit_precision(self):
        """7.6 Units, not 7.6000000000000005."""
        self.bom.backflush_shortage_policy = "block"
        self.bom.bom_line_ids.filtered(
            lambda r: r.product_id == self.leg
        ).product_qty = 0.76
        self.env["stock.quant"]._update_available_quantity(
            self.leg, self.stock_location, -300
        )
        mo = self._mo(self.bom, 10)
        with self.assertRaises(UserError) as error:
            self._mark_done_request(mo)
        message = str(error.exception)
        self.assertIn("needs 7.60 Units", message)
        self.assertIn("0.00 available, 7.60 missing", message)
        self.assertNotIn("0000", message)

    # ------------------------------------------------------------------
    # the retry queue survives faults
    # ------------------------------------------------------------------
    def _two_deferred_mos(self):
        """Two MOs each 20 legs short (the 300 legs go to the first)."""
        self.bom.backflush_shortage_policy = "defer"
        mo_a = self._mo(self.bom, 80)  # 320 legs: 300 posted, 20 deferred
        mo_a.button_mark_done()
        mo_b = self._mo(self.bom, 5)  # 20 legs, none left
        mo_b.button_mark_done()
        return mo_a.backflush_exception_ids, mo_b.backflush_exception_ids

    def test_retry_of_nothing_does_nothing(self):
        """Retrying no exception posts none of the pending ones."""
        exc_a, exc_b = self._two_deferred_mos()
        self._stock(self.leg, 1000)
        pending = exc_a | exc_b
        quantities = pending.mapped("quantity")
        runs = self.env["mrp.backflush.run"].search([])
        exceptions = self.env["mrp.backflush.exception"]
        self.assertIs(exceptions.action_retry(), True)
        self.assertIs(exceptions.with_user(self.operator).action_retry(), True)
        self.assertEqual(pending.mapped("state"), ["pending", "pending"])
        self.assertEqual(pending.mapped("quantity"), quantities)
        self.assertEqual(self.env["mrp.backflush.run"].search([]), runs)

    def test_deleting_a_move_a_pending_exception_needs(self):
        _exc_a, exc_b = self._two_deferred_mos()  # exc_b's move posted nothing
        with self.assertRaisesRegex(UserError, "post or cancel"):
            exc_b.move_id.with_user(self.env.ref("base.user_admin")).unlink()
        self.assertTrue(exc_b.move_id.exists())

    def test_one_broken_exception_does_not_stop_the_others(self):
        exc_a, exc_b = self._two_deferred_mos()
        # an exception whose component move is gone (deleted before this
        # module refused it): reported, not posted, the other one posts
        exc_a.sudo().move_id = False
        self._stock(self.leg, 40)
        action = (exc_a | exc_b).with_user(self.operator).action_retry()
        self.assertIn(exc_a.name, action["params"]["message"])
        self.assertNotIn("Still nothing in stock", action["params"]["message"])
        self.assertEqual((exc_a.state, exc_b.state), ("pending", "done"))
        self.assertEqual(self._qty(self.leg), 20)
        # the cron goes on the same way
        self._stock(self.leg, 40)
        exc_b_mo = exc_b.production_id
        self.env["mrp.backflush.exception"]._cron_retry()
        self.assertEqual(exc_a.state, "pending")
        self.assertEqual(len(exc_b_mo.backflush_run_ids), 2)

    def test_still_nothing_in_stock_is_true(self):
        exc_a, exc_b = self._two_deferred_mos()
        action = (exc_a | exc_b).action_retry()
        self.assertIn("Still nothing in stock", action["params"]["message"])
        # stock for one of them only: the other is still told so
        self._stock(self.leg, 20)
        action = (exc_a | exc_b).action_retry()
        self.assertEqual((exc_a.state, exc_b.state), ("done", "pending"))
        self.assertIn("Still nothing in stock", action["params"]["message"])

    # ------------------------------------------------------------------
    # subcontracted MOs are left to Odoo
    # ------------------------------------------------------------------
    def test_subcontracted_mo_is_left_to_odoo(self):
        """The subcontractor's stock is not ours to block on, and what the
        subcontractor records is what was used (mrp_subcontracting is not
        a dependency: its BOM type is set as it would store it)."""
        self.bom.write({"backflush_shortage_policy": "block", "consumption": "warning"})
        self.bom.bom_line_ids.filtered(lambda r: r.product_id == self.leg).write(
            {"scrap_percent": 10}
        )
        self.env.cr.execute(
            "UPDATE mrp_bom SET type = 'subcontract' WHERE id = %s", [self.bom.id]
        )
        self.bom.invalidate_recordset(["type"])
        mo = self.env["mrp.production"].create(
            {"product_id": self.chair.id, "bom_id": self.bom.id, "product_qty": 100}
        )
        mo.action_confirm()
        leg_move = mo.move_raw_ids.filtered(lambda m: m.product_id == self.leg)
        self.assertEqual(leg_move.product_uom_qty, 400)  # no planned scrap added
        self.assertFalse(self.env["mrp.backflush.engine"]._get_moves(mo))
        # the subcontractor records other quantities: Odoo's warning stays
        mo.qty_producing = 100
        leg_move.quantity = 350
        leg_move.picked = True
        self.assertTrue(mo._get_consumption_issues())
        # 400 legs needed, 300 in stock: posted as Odoo posts it
        leg_move.quantity = 400
        seat_move = mo.move_raw_ids - leg_move
        seat_move.quantity = 100
        seat_move.picked = True
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertFalse(mo.backflush_run_ids)
        self.assertEqual(self._qty(self.leg), -100)
