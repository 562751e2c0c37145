# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models
from odoo.tools import SQL

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
    warehouse and per day: all adjustments of one day form one count.

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

    @property
    def _table_query(self):
        return SQL(
            """
WITH count_move AS (
    SELECT sm.id, sm.company_id, sm.product_id, sm.date,
           COALESCE(CASE WHEN src.usage = 'internal' THEN src.warehouse_id
                         ELSE dst.warehouse_id END, 0) AS warehouse_id,
           CASE WHEN src.usage = 'internal' THEN -1.0 ELSE 1.0 END
               * sm.quantity / mu.factor * pu.factor AS qty,
           COALESCE(sv.value, 0.0) AS value
      FROM stock_move sm
      JOIN stock_location src ON src.id = sm.location_id
      JOIN stock_location dst ON dst.id = sm.location_dest_id
      JOIN uom_uom mu ON mu.id = sm.product_uom
      JOIN product_product p ON p.id = sm.product_id
      JOIN product_template pt ON pt.id = p.product_tmpl_id
      JOIN uom_uom pu ON pu.id = pt.uom_id
 LEFT JOIN LATERAL (
           SELECT SUM(svl.value) AS value
             FROM stock_valuation_layer svl
            WHERE svl.stock_move_id = sm.id
           ) sv ON TRUE
     WHERE sm.state = 'done' AND sm.is_inventory IS TRUE
       AND ((src.usage = 'internal' AND dst.usage = 'inventory')
            OR (src.usage = 'inventory' AND dst.usage = 'internal'))
),
count_interval AS (
    SELECT e.*,
           LAG(e.date) OVER (
               PARTITION BY e.company_id, e.warehouse_id, e.product_id
               ORDER BY e.date
           ) AS previous_date
      FROM (
           SELECT MIN(id) AS id, company_id, warehouse_id, product_id,
                  MAX(date) AS date, SUM(qty) AS qty, SUM(value) AS value
             FROM count_move
         GROUP BY company_id, warehouse_id, product_id, date::date
           ) e
),
outflow_move AS (
    -- what left the internal locations of a warehouse, counts excluded;
    -- backflushed components given back (unbuild, corrections returning
    -- leftovers) count against the BOM line that consumed them
    SELECT sm.id, sm.company_id,
           COALESCE(CASE WHEN src.usage = 'internal' THEN src.warehouse_id
                         ELSE dst.warehouse_id END, 0) AS warehouse_id,
           sm.product_id, sm.date,
           CASE WHEN sm.bom_line_id IS NOT NULL
                     AND sm.backflush_role IN %(roles)s THEN 'backflush'
                WHEN sm.raw_material_production_id IS NOT NULL THEN 'production'
                WHEN sm.scrapped IS TRUE THEN 'scrap'
                ELSE 'other' END AS kind,
           CASE WHEN sm.backflush_role IN %(roles)s THEN sm.bom_line_id
                END AS bom_line_id,
           CASE WHEN src.usage = 'internal' THEN 1.0 ELSE -1.0 END
               * sm.quantity / mu.factor * pu.factor AS qty,
           CASE WHEN sm.backflush_role IN %(net_roles)s
                THEN CASE WHEN src.usage = 'internal' THEN 1.0 ELSE -1.0 END
                     * sm.quantity / mu.factor * pu.factor
                ELSE 0.0 END AS net_qty
      FROM stock_move sm
      JOIN stock_location src ON src.id = sm.location_id
      JOIN stock_location dst ON dst.id = sm.location_dest_id
      JOIN uom_uom mu ON mu.id = sm.product_uom
      JOIN product_product p ON p.id = sm.product_id
      JOIN product_template pt ON pt.id = p.product_tmpl_id
      JOIN uom_uom pu ON pu.id = pt.uom_id
     WHERE sm.state = 'done' AND sm.is_inventory IS NOT TRUE AND sm.quantity > 0
       AND ((src.usage = 'internal'
             AND (dst.usage <> 'internal'
                  OR dst.warehouse_id IS DISTINCT FROM src.warehouse_id))
            OR (dst.usage = 'internal' AND src.usage <> 'internal'
                AND sm.bom_line_id IS NOT NULL
                AND sm.backflush_role IN %(roles)s))
       AND sm.product_id IN (SELECT product_id FROM count_move)
),
timeline AS (
    SELECT company_id, warehouse_id, product_id, date, NULL::timestamp AS count_date,
           id, kind, bom_line_id, qty, net_qty
      FROM outflow_move
 UNION ALL
    SELECT company_id, warehouse_id, product_id, date, date,
           NULL, NULL, NULL, NULL, NULL
      FROM count_interval
),
placed AS (
    -- each outflow belongs to the first count at or after it: a running
    -- minimum from the latest row back (a count before a move of its
    -- very date), one sort instead of a range join
    SELECT t.*,
           MIN(t.count_date) OVER (
               PARTITION BY t.company_id, t.warehouse_id, t.product_id
               ORDER BY t.date DESC, t.count_date IS NULL
               ROWS UNBOUNDED PRECEDING
           ) AS next_count
      FROM timeline t
),
outflow AS (
    SELECT i.id AS event_id, o.kind, o.bom_line_id, o.id, o.qty, o.net_qty
      FROM (
           SELECT company_id, warehouse_id, product_id, next_count, kind,
                  bom_line_id, MIN(id) AS id, SUM(qty) AS qty,
                  SUM(net_qty) AS net_qty
             FROM placed
            WHERE id IS NOT NULL AND next_count IS NOT NULL
         GROUP BY company_id, warehouse_id, product_id, next_count, kind,
                  bom_line_id
           ) o
      JOIN count_interval i ON i.company_id = o.company_id
                           AND i.warehouse_id = o.warehouse_id
                           AND i.product_id = o.product_id
                           AND i.date = o.next_count
     WHERE i.previous_date IS NOT NULL
),
row_source AS (
    -- without outflow: the first count of a warehouse, or an interval
    -- nothing left in; the count's variance stays on that single row
    SELECT COALESCE(o.id, i.id) AS id, i.id AS event_id,
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
 LEFT JOIN outflow o ON o.event_id = i.id
)
SELECT r.id,
       i.date,
       i.previous_date,
       i.company_id,
       c.currency_id,
       NULLIF(i.warehouse_id, 0) AS warehouse_id,
       i.product_id,
       pt.uom_id AS product_uom_id,
       pt.categ_id,
       r.kind,
       r.bom_line_id,
       bl.bom_id,
       r.qty AS outflow_qty,
       r.net_qty,
       i.qty * r.ratio AS variance_qty,
       r.qty - i.qty * r.ratio AS counted_outflow_qty,
       i.value * r.ratio AS variance_value
  FROM row_source r
  JOIN count_interval i ON i.id = r.event_id
  JOIN res_company c ON c.id = i.company_id
  JOIN product_product p ON p.id = i.product_id
  JOIN product_template pt ON pt.id = p.product_tmpl_id
  LEFT JOIN mrp_bom_line bl ON bl.id = r.bom_line_id
""",
            roles=BACKFLUSH_OUTFLOW_ROLES,
            net_roles=BACKFLUSH_NET_ROLES,
        )
