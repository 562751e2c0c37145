# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
import json

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, formatLang

from .. import advice as rules
from .mrp_bom_backflush_advice import CountFormatter

# Quantities of thousands of lines written at once: stored without a named
# precision (Odoo would look it up for each value), shown with it.
QTY_FIELDS = (
    "produced_qty",
    "backflushed_qty",
    "net_qty",
    "outflow_qty",
    "count_variance_qty",
    "attributed_qty",
)


class MrpBomBackflushAdviceLine(models.TransientModel):
    _name = "mrp.bom.backflush.advice.line"
    _description = "BOM Accuracy Advice Line"
    # useful rows first: suggestions, then evidence without one, then
    # components counted only once
    _order = "priority, bom_id, deviation_percent desc, id"

    advice_id = fields.Many2one(
        "mrp.bom.backflush.advice", required=True, ondelete="cascade", index=True
    )
    bom_line_id = fields.Many2one("mrp.bom.line", required=True, readonly=True)
    # bom_id, change and priority are written with the line (see
    # _with_summary): thousands of lines are created at once
    bom_id = fields.Many2one("mrp.bom", "Bill of Materials", readonly=True)
    product_id = fields.Many2one(related="bom_line_id.product_id", string="Component")
    product_uom_id = fields.Many2one(
        related="bom_line_id.product_uom_id", string="Unit"
    )
    bom_uom_id = fields.Many2one(
        related="bom_line_id.bom_id.product_uom_id", string="BOM Unit"
    )
    company_id = fields.Many2one(related="bom_line_id.company_id")
    # short labels: the advice's Evidence column has little room
    basis = fields.Selection(
        [("consumption", "Consumption"), ("counts", "Counts")],
        string="Evidence",
        default="consumption",
        readonly=True,
    )
    production_count = fields.Integer("MOs Analysed", readonly=True)
    # Quantities without a named precision (see QTY_FIELDS and fields_get);
    # the explanation gives them at the unit's precision, with the unit.
    produced_qty = fields.Float(
        "Produced",
        readonly=True,
        help="Finished quantity of the analysed MOs, in the BOM's unit.",
    )
    planned_per_unit = fields.Float(
        "BOM per Unit",
        digits=(16, 4),
        readonly=True,
        help="What the BOM plans per finished unit: quantity and planned "
        "scrap (percentage and constant per MO).",
    )
    observed_per_unit = fields.Float(
        "Used per Unit",
        digits=(16, 4),
        readonly=True,
        help="What was used per finished unit: consumption of every role, "
        "operator edits, actual scrap, pending deferred shortages and "
        "substitutes (as the component quantity they replaced).",
    )
    scrap_per_unit = fields.Float(
        "Actual Scrap per Unit", digits=(16, 4), readonly=True
    )
    deviation_percent = fields.Float("Deviation (%)", digits=(16, 1), readonly=True)
    suggestion_type = fields.Selection(
        [("qty", "Quantity"), ("scrap", "Planned scrap (%)")],
        string="Suggestion",
        readonly=True,
    )
    current_value = fields.Float("Current", digits=(16, 4), readonly=True)
    suggested_value = fields.Float("Suggested", digits=(16, 4), readonly=True)
    change = fields.Char(
        readonly=True,
        help="What applying the suggestion changes on the BOM line.",
    )
    priority = fields.Integer(readonly=True)
    # Counts basis: the evidence, quantities in the line's unit
    count_count = fields.Integer("Counts", readonly=True)
    date_from = fields.Datetime("First Count", readonly=True)
    date_to = fields.Datetime("Last Count", readonly=True)
    backflushed_qty = fields.Float(
        "Backflushed",
        readonly=True,
        help="What this BOM line backflushed between the counts, planned "
        "scrap included.",
    )
    net_qty = fields.Float(
        "Net Backflushed",
        readonly=True,
        help="Backflushed without planned scrap: the base of the scrap percentage.",
    )
    outflow_qty = fields.Float(
        "Total Outflow",
        readonly=True,
        help="Everything the books say left the warehouse between the counts: "
        "every BOM line, other manufacturing orders, scrap and deliveries.",
    )
    count_variance_qty = fields.Float(
        "Count Variance",
        readonly=True,
        help="Counted - booked over the counts used (negative: loss).",
    )
    attributed_qty = fields.Float(
        "Attributed",
        readonly=True,
        help="This line's share of the count variance, in proportion to what "
        "it backflushed.",
    )
    share_percent = fields.Float("Share (%)", digits=(16, 1), readonly=True)
    weak = fields.Boolean("Weak Evidence", readonly=True)
    # Char: one line per row in the list (full text as tooltip and in the
    # form). Written when shown, a page of thousands of lines: from the
    # stored figures and those the text quotes beside them (the BOM line as
    # analysed, the dates of the counts, why the evidence is weak).
    explanation = fields.Char(compute="_compute_explanation")
    explanation_data = fields.Json(readonly=True)
    applied = fields.Boolean(readonly=True)

    @api.model
    def fields_get(self, allfields=None, attributes=None):
        """The quantities stored without a named precision (see above) are
        still shown at the precision of quantities."""
        res = super().fields_get(allfields, attributes)
        if attributes and "digits" not in attributes:
            return res
        digits = self.env["decimal.precision"].precision_get("Product Unit of Measure")
        for name in QTY_FIELDS:
            if name in res:
                res[name]["digits"] = (16, digits)
        return res

    def _compute_explanation(self):
        fmt = CountFormatter(self.env)
        for line in self:
            data = line.explanation_data
            if not data:
                line.explanation = False
            elif line.basis == "consumption":
                line.explanation = line._consumption_explanation(data)
            elif line.count_count < 2:
                line.explanation = line._count_single_explanation(data, fmt)
            else:
                line.explanation = line._count_explanation(data, fmt)

    @api.model
    def _insert(self, vals_list):
        """Create the lines of ``vals_list`` in one INSERT and return them.

        An advice has thousands of lines, which the ORM would create value
        by value (defaults, conversion, cache, one parameter each): a few
        tenths of a second. They have no constraint, no stored computed
        field and no translation; the rows go to PostgreSQL as one JSON
        document, read in the table's own types (as OCA's financial reports
        fill their transient tables in SQL)."""
        if not vals_list:
            return self.browse()
        self.check_access("create")
        names = [
            name
            for name, field in self._fields.items()
            if field.store and field.column_type and name != "id"
        ]
        now, uid = self.env.cr.now(), self.env.uid
        defaults = {
            **self.default_get(names),
            "create_uid": uid,
            "create_date": now,
            "write_uid": uid,
            "write_date": now,
        }
        # False is NULL but in a boolean, as the ORM writes it
        booleans = {name for name in names if self._fields[name].type == "boolean"}
        rows = json.dumps(
            [
                {
                    **defaults,
                    **{
                        name: None if value is False and name not in booleans else value
                        for name, value in vals.items()
                    },
                }
                for vals in vals_list
            ],
            default=str,
        )
        columns = SQL(", ").join(SQL.identifier(name) for name in names)
        ids = self.env.execute_query(
            SQL(
                "INSERT INTO %(table)s (%(columns)s) SELECT %(columns)s "
                "FROM jsonb_populate_recordset(NULL::%(table)s, %(rows)s) "
                "RETURNING id",
                table=SQL.identifier(self._table),
                columns=columns,
                rows=rows,
            )
        )
        return self.browse([row[0] for row in ids])

    @api.model
    def _with_summary(self, vals_list):
        """``vals_list`` of new lines with their BOM, change and priority
        (useful rows first: suggestions, then evidence without one, then
        components counted only once)."""
        fmt = CountFormatter(self.env)
        bom_lines = self.env["mrp.bom.line"].browse(
            [vals["bom_line_id"] for vals in vals_list]
        )
        for vals, bom_line in zip(vals_list, bom_lines, strict=True):
            kind = vals.get("suggestion_type")
            if kind:
                priority = 0
            elif vals.get("basis") == "counts" and vals.get("count_count", 0) < 2:
                priority = 2
            else:
                priority = 1
            vals.update(
                bom_id=bom_line.bom_id.id,
                priority=priority,
                change=kind
                and self._change_text(
                    kind,
                    bom_line,
                    vals.get("current_value", 0.0),
                    vals.get("suggested_value", 0.0),
                    fmt,
                ),
            )
        return vals_list

    @api.model
    def _change_text(self, kind, bom_line, old, new, fmt):
        """What changes, with its unit: "Planned scrap 0.00 % → 5.00 %" or
        "Quantity 4 → 5 Units per 1 Units"."""
        if kind == "scrap":
            return self.env._(
                "Planned scrap %(old)s %% → %(new)s %%",
                old=fmt.number(old, 2),
                new=fmt.number(new, 2),
            )
        uom = bom_line.product_uom_id
        bom = bom_line.bom_id
        return self.env._(
            "Quantity %(old)s → %(new)s %(uom)s per %(bom_qty)s %(bom_uom)s",
            old=fmt.qty_number(old, uom),
            new=fmt.qty_number(new, uom),
            uom=uom.name,
            bom_qty=fmt.qty_number(bom.product_qty, bom.product_uom_id),
            bom_uom=bom.product_uom_id.name,
        )

    def _consumption_explanation(self, data):
        decimal_point = (
            self.env["res.lang"]._get_data(code=self.env.lang or "en_US").decimal_point
        )

        def fmt(value, digits=4):
            text = formatLang(self.env, value, digits=digits)
            if decimal_point in text:
                text = text.rstrip("0").rstrip(decimal_point)
            return text

        bom_uom = self.bom_uom_id.name
        planned_text = self.env._(
            "%(qty)s per %(bom_qty)s %(bom_uom)s + %(pct)s %% planned scrap",
            qty=fmt(data["qty"]),
            bom_qty=fmt(data["bom_qty"]),
            bom_uom=bom_uom,
            pct=fmt(data["scrap_percent"], 2),
        )
        if data["scrap_fixed"]:
            planned_text = self.env._(
                "%(planned)s + %(fixed)s per MO",
                planned=planned_text,
                fixed=fmt(data["scrap_fixed"]),
            )
        text = self.env._(
            "%(count)s done MOs, %(produced)s %(bom_uom)s produced: %(observed)s "
            "%(uom)s used per unit (%(scrap)s recorded as actual scrap) against "
            "%(planned)s planned (%(planned_text)s): %(deviation)s %%.",
            count=self.production_count,
            produced=fmt(self.produced_qty),
            bom_uom=bom_uom,
            observed=fmt(self.observed_per_unit),
            uom=self.product_uom_id.name,
            scrap=fmt(self.scrap_per_unit),
            planned=fmt(self.planned_per_unit),
            planned_text=planned_text,
            deviation=("+" if data["deviation"] > 0 else "")
            + formatLang(self.env, data["deviation"], digits=1),
        )
        digits = 2 if self.suggestion_type == "scrap" else 4
        values = {
            "old": fmt(self.current_value, digits),
            "new": fmt(self.suggested_value, digits),
            "uom": self.product_uom_id.name,
            "bom_qty": fmt(data["bom_qty"]),
            "bom_uom": bom_uom,
        }
        reasons = {
            rules.REASON_SCRAP_EXCESS: self.env._(
                "Recorded scrap explains at least half of the excess: planned "
                "scrap %(old)s %% → %(new)s %%.",
                **values,
            ),
            rules.REASON_SCRAP_LESS: self.env._(
                "The net quantity is met but less scrap than planned was "
                "used: planned scrap %(old)s %% → %(new)s %%.",
                **values,
            ),
            rules.REASON_QTY: self.env._(
                "Recorded scrap does not explain the difference (quantities "
                "changed or not recorded by operators): quantity %(old)s → "
                "%(new)s %(uom)s per %(bom_qty)s %(bom_uom)s, planned scrap kept.",
                **values,
            ),
            rules.REASON_WHOLE_SCRAP: self.env._(
                "%(uom)s are counted whole: a fractional quantity per unit "
                "would be the same loss, so the excess becomes planned scrap "
                "%(old)s %% → %(new)s %%.",
                **values,
            ),
            rules.REASON_WHOLE_BELOW: self.env._(
                "Fewer were used than the BOM says, but %(uom)s are counted "
                "whole and the nearest whole quantity is the current one: no "
                "suggestion; check the returns and corrections of these orders.",
                **values,
            ),
            rules.REASON_BELOW_FIXED: self.env._(
                "Less than the constant scrap per MO was used: review the line by hand."
            ),
        }
        return f"{text} {reasons[data['reason']]}"

    def _count_single_explanation(self, data, fmt):
        reason = self.env._(
            "%(product)s was counted only once in the period (%(dates)s): a "
            "count variance needs a previous count",
            product=self.product_id.display_name,
            dates=", ".join(
                fmt.date(fields.Datetime.to_datetime(date)) for date in data["dates"]
            ),
        )
        return self.env._(
            "Weak evidence because %(reason)s. No suggestion.", reason=reason
        )

    def _count_explanation(self, data, fmt):
        uom = self.product_uom_id
        dates = [fmt.date(fields.Datetime.to_datetime(date)) for date in data["dates"]]
        text = self.env._(
            "%(count)s counts from %(first)s to %(last)s (%(dates)s): this line "
            "backflushed %(booked)s, planned scrap and corrections included "
            "(the BOM's net quantity: %(net)s), %(share)s %% of the "
            "%(outflow)s booked out of the warehouse between the counts. The "
            "counts found %(variance)s against the books (counted - booked); "
            "the line's share is %(attributed)s, %(deviation)s %% of what it "
            "backflushed.",
            count=len(dates),
            first=dates[0],
            last=dates[-1],
            dates=", ".join(dates),
            booked=fmt.qty(self.backflushed_qty, uom),
            net=fmt.qty(self.net_qty, uom),
            share=fmt.number(data["share"], 1),
            outflow=fmt.qty(self.outflow_qty, uom),
            variance=fmt.qty(self.count_variance_qty, uom),
            attributed=fmt.qty(self.attributed_qty, uom),
            deviation=("+" if data["deviation"] > 0 else "")
            + fmt.number(data["deviation"], 1),
        )
        weak = []
        if rules.WEAK_VOLUME in data["weak"]:
            weak.append(
                self.env._(
                    "only %(qty)s were backflushed by this line between the "
                    "counts (minimum %(minimum)s)",
                    qty=fmt.qty(self.net_qty, uom),
                    minimum=fmt.qty(data["min_qty"], uom),
                )
            )
        if rules.WEAK_OTHER in data["weak"]:
            weak.append(
                self.env._(
                    "deliveries, other manufacturing orders, recorded scrap and "
                    "other outflows make %(percent)s %% of what left the "
                    "warehouse (maximum %(maximum)s %%)",
                    percent=fmt.number(data["other_percent"], 1),
                    maximum=fmt.number(data["max_other_percent"], 1),
                )
            )
        if rules.WEAK_EXTREME in data["weak"]:
            weak.append(self.env._("the loss is ten times the net quantity or more"))
        if weak:
            reason = self.env._(
                "Weak evidence because %(reasons)s. No suggestion.",
                reasons="; ".join(weak),
            )
        elif not self.suggestion_type:
            reason = self.env._(
                "The counts find more than the books although the line plans "
                "no scrap: check the BOM quantity, receipts and returns."
            )
        elif data["deviation"] > 0:
            reason = self.env._(
                "Stock disappears that the BOM does not plan: planned scrap "
                "%(old)s %% → %(new)s %%.",
                old=fmt.number(self.current_value, 2),
                new=fmt.number(self.suggested_value, 2),
            )
        else:
            reason = self.env._(
                "The counts find more than the books: less scrap than planned "
                "is used, planned scrap %(old)s %% → %(new)s %%.",
                old=fmt.number(self.current_value, 2),
                new=fmt.number(self.suggested_value, 2),
            )
        return f"{text} {reason}"

    def action_apply(self):
        if not self.env.user.has_group("mrp.group_mrp_manager"):
            raise AccessError(
                self.env._(
                    "Only a manufacturing manager can apply a BOM accuracy suggestion."
                )
            )
        applied = []
        for advice_line in self:
            if advice_line.applied or not advice_line.suggestion_type:
                raise UserError(
                    self.env._(
                        "%(product)s on %(bom)s: there is no suggestion left to apply.",
                        product=advice_line.product_id.display_name,
                        bom=advice_line.bom_id.display_name,
                    )
                )
            applied.append(advice_line._apply())
        message = " ".join(applied)
        reopen = self.advice_id[:1]._reopen()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("BOM accuracy advice applied"),
                "message": message,
                "type": "success",
                "sticky": False,
                "next": reopen,
            },
        }

    def _apply(self):
        """Write the suggestion on the BOM line, log it in the BOM's chatter
        (a note: no email needed) and return what was done, open
        manufacturing orders of the BOM included."""
        self.ensure_one()
        field = "product_qty" if self.suggestion_type == "qty" else "scrap_percent"
        line = self.bom_line_id
        change = self._change_text(
            self.suggestion_type,
            line,
            line[field],
            self.suggested_value,
            CountFormatter(self.env),
        )
        line.write({field: self.suggested_value})
        self.applied = True
        open_mos = self.env["mrp.production"].search(
            [
                ("bom_id", "=", self.bom_id.id),
                ("state", "not in", ("done", "cancel")),
            ]
        )
        summary = self.env._(
            "%(product)s on %(bom)s: %(change)s.",
            product=line.product_id.display_name,
            bom=self.bom_id.display_name,
            change=change,
        )
        if open_mos:
            summary += " " + self.env._(
                "%(count)s open manufacturing orders of this BOM keep the old "
                "quantities (%(orders)s): their components were planned from "
                "the BOM before the change; update them by hand if needed.",
                count=len(open_mos),
                orders=", ".join(open_mos[:10].mapped("name"))
                + (", …" if len(open_mos) > 10 else ""),
            )
        self.bom_id._message_log(
            body=Markup("<p>%s</p><p>%s</p><p>%s</p>")
            % (
                self.env._(
                    "BOM accuracy advice applied by %(user)s.",
                    user=self.env.user.name,
                ),
                summary,
                self.explanation or "",
            )
        )
        return summary
