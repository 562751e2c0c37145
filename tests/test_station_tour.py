# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from datetime import timedelta

from odoo import Command, fields
from odoo.tests import HttpCase, new_test_user, tagged

STATION_URL = "/odoo/action-mrp_backflush.mrp_backflush_station_action"
# EAN-13s (valid check digits): the tour scans them as GTINs 0200000007712x
POWDER_BARCODE = "2000000077123"
CAKE_BARCODE = "2000000077130"


@tagged("post_install", "-at_install")
class TestStationTour(HttpCase):
    """An operator with the least rights finishes orders on the Backflush
    Station in a real browser: scan, read the preview, press Done."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        categ = cls.env["product.category"].create(
            {"name": "Station FIFO", "property_cost_method": "fifo"}
        )
        cls.chair, cls.leg = cls.env["product.product"].create(
            [
                {"name": "Station Chair", "is_storable": True, "categ_id": categ.id},
                {"name": "Station Leg", "is_storable": True, "categ_id": categ.id},
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
        cls.location = cls.env.ref("stock.warehouse0").lot_stock_id
        cls.env["stock.quant"]._update_available_quantity(cls.leg, cls.location, 100)
        cls.operator = new_test_user(
            cls.env, "bf_station_operator", groups="mrp.group_mrp_user"
        )

    def _mo(self, qty, name, bom=None):
        bom = bom or self.bom
        mo = self.env["mrp.production"].create(
            {
                "name": name,
                "product_id": bom.product_id.id
                or bom.product_tmpl_id.product_variant_id.id,
                "bom_id": bom.id,
                "product_qty": qty,
            }
        )
        mo.action_confirm()
        return mo

    def test_scan_preview_done(self):
        mo = self._mo(5, "BF/STATION/1")
        self.start_tour(
            STATION_URL, "mrp_backflush_station_done", login=self.operator.login
        )
        self.assertEqual(mo.state, "done")
        self.assertEqual(mo.backflush_run_ids.user_id, self.operator)
        self.assertEqual(mo.backflush_run_ids.line_ids.consumed_qty, 20)

    def test_shortage_deferred(self):
        self.bom.backflush_shortage_policy = "defer"
        mo = self._mo(30, "BF/STATION/2")  # 120 legs, 100 in stock
        self.start_tour(
            STATION_URL, "mrp_backflush_station_defer", login=self.operator.login
        )
        self.assertEqual(mo.state, "done")
        self.assertEqual(
            mo.backflush_exception_ids.mapped(lambda e: (e.state, e.quantity)),
            [("pending", 20)],
        )

    def test_unknown_barcode_and_refusal(self):
        self.bom.backflush_shortage_policy = "block"
        mo = self._mo(5, "BF/STATION/3")
        blocked = self._mo(30, "BF/STATION/5")  # 120 legs, 100 in stock
        self.start_tour(
            STATION_URL, "mrp_backflush_station_unknown", login=self.operator.login
        )
        self.assertEqual(mo.state, "confirmed", "the tour only opens the order")
        self.assertEqual(blocked.state, "confirmed")
        self.assertFalse(blocked.backflush_run_ids)

    def test_done_again_after_lost_answer(self):
        """The answer of Done is lost on the way back: Done again sends the
        same idempotency key and gets the first answer, nothing posted twice."""
        mo = self._mo(5, "BF/STATION/6")
        self.start_tour(
            STATION_URL, "mrp_backflush_station_lost_answer", login=self.operator.login
        )
        self.assertEqual(mo.state, "done")
        self.assertEqual(len(mo.backflush_run_ids), 1)
        self.assertEqual(mo.backflush_run_ids.line_ids.consumed_qty, 20)

    def test_gs1_component_lot(self):
        """A GS1-128 label (product, expiry, quantity, lot) records the lot the
        operator took, not the one the removal strategy would pick; the
        finished product's label gives the lot produced."""
        if "expiration_date" not in self.env["stock.lot"]._fields:
            self.skipTest("product_expiry is not installed")
        powder = self.env["product.product"].create(
            {
                "name": "Station Powder",
                "is_storable": True,
                "tracking": "lot",
                "use_expiration_date": True,
                "barcode": POWDER_BARCODE,
            }
        )
        cake = self.env["product.product"].create(
            {
                "name": "Station Cake",
                "is_storable": True,
                "tracking": "lot",
                "barcode": CAKE_BARCODE,
            }
        )
        bom = self.env["mrp.bom"].create(
            {
                "product_tmpl_id": cake.product_tmpl_id.id,
                "bom_line_ids": [
                    Command.create({"product_id": powder.id, "product_qty": 2})
                ],
            }
        )
        now = fields.Datetime.now()
        lots = self.env["stock.lot"].create(
            [
                {
                    "name": name,
                    "product_id": powder.id,
                    "expiration_date": now + timedelta(days=days),
                }
                for name, days in (("PWD-SOON", 20), ("PWD-A1", 400))
            ]
        )
        for lot in lots:
            self.env["stock.quant"]._update_available_quantity(
                powder, self.location, 50, lot_id=lot
            )
        mo = self._mo(10, "BF/STATION/4", bom=bom)
        self.start_tour(
            STATION_URL, "mrp_backflush_station_gs1", login=self.operator.login
        )
        self.assertEqual(mo.state, "done")
        self.assertEqual(mo.lot_producing_id.name, "CAKE-0001")
        consumed = mo.move_raw_ids.filtered(lambda m: m.state == "done").move_line_ids
        self.assertEqual(
            consumed.mapped(lambda ml: (ml.lot_id.name, ml.quantity)), [("PWD-A1", 20)]
        )
