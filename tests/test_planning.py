# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Property and example tests of the pure-Python planner (no database needed).

Run with pytest in the Odoo environment (``planning.py`` rounds with
``odoo.tools.float_utils``, pure Python)::

    ODOO_RC=.odoo/test.rc .odoo/venv/bin/python -m pytest -p no:cacheprovider -q \
        .odoo/addons/mrp_backflush/tests/test_planning.py

``planning.py`` is loaded by file path so the module is tested without a
database (and without importing the add-on package).
"""

import dataclasses
import importlib.util
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import pytest

try:
    from hypothesis import HealthCheck, assume, given, note, reject, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - the property tests need hypothesis
    pytest.skip("hypothesis is not installed", allow_module_level=True)

_PATH = Path(__file__).resolve().parent.parent / "planning.py"
_SPEC = importlib.util.spec_from_file_location(
    "mrp_backflush_planning_under_test", _PATH
)
planning = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(planning)

Requirement = planning.Requirement
Substitute = planning.Substitute

BLOCK, NEGATIVE, DEFER = (
    planning.POLICY_BLOCK,
    planning.POLICY_NEGATIVE,
    planning.POLICY_DEFER,
)
NONE, PRIORITY, FULL = (
    planning.SUBSTITUTION_NONE,
    planning.SUBSTITUTION_PRIORITY,
    planning.SUBSTITUTION_FULL,
)
LOC = 8  # WH/Stock
LOC2 = 9  # another location

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
    database=None,
)


# ----------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------
def tol(*values):
    """Float noise allowed when comparing quantities of this magnitude."""
    return 1e-7 * max([1.0] + [abs(v) for v in values])


def exact_round_up(value, rounding):
    """Round a Decimal up to a multiple of ``rounding`` exactly."""
    step = Decimal(str(rounding))
    return float((value / step).to_integral_value(rounding=ROUND_CEILING) * step)


def is_multiple(qty, rounding):
    steps = qty / rounding
    return abs(steps - round(steps)) < 1e-6 * max(1.0, abs(steps))


def component_posted(line):
    req = line.requirement
    return line.qty(planning.ROLE_COMPONENT, req.product_id) + line.qty(
        planning.ROLE_PLANNED_SCRAP, req.product_id
    )


def sub_of(req, product_id):
    return next(s for s in req.substitutes if s.product_id == product_id)


def covered_by_substitutes(line):
    """What the substitutes cover, in the requirement's (component) unit."""
    req = line.requirement
    return sum(m.qty / sub_of(req, m.product_id).factor for m in sub_moves(line))


def sub_moves(line):
    """What each substitute posts, net and planned scrap together (the
    scrap share of a substitute posts with role planned scrap)."""
    req = line.requirement
    total = {}
    for move in line.moves:
        if move.product_id != req.product_id:
            total[move.product_id] = total.get(move.product_id, 0.0) + move.qty
    return [
        planning.PlanMove(planning.ROLE_SUBSTITUTE, product_id, qty)
        for product_id, qty in total.items()
    ]


def free(pool, product_id, location_id, to_pool):
    return max(pool.get((product_id, location_id), 0.0), 0.0) / to_pool


def exhausted(pool, sub, req):
    """What is left of ``sub`` in ``pool`` covers no whole step of the
    component (nor is a whole step of its own): a substitute covers whole
    component steps, so what stays short is exact."""
    left = free(pool, sub.product_id, req.location_id, sub.to_pool)
    whole = planning.round_down(left, sub.rounding)
    return whole < sub.rounding * (1 - 1e-7) or whole / sub.factor < req.rounding * (
        1 - 1e-7
    )


