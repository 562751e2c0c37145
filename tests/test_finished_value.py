# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The finished goods' value once components are posted after Mark Done,
through Odoo's own revaluation: lots of lot-valuated products, and the
rounding remainder kept in stock while the units are there."""

from odoo import Command
from odoo.tests import new_test_user, tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestFinishedValue(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env,
            "bf_value_manager",
            groups="mrp.group_mrp_manager,stock.group_stock_manager",
        )

    def _categ(self, cost_method):
        return self.env["product.category"].create(
            {
                "name": f"Finished value {cost_method}",
                "property_cost_method": cost_method,
                "property_valuation": "real_time",
            }
        )

    def _catch_up(self, mo):
        return self.env["stock.valuation.layer"].search(
            [
                ("backflush_production_id", "=", mo.id),
                ("backflush_role", "=", "finished_value"),
            ]
        )

    def _expensed(self, product):
        """What was expensed of ``product``'s late component cost."""
        expense = product.product_tmpl_id.get_product_accounts()["expense"]
        return sum(
            self.env["account.move.line"]
            .search([("product_id", "=", product.id), ("account_id", "=", expense.id)])
            .mapped("balance")
        )

    def test_lot_valuated_deferred_retry(self):
        """A deferred posting retried adds its value to the finished lot:
        the lot's layers and its cost follow, not only the product's."""
        for cost_method in ("average", "fifo"):
            with self.subTest(cost_method=cost_method):
                categ = self._categ(cost_method)
                chair = self._product(
                    f"Lot Chair {cost_method}",
                    0.0,
                    categ,
                    tracking="lot",
                    lot_valuated=True,
                )
                seat = self._product(f"Lot Seat {cost_method}", 5.0, categ)
                bolt = self._product(f"Lot Bolt {cost_method}", 2.5, categ)
                bom = self._bom(
                    chair,
                    [(seat, 1), (bolt, 1)],
                    backflush_shortage_policy="defer",
                    backflush_substitution="none",
                )
                self._stock(seat, 10)
                mo = self._mo(bom, 4)
                lot = self.env["stock.lot"].create(
                    {"name": f"CH-{cost_method}", "product_id": chair.id}
                )
                mo.lot_producing_id = lot
                mo.button_mark_done()
                self.assertEqual(mo.state, "done")
                self.assertAlmostEqual(lot.value_svl, 20.0)
                cost_before = lot.standard_price
                self._stock(bolt, 4)
                mo.backflush_exception_ids.action_retry()
                catch_up = self._catch_up(mo)
                self.assertAlmostEqual(sum(catch_up.mapped("value")), 10.0)
                self.assertEqual(catch_up.lot_id, lot)
                lot.invalidate_recordset()
                self.assertAlmostEqual(lot.value_svl, 30.0)
                self.assertAlmostEqual(lot.standard_price, cost_before + 2.5)
                self.assertAlmostEqual(chair.value_svl, 30.0)
                finished = mo.move_finished_ids.stock_valuation_layer_ids.filtered(
                    "quantity"
                )
                self.assertAlmostEqual(finished.remaining_value, 30.0)
                self.assertAlmostEqual(self._expensed(chair), 0.0)

    def test_rounding_remainder_stays_in_stock(self):
        """1.00 added to three units in three layers, all in stock: 0.33,
        0.33 and 0.34 go to the goods, no cent is expensed as gone."""
        for cost_method in ("fifo", "average", "standard"):
            with self.subTest(cost_method=cost_method):
                categ = self._categ(cost_method)
                chair = self._product(f"Cent Chair {cost_method}", 0.0, categ)
                bolt = self._product(f"Cent Bolt {cost_method}", 1.0, categ)
                bom = self._bom(chair, [(bolt, 1)])
                self._stock(bolt, 10)
                mo = self._mo(bom, 1)
                mo.button_mark_done()
                # Produced 1, then 2 and 3 once unlocked: Odoo adds a layer
                # of one unit each time.
                finished_move = mo.move_finished_ids
                finished_move.move_line_ids.quantity = 2
                finished_move.move_line_ids.quantity = 3
                finished = finished_move.stock_valuation_layer_ids
                self.assertEqual(finished.mapped("remaining_qty"), [1.0, 1.0, 1.0])
                value_before = chair.value_svl
                price_before = chair.standard_price
                action = mo.with_user(self.manager).action_backflush_correct()
                wizard = (
                    self.env["mrp.backflush.correction"]
                    .with_user(self.manager)
                    .browse(action["res_id"])
                )
                wizard.line_ids.qty_used = 2  # one bolt more: 1.00
                wizard.action_confirm()
                catch_up = self._catch_up(mo)
                self.assertAlmostEqual(self._expensed(chair), 0.0)
                chair.invalidate_recordset()
                if cost_method == "standard":
                    self.assertFalse(catch_up)
                    self.assertAlmostEqual(chair.value_svl, value_before)
                    self.assertAlmostEqual(chair.standard_price, price_before)
                    continue
                self.assertAlmostEqual(sum(catch_up.mapped("value")), 1.0)
                self.assertAlmostEqual(chair.value_svl, value_before + 1.0)
                self.assertAlmostEqual(
                    sum(finished.mapped("remaining_value")), value_before + 1.0
                )
                self.assertEqual(
                    sorted(
                        round(svl.remaining_value - svl.value, 2) for svl in finished
                    ),
                    [0.33, 0.33, 0.34],
                )

    def test_catch_up_keeps_odoo_links(self):
        """The layers Odoo's revaluation creates are the order's: linked to
        its finished move and layer, shown on the order."""
        categ = self._categ("average")
        chair = self._product("Link Chair", 0.0, categ)
        bolt = self._product("Link Bolt", 3.0, categ)
        bom = self._bom(chair, [(bolt, 2)])
        self._stock(bolt, 10)
        mo = self._mo(bom, 2)
        mo.button_mark_done()
        self.assertAlmostEqual(chair.standard_price, 6.0)
        action = mo.with_user(self.manager).action_backflush_correct()
        wizard = self.env["mrp.backflush.correction"].browse(action["res_id"])
        wizard.write(
            {"line_ids": [Command.update(wizard.line_ids.id, {"qty_used": 5})]}
        )
        wizard.with_user(self.manager).action_confirm()
        catch_up = self._catch_up(mo)
        finished = mo.move_finished_ids.stock_valuation_layer_ids.filtered("quantity")
        self.assertEqual(catch_up.stock_move_id, mo.move_finished_ids)
        self.assertEqual(catch_up.stock_valuation_layer_id, finished)
        self.assertAlmostEqual(catch_up.value, 3.0)
        self.assertAlmostEqual(chair.standard_price, 7.5)
        self.assertTrue(catch_up.account_move_id)
        action = mo.action_view_stock_valuation_layers()
        self.assertIn(
            catch_up, self.env["stock.valuation.layer"].search(action["domain"])
        )
