# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import fields, models
from odoo.tools import SQL

COST_GROUP = "stock.group_stock_manager"


class MrpBackflushAnalysis(models.Model):
    """Backflush Analysis: one row per done MO x BOM line x product.

    Read-only SQL view. Quantities are in the product's unit of measure,
    values in the company currency. Every value column is the negated sum
    of the valuation layers of the stock moves it covers, so the analysis
    reconciles exactly with *Inventory > Reporting > Valuation*.

    Rows come from four sources, summed per (MO, BOM line, product):

    * the BOM standard, per component move of the MO (cancelled ones
      included, so a fully substituted component keeps its standard): the
      net quantity per unit the MO recorded from its own BOM explosion
      (``stock.move.backflush_unit_qty``), else the current BOM line (one
      level of phantom kit exploded; nested kits then have no standard),
      times the quantity produced;
    * the done stock moves of the MO: raw moves split by
      ``backflush_role`` (moves without a role are recorded by the
      operator: ``manual``), scrap moves of components and of the finished
      product (``actual_scrap``); scrap and extra moves without a BOM line
      are placed on the MO's BOM line of the same product;
    * corrections after Mark Done (``correction``): extra raw moves,
      returns of leftovers (negative) and the edits of done raw moves
      (their layers carry the role; they leave the edited move's row);
    * pending deferred shortages (``mrp.backflush.exception``);
    * quantities posted into negative stock (backflush run lines).

    The layer that adds deferred value to the finished goods is not a
    component row: it mirrors ``value_deferred``. The row id is the smallest
    stock move id of the row: every move belongs to exactly one row, and
    keeping ids out of a window function lets filters reach the tables.
    """

    _name = "mrp.backflush.analysis"
    _description = "Backflush Analysis"
    _auto = False
    _rec_name = "production_id"
    _order = "date desc, production_id desc, bom_line_id, product_id"
    # What the query reads: flushed before every search / read_group.
    _depends = {
        "mrp.production": [
            "state",
            "company_id",
            "bom_id",
            "product_id",
            "product_uom_id",
            "date_finished",
        ],
        "stock.move": [
            "production_id",
            "raw_material_production_id",
            "product_id",
            "product_uom",
            "quantity",
            "state",
            "scrapped",
            "bom_line_id",
            "backflush_role",
            "backflush_unit_qty",
            "origin_returned_move_id",
            "company_id",
        ],
        "stock.move.line": ["move_id", "quantity_product_uom", "state"],
        "stock.valuation.layer": [
            "stock_move_id",
            "value",
            "quantity",
            "backflush_role",
        ],
        "uom.uom": ["factor"],
        "product.product": ["product_tmpl_id", "standard_price"],
        "product.template": ["uom_id", "categ_id"],
        "mrp.bom": ["product_qty", "product_uom_id", "product_id", "product_tmpl_id"],
        "mrp.bom.line": [
            "bom_id",
            "product_id",
            "product_qty",
            "product_uom_id",
            "operation_id",
        ],
        "mrp.backflush.exception": [
            "production_id",
            "bom_line_id",
            "product_id",
            "move_id",
            "quantity",
            "product_uom_id",
            "state",
        ],
        "mrp.backflush.run": ["production_id"],
        "mrp.backflush.run.line": [
            "production_id",
            "bom_line_id",
            "product_id",
            "move_id",
            "shortage_qty",
            "product_uom_id",
            "shortage_action",
            "role",
            "replaced_qty",
            "replaced_product_id",
        ],
        "mrp.routing.workcenter": ["workcenter_id"],
        "res.company": ["currency_id"],
    }

    # Dimensions
    date = fields.Datetime(string="Date Done", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    production_id = fields.Many2one(
        "mrp.production", "Manufacturing Order", readonly=True
    )
    bom_id = fields.Many2one("mrp.bom", "Bill of Materials", readonly=True)
    bom_line_id = fields.Many2one("mrp.bom.line", "BOM Line", readonly=True)
    product_id = fields.Many2one("product.product", "Component", readonly=True)
    product_uom_id = fields.Many2one("uom.uom", "Unit", readonly=True)
    categ_id = fields.Many2one("product.category", "Component Category", readonly=True)
    finished_product_id = fields.Many2one("product.product", readonly=True)
    workcenter_id = fields.Many2one("mrp.workcenter", "Work Center", readonly=True)

    # Quantities (product unit of measure)
    standard_qty = fields.Float(
        "BOM Standard Qty",
        digits="Product Unit of Measure",
        readonly=True,
        help="Net quantity the BOM asks for the quantity produced, without "
        "planned scrap (BOM explosion of the MO, phantom kits included).",
    )
    qty_component = fields.Float(digits="Product Unit of Measure", readonly=True)
    qty_substitute = fields.Float(digits="Product Unit of Measure", readonly=True)
    qty_planned_scrap = fields.Float(digits="Product Unit of Measure", readonly=True)
    qty_actual_scrap = fields.Float(
        digits="Product Unit of Measure",
        readonly=True,
        help="Scrapped through the MO's Scrap button (components or finished units).",
    )
    qty_deferred = fields.Float(
        "Qty Deferred Posted",
        digits="Product Unit of Measure",
        readonly=True,
        help="Deferred shortages posted after the order was produced.",
    )
    qty_correction = fields.Float(
        "Qty Corrected",
        digits="Product Unit of Measure",
        readonly=True,
        help="Consumption corrected after Mark Done: more used (positive) "
        "or leftovers returned (negative).",
    )
    qty_manual = fields.Float(
        "Qty Recorded by Operator",
        digits="Product Unit of Measure",
        readonly=True,
        help="Raw moves the backflush did not post (manual consumption, "
        "components added by hand).",
    )
    qty_consumed = fields.Float(
        digits="Product Unit of Measure",
        readonly=True,
        help="Everything consumed into the MO: component, substitute, planned "
        "scrap, deferred, corrected and recorded by the operator (actual "
        "scrap excluded).",
    )
    qty_variance = fields.Float(
        digits="Product Unit of Measure",
        readonly=True,
        help="Qty Consumed - BOM Standard Qty. A deferred shortage still "
        "pending is owed, not saved: see Still Pending.",
    )
    replaced_qty = fields.Float(
        "Qty Replaced",
        digits="Product Unit of Measure",
        readonly=True,
        help="On substitute rows: the quantity of the BOM component the "
        "substitute stood in for (from the backflush run), in the "
        "component's unit.",
    )
    deferred_pending_qty = fields.Float(
        "Qty Deferred Pending",
        digits="Product Unit of Measure",
        readonly=True,
        help="Deferred shortages still waiting for stock.",
    )
    negative_qty = fields.Float(
        "Qty Posted Negative",
        digits="Product Unit of Measure",
        readonly=True,
        help="Part of the consumption posted into negative stock.",
    )

    # Values (company currency) - accountants only
    standard_cost = fields.Monetary(
        "BOM Standard Cost",
        readonly=True,
        groups=COST_GROUP,
        help="BOM Standard Qty x the component's current cost in the MO's company.",
    )
    value_component = fields.Monetary(readonly=True, groups=COST_GROUP)
    value_substitute = fields.Monetary(readonly=True, groups=COST_GROUP)
    value_planned_scrap = fields.Monetary(readonly=True, groups=COST_GROUP)
    value_actual_scrap = fields.Monetary(readonly=True, groups=COST_GROUP)
    value_deferred = fields.Monetary(
        "Value Deferred Posted", readonly=True, groups=COST_GROUP
    )
    value_correction = fields.Monetary(
        "Value Corrected", readonly=True, groups=COST_GROUP
    )
    value_manual = fields.Monetary(
        "Value Recorded by Operator", readonly=True, groups=COST_GROUP
    )
    value_consumed = fields.Monetary(
        readonly=True,
        groups=COST_GROUP,
        help="Value of Qty Consumed, from the valuation layers: what went "
        "into the finished goods.",
    )
    cost_variance = fields.Monetary(
        readonly=True,
        groups=COST_GROUP,
        help="Value Consumed - BOM Standard Cost. A deferred shortage still "
        "pending is owed, not saved: see Still Pending.",
    )
    substitution_variance = fields.Monetary(
        readonly=True,
        groups=COST_GROUP,
        help="Value of the substitute - Qty Replaced x the replaced "
        "component's current cost.",
    )

    @property
    def _table_query(self):
        return SQL(
            """
WITH mo AS NOT MATERIALIZED (
    SELECT mp.id, mp.company_id, mp.bom_id, mp.product_id, mp.product_uom_id,
           mp.date_finished
      FROM mrp_production mp
     WHERE mp.state = 'done'
       -- orders done before the module, or with nothing it posts, are no
       -- backflush: their empty rows would read as variances
       AND EXISTS (SELECT 1 FROM mrp_backflush_run r WHERE r.production_id = mp.id)
),
produced AS (
    SELECT mo.id AS production_id,
           SUM(fm.quantity / fu.factor * mu.factor) AS qty
      FROM mo
      JOIN stock_move fm ON fm.production_id = mo.id AND fm.product_id = mo.product_id
      JOIN uom_uom fu ON fu.id = fm.product_uom
      JOIN uom_uom mu ON mu.id = mo.product_uom_id
     WHERE fm.state = 'done' AND fm.scrapped IS NOT TRUE
  GROUP BY mo.id
),
mo_line AS (
    SELECT sm.raw_material_production_id AS production_id, sm.product_id,
           MIN(sm.bom_line_id) AS bom_line_id
      FROM stock_move sm
      JOIN mo ON mo.id = sm.raw_material_production_id
     WHERE sm.bom_line_id IS NOT NULL AND sm.scrapped IS NOT TRUE
  GROUP BY sm.raw_material_production_id, sm.product_id
),
standard AS (
    SELECT sm.raw_material_production_id AS production_id, sm.bom_line_id,
           sm.product_id, MIN(sm.id) AS move_id,
           MAX(sm.backflush_unit_qty / su.factor * pu.factor) AS unit_qty
      FROM stock_move sm
      JOIN mo ON mo.id = sm.raw_material_production_id
      JOIN uom_uom su ON su.id = sm.product_uom
      JOIN product_product p ON p.id = sm.product_id
      JOIN product_template pt ON pt.id = p.product_tmpl_id
      JOIN uom_uom pu ON pu.id = pt.uom_id
     WHERE sm.bom_line_id IS NOT NULL AND sm.scrapped IS NOT TRUE
       AND COALESCE(sm.backflush_role, 'component') = 'component'
  GROUP BY sm.raw_material_production_id, sm.bom_line_id, sm.product_id
),
done_move AS NOT MATERIALIZED (
    -- read by three parts of the source: inlined, so that a filter on the
    -- orders (the advice's last N MOs) reaches its scan
    SELECT sm.id AS move_id, sm.raw_material_production_id AS production_id,
           COALESCE(sm.bom_line_id, ml.bom_line_id) AS bom_line_id, sm.product_id,
           COALESCE(
               sm.backflush_role,
               CASE WHEN sm.scrapped THEN 'actual_scrap' ELSE 'manual' END
           ) AS kind,
           sm.company_id, 1 AS sign
      FROM stock_move sm
      JOIN mo ON mo.id = sm.raw_material_production_id
 LEFT JOIN mo_line ml ON sm.bom_line_id IS NULL
                     AND ml.production_id = sm.raw_material_production_id
                     AND ml.product_id = sm.product_id
     WHERE sm.state = 'done'
 UNION ALL
    SELECT sm.id, sm.production_id, NULL, sm.product_id,
           COALESCE(sm.backflush_role, 'actual_scrap'), sm.company_id, 1
      FROM stock_move sm
      JOIN mo ON mo.id = sm.production_id
     WHERE sm.state = 'done' AND sm.scrapped IS TRUE
       AND sm.raw_material_production_id IS NULL
 UNION ALL
    -- leftovers returned by a correction: linked to the move they return
    SELECT sm.id, om.raw_material_production_id, sm.bom_line_id, sm.product_id,
           'correction', sm.company_id, -1
      FROM stock_move sm
      JOIN stock_move om ON om.id = sm.origin_returned_move_id
      JOIN mo ON mo.id = om.raw_material_production_id
     WHERE sm.state = 'done' AND sm.backflush_role = 'correction'
       AND sm.raw_material_production_id IS NULL
),
source AS (
    SELECT s.production_id, s.bom_line_id, s.product_id, s.move_id,
           'standard' AS kind,
           COALESCE(pr.qty, 0.0) * COALESCE(
               NULLIF(s.unit_qty, 0.0),
               bu.factor / mu.factor / NULLIF(b.product_qty, 0.0)
                   * CASE WHEN bl.bom_id = mo.bom_id THEN 1.0 ELSE kit.factor END
                   * bl.product_qty * pu.factor / lu.factor,
               0.0
           ) AS qty,
           0.0 AS value, 0.0 AS replaced_qty, 0.0 AS replaced_cost
      FROM standard s
      JOIN mo ON mo.id = s.production_id
 LEFT JOIN produced pr ON pr.production_id = s.production_id
      JOIN uom_uom mu ON mu.id = mo.product_uom_id
      JOIN mrp_bom b ON b.id = mo.bom_id
      JOIN uom_uom bu ON bu.id = b.product_uom_id
      JOIN mrp_bom_line bl ON bl.id = s.bom_line_id
      JOIN uom_uom lu ON lu.id = bl.product_uom_id
      JOIN product_product p ON p.id = s.product_id
      JOIN product_template pt ON pt.id = p.product_tmpl_id
      JOIN uom_uom pu ON pu.id = pt.uom_id
 LEFT JOIN LATERAL (
           -- component of a phantom kit: kits per unit of the MO's BOM line
           -- (one level; nested kits have no standard unless the MO kept it)
           SELECT pl.product_qty / plu.factor * kbu.factor
                  / NULLIF(kb.product_qty, 0.0) AS factor
             FROM mrp_bom kb
             JOIN uom_uom kbu ON kbu.id = kb.product_uom_id
             JOIN mrp_bom_line pl ON pl.bom_id = mo.bom_id
             JOIN uom_uom plu ON plu.id = pl.product_uom_id
             JOIN product_product pp ON pp.id = pl.product_id
            WHERE kb.id = bl.bom_id AND bl.bom_id <> mo.bom_id
              AND (pl.product_id = kb.product_id
                   OR (kb.product_id IS NULL
                       AND pp.product_tmpl_id = kb.product_tmpl_id))
         ORDER BY pl.id
            LIMIT 1
           ) kit ON TRUE
 UNION ALL
    SELECT d.production_id, d.bom_line_id, d.product_id, d.move_id, d.kind,
           d.sign * COALESCE(mq.qty, 0.0) + COALESCE(mv.edited_qty, 0.0),
           -COALESCE(mv.value, 0.0),
           COALESCE(rep.qty, 0.0),
           COALESCE(rep.cost, 0.0)
      FROM done_move d
 LEFT JOIN LATERAL (
           SELECT SUM(sml.quantity_product_uom) AS qty
             FROM stock_move_line sml
            WHERE sml.move_id = d.move_id AND sml.state = 'done'
           ) mq ON TRUE
 LEFT JOIN LATERAL (
           -- a done move edited later: the edit is a correction row
           SELECT SUM(svl.value) FILTER (
                      WHERE svl.backflush_role IS DISTINCT FROM 'correction'
                         OR d.kind = 'correction') AS value,
                  SUM(svl.quantity) FILTER (
                      WHERE svl.backflush_role = 'correction'
                        AND d.kind <> 'correction') AS edited_qty
             FROM stock_valuation_layer svl
            WHERE svl.stock_move_id = d.move_id
           ) mv ON TRUE
 LEFT JOIN LATERAL (
           SELECT SUM(rl.replaced_qty) AS qty,
                  SUM(rl.replaced_qty * COALESCE(
                      (cp.standard_price ->> d.company_id::text)::numeric, 0.0)) AS cost
             FROM mrp_backflush_run_line rl
             JOIN product_product cp ON cp.id = rl.replaced_product_id
            WHERE d.kind = 'substitute' AND rl.move_id = d.move_id
              AND rl.role = 'substitute'
           ) rep ON TRUE
 UNION ALL
    SELECT d.production_id, d.bom_line_id, d.product_id, d.move_id, 'correction',
           -ev.edited_qty, -ev.edited_value, 0.0, 0.0
      FROM done_move d
      JOIN LATERAL (
           SELECT SUM(svl.quantity) AS edited_qty, SUM(svl.value) AS edited_value
             FROM stock_valuation_layer svl
            WHERE svl.stock_move_id = d.move_id
              AND svl.backflush_role = 'correction'
           ) ev ON ev.edited_qty IS NOT NULL
     WHERE d.kind <> 'correction'
 UNION ALL
    -- shortages, still pending or posted into negative stock, in the
    -- product's unit
    SELECT sh.production_id, sh.bom_line_id, sh.product_id, sh.move_id, sh.kind,
           sh.qty / su.factor * pu.factor, 0.0, 0.0, 0.0
      FROM (
           SELECT production_id, bom_line_id, product_id, move_id,
                  'pending' AS kind, quantity AS qty, product_uom_id
             FROM mrp_backflush_exception
            WHERE state = 'pending'
        UNION ALL
           SELECT production_id, bom_line_id, product_id, move_id,
                  'negative', shortage_qty, product_uom_id
             FROM mrp_backflush_run_line
            WHERE shortage_action = 'negative'
           ) sh
      JOIN mo ON mo.id = sh.production_id
      JOIN uom_uom su ON su.id = sh.product_uom_id
      JOIN product_product p ON p.id = sh.product_id
      JOIN product_template pt ON pt.id = p.product_tmpl_id
      JOIN uom_uom pu ON pu.id = pt.uom_id
),
grouped AS (
    SELECT production_id, bom_line_id, product_id,
           MIN(move_id) AS id,
           SUM(qty) FILTER (WHERE kind = 'standard') AS standard_qty,
           SUM(qty) FILTER (WHERE kind = 'component') AS qty_component,
           SUM(qty) FILTER (WHERE kind = 'substitute') AS qty_substitute,
           SUM(qty) FILTER (WHERE kind = 'planned_scrap') AS qty_planned_scrap,
           SUM(qty) FILTER (WHERE kind = 'actual_scrap') AS qty_actual_scrap,
           SUM(qty) FILTER (WHERE kind = 'deferred') AS qty_deferred,
           SUM(qty) FILTER (WHERE kind = 'correction') AS qty_correction,
           SUM(qty) FILTER (WHERE kind = 'manual') AS qty_manual,
           SUM(qty) FILTER (WHERE kind = 'pending') AS deferred_pending_qty,
           SUM(qty) FILTER (WHERE kind = 'negative') AS negative_qty,
           SUM(value) FILTER (WHERE kind = 'component') AS value_component,
           SUM(value) FILTER (WHERE kind = 'substitute') AS value_substitute,
           SUM(value) FILTER (WHERE kind = 'planned_scrap') AS value_planned_scrap,
           SUM(value) FILTER (WHERE kind = 'actual_scrap') AS value_actual_scrap,
           SUM(value) FILTER (WHERE kind = 'deferred') AS value_deferred,
           SUM(value) FILTER (WHERE kind = 'correction') AS value_correction,
           SUM(value) FILTER (WHERE kind = 'manual') AS value_manual,
           SUM(replaced_qty) AS replaced_qty,
           SUM(replaced_cost) AS replaced_cost
      FROM source
  GROUP BY production_id, bom_line_id, product_id
),
measured AS (
    SELECT g.*,
           COALESCE(g.qty_component, 0.0) + COALESCE(g.qty_substitute, 0.0)
           + COALESCE(g.qty_planned_scrap, 0.0) + COALESCE(g.qty_deferred, 0.0)
           + COALESCE(g.qty_correction, 0.0) + COALESCE(g.qty_manual, 0.0)
           AS qty_consumed,
           COALESCE(g.value_component, 0.0) + COALESCE(g.value_substitute, 0.0)
           + COALESCE(g.value_planned_scrap, 0.0) + COALESCE(g.value_deferred, 0.0)
           + COALESCE(g.value_correction, 0.0) + COALESCE(g.value_manual, 0.0)
           AS value_consumed,
           COALESCE(g.standard_qty, 0.0) * COALESCE(
               (p.standard_price ->> mo.company_id::text)::numeric, 0.0
           ) AS standard_cost
      FROM grouped g
      JOIN mo ON mo.id = g.production_id
      JOIN product_product p ON p.id = g.product_id
)
SELECT m.id,
       mo.date_finished AS date,
       mo.company_id,
       c.currency_id,
       m.production_id,
       mo.bom_id,
       m.bom_line_id,
       m.product_id,
       pt.uom_id AS product_uom_id,
       pt.categ_id,
       mo.product_id AS finished_product_id,
       op.workcenter_id,
       COALESCE(m.standard_qty, 0.0) AS standard_qty,
       COALESCE(m.qty_component, 0.0) AS qty_component,
       COALESCE(m.qty_substitute, 0.0) AS qty_substitute,
       COALESCE(m.qty_planned_scrap, 0.0) AS qty_planned_scrap,
       COALESCE(m.qty_actual_scrap, 0.0) AS qty_actual_scrap,
       COALESCE(m.qty_deferred, 0.0) AS qty_deferred,
       COALESCE(m.qty_correction, 0.0) AS qty_correction,
       COALESCE(m.qty_manual, 0.0) AS qty_manual,
       m.qty_consumed,
       m.qty_consumed - COALESCE(m.standard_qty, 0.0) AS qty_variance,
       COALESCE(m.replaced_qty, 0.0) AS replaced_qty,
       COALESCE(m.deferred_pending_qty, 0.0) AS deferred_pending_qty,
       COALESCE(m.negative_qty, 0.0) AS negative_qty,
       m.standard_cost,
       COALESCE(m.value_component, 0.0) AS value_component,
       COALESCE(m.value_substitute, 0.0) AS value_substitute,
       COALESCE(m.value_planned_scrap, 0.0) AS value_planned_scrap,
       COALESCE(m.value_actual_scrap, 0.0) AS value_actual_scrap,
       COALESCE(m.value_deferred, 0.0) AS value_deferred,
       COALESCE(m.value_correction, 0.0) AS value_correction,
       COALESCE(m.value_manual, 0.0) AS value_manual,
       m.value_consumed,
       m.value_consumed - m.standard_cost AS cost_variance,
       CASE WHEN COALESCE(m.qty_substitute, 0.0) <> 0.0
            THEN COALESCE(m.value_substitute, 0.0) - COALESCE(m.replaced_cost, 0.0)
            ELSE 0.0 END AS substitution_variance
  FROM measured m
  JOIN mo ON mo.id = m.production_id
  JOIN res_company c ON c.id = mo.company_id
  JOIN product_product p ON p.id = m.product_id
  JOIN product_template pt ON pt.id = p.product_tmpl_id
  LEFT JOIN mrp_bom_line bl ON bl.id = m.bom_line_id
  LEFT JOIN mrp_routing_workcenter op ON op.id = bl.operation_id
"""
        )
