# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from collections import defaultdict
from contextlib import contextmanager
from contextvars import ContextVar

from odoo import api, fields, models
from odoo.osv import expression
from odoo.tools import float_is_zero

# Context key of the backflush's own reservations: expired lots are never
# consumed automatically (SPEC §4 *Lots and serials*). It only narrows what
# is reserved, so a request passing it can do no harm.
VALID_LOTS_ONLY = "backflush_valid_lots_only"

# The reservation changes of a backflush posting, summed per quant key
# while its planned scrap takes over what its component gives back (see
# ``_backflush_netted_reservations``): {(product, location, lot, package,
# owner) ids: [product, location, lot, package, owner, quantity]}. A context
# variable, not a context key: no request can start it.
_NETTED_RESERVATIONS = ContextVar("mrp_backflush_netted_reservations", default=None)

# The reservations the move lines of a backflush release as they are done,
# held until the same line takes its stock from the same quant (see
# ``_backflush_folded_releases``): {quant key ids: [records..., quantity]}.
_FOLDED_RELEASES = ContextVar("mrp_backflush_folded_releases", default=None)


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
    def _update_available_quantity(
        self,
        product_id,
        location_id,
        quantity=False,
        reserved_quantity=False,
        lot_id=None,
        package_id=None,
        owner_id=None,
        in_date=None,
    ):
        # Stock and reservations change on the quant they are on, expired
        # or not: hidden, Odoo would make a second quant of the lot.
        if self.env.context.get(VALID_LOTS_ONLY):
            self = self.with_context(**{VALID_LOTS_ONLY: False})
        folded = _FOLDED_RELEASES.get()
        if folded and quantity:
            key = self._backflush_quant_key(
                product_id, location_id, lot_id, package_id, owner_id
            )
            if key in folded:
                reserved_quantity = (reserved_quantity or 0.0) + folded.pop(key)[-1]
        return super()._update_available_quantity(
            product_id,
            location_id,
            quantity,
            reserved_quantity=reserved_quantity,
            lot_id=lot_id,
            package_id=package_id,
            owner_id=owner_id,
            in_date=in_date,
        )

    @api.model
    def _update_reserved_quantity(
        self,
        product_id,
        location_id,
        quantity,
        lot_id=None,
        package_id=None,
        owner_id=None,
        strict=True,
    ):
        # Summed, not written, inside _backflush_netted_reservations and
        # _backflush_folded_releases.
        held = _NETTED_RESERVATIONS.get()
        if held is None:
            held = _FOLDED_RELEASES.get()
        if held is None:
            return super()._update_reserved_quantity(
                product_id,
                location_id,
                quantity,
                lot_id=lot_id,
                package_id=package_id,
                owner_id=owner_id,
                strict=strict,
            )
        records = (product_id, location_id, lot_id, package_id, owner_id)
        key = self._backflush_quant_key(*records)
        held.setdefault(key, [*records, 0.0])[-1] += quantity

    @api.model
    @contextmanager
    def _backflush_netted_reservations(self):
        """Inside the block, the quants' reservations are not written: the
        changes are summed per quant and written at its end, or before
        Odoo reserves (``_backflush_write_reservations``). A component's
        trimmed move lines and the planned scrap that takes over the same
        stock then leave its quant as it was, without a row lock and a
        write per move line."""
        token = _NETTED_RESERVATIONS.set({})
        try:
            yield
            self._backflush_write_reservations()
        finally:
            _NETTED_RESERVATIONS.reset(token)

    @api.model
    @contextmanager
    def _backflush_folded_releases(self):
        """Inside the block, a reservation released is held until stock
        of the same quant key moves: Odoo's ``stock.move.line._action_done``
        releases each line's reservation, then takes its stock, from the
        same quant. Both are then written at once, one row lock and one
        write instead of two; what is released and never taken is written
        at the end of the block."""
        token = _FOLDED_RELEASES.set({})
        try:
            yield
            left = _FOLDED_RELEASES.get()
            _FOLDED_RELEASES.set(None)
            for product, location, lot, package, owner, qty in left.values():
                if float_is_zero(qty, precision_rounding=product.uom_id.rounding):
                    continue
                self._update_reserved_quantity(
                    product,
                    location,
                    qty,
                    lot_id=lot,
                    package_id=package,
                    owner_id=owner,
                )
        finally:
            _FOLDED_RELEASES.reset(token)

    @api.model
    def _backflush_write_reservations(self):
        """Write the reservation changes summed so far, and write the next
        ones as they come: what reads the quants' reservations from here
        on (Odoo's own reservation) reads them as they are."""
        netted = _NETTED_RESERVATIONS.get()
        if netted is None:
            return
        _NETTED_RESERVATIONS.set(None)
        # A change the reserved quantity cannot hold would write nothing.
        _precision, digits = self._fields["reserved_quantity"].get_digits(self.env)
        changes = [
            entry
            for entry in netted.values()
            if not float_is_zero(entry[-1], precision_digits=digits)
        ]
        if not changes:
            return
        # Every quant of the changed keys, expired lots included, read at
        # once; their products and locations too.
        self = self.with_context(**{VALID_LOTS_ONLY: False})
        products = self.env["product.product"].union(*(e[0] for e in changes))
        locations = self.env["stock.location"].union(*(e[1] for e in changes))
        cache = self._get_quants_by_products_locations(products, locations)
        self.union(*cache.values()).mapped("quantity")
        for product, location, lot, package, owner, qty in changes:
            self.with_context(quants_cache=cache)._update_reserved_quantity(
                product.with_prefetch(products._prefetch_ids),
                location.with_prefetch(locations._prefetch_ids),
                qty,
                lot_id=lot,
                package_id=package,
                owner_id=owner,
            )

    @api.model
    def _backflush_pending_reservations(self):
        """{(product, location, lot, package, owner) ids: quantity}: the
        reservation changes not written yet (see
        ``_backflush_netted_reservations``), which the quants' reserved
        quantity does not show."""
        return {
            key: entry[-1] for key, entry in (_NETTED_RESERVATIONS.get() or {}).items()
        }

    def _backflush_key(self):
        """The quant's key in ``_backflush_pending_reservations``."""
        self.ensure_one()
        return self._backflush_quant_key(
            self.product_id,
            self.location_id,
            self.lot_id,
            self.package_id,
            self.owner_id,
        )

    @api.model
    def _backflush_quant_key(self, product, location, lot, package, owner):
        """(product, location, lot, package, owner) ids: the quants Odoo
        changes together (``_gather`` with ``strict``)."""
        records = (product, location, lot, package, owner)
        return tuple(record.id if record else False for record in records)

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