# ----------------------------------------------------------------------
# Strategies
# ----------------------------------------------------------------------
ROUNDINGS = [1.0, 0.01, 0.001]
TO_POOL = [1.0, 12.0, 0.001]
FACTORS = [1.0, 0.5, 2.0, 3.0, 1.5, 0.25, 12.0, 1.0 / 12.0, 0.001]
POLICIES = [BLOCK, NEGATIVE, DEFER]
SUBSTITUTIONS = [NONE, PRIORITY, FULL]
PRODUCTS = [1, 2, 3, 4, 5, 6]
SCRAP_PERCENTS = [0, 0, 3, 5, 10, 12.5, 50, 100, 250]

decimal_qty = st.one_of(
    st.integers(min_value=0, max_value=30).map(Decimal),  # small counts: tight stock
    st.integers(min_value=0, max_value=20000).map(lambda i: Decimal(i) / 100),
    st.integers(min_value=0, max_value=50000).map(lambda i: Decimal(i) / 1000),
)


@st.composite
def substitutes(draw, component):
    others = [p for p in PRODUCTS if p != component]
    products = draw(st.lists(st.sampled_from(others), max_size=3, unique=True))
    return tuple(
        Substitute(
            product_id=product,
            factor=draw(st.sampled_from(FACTORS)),
            rounding=draw(st.sampled_from(ROUNDINGS)),
            to_pool=draw(st.sampled_from(TO_POOL)),
        )
        for product in products
    )


@st.composite
def requirements(draw, key):
    product = draw(st.sampled_from(PRODUCTS[:4]))
    net = draw(decimal_qty)
    percent = Decimal(str(draw(st.sampled_from(SCRAP_PERCENTS))))
    fixed = draw(
        st.sampled_from(
            [Decimal(0), Decimal(0), Decimal("0.5"), Decimal(2), Decimal(5)]
        )
    )
    req = Requirement(
        key=key,
        product_id=product,
        location_id=draw(st.sampled_from([LOC, LOC, LOC2])),
        # as the ORM computes them: floats
        net_qty=float(net),
        scrap_qty=float(net) * float(percent) / 100.0 + float(fixed),
        rounding=draw(st.sampled_from(ROUNDINGS)),
        to_pool=draw(st.sampled_from(TO_POOL)),
        policy=draw(st.sampled_from(POLICIES)),
        substitution=draw(st.sampled_from(SUBSTITUTIONS)),
        substitutes=draw(substitutes(product)),
        fixed_scrap_qty=float(fixed),
    )
    exact_total = net + net * percent / 100 + fixed
    return req, exact_total


@st.composite
def pools(draw):
    pool = {}
    for product in PRODUCTS:
        for location in (LOC, LOC2):
            if draw(st.booleans()):
                qty = draw(
                    st.one_of(
                        decimal_qty,
                        st.integers(min_value=-50, max_value=0).map(Decimal),
                    )
                )
                pool[product, location] = float(qty)
    return pool


@st.composite
def scenarios(draw, count=None, **fixed):
    """Several requirements (shared products, so lines compete) and a pool.
    ``fixed``: Requirement fields forced on every requirement."""
    if count is None:
        count = st.integers(min_value=1, max_value=5)
    reqs = [draw(requirements(key)) for key in range(draw(count))]
    reqs = [(dataclasses.replace(r, **fixed), e) for r, e in reqs]
    if fixed.get("substitution") in (PRIORITY, FULL):
        assume(any(r.substitutes for r, _e in reqs))
    return [r for r, _exact in reqs], [e for _r, e in reqs], draw(pools())


@st.composite
def tight_scenarios(draw, substitution):
    """One short requirement whose substitutes hold just about what they
    would need (a little less, exactly, or more): the edge of every rule."""
    req, exact_total = draw(requirements(0))
    req = dataclasses.replace(req, location_id=LOC, substitution=substitution)
    # reject() rather than assume(): pylint reads assume's NoReturn overload and
    # calls the rest of the function unreachable
    if not req.substitutes:
        reject()
    required = planning.round_up(req.net_qty + req.scrap_qty, req.rounding)
    steps = round(required / req.rounding)
    if steps < 1:
        reject()
    own = draw(st.integers(min_value=0, max_value=steps - 1)) * req.rounding
    pool = {(req.product_id, LOC): own * req.to_pool}
    shortfall = required - own
    for sub in req.substitutes:
        need = planning.round_up(shortfall * sub.factor, sub.rounding)
        below = draw(st.sampled_from([0, 0.1, 0.4, 0.5, 0.6, 0.9, 1, 3, -1, -100]))
        pool[sub.product_id, LOC] = max(need - below * sub.rounding, 0.0) * sub.to_pool
    return [req], [exact_total], pool


