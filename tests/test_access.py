# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.exceptions import AccessError, UserError
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
            with self.subTest(user=name), self.assertRaises(UserError):
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
        with self.assertRaises(UserError):
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
