# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.tools import float_compare, float_is_zero, float_round

# Roles of the components a work order posts ahead: the net, then its scrap.
AHEAD_NET_ROLES = ("component", "substitute")


class MrpBackflushValuation(models.AbstractModel):
    """The finished goods' value once components are posted after Mark Done
    (deferred postings retried, corrections; a return removes value).

    The share of the order's finished units still in stock is added through
    Odoo's own revaluation (``stock.valuation.layer.revaluation``): it runs
    down the order's finished layers (the last one takes the rounding
    remainder), updates the average cost, and per lot for lot-valuated
    products (the lot's layer and cost). The share of units already gone is
    expensed against the production account. A standard-cost product keeps
    its standard: the component postings already debited the production
    account, Odoo's variance account for standard-cost production.
    """

    _name = "mrp.backflush.valuation"
    _description = "Backflush: Value Added to Finished Goods"

    # ------------------------------------------------------------------
    # Components posted ahead for several orders of a family
    # ------------------------------------------------------------------
    @api.model
    def _backflush_ahead_shares(self, production, last=None):
        """{move: share} of the components work orders of ``production``'s
        family posted ahead (before Mark Done) that its finished units
        carry; empty for an order alone in its family (it carries all).

        A work order finished for more than its order then produces posts
        its operation's lines for units of the backorder too. Each order of
        the family, in the order they were made, carries of what was posted
        ahead by itself and the orders before it what its own units require
        and its own Mark Done did not post: the net for its produced units,
        planned scrap at the line's percentage, the fixed scrap with the
        family's first order. The last order of the family takes what is
        left (round-ups, units never produced), as Odoo's cost would;
        ``last``: whether ``production`` is it (default: no order after it
        but cancelled ones)."""
        production.ensure_one()
        family = (
            production.procurement_group_id.mrp_production_ids | production
        ).sorted("id")
        if len(family) == 1:
            return {}
        done = family.move_raw_ids.filtered(
            lambda m: m.state == "done" and m.bom_line_id and m.backflush_role
        )
        ahead = self._backflush_posted_ahead(done)
        if not ahead:
            return {}
        orders = family.filtered(
            lambda p: p.id <= production.id and (p.state == "done" or p == production)
        )
        if last is None:
            last = not family.filtered(
                lambda p: p.id > production.id and p.state != "cancel"
            )
        own = done.filtered(
            lambda m: (
                m.backflush_run_id.trigger == "mark_done" and not m.backflush_recorded
            )
        )
        shares = {}
        for line, line_moves in ahead.grouped("bom_line_id").items():
            unit = (
                line_moves[0].backflush_unit_qty
                or line_moves[0]._backflush_bom_unit_qty()
            )
            fixed = line.product_uom_id._compute_quantity(
                line.scrap_fixed_qty, line_moves[0].product_uom, round=False
            )
            left = {move: move.backflush_line_qty for move in line_moves}
            first = True
            for order in orders:
                produced = (
                    order.qty_produced
                    if order.state == "done"
                    else order.qty_producing - order.qty_produced
                )
                if float_is_zero(
                    produced, precision_rounding=order.product_uom_id.rounding
                ):
                    continue
                own_moves = own.filtered(
                    lambda m, o=order, li=line: (
                        m.raw_material_production_id == o and m.bom_line_id == li
                    )
                )
                net = produced * unit
                scrap = net * line.scrap_percent / 100.0 + (fixed if first else 0.0)
                first = False
                for roles, need in (
                    (AHEAD_NET_ROLES, net),
                    (("planned_scrap",), scrap),
                ):
                    need -= sum(
                        own_moves.filtered(
                            lambda m, r=roles: m.backflush_role in r
                        ).mapped("backflush_line_qty")
                    )
                    for move in line_moves.filtered(
                        lambda m, r=roles, o=order: (
                            m.backflush_role in r
                            and m.raw_material_production_id.id <= o.id
                        )
                    ):
                        take = (
                            left[move]
                            if order == production and last
                            else min(max(need, 0.0), left[move])
                        )
                        need -= take
                        left[move] -= take
                        if order == production and move.backflush_line_qty:
                            shares[move] = take / move.backflush_line_qty
        return shares

    @api.model
    def _backflush_cancelled_shares(self, productions):
        """Cancelled ``productions`` leave their share of what work orders
        posted ahead for them to the family's last order left, as units
        never produced: when it is done, its finished goods then carry it
        (see ``_backflush_cancelled_share_value``)."""
        lasts = self.env["mrp.production"]
        for production in productions.filtered(lambda p: p.state == "cancel"):
            left = production.procurement_group_id.mrp_production_ids.filtered(
                lambda p: p.state != "cancel"
            )
            last = left.sorted("id")[-1:]
            if last.state == "done" and last.id < production.id:
                lasts |= last
        for last in lasts:
            self._backflush_add_value(
                last,
                self._backflush_cancelled_share_value(last),
                self.env._("%(mo)s - share of cancelled backorders", mo=last.name),
            )

    @api.model
    def _backflush_cancelled_share_value(self, production):
        """Value of what work orders posted ahead that done ``production``
        carries because the orders after it in its family were cancelled
        since its Mark Done priced it as not the last one."""
        later = (production.procurement_group_id.mrp_production_ids).filtered(
            lambda p: p.id > production.id
        )
        if (
            production.state != "done"
            or not later
            or later.filtered(lambda p: p.state != "cancel")
        ):
            return 0.0
        before = self._backflush_ahead_shares(production, last=False)
        return -sum(
            (share - before.get(move, 0.0))
            * sum(move.sudo().stock_valuation_layer_ids.mapped("value"))
            for move, share in self._backflush_ahead_shares(production).items()
        )

    @api.model
    def _backflush_posted_ahead(self, moves):
        """Of done raw ``moves``, the components a work order posted."""
        return moves.filtered(
            lambda m: (
                m.backflush_run_id.trigger == "operation"
                and not m.backflush_recorded
                and m.backflush_role in (*AHEAD_NET_ROLES, "planned_scrap")
            )
        )

    @api.model
    def _backflush_price_ahead(self, production, shares):
        """Take out of the finished move's price (set by Odoo's
        ``_cal_price`` from every component posted ahead it was given) the
        part the order's units do not carry (see
        ``_backflush_ahead_shares``), split with the by-products as Odoo
        splits the cost."""
        finished = production.move_finished_ids.filtered(
            lambda m: (
                m.product_id == production.product_id
                and m.state not in ("done", "cancel")
                and m.quantity > 0
            )
        )
        if not finished or finished.product_id.cost_method not in ("fifo", "average"):
            return
        others = -sum(
            (1.0 - share) * sum(move.sudo().stock_valuation_layer_ids.mapped("value"))
            for move, share in shares.items()
        )
        if production.company_id.currency_id.is_zero(others):
            return
        byproducts = production.move_byproduct_ids.filtered(
            lambda m: m.state not in ("done", "cancel") and m.quantity > 0
        )
        byproduct_share = 0.0
        for byproduct in byproducts.filtered("cost_share"):
            byproduct_share += byproduct.cost_share
            if byproduct.product_id.cost_method in ("fifo", "average"):
                byproduct.price_unit -= (
                    others
                    * byproduct.cost_share
                    / 100
                    / byproduct.product_uom._compute_quantity(
                        byproduct.quantity, byproduct.product_id.uom_id
                    )
                )
        quantity = finished.product_uom._compute_quantity(
            finished.quantity, finished.product_id.uom_id
        )
        finished.price_unit -= (
            others
            * float_round(1 - byproduct_share / 100, precision_rounding=0.0001)
            / quantity
        )

    @api.model
    def _backflush_add_finished_value(self, production, layers, description):
        """Add the value of component ``layers`` posted after Mark Done of
        ``production`` to its finished goods (see the class). The layers
        added carry role ``finished_value``: no consumption role ever nets
        out against them."""
        self._backflush_add_value(
            production, -sum(layers.sudo().mapped("value")), description
        )

    @api.model
    def _backflush_add_value(self, production, value, description):
        """Add component ``value`` to the finished goods of done
        ``production`` (see ``_backflush_add_finished_value``)."""
        production.ensure_one()
        company = production.company_id
        currency = company.currency_id
        product = production.product_id.with_company(company)
        finished_moves = self._backflush_finished_moves(production)
        finished_layers = finished_moves.sudo().stock_valuation_layer_ids.filtered(
            lambda svl: svl.quantity > 0
        )
        produced = sum(finished_layers.mapped("quantity"))
        if currency.is_zero(value) or not produced or product.cost_method == "standard":
            return
        # The value goes to the units of the MO not unbuilt since: those
        # still in stock carry it, the others are gone.
        unbuilds = (
            self.env["mrp.unbuild"]
            .sudo()
            .search([("mo_id", "=", production.id), ("state", "=", "done")])
        )
        left = produced - sum(
            unbuild.product_uom_id._compute_quantity(
                unbuild.product_qty, product.uom_id, round=False
            )
            for unbuild in unbuilds
        )
        rounding = product.uom_id.rounding
        in_stock_layers = finished_layers.filtered(
            lambda svl: (
                float_compare(svl.remaining_qty, 0, precision_rounding=rounding) > 0
            )
        )
        in_stock_qty = sum(in_stock_layers.mapped("remaining_qty"))
        if float_compare(in_stock_qty, left, precision_rounding=rounding) < 0:
            # FIFO took the order's layers out for another order's unbuild:
            # its units left are in that order's layers.
            for layer, surplus in self._backflush_foreign_units(production):
                if float_compare(in_stock_qty, left, precision_rounding=rounding) >= 0:
                    break
                in_stock_layers |= layer
                in_stock_qty += surplus
        in_stock = 0.0
        # Odoo revalues a stock that is there: none left of the product
        # (negative elsewhere) leaves the whole value gone.
        if in_stock_layers and left > 0 and product.sudo().quantity_svl > 0:
            in_stock = currency.round(value * min(in_stock_qty / left, 1.0))
        if not currency.is_zero(in_stock):
            self._backflush_revalue(
                production, finished_moves[-1], in_stock_layers, in_stock, description
            )
        gone = currency.round(value - in_stock)
        if not currency.is_zero(gone) and product.valuation == "real_time":
            self._backflush_expense_gone_share(
                production, finished_moves[-1], gone, description
            )

    @api.model
    def _backflush_foreign_units(self, production):
        """[(layer, units)] of the finished layers of the other orders of
        ``production``'s product that hold more units in stock than their
        order has left (produced, not unbuilt): units FIFO kept there while
        it took out another order's layers, newest first."""
        Layer = self.env["stock.valuation.layer"].sudo()
        layers = Layer.search(
            [
                ("product_id", "=", production.product_id.id),
                ("company_id", "=", production.company_id.id),
                ("remaining_qty", ">", 0),
                ("stock_move_id.production_id", "not in", (False, production.id)),
            ],
            order="id desc",
        )
        orders = layers.stock_move_id.production_id
        unbuilt = dict(
            self.env["mrp.unbuild"]
            .sudo()
            ._read_group(
                [("mo_id", "in", orders.ids), ("state", "=", "done")],
                ["mo_id"],
                ["product_qty:sum"],
            )
        )
        rounding = production.product_id.uom_id.rounding
        result = []
        for order, order_layers in layers.grouped(
            lambda svl: svl.stock_move_id.production_id
        ).items():
            # unbuilds of an order are in its unit, as its produced quantity
            left = order.product_uom_id._compute_quantity(
                order.qty_produced - unbuilt.get(order, 0.0),
                order.product_id.uom_id,
                round=False,
            )
            surplus = sum(order_layers.mapped("remaining_qty")) - left
            for layer in order_layers:
                if float_compare(surplus, 0.0, precision_rounding=rounding) <= 0:
                    break
                units = min(surplus, layer.remaining_qty)
                result.append((layer, units))
                surplus -= units
        return sorted(result, key=lambda pair: -pair[0].id)

    @api.model
    def _backflush_finished_moves(self, production):
        return production.move_finished_ids.filtered(
            lambda m: m.product_id == production.product_id and m.state == "done"
        )

    @api.model
    def _backflush_revalue(self, production, finished_move, layers, value, description):
        """Add ``value`` to the finished ``layers`` still in stock with Odoo's
        revaluation, once per lot of a lot-valuated product (each lot's share
        by quantity, the last lot takes the remainder), and tag the layers it
        creates as the order's: on its own ``finished_move`` when the layer
        revalued is another order's."""
        company = production.company_id
        currency = company.currency_id
        product = production.product_id.with_company(company)
        Layer = self.env["stock.valuation.layer"].sudo()
        Revaluation = (
            self.env["stock.valuation.layer.revaluation"].sudo().with_company(company)
        )
        groups = (
            layers.grouped("lot_id")
            if product.lot_valuated
            else {self.env["stock.lot"]: layers}
        )
        accounting = {}
        if product.valuation == "real_time":
            journal_id, acc_src, _acc_dest, _acc_valuation = layers[
                -1
            ].stock_move_id._get_accounting_data_for_valuation()
            # The counterpart is the production account the finished move
            # credited, as the finished goods' own entry.
            accounting = {"account_journal_id": journal_id, "account_id": acc_src}
        total_qty = sum(layers.mapped("remaining_qty"))
        left = value
        last = Layer.search([], order="id desc", limit=1).id
        for index, (lot, group) in enumerate(groups.items()):
            share = (
                left
                if index == len(groups) - 1
                else currency.round(
                    value * sum(group.mapped("remaining_qty")) / total_qty
                )
            )
            left -= share
            if currency.is_zero(share):
                continue
            Revaluation.create(
                dict(
                    accounting,
                    company_id=company.id,
                    product_id=product.id,
                    lot_id=lot.id,
                    adjusted_layer_ids=[fields.Command.set(group.ids)],
                    added_value=share,
                    reason=description,
                )
            ).action_validate_revaluation()
            created = Layer.search(
                [("product_id", "=", product.id), ("id", ">", last)], order="id"
            )
            last = created[-1:].id or last
            created._backflush_write(
                {
                    "stock_move_id": (
                        group[-1].stock_move_id
                        if group[-1].stock_move_id.production_id == production
                        else finished_move
                    ).id,
                    "stock_valuation_layer_id": group[-1].id,
                    "description": description,
                    "backflush_role": "finished_value",
                    "backflush_production_id": production.id,
                }
            )

    @api.model
    def _backflush_expense_gone_share(
        self, production, finished_move, amount, description
    ):
        """Late component cost of finished units no longer in stock: expense
        it against the production account the finished move credited."""
        journal_id, acc_src, _acc_dest, _acc_valuation = (
            finished_move._get_accounting_data_for_valuation()
        )
        expense = production.product_id.product_tmpl_id.with_company(
            production.company_id
        ).get_product_accounts()["expense"]
        line = {"name": description, "product_id": production.product_id.id}
        move = (
            self.env["account.move"]
            .sudo()
            .create(
                {
                    "journal_id": journal_id,
                    "company_id": production.company_id.id,
                    "ref": description,
                    "move_type": "entry",
                    "line_ids": [
                        fields.Command.create(
                            dict(line, account_id=expense.id, balance=amount)
                        ),
                        fields.Command.create(
                            dict(line, account_id=acc_src, balance=-amount)
                        ),
                    ],
                }
            )
        )
        move._post()