# ----------------------------------------------------------------------
# Invariants
# ----------------------------------------------------------------------
def check_plan(reqs, exact_totals, pool, result):
    assert [line.requirement for line in result.lines] == reqs, (
        "one line per requirement, in order"
    )
    assert result.blocked == [line for line in result.lines if line.action == BLOCK]
    sim = dict(pool)  # our own pool, consumed move by move
    for line, exact_total in zip(result.lines, exact_totals, strict=True):
        note(f"line {line.requirement.key}: {line}")
        before = dict(sim)
        _consume(sim, line)
        _check_quantities(line, exact_total, before)
        _check_pool(line, before, sim)
        if line.requirement.substitution == PRIORITY:
            _check_priority(line, sim)
        elif line.requirement.substitution == FULL:
            _check_full(line, before)
        else:
            assert not sub_moves(line)


def _consume(sim, line):
    req = line.requirement
    for move in line.moves:
        to_pool = (
            req.to_pool
            if move.product_id == req.product_id
            else sub_of(req, move.product_id).to_pool
        )
        key = (move.product_id, req.location_id)
        sim[key] = sim.get(key, 0.0) - move.qty * to_pool


def _taken_from_stock(line):
    """What the component posts out of real stock (not into negative)."""
    comp = component_posted(line)
    return comp - line.shortage_qty if line.action == NEGATIVE else comp


def _check_moves(line):
    """Positive, of the right product, in whole rounding steps, one per
    role and product; net first, the rest is planned scrap."""
    req = line.requirement
    for move in line.moves:
        assert move.qty > 0
        if move.product_id == req.product_id:
            assert move.role in (planning.ROLE_COMPONENT, planning.ROLE_PLANNED_SCRAP)
            assert is_multiple(move.qty, req.rounding)
        else:
            assert move.role in (planning.ROLE_SUBSTITUTE, planning.ROLE_PLANNED_SCRAP)
            assert is_multiple(move.qty, sub_of(req, move.product_id).rounding)
    assert len(line.moves) == len({(m.role, m.product_id) for m in line.moves}), (
        "one move per role and product"
    )
    net_up = planning.round_up(req.net_qty, req.rounding)
    net_part = line.qty(planning.ROLE_COMPONENT, req.product_id)
    assert net_part <= net_up + tol(net_up)
    if line.qty(planning.ROLE_PLANNED_SCRAP, req.product_id):
        assert net_part == pytest.approx(net_up, abs=tol(net_up))
    # substitutes fill the net first: their planned scrap only once the
    # net share is covered
    sub_scrap = line.qty(planning.ROLE_PLANNED_SCRAP) - line.qty(
        planning.ROLE_PLANNED_SCRAP, req.product_id
    )
    if sub_scrap and line.action != NEGATIVE:
        assert line.net_shortage_qty == 0


