# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import Command
from odoo.tests import HttpCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestTour(HttpCase):
    """A person in a real browser: operator marks done, manager edits policy."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        categ = cls.env["product.category"].create(
            {"name": "Tour FIFO", "property_cost_method": "fifo"}
        )
        cls.chair, cls.leg = cls.env["product.product"].create(
            [
                {"name": "Tour Chair", "is_storable": True, "categ_id": categ.id},
                {"name": "Tour Leg", "is_storable": True, "categ_id": categ.id},
            ]
        )
        cls.bom = cls.env["mrp.bom"].create(
            {
                "product_tmpl_id": cls.chair.product_tmpl_id.id,
                "bom_line_ids": [
                    Command.create({"product_id": cls.leg.id, "product_qty": 4})
                ],
            }
        )
        location = cls.env.ref("stock.warehouse0").lot_stock_id
        cls.env["stock.quant"]._update_available_quantity(cls.leg, location, 100)
        new_test_user(
            cls.env,
            "bf_tour_operator",
            groups="mrp.group_mrp_user,stock.group_stock_user",
        )
        new_test_user(
            cls.env,
            "bf_tour_manager",
            groups="mrp.group_mrp_manager,stock.group_stock_manager",
        )

    def test_operator_marks_done(self):
        mo = self.env["mrp.production"].create(
            {
                "name": "BF/TOUR/1",
                "product_id": self.chair.id,
                "bom_id": self.bom.id,
                "product_qty": 5,
            }
        )
        mo.action_confirm()
        self.start_tour(
            f"/odoo/action-mrp.mrp_production_action/{mo.id}",
            "mrp_backflush_operator_mark_done",
            login="bf_tour_operator",
        )
        self.assertEqual(mo.state, "done")
        self.assertEqual(mo.backflush_run_ids.user_id.login, "bf_tour_operator")
        self.assertEqual(mo.backflush_run_ids.line_ids.consumed_qty, 20)

    def test_manager_edits_policy(self):
        self.start_tour(
            f"/odoo/action-mrp.mrp_bom_form_action/{self.bom.id}",
            "mrp_backflush_manager_policy",
            login="bf_tour_manager",
        )
        self.assertEqual(self.bom.backflush_shortage_policy, "defer")
