# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Components picked to pre-production for an order (2- and 3-step
manufacturing, SPEC §4 *Staged material*): whose they are, what is left of
them, and the return of what the order did not consume.

Staged for an MO family (an MO and its backorders share their pick): the
done move lines of the transfers that brought its raw moves' components
into their source location (``move_orig_ids``), per product, lot and
location; less what the family consumed there and what was returned.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from markupsafe import Markup

from odoo import api, models
from odoo.exceptions import UserError
from odoo.tools import float_compare, format_list

OPEN_STATES = ("confirmed", "progress", "to_close")


@dataclass
class StagedStock:
    """One product and lot staged at one location for one family, in the
    product's unit."""

    picked: float = 0.0
    consumed: float = 0.0
    returned: float = 0.0
    # pick move -> what it brought of this lot, less what was returned of it
    by_pick: dict = field(default_factory=dict)

    @property
    def left(self):
        return max(self.picked - self.consumed - self.returned, 0.0)


def _under(location, parent):
    return location.parent_path.startswith(parent.parent_path)


def _sum_under(stock, product, lot, parent):
    """What ``stock`` {(product, lot, location): qty} holds of ``product``
    and ``lot`` under ``parent``."""
    return sum(
        qty
        for (p, l_, location), qty in stock.items()
        if p == product and l_ == lot and _under(location, parent)
    )


