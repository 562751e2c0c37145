# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Stateful test of the material a backflush consumes (issues 23 and 24,
SPEC §4 *Staged material*, *Lots and serials*).

Hypothesis drives real Odoo, warehouse *Manufacture* in 2 or 3 steps,
through what store keepers and operators do: confirm orders, pick their
components to pre-production (fully, over, under, in several transfers,
with a backorder of the pick), unreserve, mark done (with a backorder of
the order, or in the background), record serial numbers on the order or
on a pending posting, receive stock, let a lot expire, retry, cancel,
unbuild, correct, validate a proposed leftover return. Components: a plain
one, a lot-tracked one with expiry dates (FEFO: an expired lot and fresh
ones) and a serial-tracked one. After every step the invariants are read
from stock moves, move lines, quants, exceptions, runs and valuation
layers (never from the module's ledger or staging code).

Profiles (``BACKFLUSH_STATEFUL_PROFILE``): ``ci`` (default, ≤ 90 s),
``long``; ``BACKFLUSH_STATEFUL_EXAMPLES``, ``BACKFLUSH_STATEFUL_STEPS``,
``BACKFLUSH_STATEFUL_SEED``, ``BACKFLUSH_STATEFUL_SHRINK`` and
``BACKFLUSH_STATEFUL_SKIP`` as in ``test_stateful.py``.
"""

import logging
import math
import os
import time
from collections import Counter, defaultdict
from datetime import timedelta
from unittest import SkipTest

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

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from .common import BackflushCase

_logger = logging.getLogger(__name__)

PROFILES = {
    # ~0.3 s a step alone on the 2-core box, invariants included
    "ci": {"max_examples": 5, "stateful_step_count": 10},
    "long": {"max_examples": 120, "stateful_step_count": 30},
}
# what the BOM line owes: posted by these roles, pending, cancelled
SETTLING_ROLES = ("component", "substitute", "planned_scrap", "deferred", False)
BACKFLUSH_ROLES = ("component", "substitute", "planned_scrap", "deferred")
# receipts per example (see the rule)
MAX_RECEIPTS = 3
# component key -> quantity per finished unit
LINES = {"P": 2.0, "L": 3.0, "S": 1.0}
EPS = 1e-6


@st.composite
def bom_specs(draw):
    keys = draw(st.lists(st.sampled_from(sorted(LINES)), min_size=1, max_size=3))
    return {
        "keys": sorted(set(keys)),
        "policy": draw(st.sampled_from(("negative", "block", "defer"))),
        # propose twice: its return waits to be validated (a rule of its own)
        "leftover": draw(st.sampled_from(("keep", "return", "propose", "propose"))),
    }


class Family:
    """An MO and its backorders (one procurement group)."""

    def __init__(self, number, bom, spec, group):
        self.number = number
        self.bom = bom
        self.spec = spec
        self.group = group
        self.unbuilt = defaultdict(float)  # mo id -> finished units unbuilt
        self.produced = {}  # mo id -> what Mark Done was asked to produce

    def __repr__(self):
        return f"Family{self.number}({self.spec['policy']}/{self.spec['leftover']})"


class MaterialMachine(RuleBasedStateMachine):
    case = None
    skip = frozenset()
    examples = 0
    steps = 0
    rules = None  # first word of each step -> count

    def __init__(self):
        super().__init__()
        type(self).examples += 1
        self.env = self.case.env
        self.savepoint = self.env.cr.savepoint()
        self.families = []
        self.failures = []
        self.serial_count = 0
        self.lot_count = 0
        self.receipts = 0
        # (product, lot) -> what corrections consumed of it in pre-production
        # beyond what was there
        self.overdrawn = defaultdict(float)
        # lot made expired by the test -> last move line before
        self.valid_until = defaultdict(int)

    def teardown(self):
        self.savepoint.close(rollback=True)
        self.env.invalidate_all()

    # -- helpers ------------------------------------------------
    def _step(self, what):
        type(self).steps += 1
        type(self).rules[what.split(" ")[0]] += 1
        _logger.debug("material step %s: %s", type(self).steps, what)

    def _pick(self, pick, test):
        eligible = [f for f in self.families if test(f)]
        return eligible[pick % len(eligible)] if eligible else None

    def _mos(self, family):
        return family.group.mrp_production_ids

    def _open_mo(self, family):
        return self._mos(family).filtered(lambda m: m.state not in ("done", "cancel"))[
            :1
        ]

    def _is_open(self, family):
        return bool(self._open_mo(family))

    def _open_picks(self, family):
        pbm = self.case.warehouse.pbm_type_id
        return (
            self._mos(family)
            .picking_ids.filtered(
                lambda p: (
                    p.picking_type_id == pbm
                    and not p.return_id
                    and p.state not in ("done", "cancel")
                )
            )
            .sorted("id")
        )

    def _has_open_pick(self, family):
        return bool(self._open_picks(family))

    def _pending(self, family):
        return self._mos(family).backflush_exception_ids.filtered(
            lambda e: e.state == "pending"
        )

    def _has_pending(self, family):
        return bool(self._pending(family))

    def _proposed_returns(self, family):
        return self.env["stock.picking"].search(
            [
                ("return_id", "in", self._mos(family).picking_ids.ids),
                ("state", "not in", ("done", "cancel")),
            ]
        )

    def _free_lots(self, product, location, order):
        """(lot, qty) of ``product`` at ``location`` (children included),
        positive quants, in ``order``: 'fefo' (Odoo's: expired first),
        'fresh' (valid lots first)."""
        quants = self.env["stock.quant"].search(
            [
                ("product_id", "=", product.id),
                ("location_id", "child_of", location.id),
                ("quantity", ">", 0),
            ]
        )
        now = fields.Datetime.now()
        if product.tracking == "none":
            return [(self.env["stock.lot"], sum(quants.mapped("quantity")))]
        by_lot = defaultdict(float)
        for quant in quants.filtered("lot_id"):
            by_lot[quant.lot_id] += quant.quantity
        lots = sorted(
            by_lot,
            key=lambda lot: (
                order == "fresh" and bool(lot.removal_date and lot.removal_date <= now),
                lot.removal_date or now,
                lot.id,
            ),
        )
        return [(lot, by_lot[lot]) for lot in lots]

    def _validate(self, picking, backorder):
        """Validate ``picking`` as a store keeper clicking: the backorder
        dialog as ``backorder`` says, the expiry dialog confirmed."""
        res = picking.button_validate()
        for _attempt in range(4):
            if not isinstance(res, dict) or not res.get("res_model"):
                break
            model = res["res_model"]
            if model == "stock.backorder.confirmation":
                wizard = Form(self.env[model].with_context(**res["context"])).save()
                res = (
                    wizard.process() if backorder else wizard.process_cancel_backorder()
                )
            elif model == "expiry.picking.confirmation":
                res = (
                    self.env[model].with_context(**res["context"]).create({}).process()
                )
            else:
                raise AssertionError(f"unexpected dialog {model} validating a pick")

    # -- setup --------------------------------------------------
    @initialize(
        steps=st.sampled_from(("pbm", "pbm", "pbm_sam")),
        plain=st.sampled_from((0, 20, 60)),
        fresh=st.sampled_from((0, 10, 40)),
        later=st.sampled_from((0, 30)),
        serials=st.integers(0, 8),
        tempt=st.booleans(),
        policy=st.sampled_from(("negative", "block", "defer")),
        leftovers=st.sampled_from((None, "over", "expired")),
    )
    def initial_stock(
        self, steps, plain, fresh, later, serials, tempt, policy, leftovers
    ):
        self._step(f"initial {steps}")
        case = self.case
        if steps != case.warehouse.manufacture_steps:
            case.warehouse.manufacture_steps = steps
        if plain:
            case._stock(case.plain, plain)
        case._stock(case.lotted, 20, lot=case.lot_expired)
        if fresh:
            case._stock(case.lotted, fresh, lot=case.lot_fresh)
        if later:
            case._stock(case.lotted, later, lot=case.lot_later)
        self._receive_serials(serials)
        if tempt:
            self._tempt(fresh, policy)
        if leftovers:
            self._propose_leftovers(leftovers, policy)

    def _tempt(self, fresh, policy):
        """Half the examples start where a backflush may take what was
        picked for another order (the CI profile meets it too): the lots
        picked for an order lie unreserved in pre-production beside lots
        kept there from earlier orders, which expire later (FEFO would take
        the picked ones first); another order needing the component is
        marked done there, and takes only the kept lots."""
        case = self.case
        if not fresh:
            case._stock(case.lotted, 10, lot=case.lot_fresh)
        spec = {"keys": ["L"], "policy": "defer", "leftover": "keep"}
        staged = self._confirm(spec, 2, "full", "fresh")
        tempted = self._confirm(dict(spec, policy=policy), 1, None, "fresh")
        case._stock(case.lotted, 10, location=case.pre, lot=case.lot_kept)
        self._open_mo(staged).do_unreserve()
        self._mark_done(tempted, False, False, False, "beside_staged")

    def _propose_leftovers(self, how, policy):
        """Two thirds of the examples start with a return of leftovers
        waiting to be validated (the CI profile meets it too; found rarely
        otherwise, as it needs an order of a BOM proposing its leftovers,
        picked with some left, then marked done): an order over-picked, or
        picked the expired lot first (never consumed), marked done."""
        spec = {"keys": ["L", "P"], "policy": policy, "leftover": "propose"}
        if how == "over":
            family = self._confirm(spec, 1, "over", "fresh")
        else:
            family = self._confirm(spec, 1, "full", "fefo")
        self._mark_done(family, False, False, False)

    def _receive_serials(self, count):
        for _i in range(count):
            self.serial_count += 1
            lot = self.env["stock.lot"].create(
                {
                    "name": f"SM-SN-{self.serial_count:03d}",
                    "product_id": self.case.serial.id,
                }
            )
            self.case._stock(self.case.serial, 1, lot=lot)

    # -- rules: orders ------------------------------------------
    @precondition(lambda self: len(list(filter(self._is_open, self.families))) < 4)
    @rule(
        spec=bom_specs(),
        qty=st.integers(1, 4),
        mode=st.sampled_from((None, "full", "over", "under", "backorder", "split")),
        order=st.sampled_from(("fefo", "fresh")),
    )
    def confirm_mo(self, spec, qty, mode, order):
        """An order is confirmed, and its components picked at once."""
        self._confirm(spec, qty, mode, order)

    def _confirm(self, spec, qty, mode, order):
        self._step(f"confirm {spec} x{qty}")
        case = self.case
        number = len(self.families) + 1
        product = case._product(f"SM Finished {number}", 0.0)
        bom = case._bom(
            product,
            [(case.components[key], LINES[key]) for key in spec["keys"]],
            backflush_shortage_policy=spec["policy"],
            backflush_leftover_policy=spec["leftover"],
        )
        mo = self.env["mrp.production"].create(
            {"product_id": product.id, "bom_id": bom.id, "product_qty": qty}
        )
        mo.action_confirm()
        family = Family(number, bom, spec, mo.procurement_group_id)
        self.families.append(family)
        if mode and self._open_picks(family):
            self._pick_components(family, mode, order)
        return family

    @precondition(lambda self: self._pick(0, self._has_open_pick))
    @rule(
        pick=st.integers(0, 5),
        mode=st.sampled_from(("full", "over", "under", "backorder", "split")),
        order=st.sampled_from(("fefo", "fresh")),
    )
    def pick_components(self, pick, mode, order):
        """The store keeper picks the order's components to pre-production,
        taking the lots they choose from stock (reserved elsewhere or not)."""
        family = self._pick(pick, self._has_open_pick)
        self._pick_components(family, mode, order)

    def _pick_components(self, family, mode, order):
        picking = self._open_picks(family)[0]
        self._step(f"pick {picking.name} {mode} {order}")
        if not self._pick_lines(picking, mode, order):
            return
        self._validate(picking, backorder=mode in ("full", "backorder", "split"))
        if mode == "split":
            rest = self._open_picks(family)
            if rest and self._pick_lines(rest[0], "full", order):
                self._validate(rest[0], backorder=True)

    def _pick_lines(self, picking, mode, order):
        """Write the move lines of ``picking``; False when nothing is free."""
        picking.do_unreserve()
        source = picking.location_id
        any_line = False
        for move in picking.move_ids.filtered(
            lambda m: m.state not in ("done", "cancel")
        ):
            product = move.product_id
            demand = move.product_qty
            target = {
                "full": demand,
                "over": demand + (1 if product.tracking == "serial" else 2),
                "under": max(demand - 1, 0.0)
                if product.tracking == "serial"
                else math.floor(demand / 2),
                "backorder": math.ceil(demand / 2),
                "split": math.ceil(demand / 2),
            }[mode]
            vals = []
            for lot, free in self._free_lots(product, source, order):
                if target <= 0:
                    break
                qty = min(free, target)
                if qty <= 0:
                    continue
                if lot:
                    location = (
                        self.env["stock.quant"]
                        .search(
                            [
                                ("lot_id", "=", lot.id),
                                ("location_id", "child_of", source.id),
                                ("quantity", ">", 0),
                            ],
                            limit=1,
                        )
                        .location_id
                    )
                else:
                    location = source
                vals.append(
                    dict(
                        move._prepare_move_line_vals(quantity=qty),
                        lot_id=lot.id,
                        location_id=location.id,
                        picked=True,
                    )
                )
                target -= qty
            if vals:
                self.env["stock.move.line"].create(vals)
                move.picked = True
                any_line = True
        return any_line

    def _has_serial_line(self, family):
        mo = self._open_mo(family)
        return mo and mo.move_raw_ids.filtered(
            lambda m: m.has_tracking == "serial" and m.state not in ("done", "cancel")
        )

    @precondition(lambda self: self._pick(0, self._has_serial_line))
    @rule(pick=st.integers(0, 5), share=st.sampled_from((0.0, 0.5, 1.0)))
    def record_serials_on_mo(self, pick, share):
        """An operator writes the serial numbers used on the component,
        some or all of them (not marked picked: the rest is the
        backflush's), from those at the order's location that no other open
        order had picked."""
        family = self._pick(pick, self._has_serial_line)
        move = self._has_serial_line(family)[:1]
        self._step(f"record {share} serials on {move.raw_material_production_id.name}")
        wanted = math.floor(move.product_qty * share)
        free = [
            lot
            for lot, qty in self._free_lots(move.product_id, move.location_id, "fefo")
            if qty >= 1
        ]
        taken = self.env["stock.move.line"].search(
            [
                ("lot_id", "in", [lot.id for lot in free]),
                ("move_id", "!=", move.id),
                ("state", "not in", ("done", "cancel")),
            ]
        )
        # the operator takes none staged for another open order
        others = set()
        for other in self.families:
            if other is not family and self._is_open(other):
                others |= {key[1] for key in self.case._flows(other)["picked"]}
        free = [lot for lot in free if lot not in taken.lot_id and lot not in others]
        free = free[:wanted]
        move.move_line_ids.unlink()
        if free:
            quants = self.env["stock.quant"].search(
                [
                    ("lot_id", "in", [lot.id for lot in free]),
                    ("location_id", "child_of", move.location_id.id),
                    ("quantity", ">", 0),
                ]
            )
            self.env["stock.move.line"].create(
                [
                    dict(
                        move._prepare_move_line_vals(quantity=1),
                        lot_id=quant.lot_id.id,
                        location_id=quant.location_id.id,
                    )
                    for quant in quants
                ]
            )

    def _is_staged(self, family):
        return self._is_open(family) and any(
            p.state == "done" for p in self._mos(family).picking_ids
        )

    @precondition(lambda self: self._pick(0, self._is_open))
    @rule(
        pick=st.integers(0, 5),
        split=st.booleans(),
        background=st.booleans(),
        unreserve=st.booleans(),
    )
    def mark_done(self, pick, split, background, unreserve):
        family = self._pick(pick, self._is_open)
        self._mark_done(family, split, background, unreserve)

    @precondition(lambda self: self._pick(0, self._is_staged))
    @rule(
        pick=st.integers(0, 5),
        split=st.booleans(),
        background=st.booleans(),
        unreserve=st.booleans(),
    )
    def mark_done_staged(self, pick, split, background, unreserve):
        """Mark Done of an order whose components were picked."""
        family = self._pick(pick, self._is_staged)
        self._mark_done(family, split, background, unreserve)

    @precondition(lambda self: self._pick(0, self._is_staged))
    @rule(pick=st.integers(0, 5))
    def unreserve(self, pick):
        """A store keeper undoes the reservations of an order whose
        components were picked: what was picked for it stays its own, no
        other order takes it."""
        family = self._pick(pick, self._is_staged)
        mo = self._open_mo(family)
        self._step(f"unreserve {mo.name}")
        mo.do_unreserve()

    @precondition(lambda self: self._pick(0, self._is_open))
    @rule(pick=st.integers(0, 5), background=st.booleans())
    def mark_done_beside_staged(self, pick, background):
        """Mark Done of an order while what was picked for the other open
        orders lies in pre-production unreserved: it never takes it. An
        order that needs a lot-tracked component picked for another is
        taken first."""

        def tempted(family):
            return self._is_open(family) and any(
                other is not family
                and self._is_staged(other)
                and "L" in other.spec["keys"]
                and "L" in family.spec["keys"]
                for other in self.families
            )

        family = self._pick(pick, tempted) or self._pick(pick, self._is_open)
        for other in self.families:
            if other is not family and self._is_staged(other):
                self._open_mo(other).do_unreserve()
        self._mark_done(family, False, background, False, "beside_staged")

    def _mark_done(self, family, split, background, unreserve, what="mark_done"):
        mo = self._open_mo(family)
        if unreserve:
            # reservations undone: only staging tells whose stock is whose
            mo.do_unreserve()
        remaining = mo.product_qty - mo.qty_produced
        split = split and remaining >= 2
        self._step(
            f"{what} {mo.name} split={split} background={background} "
            f"unreserve={unreserve}"
        )
        # Mark Done produces what the order says it produces: a Mark Done of
        # a part refused before left its quantity on the order (saved by
        # the form before the button ran), and without a backorder Odoo
        # produces that and cancels the rest.
        producing = (
            math.floor(remaining / 2) if split else (mo.qty_producing or remaining)
        )
        if split:
            mo.qty_producing = producing
            mo._set_qty_producing(False)
        policy = family.spec["policy"]
        proposed = len(self._proposed_returns(family))

        def expected(error):
            return policy == "block"

        if background and not split:
            mo.backflush_queue_user_id = self.env.user
            self.env["mrp.backflush.queue"]._backflush_mark_done_queued(mo)
            if mo.state != "done":
                if not expected(mo.backflush_queue_error):
                    self.failures.append(
                        f"[refusal] background Mark Done of {mo.name} failed: "
                        f"{mo.backflush_queue_error}"
                    )
                return
        else:
            try:
                with self.env.cr.savepoint():
                    res = mo.with_context(
                        skip_backorder=True,
                        mo_ids_to_backorder=mo.ids if split else [],
                    ).button_mark_done()
                    self._answer(mo, res)
            except UserError as error:
                if not expected(error):
                    self.failures.append(
                        f"[refusal] Mark Done of {mo.name} refused: {error}"
                    )
                return
        family.produced[mo.id] = producing
        if len(self._proposed_returns(family)) > proposed:
            # how often a return waits to be validated (not a step)
            type(self).rules["(proposed)"] += 1

    def _answer(self, mo, res):
        """A person clicking Mark Done in the form confirms Odoo's expiry
        dialog (the backflush still consumes no expired lot); any other
        dialog is news."""
        for _attempt in range(3):
            model = isinstance(res, dict) and res.get("res_model")
            if model in (False, None, "mrp.production"):
                return
            if model != "expiry.picking.confirmation":
                raise AssertionError(f"Mark Done of {mo.name} opened {model}")
            res = self.env[model].with_context(**res["context"]).create({})
            res = res.confirm_produce()

    # -- rules: stock -------------------------------------------
    # Always possible, receipts would crowd the other rules out (Hypothesis
    # draws among the rules possible): a few per example.
    @precondition(lambda self: self.families and self.receipts < MAX_RECEIPTS)
    @rule(
        kind=st.sampled_from(("plain", "lot", "serial", "expire")),
        days=st.integers(-1, 40),
    )
    def receive(self, kind, days):
        """Stock arrives in the warehouse (a new lot may already be
        expired: removal date yesterday), or the fresh lot passes its
        removal date, staged or not."""
        self.receipts += 1
        self._step(f"receive {kind}")
        case = self.case
        if kind == "expire":
            case.lot_fresh.removal_date = min(
                case.lot_fresh.removal_date, fields.Datetime.now() - timedelta(hours=1)
            )
            # what was consumed of it before was consumed valid
            self.valid_until[case.lot_fresh] = (
                self.env["stock.move.line"].search([], order="id desc", limit=1).id
            )
        elif kind == "plain":
            case._stock(case.plain, case._qty(case.plain) + 20)
        elif kind == "serial":
            self._receive_serials(3)
        else:
            self.lot_count += 1
            now = fields.Datetime.now()
            date = now + (timedelta(days=days) if days >= 0 else timedelta(hours=-1))
            lot = self.env["stock.lot"].create(
                {
                    "name": f"SM-LOT-{self.lot_count}",
                    "product_id": case.lotted.id,
                    "expiration_date": date,
                    "removal_date": date,
                }
            )
            case._stock(case.lotted, 15, lot=lot)

    # Validating a proposed return and correcting a done order are possible
    # in few states: each is drawn under two names, so that an example's
    # draw of enabled rules (Hypothesis's swarm testing) rarely leaves both
    # out and the long profile exercises them.
    @precondition(lambda self: self._pick(0, self._proposed_returns))
    @rule(pick=st.integers(0, 5))
    def validate_proposed_return(self, pick):
        self._validate_proposed_return(pick)

    @precondition(lambda self: self._pick(0, self._proposed_returns))
    @rule(pick=st.integers(0, 5))
    def validate_proposed_return_later(self, pick):
        self._validate_proposed_return(pick)

    def _validate_proposed_return(self, pick):
        family = self._pick(pick, self._proposed_returns)
        returns = self._proposed_returns(family)
        self._step(f"validate return {returns[:1].name}")
        returns = returns[:1]
        returns.move_ids.picked = True
        self._validate(returns, backorder=False)

    # -- rules: pending postings --------------------------------
    @precondition(lambda self: self._pick(0, self._has_pending))
    @rule(pick=st.integers(0, 5), cron=st.booleans())
    def retry(self, pick, cron):
        """A person retries a family's pending postings, or the cron all."""
        family = self._pick(pick, self._has_pending)
        if cron:
            self._step("retry by the cron")
            self.env["mrp.backflush.exception"]._cron_retry()
        else:
            self._step(f"retry {family}")
            self._pending(family).action_retry()

    @precondition(lambda self: self._pick(0, self._has_pending))
    @rule(pick=st.integers(0, 5))
    def cancel_exception(self, pick):
        family = self._pick(pick, self._has_pending)
        self._step(f"cancel a pending posting of {family}")
        self._pending(family)[:1]._cancel("stateful material test")

    def _serial_pending(self, family):
        return self._pending(family).filtered(
            lambda e: e.product_id.tracking == "serial"
        )

    @precondition(lambda self: self._pick(0, self._serial_pending))
    @rule(
        pick=st.integers(0, 5),
        how=st.sampled_from(("all", "partial", "other_pending", "elsewhere")),
    )
    def record_serials_on_exception(self, pick, how):
        """An operator records the serial numbers of a pending posting:
        all of them, some (the rest must wait, saying how many), one
        recorded on another pending posting, or one not at the location."""
        family = self._pick(pick, self._serial_pending)
        exc = self._serial_pending(family)[:1]
        self._step(f"record serials ({how}) on {exc.name}")
        needed = int(round(exc.quantity))
        free = [
            lot
            for lot, qty in self._free_lots(exc.product_id, exc.location_id, "fefo")
            if qty >= 1
        ]
        others = self.env["mrp.backflush.exception"].search(
            [("state", "=", "pending"), ("id", "!=", exc.id)]
        )
        if how == "other_pending":
            lots = others.lot_ids[:1]
            if not lots:
                return
        elif how == "elsewhere":
            lots = self.env["stock.lot"].concat(
                *(
                    lot
                    for lot, _qty in self._free_lots(
                        exc.product_id, self.case.stock_location, "fefo"
                    )
                )
            )[:1]
            if not lots:
                return
        else:
            count = needed if how == "all" else max(needed - 1, 1)
            lots = self.env["stock.lot"].concat(
                *(lot for lot in free if lot not in others.lot_ids)
            )[:count]
        try:
            with self.env.cr.savepoint():
                exc._record_serials(lots)
        except UserError as error:
            if how != "other_pending":
                self.failures.append(
                    f"[serials] recording {lots.mapped('name')} on {exc.name} "
                    f"refused: {error}"
                )
            return
        self.env.invalidate_all()
        if exc.state == "pending" and exc.cause == "lot_required":
            missing = exc.product_uom_id._backflush_format_qty(exc.quantity)
            if missing not in (exc.cause_detail or ""):
                self.failures.append(
                    f"[serials] {exc.name} waits for {missing} serial numbers, "
                    f"its message says: {exc.cause_detail}"
                )

    # -- rules: after the fact ----------------------------------
    def _unbuildable(self, family):
        """Done orders with units left to unbuild. Serial numbers: one
        unbuild of the whole order, as Odoo's unbuild gives back the first
        serial numbers consumed each time (vanilla, whatever the backflush)."""
        serial = "S" in family.spec["keys"]
        return self._mos(family).filtered(
            lambda m: (
                m.state == "done"
                and m.qty_produced - family.unbuilt[m.id] >= 1
                and not (serial and family.unbuilt[m.id])
            )
        )

    @precondition(lambda self: self._pick(0, self._unbuildable))
    @rule(pick=st.integers(0, 5))
    def unbuild(self, pick):
        family = self._pick(pick, self._unbuildable)
        mo = self._unbuildable(family)[:1]
        qty = mo.qty_produced if "S" in family.spec["keys"] else 1
        self._step(f"unbuild {qty} of {mo.name}")
        try:
            with self.env.cr.savepoint():
                self.env["mrp.unbuild"].create(
                    {
                        "product_id": mo.product_id.id,
                        "bom_id": mo.bom_id.id,
                        "mo_id": mo.id,
                        "product_qty": qty,
                        "product_uom_id": mo.product_uom_id.id,
                        "location_id": mo.location_dest_id.id,
                        "location_dest_id": self.case.stock_location.id,
                    }
                ).action_unbuild()
        except UserError as error:
            self.failures.append(f"[refusal] unbuild of {mo.name} refused: {error}")
            return
        family.unbuilt[mo.id] += qty

    def _lot_in_pre(self, product, lot):
        if not lot:
            return 0.0
        return sum(
            self.env["stock.quant"]
            .search(
                [
                    ("product_id", "=", product.id),
                    ("lot_id", "=", lot.id),
                    ("location_id", "child_of", self.case.pre.id),
                ]
            )
            .mapped("quantity")
        )

    def _correctable(self, family, pending=False):
        """Done orders with (``pending``) or without pending postings."""
        return self._mos(family).filtered(
            lambda m: m.state == "done" and bool(m.backflush_pending_count) == pending
        )

    def _has_correctable_pending(self, family):
        return self._correctable(family, pending=True)

    @precondition(lambda self: self._pick(0, self._has_correctable_pending))
    @rule(pick=st.integers(0, 5))
    def correct_pending(self, pick):
        """Pending postings are posted or cancelled before a correction."""
        family = self._pick(pick, self._has_correctable_pending)
        mo = self._correctable(family, pending=True)[:1]
        self._step(f"correct_refused {mo.name}")
        with self.case.assertRaisesRegex(UserError, "Backflush Monitor"):
            mo.action_backflush_correct()

    @precondition(lambda self: self._pick(0, self._correctable))
    @rule(
        pick=st.integers(0, 5), index=st.integers(0, 3), delta=st.sampled_from((1, -1))
    )
    def correct(self, pick, index, delta):
        self._correct(pick, index, delta)

    @precondition(lambda self: self._pick(0, self._correctable))
    @rule(
        pick=st.integers(0, 5), index=st.integers(0, 3), delta=st.sampled_from((1, -1))
    )
    def correct_again(self, pick, index, delta):
        self._correct(pick, index, delta)

    def _correct(self, pick, index, delta):
        """A manager corrects a done order: one more used, or one back."""
        family = self._pick(pick, self._correctable)
        mo = self._correctable(family)[:1]
        action = mo.action_backflush_correct()
        wizard = self.env[action["res_model"]].browse(action["res_id"])
        lines = wizard.line_ids.filtered(lambda ln: ln.consumed_qty > 0)
        if not lines:
            return
        line = lines[index % len(lines)]
        self._step(f"correct {mo.name} {line.product_id.name} by {delta}")
        line.qty_used = max(line.consumed_qty + delta, 0.0)
        key = line.product_id, line.lot_id
        before = self._lot_in_pre(*key)
        try:
            with self.env.cr.savepoint():
                wizard.action_confirm()
            # one more of a lot no longer there: negative stock, which the
            # next pick of that lot fills (no order took it from that pick)
            self.overdrawn[key] += max(-self._lot_in_pre(*key), 0.0) - max(-before, 0.0)
        except UserError as error:
            # serial numbers and expired lots may leave nothing to take;
            # what is left may be picked for another open order
            if delta < 0 or (
                line.product_id.tracking == "none" and "picked for" not in str(error)
            ):
                self.failures.append(
                    f"[refusal] correction of {mo.name} refused: {error}"
                )

    # -- invariants ---------------------------------------------
    @invariant()
    def check(self):
        self.env.flush_all()
        self.env.invalidate_all()
        failures, self.failures = self.failures, []
        failures += self.case._material_failures(
            self.families, self.overdrawn, self.valid_until
        )
        failures = [f for f in failures if f[1 : f.index("]")] not in self.skip]
        assert not failures, "\n".join(failures)


@tagged("post_install", "-at_install")
class TestStatefulMaterial(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if "removal_date" not in cls.env["stock.lot"]._fields:
            raise SkipTest("product_expiry is not installed")
        cls.env.user.groups_id += cls.env.ref("stock.group_production_lot")
        cls.warehouse.manufacture_steps = "pbm"
        cls.pre = cls.warehouse.pbm_loc_id
        categ_fefo = cls.env["product.category"].create(
            {
                "name": "Material FEFO",
                "property_cost_method": "fifo",
                "property_valuation": "manual_periodic",
                "removal_strategy_id": cls.env.ref("product_expiry.removal_fefo").id,
            }
        )
        cls.plain = cls._product("SM Plain", 2.0)
        cls.lotted = cls._product(
            "SM Milk", 3.0, categ=categ_fefo, tracking="lot", use_expiration_date=True
        )
        cls.serial = cls._product("SM Sensor", 5.0, tracking="serial")
        cls.components = {"P": cls.plain, "L": cls.lotted, "S": cls.serial}
        now = fields.Datetime.now()

        def lot(name, when):
            return cls.env["stock.lot"].create(
                {
                    "name": name,
                    "product_id": cls.lotted.id,
                    "expiration_date": when,
                    "removal_date": when,
                }
            )

        cls.lot_expired = lot("SM-EXPIRED", now - timedelta(days=1))
        cls.lot_fresh = lot("SM-FRESH", now + timedelta(days=10))
        cls.lot_later = lot("SM-LATER", now + timedelta(days=30))
        cls.lot_kept = lot("SM-KEPT", now + timedelta(days=60))

    def test_stateful_material(self):
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
            "MaterialMachine",
            (MaterialMachine,),
            {
                "case": self,
                "skip": frozenset(filter(None, skip.split(","))),
                "rules": Counter(),
            },
        )
        if os.environ.get("BACKFLUSH_STATEFUL_SEED"):
            machine = seed(int(os.environ["BACKFLUSH_STATEFUL_SEED"]))(machine)
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
            _logger.warning(
                "stateful material, profile %s %s: %s examples, %s steps in %.0fs (%s)",
                profile,
                budget,
                machine.examples,
                machine.steps,
                time.monotonic() - started,
                dict(machine.rules),
            )

    # ------------------------------------------------------------------
    # invariants, from moves, move lines, quants, exceptions and layers
    # ------------------------------------------------------------------
    def _under_pre(self, location):
        return location.parent_path.startswith(self.pre.parent_path)

    def _material_failures(self, families, overdrawn, valid_until):
        failures = []
        flows = {}
        for family in families:
            flows[family] = self._flows(family)
            failures += self._ledger_failures(family)
            failures += self._posting_failures(family)
            failures += self._leftover_failures(family, flows[family])
            if not any(family.unbuilt.values()):
                failures += self._value_failures(family)
        failures += self._expired_failures(valid_until)
        failures += self._serial_failures()
        failures += self._theft_failures(families, flows, overdrawn)
        failures += self._pre_production_failures(flows)
        return failures

    def _ledger_failures(self, family):
        """posted + pending + cancelled = required, per BOM line, required
        being what the done orders produced times the line's quantity."""
        mos = family.group.mrp_production_ids
        failures = []
        for mo in mos.filtered(lambda m: m.id in family.produced):
            if (
                mo.state != "done"
                or abs(mo.qty_produced - family.produced[mo.id]) > EPS
            ):
                failures.append(
                    f"[produced] {family}: {mo.name} is {mo.state} with "
                    f"{mo.qty_produced}, Mark Done produced {family.produced[mo.id]}"
                )
        produced = sum(mos.filtered(lambda m: m.state == "done").mapped("qty_produced"))
        done_raw = mos.move_raw_ids.filtered(lambda m: m.state == "done")
        exceptions = mos.backflush_exception_ids
        for bom_line in family.bom.bom_line_ids:
            moves = done_raw.filtered(
                lambda m, bl=bom_line: (
                    m.bom_line_id == bl and m.backflush_role in SETTLING_ROLES
                )
            )
            # what the moves moved: a move closed short keeps its demand
            posted = sum(
                m.product_uom._compute_quantity(m.quantity, m.product_id.uom_id)
                for m in moves
            )
            excs = exceptions.filtered(lambda e, bl=bom_line: e.bom_line_id == bl)
            pending = sum(
                excs.filtered(lambda e: e.state == "pending").mapped("quantity")
            )
            cancelled = sum(
                excs.filtered(lambda e: e.state == "cancel").mapped("quantity")
            )
            cancelled += sum(excs.mapped("unbuilt_qty"))
            required = produced * bom_line.product_qty
            if abs(posted + pending + cancelled - required) > 1e-4:
                failures.append(
                    f"[ledger] {family}: {bom_line.product_id.name} posted "
                    f"{posted:g} + pending {pending:g} + cancelled {cancelled:g} "
                    f"!= required {required:g} ({produced:g} produced)"
                )
        return failures

    def _posting_failures(self, family):
        """Nothing posted twice: a move on one run line at most, an
        exception's posted quantity is its done moves."""
        mos = family.group.mrp_production_ids
        failures = []
        seen = defaultdict(int)
        for run_line in mos.backflush_run_ids.line_ids.filtered("move_id"):
            seen[run_line.move_id] += 1
        for move, count in seen.items():
            if count > 1:
                failures.append(
                    f"[posted_twice] {family}: move {move.id} on {count} run lines"
                )
        for exc in mos.backflush_exception_ids:
            posted = sum(
                m.product_uom._compute_quantity(m.quantity, exc.product_uom_id)
                for m in exc.move_ids
                if m.state == "done"
            )
            if abs(posted - exc.posted_qty) > 1e-4:
                failures.append(
                    f"[posted_twice] {family}: {exc.name} says {exc.posted_qty:g} "
                    f"posted, its done moves {posted:g}"
                )
        return failures

    def _flows(self, family):
        """Per (product, lot) of the family, in product units: picked into
        pre-production, returned from it by a return of the pick, consumed
        there by a backflush role, net consumed there (any raw move, less
        what unbuilds and corrections gave back there)."""
        mos = family.group.mrp_production_ids
        pbm = self.warehouse.pbm_type_id
        pickings = mos.picking_ids
        picks = pickings.filtered(
            lambda p: p.picking_type_id == pbm and not p.return_id and p.state == "done"
        )
        returns = self.env["stock.picking"].search(
            [("return_id", "in", picks.ids), ("state", "=", "done")]
        )
        flow = defaultdict(lambda: defaultdict(float))
        for ml in picks.move_line_ids:
            if self._under_pre(ml.location_dest_id):
                flow["picked"][ml.product_id, ml.lot_id] += ml.quantity_product_uom
        for ml in returns.move_line_ids:
            if self._under_pre(ml.location_id):
                flow["returned"][ml.product_id, ml.lot_id] += ml.quantity_product_uom
        # consumption posted before the last return of leftovers (a later
        # correction may consume more there, into negative stock)
        last_return = max(returns.move_line_ids.ids, default=0)
        raw = mos.move_raw_ids.filtered(lambda m: m.state == "done")
        for ml in raw.move_line_ids:
            if self._under_pre(ml.location_id):
                key = ml.product_id, ml.lot_id
                flow["net"][key] += ml.quantity_product_uom
                if ml.id < last_return:
                    flow["net_at_return"][key] += ml.quantity_product_uom
                if ml.move_id.backflush_role in BACKFLUSH_ROLES:
                    flow["consumed"][key] += ml.quantity_product_uom
        back = self.env["stock.move"].search(
            [("origin_returned_move_id", "in", raw.ids), ("state", "=", "done")]
        )
        for ml in back.move_line_ids:
            if self._under_pre(ml.location_dest_id):
                flow["net"][ml.product_id, ml.lot_id] -= ml.quantity_product_uom
                if ml.id < last_return:
                    key = ml.product_id, ml.lot_id
                    flow["net_at_return"][key] -= ml.quantity_product_uom
        flow["open"] = any(m.state not in ("done", "cancel") for m in mos)
        flow["back"] = back
        flow["returns"] = returns
        return flow

    def _leftover_failures(self, family, flow):
        """Returned leftovers never exceed what was picked less what the
        family had consumed there; a keep policy returns nothing."""
        failures = []
        for key, returned in flow["returned"].items():
            product, lot = key
            left = flow["picked"][key] - flow["net_at_return"][key]
            if family.spec["leftover"] == "keep" or returned > left + 1e-4:
                failures.append(
                    f"[leftovers] {family}: returned {returned:g} of {product.name} "
                    f"{lot.name or ''}, picked {flow['picked'][key]:g}, consumed "
                    f"{flow['net_at_return'][key]:g} before"
                )
        return failures

    def _expired_failures(self, valid_until):
        """No backflush consumes a lot past its removal date (a lot the
        test expired, dated an hour back, only after it did)."""
        lines = self.env["stock.move.line"].search(
            [
                ("state", "=", "done"),
                ("lot_id.removal_date", "!=", False),
                ("move_id.raw_material_production_id", "!=", False),
                ("move_id.backflush_role", "in", BACKFLUSH_ROLES),
            ]
        )
        return [
            f"[expired] {ml.move_id.raw_material_production_id.name} consumed "
            f"{ml.quantity:g} of expired lot {ml.lot_id.name} "
            f"(removal {ml.lot_id.removal_date}, posted {ml.date})"
            for ml in lines
            if ml.lot_id.removal_date <= ml.date and ml.id > valid_until[ml.lot_id]
        ]

    def _serial_failures(self):
        """A serial number is in one place at most, never below zero there
        (Odoo may split a location's stock of it on two quants)."""
        groups = self.env["stock.quant"]._read_group(
            [
                ("product_id", "=", self.serial.id),
                ("location_id.usage", "=", "internal"),
                ("lot_id", "!=", False),
            ],
            ["lot_id", "location_id"],
            ["quantity:sum"],
        )
        total = defaultdict(float)
        failures = []
        for lot, location, qty in groups:
            total[lot] += qty
            if qty < -EPS:
                failures.append(
                    f"[serials] {lot.name} in {location.display_name}: {qty:g}"
                )
        return failures + [
            f"[serials] {lot.name} in stock {qty:g}"
            for lot, qty in total.items()
            if qty > 1 + EPS
        ]

    def _theft_failures(self, families, flows, overdrawn):
        """An order never takes a lot staged for another open order: what
        is left of each open family's staged lots is still there, but for
        what corrections had consumed of the lot there into negative stock
        before (``overdrawn``)."""
        owed = defaultdict(float)
        for family in families:
            flow = flows[family]
            if not flow["open"]:
                continue
            for key, picked in flow["picked"].items():
                if key[1]:
                    owed[key] += max(
                        picked - flow["net"][key] - flow["returned"][key], 0.0
                    )
        failures = []
        for (product, lot), qty in owed.items():
            there = sum(
                self.env["stock.quant"]
                .search(
                    [("lot_id", "=", lot.id), ("location_id", "child_of", self.pre.id)]
                )
                .mapped("quantity")
            )
            if there + overdrawn[product, lot] < qty - 1e-4:
                failures.append(
                    f"[theft] {product.name} lot {lot.name}: open orders staged "
                    f"{qty:g} still theirs, {there:g} in pre-production"
                )
        return failures

    def _pre_production_failures(self, flows):
        """Stock in pre-production + returned + consumed = picked (+ what
        unbuilds and corrections gave back): nothing else moves it."""
        expected = defaultdict(float)
        for flow in flows.values():
            for key, qty in flow["picked"].items():
                expected[key] += qty
            for key, qty in flow["returned"].items():
                expected[key] -= qty
            for key, qty in flow["net"].items():
                expected[key] -= qty
        lines = self.env["stock.move.line"].search(
            [
                ("state", "=", "done"),
                "|",
                ("location_id", "child_of", self.pre.id),
                ("location_dest_id", "child_of", self.pre.id),
            ]
        )
        failures = []
        for ml in lines:
            move = ml.move_id
            if not (
                move.picking_id.picking_type_id == self.warehouse.pbm_type_id
                or move.picking_id.return_id
                or move.raw_material_production_id
                or move.origin_returned_move_id.raw_material_production_id
                or move.is_inventory
            ):
                failures.append(
                    f"[pre_production] move {move.id} {move.reference} of "
                    f"{move.product_id.name} moved staged stock"
                )
            if move.is_inventory:
                sign = 1 if self._under_pre(ml.location_dest_id) else -1
                expected[ml.product_id, ml.lot_id] += sign * ml.quantity_product_uom
        quants = self.env["stock.quant"]._read_group(
            [("location_id", "child_of", self.pre.id)],
            ["product_id", "lot_id"],
            ["quantity:sum"],
        )
        there = {(product, lot): qty for product, lot, qty in quants}
        for key in set(there) | set(expected):
            if abs(there.get(key, 0.0) - expected[key]) > 1e-4:
                failures.append(
                    f"[pre_production] {key[0].name} {key[1].name or ''}: "
                    f"{there.get(key, 0.0):g} in pre-production, picked - returned "
                    f"- consumed = {expected[key]:g}"
                )
        return failures

    def _value_failures(self, family):
        """Finished goods carry what their family consumed."""
        mos = family.group.mrp_production_ids
        done_raw = mos.move_raw_ids.filtered(
            lambda m: m.state == "done" and m.raw_material_production_id.state == "done"
        )
        back = self.env["stock.move"].search(
            [("origin_returned_move_id", "in", done_raw.ids), ("state", "=", "done")]
        )
        consumed = -sum(
            (done_raw | back).sudo().stock_valuation_layer_ids.mapped("value")
        )
        finished_moves = mos.move_finished_ids.filtered(
            lambda m: (
                m.state == "done"
                and m.product_id == family.bom.product_tmpl_id.product_variant_id
            )
        )
        finished = sum(finished_moves.sudo().stock_valuation_layer_ids.mapped("value"))
        slack = 0.01 * (len(done_raw) + len(finished_moves) + 1)
        if abs(consumed - finished) > slack:
            return [
                f"[value] {family}: finished goods worth {finished:.2f}, the "
                f"family consumed {consumed:.2f}"
            ]
        return []
