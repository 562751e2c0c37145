# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Corrections after Mark Done (SPEC §4 Corrections): the wizard, Odoo's
own unlock-and-edit, and the finished goods' value that follows."""

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, new_test_user, tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestCorrection(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.chair = cls._product("Corr Chair", 0.0)
        cls.leg = cls._product("Corr Leg", 2.0)
        cls.seat = cls._product("Corr Seat", 10.0)
        cls.bom = cls._bom(cls.chair, [(cls.leg, 4), (cls.seat, 1)])
        cls.leg_line = cls.bom.bom_line_ids.filtered(
            lambda ln: ln.product_id == cls.leg
        )
        cls._stocks(leg=1000, seat=500)
        cls.manager = cls._manager("bf_corr_manager")
        cls.operator = cls._operator("bf_corr_operator")
        cls.tag = cls.env["stock.scrap.reason.tag"].create({"name": "Miscut legs"})
        cls.shelf = cls.env["stock.location"].create(
            {"name": "Leftovers", "location_id": cls.stock_location.id}
        )

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def _done_mo(self, qty=10, bom=None):
        mo = self._mo(bom or self.bom, qty)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        return mo

    def _wizard(self, mo, user=None):
        action = mo.with_user(user or self.manager).action_backflush_correct()
        return (
            self.env["mrp.backflush.correction"]
            .with_user(user or self.manager)
            .browse(action["res_id"])
        )

    def _add_leg_line(self, wizard, lot, qty_used):
        """A line of legs of ``lot`` added in the wizard's form."""
        form = Form(wizard)
        with form.line_ids.new() as line:
            line.bom_line_id = self.leg_line
            line.lot_id = lot
            line.qty_used = qty_used
        return form.save()

    def _correct(self, mo, used, **vals):
        """``used``: {product or (product, lot): quantity really used}."""
        wizard = self._wizard(mo)
        for line in wizard.line_ids:
            for key in ((line.product_id, line.lot_id), line.product_id):
                if key in used:
                    line.qty_used = used[key]
                    break
        wizard.write(dict({"reason_tag_ids": [Command.set(self.tag.ids)]}, **vals))
        wizard.action_confirm()
        return mo.backflush_run_ids.filtered(lambda r: r.trigger == "correction")[:1]

    def _consumed_value(self, mo):
        """Value of every component layer of the MO, returns included."""
        layers = self.env["stock.valuation.layer"].search(
            [
                ("backflush_production_id", "=", mo.id),
                ("backflush_role", "!=", "finished_value"),
                ("stock_move_id.production_id", "=", False),
            ]
        )
        return -sum(layers.mapped("value"))

    def _finished_value(self, mo):
        return self._layers_value(mo.move_finished_ids)

    def _assert_reconciled(self, mo, expensed=0.0):
        """Controller's check: finished goods (+ what was expensed) = consumed."""
        self.assertAlmostEqual(
            self._finished_value(mo) + expensed, self._consumed_value(mo), places=2
        )

    # ------------------------------------------------------------------
    # tests
    # ------------------------------------------------------------------
    def test_more_used_fifo(self):
        mo = self._done_mo()  # 40 legs (80) and 10 seats (100)
        self.assertAlmostEqual(self._finished_value(mo), 180.0)
        run = self._correct(mo, {self.leg: 44}, note="Four legs split at drilling")
        self.assertEqual(run.user_id, self.manager)
        self.assertEqual(run.note, "Four legs split at drilling")
        line = run.line_ids
        self.assertEqual(
            (line.product_id, line.role, line.consumed_qty, line.bom_line_id),
            (self.leg, "correction", 4.0, self.leg_line),
        )
        self.assertEqual(line.scrap_reason_ids, self.tag)
        self.assertAlmostEqual(line.value, 8.0)
        move = line.move_id
        self.assertEqual(
            (move.raw_material_production_id, move.backflush_role, move.state),
            (mo, "correction", "done"),
        )
        self.assertEqual(move.backflush_run_id, run)
        self.assertEqual(move.stock_valuation_layer_ids.backflush_role, "correction")
        self.assertEqual(self._qty(self.leg), 1000 - 44)
        # the Mark Done run still says what it posted
        first = mo.backflush_run_ids.filtered(lambda r: r.trigger == "mark_done")
        leg_line = first.line_ids.filtered(lambda ln: ln.product_id == self.leg)
        self.assertEqual((leg_line.consumed_qty, leg_line.value), (40.0, 80.0))
        # the finished goods follow, with a role of their own
        catch_up = mo.move_finished_ids.stock_valuation_layer_ids.filtered(
            lambda svl: svl.backflush_role == "finished_value"
        )
        self.assertAlmostEqual(catch_up.value, 8.0)
        self.assertEqual(catch_up.backflush_production_id, mo)
        self.assertAlmostEqual(self._finished_value(mo), 188.0)
        self._assert_reconciled(mo)
        body = mo.message_ids[:1].body
        self.assertIn("bf_corr_manager", body)
        self.assertIn(self.leg.display_name, body)
        self.assertIn("+4", body)
        self.assertIn("Miscut legs", body)
        self.assertIn("Four legs split", body)
        # the analysis shows the correction and counts it as consumed
        row = self.env["mrp.backflush.analysis"].search(
            [("production_id", "=", mo.id), ("product_id", "=", self.leg.id)]
        )
        self.assertEqual((row.qty_correction, row.qty_consumed), (4.0, 44.0))
        self.assertAlmostEqual(row.value_correction, 8.0)
        self.assertAlmostEqual(row.value_consumed, 88.0)

    def test_return_avco_to_chosen_location(self):
        (self.chair | self.leg).categ_id = self.categ_avco
        mo = self._done_mo()
        self.assertAlmostEqual(self.chair.standard_price, 18.0)
        self._correct(mo, {self.leg: 35}, location_id=self.shelf.id)
        ret = self.env["stock.move"].search(
            [("origin_returned_move_id", "in", mo.move_raw_ids.ids)]
        )
        self.assertEqual(
            (ret.location_id, ret.location_dest_id, ret.quantity, ret.state),
            (self.leg.property_stock_production, self.shelf, 5.0, "done"),
        )
        self.assertEqual(ret.backflush_role, "correction")
        self.assertEqual(ret.stock_valuation_layer_ids.backflush_production_id, mo)
        self.assertAlmostEqual(ret.stock_valuation_layer_ids.value, 10.0)
        self.assertEqual(self._qty(self.leg, self.shelf), 5)
        run_line = mo.backflush_run_ids.line_ids.filtered(
            lambda ln: ln.role == "correction"
        )
        self.assertEqual(run_line.consumed_qty, -5.0)
        self.assertAlmostEqual(run_line.value, -10.0)
        # AVCO: the 10 chairs in stock now cost 17
        self.assertAlmostEqual(self.chair.standard_price, 17.0)
        self.assertAlmostEqual(self._finished_value(mo), 170.0)
        self._assert_reconciled(mo)
        # the MO's Valuation button shows the return too: finished goods
        # and components balance
        action = mo.action_view_stock_valuation_layers()
        layers = self.env["stock.valuation.layer"].search(action["domain"])
        self.assertIn(ret.stock_valuation_layer_ids, layers)
        self.assertAlmostEqual(sum(layers.mapped("value")), 0.0)
        row = self.env["mrp.backflush.analysis"].search(
            [("production_id", "=", mo.id), ("product_id", "=", self.leg.id)]
        )
        self.assertEqual((row.qty_correction, row.qty_consumed), (-5.0, 35.0))
        # and no more than was consumed can come back
        with self.assertRaisesRegex(UserError, "cannot be negative"):
            self._correct(mo, {self.leg: -1})

    def test_standard_cost_finished_product_automated(self):
        categ = self.env["product.category"].create(
            {
                "name": "Corr Automated Standard",
                "property_cost_method": "standard",
                "property_valuation": "real_time",
            }
        )
        self.chair.write({"categ_id": categ.id, "standard_price": 150.0})
        self.leg.categ_id = self.env["product.category"].create(
            {
                "name": "Corr Automated FIFO legs",
                "property_cost_method": "fifo",
                "property_valuation": "real_time",
            }
        )
        mo = self._done_mo()
        finished_before = self._finished_value(mo)
        self.assertAlmostEqual(finished_before, 1500.0)
        run = self._correct(mo, {self.leg: 44})
        # the standard is kept: no layer added to the finished goods
        self.assertAlmostEqual(self._finished_value(mo), finished_before)
        self.assertFalse(
            mo.move_finished_ids.stock_valuation_layer_ids.filtered(
                lambda svl: svl.backflush_role == "finished_value"
            )
        )
        self.assertAlmostEqual(self.chair.standard_price, 150.0)
        self.assertAlmostEqual(run.line_ids.value, 8.0)
        # the 8.0 stay on the production account the finished goods were
        # credited to at standard: Odoo's variance account for production
        finished_entry = mo.move_finished_ids.stock_valuation_layer_ids.account_move_id
        production_account = finished_entry.line_ids.filtered("credit").account_id
        entry = run.line_ids.move_id.stock_valuation_layer_ids.account_move_id
        debit = entry.line_ids.filtered("debit")
        self.assertEqual((debit.account_id, debit.debit), (production_account, 8.0))

    def test_automated_entries_after_partial_delivery(self):
        categ = self.env["product.category"].create(
            {
                "name": "Corr Automated FIFO",
                "property_cost_method": "fifo",
                "property_valuation": "real_time",
            }
        )
        (self.chair | self.leg | self.seat).categ_id = categ
        mo = self._done_mo()
        self._stock(self.chair, 6)  # 4 of the 10 chairs are gone
        self._correct(mo, {self.leg: 44})  # 8.0 more
        finished_layer = mo.move_finished_ids.stock_valuation_layer_ids.filtered(
            "quantity"
        )
        catch_up = finished_layer.stock_valuation_layer_ids
        self.assertEqual(catch_up.backflush_role, "finished_value")
        self.assertAlmostEqual(catch_up.value, 4.8)  # 6 of 10 still in stock
        self.assertAlmostEqual(finished_layer.remaining_value, 6 * 18.0 + 4.8)
        self.assertAlmostEqual(self.chair.value_svl, 6 * 18.0 + 4.8)
        stock_account = categ.property_stock_valuation_account_id
        self.assertAlmostEqual(
            sum(
                catch_up.account_move_id.line_ids.filtered(
                    lambda aml: aml.account_id == stock_account
                ).mapped("debit")
            ),
            4.8,
        )
        expense = categ.property_account_expense_categ_id
        expensed = self.env["account.move.line"].search(
            [
                ("account_id", "=", expense.id),
                ("move_id.ref", "=like", f"{mo.name} - consumption corrected%"),
            ]
        )
        self.assertAlmostEqual(sum(expensed.mapped("balance")), 3.2)
        self.assertEqual(expensed.move_id.state, "posted")
        self._assert_reconciled(mo, expensed=3.2)

    def test_returns_and_extra_with_lots(self):
        self.leg.tracking = "lot"
        lot_a, lot_b, lot_c = self.env["stock.lot"].create(
            [{"name": name, "product_id": self.leg.id} for name in ("A", "B", "C")]
        )
        self._stock(self.leg, 0)
        self._stock(self.leg, 30, lot=lot_a)
        self._stock(self.leg, 30, lot=lot_b)
        self._stock(self.leg, 10, lot=lot_c)
        mo = self._done_mo(15)  # 60 legs: lots A and B
        wizard = self._wizard(mo)
        by_lot = {ln.lot_id: ln for ln in wizard.line_ids if ln.product_id == self.leg}
        self.assertEqual(set(by_lot), {lot_a, lot_b})
        self.assertEqual(by_lot[lot_b].consumed_qty, 30)
        by_lot[lot_b].qty_used = -5
        with self.assertRaisesRegex(UserError, "cannot be negative"):
            wizard.action_confirm()
        self.assertEqual(self._qty(self.leg), 10)
        # the same lot twice would return it twice
        original = wizard.line_ids
        wizard = self._add_leg_line(wizard, lot_b, 0.0)
        by_lot[lot_b].qty_used = 5
        with self.assertRaisesRegex(UserError, r"\(B\) is on two lines"):
            wizard.action_confirm()
        (wizard.line_ids - original).unlink()
        # 5 of lot B back, 3 more of lot C used
        wizard = self._add_leg_line(wizard, lot_c, 3.0)
        by_lot[lot_b].qty_used = 25
        wizard.action_confirm()
        lots = {
            lot: self.leg.with_context(lot_id=lot.id).qty_available
            for lot in (lot_a, lot_b, lot_c)
        }
        self.assertEqual(lots, {lot_a: 0, lot_b: 5, lot_c: 7})
        run = mo.backflush_run_ids.filtered(lambda r: r.trigger == "correction")
        self.assertEqual(
            sorted((ln.lot_id.name, ln.consumed_qty) for ln in run.line_ids),
            [("B", -5.0), ("C", 3.0)],
        )
        self.assertEqual(
            run.line_ids.filtered(
                lambda ln: ln.lot_id == lot_c
            ).move_id.move_line_ids.lot_id,
            lot_c,
        )
        self._assert_reconciled(mo)

    def test_substitute_and_deferred_lines(self):
        beech = self._product("Corr Beech Leg", 3.0)
        bom = self._bom(
            self.chair,
            [
                (
                    self.leg,
                    4,
                    {"substitute_ids": [Command.create({"product_id": beech.id})]},
                )
            ],
            backflush_substitution="priority",
        )
        self._stock(self.leg, 30)
        self._stock(beech, 100)
        mo = self._done_mo(10, bom)  # 30 legs, 10 beech legs
        sub = self._raw(mo, beech, "substitute")
        self.assertEqual(sub.quantity, 10)
        self._correct(mo, {beech: 8})
        ret = self.env["stock.move"].search([("origin_returned_move_id", "=", sub.id)])
        self.assertEqual((ret.quantity, ret.bom_line_id), (2.0, sub.bom_line_id))
        self.assertAlmostEqual(ret.stock_valuation_layer_ids.value, 6.0)
        self.assertEqual(self._qty(beech), 92)
        self._assert_reconciled(mo)

        # deferred: 30 legs short, 20 arrive, then 2 more were really used
        bom.backflush_shortage_policy = "defer"
        bom.backflush_substitution = "none"
        self._stock(self.leg, 10)
        mo = self._done_mo(10, bom)
        self._stock(self.leg, 30)
        mo.backflush_exception_ids.action_retry()
        self.assertEqual(self._raw(mo, self.leg, "deferred").quantity, 30)
        self._correct(mo, {self.leg: 42})
        self.assertEqual(self._raw(mo, self.leg, "correction").quantity, 2)
        self.assertEqual(self._qty(self.leg), -2)
        roles = set(
            mo.move_finished_ids.stock_valuation_layer_ids.mapped("backflush_role")
        )
        self.assertEqual(roles, {"finished", "finished_value"})
        self._assert_reconciled(mo)
        # Inventory > Valuation grouped by role: no role nets out (issue 12)
        totals = dict(
            self.env["stock.valuation.layer"]._read_group(
                [("backflush_production_id", "=", mo.id)],
                ["backflush_role"],
                ["value:sum"],
            )
        )
        self.assertAlmostEqual(totals["deferred"], -60.0)
        self.assertAlmostEqual(totals["correction"], -4.0)
        self.assertAlmostEqual(totals["finished_value"], 64.0)

    def test_odoo_unlock_and_edit(self):
        mo = self._done_mo()
        mo.action_toggle_is_locked()
        leg_move = self._raw(mo, self.leg)
        # what the Components tab sends
        mo.write({"move_raw_ids": [Command.update(leg_move.id, {"quantity": 46})]})
        self.assertEqual(leg_move.quantity, 46)
        run = mo.backflush_run_ids.filtered(lambda r: r.trigger == "correction")
        self.assertEqual(len(run), 1)
        self.assertEqual(
            (run.line_ids.consumed_qty, run.line_ids.move_id, run.line_ids.value),
            (6.0, leg_move, 12.0),
        )
        first = mo.backflush_run_ids.filtered(lambda r: r.trigger == "mark_done")
        leg_line = first.line_ids.filtered(lambda ln: ln.product_id == self.leg)
        self.assertEqual((leg_line.consumed_qty, leg_line.value), (40.0, 80.0))
        self.assertEqual(leg_move.backflush_run_id, first)
        self.assertAlmostEqual(self._finished_value(mo), 192.0)
        self._assert_reconciled(mo)
        # down again: a second correction, the value comes back out
        leg_move.quantity = 38
        runs = mo.backflush_run_ids.filtered(lambda r: r.trigger == "correction")
        self.assertEqual(sorted(runs.line_ids.mapped("consumed_qty")), [-8.0, 6.0])
        self.assertAlmostEqual(self._finished_value(mo), 176.0)
        self._assert_reconciled(mo)
        row = self.env["mrp.backflush.analysis"].search(
            [("production_id", "=", mo.id), ("product_id", "=", self.leg.id)]
        )
        self.assertEqual(
            (row.qty_component, row.qty_correction, row.qty_consumed), (40, -2, 38)
        )
        self.assertAlmostEqual(row.value_component, 80.0)
        self.assertAlmostEqual(row.value_consumed, 76.0)
        # the wizard then starts from what the edit left
        wizard = self._wizard(mo)
        self.assertEqual(
            wizard.line_ids.filtered(lambda ln: ln.product_id == self.leg).consumed_qty,
            38,
        )

    def test_stale_wizard_and_rights(self):
        mo = self._done_mo()
        first, second = self._wizard(mo), self._wizard(mo)
        first.line_ids.filtered(lambda ln: ln.product_id == self.leg).qty_used = 41
        first.action_confirm()
        second.line_ids.filtered(lambda ln: ln.product_id == self.leg).qty_used = 41
        with self.assertRaisesRegex(UserError, "changed since you opened"):
            second.action_confirm()
        self.assertEqual(
            len(mo.backflush_run_ids.filtered(lambda r: r.trigger == "correction")), 1
        )
        with self.assertRaisesRegex(UserError, "Nothing to correct"):
            self._wizard(mo).action_confirm()
        with self.assertRaisesRegex(AccessError, "manufacturing manager"):
            mo.with_user(self.operator).action_backflush_correct()
        # a manufacturing manager without inventory or accounting rights
        mrp_manager = new_test_user(
            self.env, "bf_corr_mrp_only", groups="mrp.group_mrp_manager"
        )
        wizard = self._wizard(mo, user=mrp_manager)
        wizard.line_ids.filtered(lambda ln: ln.product_id == self.seat).qty_used = 9
        wizard.action_confirm()
        self.assertEqual(self._qty(self.seat), 500 - 9)
        self._assert_reconciled(mo)
        open_mo = self._mo(self.bom, 1)
        with self.assertRaisesRegex(UserError, "not done"):
            open_mo.with_user(self.manager).action_backflush_correct()

    def test_quantities_must_be_finite_and_returns_internal(self):
        mo = self._done_mo()
        wizard = self._wizard(mo)
        line = wizard.line_ids.filtered(lambda ln: ln.product_id == self.leg)
        for value in (float("nan"), float("inf"), float("-inf"), 1e15, -1e15):
            with (
                self.subTest(value=value),
                self.assertRaisesRegex(
                    ValidationError,
                    f"{mo.name}.*Corr Leg: Really Used must be a finite number",
                ),
            ):
                line.write({"qty_used": value})  # as an RPC call or a form
        with self.assertRaisesRegex(ValidationError, "Corr Leg.*finite number"):
            self.env["mrp.backflush.correction"].with_user(self.manager).create(
                {
                    "production_id": mo.id,
                    "location_id": self.stock_location.id,
                    "line_ids": [
                        Command.create(
                            {
                                "product_id": self.leg.id,
                                "bom_line_id": self.leg_line.id,
                                "qty_used": float("nan"),
                            }
                        )
                    ],
                }
            )
        customers = self.env.ref("stock.stock_location_customers")
        with (
            self.assertRaisesRegex(
                ValidationError, f"{mo.name}.*Customers; choose an internal location"
            ),
            self.env.cr.savepoint(),
        ):
            wizard.location_id = customers
        line.qty_used = 35
        wizard.action_confirm()
        self.assertEqual(self._qty(self.leg), 1000 - 35)
        self.assertEqual(self._qty(self.leg, customers), 0)

    def test_only_done_orders_are_corrected(self):
        """A work order finished (the MO is to close) or an MO cancelled
        after it: its consumption is the order's own, never a correction."""
        workcenter = self._workcenter("Corr Assembly")
        bom = self._bom(
            self.chair,
            [(self.leg, 4)],
            backflush_mode="operation",
            operation_ids=[
                Command.create({"name": "Legs", "workcenter_id": workcenter.id})
            ],
        )
        bom.bom_line_ids.operation_id = bom.operation_ids
        mo = self._mo(bom, 10)
        mo.workorder_ids.button_start()
        mo.workorder_ids.button_finish()
        self.assertEqual((mo.state, self._qty(self.leg)), ("to_close", 960))
        Wizard = self.env["mrp.backflush.correction"].with_user(self.manager)
        with self.assertRaisesRegex(UserError, "To Close, not done"):
            Wizard._open_for(mo)
        # made over RPC all the same, then confirmed
        wizard = Wizard.create(
            {
                "production_id": mo.id,
                "location_id": self.stock_location.id,
                "line_ids": [
                    Command.create(
                        {
                            "product_id": self.leg.id,
                            "bom_line_id": bom.bom_line_ids.id,
                            "qty_used": 36,
                        }
                    )
                ],
            }
        )
        self.assertEqual(wizard.line_ids.consumed_qty, 40)
        with self.assertRaisesRegex(UserError, f"{mo.name} is To Close, not done"):
            wizard.action_confirm()
        mo.action_cancel()
        self.assertEqual(mo.state, "cancel")
        with self.assertRaisesRegex(UserError, f"{mo.name} is Cancelled, not done"):
            wizard.action_confirm()
        self.assertEqual(self._qty(self.leg), 960)
        self.assertFalse(
            mo.backflush_run_ids.filtered(lambda r: r.trigger == "correction")
        )

    def test_advice_counts_corrections(self):
        """Two MOs of 10 chairs really used 46 legs each: the BOM's 4 legs
        per chair are 15 % short; legs are whole parts, so the advice is
        15 % planned scrap, not 4.6 legs a chair."""
        for _i in range(2):
            self._correct(self._done_mo(), {self.leg: 46})
        advice = self.env["mrp.bom.backflush.advice"].create(
            {"bom_ids": [Command.set(self.bom.ids)]}
        )
        advice.action_compute()
        line = advice.line_ids
        self.assertEqual(line.bom_line_id, self.leg_line)
        self.assertAlmostEqual(line.observed_per_unit, 4.6)
        self.assertEqual(line.suggestion_type, "scrap")
        self.assertAlmostEqual(line.suggested_value, 15.0)

    def test_component_added_to_an_unlocked_done_mo_names_its_mo(self):
        """Issue 22 item 11: a component added to an unlocked done MO is a
        correction, and its layer says which MO it was for."""
        glue = self._product("Corr Glue", 3.0)
        self._stock(glue, 10)
        mo = self._done_mo()
        mo.action_toggle_is_locked()
        with Form(mo) as form:
            with form.move_raw_ids.new() as raw:
                raw.product_id = glue
                raw.quantity = 2
        move = mo.move_raw_ids.filtered(lambda m: m.product_id == glue)
        layers = move.stock_valuation_layer_ids
        self.assertEqual(layers.mapped("backflush_role"), ["correction"])
        self.assertEqual(layers.backflush_production_id, mo)
