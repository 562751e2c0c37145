# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from collections import defaultdict

from odoo import Command
from odoo.exceptions import AccessError
from odoo.tests import Form, new_test_user, tagged

from .common import BackflushCase

ROLES = ("component", "substitute", "planned_scrap", "actual_scrap", "deferred")


@tagged("post_install", "-at_install")
class TestAnalysis(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._seed_chair(legs=1000, seats=300)
        cls.operator = new_test_user(
            cls.env, "bfa_operator", groups="mrp.group_mrp_user,stock.group_stock_user"
        )
        cls.mrp_manager = new_test_user(
            cls.env,
            "bfa_mrp_manager",
            groups="mrp.group_mrp_manager,stock.group_stock_user",
        )
        cls.accountant = new_test_user(
            cls.env, "bfa_accountant", groups="stock.group_stock_manager"
        )
        cls.stock_user = new_test_user(
            cls.env, "bfa_stock_user", groups="stock.group_stock_user"
        )

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def _rows(self, mo):
        # a report reads the database: forget what an earlier read cached
        self.env["mrp.backflush.analysis"].invalidate_model()
        rows = self.env["mrp.backflush.analysis"].search(
            [("production_id", "=", mo.id)]
        )
        by_product = {row.product_id: row for row in rows}
        self.assertEqual(len(by_product), len(rows), "one row per BOM line and product")
        return by_product

    def _assert_row(self, row, **expected):
        for fname, value in expected.items():
            got = row[fname]
            if isinstance(value, float):
                self.assertAlmostEqual(got, value, places=6, msg=fname)
            else:
                self.assertEqual(got, value, fname)

    def _stools_done(self, part_name, cost, in_stock, policy):
        """5 stools of 2 parts each, ``in_stock`` parts, under ``policy``,
        produced: the part, the BOM and the MO."""
        stool = self._product("Stool", 0.0)
        part = self._product(part_name, cost)
        self._stock(part, in_stock)
        bom = self._bom(stool, [(part, 2)], backflush_shortage_policy=policy)
        mo = self._mo(bom, 5)
        mo.button_mark_done()
        return part, bom, mo

    def _bom_line(self, bom, product):
        return bom.bom_line_ids.filtered(lambda bl: bl.product_id == product)

    # ------------------------------------------------------------------
    # figures
    # ------------------------------------------------------------------
    def test_component_planned_and_actual_scrap(self):
        """10 chairs, 4 legs + 10 % planned scrap, 3 legs scrapped on the
        floor, then 1 finished chair scrapped."""
        bom = self._bom(
            self.chair, [(self.leg, 4, {"scrap_percent": 10}), (self.seat, 1)]
        )
        mo = self._mo(bom, 10)
        self._scrap(mo, self.leg, 3)
        mo.button_mark_done()
        rows = self._rows(mo)
        self.assertEqual(set(rows), {self.leg, self.seat})
        self._assert_row(
            rows[self.leg],
            bom_id=bom,
            bom_line_id=self._bom_line(bom, self.leg),
            finished_product_id=self.chair,
            categ_id=self.categ_fifo,
            company_id=self.company,
            date=mo.date_finished,
            standard_qty=40.0,
            standard_cost=100.0,  # 40 x 2.5
            qty_component=40.0,
            value_component=100.0,
            qty_planned_scrap=4.0,
            value_planned_scrap=10.0,
            qty_actual_scrap=3.0,
            value_actual_scrap=7.5,
            qty_consumed=44.0,
            value_consumed=110.0,
            qty_variance=4.0,
            cost_variance=10.0,
            qty_substitute=0.0,
            substitution_variance=0.0,
            deferred_pending_qty=0.0,
            negative_qty=0.0,
        )
        self._assert_row(
            rows[self.seat],
            standard_qty=10.0,
            standard_cost=120.0,
            qty_consumed=10.0,
            value_consumed=120.0,
            qty_variance=0.0,
            cost_variance=0.0,
        )
        # actual scrap is in the valuation report with its role and BOM
        scrap_layer = self.env["stock.valuation.layer"].search(
            [
                ("backflush_role", "=", "actual_scrap"),
                ("backflush_production_id", "=", mo.id),
            ]
        )
        self.assertEqual(scrap_layer.product_id, self.leg)
        self.assertAlmostEqual(scrap_layer.value, -7.5)
        self.assertEqual(scrap_layer.backflush_bom_id, bom)

        # a finished chair is scrapped after Mark Done: (110 + 120) / 10 each
        self._scrap(mo, self.chair, 1)
        rows = self._rows(mo)
        self._assert_row(
            rows[self.chair],
            bom_line_id=self.env["mrp.bom.line"],
            qty_actual_scrap=1.0,
            value_actual_scrap=23.0,
            standard_qty=0.0,
            qty_consumed=0.0,
        )

    def test_substitute_variance(self):
        """5 bicycles need 10 wheels at 40, only 6 in stock: 2 spoke sets at
        25 replace each missing wheel (8 sets, 200 for 4 wheels worth 160)."""
        bom, wheel, spokes = self._bicycle_bom()
        mo = self._mo(bom, 5)
        mo.button_mark_done()
        rows = self._rows(mo)
        line = bom.bom_line_ids
        self._assert_row(
            rows[wheel],
            bom_line_id=line,
            standard_qty=10.0,
            standard_cost=400.0,
            qty_component=6.0,
            value_component=240.0,
            qty_consumed=6.0,
            cost_variance=-160.0,
            substitution_variance=0.0,
        )
        self._assert_row(
            rows[spokes],
            bom_line_id=line,
            standard_qty=0.0,
            qty_substitute=8.0,
            value_substitute=200.0,
            replaced_qty=4.0,
            substitution_variance=40.0,  # 200 - 4 x 40
            cost_variance=200.0,
        )
        # the same figure as the backflush run's audit line
        run_line = mo.backflush_run_ids.line_ids.filtered(
            lambda rl: rl.role == "substitute"
        )
        self.assertAlmostEqual(
            run_line.substitution_variance, rows[spokes].substitution_variance
        )
        # per BOM line, the cost variance is the substitution variance
        group = self.env["mrp.backflush.analysis"]._read_group(
            [("production_id", "=", mo.id)],
            ["bom_line_id"],
            ["cost_variance:sum", "substitution_variance:sum"],
        )
        self.assertEqual(len(group), 1)
        self.assertAlmostEqual(group[0][1], 40.0)
        self.assertAlmostEqual(group[0][2], 40.0)

    def test_deferred_pending_then_posted(self):
        """Need 10 bolts at 4, 7 in stock: 7 posted, 3 pending; 5 arrive at 6
        and the 3 pending are posted for 18."""
        bolt, bom, mo = self._stools_done("Bolt", 4.0, 7, "defer")
        row = self._rows(mo)[bolt]
        self._assert_row(
            row,
            standard_qty=10.0,
            standard_cost=40.0,
            qty_component=7.0,
            value_component=28.0,
            deferred_pending_qty=3.0,
            qty_deferred=0.0,
            qty_consumed=7.0,
            qty_variance=-3.0,
        )
        bolt.standard_price = 6.0
        self._stock(bolt, 5)
        mo.backflush_exception_ids.action_retry()
        row = self._rows(mo)[bolt]
        self._assert_row(
            row,
            qty_component=7.0,
            qty_deferred=3.0,
            value_deferred=18.0,
            deferred_pending_qty=0.0,
            qty_consumed=10.0,
            value_consumed=46.0,
            qty_variance=0.0,
            # the standard is valued at the component's current cost
            standard_cost=60.0,
            cost_variance=-14.0,
        )
        # the finished goods received the deferred value, tagged for the BOM
        catch_up = mo.move_finished_ids.stock_valuation_layer_ids.filtered(
            lambda svl: svl.backflush_role == "finished_value"
        )
        self.assertAlmostEqual(catch_up.value, 18.0)
        self.assertEqual(catch_up.backflush_bom_id, bom)
        self.assertEqual(catch_up.backflush_production_id, mo)

    def test_negative_posting(self):
        """Need 10 nuts at 1, 4 in stock: 10 posted, 6 into negative stock."""
        nut, _bom, mo = self._stools_done("Nut", 1.0, 4, "negative")
        self._assert_row(
            self._rows(mo)[nut],
            standard_qty=10.0,
            qty_component=10.0,
            value_component=10.0,
            negative_qty=6.0,
            deferred_pending_qty=0.0,
            qty_variance=0.0,
            cost_variance=0.0,
        )

    def test_backorder_standard_per_share(self):
        bom = self._bom(self.chair, [(self.leg, 4)])
        mo = self._mo(bom, 10)
        mo.qty_producing = 4
        self._mark_done_with_backorder(mo)
        backorder = self._family(mo) - mo
        backorder.button_mark_done()
        self._assert_row(self._rows(mo)[self.leg], standard_qty=16.0, qty_consumed=16.0)
        self._assert_row(
            self._rows(backorder)[self.leg], standard_qty=24.0, qty_consumed=24.0
        )

    def test_orders_never_backflushed_are_left_out(self):
        """An order the backflush posted nothing for (done before the module,
        or recorded by hand) has no standard to compare: no row."""
        bom = self._bom(self.chair, [(self.seat, 1, {"backflush_mode": "manual"})])
        mo = self._mo(bom, 2)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertFalse(mo.backflush_run_ids)
        self.assertFalse(self._rows(mo))

    def test_operator_edit_is_variance(self):
        bom = self._bom(self.chair, [(self.leg, 4), (self.seat, 1)])
        mo = self._mo(bom, 10)
        leg_move = mo.move_raw_ids.filtered(lambda m: m.product_id == self.leg)
        with Form(mo) as form:
            form.qty_producing = 10
            with form.move_raw_ids.edit(mo.move_raw_ids.ids.index(leg_move.id)) as line:
                line.quantity = 43
        mo.button_mark_done()
        self._assert_row(
            self._rows(mo)[self.leg],
            standard_qty=40.0,
            qty_consumed=43.0,
            qty_variance=3.0,
            value_consumed=107.5,
            cost_variance=7.5,
        )

    def test_uom_and_phantom_kit(self):
        """Kits explode into their components (standard included); a BOM per
        dozen with glue in grams reports kilograms."""
        kit = self._product("Leg kit")
        screw = self._product("Screw", 0.1)
        glue = self._product("Glue", 20.0, uom=self.uom_kgm)
        self._stock(screw, 1000)
        self._stock(glue, 10)
        self._bom(kit, [(self.leg, 1), (screw, 2)], type="phantom")
        bom = self._bom(
            self.chair,
            [(kit, 4), (glue, 240, {"product_uom_id": self.uom_gram.id})],
            product_uom_id=self.uom_dozen.id,
        )
        mo = self._mo(bom, 2)  # 2 dozen: 8 kits, 480 g of glue
        mo.button_mark_done()
        rows = self._rows(mo)
        kit_line = self._bom_line(bom, kit)
        self.assertEqual(set(rows), {self.leg, screw, glue})
        self._assert_row(
            rows[self.leg],
            standard_qty=8.0,
            qty_consumed=8.0,
            standard_cost=20.0,
            cost_variance=0.0,
        )
        self._assert_row(
            rows[screw], standard_qty=16.0, qty_consumed=16.0, value_consumed=1.6
        )
        self.assertEqual(
            rows[self.leg].bom_line_id.bom_id.product_tmpl_id, kit.product_tmpl_id
        )
        self.assertTrue(kit_line)
        self._assert_row(
            rows[glue],
            product_uom_id=self.uom_kgm,
            standard_qty=0.48,
            qty_consumed=0.48,
            value_consumed=9.6,
            standard_cost=9.6,
        )

    def test_workcenter_dimension(self):
        self.env.user.groups_id += self.env.ref("mrp.group_mrp_routings")
        workcenter = self.env["mrp.workcenter"].create({"name": "Assembly"})
        bom = self._bom(self.chair, [(self.leg, 4), (self.seat, 1)])
        bom.operation_ids = [
            Command.create({"name": "Assemble", "workcenter_id": workcenter.id})
        ]
        self._bom_line(bom, self.leg).operation_id = bom.operation_ids
        mo = self._mo(bom, 2)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        rows = self._rows(mo)
        self.assertEqual(rows[self.leg].workcenter_id, workcenter)
        self.assertFalse(rows[self.seat].workcenter_id)
        self._assert_row(rows[self.leg], standard_qty=8.0, qty_consumed=8.0)

    # ------------------------------------------------------------------
    # reconciliation with the valuation layers
    # ------------------------------------------------------------------
    def test_reconciles_with_valuation_layers(self):
        """Every euro and unit of the analysis is in a valuation layer with
        the same MO, product and role, and the other way round."""
        wheel = self._product("Wheel", 40.0)
        spokes = self._product("Spoke Set", 25.0)
        bolt = self._product("Bolt", 4.0)
        nut = self._product("Nut", 1.0)
        self._stock(wheel, 6)
        self._stock(spokes, 100)
        self._stock(bolt, 7)
        self._stock(nut, 4)
        bom_sub = self._bom(
            self.chair,
            [
                (self.leg, 4, {"scrap_percent": 10, "scrap_fixed_qty": 1}),
                (
                    wheel,
                    2,
                    {
                        "substitute_ids": [
                            Command.create({"product_id": spokes.id, "factor": 2})
                        ]
                    },
                ),
            ],
            backflush_substitution="priority",
        )
        bom_defer = self._bom(
            self.chair, [(bolt, 2), (self.seat, 1)], backflush_shortage_policy="defer"
        )
        bom_negative = self._bom(
            self.chair, [(nut, 2)], backflush_shortage_policy="negative"
        )
        mo_sub = self._mo(bom_sub, 5)
        mo_defer = self._mo(bom_defer, 5)
        mo_negative = self._mo(bom_negative, 5)
        self._scrap(mo_sub, self.leg, 2)
        mos = mo_sub | mo_defer | mo_negative
        mos.button_mark_done()
        bolt.standard_price = 5.0
        self._stock(bolt, 2)
        mo_defer.backflush_exception_ids.action_retry()  # 2 of the 3 missing
        self._scrap(mo_defer, self.chair, 1)

        analysis = defaultdict(lambda: [0.0, 0.0])
        for row in self.env["mrp.backflush.analysis"].search(
            [("production_id", "in", mos.ids)]
        ):
            for role in ROLES:
                key = (row.production_id, row.product_id, role)
                analysis[key][0] += row[f"qty_{role}"]
                analysis[key][1] += row[f"value_{role}"]
            self.assertEqual(row.qty_manual, 0.0)
        layers = defaultdict(lambda: [0.0, 0.0])
        finished_side = self.env["stock.valuation.layer"]
        for layer in self.env["stock.valuation.layer"].search(
            [("backflush_production_id", "in", mos.ids)]
        ):
            move = layer.stock_move_id
            if layer.backflush_role == "finished":
                continue  # the finished goods themselves
            if move.production_id and not move.scrapped:
                finished_side |= layer  # deferred value added to the finished goods
                continue
            key = (
                layer.backflush_production_id,
                layer.product_id,
                layer.backflush_role,
            )
            layers[key][0] -= layer.quantity
            layers[key][1] -= layer.value

        def nonzero(figures):
            return {
                key: (round(qty, 6), round(value, 2))
                for key, (qty, value) in figures.items()
                if round(qty, 6) or round(value, 2)
            }

        self.assertEqual(nonzero(analysis), nonzero(layers))
        roles = {key[2] for key in nonzero(analysis)}
        self.assertEqual(roles, set(ROLES))
        # the finished side mirrors the deferred consumption
        deferred_value = sum(
            v for key, (_q, v) in analysis.items() if key[2] == "deferred"
        )
        self.assertAlmostEqual(deferred_value, 10.0)  # 2 bolts at 5
        self.assertAlmostEqual(sum(finished_side.mapped("value")), deferred_value)
        # what went into the finished goods is the consumed value
        for mo in mos:
            consumed = sum(self._rows(mo)[p].value_consumed for p in self._rows(mo))
            self.assertAlmostEqual(consumed, self._layers_value(mo.move_finished_ids))
        # hand-computed totals per MO
        rows = self._rows(mo_sub)
        self._assert_row(  # 20 net + 2 planned (10 %) + 1 constant; 2 scrapped
            rows[self.leg],
            qty_component=20.0,
            qty_planned_scrap=3.0,
            qty_actual_scrap=2.0,
        )
        self._assert_row(rows[spokes], qty_substitute=8.0, replaced_qty=4.0)
        self._assert_row(
            self._rows(mo_defer)[bolt],
            qty_component=7.0,
            qty_deferred=2.0,
            deferred_pending_qty=1.0,
            value_consumed=38.0,
        )
        # the valuation report groups by BOM
        by_bom = dict(
            self.env["stock.valuation.layer"]._read_group(
                [
                    ("backflush_role", "!=", False),
                    ("backflush_production_id", "in", mos.ids),
                ],
                ["backflush_bom_id"],
                ["__count"],
            )
        )
        self.assertEqual(set(by_bom), {bom_sub, bom_defer, bom_negative})

    # ------------------------------------------------------------------
    # rights and companies
    # ------------------------------------------------------------------
    def test_costs_visible_to_stock_managers_only(self):
        bom = self._bom(self.chair, [(self.leg, 4)])
        mo = self._mo(bom, 2)
        mo.button_mark_done()
        Analysis = self.env["mrp.backflush.analysis"]
        domain = [("production_id", "=", mo.id)]
        for user in (self.operator, self.mrp_manager):
            rows = Analysis.with_user(user).search(domain)
            self.assertEqual(rows.read(["qty_consumed"])[0]["qty_consumed"], 8.0)
            with self.assertRaises(AccessError):
                rows.read(["value_consumed"])
            with self.assertRaises(AccessError):
                Analysis.with_user(user).read_group(domain, ["standard_cost:sum"], [])
            self.assertNotIn("cost_variance", Analysis.with_user(user).fields_get())
            arch = Analysis.with_user(user).get_views(
                [(False, "pivot"), (False, "graph"), (False, "list"), (False, "search")]
            )
            for view_type in ("pivot", "list"):
                view = arch["views"][view_type]
                self.assertNotIn("value_consumed", view["arch"])
                self.assertIn("qty_consumed", view["arch"])
        rows = Analysis.with_user(self.accountant).search(domain)
        self.assertAlmostEqual(rows.value_consumed, 20.0)
        arch = Analysis.with_user(self.accountant).get_views([(False, "pivot")])
        self.assertIn("cost_variance", arch["views"]["pivot"]["arch"])
        with self.assertRaises(AccessError):
            Analysis.with_user(self.stock_user).search(domain)
        with self.assertRaises(AccessError):
            rows.with_user(self.accountant).write({"qty_consumed": 1})

    def test_multi_company_isolation(self):
        company_b, stock_b, env_b = self._other_company("Backflush B")
        # one shared component, a different cost in each company
        self.leg.with_company(company_b).standard_price = 3.0
        self._stock(self.leg, 100, location=stock_b)
        bom_a = self._bom(self.chair, [(self.leg, 4)])
        bom_b = self._bom(self.chair, [(self.leg, 4)], company_id=company_b.id)
        mo_a = self._mo(bom_a, 2)
        mo_b = self._mo(bom_b, 3, env=env_b)
        mo_a.button_mark_done()
        mo_b.button_mark_done()
        self.assertEqual(mo_b.state, "done")

        row_b = self._rows(mo_b)[self.leg]
        self._assert_row(
            row_b,
            company_id=company_b,
            standard_qty=12.0,
            standard_cost=36.0,
            value_consumed=36.0,
        )
        self.assertEqual(row_b.currency_id, company_b.currency_id)

        user_a = new_test_user(
            self.env,
            "bfa_accountant_a",
            groups="stock.group_stock_manager",
            company_id=self.company.id,
            company_ids=[Command.set(self.company.ids)],
        )
        user_ab = new_test_user(
            self.env,
            "bfa_accountant_ab",
            groups="stock.group_stock_manager",
            company_id=self.company.id,
            company_ids=[Command.set((self.company | company_b).ids)],
        )
        domain = [("production_id", "in", (mo_a | mo_b).ids)]
        Analysis = self.env["mrp.backflush.analysis"]
        self.assertEqual(Analysis.with_user(user_a).search(domain).production_id, mo_a)
        both = Analysis.with_user(user_ab).with_context(
            allowed_company_ids=(self.company | company_b).ids
        )
        self.assertEqual(both.search(domain).production_id, mo_a | mo_b)
        totals = dict(both._read_group(domain, ["company_id"], ["value_consumed:sum"]))
        self.assertAlmostEqual(totals[self.company], 20.0)
        self.assertAlmostEqual(totals[company_b], 36.0)
        only_b = Analysis.with_user(user_ab).with_context(
            allowed_company_ids=company_b.ids
        )
        self.assertEqual(only_b.search(domain).production_id, mo_b)
