# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestSupplyLocation(BackflushCase):
    """Each line is consumed from the BOM line's location, else its work
    center's input location, else the order's source location; the
    location's own shortage policy overrides the BOM's."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.groups_id += cls.env.ref("mrp.group_mrp_routings")
        view = cls.warehouse.view_location_id
        # line-side bins beside WH/Stock, not under it: stock there is not
        # the main stock's
        cls.leg_bin, cls.cell_bin = cls.env["stock.location"].create(
            [
                {"name": "Leg bin", "usage": "internal", "location_id": view.id},
                {"name": "Cell 1 input", "usage": "internal", "location_id": view.id},
            ]
        )
        cls.workcenter = cls.env["mrp.workcenter"].create(
            {
                "name": "Cell 1",
                "time_start": 0,
                "backflush_location_id": cls.cell_bin.id,
            }
        )
        cls.chair = cls._product("Bin Chair", 0.0)
        cls.leg = cls._product("Bin Leg", 2.0)
        cls.seat = cls._product("Bin Seat", 10.0)
        cls.glue = cls._product("Bin Glue", 1.0)
        cls.bom = cls._bom(
            cls.chair,
            [
                (cls.leg, 4, {"backflush_location_id": cls.leg_bin.id}),
                (cls.seat, 1),
                (cls.glue, 1),
            ],
            operation_ids=[
                Command.create({"name": "Assemble", "workcenter_id": cls.workcenter.id})
            ],
        )
        cls.bom.bom_line_ids.filtered(
            lambda line: line.product_id == cls.seat
        ).operation_id = cls.bom.operation_ids

    def test_each_line_from_its_location(self):
        self._stock(self.leg, 40, self.leg_bin)
        self._stock(self.seat, 10, self.cell_bin)
        self._stock(self.glue, 10)
        self._stock(self.leg, 100)  # main stock: not the line's
        mo = self._mo(self.bom, 10)
        moves = {m.product_id: m for m in mo.move_raw_ids}
        self.assertEqual(moves[self.leg].location_id, self.leg_bin)
        self.assertEqual(moves[self.seat].location_id, self.cell_bin)
        self.assertEqual(moves[self.glue].location_id, mo.location_src_id)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg, self.leg_bin), 0)
        self.assertEqual(self._qty(self.leg), 100)
        self.assertEqual(self._qty(self.seat, self.cell_bin), 0)
        self.assertEqual(self._qty(self.glue), 0)
        # the run says where each line came from
        locations = {
            line.product_id: line.location_id for line in mo.backflush_run_ids.line_ids
        }
        self.assertEqual(locations[self.leg], self.leg_bin)
        self.assertEqual(locations[self.seat], self.cell_bin)

    def test_shortage_is_read_at_the_line_s_location(self):
        self.bom.backflush_shortage_policy = "block"
        self._stock(self.leg, 100)  # in WH/Stock, none in the leg bin
        self._stock(self.seat, 10, self.cell_bin)
        self._stock(self.glue, 10)
        mo = self._mo(self.bom, 10)
        with self.assertRaisesRegex(UserError, "Leg bin"):
            self._mark_done_request(mo)
        self.assertNotEqual(mo.state, "done")

    def test_kanban_bin_may_go_negative_while_stock_blocks(self):
        self.bom.backflush_shortage_policy = "block"
        self.leg_bin.backflush_shortage_policy = "negative"
        self._stock(self.seat, 10, self.cell_bin)
        self._stock(self.glue, 10)
        mo = self._mo(self.bom, 10)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg, self.leg_bin), -40)
        # the main stock still refuses
        mo = self._mo(self.bom, 10)
        with self.assertRaisesRegex(UserError, "Bin Glue"):
            self._mark_done_request(mo)

    def test_sublocation_inherits_the_bin_policy(self):
        child = self.env["stock.location"].create(
            {"name": "Shelf", "usage": "internal", "location_id": self.leg_bin.id}
        )
        self.leg_bin.backflush_shortage_policy = "defer"
        self.assertEqual(child._get_backflush_shortage_policy(), "defer")
        self.assertFalse(self.stock_location._get_backflush_shortage_policy())

    def test_correction_and_unbuild_give_back_to_the_bin(self):
        """A correction's return and an unbuild give a component back to
        the line-side bin it was taken from; the others go where the user
        sends them (the order's source, the unbuild's destination)."""
        self._stock(self.leg, 40, self.leg_bin)
        self._stock(self.seat, 10, self.cell_bin)
        self._stock(self.glue, 10)
        mo = self._mo(self.bom, 10)
        mo.button_mark_done()
        wizard = self._correction_wizard(mo)
        self.assertEqual(wizard.location_id, mo.location_src_id)
        legs = wizard.line_ids.filtered(lambda line: line.product_id == self.leg)
        legs.qty_used = 36
        glue = wizard.line_ids.filtered(lambda line: line.product_id == self.glue)
        glue.qty_used = 9
        wizard.action_confirm()
        self.assertEqual(self._qty(self.leg, self.leg_bin), 4)
        self.assertEqual(self._qty(self.glue), 1)
        # the unbuilt units' net share, which the goods still hold
        self._unbuild(mo, 5)
        self.assertEqual(self._qty(self.leg, self.leg_bin), 4 + 20)
        self.assertEqual(self._qty(self.seat, self.cell_bin), 5)
        self.assertEqual(self._qty(self.glue), 1 + 5)
        # nothing of the bins' reached WH/Stock
        self.assertEqual(self._qty(self.leg), 0)
        self.assertEqual(self._qty(self.seat), 0)
