# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestMarkDone(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.chair = cls._product("Chair", 0.0)
        cls.leg = cls._product("Leg", 2.5)
        cls.seat = cls._product("Seat Frame", 12.0)
        cls.backrest = cls._product("Backrest", 9.0)
        cls.bom_chair = cls._bom(
            cls.chair, [(cls.leg, 4), (cls.seat, 1), (cls.backrest, 1)]
        )
        cls.bicycle = cls._product("Bicycle", 0.0)
        cls.wheel = cls._product("Wheel", 40.0)
        cls.frame = cls._product("Frame", 120.0)
        cls.bom_bicycle = cls._bom(cls.bicycle, [(cls.wheel, 2), (cls.frame, 1)])
        cls._stocks(leg=1000, seat=300, backrest=300, wheel=500, frame=200)
        cls.operator = cls._operator("bf_operator")
        cls.manager = cls._manager("bf_manager")

    def test_chair_seed_example(self):
        """100 chairs at 4 legs each deduct 400 legs, 100 frames, 100 backrests."""
        mo = self._mo(self.bom_chair, 100)
        mo.with_user(self.operator).button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg), 600)
        self.assertEqual(self._qty(self.seat), 200)
        self.assertEqual(self._qty(self.backrest), 200)
        self.assertEqual(self._qty(self.chair), 100)
        run = mo.backflush_run_ids
        self.assertEqual(len(run), 1)
        self.assertEqual(run.trigger, "mark_done")
        self.assertEqual(run.user_id, self.operator)
        self.assertEqual(run.produced_qty, 100)
        self.assertEqual(run.backflush_shortage_policy, "negative")
        by_product = {line.product_id: line for line in run.line_ids}
        self.assertEqual(by_product[self.leg].consumed_qty, 400)
        self.assertEqual(by_product[self.leg].role, "component")
        self.assertEqual(by_product[self.leg].value, 1000.0)
        self.assertEqual(by_product[self.seat].value, 1200.0)
        self.assertEqual(by_product[self.backrest].value, 900.0)
        moves = mo.move_raw_ids
        self.assertEqual(set(moves.mapped("backflush_role")), {"component"})
        self.assertEqual(moves.backflush_run_id, run)
        layers = moves.stock_valuation_layer_ids
        self.assertEqual(set(layers.mapped("backflush_role")), {"component"})
        self.assertEqual(layers.backflush_production_id, mo)
        # mrp_account: finished value = value consumed
        finished_value = self._layers_value(mo.move_finished_ids)
        self.assertAlmostEqual(finished_value, 3100.0)
        self.assertAlmostEqual(run.value, 3100.0)
        body = mo.message_ids.filtered(lambda m: "Backflush posted" in m.body).body
        self.assertIn("3 components", body)

    def test_chatter_counts_components_not_moves(self):
        """Planned scrap is a second move of the same component: still one
        component to the reader."""
        self.bom_chair.bom_line_ids.filtered(
            lambda ln: ln.product_id == self.leg
        ).scrap_percent = 1
        mo = self._mo(self.bom_chair, 100)
        mo.button_mark_done()
        self.assertEqual(len(mo.backflush_run_ids.line_ids), 4)
        body = mo.message_ids.filtered(lambda m: "Backflush posted" in m.body).body
        self.assertIn("3 components; planned scrap of Leg.", body)
        self.assertNotIn("value", body.lower())

    def test_bicycle_seed_example(self):
        """50 bicycles at 2 wheels each deduct 100 wheels."""
        mo = self._mo(self.bom_bicycle, 50)
        mo.button_mark_done()
        self.assertEqual(self._qty(self.wheel), 400)
        self.assertEqual(self._qty(self.frame), 150)
        self.assertEqual(self._raw(mo, self.wheel).quantity, 100)
        self.assertAlmostEqual(
            self._layers_value(mo.move_finished_ids), 100 * 40 + 50 * 120
        )

    def test_uom_conversion(self):
        """A BOM made per dozen with components in grams posts converted."""
        glue = self._product("Glue", 0.01, uom=self.uom_kgm)
        self._stock(glue, 10)
        bom = self._bom(
            self.chair,
            [(glue, 240, {"product_uom_id": self.uom_gram.id})],
            qty=1,
            product_uom_id=self.uom_dozen.id,
        )
        mo = self._mo(bom, 5)  # 5 dozen = 60 chairs, 20 g each
        mo.button_mark_done()
        self.assertAlmostEqual(self._qty(glue), 10 - 1.2)
        self.assertEqual(self._qty(self.chair), 60)

    def test_phantom_kit_exploded(self):
        kit = self._product("Leg kit")
        screw = self._product("Screw", 0.1)
        self._stock(screw, 1000)
        self._bom(kit, [(self.leg, 1), (screw, 2)], type="phantom")
        bom = self._bom(self.chair, [(kit, 4), (self.seat, 1)])
        mo = self._mo(bom, 10)
        mo.button_mark_done()
        self.assertEqual(self._qty(self.leg), 960)
        self.assertEqual(self._qty(screw), 920)
        self.assertEqual(
            set(mo.backflush_run_ids.line_ids.product_id.ids),
            {self.leg.id, screw.id, self.seat.id},
        )

    def test_backorder_posts_each_share(self):
        mo = self._mo(self.bom_chair, 100)
        backorder = self._backorder(mo, 40)
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg), 1000 - 160)
        self.assertEqual(mo.backflush_run_ids.produced_qty, 40)
        backorder.button_mark_done()
        self.assertEqual(backorder.state, "done")
        self.assertEqual(self._qty(self.leg), 600)
        self.assertEqual(len(backorder.backflush_run_ids), 1)
        self.assertEqual(backorder.backflush_run_ids.produced_qty, 60)

    def test_manual_line_override(self):
        """A `manual` line is Odoo manual consumption: the operator's figure."""
        self.bom_chair.bom_line_ids.filtered(
            lambda line: line.product_id == self.seat
        ).backflush_mode = "manual"
        mo = self._mo(self.bom_chair, 10)
        seat_move = mo.move_raw_ids.filtered(lambda m: m.product_id == self.seat)
        self.assertTrue(seat_move.manual_consumption)
        self._type_quantities(mo, 10, {seat_move: 12})
        mo.button_mark_done()
        self.assertEqual(seat_move.quantity, 12)
        self.assertFalse(seat_move.backflush_role)
        self.assertEqual(self._qty(self.seat), 288)
        self.assertEqual(self._qty(self.leg), 960)
        self.assertNotIn(self.seat, mo.backflush_run_ids.line_ids.product_id)

    def test_manual_bom_mode(self):
        """A `manual` BOM is left to Odoo: Mark Done posts what the operator
        typed, the backflush posts nothing."""
        self.bom_chair.backflush_mode = "manual"
        mo = self._mo(self.bom_chair, 5)
        self.assertTrue(all(mo.move_raw_ids.mapped("manual_consumption")))
        typed = {self.leg: 22, self.seat: 5, self.backrest: 6}
        self._type_quantities(
            mo, 5, {move: typed[move.product_id] for move in mo.move_raw_ids}
        )
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg), 1000 - 22)
        self.assertEqual(self._qty(self.seat), 300 - 5)
        self.assertEqual(self._qty(self.backrest), 300 - 6)
        self.assertEqual(self._qty(self.chair), 5)
        self.assertFalse(mo.backflush_run_ids)
        self.assertFalse(mo.move_raw_ids.filtered("backflush_role"))

    def test_operator_edit_respected(self):
        """A quantity typed by the operator on a backflushed line is kept."""
        mo = self._mo(self.bom_chair, 10)
        leg_move = self._raw(mo, self.leg) or mo.move_raw_ids.filtered(
            lambda m: m.product_id == self.leg
        )
        self._type_quantities(mo, 10, {leg_move: 43})
        mo.button_mark_done()
        self.assertEqual(leg_move.quantity, 43)
        self.assertEqual(self._qty(self.leg), 957)
        self.assertEqual(self._qty(self.seat), 290)

    def test_mark_done_twice(self):
        """A second Mark Done posts nothing and refuses nothing, as in Odoo
        (whose own code calls it after _post_inventory)."""
        mo = self._mo(self.bom_chair, 10)
        mo.button_mark_done()
        mo.button_mark_done()
        self.assertEqual(len(mo.backflush_run_ids), 1)
        self.assertEqual(self._qty(self.leg), 960)

    def test_post_inventory_then_mark_done(self):
        """purchase_mrp's own sequence: posted once, no error."""
        mo = self._mo(self.bom_chair, 10)
        mo.qty_producing = 10
        mo._post_inventory()
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(len(mo.backflush_run_ids), 1)
        self.assertEqual(self._qty(self.leg), 960)
        self.assertEqual(self._qty(self.chair), 10)

    def test_mass_mark_done(self):
        mos = (
            self._mo(self.bom_chair, 10)
            | self._mo(self.bom_bicycle, 5)
            | self._mo(self.bom_chair, 3)
        )
        mos.with_user(self.operator).button_mark_done()
        self.assertEqual(set(mos.mapped("state")), {"done"})
        self.assertEqual(self._qty(self.leg), 1000 - 52)
        self.assertEqual(self._qty(self.wheel), 490)
        self.assertEqual(len(mos.backflush_run_ids), 3)
        for mo in mos:
            self.assertEqual(mo.backflush_run_ids.production_id, mo)

    def test_runs_read_only(self):
        mo = self._mo(self.bom_chair, 2)
        mo.button_mark_done()
        run = mo.backflush_run_ids.with_user(self.operator)
        self.assertTrue(run.line_ids.read(["consumed_qty"]))
        with self.assertRaises(UserError):
            run.write({"produced_qty": 3})
        with self.assertRaises(UserError):
            run.line_ids[0].write({"consumed_qty": 1})
        with self.assertRaises(UserError):
            run.unlink()
        with self.assertRaises(UserError):
            mo.backflush_run_ids.with_user(self.manager).write({"produced_qty": 3})
        with self.assertRaises(UserError):
            mo.backflush_run_ids.with_user(self.manager).sudo(False).unlink()

    def test_policy_rights(self):
        with self.assertRaises(AccessError):
            self.bom_chair.with_user(self.operator).backflush_shortage_policy = "block"
        self.bom_chair.with_user(self.manager).backflush_shortage_policy = "block"
        self.assertEqual(self.bom_chair.backflush_shortage_policy, "block")
        with self.assertRaises(AccessError):
            self.bom_chair.bom_line_ids[0].with_user(self.operator).scrap_percent = 5

    def test_company_defaults(self):
        self.company.write(
            {
                "backflush_mode": "manual",
                "backflush_shortage_policy": "defer",
                "backflush_substitution": "full",
            }
        )
        bom = self._bom(self.chair, [(self.leg, 1)])
        self.assertEqual(
            (
                bom.backflush_mode,
                bom.backflush_shortage_policy,
                bom.backflush_substitution,
            ),
            ("manual", "defer", "full"),
        )
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.backflush_shortage_policy, "defer")

    def test_valuation_layer_role_filter(self):
        mo = self._mo(self.bom_chair, 1)
        mo.button_mark_done()
        layers = self.env["stock.valuation.layer"].search(
            [
                ("backflush_role", "=", "component"),
                ("backflush_production_id", "=", mo.id),
            ]
        )
        self.assertEqual(layers.product_id, self.leg | self.seat | self.backrest)
        groups = self.env["stock.valuation.layer"].read_group(
            [("backflush_production_id", "=", mo.id)], ["value:sum"], ["backflush_role"]
        )
        self.assertEqual(groups[0]["backflush_role"], "component")
        self.assertAlmostEqual(groups[0]["value"], -(4 * 2.5 + 12 + 9))

    def test_new_line_added_on_mo_not_backflushed(self):
        """Components added by hand (no BOM line) follow Odoo's own rules."""
        extra = self._product("Extra")
        self._stock(extra, 10)
        mo = self._mo(self.bom_chair, 1)
        with Form(mo) as form:
            with form.move_raw_ids.new() as line:
                line.product_id = extra
                line.product_uom_qty = 2
        mo.button_mark_done()
        extra_move = mo.move_raw_ids.filtered(lambda m: m.product_id == extra)
        self.assertFalse(extra_move.backflush_role)
        self.assertEqual(self._qty(extra), 8)

    def test_smart_button_and_filter(self):
        mo = self._mo(self.bom_chair, 1)
        mo.button_mark_done()
        self.assertEqual(mo.backflush_run_count, 1)
        action = mo.action_view_backflush_runs()
        self.assertEqual(
            self.env[action["res_model"]].search(action["domain"]), mo.backflush_run_ids
        )
        self.assertFalse(
            self.env["mrp.production"].search(
                [("backflush_pending_count", ">", 0), ("id", "=", mo.id)]
            )
        )

    def test_lines_in_a_finer_unit_post_what_the_move_says(self):
        """Glue kept to 0.01 kg, 500 g a chair, taken from two shelves as
        125 g and 375 g: Odoo would post each line half-up, 0.13 + 0.38 kg.
        The backflush posts its lines in 10 g steps: 0.5 kg leaves stock
        and the layer says 0.5 kg."""
        self.uom_kgm.rounding = 0.01
        glue = self._product("Glue", 4.0, uom=self.uom_kgm)
        shelves = self.env["stock.location"].create(
            [
                {"name": name, "location_id": self.stock_location.id}
                for name in ("Glue Shelf 1", "Glue Shelf 2")
            ]
        )
        for shelf in shelves:
            self._stock(glue, 5, location=shelf)
        bom = self._bom(self.chair, [(glue, 500, {"product_uom_id": self.uom_gram.id})])
        mo = self._mo(bom, 1)
        move = mo.move_raw_ids
        move.move_line_ids.unlink()
        self.env["stock.move.line"].create(
            [
                dict(
                    move._prepare_move_line_vals(),
                    location_id=shelf.id,
                    quantity=qty,
                )
                for shelf, qty in zip(shelves, (125, 375), strict=True)
            ]
        )
        self.assertEqual(move.quantity, 500)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertAlmostEqual(self._qty(glue), 9.5)
        self.assertAlmostEqual(
            sum(move.stock_valuation_layer_ids.mapped("quantity")), -0.5
        )

    def test_reservations_of_other_orders_stay_after_mark_done(self):
        """The lines of a backflush release their reservation with the
        stock they take, in one write of their quant: what the order
        reserved, its planned scrap included, is released once, and what
        another order reserved on the same quant stays reserved."""
        bom = self._bom(self.chair, [(self.leg, 4, {"scrap_percent": 10.0})])
        first, second = self._mo(bom, 10), self._mo(bom, 20)
        (first | second).action_assign()
        quant = self.env["stock.quant"].search(
            [
                ("product_id", "=", self.leg.id),
                ("location_id", "=", self.stock_location.id),
            ]
        )
        self.assertEqual(quant.reserved_quantity, 132)
        first.button_mark_done()
        self.assertEqual(first.state, "done")
        self.assertEqual(self._raw(first, self.leg, "planned_scrap").quantity, 4)
        self.assertEqual(quant.quantity, 956)
        self.assertEqual(quant.reserved_quantity, 88)
        self.assertEqual(second.move_raw_ids.quantity, 88)
