# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Staged material (SPEC §4): with manufacture in 2 or 3 steps, an order
consumes what was picked to pre-production for it, no other order takes
it, and its leftovers follow the BOM's leftover policy."""

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestStaging(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.warehouse.manufacture_steps = "pbm"
        cls.pre = cls.warehouse.pbm_loc_id
        cls.chair = cls._product("Staged Chair", 0.0)
        cls.leg = cls._product("Staged Leg", 2.0, tracking="lot")
        cls.seat = cls._product("Staged Seat", 10.0)
        cls.lot1, cls.lot2 = cls.env["stock.lot"].create(
            [{"name": name, "product_id": cls.leg.id} for name in ("LEG-1", "LEG-2")]
        )
        cls._stock(cls.leg, 100, lot=cls.lot1)
        cls._stock(cls.leg, 100, lot=cls.lot2)
        cls._stock(cls.seat, 100)
        cls.bom = cls._bom(cls.chair, [(cls.leg, 4), (cls.seat, 1)])

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def _lots_consumed(self, mo, product):
        lines = mo.move_raw_ids.filtered(
            lambda m: m.product_id == product and m.state == "done"
        ).move_line_ids
        consumed = {}
        for line in lines:
            consumed[line.lot_id] = consumed.get(line.lot_id, 0.0) + line.quantity
        return consumed

    def _returns(self, mo):
        return mo.picking_ids.filtered(lambda p: p.return_id)

    # ------------------------------------------------------------------
    # whose stock
    # ------------------------------------------------------------------
    def test_two_orders_each_consume_their_own_lot(self):
        mo_a = self._mo(self.bom, 5)
        mo_b = self._mo(self.bom, 5)
        self._pick(mo_a, {(self.leg, self.lot1): 20, self.seat: 5})
        self._pick(mo_b, {(self.leg, self.lot2): 20, self.seat: 5})
        # B's reservation undone: nothing tells A's lot from B's but staging
        mo_a.do_unreserve()
        mo_b.do_unreserve()
        (mo_b | mo_a).button_mark_done()
        self.assertEqual(mo_a.state, "done")
        self.assertEqual(mo_b.state, "done")
        self.assertEqual(self._lots_consumed(mo_a, self.leg), {self.lot1: 20})
        self.assertEqual(self._lots_consumed(mo_b, self.leg), {self.lot2: 20})
        self.assertEqual(self._qty(self.leg, self.pre), 0)
        self._assert_ledger_balanced(mo_a)
        self._assert_ledger_balanced(mo_b)

    def test_an_order_not_picked_never_takes_staged_stock(self):
        self.bom.backflush_shortage_policy = "block"
        picked = self._mo(self.bom, 5)
        waiting = self._mo(self.bom, 5)
        # Picked more than needed: the extra is the picked order's too.
        self._pick(picked, {(self.leg, self.lot1): 24, self.seat: 10})
        with self.assertRaisesRegex(UserError, "Staged Seat needs 5"):
            self._mark_done_request(waiting)
        self.assertEqual(waiting.state, "confirmed")
        picked.button_mark_done()
        self.assertEqual(self._lots_consumed(picked, self.leg), {self.lot1: 20})
        # Done, its leftovers (kept) are free for the next order.
        self.bom.backflush_shortage_policy = "defer"
        waiting.button_mark_done()
        self.assertEqual(waiting.state, "done")
        self.assertEqual(self._lots_consumed(waiting, self.leg), {self.lot1: 4})
        self.assertEqual(waiting.backflush_exception_ids.quantity, 16)
        self.assertEqual(self._qty(self.seat, self.pre), 0)
        self._assert_ledger_balanced(waiting)

    def test_an_order_not_picked_takes_free_lots_not_staged_ones(self):
        self.bom.backflush_shortage_policy = "defer"
        picked = self._mo(self.bom, 5)
        waiting = self._mo(self.bom, 5)
        self._pick(picked, {(self.leg, self.lot1): 24, self.seat: 5})
        self._stock(self.leg, 4, self.pre, lot=self.lot2)  # staged for no one
        waiting.button_mark_done()
        self.assertEqual(self._lots_consumed(waiting, self.leg), {self.lot2: 4})
        self.assertEqual(
            {(e.product_id, e.quantity) for e in waiting.backflush_exception_ids},
            {(self.leg, 16), (self.seat, 5)},
        )
        picked.button_mark_done()
        self.assertEqual(self._lots_consumed(picked, self.leg), {self.lot1: 20})
        self._assert_ledger_balanced(waiting)
        self._assert_ledger_balanced(picked)

    def test_orders_done_together_each_take_their_own(self):
        # the order not picked comes first in the selection
        waiting = self._mo(self.bom, 5)
        picked = self._mo(self.bom, 5)
        self._pick(picked, {(self.leg, self.lot1): 20, self.seat: 5})
        (waiting | picked).button_mark_done()
        self.assertEqual(picked.state, "done")
        self.assertEqual(waiting.state, "done")
        lines = (waiting | picked).backflush_run_ids.line_ids
        short = {
            (line.production_id, line.product_id): line.shortage_action
            for line in lines
            if line.shortage_qty
        }
        # negative for the seat, deferred for the lot-tracked leg (no lot)
        self.assertEqual(
            short, {(waiting, self.seat): "negative", (waiting, self.leg): "defer"}
        )
        self.assertEqual(self._lots_consumed(picked, self.leg), {self.lot1: 20})
        self.assertEqual(self._lots_consumed(waiting, self.leg), {})
        self._assert_ledger_balanced(waiting)
        self._assert_ledger_balanced(picked)

    def test_preview_shows_the_staged_stock_only_to_its_order(self):
        self.bom.backflush_shortage_policy = "defer"
        picked = self._mo(self.bom, 5)
        waiting = self._mo(self.bom, 5)
        self._pick(picked, {(self.leg, self.lot1): 20, self.seat: 10})
        engine = self.env["mrp.backflush.engine"]
        plan = engine._plan(waiting, "mark_done")
        self.assertEqual({line.available_qty for line in plan.lines.lines}, {0.0})
        plan = engine._plan(picked | waiting, "mark_done")
        available = {
            (line.requirement.key, line.available_qty) for line in plan.lines.lines
        }
        seats = (picked | waiting).move_raw_ids.filtered(
            lambda m: m.product_id == self.seat
        )
        self.assertIn((seats[0].id, 10.0), available)
        self.assertIn((seats[1].id, 0.0), available)

    # ------------------------------------------------------------------
    # under-picks
    # ------------------------------------------------------------------
    def test_under_pick_blocked(self):
        self.bom.backflush_shortage_policy = "block"
        mo = self._mo(self.bom, 5)
        self._pick(mo, {(self.leg, self.lot1): 20, self.seat: 3})
        with self.assertRaisesRegex(UserError, "Staged Seat needs 5"):
            self._mark_done_request(mo)

    def test_under_pick_negative(self):
        mo = self._mo(self.bom, 5)
        self._pick(mo, {(self.leg, self.lot1): 20, self.seat: 3})
        mo.button_mark_done()
        seat_line = mo.backflush_run_ids.line_ids.filtered(
            lambda ln: ln.product_id == self.seat
        )
        self.assertEqual(seat_line.shortage_qty, 2)
        self.assertEqual(seat_line.shortage_action, "negative")
        self.assertEqual(self._qty(self.seat, self.pre), -2)
        self._assert_ledger_balanced(mo)

    def test_under_pick_deferred_is_posted_when_the_rest_is_picked(self):
        self.bom.backflush_shortage_policy = "defer"
        mo = self._mo(self.bom, 5)
        other = self._mo(self.bom, 5)
        self._pick(mo, {(self.leg, self.lot1): 12, self.seat: 5}, backorder=True)
        # picked beyond its need: the 4 extra legs of lot 1 are its own too
        self._pick(other, {(self.leg, self.lot1): 24, self.seat: 5})
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        exception = mo.backflush_exception_ids
        self.assertEqual(exception.product_id, self.leg)
        self.assertEqual(exception.quantity, 8)
        self._assert_ledger_balanced(mo)
        # the pick's backorder arrives: the shortage is posted at once
        self._pick(mo, {(self.leg, self.lot2): 8})
        self.assertEqual(exception.state, "done")
        self.assertEqual(
            self._lots_consumed(mo, self.leg), {self.lot1: 12, self.lot2: 8}
        )
        self.assertEqual(self._qty(self.leg, self.pre), 24)
        self._assert_ledger_balanced(mo)

    # ------------------------------------------------------------------
    # leftovers
    # ------------------------------------------------------------------
    def _over_picked(self, policy):
        self.bom.backflush_leftover_policy = policy
        mo = self._mo(self.bom, 5)
        self._pick(
            mo, {(self.leg, self.lot1): 22, (self.leg, self.lot2): 4, self.seat: 6}
        )
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self._assert_ledger_balanced(mo)
        return mo

    def test_over_pick_kept(self):
        mo = self._over_picked("keep")
        self.assertFalse(self._returns(mo))
        self.assertFalse(mo.backflush_run_ids.leftover_picking_ids)
        self.assertEqual(self._qty(self.leg, self.pre), 6)
        self.assertEqual(self._qty(self.seat, self.pre), 1)

    def test_over_pick_returned(self):
        mo = self._over_picked("return")
        consumed = self._lots_consumed(mo, self.leg)
        self.assertEqual(sum(consumed.values()), 20)
        ret = self._returns(mo)
        self.assertEqual(ret.state, "done")
        self.assertEqual(ret.location_dest_id, self.stock_location)
        self.assertEqual(mo.backflush_run_ids.leftover_picking_ids, ret)
        self.assertEqual(self._qty(self.leg, self.pre), 0)
        self.assertEqual(self._qty(self.seat, self.pre), 0)
        returned = {(ml.product_id, ml.lot_id): ml.quantity for ml in ret.move_line_ids}
        self.assertEqual(
            returned,
            {
                (self.leg, self.lot1): 22 - consumed.get(self.lot1, 0),
                (self.leg, self.lot2): 4 - consumed.get(self.lot2, 0),
                (self.seat, self.env["stock.lot"]): 1,
            },
        )
        self.assertEqual(self._qty(self.seat), 100 - 5)
        message = mo.message_ids.filtered(lambda m: "Leftovers" in m.body)
        self.assertIn("returned to WH/Stock", message.body)
        self.assertIn(ret.name, message.body)
        self.assertIn("Staged Leg, lot LEG-1: 2.00 Units", message.body)
        # the Components tab: staged, consumed, returned
        self.assertTrue(mo.backflush_is_staged)
        legs = mo.move_raw_ids.filtered(lambda m: m.product_id == self.leg)
        self.assertEqual(legs.backflush_staged_qty, 26)
        self.assertEqual(legs.quantity, 20)
        self.assertEqual(legs.backflush_staged_returned_qty, 6)
        arch = mo.get_views([(False, "form")])["views"]["form"]["arch"]
        for name in ("backflush_staged_qty", "backflush_staged_returned_qty"):
            self.assertIn(f'name="{name}"', arch)

    def test_over_pick_proposed(self):
        mo = self._over_picked("propose")
        ret = self._returns(mo)
        self.assertEqual(ret.state, "assigned")
        self.assertEqual(self._qty(self.leg, self.pre), 6)
        self.assertEqual(sum(ret.move_ids.mapped("quantity")), 7)
        ret.button_validate()
        self.assertEqual(self._qty(self.leg, self.pre), 0)
        self.assertEqual(self._qty(self.seat, self.pre), 0)

    def test_leftovers_returned_when_the_last_work_order_finishes(self):
        self.env.user.groups_id += self.env.ref("mrp.group_mrp_routings")
        workcenter = self.env["mrp.workcenter"].create(
            {"name": "Staged cell", "time_start": 0}
        )
        bom = self._bom(
            self.chair,
            [(self.leg, 4), (self.seat, 1)],
            backflush_mode="operation",
            backflush_leftover_policy="return",
            operation_ids=[
                Command.create({"name": "Legs", "workcenter_id": workcenter.id}),
                Command.create({"name": "Seat", "workcenter_id": workcenter.id}),
            ],
        )
        legs_op, seat_op = bom.operation_ids
        bom.bom_line_ids[0].operation_id = legs_op
        mo = self._mo(bom, 5)
        self._pick(mo, {(self.leg, self.lot1): 22, self.seat: 7})
        legs_wo, seat_wo = mo.workorder_ids
        legs_wo.button_start()
        legs_wo.button_finish()
        # not the last work order: nothing goes back yet
        self.assertFalse(self._returns(mo))
        seat_wo.button_start()
        seat_wo.button_finish()
        # the legs were consumed in their operation; the seats (no
        # operation) are consumed at Mark Done, their leftovers then
        ret = self._returns(mo)
        self.assertEqual(
            {(ml.product_id, ml.quantity) for ml in ret.move_line_ids}, {(self.leg, 2)}
        )
        self.assertEqual(ret.state, "done")
        mo.button_mark_done()
        ret = self._returns(mo)
        self.assertEqual(len(ret), 2)
        self.assertEqual(
            {(ml.product_id, ml.quantity) for ml in ret.move_line_ids},
            {(self.leg, 2), (self.seat, 2)},
        )
        self.assertEqual(self._qty(self.leg, self.pre), 0)
        self.assertEqual(self._qty(self.seat, self.pre), 0)
        self._assert_ledger_balanced(mo)

    def test_leftovers_never_more_than_staged_for_the_order(self):
        self.bom.backflush_leftover_policy = "return"
        self._stock(self.seat, 10, self.pre)  # not staged for anyone
        mo = self._mo(self.bom, 5)
        self._pick(mo, {(self.leg, self.lot1): 20, self.seat: 6})
        mo.button_mark_done()
        self.assertEqual(sum(self._returns(mo).move_ids.mapped("quantity")), 1)
        self.assertEqual(self._qty(self.seat, self.pre), 10)

    def test_goods_received_for_the_order_are_not_staged(self):
        self.warehouse.manufacture_steps = "mrp_one_step"
        self.bom.backflush_leftover_policy = "return"
        mo = self._mo(self.bom, 5)
        seats = mo.move_raw_ids.filtered(lambda m: m.product_id == self.seat)
        receipt = self.env["stock.picking"].create(
            {
                "picking_type_id": self.warehouse.in_type_id.id,
                "location_id": self.env.ref("stock.stock_location_suppliers").id,
                "location_dest_id": self.stock_location.id,
                "move_ids": [
                    Command.create(
                        {
                            "name": "Seats for the order",
                            "product_id": self.seat.id,
                            "product_uom_qty": 8,
                            "location_id": self.env.ref(
                                "stock.stock_location_suppliers"
                            ).id,
                            "location_dest_id": self.stock_location.id,
                            "move_dest_ids": [Command.link(seats.id)],
                        }
                    )
                ],
            }
        )
        receipt.action_confirm()
        receipt.move_ids.quantity = 8
        receipt.move_ids.picked = True
        receipt.button_validate()
        self.assertEqual(receipt.state, "done")
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertFalse(mo.backflush_is_staged)
        self.assertFalse(
            self.env["stock.picking"].search([("return_id", "=", receipt.id)])
        )

    # ------------------------------------------------------------------
    # steps, transfers and backorders
    # ------------------------------------------------------------------
    def test_three_steps_with_the_store_step(self):
        self.warehouse.manufacture_steps = "pbm_sam"
        self.bom.backflush_leftover_policy = "return"
        mo = self._mo(self.bom, 5)
        self._pick(mo, {(self.leg, self.lot2): 24, self.seat: 5})
        mo.button_mark_done()
        self.assertEqual(self._lots_consumed(mo, self.leg), {self.lot2: 20})
        self.assertEqual(self._returns(mo).state, "done")
        self.assertEqual(self._qty(self.leg, self.pre), 0)
        store = mo.picking_ids.filtered(
            lambda p: p.picking_type_id == self.warehouse.sam_type_id
        )
        self.assertEqual(store.move_ids.product_id, self.chair)
        store.button_validate()
        self.assertEqual(self._qty(self.chair), 5)
        self._assert_ledger_balanced(mo)

    def test_three_steps_over_pick_returned_then_unbuilt(self):
        """3 steps, over-picked, leftovers returned, the goods stored, then
        2 of 5 unbuilt: the unbuild gives back the share of what was
        consumed (8 legs, 2 seats), never the leftovers already returned,
        to its destination (Odoo's: the stock the pick took them from; or
        pre-production, where they were consumed), and no further return
        follows."""
        self.warehouse.manufacture_steps = "pbm_sam"
        self.bom.backflush_leftover_policy = "return"
        stock = self.stock_location
        for destination in (stock, self.pre):
            with (
                self.subTest(destination=destination.display_name),
                self.env.cr.savepoint() as savepoint,
            ):
                legs, seats = self._qty(self.leg), self._qty(self.seat)
                mo = self._mo(self.bom, 5)
                self._pick(mo, {(self.leg, self.lot1): 22, self.seat: 6})
                mo.button_mark_done()
                ret = self._returns(mo)
                self.assertEqual(ret.state, "done")
                store = mo.picking_ids.filtered(
                    lambda p: p.picking_type_id == self.warehouse.sam_type_id
                )
                store.button_validate()
                form = Form(self.env["mrp.unbuild"])
                form.mo_id = mo
                form.product_qty = 2
                unbuild = form.save()
                self.assertEqual(unbuild.location_dest_id, stock)
                unbuild.location_dest_id = destination
                unbuild.action_unbuild()
                back = unbuild.produce_line_ids.filtered(
                    lambda m: m.product_id != self.chair
                )
                self.assertEqual(back.location_dest_id, destination)
                self.assertEqual(
                    {(m.product_id, m.quantity) for m in back},
                    {(self.leg, 8), (self.seat, 2)},
                )
                self.assertEqual(back.move_line_ids.lot_id, self.lot1)
                in_pre = 8 if destination == self.pre else 0
                self.assertEqual(self._qty(self.leg, self.pre), in_pre)
                self.assertEqual(self._qty(self.leg), legs - 20 + 8 - in_pre)
                self.assertEqual(self._qty(self.seat), seats - 5 + 2 - in_pre / 4)
                self.assertEqual(self._returns(mo), ret)
                self._assert_ledger_balanced(mo)
                savepoint.rollback()

    def test_pick_in_several_transfers(self):
        self.bom.backflush_leftover_policy = "return"
        mo = self._mo(self.bom, 5)
        self._pick(mo, {(self.leg, self.lot1): 12, self.seat: 5}, backorder=True)
        self._pick(mo, {(self.leg, self.lot2): 10})
        mo.button_mark_done()
        self.assertEqual(
            self._lots_consumed(mo, self.leg), {self.lot1: 12, self.lot2: 8}
        )
        ret = self._returns(mo)
        self.assertEqual(
            {(ml.lot_id, ml.quantity) for ml in ret.move_line_ids}, {(self.lot2, 2)}
        )
        self.assertEqual(self._qty(self.leg, self.pre), 0)
        self._assert_ledger_balanced(mo)

    def test_order_backorder_returns_once_the_family_is_done(self):
        self.bom.backflush_leftover_policy = "return"
        mo = self._mo(self.bom, 10)
        self._pick(mo, {(self.leg, self.lot1): 44, self.seat: 10})
        backorder = self._backorder(mo, 4)
        self.assertFalse(self._returns(mo))
        self.assertEqual(self._qty(self.leg, self.pre), 28)
        self._assert_ledger_balanced(mo)
        backorder.button_mark_done()
        self.assertEqual(self._lots_consumed(backorder, self.leg), {self.lot1: 24})
        ret = self._returns(backorder)
        self.assertEqual(sum(ret.move_ids.mapped("quantity")), 4)
        self.assertEqual(self._qty(self.leg, self.pre), 0)
        self._assert_ledger_balanced(backorder)

    def test_unbuild_and_correction_keep_the_ledger(self):
        self.bom.backflush_leftover_policy = "return"
        mo = self._mo(self.bom, 5)
        self._pick(mo, {(self.leg, self.lot1): 22, self.seat: 5})
        mo.button_mark_done()
        self._assert_ledger_balanced(mo)
        manager = self.env.ref("base.user_admin")
        wizard = self.env["mrp.backflush.correction"].browse(
            mo.with_user(manager).action_backflush_correct()["res_id"]
        )
        wizard.line_ids.filtered(lambda ln: ln.product_id == self.seat).qty_used = 6
        wizard.reason_tag_ids = [Command.create({"name": "Broken seat"})]
        wizard.action_confirm()
        self._assert_ledger_balanced(mo)
        self._unbuild(mo, 2)
        self._assert_ledger_balanced(mo)
        self.assertEqual(self._qty(self.leg, self.pre), 0)
