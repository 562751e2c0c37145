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
        before ``first``; only the moves of those intervals are read: the
        start of the earliest one is read first, so that the scan of the
        moves is bounded by constants the planner sees (a bound computed in
        the query would be estimated as a few rows, and planned as such).
        An outflow belongs to the first count at or after it: the sorted
        count dates of its component and warehouse, searched by
        ``width_bucket`` (a hash join and a binary search rather than a
        range join), summed as the moves are scanned."""
        products = (
            SQL("AND sm.product_id IN %s", tuple(product_ids) or (0,))
            if product_ids is not None
            else SQL()
        )
        counts = self._count_event_sql(last, products)
        outflow_first = SQL()
        if first:
            start = self._count_interval_start(counts, first)
            outflow_first = (
                SQL("AND sm.date > %s", start) if start else SQL("AND FALSE")
            )
        return SQL(
            """
WITH %(counts)s,
count_key AS MATERIALIZED (
    -- per component and warehouse counted more than once: its count dates
    -- and the factor of its unit
    SELECT e.company_id, e.warehouse_id, e.product_id,
           ARRAY_AGG(e.date ORDER BY e.date) AS dates, MIN(pu.factor) AS factor
      FROM count_event e
      JOIN product_product p ON p.id = e.product_id
      JOIN product_template pt ON pt.id = p.product_tmpl_id
      JOIN uom_uom pu ON pu.id = pt.uom_id
  GROUP BY e.company_id, e.warehouse_id, e.product_id
    HAVING COUNT(*) > 1 %(key_first)s
),
count_interval AS MATERIALIZED (
    SELECT e.id, e.company_id, c.currency_id, e.warehouse_id, e.product_id,
           pt.uom_id AS product_uom_id, pt.categ_id, e.date, e.previous_date,
           e.qty, COALESCE(sv.value, 0.0) AS value
      FROM count_event e
      JOIN res_company c ON c.id = e.company_id
      JOIN product_product p ON p.id = e.product_id
      JOIN product_template pt ON pt.id = p.product_tmpl_id
 LEFT JOIN LATERAL (
           SELECT SUM(svl.value) AS value
             FROM stock_valuation_layer svl
            WHERE svl.stock_move_id = ANY(e.move_ids)
           ) sv ON TRUE
     WHERE TRUE %(interval_first)s
),
outflow_move AS MATERIALIZED (
    -- what left the internal locations of a warehouse in the period,
    -- counts excluded; backflushed components given back (unbuild,
    -- corrections returning leftovers) count against the BOM line that
    -- consumed them. Quantities in the move's reference unit. Read on its
    -- own: the locations and units are joined by hash (the planner cannot
    -- know how many moves the counted components have, and would look
    -- them up once per move)
    SELECT sm.id, sm.company_id, sm.product_id, sm.date,
           COALESCE(CASE WHEN src.usage = 'internal' THEN src.warehouse_id
                         ELSE dst.warehouse_id END, 0) AS warehouse_id,
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
       %(outflow_first)s %(outflow_last)s %(products)s
),
outflow AS (
    -- the moves summed per count that closes their interval, in the
    -- component's unit (count_key's factor)
    SELECT m.company_id, k.warehouse_id, m.product_id,
           k.dates[WIDTH_BUCKET(m.date - INTERVAL '1 microsecond', k.dates) + 1]
               AS date,
           m.kind, m.bom_line_id,
           MIN(m.id) AS id,
           SUM(m.qty) * MIN(k.factor) AS qty,
           COALESCE(SUM(m.qty) FILTER (WHERE m.net), 0.0) * MIN(k.factor)
               AS net_qty
      FROM outflow_move m
      JOIN count_key k
        ON k.company_id = m.company_id
       AND k.product_id = m.product_id
       AND k.warehouse_id = m.warehouse_id
     WHERE m.date > k.dates[1]
  GROUP BY 1, 2, 3, 4, 5, 6
),
row_source AS (
    -- without outflow: the first count of a warehouse, or an interval
    -- nothing left in; the count's variance stays on that single row. All
    -- the count's columns are here: the rows are not joined back to the
    -- counts (a filter on them would make that join a loop over this)
    SELECT COALESCE(o.id, i.id) AS id, i.date, i.previous_date, i.company_id,
           i.currency_id, i.warehouse_id, i.product_id, i.product_uom_id,
           i.categ_id, i.qty AS count_qty, i.value AS count_value,
           COALESCE(o.kind, CASE WHEN i.previous_date IS NULL THEN 'first'
                                 ELSE 'unexplained' END) AS kind,
           o.bom_line_id,
           COALESCE(o.qty, 0.0) AS qty,
           COALESCE(o.net_qty, 0.0) AS net_qty,
           CASE WHEN o.id IS NULL THEN 1.0
                WHEN SUM(o.qty) OVER (PARTITION BY i.id) > 0.0
                THEN o.qty / SUM(o.qty) OVER (PARTITION BY i.id)
                ELSE 0.0 END AS ratio
      FROM count_interval i
 LEFT JOIN outflow o ON i.previous_date IS NOT NULL
                    AND o.company_id = i.company_id
                    AND o.warehouse_id = i.warehouse_id
                    AND o.product_id = i.product_id
                    AND o.date = i.date
)
SELECT r.id,
       r.date,
       r.previous_date,
       r.company_id,
       r.currency_id,
       NULLIF(r.warehouse_id, 0) AS warehouse_id,
       r.product_id,
       r.product_uom_id,
       r.categ_id,
       r.kind,
       r.bom_line_id,
       bl.bom_id,
       r.qty AS outflow_qty,
       r.net_qty,
       r.count_qty * r.ratio AS variance_qty,
       r.qty - r.count_qty * r.ratio AS counted_outflow_qty,
       r.count_value * r.ratio AS variance_value
  FROM row_source r
  LEFT JOIN mrp_bom_line bl ON bl.id = r.bom_line_id
