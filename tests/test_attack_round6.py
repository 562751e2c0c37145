# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Adversarial round 6: what an operator sends by mistake or on purpose
(station endpoint, monitor, serials, staging). Each test asserts the right
behaviour."""

import contextlib

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from .common import BackflushCase

CLEAR_ERRORS = (UserError, AccessError, ValidationError)


@tagged("post_install", "-at_install")
class TestAttackRound6(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.groups_id += cls.env.ref("stock.group_production_lot")
        cls.chair = cls._product("Attack Chair", 0.0, barcode="ATK-CHAIR")
        cls.leg = cls._product("Attack Leg", 2.0, default_code="ATK-LEG")
        cls.sensor = cls._product("Attack Sensor", 5.0, tracking="serial")
        cls.radio = cls._product("Attack Radio", 0.0)
        cls.bom = cls._bom(cls.chair, [(cls.leg, 4)])
        cls.bom_defer = cls._bom(
            cls.chair, [(cls.leg, 4)], backflush_shortage_policy="defer"
        )
        cls.bom_radio = cls._bom(cls.radio, [(cls.sensor, 1)])
        cls.Production = cls.env["mrp.production"]
        cls.operator = cls._operator("bf_attack_operator")
        cls.manager = cls._manager("bf_attack_manager")

    def _serials(self, *names, product=None, stock=True):
        product = product or self.sensor
        lots = self.env["stock.lot"].create(
            [{"name": name, "product_id": product.id} for name in names]
        )
        if stock:
            for lot in lots:
                self._stock(product, 1, lot=lot)
        return lots

    # -- station: numbers ---------------------------------------------------
    def test_report_huge_integer_qty_is_refused_clearly(self):
        """JSON-RPC carries integers of any size: 10**400 is no float."""
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 2)
        Production = self.Production.with_user(self.operator)
        for call in (
            lambda: Production.backflush_report(
                {"production": mo.name, "qty": 10**400, "idempotency_key": "H1"}
            ),
            lambda: Production.backflush_report(
                {
                    "production": mo.name,
                    "qty": 1,
                    "idempotency_key": "H2",
                    "component_lots": [{"product": "ATK-LEG", "qty": -(10**400)}],
                }
            ),
            lambda: Production.backflush_station_read(mo.name, 10**400),
        ):
            with self.assertRaisesRegex(UserError, "qty"):
                call()
        self.assertEqual(mo.state, "confirmed")

    def test_report_zero_component_qty_keeps_ledger(self):
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 2)
        self.Production.with_user(self.operator).backflush_report(
            {
                "production": mo.name,
                "qty": 2,
                "idempotency_key": "Z1",
                "component_lots": [{"product": "ATK-LEG", "qty": 0}],
            }
        )
        self.assertEqual(mo.state, "done")
        self._assert_ledger_balanced(mo)

    def test_report_same_serial_twice(self):
        bom = self._bom(self.radio, [(self.sensor, 2)])
        lots = self._serials("DUP-1")
        mo = self._mo(bom, 1)
        barcode = "ATK-SENSOR"
        self.sensor.barcode = barcode
        with contextlib.suppress(*CLEAR_ERRORS):
            self.Production.with_user(self.operator).backflush_report(
                {
                    "production": mo.name,
                    "qty": 1,
                    "idempotency_key": "S1",
                    "component_lots": [
                        {"product": barcode, "lot": lots.name, "qty": 1},
                        {"product": barcode, "lot": lots.name, "qty": 1},
                    ],
                }
            )
        # one serial number is never consumed twice
        self.assertGreaterEqual(self._qty(self.sensor), 0)
        consumed = mo.move_raw_ids.filtered(lambda m: m.state == "done")
        self.assertLessEqual(
            sum(
                consumed.move_line_ids.filtered(lambda ml: ml.lot_id == lots).mapped(
                    "quantity"
                )
            ),
            1,
        )

    # -- monitor guards -------------------------------------------------------
    def _deferred(self, qty=2):
        mo = self._mo(self.bom_defer, qty)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        exc = mo.backflush_exception_ids
        self.assertEqual(exc.state, "pending")
        return mo, exc

    def test_unlock_by_write_is_guarded_too(self):
        """The web client's Unlock button calls action_toggle_is_locked; an
        RPC write of is_locked is the same edit."""
        mo, exc = self._deferred()
        with self.assertRaisesRegex(UserError, "Backflush Monitor"):
            mo.with_user(self.operator).write({"is_locked": False})
        self.assertTrue(mo.is_locked)

    def test_edit_of_done_consumption_is_guarded_too(self):
        """Editing a done component's move line over RPC is the edit the
        unlock guard stands before: pending postings need a decision."""
        seat = self._product("Attack Seat", 3.0)
        self._stock(seat, 10)
        bom = self._bom(
            self.chair, [(self.leg, 4), (seat, 1)], backflush_shortage_policy="defer"
        )
        mo = self._mo(bom, 2)
        mo.button_mark_done()
        self.assertEqual(mo.backflush_exception_ids.state, "pending")
        line = mo.move_raw_ids.filtered(lambda m: m.product_id == seat).move_line_ids
        with self.assertRaisesRegex(UserError, "Backflush Monitor"):
            line.with_user(self.operator).write({"quantity": 5})
        self.assertEqual(self._qty(seat), 8)

    def test_bulk_retry_across_companies(self):
        """A manager of two companies retries the pending postings of both
        at once from the monitor."""
        company_b = self.env["res.company"].create({"name": "Attack Retry B"})
        self.env.user.company_ids += company_b
        env_b = self.env(
            context=dict(self.env.context, allowed_company_ids=[company_b.id])
        )
        wh_b = env_b["stock.warehouse"].search([("company_id", "=", company_b.id)])
        stool = env_b["product.product"].create(
            {"name": "Attack B Stool", "type": "consu", "is_storable": True}
        )
        bom_b = env_b["mrp.bom"].create(
            {
                "product_tmpl_id": stool.product_tmpl_id.id,
                "company_id": company_b.id,
                "backflush_shortage_policy": "defer",
                "bom_line_ids": [
                    Command.create({"product_id": self.leg.id, "product_qty": 2})
                ],
            }
        )
        mo_b = env_b["mrp.production"].create(
            {
                "product_id": stool.id,
                "bom_id": bom_b.id,
                "product_qty": 1,
                "picking_type_id": wh_b.manu_type_id.id,
            }
        )
        mo_b.action_confirm()
        mo_b.button_mark_done()
        mo_a, exc_a = self._deferred(1)
        exc_b = mo_b.backflush_exception_ids
        self.assertEqual(exc_b.state, "pending")
        self._stock(self.leg, 10)
        env_b["stock.quant"].with_context(inventory_mode=True).create(
            {
                "product_id": self.leg.id,
                "location_id": wh_b.lot_stock_id.id,
                "inventory_quantity": 10,
            }
        ).action_apply_inventory()
        both = self.env(
            context=dict(
                self.env.context, allowed_company_ids=[self.company.id, company_b.id]
            )
        )["mrp.backflush.exception"].browse((exc_a | exc_b).ids)
        both.action_retry()
        self.assertEqual((exc_a | exc_b).mapped("state"), ["done", "done"])
        self.assertEqual(self._qty(self.leg), 6)
        self.assertEqual(self._qty(self.leg, wh_b.lot_stock_id), 8)

    def test_retry_after_unbuild(self):
        mo, exc = self._deferred(2)
        self._unbuild(mo, 2)
        self.assertNotEqual(exc.state, "pending")
        self._stock(self.leg, 100)
        with self.assertRaises(UserError):
            exc.with_user(self.operator).action_retry()
        self.assertEqual(self._qty(self.leg), 100)
        self._assert_ledger_balanced(mo)

    def test_retry_after_partial_unbuild(self):
        mo, exc = self._deferred(2)
        self._unbuild(mo, 1)
        self.assertEqual(exc.quantity, 4)
        self._stock(self.leg, 100)
        exc.with_user(self.operator).action_retry()
        self.assertEqual(exc.state, "done")
        self.assertEqual(self._qty(self.leg), 96)
        self._assert_ledger_balanced(mo)

    # -- serials wizard -------------------------------------------------------
    def _serial_pending(self, qty=1):
        mo = self._mo(self.bom_radio, qty)
        mo.button_mark_done()
        exc = mo.backflush_exception_ids
        self.assertEqual(exc.cause, "lot_required")
        return mo, exc

    def _record(self, exc, lots, user=None):
        wizard = (
            self.env["mrp.backflush.exception.serials"]
            .with_user(user or self.operator)
            .create({"exception_id": exc.id, "lot_ids": [Command.set(lots.ids)]})
        )
        return wizard.action_confirm()

    def test_serials_more_than_pending_post_only_pending(self):
        mo, exc = self._serial_pending(1)
        lots = self._serials("M1", "M2", "M3")
        self._record(exc, lots)
        self.assertEqual(exc.state, "done")
        self.assertEqual(self._qty(self.sensor), 2)
        self._assert_ledger_balanced(mo)

    def test_serials_already_consumed_stay_pending(self):
        mo, exc = self._serial_pending(1)
        other, other_exc = self._serial_pending(1)
        lots = self._serials("C1")
        self._record(other_exc, lots)
        self.assertEqual(other_exc.state, "done")
        self._record(exc, lots)
        self.assertEqual(exc.state, "pending")
        self.assertEqual(self._qty(self.sensor), 0)

    def test_report_serial_consumed_by_another_order(self):
        """A serial number already consumed is not consumed again."""
        self.sensor.barcode = "ATK-SENSOR"
        lot = self._serials("TWICE-1")
        first = self._mo(self.bom_radio, 1)
        first.button_mark_done()
        self.assertEqual(first.move_raw_ids.move_line_ids.lot_id, lot)
        second = self._mo(self.bom_radio, 1)
        with contextlib.suppress(*CLEAR_ERRORS):
            self.Production.with_user(self.operator).backflush_report(
                {
                    "production": second.name,
                    "qty": 1,
                    "idempotency_key": "TW1",
                    "component_lots": [
                        {"product": "ATK-SENSOR", "lot": "TWICE-1", "qty": 1}
                    ],
                }
            )
        self.assertEqual(self._qty(self.sensor), 0)

    def test_serials_of_another_product_refused(self):
        mo, exc = self._serial_pending(1)
        other = self._product("Attack Other", 1.0, tracking="serial")
        lots = self._serials("O1", product=other)
        with self.assertRaisesRegex(UserError, "not serial numbers of"):
            self._record(exc, lots)

    def test_serials_of_another_company_refused(self):
        mo, exc = self._serial_pending(1)
        company_b = self.env["res.company"].create({"name": "Attack B"})
        lot = self.env["stock.lot"].create(
            {"name": "B1", "product_id": self.sensor.id, "company_id": company_b.id}
        )
        with self.assertRaisesRegex(UserError, "another company"):
            self._record(exc, lot)
        self.assertEqual(exc.state, "pending")
        self.assertFalse(exc.lot_ids)

    # -- context keys -----------------------------------------------------------
    def test_push_rule_cache_context_from_outside(self):
        """A context key the module reads, sent over RPC with any value."""
        self._stock(self.leg, 10)
        picking = self.env["stock.picking"].create(
            {
                "picking_type_id": self.warehouse.int_type_id.id,
                "location_id": self.stock_location.id,
                "location_dest_id": self.stock_location.id,
                "move_ids": [
                    Command.create(
                        {
                            "name": "x",
                            "product_id": self.leg.id,
                            "product_uom_qty": 1,
                            "location_id": self.stock_location.id,
                            "location_dest_id": self.stock_location.id,
                        }
                    )
                ],
            }
        )
        picking.action_confirm()
        picking.move_ids.quantity = 1
        picking.move_ids.picked = True
        picking.with_user(self.operator).with_context(
            backflush_push_rule_cache=1
        ).button_validate()
        self.assertEqual(picking.state, "done")

    # -- protected fields -----------------------------------------------------
    def test_queue_fields_written_by_the_module_only(self):
        """An operator marks an order as failed in the background, or makes
        another user the owner of a Mark Done round."""
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 1)
        for vals in (
            {"backflush_queue_error": "forged failure"},
            {"backflush_queue_round_user_id": self.manager.id},
        ):
            with self.assertRaisesRegex(AccessError, "only the backflush writes"):
                mo.with_user(self.operator).write(vals)
        self.assertFalse(mo.backflush_queue_error)
        self.assertFalse(mo.backflush_queue_round_user_id)

    def test_copy_of_a_posted_move_is_clear(self):
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 1)
        mo.button_mark_done()
        move = mo.move_raw_ids.filtered(lambda m: m.backflush_role == "component")
        try:
            copy = move.with_user(self.operator).copy()
        except CLEAR_ERRORS:
            return
        self.assertFalse(copy.backflush_role)
        self.assertFalse(copy.backflush_run_id)


@tagged("post_install", "-at_install")
class TestAttackRound6Staging(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.groups_id += cls.env.ref("stock.group_production_lot")
        cls.warehouse.manufacture_steps = "pbm"
        cls.pre = cls.warehouse.pbm_loc_id
        cls.chair = cls._product("Attack Staged Chair", 0.0)
        cls.leg = cls._product("Attack Staged Leg", 2.0, tracking="lot")
        cls.lot1 = cls.env["stock.lot"].create(
            {"name": "ATK-LEG-1", "product_id": cls.leg.id}
        )
        cls._stock(cls.leg, 100, lot=cls.lot1)
        cls.bom = cls._bom(
            cls.chair, [(cls.leg, 4)], backflush_leftover_policy="return"
        )

    def test_family_closed_by_cancelling_the_backorder_returns_leftovers(self):
        """The family's last open order is cancelled: nothing of it will
        consume the staged legs any more, the policy says return them."""
        mo = self._mo(self.bom, 10)
        self._pick(mo, {(self.leg, self.lot1): 40})
        backorder = self._backorder(mo, 4)
        self.assertEqual(self._qty(self.leg, self.pre), 24)
        backorder.action_cancel()
        self.assertEqual(self._qty(self.leg, self.pre), 0)
        self.assertEqual(self._qty(self.leg), 100 - 16)

    def test_cancel_staged_order_returns_leftovers(self):
        mo = self._mo(self.bom, 5)
        self._pick(mo, {(self.leg, self.lot1): 20})
        mo.action_cancel()
        self.assertEqual(self._qty(self.leg, self.pre), 0)
        self.assertEqual(self._qty(self.leg), 100)


@tagged("post_install", "-at_install")
class TestAttackRound6Station(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.groups_id += cls.env.ref("stock.group_production_lot")
        cls.table = cls._product("Attack Table", 0.0)
        cls.leg = cls._product("Attack Table Leg", 2.0, default_code="ATK-TLEG")
        cls.operator = cls._operator("bf_attack_station_operator")

    def test_report_component_on_two_lines_not_posted_twice(self):
        """The component is on two lines of the BOM: the quantity reported
        is what was consumed of it, not what the first line consumed."""
        self._stock(self.leg, 100)
        bom = self._bom(self.table, [(self.leg, 4), (self.leg, 2)])
        mo = self._mo(bom, 1)
        self.env["mrp.production"].with_user(self.operator).backflush_report(
            {
                "production": mo.name,
                "qty": 1,
                "idempotency_key": "TWO-LINES",
                "component_lots": [{"product": "ATK-TLEG", "qty": 6}],
            }
        )
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg), 94)
        self.assertEqual(
            sorted(mo.move_raw_ids.mapped("quantity")),
            [2.0, 4.0],
            "each line its share",
        )
        self._assert_ledger_balanced(mo)

    def test_report_expired_lot_not_consumed(self):
        if "removal_date" not in self.env["stock.lot"]._fields:
            self.skipTest("product_expiry is not installed")
        from datetime import timedelta

        from odoo import fields

        milk = self._product(
            "Attack Milk",
            1.0,
            tracking="lot",
            use_expiration_date=True,
            default_code="ATK-MILK",
        )
        past = fields.Datetime.now() - timedelta(days=2)
        lot = self.env["stock.lot"].create(
            {
                "name": "ATK-OLD",
                "product_id": milk.id,
                "expiration_date": past,
                "removal_date": past,
            }
        )
        self._stock(milk, 10, lot=lot)
        bom = self._bom(self.table, [(milk, 4)])
        mo = self._mo(bom, 1)
        with contextlib.suppress(*CLEAR_ERRORS):
            self.env["mrp.production"].with_user(self.operator).backflush_report(
                {
                    "production": mo.name,
                    "qty": 1,
                    "idempotency_key": "EXPIRED",
                    "component_lots": [
                        {"product": "ATK-MILK", "lot": "ATK-OLD", "qty": 4}
                    ],
                }
            )
        self.assertEqual(
            milk.with_context(lot_id=lot.id).qty_available,
            10,
            "an expired lot is never consumed",
        )
