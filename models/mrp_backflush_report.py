# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import math
import re
from contextlib import closing

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import float_compare

from .mrp_bom_line import MAX_QUANTITY

# The fields of backflush_report's values (SPEC §3).
REPORT_FIELDS = (
    "production",
    "qty",
    "finished_lot",
    "component_lots",
    "idempotency_key",
)


class MrpBackflushReport(models.Model):
    """One ``mrp.production.backflush_report`` call that posted: its key and
    its answer, so the same key again answers the same and posts nothing.

    The model also holds what the station and integrations call through
    ``mrp.production`` (SPEC §3): ``backflush_station_read`` and
    ``backflush_report`` are implemented here, on the order they name."""

    _name = "mrp.backflush.report"
    _inherit = ["mrp.backflush.protected.mixin"]
    _description = "Backflush Report over RPC"
    _order = "id desc"
    _rec_name = "key"
    # The module's record of a posting: written by backflush_report only.
    _backflush_protected_fields = (
        "key",
        "code",
        "company_id",
        "production_id",
        "user_id",
        "answer",
    )

    key = fields.Char("Idempotency Key", required=True, readonly=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    production_id = fields.Many2one(
        "mrp.production",
        "Manufacturing Order",
        required=True,
        readonly=True,
        index=True,
        ondelete="cascade",
    )
    code = fields.Char(
        "Reported Order", readonly=True, help="The order as the report named it."
    )
    user_id = fields.Many2one("res.users", "Reported By", readonly=True)
    answer = fields.Json(readonly=True)

    _sql_constraints = [
        (
            "key_company_uniq",
            "unique(company_id, key)",
            "An idempotency key is used once per company.",
        )
    ]

    @api.model
    def _backflush_find(self, code, key):
        """The report stored with ``key`` in the user's companies; a key
        used for another order is refused."""
        reports = self.search([("key", "=", key)])
        if not reports:
            return reports
        same = reports.filtered(lambda r: r.code == code)[:1]
        if not same:
            raise UserError(
                self.env._(
                    "idempotency_key: %(key)s was already used to report "
                    "%(mo)s: use a new key for each report.",
                    key=key,
                    mo=reports[0].code,
                )
            )
        return same

    @api.model
    def _backflush_claim(self, production, code, key):
        """Take ``key`` for ``production`` before anything is posted; return
        the new record, or an empty one when the key was taken meanwhile.

        A concurrent call holding the same key makes this one wait; once
        that call commits, PostgreSQL refuses this one's snapshot (a
        serialization failure in REPEATABLE READ) and Odoo retries the
        request, which then finds the stored answer. If that call failed,
        this one goes on. Written as the module writes its records (see
        ``_backflush_write``); the caller then marks the order done with
        its own rights."""
        self.env.cr.execute(
            """
            INSERT INTO mrp_backflush_report
                (key, code, company_id, production_id, user_id,
                 create_uid, write_uid, create_date, write_date)
            VALUES (%(key)s, %(code)s, %(company)s, %(production)s, %(uid)s,
                    %(uid)s, %(uid)s, now() at time zone 'UTC',
                    now() at time zone 'UTC')
            ON CONFLICT (company_id, key) DO NOTHING
            RETURNING id
            """,
            {
                "key": key,
                "code": code,
                "company": production.company_id.id,
                "production": production.id,
                "uid": self.env.uid,
            },
        )
        row = self.env.cr.fetchone()
        return self.browse(row and row[0])

    # ------------------------------------------------------------------
    # Station and integrations (mrp.production.backflush_station_read and
    # backflush_report delegate here)
    # ------------------------------------------------------------------
    @api.model
    def _backflush_station_read(self, code, qty=None):
        """See ``mrp.production.backflush_station_read``."""
        production = self._backflush_station_production(code, "code")
        self._backflush_station_check_open(production)
        if qty is not None:
            qty = self._backflush_station_qty(qty, "qty")
        # The preview wizard and the quantity tried are rolled back.
        with closing(self.env.cr.savepoint()):
            if qty is not None:
                production.qty_producing = qty
            return self._backflush_station_payload(production)

    @api.model
    def _backflush_report(self, values):
        """See ``mrp.production.backflush_report``."""
        values = self._backflush_report_check_values(values)
        code, key = values["production"], values["idempotency_key"]
        # Before the order is looked up: a partial report renames it (Odoo
        # numbers the order and its backorder -001, -002).
        report = self._backflush_find(code, key)
        if not report:
            production = self._backflush_station_production(code, "production")
            self._backflush_station_check_open(production)
            todo = self._backflush_report_prepare(production, values)
            report = self._backflush_claim(production, code, key)
            if not report:  # taken by a call committed since this one began
                raise UserError(
                    self.env._(
                        "idempotency_key: a report with %(key)s is being posted "
                        "right now: ask again in a moment for its answer.",
                        key=key,
                    )
                )
            report._backflush_write(
                {"answer": self._backflush_report_post(production, **todo)}
            )
        return report.answer

    @api.model
    def _backflush_station_production(self, code, field):
        """The order ``code`` names among the user's companies: an MO's
        name, else a work order's barcode, else the name an MO had before
        a partial production (its first open backorder)."""
        if not isinstance(code, str) or not code.strip():
            raise UserError(
                self.env._(
                    "%(field)s: scan or type a manufacturing order.", field=field
                )
            )
        code = code.strip()
        Production = self.env["mrp.production"]
        productions = Production.search([("name", "=", code)])
        if not productions:
            productions = (
                self.env["mrp.workorder"]
                .search([("barcode", "=", code)], limit=1)
                .production_id
            )
        if not productions:
            # The name printed before a partial production: Odoo renamed the
            # order -001 and numbered its backorders; the first open one.
            pattern = re.sub(r"([\\%_])", r"\\\1", code) + "-%"
            productions = Production.search(
                [
                    ("name", "=like", pattern),
                    ("state", "not in", ("done", "cancel")),
                ],
                order="id",
                limit=1,
            )
        if len(productions) > 1:  # one name in two companies
            current = productions.filtered(lambda p: p.company_id == self.env.company)
            if not current:
                raise UserError(
                    self.env._(
                        "%(field)s: %(code)s is an order of %(companies)s: "
                        "switch to the company it is for.",
                        field=field,
                        code=code,
                        companies=", ".join(productions.company_id.mapped("name")),
                    )
                )
            productions = current
        if not productions:
            raise UserError(
                self.env._(
                    "%(field)s: no manufacturing order or work order %(code)s "
                    "in your companies.",
                    field=field,
                    code=code,
                )
            )
        return productions.with_company(productions.company_id)

    @api.model
    def _backflush_station_check_open(self, production):
        production.ensure_one()
        if production.state not in ("confirmed", "progress", "to_close"):
            raise UserError(
                self.env._(
                    "%(mo)s is %(state)s: only a confirmed or started order "
                    "can be produced.",
                    mo=production.name,
                    state=production._backflush_state_label(),
                )
            )

    @api.model
    def _backflush_station_qty(self, qty, field, zero=False):
        """A finite quantity, above zero (or zero if ``zero``), within the
        module's bound for quantities."""
        if isinstance(qty, bool) or not isinstance(qty, (int, float)):
            raise UserError(
                self.env._(
                    "%(field)s: a number is expected, not %(value)s.",
                    field=field,
                    value=repr(qty),
                )
            )
        # JSON carries integers of any size: 10**400 is no float.
        if (
            (isinstance(qty, float) and not math.isfinite(qty))
            or qty < 0
            or (qty == 0 and not zero)
            or qty > MAX_QUANTITY
        ):
            raise UserError(
                self.env._(
                    "%(field)s: must be a number %(low)s and at most %(max)s "
                    "(got %(value)s).",
                    field=field,
                    low=self.env._("of 0 or more")
                    if zero
                    else self.env._("greater than 0"),
                    max=f"{MAX_QUANTITY:,.0f}",
                    value=qty
                    if abs(qty) <= MAX_QUANTITY**2
                    else self.env._("%(count)s digits", count=len(str(abs(qty)))),
                )
            )
        return float(qty)

    @api.model
    def _backflush_station_payload(self, production):
        """The station's view of the engine's preview of ``production``."""
        production.ensure_one()
        preview = self.env["mrp.backflush.preview"].create(
            {"production_ids": [fields.Command.set(production.ids)]}
        )
        lines = preview.line_ids
        labels = dict(lines._fields["status"]._description_selection(self.env))
        uom = production.product_uom_id
        return {
            "production": {
                "id": production.id,
                "name": production.name,
                "product": production.product_id.display_name,
                "product_id": production.product_id.id,
                "barcode": production.product_id.barcode or "",
                "qty": production.product_qty,
                "qty_producing": self.env["mrp.backflush.engine"]._produced_qty(
                    production
                ),
                "uom": uom.name,
                "state": production.state,
                "tracking": production.product_tracking or "none",
                "finished_lot": production.lot_producing_id.name or "",
            },
            "lines": [
                {
                    "product": line.product_id.display_name,
                    "product_id": line.product_id.id,
                    "barcode": line.product_id.barcode or "",
                    "default_code": line.product_id.default_code or "",
                    "location": line.location_id.display_name,
                    "qty": line.to_post_qty,
                    "qty_display": self._backflush_station_qty_display(
                        line.to_post_qty, line.product_uom_id
                    ),
                    "uom": line.product_uom_id.name,
                    "required_qty": line.required_qty,
                    "available_qty": line.available_qty,
                    "shortage_qty": line.shortage_qty,
                    "role": line.role,
                    "lots": line.lot_ids.mapped("name"),
                    "tracking": line.product_id.tracking,
                    "outcome": line.status,
                    "outcome_label": labels[line.status],
                    "message": line._backflush_station_message(),
                }
                for line in lines
            ],
            "blocked": preview.has_block,
            "messages": [
                note
                for note in (preview.blocked_note or "").split("\n")
                + (preview.idle_note or "").split("\n")
                if note
            ],
        }

    @api.model
    def _backflush_station_qty_display(self, qty, uom):
        return self.env._(
            "%(qty)s %(uom)s", qty=uom._backflush_format_qty(qty), uom=uom.name
        )

    @api.model
    def _backflush_report_check_values(self, values):
        """``values`` of backflush_report, checked for shape and types;
        returned with defaults."""
        if not isinstance(values, dict):
            raise UserError(
                self.env._(
                    "values: an object with production, qty, finished_lot, "
                    "component_lots and idempotency_key is expected, not "
                    "%(value)s.",
                    value=type(values).__name__,
                )
            )
        unknown = set(values) - set(REPORT_FIELDS)
        if unknown:
            raise UserError(
                self.env._(
                    "%(fields)s: unknown field; expected %(expected)s.",
                    fields=", ".join(sorted(map(str, unknown))),
                    expected=", ".join(REPORT_FIELDS),
                )
            )
        production = values.get("production")
        if not isinstance(production, str) or not production.strip():
            raise UserError(
                self.env._(
                    "production: the name or barcode of a manufacturing order "
                    "is required."
                )
            )
        key = values.get("idempotency_key")
        if not isinstance(key, str) or not key.strip() or len(key) > 255:
            raise UserError(
                self.env._(
                    "idempotency_key: a text of 1 to 255 characters is "
                    "required, unique per report (a UUID)."
                )
            )
        if "qty" not in values:
            raise UserError(self.env._("qty: the quantity produced is required."))
        finished_lot = values.get("finished_lot") or ""
        if not isinstance(finished_lot, str):
            raise UserError(
                self.env._("finished_lot: a lot or serial number name is expected.")
            )
        component_lots = values.get("component_lots") or []
        if not isinstance(component_lots, list):
            raise UserError(
                self.env._("component_lots: a list of objects is expected.")
            )
        components = []
        for index, entry in enumerate(component_lots):
            field = f"component_lots[{index}]"
            if not isinstance(entry, dict) or set(entry) - {"product", "lot", "qty"}:
                raise UserError(
                    self.env._(
                        "%(field)s: an object with product, lot and qty is expected.",
                        field=field,
                    )
                )
            product, lot = entry.get("product"), entry.get("lot") or ""
            if not isinstance(product, str) or not product.strip():
                raise UserError(
                    self.env._(
                        "%(field)s.product: the component's barcode or internal "
                        "reference is required.",
                        field=field,
                    )
                )
            if not isinstance(lot, str):
                raise UserError(
                    self.env._(
                        "%(field)s.lot: a lot or serial number name is expected.",
                        field=field,
                    )
                )
            components.append(
                {
                    "field": field,
                    "product": product.strip(),
                    "lot": lot.strip(),
                    "qty": self._backflush_station_qty(
                        entry.get("qty"), f"{field}.qty", zero=True
                    ),
                }
            )
        return {
            "production": production.strip(),
            "qty": self._backflush_station_qty(values["qty"], "qty"),
            "finished_lot": finished_lot.strip(),
            "component_lots": components,
            "idempotency_key": key.strip(),
        }

    @api.model
    def _backflush_report_prepare(self, production, values):
        """Check ``values`` against the order, writing nothing; return the
        arguments of _backflush_report_post."""
        production.ensure_one()
        qty = values["qty"]
        tracking = production.product_tracking or "none"
        if tracking == "serial" and float_compare(
            production.product_uom_id._compute_quantity(
                qty, production.product_id.uom_id
            ),
            1.0,
            precision_rounding=production.product_id.uom_id.rounding,
        ):
            raise UserError(
                self.env._(
                    "qty: %(product)s is tracked by serial number: report one "
                    "unit at a time.",
                    product=production.product_id.display_name,
                )
            )
        finished_lot, new_lot = self._backflush_report_finished_lot(
            production, values["finished_lot"]
        )
        return {
            "qty": qty,
            "finished_lot": finished_lot,
            "new_lot": new_lot,
            "components": self._backflush_report_components(
                production, values["component_lots"]
            ),
        }

    @api.model
    def _backflush_report_finished_lot(self, production, name):
        """The finished lot named ``name``, as (lot, name to create): an
        existing lot of the product, else a new one, as Odoo's form creates
        the name an operator types (when the operation type creates lots)."""
        production.ensure_one()
        product = production.product_id
        Lot = self.env["stock.lot"]
        if not name:
            return Lot, ""
        if product.tracking == "none":
            raise UserError(
                self.env._(
                    "finished_lot: %(product)s is not tracked by lots or serial "
                    "numbers: leave it empty.",
                    product=product.display_name,
                )
            )
        lot = Lot.search(
            [
                ("name", "=", name),
                ("product_id", "=", product.id),
                ("company_id", "in", (False, production.company_id.id)),
            ],
            limit=1,
        )
        if lot:
            return lot, ""
        if not production.picking_type_id.use_create_lots:
            raise UserError(
                self.env._(
                    "finished_lot: %(lot)s is no lot of %(product)s, and "
                    "%(operation)s does not create new ones.",
                    lot=name,
                    product=product.display_name,
                    operation=production.picking_type_id.display_name,
                )
            )
        return Lot, name

    @api.model
    def _backflush_report_components(self, production, entries):
        """Resolve the component lots reported against the order's open
        components: a list of (move, lot, qty), the quantity in the move's
        unit. Two reads, whatever the number of entries."""
        production.ensure_one()
        if not entries:
            return []
        moves = production.move_raw_ids.filtered(
            lambda m: (
                m.state not in ("done", "cancel")
                and m.backflush_role in (False, "component")
            )
        )
        by_code = {}
        for move in moves:
            for code in (move.product_id.barcode, move.product_id.default_code):
                if code:
                    by_code.setdefault(code, move)
        resolved = []
        for entry in entries:
            move = by_code.get(entry["product"])
            if not move:
                raise UserError(
                    self.env._(
                        "%(field)s.product: no open component of %(mo)s has the "
                        "barcode or internal reference %(code)s.",
                        field=entry["field"],
                        mo=production.name,
                        code=entry["product"],
                    )
                )
            resolved.append((entry, move))
        lot_names = {entry["lot"] for entry, _move in resolved if entry["lot"]}
        Lot = self.env["stock.lot"]
        lots = Lot.search(
            [
                ("name", "in", list(lot_names)),
                ("company_id", "in", (False, production.company_id.id)),
            ]
        )
        by_key = {(lot.product_id, lot.name): lot for lot in lots}
        by_name = {lot.name: lot for lot in lots}
        result = []
        for entry, move in resolved:
            product, field = move.product_id, entry["field"]
            if product.tracking == "none":
                if entry["lot"]:
                    raise UserError(
                        self.env._(
                            "%(field)s.lot: %(product)s is not tracked by lots "
                            "or serial numbers: leave it empty.",
                            field=field,
                            product=product.display_name,
                        )
                    )
                result.append((move, Lot, entry["qty"]))
                continue
            if not entry["lot"]:
                raise UserError(
                    self.env._(
                        "%(field)s.lot: %(product)s is tracked: give its lot or "
                        "serial number.",
                        field=field,
                        product=product.display_name,
                    )
                )
            lot = by_key.get((product, entry["lot"]))
            if not lot:
                other = by_name.get(entry["lot"])
                raise UserError(
                    self.env._(
                        "%(field)s.lot: %(lot)s is a lot of %(other)s, not of "
                        "%(product)s.",
                        field=field,
                        lot=entry["lot"],
                        other=other.product_id.display_name,
                        product=product.display_name,
                    )
                    if other
                    else self.env._(
                        "%(field)s.lot: %(product)s has no lot or serial number "
                        "%(lot)s.",
                        field=field,
                        lot=entry["lot"],
                        product=product.display_name,
                    )
                )
            if product.tracking == "serial" and entry["qty"] > 1:
                raise UserError(
                    self.env._(
                        "%(field)s.qty: %(lot)s is a serial number: at most 1 "
                        "is consumed.",
                        field=field,
                        lot=lot.name,
                    )
                )
            result.append((move, lot, entry["qty"]))
        return result

    @api.model
    def _backflush_report_post(
        self, production, qty, finished_lot, new_lot, components
    ):
        """Produce ``qty`` of ``production`` as reported and mark it done; return
        the answer of backflush_report."""
        production.ensure_one()
        runs_before = production.backflush_run_ids
        exceptions_before = production.backflush_exception_ids
        family_before = production.procurement_group_id.mrp_production_ids
        if new_lot:
            finished_lot = finished_lot.create(
                {
                    "name": new_lot,
                    "product_id": production.product_id.id,
                    "company_id": production.company_id.id,
                }
            )
        if finished_lot:
            production.lot_producing_id = finished_lot
        elif (
            production.product_tracking in ("lot", "serial")
            and not production.lot_producing_id
        ):
            # As Odoo's Mark Done of an order with no quantity set.
            production.action_generate_serial()
        production.qty_producing = qty
        # As the form does when the quantity is typed: the components follow.
        production._set_qty_producing(False)
        self._backflush_record_components(production, components)
        messages = self._backflush_report_check_consumption(production)
        backorder = (
            float_compare(
                qty,
                production.product_qty - production.qty_produced,
                precision_rounding=production.product_uom_id.rounding,
            )
            < 0
            and production.picking_type_id.create_backorder != "never"
        )
        # No one answers a dialog: consumption was decided above, the
        # backorder by the operation type, expired lots are never consumed.
        production.with_context(
            skip_redirection=True,
            skip_expired=True,
            skip_consumption=True,
            skip_backorder=True,
            mo_ids_to_backorder=production.ids if backorder else [],
        ).button_mark_done()
        if production.state != "done":
            raise UserError(
                self.env._(
                    "%(mo)s could not be marked done: open the order and click "
                    "%(button)s.",
                    mo=production.name,
                    button=production._backflush_produce_button_label(),
                )
            )
        runs = self.env["mrp.backflush.run"].search(
            [("production_id", "=", production.id), ("id", "not in", runs_before.ids)]
        )
        exceptions = self.env["mrp.backflush.exception"].search(
            [
                ("production_id", "=", production.id),
                ("id", "not in", exceptions_before.ids),
            ]
        )
        backorders = production.procurement_group_id.mrp_production_ids - family_before
        return {
            "production": production.name,
            "state": production.state,
            "runs": runs.ids,
            "exceptions": exceptions.ids,
            "backorders": backorders.mapped("name"),
            "messages": self._backflush_report_messages(
                production, runs, exceptions, backorders
            )
            + messages,
        }

    @api.model
    def _backflush_record_components(self, production, components):
        """Record the reported lots and quantities on the raw moves, as an
        operator does in the form: replace their lines, pick them. The
        backflush posts them as recorded. A component on several lines:
        what is reported of it is all that was consumed, shared out over
        its moves by their demand (the last one takes the rest)."""
        if not components:
            return
        reported = self.env["stock.move"].union(*(m for m, _lot, _qty in components))
        moves = production.move_raw_ids.filtered(
            lambda m: (
                m.state not in ("done", "cancel")
                and m.backflush_role in (False, "component")
                and m.product_id in reported.product_id
            )
        )
        room = {
            move: move.product_uom._compute_quantity(
                move.product_uom_qty, move.product_id.uom_id, round=False
            )
            for move in moves
        }
        vals_list = []
        for reported_move, lot, qty in components:
            product = reported_move.product_id
            left = reported_move.product_uom._compute_quantity(
                qty, product.uom_id, round=False
            )
            targets = moves.filtered(lambda m, p=product: m.product_id == p)
            for move in targets:
                take = left if move == targets[-1] else min(left, room[move])
                if (
                    float_compare(take, 0.0, precision_rounding=product.uom_id.rounding)
                    <= 0
                ):
                    continue
                room[move] -= take
                left -= take
                vals_list.append(
                    {
                        "move_id": move.id,
                        "product_id": product.id,
                        "product_uom_id": move.product_uom.id,
                        "lot_id": lot.id,
                        "quantity": product.uom_id._compute_quantity(
                            take, move.product_uom
                        ),
                        "location_id": move.location_id.id,
                        "location_dest_id": move.location_dest_id.id,
                        "picked": True,
                    }
                )
        moves.move_line_ids.unlink()
        self.env["stock.move.line"].create(vals_list)
        moves.picked = True

    @api.model
    def _backflush_report_check_consumption(self, production):
        """Odoo's consumption check, decided without its dialog: a BOM that
        is strict refuses quantities other than its own, a BOM that warns
        posts them and says so."""
        production.ensure_one()
        issues = production._get_consumption_issues()
        if not issues:
            return []
        products = ", ".join(product.display_name for _mo, product, *_q in issues)
        if production.consumption == "strict":
            raise UserError(
                self.env._(
                    "component_lots: the bill of materials of %(mo)s is strict "
                    "and %(products)s differ from it: report its quantities, or "
                    "ask a manager to allow other quantities.",
                    mo=production.name,
                    products=products,
                )
            )
        return [
            self.env._(
                "%(products)s: consumed as reported, not as the bill of materials "
                "says.",
                products=products,
            )
        ]

    @api.model
    def _backflush_report_messages(self, production, runs, exceptions, backorders):
        """What the report did, in plain words, no costs."""
        production.ensure_one()
        lot = production.lot_producing_id
        messages = [
            self.env._(
                "%(mo)s is done: %(qty)s of %(product)s produced%(lot)s.",
                mo=production.name,
                qty=self._backflush_station_qty_display(
                    production.qty_produced, production.product_uom_id
                ),
                product=production.product_id.display_name,
                lot=" (%s)" % lot.name if lot else "",
            )
        ]
        for backorder in backorders:
            messages.append(
                self.env._(
                    "Backorder %(mo)s: %(qty)s left to produce.",
                    mo=backorder.name,
                    qty=self._backflush_station_qty_display(
                        backorder.product_qty, backorder.product_uom_id
                    ),
                )
            )
        for line in runs.line_ids.filtered(
            lambda ln: ln.shortage_action == "negative" and ln.shortage_qty > 0
        ):
            messages.append(
                self.env._(
                    "%(product)s: %(qty)s posted into negative stock at %(location)s.",
                    product=line.product_id.display_name,
                    qty=self._backflush_station_qty_display(
                        line.shortage_qty, line.product_uom_id
                    ),
                    location=line.location_id.display_name,
                )
            )
        causes = dict(exceptions._fields["cause"]._description_selection(self.env))
        for exception in exceptions:
            messages.append(
                self.env._(
                    "%(product)s: %(qty)s deferred (%(cause)s), posted when the "
                    "stock is there: %(exception)s.",
                    product=exception.product_id.display_name,
                    qty=self._backflush_station_qty_display(
                        exception.quantity, exception.product_uom_id
                    ),
                    cause=causes[exception.cause],
                    exception=exception.name,
                )
            )
        return messages