def _check_quantities(line, exact_total, before):
    req = line.requirement
    required = line.required_qty
    # required = round_up(net + scrap), exactly as on paper
    expected_required = exact_round_up(exact_total, req.rounding)
    assert required == pytest.approx(expected_required, abs=tol(expected_required))
    # available: the free stock, rounded down, never negative
    own_free = free(before, req.product_id, req.location_id, req.to_pool)
    assert line.available_qty >= 0
    assert line.available_qty <= own_free + tol(own_free)
    assert line.available_qty > own_free - req.rounding - tol(own_free)
    _check_moves(line)

    comp = component_posted(line)
    comp_real = _taken_from_stock(line)
    covered = covered_by_substitutes(line)
    subs_used = sub_moves(line)
    short = line.shortage_qty
    # own stock first, never beyond what is available (except negative)
    assert comp_real == pytest.approx(
        min(required, line.available_qty), abs=tol(required)
    )
    if line.available_qty >= required - tol(required):
        assert not subs_used, "substitutes only when the component cannot cover"
        assert short == 0 and line.action == "none"
    # shortage and action
    if line.action == "none":
        assert short == 0
        # never under-consume
        assert comp + covered >= required - tol(required)
        if not subs_used:
            assert comp == pytest.approx(required, abs=tol(required))
    else:
        assert line.action == req.policy
        assert short >= req.rounding / 2
        assert is_multiple(short, req.rounding)
    if line.action == NEGATIVE:
        assert comp + covered >= required - tol(required)
    # component + substitutes + shortage = required, but for each
    # substitute's own quantity, rounded up in its unit: substitutes cover
    # whole component steps, so what stays short is never rounded over
    slack = sum(
        sub_of(req, m.product_id).rounding / sub_of(req, m.product_id).factor
        for m in subs_used
    )
    total = comp_real + covered + short
    assert total >= required - tol(required)
    assert total <= required + slack + tol(required, slack), (
        f"over-consumed: {comp_real} + {covered} covered + {short} short for {required}"
    )
    # never over-consume beyond rounding
    assert comp <= required + tol(required)
    assert comp_real + covered <= required + slack + tol(required, slack)


def _check_pool(line, before, after):
    """The pool never goes negative, except the component under `negative`."""
    req = line.requirement
    for key, qty in after.items():
        taken = before.get(key, 0.0) - qty
        if taken <= 0:
            continue
        if line.action == NEGATIVE and key == (req.product_id, req.location_id):
            # everything the component posts is taken, stock or not
            assert taken == pytest.approx(
                component_posted(line) * req.to_pool, abs=tol(taken)
            )
            continue
        assert taken <= max(before.get(key, 0.0), 0.0) + tol(taken), (
            f"{key} overdrawn: {before.get(key, 0.0)} available, {taken} taken"
        )


def _check_priority(line, after):
    """Substitutes in sequence order; a later one only once every earlier one
    is exhausted; a shortage only once all of them are."""
    req = line.requirement
    order = [s.product_id for s in req.substitutes]
    used = [m.product_id for m in sub_moves(line)]
    assert used == sorted(used, key=order.index), "used in sequence order"
    for product_id in used:
        for earlier in req.substitutes[: order.index(product_id)]:
            assert exhausted(after, earlier, req), (
                f"substitute {product_id} used while {earlier.product_id} "
                "still has stock"
            )
    if line.shortage_qty:
        for sub in req.substitutes:
            left = free(after, sub.product_id, req.location_id, sub.to_pool)
            assert exhausted(after, sub, req), (
                f"line short by {line.shortage_qty} while substitute "
                f"{sub.product_id} still has {left}"
            )


def _check_full(line, before):
    """At most one substitute, the first that alone covers the shortfall."""
    req = line.requirement
    subs_used = sub_moves(line)
    assert len(subs_used) <= 1
    shortfall = line.required_qty - _taken_from_stock(line)

    def can_cover(sub):
        need = planning.round_up(shortfall * sub.factor, sub.rounding)
        have = free(before, sub.product_id, req.location_id, sub.to_pool)
        return have >= need - tol(need) * 1e-2, need

    if subs_used:
        assert line.shortage_qty == 0, "full: a substitute only if it covers all"
        move = subs_used[0]
        sub = sub_of(req, move.product_id)
        covers, need = can_cover(sub)
        assert move.qty == pytest.approx(need, abs=tol(need))
        assert covers, f"full: took {move.qty} of {sub.product_id}, not in stock"
        for earlier in req.substitutes[: req.substitutes.index(sub)]:
            assert not can_cover(earlier)[0], "full: the first covering one is used"
    elif line.shortage_qty and shortfall > 0:
        for sub in req.substitutes:
            assert not can_cover(sub)[0], (
                f"full: substitute {sub.product_id} could cover {shortfall} "
                "but was skipped"
            )


