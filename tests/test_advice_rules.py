# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Property and example tests of the advice's pure arithmetic (no database).

Run with pytest in the Odoo environment (``advice.py`` rounds with
``odoo.tools.float_utils``, pure Python)::

    ODOO_RC=.odoo/test.rc .odoo/venv/bin/python -m pytest -p no:cacheprovider -q \
        .odoo/addons/mrp_backflush/tests/test_advice_rules.py

``advice.py`` is loaded by file path, like ``planning.py`` in
``tests/test_planning.py``.
"""

import importlib.util
from pathlib import Path

import pytest

try:
    from hypothesis import HealthCheck, given, reject, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - the property tests need hypothesis
    pytest.skip("hypothesis is not installed", allow_module_level=True)

_PATH = Path(__file__).resolve().parent.parent / "advice.py"
_SPEC = importlib.util.spec_from_file_location("mrp_backflush_advice_under_test", _PATH)
advice = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(advice)

BomLine = advice.BomLine
QTY, SCRAP = advice.KIND_QTY, advice.KIND_SCRAP

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)

quantities = st.floats(min_value=0.5, max_value=1000.0, allow_nan=False)
percents = st.floats(min_value=0.0, max_value=50.0, allow_nan=False)
roundings = st.sampled_from([0.001, 0.01, 0.1, 1.0])


@st.composite
def bom_lines(draw, whole=None):
    rounding = draw(roundings)
    whole_units = draw(st.booleans()) if whole is None else whole
    qty = draw(quantities)
    if whole_units:
        qty = float(max(1, round(qty)))
    return BomLine(
        qty=qty,
        bom_qty=draw(st.sampled_from([1.0, 2.0, 10.0, 12.5])),
        scrap_percent=round(draw(percents), 2),
        scrap_fixed=draw(st.sampled_from([0.0, 0.0, 1.0, 3.0])),
        rounding=rounding,
        whole_units=whole_units,
    )


def planned_total(line, produced, groups):
    return (
        line.qty / line.bom_qty * (1 + line.scrap_percent / 100) * produced
        + line.scrap_fixed * groups
    )


# ----------------------------------------------------------------------
# Recorded consumption
# ----------------------------------------------------------------------
@PROPERTY_SETTINGS
@given(
    line=bom_lines(),
    produced=st.floats(min_value=1.0, max_value=10000.0),
    factor=st.floats(min_value=0.0, max_value=3.0),
    scrap_share=st.floats(min_value=0.0, max_value=1.0),
    groups=st.integers(min_value=1, max_value=5),
    threshold=st.floats(min_value=0.0, max_value=20.0),
)
def test_consumption_suggestion_is_never_negative(
    line, produced, factor, scrap_share, groups, threshold
):
    observed = planned_total(line, produced, groups) * factor
    result = advice.suggest_from_consumption(
        line, produced, observed, observed * scrap_share, groups, threshold
    )
    if result is None:
        return
    assert abs(result.deviation_percent) > threshold
    assert result.suggested >= 0
    if result.kind is None:
        assert result.suggested == 0
        assert result.reason in (advice.REASON_BELOW_FIXED, advice.REASON_WHOLE_BELOW)
    elif result.kind == SCRAP:
        assert result.current == line.scrap_percent
        assert result.suggested < advice.MAX_SCRAP_PERCENT
    else:
        assert result.current == line.qty
        assert result.suggested > 0


@PROPERTY_SETTINGS
@given(
    line=bom_lines(),
    produced=st.floats(min_value=1.0, max_value=10000.0),
    scrap_share=st.floats(min_value=0.0, max_value=1.0),
    groups=st.integers(min_value=1, max_value=5),
    threshold=st.floats(min_value=0.0, max_value=20.0),
)
def test_consumption_as_planned_suggests_nothing(
    line, produced, scrap_share, groups, threshold
):
    observed = planned_total(line, produced, groups)
    assert (
        advice.suggest_from_consumption(
            line, produced, observed, observed * scrap_share, groups, threshold
        )
        is None
    )


@PROPERTY_SETTINGS
@given(
    line=bom_lines(),
    produced=st.floats(min_value=1.0, max_value=1000.0),
    factor=st.floats(min_value=0.2, max_value=3.0),
    scrap_share=st.floats(min_value=0.0, max_value=1.0),
    scale=st.sampled_from([2.0, 10.0, 0.5]),
)
def test_consumption_scale_invariance(line, produced, factor, scrap_share, scale):
    """Twice the orders using twice as much: the same advice (the constant
    scrap is per family, so there are twice as many families too)."""
    line = BomLine(**{**line.__dict__, "scrap_fixed": 0.0})
    observed = planned_total(line, produced, 1) * factor
    once = advice.suggest_from_consumption(
        line, produced, observed, observed * scrap_share, 1, 1.0
    )
    scaled = advice.suggest_from_consumption(
        line, produced * scale, observed * scale, observed * scrap_share * scale, 1, 1.0
    )
    if not (once is None or abs(abs(once.deviation_percent) - 1.0) > 1e-6):
        reject()
    if once is None:
        assert scaled is None
        return
    assert scaled.kind == once.kind
    assert scaled.deviation_percent == pytest.approx(once.deviation_percent)
    assert scaled.suggested == pytest.approx(
        once.suggested, abs=max(line.rounding, 0.01)
    )


@PROPERTY_SETTINGS
@given(
    line=bom_lines(),
    produced=st.floats(min_value=1.0, max_value=1000.0),
    factor=st.floats(min_value=0.2, max_value=3.0),
    scrap_share=st.floats(min_value=0.0, max_value=1.0),
)
def test_applied_scrap_suggestion_plans_what_was_used(
    line, produced, factor, scrap_share
):
    """Applying a planned-scrap suggestion plans what was used (up to the
    0.01 % the percentage is rounded to): the next advice is silent."""
    observed = planned_total(line, produced, 1) * factor
    result = advice.suggest_from_consumption(
        line, produced, observed, observed * scrap_share, 1, 1.0
    )
    if not (result is not None and result.kind == SCRAP):
        reject()
    applied = BomLine(**{**line.__dict__, "scrap_percent": result.suggested})
    assert (
        advice.suggest_from_consumption(
            applied, produced, observed, observed * scrap_share, 1, 1.0
        )
        is None
    )


@PROPERTY_SETTINGS
@given(
    line=bom_lines(whole=True),
    produced=st.floats(min_value=1.0, max_value=1000.0),
    factor=st.floats(min_value=0.2, max_value=3.0),
    scrap_share=st.floats(min_value=0.0, max_value=1.0),
)
def test_whole_units_never_get_a_fractional_quantity(
    line, produced, factor, scrap_share
):
    observed = planned_total(line, produced, 1) * factor
    result = advice.suggest_from_consumption(
        line, produced, observed, observed * scrap_share, 1, 1.0
    )
    if result is not None and result.kind == QTY:
        assert advice.is_whole(result.suggested)


def test_consumption_examples():
    """Hand-computed: 4 legs per 2 chairs, 10 % planned scrap and 1 leg per
    MO, 10 chairs in 1 MO: 2 x 1.1 + 0.1 = 2.3 legs planned per chair."""
    line = BomLine(qty=4, bom_qty=2, scrap_percent=10, scrap_fixed=1)

    def suggest(observed, scrap, line=line):
        return advice.suggest_from_consumption(line, 10.0, observed, scrap, 1, 5.0)

    assert suggest(23.5, 0.0) is None  # +2.2 %
    result = suggest(25.0, 3.0)  # excess 0.2 per chair, 0.3 scrapped
    assert result.planned_per_unit == pytest.approx(2.3)
    assert (result.kind, result.reason) == (SCRAP, advice.REASON_SCRAP_EXCESS)
    assert result.suggested == pytest.approx(20.0)  # (2.5 - 0.1 - 2) / 2
    result = suggest(25.0, 0.0)  # same excess, nothing scrapped
    assert (result.kind, result.suggested) == (QTY, pytest.approx(4.37))
    result = suggest(21.0, 0.0)  # net and constant met, less scrap
    assert (result.kind, result.reason) == (SCRAP, advice.REASON_SCRAP_LESS)
    assert result.suggested == pytest.approx(0.0)
    result = suggest(0.5, 0.0)  # less than the constant scrap
    assert (result.kind, result.reason) == (None, advice.REASON_BELOW_FIXED)

    # counted in whole units: 4.05 legs a chair is 1.25 % planned scrap
    legs = BomLine(qty=4, whole_units=True)
    result = suggest(40.5, 0.0, legs)
    assert result is None  # +1.25 %, under the 5 % threshold
    result = advice.suggest_from_consumption(legs, 10.0, 40.5, 0.0, 1, 1.0)
    assert (result.kind, result.reason) == (SCRAP, advice.REASON_WHOLE_SCRAP)
    assert result.suggested == pytest.approx(1.25)
    # 5 legs a chair, nothing scrapped: the quantity, a whole one
    result = suggest(50.0, 0.0, legs)
    assert (result.kind, result.suggested) == (QTY, 5.0)
    # 0.9 seat a chair: not 1 -> 0.9, and 1 is what the BOM says
    seat = BomLine(qty=1, whole_units=True)
    result = suggest(9.0, 0.0, seat)
    assert (result.kind, result.reason) == (None, advice.REASON_WHOLE_BELOW)
    # 3.2 legs a chair: 3, the nearest whole quantity
    result = suggest(32.0, 0.0, legs)
    assert (result.kind, result.suggested) == (QTY, 3.0)


# ----------------------------------------------------------------------
# Counts
# ----------------------------------------------------------------------
count_figures = st.fixed_dictionaries(
    {
        "scrap_percent": percents,
        "net": st.floats(min_value=1.0, max_value=1e5),
        "loss_percent": st.floats(min_value=-30.0, max_value=60.0),
        "other": st.floats(min_value=0.0, max_value=1e5),
        "threshold": st.floats(min_value=0.0, max_value=10.0),
    }
)


def counts(figures, scale=1.0, min_net=0.0, max_other=100.0):
    net = figures["net"] * scale
    booked = net * (1 + figures["scrap_percent"] / 100)
    variance = -booked * figures["loss_percent"] / 100
    other = figures["other"] * scale
    return advice.suggest_from_counts(
        figures["scrap_percent"],
        booked,
        net,
        variance,
        booked + other,
        other,
        figures["threshold"],
        min_net=min_net,
        max_other_percent=max_other,
    )


@PROPERTY_SETTINGS
@given(figures=count_figures)
def test_counts_suggestion_is_never_negative(figures):
    result = counts(figures)
    if result is None:
        assert abs(figures["loss_percent"]) <= figures["threshold"] + 1e-6
        return
    assert result.suggested >= 0
    assert 0 <= result.other_percent <= 100
    if result.kind:
        assert not result.weak
        assert result.suggested != figures["scrap_percent"]
    if result.weak:
        assert (result.kind, result.suggested) == (None, 0.0)


@PROPERTY_SETTINGS
@given(figures=count_figures)
def test_counts_without_variance_suggest_nothing(figures):
    assert counts({**figures, "loss_percent": 0.0}) is None


@PROPERTY_SETTINGS
@given(figures=count_figures, scale=st.sampled_from([0.1, 3.0, 1000.0]))
def test_counts_scale_invariance(figures, scale):
    once, scaled = counts(figures), counts(figures, scale)
    if not (abs(abs(figures["loss_percent"]) - figures["threshold"]) > 1e-6):
        reject()
    if once is None:
        assert scaled is None
        return
    assert (scaled.kind, scaled.weak) == (once.kind, once.weak)
    assert scaled.suggested == pytest.approx(once.suggested, abs=0.011)


@PROPERTY_SETTINGS
@given(figures=count_figures, min_net=st.floats(min_value=1.0, max_value=1e5))
def test_counts_weak_below_the_minimum_volume(figures, min_net):
    result = counts(figures, min_net=min_net)
    if not (result is not None):
        reject()
    assert (advice.WEAK_VOLUME in result.weak) == (figures["net"] < min_net)
    if figures["net"] < min_net:
        assert result.kind is None


@PROPERTY_SETTINGS
@given(figures=count_figures, max_other=st.floats(min_value=0.0, max_value=100.0))
def test_counts_weak_when_other_outflows_dominate(figures, max_other):
    result = counts(figures, max_other=max_other)
    if not (result is not None):
        reject()
    assert (advice.WEAK_OTHER in result.weak) == (
        result.other_percent > max_other + 1e-9
    )


def test_counts_examples():
    # 1600 screws backflushed net, 80 lost: 5 % planned scrap
    result = advice.suggest_from_counts(0.0, 1600, 1600, -80, 1600, 0, 1.0, 100, 50)
    assert (result.kind, result.suggested, result.weak) == (SCRAP, 5.0, ())
    # 10 % planned, 40 found in excess on 800 net: 5 %
    result = advice.suggest_from_counts(10.0, 880, 800, 40, 880, 0, 1.0)
    assert (result.kind, result.suggested) == (SCRAP, 5.0)
    # a gain on a line that plans no scrap: nothing to lower
    result = advice.suggest_from_counts(0.0, 800, 800, 40, 800, 0, 1.0)
    assert (result.kind, result.suggested) == (None, 0.0)
    # 20 backflushed against a minimum of 100
    result = advice.suggest_from_counts(0.0, 20, 20, -2, 20, 0, 1.0, 100)
    assert result.weak == (advice.WEAK_VOLUME,)
    # a loss ten times the net quantity
    result = advice.suggest_from_counts(0.0, 10, 10, -150, 10, 0, 1.0)
    assert result.weak == (advice.WEAK_EXTREME,)
    # nothing left in the end (all of it came back)
    assert advice.suggest_from_counts(0.0, 0, 0, -5, 0, 0, 1.0) is None
