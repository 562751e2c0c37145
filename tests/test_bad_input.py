# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Bad input is refused where it is entered, with the record and the rule.

Scrap and substitute rules have their own cases in test_scrap.py and
test_substitute.py; this file covers the rest of the matrix.
"""

from psycopg2 import IntegrityError

from odoo import Command
from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, tagged
from odoo.tools import mute_logger

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestBadInput(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.chair = cls._product("Chair", 0.0)
        cls.leg = cls._product("Leg", 2.0)
        cls.alt_leg = cls._product("Beech Leg", 3.0)
        cls._stock(cls.leg, 100)
        cls.bom = cls._bom(cls.chair, [(cls.leg, 4)])
        cls.company_b = cls.env["res.company"].create({"name": "Other Factory"})

    def test_policy_value_not_in_selection(self):
        """What an XML-RPC client could send: refused by the ORM, named."""
        for field in (
            "backflush_mode",
            "backflush_shortage_policy",
            "backflush_substitution",
        ):
            with self.subTest(field=field), self.assertRaisesRegex(ValueError, field):
                self.bom.write({field: "sometimes"})
        with self.assertRaisesRegex(ValueError, "backflush_mode"):
            self.bom.bom_line_ids.write({"backflush_mode": "later"})
        with self.assertRaisesRegex(ValueError, "backflush_shortage_policy"):
            self.company.write({"backflush_shortage_policy": "ignore"})

    def test_archived_component_at_mark_done(self):
        mo = self._mo(self.bom, 5)
        self.leg.active = False
        with self.assertRaisesRegex(UserError, "Leg is archived.*" + mo.name):
            self._mark_done_request(mo)
        self.assertEqual(self._qty(self.leg.with_context(active_test=False)), 100)

    def test_archived_substitute_is_not_used(self):
        self.bom.write(
            {"backflush_substitution": "priority", "backflush_shortage_policy": "defer"}
        )
        self.bom.bom_line_ids.substitute_ids = [
            Command.create({"product_id": self.alt_leg.id})
        ]
        self._stock(self.alt_leg, 100)
        self.alt_leg.active = False
        mo = self._mo(self.bom, 30)  # 120 legs, 100 in stock
        mo.button_mark_done()
        self.assertFalse(
            mo.move_raw_ids.filtered(lambda m: m.backflush_role == "substitute")
        )
        self.assertEqual(mo.backflush_exception_ids.quantity, 20)

    def test_bom_line_of_another_company(self):
        foreign = self._product("Foreign Leg", company_id=self.company_b.id)
        with self.assertRaises(UserError):
            self.bom.bom_line_ids = [
                Command.create({"product_id": foreign.id, "product_qty": 1})
            ]

    def test_substitute_of_another_company(self):
        foreign = self._product("Foreign Leg", company_id=self.company_b.id)
        with self.assertRaises(UserError):
            self.bom.bom_line_ids.substitute_ids = [
                Command.create({"product_id": foreign.id})
            ]

    def test_mo_with_bom_of_another_company(self):
        self.bom.company_id = self.env.company
        other_bom = self.bom.copy({"company_id": self.company_b.id})
        with self.assertRaisesRegex(ValidationError, "Other Factory"):
            self.env["mrp.production"].create(
                {"product_id": self.chair.id, "bom_id": other_bom.id, "product_qty": 1}
            )

    def test_mo_quantity_not_positive(self):
        for qty in (0, -3):
            with (
                self.subTest(qty=qty),
                self.assertRaises(IntegrityError),
                mute_logger("odoo.sql_db"),
            ):
                with self.env.cr.savepoint():
                    self.env["mrp.production"].create(
                        {
                            "product_id": self.chair.id,
                            "bom_id": self.bom.id,
                            "product_qty": qty,
                        }
                    )

    def test_mark_done_on_cancelled_mo(self):
        mo = self._mo(self.bom, 1)
        mo.action_cancel()
        with self.assertRaisesRegex(UserError, "is cancelled"):
            mo.button_mark_done()
        self.assertFalse(mo.backflush_run_ids)
        self.assertEqual(self._qty(self.leg), 100)

    def test_mark_done_on_done_mo(self):
        mo = self._mo(self.bom, 1)
        mo.button_mark_done()
        mo.button_mark_done()  # nothing left to post: nothing posted, no error
        self.assertEqual(len(mo.backflush_run_ids), 1)
        self.assertEqual(self._qty(self.leg), 96)

    def test_retry_of_cancelled_exception(self):
        self.bom.backflush_shortage_policy = "defer"
        mo = self._mo(self.bom, 30)
        mo.button_mark_done()
        exc = mo.backflush_exception_ids
        exc._cancel("counted again: the legs were never missing")
        with self.assertRaisesRegex(UserError, "Only pending"):
            exc.action_retry()

    def test_substitute_uom_of_other_category(self):
        with self.assertRaisesRegex(ValidationError, "Beech Leg.*not in the category"):
            self.bom.bom_line_ids.substitute_ids = [
                Command.create(
                    {"product_id": self.alt_leg.id, "product_uom_id": self.uom_kgm.id}
                )
            ]

    def test_scrap_percent_limits(self):
        line = self.bom.bom_line_ids
        for value in (-1, 1000, 2500):
            with (
                self.subTest(value=value),
                self.assertRaisesRegex(ValidationError, "Chair.*Leg.*planned scrap"),
            ):
                line.scrap_percent = value
        line.scrap_percent = 999.99
        with self.assertRaisesRegex(ValidationError, "per MO cannot be negative"):
            line.scrap_fixed_qty = -0.5

    def test_bom_form_refuses_bad_scrap(self):
        with self.assertRaises(ValidationError):
            with Form(self.bom) as form:
                with form.bom_line_ids.edit(0) as line:
                    line.scrap_percent = -5

    # ------------------------------------------------------------------
    # numbers the ORM cannot round: refused with the record and the rule
    # ------------------------------------------------------------------
    def test_not_finite_or_huge_numbers(self):
        line = self.bom.bom_line_ids
        line.substitute_ids = [Command.create({"product_id": self.alt_leg.id})]
        substitute = line.substitute_ids
        for value in (float("nan"), float("inf"), float("-inf"), 1e308, "nan", 2e9):
            for record, field, label in (
                (line, "scrap_percent", "Planned Scrap"),
                (line, "scrap_fixed_qty", "Planned Scrap per MO"),
                (substitute, "factor", "Factor"),
            ):
                with (
                    self.subTest(field=field, value=value),
                    self.assertRaisesRegex(
                        ValidationError, f"Chair.*Leg.*{label}.*finite number"
                    ),
                ):
                    record.write({field: value})
        with self.assertRaisesRegex(ValidationError, "Chair.*Leg.*finite number"):
            self.env["mrp.bom.line"].create(
                {
                    "bom_id": self.bom.id,
                    "product_id": self.alt_leg.id,
                    "scrap_fixed_qty": float("inf"),
                }
            )
        with self.assertRaisesRegex(ValidationError, "Beech Leg.*finite number"):
            self.bom.bom_line_ids = [
                Command.create(
                    {
                        "product_id": self._product("Screw").id,
                        "substitute_ids": [
                            Command.create(
                                {"product_id": self.alt_leg.id, "factor": float("nan")}
                            )
                        ],
                    }
                )
            ]

    def test_substitute_must_be_goods(self):
        service = self._product("Assembly Service", type="service", is_storable=False)
        kit = self._product("Leg Kit")
        self._bom(kit, [(self.leg, 1)], type="phantom")
        archived = self._product("Old Leg", active=False)
        line = self.bom.bom_line_ids
        for product, rule in (
            (service, "service or a kit"),
            (kit, "service or a kit"),
            (archived, "archived"),
        ):
            with (
                self.subTest(product=product.name),
                self.assertRaisesRegex(ValidationError, f"Chair.*{rule}"),
                self.env.cr.savepoint(),
            ):
                line.substitute_ids = [Command.create({"product_id": product.id})]
        self.assertFalse(line.substitute_ids)

    def test_substitute_checks_when_component_or_product_changes(self):
        line = self.bom.bom_line_ids
        line.substitute_ids = [Command.create({"product_id": self.alt_leg.id})]
        with (
            self.assertRaisesRegex(ValidationError, "cannot substitute itself"),
            self.env.cr.savepoint(),
        ):
            line.product_id = self.alt_leg
        with (
            self.assertRaisesRegex(ValidationError, "is the product this BOM makes"),
            self.env.cr.savepoint(),
        ):
            self.bom.product_tmpl_id = self.alt_leg.product_tmpl_id

    def test_substitute_cannot_become_service_or_kit(self):
        line = self.bom.bom_line_ids
        line.substitute_ids = [Command.create({"product_id": self.alt_leg.id})]
        rule = "BOM Chair: Beech Leg is a service or a kit; a substitute of Leg"
        beech = self._product("Beech")
        normal = self._bom(self.alt_leg, [(beech, 1)])
        for label, change in (
            ("service", lambda: self.alt_leg.write({"type": "service"})),
            (
                "template service",
                lambda: self.alt_leg.product_tmpl_id.write(
                    {"type": "service", "is_storable": False}
                ),
            ),
            ("kit BOM", lambda: self._bom(self.alt_leg, [(beech, 1)], type="phantom")),
            ("BOM made a kit", lambda: normal.write({"type": "phantom"})),
        ):
            with (
                self.subTest(change=label),
                self.assertRaisesRegex(ValidationError, rule),
                self.env.cr.savepoint(),
            ):
                change()
        self.assertEqual(self.alt_leg.type, "consu")
        # an archived kit BOM makes no kit; restoring it does
        kit = self._bom(self.alt_leg, [(beech, 1)], type="phantom", active=False)
        with self.assertRaisesRegex(ValidationError, rule):
            kit.active = True
        # once no longer a substitute, it may change
        line.substitute_ids = [Command.clear()]
        normal.type = "phantom"

    def test_exceptions_and_runs_of_one_company(self):
        self.bom.backflush_shortage_policy = "defer"
        mo = self._mo(self.bom, 30)
        mo.button_mark_done()
        exc, run = mo.backflush_exception_ids.sudo(), mo.backflush_run_ids.sudo()
        foreign_stock = (
            self.env["stock.warehouse"]
            .search([("company_id", "=", self.company_b.id)])
            .lot_stock_id
        )
        foreign_bom = self.bom.copy({"company_id": self.company_b.id})
        for record, vals in (
            (exc, {"location_id": foreign_stock.id}),
            (exc, {"bom_line_id": foreign_bom.bom_line_ids.id}),
            (run, {"bom_id": foreign_bom.id}),
        ):
            with (
                self.subTest(model=record._name, vals=vals),
                self.assertRaisesRegex(UserError, "Incompatible companies"),
                self.env.cr.savepoint(),
            ):
                record.write(vals)

    def test_cancel_reason_not_empty(self):
        self.bom.backflush_shortage_policy = "defer"
        mo = self._mo(self.bom, 30)
        mo.button_mark_done()
        exc = mo.backflush_exception_ids
        for reason in ("", "   \n "):
            with (
                self.subTest(reason=reason),
                self.assertRaisesRegex(ValidationError, "needs a reason"),
            ):
                self.env["mrp.backflush.exception.cancel"].create(
                    {"exception_ids": [Command.set(exc.ids)], "reason": reason}
                )
        self.assertEqual(exc.state, "pending")

    def test_sanity_checks_of_no_mo(self):
        """Odoo calls them on empty recordsets (backorder propagation):
        nothing to lock, nothing refused. On orders, only the cancelled ones
        are refused, by name."""
        cancelled = self._mo(self.bom, 1)
        cancelled.action_cancel()
        done = self._mo(self.bom, 1)
        done.button_mark_done()
        with self.assertQueryCount(0):
            self.env["mrp.production"]._button_mark_done_sanity_checks()
        done._button_mark_done_sanity_checks()
        with self.assertRaises(UserError) as refused:
            (done | cancelled)._button_mark_done_sanity_checks()
        self.assertEqual(
            refused.exception.args[0],
            f"{cancelled.name} is cancelled: it cannot be marked as done.",
        )
