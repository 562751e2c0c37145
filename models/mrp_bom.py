# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models

from .res_company import BACKFLUSH_MODES, SHORTAGE_POLICIES, SUBSTITUTIONS


class MrpBom(models.Model):
    _inherit = "mrp.bom"

    backflush_mode = fields.Selection(
        BACKFLUSH_MODES,
        string="Backflush Timing",
        required=True,
        default=lambda self: self.env.company.backflush_mode,
        tracking=True,
        help="When component consumption is posted: when the order is produced "
        "(Produce / Produce All), when the work order of the line's operation "
        "finishes, or recorded by hand by the operator.",
    )
    backflush_shortage_policy = fields.Selection(
        SHORTAGE_POLICIES,
        string="Shortage Policy",
        required=True,
        default=lambda self: self.env.company.backflush_shortage_policy,
        tracking=True,
        help="What producing does when a component is short in the source "
        "location: refuse, let stock go negative, or post what is available "
        "and keep the rest as a pending exception.",
    )
    backflush_substitution = fields.Selection(
        SUBSTITUTIONS,
        string="Substitutes",
        required=True,
        default=lambda self: self.env.company.backflush_substitution,
        tracking=True,
        help="Whether the substitutes of a short BOM line may be consumed "
        "instead of it.",
    )
    backflush_leftover_policy = fields.Selection(
        [
            ("keep", "Keep in pre-production"),
            ("return", "Return to stock"),
            ("propose", "Propose a return"),
        ],
        string="Leftovers",
        required=True,
        default="keep",
        tracking=True,
        help="Components picked to pre-production for an order (manufacture "
        "in 2 or 3 steps) and not consumed when it is done: left there, "
        "returned to where they were picked from, or a return transfer made "
        "ready for the store keeper to validate.",
    )

    @api.constrains("product_tmpl_id", "product_id", "type", "active")
    def _check_backflush_substitutes(self):
        # The product made may not become a substitute of its own components,
        # nor a kit while it substitutes a component.
        self.bom_line_ids.substitute_ids._check_substitute()
        kits = self.filtered(lambda bom: bom.type == "phantom" and bom.active)
        templates = kits.filtered(lambda bom: not bom.product_id).product_tmpl_id
        self.env["mrp.bom.line.substitute"]._check_products(
            kits.product_id | templates.product_variant_ids
        )
