# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import math

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .res_company import BACKFLUSH_MODES

# Upper bound of the quantities and factors a BOM line may carry: far above
# any real need, far below what overflows once multiplied by an MO quantity.
MAX_QUANTITY = 1e9
SCRAP_FIELDS = ("scrap_percent", "scrap_fixed_qty")


def check_numbers(records, vals, field_names, label):
    """Refuse NaN, infinities and absurd values before the ORM rounds them
    (it would fail with a bare ValueError or OverflowError).

    ``label(vals)`` names the records for the message."""
    for name in field_names:
        if name not in vals:
            continue
        try:
            value = float(vals[name] or 0.0)
        except (TypeError, ValueError):
            continue  # not a number: the ORM names the field itself
        if not math.isfinite(value) or abs(value) > MAX_QUANTITY:
            maximum = f"{MAX_QUANTITY:,.0f}"
            raise ValidationError(
                records.env._(
                    "%(record)s: %(field)s must be a finite number up to "
                    "%(max)s (got %(value)s).",
                    record=label(vals),
                    field=records._fields[name]._description_string(records.env),
                    max=maximum,
                    value=vals[name],
                )
            )


class MrpBomLine(models.Model):
    _inherit = "mrp.bom.line"

    backflush_mode = fields.Selection(
        [("bom", "As on the BOM")] + BACKFLUSH_MODES,
        string="Backflush",
        required=True,
        default="bom",
        help="Overrides the BOM's backflush timing for this component.",
    )
    backflush_location_id = fields.Many2one(
        "stock.location",
        string="Supply Location",
        domain="[('usage', '=', 'internal')]",
        check_company=True,
        help="Where the backflush consumes this component from (a line-side "
        "bin). Empty: the input location of the work center of its operation, "
        "else the order's source location.",
    )
    scrap_percent = fields.Float(
        string="Planned Scrap (%)",
        digits="Product Unit of Measure",
        help="Planned component scrap, in percent of the net quantity. "
        "Consumed with the component and part of the finished good's cost.",
    )
    scrap_fixed_qty = fields.Float(
        string="Planned Scrap per MO",
        digits="Product Unit of Measure",
        help="Constant planned scrap, once per manufacturing order (and its "
        "backorders), in the line's unit of measure (setup loss).",
    )
    substitute_ids = fields.One2many(
        "mrp.bom.line.substitute",
        "bom_line_id",
        string="Substitutes",
        copy=True,
    )
    substitute_count = fields.Integer(compute="_compute_substitute_count")

    @api.constrains("scrap_percent", "scrap_fixed_qty")
    def _check_backflush_scrap(self):
        for line in self:
            if not 0 <= line.scrap_percent < 1000:
                raise ValidationError(
                    self.env._(
                        "BOM %(bom)s, component %(product)s: planned scrap must "
                        "be at least 0 %% and below 1000 %% (got %(value)s %%).",
                        bom=line.bom_id.display_name,
                        product=line.product_id.display_name,
                        value=line.scrap_percent,
                    )
                )
            if (line.scrap_percent or line.scrap_fixed_qty) and (
                line.child_bom_id.type == "phantom"
            ):
                raise ValidationError(
                    self.env._(
                        "BOM %(bom)s, kit %(product)s: set planned scrap on the "
                        "components of the kit's own BOM, where it is consumed.",
                        bom=line.bom_id.display_name,
                        product=line.product_id.display_name,
                    )
                )
            if line.scrap_fixed_qty < 0:
                raise ValidationError(
                    self.env._(
                        "BOM %(bom)s, component %(product)s: planned scrap per "
                        "MO cannot be negative (got %(value)s).",
                        bom=line.bom_id.display_name,
                        product=line.product_id.display_name,
                        value=line.scrap_fixed_qty,
                    )
                )

    @api.constrains("backflush_location_id")
    def _check_backflush_location(self):
        for line in self:
            line.backflush_location_id._backflush_check_supply(
                self.env._(
                    "BOM %(bom)s, component %(product)s",
                    bom=line.bom_id.display_name,
                    product=line.product_id.display_name,
                )
            )

    @api.constrains("product_id")
    def _check_backflush_substitutes(self):
        # The component may not become one of its own substitutes.
        self.substitute_ids._check_substitute()

    @api.depends("substitute_ids")
    def _compute_substitute_count(self):
        for line in self:
            line.substitute_count = len(line.substitute_ids)

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            check_numbers(self, vals, SCRAP_FIELDS, self._backflush_label)
        return super().create(vals_list)

    def write(self, vals):
        check_numbers(self, vals, SCRAP_FIELDS, self._backflush_label)
        return super().write(vals)

    def _backflush_label(self, vals):
        """BOM and component of ``self``, or of the line ``vals`` create."""
        bom = self.bom_id or self.env["mrp.bom"].browse(vals.get("bom_id"))
        product = self.product_id or self.env["product.product"].browse(
            vals.get("product_id")
        )
        return self.env._(
            "BOM %(bom)s, component %(product)s",
            bom=", ".join(bom.mapped("display_name")),
            product=", ".join(product.mapped("display_name")),
        )

    def _get_backflush_mode(self):
        """Effective timing of the line; `operation` needs an operation."""
        self.ensure_one()
        mode = self.backflush_mode
        if mode == "bom":
            mode = self.bom_id.backflush_mode
        if mode == "operation" and not self.operation_id:
            return "finish"
        return mode

    def _get_backflush_location(self):
        """The supply location of the line, if any: its own, else the input
        location of the work center of its operation (SPEC §4 *Supply
        locations*); the order's source location applies otherwise."""
        self.ensure_one()
        return (
            self.backflush_location_id
            or self.operation_id.workcenter_id.backflush_location_id
        )

    def _get_planned_scrap(self, net_qty, first_posting):
        """Planned scrap for ``net_qty`` (line UoM) in one posting."""
        self.ensure_one()
        scrap = net_qty * self.scrap_percent / 100.0
        if first_posting:
            scrap += self.scrap_fixed_qty
        return scrap

    def action_open_substitutes(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._(
                "Substitutes of %(product)s", product=self.product_id.display_name
            ),
            "res_model": "mrp.bom.line",
            "res_id": self.id,
            "view_mode": "form",
            "views": [
                (
                    self.env.ref("mrp_backflush.mrp_bom_line_view_form_substitutes").id,
                    "form",
                )
            ],
            "target": "new",
        }
