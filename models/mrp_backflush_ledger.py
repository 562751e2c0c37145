# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The ledger: what each MO family still owes each BOM line.

An MO family is an MO and its backorders (their procurement group). For each
family and backflushed BOM line the ledger derives, from records only (done
moves, exceptions, unbuilds, never from flags on single moves):

- ``required``: net for what was produced and not unbuilt, plus planned scrap
  for what was produced (percentage, and the fixed part once per family;
  less the share of units since unbuilt that was never posted), rounded up
  as a whole, plus what operators recorded by hand;
- ``posted``: the component units covered by done backflush moves (a
  substitute counts for the units it stood in for), less unbuild returns;
- ``pending`` and ``cancelled``: deferred shortages still to post or given up.

Corrections are reported beside the requirement: an extra use or leftovers
returned never change what the next posting owes. Once units are unbuilt,
the leftovers a correction returned stand for the share of those units the
unbuild could not give back again (it never returns more than the goods
hold): they settle it, up to what the ledger would otherwise count twice.

Every posting posts ``required - posted - pending - cancelled`` (see
:meth:`LedgerEntry.to_post`), so nothing is posted twice whatever the order
of work-order finishes, backorders, retries and unbuilds.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from odoo import api, models
from odoo.tools import SQL, float_compare, float_is_zero

from .. import planning

# Roles whose done moves settle the requirement; corrections and actual
# scrap are reported beside it.
LEDGER_ROLES = ("component", "substitute", "planned_scrap", "deferred")


@dataclass
class LedgerEntry:
    """One family and BOM line, in the unit of the line's component moves."""

    unit_qty: float  # net per finished unit (MO unit)
    scrap_percent: float
    fixed_qty: float
    rounding: float
    produced: float = 0.0  # finished units posted from the BOM
    # Open backorders a work order of the order they were split from already
    # posted for: {MO id: (units covered, units of the MO neither posted nor
    # covered)}, see MrpBackflushLedger._add_ahead.
    ahead: dict = field(default_factory=dict)
    # Open MOs whose own work order posted the line for units they have not
    # produced yet: {MO id: units}, the first units they produce.
    own: dict = field(default_factory=dict)
    unbuilt: float = 0.0
    recorded: float = 0.0  # quantities recorded by hand, posted as they are
    posted: dict = field(default_factory=lambda: defaultdict(float))
    returned: float = 0.0
    pending: float = 0.0
    cancelled: float = 0.0
    corrected: float = 0.0  # extra use recorded, less leftovers returned
    scrap_unbuilt: float = 0.0  # planned scrap cancelled with unbuilt units
    production_ids: set = field(default_factory=set)  # MOs counted in produced

    @property
    def covered(self):
        """Finished units the family posted the line for."""
        return self.produced + sum(ahead for ahead, _room in self.ahead.values())

    def new_units(self, produced, production_id):
        """Of ``produced`` units MO ``production_id`` posts now, those not
        covered already: its own work order's units first, then its units
        neither posted nor covered; the rest are the ones covered ahead."""
        produced = max(produced - self.own.get(production_id, 0.0), 0.0)
        ahead, room = self.ahead.get(production_id, (0.0, 0.0))
        return produced - min(ahead, max(produced - room, 0.0))

    def add_produced(self, produced, production_id):
        """Count ``produced`` units of MO ``production_id`` as posted (two
        MOs of one family in one posting: the second owes the rest)."""
        new = self.new_units(produced, production_id)
        self.produced += new
        if production_id in self.own:
            self.own[production_id] = max(self.own[production_id] - produced, 0.0)
        if production_id in self.ahead:
            ahead, room = self.ahead[production_id]
            self.ahead[production_id] = (ahead, max(room - new, 0.0))

    def required(self, produced=0.0, unbuilt=0.0):
        """What the family requires once ``produced`` more units are posted
        and ``unbuilt`` more are unbuilt; never rounded under."""
        if not self.covered + produced:
            return self.recorded
        return (
            planning.round_up(
                self.net_required(produced, unbuilt) + self.scrap_required(produced),
                self.rounding,
            )
            + self.recorded
        )

    def net_required(self, produced=0.0, unbuilt=0.0):
        return (
            max(self.covered + produced - self.unbuilt - unbuilt, 0.0) * self.unit_qty
        )

    def scrap_required(self, produced=0.0):
        """Planned scrap for what was produced: posted, it was lost and
        stays required; only the share of unbuilt units that was never
        posted (cancelled with their shortage) is not."""
        total = self.covered + produced
        if not total:
            return 0.0
        scrap = total * self.unit_qty * self.scrap_percent / 100.0 + self.fixed_qty
        return max(scrap - self.scrap_unbuilt, 0.0)

    def pending_scrap_of(self, unbuilt):
        """Planned scrap of ``unbuilt`` units still pending: never posted,
        so not lost; scrap is the last part posted, the first part short."""
        share = unbuilt * self.unit_qty * self.scrap_percent / 100.0
        unposted = self.scrap_required() - self.posted["planned_scrap"]
        return max(min(share, unposted, self.pending), 0.0)

    @property
    def absorbed(self):
        """Leftovers returned by corrections that settle the share of
        unbuilt units the unbuild did not give back (already back)."""
        leftovers = -self.corrected
        if leftovers <= 0 or not self.unbuilt:
            return 0.0
        settled = (
            sum(self.posted.values()) - self.returned + self.pending + self.cancelled
        )
        return min(leftovers, max(settled - self.required(), 0.0))

    @property
    def posted_qty(self):
        return sum(self.posted.values()) - self.returned - self.absorbed

    @property
    def settled_qty(self):
        return self.posted_qty + self.pending + self.cancelled

    def to_post(self, produced, production_id=None):
        """(net, planned scrap) still owed once MO ``production_id`` made
        ``produced`` more units. The net comes first, rounded up; what the
        rounding of the whole leaves over is planned scrap."""
        produced = self.new_units(produced, production_id)
        total = max(self.required(produced) - self.settled_qty, 0.0)
        net_settled = self.settled_qty - self.recorded - self.posted["planned_scrap"]
        net_owed = self.net_required(produced) - net_settled
        net = min(total, max(planning.round_up(net_owed, self.rounding), 0.0))
        return net, total - net

    def explains_unbuild(self, unbuilt, unit_rounding):
        """The ledger can say what unbuilding ``unbuilt`` more units gives
        back: what is settled is what the units produced require, and no
        more is unbuilt than was produced (at the MO unit's
        ``unit_rounding``)."""
        return (
            float_is_zero(
                self.settled_qty - self.required(), precision_rounding=self.rounding
            )
            and float_compare(
                self.unbuilt + unbuilt, self.produced, precision_rounding=unit_rounding
            )
            <= 0
        )

    def fixed_now(self, produced):
        """The fixed scrap posted by the family's first posting."""
        return self.fixed_qty if produced and not self.covered else 0.0