class MrpBackflushStaging(models.AbstractModel):
    _name = "mrp.backflush.staging"
    _description = "Backflush Staged Material"

    @api.model
    def _families(self, productions):
        """{family key: its MOs} of ``productions``."""
        ledger = self.env["mrp.backflush.ledger"]
        families = defaultdict(lambda: self.env["mrp.production"])
        for production in (
            productions.procurement_group_id.mrp_production_ids | productions
        ):
            families[ledger._family_key(production)] |= production
        return families

    @api.model
    def _transfers(self, raw_moves):
        """The transfers that pick components of ``raw_moves`` for them.
        Internal transfers only: goods received on order for the MO are not
        staged (a return would send them back to the vendor)."""
        return raw_moves.move_orig_ids.filtered(
            lambda m: m.picking_id and m.location_id.usage == "internal"
        )

    @api.model
    def _pick_moves(self, raw_moves):
        """Done transfers that brought components of ``raw_moves`` into
        their source location."""
        locations = {raw.id: raw.location_id for raw in raw_moves}
        return self._transfers(raw_moves).filtered(
            lambda m: (
                m.state == "done"
                and any(
                    _under(m.location_dest_id, locations[raw_id])
                    for raw_id in m.move_dest_ids.ids
                    if raw_id in locations
                )
            )
        )

    @api.model
    def _balances(self, families):
        """What was staged for each of ``families`` ({key: MOs}) and what
        became of it: {family key: {(product, lot, location): StagedStock}}.
        Read for all families at once (no read per MO or component)."""
        all_raw = self.env["mrp.production"].union(*families.values()).move_raw_ids
        picks = self._pick_moves(all_raw)
        if not picks:
            return {}
        # warm the caches of the whole batch: one read per field
        picks.move_line_ids.mapped("quantity_product_uom")
        picks.returned_move_ids.move_line_ids.mapped("quantity_product_uom")
        all_raw.filtered(lambda m: m.state == "done").move_line_ids.mapped("lot_id")
        balances = {}
        for key, productions in families.items():
            raw_moves = productions.move_raw_ids
            family_picks = picks & raw_moves.move_orig_ids
            if not family_picks:
                continue
            stock = defaultdict(StagedStock)
            for ml in family_picks.move_line_ids.filtered(lambda ml: ml.picked):
                staged = stock[ml.product_id, ml.lot_id, ml.location_dest_id]
                staged.picked += ml.quantity_product_uom
                staged.by_pick[ml.move_id] = (
                    staged.by_pick.get(ml.move_id, 0.0) + ml.quantity_product_uom
                )
            returns = family_picks.returned_move_ids.filtered(
                lambda m: m.state != "cancel"
            )
            for ml in returns.move_line_ids:
                staged = stock.get((ml.product_id, ml.lot_id, ml.location_id))
                if staged:
                    staged.returned += ml.quantity_product_uom
                    origin = ml.move_id.origin_returned_move_id
                    if origin in staged.by_pick:
                        staged.by_pick[origin] -= ml.quantity_product_uom
            done = raw_moves.filtered(lambda m: m.state == "done")
            for ml in done.move_line_ids:
                staged = stock.get((ml.product_id, ml.lot_id, ml.location_id))
                if staged:
                    staged.consumed += ml.quantity_product_uom
            # leftovers a correction gave back to where they were consumed
            given_back = done.returned_move_ids.filtered(lambda m: m.state == "done")
            for ml in given_back.move_line_ids:
                staged = stock.get((ml.product_id, ml.lot_id, ml.location_dest_id))
                if staged:
                    staged.consumed -= ml.quantity_product_uom
            balances[key] = stock
        return balances

    # ------------------------------------------------------------------
    # Availability: the engine's stock read
    # ------------------------------------------------------------------
    @api.model
    def _left_at(self, moves, products):
        """What is left of the stock staged at the locations of ``moves``
        (children included) for their families and for the other open
        orders, reserved or not: ``({family key: {(product, lot,
        location): qty}}, {family key: its MOs}, keys of the families of
        moves)``, product units. One search and a few batched reads,
        whatever the number of components."""
        locations = moves.location_id
        own = self._families(moves.raw_material_production_id)
        others = self.env["stock.move"].search(
            [
                ("state", "=", "done"),
                ("picking_id", "!=", False),
                ("location_id.usage", "=", "internal"),
                ("product_id", "in", products.ids),
                ("location_dest_id", "child_of", locations.ids),
                ("move_dest_ids.raw_material_production_id.state", "in", OPEN_STATES),
            ]
        )
        families = dict(own)
        if others:
            for key, productions in self._families(
                others.move_dest_ids.raw_material_production_id.filtered(
                    lambda p: p.state in OPEN_STATES
                )
            ).items():
                families.setdefault(key, productions)
        left = {
            key: {
                k: staged.left
                for k, staged in stock.items()
                if any(_under(k[2], parent) for parent in locations)
            }
            for key, stock in self._balances(families).items()
        }
        return left, families, own

    @api.model
    def _unreserved(self, moves, products, own_moves):
        """Stock staged at the locations of ``moves`` (children included)
        for their families and for the other open orders, not reserved by
        moves other than ``own_moves`` (the stock read counts those
        reserved), expired lots left out: ``({family key: {(product, lot,
        location): qty}}, keys of the families of moves)``, product units."""
        left_by_family, families, own = self._left_at(moves, products)
        own_ids = set(own_moves.ids)
        unreserved = {}
        for key, stock in left_by_family.items():
            # expired lots are never consumed: the pool never counted them
            left = {
                k: qty for k, qty in stock.items() if not k[1]._backflush_is_expired()
            }
            reserving = families[key].move_raw_ids.filtered(
                lambda m: m.state not in ("done", "cancel") and m.id not in own_ids
            )
            for ml in reserving.move_line_ids:
                k = (ml.product_id, ml.lot_id, ml.location_id)
                if k in left:
                    left[k] -= ml.quantity_product_uom
            unreserved[key] = {k: qty for k, qty in left.items() if qty > 0}
        return unreserved, own

    @api.model
    def _check_not_taken_from_others(self, taking):
        """Refuse to take stock staged for another open order: ``taking``
        [(raw move, lot, qty in product units)], what a correction consumes
        more, from each move's source location. Only what is there beyond
        what is left of the other orders' picks, reserved by them or not,
        may be taken."""
        moves = self.env["stock.move"].union(*(move for move, _lot, _qty in taking))
        left_by_family, families, own = self._left_at(moves, moves.product_id)
        held = defaultdict(float)
        holders = defaultdict(lambda: self.env["mrp.production"])
        for key, stock in left_by_family.items():
            if key in own:
                continue
            for (product, lot, location), qty in stock.items():
                if qty > 0:
                    held[product, lot, location] += qty
                    holders[product, lot] |= families[key].filtered(
                        lambda p: p.state in OPEN_STATES
                    )
        if not held:
            return
        there = defaultdict(float)
        for product, lot, location, qty in (
            self.env["stock.quant"]
            .sudo()
            ._read_group(
                [
                    ("product_id", "in", moves.product_id.ids),
                    ("location_id", "child_of", moves.location_id.ids),
                ],
                ["product_id", "lot_id", "location_id"],
                ["quantity:sum"],
            )
        ):
            there[product, lot, location] += qty
        wanted = defaultdict(float)
        for move, lot, qty in taking:
            wanted[move.product_id, lot, move.location_id] += qty
        for (product, lot, location), qty in wanted.items():
            theirs = _sum_under(held, product, lot, location)
            present = _sum_under(there, product, lot, location)
            uom = product.uom_id
            if (
                theirs
                and float_compare(
                    present - qty, theirs, precision_rounding=uom.rounding
                )
                < 0
            ):
                raise UserError(
                    self.env._(
                        "%(product)s%(lot)s: %(qty)s %(uom)s more cannot be taken "
                        "from %(location)s, where %(theirs)s %(uom)s of the "
                        "%(present)s %(uom)s there were picked for %(mos)s, "
                        "still open. Correct another lot, or pick more first.",
                        product=product.display_name,
                        lot=self.env._(", lot %(lot)s", lot=lot.name) if lot else "",
                        qty=uom._backflush_format_qty(qty),
                        uom=uom.name,
                        location=location.display_name,
                        theirs=uom._backflush_format_qty(theirs),
                        present=uom._backflush_format_qty(max(present, 0.0)),
                        mos=", ".join(holders[product, lot].mapped("name")),
                    )
                )

    @api.model
    def _free_family_reservations(self, moves):
        """Before ``moves`` (a correction's one more used, their lines
        reserved) are done: what they take beyond the free stock is freed
        from the open orders of their families, latest first. Else Odoo
        frees it from the order planned last there, another order maybe,
        and cuts that order's move from the pick that staged its stock
        (``stock.move.line._free_reservation``)."""
        lines = moves.move_line_ids
        quants = (
            self.env["stock.quant"]
            .sudo()
            ._read_group(
                [
                    ("product_id", "in", lines.product_id.ids),
                    ("location_id", "in", lines.location_id.ids),
                ],
                ["product_id", "lot_id", "location_id"],
                ["quantity:sum", "reserved_quantity:sum"],
            )
        )
        over = {
            (product, lot, location): reserved - qty
            for product, lot, location, qty, reserved in quants
        }
        taken = defaultdict(float)
        for ml in lines:
            taken[ml.product_id, ml.lot_id, ml.location_id] += ml.quantity_product_uom
        excess = {k: min(over.get(k, 0.0), qty) for k, qty in taken.items()}
        productions = moves.raw_material_production_id
        family_lines = (
            (productions.procurement_group_id.mrp_production_ids | productions)
            .move_raw_ids.filtered(
                lambda m: m.state not in ("done", "cancel") and m not in moves
            )
            .move_line_ids.filtered(lambda ml: not ml.picked)
        )
        for ml in family_lines.sorted("id", reverse=True):
            k = (ml.product_id, ml.lot_id, ml.location_id)
            rounding = ml.product_id.uom_id.rounding
            if float_compare(excess.get(k, 0.0), 0.0, precision_rounding=rounding) <= 0:
                continue
            take = min(excess[k], ml.quantity_product_uom)
            excess[k] -= take
            if (
                float_compare(
                    take, ml.quantity_product_uom, precision_rounding=rounding
                )
                < 0
            ):
                ml.quantity = ml.product_id.uom_id._compute_quantity(
                    ml.quantity_product_uom - take, ml.product_uom_id
                )
            else:
                ml.unlink()

    @api.model
    def _held_for_others(self, moves):
        """Lots staged for other open orders at the locations of ``moves``
        and free in stock: {(product, lot, location): qty}."""
        unreserved, own = self._unreserved(moves, moves.product_id, moves)
        held = defaultdict(float)
        for key, stock in unreserved.items():
            if key not in own:
                for k, qty in stock.items():
                    held[k] += qty
        return held

    @api.model
    def _pool_shares(self, moves, products, own_moves):
        """How the stock staged at the locations of ``moves`` changes the
        engine's pool (``mrp.backflush.engine._stock_pool``): {pool key:
        quantity to add}, product units.

        What is staged for another open order and not reserved by it (the
        pool already leaves reserved stock out) is taken out of the free
        stock; what is staged for the families of ``moves`` moves from the
        free stock to their own key (see ``_staged_key``), which only their
        requirements draw from. Their reservations (``own_moves``), counted
        free by the pool, are part of it."""
        unreserved, own = self._unreserved(moves, products, own_moves)
        shares = defaultdict(float)
        for key, stock in unreserved.items():
            for (product, _lot, location), qty in stock.items():
                for parent in moves.location_id:
                    if _under(location, parent):
                        shares[product.id, parent.id] -= qty
                        if key in own:
                            shares[product.id, self._staged_key(key, parent)] += qty
        return shares

    @api.model
    def _staged_key(self, family_key, location):
        """Pool location key of the stock staged for a family at
        ``location``: the planner draws a requirement's component from it
        first (``planning.Requirement.staged_key``)."""
        return ("staged", family_key, location.id)

    @api.model
    def _retry_arrived(self, moves):
        """Post the pending shortages of the orders ``moves`` (just done)
        were picked for, as the cron would, now that the stock is there."""
        picked = moves.filtered(lambda m: m.state == "done" and m.picking_id)
        productions = picked.move_dest_ids.raw_material_production_id
        if not productions:
            return
        pending = (
            self.env["mrp.backflush.exception"]
            .sudo()
            .search(
                [
                    ("production_id", "in", productions.ids),
                    ("product_id", "in", picked.product_id.ids),
                    ("state", "=", "pending"),
                ]
            )
        )
        if pending:
            runs, _failures = pending._lock_pending(
                skip_locked=True
            )._post_by_production()
            runs._notify_productions()

    # ------------------------------------------------------------------
    # Leftovers
    # ------------------------------------------------------------------
    @api.model
    def _return_leftovers(self, productions, runs):
        """Leftovers of ``productions`` whose BOM returns them: what was
        staged for the family, per product and lot, and neither consumed
        nor returned yet, once nothing of the family will consume that
        product any more. ``return`` validates the return transfer,
        ``propose`` leaves it ready. Never more than was staged for the
        family, nor than is still there. Linked to the MO's latest of
        ``runs`` and told in its chatter."""
        self._send_leftovers(productions, runs, *self._leftovers(productions))

    @api.model
    def _leftovers(self, productions, closing=None):
        """The leftovers of ``productions`` to return, not yet capped to
        the stock: ``(families, {(family key, pick move, lot, location):
        qty})``. The components of ``closing`` (orders being cancelled:
        read before Odoo unlinks their picks) are no longer consumed."""
        closing = closing or self.env["mrp.production"]
        productions = productions.filtered(
            lambda p: p.bom_id.backflush_leftover_policy in ("return", "propose")
        )
        families = {
            key: family
            for key, family in self._families(productions).items()
            if all(p.state in ("done", "cancel") or p in productions for p in family)
        }
        if not families:
            return families, {}
        balances = self._balances(families)
        to_return = {}  # (family key, pick move, lot, location) -> qty
        for key, stock in balances.items():
            still_used = (
                families[key]
                .move_raw_ids.filtered(
                    lambda m: (
                        m.state not in ("done", "cancel")
                        and m.raw_material_production_id not in closing
                    )
                )
                .product_id
            )
            for (product, lot, location), staged in stock.items():
                left = staged.left
                if (
                    product in still_used
                    or float_compare(
                        left, 0.0, precision_rounding=product.uom_id.rounding
                    )
                    <= 0
                ):
                    continue
                for pick, qty in staged.by_pick.items():
                    qty = min(qty, left)
                    if qty > 0:
                        to_return[key, pick, lot, location] = qty
                        left -= qty
        return families, to_return

    @api.model
    def _send_leftovers(self, productions, runs, families, to_return):
        """Return or propose ``to_return`` (see _leftovers), one transfer
        per route and family."""
        to_return = self._cap_to_stock(to_return)
        for key, family in families.items():
            lines = {k[1:]: qty for k, qty in to_return.items() if k[0] == key}
            if not lines:
                continue
            production = (family & productions)[:1]
            pickings = self._create_returns(lines)
            if production.bom_id.backflush_leftover_policy == "return":
                self._validate_returns(pickings)
            run = runs.filtered(lambda r, p=production: r.production_id == p)[:1]
            if run:
                run.sudo().leftover_picking_ids = [(4, p.id) for p in pickings]
            production._message_log(
                body=self._leftover_message(production, pickings, lines)
            )

    @api.model
    def _cap_to_stock(self, to_return):
        """Never return more than is still at the location (another order
        may have consumed it into negative stock): one grouped read."""
        if not to_return:
            return to_return
        Quant = self.env["stock.quant"].sudo()
        picks = self.env["stock.move"].union(*(k[1] for k in to_return))
        locations = self.env["stock.location"].union(*(k[3] for k in to_return))
        free = {
            (product, lot, location): qty - reserved
            for product, lot, location, qty, reserved in Quant._read_group(
                [
                    ("product_id", "in", picks.product_id.ids),
                    ("location_id", "in", locations.ids),
                ],
                ["product_id", "lot_id", "location_id"],
                ["quantity:sum", "reserved_quantity:sum"],
            )
        }
        capped = {}
        for key, qty in to_return.items():
            _family, pick, lot, location = key
            stock_key = (pick.product_id, lot, location)
            qty = min(qty, free.get(stock_key, 0.0))
            if (
                float_compare(qty, 0.0, precision_rounding=pick.product_uom.rounding)
                > 0
            ):
                capped[key] = qty
                free[stock_key] -= qty
        return capped

    @api.model
    def _create_returns(self, lines):
        """Return transfers of ``lines`` ({(pick move, lot, location): qty,
        product units}) with Odoo's return wizard: one per picking type and
        route, back to where each was picked from, carrying the lots."""
        Wizard = self.env["stock.return.picking"]
        by_route = defaultdict(dict)
        for (pick, lot, location), qty in lines.items():
            route = (
                pick.picking_id.picking_type_id,
                pick.location_id,
                pick.picking_id.location_dest_id,
            )
            by_route[route][pick, lot, location] = qty
        pickings = self.env["stock.picking"]
        for route_lines in by_route.values():
            picks = self.env["stock.move"].union(*(k[0] for k in route_lines))
            per_move = defaultdict(float)
            for (pick, _lot, _location), qty in route_lines.items():
                per_move[pick] += qty
            wizard = Wizard.create(
                {
                    "picking_id": picks.picking_id[:1].id,
                    "product_return_moves": [
                        (
                            0,
                            0,
                            {
                                "product_id": pick.product_id.id,
                                "move_id": pick.id,
                                "quantity": qty,
                                "uom_id": pick.product_id.uom_id.id,
                            },
                        )
                        for pick, qty in per_move.items()
                    ],
                }
            )
            picking = wizard._create_return()
            # the lots staged and left, not those Odoo's reservation picks
            moves = picking.move_ids
            moves.move_line_ids.unlink()
            by_origin = {move.origin_returned_move_id: move for move in moves}
            self.env["stock.move.line"].create(
                [
                    dict(
                        by_origin[pick]._prepare_move_line_vals(quantity=qty),
                        lot_id=lot.id,
                        location_id=location.id,
                    )
                    for (pick, lot, location), qty in route_lines.items()
                ]
            )
            pickings |= picking
        return pickings

    @api.model
    def _validate_returns(self, pickings):
        pickings.move_ids.picked = True
        # Mark Done may run in the background: no dialog (backorder, an
        # expired lot going back to stock, an SMS) may stop the return.
        pickings.with_context(
            skip_backorder=True,
            picking_ids_not_to_backorder=pickings.ids,
            skip_expired=True,
            skip_sms=True,
        ).button_validate()

    @api.model
    def _leftover_message(self, production, pickings, lines):
        returned = production.bom_id.backflush_leftover_policy == "return"
        details = format_list(
            self.env,
            [
                self.env._(
                    "%(product)s: %(qty)s %(uom)s",
                    product=(
                        self.env._(
                            "%(product)s, lot %(lot)s",
                            product=pick.product_id.display_name,
                            lot=lot.name,
                        )
                        if lot
                        else pick.product_id.display_name
                    ),
                    qty=pick.product_id.uom_id._backflush_format_qty(qty),
                    uom=pick.product_id.uom_id.name,
                )
                for (pick, lot, _location), qty in lines.items()
            ],
        )
        if returned:
            body = self.env._(
                "Leftovers staged for this order returned to %(locations)s "
                "(%(pickings)s): %(details)s.",
                locations=", ".join(pickings.location_dest_id.mapped("display_name")),
                pickings=", ".join(pickings.mapped("name")),
                details=details,
            )
        else:
            body = self.env._(
                "Leftovers staged for this order are ready to be returned to "
                "%(locations)s (%(pickings)s, to validate): %(details)s.",
                locations=", ".join(pickings.location_dest_id.mapped("display_name")),
                pickings=", ".join(pickings.mapped("name")),
                details=details,
            )
        return Markup("%s") % body