""",
            counts=counts,
            roles=BACKFLUSH_OUTFLOW_ROLES,
            net_roles=BACKFLUSH_NET_ROLES,
            products=products,
            key_first=SQL("AND MAX(e.date) >= %s", first) if first else SQL(),
            interval_first=SQL("AND e.date >= %s", first) if first else SQL(),
            outflow_first=outflow_first,
            outflow_last=SQL("AND sm.date <= %s", last) if last else SQL(),
        )

    def _count_event_sql(self, last, products):
        """The CTEs ``count_move`` and ``count_event``: the counts up to
        ``last`` (None: all) of the components ``products`` (an SQL
        condition on ``sm``)."""
        return SQL(
            """
count_move AS (
    SELECT sm.id, sm.company_id, sm.product_id, sm.date,
           COALESCE(CASE WHEN src.usage = 'internal' THEN src.warehouse_id
                         ELSE dst.warehouse_id END, 0) AS warehouse_id,
           CASE WHEN src.usage = 'internal' THEN -1.0 ELSE 1.0 END
               * sm.quantity / mu.factor * pu.factor AS qty
      FROM stock_move sm
      JOIN stock_location src ON src.id = sm.location_id
      JOIN stock_location dst ON dst.id = sm.location_dest_id
      JOIN uom_uom mu ON mu.id = sm.product_uom
      JOIN product_product p ON p.id = sm.product_id
      JOIN product_template pt ON pt.id = p.product_tmpl_id
      JOIN uom_uom pu ON pu.id = pt.uom_id
     WHERE sm.state = 'done' AND sm.is_inventory IS TRUE
       AND ((src.usage = 'internal' AND dst.usage = 'inventory')
            OR (src.usage = 'inventory' AND dst.usage = 'internal'))
       %(count_last)s %(products)s
),
count_event AS MATERIALIZED (
    -- a count is a moment: the adjustments of a component in a warehouse
    -- applied at one instant (several lots or shelves) are one count, two
    -- counts of a day with production between them are two
    SELECT MIN(id) AS id, company_id, warehouse_id, product_id, date,
           SUM(qty) AS qty, ARRAY_AGG(id) AS move_ids,
           LAG(date) OVER (
               PARTITION BY company_id, warehouse_id, product_id ORDER BY date
           ) AS previous_date
      FROM count_move
  GROUP BY company_id, warehouse_id, product_id, date
)""",
            count_last=SQL("AND sm.date <= %s", last) if last else SQL(),
            products=products,
        )

    def _count_interval_start(self, counts, first):
        """Date of the previous count of the earliest count from ``first``
        on, None when no count from then on has a previous one: the moves
        before it belong to no interval. ``counts``: the CTEs of
        :meth:`_count_event_sql`."""
        for model_name, fnames in self._depends.items():
            self.env[model_name].flush_model(fnames)
        [[start]] = self.env.execute_query(
            SQL(
                "WITH %s SELECT MIN(previous_date) FROM count_event WHERE date >= %s",
                counts,
                first,
            )
        )
        return start