@PROPERTY_SETTINGS
@given(scenarios())
def test_plan_invariants(scenario):
    reqs, exact_totals, pool = scenario
    pool_copy = dict(pool)
    result = planning.plan(reqs, pool)
    assert pool == pool_copy, "plan() must not modify the caller's pool"
    check_plan(reqs, exact_totals, pool, result)


@PROPERTY_SETTINGS
@given(scenarios(count=st.just(1), substitution=PRIORITY))
def test_plan_invariants_priority(scenario):
    reqs, exact_totals, pool = scenario
    check_plan(reqs, exact_totals, pool, planning.plan(reqs, pool))


@PROPERTY_SETTINGS
@given(scenarios(count=st.just(1), substitution=FULL))
def test_plan_invariants_full(scenario):
    reqs, exact_totals, pool = scenario
    check_plan(reqs, exact_totals, pool, planning.plan(reqs, pool))


@PROPERTY_SETTINGS
@given(tight_scenarios(PRIORITY))
def test_plan_invariants_priority_at_the_edge(scenario):
    reqs, exact_totals, pool = scenario
    check_plan(reqs, exact_totals, pool, planning.plan(reqs, pool))


@PROPERTY_SETTINGS
@given(tight_scenarios(FULL))
def test_plan_invariants_full_at_the_edge(scenario):
    reqs, exact_totals, pool = scenario
    check_plan(reqs, exact_totals, pool, planning.plan(reqs, pool))


@PROPERTY_SETTINGS
@given(scenarios(count=st.integers(min_value=2, max_value=6), policy=NEGATIVE))
def test_plan_invariants_negative(scenario):
    reqs, exact_totals, pool = scenario
    check_plan(reqs, exact_totals, pool, planning.plan(reqs, pool))


@PROPERTY_SETTINGS
@given(scenarios())
def test_plan_is_deterministic(scenario):
    reqs, _exact, pool = scenario
    first = planning.plan(reqs, pool)
    second = planning.plan(reqs, pool)
    assert [
        (ln.required_qty, ln.available_qty, ln.shortage_qty, ln.action, ln.moves)
        for ln in first.lines
    ] == [
        (ln.required_qty, ln.available_qty, ln.shortage_qty, ln.action, ln.moves)
        for ln in second.lines
    ]


@PROPERTY_SETTINGS
@given(
    net=decimal_qty,
    percent=st.sampled_from(SCRAP_PERCENTS),
    rounding=st.sampled_from(ROUNDINGS),
)
def test_plenty_of_stock_posts_exactly_required(net, percent, rounding):
    """With stock enough, the component posts exactly round_up(net + scrap):
    its net part round_up(net) and the rest as planned scrap."""
    req = Requirement(
        key=1,
        product_id=1,
        location_id=LOC,
        net_qty=float(net),
        scrap_qty=float(net) * percent / 100.0,
        rounding=rounding,
    )
    line = planning.plan([req], {(1, LOC): 1e6}).lines[0]
    expected = exact_round_up(net + net * Decimal(str(percent)) / 100, rounding)
    assert line.action == "none" and line.shortage_qty == 0
    assert line.required_qty == pytest.approx(expected, abs=tol(expected))
    assert component_posted(line) == pytest.approx(expected, abs=tol(expected))
    net_up = exact_round_up(net, rounding)
    assert line.qty(planning.ROLE_COMPONENT) == pytest.approx(net_up, abs=tol(net_up))
    assert line.qty(planning.ROLE_PLANNED_SCRAP) == pytest.approx(
        expected - net_up, abs=tol(expected)
    )


