# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models

from .res_company import BACKFLUSH_ROLES


class StockValuationLayer(models.Model):
    _name = "stock.valuation.layer"
    _inherit = ["stock.valuation.layer", "mrp.backflush.protected.mixin"]
    _backflush_protected_fields = ("backflush_role", "backflush_production_id")

    # "finished": the goods a backflushed order produced, so grouping the
    # valuation by role names them instead of "None". "none" is never
    # stored: it names the group of the other layers (see
    # _read_group_format_result).
    backflush_role = fields.Selection(
        BACKFLUSH_ROLES + [("finished", "Finished goods"), ("none", "Not backflushed")],
        compute="_compute_backflush_role",
        store=True,
        readonly=False,
        index=True,
    )
    backflush_production_id = fields.Many2one(
        "mrp.production",
        string="Backflushed MO",
        compute="_compute_backflush_production_id",
        store=True,
        readonly=False,
        index="btree_not_null",
    )
    # Related, not computed with the role: layers created with an explicit
    # role and MO (deferred value added to the finished goods) protect the
    # fields of their compute method, so a co-computed BOM would stay empty.
    backflush_bom_id = fields.Many2one(
        related="backflush_production_id.bom_id",
        string="Backflushed BOM",
        store=True,
        index="btree_not_null",
    )

    # The role is set before a move is posted and never changes after:
    # depending on the move only spares a layer search on every role write.
    @api.depends("stock_move_id")
    def _compute_backflush_role(self):
        for layer in self:
            layer.backflush_role = (
                layer.stock_move_id.backflush_role or layer._backflush_finished_role()
            )

    # A layer's role may also be given after it is created (an edit of a
    # done MO audited as a correction): its MO follows the role.
    @api.depends("stock_move_id", "backflush_role")
    def _compute_backflush_production_id(self):
        for layer in self:
            move = layer.stock_move_id
            # A returned leftover is no raw move: its MO is the one of the
            # move it returns.
            layer.backflush_production_id = (
                move.raw_material_production_id
                or move.production_id
                or move.unbuild_id.mo_id
                or move.origin_returned_move_id.raw_material_production_id
                if layer.backflush_role
                else False
            )

    def _read_group_format_result(self, rows_dict, lazy_groupby):
        """Grouped by role, the layers the backflush did not make (receipts,
        inventory adjustments, orders done without it) read "Not
        backflushed" rather than "None"; their role stays empty, and the
        group's domain and a filter on that value find them."""
        res = super()._read_group_format_result(rows_dict, lazy_groupby)
        if "backflush_role" in lazy_groupby:
            for row in rows_dict:
                if not row["backflush_role"]:
                    row["backflush_role"] = "none"
        return res

    def _condition_to_sql(self, alias, fname, operator, value, query):
        """A filter on "Not backflushed" finds the layers without a role,
        like the group of that name."""
        if fname == "backflush_role":
            if value == "none":
                value = False
            elif isinstance(value, list | tuple) and "none" in value:
                value = [False if v == "none" else v for v in value]
        return super()._condition_to_sql(alias, fname, operator, value, query)

    def _backflush_finished_role(self):
        """``finished`` for what an order the backflush posted for produced
        (its runs exist before the finished moves are done)."""
        move = self.stock_move_id
        production = move.production_id
        if production and not move.scrapped and production.backflush_run_ids:
            return "finished"
        return False
