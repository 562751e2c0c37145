# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The backflush engine: what a trigger posts for a set of MOs, planned once
and then either posted (Mark Done, work-order finish) or shown (preview).
Every step is here, in the order it runs:

1. Plan (``_plan``): select the moves (``_get_moves``), set aside what is
   posted as recorded, read what each order produces now
   (``_produced_qty``), what its family's ledger still owes
   (``_requirements``, through ``mrp.backflush.ledger``) and the stock
   (``_stock_pool``, ``_set_by_mark_done``), then plan with the pure
   planner (``planning.py``).
2. The plans of one action (``_plan_mark_done``, ``_plan_producible``):
   open work orders first, then Mark Done; refused orders last.
3. Post (``_post``): refuse the plan (``_check``, ``_check_blocked``) or
   write it: component quantities, planned-scrap and substitute moves,
   runs, exceptions.

Last, the demand of the raw moves (``_demand``), set when an order is
created or split. The preview shows the same plan object, so it cannot tell
another story than the posting. Methods take the orders or moves as
arguments; ``mrp.production`` keeps the order's predicates
(``_backflush_is_managed``, ``_backflush_is_finishing``) and the entry
point, ``_backflush``.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_compare, float_is_zero, float_round, format_date

from .. import planning
from .stock_quant import VALID_LOTS_ONLY


@dataclass
class BackflushPlan:
    """What one trigger posts for ``productions``.

    ``moves`` are planned from the BOM (``lines``, one per move, in move
    order), ``recorded`` are posted as they were recorded; ``archived``
    components refuse the whole posting, as blocked lines do."""

    productions: object
    trigger: str
    workorders: object
    moves: object
    recorded: object
    archived: object
    produced_by_mo: dict
    lines: planning.Plan
    pool: dict = field(default_factory=dict)  # the stock it was planned on
    plan_by_move: dict = field(default_factory=dict)

    def __post_init__(self):
        self.plan_by_move = {line.requirement.key: line for line in self.lines.lines}


