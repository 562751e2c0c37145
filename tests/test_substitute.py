# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Substitute components: strategies, units, policies, bad input, audit,
valuation, unbuild and mass Mark Done (SPEC §4 Substitutes, §5)."""

import re

from odoo import Command
from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestSubstitute(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.chair = cls._product("Sub Chair", 0.0)
        cls.leg = cls._product("Pine Leg", 2.0)
        cls.beech = cls._product("Beech Leg", 3.0)
        cls.oak = cls._product("Oak Leg", 5.0)
        cls.seat = cls._product("Sub Seat", 10.0)
        cls.bom = cls._bom(
            cls.chair,
            [(cls.leg, 4), (cls.seat, 1)],
            backflush_substitution="priority",
        )
        cls.leg_line = cls.bom.bom_line_ids.filtered(
            lambda ln: ln.product_id == cls.leg
        )
        cls.leg_line.substitute_ids = [
            Command.create({"product_id": cls.beech.id, "sequence": 10}),
            Command.create({"product_id": cls.oak.id, "sequence": 20}),
        ]
        cls._stock(cls.seat, 1000)
        cls.company_b = cls.env["res.company"].create({"name": "Substitute Other Co"})

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def _sub_moves(self, mo):
        return mo.move_raw_ids.filtered(lambda m: m.backflush_role == "substitute")

    def _run_line(self, mo, product, role):
        return mo.backflush_run_ids.line_ids.filtered(
            lambda ln: ln.product_id == product and ln.role == role
        )

    def _assert_substitute_move(self, mo, product, qty, uom=None):
        move = self._raw(mo, product, "substitute")
        self.assertEqual(len(move), 1, f"one substitute move of {product.display_name}")
        self.assertEqual(move.state, "done")
        self.assertEqual(move.raw_material_production_id, mo)
        self.assertEqual(move.location_id, self.stock_location)
        self.assertEqual(move.product_uom, uom or product.uom_id)
        self.assertAlmostEqual(move.quantity, qty)
        self.assertEqual(move.backflush_replaced_move_id, self._raw(mo, self.leg))
        self.assertEqual(move.backflush_replaced_move_id.bom_line_id, self.leg_line)
        self.assertEqual(move.bom_line_id, self.leg_line)
        self.assertEqual(move.backflush_run_id, mo.backflush_run_ids)
        layers = move.stock_valuation_layer_ids
        self.assertTrue(layers)
        self.assertEqual(set(layers.mapped("backflush_role")), {"substitute"})
        self.assertEqual(layers.backflush_production_id, mo)
        line = self._run_line(mo, product, "substitute")
        self.assertEqual(len(line), 1)
        self.assertEqual(line.replaced_product_id, self.leg)
        self.assertEqual(line.bom_line_id, self.leg_line)
        self.assertEqual(line.move_id, move)
        self.assertAlmostEqual(line.consumed_qty, qty)
        self.assertAlmostEqual(line.value, -sum(layers.mapped("value")))
        return move

    # ------------------------------------------------------------------
    # strategies
    # ------------------------------------------------------------------
    def test_priority_fills_from_first_then_second(self):
        self._stocks(leg=100, beech=30, oak=100)
        mo = self._mo(self.bom, 40)  # 160 legs: 100 pine + 30 beech + 30 oak
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg), 0)
        self.assertEqual(self._qty(self.beech), 0)
        self.assertEqual(self._qty(self.oak), 70)
        self.assertEqual(self._qty(self.chair), 40)
        self.assertEqual(self._raw(mo, self.leg).quantity, 100)
        beech_move = self._assert_substitute_move(mo, self.beech, 30)
        oak_move = self._assert_substitute_move(mo, self.oak, 30)
        self.assertEqual(len(self._sub_moves(mo)), 2)
        component = self._run_line(mo, self.leg, "component")
        self.assertEqual((component.consumed_qty, component.shortage_qty), (100, 0))
        self.assertFalse(component.shortage_action)
        self.assertFalse(mo.backflush_exception_ids)
        self.assertEqual(mo.backflush_run_ids.state, "done")
        self.assertEqual(mo.backflush_run_ids.backflush_substitution, "priority")
        self.assertAlmostEqual(self._layers_value(beech_move), -90.0)
        self.assertAlmostEqual(self._layers_value(oak_move), -150.0)
        # finished goods carry the substitutes' value
        expected = 100 * 2.0 + 30 * 3.0 + 30 * 5.0 + 40 * 10.0
        self.assertAlmostEqual(self._layers_value(mo.move_finished_ids), expected)
        self.assertAlmostEqual(mo.backflush_run_ids.value, expected)
        layers = self.env["stock.valuation.layer"].search(
            [
                ("backflush_production_id", "=", mo.id),
                ("backflush_role", "=", "substitute"),
            ]
        )
        self.assertEqual(layers.product_id, self.beech | self.oak)

    def test_full_takes_first_substitute_covering_all(self):
        """SAP's 100 % check: beech (30) cannot cover 60 alone, oak can."""
        self.bom.backflush_substitution = "full"
        self._stocks(leg=100, beech=30, oak=100)
        mo = self._mo(self.bom, 40)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg), 0)
        self.assertEqual(self._qty(self.beech), 30)
        self.assertEqual(self._qty(self.oak), 40)
        self.assertFalse(self._raw(mo, self.beech, "substitute"))
        self._assert_substitute_move(mo, self.oak, 60)
        self.assertEqual(mo.backflush_run_ids.backflush_substitution, "full")
        self.assertAlmostEqual(
            self._layers_value(mo.move_finished_ids), 100 * 2.0 + 60 * 5.0 + 40 * 10.0
        )

    def test_full_first_substitute_when_it_covers(self):
        self.bom.backflush_substitution = "full"
        self._stocks(leg=100, beech=60, oak=100)
        mo = self._mo(self.bom, 40)
        mo.button_mark_done()
        self._assert_substitute_move(mo, self.beech, 60)
        self.assertFalse(self._raw(mo, self.oak, "substitute"))
        self.assertEqual(self._qty(self.oak), 100)

    def test_sequence_order_decides(self):
        """Resequencing the substitutes changes which one is used first."""
        self.leg_line.substitute_ids.filtered(
            lambda s: s.product_id == self.oak
        ).sequence = 1
        self.env.invalidate_all()  # the admin saved the BOM: a new request
        self._stocks(leg=100, beech=100, oak=100)
        mo = self._mo(self.bom, 40)
        mo.button_mark_done()
        self._assert_substitute_move(mo, self.oak, 60)
        self.assertFalse(self._raw(mo, self.beech, "substitute"))
        self.assertEqual(self._qty(self.beech), 100)

    def test_no_substitution_when_stock_suffices(self):
        self._stocks(leg=200, beech=100, oak=100)
        mo = self._mo(self.bom, 40)
        mo.button_mark_done()
        self.assertFalse(self._sub_moves(mo))
        self.assertEqual(self._qty(self.leg), 40)
        self.assertEqual(self._qty(self.beech), 100)
        self.assertEqual(self._qty(self.oak), 100)
        self.assertNotIn("substitute", mo.backflush_run_ids.line_ids.mapped("role"))

    def test_substitution_none_ignores_substitutes(self):
        self.bom.write(
            {"backflush_substitution": "none", "backflush_shortage_policy": "defer"}
        )
        self._stocks(leg=100, beech=100, oak=100)
        mo = self._mo(self.bom, 40)
        mo.button_mark_done()
        self.assertFalse(self._sub_moves(mo))
        self.assertEqual(self._qty(self.beech), 100)
        self.assertEqual(mo.backflush_exception_ids.quantity, 60)

    # ------------------------------------------------------------------
    # units of measure
    # ------------------------------------------------------------------
    def test_substitute_counted_in_dozens(self):
        """Dowels are stocked in units but the substitute is set in dozens:
        0.25 dozen (3 dowels) replaces one leg."""
        dowel = self._product("Dowel", 0.5)
        self._stock(dowel, 100)
        self.leg_line.substitute_ids = [Command.clear()]
        self.leg_line.substitute_ids = [
            Command.create(
                {
                    "product_id": dowel.id,
                    "factor": 0.25,
                    "product_uom_id": self.uom_dozen.id,
                }
            )
        ]
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 30)  # 120 legs: 20 short = 5 dozens = 60 dowels
        mo.button_mark_done()
        move = self._assert_substitute_move(mo, dowel, 5, uom=self.uom_dozen)
        self.assertAlmostEqual(move.product_uom_qty, 5)
        self.assertEqual(self._qty(dowel), 40)
        self.assertAlmostEqual(self._layers_value(move), -60 * 0.5)
        self.assertAlmostEqual(
            self._layers_value(mo.move_finished_ids), 100 * 2.0 + 60 * 0.5 + 30 * 10.0
        )

    def test_line_in_dozens_substitute_in_units(self):
        """The BOM line counts legs in dozens; 12 beech legs replace one
        dozen pine legs (the factor is per unit of the line's UoM)."""
        table = self._product("Leg Crate", 0.0)
        bom = self._bom(
            table,
            [(self.leg, 1, {"product_uom_id": self.uom_dozen.id})],
            backflush_substitution="priority",
        )
        line = bom.bom_line_ids
        line.substitute_ids = [
            Command.create({"product_id": self.beech.id, "factor": 12})
        ]
        self._stocks(leg=30, beech=100, oak=0)
        mo = self._mo(bom, 3)  # 3 dozens = 36 legs, 30 in stock: 6 beech
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg), 0)
        self.assertAlmostEqual(self._qty(self.beech), 94)
        sub = mo.move_raw_ids.filtered(lambda m: m.backflush_role == "substitute")
        self.assertEqual(sub.product_id, self.beech)
        self.assertAlmostEqual(
            sub.product_uom._compute_quantity(sub.quantity, self.beech.uom_id), 6
        )

    # ------------------------------------------------------------------
    # what remains short goes to the shortage policy
    # ------------------------------------------------------------------
    def test_leftover_block(self):
        self.bom.backflush_shortage_policy = "block"
        self._stocks(leg=100, beech=10, oak=10)
        mo = self._mo(self.bom, 40)  # 160 legs: 100 + 10 + 10, 40 missing
        with self.assertRaises(UserError) as error:
            self._mark_done_request(mo)
        message = str(error.exception)
        self.assertIn(mo.name, message)
        self.assertIn(self.leg.display_name, message)
        # the substitutes' share is shown: 100 + 20 + 40 = 160
        self.assertIn("needs 160.00 Units", message)
        self.assertIn(
            "100.00 available, 20.00 covered by substitutes, 40.00 missing", message
        )
        self.assertIn(self.stock_location.display_name, message)
        self.assertEqual(mo.state, "confirmed")
        self.assertEqual(
            (self._qty(self.leg), self._qty(self.beech), self._qty(self.oak)),
            (100, 10, 10),
        )
        self.assertFalse(mo.backflush_run_ids)
        self.assertFalse(self._sub_moves(mo))

    def test_leftover_negative(self):
        self.bom.backflush_shortage_policy = "negative"
        self._stocks(leg=100, beech=10, oak=10)
        mo = self._mo(self.bom, 40)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg), -40)
        self.assertEqual(self._qty(self.beech), 0)
        self.assertEqual(self._qty(self.oak), 0)
        self._assert_substitute_move(mo, self.beech, 10)
        self._assert_substitute_move(mo, self.oak, 10)
        line = self._run_line(mo, self.leg, "component")
        self.assertEqual((line.consumed_qty, line.shortage_qty), (140, 40))
        self.assertEqual(line.shortage_action, "negative")
        self.assertEqual(mo.backflush_run_ids.state, "shortage")
        self.assertFalse(mo.backflush_exception_ids)

    def test_leftover_defer(self):
        self.bom.backflush_shortage_policy = "defer"
        self._stocks(leg=100, beech=10, oak=10)
        mo = self._mo(self.bom, 40)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg), 0)
        self.assertEqual(self._qty(self.beech), 0)
        self.assertEqual(self._qty(self.oak), 0)
        self._assert_substitute_move(mo, self.beech, 10)
        self._assert_substitute_move(mo, self.oak, 10)
        exc = mo.backflush_exception_ids
        self.assertEqual(len(exc), 1)
        self.assertEqual(
            (exc.product_id, exc.quantity, exc.state, exc.bom_line_id),
            (self.leg, 40, "pending", self.leg_line),
        )
        line = self._run_line(mo, self.leg, "component")
        self.assertEqual((line.consumed_qty, line.shortage_qty), (100, 40))
        self.assertEqual(line.shortage_action, "defer")
        # the deferred rest is the component itself, not a substitute
        self._stocks(leg=40, beech=100)
        exc.action_retry()
        self.assertEqual(exc.state, "done")
        self.assertEqual(self._qty(self.leg), 0)
        self.assertEqual(self._qty(self.beech), 100)
        self.assertEqual(self._raw(mo, self.leg, "deferred").quantity, 40)

    def test_full_none_covers_goes_to_defer(self):
        self.bom.write(
            {"backflush_substitution": "full", "backflush_shortage_policy": "defer"}
        )
        self._stocks(leg=100, beech=30, oak=50)  # 60 short: neither covers it alone
        mo = self._mo(self.bom, 40)
        mo.button_mark_done()
        self.assertFalse(self._sub_moves(mo))
        self.assertEqual((self._qty(self.beech), self._qty(self.oak)), (30, 50))
        self.assertEqual(mo.backflush_exception_ids.quantity, 60)

    # ------------------------------------------------------------------
    # invalid configurations, refused with the record named
    # ------------------------------------------------------------------
    def _assert_refused(self, vals, *patterns, line=None):
        line = line or self.leg_line
        with self.assertRaises(UserError) as error:
            with self.env.cr.savepoint():
                line.substitute_ids = [Command.create(vals)]
                line.flush_recordset()
                line.substitute_ids.flush_recordset()
        for pattern in patterns:
            self.assertRegex(str(error.exception), pattern)
        return error.exception

    def test_refuse_substitute_equal_to_component(self):
        self._assert_refused(
            {"product_id": self.leg.id},
            re.escape(self.bom.display_name),
            re.escape(self.leg.display_name),
        )

    def test_refuse_substitute_equal_to_finished_product(self):
        self._assert_refused(
            {"product_id": self.chair.id},
            re.escape(self.chair.display_name),
            re.escape(self.leg.display_name),
        )

    def test_refuse_duplicate_substitute(self):
        """Beech is already a substitute of the pine leg line."""
        self._assert_refused(
            {"product_id": self.beech.id, "sequence": 30},
            re.escape(self.beech.display_name),
        )

    def test_refuse_duplicate_in_one_save(self):
        line = self.bom.bom_line_ids.filtered(lambda ln: ln.product_id == self.seat)
        with self.assertRaises(UserError) as error:
            with self.env.cr.savepoint():
                line.substitute_ids = [
                    Command.create({"product_id": self.oak.id}),
                    Command.create({"product_id": self.oak.id}),
                ]
                line.substitute_ids.flush_recordset()
        self.assertIn(self.oak.display_name, str(error.exception))

    def test_refuse_factor_not_positive(self):
        for factor in (0, -1):
            with self.subTest(factor=factor):
                self._assert_refused(
                    {"product_id": self.seat.id, "factor": factor},
                    re.escape(self.seat.display_name),
                    re.escape(self.leg.display_name),
                    "greater than 0",
                )
        sub = self.leg_line.substitute_ids[0]
        with self.assertRaisesRegex(ValidationError, "greater than 0"):
            sub.factor = 0

    def test_refuse_uom_of_another_category(self):
        self._assert_refused(
            {"product_id": self.seat.id, "product_uom_id": self.uom_kgm.id},
            re.escape(self.seat.display_name),
            "category",
        )
        sub = self.leg_line.substitute_ids[0]
        with self.assertRaisesRegex(ValidationError, "Beech Leg.*category"):
            sub.product_uom_id = self.uom_gram

    def test_refuse_product_of_another_company(self):
        foreign = self._product("Foreign Oak Leg", company_id=self.company_b.id)
        self._assert_refused(
            {"product_id": foreign.id}, re.escape(foreign.display_name)
        )

    def test_refuse_in_bom_form(self):
        """What the admin does in the BOM form's substitute dialog."""
        with self.assertRaises(UserError):
            with self.env.cr.savepoint():
                with Form(
                    self.leg_line,
                    view="mrp_backflush.mrp_bom_line_view_form_substitutes",
                ) as form:
                    with form.substitute_ids.new() as sub:
                        sub.product_id = self.leg
        self.assertEqual(self.leg_line.substitute_ids.product_id, self.beech | self.oak)

    def test_valid_configuration_accepted(self):
        dowel = self._product("Dowel", 0.5)
        self.leg_line.substitute_ids = [
            Command.create(
                {
                    "product_id": dowel.id,
                    "factor": 0.25,
                    "product_uom_id": self.uom_dozen.id,
                }
            )
        ]
        self.assertEqual(len(self.leg_line.substitute_ids), 3)
        self.assertEqual(self.leg_line.substitute_count, 3)
        copy = self.bom.copy()
        self.assertEqual(
            copy.bom_line_ids.filtered(
                lambda ln: ln.product_id == self.leg
            ).substitute_ids.product_id,
            self.beech | self.oak | dowel,
        )

    # ------------------------------------------------------------------
    # unbuild and mass Mark Done
    # ------------------------------------------------------------------
    def test_unbuild_returns_what_was_consumed(self):
        self._stocks(leg=100, beech=30, oak=100)
        mo = self._mo(self.bom, 40)
        mo.button_mark_done()
        self.assertEqual(
            (self._qty(self.leg), self._qty(self.beech), self._qty(self.oak)),
            (0, 0, 70),
        )
        form = Form(self.env["mrp.unbuild"])
        form.mo_id = mo
        self.assertEqual(form.product_qty, 40)
        unbuild = form.save()
        unbuild.action_unbuild()
        self.assertEqual(unbuild.state, "done")
        self.assertEqual(self._qty(self.chair), 0)
        self.assertEqual(self._qty(self.leg), 100)
        self.assertEqual(self._qty(self.beech), 30, "the substitute comes back")
        self.assertEqual(self._qty(self.oak), 100, "the substitute comes back")
        self.assertEqual(self._qty(self.seat), 1000)
        returned = unbuild.produce_line_ids
        self.assertAlmostEqual(
            sum(
                returned.filtered(lambda m: m.product_id == self.oak).mapped("quantity")
            ),
            30,
        )

    def test_unbuild_half_returns_half_of_each(self):
        self._stocks(leg=100, beech=30, oak=100)
        mo = self._mo(self.bom, 40)
        mo.button_mark_done()
        form = Form(self.env["mrp.unbuild"])
        form.mo_id = mo
        form.product_qty = 20
        form.save().action_unbuild()
        self.assertEqual(self._qty(self.leg), 50)
        self.assertEqual(self._qty(self.beech), 15)
        self.assertEqual(self._qty(self.oak), 85)

    def test_mass_mark_done_competing_for_short_component(self):
        """Two MOs drawing on the same 100 pine legs: the first gets 80, the
        second 20 pine and 20 beech, never both the same legs."""
        self._stocks(leg=100, beech=100, oak=0)
        mo1 = self._mo(self.bom, 20)  # 80 legs
        mo2 = self._mo(self.bom, 10)  # 40 legs
        (mo1 | mo2).button_mark_done()
        self.assertEqual(set((mo1 | mo2).mapped("state")), {"done"})
        self.assertEqual(self._qty(self.leg), 0)
        self.assertEqual(self._qty(self.beech), 80)
        self.assertFalse(self._sub_moves(mo1))
        self.assertEqual(self._raw(mo1, self.leg).quantity, 80)
        self.assertEqual(self._raw(mo2, self.leg).quantity, 20)
        self._assert_substitute_move(mo2, self.beech, 20)
        self.assertAlmostEqual(
            self._layers_value(mo2.move_finished_ids), 20 * 2.0 + 20 * 3.0 + 10 * 10.0
        )
        self.assertAlmostEqual(
            self._layers_value(mo1.move_finished_ids), 80 * 2.0 + 20 * 10.0
        )

    def test_substitute_shared_with_other_line(self):
        """A substitute that is also another line's component is not double
        counted: the seat line takes its stock first (line order)."""
        stool = self._product("Stool", 0.0)
        bom = self._bom(
            stool,
            [(self.beech, 2), (self.leg, 2)],
            backflush_substitution="priority",
            backflush_shortage_policy="negative",
        )
        line = bom.bom_line_ids.filtered(lambda ln: ln.product_id == self.leg)
        line.substitute_ids = [Command.create({"product_id": self.beech.id})]
        self._stocks(leg=10, beech=25, oak=0)
        mo = self._mo(bom, 10)  # 20 beech + 20 pine; 10 pine short, 5 beech left
        mo.button_mark_done()
        self.assertEqual(self._qty(self.beech), 0)
        self.assertEqual(self._qty(self.leg), -5)
        sub = mo.move_raw_ids.filtered(lambda m: m.backflush_role == "substitute")
        self.assertEqual(sub.quantity, 5)
