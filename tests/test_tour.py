# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import Command
from odoo.tests import Form, HttpCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestTour(HttpCase):
    """People in a real browser: the operator previews, produces and reads
    the run; the manager edits the policy, retries an exception and applies
    a BOM accuracy suggestion."""

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
                "backflush_shortage_policy": "block",
                "bom_line_ids": [
                    Command.create({"product_id": cls.leg.id, "product_qty": 4})
                ],
            }
        )
        cls.leg_line = cls.bom.bom_line_ids
        cls.location = cls.env.ref("stock.warehouse0").lot_stock_id
        cls.env["stock.quant"]._update_available_quantity(cls.leg, cls.location, 100)
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

    def _mo(self, qty, name="BF/TOUR/1"):
        mo = self.env["mrp.production"].create(
            {
                "name": name,
                "product_id": self.chair.id,
                "bom_id": self.bom.id,
                "product_qty": qty,
            }
        )
        mo.action_confirm()
        return mo

    def test_operator_marks_done(self):
        mo = self._mo(5)
        self.start_tour(
            f"/odoo/action-mrp.mrp_production_action/{mo.id}",
            "mrp_backflush_operator_mark_done",
            login="bf_tour_operator",
        )
        self.assertEqual(mo.state, "done")
        self.assertEqual(mo.backflush_run_ids.user_id.login, "bf_tour_operator")
        self.assertEqual(mo.backflush_run_ids.line_ids.consumed_qty, 20)

    def test_operator_previews_and_produces(self):
        self.leg_line.scrap_percent = 5
        mo = self._mo(5)
        self.start_tour(
            f"/odoo/action-mrp.mrp_production_action/{mo.id}",
            "mrp_backflush_operator_preview_produce",
            login="bf_tour_operator",
        )
        self.assertEqual(mo.state, "done")
        lines = mo.backflush_run_ids.line_ids
        self.assertEqual(
            sorted(lines.mapped(lambda ln: (ln.role, ln.consumed_qty))),
            [("component", 20), ("planned_scrap", 1)],
        )

    def test_manager_edits_policy(self):
        self.start_tour(
            f"/odoo/action-mrp.mrp_bom_form_action/{self.bom.id}",
            "mrp_backflush_manager_policy",
            login="bf_tour_manager",
        )
        self.assertEqual(self.bom.backflush_shortage_policy, "defer")

    def test_manager_retries_exception(self):
        self.bom.backflush_shortage_policy = "defer"
        mo = self._mo(30)  # 120 legs, 100 in stock: 20 deferred
        mo.button_mark_done()
        exception = mo.backflush_exception_ids
        self.assertEqual(exception.quantity, 20)
        self.env["stock.quant"]._update_available_quantity(self.leg, self.location, 15)
        self.start_tour(
            f"/odoo/action-mrp_backflush.mrp_backflush_exception_action/{exception.id}",
            "mrp_backflush_manager_retry",
            login="bf_tour_manager",
        )
        self.assertEqual(
            (exception.state, exception.posted_qty, exception.quantity),
            ("pending", 15, 5),
        )

    def test_manager_applies_advice(self):
        # 3 orders of 10 chairs, 4 legs scrapped on each: 4.4 legs per chair
        self.env["stock.quant"]._update_available_quantity(self.leg, self.location, 100)
        for i in range(3):
            mo = self._mo(10, name=f"BF/TOUR/ADV/{i}")
            action = mo.button_scrap()
            form = Form(
                self.env["stock.scrap"].with_context(**action["context"]),
                view=action["views"][0][0],
            )
            form.product_id = self.leg
            form.scrap_qty = 4
            form.save().action_validate()
            mo.button_mark_done()
        self.start_tour(
            "/odoo/action-mrp_backflush.mrp_bom_backflush_advice_action",
            "mrp_backflush_manager_advice_apply",
            login="bf_tour_manager",
        )
        self.assertEqual(self.leg_line.scrap_percent, 10.0)
