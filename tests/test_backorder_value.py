# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The finished goods' value across backorders (SPEC §4 The ledger, issue
22 item 6, issue 21 item 6): each order's finished goods carry the
components posted for its own units — the family's fixed scrap with the
first order, components a work order posted for the whole family with the
order that produces them — and an unbuild takes out what the units carry:
what it gives back plus what was lost."""

from odoo import Command
from odoo.tests import Form, tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestBackorderValue(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.groups_id += cls.env.ref("mrp.group_mrp_routings")
        cls.workcenter = cls.env["mrp.workcenter"].create(
            {"name": "Backorder Value Bench", "time_start": 0, "costs_hour": 0}
        )
        cls.categ_fifo_auto = cls.env["product.category"].create(
            {
                "name": "Backorder Value FIFO",
                "property_cost_method": "fifo",
                "property_valuation": "real_time",
            }
        )
        cls.categ_avco_auto = cls.env["product.category"].create(
            {
                "name": "Backorder Value AVCO",
                "property_cost_method": "average",
                "property_valuation": "real_time",
            }
        )

    def _family(self, mo):
        return mo.procurement_group_id.mrp_production_ids

    def _backorder(self, mo, qty):
        mo.qty_producing = qty
        mo._set_qty_producing(False)
        action = mo.button_mark_done()
        Form(
            self.env[action["res_model"]].with_context(**action["context"])
        ).save().action_backorder()
        return self._family(mo).filtered(lambda p: p.state not in ("done", "cancel"))

    def _finished_value(self, mo):
        """Value the finished goods of ``mo`` carry: its finished layers,
        value added to them since, and what its unbuilds took out."""
        moves = mo.move_finished_ids.filtered(
            lambda m: m.product_id == mo.product_id and m.state == "done"
        )
        out = self.env["stock.move"].search(
            [
                ("unbuild_id.mo_id", "=", mo.id),
                ("product_id", "=", mo.product_id.id),
                ("state", "=", "done"),
            ]
        )
        return self._layers_value(moves | out)

    def _consumed_value(self, mo):
        """Component value ``mo`` consumed, less what came back."""
        raws = mo.move_raw_ids.filtered(lambda m: m.state == "done")
        back = self.env["stock.move"].search(
            [("origin_returned_move_id", "in", raws.ids), ("state", "=", "done")]
        )
        return -self._layers_value(raws) - self._layers_value(back)

    def _unbuild_values(self, mo, unbuild_qty):
        """Unbuild ``unbuild_qty`` of ``mo``: (finished value out, component
        value back)."""
        before = self.env["stock.move"].search([("unbuild_id.mo_id", "=", mo.id)])
        self._unbuild(mo, unbuild_qty)
        moves = (
            self.env["stock.move"].search([("unbuild_id.mo_id", "=", mo.id)]) - before
        )
        out = moves.filtered(lambda m: m.product_id == mo.product_id)
        return -self._layers_value(out), self._layers_value(moves - out)

    def _chair_bom(self, categ, **vals):
        chair = self._product("BV Chair", 0.0, categ=categ)
        backrest = self._product("BV Backrest", 10.0, categ=categ)
        self._stock(backrest, 100)
        bom = self._bom(
            chair,
            [(backrest, 1, {"scrap_percent": 10.0, "scrap_fixed_qty": 1.0})],
            **vals,
        )
        return chair, backrest, bom

    def _check_backorder_family(self, categ):
        """MO of 10 chairs, 1 backrest at 10, 10 % and 1 fixed scrap:
        4 produced with a backorder post 5.4 backrests (54: the fixed scrap
        once, with the first order), the backorder 6.6 (66). Unbuilt 2 of
        each: the first order's take out 27 (20 back, 7 of scrap lost),
        the backorder's 22 (20 back, 2 lost); the rest of each then
        leaves the finished goods at what it carries."""
        chair, backrest, bom = self._chair_bom(categ)
        mo = self._mo(bom, 10)
        backorder = self._backorder(mo, 4)
        backorder.button_mark_done()
        self.assertEqual(backorder.state, "done")
        self.assertAlmostEqual(self._finished_value(mo), 54.0)
        self.assertAlmostEqual(self._finished_value(backorder), 66.0)
        self.assertAlmostEqual(self._consumed_value(mo), 54.0)
        self.assertAlmostEqual(self._consumed_value(backorder), 66.0)
        self.assertAlmostEqual(chair.value_svl, 120.0)
        self.assertEqual(self._unbuild_values(mo, 2), (27.0, 20.0))
        self.assertEqual(self._unbuild_values(backorder, 2), (22.0, 20.0))
        self.assertAlmostEqual(chair.value_svl, 71.0)
        self.assertEqual(self._unbuild_values(mo, 2), (27.0, 20.0))
        self.assertEqual(self._unbuild_values(backorder, 4), (44.0, 40.0))
        self._assert_nothing_left(chair, mo | backorder, backrest, 98)

    def _assert_nothing_left(self, chair, orders, component, in_stock):
        """All unbuilt: no order's finished goods keep a value, and
        ``in_stock`` of ``component`` are back."""
        for order in orders:
            self.assertAlmostEqual(self._finished_value(order), 0.0)
        self.assertAlmostEqual(chair.value_svl, 0.0)
        self.assertAlmostEqual(self._qty(component), in_stock)

    def test_backorder_family_fifo_real_time(self):
        self._check_backorder_family(self.categ_fifo_auto)

    def test_backorder_family_average_real_time(self):
        self._check_backorder_family(self.categ_avco_auto)

    def test_backorder_family_standard_cost(self):
        """Standard cost: the chairs keep their standard (Odoo's variance on
        the production account), the backrests come back at theirs."""
        categ = self.categ_fifo_auto.copy({"property_cost_method": "standard"})
        chair, backrest, bom = self._chair_bom(categ)
        chair.standard_price = 12.0
        mo = self._mo(bom, 10)
        backorder = self._backorder(mo, 4)
        backorder.button_mark_done()
        self.assertAlmostEqual(self._finished_value(mo), 48.0)
        self.assertAlmostEqual(self._finished_value(backorder), 72.0)
        self.assertEqual(self._unbuild_values(mo, 2), (24.0, 20.0))
        self.assertEqual(self._unbuild_values(backorder, 6), (72.0, 60.0))
        self.assertAlmostEqual(chair.value_svl, 24.0)

    def _operation_bom(self, chair, leg, line_vals=None):
        """4 ``leg`` a ``chair``, consumed in the operation "Legs"."""
        bom = self._bom(
            chair,
            [(leg, 4, line_vals or {})],
            backflush_mode="operation",
            operation_ids=[
                Command.create({"name": "Legs", "workcenter_id": self.workcenter.id})
            ],
        )
        bom.bom_line_ids.operation_id = bom.operation_ids
        return bom

    def _operation_family(self, categ):
        """4 legs at 2 a chair, 10 % and 1 fixed scrap, on an operation:
        the work order finished for the 10 chairs posts 45 legs (90); 4
        marked done with a backorder, then the backorder."""
        chair = self._product("BV Op Chair", 0.0, categ=categ)
        leg = self._product("BV Leg", 2.0, categ=categ)
        self._stock(leg, 100)
        bom = self._operation_bom(
            chair, leg, {"scrap_percent": 10.0, "scrap_fixed_qty": 1.0}
        )
        mo = self._mo(bom, 10)
        mo.workorder_ids.button_start()
        mo.workorder_ids.button_finish()
        self.assertEqual(self._qty(leg), 55)
        backorder = self._backorder(mo, 4)
        backorder.button_mark_done()
        self.assertEqual(backorder.state, "done")
        return chair, leg, mo, backorder

    def _check_operation_family(self, categ):
        """The 4 chairs of the first order carry their 16 legs, 1.6 of
        scrap and the fixed 1 (37.2), the backorder's 6 their 24 and 2.4
        (52.8), though the work order posted all 45 legs on the first
        order. Unbuilt, each takes out what its units carry."""
        chair, leg, mo, backorder = self._operation_family(categ)
        self.assertAlmostEqual(chair.value_svl, 90.0)
        self.assertAlmostEqual(self._finished_value(mo), 37.2)
        self.assertAlmostEqual(self._finished_value(backorder), 52.8)
        out, back = self._unbuild_values(mo, 2)
        self.assertAlmostEqual(out, 18.6)
        self.assertAlmostEqual(back, 16.0)
        out, back = self._unbuild_values(backorder, 3)
        self.assertAlmostEqual(out, 26.4)
        self.assertAlmostEqual(back, 24.0)
        self._unbuild(mo, 2)
        self._unbuild(backorder, 3)
        self._assert_nothing_left(chair, mo | backorder, leg, 95)

    def test_operation_family_fifo_real_time(self):
        self._check_operation_family(self.categ_fifo_auto)

    def test_operation_family_average_real_time(self):
        self._check_operation_family(self.categ_avco_auto)

    def test_work_order_finished_for_part_then_backorders(self):
        """The work order finished for 7 of the 10 chairs posts 31.8 legs on
        the first order, 4 are marked done with a backorder, whose work
        order posts the 3 chairs left (13.2 legs): the first order's 4
        chairs carry 18.6 legs (37.2), the backorder's 6 the rest (52.8)."""
        chair = self._product("BV Part Chair", 0.0, categ=self.categ_fifo_auto)
        leg = self._product("BV Part Leg", 2.0, categ=self.categ_fifo_auto)
        self._stock(leg, 100)
        bom = self._operation_bom(
            chair, leg, {"scrap_percent": 10.0, "scrap_fixed_qty": 1.0}
        )
        mo = self._mo(bom, 10)
        mo.qty_producing = 7
        mo._set_qty_producing(False)
        mo.workorder_ids.button_start()
        mo.workorder_ids.button_finish()
        backorder = self._backorder(mo, 4)
        backorder.workorder_ids.button_finish()
        self.assertAlmostEqual(self._qty(leg), 55.0)
        backorder.button_mark_done()
        self.assertEqual(backorder.state, "done")
        self.assertAlmostEqual(self._finished_value(mo), 37.2)
        self.assertAlmostEqual(self._finished_value(backorder), 52.8)
        self.assertEqual(self._unbuild_values(backorder, 6), (52.8, 48.0))
        self.assertEqual(self._unbuild_values(mo, 4), (37.2, 32.0))
        self.assertAlmostEqual(self._qty(leg), 95.0)
        self.assertAlmostEqual(chair.value_svl, 0.0)

    def test_backorder_unbuild_gives_back_the_lots_posted_ahead(self):
        """Lot-tracked legs posted ahead on the first order: the
        backorder's unbuild gives them back to their lot."""
        chair = self._product("BV Lot Chair", 0.0, categ=self.categ_fifo_auto)
        leg = self._product(
            "BV Lot Leg", 2.0, categ=self.categ_fifo_auto, tracking="lot"
        )
        lot = self.env["stock.lot"].create({"name": "BV-LEGS", "product_id": leg.id})
        self._stock(leg, 100, lot=lot)
        bom = self._operation_bom(chair, leg)
        mo = self._mo(bom, 10)
        mo.workorder_ids.button_start()
        mo.workorder_ids.button_finish()
        backorder = self._backorder(mo, 4)
        backorder.button_mark_done()
        self.assertAlmostEqual(self._finished_value(backorder), 48.0)
        self.assertEqual(self._unbuild_values(backorder, 3), (24.0, 24.0))
        returns = self.env["stock.move"].search(
            [("unbuild_id.mo_id", "=", backorder.id), ("product_id", "=", leg.id)]
        )
        self.assertEqual(returns.move_line_ids.lot_id, lot)
        self.assertAlmostEqual(
            self.env["stock.quant"]._get_available_quantity(
                leg, self.stock_location, lot_id=lot
            ),
            72.0,
        )

    def _correct(self, mo, product, delta):
        wizard = self._correction_wizard(mo)
        line = wizard.line_ids.filtered(lambda ln: ln.product_id == product)
        line.qty_used = line.consumed_qty + delta
        wizard.action_confirm()

    def test_correction_of_what_was_posted_ahead_then_unbuilds(self):
        """The work order posted the 45 legs of the 10 chairs on the first
        order; after its Mark Done of 4, a correction returns 1 of them. The
        family consumed 44 legs (88): unbuilt, each order takes out of the
        finished goods what its units carry, and all 39 legs not lost come
        back."""
        chair, leg, mo, backorder = self._operation_family(self.categ_fifo_auto)
        self._correct(mo, leg, -1)
        self.assertAlmostEqual(self._qty(leg), 56)
        self.assertAlmostEqual(chair.value_svl, 88.0)
        finished = self._finished_value(mo) + self._finished_value(backorder)
        self.assertAlmostEqual(finished, 88.0)
        self._unbuild(mo, 4)
        self._unbuild(backorder, 6)
        self._assert_nothing_left(chair, mo | backorder, leg, 95)

    def test_correction_after_fifo_gave_the_order_units_to_another(self):
        """Two orders of one chair: unbuilding the second's 3 chairs takes
        out, by FIFO, the first's chair left and 2 of the second's. A
        correction of the first then goes to the chair it has left, in the
        second's layer: unbuilt, the first's goods leave at what they
        carry and no value stays on chairs no longer there."""
        chair, backrest, bom = self._chair_bom(self.categ_fifo_auto)
        bom.bom_line_ids.write({"scrap_percent": 0.0, "scrap_fixed_qty": 0.0})
        first = self._mo(bom, 2)
        first.button_mark_done()
        self._unbuild(first, 1)
        second = self._mo(bom, 3)
        second.button_mark_done()
        self._unbuild(second, 3)
        self._correct(first, backrest, -1)
        self.assertAlmostEqual(self._finished_value(first), 0.0)
        self.assertAlmostEqual(chair.value_svl, 0.0)
        self._unbuild(first, 1)
        self.assertAlmostEqual(self._finished_value(first), 0.0)
        self.assertAlmostEqual(chair.value_svl, 0.0)
        self.assertEqual(self._qty(backrest), 100)

    def test_backorder_cancelled_after_the_work_order_posted_ahead(self):
        """The work order posted the 45 legs (90) of the 10 chairs; 4 are
        marked done with a backorder, which is then cancelled: its share
        falls to the first order, as units never produced. Its 4 chairs
        carry the 90 the family consumed; unbuilt, they give back the 40
        legs of net (as Odoo gives back all an order consumed when all of
        it is unbuilt) and the planned scrap was lost."""
        chair = self._product("BV Cancel Chair", 0.0, categ=self.categ_fifo_auto)
        leg = self._product("BV Cancel Leg", 2.0, categ=self.categ_fifo_auto)
        self._stock(leg, 100)
        bom = self._operation_bom(
            chair, leg, {"scrap_percent": 10.0, "scrap_fixed_qty": 1.0}
        )
        mo = self._mo(bom, 10)
        mo.workorder_ids.button_start()
        mo.workorder_ids.button_finish()
        backorder = self._backorder(mo, 4)
        self.assertAlmostEqual(self._finished_value(mo), 37.2)
        backorder.action_cancel()
        self.assertAlmostEqual(self._finished_value(mo), 90.0)
        self.assertAlmostEqual(chair.value_svl, 90.0)
        out, back = self._unbuild_values(mo, 4)
        self.assertAlmostEqual(out, 90.0)
        self.assertAlmostEqual(back, 80.0)
        self.assertAlmostEqual(self._finished_value(mo), 0.0)
        self.assertAlmostEqual(chair.value_svl, 0.0)
        self.assertAlmostEqual(self._qty(leg), 95.0)
