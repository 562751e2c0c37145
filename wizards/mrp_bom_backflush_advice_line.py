# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models
from odoo.exceptions import AccessError, UserError


class MrpBomBackflushAdviceLine(models.TransientModel):
    _name = "mrp.bom.backflush.advice.line"
    _description = "BOM Accuracy Advice Line"
    _order = "bom_id, deviation_percent desc, id"

    advice_id = fields.Many2one(
        "mrp.bom.backflush.advice", required=True, ondelete="cascade", index=True
    )
    bom_line_id = fields.Many2one("mrp.bom.line", required=True, readonly=True)
    bom_id = fields.Many2one(
        related="bom_line_id.bom_id", store=True, string="Bill of Materials"
    )
    product_id = fields.Many2one(related="bom_line_id.product_id", string="Component")
    product_uom_id = fields.Many2one(
        related="bom_line_id.product_uom_id", string="Unit"
    )
    bom_uom_id = fields.Many2one(
        related="bom_line_id.bom_id.product_uom_id", string="BOM Unit"
    )
    company_id = fields.Many2one(related="bom_line_id.company_id")
    basis = fields.Selection(
        [("consumption", "Recorded consumption"), ("counts", "Counts")],
        default="consumption",
        readonly=True,
    )
    production_count = fields.Integer("MOs Analysed", readonly=True)
    produced_qty = fields.Float(
        "Produced",
        digits="Product Unit of Measure",
        readonly=True,
        help="Finished quantity of the analysed MOs, in the BOM's unit.",
    )
    planned_per_unit = fields.Float(
        "BOM per Unit",
        digits=(16, 4),
        readonly=True,
        help="What the BOM plans per finished unit: quantity and planned "
        "scrap (percentage and constant per MO).",
    )
    observed_per_unit = fields.Float(
        "Used per Unit",
        digits=(16, 4),
        readonly=True,
        help="What was used per finished unit: consumption of every role, "
        "operator edits, actual scrap, pending deferred shortages and "
        "substitutes (as the component quantity they replaced).",
    )
    scrap_per_unit = fields.Float(
        "Actual Scrap per Unit", digits=(16, 4), readonly=True
    )
    deviation_percent = fields.Float("Deviation (%)", digits=(16, 1), readonly=True)
    suggestion_type = fields.Selection(
        [("qty", "Quantity"), ("scrap", "Planned scrap (%)")],
        string="Change",
        readonly=True,
    )
    current_value = fields.Float("Current", digits=(16, 4), readonly=True)
    suggested_value = fields.Float("Suggested", digits=(16, 4), readonly=True)
    # Counts basis: the evidence, quantities in the line's unit
    count_count = fields.Integer("Counts", readonly=True)
    date_from = fields.Datetime("First Count", readonly=True)
    date_to = fields.Datetime("Last Count", readonly=True)
    backflushed_qty = fields.Float(
        "Backflushed",
        digits="Product Unit of Measure",
        readonly=True,
        help="What this BOM line backflushed between the counts, planned "
        "scrap included.",
    )
    net_qty = fields.Float(
        "Net Backflushed",
        digits="Product Unit of Measure",
        readonly=True,
        help="Backflushed without planned scrap: the base of the scrap percentage.",
    )
    outflow_qty = fields.Float(
        "Total Outflow",
        digits="Product Unit of Measure",
        readonly=True,
        help="Everything the books say left the warehouse between the counts: "
        "every BOM line, other manufacturing orders, scrap and deliveries.",
    )
    count_variance_qty = fields.Float(
        "Count Variance",
        digits="Product Unit of Measure",
        readonly=True,
        help="Counted - booked over the counts used (negative: loss).",
    )
    attributed_qty = fields.Float(
        "Attributed",
        digits="Product Unit of Measure",
        readonly=True,
        help="This line's share of the count variance, in proportion to what "
        "it backflushed.",
    )
    share_percent = fields.Float("Share (%)", digits=(16, 1), readonly=True)
    weak = fields.Boolean("Weak Evidence", readonly=True)
    # Char: one line per row in the list (full text as tooltip and in the form)
    explanation = fields.Char(readonly=True)
    applied = fields.Boolean(readonly=True)

    def action_apply(self):
        if not self.env.user.has_group("mrp.group_mrp_manager"):
            raise AccessError(
                self.env._(
                    "Only a manufacturing manager can apply a BOM accuracy suggestion."
                )
            )
        for advice_line in self:
            if advice_line.applied or not advice_line.suggestion_type:
                raise UserError(
                    self.env._(
                        "%(product)s on %(bom)s: there is no suggestion left to apply.",
                        product=advice_line.product_id.display_name,
                        bom=advice_line.bom_id.display_name,
                    )
                )
            field = (
                "product_qty"
                if advice_line.suggestion_type == "qty"
                else "scrap_percent"
            )
            line = advice_line.bom_line_id
            old = line[field]
            line.write({field: advice_line.suggested_value})
            advice_line.bom_id.message_post(
                body=self.env._(
                    "BOM accuracy advice applied by %(user)s on %(product)s: "
                    "%(field)s %(old)s -> %(new)s. %(explanation)s",
                    user=self.env.user.name,
                    product=line.product_id.display_name,
                    field=line._fields[field]._description_string(self.env),
                    old=old,
                    new=advice_line.suggested_value,
                    explanation=advice_line.explanation,
                )
            )
            advice_line.applied = True
        return self.advice_id[:1]._reopen()
