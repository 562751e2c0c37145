# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Stateful, model-based test of the backflush ledger (issue 11, SPEC §4).

Hypothesis drives real Odoo through random sequences of what users do:
confirm MOs of random BOMs, set quantities, finish work orders, Mark Done
with or without backorders (alone or many at once), receive stock, retry
and cancel deferred shortages, run the cron, scrap, unbuild, record
quantities by hand, correct the consumption of done MOs. After every step
the invariants are recomputed from stock moves, exceptions, runs and
valuation layers, and from this test's own small model (BOM definitions,
what was produced and unbuilt per MO family): never from the module's
ledger or planner.

Profiles (``BACKFLUSH_STATEFUL_PROFILE``): ``ci`` (default, a few minutes,
at least 200 steps), ``long``; ``BACKFLUSH_STATEFUL_EXAMPLES`` and
``BACKFLUSH_STATEFUL_STEPS`` override the budget, ``BACKFLUSH_STATEFUL_SEED``
fixes the seed, ``BACKFLUSH_STATEFUL_SHRINK=1`` shrinks a failure to a
minimal sequence and ``BACKFLUSH_STATEFUL_SKIP`` (comma-separated invariant
names) silences known failures while hunting for the next one.

The summary (examples, steps, seconds) is logged at INFO when the test ends,
pass or fail; ``-o log_cli=true --log-cli-level=INFO`` (or ``-s``) shows it.
"""

import logging
import math
import os
import time
from collections import defaultdict

from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import Form, tagged
from odoo.tools import float_compare, float_round

from .common import BackflushCase

_logger = logging.getLogger(__name__)

PROFILES = {
    # examples run ~3/4 of the step budget: ~280 steps, a few minutes on a
    # loaded 2-core box (measured 0.2-0.7 s a step with the invariants)
    "ci": {"max_examples": 25, "stateful_step_count": 15},
    "long": {"max_examples": 150, "stateful_step_count": 30},
}
LEDGER_ROLES = ("component", "substitute", "planned_scrap", "deferred", "correction")
# Corrections change what was consumed on purpose: reported beside the ledger.
SETTLING_ROLES = ("component", "substitute", "planned_scrap", "deferred", False)

# Component templates: product key, line unit, quantities per BOM, fixed
# scrap choices (line unit). Substitutes: see setUpClass.
LINE_TEMPLATES = {
    "A": ("A", "unit", (1.0, 2.0, 3.0), (0.0, 1.0, 2.0)),
    "B": ("B", "unit", (0.5, 1.0, 2.5), (0.0, 1.0)),
    "C": ("C", "gram", (150.0, 250.0, 600.0), (0.0, 50.0)),
    "D": ("D", "dozen", (0.25, 0.5, 1.0), (0.0, 0.5)),
    "K": ("K", "unit", (1.0, 2.0), (0.0,)),  # a kit
}
STOCKED = ("A", "B", "C", "D", "E", "F", "S1", "S2", "S3", "S4")


def round_up(qty, rounding):
    """The test's own rounding up (never the module's)."""
    return math.ceil(qty / rounding - 1e-6) * rounding if qty > 0 else 0.0


@st.composite
def bom_specs(draw):
    """A random BOM: timing, policies, operations and 1-4 lines."""
    with_ops = draw(st.booleans())
    keys = draw(
        st.lists(st.sampled_from(sorted(LINE_TEMPLATES)), min_size=1, max_size=4)
    )
    lines = []
    for key in dict.fromkeys(keys):
        _product, _uom, qtys, fixeds = LINE_TEMPLATES[key]
        kit = key == "K"
        lines.append(
            {
                "key": key,
                "qty": draw(st.sampled_from(qtys)),
                "scrap_percent": 0.0
                if kit
                else draw(st.sampled_from((0.0, 0.0, 5.0, 10.0, 33.3))),
                "scrap_fixed_qty": draw(st.sampled_from(fixeds)),
                "mode": draw(
                    st.sampled_from(
                        ("bom", "bom", "bom", "finish", "operation", "manual")
                    )
                ),
                "operation": draw(st.sampled_from((None, 0, 1))) if with_ops else None,
            }
        )
    return {
        "timing": draw(st.sampled_from(("finish", "operation", "manual"))),
        "policy": draw(st.sampled_from(("negative", "block", "defer"))),
        "substitution": draw(st.sampled_from(("none", "priority", "full"))),
        "bom_qty": draw(st.sampled_from((1.0, 2.0))),
        # Odoo's consumption check: it must not speak when nobody changed
        # anything (see BackflushMachine._may_warn)
        "consumption": draw(st.sampled_from(("flexible", "warning", "strict"))),
        "with_ops": with_ops,
        "lines": lines,
    }


class Family:
    """One MO family (an MO and its backorders: a procurement group), as
    the test's model knows it."""

    def __init__(self, number, product, bom, spec, lines):
        self.number = number
        self.product = product
        self.bom = bom
        self.spec = spec
        self.lines = lines  # {bom line id: LedgerLine}
        self.group = None
        self.mos = {}  # mo id -> {"produced", "wo", "recorded"}
        self.unbuilt = defaultdict(float)  # mo id -> finished qty unbuilt
        self.unbuild_count = 0
        self.corrected = defaultdict(float)  # bom line id -> line units

    def __repr__(self):
        return f"Family{self.number}"


class LedgerLine:
    """A BOM line as the ledger sees it, in the line's unit."""

    def __init__(self, **vals):
        self.__dict__.update(vals)

    @property
    def step(self):
        return step_of(self.product, self.uom)


def step_of(product, uom):
    """Posted in steps the product's own unit can hold (150 g of a product
    kept to 0.01 kg: 10 g steps)."""
    product_uom = product.uom_id
    return max(
        uom.rounding,
        product_uom._compute_quantity(product_uom.rounding, uom, round=False),
    )


