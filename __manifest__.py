# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
{
    "name": "MRP Backflush",
    "summary": "Post component consumption from the BOM at Mark Done, "
    "with shortage, substitute and scrap policies, audit and valuation",
    "version": "18.0.1.1.0",
    "category": "Manufacturing/Manufacturing",
    "website": "https://github.com/mrp-backflush/mrp_backflush",
    "author": "mrp_backflush authors",
    "license": "LGPL-3",
    "depends": ["mrp_account", "barcodes_gs1_nomenclature"],
    "data": [
        "security/mrp_backflush_security.xml",
        "security/ir.model.access.csv",
        "data/ir_cron.xml",
        "data/stock_scrap_reason_tag_data.xml",
        "views/mrp_backflush_run_views.xml",
        "views/mrp_backflush_exception_views.xml",
        "views/mrp_bom_views.xml",
        "views/mrp_production_views.xml",
        "views/stock_valuation_layer_views.xml",
        "views/res_config_settings_views.xml",
        "views/stock_location_views.xml",
        "wizards/mrp_backflush_preview_views.xml",
        "wizards/mrp_backflush_correction_views.xml",
        "views/mrp_backflush_analysis_views.xml",
        "views/mrp_backflush_count_variance_views.xml",
        "wizards/mrp_bom_backflush_advice_views.xml",
        "views/mrp_backflush_station_views.xml",
        "views/menus.xml",
    ],
    "demo": ["demo/mrp_backflush_demo.xml"],
    "pre_init_hook": "pre_init_hook",
    "assets": {
        "web.assets_backend": [
            "mrp_backflush/static/src/station/*.js",
            "mrp_backflush/static/src/station/*.xml",
            "mrp_backflush/static/src/station/*.scss",
        ],
        "web.assets_tests": ["mrp_backflush/static/tests/tours/*.js"],
    },
}
