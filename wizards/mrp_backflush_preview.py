# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import math

from odoo import api, fields, models

from .. import planning


class MrpBackflushPreview(models.TransientModel):
    _name = "mrp.backflush.preview"
    _description = "Backflush Preview"

    production_ids = fields.Many2many("mrp.production", required=True)
    production_count = fields.Integer(compute="_compute_production_count")
    line_ids = fields.One2many("mrp.backflush.preview.line", "preview_id")
    has_block = fields.Boolean(compute="_compute_blocked")
    blocked_production_ids = fields.Many2many(
        "mrp.production", compute="_compute_blocked", string="Blocked Orders"
    )
    producible_count = fields.Integer(
        compute="_compute_blocked",
        help="Orders of the preview that can be produced now (none blocked).",
    )
    blocked_note = fields.Text(compute="_compute_blocked")
    idle_note = fields.Text(
        "Nothing to Post",
        readonly=True,
        help="Orders of the selection the backflush posts nothing for, and why.",
    )
    show_produce_all = fields.Boolean(compute="_compute_show_produce_all")

    @api.depends("production_ids")
    def _compute_production_count(self):
        for wizard in self:
            wizard.production_count = len(wizard.production_ids)

    @api.depends("line_ids.action", "production_ids")
    def _compute_blocked(self):
        for wizard in self:
            blocked_lines = wizard.line_ids.filtered(lambda ln: ln.action == "block")
            blocked = blocked_lines.production_id
            wizard.has_block = bool(blocked)
            wizard.blocked_production_ids = blocked
            wizard.producible_count = len(wizard._producible_productions() - blocked)
            wizard.blocked_note = "\n".join(
                self.env._(
                    "%(mo)s: %(product)s is short by %(qty)s %(uom)s",
                    mo=line.production_id.name,
                    product=line.product_id.display_name,
                    qty=line.product_uom_id._backflush_format_qty(line.shortage_qty),
                    uom=line.product_uom_id.name,
                )
                for line in blocked_lines
            )

    @api.depends("production_ids.show_produce_all")
    def _compute_show_produce_all(self):
        # Odoo's own button says "Produce All" unless a partial quantity
        # is being produced ("Produce").
        for wizard in self:
            wizard.show_produce_all = all(
                wizard.production_ids.mapped("show_produce_all")
            )

    @api.model_create_multi
    def create(self, vals_list):
        wizards = super().create(vals_list)
        for wizard in wizards:
            wizard.line_ids = [
                fields.Command.create(v) for v in wizard._compute_plan_lines()
            ]
            wizard.idle_note = wizard._idle_note()
        return wizards

    def _producible_productions(self):
        return self.production_ids.filtered(
            lambda p: p.state in ("confirmed", "progress", "to_close")
        )

    def _compute_plan_lines(self):
        """Plan exactly as Mark Done would, without writing anything."""
        self.ensure_one()
        productions = self._producible_productions()
        moves = productions._backflush_get_moves()
        if not moves:
            return []
        produced = {mo: mo._backflush_produced_qty() for mo in productions}
        plan = productions._backflush_plan(moves, produced)
        substitute_pool = self._substitute_pool(moves, plan)
        Move = self.env["stock.move"]
        vals = []
        for line in plan.lines:
            move = Move.browse(line.requirement.key)
            common = {
                "production_id": move.raw_material_production_id.id,
                "bom_line_id": move.bom_line_id.id,
                "location_id": move.location_id.id,
                "component_id": move.product_id.id,
            }
            component = move.product_id.id
            vals.append(
                dict(
                    common,
                    product_id=component,
                    role="component",
                    product_uom_id=move.product_uom.id,
                    required_qty=line.required_qty,
                    # what the component itself posts, planned scrap included
                    to_post_qty=sum(
                        m.qty for m in line.moves if m.product_id == component
                    ),
                    net_qty=line.qty(planning.ROLE_COMPONENT),
                    scrap_qty=line.qty(planning.ROLE_PLANNED_SCRAP, component),
                    # non-storable products are never short
                    available_qty=line.available_qty
                    if math.isfinite(line.available_qty)
                    else line.required_qty,
                    shortage_qty=line.shortage_qty,
                    action=line.action,
                    lot_ids=[fields.Command.set(self._preview_lots(move, line).ids)],
                )
            )
            vals += self._substitute_line_vals(move, line, common, substitute_pool)
        return vals

    @api.model
    def _substitute_pool(self, moves, plan):
        """Free stock of the substitutes the plan uses (one grouped read),
        or an empty pool when no line needs a substitute."""
        Product = self.env["product.product"]
        used = Product.browse(
            {
                m.product_id
                for line in plan.lines
                for m in line.moves
                if m.product_id != line.requirement.product_id
            }
        )
        if not used:
            return {}
        return self.env["mrp.production"]._backflush_stock_pool(moves, used)

    @api.model
    def _substitute_line_vals(self, move, line, common, pool):
        """One line per substitute standing in for ``move``: what it must
        cover of the shortfall left before it (its own unit) and what was
        free of it then, taken in plan order as the planner does."""
        component = move.product_id.id
        posted = {}
        for plan_move in line.moves:
            if plan_move.product_id != component:
                posted[plan_move.product_id] = (
                    posted.get(plan_move.product_id, 0.0) + plan_move.qty
                )
        if not posted:
            return []
        subs = {sub.product_id: sub for sub in move._backflush_substitutes()}
        uoms = {
            sub.product_id.id: sub.product_uom_id
            for sub in move.bom_line_id.substitute_ids
        }
        shortfall = line.required_qty - sum(
            m.qty for m in line.moves if m.product_id == component
        )
        vals = []
        for product_id, qty in posted.items():
            sub = subs.get(product_id)
            key = (product_id, move.location_id.id)
            free = pool.get(key, 0.0)
            if sub:
                required = planning.round_up(shortfall * sub.factor, sub.rounding)
                available = max(free / sub.to_pool, 0.0)
                pool[key] = free - qty * sub.to_pool
                shortfall -= qty / sub.factor
            else:
                required = available = qty
            vals.append(
                dict(
                    common,
                    product_id=product_id,
                    role="substitute",
                    product_uom_id=uoms.get(product_id, move.product_uom).id,
                    required_qty=required,
                    to_post_qty=qty,
                    net_qty=line.qty(planning.ROLE_SUBSTITUTE, product_id),
                    scrap_qty=line.qty(planning.ROLE_PLANNED_SCRAP, product_id),
                    available_qty=available,
                    action="none",
                )
            )
        return vals

    def _idle_note(self):
        """One sentence per selected order the backflush posts nothing for."""
        self.ensure_one()
        with_lines = self.line_ids.production_id
        notes = []
        for production in self.production_ids - with_lines:
            notes.append(
                self.env._(
                    "%(mo)s: %(reason)s",
                    mo=production.name,
                    reason=production._backflush_idle_reason(),
                )
            )
        return "\n".join(notes)

    @api.model
    def _preview_lots(self, move, plan_line):
        """Lots a tracked component would take: those already reserved, then
        the location's removal strategy (FIFO, FEFO...), as Odoo reserves."""
        lots = self.env["stock.lot"]
        if move.has_tracking == "none":
            return lots
        needed = move.product_uom._compute_quantity(
            plan_line.qty(planning.ROLE_COMPONENT), move.product_id.uom_id
        )
        reserved = move.move_line_ids.filtered("lot_id")
        lots |= reserved.lot_id
        needed -= sum(reserved.mapped("quantity_product_uom"))
        quants = self.env["stock.quant"]._gather(move.product_id, move.location_id)
        taken = reserved.lot_id
        for quant in quants.filtered(lambda q: q.lot_id and q.lot_id not in taken):
            if needed <= 0:
                break
            free = quant.quantity - quant.reserved_quantity
            if free > 0:
                lots |= quant.lot_id
                needed -= free
        return lots

    def _get_action(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Backflush Preview"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {"dialog_size": "extra-large"},
        }

    def action_mark_done(self):
        return self.production_ids.button_mark_done()

    def action_mark_done_unblocked(self):
        """Produce the orders no shortage blocks; the blocked ones wait."""
        self.ensure_one()
        productions = self._producible_productions() - self.blocked_production_ids
        return productions.button_mark_done()
