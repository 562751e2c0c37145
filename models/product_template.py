# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, models


class ProductTemplate(models.Model):
    _inherit = "product.template"

    @api.constrains("type")
    def _check_backflush_substitutes(self):
        # A substitute must stay a goods product (see mrp.bom.line.substitute).
        self.env["mrp.bom.line.substitute"]._check_products(self.product_variant_ids)
