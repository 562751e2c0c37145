# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import models

# What an unbuild gives back: never the planned scrap, it was lost.
RETURNED_ROLES = ("component", "deferred", "substitute")


class MrpUnbuild(models.Model):
    _inherit = "mrp.unbuild"

    def _generate_produce_moves(self):
        backflushed = self.filtered(
            lambda u: u.mo_id.move_raw_ids.filtered("backflush_role")
        )
        moves = super(MrpUnbuild, self - backflushed)._generate_produce_moves()
        for unbuild in backflushed:
            moves |= unbuild._backflush_generate_returns()
        return moves

    def action_unbuild(self):
        res = super().action_unbuild()
        self._backflush_create_runs()
        return res

    def _backflush_create_runs(self):
        """One run per unbuild that gave backflushed components back: the
        audit trail shows the returns (negative) with their roles."""
        vals_list = []
        for unbuild in self:
            returns = unbuild.produce_line_ids.filtered(
                lambda m: m.backflush_role and m.state == "done"
            )
            if not returns:
                continue
            production = unbuild.mo_id
            lines = [
                {
                    "product_id": move.product_id.id,
                    "bom_line_id": move.bom_line_id.id,
                    "role": move.backflush_role,
                    "move_id": move.id,
                    "product_uom_id": move.product_uom.id,
                    "consumed_qty": -move.quantity,
                    "location_id": move.location_dest_id.id,
                }
                for move in returns
            ]
            vals_list.append(
                production._backflush_run_vals(
                    "unbuild",
                    lines,
                    produced_qty=-unbuild.product_uom_id._compute_quantity(
                        unbuild.product_qty, production.product_uom_id
                    ),
                )
            )
        runs = self.env["mrp.backflush.run"]._create_postings(vals_list)
        runs._notify_productions()
        return runs

    def _backflush_generate_returns(self):
        """Components back to stock for an MO the backflush posted.

        The ledger of each BOM line says what the unbuilt units no longer
        require: their net share. The pending shortage of the MO is cancelled
        first (it was never posted), then each posting of the line gives back
        its share, with its role. Planned scrap was physically lost: never returned.
        Lines the backflush did not post are returned as Odoo does.
        """
        self.ensure_one()
        production = self.mo_id
        done = production.move_raw_ids.filtered(lambda m: m.state == "done")
        factor = self.product_qty / production.product_uom_id._compute_quantity(
            production.qty_produced, self.product_uom_id
        )
        moves = self.env["stock.move"]
        # What Odoo posted (manual lines) and quantities recorded by hand
        # come back as Odoo returns them: their share of what was unbuilt.
        for raw_move in done.filtered(
            lambda m: not m.backflush_role or m.backflush_recorded
        ):
            move = self._generate_move_from_existing_move(
                raw_move, factor, raw_move.location_dest_id, self.location_dest_id
            )
            # Returned against its BOM line, as it was consumed.
            move.bom_line_id = raw_move.bom_line_id
            if raw_move.backflush_recorded:
                move._backflush_write(
                    {
                        "backflush_role": raw_move.backflush_role,
                        "backflush_recorded": True,
                        "backflush_line_qty": raw_move.backflush_line_qty * factor,
                    }
                )
            moves |= move
        unbuilt = self.product_uom_id._compute_quantity(
            self.product_qty, production.product_uom_id, round=False
        )
        backflushed = done.filtered(
            lambda m: m.backflush_role in RETURNED_ROLES and not m.backflush_recorded
        )
        pending = production.backflush_exception_ids.filtered(
            lambda e: e.state == "pending"
        )
        # A line whose whole quantity is pending posted nothing, yet its
        # shortage goes with the unbuilt units too.
        lines = backflushed.bom_line_id | pending.bom_line_id
        ledger = self.env["mrp.backflush.ledger"]
        family = ledger._family_key(production)
        components = production.move_raw_ids.filtered(
            lambda m: m.backflush_role == "component"
        )
        moves_by_key = {}
        for move in components:
            if move.bom_line_id in lines:
                moves_by_key.setdefault((family, move.bom_line_id), move)
        lines = lines.filtered(lambda li: (family, li) in moves_by_key)
        entries = ledger._entries(production, lines, moves_by_key)
        returned = self._backflush_returned_by_move(backflushed)
        vals_list = []
        for line in lines:
            entry = entries[(family, line)]
            line_moves = backflushed.filtered(lambda m, li=line: m.bom_line_id == li)
            if not entry.explains_unbuild(unbuilt):
                # The order's produced quantity was edited after it was
                # posted, or more is unbuilt than was produced: beyond what
                # the ledger can say. Each posting gives back its share of
                # the unbuilt units, as Odoo's unbuild does.
                vals_list += [
                    (move, move.backflush_line_qty * factor)
                    for move in line_moves
                    if move.backflush_line_qty
                ]
                continue
            # The planned scrap of the unbuilt units still pending was never
            # lost: no longer required, cancelled with them.
            scrap = entry.pending_scrap_of(unbuilt)
            entry.scrap_unbuilt += scrap
            owed = entry.settled_qty - entry.required(unbuilt=unbuilt)
            for exc in pending.filtered(lambda e, li=line: e.bom_line_id == li):
                if owed <= 0:
                    break
                of_scrap = min(scrap, owed, exc.quantity)
                owed -= exc._cancel_unbuilt(owed, planned_scrap=of_scrap)
                scrap -= of_scrap
            left = {
                move: move.backflush_line_qty - returned[move] for move in line_moves
            }
            total_left = sum(qty for qty in left.values() if qty > 0)
            if owed <= 0 or total_left <= 0:
                continue
            # Each posting gives back its share, as Odoo's unbuild does.
            ratio = min(owed / total_left, 1.0)
            vals_list += [(move, qty * ratio) for move, qty in left.items() if qty > 0]
        for raw_move, take in vals_list:
            move = self._generate_move_from_existing_move(
                raw_move,
                take / raw_move.backflush_line_qty,
                raw_move.location_dest_id,
                self.location_dest_id,
            )
            move._backflush_write(
                {
                    "bom_line_id": raw_move.bom_line_id.id,
                    "backflush_role": raw_move.backflush_role,
                    "backflush_line_qty": take,
                }
            )
            moves |= move
        return moves

    def _backflush_returned_by_move(self, raw_moves):
        """Component units already given back from each of ``raw_moves``:
        by earlier unbuilds, and by corrections that returned leftovers (an
        unbuild never gives back what is no longer consumed)."""
        returns = (
            self.env["stock.move"]
            .sudo()
            .search(
                [
                    ("origin_returned_move_id", "in", raw_moves.ids),
                    ("state", "=", "done"),
                ]
            )
        )
        returned = dict.fromkeys(raw_moves, 0.0)
        for move in returns:
            raw = move.origin_returned_move_id
            if move.unbuild_id:
                returned[raw] += move.backflush_line_qty
            elif raw.quantity:
                qty = move.product_uom._compute_quantity(
                    move.quantity, raw.product_uom, round=False
                )
                returned[raw] += qty * raw.backflush_line_qty / raw.quantity
        return returned
