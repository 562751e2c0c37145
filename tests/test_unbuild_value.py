# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What an unbuild takes out of the finished goods (SPEC §4 The ledger,
issue 22 item 6): what it gives back plus what was lost, at the value the
units carry, value added after Mark Done included."""

from odoo import Command
from odoo.tests import tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestUnbuildValue(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.categ_auto = cls.env["product.category"].create(
            {
                "name": "Unbuild Automated FIFO",
                "property_cost_method": "fifo",
                "property_valuation": "real_time",
            }
        )
        cls.bike = cls._product("Unbuild Bike", 0.0)
        cls.wheel = cls._product("Unbuild Wheel", 30.0)
        cls.bike_bom = cls._bom(
            cls.bike, [(cls.wheel, 2)], backflush_shortage_policy="defer"
        )

    def _bikes_with_deferred_wheels(self):
        """4 bikes of 2 wheels with 4 wheels in stock: 4 posted, 4 deferred."""
        self._stock(self.wheel, 4)
        mo = self._mo(self.bike_bom, 4)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(mo.backflush_exception_ids.quantity, 4)
        return mo

    def _retry(self, mo):
        self._stock(self.wheel, 4)
        mo.backflush_exception_ids.action_retry()
        self.assertEqual(mo.backflush_exception_ids.state, "done")

    def _unbuild_layers(self, mo, product):
        return self.env["stock.valuation.layer"].search(
            [
                ("stock_move_id.unbuild_id.mo_id", "=", mo.id),
                ("product_id", "=", product.id),
            ]
        )

    def _account_balance(self, account):
        lines = self.env["account.move.line"].search(
            [("account_id", "=", account.id), ("parent_state", "=", "posted")]
        )
        return sum(lines.mapped("balance"))

    def test_unbuild_after_the_retry_takes_out_the_deferred_value(self):
        """The 2 bikes unbuilt carry 4 wheels, 2 of them posted by the retry:
        they leave at 120 and the 2 left keep 120."""
        mo = self._bikes_with_deferred_wheels()
        self._retry(mo)
        self.assertAlmostEqual(self.bike.value_svl, 240.0)
        self._unbuild(mo, 2)
        self.assertEqual(self._qty(self.wheel), 4)
        self.assertAlmostEqual(self.bike.value_svl, 120.0)
        self.assertAlmostEqual(
            sum(self._unbuild_layers(mo, self.bike).mapped("value")), -120.0
        )
        # FIFO: what the 2 bikes left take out later is what they carry
        self.assertAlmostEqual(
            sum(
                mo.move_finished_ids.stock_valuation_layer_ids.mapped("remaining_value")
            ),
            120.0,
        )

    def test_unbuild_before_the_retry_leaves_the_posted_value(self):
        """The 2 bikes unbuilt before the retry take the pending wheels with
        them (cancelled, never posted): nothing comes back, nothing leaves
        the finished goods, the 2 left carry the 4 wheels posted."""
        mo = self._bikes_with_deferred_wheels()
        self._unbuild(mo, 2)
        self.assertEqual(mo.backflush_exception_ids.state, "cancel")
        self.assertEqual(self._qty(self.wheel), 0)
        self.assertAlmostEqual(self.bike.value_svl, 120.0)
        self.assertAlmostEqual(
            sum(self._unbuild_layers(mo, self.bike).mapped("value")), 0.0
        )
        self.assertAlmostEqual(
            sum(
                mo.move_finished_ids.stock_valuation_layer_ids.mapped("remaining_value")
            ),
            120.0,
        )

    def test_unbuild_before_the_retry_average_cost(self):
        self.bike.categ_id = self.categ_avco
        mo = self._bikes_with_deferred_wheels()
        self._unbuild(mo, 1)
        self.assertAlmostEqual(self.bike.value_svl, 120.0)
        self.assertAlmostEqual(self.bike.standard_price, 40.0)

    def test_value_added_after_an_unbuild_stays_with_the_units_left(self):
        """1 bike unbuilt before the retry: the 2 wheels the retry posts go
        to the 3 bikes left, all in stock: none of it is expensed."""
        mo = self._bikes_with_deferred_wheels()
        self._unbuild(mo, 1)
        self._retry(mo)
        self.assertAlmostEqual(
            mo.backflush_exception_ids.filtered(lambda e: e.state == "done").posted_qty,
            2.0,
        )
        self.assertAlmostEqual(self.bike.value_svl, 180.0)

    def test_planned_scrap_of_unbuilt_units_is_a_loss(self):
        """10 chairs, 1 backrest at 10 with 10 % planned scrap, all unbuilt
        in real-time valuation: the finished goods leave at 110, 100 of
        backrests come back, the 10 of scrap are expensed, nothing stays on
        the production account."""
        chair = self._product("Unbuild Chair", 0.0, categ=self.categ_auto)
        backrest = self._product("Unbuild Backrest", 10.0, categ=self.categ_auto)
        bom = self._bom(chair, [(backrest, 1, {"scrap_percent": 10.0})])
        self._stock(backrest, 20)
        mo = self._mo(bom, 10)
        mo.button_mark_done()
        self.assertAlmostEqual(chair.value_svl, 110.0)
        entry = mo.move_finished_ids.stock_valuation_layer_ids.account_move_id
        production = entry.line_ids.filtered("credit").account_id
        expense = self.categ_auto.property_account_expense_categ_id
        production_before = self._account_balance(production)
        expense_before = self._account_balance(expense)
        self._unbuild(mo, 10)
        self.assertAlmostEqual(chair.value_svl, 0.0)
        self.assertEqual(self._qty(backrest), 19)
        self.assertAlmostEqual(backrest.value_svl, 190.0)
        self.assertAlmostEqual(self._account_balance(production), production_before)
        self.assertAlmostEqual(self._account_balance(expense) - expense_before, 10.0)

    def test_unbuilds_return_in_steps_the_product_unit_holds(self):
        """Glue kept to 0.01 kg, 130 g a unit, 700 g in stock and a strong
        glue as substitute: 8 units post 700 g of glue and 340 g of the
        substitute. Unbuilt 1, 1 then 6, each share comes back in 10 g
        steps (90, 90, 520 g of glue), not 87.5 g that the stock reads as
        0.09 kg: no glue and no value come from nowhere, and the finished
        goods leave at what they cost."""
        glue = self._product("Unbuild Glue", 5.0, uom=self.uom_kgm)
        strong = self._product("Unbuild Strong Glue", 8.0, uom=self.uom_kgm)
        bom = self._bom(
            self.bike,
            [(glue, 130, {"product_uom_id": self.uom_gram.id})],
            backflush_substitution="priority",
        )
        bom.bom_line_ids.substitute_ids = [
            Command.create(
                {"product_id": strong.id, "product_uom_id": self.uom_gram.id}
            )
        ]
        self._stock(glue, 0.7)
        self._stock(strong, 1)
        mo = self._mo(bom, 8)
        mo.button_mark_done()
        self.assertEqual((self._qty(glue), self._qty(strong)), (0, 0.66))
        for qty in (1, 1, 6):
            self._unbuild(mo, qty)
        returns = self._unbuild_layers(mo, glue)
        self.assertEqual(
            sorted(returns.stock_move_id.mapped("quantity")), [90, 90, 520]
        )
        self.assertAlmostEqual(self._qty(glue), 0.7)
        self.assertAlmostEqual(self._qty(strong), 1)
        self.assertAlmostEqual(sum(returns.mapped("value")), 3.5)
        finished = mo.move_finished_ids | (
            self._unbuild_layers(mo, self.bike).stock_move_id
        )
        self.assertAlmostEqual(
            sum(finished.stock_valuation_layer_ids.mapped("value")), 0.0
        )

    def test_last_unbuild_takes_out_the_rounding_left_with_the_scrap(self):
        """Screws kept in units, 0.25 dozen for 2 bikes, 10 % and 0.5 dozen
        of planned scrap: 5 bikes post 0.63 + 0.56 dozen (1.1875 rounded up
        as a whole). Unbuilt 1 then 4, 0.62 dozen come back: the 0.01 dozen
        of rounding stays with the scrap, lost, and the finished goods leave
        at what they cost."""
        screw = self._product("Unbuild Screw", 1.0)
        bom = self._bom(
            self.bike,
            [
                (
                    screw,
                    0.25,
                    {
                        "product_uom_id": self.uom_dozen.id,
                        "scrap_percent": 10,
                        "scrap_fixed_qty": 0.5,
                    },
                )
            ],
            qty=2.0,
            backflush_shortage_policy="negative",
        )
        self._stock(screw, 40)
        mo = self._mo(bom, 5)
        mo.button_mark_done()
        self.assertAlmostEqual(self._qty(screw), 40 - 14.28)
        self._unbuild(mo, 1)
        self._unbuild(mo, 4)
        self.assertAlmostEqual(self._qty(screw), 40 - 14.28 + 7.44)
        finished = mo.move_finished_ids | (
            self._unbuild_layers(mo, self.bike).stock_move_id
        )
        self.assertAlmostEqual(
            sum(finished.stock_valuation_layer_ids.mapped("value")), 0.0
        )