class BackflushMachine(RuleBasedStateMachine):
    """Users on real Odoo; ``case`` (the running test) gives the
    environment, the catalogue and the invariants."""

    case = None
    skip = frozenset()  # invariant names not checked
    examples = 0
    steps = 0

    def __init__(self):
        super().__init__()
        type(self).examples += 1
        self.env = self.case.env
        # Each example starts from the class's clean state.
        self.savepoint = self.env.cr.savepoint()
        self.count = 0
        self.all_families = []
        self.failures = []
        self.picked_as_they_are = {}

    def teardown(self):
        self.savepoint.close(rollback=True)
        self.env.invalidate_all()

    # -- helpers ------------------------------------------------
    def _open_mo(self, family):
        mos = self.env["mrp.production"].browse(list(family.mos))
        return mos.filtered(lambda m: m.state not in ("done", "cancel"))[:1]

    def _pick(self, pick, test):
        """The ``pick``-th family (modulo) passing ``test``, or None."""
        eligible = [f for f in self.all_families if test(f)]
        return eligible[pick % len(eligible)] if eligible else None

    def _is_open(self, family):
        return bool(self._open_mo(family))

    def _has_pending(self, family):
        return (
            "pending"
            in family.group.mrp_production_ids.backflush_exception_ids.mapped("state")
        )

    def _can_unbuild(self, family):
        return any(
            mo["produced"] and mo["produced"] > family.unbuilt[mo_id]
            for mo_id, mo in family.mos.items()
        )

    def _sync_family(self, family):
        """Backorders Odoo created join the model, not yet produced."""
        for mo in family.group.mrp_production_ids:
            family.mos.setdefault(mo.id, {"produced": None, "wo": {}, "recorded": {}})

    def _snapshot(self):
        """Everything a refused step must leave unchanged."""
        self.env.invalidate_all()
        cr = self.env.cr
        cr.execute("SELECT id, state, quantity, picked FROM stock_move ORDER BY id")
        moves = cr.fetchall()
        cr.execute(
            "SELECT product_id, location_id, sum(quantity) FROM stock_quant "
            "GROUP BY product_id, location_id ORDER BY 1, 2"
        )
        quants = cr.fetchall()
        cr.execute("SELECT id, state FROM mrp_production ORDER BY id")
        mos = cr.fetchall()
        cr.execute(
            "SELECT id, state, quantity FROM mrp_backflush_exception ORDER BY id"
        )
        exceptions = cr.fetchall()
        cr.execute("SELECT count(*) FROM mrp_backflush_run")
        runs = cr.fetchall()
        cr.execute("SELECT count(*) FROM stock_valuation_layer")
        layers = cr.fetchall()
        return moves, quants, mos, exceptions, runs, layers

    def _refused(self, what, error, before, expected):
        after = self._snapshot()
        if after != before:
            self.failures.append(
                f"[refusal] {what} refused ({error}) but changed the database"
            )
        if not expected:
            self.failures.append(f"[refusal] {what} refused unexpectedly: {error}")

    def _step(self):
        type(self).steps += 1

    # -- setup --------------------------------------------------
    @initialize(
        levels=st.lists(
            st.sampled_from((0, 3, 10, 40, 200)),
            min_size=len(STOCKED),
            max_size=len(STOCKED),
        )
    )
    def initial_stock(self, levels):
        self._step()
        for product, level in zip(self.case.stock_products, levels, strict=True):
            if level:
                qty = level / 10.0 if product.uom_id == self.case.uom_kgm else level
                self.case._stock(product, qty)

    # -- rules --------------------------------------------------
    @rule(spec=bom_specs(), qty=st.integers(1, 8))
    def confirm_mo(self, spec, qty):
        self._step()
        self.count += 1
        family = self.case._create_family(self.count, spec)
        mo = self.env["mrp.production"].create(
            {
                "product_id": family.product.id,
                "bom_id": family.bom.id,
                "product_qty": qty,
            }
        )
        mo.action_confirm()
        family.group = mo.procurement_group_id
        self._sync_family(family)
        self.all_families.append(family)

    def _can_set_producing(self, family):
        mo = self._open_mo(family)
        return (
            mo
            and not mo.workorder_ids.filtered(lambda w: w.state == "done")
            and not family.mos[mo.id]["recorded"]
        )

    @precondition(lambda self: self._pick(0, self._can_set_producing))
    @rule(pick=st.integers(0, 5), qty=st.integers(1, 8))
    def set_producing(self, pick, qty):
        family = self._pick(pick, self._can_set_producing)
        mo = self._open_mo(family)
        self._step()
        remaining = mo.product_qty - mo.qty_produced
        mo.qty_producing = min(qty, remaining)
        mo._set_qty_producing(False)

    def _has_workorder(self, family):
        return any(
            w.state not in ("done", "cancel")
            for w in self._open_mo(family).workorder_ids
        )

    @precondition(lambda self: self._pick(0, self._has_workorder))
    @rule(
        pick=st.integers(0, 5),
        index=st.integers(0, 3),
        producing=st.integers(0, 8),
    )
    def finish_workorder(self, pick, index, producing):
        family = self._pick(pick, self._has_workorder)
        mo = self._open_mo(family)
        todo = mo.workorder_ids.filtered(lambda w: w.state not in ("done", "cancel"))
        self._step()
        if (
            producing
            and not mo.qty_producing
            and not mo.workorder_ids.filtered(lambda w: w.state == "done")
        ):
            mo.qty_producing = min(producing, mo.product_qty - mo.qty_produced)
            mo._set_qty_producing(False)
        self._finish(family, mo, todo[index % len(todo)])

    def _finish(self, family, mo, workorder):
        """Finish ``workorder`` of ``mo``; False when it was refused."""
        qty = mo.qty_producing or mo.product_qty - mo.qty_produced
        before = self._snapshot()
        try:
            with self.env.cr.savepoint():
                workorder.button_finish()
        except UserError as error:
            self._refused(
                f"finish {workorder.name} of {mo.name}",
                error,
                before,
                family.spec["policy"] == "block",
            )
            return False
        family.mos[mo.id]["wo"][workorder.operation_id.id] = qty
        return True

    def _can_backorder_after_workorder(self, family):
        mo = self._open_mo(family)
        return (
            mo
            and mo.workorder_ids
            and mo.product_qty - mo.qty_produced > 1
            and not family.mos[mo.id]["recorded"]
            and self._workorders_post_what_they_pick(family)
        )

    def _workorders_post_what_they_pick(self, family):
        """Finishing a work order picks the components of its operation; a
        line it does not post (another timing, a kit) then keeps that
        quantity when the quantity producing is lowered, as in Odoo: a
        quantity recorded by hand, which this model does not follow."""
        for line in family.spec["lines"]:
            if line["operation"] is None:
                continue
            mode = family.spec["timing"] if line["mode"] == "bom" else line["mode"]
            if line["key"] == "K" or mode not in ("operation", "manual"):
                return False
        return True

    @precondition(lambda self: self._pick(0, self._can_backorder_after_workorder))
    @rule(pick=st.integers(0, 5), qty=st.integers(1, 7), wizard=st.booleans())
    def backorder_after_workorder(self, pick, qty, wizard):
        """The work orders finished (for the whole order when nothing is
        being produced yet), then part of the order is marked done with a
        backorder (issue 22)."""
        family = self._pick(pick, self._can_backorder_after_workorder)
        mo = self._open_mo(family)
        self._step()
        for workorder in mo.workorder_ids.filtered(
            lambda w: w.state not in ("done", "cancel")
        ):
            if not self._finish(family, mo, workorder):
                return
        # more or fewer units than the work orders were finished for
        mo.qty_producing = min(qty, mo.product_qty - mo.qty_produced - 1)
        mo._set_qty_producing(False)
        self._mark_done([family], mo, True, wizard)

    def _is_producing(self, family):
        return bool(self._open_mo(family).qty_producing)

    @precondition(lambda self: self._pick(0, self._is_producing))
    @rule(
        pick=st.integers(0, 5),
        index=st.integers(0, 5),
        factor=st.sampled_from((0.5, 1.0, 1.5, 3.0)),
    )
    def record_quantity(self, pick, index, factor):
        """As barcode and MES integrations do, over the ORM."""
        family = self._pick(pick, self._is_producing)
        mo = self._open_mo(family)
        moves = mo.move_raw_ids.filtered(
            lambda m: (
                m.state not in ("done", "cancel")
                and m.bom_line_id.id in family.lines
                and family.lines[m.bom_line_id.id].mode != "manual"
                and m.product_id == family.lines[m.bom_line_id.id].product
                and m.backflush_role in (False, "component")
                and m.bom_line_id.id not in family.mos[mo.id]["recorded"]
            )
        )
        if not moves:
            return
        self._step()
        move = moves[index % len(moves)]
        line = family.lines[move.bom_line_id.id]
        net = (mo.qty_producing - mo.qty_produced) * line.unit
        # typed in steps the product's unit can hold, as a person would
        qty = max(round_up(net * factor, line.step), line.step)
        # The figure Odoo or the backflush would set itself is no record:
        # nothing tells it apart (SPEC §4). A person records another one.
        odoo_qty = float_round(
            (mo.qty_producing - mo.qty_produced) * move.unit_factor,
            precision_rounding=move.product_uom.rounding,
        )
        own = (odoo_qty, round_up(net, move.product_uom.rounding), move.product_uom_qty)
        while any(abs(qty - q) < line.uom.rounding / 2 for q in own):
            qty += line.step
        move.write({"quantity": qty, "picked": True})
        family.mos[mo.id]["recorded"][line.id] = (move.id, qty)

    @precondition(lambda self: self._pick(0, self._is_open))
    @rule(pick=st.integers(0, 5), backorder=st.booleans(), wizard=st.booleans())
    def mark_done(self, pick, backorder, wizard):
        family = self._pick(pick, self._is_open)
        mo = self._open_mo(family)
        self._step()
        self._mark_done([family], mo, backorder, wizard)

    @precondition(lambda self: len(list(filter(self._is_open, self.all_families))) > 1)
    @rule(
        picks=st.lists(st.integers(0, 5), min_size=2, max_size=3),
        backorder=st.booleans(),
    )
    def mass_mark_done(self, picks, backorder):
        chosen = list(dict.fromkeys(self._pick(p, self._is_open) for p in picks))
        mos = self.env["mrp.production"]
        for family in chosen:
            mos |= self._open_mo(family)
        if len(mos) < 2:
            return
        self._step()
        # in the list's order, as the preview plans them
        self._mark_done(chosen, mos.sorted(), backorder, wizard=False)

    def _may_warn(self, chosen, mos):
        """Odoo's consumption check may speak only when someone changed what
        the BOM says: quantities recorded by hand, actual scrap, components
        a work order already posted for the quantity it finished; or when a
        line left to manual consumption holds less than its demand (Odoo
        consumes what it holds: nothing, when its stock is out)."""
        return any(
            family.mos[mo.id]["recorded"]
            or mo.id in self.picked_as_they_are
            or mo.scrap_ids
            or mo.workorder_ids.filtered(lambda w: w.state == "done")
            or self._hand_consumed_short(family, mo)
            for family in chosen
            for mo in mos
            if mo.id in family.mos
        )

    @staticmethod
    def _hand_consumed_short(family, mo):
        return any(
            float_compare(
                move.quantity,
                move.product_uom_qty,
                precision_rounding=move.product_uom.rounding,
            )
            < 0
            for move in mo.move_raw_ids
            if move.state not in ("done", "cancel")
            and move.bom_line_id.id in family.lines
            and family.lines[move.bom_line_id.id].mode == "manual"
        )

    def _picked_as_they_are(self, chosen, mos):
        """Quantities Mark Done will take as recorded: Odoo picks the
        manual moves of an order producing as they are (lines with an
        operation), and a quantity neither Odoo nor the backflush would set
        is a record (an actual scrap took part of what they reserved, say).
        {MO id: {BOM line id: (move id, quantity)}}."""
        picked = defaultdict(dict)
        for family in chosen:
            for mo in mos.filtered(lambda m, f=family: m.id in f.mos):
                producing = mo.qty_producing - mo.qty_produced
                if not mo.qty_producing:
                    continue
                for move in mo.move_raw_ids:
                    line = family.lines.get(move.bom_line_id.id)
                    if (
                        not line
                        or not line.operation
                        or line.mode == "manual"
                        or move.product_id != line.product
                        or move.state in ("done", "cancel")
                        or move.backflush_role not in (False, "component")
                        or not move.manual_consumption
                        or move.picked
                        or line.id in family.mos[mo.id]["recorded"]
                    ):
                        continue
                    rounding = move.product_uom.rounding
                    figures = (
                        0.0,
                        float_round(
                            producing * move.unit_factor, precision_rounding=rounding
                        ),
                        round_up(producing * line.unit, rounding),
                        move.product_uom_qty,
                    )
                    if all(abs(move.quantity - q) >= rounding / 2 for q in figures):
                        picked[mo.id][line.id] = (move.id, move.quantity)
        return picked

    def _confirm_consumption(self, res, chosen, mos):
        """Confirm Odoo's consumption warning where it may appear."""
        if not (
            isinstance(res, dict) and res.get("res_model") == "mrp.consumption.warning"
        ):
            return res
        if not self._may_warn(chosen, mos):
            lines = res["context"]["default_mrp_consumption_warning_line_ids"]
            raise AssertionError(
                f"[consumption] Odoo's consumption warning for nothing: {lines}"
            )
        warning = self.env[res["res_model"]].with_context(**res["context"]).create({})
        return warning.action_confirm()

    def _mark_done(self, chosen, mos, backorder, wizard):
        producing = {
            mo.id: mo.qty_producing or mo.product_qty - mo.qty_produced for mo in mos
        }
        split = backorder and not wizard and len(mos) > 1
        self.picked_as_they_are = self._picked_as_they_are(chosen, mos)
        # Mark Done posts the MOs it leaves a backorder of in a call of their
        # own: one preview cannot tell that order.
        preview = None if split else self._preview(mos)
        self.env.cr.execute("SELECT coalesce(max(id), 0) FROM mrp_backflush_run")
        last_run = self.env.cr.fetchone()[0]
        before = self._snapshot()
        try:
            with self.env.cr.savepoint():
                if wizard:
                    res = self._confirm_consumption(mos.button_mark_done(), chosen, mos)
                    if isinstance(res, dict) and res.get("res_model") == (
                        "mrp.production.backorder"
                    ):
                        wiz = Form(
                            self.env[res["res_model"]].with_context(**res["context"])
                        ).save()
                        res = (
                            wiz.action_backorder()
                            if backorder
                            else wiz.action_close_mo()
                        )
                else:
                    res = mos.with_context(
                        skip_backorder=True,
                        # what the backorder wizard sends: MOs left unfinished
                        mo_ids_to_backorder=[
                            mo.id
                            for mo in mos
                            if backorder and 0 < mo.qty_producing < mo.product_qty
                        ],
                    ).button_mark_done()
                    res = self._confirm_consumption(res, chosen, mos)
                # Odoo opens the backorders it made; any other dialog is news
                if isinstance(res, dict) and res.get("res_model") not in (
                    None,
                    "mrp.production",
                ):
                    raise AssertionError(f"unexpected wizard {res['res_model']}")
        except UserError as error:
            self._refused(
                f"Mark Done of {', '.join(mos.mapped('name'))}",
                error,
                before,
                any(f.spec["policy"] == "block" for f in chosen),
            )
            if preview and not preview["refused"]:
                self.failures.append(
                    f"[preview] Mark Done of {', '.join(mos.mapped('name'))} "
                    f"refused ({error}), the preview refused nothing"
                )
            return
        if preview:
            self._check_preview(preview, mos, last_run)
        for family in chosen:
            for mo in mos.filtered(lambda m, f=family: m.id in f.mos):
                family.mos[mo.id]["produced"] = producing[mo.id]
                family.mos[mo.id]["recorded"].update(
                    self.picked_as_they_are.get(mo.id, {})
                )
            self._sync_family(family)

    def _preview(self, mos):
        """What the preview says Mark Done of ``mos`` posts: quantities by
        (MO, product, role, location), lots by (MO, product), refusal."""
        preview = self.env["mrp.backflush.preview"].create(
            {"production_ids": [Command.set(mos.ids)]}
        )
        posts, lots = defaultdict(float), {}
        for line in preview.line_ids:
            key = (line.production_id.id, line.product_id.name)
            where = line.location_id.id
            if line.action == "recorded":
                posts[(*key, "component", where)] += line.to_post_qty
                continue
            posts[(*key, line.role, where)] += line.net_qty
            posts[(*key, "planned_scrap", where)] += line.scrap_qty
            if line.lot_ids:
                lots[key] = line.lot_ids
        return {"posts": posts, "lots": lots, "refused": preview.has_block}

    def _check_preview(self, preview, mos, last_run):
        """What Mark Done posted is what its preview showed."""
        runs = self.env["mrp.backflush.run"].search(
            [("id", ">", last_run), ("production_id", "in", mos.ids)]
        )
        moves = runs.line_ids.move_id.filtered(
            lambda m: m.backflush_role in ("component", "planned_scrap", "substitute")
        )
        posts, lots = defaultdict(float), defaultdict(lambda: self.env["stock.lot"])
        for move in moves:
            key = (move.raw_material_production_id.id, move.product_id.name)
            posts[(*key, move.backflush_role, move.location_id.id)] += move.quantity
            lots[key] |= move.move_line_ids.lot_id

        def table(quantities):
            return {k: round(v, 6) for k, v in quantities.items() if round(v, 6)}

        failures = []
        if preview["refused"]:
            failures.append("the preview refused, Mark Done posted")
        if table(posts) != table(preview["posts"]):
            failures.append(
                f"preview {sorted(table(preview['posts']).items())}, "
                f"posted {sorted(table(posts).items())}"
            )
        for key, preview_lots in preview["lots"].items():
            if preview_lots != lots[key]:
                failures.append(f"{key}: lots {preview_lots} previewed, {lots[key]}")
        self.failures += [
            f"[preview] Mark Done of {', '.join(mos.mapped('name'))}: {failure}"
            for failure in failures
        ]

    @rule(
        index=st.integers(0, len(STOCKED) - 1),
        qty=st.sampled_from((1, 5, 20, 60)),
    )
    def receive(self, index, qty):
        self._step()
        product = self.case.stock_products[index]
        if product.uom_id == self.case.uom_kgm:
            qty = qty / 10.0
        quant = (
            self.env["stock.quant"]
            .with_context(inventory_mode=True)
            .create(
                {
                    "product_id": product.id,
                    "location_id": self.case.stock_location.id,
                    "inventory_quantity": self.case._qty(product) + qty,
                }
            )
        )
        quant.action_apply_inventory()

    @precondition(lambda self: self._pick(0, self._has_pending))
    @rule(pick=st.integers(0, 5))
    def retry(self, pick):
        family = self._pick(pick, self._has_pending)
        pending = family.group.mrp_production_ids.backflush_exception_ids.filtered(
            lambda e: e.state == "pending"
        )
        if not pending:
            return
        self._step()
        pending.action_retry()

    @rule()
    def run_cron(self):
        self._step()
        self.env["mrp.backflush.exception"]._cron_retry()

    @precondition(lambda self: self._pick(0, self._has_pending))
    @rule(pick=st.integers(0, 5))
    def cancel_exceptions(self, pick):
        family = self._pick(pick, self._has_pending)
        pending = family.group.mrp_production_ids.backflush_exception_ids.filtered(
            lambda e: e.state == "pending"
        )
        if not pending:
            return
        self._step()
        pending[:1]._cancel("stateful test")

    @precondition(lambda self: self._pick(0, self._is_open))
    @rule(pick=st.integers(0, 5), index=st.integers(0, 5), qty=st.sampled_from((1, 2)))
    def scrap_component(self, pick, index, qty):
        """Actual scrap of a component, recorded on the MO."""
        family = self._pick(pick, self._is_open)
        mo = self._open_mo(family)
        products = family.bom.bom_line_ids.product_id.filtered("is_storable")
        if not mo or not products:
            return
        self._step()
        product = products[index % len(products)]
        scrap = self.env["stock.scrap"].create(
            {
                "product_id": product.id,
                "product_uom_id": product.uom_id.id,
                "scrap_qty": qty / 10 if product.uom_id == self.case.uom_kgm else qty,
                "production_id": mo.id,
                "location_id": mo.location_src_id.id,
            }
        )
        scrap.do_scrap()

    @precondition(lambda self: self._pick(0, self._can_unbuild))
    @rule(pick=st.integers(0, 5), index=st.integers(0, 3), whole=st.booleans())
    def unbuild(self, pick, index, whole):
        family = self._pick(pick, self._can_unbuild)
        done = self.env["mrp.production"].browse(
            [
                mo_id
                for mo_id, mo in family.mos.items()
                if mo["produced"] and mo["produced"] - family.unbuilt[mo_id] > 0
            ]
        )
        if not done:
            return
        self._step()
        mo = done[index % len(done)]
        left = family.mos[mo.id]["produced"] - family.unbuilt[mo.id]
        qty = left if whole else min(1.0, left)
        before = self._snapshot()
        try:
            with self.env.cr.savepoint():
                self.env["mrp.unbuild"].create(
                    {
                        "product_id": family.product.id,
                        "bom_id": family.bom.id,
                        "mo_id": mo.id,
                        "product_qty": qty,
                        "product_uom_id": mo.product_uom_id.id,
                        "location_id": self.case.stock_location.id,
                        "location_dest_id": self.case.stock_location.id,
                    }
                ).action_unbuild()
        except UserError as error:
            self._refused(f"unbuild of {mo.name}", error, before, False)
            return
        family.unbuilt[mo.id] += qty
        family.unbuild_count += 1

    def _done_mos(self, family):
        return self.env["mrp.production"].browse(
            [mo_id for mo_id, mo in family.mos.items() if mo["produced"]]
        )

    @precondition(
        lambda self: (
            "mrp.backflush.correction" in self.env and self._pick(0, self._done_mos)
        )
    )
    @rule(
        pick=st.integers(0, 5),
        index=st.integers(0, 5),
        delta=st.sampled_from((1.0, -1.0, 2.0)),
    )
    def correct_consumption(self, pick, index, delta):
        """A manager corrects a done MO: more used, or leftovers back."""
        family = self._pick(pick, self._done_mos)
        mos = self._done_mos(family)
        mo = mos[index % len(mos)]
        if mo.backflush_pending_count:
            # pending postings are posted or cancelled before a correction
            with self.case.assertRaisesRegex(UserError, "Backflush Monitor"):
                mo.action_backflush_correct()
            return
        action = mo.action_backflush_correct()
        wizard = self.env[action["res_model"]].browse(action["res_id"])
        lines = wizard.line_ids.filtered(
            lambda ln: ln.bom_line_id.id in family.lines and ln.consumed_qty > 0
        )
        if not lines:
            return
        self._step()
        line = lines[index % len(lines)]
        if line.product_id.uom_id == self.case.uom_kgm:
            delta /= 10.0
        delta = max(delta, -line.consumed_qty)
        line.qty_used = line.consumed_qty + delta
        before = self._snapshot()
        try:
            with self.env.cr.savepoint():
                wizard.action_confirm()
        except UserError as error:
            self._refused(f"correction of {mo.name}", error, before, False)
            return
        ledger_line = family.lines[line.bom_line_id.id]
        qty = line.product_uom_id._compute_quantity(delta, ledger_line.uom, round=False)
        if line.product_id in ledger_line.subs:
            factor, sub_uom = ledger_line.subs[line.product_id]
            qty = line.product_uom_id._compute_quantity(delta, sub_uom, round=False)
            qty /= factor
        family.corrected[ledger_line.id] += qty

    # -- invariants ----------------------------------------------
    @invariant()
    def check(self):
        self.env.flush_all()
        self.env.invalidate_all()
        failures, self.failures = self.failures, []
        for family in self.all_families:
            failures += self.case._family_failures(family)
        failures = [f for f in failures if f[1 : f.index("]")] not in self.skip]
        assert not failures, "\n".join(failures)


