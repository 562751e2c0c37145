# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from collections import defaultdict
from contextlib import contextmanager
from contextvars import ContextVar

from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_compare, float_is_zero, float_round

from .. import planning
from .res_company import BACKFLUSH_ROLES
from .stock_move_line import backflush_collect_edits

# The moves of a backflushed order set in one batch when its quantity
# producing is set, which Odoo's own loop leaves alone (see
# ``mrp.production._set_qty_producing``). A context variable, not a context key:
# no request can start it.
_SET_IN_BATCH = ContextVar("mrp_backflush_set_in_batch", default=frozenset())


class StockMove(models.Model):
    _name = "stock.move"
    _inherit = ["stock.move", "mrp.backflush.protected.mixin"]
    _backflush_protected_fields = (
        "backflush_role",
        "backflush_run_id",
        "backflush_replaced_move_id",
        "backflush_line_qty",
        "backflush_recorded",
    )

    backflush_role = fields.Selection(BACKFLUSH_ROLES, index=True, copy=False)
    backflush_run_id = fields.Many2one(
        "mrp.backflush.run", index="btree_not_null", copy=False, readonly=True
    )
    backflush_unit_qty = fields.Float(
        digits=False,
        help="Net component quantity per finished unit, in the move's unit, "
        "from the BOM explosion (without planned scrap).",
    )
    backflush_line_qty = fields.Float(
        digits=False,
        copy=False,
        help="Units of the BOM line's component this backflush move covers "
        "(a substitute counts for the units it stands in for): what the "
        "ledger adds up.",
    )
    backflush_recorded = fields.Boolean(
        copy=False,
        help="The quantity was recorded by hand (form, RPC, barcode, MES) and "
        "posted as it was.",
    )
    backflush_replaced_move_id = fields.Many2one(
        "stock.move",
        string="Replaces",
        copy=False,
        help="For a substitute: the component move it stands in for.",
    )
    backflush_returned_qty = fields.Float(
        "Returned",
        digits="Product Unit of Measure",
        compute="_compute_backflush_returned_qty",
        help="Given back to stock after the order was done: leftovers returned "
        "by a consumption correction, components recovered by an unbuild.",
    )
    backflush_pending_qty = fields.Float(
        "Pending",
        digits="Product Unit of Measure",
        compute="_compute_backflush_pending_qty",
        help="Short when the order was produced and deferred: still owed, "
        "posted when the stock arrives (Pending Backflush).",
    )

    backflush_staged_qty = fields.Float(
        "Staged",
        digits="Product Unit of Measure",
        compute="_compute_backflush_staged_qty",
        help="Picked to pre-production for this order (manufacture in 2 or 3 "
        "steps): the transfers of the component done so far.",
    )
    backflush_staged_returned_qty = fields.Float(
        "Returned to Stock",
        digits="Product Unit of Measure",
        compute="_compute_backflush_staged_qty",
        help="Staged for this order, not consumed, and returned to where it "
        "was picked from (the BOM's leftover policy, or a return by hand).",
    )

    def _compute_backflush_staged_qty(self):
        picks = self.env["mrp.backflush.staging"]._pick_moves(
            self.filtered(lambda m: m.raw_material_production_id)
        )
        for move in self:
            staged = picks & move.move_orig_ids
            returned = staged.returned_move_ids.filtered(lambda m: m.state == "done")
            move.backflush_staged_qty, move.backflush_staged_returned_qty = (
                sum(
                    m.product_uom._compute_quantity(
                        m.quantity, move.product_uom, round=False
                    )
                    for m in moves
                )
                for moves in (staged, returned)
            )

    def _compute_backflush_returned_qty(self):
        returned = self._backflush_sum_by_move(
            "stock.move",
            [
                ("origin_returned_move_id", "in", self.ids),
                ("raw_material_production_id", "=", False),
                ("state", "=", "done"),
            ],
            "origin_returned_move_id",
            "product_uom",
            "quantity",
        )
        for move in self:
            move.backflush_returned_qty = returned.get(move, 0.0)

    def _compute_backflush_pending_qty(self):
        pending = self._backflush_sum_by_move(
            "mrp.backflush.exception",
            [("move_id", "in", self.ids), ("state", "=", "pending")],
            "move_id",
            "product_uom_id",
            "quantity",
        )
        for move in self:
            move.backflush_pending_qty = pending.get(move, 0.0)

    def _backflush_sum_by_move(self, model, domain, move_field, uom_field, qty_field):
        """``{move: sum of qty_field}`` of the ``model`` records of
        ``domain``, in each move's unit: one grouped read."""
        if not self.ids:
            return {}
        totals = defaultdict(float)
        for move, uom, qty in (
            self.env[model]
            .sudo()
            ._read_group(domain, [move_field, uom_field], [f"{qty_field}:sum"])
        ):
            totals[move] += uom._compute_quantity(qty, move.product_uom, round=False)
        return totals

    def _backflush_write_protected_fields(self):
        # The BOM explosion sets the unit quantity and rewrites it while the
        # MO is a draft; the backflush posts from it once confirmed.
        if all(move.state == "draft" for move in self):
            return ()
        return ("backflush_unit_qty",)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_backflush_pending(self):
        # A retry posts a copy of the component move it defers (same MO,
        # operation, work order, accounts): without it, it would guess.
        pending = (
            self.env["mrp.backflush.exception"]
            .sudo()
            .search([("move_id", "in", self.ids), ("state", "=", "pending")])
        )
        if pending:
            raise UserError(
                self.env._(
                    "%(exceptions)s still need their component move: post or "
                    "cancel these pending backflush exceptions first.",
                    exceptions=", ".join(pending.mapped("name")),
                )
            )

    def write(self, vals):
        # Editing a done move's quantity writes each of its move lines:
        # one correction for the whole edit.
        if (
            "quantity" not in vals and "move_line_ids" not in vals
        ) or not self._backflush_edits_done_consumption():
            return super().write(vals)
        with backflush_collect_edits(self.env):
            return super().write(vals)

    def _backflush_edits_done_consumption(self):
        """Some of these moves are components of a done, backflushed MO:
        an edit of their quantities is a correction to audit. Other moves
        (pickings, other modules) are left to Odoo as they are."""
        return any(
            move.raw_material_production_id.state == "done"
            and move.raw_material_production_id.backflush_run_ids
            for move in self
        )

    def _action_done(self, cancel_backorder=False):
        self._backflush_return_ahead_lines()
        moves = super()._action_done(cancel_backorder=cancel_backorder)
        # A shortage deferred for want of its pick is posted when it arrives.
        self.env["mrp.backflush.staging"]._retry_arrived(moves)
        return moves

    def _backflush_return_ahead_lines(self):
        """Lines of the unbuild returns of a backflushed order the unbuild
        left short. Odoo's unbuild gives its returns lines of the unbuilt
        order's own moves of the product, whichever move each return comes
        from: a return drawn from components a work order of an earlier
        order of the family posted ahead (see
        ``mrp.backflush.valuation._backflush_ahead_shares``) finds none, or
        takes another return's. Topped up from the move it returns, lots
        included, after what earlier returns took."""
        for move in self.filtered(
            lambda m: (
                m.unbuild_id
                and m.backflush_role
                and m.origin_returned_move_id
                and m.state not in ("done", "cancel")
                and float_compare(
                    m.quantity,
                    m.product_uom_qty,
                    precision_rounding=m.product_uom.rounding,
                )
                < 0
            )
        ):
            origin = move.origin_returned_move_id
            taken = defaultdict(float)
            for line in origin.returned_move_ids.filtered(
                lambda m: m.state == "done"
            ).move_line_ids:
                taken[line.lot_id] += line.quantity
            needed = move.product_uom_qty - move.quantity
            rounding = move.product_uom.rounding
            vals_list = []
            for line in origin.move_line_ids:
                used = min(taken[line.lot_id], line.quantity)
                taken[line.lot_id] -= used
                take = float_round(
                    min(needed, line.quantity - used), precision_rounding=rounding
                )
                if float_compare(take, 0.0, precision_rounding=rounding) > 0:
                    vals_list.append(
                        move.unbuild_id._prepare_move_line_vals(move, line, take)
                    )
                    needed -= take
            self.env["stock.move.line"].create(vals_list)

    @api.model
    def _determine_is_manual_consumption(self, bom_line):
        # Lines the backflush leaves to the operator are manual too. Odoo's
        # own flag stays as it is (lines with an operation are manual): the
        # backflush reads its timing, not the flag (see _backflush_is_manual).
        return bool(
            super()._determine_is_manual_consumption(bom_line)
            or (bom_line and bom_line._get_backflush_mode() == "manual")
        )

    def _prepare_merge_moves_distinct_fields(self):
        # A planned-scrap or substitute move must never merge into its component.
        return super()._prepare_merge_moves_distinct_fields() + ["backflush_role"]

    def _backflush_rounding(self):
        """The step the backflush posts in: the move's unit, or the
        product's own unit when it is coarser (150 g of a product kept to
        0.01 kg posts in 10 g steps), so stock, value and run agree and the
        quantity is never rounded under when Odoo converts it."""
        self.ensure_one()
        return self._backflush_step(self.product_id, self.product_uom)

    @api.model
    def _backflush_step(self, product, uom):
        product_step = product.uom_id._compute_quantity(
            product.uom_id.rounding, uom, round=False
        )
        return max(uom.rounding, product_step)

    def _backflush_shortage_policy(self):
        """The shortage policy of this move: its location's (nearest up the
        tree), else its BOM's. A tracked component goes negative only on
        its lots (see ``_backflush_lot_qty``)."""
        self.ensure_one()
        return (
            self.location_id._get_backflush_shortage_policy()
            or self.raw_material_production_id.bom_id.backflush_shortage_policy
        )

    def _backflush_serial_qty(self):
        """Serial-tracked: the quantity (move unit) its valid serial numbers
        cover, reserved for the MO or recorded, which is all the backflush
        may consume of it (it never picks serial numbers). None when the
        product has no serial numbers."""
        self.ensure_one()
        if self.has_tracking != "serial":
            return None
        return self._backflush_valid_lots_qty()

    def _backflush_lot_qty(self):
        """Lot-tracked: the quantity (move unit) its valid lots cover,
        reserved for the MO or recorded; under policy negative only that
        goes below zero, on those lots: Odoo refuses a line without a lot.
        None when no lot is needed."""
        self.ensure_one()
        picking_type = self.picking_type_id
        if self.has_tracking != "lot" or (
            picking_type
            and not (picking_type.use_create_lots or picking_type.use_existing_lots)
        ):
            return None
        return self._backflush_valid_lots_qty()

    def _backflush_valid_lots_qty(self):
        lines = self.move_line_ids.filtered(
            lambda ml: ml.lot_id and not ml.lot_id._backflush_is_expired()
        )
        return self.product_id.uom_id._compute_quantity(
            sum(lines.mapped("quantity_product_uom")), self.product_uom, round=False
        )

    def _backflush_is_manual(self):
        """The operator records this consumption: the line is manual (Odoo's
        flag or the timing `manual`), or Odoo marked the move manual because
        someone edited it. Odoo marks every line with an operation manual as
        well; those the backflush posts by its timing, and what an operator
        typed on them is kept as recorded (see _backflush_is_recorded)."""
        self.ensure_one()
        line = self.bom_line_id
        if not line:
            return self.manual_consumption
        if line.manual_consumption or line._get_backflush_mode() == "manual":
            return True
        return self.manual_consumption and not line.operation_id

    def _backflush_trigger(self):
        """What posts this move: its work order finishing (``operation``)
        or Mark Done. An operation line whose work order will never finish
        it (cancelled on a backorder because an earlier work order was
        finished for the whole order, or none at all) posts at Mark Done,
        where the ledger says what the family still owes."""
        self.ensure_one()
        if self.bom_line_id._get_backflush_mode() != "operation":
            return "mark_done"
        if self.workorder_id.state in (False, "cancel"):
            return "mark_done"
        return "operation"

    def _backflush_is_recorded(self, produced_qty, at_mark_done=False):
        """A picked quantity that neither Odoo (qty producing × unit factor)
        nor the backflush (the net) would set was recorded by a person or an
        integration, zero included: it is posted as it is, never overwritten.
        A demand set to zero (the component is not used for this order) is
        kept as well, as Odoo keeps it. ``at_mark_done``: read the move as
        Mark Done will, once Odoo picked the manual moves of an order
        producing as they are (``pre_button_mark_done``), typed in the
        form or left as reserved."""
        self.ensure_one()
        rounding = self.product_uom.rounding
        if float_is_zero(self.product_uom_qty, precision_rounding=rounding):
            return True
        production = self.raw_material_production_id
        if not (
            self.picked
            or at_mark_done
            and self.manual_consumption
            and not float_is_zero(
                production.qty_producing,
                precision_rounding=production.product_uom_id.rounding,
            )
        ):
            return False
        if self.manual_consumption and float_is_zero(
            self.quantity, precision_rounding=rounding
        ):
            # Odoo picks manual moves (lines with an operation) as they are
            # at Mark Done: a zero there was never set, it is no record.
            return False
        odoo_qty = float_round(
            (production.qty_producing - production.qty_produced) * self.unit_factor,
            precision_rounding=rounding,
        )
        net = planning.round_up(
            produced_qty * (self.backflush_unit_qty or self._backflush_bom_unit_qty()),
            rounding,
        )
        return all(
            float_compare(self.quantity, qty, precision_rounding=rounding)
            for qty in (odoo_qty, net, self.product_uom_qty)
        )

    def _should_bypass_set_qty_producing(self):
        return (
            self.id in _SET_IN_BATCH.get() or super()._should_bypass_set_qty_producing()
        )

    def _set_quantity_done_prepare_vals(self, qty):
        # Odoo rewrites every line, also those whose quantity stays (Mark
        # Done of a reserved MO): each such write unreserves and reserves the
        # same quants again. Leaving them out changes nothing but the cost;
        # other moves (pickings, other modules) get Odoo's commands as is.
        commands = super()._set_quantity_done_prepare_vals(qty)
        if not self.raw_material_production_id._backflush_is_managed():
            return commands
        lines = {line.id: line for line in self.move_line_ids}
        return [
            command
            for command in commands
            if not (
                command[0] == Command.UPDATE
                and set(command[2]) == {"quantity"}
                and not float_compare(
                    command[2]["quantity"],
                    lines[command[1]].quantity,
                    precision_rounding=lines[command[1]].product_uom_id.rounding,
                )
            )
        ]

    @contextmanager
    def _backflush_set_in_batch(self):
        """Odoo's ``_set_qty_producing`` leaves these moves alone inside
        the block: :meth:`_backflush_set_produced` sets them after it."""
        token = _SET_IN_BATCH.set(frozenset(self.ids))
        try:
            yield
        finally:
            _SET_IN_BATCH.reset(token)

    def _backflush_set_produced(self, production):
        """Set these raw moves of ``production`` as Odoo's
        ``_set_qty_producing`` does (its quantity producing × unit factor,
        picked), with one write for all where Odoo writes each move twice;
        a quantity already right is left as it is."""
        producing = production.qty_producing - production.qty_produced
        for move in self:
            qty = float_round(
                producing * move.unit_factor,
                precision_rounding=move.product_uom.rounding,
            )
            if move._set_quantity_done_prepare_vals(qty):
                move._set_quantity_done(qty)
        self.picked = True

    def _backflush_bom_unit_qty(self):
        """Net quantity per finished unit when the move does not carry it
        (moves made before this module, or by code that skipped
        ``_get_move_raw_values``)."""
        self.ensure_one()
        return self._backflush_line_unit_qty(
            self.raw_material_production_id,
            self.bom_line_id,
            self.product_uom,
            self.product_uom_qty,
        )

    @api.model
    def _backflush_line_unit_qty(self, production, line, uom, demand):
        """Net quantity of ``line`` per finished unit of ``production``, in
        ``uom``, from the BOM line: exact, where Odoo rounds the order's
        demand up. A kit's component has Odoo's own per-unit ``demand``."""
        bom = production.bom_id
        if line.bom_id != bom:
            return demand / (production.product_qty or 1.0)
        per_bom_unit = line.product_uom_id._compute_quantity(
            line.product_qty, uom, round=False
        ) / (bom.product_qty or 1.0)
        return per_bom_unit * production.product_uom_id._compute_quantity(
            1.0, bom.product_uom_id, round=False
        )

    def _backflush_substitutes(self):
        """The active substitutes of the move's BOM line, in order, with the
        factor per unit of the move's own UoM. Not those with serial
        numbers: none is reserved for a line they would stand in for, and
        the backflush never picks serial numbers."""
        self.ensure_one()
        to_line_uom = self.product_uom._compute_quantity(
            1.0, self.bom_line_id.product_uom_id, round=False
        )
        return tuple(
            planning.Substitute(
                product_id=sub.product_id.id,
                factor=sub.factor * to_line_uom,
                # posted in the coarser of its unit's and its product's step
                rounding=self._backflush_step(sub.product_id, sub.product_uom_id),
                to_pool=sub.product_uom_id._compute_quantity(
                    1.0, sub.product_id.uom_id, round=False
                ),
            )
            for sub in self.bom_line_id.substitute_ids.sorted(
                lambda s: (s.sequence, s.id)
            )
            if sub.product_id.active and sub.product_id.tracking != "serial"
        )

    def _backflush_extra_move_vals(self, role, product, uom, qty, line_qty):
        """A raw move of the same MO, BOM line and operation as ``self``,
        covering ``line_qty`` units of the line's component. Added after
        the MO's confirmation (``additional``): Odoo leaves it out of
        backorders, the ledger says what a backorder still owes.

        Born confirmed, not through ``_action_confirm`` (its work is per
        move): it is taken from stock now (the component's demand already
        procured it), it is no kit (the component was exploded when the MO
        was confirmed, kits are refused as substitutes) and it is merged
        with nothing; it is reserved by :meth:`_backflush_pick_demand`."""
        self.ensure_one()
        return self.copy_data(
            {
                "product_id": product.id,
                "product_uom": uom.id,
                "product_uom_qty": qty,
                "backflush_role": role,
                "backflush_line_qty": line_qty,
                "backflush_replaced_move_id": self.id,
                "backflush_unit_qty": 0.0,
                "manual_consumption": False,
                "additional": True,
                "move_orig_ids": [],
                "move_dest_ids": [],
                "procure_method": "make_to_stock",
                "state": "confirmed",
            }
        )[0]

    def _backflush_return_location(self, default):
        """Where what this consumption gives back goes (a correction, an
        unbuild): the line-side bin it was taken from (SPEC §4 *Supply
        locations*), else ``default``, the location the user chose."""
        self.ensure_one()
        production = self.raw_material_production_id
        if production and self.location_id != production.location_src_id:
            return self.location_id
        return default

    def _backflush_return_line_qty(self):
        """Line units a return gives back: its share of the move it
        returns (a substitute counts for the units it stood in for)."""
        self.ensure_one()
        origin = self.origin_returned_move_id
        if not origin.quantity:
            return 0.0
        qty = self.product_uom._compute_quantity(
            self.quantity, origin.product_uom, round=False
        )
        return qty * origin.backflush_line_qty / origin.quantity

    def _backflush_pick_demand(self, serials=None):
        """Pick the whole demand of new backflush moves (confirmed, see
        :meth:`_backflush_extra_move_vals`).

        A planned-scrap move first takes the stock its component just gave
        back (same quants, so the same lots and removal order), in one
        batch; the rest is reserved by Odoo (removal strategy, lots). Serial
        numbers are never picked: a move with serial numbers takes only
        those of ``serials`` ({move id: lots}, those its component gave back
        or those recorded for it)."""
        with_serials = self.filtered(lambda m: m.has_tracking == "serial")
        with_serials._backflush_take_serials(serials or {})
        quants_cache = self._backflush_quants_cache()
        others = self - with_serials
        # Lots staged for other orders are theirs (2- and 3-step manufacturing).
        tracked = others.filtered(lambda m: m.has_tracking != "none")
        held = (
            self.env["mrp.backflush.staging"]._held_for_others(tracked)
            if tracked
            else {}
        )
        taken = others._backflush_take_released(quants_cache, held)
        # Odoo reserves the rest from the quants' reserved quantities.
        self.env["stock.quant"]._backflush_write_reservations()
        rest = others.filtered(
            lambda m: (
                float_compare(
                    taken.get(m.id, 0.0),
                    m.product_qty,
                    precision_rounding=m.product_id.uom_id.rounding,
                )
                < 0
            )
        )
        if rest:
            # mrp marks raw moves created on a running MO as picked, which
            # would make _action_assign skip them.
            rest.picked = False
            by_lot = rest & tracked if held else rest.browse()
            by_lot._backflush_reserve_free(
                {move.id: move.product_uom_qty for move in by_lot}, held
            )
            (rest - by_lot).with_context(quants_cache=quants_cache)._action_assign()
            rest._backflush_set_quantities(
                {move.id: move.product_uom_qty for move in rest}
            )
        self.filtered(lambda m: not m.picked).picked = True

    def _backflush_reserve_free(self, quantities, held=None):
        """Reserve tracked moves up to ``quantities`` (move unit) from the
        location's free lots in removal order, leaving out those ``held``
        ({(product, lot, location): qty}, by default read) for other orders
        (2- and 3-step manufacturing). Odoo reserves a move fed by a pick
        only from what the pick brought: what the plan takes beyond it (an
        under-pick, an order not picked yet) is reserved here too."""
        short = self.filtered(
            lambda m: (
                float_compare(
                    quantities[m.id],
                    m.quantity,
                    precision_rounding=m.product_uom.rounding,
                )
                > 0
            )
        )
        if not short:
            return
        if held is None:
            held = self.env["mrp.backflush.staging"]._held_for_others(short)
        Quant = self.env["stock.quant"]
        needs = {}
        for move in short:
            unit = move.product_id.uom_id
            need = move.product_uom._compute_quantity(
                quantities[move.id] - move.quantity, unit
            )
            for quant in Quant._gather(move.product_id, move.location_id):
                if not quant.lot_id:
                    continue
                free = (
                    quant.quantity
                    - quant.reserved_quantity
                    - held.get((quant.product_id, quant.lot_id, quant.location_id), 0.0)
                )
                if float_compare(free, 0.0, precision_rounding=unit.rounding) <= 0:
                    continue
                need -= move._update_reserved_quantity(
                    min(free, need),
                    quant.location_id,
                    lot_id=quant.lot_id,
                    package_id=quant.package_id,
                    owner_id=quant.owner_id,
                )
                if float_compare(need, 0.0, precision_rounding=unit.rounding) <= 0:
                    break
            if float_compare(need, 0.0, precision_rounding=unit.rounding) > 0:
                needs[move.id] = need
        short.filtered(lambda m: m.id in needs)._backflush_take_from_family(needs)

    def _backflush_take_from_family(self, needs):
        """Reserve for each move ``needs[move.id]`` (product unit) of the
        valid lots the other open orders of its family reserved: the family
        consumes what it reserved as one (the stock read counts it free for
        each of them), e.g. the lot a backorder took over when the order was
        split. The families' lines are read once for all the moves."""
        if not self:
            return
        families = self.raw_material_production_id.procurement_group_id
        lines = (
            families.mrp_production_ids.move_raw_ids.filtered(
                lambda m: (
                    m.product_id in self.product_id
                    and m.state not in ("done", "cancel")
                    and not m._backflush_is_manual()
                )
            )
            .move_line_ids.filtered("lot_id")
            .grouped(
                lambda ml: (
                    ml.move_id.raw_material_production_id.procurement_group_id,
                    ml.product_id,
                )
            )
        )
        taken = self.env["stock.move.line"]
        for move in self:
            unit = move.product_id.uom_id
            production = move.raw_material_production_id
            need = needs[move.id]
            family = production.procurement_group_id
            for line in lines.get((family, move.product_id), ()) if family else ():
                if (
                    line in taken
                    or line.move_id.raw_material_production_id == production
                    or line.lot_id._backflush_is_expired()
                    or not line.location_id.parent_path.startswith(
                        move.location_id.parent_path
                    )
                ):
                    continue
                qty = min(need, line.quantity_product_uom)
                location, lot = line.location_id, line.lot_id
                if (
                    float_compare(
                        qty, line.quantity_product_uom, precision_rounding=unit.rounding
                    )
                    < 0
                ):
                    line.quantity = line.product_id.uom_id._compute_quantity(
                        line.quantity_product_uom - qty, line.product_uom_id
                    )
                else:
                    taken |= line
                    line.unlink()
                need -= move._update_reserved_quantity(qty, location, lot_id=lot)
                if float_compare(need, 0.0, precision_rounding=unit.rounding) <= 0:
                    break

    def _backflush_quants_cache(self):
        """Quants of the moves' products under their source locations, read
        once: Odoo's own ``quants_cache`` spares a search per reservation,
        and reading them together a read per quant."""
        cache = self.env["stock.quant"]._get_quants_by_products_locations(
            self.product_id, self.location_id
        )
        self.env["stock.quant"].union(*cache.values()).mapped("quantity")
        return cache

    def _backflush_prefetch_quants(self):
        """Read at once the quants the moves' lines reserve: Odoo reads each
        one on its own when it reserves and posts them (every group of its
        quants cache is a recordset of its own)."""
        lines = self.move_line_ids
        if lines:
            self.env["stock.quant"].search(
                [
                    ("product_id", "in", lines.product_id.ids),
                    ("location_id", "in", lines.location_id.ids),
                ]
            ).mapped("quantity")

    def _backflush_take_serials(self, serials):
        """Reserve for each move the free stock of its serial numbers
        (``serials``: {move id: lots}) under its source location, valid ones
        only: one read, one batch of move lines."""
        lots = self.env["stock.lot"].union(*serials.values())
        if not self or not lots:
            return
        Quant = self.env["stock.quant"]
        domain = [
            ("lot_id", "in", lots.ids),
            ("location_id", "child_of", self.location_id.ids),
            ("quantity", ">", 0),
        ]
        if Quant._backflush_uses_expiry():
            domain += Quant._backflush_valid_domain()
        quants = Quant.search(domain).grouped("lot_id")
        pending = Quant._backflush_pending_reservations()
        free = {}
        vals_list = []
        for move in self:
            need = move.product_qty
            rounding = move.product_id.uom_id.rounding
            for lot in serials.get(move.id, ()):
                for quant in quants.get(lot, ()):
                    if not quant.location_id.parent_path.startswith(
                        move.location_id.parent_path
                    ):
                        continue
                    available = free.setdefault(
                        quant.id,
                        quant.quantity
                        - quant.reserved_quantity
                        - pending.pop(quant._backflush_key(), 0.0),
                    )
                    qty = min(need, available)
                    if float_compare(qty, 0.0, precision_rounding=rounding) <= 0:
                        continue
                    vals_list.append(move._backflush_reserved_line_vals(quant, qty))
                    free[quant.id] -= qty
                    need -= qty
        self.env["stock.move.line"].create(vals_list)

    def _backflush_reserved_line_vals(self, quant, qty):
        """A picked move line reserving ``qty`` (product unit) of ``quant``."""
        self.ensure_one()
        return dict(
            self._prepare_move_line_vals(quantity=qty, reserved_quant=quant),
            production_id=self.raw_material_production_id.id,
            workorder_id=self.workorder_id.id,
            picked=True,
        )

    def _backflush_take_released(self, quants_cache, held=None):
        """Reserve, for each planned-scrap move, the free stock of the quants
        its component holds, less what is ``held`` for other orders
        ({(product, lot, location): qty}); {move id: quantity taken, in
        product units}."""
        taken = defaultdict(float)
        held = dict(held or {})
        pending = self.env["stock.quant"]._backflush_pending_reservations()
        free = {}
        vals_list = []
        for move in self:
            component = move.backflush_replaced_move_id
            product = move.product_id
            if component.product_id != product or move._should_bypass_reservation():
                continue
            rounding = product.uom_id.rounding
            need = move.product_qty
            keys = dict.fromkeys(
                (ml.location_id.id, ml.lot_id.id, ml.package_id.id, ml.owner_id.id)
                for ml in component.move_line_ids
            )
            for location, lot, package, owner in keys:
                key = (product.id, location, lot, package, owner)
                for quant in quants_cache[key]:
                    available = free.setdefault(
                        quant.id,
                        quant.quantity
                        - quant.reserved_quantity
                        - pending.pop(key, 0.0)
                        - held.pop((product, quant.lot_id, quant.location_id), 0.0),
                    )
                    qty = min(need, available)
                    if float_compare(qty, 0.0, precision_rounding=rounding) <= 0:
                        continue
                    vals_list.append(move._backflush_reserved_line_vals(quant, qty))
                    free[quant.id] -= qty
                    taken[move.id] += qty
                    need -= qty
                    if float_is_zero(need, precision_rounding=rounding):
                        break
                if float_is_zero(need, precision_rounding=rounding):
                    break
        self.env["stock.move.line"].with_context(quants_cache=quants_cache).create(
            vals_list
        )
        return taken

    def _backflush_same_stock_qty(self, qty_a, qty_b):
        """Both quantities (move unit) move the same stock: the product's
        unit, as Odoo converts move lines, cannot tell them apart (187.5 ml
        and 188 ml of a product kept to the ml are both 0.188 L)."""
        self.ensure_one()
        to_unit = self.product_id.uom_id
        qty_a, qty_b = (
            self.product_uom._compute_quantity(q, to_unit, rounding_method="HALF-UP")
            for q in (qty_a, qty_b)
        )
        return not float_compare(qty_a, qty_b, precision_rounding=to_unit.rounding)

    def _backflush_set_quantities(self, quantities):
        """Set each move's quantity to ``quantities[move.id]`` (move unit).

        Lowering it, the usual case (planned scrap is reserved with its
        component; a substitute stands in for it), trims the last move lines
        in a few batched writes; raising it goes through Odoo's
        ``_set_quantity_done``.
        """
        Line = self.env["stock.move.line"]
        trimmed = defaultdict(lambda: Line)  # new quantity -> move lines
        dropped = added = Line
        for move in self:
            qty = quantities[move.id]
            rounding = move.product_uom.rounding
            excess = move.quantity - qty
            lines = move.move_line_ids
            if float_is_zero(
                excess, precision_rounding=rounding
            ) and not move._backflush_moves_other_stock(qty):
                continue
            if float_is_zero(qty, precision_rounding=rounding):
                dropped |= lines
                continue
            if (
                excess < 0
                and lines
                and lines.product_uom_id == move.product_uom
                and move._backflush_same_stock_qty(move.quantity, qty)
            ):
                # Raised within what the product's unit already moves (187.5
                # to 188 ml of a product kept to the ml): the last line takes
                # it, with its lot; no stock is added.
                last = lines.sorted("id")[-1]
                trimmed[
                    float_round(last.quantity - excess, precision_rounding=rounding)
                ] |= last
                continue
            if (
                excess < 0
                and lines.product_uom_id - move.product_uom
                and move.has_tracking != "serial"
            ):
                # A line in the product's unit (0.04 screws of a planned
                # scrap in dozens): Odoo would add the rest in dozens,
                # rounded up (0.0967 to 0.1 dozen, 0.04 screws too many).
                # The rest goes in the product's unit, as Odoo reserves it.
                added |= move._backflush_add_line_in_product_unit(qty)
                continue
            if excess < 0 or lines.product_uom_id != move.product_uom:
                move._set_quantity_done(qty)
                continue
            # Like Odoo, keep the first lines and trim the last ones.
            for line in lines.sorted("id", reverse=True):
                if (
                    float_compare(line.quantity, excess, precision_rounding=rounding)
                    > 0
                ):
                    kept = float_round(
                        line.quantity - excess, precision_rounding=rounding
                    )
                    trimmed[kept] |= line
                    break
                dropped |= line
                excess -= line.quantity
                if float_is_zero(excess, precision_rounding=rounding):
                    break
        added._apply_putaway_strategy()
        if not (dropped or trimmed):
            return
        quants_cache = self._backflush_quants_cache()
        dropped.with_context(quants_cache=quants_cache).unlink()
        for kept, lines in trimmed.items():
            lines.with_context(quants_cache=quants_cache).write({"quantity": kept})

    def _backflush_moves_other_stock(self, qty):
        """Lines in the product's unit move other stock than ``qty`` (move
        unit), by less than the move's unit shows: 0.04 dozen and 0.04
        screws read as 0.04 dozen, and move 0.52 screws."""
        self.ensure_one()
        lines = self.move_line_ids
        if not lines.product_uom_id - self.product_uom:
            return False
        unit = self.product_id.uom_id
        return bool(
            float_compare(
                sum(lines.mapped("quantity_product_uom")),
                self.product_uom._compute_quantity(qty, unit, round=False),
                precision_rounding=unit.rounding,
            )
        )

    def _backflush_add_line_in_product_unit(self, qty):
        """Raise the move to ``qty`` (move unit) with one line in the
        product's unit; return it."""
        self.ensure_one()
        unit = self.product_id.uom_id
        missing = float_round(
            self.product_uom._compute_quantity(qty, unit, round=False)
            - sum(self.move_line_ids.mapped("quantity_product_uom")),
            precision_rounding=unit.rounding,
        )
        if float_compare(missing, 0.0, precision_rounding=unit.rounding) <= 0:
            return self.env["stock.move.line"]
        vals = self._prepare_move_line_vals(quantity=0)
        vals.update(quantity=missing, product_uom_id=unit.id)
        return self.env["stock.move.line"].create(vals)

    def _backflush_align_lines(self):
        """Move lines in steps the product's unit can hold. Odoo posts each
        line at the product's precision, half-up: 125 g and 375 g of a
        product kept to 0.01 kg post 0.13 + 0.38 kg for a 500 g move. The
        lines keep their total, each rounded on the running sum."""
        Line = self.env["stock.move.line"]
        by_qty, dropped = defaultdict(lambda: Line), Line
        for move in self:
            step = move._backflush_rounding()
            lines = move.move_line_ids.sorted("id")
            if step <= move.product_uom.rounding or lines.product_uom_id != (
                move.product_uom
            ):
                continue
            total = aligned = 0.0
            for line in lines:
                total += line.quantity
                qty = float_round(
                    float_round(total, precision_rounding=step) - aligned,
                    precision_rounding=move.product_uom.rounding,
                )
                aligned += qty
                if float_is_zero(qty, precision_rounding=move.product_uom.rounding):
                    dropped |= line
                elif float_compare(
                    qty, line.quantity, precision_rounding=move.product_uom.rounding
                ):
                    by_qty[qty] |= line
        if not (by_qty or dropped):
            return
        quants_cache = self._backflush_quants_cache()
        dropped.with_context(quants_cache=quants_cache).unlink()
        for qty, lines in by_qty.items():
            lines.with_context(quants_cache=quants_cache).write({"quantity": qty})

    def _backflush_run_line_vals(self, plan_line, extra_moves):
        """Run lines of one planned move: the component itself, its planned
        scrap and the substitutes that stood in for it. Each line adds up:
        planned = consumed (in component units) + short."""
        self.ensure_one()
        req = plan_line.requirement
        net_planned = plan_line.net_required_qty
        scrap_planned = plan_line.required_qty - net_planned
        common = {
            "bom_line_id": self.bom_line_id.id,
            "location_id": self.location_id.id,
        }
        short = plan_line.action in (planning.POLICY_NEGATIVE, planning.POLICY_DEFER)
        net_short = plan_line.net_shortage_qty if short else 0.0
        scrap_short = plan_line.shortage_qty - net_short if short else 0.0
        if plan_line.action == planning.POLICY_NEGATIVE:
            net_short, scrap_short = plan_line.shortage_qty, 0.0
        vals = [
            dict(
                common,
                product_id=self.product_id.id,
                role="component",
                move_id=self.id,
                product_uom_id=self.product_uom.id,
                planned_qty=net_planned,
                consumed_qty=plan_line.qty(planning.ROLE_COMPONENT, self.product_id.id),
                shortage_qty=net_short,
                shortage_action=plan_line.action if net_short else False,
            )
        ]
        # The planned scrap is planned in the component's unit: on its own
        # planned-scrap line, also when it is short or substitutes covered it
        # (their lines say what they replaced).
        own_scrap = extra_moves.filtered(
            lambda m: (
                m.backflush_role == planning.ROLE_PLANNED_SCRAP
                and m.product_id == self.product_id
            )
        )
        if scrap_planned and not own_scrap:
            vals.append(
                dict(
                    common,
                    product_id=self.product_id.id,
                    role=planning.ROLE_PLANNED_SCRAP,
                    product_uom_id=self.product_uom.id,
                    planned_qty=scrap_planned,
                    fixed_scrap_qty=req.fixed_scrap_qty,
                    shortage_qty=scrap_short,
                    shortage_action=plan_line.action if scrap_short else False,
                )
            )
        first_scrap = own_scrap[:1]
        for move in extra_moves:
            is_first = move == first_scrap
            vals.append(
                dict(
                    common,
                    product_id=move.product_id.id,
                    role=move.backflush_role,
                    move_id=move.id,
                    product_uom_id=move.product_uom.id,
                    planned_qty=scrap_planned if is_first else 0.0,
                    consumed_qty=move.product_uom_qty,
                    fixed_scrap_qty=req.fixed_scrap_qty if is_first else 0.0,
                    shortage_qty=scrap_short if is_first else 0.0,
                    shortage_action=plan_line.action
                    if is_first and scrap_short
                    else False,
                    replaced_product_id=(
                        self.product_id.id
                        if move.product_id != self.product_id
                        else False
                    ),
                    replaced_qty=self.product_uom._compute_quantity(
                        move.backflush_line_qty, self.product_id.uom_id
                    )
                    if move.product_id != self.product_id
                    else 0.0,
                )
            )
        return vals

    def _backflush_recorded_run_line_vals(self, produced_qty):
        """The run line of a quantity recorded by hand: planned from the
        BOM, consumed as recorded."""
        self.ensure_one()
        return [
            {
                "bom_line_id": self.bom_line_id.id,
                "location_id": self.location_id.id,
                "product_id": self.product_id.id,
                "role": "component",
                "move_id": self.id,
                "product_uom_id": self.product_uom.id,
                "planned_qty": planning.round_up(
                    produced_qty
                    * (self.backflush_unit_qty or self._backflush_bom_unit_qty()),
                    self.product_uom.rounding,
                ),
                "consumed_qty": self.quantity,
                "recorded": True,
            }
        ]

    def _backflush_display_rank(self):
        """{move id: sort key} that lists the lines of one component
        together where its first line is, the component line first, then
        its substitutes, planned scrap, scrap, deferred postings and
        corrections, each in posting order."""
        roles = [role for role, _label in BACKFLUSH_ROLES]
        groups = {}
        for move in self:
            group = move.bom_line_id or move.product_id
            groups.setdefault(group, len(groups))
        return {
            move.id: (
                groups[move.bom_line_id or move.product_id],
                roles.index(move.backflush_role)
                if move.backflush_role in roles
                else len(roles),
                move.id,
            )
            for move in self
        }

    def _backflush_exception_vals(self, plan_line):
        self.ensure_one()
        return {
            "production_id": self.raw_material_production_id.id,
            "move_id": self.id,
            "product_id": self.product_id.id,
            "bom_line_id": self.bom_line_id.id,
            "quantity": plan_line.shortage_qty,
            "product_uom_id": self.product_uom.id,
            "location_id": self.location_id.id,
        }
