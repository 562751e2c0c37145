# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, models
from odoo.exceptions import UserError
from odoo.tools import float_compare, float_is_zero, float_round

# What an unbuild gives back: never the planned scrap, it was lost.
RETURNED_ROLES = ("component", "deferred", "substitute")


class MrpUnbuild(models.Model):
    _inherit = "mrp.unbuild"

    def _generate_produce_moves(self):
        moves = super()._generate_produce_moves()
        for unbuild in self.filtered(lambda u: u.mo_id._backflush_is_managed()):
            own = moves.filtered(lambda m, u=unbuild: m.unbuild_id == u)
            if unbuild.mo_id.move_raw_ids.filtered("backflush_role"):
                returns = unbuild._backflush_generate_returns(own)
            else:
                # every line recorded by hand: Odoo's shares, rounded
                # half-up, never give back more than was consumed
                returns = unbuild._backflush_cap_odoo_returns(own)
            moves = moves - own | returns
        return moves

    def action_unbuild(self):
        # Public, so callable again over RPC on a done unbuild: Odoo would
        # give the components back a second time.
        done = self.filtered(
            lambda u: u.state == "done" and u.mo_id._backflush_is_managed()
        )
        if done:
            raise UserError(
                self.env._(
                    "%(unbuilds)s is already done: its components were given "
                    "back once.",
                    unbuilds=", ".join(done.mapped("name")),
                )
            )
        valued = self._backflush_valued()
        stock_value = {unbuild: unbuild._backflush_stock_value() for unbuild in valued}
        res = super().action_unbuild()
        self._backflush_create_runs()
        for unbuild in valued:
            unbuild._backflush_value_finished_out(stock_value[unbuild])
        return res

    def _backflush_valued(self):
        """Unbuilds whose finished goods leave at the value the units carry
        (see ``_backflush_value_finished_out``): of MOs the backflush posted
        or corrected, at real cost. Standard cost keeps Odoo's standard; an
        MO with by-products keeps Odoo's cost shares."""
        return self.filtered(
            lambda u: (
                u.mo_id.sudo().backflush_run_ids
                and u.mo_id.product_id.with_company(u.company_id).cost_method
                != "standard"
                and not u.mo_id.move_byproduct_ids.filtered(lambda m: m.state == "done")
            )
        )

    def _backflush_create_runs(self):
        """One run per unbuild that gave backflushed components back: the
        audit trail shows the returns (negative) with their roles."""
        vals_list = []
        for unbuild in self:
            returns = unbuild.produce_line_ids.filtered(
                lambda m: m.backflush_role and m.state == "done"
            )
            if not returns:
                continue
            production = unbuild.mo_id
            lines = [
                {
                    "product_id": move.product_id.id,
                    "bom_line_id": move.bom_line_id.id,
                    "role": move.backflush_role,
                    "move_id": move.id,
                    "product_uom_id": move.product_uom.id,
                    "consumed_qty": -move.quantity,
                    "location_id": move.location_dest_id.id,
                }
                for move in returns
            ]
            vals_list.append(
                self.env["mrp.backflush.engine"]._run_vals(
                    production,
                    "unbuild",
                    lines,
                    produced_qty=-unbuild.product_uom_id._compute_quantity(
                        unbuild.product_qty, production.product_uom_id
                    ),
                )
            )
        runs = self.env["mrp.backflush.run"]._create_postings(vals_list)
        runs._notify_productions()
        return runs

    def _backflush_generate_returns(self, odoo_moves):
        """Components back to stock for an MO the backflush posted, from
        ``odoo_moves``, what Odoo's unbuild generated for it.

        The ledger of each BOM line says what the unbuilt units no longer
        require: their net share. The pending shortage of the MO is cancelled
        first (it was never posted), then each posting of the line gives back
        its share, with its role. Planned scrap was physically lost: never returned.
        Lines the backflush did not post are returned as Odoo does.
        """
        self.ensure_one()
        production = self.mo_id
        carried = self._backflush_carried()
        done = self.env["stock.move"].concat(*carried)
        factor = self.product_qty / production.product_uom_id._compute_quantity(
            production.qty_produced, self.product_uom_id
        )
        # What Odoo posted (manual lines) and quantities recorded by hand
        # come back as Odoo returns them: their share of what was unbuilt.
        # Odoo's share of what the backflush posted is replaced below.
        moves = odoo_moves.filtered(
            lambda m: (
                not m.origin_returned_move_id.backflush_role
                or m.origin_returned_move_id.backflush_recorded
            )
        )
        (odoo_moves - moves).unlink()
        for move in moves:
            raw_move = move.origin_returned_move_id
            # Returned against its BOM line, as it was consumed.
            move.bom_line_id = raw_move.bom_line_id
            if raw_move.backflush_recorded:
                move._backflush_write(
                    {
                        "backflush_role": raw_move.backflush_role,
                        "backflush_recorded": True,
                        "backflush_line_qty": raw_move.backflush_line_qty * factor,
                    }
                )
        moves = self._backflush_cap_odoo_returns(moves)
        unbuilt = self.product_uom_id._compute_quantity(
            self.product_qty, production.product_uom_id, round=False
        )
        backflushed = done.filtered(
            lambda m: m.backflush_role in RETURNED_ROLES and not m.backflush_recorded
        )
        # Shortages never posted, still pending then those given up, go
        # with the unbuilt units first: the goods never held them.
        unposted = production.backflush_exception_ids.filtered(
            lambda e: e.state in ("pending", "cancel") and e.quantity
        ).sorted(lambda e: (e.state != "pending", e.id))
        pending = unposted.filtered(lambda e: e.state == "pending")
        # A line whose whole quantity is pending or cancelled posted
        # nothing, yet its shortage goes with the unbuilt units too.
        lines = backflushed.bom_line_id | unposted.bom_line_id
        ledger = self.env["mrp.backflush.ledger"]
        family = ledger._family_key(production)
        components = production.move_raw_ids.filtered(
            lambda m: m.backflush_role == "component"
        )
        moves_by_key = {}
        for move in components:
            if move.bom_line_id in lines:
                moves_by_key.setdefault((family, move.bom_line_id), move)
        lines = lines.filtered(lambda li: (family, li) in moves_by_key)
        entries = ledger._entries(production, lines, moves_by_key)
        returned = self._backflush_returned_by_move(done)
        held = self._backflush_held_by_line(lines, backflushed, returned, carried)
        vals_list = []
        for line in lines:
            entry = entries[(family, line)]
            line_moves = backflushed.filtered(lambda m, li=line: m.bom_line_id == li)
            if not entry.explains_unbuild(unbuilt, production.product_uom_id.rounding):
                # The order's produced quantity was edited after it was
                # posted, or more is unbuilt than was produced: beyond what
                # the ledger can say. Each posting gives back its share of
                # the unbuilt units, as Odoo's unbuild does.
                vals_list += [
                    (move, carried[move] * move.backflush_line_qty * factor, False)
                    for move in line_moves
                    if move.backflush_line_qty
                ]
                continue
            # The planned scrap of the unbuilt units still pending was never
            # lost: no longer required, cancelled with them.
            scrap = entry.pending_scrap_of(unbuilt)
            entry.scrap_unbuilt += scrap
            owed = entry.settled_qty - entry.required(unbuilt=unbuilt)
            rounding = entry.rounding
            for exc in unposted.filtered(lambda e, li=line: e.bom_line_id == li):
                if float_compare(owed, 0.0, precision_rounding=rounding) <= 0:
                    break
                of_scrap = min(scrap, owed, exc.quantity) if exc in pending else 0.0
                owed -= exc._cancel_unbuilt(owed, planned_scrap=of_scrap)
                scrap -= of_scrap
            left = {
                move: carried[move] * move.backflush_line_qty - sum(returned[move])
                for move in line_moves
            }
            left = {
                move: qty
                for move, qty in left.items()
                if float_compare(qty, 0.0, precision_rounding=rounding) > 0
            }
            total_left = sum(left.values())
            # Never more than the goods still hold of the line: leftovers a
            # correction returned are not given back twice.
            owed = min(owed, held[line])
            if float_compare(owed, 0.0, precision_rounding=rounding) <= 0 or not left:
                continue
            # Each posting gives back its share, as Odoo's unbuild does.
            ratio = min(owed / total_left, 1.0)
            vals_list += [(move, qty * ratio, True) for move, qty in left.items()]
        for raw_move, share, capped in vals_list:
            take = self._backflush_in_steps(
                raw_move,
                share,
                carried[raw_move] * raw_move.backflush_line_qty
                - sum(returned[raw_move])
                if capped
                else None,
            )
            if not take:
                continue
            move = self._generate_move_from_existing_move(
                raw_move,
                take / raw_move.backflush_line_qty,
                raw_move.location_dest_id,
                raw_move._backflush_return_location(self.location_dest_id),
            )
            move._backflush_write(
                {
                    "bom_line_id": raw_move.bom_line_id.id,
                    "backflush_role": raw_move.backflush_role,
                    "backflush_line_qty": take,
                }
            )
            moves |= move
        return moves

    @api.model
    def _backflush_in_steps(self, raw_move, share, held):
        """``share`` (line units) of what ``raw_move`` posted, in steps its
        product's unit can hold (see ``stock.move._backflush_rounding``):
        87.5 g of a glue kept to 0.01 kg would enter stock as 0.09 kg, and
        two such shares give back more than was consumed. Rounded half-up,
        never beyond what the order's goods still hold of the move
        (``held``, line units; None beyond what the ledger explains, as
        Odoo gives back): the
        last unbuild gives back the rest, in whole steps (a correction in the
        product's unit may leave what no step holds, and Odoo would round the
        return up)."""
        per_line = raw_move.quantity / raw_move.backflush_line_qty
        step = raw_move._backflush_rounding()
        qty = float_round(share * per_line, precision_rounding=step)
        if held is not None:
            left = float_round(
                held * per_line,
                precision_rounding=step,
                rounding_method="DOWN",
            )
            qty = min(qty, left)
        if float_compare(qty, 0.0, precision_rounding=step) <= 0:
            return 0.0
        return qty / per_line

    def _backflush_cap_odoo_returns(self, moves):
        """Odoo gives back each unbuild's share of what a raw move consumed,
        rounded half-up: two halves of 0.67 give back 0.34 each, and
        leftovers a correction returned come back again. Never more than
        the raw move still holds: the last unbuild takes what is left.
        More unbuilt than was produced is beyond what the order consumed:
        returned as Odoo does. Returns the moves left to post."""
        raws = moves.origin_returned_move_id
        if not raws or self._backflush_unbuilds_more_than_produced():
            return moves
        returns = (
            self.env["stock.move"]
            .sudo()
            .search(
                [("origin_returned_move_id", "in", raws.ids), ("state", "=", "done")]
            )
        )
        left = {raw: raw.quantity for raw in raws}
        for ret in returns:
            raw = ret.origin_returned_move_id
            left[raw] -= ret.product_uom._compute_quantity(
                ret.quantity, raw.product_uom, round=False
            )
        empty = self.env["stock.move"]
        for move in moves:
            raw = move.origin_returned_move_id
            rounding = move.product_uom.rounding
            held = float_round(
                raw.product_uom._compute_quantity(
                    max(left[raw], 0.0), move.product_uom, round=False
                ),
                precision_rounding=rounding,
                rounding_method="DOWN",
            )
            wanted = float_round(move.product_uom_qty, precision_rounding=rounding)
            if float_compare(wanted, held, precision_rounding=rounding) <= 0:
                continue
            if float_is_zero(held, precision_rounding=rounding):
                empty |= move
            else:
                if move.backflush_line_qty:
                    move._backflush_write(
                        {"backflush_line_qty": move.backflush_line_qty * held / wanted}
                    )
                move.product_uom_qty = held
        empty.unlink()
        return moves - empty

    def _backflush_unbuilds_more_than_produced(self):
        self.ensure_one()
        production = self.mo_id
        unbuilds = (
            self.search([("mo_id", "=", production.id), ("state", "=", "done")]) | self
        )
        unbuilt = sum(
            unbuild.product_uom_id._compute_quantity(
                unbuild.product_qty, production.product_uom_id, round=False
            )
            for unbuild in unbuilds
        )
        return (
            float_compare(
                unbuilt,
                production.qty_produced,
                precision_rounding=production.product_uom_id.rounding,
            )
            > 0
        )

    def _backflush_held_by_line(self, lines, backflushed, returned, carried):
        """What the MO's goods still hold of each BOM line that an unbuild
        can give back (line units): the net posted (components, substitutes,
        deferred; the ``carried`` share of what was posted ahead for the
        family) less what unbuilds gave back, less the leftovers
        corrections returned beyond the extra use they recorded. Planned
        scrap and extra use were lost: they never come back, and leftovers
        returned come out of the net (a correction is not undone twice)."""
        held = dict.fromkeys(lines, 0.0)
        for move in backflushed:
            held[move.bom_line_id] += (
                carried[move] * move.backflush_line_qty - returned[move][0]
            )
        corrected = dict.fromkeys(lines, 0.0)
        extras = self.mo_id.move_raw_ids.filtered(
            lambda m: (
                m.state == "done"
                and m.backflush_role == "correction"
                and m.bom_line_id in lines
            )
        )
        for move in extras:
            corrected[move.bom_line_id] += move.backflush_line_qty
        for raw, (_by_unbuild, by_correction) in returned.items():
            if raw.bom_line_id in corrected:
                corrected[raw.bom_line_id] -= by_correction
        return {line: held[line] + min(corrected[line], 0.0) for line in lines}

    def _backflush_carried(self):
        """{done raw move: share} of the components the unbuilt order's
        goods carry: its own, and its share of what work orders posted
        ahead for the family (see ``mrp.backflush.valuation``)."""
        self.ensure_one()
        production = self.mo_id
        carried = dict.fromkeys(
            production.move_raw_ids.filtered(lambda m: m.state == "done"), 1.0
        )
        carried.update(
            self.env["mrp.backflush.valuation"]._backflush_ahead_shares(production)
        )
        return {move: share for move, share in carried.items() if share}

    def _backflush_returned_by_move(self, raw_moves):
        """Component units (line units) already given back from each of
        ``raw_moves``: ``(by unbuilds of this order, by corrections of
        this order that returned leftovers)``. What a work order posted
        ahead for the family, the other orders' unbuilds give back of their
        share, and a correction of another order returned from its share
        (its value went to that order's goods)."""
        returns = (
            self.env["stock.move"]
            .sudo()
            .search(
                [
                    ("origin_returned_move_id", "in", raw_moves.ids),
                    ("state", "=", "done"),
                ]
            )
        )
        corrected_by = {
            line.move_id: line.production_id
            for line in self.env["mrp.backflush.run.line"]
            .sudo()
            .search(
                [("move_id", "in", returns.ids), ("run_id.trigger", "=", "correction")]
            )
        }
        returned = {move: [0.0, 0.0] for move in raw_moves}
        for move in returns:
            raw = move.origin_returned_move_id
            if move.unbuild_id.mo_id == self.mo_id:
                returned[raw][0] += move.backflush_line_qty
            elif move.unbuild_id or corrected_by.get(move, self.mo_id) != self.mo_id:
                continue
            else:
                returned[raw][1] += move._backflush_return_line_qty()
        return returned

    # ------------------------------------------------------------------
    # Value of the finished goods an unbuild takes out
    # ------------------------------------------------------------------
    def _backflush_stock_value(self):
        """(value, remaining value) of the finished product's layers."""
        self.ensure_one()
        [(value, remaining)] = (
            self.env["stock.valuation.layer"]
            .sudo()
            ._read_group(
                [
                    ("product_id", "=", self.mo_id.product_id.id),
                    ("company_id", "=", self.company_id.id),
                ],
                aggregates=["value:sum", "remaining_value:sum"],
            )
        )
        return value or 0.0, remaining or 0.0

    def _backflush_value_finished_out(self, stock_value_before):
        """What this unbuild took out of the finished goods is what it gave
        back plus what was lost (SPEC §4): Odoo values it at the MO's first
        finished cost, blind to value added after Mark Done (deferred
        postings, corrections) and to shortages cancelled with the units.

        A zero-quantity layer on the unbuild's finished move sets its value
        (entries follow it under automated valuation); what the units left
        of the MO carry stays with them (their FIFO remaining value, the
        average cost); what was lost (planned scrap, extra use, operations)
        is expensed from the production account, as a scrap would be."""
        self.ensure_one()
        production = self.mo_id
        company = production.company_id
        currency = company.currency_id
        product = production.product_id.with_company(company)
        out_moves, back_moves = self._backflush_done_moves()
        out_layers = out_moves.sudo().stock_valuation_layer_ids
        if not out_layers:
            return
        returned = sum(back_moves.sudo().stock_valuation_layer_ids.mapped("value"))
        lost = currency.round(self._backflush_lost_value())
        description = self.env._(
            "%(unbuild)s - value of %(mo)s's units unbuilt",
            unbuild=self.name,
            mo=production.name,
        )
        kept = currency.round(-sum(out_layers.mapped("value")) - returned - lost)
        Layer = self.env["stock.valuation.layer"].sudo()
        if not currency.is_zero(kept):
            layer = Layer._backflush_create(
                {
                    "company_id": company.id,
                    "product_id": product.id,
                    "stock_move_id": out_moves[0].id,
                    "stock_valuation_layer_id": out_layers[0].id,
                    "description": description,
                    "quantity": 0,
                    "unit_cost": 0,
                    "value": kept,
                    "remaining_qty": 0,
                    "backflush_role": "finished_value",
                    "backflush_production_id": production.id,
                }
            )
            if product.cost_method == "average" and product.quantity_svl > 0:
                product.sudo().with_context(disable_auto_svl=True).standard_price += (
                    kept / product.quantity_svl
                )
            layer._validate_accounting_entries()
        # The units left carry what Odoo's first cost left behind: the
        # remaining value moves as the layers' value did.
        value, remaining = self._backflush_stock_value()
        before_value, before_remaining = stock_value_before
        shift = currency.round((value - remaining) - (before_value - before_remaining))
        finished_layers = (
            production.move_finished_ids.filtered(
                lambda m: m.product_id == product and m.state == "done"
            )
            .sudo()
            .stock_valuation_layer_ids.filtered(lambda svl: svl.remaining_qty > 0)
        )
        in_stock = sum(finished_layers.mapped("remaining_qty"))
        for layer in finished_layers:
            share = currency.round(shift * layer.remaining_qty / in_stock)
            layer.remaining_value += share
            shift -= share
            in_stock -= layer.remaining_qty
        if not currency.is_zero(lost) and product.valuation == "real_time":
            self.env["mrp.backflush.valuation"]._backflush_expense_gone_share(
                production,
                production.move_finished_ids.filtered(
                    lambda m: m.product_id == product and m.state == "done"
                )[-1],
                lost,
                description,
            )

    def _backflush_done_moves(self):
        """(finished goods taken out, components given back) by this
        unbuild: Odoo links both to it through ``unbuild_id``."""
        self.ensure_one()
        moves = self.produce_line_ids.filtered(lambda m: m.state == "done")
        out_moves = moves.filtered(
            lambda m: (
                m.product_id == self.mo_id.product_id
                and m.location_dest_id.usage == "production"
            )
        )
        return out_moves, moves.filtered(
            lambda m: m.location_id.usage == "production" and m not in out_moves
        )

    def _backflush_lost_value(self):
        """Value the unbuilt units carry and do not give back: their share
        of what the MO's goods carry beyond the components an unbuild can
        return (planned scrap, extra use recorded by corrections,
        operations), less what earlier unbuilds of the MO already lost."""
        self.ensure_one()
        production = self.mo_id
        product = production.product_id
        finished = (
            production.move_finished_ids.filtered(
                lambda m: m.product_id == product and m.state == "done"
            )
            .sudo()
            .stock_valuation_layer_ids.filtered(lambda svl: svl.quantity > 0)
        )
        if not finished:
            return 0.0
        consumed = (
            self.env["stock.valuation.layer"]
            .sudo()
            .search(
                [
                    ("backflush_production_id", "=", production.id),
                    ("backflush_role", "not in", (False, "finished_value")),
                    ("stock_move_id.unbuild_id", "=", False),
                    ("stock_move_id.production_id", "=", False),
                ]
            )
        )
        # What the goods carry: their cost at Mark Done, every component
        # value posted after it (deferred, corrections), and the share of
        # cancelled backorders of what was posted ahead.
        valuation = self.env["mrp.backflush.valuation"]
        carried = (
            sum(finished.mapped("value"))
            - sum(
                consumed.filtered(lambda svl: svl.id > max(finished.ids)).mapped(
                    "value"
                )
            )
            + valuation._backflush_cancelled_share_value(production)
        )
        held = -sum(
            share * sum(move.sudo().stock_valuation_layer_ids.mapped("value"))
            for move, share in self._backflush_carried().items()
            if not move.scrapped
            and move.backflush_role not in ("planned_scrap", "correction")
        )
        # Leftovers a correction returned come out of what can come back.
        corrected = -sum(
            consumed.filtered(lambda svl: svl.backflush_role == "correction").mapped(
                "value"
            )
        )
        not_returnable = carried - held - min(corrected, 0.0)
        earlier = self.search(
            [
                ("mo_id", "=", production.id),
                ("state", "=", "done"),
                ("id", "!=", self.id),
            ]
        )
        earlier_lost = returned = 0.0
        for unbuild in earlier | self:
            out_moves, back_moves = unbuild._backflush_done_moves()
            returned += sum(back_moves.sudo().stock_valuation_layer_ids.mapped("value"))
            if unbuild != self:
                earlier_lost -= sum(
                    (out_moves | back_moves)
                    .sudo()
                    .stock_valuation_layer_ids.mapped("value")
                )
        uom = production.product_uom_id
        left = production.qty_produced - sum(
            unbuild.product_uom_id._compute_quantity(
                unbuild.product_qty, uom, round=False
            )
            for unbuild in earlier
        )
        if float_compare(left, 0.0, precision_rounding=uom.rounding) <= 0:
            return 0.0
        unbuilt = self.product_uom_id._compute_quantity(
            self.product_qty, uom, round=False
        )
        if float_compare(unbuilt, left, precision_rounding=uom.rounding) >= 0:
            # The last units: what the goods carried and no unbuild gave
            # back was lost, the rounding of a line as a whole included
            # (it stays with the line's planned scrap).
            return carried - returned - earlier_lost
        return (not_returnable - earlier_lost) * unbuilt / left
