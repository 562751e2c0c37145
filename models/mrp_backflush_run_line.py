# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from collections import defaultdict

from odoo import api, fields, models

from .res_company import BACKFLUSH_ROLES


class MrpBackflushRunLine(models.Model):
    _name = "mrp.backflush.run.line"
    _inherit = ["mrp.backflush.audit.mixin"]
    _description = "Backflush Run Line"
    _order = "run_id, id"

    run_id = fields.Many2one(
        "mrp.backflush.run",
        required=True,
        ondelete="cascade",
        index=True,
        readonly=True,
    )
    # Copies of the run's, written with the line (cheaper than related
    # fields recomputed after the insert of every posting).
    production_id = fields.Many2one(
        "mrp.production",
        "Manufacturing Order",
        required=True,
        index=True,
        readonly=True,
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    date = fields.Datetime(default=fields.Datetime.now, required=True, readonly=True)
    product_id = fields.Many2one("product.product", required=True, readonly=True)
    bom_line_id = fields.Many2one("mrp.bom.line", readonly=True, index="btree_not_null")
    role = fields.Selection(BACKFLUSH_ROLES, required=True, readonly=True)
    move_id = fields.Many2one("stock.move", readonly=True, index="btree_not_null")
    replaced_product_id = fields.Many2one(
        "product.product",
        string="Replaced Component",
        readonly=True,
        help="For a substitute: the BOM component it stood in for.",
    )
    replaced_qty = fields.Float(
        digits="Product Unit of Measure",
        readonly=True,
        help="For a substitute: quantity of the replaced component (in its "
        "own unit) it stood in for.",
    )
    substitution_variance = fields.Monetary(
        compute="_compute_substitution_variance",
        currency_field="currency_id",
        groups="stock.group_stock_manager",
        help="For a substitute: its value minus what the replaced component "
        "would have cost at its current cost. Positive = more expensive.",
    )
    product_uom_id = fields.Many2one("uom.uom", readonly=True)
    planned_qty = fields.Float(
        digits="Product Unit of Measure",
        readonly=True,
        help="Quantity the BOM asks for this posting (net and planned scrap).",
    )
    consumed_qty = fields.Float(digits="Product Unit of Measure", readonly=True)
    shortage_qty = fields.Float(
        digits="Product Unit of Measure",
        readonly=True,
        help="Quantity missing in the source location when posting.",
    )
    shortage_action = fields.Selection(
        [("negative", "Posted into negative stock"), ("defer", "Deferred")],
        readonly=True,
    )
    fixed_scrap_qty = fields.Float(
        digits="Product Unit of Measure",
        readonly=True,
        help="Part of the planned scrap that is the BOM line's constant per MO.",
    )
    recorded = fields.Boolean(
        "Recorded by Hand",
        readonly=True,
        help="The quantity was recorded by a person or an integration and "
        "posted as it was, not computed from the BOM.",
    )
    location_id = fields.Many2one("stock.location", readonly=True)
    scrap_reason_ids = fields.Many2many(
        "stock.scrap.reason.tag", string="Scrap Reasons", readonly=True
    )
    lot_id = fields.Many2one(
        "stock.lot",
        string="Corrected Lot/Serial",
        readonly=True,
        help="For a correction: the lot whose consumption was corrected.",
    )
    lot_ids = fields.Many2many(
        "stock.lot", compute="_compute_lot_ids", string="Lots/Serials"
    )
    layer_ids = fields.Many2many(
        "stock.valuation.layer",
        string="Valuation Layers",
        readonly=True,
        help="For a correction made by editing a done move: the layers of "
        "the change, when the move's other layers belong to another run.",
    )
    value = fields.Monetary(
        compute="_compute_value",
        currency_field="currency_id",
        groups="stock.group_stock_manager",
        help="Value consumed, from the valuation layers of the posted move.",
    )
    currency_id = fields.Many2one(related="company_id.currency_id")

    @api.depends("lot_id", "move_id.move_line_ids.lot_id")
    def _compute_lot_ids(self):
        for line in self:
            line.lot_ids = line.lot_id or line.move_id.move_line_ids.lot_id

    @api.depends("value", "replaced_qty", "replaced_product_id")
    def _compute_substitution_variance(self):
        for line in self:
            replaced = line.replaced_product_id.with_company(line.company_id)
            line.substitution_variance = (
                line.value - line.replaced_qty * replaced.standard_price
                if replaced
                else 0.0
            )

    @api.depends("layer_ids.value", "move_id.stock_valuation_layer_ids.value")
    def _compute_value(self):
        layers = self.move_id.sudo().stock_valuation_layer_ids
        # A done move edited later: the layers of the edit are counted by
        # the correction's run line (``layer_ids``), not by this one.
        claimed = (
            self.sudo().search([("layer_ids", "in", layers.ids)]).layer_ids
            if layers
            else layers
        )
        value_by_move = defaultdict(float)
        for layer in layers - claimed:
            value_by_move[layer.stock_move_id.id] -= layer.value
        for line in self:
            if line.layer_ids:
                line.value = -sum(line.layer_ids.sudo().mapped("value"))
            else:
                line.value = value_by_move[line.move_id.id]
