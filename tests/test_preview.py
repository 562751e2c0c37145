# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The backflush preview: what it lists, that it writes nothing, and that
it agrees line by line with what Mark Done then posts (SPEC §4 Preview)."""

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestPreview(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._grams_and_pieces("Preview Pieces")
        cls.chair = cls._product("Preview Chair", 0.0)
        cls.leg = cls._product("Preview Leg", 2.0, uom=cls.uom_piece)
        cls.beech = cls._product("Preview Beech Leg", 3.0, uom=cls.uom_piece)
        cls.oak = cls._product("Preview Oak Leg", 5.0, uom=cls.uom_piece)
        cls.seat = cls._product("Preview Seat", 10.0, uom=cls.uom_piece)
        cls.glue = cls._product("Preview Glue", 8.0, uom=cls.uom_kgm)
        cls.screw = cls._product("Preview Screw", 0.1)
        cls.bom = cls._bom(
            cls.chair,
            [
                (cls.leg, 4, {"scrap_percent": 5}),
                (cls.seat, 1, {"scrap_fixed_qty": 1}),
                (cls.glue, 0.03, {"scrap_percent": 10}),
            ],
            backflush_substitution="priority",
            backflush_shortage_policy="defer",
        )
        cls.leg_line = cls.bom.bom_line_ids.filtered(
            lambda ln: ln.product_id == cls.leg
        )
        cls.leg_line.substitute_ids = [
            Command.create({"product_id": cls.beech.id, "sequence": 1}),
            Command.create({"product_id": cls.oak.id, "sequence": 2}),
        ]

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def _preview(self, productions):
        action = productions.action_backflush_preview()
        self.assertEqual(action["res_model"], "mrp.backflush.preview")
        self.assertEqual(action["target"], "new")
        return self.env["mrp.backflush.preview"].browse(action["res_id"])

    def _preview_line(self, preview, product, role="component", mo=None):
        return preview.line_ids.filtered(
            lambda ln: (
                ln.product_id == product
                and ln.role == role
                and (mo is None or ln.production_id == mo)
            )
        )

    def _move(self, mo, product):
        return mo.move_raw_ids.filtered(lambda m: m.product_id == product)

    def _preview_table(self, preview):
        """(MO, product, role) -> quantity to post, plus shortages."""
        posts, shortages = {}, {}
        for line in preview.line_ids:
            key = (line.production_id.id, line.product_id.id)
            if line.role == "component":
                if line.net_qty:
                    posts[key + ("component",)] = round(line.net_qty, 6)
                if line.scrap_qty:
                    posts[key + ("planned_scrap",)] = round(line.scrap_qty, 6)
                shortages[key] = (
                    round(line.shortage_qty, 6),
                    # a run line says no shortage for a recorded quantity
                    "none" if line.action == "recorded" else line.action,
                    line.bom_line_id.id,
                    line.location_id.id,
                )
            else:
                # a substitute's share of the planned scrap posts as such
                if line.net_qty:
                    posts[key + ("substitute",)] = round(line.net_qty, 6)
                if line.scrap_qty:
                    posts[key + ("planned_scrap",)] = round(line.scrap_qty, 6)
        return posts, shortages

    def _run_table(self, productions):
        posts, shortages = {}, {}
        for line in productions.backflush_run_ids.line_ids:
            if line.role not in ("component", "planned_scrap", "substitute"):
                continue
            key = (line.production_id.id, line.product_id.id)
            if line.consumed_qty:
                posts[key + (line.role,)] = round(line.consumed_qty, 6)
        for line in productions.backflush_run_ids.line_ids:
            # the run splits a shortage into its net and planned-scrap parts
            if line.role != "component":
                continue
            key = (line.production_id.id, line.product_id.id)
            short = line.run_id.line_ids.filtered(
                lambda ln, li=line: (
                    ln.bom_line_id == li.bom_line_id
                    and ln.product_id == li.product_id
                    and ln.role in ("component", "planned_scrap")
                )
            )
            shortages[key] = (
                round(sum(short.mapped("shortage_qty")), 6),
                (short.filtered("shortage_action")[:1].shortage_action) or "none",
                line.bom_line_id.id,
                line.location_id.id,
            )
        return posts, shortages

    def _assert_preview_matches_posting(self, productions):
        preview = self._preview(productions)
        self.assertTrue(preview.line_ids)
        self.assertFalse(preview.has_block)
        expected_posts, expected_shortages = self._preview_table(preview)
        productions.button_mark_done()
        self.assertEqual(set(productions.mapped("state")), {"done"})
        posts, shortages = self._run_table(productions)
        self.assertEqual(posts, expected_posts)
        self.assertEqual(shortages, expected_shortages)
        # and what really left stock is what the run says
        moves = productions.move_raw_ids.filtered(
            lambda m: m.backflush_run_id and m.quantity
        )
        by_move = {
            (m.raw_material_production_id.id, m.product_id.id, m.backflush_role): round(
                m.quantity, 6
            )
            for m in moves
        }
        self.assertEqual(by_move, expected_posts)
        # from where, and the lots it takes
        for line in preview.line_ids.filtered("to_post_qty"):
            posted = moves.filtered(
                lambda m, ln=line: (
                    m.raw_material_production_id == ln.production_id
                    and m.product_id == ln.product_id
                )
            )
            self.assertEqual(posted.location_id, line.location_id)
            if line.lot_ids:
                self.assertEqual(posted.move_line_ids.lot_id, line.lot_ids)
        return preview

    def _legs_and_glue_short_mo(self):
        """10 chairs: 42 legs needed, 30 in stock, 5 beech and 100 oak to
        stand in; 0.33 kg of glue needed, 0.2 kg in stock."""
        self._stocks(leg=30, beech=5, oak=100, seat=100, glue=0.2)
        return self._mo(self.bom, 10)

    def _snapshot(self):
        cr = self.env.cr
        self.env.flush_all()
        cr.execute(
            "SELECT id, state, quantity, product_uom_qty, picked, backflush_role "
            "FROM stock_move ORDER BY id"
        )
        moves = cr.fetchall()
        cr.execute("SELECT id, quantity, picked FROM stock_move_line ORDER BY id")
        move_lines = cr.fetchall()
        cr.execute(
            "SELECT id, quantity, reserved_quantity FROM stock_quant ORDER BY id"
        )
        quants = cr.fetchall()
        counts = {}
        for table in (
            "stock_valuation_layer",
            "mrp_backflush_run",
            "mrp_backflush_run_line",
            "mrp_backflush_exception",
            "mail_message",
        ):
            cr.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
            counts[table] = cr.fetchone()[0]
        return moves, move_lines, quants, counts

    # ------------------------------------------------------------------
    # what the preview lists
    # ------------------------------------------------------------------
    def test_preview_lists_each_line(self):
        mo = self._legs_and_glue_short_mo()
        preview = self._preview(mo)
        self.assertEqual(preview.production_ids, mo)
        self.assertFalse(preview.has_block)

        # legs: 40 + 5 % = 42, 30 in stock; beech 5 then oak 7
        leg = self._preview_line(preview, self.leg)
        self.assertEqual(len(leg), 1)
        self.assertEqual(leg.production_id, mo)
        self.assertEqual(leg.bom_line_id, self.leg_line)
        self.assertEqual(leg.component_id, self.leg)
        self.assertEqual(leg.location_id, self.stock_location)
        self.assertEqual(leg.product_uom_id, self.uom_piece)
        self.assertEqual(
            (leg.required_qty, leg.net_qty, leg.scrap_qty, leg.available_qty),
            (42, 30, 0, 30),
        )
        self.assertEqual((leg.shortage_qty, leg.action), (0, "none"))
        beech = self._preview_line(preview, self.beech, "substitute")
        oak = self._preview_line(preview, self.oak, "substitute")
        self.assertEqual((beech.net_qty, beech.component_id), (5, self.leg))
        # oak stands in for 5 legs and for the 2 legs of planned scrap
        self.assertEqual(
            (oak.net_qty, oak.scrap_qty, oak.component_id), (5, 2, self.leg)
        )
        self.assertEqual(beech.bom_line_id, self.leg_line)
        self.assertEqual(oak.action, "none")

        # seats: 10 + 1 per MO
        seat = self._preview_line(preview, self.seat)
        self.assertEqual(
            (seat.required_qty, seat.net_qty, seat.scrap_qty, seat.available_qty),
            (11, 10, 1, 100),
        )

        # glue: 0.3 kg + 10 % = 0.33 kg, 0.2 kg in stock: defer 0.13 kg
        glue = self._preview_line(preview, self.glue)
        self.assertAlmostEqual(glue.required_qty, 0.33)
        self.assertAlmostEqual(glue.net_qty, 0.2)
        self.assertAlmostEqual(glue.scrap_qty, 0)
        self.assertAlmostEqual(glue.available_qty, 0.2)
        self.assertAlmostEqual(glue.shortage_qty, 0.13)
        self.assertEqual(glue.action, "defer")
        self.assertEqual(len(preview.line_ids), 5)

    def test_blocked_preview(self):
        self.bom.backflush_shortage_policy = "block"
        self._stocks(leg=30, seat=100, glue=10)
        mo = self._mo(self.bom, 10)  # 42 legs, 30 + no substitute stock
        preview = self._preview(mo)
        self.assertTrue(preview.has_block)
        leg = self._preview_line(preview, self.leg)
        self.assertEqual((leg.shortage_qty, leg.action), (12, "block"))
        self.assertEqual(self._preview_line(preview, self.seat).action, "none")
        with self.assertRaisesRegex(
            UserError, "Preview Leg needs 42 Preview Pieces.*12 missing"
        ):
            with self.env.cr.savepoint():
                preview.action_mark_done()
        self.assertEqual(mo.state, "confirmed")
        self.assertFalse(mo.backflush_run_ids)

    def test_preview_status_words(self):
        """Each line says what producing does with it (issue 27): a
        substitute standing in for part of a shortfall is no "Covered", nor
        is any line of a blocked order."""
        mo = self._legs_and_glue_short_mo()
        preview = self._preview(mo)
        statuses = {
            (line.product_id, line.role): line.status for line in preview.line_ids
        }
        self.assertEqual(
            statuses,
            {
                (self.leg, "component"): "replaced",
                (self.beech, "substitute"): "partial",
                (self.oak, "substitute"): "substitute",
                (self.seat, "component"): "covered",
                (self.glue, "component"): "defer",
            },
        )
        self.bom.backflush_shortage_policy = "block"
        preview = self._preview(mo)
        glue = self._preview_line(preview, self.glue)
        self.assertEqual(glue.status, "block")
        for line in preview.line_ids - glue:
            self.assertEqual(line.status, "waits", line.product_id.name)

    def test_preview_writes_nothing(self):
        mo = self._legs_and_glue_short_mo()
        other = self._mo(self.bom, 3)
        before = self._snapshot()
        preview = self._preview(mo | other)
        self.assertTrue(preview.line_ids)
        preview.invalidate_recordset()
        self.assertTrue(preview.line_ids.mapped("required_qty"))
        self.assertEqual(self._snapshot(), before)
        self.assertEqual((mo | other).mapped("state"), ["confirmed", "confirmed"])
        self.assertFalse((mo | other).backflush_run_ids)
        self.assertEqual(self._qty(self.leg), 30)

    def test_preview_mark_done(self):
        self._stocks(leg=100, seat=100, glue=10)
        mo = self._mo(self.bom, 10)
        preview = self._preview(mo)
        preview.action_mark_done()
        self.assertEqual(mo.state, "done")
        self.assertEqual(len(mo.backflush_run_ids), 1)
        self.assertEqual(self._qty(self.leg), 58)
        self.assertEqual(self._qty(self.chair), 10)

    def test_preview_of_done_mo_is_empty(self):
        self._stocks(leg=100, seat=100, glue=10)
        mo = self._mo(self.bom, 10)
        mo.button_mark_done()
        self.assertFalse(self._preview(mo).line_ids)

    def test_preview_skips_manual_lines(self):
        self.bom.bom_line_ids.filtered(
            lambda ln: ln.product_id == self.seat
        ).backflush_mode = "manual"
        self._stocks(leg=100, glue=10)
        mo = self._mo(self.bom, 10)
        preview = self._preview(mo)
        self.assertNotIn(self.seat, preview.line_ids.product_id)
        self.assertIn(self.leg, preview.line_ids.product_id)

    def test_preview_reads_right(self):
        """To Post is what the product posts, planned scrap included; a
        substitute shows what it must cover and what is free of it."""
        self._stocks(leg=30, beech=5, oak=100, seat=100, glue=1)
        mo = self._mo(self.bom, 10)
        preview = self._preview(mo)
        seat = self._preview_line(preview, self.seat)
        self.assertEqual((seat.to_post_qty, seat.scrap_qty), (11, 1))
        # legs: 42 required, 30 in stock; beech covers 5 of the 12 missing
        leg = self._preview_line(preview, self.leg)
        self.assertEqual((leg.required_qty, leg.to_post_qty), (42, 30))
        beech = self._preview_line(preview, self.beech, "substitute")
        self.assertEqual(
            (beech.required_qty, beech.available_qty, beech.to_post_qty), (12, 5, 5)
        )
        oak = self._preview_line(preview, self.oak, "substitute")
        self.assertEqual(
            (oak.required_qty, oak.available_qty, oak.to_post_qty), (7, 100, 7)
        )
        self.assertEqual(preview.production_count, 1)
        self.assertFalse(preview.idle_note)

    def test_preview_of_several_mos_names_blocked_and_idle(self):
        self.bom.backflush_shortage_policy = "block"
        manual_bom = self._bom(
            self.chair, [(self.seat, 1, {"backflush_mode": "manual"})]
        )
        self._stocks(leg=50, seat=100, glue=10)
        ok = self._mo(self.bom, 10)  # 42 legs
        blocked = self._mo(self.bom, 5)  # 21 legs, 8 left, no substitute stock
        idle = self._mo(manual_bom, 3)
        # a component added on the order (no BOM line) is recorded by hand too
        self.env["stock.move"].create(
            {
                "raw_material_production_id": idle.id,
                "product_id": self.screw.id,
                "product_uom_qty": 2,
                "product_uom": self.screw.uom_id.id,
                "location_id": idle.location_src_id.id,
                "location_dest_id": idle.production_location_id.id,
                "manual_consumption": True,
            }
        )._action_confirm()
        preview = self._preview(ok | blocked | idle)
        self.assertEqual(preview.production_count, 3)
        self.assertEqual(preview.blocked_production_ids, blocked)
        self.assertIn(blocked.name, preview.blocked_note)
        self.assertIn("Preview Leg is short by 13", preview.blocked_note)
        self.assertNotIn(ok.name, preview.blocked_note)
        self.assertIn(idle.name, preview.idle_note)
        self.assertIn("recorded by hand", preview.idle_note)
        self.assertEqual(preview.producible_count, 2)
        preview.action_mark_done_unblocked()
        self.assertEqual(ok.state, "done")
        self.assertEqual(blocked.state, "confirmed")
        self.assertEqual(idle.state, "done")

    # ------------------------------------------------------------------
    # preview and posting agree, line by line
    # ------------------------------------------------------------------
    def test_agree_scrap_and_substitutes_defer(self):
        self._stocks(leg=30, beech=5, oak=3, seat=100, glue=0.2)
        mo = self._mo(self.bom, 10)
        preview = self._assert_preview_matches_posting(mo)
        self.assertEqual(
            {(e.product_id, e.quantity) for e in mo.backflush_exception_ids},
            {(self.leg, 4), (self.glue, 0.13)},
        )
        self.assertEqual(self._preview_line(preview, self.leg).shortage_qty, 4)

    def test_agree_negative_full(self):
        self.bom.write(
            {"backflush_shortage_policy": "negative", "backflush_substitution": "full"}
        )
        # beech cannot cover the 12 legs missing alone, oak can; 11 seats
        # needed: 6 into negative
        self._stocks(leg=30, beech=5, oak=12, seat=5, glue=1)
        mo = self._mo(self.bom, 10)
        self._assert_preview_matches_posting(mo)
        self.assertEqual(self._qty(self.seat), -6)
        self.assertEqual(self._qty(self.oak), 0)
        self.assertEqual(self._qty(self.beech), 5)

    def test_agree_plenty_of_stock(self):
        self._stocks(leg=1000, seat=1000, glue=100)
        mo = self._mo(self.bom, 7)
        preview = self._assert_preview_matches_posting(mo)
        self.assertFalse(preview.line_ids.filtered(lambda ln: ln.role == "substitute"))
        self.assertEqual(set(preview.line_ids.mapped("action")), {"none"})

    def test_agree_kit_and_uom(self):
        kit = self._product("Preview Screw Kit")
        self._bom(
            kit,
            [(self.screw, 6, {"scrap_percent": 10}), (self.glue, 0.01)],
            type="phantom",
        )
        bom = self._bom(
            self.chair,
            [
                (kit, 1),
                (
                    self.screw,
                    1,
                    {"product_uom_id": self.uom_dozen.id, "scrap_fixed_qty": 1},
                ),
            ],
            backflush_shortage_policy="negative",
        )
        self._stocks(screw=50, glue=0.05)
        mo = self._mo(bom, 9)
        self._assert_preview_matches_posting(mo)

    def test_agree_two_mos_competing(self):
        """One preview of two MOs drawing on the same stock shows what the
        mass Mark Done posts: the second MO gets the substitute."""
        self._stocks(leg=50, beech=100, seat=100, glue=10)
        mo1 = self._mo(self.bom, 10)  # 42 legs
        mo2 = self._mo(self.bom, 5)  # 21 legs: 8 pine left, 13 beech
        preview = self._assert_preview_matches_posting(mo1 | mo2)
        self.assertFalse(self._preview_line(preview, self.beech, "substitute", mo1))
        beech = self._preview_line(preview, self.beech, "substitute", mo2)
        # 12 for the net, 1 for the planned scrap
        self.assertEqual((beech.net_qty, beech.scrap_qty), (12, 1))
        self.assertEqual(self._qty(self.beech), 87)

    def test_agree_beside_an_order_recorded_by_hand(self):
        """Mark Done sets the quantities of an order whose lines are
        recorded by hand before the backflush posts (Odoo's
        _set_quantities): the seats it takes beyond what it reserved are
        not in stock for the backflushed order, in the preview either."""
        manual_bom = self._bom(
            self.chair, [(self.seat, 1, {"backflush_mode": "manual"})]
        )
        self._stocks(leg=100, seat=12, glue=10)
        backflushed = self._mo(self.bom, 5)  # 6 seats, reserved
        manual = self._mo(manual_bom, 10)  # 6 seats reserved, sets 10
        preview = self._assert_preview_matches_posting(backflushed | manual)
        seat = self._preview_line(preview, self.seat, mo=backflushed)
        self.assertEqual(seat.shortage_qty, 4)  # deferred
        self.assertEqual(self._qty(self.seat), 0)

    def test_agree_non_storable_component(self):
        """A consumable that is not tracked in stock is never short."""
        self.glue.is_storable = False
        self._stocks(leg=100, seat=100)
        mo = self._mo(self.bom, 10)
        preview = self._assert_preview_matches_posting(mo)
        glue = self._preview_line(preview, self.glue)
        self.assertEqual(glue.action, "none")
        self.assertAlmostEqual(glue.required_qty, 0.33)

    # ------------------------------------------------------------------
    # the preview is the engine's plan (issue 21)
    # ------------------------------------------------------------------
    def test_zero_demand_line_does_not_block(self):
        """A component not used this time (demand set to 0) is posted as
        recorded: no shortage, as Mark Done finishes the order."""
        self.bom.backflush_shortage_policy = "block"
        self._stocks(leg=100, glue=10)  # no seat in stock
        mo = self._mo(self.bom, 10)
        self._move(mo, self.seat).product_uom_qty = 0
        preview = self._preview(mo)
        self.assertFalse(preview.has_block)
        seat = self._preview_line(preview, self.seat)
        self.assertEqual((seat.action, seat.to_post_qty), ("recorded", 0))
        self._assert_preview_matches_posting(mo)
        self.assertEqual(self._qty(self.seat), 0)

    def test_blocked_order_keeps_no_stock_from_the_others(self):
        """Small orders are produced beside a big blocked one: the big one
        is planned last, after them, as Produce the Others posts."""
        self.bom.backflush_shortage_policy = "block"
        self._stocks(leg=15, seat=100, glue=10)
        small = self.env["mrp.production"].concat(
            *(self._mo(self.bom, 1) for _i in range(3))
        )  # 5 legs each (4 + 5 % rounded up): reserved at confirmation
        big = self._mo(self.bom, 10)
        big.priority = "1"  # first in the list, so first planned
        preview = self._preview(small | big)
        self.assertEqual(preview._producible_productions()[:1], big)
        self.assertEqual(preview.blocked_production_ids, big)
        self.assertEqual(preview.producible_count, 3)
        for mo in small:
            leg = self._preview_line(preview, self.leg, mo=mo)
            self.assertEqual((leg.action, leg.to_post_qty), ("none", 5))
        big_leg = self._preview_line(preview, self.leg, mo=big)
        # what the others leave: nothing
        self.assertEqual((big_leg.available_qty, big_leg.shortage_qty), (0, 42))
        expected, _shortages = self._preview_table(preview)
        preview.action_mark_done_unblocked()
        self.assertEqual(set(small.mapped("state")), {"done"})
        self.assertEqual(big.state, "confirmed")
        posts, _shortages = self._run_table(small)
        self.assertEqual(
            posts, {k: v for k, v in expected.items() if k[0] in small.ids}
        )

    def test_reserved_stock_of_a_blocked_order_is_not_free(self):
        """Stock a blocked order reserved stays reserved when the others
        are produced: they are blocked too if they need it."""
        self.bom.backflush_shortage_policy = "block"
        self._stocks(leg=15, seat=100, glue=10)
        big = self._mo(self.bom, 10)  # reserves the 15 legs
        small = self._mo(self.bom, 1)
        preview = self._preview(big | small)
        self.assertEqual(preview.blocked_production_ids, big | small)
        self.assertEqual(preview.producible_count, 0)

    def _operation_bom(self, **vals):
        workcenter = self._workcenter("Preview Bench")
        bom = self._bom(
            self.chair,
            [
                (self.leg, 4, {"scrap_percent": 5}),
                (self.screw, 6, {"scrap_percent": 10}),
            ],
            operation_ids=[
                Command.create({"name": "Screw", "workcenter_id": workcenter.id})
            ],
            **vals,
        )
        bom.bom_line_ids.filtered(
            lambda ln: ln.product_id == self.screw
        ).operation_id = bom.operation_ids
        bom.bom_line_ids.backflush_mode = "operation"
        return bom

    def test_operation_lines_previewed(self):
        """Lines consumed in an operation whose work order is open are
        posted by Produce All (Odoo finishes the work order first)."""
        self._stocks(leg=100, screw=100)
        mo = self._mo(self._operation_bom(), 10)
        preview = self._preview(mo)
        screw = self._preview_line(preview, self.screw)
        self.assertEqual(screw.workorder_id, mo.workorder_ids)
        self.assertEqual((screw.net_qty, screw.scrap_qty), (60, 6))
        self.assertFalse(self._preview_line(preview, self.leg).workorder_id)
        self._assert_preview_matches_posting(mo)
        self.assertEqual(
            set(mo.backflush_run_ids.mapped("trigger")), {"operation", "mark_done"}
        )

    def test_tracked_component_without_lot_announced(self):
        """A tracked component short under policy negative has no lot for
        the missing part to go negative on: that part waits (Odoo would
        refuse a line without a lot), as the preview says first."""
        self.env.user.groups_id += self.env.ref("stock.group_production_lot")
        self.leg.tracking = "lot"
        self.bom.backflush_shortage_policy = "negative"
        lot = self.env["stock.lot"].create({"name": "PL-1", "product_id": self.leg.id})
        self._stock(self.leg, 30, lot=lot)
        self._stocks(seat=100, glue=10)
        mo = self._mo(self.bom, 10)  # 42 legs, 30 with a lot
        preview = self._preview(mo)
        leg = self._preview_line(preview, self.leg)
        self.assertEqual((leg.action, leg.shortage_qty), ("defer", 12))
        self.assertFalse(preview.blocked_production_ids)
        mo.button_mark_done()
        self.assertEqual(mo.state, "done")
        exc = mo.backflush_exception_ids
        self.assertEqual((exc.product_id, exc.quantity), (self.leg, 12))

    def test_agree_several_mos_recorded_zero_demand_and_operation(self):
        """The general property: the preview of several orders lists what
        Mark Done posts, line by line (recorded, zero-demand and operation
        lines, substitutes, shortages)."""
        self._stocks(leg=50, beech=10, oak=100, seat=100, glue=0.5, screw=100)
        recorded = self._mo(self.bom, 3)
        recorded.qty_producing = 3
        self._move(recorded, self.seat).write({"quantity": 5, "picked": True})
        zero = self._mo(self.bom, 4)
        self._move(zero, self.glue).product_uom_qty = 0
        with_operation = self._mo(
            self._operation_bom(backflush_substitution="priority"), 8
        )
        plain = self._mo(self.bom, 6)
        mos = recorded | zero | with_operation | plain
        preview = self._assert_preview_matches_posting(mos)
        self.assertEqual(
            self._preview_line(preview, self.seat, mo=recorded).action, "recorded"
        )
        self.assertEqual(
            self._preview_line(preview, self.screw, mo=with_operation).workorder_id,
            with_operation.workorder_ids,
        )
        self.assertTrue(self._preview_line(preview, self.oak, "substitute", mo=plain))

    def test_refused_order_previewed_as_mark_done_refuses_it(self):
        """Mark Done of two orders counts what the second reserved as free
        for the first, which takes it: the second is blocked and Mark Done
        refuses. The preview refuses it too, with the same shortage; the
        first is listed as Produce the Others posts it (the second keeps
        its reservation)."""
        kit = self._product("Preview Kit", 0.0, is_storable=False)
        frame = self._product("Preview Kit Frame", 4.0)
        # 1 frame a kit, 1 more per family
        self._bom(
            kit,
            [(frame, 1, {"scrap_fixed_qty": 1})],
            type="phantom",
            backflush_mode="finish",
        )
        lines = [(kit, 1), (self.glue, 0.03)]
        self._stocks(glue=10)
        defer_bom = self._bom(self.chair, lines, backflush_shortage_policy="defer")
        first = self._mo(defer_bom, 2)  # 3 frames, deferred
        self._stock(frame, 4)
        blocked_bom = self._bom(self.chair, lines, backflush_shortage_policy="block")
        second = self._mo(blocked_bom, 3)  # 4 frames, all reserved
        self.assertEqual(self._move(second, frame).quantity, 4)
        mos = first | second
        preview = self._preview(mos)
        self.assertEqual(preview.blocked_production_ids, second)
        line = self._preview_line(preview, frame, mo=second)
        self.assertEqual(
            (line.required_qty, line.available_qty, line.shortage_qty), (4, 1, 3)
        )
        with self.assertRaisesRegex(
            UserError, "Preview Kit Frame needs 4.00 Units in WH/Stock, 1.00 available"
        ):
            mos.button_mark_done()
        line = self._preview_line(preview, frame, mo=first)
        self.assertEqual((line.action, line.shortage_qty), ("defer", 3))
        preview.action_mark_done_unblocked()
        self.assertEqual(first.state, "done")
        self.assertEqual(first.backflush_exception_ids.product_id, frame)
        self.assertEqual(self._move(second, frame).quantity, 4)
