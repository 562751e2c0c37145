# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Where features meet: every unit posted once per MO family and BOM line."""

from odoo import Command
from odoo.tests import Form, tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestLedger(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.workcenter = cls._workcenter("Ledger Assembly")
        cls.chair = cls._product("Ledger Chair", 0.0)
        cls.leg = cls._product("Ledger Leg", 2.0)
        cls.beech = cls._product("Ledger Beech Leg", 3.0)
        cls.seat = cls._product("Ledger Seat", 10.0)

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def _consumed(self, product, family):
        """Units of ``product`` the family consumed, less unbuild returns."""
        moves = self.env["stock.move"].search(
            [
                ("product_id", "=", product.id),
                ("state", "=", "done"),
                "|",
                ("raw_material_production_id", "in", family.ids),
                ("unbuild_id.mo_id", "in", family.ids),
            ]
        )
        return sum(-m.quantity if m.unbuild_id else m.quantity for m in moves)

    def _finish_workorders(self, mo):
        for workorder in mo.workorder_ids.filtered(lambda w: w.state != "done"):
            workorder.button_start()
            workorder.button_finish()

    def _beech_bom(self, leg_qty=1, **leg_vals):
        """Legs (with ``leg_vals``) replaced by beech legs when short."""
        leg_vals["substitute_ids"] = [
            Command.create({"product_id": self.beech.id, "factor": 1})
        ]
        return self._bom(
            self.chair,
            [(self.leg, leg_qty, leg_vals), (self.seat, 1)],
            backflush_substitution="priority",
        )

    def _operation_bom(self, leg_vals, **bom_vals):
        bom = self._bom(
            self.chair,
            [(self.leg, 2, leg_vals), (self.seat, 1)],
            backflush_mode="operation",
            operation_ids=[
                Command.create({"name": "Legs", "workcenter_id": self.workcenter.id})
            ],
            **bom_vals,
        )
        bom.bom_line_ids.filtered(
            lambda ln: ln.product_id == self.leg
        ).operation_id = bom.operation_ids
        return bom

    def _unbuild(self, mo, qty):
        form = Form(self.env["mrp.unbuild"])
        form.mo_id = mo
        form.product_qty = qty
        return form.save().action_unbuild()

    # ------------------------------------------------------------------
    # operation timing x backorders
    # ------------------------------------------------------------------
    def test_operation_timing_backorder_posts_once(self):
        """10 % planned scrap on an operation line, 4 then 6 produced: 22
        legs over the family, not 35.2."""
        self._stocks(leg=100, seat=100)
        bom = self._operation_bom({"scrap_percent": 10})
        mo = self._mo(bom, 10)
        mo.qty_producing = 4
        mo.workorder_ids.button_finish()
        backorder = self._backorder(mo, 4)
        self.assertFalse(
            backorder.move_raw_ids.filtered(
                lambda m: m.product_id == self.leg and m.state != "done"
            ).filtered("backflush_role"),
            "no planned-scrap copy reaches the backorder",
        )
        self._finish_workorders(backorder)
        backorder.button_mark_done()
        family = self._family(mo)
        self.assertEqual(self._consumed(self.leg, family), 22)
        self.assertEqual(self._consumed(self.seat, family), 10)
        scrap = family.move_raw_ids.filtered(
            lambda m: m.backflush_role == "planned_scrap" and m.state == "done"
        )
        self.assertAlmostEqual(sum(scrap.mapped("quantity")), 2.0)
        self._assert_ledger_balanced(mo)

    def test_operation_timing_backorder_with_substitute(self):
        """The substitute posted at work-order finish stays a substitute and
        is not posted again as a component by the backorder."""
        self._stocks(leg=5, beech=100, seat=100)
        bom = self._operation_bom(
            {
                "scrap_percent": 10,
                "substitute_ids": [
                    Command.create({"product_id": self.beech.id, "factor": 1})
                ],
            },
            backflush_substitution="priority",
        )
        mo = self._mo(bom, 10)
        mo.qty_producing = 4
        mo.workorder_ids.button_finish()
        backorder = self._backorder(mo, 4)
        self._finish_workorders(backorder)
        backorder.button_mark_done()
        family = self._family(mo)
        legs = self._consumed(self.leg, family) + self._consumed(self.beech, family)
        self.assertAlmostEqual(legs, 22)
        self.assertFalse(
            family.move_raw_ids.filtered(
                lambda m: (
                    m.product_id == self.beech
                    and m.state == "done"
                    and m.backflush_role not in ("substitute", "planned_scrap")
                )
            )
        )
        self._assert_ledger_balanced(mo)

    # ------------------------------------------------------------------
    # fixed scrap x deferred shortages x backorders
    # ------------------------------------------------------------------
    def test_fixed_scrap_deferred_posted_once(self):
        self._stocks(leg=3, seat=100)
        bom = self._bom(
            self.chair,
            [(self.leg, 1, {"scrap_fixed_qty": 2}), (self.seat, 1)],
            backflush_shortage_policy="defer",
        )
        mo = self._mo(bom, 10)
        backorder = self._backorder(mo, 4)
        self._stock(self.leg, 100)
        backorder.button_mark_done()
        self._family(mo).backflush_exception_ids.action_retry()
        self.assertEqual(self._consumed(self.leg, self._family(mo)), 12)
        self.assertFalse(
            self._family(mo).backflush_exception_ids.filtered(
                lambda e: e.state == "pending"
            )
        )
        self._assert_ledger_balanced(mo)

    def test_fixed_scrap_covered_by_substitute_posted_once(self):
        self._stocks(leg=4, beech=100, seat=100)
        bom = self._beech_bom(scrap_fixed_qty=2)
        mo = self._mo(bom, 10)
        backorder = self._backorder(mo, 4)
        backorder.button_mark_done()
        family = self._family(mo)
        total = self._consumed(self.leg, family) + self._consumed(self.beech, family)
        self.assertEqual(total, 12)
        scrap = family.move_raw_ids.filtered(
            lambda m: m.backflush_role == "planned_scrap"
        )
        self.assertEqual(sum(scrap.mapped("quantity")), 2)
        self.assertEqual(scrap.product_id, self.beech)
        self._assert_ledger_balanced(mo)

    # ------------------------------------------------------------------
    # unbuild
    # ------------------------------------------------------------------
    def _short_mo_done(self):
        """10 chairs done under `defer` with 4 legs in stock: 6 pending."""
        self._stocks(leg=4, seat=100)
        bom = self._bom(
            self.chair,
            [(self.leg, 1), (self.seat, 1)],
            backflush_shortage_policy="defer",
        )
        mo = self._mo(bom, 10)
        mo.button_mark_done()
        return mo

    def test_unbuild_cancels_pending_shortage(self):
        mo = self._short_mo_done()
        exception = mo.backflush_exception_ids
        self.assertEqual((exception.state, exception.quantity), ("pending", 6))
        self._unbuild(mo, 10)
        self.assertEqual(exception.state, "cancel")
        self.assertEqual(exception.unbuilt_qty, 6)
        self.assertEqual(self._qty(self.leg), 4, "the 4 posted legs came back")
        self._stock(self.leg, 50)
        self.env["mrp.backflush.exception"]._cron_retry()
        self.assertEqual(self._qty(self.leg), 50)
        self._assert_ledger_balanced(mo)

    def test_partial_unbuild_cancels_pending_first(self):
        mo = self._short_mo_done()
        self._unbuild(mo, 5)
        exception = mo.backflush_exception_ids
        self.assertEqual((exception.state, exception.quantity), ("pending", 1))
        self.assertEqual(self._qty(self.leg), 0)
        self._stock(self.leg, 10)
        exception.action_retry()
        self.assertEqual(self._consumed(self.leg, mo), 5)
        self._assert_ledger_balanced(mo)

    def test_unbuild_keeps_planned_scrap_and_roles(self):
        self._stocks(leg=100, seat=100)
        bom = self._bom(
            self.chair,
            [
                (self.leg, 1, {"scrap_percent": 10, "scrap_fixed_qty": 2}),
                (self.seat, 1),
            ],
        )
        mo = self._mo(bom, 10)
        mo.button_mark_done()
        self.assertEqual(self._qty(self.leg), 100 - 13)
        self._unbuild(mo, 10)
        self.assertEqual(self._qty(self.leg), 100 - 3, "planned scrap stays lost")
        returns = self.env["stock.move"].search(
            [("unbuild_id.mo_id", "=", mo.id), ("product_id", "=", self.leg.id)]
        )
        self.assertEqual(set(returns.mapped("backflush_role")), {"component"})
        run = mo.backflush_run_ids.filtered(lambda r: r.trigger == "unbuild")
        self.assertEqual(
            run.move_ids.filtered(lambda m: m.product_id == self.leg), returns
        )
        self.assertEqual(
            sum(
                run.line_ids.filtered(lambda ln: ln.product_id == self.leg).mapped(
                    "consumed_qty"
                )
            ),
            -10,
        )
        self.assertEqual(
            set(returns.stock_valuation_layer_ids.mapped("backflush_production_id")),
            {mo},
        )
        self._assert_ledger_balanced(mo)

    def test_unbuild_returns_substitutes_with_their_role(self):
        self._stocks(leg=6, beech=100, seat=100)
        bom = self._beech_bom()
        mo = self._mo(bom, 10)
        mo.button_mark_done()
        self._unbuild(mo, 10)
        self.assertEqual(self._qty(self.leg), 6)
        self.assertEqual(self._qty(self.beech), 100)
        returns = self.env["stock.move"].search([("unbuild_id.mo_id", "=", mo.id)])
        self.assertEqual(
            set(
                returns.filtered(lambda m: m.product_id == self.beech).mapped(
                    "backflush_role"
                )
            ),
            {"substitute"},
        )
        self._assert_ledger_balanced(mo)

    # ------------------------------------------------------------------
    # substitutes x planned scrap
    # ------------------------------------------------------------------
    def test_substitute_covering_scrap_posts_planned_scrap(self):
        """50 chairs, 4 legs + 1 %, 192 legs and beech legs: 8 beech legs
        stand in for the net, 2 for the planned scrap."""
        self._stocks(leg=192, beech=100, seat=100)
        bom = self._beech_bom(4, scrap_percent=1)
        mo = self._mo(bom, 50)
        mo.button_mark_done()
        self.assertEqual(self._qty(self.leg), 0)
        self.assertEqual(self._qty(self.beech), 90)
        lines = mo.backflush_run_ids.line_ids
        scrap = lines.filtered(lambda ln: ln.role == "planned_scrap")
        self.assertEqual(sum(scrap.mapped("consumed_qty")), 2)
        self.assertEqual(sum(scrap.mapped("planned_qty")), 2)
        self.assertEqual(
            sum(
                lines.filtered(lambda ln: ln.role == "substitute").mapped(
                    "consumed_qty"
                )
            ),
            8,
        )
        layers = mo.move_raw_ids.stock_valuation_layer_ids.filtered(
            lambda svl: svl.backflush_role == "planned_scrap"
        )
        self.assertAlmostEqual(sum(layers.mapped("quantity")), -2)
        self._assert_ledger_balanced(mo)

    def test_preview_shows_planned_scrap_covered_by_substitute(self):
        self._stocks(leg=192, beech=100, seat=100)
        bom = self._beech_bom(4, scrap_percent=1)
        mo = self._mo(bom, 50)
        plan = self.env["mrp.backflush.engine"]._plan(mo, "mark_done")
        leg_line = next(
            line
            for line in plan.lines.lines
            if line.requirement.product_id == self.leg.id
        )
        self.assertEqual(leg_line.qty("planned_scrap"), 2)
        self.assertEqual(leg_line.qty("substitute"), 8)

    # ------------------------------------------------------------------
    # run lines add up
    # ------------------------------------------------------------------
    def test_deferred_run_lines_add_up(self):
        """Under defer each run line reads planned = consumed + short."""
        self._stocks(leg=5, seat=100)
        bom = self._bom(
            self.chair,
            [(self.leg, 1, {"scrap_percent": 30}), (self.seat, 1)],
            backflush_shortage_policy="defer",
        )
        mo = self._mo(bom, 10)
        mo.button_mark_done()
        lines = mo.backflush_run_ids.line_ids.filtered(
            lambda ln: ln.product_id == self.leg
        )
        by_role = {ln.role: ln for ln in lines}
        component, scrap = by_role["component"], by_role["planned_scrap"]
        self.assertEqual(
            (component.planned_qty, component.consumed_qty, component.shortage_qty),
            (10, 5, 5),
        )
        self.assertEqual(
            (scrap.planned_qty, scrap.consumed_qty, scrap.shortage_qty), (3, 0, 3)
        )
        self.assertEqual(mo.backflush_exception_ids.quantity, 8)
        self._assert_ledger_balanced(mo)

    # ------------------------------------------------------------------
    # recorded quantities
    # ------------------------------------------------------------------
    def test_quantity_written_over_rpc_is_kept(self):
        """A barcode or MES integration writes the quantity used: kept."""
        self._stocks(leg=1000, seat=1000)
        bom = self._bom(
            self.chair, [(self.leg, 4, {"scrap_percent": 1}), (self.seat, 1)]
        )
        mo = self._mo(bom, 100)
        mo.qty_producing = 100
        leg_move = mo.move_raw_ids.filtered(lambda m: m.product_id == self.leg)
        leg_move.write({"quantity": 410, "picked": True})
        mo.button_mark_done()
        self.assertEqual(leg_move.quantity, 410)
        self.assertEqual(self._qty(self.leg), 590)
        self.assertEqual(self._qty(self.seat), 900)
        line = mo.backflush_run_ids.line_ids.filtered(
            lambda ln: ln.product_id == self.leg
        )
        self.assertEqual(
            (line.role, line.recorded, line.consumed_qty, line.planned_qty),
            ("component", True, 410, 400),
        )
        self._assert_ledger_balanced(mo)

    def test_component_demand_reads_as_its_share(self):
        """After posting the component move's demand is its net, the planned
        scrap has a move (and a demand) of its own."""
        self._stocks(leg=1000, seat=1000)
        bom = self._bom(
            self.chair, [(self.leg, 4, {"scrap_percent": 1}), (self.seat, 1)]
        )
        mo = self._mo(bom, 100)
        mo.button_mark_done()
        component = self._raw(mo, self.leg)
        scrap = self._raw(mo, self.leg, "planned_scrap")
        self.assertEqual((component.product_uom_qty, component.quantity), (400, 400))
        self.assertEqual((scrap.product_uom_qty, scrap.quantity), (4, 4))
