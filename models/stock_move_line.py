# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from contextlib import contextmanager

from odoo import api, fields, models
from odoo.tools import float_is_zero

# Per-transaction scratch pad (cleared at commit and rollback) where the
# edits of done component moves wait until the edit that caused them ends.
EDITS_KEY = "mrp_backflush.done_move_edits"


@contextmanager
def backflush_collect_edits(env):
    """Audit the edits of done component moves made inside the block as
    one correction per MO (one run, one catch-up, one chatter line),
    however many moves and move lines Odoo writes on the way."""
    data = env.cr.precommit.data
    if EDITS_KEY in data:  # an outer block records them
        yield
        return
    data[EDITS_KEY] = edits = []
    try:
        yield
    finally:
        data.pop(EDITS_KEY, None)
    _record_edits(edits)


def _record_edits(edits):
    by_production = {}
    for production, vals, layers in edits:
        lines, all_layers = by_production.get(production, ({}, layers.browse()))
        key = (vals["move_id"], vals["lot_id"])
        if key in lines:
            lines[key]["consumed_qty"] += vals["consumed_qty"]
            lines[key]["layer_ids"] += vals["layer_ids"]
        else:
            lines[key] = vals
        by_production[production] = (lines, all_layers | layers)
    for production, (lines, layers) in by_production.items():
        line_vals = [
            dict(vals, layer_ids=[fields.Command.set(vals["layer_ids"])])
            for vals in lines.values()
            if vals["layer_ids"]
            or not float_is_zero(
                vals["consumed_qty"],
                precision_rounding=production.env["uom.uom"]
                .browse(vals["product_uom_id"])
                .rounding,
            )
        ]
        if line_vals:
            production.env["mrp.backflush.correction"]._backflush_record_correction(
                production, line_vals, layers
            )


class StockMoveLine(models.Model):
    _inherit = "stock.move.line"

    @api.model_create_multi
    def create(self, vals_list):
        moves = self.env["stock.move"].browse(
            {vals["move_id"] for vals in vals_list if vals.get("move_id")}
        )
        if not moves._backflush_edits_done_consumption():
            return super().create(vals_list)
        self._backflush_check_no_pending(moves)
        with backflush_collect_edits(self.env):
            return super().create(vals_list)

    def write(self, vals):
        if (
            "quantity" not in vals and "lot_id" not in vals and "quant_id" not in vals
        ) or not self.move_id._backflush_edits_done_consumption():
            return super().write(vals)
        self._backflush_check_no_pending(self.move_id)
        with backflush_collect_edits(self.env):
            return super().write(vals)

    def _action_done(self):
        # Each line of a backflush releases its reservation, then takes its
        # stock from the same quant: one row lock and write for both.
        if not self or not all(line.move_id.backflush_role for line in self):
            return super()._action_done()
        with self.env["stock.quant"]._backflush_folded_releases():
            return super()._action_done()

    @api.model
    def _backflush_check_no_pending(self, moves):
        """An edit of done components (the Components tab of an unlocked
        MO, or over RPC on a locked one) waits for a decision on the
        order's pending postings, as the Unlock button does."""
        moves.filtered(
            lambda m: m.state == "done"
        ).raw_material_production_id._backflush_check_no_pending(
            self.env._("edited after done")
        )

    def _create_correction_svl(self, move, diff):
        """Odoo's own edit of a done component move (unlocked MO, quantity or
        lot changed) ends here, once per move line: audit it as a
        correction and let the finished goods' value follow."""
        production = move.raw_material_production_id
        if production.state != "done" or not production.backflush_run_ids:
            return super()._create_correction_svl(move, diff)
        known = move.sudo().stock_valuation_layer_ids
        res = super()._create_correction_svl(move, diff)
        move.invalidate_recordset(["stock_valuation_layer_ids"])
        layers = move.sudo().stock_valuation_layer_ids - known
        layers._backflush_write({"backflush_role": "correction"})
        edit = (
            production,
            {
                "product_id": self.product_id.id,
                "bom_line_id": move.bom_line_id.id,
                "role": "correction",
                "move_id": move.id,
                "product_uom_id": self.product_id.uom_id.id,
                "consumed_qty": diff,
                "location_id": self.location_id.id,
                "lot_id": self.lot_id.id,
                "layer_ids": layers.ids,
            },
            layers,
        )
        edits = self.env.cr.precommit.data.get(EDITS_KEY)
        if edits is None:
            _record_edits([edit])
        else:
            edits.append(edit)
        return res
