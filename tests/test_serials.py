# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Serial numbers are consumed only when reserved for the MO or recorded;
the backflush never picks them (SPEC §4 *Lots and serials*)."""

from datetime import timedelta

from odoo import Command, fields
from odoo.exceptions import UserError
from odoo.tests import Form, new_test_user, tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestSerials(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.groups_id += cls.env.ref("stock.group_production_lot")
        cls.radio = cls._product("Radio", 0.0)
        cls.sensor = cls._product("Sensor", 5.0, tracking="serial")
        cls.bom = cls._bom(cls.radio, [(cls.sensor, 1)])

    def _serials(self, *names, product=None):
        product = product or self.sensor
        lots = self.env["stock.lot"].create(
            [{"name": name, "product_id": product.id} for name in names]
        )
        for lot in lots:
            self._stock(product, 1, lot=lot)
        return lots

    def _consumed(self, mo, product=None):
        """Serial numbers (or lots) ``mo`` consumed of ``product``."""
        product = product or self.sensor
        return mo.move_raw_ids.filtered(
            lambda m: m.state == "done" and m.product_id == product
        ).move_line_ids.lot_id

    def _missing(self, qty):
        return self.sensor.uom_id._backflush_format_qty(qty)

    def _record(self, mo, lots):
        """A person records the serial numbers used on the component."""
        move = mo.move_raw_ids
        move.move_line_ids.unlink()
        move.move_line_ids = [
            Command.create(
                {
                    "product_id": self.sensor.id,
                    "lot_id": lot.id,
                    "quantity": 1,
                    "location_id": self.stock_location.id,
                    "location_dest_id": move.location_dest_id.id,
                }
            )
            for lot in lots
        ]
        move.picked = True

    # ------------------------------------------------------------------
    # Reserved, not reserved, partly reserved, recorded
    # ------------------------------------------------------------------
    def test_reserved_serials_are_consumed_under_each_policy(self):
        for policy in ("negative", "block", "defer"):
            with self.subTest(policy=policy), self.env.cr.savepoint() as sp:
                self.bom.backflush_shortage_policy = policy
                reserved = self._serials(*(f"R{policy}{i}" for i in range(4)))
                mo = self._mo(self.bom, 4)
                self.assertEqual(mo.move_raw_ids.move_line_ids.lot_id, reserved)
                self._serials(f"L{policy}")
                mo.button_mark_done()
                self.assertEqual(mo.state, "done")
                self.assertEqual(self._consumed(mo), reserved)
                self.assertFalse(mo.backflush_exception_ids)
                self.assertEqual(self._qty(self.sensor), 1)
                sp.rollback()

    def test_unreserved_serials_wait_never_picked(self):
        """Serials in stock but not reserved for the MO: nothing is taken;
        under 'negative' (a serial cannot go negative) and 'defer' the
        line waits with cause lot_required and says how many are missing."""
        for policy in ("negative", "defer"):
            with self.subTest(policy=policy), self.env.cr.savepoint() as sp:
                self.bom.backflush_shortage_policy = policy
                mo = self._mo(self.bom, 4)  # nothing in stock: nothing reserved
                self._serials(*(f"U{policy}{i}" for i in range(6)))
                mo.button_mark_done()
                self.assertEqual(mo.state, "done")
                self.assertFalse(self._consumed(mo))
                self.assertEqual(self._qty(self.sensor), 6)
                exc = mo.backflush_exception_ids
                self.assertEqual((exc.quantity, exc.cause), (4, "lot_required"))
                self.assertIn("Sensor", exc.cause_detail)
                self.assertIn(self._missing(4), exc.cause_detail)
                self.assertEqual(mo.backflush_run_ids.line_ids.shortage_action, "defer")
                sp.rollback()

    def test_unreserved_serials_block_names_product_and_count(self):
        self.bom.backflush_shortage_policy = "block"
        mo = self._mo(self.bom, 4)
        self._serials("B1", "B2", "B3", "B4", "B5")
        with self.assertRaisesRegex(
            UserError,
            f"Sensor needs {self._missing(4)} Units with serial numbers, "
            f"{self._missing(0)} reserved or recorded: {self._missing(4)} Units "
            "without serial numbers",
        ):
            self._mark_done_request(mo)
        self.assertNotEqual(mo.state, "done")
        self.assertEqual(self._qty(self.sensor), 5)

    def test_partly_reserved_three_post_one_waits(self):
        for policy in ("negative", "defer"):
            with self.subTest(policy=policy), self.env.cr.savepoint() as sp:
                self.bom.backflush_shortage_policy = policy
                reserved = self._serials(*(f"P{policy}{i}" for i in range(3)))
                mo = self._mo(self.bom, 4)
                self.assertEqual(mo.move_raw_ids.move_line_ids.lot_id, reserved)
                self._serials(f"P{policy}-late")
                mo.button_mark_done()
                self.assertEqual(mo.state, "done")
                self.assertEqual(self._consumed(mo), reserved)
                self.assertEqual(self._qty(self.sensor), 1)
                exc = mo.backflush_exception_ids
                self.assertEqual((exc.quantity, exc.cause), (1, "lot_required"))
                run_line = mo.backflush_run_ids.line_ids
                self.assertEqual((run_line.consumed_qty, run_line.shortage_qty), (3, 1))
                self.assertEqual(run_line.lot_ids, reserved)
                sp.rollback()

    def test_partly_reserved_under_block_is_refused(self):
        self.bom.backflush_shortage_policy = "block"
        self._serials("PB1", "PB2", "PB3")
        mo = self._mo(self.bom, 4)
        self._serials("PB4")
        with self.assertRaisesRegex(
            UserError,
            f"{self._missing(3)} reserved or recorded: {self._missing(1)} Units "
            "without serial numbers",
        ):
            self._mark_done_request(mo)
        self.assertEqual(self._qty(self.sensor), 4)

    def test_recorded_serials_are_consumed_under_each_policy(self):
        for policy in ("negative", "block", "defer"):
            with self.subTest(policy=policy), self.env.cr.savepoint() as sp:
                self.bom.backflush_shortage_policy = policy
                mo = self._mo(self.bom, 4)
                lots = self._serials(*(f"C{policy}{i}" for i in range(6)))
                recorded = lots[1] | lots[3] | lots[4] | lots[5]
                self._record(mo, recorded)
                mo.button_mark_done()
                self.assertEqual(mo.state, "done")
                self.assertEqual(self._consumed(mo), recorded)
                self.assertFalse(mo.backflush_exception_ids)
                sp.rollback()

    def test_planned_scrap_takes_the_reserved_serials(self):
        self.bom.bom_line_ids.scrap_fixed_qty = 1
        reserved = self._serials("F1", "F2", "F3", "F4", "F5")
        mo = self._mo(self.bom, 4)  # 4 + 1 planned scrap, all reserved
        older = self._serials("F6", "F7")  # first in removal order, not reserved
        older.quant_ids.in_date = fields.Datetime.now() - timedelta(days=10)
        mo.button_mark_done()
        self.assertEqual(self._raw(mo, self.sensor).quantity, 4)
        self.assertEqual(self._raw(mo, self.sensor, "planned_scrap").quantity, 1)
        self.assertEqual(self._consumed(mo), reserved)
        self.assertFalse(mo.backflush_exception_ids)

    def test_serial_substitute_never_stands_in(self):
        case = self._product("Case", 1.0)
        tracked_case = self._product("Tracked Case", 1.0, tracking="serial")
        bom = self._bom(self.radio, [(case, 1)], backflush_substitution="priority")
        bom.bom_line_ids.substitute_ids = [
            Command.create({"product_id": tracked_case.id})
        ]
        self._serials("TC1", "TC2", product=tracked_case)
        mo = self._mo(bom, 2)
        mo.button_mark_done()
        self.assertEqual(self._qty(tracked_case), 2)
        self.assertFalse(
            mo.move_raw_ids.filtered(lambda m: m.product_id == tracked_case)
        )

    def test_line_with_an_operation_waits_too(self):
        """Odoo marks lines with an operation manual and asks for their
        serial numbers at Mark Done; the backflush posts them by policy."""
        self.env.user.groups_id += self.env.ref("mrp.group_mrp_routings")
        workcenter = self.env["mrp.workcenter"].create({"name": "Serial Bench"})
        self.bom.operation_ids = [
            Command.create({"name": "Fit", "workcenter_id": workcenter.id})
        ]
        self.bom.bom_line_ids.operation_id = self.bom.operation_ids
        for mode, count in (("finish", 1), ("operation", 1), ("finish", 0)):
            with self.subTest(mode=mode, reserved=count), self.env.cr.savepoint() as sp:
                self.bom.backflush_mode = mode
                reserved = self._serials(*(f"O{mode}{i}" for i in range(count)))
                mo = self._mo(self.bom, 2)
                self._serials(f"O{mode}-late")
                mo.button_mark_done()
                self.assertEqual(mo.state, "done")
                self.assertEqual(self._consumed(mo), reserved)
                exc = mo.backflush_exception_ids
                self.assertEqual((exc.quantity, exc.cause), (2 - count, "lot_required"))
                sp.rollback()

    # ------------------------------------------------------------------
    # The preview tells the same
    # ------------------------------------------------------------------
    def test_preview_shows_what_waits(self):
        self.bom.backflush_shortage_policy = "negative"
        reserved = self._serials("V1", "V2", "V3")
        mo = self._mo(self.bom, 4)
        self._serials("V4")
        preview = self.env["mrp.backflush.preview"].browse(
            mo.action_backflush_preview()["res_id"]
        )
        line = preview.line_ids
        self.assertEqual(
            (line.action, line.net_qty, line.shortage_qty), ("defer", 3, 1)
        )
        self.assertEqual(line.lot_ids, reserved)
        self.assertFalse(preview.has_block)
        self.bom.backflush_shortage_policy = "block"
        preview = self.env["mrp.backflush.preview"].browse(
            mo.action_backflush_preview()["res_id"]
        )
        self.assertEqual(preview.blocked_production_ids, mo)
        self.assertIn("needs serial numbers for", preview.blocked_note)

    # ------------------------------------------------------------------
    # No dialog in the background
    # ------------------------------------------------------------------
    def test_background_mark_done_waits_by_policy(self):
        reserved = self._serials("G1", "G2")
        mo = self._mo(self.bom, 4)
        self._serials("G3", "G4", "G5")
        mo.backflush_queue_user_id = self.env.user
        self.env["mrp.backflush.queue"]._backflush_mark_done_queued(mo)
        self.assertEqual(mo.state, "done")
        self.assertEqual(self._consumed(mo), reserved)
        exc = mo.backflush_exception_ids
        self.assertEqual((exc.quantity, exc.cause), (2, "lot_required"))
        self.assertFalse(mo.backflush_queue_error)

    def test_background_mark_done_refused_under_block(self):
        self.bom.backflush_shortage_policy = "block"
        mo = self._mo(self.bom, 2)
        self._serials("H1", "H2")
        mo.backflush_queue_user_id = self.env.user
        self.env["mrp.backflush.queue"]._backflush_mark_done_queued(mo)
        self.assertNotEqual(mo.state, "done")
        self.assertIn("without serial numbers", mo.backflush_queue_error)
        self.assertEqual(self._qty(self.sensor), 2)

    def test_cron_retry_consumes_only_recorded_serials(self):
        mo = self._mo(self.bom, 4)
        lots = self._serials("K1", "K2", "K3", "K4", "K5")
        mo.button_mark_done()
        exc = mo.backflush_exception_ids
        exc._cron_retry()
        self.assertEqual((exc.state, exc.quantity), ("pending", 4))
        self.assertEqual(self._qty(self.sensor), 5)
        exc.sudo().lot_ids = lots[1] | lots[4]
        exc._cron_retry()
        self.assertEqual((exc.state, exc.quantity), ("pending", 2))
        self.assertEqual(exc.move_ids.move_line_ids.lot_id, lots[1] | lots[4])
        self.assertEqual(exc.move_ids.backflush_role, "deferred")
        self.assertFalse(exc.lot_ids)
        self.assertIn(self._missing(2), exc.cause_detail)
        self.assertEqual(self._qty(self.sensor), 3)

    def test_operator_records_serials_on_the_pending_posting(self):
        mo = self._mo(self.bom, 2)
        lots = self._serials("W1", "W2", "W3")
        mo.button_mark_done()
        exc = mo.backflush_exception_ids
        operator = new_test_user(
            self.env,
            login="serial_operator",
            groups="mrp.group_mrp_user,stock.group_stock_user,stock.group_production_lot",
        )
        action = exc.with_user(operator).action_open_fix()
        self.assertEqual(action["res_model"], "mrp.backflush.exception.serials")
        wizard = Form(
            self.env[action["res_model"]]
            .with_user(operator)
            .with_context(**action["context"])
        )
        wizard.lot_ids.add(lots[0])
        wizard.lot_ids.add(lots[2])
        wizard.save().action_confirm()
        self.assertEqual(exc.state, "done")
        self.assertEqual(exc.move_ids.move_line_ids.lot_id, lots[0] | lots[2])
        self.assertEqual(self._qty(self.sensor), 1)

    def test_serials_recorded_for_part_wait_for_the_rest(self):
        """Two of three serial numbers recorded: those two are posted, the
        posting waits for the last one and says how many are missing."""
        mo = self._mo(self.bom, 3)
        lots = self._serials("PR1", "PR2", "PR3")
        mo.button_mark_done()
        exc = mo.backflush_exception_ids
        exc._record_serials(lots[:2])
        self.assertEqual(
            (exc.state, exc.quantity, exc.cause), ("pending", 1, "lot_required")
        )
        self.assertEqual(exc.move_ids.move_line_ids.lot_id, lots[:2])
        self.assertIn(self._missing(1), exc.cause_detail)
        self.assertEqual(self._qty(self.sensor), 1)

    def test_one_serial_recorded_on_two_pending_postings_is_refused(self):
        """A serial number recorded on a pending posting cannot be recorded
        on another one too: the retry would post it once and count it
        twice."""
        first = self._mo(self.bom, 1)
        second = self._mo(self.bom, 1)
        (first | second).button_mark_done()
        exc_first = first.backflush_exception_ids
        exc_second = second.backflush_exception_ids
        lot = self.env["stock.lot"].create(
            {"name": "TWICE-1", "product_id": self.sensor.id}
        )
        # recorded before it arrives: it waits on the first posting
        exc_first._record_serials(lot)
        self.assertEqual((exc_first.state, exc_first.lot_ids), ("pending", lot))
        with self.assertRaisesRegex(
            UserError, f"TWICE-1 is already recorded on {exc_first.name}"
        ):
            exc_second._record_serials(lot)
        self.assertFalse(exc_second.lot_ids)
        self._stock(self.sensor, 1, lot=lot)
        (exc_first | exc_second)._cron_retry()
        self.assertEqual(exc_first.state, "done")
        self.assertEqual(exc_first.move_ids.move_line_ids.lot_id, lot)
        self.assertEqual((exc_second.state, exc_second.quantity), ("pending", 1))
        self.assertEqual(self._qty(self.sensor), 0)

    def test_serial_recorded_in_another_company_is_not_named(self):
        """The refusal of a serial recorded elsewhere names the other order
        only to a user who may see it."""
        mo = self._mo(self.bom, 1)
        mo.button_mark_done()
        exc = mo.backflush_exception_ids
        lot = self.env["stock.lot"].create(
            {"name": "SHARED-1", "product_id": self.sensor.id}
        )
        exc._record_serials(lot)
        other = self.env["res.company"].create({"name": "Serials Company B"})
        user_b = new_test_user(
            self.env,
            "bf_serials_b",
            groups="mrp.group_mrp_user",
            company_id=other.id,
            company_ids=[Command.set(other.ids)],
        )
        with self.assertRaises(UserError) as refusal:
            self.env["mrp.backflush.exception"].with_user(user_b)._check_serials_free(
                lot
            )
        message = str(refusal.exception)
        self.assertIn(
            "SHARED-1 is already recorded on a pending posting of another", message
        )
        self.assertNotIn(mo.name, message)
        self.assertNotIn(exc.name, message)

    # ------------------------------------------------------------------
    # Odoo's own behaviour where the backflush does not post
    # ------------------------------------------------------------------
    def test_manual_line_keeps_odoo_serial_check(self):
        """A line the operator records (timing 'manual') is Odoo's: Mark
        Done asks for its serial numbers as Odoo does."""
        self.bom.bom_line_ids.backflush_mode = "manual"
        mo = self._mo(self.bom, 2)
        self._serials("M1", "M2")
        with self.assertRaisesRegex(UserError, "supply Lot/Serial Number"):
            self._mark_done_request(mo)
        self.assertEqual(self._qty(self.sensor), 2)

    def test_component_added_without_bom_keeps_odoo_serial_check(self):
        """A component added to the order by hand (no BOM line) is not
        backflushed: Odoo asks for its serial numbers."""
        mo = self.env["mrp.production"].create(
            {
                "product_id": self.radio.id,
                "product_qty": 2,
                "move_raw_ids": [
                    Command.create({"product_id": self.sensor.id, "product_uom_qty": 2})
                ],
            }
        )
        mo.action_confirm()
        self._serials("N1", "N2")
        with self.assertRaisesRegex(UserError, "Lot/Serial Number"):
            self._mark_done_request(mo)
        self.assertEqual(self._qty(self.sensor), 2)


@tagged("post_install", "-at_install")
class TestTraceability(BackflushCase):
    """Odoo's traceability report shows, under a finished lot, exactly the
    component lots the backflush consumed: substitutes and deferred
    postings included."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.groups_id += cls.env.ref("stock.group_production_lot")
        cls.radio = cls._product("Traced Radio", 0.0, tracking="lot")
        cls.board = cls._product("Board", 2.0, tracking="lot")
        cls.spare_board = cls._product("Spare Board", 3.0, tracking="lot")
        cls.battery = cls._product("Battery", 1.0, tracking="lot")
        cls.bom = cls._bom(
            cls.radio,
            [(cls.board, 1), (cls.battery, 1)],
            backflush_substitution="priority",
            backflush_shortage_policy="defer",
        )
        cls.bom.bom_line_ids.filtered(
            lambda ln: ln.product_id == cls.board
        ).substitute_ids = [Command.create({"product_id": cls.spare_board.id})]

    def _lot(self, product, name, qty):
        lot = self.env["stock.lot"].create({"name": name, "product_id": product.id})
        self._stock(product, qty, lot=lot)
        return lot

    def _traced(self, finished_lot):
        """Component lots and quantities under ``finished_lot``, read as the
        report unfolds it: the finished move line's consumed lines."""
        report = self.env["stock.traceability.report"]
        finished = self.env["stock.move.line"].search(
            [("lot_id", "=", finished_lot.id), ("state", "=", "done")]
        )
        self.assertEqual(len(finished), 1)
        consumed, _used = report._get_linked_move_lines(finished)
        lines = report._lines(
            line_id=1, model_id=finished.id, model="stock.move.line", level=1
        )
        self.assertEqual(
            sorted(line["lot_name"] for line in lines),
            sorted(consumed.lot_id.mapped("name")),
        )
        traced = {}
        for line in consumed:
            traced[line.lot_id.name] = traced.get(line.lot_id.name, 0) + line.quantity
        return traced

    def test_finished_lot_shows_lots_substitutes_and_deferred(self):
        self._lot(self.board, "BOARD-1", 3)
        self._lot(self.spare_board, "SPARE-1", 5)
        self._lot(self.battery, "BAT-1", 1)
        mo = self._mo(self.bom, 4)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        exc = mo.backflush_exception_ids
        self.assertEqual((exc.product_id, exc.quantity), (self.battery, 3))
        new = self._lot(self.battery, "BAT-2", 10)
        exc.action_retry()
        self.assertEqual(exc.state, "done")
        expected = {"BOARD-1": 3, "SPARE-1": 1, "BAT-1": 1, "BAT-2": 3}
        self.assertEqual(self._traced(mo.lot_producing_id), expected)
        # and upstream: the deferred battery lot says it went into the radio
        deferred_line = exc.move_ids.move_line_ids
        self.assertEqual(deferred_line.lot_id, new)
        _lines, used = self.env["stock.traceability.report"]._get_linked_move_lines(
            deferred_line
        )
        self.assertEqual(used.lot_id, mo.lot_producing_id)

    def test_finished_lot_shows_lots_posted_by_a_work_order(self):
        """Components posted when their work order finished (before Mark
        Done) are under the finished lot too."""
        self.env.user.groups_id += self.env.ref("mrp.group_mrp_routings")
        workcenter = self.env["mrp.workcenter"].create({"name": "Traced Bench"})
        self.bom.write(
            {
                "backflush_mode": "operation",
                "operation_ids": [
                    Command.create({"name": "Fit", "workcenter_id": workcenter.id})
                ],
            }
        )
        self.bom.bom_line_ids.operation_id = self.bom.operation_ids
        self._lot(self.board, "BOARD-9", 10)
        self._lot(self.battery, "BAT-9", 10)
        mo = self._mo(self.bom, 2)
        mo.action_generate_serial()  # the finished lot, before the work order
        mo.workorder_ids.button_start()
        mo.workorder_ids.button_finish()
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(set(mo.backflush_run_ids.mapped("trigger")), {"operation"})
        self.assertEqual(self._traced(mo.lot_producing_id), {"BOARD-9": 2, "BAT-9": 2})