class MrpBackflushLedger(models.AbstractModel):
    _name = "mrp.backflush.ledger"
    _description = "Backflush Ledger"

    @api.model
    def _family_key(self, production):
        group = production.procurement_group_id
        return ("group", group.id) if group else ("mo", production.id)

    @api.model
    def _lock_families(self, productions):
        """Serialize the postings of each family of ``productions``.

        The ledger reads the whole family, but two siblings (backorders,
        Odoo's *Split*) finished at once may touch no common row and both
        see nothing posted yet. Each posting therefore writes its family's
        procurement group row: the second transaction waits for the first,
        then PostgreSQL refuses its stale snapshot and Odoo retries the
        request, which reads what the first posted. An MO without a group
        is its own family, and Mark Done already locks its row.
        """
        groups = productions.procurement_group_id
        if groups:
            # write_date = write_date: a new row version, no cached value
            # changes.
            self.env.cr.execute(
                SQL(
                    "UPDATE procurement_group SET write_date = write_date "
                    "WHERE id IN (SELECT id FROM procurement_group WHERE id IN %s "
                    "ORDER BY id FOR UPDATE)",
                    tuple(groups.ids),
                )
            )

    @api.model
    def _entries(self, productions, bom_lines, moves_by_key):
        """Ledger entries of ``productions``' families for ``bom_lines``.

        ``moves_by_key`` maps (family key, BOM line) to a component move of
        the family, which gives the unit and the per-unit quantity. Reads
        every family's moves, exceptions and unbuilds in a few grouped
        queries, whatever the number of MOs and lines.
        """
        family = (
            productions.procurement_group_id.mrp_production_ids | productions
        ).with_context(active_test=False)
        entries = {}
        for key, move in moves_by_key.items():
            line = key[1]
            entries[key] = LedgerEntry(
                unit_qty=move.backflush_unit_qty or move._backflush_bom_unit_qty(),
                scrap_percent=line.scrap_percent,
                fixed_qty=line.product_uom_id._compute_quantity(
                    line.scrap_fixed_qty, move.product_uom, round=False
                ),
                rounding=move._backflush_rounding(),
            )
        if not entries:
            return entries
        self._add_moves(entries, family, bom_lines)
        self._add_exceptions(entries, family, bom_lines)
        self._add_unbuilds(entries, family)
        return entries

    @api.model
    def _add_moves(self, entries, family, bom_lines):
        moves = (
            self.env["stock.move"]
            .sudo()
            .search(
                [
                    ("bom_line_id", "in", bom_lines.ids),
                    ("backflush_role", "!=", False),
                    "|",
                    ("raw_material_production_id", "in", family.ids),
                    "|",
                    ("unbuild_id.mo_id", "in", family.ids),
                    (
                        "origin_returned_move_id.raw_material_production_id",
                        "in",
                        family.ids,
                    ),
                ]
            )
        )
        managed = set()
        recorded_runs = defaultdict(set)
        for move in moves:
            production = (
                move.raw_material_production_id
                or move.unbuild_id.mo_id
                or move.origin_returned_move_id.raw_material_production_id
            )
            key = (self._family_key(production), move.bom_line_id)
            entry = entries.get(key)
            if entry is None:
                continue
            if move.backflush_role == "component" and not move.unbuild_id:
                # Posted, even when substitutes covered it all (cancelled).
                if move.state in ("done", "cancel"):
                    managed.add((production, move.bom_line_id, move.backflush_recorded))
                if move.state == "done" and move.backflush_recorded:
                    recorded_runs[production, move.bom_line_id].add(
                        move.backflush_run_id
                    )
            if move.state != "done":
                continue
            if move.unbuild_id:
                entry.returned += move.backflush_line_qty
                if move.backflush_recorded:
                    entry.recorded -= move.backflush_line_qty
            elif move.backflush_role == "correction":
                entry.corrected += (
                    move.backflush_line_qty
                    if move.raw_material_production_id
                    else -move._backflush_return_line_qty()
                )
            elif move.backflush_role in LEDGER_ROLES:
                entry.posted[move.backflush_role] += move.backflush_line_qty
                if move.backflush_recorded:
                    entry.recorded += move.backflush_line_qty
        # What each MO of the family produced counts for the lines it
        # backflushed from the BOM; the units a quantity recorded by hand
        # was posted for count as recorded instead (a work order's record
        # covers the units it finished: the order's Mark Done posts only
        # units beyond them); a line never backflushed does not count.
        for production, line in {(p, line) for p, line, _rec in managed}:
            entry = entries[(self._family_key(production), line)]
            units = sum(run.produced_qty for run in recorded_runs[production, line])
            if (production, line, False) in managed:
                covered = max(self._covered_qty(production, line) - units, 0.0)
                if covered or not units:
                    entry.produced += covered
                    entry.production_ids.add(production.id)
                units += covered
            if units > production.qty_produced:
                entry.own[production.id] = units - production.qty_produced
        self._add_ahead(entries, family)

    @api.model
    def _add_ahead(self, entries, family):
        """Open backorders a work order of the order they were split from
        already posted for. A work order finished for more than its order
        then produces posts its operation's lines for units of the
        backorder, and Odoo carries them over to the backorder's work order
        (``qty_reported_from_previous_wo``). They count as produced while the
        backorder is open, so that what was posted is explained (an unbuild
        of the order gives back the net share of its own units), and a
        posting of the backorder counts them once: its work order posts the
        units left, its Mark Done only units beyond them."""
        for production in family.filtered(lambda p: p.state not in ("done", "cancel")):
            family_key = self._family_key(production)
            size = max(production.product_qty, production.qty_producing)
            for (key, line), entry in entries.items():
                if key != family_key or line._get_backflush_mode() != "operation":
                    continue
                reported = max(
                    production.workorder_ids.filtered(
                        lambda w, line=line: w.operation_id == line.operation_id
                    ).mapped("qty_reported_from_previous_wo"),
                    default=0.0,
                )
                if not reported:
                    continue
                own = (
                    self._covered_qty(production, line)
                    if production.id in entry.production_ids
                    else 0.0
                )
                ahead = min(reported, max(size - own, 0.0))
                entry.ahead[production.id] = (ahead, max(size - own - ahead, 0.0))

    @api.model
    def _covered_qty(self, production, bom_line):
        """Finished units whose ``bom_line`` components ``production`` posted
        from the BOM: what it produced so far (also when part of it was
        posted before the order is done); an operation line is posted when
        its work order finishes. Units a work order finished beyond the
        order's size are its backorder's (Odoo reports them there, see
        ``_add_ahead``)."""
        production.ensure_one()
        covered = production.qty_produced
        if production.state != "done" and bom_line._get_backflush_mode() == "operation":
            workorders = production.workorder_ids.filtered(
                lambda w: w.operation_id == bom_line.operation_id and w.state == "done"
            )
            size = max(production.product_qty, production.qty_producing)
            covered = max(covered, min(sum(workorders.mapped("qty_produced")), size))
        return covered

    @api.model
    def _add_exceptions(self, entries, family, bom_lines):
        rows = (
            self.env["mrp.backflush.exception"]
            .sudo()
            ._read_group(
                [
                    ("production_id", "in", family.ids),
                    ("bom_line_id", "in", bom_lines.ids),
                ],
                ["production_id", "bom_line_id", "state"],
                ["quantity:sum", "unbuilt_scrap_qty:sum"],
            )
        )
        for production, line, state, qty, scrap_unbuilt in rows:
            entry = entries.get((self._family_key(production), line))
            if entry is None:
                continue
            entry.scrap_unbuilt += scrap_unbuilt
            if state == "pending":
                entry.pending += qty
            elif state == "cancel":
                entry.cancelled += qty

    @api.model
    def _add_unbuilds(self, entries, family):
        unbuilds = (
            self.env["mrp.unbuild"]
            .sudo()
            .search([("mo_id", "in", family.ids), ("state", "=", "done")])
        )
        for unbuild in unbuilds:
            production = unbuild.mo_id
            qty = unbuild.product_uom_id._compute_quantity(
                unbuild.product_qty, production.product_uom_id, round=False
            )
            family_key = self._family_key(production)
            # Units of an MO whose line was recorded by hand never counted
            # in what the line's ledger produced.
            for (key, _line), entry in entries.items():
                if key == family_key and production.id in entry.production_ids:
                    entry.unbuilt += qty
