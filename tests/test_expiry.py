# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from datetime import timedelta
from unittest import SkipTest

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestExpiry(BackflushCase):
    """Lots with expiry dates (product_expiry, an optional dependency): the
    lot that expires first is consumed first, an expired lot never."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if "removal_date" not in cls.env["stock.lot"]._fields:
            raise SkipTest("product_expiry is not installed")
        cls.env.user.groups_id += cls.env.ref("stock.group_production_lot")
        cls.categ_fefo = cls.env["product.category"].create(
            {
                "name": "Backflush FEFO",
                "property_cost_method": "fifo",
                "property_valuation": "manual_periodic",
                "removal_strategy_id": cls.env.ref("product_expiry.removal_fefo").id,
            }
        )
        cls.cake = cls._product("Cake", 0.0)
        cls.milk = cls._product(
            "Milk powder",
            1.0,
            categ=cls.categ_fefo,
            tracking="lot",
            use_expiration_date=True,
        )
        cls.bom = cls._bom(cls.cake, [(cls.milk, 4)])

    def _lot(self, name, removal_days, qty, in_days=0):
        now = fields.Datetime.now()
        lot = self.env["stock.lot"].create(
            {
                "name": name,
                "product_id": self.milk.id,
                "expiration_date": now + timedelta(days=removal_days),
                "removal_date": now + timedelta(days=removal_days),
            }
        )
        quant = self._stock(self.milk, qty, lot=lot)
        quant.in_date = now - timedelta(days=in_days)
        return lot

    def _consumed_by_lot(self, mo):
        lots = {}
        for ml in mo.move_raw_ids.filtered(lambda m: m.state == "done").move_line_ids:
            lots[ml.lot_id] = lots.get(ml.lot_id, 0) + ml.quantity
        return lots

    def test_fefo_over_fifo(self):
        later = self._lot("LATER", 30, 40, in_days=10)  # received first
        sooner = self._lot("SOONER", 5, 40)
        mo = self._mo(self.bom, 10)
        mo.button_mark_done()
        self.assertEqual(self._consumed_by_lot(mo), {sooner: 40})
        self.assertEqual(self._qty(self.milk), 40)
        self.assertTrue(later)

    def test_expired_lot_never_consumed_default_policy(self):
        """Odoo reserved the expired lot; a fresh lot arrived since."""
        expired = self._lot("OLD", -1, 100)
        mo = self._mo(self.bom, 10)  # 40 needed
        fresh = self._lot("FRESH", 30, 10)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._consumed_by_lot(mo), {fresh: 10})
        self.assertEqual(self.milk.with_context(lot_id=expired.id).qty_available, 100)
        # no lot to go negative on: the rest waits, and says why
        exc = mo.backflush_exception_ids
        self.assertEqual((exc.quantity, exc.cause), (30, "lot_expired"))

    def test_expired_lot_under_block_is_named(self):
        self.bom.backflush_shortage_policy = "block"
        self._lot("OLD-7", -1, 100)
        mo = self._mo(self.bom, 10)
        with self.assertRaisesRegex(
            UserError, "expired lots are never consumed: OLD-7"
        ):
            self._mark_done_request(mo)
        self.assertNotEqual(mo.state, "done")

    def test_expired_lot_under_defer_waits_for_valid_stock(self):
        self.bom.backflush_shortage_policy = "defer"
        expired = self._lot("OLD", -1, 100)
        mo = self._mo(self.bom, 10)
        mo.button_mark_done()
        exc = mo.backflush_exception_ids
        self.assertEqual((exc.quantity, exc.cause), (40, "lot_expired"))
        exc._cron_retry()
        self.assertEqual((exc.state, exc.cause), ("pending", "lot_expired"))
        fresh = self._lot("NEW", 30, 50)
        exc.action_retry()
        self.assertEqual(exc.state, "done")
        self.assertEqual(exc.move_ids.move_line_ids.lot_id, fresh)
        self.assertEqual(self.milk.with_context(lot_id=expired.id).qty_available, 100)

    def test_background_mark_done_with_an_expired_reserved_lot(self):
        """Odoo reserved the expired lot at confirmation: the background
        Mark Done opens no dialog, and the lot is not consumed."""
        expired = self._lot("OLD", 10, 100)
        mo = self._mo(self.bom, 10)
        self.assertEqual(mo.move_raw_ids.move_line_ids.lot_id, expired)
        expired.removal_date = fields.Datetime.now() - timedelta(days=1)
        fresh = self._lot("FRESH", 30, 100)
        self.env["mrp.backflush.queue"]._backflush_mark_done_queued(mo)
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._consumed_by_lot(mo), {fresh: 40})

    def test_reserved_lot_before_an_earlier_expiring_one(self):
        """The lot reserved for the MO is consumed first, though a lot that
        expires sooner arrived since; then FEFO for the rest."""
        later = self._lot("RESERVED", 30, 30)
        mo = self._mo(self.bom, 10)  # 40 needed, 30 reserved
        self.assertEqual(mo.move_raw_ids.move_line_ids.lot_id, later)
        sooner = self._lot("SOONER", 5, 100)
        soonest = self._lot("SOONEST", 3, 5)
        mo.button_mark_done()
        self.assertEqual(self._consumed_by_lot(mo), {later: 30, soonest: 5, sooner: 5})

    def test_negative_shortage_beside_a_valid_lot_not_covering(self):
        """Policy negative, a valid lot reserved that does not cover the
        order, an expired lot arrived beside it: the order is finished
        without touching the expired lot, the valid lot is consumed and the
        rest, with no lot to go negative on, waits saying why (issue 24;
        Odoo refused "You need to supply a Lot/Serial Number")."""
        self.bom.backflush_shortage_policy = "negative"
        fresh = self._lot("FRESH", 30, 10)
        mo = self._mo(self.bom, 10)  # 40 needed, the 10 fresh reserved
        self.assertEqual(mo.move_raw_ids.move_line_ids.lot_id, fresh)
        expired = self._lot("OLD", -1, 100)
        preview = self.env["mrp.backflush.preview"].create(
            {"production_ids": [fields.Command.set(mo.ids)]}
        )
        self.assertEqual(
            preview.line_ids.mapped("action"), ["defer"], "no lot is needed"
        )
        self._mark_done_request(mo)
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._consumed_by_lot(mo), {fresh: 10})
        self.assertEqual(self.milk.with_context(lot_id=expired.id).qty_available, 100)
        exc = mo.backflush_exception_ids
        self.assertEqual((exc.quantity, exc.cause), (30, "lot_expired"))

    def test_negative_on_a_lot_recorded_beyond_the_stock(self):
        """Policy negative, a person recorded a lot for more than is in
        stock: posted as Odoo posts it, negative on that lot; a shortage
        beyond what lots cover waits."""
        self.bom.backflush_shortage_policy = "negative"
        recorded = self._lot("RECORDED", 30, 5)
        mo = self._mo(self.bom, 10)  # 40 needed
        move = mo.move_raw_ids
        move.move_line_ids.unlink()
        self.env["stock.move.line"].create(
            dict(move._prepare_move_line_vals(quantity=25), lot_id=recorded.id)
        )
        self._mark_done_request(mo)
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._consumed_by_lot(mo), {recorded: 25})
        self.assertEqual(self.milk.with_context(lot_id=recorded.id).qty_available, -20)
        exc = mo.backflush_exception_ids
        self.assertEqual((exc.quantity, exc.cause), (15, "no_stock"))