@tagged("post_install", "-at_install")
class TestStatefulBackflush(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.user.groups_id += cls.env.ref("mrp.group_mrp_routings")
        cls.workcenter = cls.env["mrp.workcenter"].create(
            {"name": "Stateful Bench", "time_start": 0, "costs_hour": 0}
        )
        cls.uoms = {
            "unit": cls.uom_unit,
            "dozen": cls.uom_dozen,
            "gram": cls.uom_gram,
            "kg": cls.uom_kgm,
        }
        kg = {"uom_id": cls.uom_kgm.id, "uom_po_id": cls.uom_kgm.id}
        p = cls.products = {
            "A": cls._product("SF Leg", 2.0),
            "B": cls._product("SF Seat", 3.0, categ=cls.categ_avco),
            "C": cls._product("SF Glue", 5.0, **kg),
            "D": cls._product("SF Screw", 1.0),
            "E": cls._product("SF Kit Part", 1.0),
            "F": cls._product("SF Kit Frame", 4.0, categ=cls.categ_avco),
            "S1": cls._product("SF Leg Beech", 2.5),
            "S2": cls._product("SF Leg Half", 1.5),
            "S3": cls._product("SF Glue Strong", 8.0, **kg),
            "S4": cls._product("SF Screw Loose", 0.1),
            "K": cls._product("SF Kit", 0.0, is_storable=False),
        }
        # The kit: 2 parts (10 % planned scrap) and 1 frame (1 per family).
        cls.kit_bom = cls._bom(
            p["K"],
            [
                (p["E"], 2, {"scrap_percent": 10.0}),
                (p["F"], 1, {"scrap_fixed_qty": 1.0}),
            ],
            type="phantom",
            backflush_mode="finish",
        )
        # factor substitute units (its unit) replace 1 line unit
        cls.substitutes = {
            "A": [("S1", 1.0, "unit"), ("S2", 2.0, "unit")],
            "C": [("S3", 1.5, "gram")],
            "D": [("S4", 12.0, "unit")],
        }
        cls.stock_products = [p[key] for key in STOCKED]

    # ------------------------------------------------------------------
    # the test
    # ------------------------------------------------------------------
    def test_stateful_ledger(self):
        profile = os.environ.get("BACKFLUSH_STATEFUL_PROFILE", "ci")
        budget = dict(PROFILES[profile])
        if os.environ.get("BACKFLUSH_STATEFUL_EXAMPLES"):
            budget["max_examples"] = int(os.environ["BACKFLUSH_STATEFUL_EXAMPLES"])
        if os.environ.get("BACKFLUSH_STATEFUL_STEPS"):
            budget["stateful_step_count"] = int(os.environ["BACKFLUSH_STATEFUL_STEPS"])
        phases = [Phase.explicit, Phase.generate]
        if os.environ.get("BACKFLUSH_STATEFUL_SHRINK"):
            phases.append(Phase.shrink)
        skip = os.environ.get("BACKFLUSH_STATEFUL_SKIP", "")
        machine = type(
            "BackflushMachine",
            (BackflushMachine,),
            {"case": self, "skip": frozenset(filter(None, skip.split(",")))},
        )
        if os.environ.get("BACKFLUSH_STATEFUL_SEED"):
            machine = seed(int(os.environ["BACKFLUSH_STATEFUL_SEED"]))(machine)
        # pytest-odoo sets Odoo's loggers to its --odoo-log-level (critical
        # by default), which would drop the summary: it is the run's result.
        self.addCleanup(_logger.setLevel, _logger.level)
        _logger.setLevel(logging.INFO)
        started = time.monotonic()
        try:
            run_state_machine_as_test(
                machine,
                settings=settings(
                    deadline=None,
                    database=None,
                    phases=phases,
                    derandomize=not os.environ.get("BACKFLUSH_STATEFUL_SEED")
                    and profile == "ci",
                    suppress_health_check=list(HealthCheck),
                    **budget,
                ),
            )
        finally:
            _logger.info(
                "stateful backflush, profile %s %s: %s examples, %s steps in %.0fs",
                profile,
                budget,
                machine.examples,
                machine.steps,
                time.monotonic() - started,
            )

    # ------------------------------------------------------------------
    # the model: BOMs as the test defines them
    # ------------------------------------------------------------------
    def _create_family(self, number, spec):
        p = self.products
        product = self._product(f"SF Finished {number}", 0.0)
        operations = []
        if spec["with_ops"]:
            operations = [
                Command.create(
                    {"name": name, "workcenter_id": self.workcenter.id, "sequence": seq}
                )
                for seq, name in ((1, "Cut"), (2, "Assemble"))
            ]
        commands = []
        for line in spec["lines"]:
            key = line["key"]
            product_key, uom_key, *_rest = LINE_TEMPLATES[key]
            vals = {
                "product_id": p[product_key].id,
                "product_qty": line["qty"],
                "product_uom_id": self.uoms[uom_key].id,
                "scrap_percent": line["scrap_percent"],
                "scrap_fixed_qty": line["scrap_fixed_qty"],
                "backflush_mode": line["mode"],
            }
            if spec["substitution"] != "none" and key in self.substitutes:
                vals["substitute_ids"] = [
                    Command.create(
                        {
                            "sequence": seq,
                            "product_id": p[sub].id,
                            "factor": factor,
                            "product_uom_id": self.uoms[sub_uom].id,
                        }
                    )
                    for seq, (sub, factor, sub_uom) in enumerate(self.substitutes[key])
                ]
            commands.append(Command.create(vals))
        bom = self.env["mrp.bom"].create(
            {
                "product_tmpl_id": product.product_tmpl_id.id,
                "product_qty": spec["bom_qty"],
                "consumption": spec["consumption"],
                "backflush_mode": spec["timing"],
                "backflush_shortage_policy": spec["policy"],
                "backflush_substitution": spec["substitution"],
                "operation_ids": operations,
                "bom_line_ids": commands,
            }
        )
        ops = bom.operation_ids.sorted("sequence")
        for bom_line, line in zip(bom.bom_line_ids, spec["lines"], strict=True):
            if line["operation"] is not None:
                bom_line.operation_id = ops[line["operation"]]
        return Family(number, product, bom, spec, self._ledger_lines(bom, spec))

    def _ledger_lines(self, bom, spec):
        """The BOM lines the ledger keeps, with the net quantity per
        finished unit in the line's unit, from the test's own reading of
        the BOM (kits exploded one level)."""
        lines = {}
        for bom_line, line in zip(bom.bom_line_ids, spec["lines"], strict=True):
            per_unit = line["qty"] / spec["bom_qty"]
            if line["key"] == "K":
                kit = self.kit_bom
                for kit_line in kit.bom_line_ids:
                    lines[kit_line.id] = LedgerLine(
                        id=kit_line.id,
                        product=kit_line.product_id,
                        uom=kit_line.product_uom_id,
                        unit=per_unit * kit_line.product_qty / kit.product_qty,
                        pct=kit_line.scrap_percent,
                        fixed=kit_line.scrap_fixed_qty,
                        mode="finish",  # the kit's own BOM timing
                        operation=False,
                        subs={},
                    )
                continue
            mode = line["mode"]
            if mode == "bom":
                mode = spec["timing"]
            if mode == "operation" and not bom_line.operation_id:
                mode = "finish"
            lines[bom_line.id] = LedgerLine(
                id=bom_line.id,
                product=bom_line.product_id,
                uom=bom_line.product_uom_id,
                unit=per_unit,
                pct=line["scrap_percent"],
                fixed=line["scrap_fixed_qty"],
                mode=mode,
                operation=bom_line.operation_id.id,
                subs={
                    sub.product_id: (sub.factor, sub.product_uom_id)
                    for sub in bom_line.substitute_ids
                },
            )
        return lines

    def _units(self, family, line):
        """Finished units each MO of the family posted ``line`` for: what it
        produced, or what its work order was finished for if more (units a
        work order finished beyond what its MO then produced are its
        backorders' units, covered already)."""
        covered = 0.0
        for _mo_id, mo in sorted(family.mos.items()):
            basis = mo["produced"] or 0.0
            finished = line.mode == "operation" and line.operation in mo["wo"]
            if finished:
                basis = max(mo["wo"][line.operation], basis)
            if line.mode == "operation":
                already = min(covered, basis)
                basis -= already
                covered -= already
                if finished and mo["produced"]:
                    covered += max(mo["wo"][line.operation] - mo["produced"], 0.0)
            yield mo, basis

    def _required(self, family, line):
        """What the family owes the line so far (line unit), and the
        alternatives when hand-recorded postings make the fixed scrap's
        place ambiguous."""
        recorded = 0.0
        net = 0.0
        any_recorded = False
        for mo, basis in self._units(family, line):
            # a quantity recorded on an order that produced is posted as
            # recorded, also when a work order covered its units ahead
            if line.id in mo["recorded"] and (basis or mo["produced"]):
                recorded += mo["recorded"][line.id][1]
                any_recorded = True
            elif basis:
                net += basis * line.unit
        if not net:
            return [recorded]
        scrap = net * line.pct / 100.0
        with_fixed = recorded + round_up(net + scrap + line.fixed, line.step)
        if any_recorded and line.fixed:
            return [with_fixed, recorded + round_up(net + scrap, line.step)]
        return [with_fixed]

    # ------------------------------------------------------------------
    # invariants, from moves, exceptions, runs and layers
    # ------------------------------------------------------------------
    def _family_failures(self, family):
        failures = []
        mos = self.env["mrp.production"].browse(list(family.mos))
        name = f"{family!r} ({', '.join(mos.mapped('name'))})"

        # the model's production equals Odoo's
        for mo in mos:
            produced = family.mos[mo.id]["produced"]
            if produced and (
                mo.state != "done" or abs(mo.qty_produced - produced) > 1e-6
            ):
                failures.append(
                    f"[produced] {name}: {mo.name} is {mo.state}, produced "
                    f"{mo.qty_produced}, the model says done with {produced}"
                )

        raw = mos.move_raw_ids
        done_raw = raw.filtered(lambda m: m.state == "done")
        exceptions = mos.backflush_exception_ids
        unbuilt_total = sum(family.unbuilt.values())
        recorded_moves = {
            rec[0] for mo in family.mos.values() for rec in mo["recorded"].values()
        }

        for line in family.lines.values():
            moves = done_raw.filtered(lambda m, ln=line: m.bom_line_id.id == ln.id)
            if line.mode == "manual":
                # a manager's correction may touch any line
                backflushed = moves.filtered(
                    lambda m: m.backflush_run_id and m.backflush_role != "correction"
                )
                if backflushed:
                    failures.append(
                        f"[manual] {name}: manual line {line.product.name} "
                        f"backflushed by {backflushed.backflush_run_id.mapped('name')}"
                    )
                continue
            posted, tolerance = self._posted(
                line, moves.filtered(lambda m: m.backflush_role in SETTLING_ROLES)
            )
            pending = self._exception_qty(line, exceptions, "pending")
            cancelled = self._exception_qty(line, exceptions, "cancel")
            # a shortage of units since unbuilt is settled, not posted
            cancelled += self._exception_qty(line, exceptions, None, "unbuilt_qty")
            total = posted + pending + cancelled
            required = self._required(family, line)
            tolerance += line.uom.rounding / 2
            # leftovers a correction returned settle the share of unbuilt
            # units the unbuild could not give back a second time
            if unbuilt_total and family.corrected[line.id] < 0:
                total -= min(
                    -family.corrected[line.id], max(total - max(required), 0.0)
                )
            if not any(-tolerance <= total - req <= tolerance for req in required):
                kind = "ledger_under" if total < min(required) else "ledger_over"
                failures.append(
                    f"[{kind}] {name}: {line.product.name} ({line.uom.name}) "
                    f"posted {posted:g} + pending {pending:g} + cancelled "
                    f"{cancelled:g} = {total:g}, required {required[0]:g}; "
                    f"moves: {self._describe(moves)}"
                )

            # no pending shortage for goods that no longer exist (units a
            # work order posted for ahead of its backorders still do)
            if unbuilt_total:
                units = sum(basis for _mo, basis in self._units(family, line))
                remaining = units - unbuilt_total
                cap = round_up(
                    remaining * line.unit * (1 + line.pct / 100.0) + line.fixed,
                    line.step,
                )
                if pending > cap + tolerance:
                    failures.append(
                        f"[unbuilt_pending] {name}: {line.product.name} pending "
                        f"{pending:g} but the {remaining:g} finished units left "
                        f"need at most {cap:g}"
                    )

            failures += self._unbuild_failures(name, family, line, moves)
            failures += self._correction_failures(name, family, line, moves)

            # every done move of a backflushed line has one role and one run
            for move in moves - self.env["stock.move"].browse(list(recorded_moves)):
                if move.backflush_role not in LEDGER_ROLES or not move.backflush_run_id:
                    failures.append(
                        f"[one_role_one_run] {name}: done move {move.id} of "
                        f"{move.product_id.name} has role {move.backflush_role} and "
                        f"run {move.backflush_run_id.id}"
                    )

        # recorded quantities are kept
        for mo_id, mo in family.mos.items():
            for move_id, qty in mo["recorded"].values():
                move = self.env["stock.move"].browse(move_id)
                if move.state == "done" and abs(move.quantity - qty) > 1e-6:
                    failures.append(
                        f"[recorded] {name}: {move.product_id.name} recorded {qty:g} "
                        f"on MO {mo_id}, posted {move.quantity:g}"
                    )

        failures += self._consumption_failures(name, mos, done_raw)
        failures += self._run_failures(name, mos, done_raw, recorded_moves)
        failures += self._layer_failures(name, done_raw)
        failures += self._exception_failures(name, exceptions)
        if not family.unbuild_count:
            failures += self._value_failures(name, family, mos, done_raw)
        failures += self._unbuilt_value_failures(name, family, mos)
        return failures

    def _unbuilt_value_failures(self, name, family, mos):
        """An MO whose goods were all unbuilt (none are sold here) leaves
        no value in the finished goods: the unbuilds took out what the
        units carried, value added after Mark Done included."""
        failures = []
        for mo in mos:
            produced = family.mos[mo.id]["produced"]
            if not produced or family.unbuilt[mo.id] < produced - 1e-6:
                continue
            finished = mo.move_finished_ids.filtered(
                lambda m, mo=mo: m.state == "done" and m.product_id == mo.product_id
            )
            out = self.env["stock.move"].search(
                [
                    ("unbuild_id.mo_id", "=", mo.id),
                    ("product_id", "=", mo.product_id.id),
                    ("state", "=", "done"),
                ]
            )
            value = sum(
                (finished | out).sudo().stock_valuation_layer_ids.mapped("value")
            )
            if abs(value) > 0.01 * (len(out) + 2):
                failures.append(
                    f"[unbuilt_value] {name}: {mo.name} all unbuilt, its finished "
                    f"goods still worth {value:.2f}"
                )
        return failures

    def _unbuild_failures(self, name, family, line, moves):
        """An unbuild returns the net share, with its role, not the scrap."""
        returns = self.env["stock.move"].search(
            [
                ("origin_returned_move_id", "in", moves.ids),
                ("unbuild_id", "!=", False),
                ("state", "=", "done"),
            ]
        )
        if not returns:
            return []
        failures = []
        unbuilt = sum(family.unbuilt.values())
        returned, tolerance = self._posted(line, returns)
        returned = -returned  # back into stock
        cap = round_up(unbuilt * line.unit, line.step)
        # a quantity recorded by hand comes back as Odoo returns it: all of
        # what was recorded may come back
        cap += sum(
            mo["recorded"][line.id][1]
            for mo in family.mos.values()
            if line.id in mo["recorded"]
        )
        slack = family.unbuild_count * line.step + tolerance
        scrap_back = returns.filtered(
            lambda m: m.origin_returned_move_id.backflush_role == "planned_scrap"
        )
        if returned > cap + slack or scrap_back:
            failures.append(
                f"[unbuild_returns] {name}: {line.product.name} returned "
                f"{returned:g} for {unbuilt:g} unbuilt (net {cap:g}); "
                f"planned scrap returned: {self._describe(scrap_back)}"
            )
        roleless = returns.filtered(
            lambda m: (
                m.origin_returned_move_id.backflush_role
                and m.backflush_role != m.origin_returned_move_id.backflush_role
            )
        )
        if roleless:
            failures.append(
                f"[unbuild_roles] {name}: returns of {line.product.name} "
                f"without their role: {self._describe(roleless)}"
            )
        return failures

    def _consumption_failures(self, name, mos, done_raw):
        """Per MO and product, what was consumed less what came back
        (unbuilds, corrections) is never negative: nothing gives back more
        than was consumed."""
        consumed = defaultdict(float)
        raw = done_raw.filtered(lambda m: not m.scrapped)
        returns = self.env["stock.move"].search(
            [("origin_returned_move_id", "in", raw.ids), ("state", "=", "done")]
        )
        for move in raw | returns:
            mo = move.raw_material_production_id or (
                move.origin_returned_move_id.raw_material_production_id
            )
            qty = move.product_uom._compute_quantity(
                move.quantity, move.product_id.uom_id, round=False
            )
            consumed[mo, move.product_id] += self._sign(move) * qty
        return [
            f"[consumption] {name}: {mo.name} consumed {qty:g} "
            f"{product.uom_id.name} of {product.name} net of returns"
            for (mo, product), qty in consumed.items()
            if qty < -product.uom_id.rounding / 2
        ]

    def _corrections(self, moves):
        """Correction moves of ``moves``: extra consumptions are raw moves,
        returned leftovers point to the raw move they came from."""
        returns = self.env["stock.move"].search(
            [
                ("origin_returned_move_id", "in", moves.ids),
                ("unbuild_id", "=", False),
                ("backflush_role", "=", "correction"),
                ("state", "=", "done"),
            ]
        )
        return moves.filtered(lambda m: m.backflush_role == "correction") | returns

    def _correction_failures(self, name, family, line, moves):
        corrected, tolerance = self._posted(line, self._corrections(moves))
        expected = family.corrected[line.id]
        if abs(corrected - expected) > tolerance + line.uom.rounding / 2:
            return [
                f"[corrections] {name}: {line.product.name} corrected by "
                f"{corrected:g}, the manager asked {expected:g} {line.uom.name}"
            ]
        return []

    def _sign(self, move):
        return -1.0 if move.location_dest_id.usage == "internal" else 1.0

    def _posted(self, line, moves):
        """Component-equivalent quantity of ``moves`` in the line's unit; a
        substitute counts qty / factor. Also the rounding slack the
        substitutes' own units allow."""
        total = tolerance = 0.0
        for move in moves:
            qty = (
                self._sign(move)
                * move.product_uom._compute_quantity(
                    move.quantity, line.uom, round=False
                )
                if move.product_id == line.product
                else 0.0
            )
            if move.product_id in line.subs:
                factor, sub_uom = line.subs[move.product_id]
                qty = (
                    self._sign(move)
                    * move.product_uom._compute_quantity(
                        move.quantity, sub_uom, round=False
                    )
                    / factor
                )
                tolerance += step_of(move.product_id, sub_uom) / factor
            total += qty
        return total, tolerance

    def _exception_qty(self, line, exceptions, state, field="quantity"):
        if field not in exceptions._fields:
            return 0.0
        return sum(
            exc.product_uom_id._compute_quantity(exc[field], line.uom, round=False)
            for exc in exceptions
            if exc.bom_line_id.id == line.id and state in (None, exc.state)
        )

    def _describe(self, moves):
        return ", ".join(
            f"{m.id}:{m.raw_material_production_id.name or m.unbuild_id.name}/"
            f"{m.product_id.name}/{m.backflush_role}/{m.quantity:g}"
            f"{m.product_uom.name}/run{m.backflush_run_id.id}"
            for m in moves
        )

    def _run_failures(self, name, mos, done_raw, recorded_moves):
        failures = []
        runs = mos.backflush_run_ids
        seen = defaultdict(int)
        for run_line in runs.line_ids:
            move = run_line.move_id
            if not move:
                continue
            seen[move.id] += 1
            qty = move.product_uom._compute_quantity(
                move.quantity, run_line.product_uom_id, round=False
            )
            qty *= self._sign(move)  # returns are negative on the run
            # Odoo cancels a component move left at 0 (all deferred): its
            # run line still records the shortage.
            cancelled_empty = move.state == "cancel" and not run_line.consumed_qty
            if (
                (move.state != "done" and not cancelled_empty)
                or move.product_id != run_line.product_id
                or move.backflush_role != run_line.role
                or abs(qty - run_line.consumed_qty)
                > run_line.product_uom_id.rounding / 2
            ):
                failures.append(
                    f"[run_lines] {name}: run {run_line.run_id.name} line "
                    f"{run_line.product_id.name}/{run_line.role} consumed "
                    f"{run_line.consumed_qty:g} but move {self._describe(move)} "
                    f"is {move.state}"
                )
        failures += self._run_sum_failures(name, runs, recorded_moves)
        for move_id, count in seen.items():
            if count > 1:
                failures.append(
                    f"[posted_twice] {name}: move {move_id} is on {count} run lines"
                )
        for move in done_raw.filtered("backflush_run_id"):
            if move.backflush_run_id.production_id != move.raw_material_production_id:
                failures.append(
                    f"[one_role_one_run] {name}: move {move.id} of "
                    f"{move.raw_material_production_id.name} is on run "
                    f"{move.backflush_run_id.name}"
                )
            if not seen.get(move.id):
                failures.append(
                    f"[run_lines] {name}: move {self._describe(move)} has no run line"
                )
        return failures

    def _run_sum_failures(self, name, runs, recorded_moves):
        """Per posting and BOM line, what was planned is what was
        consumed (substitutes by what they replaced) plus what was
        deferred."""
        failures = []
        for run in runs.filtered(lambda r: r.trigger in ("mark_done", "operation")):
            for bom_line, lines in (
                run.line_ids.filtered("bom_line_id").grouped("bom_line_id").items()
            ):
                main = lines.filtered(lambda ln: ln.role == "component")[:1]
                if main.move_id.id in recorded_moves:
                    continue  # what the operator recorded, not the BOM
                uom = main.product_uom_id or bom_line.product_uom_id
                planned = consumed = 0.0
                for ln in lines:
                    planned += ln.product_uom_id._compute_quantity(
                        ln.planned_qty, uom, round=False
                    )
                    if ln.replaced_product_id:  # a substitute, net or scrap
                        consumed += ln.replaced_product_id.uom_id._compute_quantity(
                            ln.replaced_qty, uom, round=False
                        )
                    else:
                        consumed += ln.product_uom_id._compute_quantity(
                            ln.consumed_qty, uom, round=False
                        )
                    if ln.shortage_action == "defer":
                        consumed += ln.product_uom_id._compute_quantity(
                            ln.shortage_qty, uom, round=False
                        )
                if abs(planned - consumed) > uom.rounding * len(lines):
                    failures.append(
                        f"[run_sums] {name}: run {run.name} ({run.trigger}) "
                        f"{bom_line.product_id.name}: planned {planned:g} but "
                        f"consumed + replaced + deferred {consumed:g} {uom.name}: "
                        + "; ".join(
                            f"{ln.role} {ln.product_id.name} plans {ln.planned_qty:g} "
                            f"consumed {ln.consumed_qty:g} short {ln.shortage_qty:g}"
                            for ln in lines
                        )
                    )
        return failures

    def _layer_failures(self, name, done_raw):
        failures = []
        for move in done_raw.filtered("backflush_role"):
            layers = move.sudo().stock_valuation_layer_ids
            roles = set(layers.mapped("backflush_role"))
            qty = sum(layers.mapped("quantity"))
            expected = -self._sign(move) * move.product_uom._compute_quantity(
                move.quantity, move.product_id.uom_id, round=False
            )
            kind = "layers" if roles - {move.backflush_role} else None
            if not kind and abs(qty - expected) > 1e-4:
                # a move in a finer unit than its product's is posted at the
                # product's precision, half-up: stock and value differ
                rounding = move.product_id.uom_id.rounding
                kind = "uom_precision" if abs(qty - expected) < rounding else "layers"
                if move.backflush_recorded and abs(qty - expected) < rounding * (
                    len(move.move_line_ids) + 1e-6
                ):
                    # lines a person recorded (230 g as 166.67 g + 63.33 g of
                    # a product kept in kg) are valued as Odoo values them:
                    # each rounded up to the product's unit (0.24 kg)
                    kind = None
            if kind:
                failures.append(
                    f"[{kind}] {name}: move {self._describe(move)} has layers of "
                    f"roles {sorted(r or '' for r in roles)} for {qty:g} "
                    f"{move.product_id.uom_id.name}"
                )
        return failures

    def _exception_failures(self, name, exceptions):
        failures = []
        for exc in exceptions:
            posted = sum(
                m.product_uom._compute_quantity(
                    m.quantity, exc.product_uom_id, round=False
                )
                for m in exc.move_ids
                if m.state == "done"
            )
            if abs(posted - exc.posted_qty) > exc.product_uom_id.rounding / 2:
                failures.append(
                    f"[exception_moves] {name}: exception {exc.name} says "
                    f"{exc.posted_qty:g} posted, its moves {posted:g}"
                )
        return failures

    def _value_failures(self, name, family, mos, done_raw):
        """Finished goods carry what their family consumed (components,
        substitutes, planned scrap, deferred catch-up)."""
        # components posted by a work order belong to goods not made yet
        done_raw = done_raw.filtered(
            lambda m: m.raw_material_production_id.state == "done"
        )
        # and, posted ahead for an order still open, to its units: they
        # carry that share at its Mark Done; checked once it is done
        if mos.filtered(
            lambda p: p.state not in ("done", "cancel")
        ) and done_raw.filtered(lambda m: m.backflush_run_id.trigger == "operation"):
            return []
        consumed_moves = done_raw | self._corrections(done_raw)
        consumed = -sum(consumed_moves.sudo().stock_valuation_layer_ids.mapped("value"))
        finished_moves = mos.move_finished_ids.filtered(
            lambda m: m.state == "done" and m.product_id == family.product
        )
        finished = sum(finished_moves.sudo().stock_valuation_layer_ids.mapped("value"))
        slack = 0.01 * (len(done_raw) + len(finished_moves) + 1)
        if abs(consumed - finished) > slack:
            return [
                f"[value] {name}: finished goods worth {finished:.2f}, the family "
                f"consumed {consumed:.2f}"
            ]
        return []
