# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Planned scrap (percent, constant, both), rounding, demand, backorders,
kits, valuation, Odoo's consumption check, bad input, and actual scrap
recorded with Odoo's Scrap button (SPEC §4 Quantities and Scrap, §5)."""

import re
from collections import defaultdict
from datetime import timedelta

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import Form, tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestScrap(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._grams_and_pieces("Pieces")
        cls.table = cls._product("Scrap Table", 0.0)
        cls.board = cls._product("Board", 4.0, uom=cls.uom_piece)
        cls.glue = cls._product("Wood Glue", 8.0, uom=cls.uom_kgm)
        cls.screw = cls._product("Scrap Screw", 0.1)
        cls._stocks(board=1000, glue=100, screw=10000)
        cls.reason_broken = cls.env["stock.scrap.reason.tag"].create({"name": "Broken"})

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def _line(self, bom, product):
        return bom.bom_line_ids.filtered(lambda ln: ln.product_id == product)

    def _run_lines(self, mo, product, role):
        return mo.backflush_run_ids.line_ids.filtered(
            lambda ln: ln.product_id == product and ln.role == role
        )

    def _assert_posted(self, mo, product, component, scrap):
        """The component move posts the net part, a separate raw move of the
        MO with role planned_scrap the scrap part."""
        comp_move = self._raw(mo, product)
        self.assertEqual(len(comp_move), 1)
        self.assertEqual(comp_move.state, "done")
        self.assertAlmostEqual(comp_move.quantity, component, places=6)
        scrap_move = self._raw(mo, product, "planned_scrap")
        if not scrap:
            self.assertFalse(scrap_move)
            return comp_move, scrap_move
        self.assertEqual(len(scrap_move), 1)
        self.assertEqual(scrap_move.state, "done")
        self.assertAlmostEqual(scrap_move.quantity, scrap, places=6)
        self.assertEqual(scrap_move.raw_material_production_id, mo)
        self.assertEqual(scrap_move.bom_line_id, comp_move.bom_line_id)
        self.assertEqual(scrap_move.backflush_replaced_move_id, comp_move)
        self.assertEqual(scrap_move.location_id, comp_move.location_id)
        self.assertEqual(scrap_move.location_dest_id, comp_move.location_dest_id)
        self.assertEqual(scrap_move.product_uom, comp_move.product_uom)
        self.assertIn(scrap_move.backflush_run_id, mo.backflush_run_ids)
        layers = scrap_move.stock_valuation_layer_ids
        self.assertEqual(set(layers.mapped("backflush_role")), {"planned_scrap"})
        self.assertEqual(layers.backflush_production_id, mo)
        return comp_move, scrap_move

    # ------------------------------------------------------------------
    # percent, constant, both
    # ------------------------------------------------------------------
    def test_percent_rounds_up_to_whole_pieces(self):
        """3 % of 10 boards is 0.3 board: 11 boards leave stock, 10 as the
        component and 1 as planned scrap."""
        bom = self._bom(self.table, [(self.board, 1, {"scrap_percent": 3})])
        mo = self._mo(bom, 10)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.board), 1000 - 11)
        _comp, scrap = self._assert_posted(mo, self.board, 10, 1)
        self.assertAlmostEqual(self._layers_value(scrap), -4.0)
        comp_line = self._run_lines(mo, self.board, "component")
        scrap_line = self._run_lines(mo, self.board, "planned_scrap")
        self.assertEqual((comp_line.planned_qty, comp_line.consumed_qty), (10, 10))
        self.assertEqual((scrap_line.planned_qty, scrap_line.consumed_qty), (1, 1))
        self.assertEqual(scrap_line.fixed_scrap_qty, 0)
        self.assertAlmostEqual(scrap_line.value, 4.0)
        # the finished good carries the planned scrap
        self.assertAlmostEqual(self._layers_value(mo.move_finished_ids), 11 * 4.0)
        self.assertAlmostEqual(
            mo.move_finished_ids.stock_valuation_layer_ids.unit_cost, 4.4
        )

    def test_percent_exact_needs_no_rounding(self):
        bom = self._bom(self.table, [(self.board, 2, {"scrap_percent": 10})])
        mo = self._mo(bom, 10)  # 20 boards + 2
        mo.button_mark_done()
        self._assert_posted(mo, self.board, 20, 2)
        self.assertEqual(self._qty(self.board), 978)

    def test_constant_scrap(self):
        bom = self._bom(self.table, [(self.board, 1, {"scrap_fixed_qty": 2})])
        mo = self._mo(bom, 10)
        mo.button_mark_done()
        self._assert_posted(mo, self.board, 10, 2)
        self.assertEqual(self._qty(self.board), 988)
        scrap_line = self._run_lines(mo, self.board, "planned_scrap")
        self.assertEqual(scrap_line.fixed_scrap_qty, 2)
        self.assertEqual(scrap_line.planned_qty, 2)

    def test_percent_and_constant(self):
        bom = self._bom(
            self.table, [(self.board, 1, {"scrap_percent": 10, "scrap_fixed_qty": 2})]
        )
        mo = self._mo(bom, 10)  # 10 + 1 + 2
        mo.button_mark_done()
        self._assert_posted(mo, self.board, 10, 3)
        self.assertEqual(self._qty(self.board), 987)
        self.assertEqual(
            self._run_lines(mo, self.board, "planned_scrap").fixed_scrap_qty, 2
        )
        self.assertAlmostEqual(self._layers_value(mo.move_finished_ids), 13 * 4.0)

    def test_constant_scrap_in_line_uom(self):
        """The constant is in the line's unit: 1 dozen screws per MO."""
        bom = self._bom(
            self.table,
            [
                (
                    self.screw,
                    4,
                    {"scrap_fixed_qty": 1, "product_uom_id": self.uom_dozen.id},
                )
            ],
        )
        mo = self._mo(bom, 1)  # 4 dozens + 1 dozen = 60 screws
        mo.button_mark_done()
        self.assertAlmostEqual(self._qty(self.screw), 10000 - 60)
        self._assert_posted(mo, self.screw, 4, 1)

    def test_kilograms_to_the_gram(self):
        """0.125 kg of glue per table, 3 %: 7 tables need 0.875 kg + 0.02625 kg
        = 0.90125 kg, posted as 0.902 kg (never less)."""
        bom = self._bom(self.table, [(self.glue, 0.125, {"scrap_percent": 3})])
        mo = self._mo(bom, 7)
        mo.button_mark_done()
        self._assert_posted(mo, self.glue, 0.875, 0.027)
        self.assertAlmostEqual(self._qty(self.glue), 100 - 0.902, places=6)
        # each layer is rounded to the currency: 7.00 + 0.22
        self.assertAlmostEqual(
            self._layers_value(mo.move_finished_ids), 0.902 * 8.0, delta=0.01
        )

    def test_three_times_point_one_kg_stays_point_three(self):
        """0.1 kg per table, 10 % scrap: 3 tables post 0.3 + 0.03 kg, not a
        gram more from binary noise."""
        bom = self._bom(self.table, [(self.glue, 0.1, {"scrap_percent": 10})])
        mo = self._mo(bom, 3)
        mo.button_mark_done()
        self._assert_posted(mo, self.glue, 0.3, 0.03)
        self.assertAlmostEqual(self._qty(self.glue), 100 - 0.33, places=6)

    def test_mo_from_form_and_from_code_post_the_same(self):
        """An MO created in the form view (the web client sends only the
        fields of the view) posts exactly what one created in code posts."""
        bom = self._bom(
            self.table,
            [
                (self.board, 1, {"scrap_percent": 3}),
                (self.glue, 0.125, {"scrap_percent": 10, "scrap_fixed_qty": 0.05}),
            ],
        )
        by_form = self._mo(bom, 10)
        by_code = self.env["mrp.production"].create(
            {"product_id": self.table.id, "bom_id": bom.id, "product_qty": 10}
        )
        by_code.action_confirm()

        def posted(mo):
            mo.button_mark_done()
            return sorted(
                (m.product_id.name, m.backflush_role, round(m.quantity, 6))
                for m in mo.move_raw_ids
            )

        expected = [
            ("Board", "component", 10),
            ("Board", "planned_scrap", 1),
            ("Wood Glue", "component", 1.25),
            ("Wood Glue", "planned_scrap", 0.175),
        ]
        self.assertEqual(posted(by_code), expected)
        self.assertEqual(posted(by_form), expected)

    def test_no_scrap_no_scrap_move(self):
        bom = self._bom(self.table, [(self.board, 1)])
        mo = self._mo(bom, 10)
        mo.button_mark_done()
        self._assert_posted(mo, self.board, 10, 0)
        self.assertNotIn("planned_scrap", mo.backflush_run_ids.line_ids.mapped("role"))

    # ------------------------------------------------------------------
    # demand
    # ------------------------------------------------------------------
    def test_demand_includes_planned_scrap(self):
        bom = self._bom(
            self.table,
            [
                (self.board, 1, {"scrap_percent": 3}),
                (self.glue, 0.125, {"scrap_percent": 10, "scrap_fixed_qty": 0.05}),
                (self.screw, 8),
            ],
        )
        mo = self._mo(bom, 10)
        board = mo.move_raw_ids.filtered(lambda m: m.product_id == self.board)
        glue = mo.move_raw_ids.filtered(lambda m: m.product_id == self.glue)
        screw = mo.move_raw_ids.filtered(lambda m: m.product_id == self.screw)
        # never less than net + planned scrap, never more than what will post
        self.assertGreaterEqual(board.product_uom_qty, 10.3 - 1e-9)
        self.assertLessEqual(board.product_uom_qty, 11)
        self.assertGreaterEqual(glue.product_uom_qty, 1.25 + 0.125 + 0.05 - 1e-9)
        self.assertLessEqual(glue.product_uom_qty, 1.425 + 1e-9)
        self.assertEqual(screw.product_uom_qty, 80)
        # reservation sees the real need
        self.assertGreaterEqual(glue.quantity, 1.425 - 1e-9)
        self.assertEqual(screw.quantity, 80)
        mo.button_mark_done()
        self._assert_posted(mo, self.glue, 1.25, 0.175)
        self._assert_posted(mo, self.board, 10, 1)

    def test_demand_of_mo_with_rounded_up_scrap_posts_no_more(self):
        """After Mark Done, the component's demand is what it posted (Odoo
        shows demand vs consumed on the MO)."""
        bom = self._bom(self.table, [(self.board, 1, {"scrap_percent": 3})])
        mo = self._mo(bom, 10)
        mo.button_mark_done()
        total = sum(
            mo.move_raw_ids.filtered(lambda m: m.product_id == self.board).mapped(
                "quantity"
            )
        )
        self.assertEqual(total, 11)

    # ------------------------------------------------------------------
    # backorders
    # ------------------------------------------------------------------
    def test_backorders_percent_proportional_constant_once(self):
        """100 tables, 10 % + 5 boards per MO, made 30 + 30 + 40: the percent
        follows each share, the constant posts once over the whole family."""
        bom = self._bom(
            self.table, [(self.board, 1, {"scrap_percent": 10, "scrap_fixed_qty": 5})]
        )
        mo = self._mo(bom, 100)
        backorder = self._backorder(mo, 30)
        self.assertEqual(mo.state, "done")
        self._assert_posted(mo, self.board, 30, 3 + 5)
        self.assertEqual(self._qty(self.board), 1000 - 38)
        self.assertEqual(
            self._run_lines(mo, self.board, "planned_scrap").fixed_scrap_qty, 5
        )

        backorder2 = self._backorder(backorder, 30)
        self.assertEqual(backorder.state, "done")
        self._assert_posted(backorder, self.board, 30, 3)
        self.assertEqual(self._qty(self.board), 1000 - 38 - 33)
        self.assertFalse(
            self._run_lines(backorder, self.board, "planned_scrap").fixed_scrap_qty
        )

        backorder2.button_mark_done()
        self.assertEqual(backorder2.state, "done")
        self._assert_posted(backorder2, self.board, 40, 4)
        self.assertEqual(self._qty(self.board), 1000 - 115)
        self.assertEqual(self._qty(self.table), 100)
        family = mo | backorder | backorder2
        self.assertEqual(
            sum(family.backflush_run_ids.line_ids.mapped("fixed_scrap_qty")), 5
        )
        self.assertEqual(
            sum(
                family.move_raw_ids.filtered(
                    lambda m: m.backflush_role == "planned_scrap"
                ).mapped("quantity")
            ),
            15,
        )

    def test_backorder_percent_rounding_over_the_family(self):
        """3 % of 5 rounds up to 6 boards; the family of 10 requires 11
        (10.3 rounded up): the backorder posts 5, never less than the BOM
        asks for the family, and never the rounding twice."""
        bom = self._bom(self.table, [(self.board, 1, {"scrap_percent": 3})])
        mo = self._mo(bom, 10)
        backorder = self._backorder(mo, 5)
        backorder.button_mark_done()
        self._assert_posted(mo, self.board, 5, 1)
        self._assert_posted(backorder, self.board, 5, 0)
        self.assertEqual(self._qty(self.board), 1000 - 11)

    # ------------------------------------------------------------------
    # reservations
    # ------------------------------------------------------------------
    def _assert_reserved_as_lines(self, products):
        """Each quant of ``products`` reserves what the open move lines on
        it hold: the planned scrap took its component's reservation over
        without losing or doubling any."""

        def key(record):
            return (
                record.product_id,
                record.location_id,
                record.lot_id,
                record.package_id,
                record.owner_id,
            )

        reserved, held = defaultdict(float), defaultdict(float)
        for quant in self.env["stock.quant"].search(
            [("product_id", "in", products.ids), ("location_id.usage", "=", "internal")]
        ):
            reserved[key(quant)] += quant.reserved_quantity
        for line in self.env["stock.move.line"].search(
            [
                ("product_id", "in", products.ids),
                ("location_id.usage", "=", "internal"),
                ("state", "not in", ("done", "cancel")),
            ]
        ):
            held[key(line)] += line.quantity_product_uom
        for k in reserved.keys() | held.keys():
            self.assertAlmostEqual(
                reserved[k], held[k], places=6, msg=f"reserved on {k}"
            )

    def test_planned_scrap_leaves_reservations_as_the_lines_say(self):
        """A backorder and another order reserve the same stock: after each
        Mark Done the quants reserve what their open lines hold."""
        bom = self._bom(
            self.table,
            [
                (self.board, 1, {"scrap_percent": 10}),
                (self.screw, 8, {"scrap_percent": 5}),
            ],
        )
        other = self._mo(bom, 5)
        mo = self._mo(bom, 10)
        backorder = self._backorder(mo, 4)
        self.assertTrue(self._raw(mo, self.board, "planned_scrap"))
        self.assertTrue(self._raw(mo, self.screw, "planned_scrap"))
        self.assertTrue(backorder.move_raw_ids.move_line_ids)
        self._assert_reserved_as_lines(self.board | self.screw)
        for production in (backorder, other):
            production.button_mark_done()
            self.assertEqual(production.state, "done")
            self._assert_reserved_as_lines(self.board | self.screw)
        self.assertEqual(self._qty(self.table), 15)

    def test_planned_scrap_reserved_from_another_lot(self):
        """The component gives back the lot it reserved last, the planned
        scrap takes the free stock of its first lot: both quants change."""
        self.env.user.groups_id += self.env.ref("stock.group_production_lot")
        leg = self._product("Scrap Leg", 2.0, tracking="lot")
        first, last = (
            self.env["stock.lot"].create({"name": name, "product_id": leg.id})
            for name in ("FIRST", "LAST")
        )
        self._stock(leg, 20, lot=first).in_date = fields.Datetime.now() - timedelta(
            days=10
        )
        self._stock(leg, 100, lot=last)
        bom = self._bom(self.table, [(leg, 4, {"scrap_percent": 25})])
        mo = self._mo(bom, 5)  # 20 legs + 5
        self.assertEqual(
            {ml.lot_id: ml.quantity for ml in mo.move_raw_ids.move_line_ids},
            {first: 20, last: 5},
        )
        self.env["stock.quant"]._update_available_quantity(
            leg, self.stock_location, 10, lot_id=first
        )
        mo.button_mark_done()
        _comp, scrap = self._assert_posted(mo, leg, 20, 5)
        self.assertEqual(scrap.move_line_ids.lot_id, first)
        self._assert_reserved_as_lines(leg)
        self.assertEqual(self._qty(leg), 105)

    # ------------------------------------------------------------------
    # kits
    # ------------------------------------------------------------------
    def test_kit_component_scrap(self):
        """Scrap set on a kit's own BOM line applies to the exploded component."""
        kit = self._product("Board Kit")
        self._bom(
            kit,
            [(self.board, 1, {"scrap_percent": 10}), (self.screw, 4)],
            type="phantom",
        )
        bom = self._bom(self.table, [(kit, 2)])
        mo = self._mo(bom, 10)  # 20 kits: 20 boards + 2, 80 screws
        mo.button_mark_done()
        self._assert_posted(mo, self.board, 20, 2)
        self._assert_posted(mo, self.screw, 80, 0)
        self.assertEqual(self._qty(self.board), 1000 - 22)
        self.assertAlmostEqual(self._qty(self.screw), 10000 - 80)

    def test_kit_line_scrap_is_refused(self):
        """Scrap on a kit line would be lost in the explosion: it is refused,
        pointing at the kit's own BOM, where its components carry scrap."""
        kit = self._product("Board Kit")
        kit_bom = self._bom(kit, [(self.board, 1), (self.screw, 4)], type="phantom")
        with self.assertRaisesRegex(ValidationError, "Board Kit.*kit's own BOM"):
            self._bom(self.table, [(kit, 2, {"scrap_percent": 5})])
        kit_bom.bom_line_ids.filtered(
            lambda line: line.product_id == self.board
        ).scrap_percent = 5
        bom = self._bom(self.table, [(kit, 2)])
        mo = self._mo(bom, 10)  # 20 kits: 20 boards + 5 % of them
        mo.button_mark_done()
        self.assertEqual(self._qty(self.board), 1000 - 21)
        self._assert_posted(mo, self.board, 20, 1)
        self._assert_posted(mo, self.screw, 80, 0)

    # ------------------------------------------------------------------
    # Odoo's consumption check
    # ------------------------------------------------------------------
    def _assert_no_consumption_warning(self, consumption):
        bom = self._bom(
            self.table,
            [
                (self.board, 1, {"scrap_percent": 3}),
                (self.glue, 0.125, {"scrap_percent": 3, "scrap_fixed_qty": 0.01}),
            ],
            consumption=consumption,
        )
        mo = self._mo(bom, 10)
        self.assertEqual(mo.consumption, consumption)
        res = mo.button_mark_done()
        if isinstance(res, dict):
            self.assertNotEqual(res.get("res_model"), "mrp.consumption.warning", res)
        self.assertEqual(mo.state, "done")
        self._assert_posted(mo, self.board, 10, 1)
        self._assert_posted(mo, self.glue, 1.25, 0.048)

    def test_consumption_warning_accepts_planned_scrap(self):
        self._assert_no_consumption_warning("warning")

    def test_consumption_strict_accepts_planned_scrap(self):
        self._assert_no_consumption_warning("strict")

    # ------------------------------------------------------------------
    # bad input
    # ------------------------------------------------------------------
    def test_invalid_scrap_refused_naming_bom_and_component(self):
        bom = self._bom(self.table, [(self.board, 1)])
        line = bom.bom_line_ids
        names = f"{re.escape(bom.display_name)}.*{re.escape(self.board.display_name)}"
        for field, value in (
            ("scrap_percent", -3),
            ("scrap_percent", 1000),
            ("scrap_percent", 5000),
            ("scrap_fixed_qty", -1),
        ):
            with self.subTest(field=field, value=value):
                with self.assertRaisesRegex(ValidationError, names):
                    with self.env.cr.savepoint():
                        line.write({field: value})
        self.assertEqual((line.scrap_percent, line.scrap_fixed_qty), (0, 0))
        # the limits themselves are accepted
        line.write({"scrap_percent": 999.99, "scrap_fixed_qty": 0})
        line.scrap_percent = 0

    def test_invalid_scrap_refused_on_create(self):
        with self.assertRaisesRegex(ValidationError, "Board"):
            self._bom(self.table, [(self.board, 1, {"scrap_percent": -1})])
        with self.assertRaisesRegex(ValidationError, "Board"):
            self._bom(self.table, [(self.board, 1, {"scrap_fixed_qty": -0.5})])

    def test_invalid_scrap_refused_in_bom_form(self):
        bom = self._bom(self.table, [(self.board, 1)])
        with self.assertRaisesRegex(ValidationError, "Board"):
            with self.env.cr.savepoint():
                with Form(bom) as form:
                    with form.bom_line_ids.edit(0) as line:
                        line.scrap_percent = 1000
        self.assertEqual(bom.bom_line_ids.scrap_percent, 0)

    # ------------------------------------------------------------------
    # actual scrap, with Odoo's Scrap button
    # ------------------------------------------------------------------
    def test_actual_component_scrap_from_mo(self):
        bom = self._bom(self.table, [(self.board, 1, {"scrap_percent": 3})])
        mo = self._mo(bom, 10)
        scrap = self._scrap(mo, self.board, 3, tags=[self.reason_broken])
        self.assertEqual(scrap.state, "done")
        self.assertEqual(scrap.production_id, mo)
        self.assertEqual(scrap.location_id, mo.location_src_id)
        self.assertEqual(scrap.move_ids.state, "done")
        self.assertEqual(scrap.move_ids.quantity, 3)
        self.assertEqual(scrap.move_ids.raw_material_production_id, mo)
        self.assertEqual(scrap.move_ids.backflush_role, "actual_scrap")
        self.assertEqual(
            set(scrap.move_ids.stock_valuation_layer_ids.mapped("backflush_role")),
            {"actual_scrap"},
        )
        self.assertEqual(self._qty(self.board), 997)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        # the backflush still posts the BOM quantity; scrap is on top of it
        self._assert_posted(mo, self.board, 10, 1)
        self.assertEqual(self._qty(self.board), 1000 - 3 - 11)
        # ... and reports the actual scrap beside the planned one
        actual = self._run_lines(mo, self.board, "actual_scrap")
        self.assertEqual(len(actual), 1)
        self.assertEqual(actual.consumed_qty, 3)
        self.assertEqual(actual.move_id, scrap.move_ids)
        self.assertEqual(actual.scrap_reason_ids, self.reason_broken)
        self.assertEqual(
            self._run_lines(mo, self.board, "planned_scrap").consumed_qty, 1
        )

    def test_scrapped_finished_units_consumed_their_components(self):
        bom = self._bom(self.table, [(self.board, 2, {"scrap_percent": 10})])
        mo = self._mo(bom, 10)
        mo.button_mark_done()
        self.assertEqual(self._qty(self.table), 10)
        unit_cost = mo.move_finished_ids.stock_valuation_layer_ids.unit_cost
        self.assertAlmostEqual(unit_cost, 22 * 4.0 / 10)
        scrap = self._scrap(mo, self.table, 2, tags=[self.reason_broken])
        self.assertEqual(scrap.state, "done")
        self.assertEqual(scrap.location_id, mo.location_dest_id)
        self.assertEqual(scrap.move_ids.production_id, mo)
        self.assertEqual(self._qty(self.table), 8)
        # the 2 scrapped tables consumed their boards like the 8 good ones
        self.assertEqual(self._qty(self.board), 1000 - 22)
        self.assertEqual(
            sum(
                mo.move_raw_ids.filtered(lambda m: m.state == "done").mapped("quantity")
            ),
            22,
        )
        # and leave stock at their full cost, planned scrap included
        self.assertAlmostEqual(
            -self._layers_value(scrap.move_ids), 2 * unit_cost, places=4
        )
        self.assertEqual(scrap.move_ids.backflush_role, "actual_scrap")
