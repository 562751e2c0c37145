# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Pure-Python backflush planner: what to post, never how.

No ORM here, so the rules can be tested on their own (see
``tests/test_planning.py``) and shared by the preview and the posting.
The engine (``mrp.backflush.engine._plan``) translates moves into
:class:`Requirement` objects and the :class:`Plan` back into moves.

All quantities of a requirement are in its own unit (the move's UoM); the
stock pool is in the product's reference unit, ``to_pool`` converts.
"""

import math
from dataclasses import dataclass, field

from odoo.tools.float_utils import float_compare, float_is_zero

ROLE_COMPONENT = "component"
ROLE_SUBSTITUTE = "substitute"
ROLE_PLANNED_SCRAP = "planned_scrap"

POLICY_BLOCK = "block"
POLICY_NEGATIVE = "negative"
POLICY_DEFER = "defer"

SUBSTITUTION_NONE = "none"
SUBSTITUTION_PRIORITY = "priority"
SUBSTITUTION_FULL = "full"


def _steps(qty, rounding):
    """``qty`` in steps of ``rounding``, with a tolerance for binary noise.

    Not Odoo's ``float_round``: its tolerance (2**-50 of the value) does not
    absorb the noise of a difference of rounded quantities (0.13 - 0.12 is
    0.010000000000000009, which it rounds up to 0.02)."""
    steps = qty / rounding
    return steps, abs(steps) * 2**-40 + 1e-9


def round_up(qty, rounding):
    """Round ``qty`` up to a multiple of ``rounding`` (3 * 0.1 stays 0.3)."""
    if rounding <= 0 or math.isinf(qty):
        return qty
    steps, eps = _steps(qty, rounding)
    return math.ceil(steps - eps) * rounding if steps > 0 else 0.0


def round_down(qty, rounding):
    if rounding <= 0 or math.isinf(qty):
        return qty
    steps, eps = _steps(qty, rounding)
    return math.floor(steps + eps) * rounding if steps > 0 else 0.0


def is_zero(qty, rounding):
    return float_is_zero(qty, precision_rounding=rounding)


def is_nil(qty, rounding):
    """Nothing left at all: below float noise, not below half a unit (a
    remainder of 0.01 still needs one more unit of a coarse substitute)."""
    return abs(qty) < rounding * 1e-6


@dataclass(frozen=True)
class Substitute:
    """``factor`` substitute units (in ``rounding``'s unit) replace one unit
    of the requirement's component."""

    product_id: int
    factor: float
    rounding: float
    to_pool: float = 1.0


@dataclass
class Requirement:
    key: object
    product_id: int
    location_id: int
    net_qty: float
    scrap_qty: float = 0.0
    rounding: float = 0.01
    to_pool: float = 1.0
    policy: str = POLICY_BLOCK
    substitution: str = SUBSTITUTION_NONE
    substitutes: tuple = ()
    fixed_scrap_qty: float = 0.0  # part of scrap_qty, reported apart
    # Pool location key of the stock staged for this requirement's order
    # (picked to pre-production for it): drawn first, and only by it.
    staged_key: object = None
    # Serial-tracked: what the serial numbers reserved or recorded for it
    # cover, all it may consume (serials are never picked for it). None:
    # not serial-tracked, the pool is its limit.
    serial_qty: float = None
    # Lot-tracked: what the valid lots reserved or recorded for it cover.
    # Under policy negative only that may go below zero, on those lots: the
    # rest has no lot to post on (Odoo refuses a tracked line without one).
    # None: no lot needed.
    lot_qty: float = None

    @property
    def on_lots_qty(self):
        """What its lots or serial numbers let go below zero; None: the
        whole shortage may."""
        return self.serial_qty if self.serial_qty is not None else self.lot_qty


@dataclass
class PlanMove:
    """One quantity to post, in the unit of its own product."""

    role: str
    product_id: int
    qty: float
    replaces_qty: float = 0.0  # component units this move covers


@dataclass
class PlanLine:
    requirement: Requirement
    required_qty: float
    available_qty: float
    moves: list = field(default_factory=list)
    shortage_qty: float = 0.0
    action: str = "none"  # none / block / negative / defer
    staged_qty: float = 0.0  # pool units the component took from its staged stock

    @property
    def net_required_qty(self):
        """The net share of ``required_qty`` (the rest is planned scrap)."""
        req = self.requirement
        return min(round_up(req.net_qty, req.rounding), self.required_qty)

    @property
    def net_shortage_qty(self):
        """What stays short of the net share: planned scrap is short first."""
        covered = sum(
            m.replaces_qty for m in self.moves if m.role != ROLE_PLANNED_SCRAP
        )
        return max(self.net_required_qty - covered, 0.0)

    def qty(self, role, product_id=None):
        return sum(
            m.qty
            for m in self.moves
            if m.role == role and (product_id is None or m.product_id == product_id)
        )


@dataclass
class Plan:
    lines: list
    left: dict = field(default_factory=dict)  # the stock pool after the plan

    @property
    def blocked(self):
        return [line for line in self.lines if line.action == POLICY_BLOCK]


def _take(pool, product_id, location_id, qty_in_pool):
    key = (product_id, location_id)
    pool[key] = pool.get(key, 0.0) - qty_in_pool


def _take_component(pool, req, qty_in_pool):
    """Take the component from the stock staged for ``req`` first, then
    from the location's free stock; return what came from the staged."""
    staged = 0.0
    if req.staged_key is not None:
        key = (req.product_id, req.staged_key)
        staged = min(max(pool.get(key, 0.0), 0.0), qty_in_pool)
        pool[key] = pool.get(key, 0.0) - staged
    _take(pool, req.product_id, req.location_id, qty_in_pool - staged)
    return staged


def _split_component(req, from_component):
    """Split what the component itself posts into its net and scrap parts:
    net first, so a short component shows up as missing scrap last."""
    net = min(round_up(req.net_qty, req.rounding), from_component)
    moves = []
    if not is_zero(net, req.rounding):
        moves.append(PlanMove(ROLE_COMPONENT, req.product_id, net, net))
    scrap = from_component - net
    if not is_zero(scrap, req.rounding):
        moves.append(PlanMove(ROLE_PLANNED_SCRAP, req.product_id, scrap, scrap))
    return moves


def _split_substitutes(sub_moves, net_left, req):
    """Planned scrap stays planned scrap whichever product covers it: a
    substitute fills the net share left first, the rest of its quantity
    posts with role planned scrap."""
    rounding = {sub.product_id: sub.rounding for sub in req.substitutes}
    moves = []
    for move in sub_moves:
        net = min(move.replaces_qty, max(net_left, 0.0))
        net_left -= net
        scrap = move.replaces_qty - net
        if is_nil(scrap, req.rounding) or is_nil(net, req.rounding):
            role = (
                ROLE_SUBSTITUTE if is_nil(scrap, req.rounding) else ROLE_PLANNED_SCRAP
            )
            moves.append(PlanMove(role, move.product_id, move.qty, move.replaces_qty))
            continue
        net_qty = min(
            round_up(move.qty * net / move.replaces_qty, rounding[move.product_id]),
            move.qty,
        )
        moves.append(PlanMove(ROLE_SUBSTITUTE, move.product_id, net_qty, net))
        if not is_zero(move.qty - net_qty, rounding[move.product_id]):
            moves.append(
                PlanMove(ROLE_PLANNED_SCRAP, move.product_id, move.qty - net_qty, scrap)
            )
    return moves


def _substitute(req, shortfall, pool):
    """Cover ``shortfall`` (component units) from substitutes; return the
    moves and what stays short. ``pool`` is consumed."""
    moves = []
    subs = req.substitutes
    if req.substitution == SUBSTITUTION_FULL:
        for sub in subs:
            avail = (
                max(pool.get((sub.product_id, req.location_id), 0.0), 0.0) / sub.to_pool
            )
            need = round_up(shortfall * sub.factor, sub.rounding)
            avail = round_down(avail, sub.rounding)
            if float_compare(avail, need, precision_rounding=sub.rounding) >= 0:
                _take(pool, sub.product_id, req.location_id, need * sub.to_pool)
                return [PlanMove(ROLE_SUBSTITUTE, sub.product_id, need, shortfall)], 0.0
        return moves, shortfall
    for sub in subs:  # priority
        if is_nil(shortfall, req.rounding):
            break
        avail = max(pool.get((sub.product_id, req.location_id), 0.0), 0.0) / sub.to_pool
        avail = round_down(avail, sub.rounding)
        need = round_up(shortfall * sub.factor, sub.rounding)
        if float_compare(avail, need, precision_rounding=sub.rounding) >= 0:
            qty, covered = need, shortfall
        else:
            # Covering a part, it covers whole steps of the component: what
            # stays short is then exact, never rounded up over the need.
            covered = round_down(avail / sub.factor, req.rounding)
            qty = round_up(covered * sub.factor, sub.rounding)
        if is_zero(qty, sub.rounding) or is_zero(covered, req.rounding):
            continue
        _take(pool, sub.product_id, req.location_id, qty * sub.to_pool)
        moves.append(PlanMove(ROLE_SUBSTITUTE, sub.product_id, qty, covered))
        shortfall = max(shortfall - covered, 0.0)
    return moves, shortfall


def plan(requirements, pool):
    """Plan every requirement against the shared stock ``pool``.

    ``pool`` maps ``(product_id, location_id)`` to the quantity available
    (reference unit) and is consumed in requirement order, so two lines or
    two MOs drawing on the same short stock never both get it.
    """
    pool = dict(pool)
    lines = []
    for req in requirements:
        required = round_up(req.net_qty + req.scrap_qty, req.rounding)
        in_pool = max(pool.get((req.product_id, req.location_id), 0.0), 0.0)
        if req.staged_key is not None:
            in_pool += max(pool.get((req.product_id, req.staged_key), 0.0), 0.0)
        available = round_down(in_pool / req.to_pool, req.rounding)
        if req.serial_qty is not None:
            available = min(available, round_down(req.serial_qty, req.rounding))
        line = PlanLine(req, required, available)
        lines.append(line)
        from_component = min(required, available)
        line.staged_qty = _take_component(pool, req, from_component * req.to_pool)
        shortfall = required - from_component
        sub_moves = []
        if (
            not is_nil(shortfall, req.rounding)
            and req.substitution != SUBSTITUTION_NONE
        ):
            sub_moves, shortfall = _substitute(req, shortfall, pool)
        shortfall = round_up(shortfall, req.rounding)
        on_lots_qty = req.on_lots_qty
        if req.policy == POLICY_NEGATIVE and on_lots_qty is not None:
            # Lots and serial numbers recorded beyond the stock go negative
            # on them (as Odoo posts them); the rest has none to post on: it
            # waits for one.
            on_lots = min(
                shortfall,
                max(round_down(on_lots_qty, req.rounding) - from_component, 0.0),
            )
            if not is_zero(on_lots, req.rounding):
                _take(pool, req.product_id, req.location_id, on_lots * req.to_pool)
                from_component += on_lots
                shortfall = round_up(shortfall - on_lots, req.rounding)
                line.shortage_qty = on_lots
                line.action = POLICY_NEGATIVE
        if not is_zero(shortfall, req.rounding):
            line.shortage_qty = shortfall
            line.action = req.policy
            if req.policy == POLICY_NEGATIVE and on_lots_qty is not None:
                line.action = POLICY_DEFER
            if line.action == POLICY_NEGATIVE:
                _take(pool, req.product_id, req.location_id, shortfall * req.to_pool)
                from_component += shortfall
        component_moves = _split_component(req, from_component)
        net_left = line.net_required_qty - sum(
            m.qty for m in component_moves if m.role == ROLE_COMPONENT
        )
        line.moves = component_moves + _split_substitutes(sub_moves, net_left, req)
    return Plan(lines, pool)
