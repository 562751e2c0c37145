# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import ast
from collections import defaultdict

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL, float_round, format_date, get_lang

from odoo.addons.base.models.res_lang import intersperse

from .. import advice as rules
from ..report.mrp_backflush_count_variance import BACKFLUSH_OUTFLOW_ROLES

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


class CountFormatter:
    """Numbers and dates of the advice in the user's language, as
    ``formatLang``, ``uom.uom._backflush_format_qty`` and ``format_date``
    write them: the language and the units' decimals are read once for
    thousands of lines."""

    def __init__(self, env):
        self.env = env
        lang = get_lang(env)
        self.grouping = ast.literal_eval(lang.grouping)
        self.thousands_sep = lang.thousands_sep or ""
        self.decimal_point = lang.decimal_point
        self.dates = {}
        self.digits = {}

    def number(self, value, digits):
        value = float_round(value, precision_digits=digits, rounding_method="HALF-EVEN")
        parts = f"{abs(value):.{digits}f}".split(".")
        parts[0] = intersperse(parts[0], self.grouping, self.thousands_sep)[0]
        sign = "-" if value < 0 else ""
        return sign + self.decimal_point.join(parts)

    def qty_number(self, value, uom):
        """``value`` with the decimals of ``uom``'s rounding."""
        if uom.id not in self.digits:
            self.digits[uom.id] = uom._backflush_digits()
        return self.number(value, self.digits[uom.id])

    def qty(self, value, uom):
        return f"{self.qty_number(value, uom)} {uom.name}"

    def date(self, value):
        if value not in self.dates:
            self.dates[value] = format_date(self.env, value)
        return self.dates[value]


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

    With the *counts* basis, the advice reads the physical inventory counts
    instead (Count Variance report): the count variance attributed to a
    BOM line over the period, against the net quantity it backflushed,
    gives the scrap the BOM does not plan (a gain, scrap it plans but that
    does not happen). Weak evidence (a single count, small volumes, other
    outflows dominating) is listed without a suggestion.

    The *automatic* basis (the default) takes the counts for a component
    counted twice (the later count in the period) and the recorded
    consumption for the others; each line says which.
    """

    _name = "mrp.bom.backflush.advice"
    _description = "BOM Accuracy Advice"

    basis = fields.Selection(
        [
            ("auto", "Counts where counted twice, else consumption"),
            ("consumption", "Recorded consumption"),
            ("counts", "Physical inventory counts"),
        ],
        default="auto",
        required=True,
        help="Recorded consumption: what the last done MOs consumed and "
        "scrapped. Physical inventory counts: what the counts found missing "
        "(or in excess) against the books, attributed to the BOM lines that "
        "backflushed the component. Automatic: the counts for the components "
        "counted twice (the later count in the period), recorded consumption "
        "for the others; each line says which.",
    )
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
    date_from = fields.Date(
        "From",
        default=lambda self: fields.Date.context_today(self) - relativedelta(years=1),
        help="Counts taken from this day on are analysed, with the interval "
        "since each one's previous count.",
    )
    date_to = fields.Date("To", default=fields.Date.context_today)
    count_min_qty = fields.Float(
        "Minimum Backflushed Qty",
        default=100.0,
        digits="Product Unit of Measure",
        help="Below this net quantity backflushed by a BOM line between the "
        "counts (in the line's unit), the evidence is too weak for a suggestion.",
    )
    count_max_other_percent = fields.Float(
        "Maximum Other Outflows (%)",
        default=50.0,
        help="When deliveries, other manufacturing orders, recorded scrap and "
        "other outflows make more than this share of what left the "
        "warehouse, the count variance says little about the BOM: no suggestion.",
    )
    line_ids = fields.One2many(
        "mrp.bom.backflush.advice.line", "advice_id", string="Suggestions"
    )
    analysed = fields.Boolean(readonly=True)
    has_suggestion = fields.Boolean(compute="_compute_has_suggestion")

    @api.constrains(
        "last_n",
        "threshold_percent",
        "date_from",
        "date_to",
        "count_min_qty",
        "count_max_other_percent",
    )
    def _check_parameters(self):
        for advice in self:
            if advice.basis != "consumption":
                advice._check_count_parameters()
            if advice.basis == "counts":
                continue
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

    def _check_count_parameters(self):
        if not self.date_from or not self.date_to or self.date_from > self.date_to:
            raise ValidationError(
                self.env._(
                    "BOM accuracy advice from counts: set a period whose start "
                    "is not after its end."
                )
            )
        if self.threshold_percent < 0 or self.count_min_qty < 0:
            raise ValidationError(
                self.env._(
                    "BOM accuracy advice from counts: the threshold and the "
                    "minimum backflushed quantity cannot be negative."
                )
            )
        if not 0 <= self.count_max_other_percent <= 100:
            raise ValidationError(
                self.env._(
                    "BOM accuracy advice from counts: the maximum share of other "
                    "outflows is a percentage between 0 and 100 (got %(value)s).",
                    value=self.count_max_other_percent,
                )
            )

    @api.depends("line_ids.suggestion_type")
    def _compute_has_suggestion(self):
        # weak evidence only: the explanation takes the Change column's room
        for advice in self:
            advice.has_suggestion = any(advice.line_ids.mapped("suggestion_type"))

    @api.onchange("basis")
    def _onchange_basis(self):
        # Counts reveal small systematic losses (2 % of legs): a finer default.
        self.threshold_percent = 5.0 if self.basis == "consumption" else 1.0

    @api.model
    def default_get(self, fields_list):
        res = super().default_get(fields_list)
        context = self.env.context
        # a request may send any JSON value as active_ids
        active_ids = context.get("active_ids")
        if (
            "bom_ids" in fields_list
            and context.get("active_model") == "mrp.bom"
            and isinstance(active_ids, list)
        ):
            boms = self.env["mrp.bom"].browse(
                id_ for id_ in active_ids if isinstance(id_, int) and id_ > 0
            )
            res["bom_ids"] = [fields.Command.set(boms.exists().ids)]
        return res

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------
    def action_compute(self):
        self.ensure_one()
        self.line_ids.unlink()
        Line = self.env["mrp.bom.backflush.advice.line"]
        vals_list = Line._with_summary(self._advice_line_vals())
        Line._insert([{**vals, "advice_id": self.id} for vals in vals_list])
        self.invalidate_recordset(["line_ids", "has_suggestion"])
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
            # the list with its Apply buttons fits at 1280 pixels
            "context": {"dialog_size": "extra-large"},
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
        # the ranking reads date_finished, which the domain does not name
        Production.flush_model(["bom_id", "date_finished"])
        rows = self.env.execute_query(
            SQL(
                "SELECT ranked.id FROM (%s) AS ranked WHERE ranked.rank <= %s",
                ranked,
                self.last_n,
            )
        )
        return Production.browse([row[0] for row in rows])

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
        if self.basis == "counts":
            return self._count_line_vals()
        if self.basis == "auto":
            return self._auto_line_vals()
        return self._consumption_line_vals()

    def _auto_line_vals(self):
        """Counts for the components counted twice (the later count in the
        period), recorded consumption for the other components."""
        components, by_line = self._count_figures()
        counted = {
            product for product, figures in components.items() if figures["counts"]
        }
        vals_list = self._count_interval_vals(components, by_line)
        return vals_list + self._consumption_line_vals(skip_products=counted)

    def _consumption_line_vals(self, skip_products=()):
        """Advice lines from the last done MOs, but for the BOM lines of
        ``skip_products``."""
        productions = self._advice_productions()
        if not productions:
            return []
        produced = self._advice_produced(productions)
        vals_list = []
        for line, by_production in self._advice_observed(productions).items():
            if line.product_id in skip_products:
                continue
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

        ``produced`` in the BOM's unit, ``observed`` and ``scrap`` totals in
        the line's unit; the arithmetic is :mod:`advice`'s."""
        bom = line.bom_id
        result = rules.suggest_from_consumption(
            rules.BomLine(
                qty=line.product_qty,
                bom_qty=bom.product_qty,
                scrap_percent=line.scrap_percent,
                scrap_fixed=line.scrap_fixed_qty,
                rounding=line.product_uom_id.rounding,
                whole_units=self._advice_whole_units(line.product_uom_id),
            ),
            produced,
            observed,
            scrap,
            group_count,
            self.threshold_percent,
        )
        if result is None:
            return None
        return {
            "bom_line_id": line.id,
            "production_count": mo_count,
            "produced_qty": produced,
            "planned_per_unit": result.planned_per_unit,
            "observed_per_unit": result.observed_per_unit,
            "scrap_per_unit": result.scrap_per_unit,
            "deviation_percent": result.deviation_percent,
            "suggestion_type": result.kind,
            "current_value": result.current,
            "suggested_value": result.suggested,
            # the line as analysed: applying a suggestion changes it
            "explanation_data": {
                "reason": result.reason,
                "deviation": result.deviation_percent,
                "qty": line.product_qty,
                "bom_qty": bom.product_qty,
                "scrap_percent": line.scrap_percent,
                "scrap_fixed": line.scrap_fixed_qty,
            },
        }

    def _advice_whole_units(self, uom):
        """Parts counted in whole units (pieces, or a unit rounded to 1 or
        more): 4.05 legs per chair is no quantity a BOM should say."""
        # the id is cached; env.ref would check it exists for each line
        unit = self.env["ir.model.data"]._xmlid_to_res_id("uom.product_uom_categ_unit")
        return uom.rounding >= 1 or uom.category_id.id == unit

    # ------------------------------------------------------------------
    # Counts: two grouped reads, whatever the number of components
    # ------------------------------------------------------------------
    def _count_domain(self):
        start = fields.Datetime.to_datetime(self.date_from)
        end = fields.Datetime.to_datetime(self.date_to) + relativedelta(days=1)
        domain = [("date", ">=", start), ("date", "<", end)]
        if self.bom_ids:
            domain.append(
                ("product_id", "in", self.bom_ids.bom_line_ids.product_id.ids)
            )
        return domain

    def _count_line_vals(self):
        """Advice lines from the Count Variance over the period: the BOM
        lines of components counted twice, then those counted once."""
        self.ensure_one()
        components, by_line = self._count_figures()
        vals_list = self._count_interval_vals(components, by_line)
        counted_once = [
            product
            for product, component in components.items()
            if component["first"] and not component["counts"]
        ]
        for bom_line in self._count_single_lines(counted_once):
            vals_list.append(
                self._count_single_vals(
                    bom_line, components[bom_line.product_id]["first"]
                )
            )
        return vals_list

    def _count_figures(self):
        """Figures of the Count Variance over the period: per component,
        the counts used and what left the warehouse between them
        (``counts`` is empty for a component counted once); per BOM line,
        what it backflushed (booked, net) and its share of the count
        variance."""
        rows = self.env["mrp.backflush.count.variance"]._read_group(
            self._count_domain(),
            ["product_id", "kind", "bom_line_id"],
            [
                "outflow_qty:sum",
                "net_qty:sum",
                "variance_qty:sum",
                "date:array_agg",
                "previous_date:array_agg",
            ],
        )
        components = defaultdict(
            lambda: {
                "outflow": 0.0,
                "other": 0.0,
                "variance": 0.0,
                "counts": set(),
                "first": set(),
            }
        )
        by_line = defaultdict(lambda: [0.0, 0.0, 0.0])  # booked, net, variance
        for product, kind, bom_line, outflow, net, variance, dates, previous in rows:
            component = components[product]
            if kind == "first":
                component["first"].update(dates)
                continue
            component["counts"].update(dates)
            component["counts"].update(date for date in previous if date)
            component["outflow"] += outflow
            component["variance"] += variance
            if kind == "backflush" and bom_line:
                figures = by_line[bom_line]
                figures[0] += outflow
                figures[1] += net
                figures[2] += variance
            else:
                component["other"] += outflow
        return components, by_line

    def _count_interval_vals(self, components, by_line):
        """Advice lines of the BOM lines whose component has a count with
        a previous one, from :meth:`_count_figures`."""
        vals_list = []
        boms = set(self.bom_ids.ids)
        for bom_line, (booked, net, variance) in by_line.items():
            # booked <= 0: all it consumed came back (unbuild, corrections)
            bom = bom_line.bom_id
            if booked <= 0 or bom.type != "normal" or (boms and bom.id not in boms):
                continue
            vals = self._count_suggest(
                bom_line, components[bom_line.product_id], booked, net, variance
            )
            if vals:
                vals_list.append(vals)
        return vals_list

    def _count_single_lines(self, products):
        """BOM lines of ``products`` (counted once in the period) that
        backflushed them in the period: a component nobody counted twice and
        nothing consumed has nothing to advise on."""
        if not products:
            return self.env["mrp.bom.line"]
        start, end = self._count_domain()[:2]
        domain = [
            ("product_id", "in", [product.id for product in products]),
            ("bom_line_id.bom_id.type", "=", "normal"),
            ("backflush_role", "in", BACKFLUSH_OUTFLOW_ROLES),
            ("state", "=", "done"),
            start,
            end,
        ]
        if self.bom_ids:
            domain.append(("bom_line_id.bom_id", "in", self.bom_ids.ids))
        groups = self.env["stock.move"]._read_group(domain, ["bom_line_id"])
        return self.env["mrp.bom.line"].browse([line.id for [line] in groups])

    def _count_suggest(self, bom_line, component, booked, net, variance):
        """Values of one advice line from counts, or None when the line is
        accurate. Quantities in the component's unit; ``variance`` is the
        line's share of the count variance (negative: loss); the arithmetic
        is :mod:`advice`'s."""
        to_line = bom_line.product_id.uom_id
        uom = bom_line.product_uom_id
        result = rules.suggest_from_counts(
            bom_line.scrap_percent,
            booked,
            net,
            variance,
            component["outflow"],
            component["other"],
            self.threshold_percent,
            min_net=uom._compute_quantity(self.count_min_qty, to_line, round=False),
            max_other_percent=self.count_max_other_percent,
        )
        if result is None:
            return None
        if "dates" not in component:
            # a component's counts serve each BOM line that uses it
            counts = sorted(component["counts"])
            component["dates"] = (
                counts,
                [fields.Datetime.to_string(d) for d in counts],
            )
        counts, dates = component["dates"]
        share = booked / component["outflow"] * 100.0 if component["outflow"] else 0.0
        return {
            "bom_line_id": bom_line.id,
            "basis": "counts",
            "count_count": len(counts),
            "date_from": counts[0],
            "date_to": counts[-1],
            "backflushed_qty": to_line._compute_quantity(booked, uom, round=False),
            "net_qty": to_line._compute_quantity(net, uom, round=False),
            "outflow_qty": to_line._compute_quantity(
                component["outflow"], uom, round=False
            ),
            "count_variance_qty": to_line._compute_quantity(
                component["variance"], uom, round=False
            ),
            "attributed_qty": to_line._compute_quantity(variance, uom, round=False),
            "share_percent": share,
            "deviation_percent": result.deviation_percent,
            "weak": bool(result.weak),
            "suggestion_type": result.kind,
            "current_value": bom_line.scrap_percent,
            "suggested_value": result.suggested,
            "explanation_data": {
                "dates": dates,
                "deviation": result.deviation_percent,
                "share": share,
                "weak": list(result.weak),
                "other_percent": result.other_percent,
                "min_qty": self.count_min_qty,
                "max_other_percent": self.count_max_other_percent,
            },
        }

    def _count_single_vals(self, bom_line, dates):
        dates = sorted(dates)
        return {
            "bom_line_id": bom_line.id,
            "basis": "counts",
            "count_count": 1,
            "date_from": dates[0],
            "date_to": dates[-1],
            "weak": True,
            "suggestion_type": False,
            "current_value": bom_line.scrap_percent,
            "explanation_data": {
                "dates": [fields.Datetime.to_string(date) for date in dates]
            },
        }
