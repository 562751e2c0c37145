# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import Command, http
from odoo.tests import HttpCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestScreensTour(HttpCase):
    """A manufacturing manager sees a correction's return on the order and
    finds the order a mass Mark Done could not mark done."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Read the modules' static paths once, before the browser's first
        # requests do it in several threads at once: Python 3.11.7's parser
        # is not thread-safe there (gh-106905, "AST constructor recursion
        # depth mismatch") and a failed request stops the tour.
        _statics = http.root.statics
        cls.location = cls.env.ref("stock.warehouse0").lot_stock_id
        cls.chair, cls.leg, cls.seat = cls.env["product.product"].create(
            [
                {"name": "Monitor Tour Chair", "is_storable": True},
                {"name": "Monitor Tour Leg", "is_storable": True, "standard_price": 2},
                {"name": "Monitor Tour Seat", "is_storable": True, "standard_price": 5},
            ]
        )
        cls.bom = cls.env["mrp.bom"].create(
            {
                "product_tmpl_id": cls.chair.product_tmpl_id.id,
                "consumption": "flexible",
                "backflush_shortage_policy": "defer",
                "bom_line_ids": [
                    Command.create({"product_id": cls.leg.id, "product_qty": 4}),
                    Command.create({"product_id": cls.seat.id, "product_qty": 1}),
                ],
            }
        )
        new_test_user(
            cls.env,
            "bf_screens_manager",
            groups="mrp.group_mrp_manager,stock.group_stock_manager",
        )

    def _stock(self, product, qty):
        self.env["stock.quant"]._update_available_quantity(product, self.location, qty)

    def _mo(self, qty, name):
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

    def _set_aside_other_pending(self, pending):
        """The headline counts every pending posting of the database: set
        aside those other tests of the run committed (rolled back after)."""
        self.env["mrp.backflush.exception"].search(
            [("state", "=", "pending"), ("id", "not in", pending.ids)]
        ).state = "cancel"

    def test_monitor_retry_refreshes_the_headline(self):
        self.bom.backflush_shortage_policy = "defer"
        self._stock(self.seat, 10)
        mo = self._mo(10, "BF/MON/1")
        mo.button_mark_done()
        pending = mo.backflush_exception_ids
        self.assertEqual(pending.mapped("quantity"), [40])
        self._set_aside_other_pending(pending)
        self._stock(self.leg, 40)
        self.start_tour(
            "/odoo/action-mrp_backflush.mrp_backflush_exception_action_monitor",
            "mrp_backflush_monitor_retry",
            login="bf_screens_manager",
            timeout=90,
        )
        self.assertEqual(pending.state, "done")

    def test_monitor_bulk_cancel_refreshes_the_headline(self):
        """A manager cancels, from the No stock group, the legs two orders
        will never consume, with a reason; the headline reads them gone."""
        self.bom.backflush_shortage_policy = "defer"
        self._stock(self.seat, 10)
        pending = self.env["mrp.backflush.exception"]
        for name in ("BF/MON/C1", "BF/MON/C2"):
            mo = self._mo(5, name)
            mo.button_mark_done()
            pending |= mo.backflush_exception_ids
        self.assertEqual(pending.mapped("quantity"), [20, 20])
        self.assertEqual(set(pending.mapped("cause")), {"no_stock"})
        self._set_aside_other_pending(pending)
        self.start_tour(
            "/odoo/action-mrp_backflush.mrp_backflush_exception_action_monitor",
            "mrp_backflush_monitor_cancel",
            login="bf_screens_manager",
            timeout=90,
        )
        self.assertEqual(pending.mapped("state"), ["cancel", "cancel"])
        for exception in pending:
            self.assertIn(
                "legs from the rework bench",
                "".join(exception.message_ids.mapped("body")),
                "the reason is in the chatter",
            )

    def test_correction_return_on_the_order(self):
        self._stock(self.leg, 40)
        self._stock(self.seat, 10)
        mo = self._mo(10, "BF/COR/1")
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.start_tour(
            f"/odoo/action-mrp.mrp_production_action/{mo.id}",
            "mrp_backflush_correction_return",
            login="bf_screens_manager",
            timeout=90,
        )
        seat_moves = mo.move_raw_ids.filtered(lambda m: m.product_id == self.seat)
        self.assertEqual(sum(seat_moves.mapped("backflush_returned_qty")), 2)

    def test_mass_done_with_a_failing_order(self):
        self.env.company.backflush_background_threshold = 2
        self.bom.backflush_shortage_policy = "block"
        self._stock(self.leg, 80)
        self._stock(self.seat, 20)
        mos = self._mo(5, "BF/MASS/OK/1") | self._mo(5, "BF/MASS/OK/2")
        big = self._mo(200, "BF/MASS/BIG")
        self.start_tour(
            "/odoo/action-mrp.mrp_production_action",
            "mrp_backflush_mass_done_queue",
            login="bf_screens_manager",
            timeout=90,
        )
        self.assertTrue(all((mos | big).mapped("backflush_queue_user_id")))
        self.env["mrp.backflush.queue"]._cron_backflush_mark_done()
        self.assertEqual(mos.mapped("state"), ["done", "done"])
        self.assertEqual(big.state, "confirmed")
        self.assertFalse(big.backflush_queue_user_id)
        self.assertFalse(mos.filtered("backflush_queue_error"))
        self.assertIn("Not enough components", big.backflush_queue_error)
        self.start_tour(
            "/odoo/action-mrp.mrp_production_action",
            "mrp_backflush_mass_done_failed",
            login="bf_screens_manager",
            timeout=90,
        )
