# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import api, fields, models
from odoo.osv import expression
from odoo.tools import SQL
from odoo.tools.sql import create_index

COST_GROUP = "stock.group_stock_manager"

# Raw-move roles a backflush posts for a BOM line that consume the component
# itself (a substitute consumes another product).
BACKFLUSH_OUTFLOW_ROLES = ("component", "planned_scrap", "deferred", "correction")
# Of those, the net quantity (without planned scrap).
BACKFLUSH_NET_ROLES = ("component", "deferred")

# The warehouse a move leaves (or, into the warehouse, enters); 0: none.
WAREHOUSE_SQL = SQL(
    "COALESCE(CASE WHEN src.usage = 'internal' THEN src.warehouse_id "
    "ELSE dst.warehouse_id END, 0)"
)

COUNT_VARIANCE_KINDS = [
    ("backflush", "Backflushed"),
    ("production", "Other MO consumption"),
    ("scrap", "Recorded scrap"),
    ("other", "Deliveries and other outflows"),
    ("unexplained", "No outflow in the interval"),
    ("first", "First count (no interval)"),
]


class MrpBackflushCountVariance(models.Model):
    """Count Variance: where the books and the floor disagree.

    Read-only SQL view. A *count* is a done inventory adjustment
    (``stock.move.is_inventory``) between an internal location and an
    inventory-loss location; its quantity is counted - booked (a loss is
    negative). The counts of a component are taken per company and
    warehouse; a count is a moment: the adjustments applied at one instant
    (several lots or shelves) form one count, two counts of one day are
    two counts with what left in between.

    Between two consecutive counts (the *interval*), the variance of the
    later count is attributed to what left the warehouse in the interval,
    in proportion to the quantities: each BOM line that backflushed the
    component, other MO consumption, recorded scrap and deliveries or other
    outflows. One row per count and outflow kind (and BOM line); the first
    count of a warehouse has no interval and an interval without outflow
    keeps its variance unattributed, each on a row of its own. The
    variances of a count's rows add up to its adjustment (unless more came
    back than left in the interval: nothing is attributed then). Backflushed
    components given back (unbuild, corrections) reduce their BOM line's
    outflow.

    Quantities are in the component's unit of measure, values in the
    company currency (from the valuation layers of the adjustments).
    """

    _name = "mrp.backflush.count.variance"
    _description = "Count Variance"
    _auto = False
    _rec_name = "product_id"
    _order = "date desc, product_id, kind, bom_line_id"
    _depends = {
        "stock.move": [
            "product_id",
            "product_uom",
            "quantity",
            "state",
            "date",
            "is_inventory",
            "scrapped",
            "location_id",
            "location_dest_id",
            "company_id",
            "raw_material_production_id",
            "bom_line_id",
            "backflush_role",
        ],
        "stock.location": ["usage", "warehouse_id"],
        "stock.valuation.layer": ["stock_move_id", "value"],
        "uom.uom": ["factor"],
        "product.product": ["product_tmpl_id"],
        "product.template": ["uom_id", "categ_id"],
        "mrp.bom.line": ["bom_id"],
        "res.company": ["currency_id"],
    }

    date = fields.Datetime("Count Date", readonly=True)
    previous_date = fields.Datetime(
        "Previous Count",
        readonly=True,
        help="Date of the previous count of the component in the warehouse: "
        "the interval starts there.",
    )
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    warehouse_id = fields.Many2one("stock.warehouse", readonly=True)
    product_id = fields.Many2one("product.product", "Component", readonly=True)
    product_uom_id = fields.Many2one("uom.uom", "Unit", readonly=True)
    categ_id = fields.Many2one("product.category", "Component Category", readonly=True)
    kind = fields.Selection(COUNT_VARIANCE_KINDS, "Outflow", readonly=True)
    bom_line_id = fields.Many2one("mrp.bom.line", "BOM Line", readonly=True)
    bom_id = fields.Many2one("mrp.bom", "Bill of Materials", readonly=True)
    outflow_qty = fields.Float(
        "Booked Outflow",
        digits="Product Unit of Measure",
        readonly=True,
        help="What the books say left the warehouse in the interval.",
    )
    net_qty = fields.Float(
        "Backflushed Net Qty",
        digits="Product Unit of Measure",
        readonly=True,
        help="Part of the backflushed outflow that is the BOM's net quantity "
        "(without planned scrap).",
    )
    variance_qty = fields.Float(
        "Count Variance",
        digits="Product Unit of Measure",
        readonly=True,
        help="Share of the count's variance (counted - booked) attributed to "
        "this outflow: negative when the floor has less than the books.",
    )
    counted_outflow_qty = fields.Float(
        "Counted Outflow",
        digits="Product Unit of Measure",
        readonly=True,
        help="What really left according to the counts: Booked Outflow - "
        "Count Variance.",
    )
    variance_value = fields.Monetary(
        readonly=True,
        groups=COST_GROUP,
        help="Same share of the value of the count's adjustment.",
    )

    def init(self):
        # Counts are few among the moves: find them (and a product's
        # previous count) without reading every move of the history.
        create_index(
            self.env.cr,
            "stock_move_backflush_count_index",
            "stock_move",
            ["product_id", "date"],
            where="is_inventory IS TRUE AND state = 'done'",
        )

    @api.model
    def _where_calc(self, domain, active_test=True):
        # The period and components a domain asks for reach the SQL (the
        # rows of a count do not depend on any other count but its previous
        # one, which the query finds before the period).
        scope = self._count_scope(domain)
        model = self.with_context(mrp_backflush_count_scope=scope) if scope else self
        return super(MrpBackflushCountVariance, model)._where_calc(domain, active_test)

    @api.model
    def _count_scope(self, domain):
        """(first, last, product ids) a conjunctive domain bounds the count
        date and the components to, each None when unbounded; None when
        nothing is bounded. Bounds are inclusive: a superset of the rows
        the domain keeps, the domain itself still applies."""
        domain = expression.normalize_domain(domain or [])
        if any(term in ("|", "!") for term in domain):
            return None
        first = last = products = None
        for term in domain:
            if not isinstance(term, (list, tuple)) or len(term) != 3:
                continue
            fname, operator, value = term
            if fname == "date" and value and operator in (">", ">=", "<", "<=", "="):
                try:
                    value = fields.Datetime.to_datetime(value)
                except (TypeError, ValueError):
                    continue
                if operator in (">", ">=", "="):
                    first = max(first, value) if first else value
                if operator in ("<", "<=", "="):
                    last = min(last, value) if last else value
            elif fname == "product_id" and operator in ("=", "in"):
                ids = value if isinstance(value, (list, tuple)) else [value]
                if not all(type(i) is int for i in ids):  # not records, names, False
                    continue
                products = set(ids) if products is None else products & set(ids)
        if first is None and last is None and products is None:
            return None
        return (first, last, tuple(sorted(products)) if products is not None else None)

    @property
    def _table_query(self):
        scope = self.env.context.get("mrp_backflush_count_scope")
        return self._count_variance_query(*(scope or (None, None, None)))

    def _count_variance_query(self, first=None, last=None, product_ids=None):
        """Rows of the counts taken from ``first`` to ``last`` (datetimes,
        inclusive, None: unbounded) of ``product_ids`` (None: all).

        Each count keeps its interval from the count before it, even
        before ``first``. The intervals are read first: only the moves of
        the components and dates they cover are read, bounded by constants
        the planner sees (bounds computed in the query are estimated as a
        few rows, and planned as loops). An outflow belongs to the first
        count at or after it: counts and moves of a component are sorted
        in one stream and a running minimum finds it. No step joins the
        moves to the counts: a join estimated as a few rows becomes a loop
        over the whole history."""
        products = (
            SQL("AND sm.product_id IN %s", tuple(product_ids) or (0,))
            if product_ids is not None
            else SQL()
        )
        counts = self._count_event_sql(last, products)
        start, counted = self._count_intervals(first, last, products)
        outflow_scope = (
            SQL("AND sm.date > %s AND sm.product_id IN %s", start, tuple(counted))
            if counted
            else SQL("AND FALSE")
        )
        return SQL(
            """
WITH %(counts)s,
outflow_move AS (
    -- what left the internal locations of a warehouse, counts excluded;
    -- backflushed components given back (unbuild, corrections returning
    -- leftovers) count against the BOM line that consumed them. In the
    -- reference unit of the move's unit category
    SELECT sm.id, sm.company_id, sm.product_id, sm.date,
           %(warehouse)s AS warehouse_id,
           CASE WHEN sm.bom_line_id IS NOT NULL
                     AND sm.backflush_role IN %(roles)s THEN 'backflush'
                WHEN sm.raw_material_production_id IS NOT NULL THEN 'production'
                WHEN sm.scrapped IS TRUE THEN 'scrap'
                ELSE 'other' END AS kind,
           CASE WHEN sm.backflush_role IN %(roles)s THEN sm.bom_line_id
                END AS bom_line_id,
           sm.backflush_role IN %(net_roles)s AS net,
           CASE WHEN src.usage = 'internal' THEN 1.0 ELSE -1.0 END
               * sm.quantity / mu.factor AS qty
      FROM stock_move sm
      JOIN stock_location src ON src.id = sm.location_id
      JOIN stock_location dst ON dst.id = sm.location_dest_id
      JOIN uom_uom mu ON mu.id = sm.product_uom
     WHERE sm.state = 'done' AND sm.is_inventory IS NOT TRUE AND sm.quantity > 0
       AND ((src.usage = 'internal'
             AND (dst.usage <> 'internal'
                  OR dst.warehouse_id IS DISTINCT FROM src.warehouse_id))
            OR (dst.usage = 'internal' AND src.usage <> 'internal'
                AND sm.bom_line_id IS NOT NULL
                AND sm.backflush_role IN %(roles)s))
       %(outflow_scope)s %(outflow_last)s %(products)s
),
outflow_count AS (
    -- each move with the date of the first count at or after it (the
    -- smallest count date from the move's date on, counts and moves of a
    -- component and warehouse sorted latest first) and the factor of the
    -- component's unit
    SELECT s.*,
           MIN(s.date) FILTER (WHERE s.kind IS NULL) OVER w AS count_date,
           MIN(s.factor) FILTER (WHERE s.kind IS NULL) OVER w AS count_factor
      FROM (
           SELECT e.id, e.company_id, e.warehouse_id, e.product_id, e.date,
                  NULL AS kind, NULL::integer AS bom_line_id,
                  NULL::boolean AS net, NULL::numeric AS qty, e.factor
             FROM count_event e
            UNION ALL
           SELECT m.id, m.company_id, m.warehouse_id, m.product_id, m.date,
                  m.kind, m.bom_line_id, m.net, m.qty, NULL
             FROM outflow_move m
           ) s
    WINDOW w AS (PARTITION BY s.company_id, s.warehouse_id, s.product_id
                 ORDER BY s.date DESC)
),
row_part AS (
    -- a count's own row, then its outflows summed per kind and BOM line
    SELECT e.id, e.company_id, e.warehouse_id, e.product_id, e.product_uom_id,
           e.categ_id, e.date, e.previous_date, NULL AS kind,
           NULL::integer AS bom_line_id, e.qty AS count_qty,
           COALESCE(sv.value, 0.0) AS count_value, 0.0 AS qty, 0.0 AS net_qty
      FROM count_event e
 LEFT JOIN LATERAL (
           SELECT SUM(svl.value) AS value
             FROM stock_valuation_layer svl
            WHERE svl.stock_move_id = ANY(e.move_ids)
           ) sv ON TRUE
     WHERE TRUE %(interval_first)s
 UNION ALL
    SELECT MIN(o.id), o.company_id, o.warehouse_id, o.product_id, NULL, NULL,
           o.count_date, NULL, o.kind, o.bom_line_id, NULL, NULL,
           SUM(o.qty) * MIN(o.count_factor),
           COALESCE(SUM(o.qty) FILTER (WHERE o.net), 0.0) * MIN(o.count_factor)
      FROM outflow_count o
     WHERE o.kind IS NOT NULL AND o.count_date IS NOT NULL %(count_first)s
  GROUP BY o.company_id, o.warehouse_id, o.product_id, o.count_date, o.kind,
           o.bom_line_id
),
row_source AS (
    -- the count's figures spread over its rows by a window, not by a join
    SELECT r.id, r.company_id, r.warehouse_id, r.product_id, r.date, r.kind,
           r.bom_line_id, r.qty, r.net_qty,
           MAX(r.product_uom_id) OVER w AS product_uom_id,
           MAX(r.categ_id) OVER w AS categ_id,
           MAX(r.previous_date) OVER w AS previous_date,
           MAX(r.count_qty) OVER w AS count_qty,
           MAX(r.count_value) OVER w AS count_value,
           SUM(r.qty) OVER w AS count_outflow,
           COUNT(r.kind) OVER w AS outflows,
           COUNT(r.count_qty) OVER w AS counts
      FROM row_part r
    WINDOW w AS (PARTITION BY r.company_id, r.warehouse_id, r.product_id, r.date)
)
SELECT r.id,
       r.date,
       r.previous_date,
       r.company_id,
       c.currency_id,
       NULLIF(r.warehouse_id, 0) AS warehouse_id,
       r.product_id,
       r.product_uom_id,
       r.categ_id,
       COALESCE(r.kind, CASE WHEN r.previous_date IS NULL THEN 'first'
                             ELSE 'unexplained' END) AS kind,
       r.bom_line_id,
       bl.bom_id,
       r.qty AS outflow_qty,
       r.net_qty,
       r.count_qty * ratio.value AS variance_qty,
       r.qty - r.count_qty * ratio.value AS counted_outflow_qty,
       r.count_value * ratio.value AS variance_value
  FROM row_source r
  JOIN res_company c ON c.id = r.company_id
  LEFT JOIN mrp_bom_line bl ON bl.id = r.bom_line_id
 CROSS JOIN LATERAL (
       SELECT CASE WHEN r.kind IS NULL THEN 1.0
                   WHEN r.count_outflow > 0.0 THEN r.qty / r.count_outflow
                   ELSE 0.0 END AS value
       ) ratio
 WHERE r.counts = 1
   AND CASE WHEN r.kind IS NULL THEN r.outflows = 0 OR r.previous_date IS NULL
            ELSE r.previous_date IS NOT NULL END
""",
            counts=counts,
            warehouse=WAREHOUSE_SQL,
            roles=BACKFLUSH_OUTFLOW_ROLES,
            net_roles=BACKFLUSH_NET_ROLES,
            products=products,
            interval_first=SQL("AND e.date >= %s", first) if first else SQL(),
            count_first=SQL("AND o.count_date >= %s", first) if first else SQL(),
            outflow_scope=outflow_scope,
            outflow_last=SQL("AND sm.date <= %s", last) if last else SQL(),
        )

    def _count_move_sql(self, last, products):
        """The condition on the moves ``sm`` (from location ``src`` to
        ``dst``) that are counts up to ``last`` (None: all) of the
        components ``products`` (an SQL condition on ``sm``)."""
        return SQL(
            """sm.state = 'done' AND sm.is_inventory IS TRUE
       AND ((src.usage = 'internal' AND dst.usage = 'inventory')
            OR (src.usage = 'inventory' AND dst.usage = 'internal'))
       %(count_last)s %(products)s""",
            count_last=SQL("AND sm.date <= %s", last) if last else SQL(),
            products=products,
        )

    def _count_event_sql(self, last, products):
        """The CTEs ``count_move`` and ``count_event``: the counts up to
        ``last`` (None: all) of the components ``products`` (an SQL
        condition on ``sm``)."""
        return SQL(
            """
count_move AS (
    SELECT sm.id, sm.company_id, sm.product_id, sm.date,
           %(warehouse)s AS warehouse_id,
           CASE WHEN src.usage = 'internal' THEN -1.0 ELSE 1.0 END
               * sm.quantity / mu.factor * pu.factor AS qty,
           pt.uom_id AS product_uom_id, pt.categ_id, pu.factor
      FROM stock_move sm
      JOIN stock_location src ON src.id = sm.location_id
      JOIN stock_location dst ON dst.id = sm.location_dest_id
      JOIN uom_uom mu ON mu.id = sm.product_uom
      JOIN product_product p ON p.id = sm.product_id
      JOIN product_template pt ON pt.id = p.product_tmpl_id
      JOIN uom_uom pu ON pu.id = pt.uom_id
     WHERE %(counts)s
),
count_event AS MATERIALIZED (
    -- a count is a moment: the adjustments of a component in a warehouse
    -- applied at one instant (several lots or shelves) are one count, two
    -- counts of a day with production between them are two
    SELECT MIN(id) AS id, company_id, warehouse_id, product_id, date,
           SUM(qty) AS qty, ARRAY_AGG(id) AS move_ids,
           MIN(product_uom_id) AS product_uom_id, MIN(categ_id) AS categ_id,
           MIN(factor) AS factor,
           LAG(date) OVER (
               PARTITION BY company_id, warehouse_id, product_id ORDER BY date
           ) AS previous_date
      FROM count_move
  GROUP BY company_id, warehouse_id, product_id, date
)""",
            warehouse=WAREHOUSE_SQL,
            counts=self._count_move_sql(last, products),
        )

    def _count_intervals(self, first, last, products):
        """(start, product ids) of the intervals of the counts from
        ``first`` to ``last`` (None: unbounded) of ``products`` (see
        :meth:`_count_move_sql`): the date of the earliest previous count
        and the components counted again; (None, []) when no count has an
        interval. The counts' moves are read as they are, not grouped into
        counts: of the adjustments applied at one instant, the first one
        reads the previous count, the others read that same instant and
        are left out."""
        for model_name, fnames in self._depends.items():
            self.env[model_name].flush_model(fnames)
        [[start, counted]] = self.env.execute_query(
            SQL(
                """
SELECT MIN(c.previous_date), ARRAY_AGG(DISTINCT c.product_id)
  FROM (
       SELECT sm.product_id, sm.date,
              LAG(sm.date) OVER (
                  PARTITION BY sm.company_id, %(warehouse)s, sm.product_id
                  ORDER BY sm.date
              ) AS previous_date
         FROM stock_move sm
         JOIN stock_location src ON src.id = sm.location_id
         JOIN stock_location dst ON dst.id = sm.location_dest_id
        WHERE %(counts)s
       ) c
 WHERE c.previous_date < c.date %(first)s""",
                warehouse=WAREHOUSE_SQL,
                counts=self._count_move_sql(last, products),
                first=SQL("AND c.date >= %s", first) if first else SQL(),
            )
        )
        return start, counted or []
