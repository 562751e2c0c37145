# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, models


class ProcurementGroup(models.Model):
    _inherit = "procurement.group"

    @api.model
    def _get_push_rule(self, product_id, location_dest_id, values):
        # Mark Done of many MOs asks the same question for every move of a
        # component (one to three searches each): ask it once per call. The
        # product matters only through its routes (_search_rule), so
        # components without routes of their own share one answer.
        cache = self.env.context.get("backflush_push_rule_cache")
        if not isinstance(cache, dict):  # none, or sent from outside
            return super()._get_push_rule(product_id, location_dest_id, values)
        routes = values.get("route_ids")
        packaging = values.get("product_packaging_id")
        warehouse = values.get("warehouse_id")
        key = (
            tuple((product_id.route_ids | product_id.categ_id.total_route_ids).ids),
            location_dest_id.id,
            tuple(routes.ids) if routes else (),
            packaging.id if packaging else False,
            warehouse.id if warehouse else False,
            repr(values.get("domain")),
            self.env.su,
            self.env.company.id,
        )
        if key not in cache:
            cache[key] = super()._get_push_rule(product_id, location_dest_id, values)
        return cache[key].with_env(self.env)
