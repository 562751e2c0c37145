# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Pure-Python arithmetic of the BOM accuracy advice: what to suggest for a
BOM line from what was used or counted, never how it is read or shown.

No ORM here, so the rules can be tested on their own (see
``tests/test_advice_rules.py``); the wizard ``mrp.bom.backflush.advice``
reads the figures, calls :func:`suggest_from_consumption` or
:func:`suggest_from_counts` and writes the explanation.

Kinds of suggestion: ``KIND_QTY`` (the line's quantity per BOM quantity),
``KIND_SCRAP`` (the line's planned scrap percentage) or ``None`` (nothing
to apply, ``reason`` says why).
"""

import math
from dataclasses import dataclass

KIND_QTY = "qty"
KIND_SCRAP = "scrap"

# Why a consumption suggestion is what it is (the wizard words each one)
REASON_SCRAP_EXCESS = "scrap_excess"  # recorded scrap explains the excess
REASON_SCRAP_LESS = "scrap_less"  # net met, less scrap than planned
REASON_QTY = "qty"  # the quantity itself is off
REASON_WHOLE_SCRAP = "whole_scrap"  # whole units: the excess becomes scrap
REASON_WHOLE_BELOW = "whole_below"  # whole units, fewer than net, no whole qty
REASON_BELOW_FIXED = "below_fixed"  # less than the constant scrap per MO

# Why evidence from counts is too weak for a suggestion
WEAK_VOLUME = "volume"  # too little backflushed between the counts
WEAK_OTHER = "other"  # other outflows dominate what left the warehouse
WEAK_EXTREME = "extreme"  # the loss is ten times the net quantity or more

# A suggested planned scrap of 1000 % or more is no planned scrap
MAX_SCRAP_PERCENT = 1000.0
_EPSILON = 1e-9


def round_up(value, step):
    """``value`` rounded up to a multiple of ``step``, binary noise aside
    (3 * 0.1 stays 0.3); never below 0."""
    if step <= 0:
        return max(value, 0.0)
    steps = value / step
    steps = math.ceil(steps - abs(steps) * 2**-40 - _EPSILON)
    return max(steps, 0) * step


def is_whole(value):
    return abs(value - round(value)) <= 1e-6 * max(1.0, abs(value))


@dataclass(frozen=True)
class BomLine:
    """A BOM line as planned: ``qty`` of the line's unit per ``bom_qty``
    finished units; ``rounding`` is the line unit's; ``whole_units`` when
    the component is counted in whole units (a per-unit quantity of 4.05
    legs means nothing)."""

    qty: float
    bom_qty: float = 1.0
    scrap_percent: float = 0.0
    scrap_fixed: float = 0.0
    rounding: float = 0.01
    whole_units: bool = False


@dataclass(frozen=True)
class ConsumptionAdvice:
    """Per-unit figures in the line's unit per finished unit."""

    planned_per_unit: float
    observed_per_unit: float
    scrap_per_unit: float
    deviation_percent: float
    kind: str  # KIND_QTY, KIND_SCRAP or None
    current: float
    suggested: float  # 0.0 without a suggestion
    reason: str


def suggest_from_consumption(line, produced, observed, scrap, mo_groups, threshold):
    """Advice for ``line`` from ``produced`` finished units (BOM unit) that
    used ``observed`` components (line unit, actual scrap ``scrap``
    included) over ``mo_groups`` MO families (the constant scrap is planned
    once per family), or None when within ``threshold`` percent.

    A line is off by the part recorded as scrap: when scrap explains at
    least half of an excess, the planned scrap takes it; when less than the
    planned scrap was used but the net quantity was met, the planned scrap
    comes down; otherwise the quantity changes and the planned scrap stays.
    A component counted in whole units never gets a fractional quantity:
    an excess becomes planned scrap, a shortfall the nearest whole quantity
    (or nothing, when that is the current one)."""
    if produced <= 0 or line.qty <= 0 or line.bom_qty <= 0:
        return None
    net_u = line.qty / line.bom_qty
    fixed_u = line.scrap_fixed * mo_groups / produced
    planned_u = net_u * (1 + line.scrap_percent / 100.0) + fixed_u
    observed_u = observed / produced
    scrap_u = scrap / produced
    deviation = (observed_u - planned_u) / planned_u * 100.0
    if abs(deviation) <= threshold + _EPSILON:
        return None
    excess = observed_u - planned_u
    scrap_percent = round_up((observed_u - fixed_u - net_u) / net_u * 100.0, 0.01)
    kind, reason, suggested = KIND_QTY, REASON_QTY, 0.0
    if excess > 0 and scrap_u * 2 >= excess:
        kind, reason = KIND_SCRAP, REASON_SCRAP_EXCESS
    elif excess < 0 and line.scrap_percent and observed_u >= net_u + fixed_u:
        kind, reason = KIND_SCRAP, REASON_SCRAP_LESS
    if kind == KIND_SCRAP:
        suggested = scrap_percent
        if suggested >= MAX_SCRAP_PERCENT:
            kind, reason = KIND_QTY, REASON_QTY
    if kind == KIND_QTY:
        qty = (observed_u - fixed_u) / (1 + line.scrap_percent / 100.0) * line.bom_qty
        suggested = round_up(qty, line.rounding)
        if line.whole_units and not is_whole(qty):
            if observed_u - fixed_u > net_u and scrap_percent < MAX_SCRAP_PERCENT:
                kind, reason, suggested = KIND_SCRAP, REASON_WHOLE_SCRAP, scrap_percent
            else:
                suggested = float(round(qty))
                if suggested <= 0 or abs(suggested - line.qty) < 1e-6:
                    kind, reason, suggested = None, REASON_WHOLE_BELOW, 0.0
        if kind == KIND_QTY and suggested <= 0:
            kind, reason, suggested = None, REASON_BELOW_FIXED, 0.0
    return ConsumptionAdvice(
        planned_per_unit=planned_u,
        observed_per_unit=observed_u,
        scrap_per_unit=scrap_u,
        deviation_percent=deviation,
        kind=kind,
        current=line.scrap_percent if kind == KIND_SCRAP else line.qty,
        suggested=suggested,
        reason=reason,
    )


@dataclass(frozen=True)
class CountAdvice:
    deviation_percent: float  # the line's loss against what it backflushed
    other_percent: float  # other outflows' share of what left the warehouse
    weak: tuple  # WEAK_* reasons; empty when the evidence holds
    kind: str  # KIND_SCRAP or None
    suggested: float  # planned scrap %, 0.0 when weak


def suggest_from_counts(
    scrap_percent,
    booked,
    net,
    variance,
    outflow,
    other,
    threshold,
    min_net=0.0,
    max_other_percent=100.0,
):
    """Advice for a BOM line from the counts, or None when within
    ``threshold`` percent. ``booked``: what the line backflushed between
    the counts (planned scrap included), ``net``: without planned scrap,
    ``variance``: its share of the count variance (negative: a loss),
    ``outflow``: everything that left the warehouse, ``other`` the part
    that is not a BOM line's. All in one unit; ``min_net`` too.

    The planned scrap becomes what it was plus the loss per net unit; the
    evidence is weak below ``min_net``, when other outflows make more than
    ``max_other_percent`` of the outflow, or for a loss ten times the net
    quantity."""
    if booked <= 0:
        return None
    loss = -variance
    deviation = loss / booked * 100.0
    if abs(deviation) <= threshold + _EPSILON:
        return None
    other_percent = other / outflow * 100.0 if outflow > 0 else 100.0
    weak = []
    if net <= 0 or net < min_net:
        weak.append(WEAK_VOLUME)
    if other_percent > max_other_percent + _EPSILON:
        weak.append(WEAK_OTHER)
    suggested = 0.0
    if not weak:
        suggested = round(max(0.0, scrap_percent + loss / net * 100.0), 2)
        if suggested >= MAX_SCRAP_PERCENT:
            weak.append(WEAK_EXTREME)
            suggested = 0.0
    # a gain on a line that plans no scrap: nothing to lower
    kind = KIND_SCRAP if not weak and suggested != scrap_percent else None
    return CountAdvice(
        deviation_percent=deviation,
        other_percent=other_percent,
        weak=tuple(weak),
        kind=kind,
        suggested=suggested,
    )
