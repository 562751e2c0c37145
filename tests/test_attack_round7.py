# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Adversarial round 7: the monitor, the station, background Mark Done,
staging and supply locations, called as operators, portal users and users
of another company would. Each test asserts the right behaviour."""

import time

from psycopg2 import errors

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import TransactionCase, new_test_user, tagged
from odoo.tools import mute_logger

from . import test_concurrency as concurrency
from .common import BackflushCase

CLEAR_ERRORS = (UserError, AccessError, ValidationError)


@tagged("post_install", "-at_install")
class TestAttackRound7(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.groups_id += cls.env.ref("stock.group_production_lot")
        cls.chair = cls._product("R7 Chair", 0.0, barcode="R7-CHAIR")
        cls.leg = cls._product("R7 Leg", 2.0, default_code="R7-LEG")
        cls.bom = cls._bom(cls.chair, [(cls.leg, 4)])
        cls.bom_defer = cls._bom(
            cls.chair, [(cls.leg, 4)], backflush_shortage_policy="defer"
        )
        cls.Production = cls.env["mrp.production"]
        cls.operator = cls._operator("bf_r7_operator")
        cls.manager = cls._manager("bf_r7_manager")
        cls.portal = new_test_user(cls.env, "bf_r7_portal", groups="base.group_portal")
        cls.company_b = cls.env["res.company"].create({"name": "R7 Company B"})
        cls.operator_b = cls._operator(
            "bf_r7_operator_b",
            company_id=cls.company_b.id,
            company_ids=[Command.set(cls.company_b.ids)],
        )
        cls.manager_b = cls._manager(
            "bf_r7_manager_b",
            company_id=cls.company_b.id,
            company_ids=[Command.set(cls.company_b.ids)],
        )
        cls.wh_b = cls.env["stock.warehouse"].search(
            [("company_id", "=", cls.company_b.id)]
        )

    def _deferred(self, qty=2):
        mo = self._mo(self.bom_defer, qty)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        exc = mo.backflush_exception_ids
        self.assertEqual(exc.state, "pending")
        return mo, exc

    def _report(self, user, values):
        return self.Production.with_user(user).backflush_report(values)

    # -- station: quantities ----------------------------------------------------
    def test_report_qty_below_the_unit_precision_is_refused(self):
        """0.001 of an order in Units (precision 0.01) is no quantity: Odoo
        would read it as nothing set and produce the whole order."""
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 10)
        with self.assertRaisesRegex(UserError, "qty"):
            self._report(
                self.operator,
                {"production": mo.name, "qty": 0.001, "idempotency_key": "P1"},
            )
        self.assertEqual(mo.state, "confirmed")
        self.assertEqual(self._qty(self.leg), 100)

    def test_station_read_qty_below_the_unit_precision_is_refused(self):
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 10)
        with self.assertRaisesRegex(UserError, "qty"):
            self.Production.with_user(self.operator).backflush_station_read(
                mo.name, 0.001
            )

    def test_report_odd_values(self):
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 2)
        bad = [
            None,
            [],
            "x",
            {"production": None, "qty": 1, "idempotency_key": "a"},
            {"production": [mo.name], "qty": 1, "idempotency_key": "a"},
            {"production": mo.name, "qty": "1", "idempotency_key": "a"},
            {"production": mo.name, "qty": None, "idempotency_key": "a"},
            {"production": mo.name, "qty": [1], "idempotency_key": "a"},
            {"production": mo.name, "qty": True, "idempotency_key": "a"},
            {"production": mo.name, "qty": float("nan"), "idempotency_key": "a"},
            {"production": mo.name, "qty": float("inf"), "idempotency_key": "a"},
            {"production": mo.name, "qty": -1, "idempotency_key": "a"},
            {"production": mo.name, "qty": 1e15, "idempotency_key": "a"},
            {"production": mo.name, "qty": 1, "idempotency_key": None},
            {"production": mo.name, "qty": 1, "idempotency_key": 5},
            {"production": mo.name, "qty": 1, "idempotency_key": "k" * 300},
            {"production": mo.name, "qty": 1, "idempotency_key": "a", "x": 1},
            {"production": "%", "qty": 1, "idempotency_key": "a"},
            {"production": "_", "qty": 1, "idempotency_key": "a"},
            {
                "production": mo.name,
                "qty": 1,
                "idempotency_key": "a",
                "finished_lot": 3,
            },
            {
                "production": mo.name,
                "qty": 1,
                "idempotency_key": "a",
                "component_lots": {"product": "R7-LEG"},
            },
            {
                "production": mo.name,
                "qty": 1,
                "idempotency_key": "a",
                "component_lots": [{"product": "R7-LEG", "qty": float("nan")}],
            },
            {
                "production": mo.name,
                "qty": 1,
                "idempotency_key": "a",
                "component_lots": [{"product": "R7-CHAIR", "qty": 1}],
            },
            {
                "production": mo.name,
                "qty": 1,
                "idempotency_key": "a",
                "component_lots": [{"product": "R7-LEG", "qty": 1, "lot": "L"}],
            },
            {
                "production": mo.name,
                "qty": 1,
                "idempotency_key": "a",
                "component_lots": ["R7-LEG"],
            },
        ]
        for values in bad:
            with self.subTest(values=values), self.assertRaises(UserError):
                self._report(self.operator, values)
        for code, qty in (
            (None, None),
            ([mo.name], None),
            (5, None),
            ("", None),
            (mo.name, "2"),
            (mo.name, float("nan")),
            (mo.name, -1),
            (mo.name, 1e15),
            (mo.name, [1]),
            ("%", None),
        ):
            with self.subTest(code=code, qty=qty), self.assertRaises(UserError):
                self.Production.with_user(self.operator).backflush_station_read(
                    code, qty
                )
        self.assertEqual(mo.state, "confirmed")
        self.assertEqual(self._qty(self.leg), 100)

    def test_report_orders_in_every_state(self):
        self._stock(self.leg, 100)
        draft = self.Production.create(
            {"product_id": self.chair.id, "bom_id": self.bom.id, "product_qty": 1}
        )
        done = self._mo(self.bom, 1)
        done.button_mark_done()
        cancelled = self._mo(self.bom, 1)
        cancelled.action_cancel()
        for mo in (draft, done, cancelled):
            with self.subTest(state=mo.state):
                with self.assertRaisesRegex(UserError, mo.name):
                    self._report(
                        self.operator,
                        {"production": mo.name, "qty": 1, "idempotency_key": mo.name},
                    )
                with self.assertRaisesRegex(UserError, mo.name):
                    self.Production.with_user(self.operator).backflush_station_read(
                        mo.name
                    )
        self.assertEqual(self._qty(self.leg), 96)

    def test_report_order_of_another_company_is_not_found(self):
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 1)
        with self.assertRaisesRegex(UserError, "no manufacturing order"):
            self._report(
                self.operator_b,
                {"production": mo.name, "qty": 1, "idempotency_key": "B1"},
            )
        with self.assertRaisesRegex(UserError, "no manufacturing order"):
            self.Production.with_user(self.operator_b).backflush_station_read(mo.name)
        self.assertEqual(mo.state, "confirmed")

    def test_portal_user_has_no_station(self):
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 1)
        with self.assertRaises(AccessError):
            self._report(
                self.portal, {"production": mo.name, "qty": 1, "idempotency_key": "PT"}
            )
        with self.assertRaises(AccessError):
            self.Production.with_user(self.portal).backflush_station_read(mo.name)
        self.assertEqual(mo.state, "confirmed")

    def test_report_lot_of_another_company_refused(self):
        self.leg.tracking = "lot"
        lot_b = self.env["stock.lot"].create(
            {
                "name": "R7-B-LOT",
                "product_id": self.leg.id,
                "company_id": self.company_b.id,
            }
        )
        self.env["stock.quant"].with_context(inventory_mode=True).create(
            {
                "product_id": self.leg.id,
                "location_id": self.wh_b.lot_stock_id.id,
                "inventory_quantity": 10,
                "lot_id": lot_b.id,
            }
        ).action_apply_inventory()
        mo = self._mo(self.bom, 1)
        with self.assertRaisesRegex(UserError, "R7-B-LOT"):
            self._report(
                self.operator,
                {
                    "production": mo.name,
                    "qty": 1,
                    "idempotency_key": "LB",
                    "component_lots": [
                        {"product": "R7-LEG", "lot": "R7-B-LOT", "qty": 4}
                    ],
                },
            )
        self.assertEqual(mo.state, "confirmed")

    def test_report_same_key_other_order(self):
        self._stock(self.leg, 100)
        mo1 = self._mo(self.bom, 1)
        mo2 = self._mo(self.bom, 1)
        self._report(
            self.operator, {"production": mo1.name, "qty": 1, "idempotency_key": "K"}
        )
        with self.assertRaisesRegex(UserError, "idempotency_key"):
            self._report(
                self.operator,
                {"production": mo2.name, "qty": 1, "idempotency_key": "K"},
            )
        self.assertEqual(mo2.state, "confirmed")
        self.assertEqual(self._qty(self.leg), 96)

    # -- monitor -----
    def test_monitor_figures_by_role(self):
        self._deferred()
        figures = (
            self.env["mrp.backflush.exception"]
            .with_user(self.operator)
            .retrieve_monitor_figures()
        )
        self.assertNotIn("value", figures)
        self.assertGreaterEqual(figures["pending_count"], 1)
        with self.assertRaises(AccessError):
            self.env["mrp.backflush.exception"].with_user(
                self.portal
            ).retrieve_monitor_figures()
        figures_b = (
            self.env["mrp.backflush.exception"]
            .with_user(self.manager_b)
            .retrieve_monitor_figures()
        )
        self.assertEqual(figures_b["pending_count"], 0)

    def test_open_monitor_figure_any_argument(self):
        Exc = self.env["mrp.backflush.exception"].with_user(self.operator)
        for figure in (None, [], {}, 5, "x", ["advice"], {"a": 1}):
            with self.subTest(figure=figure), self.assertRaises(UserError):
                Exc.action_open_monitor_figure(figure)
        for figure in ("negative_quants", "advice"):
            action = Exc.action_open_monitor_figure(figure)
            self.assertTrue(action["type"].startswith("ir.actions"))
        with self.assertRaises(AccessError):
            self.env["mrp.backflush.exception"].with_user(
                self.portal
            ).action_open_monitor_figure("advice")

    def test_retry_and_cancel_of_another_company(self):
        _mo, exc = self._deferred()
        self._stock(self.leg, 100)
        with self.assertRaises(AccessError):
            exc.with_user(self.operator_b).action_retry()
        with self.assertRaises(AccessError):
            self.env["mrp.backflush.exception.cancel"].with_user(self.manager_b).create(
                {"exception_ids": [Command.set(exc.ids)], "reason": "mine"}
            ).action_confirm()
        self.assertEqual(exc.state, "pending")

    def test_cancel_by_operator_refused(self):
        _mo, exc = self._deferred()
        with self.assertRaises(AccessError):
            self.env["mrp.backflush.exception.cancel"].with_user(self.operator).create(
                {"exception_ids": [Command.set(exc.ids)], "reason": "no"}
            ).action_confirm()
        self.assertEqual(exc.state, "pending")

    def test_cancel_reason_blank_refused(self):
        _mo, exc = self._deferred()
        for reason in ("", "   ", "\n\t"):
            with self.subTest(reason=reason), self.assertRaises(ValidationError):
                self.env["mrp.backflush.exception.cancel"].with_user(
                    self.manager
                ).create({"exception_ids": [Command.set(exc.ids)], "reason": reason})
        self.assertEqual(exc.state, "pending")

    def test_cancel_twice_and_retry_cancelled(self):
        _mo, exc = self._deferred()
        wizard = self.env["mrp.backflush.exception.cancel"].with_user(self.manager)
        wizard.create(
            {"exception_ids": [Command.set(exc.ids)], "reason": "lost"}
        ).action_confirm()
        self.assertEqual(exc.state, "cancel")
        with self.assertRaises(UserError):
            wizard.create(
                {"exception_ids": [Command.set(exc.ids)], "reason": "again"}
            ).action_confirm()
        self._stock(self.leg, 100)
        with self.assertRaises(UserError):
            exc.with_user(self.operator).action_retry()
        self.assertEqual(self._qty(self.leg), 100)

    def test_cancel_message_quantity_at_unit_precision(self):
        _mo, exc = self._deferred()
        exc.with_user(self.manager)._cancel("lost")
        body = exc.message_ids[:1].body
        self.assertIn("8.00 Units", body)

    def test_exception_fields_not_writable(self):
        _mo, exc = self._deferred()
        for user in (self.operator, self.manager):
            for vals in ({"state": "done"}, {"quantity": 0}, {"cause": "error"}):
                with (
                    self.subTest(user=user.login, vals=vals),
                    self.assertRaises(AccessError),
                ):
                    exc.with_user(user).write(vals)
        self.assertEqual(exc.quantity, 8)

    # -- background Mark Done -----
    def test_queue_by_context_of_another_company_order(self):
        self._stock(self.leg, 100)
        self.company.backflush_background_threshold = 1
        mos = self._mo(self.bom, 1) | self._mo(self.bom, 1)
        with self.assertRaises(AccessError):
            mos.with_user(self.operator_b).with_context(
                active_model="mrp.production", active_ids=mos.ids
            ).button_mark_done()
        self.assertFalse(mos.backflush_queue_user_id)

    # -- supply locations -----
    def test_supply_location_must_be_internal(self):
        customer = self.env.ref("stock.stock_location_customers")
        view = self.warehouse.view_location_id
        scrap = self.env["stock.location"].search(
            [
                ("usage", "=", "inventory"),
                ("company_id", "in", (False, self.company.id)),
            ],
            limit=1,
        )
        line = self.bom.bom_line_ids
        workcenter = self.env["mrp.workcenter"].create({"name": "R7 WC"})
        for location in (customer, view, scrap):
            with self.subTest(location=location.display_name):
                with self.assertRaises(ValidationError):
                    line.write({"backflush_location_id": location.id})
                with self.assertRaises(ValidationError):
                    workcenter.write({"backflush_location_id": location.id})
        self.assertFalse(line.backflush_location_id)

    def test_supply_location_of_another_company(self):
        line = self.bom.bom_line_ids
        self.bom.company_id = self.company
        with self.assertRaises(UserError):
            line.write({"backflush_location_id": self.wh_b.lot_stock_id.id})

    # -- corrections -----
    def test_correction_not_for_operator_or_other_company(self):
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 1)
        mo.button_mark_done()
        with self.assertRaises(AccessError):
            mo.with_user(self.operator).action_backflush_correct()
        with self.assertRaises(AccessError):
            mo.with_user(self.manager_b).action_backflush_correct()

    def test_correction_wizard_numbers(self):
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 1)
        mo.button_mark_done()
        action = mo.with_user(self.manager).action_backflush_correct()
        wizard = (
            self.env["mrp.backflush.correction"]
            .with_user(self.manager)
            .browse(action["res_id"])
        )
        for qty in (float("nan"), float("inf"), 1e15, -1):
            with self.subTest(qty=qty):
                try:
                    with self.env.cr.savepoint():
                        wizard.line_ids.write({"qty_used": qty})
                        wizard.action_confirm()
                except CLEAR_ERRORS:
                    continue
                self.fail(f"{qty!r} was accepted")
        self.assertEqual(self._qty(self.leg), 96)

    def test_serials_wizard_on_a_lot_tracked_pending_posting(self):
        """Serial numbers are recorded for serial-tracked components only:
        lots recorded on a lot-tracked posting would be said recorded and
        never used."""
        self.leg.tracking = "lot"
        _mo, exc = self._deferred(1)
        lot = self.env["stock.lot"].create(
            {"name": "R7-LOT", "product_id": self.leg.id}
        )
        with self.assertRaisesRegex(UserError, "serial"):
            self.env["mrp.backflush.exception.serials"].with_user(self.operator).create(
                {"exception_id": exc.id, "lot_ids": [Command.set(lot.ids)]}
            ).action_confirm()
        self.assertFalse(exc.lot_ids)

    def test_supply_location_of_another_company_on_a_shared_bom(self):
        """A BOM of no company with a line-side bin of company B."""
        bom = self._bom(self.chair, [(self.leg, 4)])
        bom.company_id = False
        with self.assertRaisesRegex(UserError, "Supply Location"):
            bom.bom_line_ids.backflush_location_id = self.wh_b.lot_stock_id

    def test_correction_with_pending_postings_waits_for_a_decision(self):
        """A correction is an edit after done: pending postings of the
        order are posted or cancelled first, as for Unlock."""
        mo, exc = self._deferred(2)
        self._stock(self.leg, 100)
        with self.assertRaisesRegex(UserError, "Backflush Monitor"):
            mo.with_user(self.manager).action_backflush_correct()
        self.assertEqual(self._qty(self.leg), 100)

    def test_stock_user_without_manufacturing_rights_reports_nothing(self):
        clerk = new_test_user(self.env, "bf_r7_clerk", groups="stock.group_stock_user")
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 1)
        with self.assertRaises(AccessError):
            self._report(
                clerk, {"production": mo.name, "qty": 1, "idempotency_key": "CL"}
            )
        self.assertEqual(mo.state, "confirmed")
        self.assertEqual(self._qty(self.leg), 100)

    def test_supply_location_made_unusable_later(self):
        """A line-side bin set on a BOM line later turned into a view."""
        bin_ = self.env["stock.location"].create(
            {"name": "R7 Bin", "location_id": self.stock_location.id}
        )
        self.bom.bom_line_ids.backflush_location_id = bin_
        with self.assertRaises(ValidationError) as refusal:
            bin_.usage = "view"
        self.assertIn("R7 Bin", str(refusal.exception))
        self.assertEqual(bin_.usage, "internal")

    def test_cancel_wizard_mixed_states_is_atomic(self):
        _mo, exc = self._deferred(1)
        _mo2, exc2 = self._deferred(1)
        self._stock(self.leg, 4)
        exc.action_retry()
        self.assertEqual(exc.state, "done")
        with self.assertRaises(UserError):
            self.env["mrp.backflush.exception.cancel"].with_user(self.manager).create(
                {"exception_ids": [Command.set((exc | exc2).ids)], "reason": "mix"}
            ).action_confirm()
        self.assertEqual(exc2.state, "pending")

    def test_unbuild_by_operator_cancels_the_pending_share(self):
        mo, exc = self._deferred(2)
        self._stock(self.leg, 0)
        unbuild = (
            self.env["mrp.unbuild"]
            .with_user(self.operator)
            .create({"mo_id": mo.id, "product_qty": 1, "product_id": self.chair.id})
        )
        unbuild.action_unbuild()
        self.assertEqual(exc.quantity, 4)
        self._stock(self.leg, 100)
        exc.with_user(self.operator).action_retry()
        self.assertEqual(exc.state, "done")
        self._assert_ledger_balanced(mo)

    def test_active_ids_of_any_shape_over_rpc(self):
        """``active_model``/``active_ids`` are context keys the module
        reads (background Mark Done, the advice): any JSON value."""
        self._stock(self.leg, 100)
        self.company.backflush_background_threshold = 1
        for active_ids in (5, "12", [[1]], {"a": 1}, [None], True):
            with self.subTest(active_ids=active_ids):
                mos = self._mo(self.bom, 1) | self._mo(self.bom, 1)
                try:
                    mos.with_user(self.operator).with_context(
                        active_model="mrp.production", active_ids=active_ids
                    ).button_mark_done()
                except CLEAR_ERRORS:  # pylint: disable=except-pass
                    pass
                advice = (
                    self.env["mrp.bom.backflush.advice"]
                    .with_user(self.operator)
                    .with_context(active_model="mrp.bom", active_ids=active_ids)
                )
                try:
                    advice.create({}).action_compute()
                except CLEAR_ERRORS:  # pylint: disable=except-pass
                    pass

    def test_queued_by_a_user_who_lost_the_rights(self):
        """The person who queued the orders left manufacturing before the
        scheduler ran: the round ends, each order says why, none stays
        queued for ever (it would hold back every other queued order)."""
        self._stock(self.leg, 100)
        self.company.backflush_background_threshold = 1
        clerk = new_test_user(
            self.env,
            "bf_r7_leaver",
            groups="mrp.group_mrp_user,stock.group_stock_user",
        )
        mos = self._mo(self.bom, 1) | self._mo(self.bom, 1)
        mos.with_user(clerk).with_context(
            active_model="mrp.production", active_ids=mos.ids
        ).button_mark_done()
        self.assertEqual(mos.backflush_queue_user_id, clerk)
        clerk.groups_id = [Command.set(self.env.ref("base.group_user").ids)]
        self.env["mrp.backflush.queue"]._cron_backflush_mark_done()
        self.assertFalse(mos.backflush_queue_user_id)
        self.assertTrue(all(mos.mapped("backflush_queue_error")))
        self.assertEqual(mos.mapped("state"), ["confirmed", "confirmed"])

    def test_unbuild_validated_twice_over_rpc(self):
        """action_unbuild is public: called again on a done unbuild, it
        would give the components back a second time."""
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 2)
        mo.button_mark_done()
        unbuild = (
            self.env["mrp.unbuild"]
            .with_user(self.operator)
            .create({"mo_id": mo.id, "product_qty": 2, "product_id": self.chair.id})
        )
        unbuild.action_unbuild()
        self.assertEqual(self._qty(self.leg), 100)
        try:
            unbuild.action_unbuild()
        except CLEAR_ERRORS:  # pylint: disable=except-pass
            pass
        self.assertEqual(self._qty(self.leg), 100)
        self.assertEqual(self._qty(self.chair), 0)

    def test_unlock_by_write_of_any_falsy_value_is_guarded(self):
        """JSON clients send 0, "" or null for False."""
        mo, _exc = self._deferred()
        for value in (0, "", None, 0.0):
            with self.subTest(value=value), self.assertRaises(UserError):
                mo.with_user(self.operator).write({"is_locked": value})
        self.assertTrue(mo.is_locked)

    def test_negative_company_counts_refused(self):
        for field in ("backflush_background_threshold", "backflush_pending_alert_days"):
            with self.subTest(field=field), self.assertRaises(ValidationError):
                self.company.write({field: -1})

    def test_value_not_searchable_or_sortable_by_operators(self):
        """Costs are for stock managers: a domain or an order on the value
        would tell them too."""
        self._deferred()
        Exc = self.env["mrp.backflush.exception"].with_user(self.operator)
        with self.assertRaises(AccessError):
            Exc.search([("value", ">", 0)])
        with self.assertRaises(AccessError):
            Exc.read_group([], ["value:sum"], [])
        with self.assertRaises(AccessError):
            Exc.search([], order="value desc")


@tagged("post_install", "-at_install")
class TestAttackRound7Operation(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.workcenter = cls._workcenter("R7 Assembly")
        cls.chair = cls._product("R7 Op Chair", 0.0)
        cls.leg = cls._product("R7 Op Leg", 2.0)
        cls._stock(cls.leg, 100)
        cls.bom = cls._bom(
            cls.chair,
            [(cls.leg, 4)],
            backflush_mode="operation",
            operation_ids=[
                Command.create({"name": "Legs", "workcenter_id": cls.workcenter.id})
            ],
        )
        cls.bom.bom_line_ids.operation_id = cls.bom.operation_ids
        cls.operator = cls._operator("bf_r7_op_operator")

    def test_work_order_of_a_draft_order_posts_nothing(self):
        mo = self.env["mrp.production"].create(
            {"product_id": self.chair.id, "bom_id": self.bom.id, "product_qty": 2}
        )
        self.assertEqual(mo.state, "draft")
        self.assertTrue(mo.workorder_ids)
        try:
            mo.workorder_ids.with_user(self.operator).button_finish()
        except CLEAR_ERRORS:  # pylint: disable=except-pass
            pass
        self.assertEqual(self._qty(self.leg), 100)
        self.assertFalse(mo.backflush_run_ids)

    def test_work_order_of_a_cancelled_order_posts_nothing(self):
        mo = self._mo(self.bom, 2)
        mo.action_cancel()
        try:
            mo.workorder_ids.with_user(self.operator).button_finish()
        except CLEAR_ERRORS:  # pylint: disable=except-pass
            pass
        self.assertEqual(self._qty(self.leg), 100)
        self.assertFalse(mo.backflush_run_ids)

    def test_work_order_done_by_write_then_mark_done(self):
        """An integration sets the work order done by writing its state:
        Mark Done still posts its components once."""
        mo = self._mo(self.bom, 2)
        try:
            mo.workorder_ids.with_user(self.operator).write({"state": "done"})
        except CLEAR_ERRORS:
            return
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg), 92)
        self._assert_ledger_balanced(mo)


@tagged("post_install", "-at_install")
class TestAttackRound7Staging(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.warehouse.manufacture_steps = "pbm"
        cls.pre = cls.warehouse.pbm_loc_id
        cls.chair = cls._product("R7 Staged Chair", 0.0)
        cls.leg = cls._product("R7 Staged Leg", 2.0)
        cls._stock(cls.leg, 100)
        cls.operator = cls._operator("bf_r7_staging_operator")

    def test_operator_cancels_staged_orders_of_each_policy(self):
        for policy, left in (("return", 0), ("propose", 20), ("keep", 20)):
            with self.subTest(policy=policy):
                bom = self._bom(
                    self.chair, [(self.leg, 4)], backflush_leftover_policy=policy
                )
                mo = self._mo(bom, 5)
                self._pick(mo, {self.leg: 20})
                mo.with_user(self.operator).action_cancel()
                self.assertEqual(mo.state, "cancel")
                self.assertEqual(self._qty(self.leg, self.pre), left)
                self.env["stock.quant"]._quant_tasks()
                # empty pre-production for the next policy
                if left:
                    self._stock(self.leg, 0, location=self.pre)

    def test_operator_over_pick_return_policy(self):
        bom = self._bom(self.chair, [(self.leg, 4)], backflush_leftover_policy="return")
        mo = self._mo(bom, 5)
        self._pick(mo, {self.leg: 30})
        mo.with_user(self.operator).button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._qty(self.leg, self.pre), 0)
        self.assertEqual(self._qty(self.leg), 80)
        self._assert_ledger_balanced(mo)


@tagged("post_install", "-at_install")
class TestAttackRound7Concurrency(TransactionCase):
    """Two cursors at once (data committed, as in test_concurrency)."""

    _env = concurrency.TestConcurrency._env
    _chair_and_leg = concurrency.TestConcurrency._chair_and_leg
    _stock_location = concurrency.TestConcurrency._stock_location
    _inventory = concurrency.TestConcurrency._inventory
    _setup = concurrency.TestConcurrency._setup
    _set_aside_pending = concurrency.TestConcurrency._set_aside_pending
    _leg_qty = concurrency.TestConcurrency._leg_qty
    _in_thread = concurrency.TestConcurrency._in_thread

    @mute_logger("odoo.sql_db")
    def test_same_unbuild_validated_by_two_users(self):
        leg_id, location_id, (mo_id,) = self._setup("block", 100, [2])
        with self.registry.cursor() as cr:
            env = self._env(cr)
            mo = env["mrp.production"].browse(mo_id)
            mo.button_mark_done()
            unbuild_id = (
                env["mrp.unbuild"]
                .create(
                    {"mo_id": mo_id, "product_qty": 2, "product_id": mo.product_id.id}
                )
                .id
            )
        cr_a = self.registry.cursor()
        try:
            self._env(cr_a)["mrp.unbuild"].browse(unbuild_id).action_unbuild()
            thread, outcome = self._in_thread(
                lambda env: env["mrp.unbuild"].browse(unbuild_id).action_unbuild()
            )
            time.sleep(1.0)
            cr_a.commit()
        finally:
            cr_a.close()
        thread.join(30)
        # B's stale snapshot is refused; Odoo's retry of B finds it done.
        self.assertIsInstance(
            outcome.get("error"), (errors.SerializationFailure, UserError)
        )
        with self.registry.cursor() as cr:
            with self.assertRaisesRegex(UserError, "already done"):
                self._env(cr)["mrp.unbuild"].browse(unbuild_id).action_unbuild()
            cr.rollback()
        self.assertEqual(self._leg_qty(leg_id, location_id), 100)
