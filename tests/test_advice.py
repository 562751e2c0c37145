# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, new_test_user, tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestAdvice(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._seed_chair(legs=5000, seats=1000)
        cls.bom = cls._bom(cls.chair, [(cls.leg, 4), (cls.seat, 1)])
        cls.leg_line = cls.bom.bom_line_ids.filtered(
            lambda bl: bl.product_id == cls.leg
        )
        cls.seat_line = cls.bom.bom_line_ids - cls.leg_line
        cls.operator = new_test_user(
            cls.env, "bfv_operator", groups="mrp.group_mrp_user,stock.group_stock_user"
        )
        cls.manager = new_test_user(
            cls.env,
            "bfv_manager",
            groups="mrp.group_mrp_manager,stock.group_stock_user",
        )

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def _advice(self, user=None, boms=None, **vals):
        env = self.env(user=user) if user else self.env
        form = Form(env["mrp.bom.backflush.advice"])
        for bom in boms if boms is not None else self.bom:
            form.bom_ids.add(bom)
        for fname, value in vals.items():
            setattr(form, fname, value)
        advice = form.save()
        action = advice.action_compute()
        self.assertEqual(
            (action["res_model"], action["res_id"]), (advice._name, advice.id)
        )
        self.assertTrue(advice.analysed)
        return advice

    def _line(self, advice, bom_line):
        return advice.line_ids.filtered(lambda al: al.bom_line_id == bom_line)

    def _explanation(self, vals):
        """The explanation of an advice line of ``vals``, as shown."""
        return self.env["mrp.bom.backflush.advice.line"].new(vals).explanation

    def _done_with_seats(self, qty, seats):
        """An MO of ``qty`` chairs where the operator records ``seats``."""
        return self._done_recording(self.bom, qty, self.seat, seats)

    def _done_recording(self, bom, qty, product, recorded):
        """An MO of ``qty`` where the operator records ``recorded`` of
        ``product``, done."""
        mo = self._mo(bom, qty)
        move = mo.move_raw_ids.filtered(lambda m: m.product_id == product)
        with Form(mo) as form:
            form.qty_producing = qty
            with form.move_raw_ids.edit(mo.move_raw_ids.ids.index(move.id)) as line:
                line.quantity = recorded
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        return mo

    # ------------------------------------------------------------------
    # suggestions
    # ------------------------------------------------------------------
    def test_scrap_suggestion_applied_by_manager(self):
        """3 MOs of 10 chairs, 4 legs scrapped on each: 4.4 legs per chair
        against 4, +10 %, all of it recorded scrap: planned scrap 10 %."""
        for _i in range(3):
            mo = self._mo(self.bom, 10)
            self._scrap(mo, self.leg, 4)
            mo.button_mark_done()
        advice = self._advice(user=self.operator)
        self.assertEqual(
            advice.line_ids.bom_line_id, self.leg_line, "seats are accurate"
        )
        line = advice.line_ids
        self.assertEqual(line.production_count, 3)
        self.assertAlmostEqual(line.produced_qty, 30.0)
        self.assertAlmostEqual(line.planned_per_unit, 4.0)
        self.assertAlmostEqual(line.observed_per_unit, 4.4)
        self.assertAlmostEqual(line.scrap_per_unit, 0.4)
        self.assertAlmostEqual(line.deviation_percent, 10.0)
        self.assertEqual(line.suggestion_type, "scrap")
        self.assertAlmostEqual(line.current_value, 0.0)
        self.assertAlmostEqual(line.suggested_value, 10.0)
        self.assertIn("Recorded scrap explains", line.explanation)
        self.assertIn("3 done MOs", line.explanation)
        # an operator may read the advice, not change the BOM
        with self.assertRaises(AccessError):
            line.action_apply()
        self.assertEqual(self.leg_line.scrap_percent, 0.0)

        advice = self._advice(user=self.manager)
        line = advice.line_ids
        line.action_apply()
        self.assertEqual(self.leg_line.scrap_percent, 10.0)
        self.assertEqual(self.leg_line.product_qty, 4.0)
        self.assertTrue(line.applied)
        message = self.bom.message_ids[:1]
        self.assertIn("BOM accuracy advice applied by", message.body)
        self.assertIn(self.leg.display_name, message.body)
        self.assertIn("Planned scrap 0.00 % → 10.00 %", message.body)
        with self.assertRaisesRegex(UserError, "no suggestion left"):
            line.action_apply()
        # the BOM now plans what is used: nothing left to advise
        self.assertFalse(self._advice(user=self.manager).line_ids)

    def test_quantity_suggestion_from_operator_edits(self):
        """Operators record 1.2 kg of glue per chair where the BOM says 1,
        nothing scrapped: the BOM quantity itself is wrong."""
        glue = self._product("Glue", 3.0, uom=self.uom_kgm)
        self._stock(glue, 100)
        bom = self._bom(self.chair, [(glue, 1), (self.leg, 4)])
        for _i in range(2):
            self._done_recording(bom, 10, glue, 12)
        advice = self._advice(user=self.manager, boms=bom)
        line = advice.line_ids
        self.assertEqual(line.bom_line_id.product_id, glue, "legs are accurate")
        self.assertAlmostEqual(line.observed_per_unit, 1.2)
        self.assertAlmostEqual(line.scrap_per_unit, 0.0)
        self.assertAlmostEqual(line.deviation_percent, 20.0)
        self.assertEqual(line.suggestion_type, "qty")
        self.assertAlmostEqual(line.current_value, 1.0)
        self.assertAlmostEqual(line.suggested_value, 1.2)
        self.assertEqual(line.change, "Quantity 1.00 → 1.20 kg per 1.00 Units")
        self.assertIn("does not explain", line.explanation)
        explanation = line.explanation
        self.assertIn("(1 per 1 Units + 0 % planned scrap)", explanation)
        line.action_apply()
        self.assertAlmostEqual(line.bom_line_id.product_qty, 1.2)
        self.assertIn("Quantity 1.00 → 1.20 kg", bom.message_ids[:1].body)
        # written when shown, the explanation still quotes the BOM as analysed
        line.invalidate_recordset()
        self.assertEqual(line.explanation, explanation)
        self.assertIn(explanation, bom.message_ids[:1].body)

    def test_whole_units_get_planned_scrap_not_a_fraction(self):
        """Operators record 12 seat frames per 10 chairs: not "1 -> 1.2
        Units per chair" (a seat frame is counted whole) but 20 % planned
        scrap. Fewer legs than the BOM says (4 -> 3.98) has no whole
        quantity: no suggestion, and the reason."""
        self._done_with_seats(10, 12)
        self._done_with_seats(10, 12)
        line = self._line(self._advice(), self.seat_line)
        self.assertAlmostEqual(line.observed_per_unit, 1.2)
        self.assertEqual(line.suggestion_type, "scrap")
        self.assertAlmostEqual(line.suggested_value, 20.0)
        self.assertEqual(line.change, "Planned scrap 0.00 % → 20.00 %")
        self.assertIn("counted whole", line.explanation)
        advice = self.env["mrp.bom.backflush.advice"].create({"threshold_percent": 0.1})
        vals = advice._advice_suggest(self.leg_line, 5, 50.0, 199.0, 0.0, 5)
        self.assertFalse(vals["suggestion_type"])
        self.assertIn(
            "nearest whole quantity is the current one", self._explanation(vals)
        )

    def test_last_n_and_threshold(self):
        """Two old MOs used 15 seats per 10 chairs, the three latest 10."""
        self._done_with_seats(10, 15)
        self._done_with_seats(10, 15)
        for _i in range(3):
            self._done_with_seats(10, 10)
        self.assertFalse(self._advice(last_n=3).line_ids)
        line = self._line(self._advice(last_n=5), self.seat_line)
        self.assertEqual(line.production_count, 5)
        self.assertAlmostEqual(line.observed_per_unit, 1.2)  # 60 / 50
        self.assertAlmostEqual(line.suggested_value, 20.0)  # planned scrap
        self.assertTrue(self._advice(last_n=5, threshold_percent=19).line_ids)
        self.assertFalse(self._advice(last_n=5, threshold_percent=25).line_ids)
        with self.assertRaises(ValidationError):
            self._advice(last_n=0)

    def test_substitutes_and_deferred_count_as_used(self):
        """A short component replaced by substitutes, or deferred, was used
        as planned: no advice."""
        bolt = self._product("Bolt", 1.0)
        self._stock(bolt, 7)
        bom, _wheel, _spokes = self._bicycle_bom(
            (bolt, 2), backflush_shortage_policy="defer"
        )
        mo = self._mo(bom, 5)  # 10 wheels: 6 + 8 spoke sets; 10 bolts: 7 + 3 pending
        mo.button_mark_done()
        self.assertTrue(mo.backflush_exception_ids)
        advice = self._advice(boms=bom, threshold_percent=0.5)
        self.assertFalse(advice.line_ids)

    def test_rule(self):
        """The suggestion rule on hand-computed figures: 4 legs per 2
        chairs, 10 % planned scrap and 1 leg per MO, 10 chairs in 1 MO:
        2 x 1.1 + 0.1 = 2.3 legs planned per chair (legs in kg here: parts
        counted whole get no fractional quantity)."""
        leg = self._product("Leg", 2.5, uom=self.uom_kgm)
        bom = self._bom(
            self.chair,
            [(leg, 4, {"scrap_percent": 10, "scrap_fixed_qty": 1})],
            qty=2,
        )
        line = bom.bom_line_ids
        advice = self.env["mrp.bom.backflush.advice"].create({})

        def suggest(observed, scrap):
            return advice._advice_suggest(line, 1, 10.0, observed, scrap, 1)

        self.assertIsNone(suggest(23.5, 0.0))  # 2.35 per chair: +2.2 %
        vals = suggest(25.0, 3.0)  # 2.5 per chair, 0.3 of it scrapped
        self.assertAlmostEqual(vals["planned_per_unit"], 2.3)
        self.assertAlmostEqual(vals["deviation_percent"], 0.2 / 2.3 * 100)
        self.assertEqual(vals["suggestion_type"], "scrap")
        self.assertAlmostEqual(vals["suggested_value"], 20.0)  # (2.5 - 0.1 - 2) / 2
        vals = suggest(25.0, 0.0)  # same excess, nothing scrapped
        self.assertEqual(vals["suggestion_type"], "qty")
        self.assertAlmostEqual(
            vals["suggested_value"], 4.37
        )  # (2.5 - 0.1) / 1.1 x 2, up
        vals = suggest(21.0, 0.0)  # net and constant met, less scrap than planned
        self.assertEqual(vals["suggestion_type"], "scrap")
        self.assertAlmostEqual(vals["suggested_value"], 0.0)
        self.assertIn("less scrap than planned", self._explanation(vals))
        vals = suggest(19.0, 0.0)  # below the net quantity
        self.assertEqual(vals["suggestion_type"], "qty")
        self.assertAlmostEqual(
            vals["suggested_value"], 3.28
        )  # (1.9 - 0.1) / 1.1 x 2, up
        vals = suggest(0.5, 0.0)  # less than the constant scrap: no figure
        self.assertFalse(vals["suggestion_type"])
        self.assertIn("review the line by hand", self._explanation(vals))

    def test_opened_from_boms(self):
        action = self.env.ref("mrp_backflush.mrp_bom_backflush_advice_action")
        self.assertEqual(action.binding_model_id.model, "mrp.bom")
        advice = Form(
            self.env["mrp.bom.backflush.advice"].with_context(
                active_model="mrp.bom", active_ids=self.bom.ids
            )
        ).save()
        self.assertEqual(advice.bom_ids, self.bom)
        # counts where a component is counted twice, else the last orders
        self.assertEqual(advice.basis, "auto")
        self.assertEqual((advice.last_n, advice.threshold_percent), (10, 1.0))

    def test_multi_company_isolation(self):
        company_b, stock_b, env_b = self._other_company("Advice B")
        self._stock(self.leg, 100, location=stock_b)
        bom_b = self._bom(self.chair, [(self.leg, 4)], company_id=company_b.id)
        mo_b = self._mo(bom_b, 10, env=env_b)
        self._scrap(mo_b, self.leg, 10, env=env_b)
        mo_b.button_mark_done()
        self.assertTrue(self._line(self._advice(boms=[], last_n=3), bom_b.bom_line_ids))

        user_a = new_test_user(
            self.env,
            "bfv_manager_a",
            groups="mrp.group_mrp_manager,stock.group_stock_user",
            company_id=self.company.id,
            company_ids=[Command.set(self.company.ids)],
        )
        advice_a = self._advice(user=user_a, boms=[], last_n=3)
        self.assertFalse(advice_a.line_ids.filtered(lambda al: al.bom_id == bom_b))

    def test_apply_without_email_confirms_and_names_open_orders(self):
        """A manager without an email address applies a suggestion: the BOM
        changes, the chatter says what and that the open order of the BOM
        keeps the old quantities, and so does the notification."""
        for _i in range(3):
            mo = self._mo(self.bom, 10)
            self._scrap(mo, self.leg, 4)
            mo.button_mark_done()
        open_mo = self._mo(self.bom, 5)
        self.manager.partner_id.email = False
        line = self._advice(user=self.manager).line_ids
        self.assertEqual(line.change, "Planned scrap 0.00 % → 10.00 %")
        action = line.action_apply()
        self.assertEqual(self.leg_line.scrap_percent, 10.0)
        self.assertEqual(action["tag"], "display_notification")
        message = action["params"]["message"]
        self.assertIn("Planned scrap 0.00 % → 10.00 %", message)
        self.assertIn("1 open manufacturing orders of this BOM keep", message)
        self.assertIn(open_mo.name, message)
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(
            (action["params"]["next"]["res_model"], action["params"]["next"]["res_id"]),
            (line.advice_id._name, line.advice_id.id),
        )
        body = self.bom.message_ids[:1].body
        self.assertIn("1 open manufacturing orders of this BOM keep", body)
        self.assertIn(open_mo.name, body)
        self.assertEqual(self.bom.message_ids[:1].author_id, self.manager.partner_id)
        # the open order itself is left as it was planned
        leg_move = open_mo.move_raw_ids.filtered(lambda m: m.product_id == self.leg)
        self.assertEqual(leg_move.product_uom_qty, 20.0)

    def test_rows_with_a_suggestion_come_first(self):
        """Scrap on legs gets a suggestion; seats recorded 3 % short (no
        whole quantity to suggest) stay listed without one, after it and
        with no suggested figure."""
        for _i in range(3):
            mo = self._mo(self.bom, 10)
            self._scrap(mo, self.leg, 4)
            mo.button_mark_done()
        self._done_with_seats(100, 97)
        advice = self._advice(threshold_percent=1)
        advice.invalidate_recordset(["line_ids"])  # as the dialog reads it
        leg, seat = advice.line_ids
        self.assertEqual(leg.bom_line_id, self.leg_line)
        self.assertEqual(leg.suggestion_type, "scrap")
        self.assertFalse(seat.suggestion_type)
        self.assertFalse(seat.change)
        self.assertEqual((leg.priority, seat.priority), (0, 1))
