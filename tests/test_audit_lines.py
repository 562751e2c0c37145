# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import Command
from odoo.tests import Form, tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestAuditLines(BackflushCase):
    """What the run tells the controller beyond quantities."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.chair = cls._product("Chair", 0.0)
        cls.leg = cls._product("Leg", 2.0)
        cls.beech = cls._product("Beech Leg", 3.0)
        cls.seat = cls._product("Seat", 10.0)
        cls.bom = cls._bom(
            cls.chair,
            [(cls.leg, 4), (cls.seat, 1)],
            backflush_substitution="priority",
        )
        cls.bom.bom_line_ids.filtered(
            lambda line: line.product_id == cls.leg
        ).substitute_ids = [Command.create({"product_id": cls.beech.id, "factor": 1.0})]
        cls._stock(cls.leg, 30)
        cls._stock(cls.beech, 100)
        cls._stock(cls.seat, 100)

    def test_substitution_variance(self):
        mo = self._mo(self.bom, 10)  # 40 legs: 30 legs + 10 beech legs
        mo.button_mark_done()
        line = mo.backflush_run_ids.line_ids.filtered(
            lambda line: line.role == "substitute"
        )
        self.assertEqual(
            (line.product_id, line.replaced_product_id), (self.beech, self.leg)
        )
        self.assertEqual((line.consumed_qty, line.replaced_qty), (10, 10))
        self.assertAlmostEqual(line.value, 30.0)
        # 10 beech legs at 3.0 instead of 10 legs at 2.0
        self.assertAlmostEqual(line.substitution_variance, 10.0)

    def test_actual_scrap_in_run(self):
        reason = self.env["stock.scrap.reason.tag"].create({"name": "Split wood"})
        mo = self._mo(self.bom, 5)
        scrap_form = Form.from_action(self.env, mo.button_scrap())
        scrap_form.product_id = self.seat
        scrap_form.scrap_qty = 2
        scrap_form.scrap_reason_tag_ids.add(reason)
        scrap_form.save().action_validate()
        mo.button_mark_done()
        lines = mo.backflush_run_ids.line_ids
        scrap_line = lines.filtered(lambda line: line.role == "actual_scrap")
        self.assertEqual(
            (scrap_line.product_id, scrap_line.consumed_qty), (self.seat, 2)
        )
        self.assertEqual(scrap_line.scrap_reason_ids, reason)
        self.assertEqual(
            scrap_line.move_id.stock_valuation_layer_ids.backflush_role, "actual_scrap"
        )
        # the seats of the 5 chairs are consumed as usual, beside the scrap
        self.assertEqual(
            lines.filtered(
                lambda line: line.product_id == self.seat and line.role == "component"
            ).consumed_qty,
            5,
        )
        self.assertEqual(self._qty(self.seat), 93)