# ----------------------------------------------------------------------
# Explicit examples
# ----------------------------------------------------------------------
def _req(key=1, product=1, net=0.0, **kw):
    return Requirement(key=key, product_id=product, location_id=LOC, net_qty=net, **kw)


def _moves(line):
    return sorted((m.role, m.product_id, round(m.qty, 6)) for m in line.moves)


def test_chair_400_legs():
    """100 chairs at 4 legs each: 400 legs, 100 seat frames, 100 backrests."""
    legs, seat, back = 1, 2, 3
    reqs = [
        _req(1, legs, 400.0, rounding=1.0),
        _req(2, seat, 100.0, rounding=1.0),
        _req(3, back, 100.0, rounding=1.0),
    ]
    result = planning.plan(
        reqs, {(legs, LOC): 1000, (seat, LOC): 300, (back, LOC): 300}
    )
    assert [_moves(ln) for ln in result.lines] == [
        [("component", legs, 400)],
        [("component", seat, 100)],
        [("component", back, 100)],
    ]
    assert [ln.available_qty for ln in result.lines] == [1000, 300, 300]
    assert not result.blocked


def test_bicycle_100_wheels():
    result = planning.plan([_req(1, 7, 50 * 2.0, rounding=1.0)], {(7, LOC): 500})
    line = result.lines[0]
    assert line.required_qty == 100
    assert _moves(line) == [("component", 7, 100)]


def test_three_times_point_one_stays_point_three():
    """3 x 0.1 kg is 0.30000000000000004 in floats; it must post 0.3, not 0.301."""
    assert planning.round_up(3 * 0.1, 0.001) == pytest.approx(0.3)
    line = planning.plan([_req(net=3 * 0.1, rounding=0.001)], {(1, LOC): 10}).lines[0]
    assert line.required_qty == pytest.approx(0.3, abs=1e-12)
    # 10 % scrap on top: 0.33 exactly, not 0.331
    net = 3 * 0.1
    line = planning.plan(
        [_req(net=net, scrap_qty=net * 10 / 100.0, rounding=0.001)], {(1, LOC): 10}
    ).lines[0]
    assert line.required_qty == pytest.approx(0.33, abs=1e-12)
    assert _moves(line) == [("component", 1, 0.3), ("planned_scrap", 1, 0.03)]


def test_three_percent_of_ten_units_rounds_up_to_one():
    """3 % of 10 units is 0.3 unit: rounds up to 11 posted, 10 net + 1 scrap."""
    line = planning.plan(
        [_req(net=10.0, scrap_qty=10 * 3 / 100.0, rounding=1.0)], {(1, LOC): 100}
    ).lines[0]
    assert line.required_qty == 11
    assert _moves(line) == [("component", 1, 10), ("planned_scrap", 1, 1)]


def test_fixed_scrap_without_net():
    line = planning.plan(
        [_req(net=0.0, scrap_qty=2.0, fixed_scrap_qty=2.0, rounding=1.0)],
        {(1, LOC): 100},
    ).lines[0]
    assert _moves(line) == [("planned_scrap", 1, 2)]


def test_short_component_loses_scrap_first():
    """Available 10 for 10 net + 1 scrap: the scrap part is what is missing."""
    line = planning.plan(
        [_req(net=10.0, scrap_qty=1.0, rounding=1.0, policy=DEFER)], {(1, LOC): 10}
    ).lines[0]
    assert _moves(line) == [("component", 1, 10)]
    assert line.shortage_qty == 1 and line.action == DEFER


@pytest.mark.parametrize(
    "policy, moves, pool_after",
    [
        (BLOCK, [("component", 1, 60)], None),
        (DEFER, [("component", 1, 60)], None),
        (NEGATIVE, [("component", 1, 100)], -40),
    ],
)
def test_shortage_policies(policy, moves, pool_after):
    result = planning.plan(
        [_req(net=100.0, rounding=1.0, policy=policy)], {(1, LOC): 60}
    )
    line = result.lines[0]
    assert line.required_qty == 100 and line.available_qty == 60
    assert line.shortage_qty == 40
    assert line.action == policy
    assert _moves(line) == moves
    assert (result.blocked == [line]) == (policy == BLOCK)