class MrpBackflushEngine(models.AbstractModel):
    _name = "mrp.backflush.engine"
    _description = "Backflush Engine"

    # ------------------------------------------------------------------
    # Plan: selection, ledger, stock, planner
    # ------------------------------------------------------------------
    @api.model
    def _plan(
        self,
        productions,
        trigger,
        workorders=None,
        after=(),
        selection=None,
        at_mark_done=False,
    ):
        """Plan what ``trigger`` posts for ``productions`` now, writing
        nothing. ``after``: plans posted before this one in the same action
        (Mark Done finishes open work orders first); their consumption is no
        longer in stock for this one. ``selection``: the orders of the
        action whose reservations are free for these (default:
        ``productions``), see ``_stock_pool``. ``at_mark_done``: planned
        before Mark Done runs (the preview), see
        ``stock.move._backflush_is_recorded``."""
        moves = self._get_moves(productions, trigger, workorders)
        archived = moves.product_id.filtered(lambda p: not p.active)
        produced_by_mo = {
            mo: self._produced_qty(mo) for mo in moves.raw_material_production_id
        }
        recorded = moves.filtered(
            lambda m: m._backflush_is_recorded(
                produced_by_mo[m.raw_material_production_id], at_mark_done
            )
        )
        recorded -= self._covered_zeros(recorded, produced_by_mo)
        moves -= recorded
        lines, pool = self._plan_moves(
            productions, moves, produced_by_mo, after, selection, recorded
        )
        return BackflushPlan(
            productions=productions,
            trigger=trigger,
            workorders=workorders,
            moves=moves,
            recorded=recorded,
            archived=archived,
            produced_by_mo=produced_by_mo,
            lines=lines,
            pool=pool,
        )

    @api.model
    def _covered_zeros(self, moves, produced_by_mo):
        """Of ``moves``, those with nothing demanded, picked or recorded on
        them because their family already posted their order's units (Odoo
        splits a backorder off an order whose work order posted the line
        for every unit): no one set that zero, the ledger owes nothing."""
        zeros = moves.filtered(
            lambda m: (
                not m.picked
                and float_is_zero(
                    m.product_uom_qty, precision_rounding=m.product_uom.rounding
                )
                and float_is_zero(m.quantity, precision_rounding=m.product_uom.rounding)
            )
        )
        if not zeros:
            return zeros
        ledger = self.env["mrp.backflush.ledger"]
        moves_by_key = {
            (
                ledger._family_key(move.raw_material_production_id),
                move.bom_line_id,
            ): move
            for move in zeros
        }
        entries = ledger._entries(
            zeros.raw_material_production_id, zeros.bom_line_id, moves_by_key
        )
        return zeros.filtered(
            lambda m: (
                not entries[
                    ledger._family_key(m.raw_material_production_id), m.bom_line_id
                ].new_units(
                    produced_by_mo[m.raw_material_production_id],
                    m.raw_material_production_id.id,
                )
            )
        )

    @api.model
    def _get_moves(self, productions, trigger="mark_done", workorders=None):
        """Raw moves of ``productions`` the backflush posts now.

        Moves the operator recorded by hand (manual consumption) and moves
        already posted are left alone; ``operation`` lines post when their
        work order finishes, ``finish`` lines at Mark Done. Subcontracted
        MOs are left to Odoo (see ``mrp.production._backflush_is_managed``).
        """
        return productions._backflush_is_managed().move_raw_ids.filtered(
            lambda m: (
                m.state not in ("done", "cancel")
                and m.bom_line_id
                and not m._backflush_is_manual()
                and m.backflush_role in (False, "component")
                and m._backflush_trigger() == trigger
                and (workorders is None or m.workorder_id in workorders)
            )
        )

    @api.model
    def _produced_qty(self, production):
        """Finished quantity (production UoM) ``production`` posts now: what
        the operator set as producing, else the whole remaining quantity,
        as Mark Done and vanilla's work-order finish assume."""
        production.ensure_one()
        return (
            production.qty_producing or production.product_qty
        ) - production.qty_produced

    @api.model
    def _plan_moves(
        self, productions, moves, produced_by_mo, after, selection=None, recorded=None
    ):
        """Read the ledger and the stock once, plan ``moves`` beside the
        ``recorded`` ones; return the plan and the stock it was planned
        on."""
        if not moves:
            return planning.Plan([]), {}
        requirements = self._requirements(moves, produced_by_mo, recorded)
        substituting = moves.filtered(
            lambda m: (
                m.raw_material_production_id.bom_id.backflush_substitution != "none"
            )
        )
        products = moves.product_id | substituting.bom_line_id.substitute_ids.product_id
        before = self.env["stock.move"].union(*(plan.moves for plan in after))
        pool = self._stock_pool(
            moves,
            products,
            own_moves=moves | before if after else None,
            productions=selection,
        )
        for plan in after:
            for key, qty in self._consumption(plan).items():
                if key in pool:
                    pool[key] -= qty
        for key, qty in self._set_by_mark_done(productions, moves, pool).items():
            pool[key] -= qty
        return planning.plan(requirements, pool), pool

    @api.model
    def _requirements(self, moves, produced_by_mo, recorded=None):
        """Turn raw moves into planner requirements, in move order: each
        posts what its family's ledger still owes its BOM line. A line of
        an order with a quantity ``recorded`` by hand in the same posting
        posts that record for the order's units, nothing more."""
        ledger = self.env["mrp.backflush.ledger"]
        staging = self.env["mrp.backflush.staging"]
        moves_by_key = {}
        for move in moves:
            family = ledger._family_key(move.raw_material_production_id)
            moves_by_key.setdefault((family, move.bom_line_id), move)
        entries = ledger._entries(
            moves.raw_material_production_id, moves.bom_line_id, moves_by_key
        )
        requirements = []
        planned = {
            (move.raw_material_production_id, move.bom_line_id)
            for move in recorded or ()
            # a zero is cancelled, not posted (the ledger counts no record)
            if not float_is_zero(
                move.quantity, precision_rounding=move.product_uom.rounding
            )
        }
        for move in moves:
            production = move.raw_material_production_id
            bom = production.bom_id
            uom = move.product_uom
            entry = entries[(ledger._family_key(production), move.bom_line_id)]
            produced = produced_by_mo[production]
            if move.bom_line_id.bom_id == bom:
                # A line of the order's own BOM with two moves (Odoo's split
                # copies a done move beside the rest of its demand): the
                # order's units are counted once, the second posts the rest.
                if (production, move.bom_line_id) in planned:
                    produced = 0.0
                planned.add((production, move.bom_line_id))
            net, scrap = entry.to_post(produced, production.id)
            fixed = entry.fixed_now(produced)
            entry.add_produced(produced, production.id)
            entry.posted["component"] += net
            entry.posted["planned_scrap"] += scrap
            requirements.append(
                planning.Requirement(
                    key=move.id,
                    product_id=move.product_id.id,
                    location_id=move.location_id.id,
                    net_qty=net,
                    scrap_qty=scrap,
                    rounding=move._backflush_rounding(),
                    to_pool=uom._compute_quantity(
                        1.0, move.product_id.uom_id, round=False
                    ),
                    policy=move._backflush_shortage_policy(),
                    substitution=bom.backflush_substitution,
                    fixed_scrap_qty=min(fixed, scrap),
                    serial_qty=move._backflush_serial_qty(),
                    lot_qty=move._backflush_lot_qty(),
                    substitutes=move._backflush_substitutes()
                    if bom.backflush_substitution != "none"
                    else (),
                    staged_key=staging._staged_key(
                        ledger._family_key(production), move.location_id
                    ),
                )
            )
        return requirements

    @api.model
    def _stock_pool(self, moves, products, own_moves=None, productions=None):
        """Free quantity of ``products`` under each source location of
        ``moves`` (children included), in reference units: one grouped read.

        What ``own_moves`` reserved is theirs, so it counts as free;
        non-storable products are never short; expired lots are never
        consumed, so they are not counted. By default ``own_moves`` is what
        the MOs of ``moves`` (or ``productions``) and their families
        reserved: a backorder holds
        its share of what the order it was split from reserved, and the
        family consumes it as one (the ledger says what each MO posts).
        Lines recorded by hand are not the backflush's: Odoo consumes what
        they reserved, so it is not free (see ``_set_by_mark_done``).
        """
        locations = moves.location_id
        # In sudo as Odoo's own availability (stock.quant's
        # _get_available_quantity): the MOs' locations are read whatever
        # companies the request has selected.
        Quant = self.env["stock.quant"]
        domain = [
            ("product_id", "in", products.ids),
            ("location_id", "child_of", locations.ids),
        ]
        if Quant._backflush_uses_expiry():
            domain += Quant._backflush_valid_domain()
        quants = Quant.sudo()._read_group(
            domain,
            ["product_id", "location_id"],
            ["quantity:sum", "reserved_quantity:sum"],
        )
        pool = defaultdict(float)
        for product, location, qty, reserved in quants:
            for parent in locations:
                if location.parent_path.startswith(parent.parent_path):
                    pool[product.id, parent.id] += qty - reserved
        if own_moves is None:
            if productions is None:
                productions = moves.raw_material_production_id
            own_moves = moves | (
                productions.procurement_group_id.mrp_production_ids | productions
            ).move_raw_ids.filtered(
                lambda m: (
                    m.state not in ("done", "cancel") and not m._backflush_is_manual()
                )
            )
        for ml in own_moves.move_line_ids:
            if (
                ml.product_id.is_storable
                and ml.state != "done"
                and not ml.lot_id._backflush_is_expired()
            ):
                pool[ml.product_id.id, ml.move_id.location_id.id] += (
                    ml.quantity_product_uom
                )
        # Staged for another order: not free; staged for these: theirs.
        shares = self.env["mrp.backflush.staging"]._pool_shares(
            moves, products, own_moves
        )
        for key, qty in shares.items():
            pool[key] += qty
        for product in products.filtered(lambda p: not p.is_storable):
            for location in locations:
                pool[product.id, location.id] = float("inf")
        return pool

    @api.model
    def _set_by_mark_done(self, productions, moves, pool):
        """Stock Mark Done of ``productions`` takes before the backflush
        posts, per key of ``pool``: Odoo sets the quantities of each order
        with nothing producing (``_set_quantities``), reserving beyond the
        stock if need be. What it sets on the lines the families of
        ``moves`` backflush stays theirs (see ``_stock_pool``);
        what it sets on lines recorded by hand, of these families or of
        other orders, is gone. Once set (at Mark Done itself), nothing is
        left to take."""
        families = moves.raw_material_production_id
        families |= families.procurement_group_id.mrp_production_ids
        idle = productions.filtered(
            lambda p: float_is_zero(
                p.qty_producing, precision_rounding=p.product_uom_id.rounding
            )
        )
        raw = idle.move_raw_ids.filtered(
            lambda m: (
                (
                    m.raw_material_production_id not in families
                    or m._backflush_is_manual()
                )
                and m.state not in ("done", "cancel")
                and m.product_id.is_storable
                and not (m.manual_consumption and m.picked)
                and (m.product_id.id, m.location_id.id) in pool
                and not m.sudo()._should_bypass_set_qty_producing()
            )
        )
        taken = {}
        for move in raw:
            production = move.raw_material_production_id
            # what Odoo's _set_qty_producing sets: the order all produced,
            # one serial number at a time
            producing = production.product_qty - production.qty_produced
            if production.product_tracking == "serial":
                producing = min(producing, 1.0)
            qty = float_round(
                producing * move.unit_factor,
                precision_rounding=move.product_uom.rounding,
            )
            key = (move.product_id.id, move.location_id.id)
            taken[key] = taken.get(key, 0.0) + move.product_uom._compute_quantity(
                qty - move.quantity, move.product_id.uom_id, round=False
            )
        return taken

    # ------------------------------------------------------------------
    # The plans of one action
    # ------------------------------------------------------------------
    @api.model
    def _plan_mark_done(self, productions, after=(), selection=None):
        """The plans Mark Done of ``productions`` will post, in order: Odoo
        finishes their open work orders first (the lines consumed in an
        operation), then the lines posted at Mark Done."""
        workorders = productions.workorder_ids.filtered(
            lambda w: w.state not in ("done", "cancel")
        )
        plans = []
        if workorders:
            plans.append(
                self._plan(
                    productions,
                    "operation",
                    workorders,
                    after,
                    selection,
                    at_mark_done=True,
                )
            )
        plans.append(
            self._plan(
                productions,
                "mark_done",
                after=(*after, *plans),
                selection=selection,
                at_mark_done=True,
            )
        )
        return plans

    @api.model
    def _plan_producible(self, productions):
        """What producing ``productions`` (in this order) can post: the
        plans of the orders that can be produced, each taking its stock in
        turn as if the refused ones were left out (as Produce the Others
        posts them), then the plans of the refused orders as Mark Done of
        the whole selection refuses them. Return (plans, refused plans,
        refused orders)."""
        refused = productions.browse()
        while True:
            plans = self._plan_mark_done(productions - refused)
            new = self._refused_in_turn(plans)
            if not new:
                break
            refused |= new
        if not refused:
            return plans, [], refused
        # Mark Done of the selection counts what the refused orders reserved
        # as free for the orders before them, which may take it; planned on
        # what those leave, the refused orders show the refusal Mark Done
        # gives, not the stock Produce the Others leaves them.
        others = productions - refused
        before = others and self._plan_mark_done(others, selection=productions)
        return plans, self._plan_mark_done(refused, after=before or ()), refused

    @api.model
    def _refused_in_turn(self, plans):
        """Orders refused by the first of ``plans`` that refuses any, each
        order planned in turn on what the orders before it that can be
        produced leave (one refused order takes no stock from the next)."""
        for plan in plans:
            refused = self._refused_orders(plan, plan.lines.lines)
            if not refused:
                continue
            refused = self._refused_orders(plan, ())
            pool = dict(plan.pool)
            for production, lines in self._lines_by_order(plan).items():
                if production in refused:
                    continue
                trial = planning.plan([line.requirement for line in lines], pool)
                if self._refused_orders(plan, trial.lines):
                    refused |= production
                else:
                    pool = trial.left
            return refused
        return self.env["mrp.production"]

    @api.model
    def _lines_by_order(self, plan):
        moves = self._moves_by_id(plan.lines.lines)
        by_order = {}
        for line in plan.lines.lines:
            production = moves[line.requirement.key].raw_material_production_id
            by_order.setdefault(production, []).append(line)
        return by_order

    @api.model
    def _moves_by_id(self, lines):
        """The moves of plan ``lines``, read together."""
        moves = self.env["stock.move"].browse([line.requirement.key for line in lines])
        return {move.id: move for move in moves}

    @api.model
    def _refused_orders(self, plan, lines):
        """Orders whose posting is refused: by a blocked line of ``lines``,
        a component that needs a lot, or an archived component of
        ``plan``."""
        moves = self.env["stock.move"].browse(
            line.requirement.key
            for line in lines
            if line.action == planning.POLICY_BLOCK
        )
        moves |= plan.recorded.filtered(lambda m: self._lot_missing_qty(m))
        moves |= (plan.moves | plan.recorded).filtered(
            lambda m: m.product_id in plan.archived
        )
        return moves.raw_material_production_id

    @api.model
    def _lot_missing_qty(self, move):
        """What of recorded ``move`` has no lot, which Odoo refuses for a
        tracked product ("You need to supply a Lot/Serial Number"). A
        planned line never posts a tracked quantity without a lot: its
        shortage goes negative on its lots only (``planning``)."""
        picking_type = move.picking_type_id
        if move.has_tracking == "none" or (
            picking_type
            and not (picking_type.use_create_lots or picking_type.use_existing_lots)
        ):
            return 0.0
        return sum(
            move.move_line_ids.filtered(lambda ml: not ml.lot_id).mapped("quantity")
        )

    @api.model
    def _consumption(self, plan):
        """Stock ``plan`` takes, per (product, location), reference unit."""
        taken = {}
        for line in plan.lines.lines:
            req = line.requirement
            to_pool = {sub.product_id: sub.to_pool for sub in req.substitutes}
            for move in line.moves:
                key = (move.product_id, req.location_id)
                qty = move.qty * to_pool.get(move.product_id, req.to_pool)
                taken[key] = taken.get(key, 0.0) + qty
            if line.staged_qty:
                # what came from the order's staged stock, not the free stock
                staged_key = (req.product_id, req.staged_key)
                taken[staged_key] = taken.get(staged_key, 0.0) + line.staged_qty
                key = (req.product_id, req.location_id)
                taken[key] -= line.staged_qty
        for move in plan.recorded:
            key = (move.product_id.id, move.location_id.id)
            taken[key] = taken.get(key, 0.0) + move.product_uom._compute_quantity(
                move.quantity, move.product_id.uom_id, round=False
            )
        return taken

    # ------------------------------------------------------------------
    # Post: refuse, or write the moves, runs and exceptions
    # ------------------------------------------------------------------
    @api.model
    def _check(self, plan):
        """Refuse the posting of ``plan`` (nothing is posted): an archived
        component, a line its policy blocks."""
        if plan.archived:
            raise UserError(
                self.env._(
                    "%(products)s is archived: reactivate it, or remove it from "
                    "%(mos)s, before posting its consumption.",
                    products=", ".join(plan.archived.mapped("display_name")),
                    mos=", ".join(
                        (plan.moves | plan.recorded)
                        .filtered(lambda m: m.product_id in plan.archived)
                        .raw_material_production_id.mapped("name")
                    ),
                )
            )
        self._check_blocked(plan)

    @api.model
    def _check_blocked(self, plan):
        """Refuse the posting of ``plan`` when its policy blocks a line,
        saying what is missing where."""
        blocked = plan.lines.blocked
        if not blocked:
            return
        Move = self.env["stock.move"]
        short_moves = Move.browse(line.requirement.key for line in blocked)
        expired = self.env["stock.quant"]._backflush_expired_stock(
            short_moves.product_id, short_moves.location_id
        )
        lines = []
        for line in blocked:
            move = Move.browse(line.requirement.key)
            uom = move.product_uom
            covered = sum(
                m.replaces_qty for m in line.moves if m.role == planning.ROLE_SUBSTITUTE
            )
            values = {
                "mo": move.raw_material_production_id.name,
                "product": move.product_id.display_name,
                "location": move.location_id.display_name,
                "uom": uom.name,
                "needed": uom._backflush_format_qty(line.required_qty),
                "available": uom._backflush_format_qty(line.available_qty),
                "covered": uom._backflush_format_qty(covered),
                "missing": uom._backflush_format_qty(line.shortage_qty),
            }
            if move.has_tracking == "serial":
                lines.append(
                    self.env._(
                        "- %(mo)s: %(product)s needs %(needed)s %(uom)s with serial "
                        "numbers, %(available)s reserved or recorded: %(missing)s "
                        "%(uom)s without serial numbers. The backflush never picks "
                        "serial numbers: reserve or record them on the order.",
                        **values,
                    )
                )
            elif float_is_zero(covered, precision_rounding=uom.rounding):
                lines.append(
                    self.env._(
                        "- %(mo)s: %(product)s needs %(needed)s %(uom)s in "
                        "%(location)s, %(available)s available, %(missing)s missing",
                        **values,
                    )
                )
            else:
                lines.append(
                    self.env._(
                        "- %(mo)s: %(product)s needs %(needed)s %(uom)s in "
                        "%(location)s, %(available)s available, %(covered)s "
                        "covered by substitutes, %(missing)s missing",
                        **values,
                    )
                )
            lots = expired.get((move.product_id.id, move.location_id.id))
            if lots:
                lines.append(
                    self.env._(
                        "  expired lots are never consumed: %(lots)s",
                        lots=", ".join(
                            self.env._(
                                "%(lot)s (%(qty)s %(uom)s, removal date %(date)s)",
                                lot=lot.name,
                                qty=move.product_id.uom_id._backflush_format_qty(qty),
                                uom=move.product_id.uom_id.name,
                                date=format_date(self.env, lot.removal_date),
                            )
                            for lot, qty in lots.items()
                        ),
                    )
                )
        raise UserError(
            self.env._(
                "Not enough components to backflush; nothing was posted.\n%(lines)s\n\n"
                "Receive or move the missing stock into the source location, or "
                "ask a manager to change the BOM's shortage policy.",
                lines="\n".join(lines),
            )
        )

    @api.model
    def _post(self, plan):
        """Post ``plan``; return the runs written."""
        moves, recorded = plan.moves, plan.recorded
        if not (moves or recorded):
            return self.env["mrp.backflush.run"]
        self._check(plan)
        trigger, workorders = plan.trigger, plan.workorders
        plan_by_move = plan.plan_by_move
        moves._backflush_prefetch_quants()
        rest = []
        if trigger == "operation":
            rest = self._rest_of_demand(moves | recorded, plan.produced_by_mo)
        self._reserve_tracked(moves, plan_by_move)
        # Components first: what they release is then reserved, in one
        # batch, by the planned-scrap and substitute moves; a quant changes
        # once, by what no planned scrap took over.
        with self.env["stock.quant"]._backflush_netted_reservations():
            released = self._set_component_quantities(moves, plan_by_move, trigger)
            recorded._backflush_write(
                {"backflush_role": "component", "backflush_recorded": True}
            )
            for move in recorded:
                move._backflush_write({"backflush_line_qty": move.quantity})
            new_moves = self._create_extra_moves(moves, plan_by_move, released)
        (moves | new_moves)._backflush_align_lines()
        runs = self._create_runs(
            trigger,
            moves | recorded,
            new_moves,
            plan_by_move,
            plan.produced_by_mo,
            workorders,
        )
        self._create_exceptions(moves, plan_by_move)
        if trigger == "operation":
            # Posted now, not at Mark Done; the rest of the demand is closed.
            (moves | recorded | new_moves).with_context(
                skip_mo_check=True
            )._action_done(cancel_backorder=True)
            self._create_rest_of_demand(rest)
        return runs

    @api.model
    def _rest_of_demand(self, moves, produced_by_mo):
        """Values of the moves that keep the demand of ``moves`` a work
        order finished for fewer units than their order has left: Mark Done
        may produce more than the work order said (Odoo consumes the
        components of every unit produced), and the ledger then posts what
        those units still owe on them. Read before the demand is written."""
        vals_list = []
        partial = moves.filtered(
            lambda m: not m.raw_material_production_id._backflush_is_finishing()
        )
        for (production, _line), same in partial.grouped(
            lambda m: (m.raw_material_production_id, m.bom_line_id)
        ).items():
            left = production.product_qty - production.qty_produced
            ratio = 1.0 - produced_by_mo[production] / left
            move = same[0]
            qty = float_round(
                sum(same.mapped("product_uom_qty")) * ratio,
                precision_rounding=move.product_uom.rounding,
            )
            if (
                float_compare(qty, 0.0, precision_rounding=move.product_uom.rounding)
                <= 0
            ):
                # the work order finished every unit left: no rest
                continue
            # Odoo's split of a move: no work order, posted at Mark Done
            # (see stock.move._backflush_trigger); one per line.
            vals_list += move.copy_data(move._prepare_move_split_vals(qty))
        return vals_list

    @api.model
    def _create_rest_of_demand(self, vals_list):
        if vals_list:
            self.env["stock.move"].create(vals_list)._action_confirm(merge=False)

    @api.model
    def _reserve_tracked(self, moves, plan_by_move):
        """Tracked components: lines without a lot are only vanilla's
        placeholders; reserve instead, so lots follow the removal strategy.
        Expired lots Odoo reserved are never consumed automatically.
        Serial numbers are never picked: only those reserved or recorded
        are consumed (the plan counted them)."""
        tracked = moves.filtered(lambda m: m.has_tracking != "none")
        tracked.move_line_ids.filtered(
            lambda ml: not ml.lot_id or ml.lot_id._backflush_is_expired()
        ).unlink()
        lots = tracked.filtered(lambda m: m.has_tracking == "lot")
        lots.picked = False
        lots._recompute_state()
        lots._action_assign()
        lots.filtered("move_orig_ids")._backflush_reserve_free(
            {move.id: plan_by_move[move.id].required_qty for move in lots}
        )

    @api.model
    def _set_component_quantities(self, moves, plan_by_move, trigger):
        """Set the components' quantities to the plan; return the serial
        numbers each serial-tracked move gave back ({move id: lots}), which
        its planned scrap takes."""
        serials = moves.filtered(lambda m: m.has_tracking == "serial")
        held = {move.id: move.move_line_ids.lot_id for move in serials}
        quantities = {
            move.id: plan_by_move[move.id].qty(
                planning.ROLE_COMPONENT, move.product_id.id
            )
            for move in moves
        }
        moves._backflush_set_quantities(quantities)
        # The demand reads as what this move was for: its net share (the
        # planned scrap and substitutes have moves of their own). Not when
        # only part of the order is posted (Odoo keeps the rest of the
        # demand on a move of its own). Written once per quantity.
        finishing = moves.filtered(
            lambda m: (
                trigger == "operation"
                or m.raw_material_production_id._backflush_is_finishing()
            )
        )
        by_qty = defaultdict(lambda: self.env["stock.move"])
        for move in moves:
            by_qty[quantities[move.id]] |= move
        for qty, same in by_qty.items():
            same._backflush_write({"backflush_line_qty": qty})
            above = (same & finishing).filtered(
                lambda m, q=qty: float_compare(
                    m.product_uom_qty, q, precision_rounding=m.product_uom.rounding
                )
            )
            if above:
                above.with_context(do_not_unreserve=True).product_uom_qty = qty
        # Vanilla already picked most of them: write only what changes, the
        # inverse of `picked` rewrites every move line.
        moves.filtered(lambda m: not m.picked).picked = True
        moves._backflush_write({"backflush_role": "component"})
        return {move.id: held[move.id] - move.move_line_ids.lot_id for move in serials}

    @api.model
    def _create_extra_moves(self, moves, plan_by_move, released=None):
        """Planned-scrap and substitute moves, created in one call. A
        planned scrap with serial numbers takes those its component gave
        back (``released``: {component move id: lots})."""
        vals_list = []
        Product = self.env["product.product"]
        for move in moves:
            for plan_move in plan_by_move[move.id].moves:
                if plan_move.role == planning.ROLE_COMPONENT:
                    continue
                product = Product.browse(plan_move.product_id)
                uom = move.product_uom
                if product != move.product_id:
                    uom = move.bom_line_id.substitute_ids.filtered(
                        lambda s, p=product: s.product_id == p
                    ).product_uom_id
                vals_list.append(
                    move._backflush_extra_move_vals(
                        plan_move.role,
                        product,
                        uom,
                        plan_move.qty,
                        line_qty=plan_move.replaces_qty,
                    )
                )
        if not vals_list:
            return self.env["stock.move"]
        new_moves = self.env["stock.move"]._backflush_create(vals_list)
        released = released or {}
        new_moves.with_context(**{VALID_LOTS_ONLY: True})._backflush_pick_demand(
            serials={
                move.id: released[move.backflush_replaced_move_id.id]
                for move in new_moves
                if move.backflush_replaced_move_id.id in released
            }
        )
        return new_moves

    @api.model
    def _create_runs(
        self, trigger, moves, new_moves, plan_by_move, produced_by_mo, workorders
    ):
        """One run per order of ``moves``: its lines as posted (planned,
        recorded, and at Mark Done the scrap recorded on the order)."""
        new_by_origin = defaultdict(lambda: self.env["stock.move"])
        for new_move in new_moves:
            new_by_origin[new_move.backflush_replaced_move_id.id] |= new_move
        run_vals = []
        for production, mo_moves in moves.grouped("raw_material_production_id").items():
            lines = []
            for move in mo_moves:
                if move.backflush_recorded:
                    lines += move._backflush_recorded_run_line_vals(
                        produced_by_mo[production]
                    )
                    continue
                line = plan_by_move[move.id]
                lines += move._backflush_run_line_vals(line, new_by_origin[move.id])
            if trigger == "mark_done":
                lines += self._actual_scrap_line_vals(production)
            run_vals.append(
                self._run_vals(
                    production,
                    trigger,
                    lines,
                    workorder_id=workorders
                    and workorders.filtered(
                        lambda w, p=production: w.production_id == p
                    )[:1].id,
                    produced_qty=produced_by_mo[production],
                )
            )
        return self.env["mrp.backflush.run"]._create_postings(run_vals)

    @api.model
    def _run_vals(self, production, trigger, line_vals, **extra):
        """One run of ``production``: what was posted, by which trigger,
        under which policy."""
        production.ensure_one()
        bom = production.bom_id
        return dict(
            {
                "production_id": production.id,
                "bom_id": bom.id,
                "trigger": trigger,
                "backflush_mode": bom.backflush_mode,
                "backflush_shortage_policy": bom.backflush_shortage_policy,
                "backflush_substitution": bom.backflush_substitution,
                "line_ids": [
                    fields.Command.create(
                        dict(
                            vals,
                            production_id=production.id,
                            company_id=production.company_id.id,
                        )
                    )
                    for vals in line_vals
                ],
            },
            **extra,
        )

    @api.model
    def _actual_scrap_line_vals(self, production):
        """Scrap recorded on ``production`` (components or finished units)
        before Mark Done, reported beside the planned scrap of the same
        run."""
        production.ensure_one()
        scrap_moves = production.scrap_ids.move_ids.filtered(
            lambda m: m.state == "done" and not m.backflush_run_id
        )
        return [
            {
                "product_id": move.product_id.id,
                "role": "actual_scrap",
                "move_id": move.id,
                "product_uom_id": move.product_uom.id,
                "consumed_qty": move.quantity,
                "location_id": move.location_id.id,
                "scrap_reason_ids": [
                    fields.Command.set(move.scrap_id.scrap_reason_tag_ids.ids)
                ],
            }
            for move in scrap_moves
        ]

    @api.model
    def _create_exceptions(self, moves, plan_by_move):
        """One pending exception per line deferred by the policy."""
        vals_list = [
            move._backflush_exception_vals(plan_by_move[move.id])
            for move in moves
            if plan_by_move[move.id].action == planning.POLICY_DEFER
        ]
        if vals_list:
            Exceptions = self.env["mrp.backflush.exception"].sudo()
            causes = Exceptions._shortage_causes(moves.product_id, moves.location_id)
            for vals in vals_list:
                vals["cause"] = causes[vals["product_id"], vals["location_id"]]
                if vals["cause"] == "lot_required":
                    vals["cause_detail"] = Exceptions._serials_missing_detail(
                        self.env["product.product"].browse(vals["product_id"]),
                        vals["quantity"],
                        self.env["uom.uom"].browse(vals["product_uom_id"]),
                    )
            Exceptions.create(vals_list)

    # ------------------------------------------------------------------
    # Demand: what the raw moves ask for, set when an order is created or
    # split (Odoo's reservation and consumption check read it)
    # ------------------------------------------------------------------
    @api.model
    def _demand(self, production, bom_line, unit_qty, product, uom):
        """Demand of a raw move of ``production`` for ``bom_line`` (``uom``):
        the order's net and
        its planned scrap, rounded up to a quantity the units can hold, as
        posted. The fixed scrap is only in the demand of the family's first
        MO: the ledger posts it once per family, with the family's first
        posting (the order a backorder is split from), so Odoo's
        consumption check must not expect it again on a backorder."""
        production.ensure_one()
        net = unit_qty * production.product_qty
        scrap = bom_line._get_planned_scrap(
            net, first_posting=production.backorder_sequence <= 1
        )
        return planning.round_up(
            net + scrap, self.env["stock.move"]._backflush_step(product, uom)
        )

    @api.model
    def _set_backorder_demand(self, productions):
        """Odoo copies a backorder's raw moves pro rata of the order split:
        a share of the fixed planned scrap and of the split order's
        rounding. Lines with planned scrap get the backorder's own demand
        (see ``_demand``), which Odoo's consumption check expects;
        what is reserved stays."""
        moves = productions._backflush_is_managed().move_raw_ids.filtered(
            lambda m: (
                m.state not in ("done", "cancel")
                and (m.bom_line_id.scrap_fixed_qty or m.bom_line_id.scrap_percent)
                and m.backflush_unit_qty
                and not m.additional
            )
        )
        by_line = defaultdict(lambda: self.env["stock.move"])
        for move in moves:
            by_line[move.raw_material_production_id, move.bom_line_id] |= move
        by_qty = defaultdict(lambda: self.env["stock.move"])
        for line_moves in by_line.values():
            # A work order finished for part of the order leaves its line in
            # two moves, posted and open, and Odoo copies both: the line's
            # demand goes once, to the largest copy, the others keep theirs.
            move = line_moves.sorted("product_uom_qty")[-1]
            demand = self._demand(
                move.raw_material_production_id,
                move.bom_line_id,
                move.backflush_unit_qty,
                move.product_id,
                move.product_uom,
            ) - sum((line_moves - move).mapped("product_uom_qty"))
            rounding = move.product_uom.rounding
            by_qty[float_round(max(demand, 0.0), precision_rounding=rounding)] |= move
        for qty, same in by_qty.items():
            same.with_context(do_not_unreserve=True).product_uom_qty = qty
