# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_compare

from .. import planning
from .res_company import BACKFLUSH_ROLES


class StockMove(models.Model):
    _name = "stock.move"
    _inherit = ["stock.move", "mrp.backflush.protected.mixin"]
    _backflush_protected_fields = (
        "backflush_role",
        "backflush_run_id",
        "backflush_replaced_move_id",
    )

    backflush_role = fields.Selection(BACKFLUSH_ROLES, index=True, copy=False)
    backflush_run_id = fields.Many2one(
        "mrp.backflush.run", index="btree_not_null", copy=False, readonly=True
    )
    backflush_unit_qty = fields.Float(
        digits=False,
        help="Net component quantity per finished unit, in the move's unit, "
        "from the BOM explosion (without planned scrap).",
    )
    backflush_replaced_move_id = fields.Many2one(
        "stock.move",
        string="Replaces",
        copy=False,
        help="For a substitute: the component move it stands in for.",
    )

    def _backflush_write_protected_fields(self):
        # The BOM explosion sets the unit quantity and rewrites it while the
        # MO is a draft; the backflush posts from it once confirmed.
        if all(move.state == "draft" for move in self):
            return ()
        return ("backflush_unit_qty",)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_backflush_pending(self):
        # A retry posts a copy of the component move it defers (same MO,
        # operation, work order, accounts): without it, it would guess.
        pending = (
            self.env["mrp.backflush.exception"]
            .sudo()
            .search([("move_id", "in", self.ids), ("state", "=", "pending")])
        )
        if pending:
            raise UserError(
                self.env._(
                    "%(exceptions)s still need their component move: post or "
                    "cancel these pending backflush exceptions first.",
                    exceptions=", ".join(pending.mapped("name")),
                )
            )

    @api.model
    def _determine_is_manual_consumption(self, bom_line):
        # Vanilla makes every line with an operation manual; backflush
        # decides from its own timing instead.
        if not bom_line:
            return super()._determine_is_manual_consumption(bom_line)
        return bool(
            bom_line.manual_consumption or bom_line._get_backflush_mode() == "manual"
        )

    def _prepare_merge_moves_distinct_fields(self):
        # A planned-scrap or substitute move must never merge into its component.
        return super()._prepare_merge_moves_distinct_fields() + ["backflush_role"]

    def _backflush_bom_unit_qty(self):
        """Net quantity per finished unit when the move does not carry it
        (moves made before this module, or by code that skipped
        ``_get_move_raw_values``): from the BOM line, else from the demand."""
        self.ensure_one()
        production = self.raw_material_production_id
        line = self.bom_line_id
        bom = production.bom_id
        if line.bom_id != bom:  # kit component: Odoo's own per-unit demand
            return self.product_uom_qty / (production.product_qty or 1.0)
        per_bom_unit = line.product_uom_id._compute_quantity(
            line.product_qty, self.product_uom, round=False
        ) / (bom.product_qty or 1.0)
        return per_bom_unit * production.product_uom_id._compute_quantity(
            1.0, bom.product_uom_id, round=False
        )

    def _backflush_substitutes(self):
        """The active substitutes of the move's BOM line, in order, with the
        factor per unit of the move's own UoM."""
        self.ensure_one()
        to_line_uom = self.product_uom._compute_quantity(
            1.0, self.bom_line_id.product_uom_id, round=False
        )
        return tuple(
            planning.Substitute(
                product_id=sub.product_id.id,
                factor=sub.factor * to_line_uom,
                rounding=sub.product_uom_id.rounding,
                to_pool=sub.product_uom_id._compute_quantity(
                    1.0, sub.product_id.uom_id, round=False
                ),
            )
            for sub in self.bom_line_id.substitute_ids.sorted(
                lambda s: (s.sequence, s.id)
            )
            if sub.product_id.active
        )

    def _backflush_extra_move_vals(self, role, product, uom, qty):
        """A raw move of the same MO, BOM line and operation as ``self``."""
        self.ensure_one()
        return self.copy_data(
            {
                "product_id": product.id,
                "product_uom": uom.id,
                "product_uom_qty": qty,
                "backflush_role": role,
                "backflush_replaced_move_id": self.id,
                "backflush_unit_qty": 0.0,
                "manual_consumption": False,
                "move_orig_ids": [],
                "move_dest_ids": [],
                "state": "draft",
            }
        )[0]

    def _backflush_pick_demand(self):
        """Confirm new backflush moves and pick their whole demand, taking
        reserved quants first (removal strategy, lots) like Odoo does."""
        self._action_confirm(merge=False)
        # mrp marks raw moves created on a running MO as picked, which
        # would make _action_assign skip them.
        self.picked = False
        self._action_assign()
        for move in self:
            if float_compare(
                move.quantity,
                move.product_uom_qty,
                precision_rounding=move.product_uom.rounding,
            ):
                move._set_quantity_done(move.product_uom_qty)
        self.picked = True

    def _backflush_run_line_vals(self, plan_line, extra_moves):
        """Run lines of one planned move: the component itself, its planned
        scrap and the substitutes that stood in for it."""
        self.ensure_one()
        req = plan_line.requirement
        net_planned = min(
            planning.round_up(req.net_qty, req.rounding), plan_line.required_qty
        )
        common = {
            "bom_line_id": self.bom_line_id.id,
            "location_id": self.location_id.id,
        }
        short = plan_line.action in (planning.POLICY_NEGATIVE, planning.POLICY_DEFER)
        vals = [
            dict(
                common,
                product_id=self.product_id.id,
                role="component",
                move_id=self.id,
                product_uom_id=self.product_uom.id,
                planned_qty=net_planned,
                consumed_qty=plan_line.qty(planning.ROLE_COMPONENT, self.product_id.id),
                shortage_qty=plan_line.shortage_qty if short else 0.0,
                shortage_action=plan_line.action if short else False,
            )
        ]
        replaced = {
            m.product_id: m.replaces_qty
            for m in plan_line.moves
            if m.role == planning.ROLE_SUBSTITUTE
        }
        for move in extra_moves:
            vals.append(
                dict(
                    common,
                    product_id=move.product_id.id,
                    role=move.backflush_role,
                    move_id=move.id,
                    product_uom_id=move.product_uom.id,
                    planned_qty=(
                        plan_line.required_qty - net_planned
                        if move.backflush_role == planning.ROLE_PLANNED_SCRAP
                        else 0.0
                    ),
                    consumed_qty=move.product_uom_qty,
                    fixed_scrap_qty=(
                        req.fixed_scrap_qty
                        if move.backflush_role == planning.ROLE_PLANNED_SCRAP
                        else 0.0
                    ),
                    replaced_product_id=(
                        self.product_id.id
                        if move.backflush_role == planning.ROLE_SUBSTITUTE
                        else False
                    ),
                    replaced_qty=self.product_uom._compute_quantity(
                        replaced.get(move.product_id.id, 0.0), self.product_id.uom_id
                    ),
                )
            )
        return vals

    def _backflush_exception_vals(self, plan_line):
        self.ensure_one()
        return {
            "production_id": self.raw_material_production_id.id,
            "move_id": self.id,
            "product_id": self.product_id.id,
            "bom_line_id": self.bom_line_id.id,
            "quantity": plan_line.shortage_qty,
            "product_uom_id": self.product_uom.id,
            "location_id": self.location_id.id,
        }
