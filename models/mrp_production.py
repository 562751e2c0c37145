# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import math
from collections import defaultdict

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.osv import expression
from odoo.tools import (
    float_compare,
    float_is_zero,
    float_round,
    format_date,
    format_list,
)

from .. import planning
from .stock_move_line import backflush_collect_edits
from .stock_quant import VALID_LOTS_ONLY


class MrpProduction(models.Model):
    _name = "mrp.production"
    _inherit = ["mrp.production", "mrp.backflush.protected.mixin"]
    # The background Mark Done runs as this user: set by queueing only.
    _backflush_protected_fields = (
        "backflush_queue_user_id",
        "backflush_queue_round_user_id",
        "backflush_queue_error",
    )

    backflush_run_ids = fields.One2many(
        "mrp.backflush.run", "production_id", string="Backflush Runs"
    )
    backflush_run_count = fields.Integer(compute="_compute_backflush_run_count")
    backflush_exception_ids = fields.One2many(
        "mrp.backflush.exception", "production_id", string="Backflush Exceptions"
    )
    backflush_pending_count = fields.Integer(
        compute="_compute_backflush_pending_count",
        search="_search_backflush_pending_count",
        string="Pending Backflush Exceptions",
    )
    backflush_is_staged = fields.Boolean(
        compute="_compute_backflush_is_staged",
        help="Components are picked to pre-production for this order.",
    )
    backflush_queue_user_id = fields.Many2one(
        "res.users",
        string="Mark Done Queued By",
        copy=False,
        readonly=True,
        index="btree_not_null",
        help="Set while the order waits to be marked done in the background.",
    )
    backflush_queue_round_user_id = fields.Many2one(
        "res.users",
        string="Mark Done Round Of",
        copy=False,
        readonly=True,
        index="btree_not_null",
        help="Who queued the order to be marked done in the background; kept "
        "until all the orders that person queued are processed, to tell them "
        "how many were done and which need them.",
    )
    backflush_queue_error = fields.Text(
        "Mark Done Failed",
        copy=False,
        readonly=True,
        help="Why the order could not be marked done in the background; "
        "cleared when it is queued again.",
    )

    @api.constrains("bom_id", "company_id")
    def _check_backflush_bom_company(self):
        # The backflush posts the BOM's policy: it must be this company's.
        for production in self:
            bom_company = production.bom_id.company_id
            if bom_company and bom_company != production.company_id:
                raise ValidationError(
                    self.env._(
                        "%(mo)s belongs to %(company)s but its bill of materials "
                        "%(bom)s belongs to %(bom_company)s: choose a BOM of the "
                        "same company.",
                        mo=production.display_name,
                        company=production.company_id.name,
                        bom=production.bom_id.display_name,
                        bom_company=bom_company.name,
                    )
                )

    @api.depends("backflush_run_ids")
    def _compute_backflush_run_count(self):
        counts = dict(
            self.env["mrp.backflush.run"]._read_group(
                [("production_id", "in", self.ids)], ["production_id"], ["__count"]
            )
        )
        for production in self:
            production.backflush_run_count = counts.get(production, 0)

    @api.depends("move_raw_ids.move_orig_ids")
    def _compute_backflush_is_staged(self):
        staging = self.env["mrp.backflush.staging"]
        for production in self:
            production.backflush_is_staged = bool(
                staging._transfers(production.move_raw_ids)
            )

    @api.depends("backflush_exception_ids.state")
    def _compute_backflush_pending_count(self):
        counts = dict(
            self.env["mrp.backflush.exception"]._read_group(
                [("production_id", "in", self.ids), ("state", "=", "pending")],
                ["production_id"],
                ["__count"],
            )
        )
        for production in self:
            production.backflush_pending_count = counts.get(production, 0)

    def _search_backflush_pending_count(self, operator, value):
        if operator not in (">", "!=") or value != 0:
            raise UserError(
                self.env._("Only 'has pending backflush exceptions' can be searched.")
            )
        pending = self.env["mrp.backflush.exception"]._search(
            [("state", "=", "pending")]
        )
        return [("id", "in", pending.subselect("production_id"))]

    def write(self, vals):
        if vals.get("is_locked") is False:  # Unlock written over RPC
            self.filtered("is_locked")._backflush_check_no_pending(
                self.env._("unlocked for editing")
            )
        # The Components tab of an unlocked done MO saves every edited
        # move at once: one correction for the save.
        if (
            "move_raw_ids" not in vals
            or not self.move_raw_ids._backflush_edits_done_consumption()
        ):
            return super().write(vals)
        with backflush_collect_edits(self.env):
            return super().write(vals)

    def web_read(self, specification):
        # The Components tab of a done order lists each component's lines
        # together, the component first. Display only: an order in the
        # view's arch (default_order) would also be the order the form
        # creates the raw moves of a new MO in.
        result = super().web_read(specification)
        if "move_raw_ids" not in specification:
            return result
        for production, values in zip(self, result, strict=True):
            lines = values.get("move_raw_ids")
            moves = production.move_raw_ids
            if (
                production.state == "done"
                and lines
                and isinstance(lines[0], dict)
                and any(moves.mapped("backflush_role"))
            ):
                rank = moves._backflush_display_rank()
                lines.sort(key=lambda line: rank.get(line["id"], (math.inf,)))
        return result

    # ------------------------------------------------------------------
    # Odoo hooks
    # ------------------------------------------------------------------
    def _button_mark_done_sanity_checks(self):
        # Two users marking the same MO done: the second waits here, then
        # PostgreSQL refuses its stale snapshot and Odoo retries the request,
        # which finds the MO done. A done MO has nothing left to backflush:
        # Mark Done on it posts nothing, as in Odoo (which calls it after
        # _post_inventory itself). Only a cancelled MO is refused.
        if self.ids:
            self.env.cr.execute(
                "SELECT id FROM mrp_production WHERE id IN %s FOR UPDATE",
                [tuple(self.ids)],
            )
        cancelled = self.filtered(lambda p: p.state == "cancel")
        if cancelled:
            raise UserError(
                self.env._(
                    "%(mos)s is cancelled: it cannot be marked as done.",
                    mos=", ".join(cancelled.mapped("name")),
                )
            )
        return super()._button_mark_done_sanity_checks()

    def _get_move_raw_values(
        self, product, product_uom_qty, product_uom, operation_id=False, bom_line=False
    ):
        vals = super()._get_move_raw_values(
            product, product_uom_qty, product_uom, operation_id, bom_line
        )
        if bom_line and self.product_qty and self._backflush_is_managed():
            # Demand includes planned scrap so reservation and replenishment
            # see the real need; the per-unit net quantity is kept apart.
            unit_qty = self.env["stock.move"]._backflush_line_unit_qty(
                self, bom_line, product_uom, product_uom_qty
            )
            vals["backflush_unit_qty"] = unit_qty
            if bom_line.scrap_percent or bom_line.scrap_fixed_qty:
                vals["product_uom_qty"] = self._backflush_demand(
                    bom_line, unit_qty, product, product_uom
                )
        return vals

    def _get_consumption_issues(self):
        # Planned scrap makes a line's demand per unit uneven (1,450 g for 7
        # units): Odoo's share for 3 units, 621.43 g, reads as 0.63 kg once
        # rounded up to the product's unit, against an unrounded 0.6214. No
        # one changed anything: the unit cannot hold the difference.
        managed = self._backflush_is_managed()
        return [
            (order, product, consumed, expected)
            for order, product, consumed, expected in super()._get_consumption_issues()
            if order not in managed
            or float_compare(
                consumed,
                float_round(
                    expected,
                    precision_rounding=product.uom_id.rounding,
                    rounding_method="UP",
                ),
                precision_rounding=product.uom_id.rounding,
            )
        ]

    def _split_productions(
        self, amounts=False, cancel_remaining_qty=False, set_consumed_qty=False
    ):
        productions = super()._split_productions(
            amounts, cancel_remaining_qty, set_consumed_qty
        )
        (productions - self)._backflush_set_backorder_demand()
        return productions

    def _set_quantities(self):
        # Mark Done with nothing producing: Odoo picks every component, then
        # refuses the tracked ones it takes as manual (lines with an
        # operation) without a lot on every line. The backflush posts those
        # by policy (see _backflush_set_component_quantities).
        return super(
            MrpProduction, self.with_context(backflush_set_quantities=True)
        )._set_quantities()

    def _set_qty_producing(self, pick_manual_consumption_moves=True):
        res = super()._set_qty_producing(pick_manual_consumption_moves)
        if self.env.context.get("backflush_set_quantities"):
            # The lines without a lot Odoo just filled in are placeholders
            # the backflush replaces: not picked, they are no record.
            posted = self._backflush_get_moves("mark_done") | (
                self._backflush_get_moves("operation")
            )
            posted.filtered(lambda m: m.has_tracking != "none").move_line_ids.filtered(
                lambda ml: not ml.lot_id and ml.picked
            ).picked = False
        return res

    def _cal_price(self, consumed_moves):
        # Components posted when their work order finished are part of the
        # finished good's cost too, though done before Mark Done.
        posted_early = self.move_raw_ids.filtered(
            lambda m: m.state == "done" and m.backflush_run_id.trigger == "operation"
        )
        return super()._cal_price(consumed_moves | posted_early)

    def _post_inventory(self, cancel_backorder=False):
        # Push rules are the same for every MO of the call: see
        # procurement.group._get_push_rule.
        productions = self.with_context(backflush_push_rule_cache={})
        runs = productions._backflush("mark_done")
        res = super(MrpProduction, productions)._post_inventory(
            cancel_backorder=cancel_backorder
        )
        # Odoo links only the components it posts now to the finished
        # goods; those posted when their work order finished are theirs too.
        early = self.move_raw_ids.filtered(
            lambda m: m.state == "done" and m.backflush_run_id.trigger == "operation"
        )
        self._backflush_link_consumed(early.move_line_ids)
        runs._notify_productions()
        self.env["mrp.backflush.staging"]._return_leftovers(
            self._backflush_is_managed().filtered(lambda p: p.state == "done"), runs
        )
        return res

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------
    def button_mark_done(self):
        queue = self.env["mrp.backflush.queue"]
        if queue._backflush_mark_done_in_background(self):
            return queue._backflush_queue_mark_done(self)
        return super().button_mark_done()

    def action_confirm(self):
        self._backflush_set_supply_locations()
        return super().action_confirm()

    def action_cancel(self):
        self._backflush_check_no_pending(self.env._("cancelled"))
        # What was staged for an order that will never consume it (the
        # order, or the family's last open one, cancelled) is a leftover:
        # read before Odoo unlinks the order's components from their picks.
        staging = self.env["mrp.backflush.staging"]
        open_orders = self._backflush_is_managed().filtered(
            lambda p: p.state not in ("done", "cancel")
        )
        leftovers = staging._leftovers(open_orders, closing=open_orders)
        res = super().action_cancel()
        staging._send_leftovers(
            open_orders.filtered(lambda p: p.state == "cancel"),
            self.env["mrp.backflush.run"],
            *leftovers,
        )
        return res

    def action_toggle_is_locked(self):
        self.filtered("is_locked")._backflush_check_no_pending(
            self.env._("unlocked for editing")
        )
        return super().action_toggle_is_locked()

    def action_view_backflush_runs(self):
        action = self.env["ir.actions.actions"]._for_xml_id(
            "mrp_backflush.mrp_backflush_run_action"
        )
        action["domain"] = [("production_id", "in", self.ids)]
        action["context"] = {"search_default_group_by_production": len(self) > 1}
        return action

    def action_view_backflush_exceptions(self):
        action = self.env["ir.actions.actions"]._for_xml_id(
            "mrp_backflush.mrp_backflush_exception_action"
        )
        action["domain"] = [("production_id", "in", self.ids)]
        action["context"] = {"search_default_filter_pending": 1}
        return action

    def action_view_stock_valuation_layers(self):
        # Leftovers returned by a correction are no raw move of the MO, yet
        # the controller reconciling the MO must see them.
        action = super().action_view_stock_valuation_layers()
        action["domain"] = expression.OR(
            [action["domain"], [("backflush_production_id", "=", self.id)]]
        )
        return action

    def action_backflush_correct(self):
        self.ensure_one()
        return self.env["mrp.backflush.correction"]._open_for(self)

    def action_backflush_preview(self):
        wizard = self.env["mrp.backflush.preview"].create(
            {"production_ids": [fields.Command.set(self.ids)]}
        )
        return wizard._get_action()

    @api.model
    def backflush_station_read(self, code, qty=None):
        """What producing the order ``code`` names would post, for the
        station: the engine's preview as plain JSON, without costs.

        ``code`` is what was scanned or typed: an MO's name (its barcode)
        or a work order's barcode (``<MO name>/<id>``), which stands for its
        MO; the name an MO had before a partial production finds its first
        open backorder. ``qty``: preview producing that quantity (the
        order's unit) instead of what is set on the order. Nothing is
        written.
        """
        return self.env["mrp.backflush.report"]._backflush_station_read(code, qty)

    @api.model
    def backflush_report(self, values):
        """Report an order produced, from a station, an MES or a script
        (SPEC §3)::

            {"production": MO name or barcode, "qty": float,
             "finished_lot": name, "component_lots": [{"product": barcode
             or internal reference, "lot": name, "qty": float}],
             "idempotency_key": str}
            -> {"production", "state", "runs": [ids], "exceptions": [ids],
                "backorders": [names], "messages": [str]}

        It sets the quantity producing and the finished lot, records the
        component lots given on the raw moves (posted as recorded), then
        marks the order done through Odoo's Mark Done, deciding by policy
        where Odoo would open a dialog. The same key again (per company)
        returns the first answer and posts nothing. Bad input is refused
        with a ``UserError`` naming the field, and nothing is posted.
        """
        return self.env["mrp.backflush.report"]._backflush_report(values)

    def _backflush_idle_reason(self):
        """Why producing the order posts no component now, for the preview."""
        self.ensure_one()
        if self.state in ("draft", "done", "cancel"):
            return self.env._(
                "it is %(state)s: nothing to post.",
                state=dict(self._fields["state"]._description_selection(self.env))[
                    self.state
                ],
            )
        open_moves = self.move_raw_ids.filtered(
            lambda m: m.state not in ("done", "cancel")
        )
        if not open_moves:
            return self.env._("no component is left to post.")
        if all(m._backflush_is_manual() for m in open_moves):
            return self.env._(
                "its components are recorded by hand (manual consumption): enter "
                "the consumed quantities on the order before producing."
            )
        if all(m.bom_line_id._get_backflush_mode() == "operation" for m in open_moves):
            return self.env._(
                "its components are posted when their work orders finish."
            )
        return self.env._("no component is left to post.")

    def _backflush_set_supply_locations(self):
        """Components come from their line's supply location (SPEC §4
        *Supply locations*): set on the draft moves before Odoo confirms
        and reserves them, one write per location. Set here rather than in
        the BOM explosion, which forms and the web client rebuild with the
        fields of their view only."""
        moves = self._backflush_is_managed().move_raw_ids.filtered(
            lambda m: m.state == "draft" and m.bom_line_id
        )
        for location, located in moves.grouped(
            lambda m: m.bom_line_id._get_backflush_location()
        ).items():
            located = located.filtered(lambda m, loc=location: m.location_id != loc)
            if location and located:
                located.location_id = location

    def _backflush_check_no_pending(self, what):
        """Pending postings need a decision (post or cancel them) before the
        order is ``what``: they would be left behind, or posted against an
        order that changed under them."""
        pending = self.backflush_exception_ids.filtered(lambda e: e.state == "pending")
        if pending:
            raise UserError(
                self.env._(
                    "%(mos)s cannot be %(what)s while backflush postings are "
                    "pending: %(exceptions)s. Post them (Retry) or cancel them "
                    "with a reason in Manufacturing > Backflush Monitor first.",
                    mos=", ".join(pending.production_id.mapped("name")),
                    what=what,
                    exceptions=", ".join(pending.mapped("name")),
                )
            )

    def _backflush_produce_button_label(self):
        """The words of the form's button that marks the order done."""
        if all(self.mapped("show_produce_all")):
            return self.env._("Produce All")
        return self.env._("Produce")

    # ------------------------------------------------------------------
    # Backflush: selection, planning, posting
    # ------------------------------------------------------------------
    def _backflush_is_managed(self):
        """The MOs of ``self`` whose consumption the backflush posts.

        Subcontracted MOs are left to Odoo: their components are in the
        subcontractor's location, not ours to block on, and what the
        subcontractor records is what was used (mrp_subcontracting is not a
        dependency, hence the plain string).
        """
        return self.filtered(lambda p: p.bom_id.type != "subcontract")

    def _backflush_demand(self, bom_line, unit_qty, product, uom):
        """Demand of a raw move of ``bom_line`` (``uom``): the order's net and
        its planned scrap, rounded up to a quantity the units can hold, as
        posted. The fixed scrap is only in the demand of the family's first
        MO: the ledger posts it once per family, with the family's first
        posting (the order a backorder is split from), so Odoo's
        consumption check must not expect it again on a backorder."""
        self.ensure_one()
        net = unit_qty * self.product_qty
        scrap = bom_line._get_planned_scrap(
            net, first_posting=self.backorder_sequence <= 1
        )
        return planning.round_up(
            net + scrap, self.env["stock.move"]._backflush_step(product, uom)
        )

    def _backflush_set_backorder_demand(self):
        """Odoo copies a backorder's raw moves pro rata of the order split:
        a share of the fixed planned scrap and of the split order's
        rounding. Lines with planned scrap get the backorder's own demand
        (see ``_backflush_demand``), which Odoo's consumption check expects;
        what is reserved stays."""
        moves = self._backflush_is_managed().move_raw_ids.filtered(
            lambda m: (
                m.state not in ("done", "cancel")
                and (m.bom_line_id.scrap_fixed_qty or m.bom_line_id.scrap_percent)
                and m.backflush_unit_qty
                and not m.additional
            )
        )
        by_qty = defaultdict(lambda: self.env["stock.move"])
        for move in moves:
            demand = move.raw_material_production_id._backflush_demand(
                move.bom_line_id,
                move.backflush_unit_qty,
                move.product_id,
                move.product_uom,
            )
            by_qty[demand] |= move
        for qty, same in by_qty.items():
            same.with_context(do_not_unreserve=True).product_uom_qty = qty

    def _backflush_get_moves(self, trigger="mark_done", workorders=None):
        """Raw moves the backflush posts now.

        Moves the operator recorded by hand (manual consumption) and moves
        already posted are left alone; ``operation`` lines post when their
        work order finishes, ``finish`` lines at Mark Done. Subcontracted
        MOs are left to Odoo (see ``_backflush_is_managed``).
        """
        return self._backflush_is_managed().move_raw_ids.filtered(
            lambda m: (
                m.state not in ("done", "cancel")
                and m.bom_line_id
                and not m._backflush_is_manual()
                and m.backflush_role in (False, "component")
                and m._backflush_trigger() == trigger
                and (workorders is None or m.workorder_id in workorders)
            )
        )

    def _backflush_is_finishing(self):
        """Everything left of the order is produced now."""
        self.ensure_one()
        return (
            float_compare(
                self.qty_producing or self.product_qty,
                self.product_qty - self.qty_produced,
                precision_rounding=self.product_uom_id.rounding,
            )
            >= 0
        )

    def _backflush_produced_qty(self):
        """Finished quantity (production UoM) posted now: what the operator
        set as producing, else the whole remaining quantity, as Mark Done
        and vanilla's work-order finish assume."""
        self.ensure_one()
        return (self.qty_producing or self.product_qty) - self.qty_produced

    def _backflush_covered_qty(self, bom_line):
        """Finished units whose ``bom_line`` components this MO posted from
        the BOM: what it produced so far (also when part of it was posted
        before the order is done); an operation line is posted when its
        work order finishes."""
        self.ensure_one()
        covered = self.qty_produced
        if self.state != "done" and bom_line._get_backflush_mode() == "operation":
            workorders = self.workorder_ids.filtered(
                lambda w: w.operation_id == bom_line.operation_id and w.state == "done"
            )
            covered = max(covered, sum(workorders.mapped("qty_produced")))
        return covered

    def _backflush_requirements(self, moves, produced_by_mo):
        """Turn raw moves into planner requirements, in move order: each
        posts what its family's ledger still owes its BOM line."""
        ledger = self.env["mrp.backflush.ledger"]
        staging = self.env["mrp.backflush.staging"]
        moves_by_key = {}
        for move in moves:
            family = ledger._family_key(move.raw_material_production_id)
            moves_by_key.setdefault((family, move.bom_line_id), move)
        entries = ledger._entries(
            moves.raw_material_production_id, moves.bom_line_id, moves_by_key
        )
        requirements = []
        for move in moves:
            production = move.raw_material_production_id
            bom = production.bom_id
            uom = move.product_uom
            entry = entries[(ledger._family_key(production), move.bom_line_id)]
            produced = produced_by_mo[production]
            net, scrap = entry.to_post(produced, production.id)
            fixed = entry.fixed_now(produced)
            entry.add_produced(produced, production.id)
            entry.posted["component"] += net
            entry.posted["planned_scrap"] += scrap
            requirements.append(
                planning.Requirement(
                    key=move.id,
                    product_id=move.product_id.id,
                    location_id=move.location_id.id,
                    net_qty=net,
                    scrap_qty=scrap,
                    rounding=move._backflush_rounding(),
                    to_pool=uom._compute_quantity(
                        1.0, move.product_id.uom_id, round=False
                    ),
                    policy=move._backflush_shortage_policy(),
                    substitution=bom.backflush_substitution,
                    fixed_scrap_qty=min(fixed, scrap),
                    serial_qty=move._backflush_serial_qty(),
                    substitutes=move._backflush_substitutes()
                    if bom.backflush_substitution != "none"
                    else (),
                    staged_key=staging._staged_key(
                        ledger._family_key(production), move.location_id
                    ),
                )
            )
        return requirements

    @api.model
    def _backflush_stock_pool(self, moves, products, own_moves=None):
        """Free quantity of ``products`` under each source location of
        ``moves`` (children included), in reference units: one grouped read.

        What ``own_moves`` reserved is theirs, so it counts as free;
        non-storable products are never short; expired lots are never
        consumed, so they are not counted. By default ``own_moves`` is what
        the MOs of ``moves`` and their families reserved: a backorder holds
        its share of what the order it was split from reserved, and the
        family consumes it as one (the ledger says what each MO posts).
        Lines recorded by hand are not the backflush's: Odoo consumes what
        they reserved, so it is not free (see the engine's
        ``_set_by_mark_done``).
        """
        locations = moves.location_id
        # In sudo as Odoo's own availability (stock.quant's
        # _get_available_quantity): the MOs' locations are read whatever
        # companies the request has selected.
        Quant = self.env["stock.quant"]
        domain = [
            ("product_id", "in", products.ids),
            ("location_id", "child_of", locations.ids),
        ]
        if Quant._backflush_uses_expiry():
            domain += Quant._backflush_valid_domain()
        quants = Quant.sudo()._read_group(
            domain,
            ["product_id", "location_id"],
            ["quantity:sum", "reserved_quantity:sum"],
        )
        pool = defaultdict(float)
        for product, location, qty, reserved in quants:
            for parent in locations:
                if location.parent_path.startswith(parent.parent_path):
                    pool[product.id, parent.id] += qty - reserved
        if own_moves is None:
            productions = moves.raw_material_production_id
            own_moves = moves | (
                productions.procurement_group_id.mrp_production_ids | productions
            ).move_raw_ids.filtered(
                lambda m: (
                    m.state not in ("done", "cancel") and not m._backflush_is_manual()
                )
            )
        for ml in own_moves.move_line_ids:
            if (
                ml.product_id.is_storable
                and ml.state != "done"
                and not ml.lot_id._backflush_is_expired()
            ):
                pool[ml.product_id.id, ml.move_id.location_id.id] += (
                    ml.quantity_product_uom
                )
        # Staged for another order: not free; staged for these: theirs.
        shares = self.env["mrp.backflush.staging"]._pool_shares(
            moves, products, own_moves
        )
        for key, qty in shares.items():
            pool[key] += qty
        for product in products.filtered(lambda p: not p.is_storable):
            for location in locations:
                pool[product.id, location.id] = float("inf")
        return pool

    def _backflush_check_blocked(self, plan):
        blocked = plan.blocked
        if not blocked:
            return
        Move = self.env["stock.move"]
        short_moves = Move.browse(line.requirement.key for line in blocked)
        expired = self.env["stock.quant"]._backflush_expired_stock(
            short_moves.product_id, short_moves.location_id
        )
        lines = []
        for line in blocked:
            move = Move.browse(line.requirement.key)
            uom = move.product_uom
            covered = sum(
                m.replaces_qty for m in line.moves if m.role == planning.ROLE_SUBSTITUTE
            )
            values = {
                "mo": move.raw_material_production_id.name,
                "product": move.product_id.display_name,
                "location": move.location_id.display_name,
                "uom": uom.name,
                "needed": self._backflush_format_qty(line.required_qty, uom),
                "available": self._backflush_format_qty(line.available_qty, uom),
                "covered": self._backflush_format_qty(covered, uom),
                "missing": self._backflush_format_qty(line.shortage_qty, uom),
            }
            if move.has_tracking == "serial":
                lines.append(
                    self.env._(
                        "- %(mo)s: %(product)s needs %(needed)s %(uom)s with serial "
                        "numbers, %(available)s reserved or recorded: %(missing)s "
                        "%(uom)s without serial numbers. The backflush never picks "
                        "serial numbers: reserve or record them on the order.",
                        **values,
                    )
                )
            elif float_is_zero(covered, precision_rounding=uom.rounding):
                lines.append(
                    self.env._(
                        "- %(mo)s: %(product)s needs %(needed)s %(uom)s in "
                        "%(location)s, %(available)s available, %(missing)s missing",
                        **values,
                    )
                )
            else:
                lines.append(
                    self.env._(
                        "- %(mo)s: %(product)s needs %(needed)s %(uom)s in "
                        "%(location)s, %(available)s available, %(covered)s "
                        "covered by substitutes, %(missing)s missing",
                        **values,
                    )
                )
            lots = expired.get((move.product_id.id, move.location_id.id))
            if lots:
                lines.append(
                    self.env._(
                        "  expired lots are never consumed: %(lots)s",
                        lots=", ".join(
                            self.env._(
                                "%(lot)s (%(qty)s %(uom)s, removal date %(date)s)",
                                lot=lot.name,
                                qty=move.product_id.uom_id._backflush_format_qty(qty),
                                uom=move.product_id.uom_id.name,
                                date=format_date(self.env, lot.removal_date),
                            )
                            for lot, qty in lots.items()
                        ),
                    )
                )
        raise UserError(
            self.env._(
                "Not enough components to backflush; nothing was posted.\n%(lines)s\n\n"
                "Receive or move the missing stock into the source location, or "
                "ask a manager to change the BOM's shortage policy.",
                lines="\n".join(lines),
            )
        )

    @api.model
    def _backflush_format_qty(self, qty, uom):
        """``qty`` at the precision of ``uom``, in the user's language."""
        return uom._backflush_format_qty(qty)

    def _backflush(self, trigger, workorders=None):
        """Plan and post the backflush of ``self``; return the runs written
        (see ``mrp.backflush.engine``)."""
        # Expired lots are never reserved for a backflush (stock.quant); the
        # families are locked before their ledger is read (a preview plans
        # without locking).
        productions = self.with_context(**{VALID_LOTS_ONLY: True})
        self.env["mrp.backflush.ledger"]._lock_families(productions)
        engine = productions.env["mrp.backflush.engine"]
        return engine._post(engine._plan(productions, trigger, workorders))

    @api.model
    def _backflush_link_consumed(self, move_lines):
        """Link component ``move_lines`` posted apart from Mark Done (by a
        work order before it, by a retry or a correction after it) to the
        finished goods of their order, as Odoo links what Mark Done
        consumes: Odoo's traceability report then shows them under the
        finished lot."""
        for production, lines in move_lines.grouped(
            lambda ml: ml.move_id.raw_material_production_id
        ).items():
            finished = production.move_finished_ids.move_line_ids.filtered(
                lambda ml: ml.state == "done"
            )
            missing = finished - lines.produce_line_ids
            if production and missing:
                lines.produce_line_ids = [
                    fields.Command.link(line.id) for line in missing
                ]

    def _backflush_set_component_quantities(self, moves, plan_by_move, trigger):
        """Set the components' quantities to the plan; return the serial
        numbers each serial-tracked move gave back ({move id: lots}), which
        its planned scrap takes."""
        # Tracked components: lines without a lot are only vanilla's
        # placeholders; reserve instead, so lots follow the removal strategy.
        # Expired lots Odoo reserved are never consumed automatically.
        # Serial numbers are never picked: only those reserved or recorded
        # are consumed (the plan counted them).
        tracked = moves.filtered(lambda m: m.has_tracking != "none")
        tracked.move_line_ids.filtered(
            lambda ml: not ml.lot_id or ml.lot_id._backflush_is_expired()
        ).unlink()
        serials = tracked.filtered(lambda m: m.has_tracking == "serial")
        lots = tracked - serials
        lots.picked = False
        lots._recompute_state()
        lots._action_assign()
        lots.filtered("move_orig_ids")._backflush_reserve_free(
            {move.id: plan_by_move[move.id].required_qty for move in lots}
        )
        held = {move.id: move.move_line_ids.lot_id for move in serials}
        quantities = {
            move.id: plan_by_move[move.id].qty(
                planning.ROLE_COMPONENT, move.product_id.id
            )
            for move in moves
        }
        moves._backflush_set_quantities(quantities)
        # The demand reads as what this move was for: its net share (the
        # planned scrap and substitutes have moves of their own). Not when
        # only part of the order is posted (Odoo keeps the rest of the
        # demand on a move of its own). Written once per quantity.
        finishing = moves.filtered(
            lambda m: (
                trigger == "operation"
                or m.raw_material_production_id._backflush_is_finishing()
            )
        )
        by_qty = defaultdict(lambda: self.env["stock.move"])
        for move in moves:
            by_qty[quantities[move.id]] |= move
        for qty, same in by_qty.items():
            same._backflush_write({"backflush_line_qty": qty})
            above = (same & finishing).filtered(
                lambda m, q=qty: float_compare(
                    m.product_uom_qty, q, precision_rounding=m.product_uom.rounding
                )
            )
            if above:
                above.with_context(do_not_unreserve=True).product_uom_qty = qty
        # Vanilla already picked most of them: write only what changes, the
        # inverse of `picked` rewrites every move line.
        moves.filtered(lambda m: not m.picked).picked = True
        moves._backflush_write({"backflush_role": "component"})
        return {move.id: held[move.id] - move.move_line_ids.lot_id for move in serials}

    def _backflush_create_extra_moves(self, moves, plan_by_move, released=None):
        """Planned-scrap and substitute moves, created in one call. A
        planned scrap with serial numbers takes those its component gave
        back (``released``: {component move id: lots})."""
        vals_list = []
        Product = self.env["product.product"]
        for move in moves:
            for plan_move in plan_by_move[move.id].moves:
                if plan_move.role == planning.ROLE_COMPONENT:
                    continue
                product = Product.browse(plan_move.product_id)
                uom = move.product_uom
                if product != move.product_id:
                    uom = move.bom_line_id.substitute_ids.filtered(
                        lambda s, p=product: s.product_id == p
                    ).product_uom_id
                vals_list.append(
                    move._backflush_extra_move_vals(
                        plan_move.role,
                        product,
                        uom,
                        plan_move.qty,
                        line_qty=plan_move.replaces_qty,
                    )
                )
        if not vals_list:
            return self.env["stock.move"]
        new_moves = self.env["stock.move"]._backflush_create(vals_list)
        released = released or {}
        new_moves.with_context(**{VALID_LOTS_ONLY: True})._backflush_pick_demand(
            serials={
                move.id: released[move.backflush_replaced_move_id.id]
                for move in new_moves
                if move.backflush_replaced_move_id.id in released
            }
        )
        return new_moves

    def _backflush_create_runs(
        self, trigger, moves, new_moves, plan_by_move, produced_by_mo, workorders
    ):
        new_by_origin = defaultdict(lambda: self.env["stock.move"])
        for new_move in new_moves:
            new_by_origin[new_move.backflush_replaced_move_id.id] |= new_move
        run_vals = []
        for production, mo_moves in moves.grouped("raw_material_production_id").items():
            lines = []
            for move in mo_moves:
                if move.backflush_recorded:
                    lines += move._backflush_recorded_run_line_vals(
                        produced_by_mo[production]
                    )
                    continue
                line = plan_by_move[move.id]
                lines += move._backflush_run_line_vals(line, new_by_origin[move.id])
            if trigger == "mark_done":
                lines += production._backflush_actual_scrap_line_vals()
            run_vals.append(
                production._backflush_run_vals(
                    trigger,
                    lines,
                    workorder_id=workorders
                    and workorders.filtered(
                        lambda w, p=production: w.production_id == p
                    )[:1].id,
                    produced_qty=produced_by_mo[production],
                )
            )
        return self.env["mrp.backflush.run"]._create_postings(run_vals)

    def _backflush_run_vals(self, trigger, line_vals, **extra):
        """One run: what was posted, by which trigger, under which policy."""
        self.ensure_one()
        bom = self.bom_id
        return dict(
            {
                "production_id": self.id,
                "bom_id": bom.id,
                "trigger": trigger,
                "backflush_mode": bom.backflush_mode,
                "backflush_shortage_policy": bom.backflush_shortage_policy,
                "backflush_substitution": bom.backflush_substitution,
                "line_ids": [
                    fields.Command.create(
                        dict(vals, production_id=self.id, company_id=self.company_id.id)
                    )
                    for vals in line_vals
                ],
            },
            **extra,
        )

    def _backflush_actual_scrap_line_vals(self):
        """Scrap recorded on the MO (components or finished units) before
        Mark Done, reported beside the planned scrap of the same run."""
        self.ensure_one()
        scrap_moves = self.scrap_ids.move_ids.filtered(
            lambda m: m.state == "done" and not m.backflush_run_id
        )
        return [
            {
                "product_id": move.product_id.id,
                "role": "actual_scrap",
                "move_id": move.id,
                "product_uom_id": move.product_uom.id,
                "consumed_qty": move.quantity,
                "location_id": move.location_id.id,
                "scrap_reason_ids": [
                    fields.Command.set(move.scrap_id.scrap_reason_tag_ids.ids)
                ],
            }
            for move in scrap_moves
        ]

    def _backflush_create_exceptions(self, moves, plan_by_move):
        """One pending exception per line deferred by the policy."""
        vals_list = [
            move._backflush_exception_vals(plan_by_move[move.id])
            for move in moves
            if plan_by_move[move.id].action == planning.POLICY_DEFER
        ]
        if vals_list:
            Exceptions = self.env["mrp.backflush.exception"].sudo()
            causes = Exceptions._shortage_causes(moves.product_id, moves.location_id)
            for vals in vals_list:
                vals["cause"] = causes[vals["product_id"], vals["location_id"]]
                if vals["cause"] == "lot_required":
                    vals["cause_detail"] = Exceptions._serials_missing_detail(
                        self.env["product.product"].browse(vals["product_id"]),
                        vals["quantity"],
                        self.env["uom.uom"].browse(vals["product_uom_id"]),
                    )
            Exceptions.create(vals_list)

    def _backflush_notify_body(self, run):
        """Chatter line of one posting, counted as the BOM reads: one
        component per BOM line, whatever extra moves (planned scrap,
        substitutes) it took."""
        self.ensure_one()
        lines = run.line_ids
        short = lines.filtered("shortage_qty")
        # No value here: the chatter is read by operators, costs are not
        # for them (the run shows them to stock managers).
        components = lines.filtered(
            lambda ln: ln.role not in ("actual_scrap", "substitute")
        )
        count = len({ln.bom_line_id or ln.product_id for ln in components})
        parts = [
            self.env._("1 component")
            if count == 1
            else self.env._("%(count)s components", count=count)
        ]
        scrap = lines.filtered(lambda ln: ln.role == "planned_scrap")
        if scrap:
            parts.append(
                self.env._(
                    "planned scrap of %(products)s",
                    products=", ".join(scrap.product_id.mapped("display_name")),
                )
            )
        substitutes = lines.filtered(lambda ln: ln.role == "substitute")
        if substitutes:
            parts.append(
                self.env._(
                    "substitutes: %(products)s",
                    products=", ".join(substitutes.product_id.mapped("display_name")),
                )
            )
        actual = lines.filtered(lambda ln: ln.role == "actual_scrap")
        if actual:
            parts.append(
                self.env._("%(count)s scrap records reported", count=len(actual))
            )
        body = self.env._(
            "Backflush posted (%(trigger)s): %(summary)s.",
            trigger=dict(run._fields["trigger"]._description_selection(self.env))[
                run.trigger
            ],
            summary="; ".join(parts),
        )
        if short:
            details = format_list(
                self.env,
                [
                    self.env._(
                        "%(product)s: %(qty)s %(uom)s %(action)s",
                        product=line.product_id.display_name,
                        qty=line.product_uom_id._backflush_format_qty(
                            line.shortage_qty
                        ),
                        uom=line.product_uom_id.name,
                        action=dict(line._fields["shortage_action"].selection)[
                            line.shortage_action
                        ],
                    )
                    for line in short
                ],
            )
            body += Markup("<br/>") + self.env._("Short: %(details)s", details=details)
        return body
