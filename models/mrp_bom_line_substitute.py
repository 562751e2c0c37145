# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .mrp_bom_line import check_numbers


class MrpBomLineSubstitute(models.Model):
    _name = "mrp.bom.line.substitute"
    _description = "BOM Line Substitute Component"
    _order = "bom_line_id, sequence, id"
    _check_company_auto = True

    bom_line_id = fields.Many2one(
        "mrp.bom.line", required=True, ondelete="cascade", index=True
    )
    bom_id = fields.Many2one(related="bom_line_id.bom_id", store=True)
    company_id = fields.Many2one(related="bom_line_id.company_id", store=True)
    sequence = fields.Integer(default=10)
    product_id = fields.Many2one(
        "product.product",
        string="Substitute",
        required=True,
        check_company=True,
        domain="[('type', '=', 'consu')]",
    )
    factor = fields.Float(
        default=1.0,
        required=True,
        digits="Product Unit of Measure",
        help="Units of the substitute (in its unit of measure) that replace "
        "one unit of the line's component (in the line's unit of measure).",
    )
    product_uom_id = fields.Many2one(
        "uom.uom",
        string="Unit of Measure",
        required=True,
        compute="_compute_product_uom_id",
        store=True,
        readonly=False,
        precompute=True,
    )
    product_uom_category_id = fields.Many2one(related="product_id.uom_id.category_id")

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            check_numbers(self, vals, ["factor"], self._backflush_label)
        return super().create(vals_list)

    def write(self, vals):
        check_numbers(self, vals, ["factor"], self._backflush_label)
        return super().write(vals)

    def _backflush_label(self, vals):
        """BOM line and substitute of ``self``, or of the one ``vals`` create."""
        line = self.bom_line_id or self.env["mrp.bom.line"].browse(
            vals.get("bom_line_id")
        )
        product = self.product_id or self.env["product.product"].browse(
            vals.get("product_id")
        )
        return self.env._(
            "%(line)s, substitute %(substitute)s",
            line=line._backflush_label({}),
            substitute=", ".join(product.mapped("display_name")),
        )

    @api.model
    def _check_products(self, products):
        """Check again, in every company, the substitutes that are
        ``products`` once these changed (type, kit BOM)."""
        if not products:
            return
        self.sudo().search([("product_id", "in", products.ids)])._check_substitute()

    @api.depends("product_id")
    def _compute_product_uom_id(self):
        for sub in self:
            sub.product_uom_id = sub.product_id.uom_id

    @api.constrains("product_id", "factor", "product_uom_id", "bom_line_id")
    def _check_substitute(self):
        kits = self.env["mrp.bom"]._bom_find(self.product_id, bom_type="phantom")
        for sub in self:
            line = sub.bom_line_id
            names = {
                "bom": line.bom_id.display_name,
                "component": line.product_id.display_name,
                "substitute": sub.product_id.display_name,
            }
            if sub.product_id == line.product_id:
                raise ValidationError(
                    self.env._(
                        "BOM %(bom)s: %(substitute)s cannot substitute itself on "
                        "its own line.",
                        **names,
                    )
                )
            bom = line.bom_id
            if sub.product_id in (
                bom.product_id or bom.product_tmpl_id.product_variant_ids
            ):
                raise ValidationError(
                    self.env._(
                        "BOM %(bom)s: %(substitute)s is the product this BOM "
                        "makes; it cannot substitute %(component)s.",
                        **names,
                    )
                )
            if sub.product_id.type != "consu" or kits.get(sub.product_id):
                raise ValidationError(
                    self.env._(
                        "BOM %(bom)s: %(substitute)s is a service or a kit; a "
                        "substitute of %(component)s must be a goods product "
                        "consumed as such.",
                        **names,
                    )
                )
            if not sub.product_id.active:
                raise ValidationError(
                    self.env._(
                        "BOM %(bom)s: %(substitute)s is archived; it cannot "
                        "substitute %(component)s.",
                        **names,
                    )
                )
            if (
                len(
                    line.substitute_ids.filtered(
                        lambda s, p=sub.product_id: s.product_id == p
                    )
                )
                > 1
            ):
                raise ValidationError(
                    self.env._(
                        "BOM %(bom)s: %(substitute)s is listed twice as a "
                        "substitute of %(component)s.",
                        **names,
                    )
                )
            if sub.factor <= 0:
                raise ValidationError(
                    self.env._(
                        "BOM %(bom)s: the factor of substitute %(substitute)s for "
                        "%(component)s must be greater than 0 (got %(factor)s).",
                        factor=sub.factor,
                        **names,
                    )
                )
            if sub.product_uom_id.category_id != sub.product_id.uom_id.category_id:
                raise ValidationError(
                    self.env._(
                        "BOM %(bom)s: the unit %(uom)s of substitute "
                        "%(substitute)s is not in the category of its own unit "
                        "%(product_uom)s.",
                        uom=sub.product_uom_id.name,
                        product_uom=sub.product_id.uom_id.name,
                        **names,
                    )
                )