@pytest.mark.parametrize(
    "policy, action",
    [(BLOCK, BLOCK), (DEFER, DEFER), (NEGATIVE, DEFER)],
)
def test_serials_only_those_reserved_and_never_negative(policy, action):
    """3 of 4 serials reserved, 10 in stock: 3 post, 1 waits (a serial
    number cannot go negative), or blocks; the stock stays for others."""
    result = planning.plan(
        [_req(net=4.0, rounding=1.0, policy=policy, serial_qty=3.0)],
        {(1, LOC): 10},
    )
    line = result.lines[0]
    assert line.available_qty == 3 and line.shortage_qty == 1
    assert line.action == action
    assert _moves(line) == [("component", 1, 3)]
    assert result.left[1, LOC] == 7


def test_serials_recorded_beyond_stock_go_negative_on_them():
    """Odoo's test_tracking_on_byproducts: 3 serial numbers recorded by
    hand, 1 in stock, 4 required, policy negative: the 3 recorded post (2
    into negative stock, on their serial numbers), the 4th waits."""
    result = planning.plan(
        [_req(net=4.0, rounding=1.0, policy="negative", serial_qty=3.0)],
        {(1, LOC): 1},
    )
    line = result.lines[0]
    assert _moves(line) == [("component", 1, 3)]
    assert line.action == "defer" and line.shortage_qty == 1
    assert result.left[1, LOC] == -2


TWO_SUBSTITUTES = (Substitute(2, 1.0, 1.0), Substitute(3, 1.0, 1.0))


@pytest.mark.parametrize(
    "substitution, policy, stock, moves, shortage",
    [
        pytest.param(
            PRIORITY,
            BLOCK,
            (60, 30, 50),
            [("component", 1, 60), ("substitute", 2, 30), ("substitute", 3, 10)],
            0,
            id="priority_fills_from_first_then_second",
        ),
        pytest.param(
            PRIORITY,
            DEFER,
            (60, 10, 5),
            [("component", 1, 60), ("substitute", 2, 10), ("substitute", 3, 5)],
            25,
            id="priority_leftover_goes_to_policy",
        ),
        pytest.param(
            FULL,
            BLOCK,
            (60, 30, 50),
            [("component", 1, 60), ("substitute", 3, 40)],
            0,
            id="full_skips_partial_substitute",
        ),
        pytest.param(
            FULL,
            NEGATIVE,
            (60, 30, 39),
            [("component", 1, 100)],
            40,
            id="full_none_covers_goes_to_policy",
        ),
    ],
)
def test_two_substitutes(substitution, policy, stock, moves, shortage):
    """100 of product 1 needed, products 2 and 3 stand in one for one;
    ``stock``: of products 1, 2 and 3. What no substitute covers goes to
    the policy."""
    line = planning.plan(
        [
            _req(
                net=100.0,
                rounding=1.0,
                substitution=substitution,
                substitutes=TWO_SUBSTITUTES,
                policy=policy,
            )
        ],
        {(product, LOC): qty for product, qty in zip((1, 2, 3), stock, strict=True)},
    ).lines[0]
    assert _moves(line) == moves
    assert line.shortage_qty == shortage
    assert line.action == (policy if shortage else "none")


def test_substitute_in_dozens():
    """Component in units, substitute counted in dozens (1/12 dozen per unit),
    stock of the substitute kept in units (to_pool 12)."""
    sub = Substitute(2, 1.0 / 12.0, 0.01, to_pool=12.0)
    line = planning.plan(
        [_req(net=100.0, rounding=1.0, substitution=PRIORITY, substitutes=(sub,))],
        {(1, LOC): 76, (2, LOC): 120},
    ).lines[0]
    assert _moves(line) == [("component", 1, 76), ("substitute", 2, 2.0)]
    assert line.action == "none"


