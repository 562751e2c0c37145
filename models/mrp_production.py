# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import math
from collections import defaultdict

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.osv import expression
from odoo.tools import float_compare, float_round

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
        # Unlock written over RPC: JSON clients send 0, "" or null too
        if "is_locked" in vals and not vals["is_locked"]:
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
                vals["product_uom_qty"] = self.env["mrp.backflush.engine"]._demand(
                    self, bom_line, unit_qty, product, product_uom
                )
        return vals

    def _get_consumption_issues(self):
        # Planned scrap makes a line's demand per unit uneven (1,450 g for 7
        # units): Odoo's share for 3 units, 621.43 g, reads as 0.63 kg once
        # rounded up to the product's unit, against an unrounded 0.6214; a
        # line in dozens of a product kept in units moves in steps of 0.12
        # (9.96 posted, 9.936 expected). No one changed anything: the units
        # cannot hold the difference, within one step either way.
        managed = self._backflush_is_managed()
        steps = defaultdict(float)
        for move in managed.move_raw_ids:
            key = (move.raw_material_production_id, move.product_id)
            steps[key] = max(
                steps[key],
                move.product_uom._compute_quantity(
                    move._backflush_rounding(), move.product_id.uom_id, round=False
                ),
            )
        return [
            (order, product, consumed, expected)
            for order, product, consumed, expected in super()._get_consumption_issues()
            if order not in managed
            or not self._backflush_within_step(
                consumed,
                expected,
                steps[order, product] or product.uom_id.rounding,
                product.uom_id.rounding,
            )
        ]

    @api.model
    def _backflush_within_step(self, consumed, expected, step, rounding):
        """``consumed`` lies between ``expected`` rounded down and up to
        ``step``."""
        low, high = (
            float_round(expected, precision_rounding=step, rounding_method=method)
            for method in ("DOWN", "UP")
        )
        return (
            float_compare(consumed, low, precision_rounding=rounding) >= 0
            and float_compare(consumed, high, precision_rounding=rounding) <= 0
        )

    def _split_productions(
        self, amounts=False, cancel_remaining_qty=False, set_consumed_qty=False
    ):
        productions = super()._split_productions(
            amounts, cancel_remaining_qty, set_consumed_qty
        )
        self.env["mrp.backflush.engine"]._set_backorder_demand(productions - self)
        return productions

    def _set_quantities(self):
        # Mark Done with nothing producing: Odoo picks every component, then
        # refuses the tracked ones it takes as manual (lines with an
        # operation) without a lot on every line. The backflush posts those
        # by policy (see mrp.backflush.engine's _set_component_quantities).
        return super(
            MrpProduction, self.with_context(backflush_set_quantities=True)
        )._set_quantities()

    def _set_qty_producing(self, pick_manual_consumption_moves=True):
        # A saved order, not the form's draft of it (onchange).
        if not (
            len(self) == 1 and isinstance(self.id, int) and self._backflush_is_managed()
        ):
            return super()._set_qty_producing(pick_manual_consumption_moves)
        # Odoo sets and picks each component with writes of its own: the
        # plain ones (untracked, not picked, no operation) are set in one
        # batch, to the same quantities.
        batch = self.move_raw_ids.filtered(
            lambda m: (
                not (m.manual_consumption or m.picked)
                and m.has_tracking == "none"
                and not m.sudo()._should_bypass_set_qty_producing()
            )
        )
        with batch._backflush_set_in_batch():
            res = super()._set_qty_producing(pick_manual_consumption_moves)
        batch._backflush_set_produced(self)
        if self.env.context.get("backflush_set_quantities"):
            # The lines without a lot Odoo just filled in are placeholders
            # the backflush replaces: not picked, they are no record.
            engine = self.env["mrp.backflush.engine"]
            posted = engine._get_moves(self, "mark_done") | engine._get_moves(
                self, "operation"
            )
            posted.filtered(lambda m: m.has_tracking != "none").move_line_ids.filtered(
                lambda ml: not ml.lot_id and ml.picked
            ).picked = False
        return res

    def _cal_price(self, consumed_moves):
        # Components posted when their work order finished are part of the
        # finished good's cost too, though done before Mark Done; posted
        # for several orders of the family, each carries its units' share.
        posted_early = self.move_raw_ids.filtered(
            lambda m: m.state == "done" and m.backflush_run_id.trigger == "operation"
        )
        valuation = self.env["mrp.backflush.valuation"]
        shares = valuation._backflush_ahead_shares(self)
        ahead = self.env["stock.move"].concat(*shares)
        res = super()._cal_price(consumed_moves | posted_early | ahead)
        valuation._backflush_price_ahead(self, shares)
        return res

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
        cancelled = open_orders.filtered(lambda p: p.state == "cancel")
        staging._send_leftovers(cancelled, self.env["mrp.backflush.run"], *leftovers)
        self.env["mrp.backflush.valuation"]._backflush_cancelled_shares(cancelled)
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
                "it is %(state)s: nothing to post.", state=self._backflush_state_label()
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

    def _backflush_state_label(self):
        """The order's state as the user reads it, in their language."""
        self.ensure_one()
        return dict(self._fields["state"]._description_selection(self.env))[self.state]

    def _backflush_produce_button_label(self):
        """The words of the form's button that marks the order done."""
        if all(self.mapped("show_produce_all")):
            return self.env._("Produce All")
        return self.env._("Produce")

    # ------------------------------------------------------------------
    # Backflush: which orders, and the engine's entry point (the steps are
    # in mrp.backflush.engine)
    # ------------------------------------------------------------------
    def _backflush_is_managed(self):
        """The MOs of ``self`` whose consumption the backflush posts.

        Subcontracted MOs are left to Odoo: their components are in the
        subcontractor's location, not ours to block on, and what the
        subcontractor records is what was used (mrp_subcontracting is not a
        dependency, hence the plain string).
        """
        return self.filtered(lambda p: p.bom_id.type != "subcontract")

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
