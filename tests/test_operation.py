# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import Command
from odoo.tests import tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestOperationTiming(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.workcenter = cls._workcenter("Assembly")
        cls.chair = cls._product("Chair", 0.0)
        cls.leg = cls._product("Leg", 2.0)
        cls.seat = cls._product("Seat", 10.0)
        cls.glue = cls._product("Glue", 1.0)
        for product in (cls.leg, cls.seat, cls.glue):
            cls._stock(product, 1000)
        cls.bom = cls._bom(
            cls.chair,
            [(cls.leg, 4), (cls.seat, 1), (cls.glue, 1)],
            backflush_mode="operation",
            operation_ids=[
                Command.create(
                    {"name": "Legs", "workcenter_id": cls.workcenter.id, "sequence": 1}
                ),
                Command.create(
                    {"name": "Seat", "workcenter_id": cls.workcenter.id, "sequence": 2}
                ),
            ],
        )
        op_legs, op_seat = cls.bom.operation_ids.sorted("sequence")
        lines = {line.product_id: line for line in cls.bom.bom_line_ids}
        lines[cls.leg].operation_id = op_legs
        lines[cls.seat].operation_id = op_seat
        cls.op_legs, cls.op_seat = op_legs, op_seat

    def test_lines_with_operation_keep_odoo_flag_and_are_posted(self):
        """Odoo marks lines with an operation manual; the backflush still
        posts them by its timing, and keeps what an operator typed."""
        self.bom.backflush_mode = "finish"
        mo = self._mo(self.bom, 10)
        leg_move, seat_move = (
            mo.move_raw_ids.filtered(lambda m, p=p: m.product_id == p)
            for p in (self.leg, self.seat)
        )
        self.assertTrue(leg_move.manual_consumption)
        self.assertTrue(seat_move.manual_consumption)
        self._type_quantities(mo, 10, {seat_move: 12})
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg), 960)
        self.assertEqual(self._qty(self.seat), 988)
        self.assertEqual(leg_move.backflush_role, "component")
        self.assertFalse(leg_move.backflush_recorded)
        self.assertTrue(seat_move.backflush_recorded)

    def test_post_when_work_order_finishes(self):
        mo = self._mo(self.bom, 10)
        wo_legs = mo.workorder_ids.filtered(lambda w: w.operation_id == self.op_legs)
        wo_legs.button_start()
        wo_legs.button_finish()
        self.assertEqual(self._qty(self.leg), 960)
        self.assertEqual(self._qty(self.seat), 1000)
        self.assertEqual(self._qty(self.glue), 1000)
        run = mo.backflush_run_ids
        self.assertEqual((run.trigger, run.workorder_id), ("operation", wo_legs))
        self.assertEqual(run.line_ids.product_id, self.leg)
        self.assertEqual(self._raw(mo, self.leg).state, "done")

        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg), 960)  # not posted twice
        self.assertEqual(self._qty(self.seat), 990)
        self.assertEqual(self._qty(self.glue), 990)  # no operation: at Mark Done
        self.assertEqual(
            sorted(mo.backflush_run_ids.mapped("trigger")),
            ["mark_done", "operation", "operation"],
        )
        self.assertEqual(
            sum(
                mo.backflush_run_ids.line_ids.filtered(
                    lambda line: line.product_id == self.leg
                ).mapped("consumed_qty")
            ),
            40,
        )
        # finished value includes what was posted at the work order
        self.assertAlmostEqual(
            self._layers_value(mo.move_finished_ids), 10 * (8 + 10 + 1)
        )

    def test_manual_line_inside_operation_bom(self):
        self.bom.bom_line_ids.filtered(
            lambda line: line.product_id == self.leg
        ).backflush_mode = "manual"
        mo = self._mo(self.bom, 10)
        leg_move = mo.move_raw_ids.filtered(lambda m: m.product_id == self.leg)
        self.assertTrue(leg_move.manual_consumption)
        wo_legs = mo.workorder_ids.filtered(lambda w: w.operation_id == self.op_legs)
        wo_legs.button_finish()
        self.assertFalse(mo.backflush_run_ids)
        self.assertEqual(self._qty(self.leg), 1000)

    def test_partial_work_order_and_backorder(self):
        mo = self._mo(self.bom, 10)
        mo.qty_producing = 4
        wo_legs = mo.workorder_ids.filtered(lambda w: w.operation_id == self.op_legs)
        wo_legs.button_finish()
        self.assertEqual(self._qty(self.leg), 1000 - 16)
        self._mark_done_with_backorder(mo)
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg), 1000 - 16)
        self.assertEqual(self._qty(self.seat), 1000 - 4)
        backorder = self._family(mo) - mo
        self.assertEqual(backorder.product_qty, 6)
        backorder.button_mark_done()
        self.assertEqual(backorder.state, "done")
        self.assertEqual(self._qty(self.leg), 1000 - 40)
        self.assertEqual(self._qty(self.seat), 1000 - 10)
        self.assertEqual(self._qty(self.glue), 1000 - 10)
        self.assertEqual(self._qty(self.chair), 10)

    def test_operation_line_without_stock_is_posted_at_mark_done(self):
        """Odoo picks manual moves as they are at Mark Done: a line with an
        operation and nothing reserved (no stock) reads 0 then. Its work
        order, finished by Mark Done, still posts it: no recorded 0."""
        bolt = self._product("Bolt", 0.5)
        bom = self._bom(
            self.chair,
            [(bolt, 2)],
            backflush_mode="operation",
            operation_ids=[
                Command.create({"name": "Bolts", "workcenter_id": self.workcenter.id})
            ],
        )
        bom.bom_line_ids.operation_id = bom.operation_ids
        mo = self._mo(bom, 5)
        mo.qty_producing = 5
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(bolt), -10)
        move = mo.move_raw_ids.filtered(lambda m: m.product_id == bolt)
        self.assertEqual(
            (move.backflush_role, move.backflush_recorded), ("component", False)
        )

    def test_quantity_recorded_at_a_work_order_is_the_units_it_finished(self):
        """A quantity recorded for the units a work order finished settles
        those units: Mark Done posts only units beyond them, and the
        preview says so (issue 21)."""
        for producing, closing, legs in ((4, 4, 20), (4, 10, 44)):
            with self.subTest(producing=producing, closing=closing):
                before = self._qty(self.leg)
                mo = self._mo(self.bom, 10)
                leg_move = mo.move_raw_ids.filtered(lambda m: m.product_id == self.leg)
                self._type_quantities(mo, producing, {})
                # as barcode and MES integrations record it
                leg_move.write({"quantity": 20, "picked": True})
                wo_legs = mo.workorder_ids.filtered(
                    lambda w: w.operation_id == self.op_legs
                )
                wo_legs.button_start()
                wo_legs.button_finish()
                self.assertEqual(before - self._qty(self.leg), 20)
                mo.qty_producing = closing
                preview = self.env["mrp.backflush.preview"].create(
                    {"production_ids": [Command.set(mo.ids)]}
                )
                self.assertEqual(
                    sum(
                        preview.line_ids.filtered(
                            lambda ln: (
                                ln.product_id == self.leg and ln.action != "recorded"
                            )
                        ).mapped("net_qty")
                    ),
                    legs - 20,
                )
                mo.with_context(skip_backorder=True).button_mark_done()
                self.assertEqual(mo.state, "done")
                self.assertEqual(before - self._qty(self.leg), legs)

    def test_preview_reads_a_quantity_typed_on_an_operation_line_as_mark_done(self):
        """A quantity typed on a line with an operation, the box *Consumed*
        left alone, is picked as it is by Mark Done: the preview says it
        posts as recorded, and Mark Done posts it (issue 21)."""
        mo = self._mo(self.bom, 10)
        leg_move = mo.move_raw_ids.filtered(lambda m: m.product_id == self.leg)
        self._type_quantities(mo, 4, {leg_move: 18})
        self.assertFalse(leg_move.picked)
        preview = self.env["mrp.backflush.preview"].create(
            {"production_ids": [Command.set(mo.ids)]}
        )
        legs = preview.line_ids.filtered(lambda ln: ln.product_id == self.leg)
        self.assertEqual(legs.mapped("action"), ["recorded"])
        self.assertEqual(sum(legs.mapped("to_post_qty")), 18)
        before = self._qty(self.leg)
        mo.with_context(skip_backorder=True).button_mark_done()
        self.assertEqual(before - self._qty(self.leg), 18)
