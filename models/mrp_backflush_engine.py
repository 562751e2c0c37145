# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The backflush engine: what a trigger posts for a set of MOs, planned once
and then either posted (Mark Done, work-order finish) or shown (preview).

Read in order: :meth:`MrpBackflushEngine._plan` selects the moves, sets
aside what is posted as recorded, reads the ledger and the stock and plans
with the pure planner (``planning.py``); :meth:`MrpBackflushEngine._post`
refuses or posts that plan. The preview shows the same plan object, so it
cannot tell another story than the posting.
"""

from dataclasses import dataclass, field

from odoo import api, models
from odoo.exceptions import UserError
from odoo.tools import float_is_zero, float_round

from .. import planning


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

    @api.model
    def _plan(self, productions, trigger, workorders=None, after=()):
        """Plan what ``trigger`` posts for ``productions`` now, writing
        nothing. ``after``: plans posted before this one in the same action
        (Mark Done finishes open work orders first); their consumption is no
        longer in stock for this one."""
        moves = productions._backflush_get_moves(trigger, workorders)
        archived = moves.product_id.filtered(lambda p: not p.active)
        produced_by_mo = {
            mo: mo._backflush_produced_qty() for mo in moves.raw_material_production_id
        }
        recorded = moves.filtered(
            lambda m: m._backflush_is_recorded(
                produced_by_mo[m.raw_material_production_id]
            )
        )
        moves -= recorded
        lines, pool = self._plan_moves(productions, moves, produced_by_mo, after)
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
    def _plan_moves(self, productions, moves, produced_by_mo, after):
        """Read the ledger and the stock once, plan ``moves``; return the
        plan and the stock it was planned on."""
        if not moves:
            return planning.Plan([]), {}
        requirements = productions._backflush_requirements(moves, produced_by_mo)
        substituting = moves.filtered(
            lambda m: (
                m.raw_material_production_id.bom_id.backflush_substitution != "none"
            )
        )
        products = moves.product_id | substituting.bom_line_id.substitute_ids.product_id
        before = self.env["stock.move"].union(*(plan.moves for plan in after))
        pool = productions._backflush_stock_pool(
            moves, products, own_moves=moves | before if after else None
        )
        for plan in after:
            for key, qty in self._consumption(plan).items():
                if key in pool:
                    pool[key] -= qty
        for key, qty in self._set_by_mark_done(productions, moves, pool).items():
            pool[key] -= qty
        return planning.plan(requirements, pool), pool

    @api.model
    def _set_by_mark_done(self, productions, moves, pool):
        """Stock Mark Done of ``productions`` takes before the backflush
        posts, per key of ``pool``: Odoo sets the quantities of each order
        with nothing producing (``_set_quantities``), reserving beyond the
        stock if need be. What it sets on the lines the families of
        ``moves`` backflush stays theirs (see ``_backflush_stock_pool``);
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

    @api.model
    def _plan_mark_done(self, productions, after=()):
        """The plans Mark Done of ``productions`` posts, in order: Odoo
        finishes their open work orders first (the lines consumed in an
        operation), then the lines posted at Mark Done."""
        workorders = productions.workorder_ids.filtered(
            lambda w: w.state not in ("done", "cancel")
        )
        plans = []
        if workorders:
            plans.append(self._plan(productions, "operation", workorders, after))
        plans.append(self._plan(productions, "mark_done", after=(*after, *plans)))
        return plans

    @api.model
    def _plan_producible(self, productions):
        """What producing ``productions`` (in this order) can post: the
        plans of the orders that can be produced, each taking its stock in
        turn as if the refused ones were left out, then the plans of the
        refused orders against what the others leave. Return (plans,
        refused plans, refused orders)."""
        refused = productions.browse()
        while True:
            plans = self._plan_mark_done(productions - refused)
            new = self._refused_in_turn(plans)
            if not new:
                break
            refused |= new
        later = self._plan_mark_done(refused, after=plans) if refused else []
        return plans, later, refused

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
        plan.productions._backflush_check_blocked(plan.lines)

    @api.model
    def _post(self, plan):
        """Post ``plan``; return the runs written."""
        moves, recorded = plan.moves, plan.recorded
        if not (moves or recorded):
            return self.env["mrp.backflush.run"]
        self._check(plan)
        productions = plan.productions
        trigger, workorders = plan.trigger, plan.workorders
        plan_by_move = plan.plan_by_move
        moves._backflush_prefetch_quants()
        # Components first: what they release is then reserved, in one
        # batch, by the planned-scrap and substitute moves.
        released = productions._backflush_set_component_quantities(
            moves, plan_by_move, trigger
        )
        recorded._backflush_write(
            {"backflush_role": "component", "backflush_recorded": True}
        )
        for move in recorded:
            move._backflush_write({"backflush_line_qty": move.quantity})
        new_moves = productions._backflush_create_extra_moves(
            moves, plan_by_move, released
        )
        (moves | new_moves)._backflush_align_lines()
        runs = productions._backflush_create_runs(
            trigger,
            moves | recorded,
            new_moves,
            plan_by_move,
            plan.produced_by_mo,
            workorders,
        )
        productions._backflush_create_exceptions(moves, plan_by_move)
        if trigger == "operation":
            # Posted now, not at Mark Done; the rest of the demand is closed.
            (moves | recorded | new_moves).with_context(
                skip_mo_check=True
            )._action_done(cancel_backorder=True)
        return runs
