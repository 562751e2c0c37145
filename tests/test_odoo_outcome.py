# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""With the defaults, Odoo's own outcome: each case here once differed
from plain Odoo (found by Odoo's own test suites run with the module)."""

from odoo.exceptions import AccessError
from odoo.tests import Form, tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestOdooOutcome(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.chair = cls._product("Chair", 0.0)
        cls.leg = cls._product("Leg", 2.0)
        cls.seat = cls._product("Seat", 10.0)
        cls.bom = cls._bom(cls.chair, [(cls.leg, 4), (cls.seat, 1)])
        cls._stock(cls.leg, 100)
        cls._stock(cls.seat, 100)

    def _move(self, mo, product):
        return mo.move_raw_ids.filtered(lambda m: m.product_id == product)

    def test_zero_recorded_is_kept(self):
        """An operator who consumed none of a component says so with 0."""
        mo = self._mo(self.bom, 2)
        mo.qty_producing = 2
        mo._set_qty_producing()
        leg = self._move(mo, self.leg)
        leg.quantity = 0
        leg.picked = True
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(leg.state, "cancel")
        self.assertEqual(self._qty(self.leg), 100)
        self.assertEqual(self._qty(self.seat), 98)
        self.assertTrue(leg.backflush_recorded)

    def test_zero_demand_is_kept(self):
        """A component whose demand was set to 0 is not used by the order."""
        mo = self._mo(self.bom, 2)
        self._move(mo, self.leg).product_uom_qty = 0
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg), 100)
        self.assertEqual(self._qty(self.seat), 98)

    def test_consumption_warning_is_odoo_s(self):
        """A BOM changed after the order was created: Odoo's consumption
        warning is shown, with Odoo's figures."""
        self.bom.consumption = "warning"
        mo = self._mo(self.bom, 10)
        mo.qty_producing = 4
        mo._set_qty_producing()
        self.bom.bom_line_ids.filtered(
            lambda li: li.product_id == self.leg
        ).product_qty = 2
        action = mo.button_mark_done()
        self.assertEqual(action["res_model"], "mrp.consumption.warning")
        warning = Form(
            self.env["mrp.consumption.warning"].with_context(**action["context"])
        ).save()
        line = warning.mrp_consumption_warning_line_ids
        self.assertEqual(line.product_id, self.leg)
        self.assertEqual(line.product_consumed_qty_uom, 16)
        self.assertEqual(line.product_expected_qty_uom, 8)
        self.assertFalse(mo.backflush_run_ids)

    def test_unbuild_after_produced_quantity_edit_returns_odoo_share(self):
        """Produced 4, then the unlocked order says 10: unbuilding 3 gives
        back 3/10 of what was consumed, as Odoo does."""
        mo = self._mo(self.bom, 4)
        mo.button_mark_done()
        mo.action_toggle_is_locked()
        with Form(mo) as form:
            form.qty_producing = 10
        self._unbuild(mo, 3)
        self.assertAlmostEqual(self._qty(self.leg), 100 - 16 + 4.8)
        self.assertAlmostEqual(self._qty(self.seat), 100 - 4 + 1.2)

    def test_unbuild_of_more_than_produced_returns_as_odoo(self):
        """Odoo lets an unbuild exceed what was produced; each posting gives
        back its share again, as Odoo's unbuild does."""
        mo = self._mo(self.bom, 5)
        mo.button_mark_done()
        self._unbuild(mo, 5)
        self.assertEqual(self._qty(self.leg), 100)
        self._unbuild(mo, 5)
        self.assertEqual(self._qty(self.leg), 120)
        self.assertEqual(self._qty(self.seat), 105)

    def test_same_unit_quantity_written_again_is_no_change(self):
        """Odoo's explosion of a draft MO whose quantity a procurement raises
        rewrites the unit quantity of confirmed moves: the same value is
        accepted, another one refused."""
        mo = self._mo(self.bom, 2)
        leg = self._move(mo, self.leg).with_user(self.env.ref("base.user_admin"))
        leg.write({"backflush_unit_qty": leg.backflush_unit_qty})
        with self.assertRaises(AccessError):
            leg.write({"backflush_unit_qty": leg.backflush_unit_qty / 2})

    def test_lot_component_in_a_finer_unit_posts_what_is_reserved(self):
        """375 ml a litre of a lot-tracked product kept to the ml, half a
        litre produced: 187.5 ml is reserved from the lot, 188 ml (0.188 L)
        is posted from it, with no line lacking a lot."""
        self.env.ref("product.decimal_product_uom").digits = 3
        category = self.env["uom.category"].create({"name": "Test Volume"})
        litre = self.env["uom.uom"].create(
            {
                "name": "Test L",
                "category_id": category.id,
                "uom_type": "reference",
                "rounding": 0.001,
            }
        )
        ml = self.env["uom.uom"].create(
            {
                "name": "Test ml",
                "category_id": category.id,
                "uom_type": "smaller",
                "factor_inv": 0.001,
                "rounding": 0.01,
            }
        )
        syrup = self._product(
            "Syrup", 5.0, tracking="lot", uom_id=litre.id, uom_po_id=litre.id
        )
        lot = self.env["stock.lot"].create({"name": "S1", "product_id": syrup.id})
        self._stock(syrup, 1, lot=lot)
        drink = self._product("Drink", 0.0, uom_id=litre.id, uom_po_id=litre.id)
        bom = self._bom(
            drink, [(syrup, 375, {"product_uom_id": ml.id})], product_uom_id=litre.id
        )
        mo = self._mo(bom, 0.5)
        mo.action_assign()
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        move = self._move(mo, syrup)
        self.assertEqual(move.move_line_ids.lot_id, lot)
        self.assertEqual(len(move.move_line_ids), 1)
        # posted in the product's step: the move, its layer and stock agree
        self.assertAlmostEqual(move.quantity, 188)
        self.assertAlmostEqual(move.stock_valuation_layer_ids.quantity, -0.188)
        self.assertAlmostEqual(self._qty(syrup), 0.812)