def test_no_substitution_when_stock_suffices():
    subs = (Substitute(2, 1.0, 1.0),)
    line = planning.plan(
        [_req(net=100.0, rounding=1.0, substitution=PRIORITY, substitutes=subs)],
        {(1, LOC): 100, (2, LOC): 100},
    ).lines[0]
    assert _moves(line) == [("component", 1, 100)]


def test_two_lines_compete_for_the_same_stock():
    """Two MOs drawing on the same short stock never both get it."""
    subs = (Substitute(2, 1.0, 1.0),)
    reqs = [
        _req(1, 1, 60.0, rounding=1.0, substitution=PRIORITY, substitutes=subs),
        _req(2, 1, 60.0, rounding=1.0, substitution=PRIORITY, substitutes=subs),
    ]
    first, second = planning.plan(reqs, {(1, LOC): 100, (2, LOC): 100}).lines
    assert _moves(first) == [("component", 1, 60)]
    assert _moves(second) == [("component", 1, 40), ("substitute", 2, 20)]
    assert second.available_qty == 40


def test_non_storable_infinite_pool():
    line = planning.plan([_req(net=5.0, rounding=1.0)], {(1, LOC): float("inf")}).lines[
        0
    ]
    assert _moves(line) == [("component", 1, 5)] and line.action == "none"


def test_units_pool_in_grams():
    """Component in grams (rounding 1 g), stock in kg (to_pool 0.001)."""
    line = planning.plan(
        [_req(net=1200.0, rounding=1.0, to_pool=0.001)], {(1, LOC): 1.2}
    ).lines[0]
    assert line.available_qty == 1200
    assert _moves(line) == [("component", 1, 1200)]


# ----------------------------------------------------------------------
# Counterexamples found by the properties above (kept as regression tests)
# ----------------------------------------------------------------------
def test_full_never_takes_more_substitute_than_available():
    """`full`: a substitute in dozens with 55 units in stock (4.58 dozens)
    cannot cover a need of 5 dozens: it must not be picked (the pool would
    go to -5 units, i.e. posting into negative stock under `block`)."""
    sub = Substitute(2, 1.0, 1.0, to_pool=12.0)  # 1 dozen per missing unit
    result = planning.plan(
        [
            _req(
                net=5.0,
                rounding=1.0,
                substitution=FULL,
                substitutes=(sub,),
                policy=BLOCK,
            )
        ],
        {(1, LOC): 0, (2, LOC): 55},
    )
    line = result.lines[0]
    assert not sub_moves(line), f"took {line.moves} with only 55/12 dozens available"
    assert line.shortage_qty == 5 and line.action == BLOCK


def test_priority_tries_next_substitute_for_a_fraction_left():
    """`priority`: the first substitute (factor 3, i.e. 3 pieces per missing
    unit) has 2 pieces = 2/3 of the missing unit; the rest (1/3 unit) must
    come from the second substitute, which has plenty, not be reported short."""
    subs = (Substitute(2, 3.0, 1.0), Substitute(3, 1.0, 1.0))
    result = planning.plan(
        [
            _req(
                net=10.0,
                rounding=1.0,
                substitution=PRIORITY,
                substitutes=subs,
                policy=BLOCK,
            )
        ],
        {(1, LOC): 9, (2, LOC): 2, (3, LOC): 100},
    )
    line = result.lines[0]
    assert line.action == "none", f"reported short {line.shortage_qty}: {line.moves}"
    assert line.qty(planning.ROLE_SUBSTITUTE, 3) == 1


def test_round_up_large_quantities_in_grams_precision():
    """525 t posted to the gram: float noise must not add one more gram."""
    assert planning.round_up(525133.158, 0.001) == pytest.approx(525133.158, abs=1e-6)
    line = planning.plan([_req(net=525133.158, rounding=0.001)], {(1, LOC): 1e7}).lines[
        0
    ]
    assert line.required_qty == pytest.approx(525133.158, abs=1e-6)
