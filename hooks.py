# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo.tools.sql import column_exists, create_column

# Stored computed fields added to a big table: created empty here, so that
# installing on a live database does not compute them for every existing
# valuation layer or stock move (none of which was backflushed).
PRECREATED_COLUMNS = [
    ("stock_valuation_layer", "backflush_role", "varchar"),
    ("stock_valuation_layer", "backflush_production_id", "int4"),
    ("stock_valuation_layer", "backflush_bom_id", "int4"),
]


def pre_init_hook(env):
    for table, column, column_type in PRECREATED_COLUMNS:
        if not column_exists(env.cr, table, column):
            create_column(env.cr, table, column, column_type)
