# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import math

from odoo import api, fields, models

from .. import planning

# Outcomes that refuse the order: producing it posts nothing.
REFUSALS = ("block", "lot_required", "archived")


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
    has_workorder = fields.Boolean(compute="_compute_has_workorder")

    @api.depends("production_ids")
    def _compute_production_count(self):
        for wizard in self:
            wizard.production_count = len(wizard.production_ids)

    @api.depends("line_ids.action", "production_ids")
    def _compute_blocked(self):
        for wizard in self:
            blocked_lines = wizard.line_ids.filtered(lambda ln: ln.action in REFUSALS)
            blocked = blocked_lines.production_id
            wizard.has_block = bool(blocked)
            wizard.blocked_production_ids = blocked
            wizard.producible_count = len(wizard._producible_productions() - blocked)
            wizard.blocked_note = "\n".join(
                line._refusal_note() for line in blocked_lines
            )

    @api.depends("production_ids.show_produce_all")
    def _compute_show_produce_all(self):
        # Odoo's own button says "Produce All" unless a partial quantity
        # is being produced ("Produce").
        for wizard in self:
            wizard.show_produce_all = all(
                wizard.production_ids.mapped("show_produce_all")
            )

    @api.depends("line_ids.workorder_id")
    def _compute_has_workorder(self):
        # an empty Work Order column takes the room the product names need
        for wizard in self:
            wizard.has_workorder = bool(wizard.line_ids.workorder_id)

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
        # In the list's order, as its buttons and the list's Mark Done take them.
        return self.production_ids.sorted().filtered(
            lambda p: p.state in ("confirmed", "progress", "to_close")
        )

    def _compute_plan_lines(self):
        """The engine's plan of producing the selection, writing nothing:
        the orders that can be produced, in the order Mark Done takes them,
        then the refused ones."""
        self.ensure_one()
        engine = self.env["mrp.backflush.engine"]
        plans, later, _refused = engine._plan_producible(self._producible_productions())
        vals = []
        for plan in plans + later:
            vals += self._plan_line_vals(plan)
        return vals

    @api.model
    def _plan_line_vals(self, plan):
        """Preview lines of one engine plan: recorded lines as recorded,
        the others as planned, with their substitutes."""
        pool = dict(plan.pool)
        vals = []
        # lots staged for other orders are theirs: read once for the plan
        lotted = plan.moves.filtered(lambda m: m.has_tracking == "lot")
        held = (
            self.env["mrp.backflush.staging"]._held_for_others(lotted) if lotted else {}
        )
        position = {mo: index for index, mo in enumerate(plan.productions)}
        for move in sorted(
            plan.moves | plan.recorded,
            key=lambda m: position[m.raw_material_production_id],
        ):
            common = {
                "production_id": move.raw_material_production_id.id,
                "bom_line_id": move.bom_line_id.id,
                "location_id": move.location_id.id,
                "component_id": move.product_id.id,
                "workorder_id": move.workorder_id.id
                if plan.trigger == "operation"
                else False,
                "product_id": move.product_id.id,
                "role": "component",
                "product_uom_id": move.product_uom.id,
            }
            if move in plan.recorded:
                line_vals = self._recorded_line_vals(plan, move, common)
            else:
                line = plan.plan_by_move[move.id]
                line_vals = self._planned_line_vals(move, line, common, held)
            if move.product_id in plan.archived:
                line_vals["action"] = "archived"
            vals.append(line_vals)
            if move in plan.moves:
                vals += self._substitute_line_vals(
                    move, plan.plan_by_move[move.id], common, pool
                )
        return vals

    @api.model
    def _recorded_line_vals(self, plan, move, common):
        """A quantity recorded by hand (zero included) is posted as it is."""
        engine = self.env["mrp.backflush.engine"]
        produced = plan.produced_by_mo[move.raw_material_production_id]
        planned = move._backflush_recorded_run_line_vals(produced)[0]["planned_qty"]
        return dict(
            common,
            required_qty=planned,
            to_post_qty=move.quantity,
            net_qty=move.quantity,
            available_qty=move.quantity,
            action="lot_required" if engine._lot_missing_qty(move) else "recorded",
            lot_ids=[fields.Command.set(move.move_line_ids.lot_id.ids)],
        )

    @api.model
    def _planned_line_vals(self, move, line, common, held):
        component = move.product_id.id
        return dict(
            common,
            required_qty=line.required_qty,
            # what the component itself posts, planned scrap included
            to_post_qty=sum(m.qty for m in line.moves if m.product_id == component),
            net_qty=line.qty(planning.ROLE_COMPONENT),
            scrap_qty=line.qty(planning.ROLE_PLANNED_SCRAP, component),
            # non-storable products are never short
            available_qty=line.available_qty
            if math.isfinite(line.available_qty)
            else line.required_qty,
            shortage_qty=line.shortage_qty,
            action=line.action,
            lot_ids=[fields.Command.set(self._preview_lots(move, line, held).ids)],
        )

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
    def _preview_lots(self, move, plan_line, held):
        """Lots a tracked component would take: those already reserved, then
        the location's removal strategy (FIFO, FEFO...), as Odoo reserves,
        leaving out expired lots and those ``held`` ({(product, lot,
        location): qty}) staged for other orders. Serial numbers: only those
        reserved or recorded, never picked."""
        lots = self.env["stock.lot"]
        if move.has_tracking == "none":
            return lots
        needed = move.product_uom._compute_quantity(
            plan_line.qty(planning.ROLE_COMPONENT), move.product_id.uom_id
        )
        reserved = move.move_line_ids.filtered("lot_id")
        lots |= reserved.lot_id
        needed -= sum(reserved.mapped("quantity_product_uom"))
        if move.has_tracking == "serial":
            return lots
        quants = self.env["stock.quant"]._gather(move.product_id, move.location_id)
        taken = reserved.lot_id
        for quant in quants.filtered(
            lambda q: (
                q.lot_id
                and q.lot_id not in taken
                and not q.lot_id._backflush_is_expired()
            )
        ):
            if needed <= 0:
                break
            free = (
                quant.quantity
                - quant.reserved_quantity
                - held.get((quant.product_id, quant.lot_id, quant.location_id), 0.0)
            )
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
        return self.production_ids.sorted().button_mark_done()

    def action_mark_done_unblocked(self):
        """Produce the orders no shortage blocks; the blocked ones wait."""
        self.ensure_one()
        productions = self._producible_productions() - self.blocked_production_ids
        return productions.button_mark_done()
