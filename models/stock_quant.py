# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from collections import defaultdict

from odoo import api, fields, models
from odoo.osv import expression

# Context key of the backflush's own reservations: expired lots are never
# consumed automatically (SPEC §4 *Lots and serials*). It only narrows what
# is reserved, so a request passing it can do no harm.
VALID_LOTS_ONLY = "backflush_valid_lots_only"


class StockQuant(models.Model):
    _inherit = "stock.quant"

    def _get_gather_domain(
        self,
        product_id,
        location_id,
        lot_id=None,
        package_id=None,
        owner_id=None,
        strict=False,
    ):
        domain = super()._get_gather_domain(
            product_id, location_id, lot_id, package_id, owner_id, strict
        )
        if self.env.context.get(VALID_LOTS_ONLY) and self._backflush_uses_expiry():
            domain = expression.AND([self._backflush_valid_domain(), domain])
        return domain

    @api.model
    def _get_quants_by_products_locations(
        self, product_ids, location_ids, extra_domain=False
    ):
        # Odoo reserves a move fed by a pick from these quants, not through
        # _gather: an expired lot the pick brought is no more reserved there.
        if self.env.context.get(VALID_LOTS_ONLY) and self._backflush_uses_expiry():
            extra_domain = expression.AND(
                [extra_domain or [], self._backflush_valid_domain()]
            )
        return super()._get_quants_by_products_locations(
            product_ids, location_ids, extra_domain
        )

    @api.model
    def _update_available_quantity(self, product_id, location_id, *args, **kwargs):
        # Stock and reservations change on the quant they are on, expired
        # or not: hidden, Odoo would make a second quant of the lot.
        if self.env.context.get(VALID_LOTS_ONLY):
            self = self.with_context(**{VALID_LOTS_ONLY: False})
        return super()._update_available_quantity(
            product_id, location_id, *args, **kwargs
        )

    @api.model
    def _backflush_uses_expiry(self):
        """Lots have removal dates (product_expiry, optional, is installed)."""
        return "removal_date" in self._fields

    @api.model
    def _backflush_valid_domain(self):
        return [
            "|",
            ("removal_date", "=", False),
            ("removal_date", ">", fields.Datetime.now()),
        ]

    @api.model
    def _backflush_expired_stock(self, products, locations):
        """Stock of expired lots (removal date passed) of ``products`` under
        each of ``locations``: {(product id, location id): {lot: qty}}, in
        product units, from one grouped read."""
        expired = defaultdict(dict)
        if not self._backflush_uses_expiry() or not products or not locations:
            return expired
        groups = self.sudo()._read_group(
            [
                ("product_id", "in", products.ids),
                ("location_id", "child_of", locations.ids),
                ("removal_date", "<=", fields.Datetime.now()),
                ("quantity", ">", 0),
            ],
            ["product_id", "location_id", "lot_id"],
            ["quantity:sum", "reserved_quantity:sum"],
        )
        for product, location, lot, qty, _reserved in groups:
            for parent in locations:
                if location.parent_path.startswith(parent.parent_path):
                    lots = expired[product.id, parent.id]
                    lots[lot] = lots.get(lot, 0.0) + qty
        return expired
