# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from collections import defaultdict

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL, formatLang

from .. import planning

# Quantities of an analysis row that were physically used for its BOM line,
# in the component's unit. Substitutes count as the component quantity they
# replaced; pending deferred shortages were used even if not posted yet;
# corrections after Mark Done are what the floor really used.
OBSERVED_FIELDS = (
    "qty_component",
    "qty_planned_scrap",
    "qty_deferred",
    "qty_correction",
    "qty_manual",
    "qty_actual_scrap",
    "deferred_pending_qty",
)


class MrpBomBackflushAdvice(models.TransientModel):
    """BOM accuracy advice.

    For each BOM line, over the last N done MOs of its BOM, compare what was
    really used per finished unit (Backflush Analysis: component, planned
    scrap, actual scrap, deferred, operator edits, substitutes as the
    quantity they replaced) with what the BOM plans per unit (quantity +
    planned scrap). Lines off by more than the threshold get a suggestion:

    * ``scrap_percent`` when recorded scrap explains at least half of an
      excess, or when less than the planned scrap was used while the net
      quantity was met;
    * ``product_qty`` otherwise (planned scrap kept).

    Lines of phantom kits exploded into the MO are not advised here: they
    belong to the kit's own BOM.
    """

    _name = "mrp.bom.backflush.advice"
    _description = "BOM Accuracy Advice"

    bom_ids = fields.Many2many(
        "mrp.bom",
        string="Bills of Materials",
        domain="[('type', '=', 'normal')]",
        help="Leave empty to review every BOM with done manufacturing orders.",
    )
    last_n = fields.Integer(
        "Last Done MOs",
        default=10,
        required=True,
        help="Number of most recent done manufacturing orders analysed per BOM.",
    )
    threshold_percent = fields.Float(
        "Threshold (%)",
        default=5.0,
        required=True,
        help="Only lines whose consumption deviates from the BOM by more than "
        "this percentage are listed.",
    )
    line_ids = fields.One2many(
        "mrp.bom.backflush.advice.line", "advice_id", string="Suggestions"
    )
    analysed = fields.Boolean(readonly=True)

    @api.constrains("last_n", "threshold_percent")
    def _check_parameters(self):
        for advice in self:
            if advice.last_n < 1:
                raise ValidationError(
                    self.env._(
                        "BOM accuracy advice: analyse at least 1 MO (got %(value)s).",
                        value=advice.last_n,
                    )
                )
            if advice.threshold_percent < 0:
                raise ValidationError(
                    self.env._(
                        "BOM accuracy advice: the threshold cannot be negative "
                        "(got %(value)s %%).",
                        value=advice.threshold_percent,
                    )
                )

    @api.model
    def default_get(self, fields_list):
        res = super().default_get(fields_list)
        context = self.env.context
        if (
            "bom_ids" in fields_list
            and context.get("active_model") == "mrp.bom"
            and context.get("active_ids")
        ):
            res["bom_ids"] = [fields.Command.set(context["active_ids"])]
        return res

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------
    def action_compute(self):
        self.ensure_one()
        self.line_ids.unlink()
        self.line_ids = [
            fields.Command.create(vals) for vals in self._advice_line_vals()
        ]
        self.analysed = True
        return self._reopen()

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("BOM Accuracy Advice"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
        }

    # ------------------------------------------------------------------
    # Computation: three grouped queries, whatever the number of lines
    # ------------------------------------------------------------------
    def _advice_productions(self):
        """The last N done MOs of each BOM (record rules applied)."""
        Production = self.env["mrp.production"]
        domain = [("state", "=", "done"), ("bom_id", "!=", False)]
        if self.bom_ids:
            domain.append(("bom_id", "in", self.bom_ids.ids))
        query = Production._search(domain)
        ranked = query.select(
            SQL.identifier("mrp_production", "id"),
            SQL(
                "ROW_NUMBER() OVER (PARTITION BY %s "
                "ORDER BY %s DESC NULLS LAST, %s DESC) AS rank",
                SQL.identifier("mrp_production", "bom_id"),
                SQL.identifier("mrp_production", "date_finished"),
                SQL.identifier("mrp_production", "id"),
            ),
        )
        self.env.cr.execute(
            SQL(
                "SELECT ranked.id FROM (%s) AS ranked WHERE ranked.rank <= %s",
                ranked,
                self.last_n,
            )
        )
        return Production.browse([row[0] for row in self.env.cr.fetchall()])

    def _advice_produced(self, productions):
        """Quantity produced by each MO, in its BOM's unit."""
        produced = defaultdict(float)
        rows = self.env["stock.move"]._read_group(
            [
                ("production_id", "in", productions.ids),
                ("state", "=", "done"),
                ("scrapped", "=", False),
            ],
            ["production_id", "product_id", "product_uom"],
            ["quantity:sum"],
        )
        for production, product, uom, qty in rows:
            if product == production.product_id:
                produced[production] += uom._compute_quantity(
                    qty, production.bom_id.product_uom_id, round=False
                )
        return produced

    def _advice_observed(self, productions):
        """{bom_line: {production: (observed, actual scrap)}} in the
        component's unit, from the Backflush Analysis."""
        lines = productions.bom_id.bom_line_ids
        rows = self.env["mrp.backflush.analysis"]._read_group(
            [
                ("production_id", "in", productions.ids),
                ("bom_line_id", "in", lines.ids),
            ],
            ["bom_line_id", "production_id", "product_id"],
            [f"{fname}:sum" for fname in OBSERVED_FIELDS] + ["replaced_qty:sum"],
        )
        observed = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
        for line, production, product, *sums in rows:
            if line.bom_id != production.bom_id:
                continue  # exploded phantom kit line
            figures = observed[line][production]
            *quantities, replaced = sums
            figures[0] += replaced
            if product == line.product_id:
                figures[0] += sum(quantities)
                figures[1] += quantities[OBSERVED_FIELDS.index("qty_actual_scrap")]
        return observed

    def _advice_line_vals(self):
        self.ensure_one()
        productions = self._advice_productions()
        if not productions:
            return []
        produced = self._advice_produced(productions)
        vals_list = []
        for line, by_production in self._advice_observed(productions).items():
            mos = self.env["mrp.production"].browse([mo.id for mo in by_production])
            produced_qty = sum(produced[mo] for mo in mos)
            if not produced_qty or not line.product_qty or not line.bom_id.product_qty:
                continue
            to_line = line.product_id.uom_id
            observed = to_line._compute_quantity(
                sum(f[0] for f in by_production.values()),
                line.product_uom_id,
                round=False,
            )
            scrap = to_line._compute_quantity(
                sum(f[1] for f in by_production.values()),
                line.product_uom_id,
                round=False,
            )
            groups = {mo.procurement_group_id.id or -mo.id for mo in mos}
            vals = self._advice_suggest(
                line, len(mos), produced_qty, observed, scrap, len(groups)
            )
            if vals:
                vals_list.append(vals)
        return vals_list

    def _advice_suggest(self, line, mo_count, produced, observed, scrap, group_count):
        """Values of one advice line, or None when the line is accurate.

        All per-unit figures are in the line's unit per finished unit of
        the BOM's unit; ``observed`` and ``scrap`` are totals.
        """
        bom = line.bom_id
        net_u = line.product_qty / bom.product_qty
        fixed_u = line.scrap_fixed_qty * group_count / produced
        planned_u = net_u * (1 + line.scrap_percent / 100.0) + fixed_u
        observed_u = observed / produced
        scrap_u = scrap / produced
        deviation = (observed_u - planned_u) / planned_u * 100.0
        if abs(deviation) <= self.threshold_percent + 1e-9:
            return None
        excess = observed_u - planned_u
        kind = "qty"
        if (excess > 0 and scrap_u * 2 >= excess) or (
            excess < 0 and line.scrap_percent and observed_u >= net_u + fixed_u
        ):
            kind = "scrap"
        suggested = 0.0
        if kind == "scrap":
            suggested = planning.round_up(
                (observed_u - fixed_u - net_u) / net_u * 100.0, 0.01
            )
            if suggested >= 1000:
                kind = "qty"
        if kind == "qty":
            suggested = planning.round_up(
                (observed_u - fixed_u)
                / (1 + line.scrap_percent / 100.0)
                * bom.product_qty,
                line.product_uom_id.rounding,
            )
            if suggested <= 0:
                kind = False
        return {
            "bom_line_id": line.id,
            "production_count": mo_count,
            "produced_qty": produced,
            "planned_per_unit": planned_u,
            "observed_per_unit": observed_u,
            "scrap_per_unit": scrap_u,
            "deviation_percent": deviation,
            "suggestion_type": kind,
            "current_value": line.scrap_percent
            if kind == "scrap"
            else line.product_qty,
            "suggested_value": suggested if kind else 0.0,
            "explanation": self._advice_explanation(
                line,
                kind,
                mo_count,
                produced,
                planned_u,
                observed_u,
                scrap_u,
                deviation,
                suggested,
            ),
        }

    def _advice_explanation(
        self,
        line,
        kind,
        mo_count,
        produced,
        planned_u,
        observed_u,
        scrap_u,
        deviation,
        suggested,
    ):
        bom = line.bom_id
        decimal_point = (
            self.env["res.lang"]._get_data(code=self.env.lang or "en_US").decimal_point
        )

        def fmt(value, digits=4):
            text = formatLang(self.env, value, digits=digits)
            if decimal_point in text:
                text = text.rstrip("0").rstrip(decimal_point)
            return text

        planned_text = self.env._(
            "%(qty)s per %(bom_qty)s %(bom_uom)s + %(pct)s %% planned scrap",
            qty=fmt(line.product_qty),
            bom_qty=fmt(bom.product_qty),
            bom_uom=bom.product_uom_id.name,
            pct=fmt(line.scrap_percent, 2),
        )
        if line.scrap_fixed_qty:
            planned_text = self.env._(
                "%(planned)s + %(fixed)s per MO",
                planned=planned_text,
                fixed=fmt(line.scrap_fixed_qty),
            )
        text = self.env._(
            "%(count)s done MOs, %(produced)s %(bom_uom)s produced: %(observed)s "
            "%(uom)s used per unit (%(scrap)s recorded as actual scrap) against "
            "%(planned)s planned (%(planned_text)s): %(deviation)s %%.",
            count=mo_count,
            produced=fmt(produced),
            bom_uom=bom.product_uom_id.name,
            observed=fmt(observed_u),
            uom=line.product_uom_id.name,
            scrap=fmt(scrap_u),
            planned=fmt(planned_u),
            planned_text=planned_text,
            deviation=("+" if deviation > 0 else "")
            + formatLang(self.env, deviation, digits=1),
        )
        if kind == "scrap" and deviation > 0:
            reason = self.env._(
                "Recorded scrap explains at least half of the excess: planned "
                "scrap %(old)s %% -> %(new)s %%.",
                old=fmt(line.scrap_percent, 2),
                new=fmt(suggested, 2),
            )
        elif kind == "scrap":
            reason = self.env._(
                "The net quantity is met but less scrap than planned was "
                "used: planned scrap %(old)s %% -> %(new)s %%.",
                old=fmt(line.scrap_percent, 2),
                new=fmt(suggested, 2),
            )
        elif kind == "qty":
            reason = self.env._(
                "Recorded scrap does not explain the difference (quantities "
                "changed or not recorded by operators): quantity %(old)s -> "
                "%(new)s %(uom)s per %(bom_qty)s %(bom_uom)s, planned scrap kept.",
                old=fmt(line.product_qty),
                new=fmt(suggested),
                uom=line.product_uom_id.name,
                bom_qty=fmt(bom.product_qty),
                bom_uom=bom.product_uom_id.name,
            )
        else:
            reason = self.env._(
                "Less than the constant scrap per MO was used: review the line by hand."
            )
        return f"{text} {reason}"
