# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestAccess(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.chair = cls._product("Chair", 0.0)
        cls.leg = cls._product("Leg", 2.0)
        cls._stock(cls.leg, 100)
        cls.bom = cls._bom(cls.chair, [(cls.leg, 4)], backflush_shortage_policy="defer")
        groups = {
            "operator": "mrp.group_mrp_user,stock.group_stock_user",
            "manager": "mrp.group_mrp_manager,stock.group_stock_manager",
            "stock_user": "stock.group_stock_user",
            "accountant": "account.group_account_readonly,stock.group_stock_user",
            "portal": "base.group_portal",
        }
        cls.users = {
            name: new_test_user(cls.env, f"bf_access_{name}", groups=group)
            for name, group in groups.items()
        }
        cls.mo = cls.env["mrp.production"].create(
            {"product_id": cls.chair.id, "bom_id": cls.bom.id, "product_qty": 30}
        )
        cls.mo.action_confirm()
        cls.mo.button_mark_done()  # 120 legs needed, 100 there: 20 deferred
        cls.bf_run = cls.mo.backflush_run_ids
        cls.exception = cls.mo.backflush_exception_ids

    def test_who_reads_runs(self):
        for name in ("operator", "manager", "accountant"):
            with self.subTest(user=name):
                run = self.bf_run.with_user(self.users[name])
                self.assertEqual(
                    run.line_ids.with_user(self.users[name]).mapped("consumed_qty"),
                    [100],
                )
        for name in ("stock_user", "portal"):
            with self.subTest(user=name), self.assertRaises(AccessError):
                self.bf_run.with_user(self.users[name]).read(["produced_qty"])

    def test_runs_immutable_except_superuser(self):
        for name in ("operator", "manager", "accountant"):
            with self.subTest(user=name), self.assertRaises(AccessError):
                self.bf_run.with_user(self.users[name]).write({"produced_qty": 1})
        self.bf_run.sudo().write({"produced_qty": 30})  # the superuser may correct
        self.assertEqual(self.bf_run.produced_qty, 30)

    def test_who_sees_costs_on_runs(self):
        for name, sees in (("operator", False), ("manager", True)):
            with self.subTest(user=name):
                arch = (
                    self.env["mrp.backflush.run"]
                    .with_user(self.users[name])
                    .get_views([(False, "form")])["views"]["form"]["arch"]
                )
                self.assertEqual('name="value"' in arch, sees)

    def test_who_retries_and_cancels(self):
        self._stock(self.leg, 20)
        self.exception.with_user(self.users["operator"]).action_retry()
        self.assertEqual(self.exception.state, "done")
        self.assertEqual(self._qty(self.leg), 0)

    def test_cancel_needs_manager(self):
        with self.assertRaisesRegex(AccessError, "manufacturing manager"):
            self.exception.with_user(self.users["operator"])._cancel("no")
        with self.assertRaises(AccessError):
            self.exception.with_user(self.users["stock_user"]).action_retry()
        self.exception.with_user(self.users["manager"])._cancel("found in another bin")
        self.assertEqual(self.exception.state, "cancel")

    def test_policy_fields_manager_only(self):
        with self.assertRaises(AccessError):
            self.bom.with_user(self.users["operator"]).backflush_mode = "manual"
        with self.assertRaises(AccessError):
            self.bom.bom_line_ids.with_user(self.users["stock_user"]).scrap_percent = 3
        self.bom.with_user(self.users["manager"]).backflush_mode = "manual"
        self.assertEqual(self.bom.backflush_mode, "manual")

    def test_multi_company_isolation(self):
        company_b = self.env["res.company"].create({"name": "Factory B"})
        user_b = new_test_user(
            self.env,
            "bf_access_company_b",
            groups="mrp.group_mrp_manager,stock.group_stock_manager",
            company_id=company_b.id,
            company_ids=[company_b.id],
        )
        runs = self.env["mrp.backflush.run"].with_user(user_b).search([])
        self.assertNotIn(self.bf_run, runs)
        exceptions = self.env["mrp.backflush.exception"].with_user(user_b).search([])
        self.assertNotIn(self.exception, exceptions)
        with self.assertRaises(AccessError):
            self.bf_run.with_user(user_b).read(["produced_qty"])

    # ------------------------------------------------------------------
    # what the backflush posted is written by the backflush only
    # ------------------------------------------------------------------
    def test_backflush_fields_of_moves_are_protected(self):
        admin = self.env.ref("base.user_admin")
        done = self.mo.move_raw_ids.filtered(lambda m: m.state == "done")
        mo = self._mo(self.bom, 5)
        pending = mo.move_raw_ids
        cases = [
            (pending, {"backflush_unit_qty": 0.001}),
            (pending, {"backflush_role": "substitute"}),
            (done, {"backflush_run_id": False}),
            (done, {"backflush_replaced_move_id": pending.id}),
        ]
        for user in (self.users["operator"], self.users["manager"], admin):
            for moves, vals in cases:
                with (
                    self.subTest(user=user.login, vals=vals),
                    self.assertRaisesRegex(AccessError, "only the backflush writes"),
                ):
                    moves.with_user(user).write(vals)
        with self.assertRaisesRegex(AccessError, "only the backflush writes"):
            self.env["stock.move"].with_user(admin).create(
                {
                    "product_id": self.leg.id,
                    "product_uom_qty": 1,
                    "location_id": self.stock_location.id,
                    "location_dest_id": self.leg.property_stock_production.id,
                    "backflush_role": "deferred",
                }
            )
        self._stock(self.leg, 20)
        mo.button_mark_done()
        self.assertEqual(mo.move_raw_ids.mapped("quantity"), [20])
        self.assertEqual(mo.backflush_run_ids.move_ids, mo.move_raw_ids)

    def test_backflush_fields_of_layers_are_protected(self):
        layers = self.mo.move_raw_ids.stock_valuation_layer_ids
        self.assertEqual(layers.mapped("backflush_role"), ["component"])
        admin = self.env.ref("base.user_admin")
        for vals in ({"backflush_role": False}, {"backflush_production_id": False}):
            with (
                self.subTest(vals=vals),
                self.assertRaisesRegex(AccessError, "only the backflush writes"),
            ):
                layers.with_user(admin).write(vals)
        # the one documented way, for migrations and other modules: code in
        # superuser mode
        layers.with_user(admin).sudo().write({"backflush_role": "correction"})
        self.assertEqual(layers.backflush_role, "correction")

    def test_context_key_opens_nothing(self):
        """The module's former context key, sent over RPC, writes nothing
        the backflush posted; only the module's code (superuser mode) does."""
        admin = self.env.ref("base.user_admin")
        done = self.mo.move_raw_ids.filtered(lambda m: m.state == "done")
        layers = done.stock_valuation_layer_ids
        for user in (self.users["operator"], admin):
            env = self.env(user=user, context={"mrp_backflush_write": True})
            for records, vals in (
                (done, {"backflush_role": "deferred"}),
                (done, {"backflush_line_qty": 77}),
                (layers, {"backflush_role": "deferred"}),
            ):
                with (
                    self.subTest(user=user.login, model=records._name, vals=vals),
                    self.assertRaises(AccessError),
                ):
                    records.with_env(env).write(vals)
            with (
                self.subTest(user=user.login, create="deferred"),
                self.assertRaisesRegex(AccessError, "only the backflush writes"),
            ):
                env["stock.move"].create(
                    {
                        "product_id": self.leg.id,
                        "product_uom_qty": 77,
                        "location_id": self.stock_location.id,
                        "location_dest_id": self.leg.property_stock_production.id,
                        "raw_material_production_id": self.mo.id,
                        "bom_line_id": self.bom.bom_line_ids.id,
                        "backflush_role": "deferred",
                        "backflush_line_qty": 77,
                    }
                )
        self.assertEqual(
            (done.backflush_role, done.backflush_line_qty), ("component", 100)
        )
        self.assertEqual(layers.backflush_role, "component")
        # the module itself still writes them
        done.with_user(self.users["operator"])._backflush_write(
            {"backflush_line_qty": 99}
        )
        self.assertEqual(done.backflush_line_qty, 99)
        moves = (
            self.env["stock.move"]
            .with_user(self.users["operator"])
            ._backflush_create(
                [
                    {
                        "name": "Leg found later",
                        "product_id": self.leg.id,
                        "product_uom_qty": 1,
                        "location_id": self.stock_location.id,
                        "location_dest_id": self.leg.property_stock_production.id,
                        "backflush_role": "deferred",
                    }
                ]
            )
        )
        self.assertEqual(moves.backflush_role, "deferred")
        self.assertFalse(moves.env.su)  # back in the caller's environment

    def test_costs_hidden_from_operators(self):
        operator = self.users["operator"]
        line = self.bf_run.line_ids
        for record, field in (
            (self.bf_run, "value"),
            (line, "value"),
            (line, "substitution_variance"),
        ):
            with self.subTest(model=record._name, field=field):
                with self.assertRaises(AccessError):
                    record.with_user(operator).read([field])
                self.assertNotIn(field, record.with_user(operator).fields_get())
                self.assertIn(
                    field, record.with_user(self.users["manager"]).read([field])[0]
                )
        arch = (
            self.env["mrp.backflush.run"]
            .with_user(operator)
            .get_views([(False, "form"), (False, "list")])["views"]
        )
        for view in arch.values():
            self.assertNotIn('name="value"', view["arch"])
            self.assertNotIn('name="substitution_variance"', view["arch"])
