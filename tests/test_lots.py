# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestLots(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.groups_id += cls.env.ref("stock.group_production_lot")
        cls.chair = cls._product("Chair", 0.0)
        cls.leg = cls._product("Leg", 2.0, tracking="lot")
        cls.bom = cls._bom(cls.chair, [(cls.leg, 4)])

    def _lot(self, product, name):
        return self.env["stock.lot"].create({"name": name, "product_id": product.id})

    def test_fifo_lots_picked_when_not_reserved(self):
        mo = self._mo(self.bom, 10)  # nothing in stock yet: nothing reserved
        old, new = self._lot(self.leg, "OLD"), self._lot(self.leg, "NEW")
        quant_old = self._stock(self.leg, 30, lot=old)
        self._stock(self.leg, 30, lot=new)
        quant_old.in_date = fields.Datetime.now() - timedelta(days=10)
        mo.button_mark_done()
        move = mo.move_raw_ids
        self.assertEqual(move.state, "done")
        by_lot = {ml.lot_id: ml.quantity for ml in move.move_line_ids}
        self.assertEqual(by_lot, {old: 30, new: 10})
        self.assertEqual(mo.backflush_run_ids.line_ids.lot_ids, old | new)

    def test_operator_lots_kept(self):
        old, new = self._lot(self.leg, "A"), self._lot(self.leg, "B")
        self._stock(self.leg, 50, lot=old)
        self._stock(self.leg, 50, lot=new)
        mo = self._mo(self.bom, 5)
        move = mo.move_raw_ids
        move.move_line_ids.unlink()
        move.move_line_ids = [
            fields.Command.create(
                {
                    "product_id": self.leg.id,
                    "lot_id": new.id,
                    "quantity": 20,
                    "location_id": self.stock_location.id,
                    "location_dest_id": move.location_dest_id.id,
                }
            )
        ]
        move.picked = True
        move.manual_consumption = True
        mo.qty_producing = 5
        mo.button_mark_done()
        self.assertEqual(move.move_line_ids.lot_id, new)
        self.assertEqual(move.quantity, 20)

    def test_serial_numbers_one_per_unit(self):
        """Serial numbers reserved for the MO are posted one per unit (see
        test_serials: those not reserved or recorded are never picked)."""
        screw = self._product("Sensor", 5.0, tracking="serial")
        bom = self._bom(self.chair, [(screw, 1)])
        for name in ("S1", "S2", "S3", "S4"):
            self._stock(screw, 1, lot=self._lot(screw, name))
        mo = self._mo(bom, 3)
        mo.button_mark_done()
        lines = mo.move_raw_ids.move_line_ids
        self.assertEqual(len(lines), 3)
        self.assertEqual(set(lines.mapped("quantity")), {1.0})
        self.assertEqual(len(lines.lot_id), 3)
        self.assertEqual(self._qty(screw), 1)

    def test_not_enough_lots_is_a_shortage(self):
        self.bom.backflush_shortage_policy = "block"
        lot = self._lot(self.leg, "ONLY")
        self._stock(self.leg, 10, lot=lot)
        mo = self._mo(self.bom, 5)
        with self.assertRaisesRegex(Exception, "10.00 available, 10.00 missing"):
            self._mark_done_request(mo)

    def test_preview_lists_lots_in_removal_order(self):
        mo = self._mo(self.bom, 10)  # confirmed before the stock arrived
        old, new, newest = (
            self._lot(self.leg, n) for n in ("P-OLD", "P-NEW", "P-NEWEST")
        )
        quant_old = self._stock(self.leg, 30, lot=old)
        quant_new = self._stock(self.leg, 30, lot=new)
        self._stock(self.leg, 30, lot=newest)
        quant_old.in_date = fields.Datetime.now() - timedelta(days=10)
        quant_new.in_date = fields.Datetime.now() - timedelta(days=5)
        preview = self.env["mrp.backflush.preview"].browse(
            mo.action_backflush_preview()["res_id"]
        )
        self.assertEqual(preview.line_ids.lot_ids, old | new)
        mo.button_mark_done()
        self.assertEqual(mo.backflush_run_ids.line_ids.lot_ids, old | new)

    def test_line_with_an_operation_takes_lots_by_removal(self):
        """Odoo takes lines with an operation as manual and asks for their
        lots at Mark Done; the backflush picks them as for other lines."""
        self.env.user.groups_id += self.env.ref("mrp.group_mrp_routings")
        workcenter = self.env["mrp.workcenter"].create({"name": "Lot Bench"})
        self.bom.operation_ids = [
            fields.Command.create({"name": "Fit", "workcenter_id": workcenter.id})
        ]
        self.bom.bom_line_ids.operation_id = self.bom.operation_ids
        mo = self._mo(self.bom, 5)  # nothing in stock yet: nothing reserved
        lot = self._lot(self.leg, "OP-LOT")
        self._stock(self.leg, 50, lot=lot)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(mo.move_raw_ids.move_line_ids.lot_id, lot)
        self.assertEqual(self._qty(self.leg), 30)
