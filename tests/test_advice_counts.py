# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from freezegun import freeze_time

from odoo import Command, fields
from odoo.exceptions import AccessError
from odoo.tests import Form, new_test_user, tagged

from .common import BackflushCase

# Scripted months: production on the 10th, the count at the end of the month.
PRODUCE = "2026-%02d-10 10:00:00"
COUNT = "2026-%02d-27 18:00:00"
OPENING = "2025-12-31 18:00:00"


@tagged("post_install", "-at_install")
class TestAdviceCounts(BackflushCase):
    """BOM accuracy from physical counts, on months scripted with real
    manufacturing orders, deliveries and inventory adjustments."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.chair = cls._product("Chair", 0.0)
        cls.table = cls._product("Table", 0.0)
        cls.screw = cls._product("Screw", 0.1)
        cls.washer = cls._product("Washer", 0.05)
        cls.chair_bom = cls._bom(cls.chair, [(cls.screw, 4), (cls.washer, 1)])
        cls.screw_line = cls.chair_bom.bom_line_ids.filtered(
            lambda bl: bl.product_id == cls.screw
        )
        cls.washer_line = cls.chair_bom.bom_line_ids - cls.screw_line
        cls.customer = cls.env.ref("stock.stock_location_customers")

    # ------------------------------------------------------------------
    # helpers: a month of a small factory
    # ------------------------------------------------------------------
    def _count(self, product, qty, location=None, env=None):
        """A physical count finding ``qty``: Odoo's inventory mode."""
        quant = (
            (env or self.env)["stock.quant"]
            .with_context(inventory_mode=True)
            .create(
                {
                    "product_id": product.id,
                    "location_id": (location or self.stock_location).id,
                    "inventory_quantity": qty,
                }
            )
        )
        quant.action_apply_inventory()

    def _count_with_loss(self, product, loss, location=None, env=None):
        """Count at the end of a month: the books minus what really
        disappeared without being recorded (negative: a gain)."""
        location = location or self.stock_location
        booked = self._qty(product.with_env(env or self.env), location)
        self._count(product, booked - loss, location, env)

    def _produce(self, bom, qty, env=None):
        env = env or self.env
        form = Form(env["mrp.production"])
        form.product_id = bom.product_id or bom.product_tmpl_id.product_variant_id
        form.bom_id = bom.with_env(env)
        form.product_qty = qty
        mo = form.save()
        mo.action_confirm()
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        return mo

    def _ship(self, product, qty, uom=None):
        move = self.env["stock.move"].create(
            {
                "name": "Sale",
                "product_id": product.id,
                "product_uom": (uom or product.uom_id).id,
                "product_uom_qty": qty,
                "location_id": self.stock_location.id,
                "location_dest_id": self.customer.id,
            }
        )
        move._action_confirm()
        move._action_assign()
        move.quantity = qty
        move.picked = True
        move._action_done()
        self.assertEqual(move.state, "done")

    def _month(self, month, production=(), losses=None, shipped=None, used=None):
        """``production``: [(bom, qty)] done on the 10th; ``shipped``:
        {product: qty} delivered; ``losses``: {product: qty} unrecorded
        losses the count finds at the end of the month; ``used``: {product:
        qty} really used by the production (the loss is what the backflush
        did not book)."""
        losses = dict(losses or {})
        booked = {product: self._qty(product) for product in used or {}}
        with freeze_time(PRODUCE % month):
            for bom, qty in production:
                self._produce(bom, qty)
            for product, qty in (shipped or {}).items():
                self._ship(product, qty)
        for product, qty in (used or {}).items():
            losses[product] = qty - (booked[product] - self._qty(product))
        with freeze_time(COUNT % month):
            for product, loss in losses.items():
                self._count_with_loss(product, loss)

    def _open(self, *products, qty=10000.0):
        with freeze_time(OPENING):
            for product in products:
                self._count(product, qty)

    def _advice(self, user=None, boms=None, months=(1, 12), basis="counts", **vals):
        env = self.env(user=user) if user else self.env
        form = Form(env["mrp.bom.backflush.advice"])
        form.basis = basis
        self.assertEqual(form.threshold_percent, 5.0 if basis == "consumption" else 1.0)
        if basis != "consumption":
            form.date_from = "2026-%02d-01" % months[0]
            form.date_to = "2026-%02d-28" % months[1]
        for bom in boms if boms is not None else self.env["mrp.bom"]:
            form.bom_ids.add(bom)
        for fname, value in vals.items():
            setattr(form, fname, value)
        advice = form.save()
        advice.action_compute()
        self.assertTrue(advice.analysed)
        return advice

    def _line(self, advice, bom_line):
        line = advice.line_ids.filtered(lambda al: al.bom_line_id == bom_line)
        self.assertEqual(len(line), 1, f"one advice line for {bom_line.display_name}")
        return line

    def _variance(self, product, month=None, **domain):
        Variance = self.env["mrp.backflush.count.variance"]
        dom = [("product_id", "=", product.id), ("kind", "!=", "first")]
        if month:
            dom += [
                ("date", ">=", "2026-%02d-01" % month),
                ("date", "<", "2026-%02d-01" % (month + 1)),
            ]
        dom += [(fname, "=", value) for fname, value in domain.items()]
        [[outflow, variance]] = Variance._read_group(
            dom, [], ["outflow_qty:sum", "variance_qty:sum"]
        )
        return outflow, variance

    def _screw_months(self):
        """January and February: 2 x 100 chairs a month, 4 screws each,
        and 5 % more screws really used than the BOM says (40 a month)."""
        self._open(self.screw, self.washer)
        for month in (1, 2):
            self._month(
                month,
                [(self.chair_bom, 100), (self.chair_bom, 100)],
                losses={self.screw: 40, self.washer: 0},
            )

    # ------------------------------------------------------------------
    # tests
    # ------------------------------------------------------------------
    def test_quantities_show_at_the_precision_of_quantities(self):
        """Stored without a named precision (written by the thousand), the
        advice's quantities still show as many decimals as an admin set for
        quantities (3 here: grams of a kilogram)."""
        self.env.ref("product.decimal_product_uom").digits = 3
        Line = self.env["mrp.bom.backflush.advice.line"]
        shown = Line.fields_get(["backflushed_qty", "attributed_qty", "weak"])
        self.assertEqual(shown["backflushed_qty"]["digits"], (16, 3))
        self.assertEqual(shown["attributed_qty"]["digits"], (16, 3))
        self.assertNotIn("digits", shown["weak"])
        labels = Line.fields_get(["backflushed_qty"], ["string"])
        self.assertNotIn("digits", labels["backflushed_qty"])

    def test_true_scrap_five_percent(self):
        self._screw_months()
        self.assertEqual(self._variance(self.screw), (1600.0, -80.0))
        advice = self._advice(boms=self.chair_bom)
        line = self._line(advice, self.screw_line)
        self.assertEqual(advice.line_ids, line, "washers are counted right")
        self.assertEqual(line.basis, "counts")
        self.assertEqual(line.count_count, 3)  # opening, end of Jan, end of Feb
        self.assertEqual(str(line.date_from), OPENING)
        self.assertEqual(str(line.date_to), COUNT % 2)
        self.assertAlmostEqual(line.backflushed_qty, 1600.0)
        self.assertAlmostEqual(line.net_qty, 1600.0)
        self.assertAlmostEqual(line.count_variance_qty, -80.0)
        self.assertAlmostEqual(line.attributed_qty, -80.0)
        self.assertAlmostEqual(line.share_percent, 100.0)
        self.assertAlmostEqual(line.deviation_percent, 5.0)
        self.assertFalse(line.weak)
        self.assertEqual(line.suggestion_type, "scrap")
        self.assertAlmostEqual(line.current_value, 0.0)
        self.assertAlmostEqual(line.suggested_value, 5.0, delta=0.5)
        self.assertIn("3 counts", line.explanation)
        self.assertIn("-80.00 Units", line.explanation)
        self.assertIn("planned scrap 0.00 % → 5.00 %", line.explanation)
        # the lines are written in SQL: the advice reads them, and what they
        # say, as they are now (the dialog's Change column)
        self.assertTrue(advice.has_suggestion)
        # the advice of consumption sees nothing: backflush booked the BOM
        advice.basis = "consumption"
        advice.action_compute()
        self.assertFalse(advice.line_ids)
        self.assertFalse(advice.has_suggestion)
        advice.basis = "counts"
        advice.action_compute()
        self.assertEqual(advice.line_ids.bom_line_id, self.screw_line)
        self.assertTrue(advice.has_suggestion)

    def test_automatic_basis_counts_where_counted_twice(self):
        """Screws are counted every month and 5 % of them disappear: the
        counts say it. Washers are counted once, before the period, and the
        operators record 10 % more than the BOM: the orders say it. The
        automatic basis, the default, gives both, each row with its
        evidence; either basis alone gives one."""
        self._open(self.screw, self.washer)
        for month in (1, 2):
            with freeze_time(PRODUCE % month):
                mo = self._mo(self.chair_bom, 100)
                washers = mo.move_raw_ids.filtered(
                    lambda m: m.product_id == self.washer
                )
                with Form(mo) as form:
                    form.qty_producing = 100
                    with form.move_raw_ids.edit(
                        mo.move_raw_ids.ids.index(washers.id)
                    ) as line:
                        line.quantity = 110
                mo.button_mark_done()
                self.assertEqual(mo.state, "done")
            with freeze_time(COUNT % month):
                self._count_with_loss(self.screw, 20)
        self.assertEqual(
            Form(self.env["mrp.bom.backflush.advice"]).basis, "auto", "the default"
        )
        advice = self._advice(boms=self.chair_bom, months=(1, 2), basis="auto")
        screw = self._line(advice, self.screw_line)
        self.assertEqual(screw.basis, "counts")
        self.assertEqual(screw.count_count, 3)
        self.assertAlmostEqual(screw.attributed_qty, -40.0)
        self.assertAlmostEqual(screw.suggested_value, 5.0)
        self.assertIn("3 counts", screw.explanation)
        washer = self._line(advice, self.washer_line)
        self.assertEqual(washer.basis, "consumption")
        self.assertEqual(washer.production_count, 2)
        self.assertAlmostEqual(washer.observed_per_unit, 1.1)
        self.assertEqual(washer.suggestion_type, "scrap")
        self.assertAlmostEqual(washer.suggested_value, 10.0)
        self.assertIn("2 done MOs", washer.explanation)
        # either basis alone sees one of them
        counts = self._advice(boms=self.chair_bom, months=(1, 2))
        self.assertEqual(counts.line_ids.bom_line_id, self.screw_line)
        orders = self._advice(boms=self.chair_bom, basis="consumption")
        self.assertEqual(orders.line_ids.bom_line_id, self.washer_line)

    def test_applied_suggestion_vanishes_next_month(self):
        self._screw_months()
        manager = new_test_user(
            self.env,
            "bfc_manager",
            groups="mrp.group_mrp_manager,stock.group_stock_user",
        )
        line = self._line(self._advice(user=manager), self.screw_line)
        line.action_apply()
        self.assertAlmostEqual(self.screw_line.scrap_percent, 5.0)
        body = self.chair_bom.message_ids[:1].body
        self.assertIn("BOM accuracy advice applied by", body)
        self.assertIn("3 counts", body)
        # March: same production, same 5 % real scrap, now planned
        self._month(3, [(self.chair_bom, 200)], used={self.screw: 840})
        outflow, variance = self._variance(self.screw, month=3)
        self.assertAlmostEqual(outflow, 840.0)
        self.assertAlmostEqual(variance, 0.0)
        self.assertFalse(self._advice(months=(3, 3)).line_ids)

    def test_component_also_sold(self):
        """1200 screws into chairs with 60 lost, 400 sold: the variance is
        shared 3:1 between the chair line and the deliveries."""
        self._open(self.screw, self.washer)
        self._month(
            1,
            [(self.chair_bom, 300)],
            losses={self.screw: 60},
            shipped={self.screw: 400},
        )
        self.assertEqual(self._variance(self.screw, kind="other"), (400.0, -15.0))
        self.assertEqual(self._variance(self.screw, kind="backflush"), (1200.0, -45.0))
        line = self._line(self._advice(), self.screw_line)
        self.assertAlmostEqual(line.outflow_qty, 1600.0)
        self.assertAlmostEqual(line.share_percent, 75.0)
        self.assertAlmostEqual(line.count_variance_qty, -60.0)
        self.assertAlmostEqual(line.attributed_qty, -45.0)
        self.assertAlmostEqual(line.suggested_value, 3.75)
        # sales dominate: evidence too weak for a suggestion
        self._month(
            2,
            [(self.chair_bom, 50)],
            losses={self.screw: 30},
            shipped={self.screw: 1200},
        )
        line = self._line(self._advice(months=(2, 2)), self.screw_line)
        self.assertTrue(line.weak)
        self.assertFalse(line.suggestion_type)
        self.assertIn("Weak evidence because", line.explanation)
        self.assertAlmostEqual(line.share_percent, 200 / 14, delta=0.05)
        self.assertIn("make 85.7 % of what left", line.explanation)

    def test_two_boms_share_a_component(self):
        """600 screws into chairs, 200 into tables, 4 % lost everywhere."""
        table_bom = self._bom(self.table, [(self.screw, 4)])
        self._open(self.screw, self.washer)
        self._month(
            1,
            [(self.chair_bom, 150), (table_bom, 50)],
            losses={self.screw: 32, self.washer: 0},
        )
        advice = self._advice()
        chair = self._line(advice, self.screw_line)
        table = self._line(advice, table_bom.bom_line_ids)
        self.assertAlmostEqual(chair.share_percent, 75.0)
        self.assertAlmostEqual(table.share_percent, 25.0)
        self.assertAlmostEqual(chair.attributed_qty, -24.0)
        self.assertAlmostEqual(table.attributed_qty, -8.0)
        self.assertAlmostEqual(chair.suggested_value, 4.0)
        self.assertAlmostEqual(table.suggested_value, 4.0)
        # one BOM selected: the other still takes its share
        advice = self._advice(boms=table_bom)
        self.assertEqual(advice.line_ids.bom_line_id, table_bom.bom_line_ids)
        self.assertAlmostEqual(advice.line_ids.attributed_qty, -8.0)

    def test_gain_suggests_less_scrap(self):
        """The BOM plans 10 % scrap, 5 % is really lost: the counts find
        40 more screws than the books."""
        self.screw_line.scrap_percent = 10.0
        self._open(self.screw, self.washer)
        self._month(1, [(self.chair_bom, 200)], losses={self.screw: -40})
        line = self._line(self._advice(), self.screw_line)
        self.assertAlmostEqual(line.backflushed_qty, 880.0)
        self.assertAlmostEqual(line.net_qty, 800.0)
        self.assertAlmostEqual(line.attributed_qty, 40.0)
        self.assertLess(line.deviation_percent, 0)
        self.assertEqual(line.suggestion_type, "scrap")
        self.assertAlmostEqual(line.suggested_value, 5.0)
        self.assertIn("more than the books", line.explanation)
        # a gain on a line without planned scrap: nothing to lower
        self.screw_line.scrap_percent = 0.0
        self._month(2, [(self.chair_bom, 200)], losses={self.screw: -40})
        line = self._line(self._advice(months=(2, 2)), self.screw_line)
        self.assertFalse(line.suggestion_type)
        self.assertIn("plans no scrap", line.explanation)

    def test_weak_evidence(self):
        """Washers counted once; a tiny volume of screws between two counts."""
        with freeze_time("2026-01-05 08:00:00"):
            self._count(self.washer, 50)
            self._count(self.screw, 100)
        self._month(1, [(self.chair_bom, 5)], losses={self.screw: 2})
        advice = self._advice(boms=self.chair_bom)
        washer = self._line(advice, self.washer_line)
        self.assertTrue(washer.weak)
        self.assertFalse(washer.suggestion_type)
        self.assertEqual(washer.count_count, 1)
        self.assertIn("Weak evidence because", washer.explanation)
        self.assertIn("counted only once", washer.explanation)
        screw = self._line(advice, self.screw_line)
        self.assertTrue(screw.weak)
        self.assertFalse(screw.suggestion_type)
        self.assertAlmostEqual(screw.attributed_qty, -2.0)
        self.assertIn("only 20.00 Units were backflushed", screw.explanation)
        self.assertIn("(minimum 100.00 Units)", screw.explanation)
        # written when shown, the explanation quotes the minimum of the
        # analysis, not one changed afterwards
        advice.count_min_qty = 10.0
        screw.invalidate_recordset()
        self.assertIn("(minimum 100.00 Units)", screw.explanation)
        self.assertIn("2026", washer.explanation)  # the date of its one count
        # a lower minimum turns the same evidence into a suggestion
        screw = self._line(self._advice(count_min_qty=10), self.screw_line)
        self.assertFalse(screw.weak)
        self.assertAlmostEqual(screw.suggested_value, 10.0)

    def test_multi_company_isolation(self):
        """Company B loses 10 % of its screws, company A 5 %."""
        company_b = self.env["res.company"].create({"name": "Counts B"})
        stock_b = (
            self.env["stock.warehouse"]
            .search([("company_id", "=", company_b.id)])
            .lot_stock_id
        )
        env_b = self.env(
            context=dict(self.env.context, allowed_company_ids=[company_b.id])
        )
        bom_b = self._bom(self.chair, [(self.screw, 4)], company_id=company_b.id)
        with freeze_time(OPENING):
            self._count(self.screw, 5000, location=stock_b, env=env_b)
        with freeze_time(PRODUCE % 1):
            self._produce(bom_b, 200, env=env_b)
        with freeze_time(COUNT % 1):
            self._count_with_loss(self.screw, 80, location=stock_b, env=env_b)
        self._screw_months()

        advice = self._advice()
        self.assertAlmostEqual(self._line(advice, self.screw_line).suggested_value, 5)
        self.assertAlmostEqual(
            self._line(advice, bom_b.bom_line_ids).suggested_value, 10
        )
        user_a = new_test_user(
            self.env,
            "bfc_manager_a",
            groups="mrp.group_mrp_manager,stock.group_stock_user",
            company_id=self.company.id,
            company_ids=[Command.set(self.company.ids)],
        )
        advice_a = self._advice(user=user_a)
        self.assertAlmostEqual(self._line(advice_a, self.screw_line).suggested_value, 5)
        self.assertFalse(advice_a.line_ids.filtered(lambda al: al.bom_id == bom_b))
        rows = self.env["mrp.backflush.count.variance"].with_user(user_a).search([])
        self.assertEqual(rows.company_id, self.company)

    def test_report_views_and_cost_rights(self):
        """Inventory users read the Count Variance, costs are for managers."""
        self._screw_months()
        Variance = self.env["mrp.backflush.count.variance"]
        user = new_test_user(
            self.env, "bfc_stock_user", groups="stock.group_stock_user"
        )
        manager = new_test_user(
            self.env, "bfc_stock_manager", groups="stock.group_stock_manager"
        )
        views = Variance.with_user(user).get_views(
            [(False, kind) for kind in ("pivot", "graph", "list", "search")]
        )
        self.assertNotIn("variance_value", views["models"][Variance._name]["fields"])
        rows = Variance.with_user(user).search([("product_id", "=", self.screw.id)])
        self.assertEqual(
            set(rows.mapped("kind")), {"first", "backflush"}, "opening, then MOs"
        )
        with self.assertRaises(AccessError):
            rows.mapped("variance_value")
        [[value]] = Variance.with_user(manager)._read_group(
            [("product_id", "=", self.screw.id), ("kind", "!=", "first")],
            [],
            ["variance_value:sum"],
        )
        self.assertAlmostEqual(value, -8.0)  # 80 screws at 0.10
        action = self.env.ref("mrp_backflush.mrp_backflush_count_variance_action")
        self.assertEqual(action.context, "{'search_default_filter_interval': 1}")

    def test_unbuild_returns_count_against_the_line(self):
        """250 chairs made, 50 unbuilt: the line consumed 800 screws net,
        and the 40 lost are 5 % of those, not of the 1000 first posted."""
        self._open(self.screw, self.washer)
        with freeze_time(PRODUCE % 1):
            mo = self._produce(self.chair_bom, 250)
            form = Form(self.env["mrp.unbuild"])
            form.mo_id = mo
            form.product_qty = 50
            form.save().action_unbuild()
        self._month(1, losses={self.screw: 40, self.washer: 0})
        line = self._line(self._advice(), self.screw_line)
        self.assertAlmostEqual(line.backflushed_qty, 800.0)
        self.assertAlmostEqual(line.net_qty, 800.0)
        self.assertAlmostEqual(line.attributed_qty, -40.0)
        self.assertAlmostEqual(line.suggested_value, 5.0)

    def test_two_counts_one_day_are_two_counts(self):
        """Screws first counted at the start of a shift, 100 chairs made,
        counted again at its end with 20 missing: two counts, and the
        shift's production is the interval between them."""
        with freeze_time("2026-01-05 06:00:00"):
            self._count(self.screw, 1000)
            self._count(self.washer, 1000)
        with freeze_time("2026-01-05 10:00:00"):
            self._produce(self.chair_bom, 100)
        with freeze_time("2026-01-05 17:00:00"):
            self._count_with_loss(self.screw, 20)
        rows = self.env["mrp.backflush.count.variance"].search(
            [("product_id", "=", self.screw.id), ("kind", "!=", "first")]
        )
        self.assertEqual(rows.mapped("kind"), ["backflush"])
        self.assertEqual(str(rows.date), "2026-01-05 17:00:00")
        self.assertEqual(str(rows.previous_date), "2026-01-05 06:00:00")
        self.assertAlmostEqual(rows.outflow_qty, 400.0)
        self.assertAlmostEqual(rows.variance_qty, -20.0)
        line = self._line(self._advice(months=(1, 1)), self.screw_line)
        self.assertEqual(line.count_count, 2)
        self.assertAlmostEqual(line.attributed_qty, -20.0)
        self.assertAlmostEqual(line.suggested_value, 5.0)
        self.assertEqual(line.change, "Planned scrap 0.00 % → 5.00 %")

    def test_delivery_in_dozens_at_the_instant_of_a_count(self):
        """A delivery in dozens counts in the component's unit, and one
        made at the very instant of a count is in that count's interval."""
        self._open(self.screw, self.washer)
        with freeze_time(PRODUCE % 1):
            self._produce(self.chair_bom, 100)
        with freeze_time(COUNT % 1):
            self._ship(self.screw, 2, uom=self.env.ref("uom.product_uom_dozen"))
            self._count_with_loss(self.screw, 20)
        rows = self.env["mrp.backflush.count.variance"].search(
            [("product_id", "=", self.screw.id), ("kind", "!=", "first")]
        )
        by_kind = {row.kind: row for row in rows}
        self.assertEqual(set(by_kind), {"backflush", "other"})
        self.assertAlmostEqual(by_kind["backflush"].outflow_qty, 400.0)
        self.assertAlmostEqual(by_kind["other"].outflow_qty, 24.0)
        self.assertAlmostEqual(by_kind["backflush"].variance_qty, -20.0 * 400 / 424)
        self.assertAlmostEqual(sum(rows.mapped("variance_qty")), -20.0)

    def test_one_count_of_several_lots_at_one_instant(self):
        """Adjustments applied together (two shelves) are one count."""
        shelf = self.env["stock.location"].create(
            {"name": "Shelf", "location_id": self.stock_location.id}
        )
        with freeze_time(OPENING):
            self._count(self.screw, 600)
            self._count(self.screw, 400, location=shelf)
        with freeze_time(PRODUCE % 1):
            self._produce(self.chair_bom, 100)
        with freeze_time(COUNT % 1):
            on_shelf = self._qty(self.screw, shelf)
            self._count(self.screw, on_shelf - 20, location=shelf)
        line = self._line(self._advice(), self.screw_line)
        self.assertEqual(line.count_count, 2)
        self.assertAlmostEqual(line.attributed_qty, -20.0)

    def test_period_reaches_the_sql(self):
        """The period of a domain bounds the query itself, and the rows it
        returns are those of the whole history: a count in the period keeps
        its interval from the count before it."""
        self._screw_months()
        Variance = self.env["mrp.backflush.count.variance"]
        screws = [("product_id", "=", self.screw.id), ("kind", "!=", "first")]
        domain = [("date", ">=", "2026-02-01 00:00:00"), *screws]
        first, last, products = Variance._count_scope(domain)
        self.assertEqual(str(first), "2026-02-01 00:00:00")
        self.assertEqual((last, products), (None, (self.screw.id,)))
        params = Variance._where_calc(domain).select().params
        self.assertIn(first, params)
        # the moves are read from the count before February's on: a
        # constant in the query, which the planner estimates
        self.assertIn(fields.Datetime.to_datetime(COUNT % 1), params)
        fnames = ["date", "previous_date", "kind", "outflow_qty", "variance_qty"]
        bounded = Variance.search_read(domain, fnames, order="id")
        everything = [
            row
            for row in Variance.search_read(screws, fnames, order="id")
            if str(row["date"]) >= "2026-02-01"
        ]
        self.assertTrue(bounded)
        self.assertEqual(bounded, everything)
        self.assertEqual(str(bounded[0]["previous_date"]), COUNT % 1)
        self.assertEqual(
            sum(row["variance_qty"] for row in bounded if row["kind"] == "backflush"),
            -40.0,
        )
        # an OR of periods is not bounded: the domain filters the history
        self.assertIsNone(
            Variance._count_scope(["|", ("date", "<", "2026-01-01"), ("id", "=", 1)])
        )
        # January only in the advice: February's counts are left out
        line = self._line(self._advice(months=(1, 1)), self.screw_line)
        self.assertEqual(line.count_count, 2)
        self.assertAlmostEqual(line.attributed_qty, -40.0)

    def test_counted_once_listed_only_when_backflushed(self):
        """Washers counted once and consumed: listed (after the
        suggestions) without a suggestion; bolts counted once and never
        consumed: not listed."""
        bolt = self._product("Bolt", 0.2)
        table_bom = self._bom(self.table, [(bolt, 2)])
        self._open(self.screw)
        with freeze_time("2026-01-05 08:00:00"):
            self._count(self.washer, 500)
            self._count(bolt, 500)
        self._month(1, [(self.chair_bom, 100)], losses={self.screw: 40})
        # the test's BOMs only: the demo data of this year has counts and
        # backflushes of its own
        advice = self._advice(boms=self.chair_bom | table_bom)
        advice.invalidate_recordset(["line_ids"])  # as the dialog reads it
        self.assertEqual(
            advice.line_ids.bom_line_id.ids, [self.screw_line.id, self.washer_line.id]
        )
        screw, washer = advice.line_ids
        self.assertEqual(screw.suggestion_type, "scrap")
        self.assertIn("counted only once", washer.explanation)
        self.assertFalse(washer.change)
