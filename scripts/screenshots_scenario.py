# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Data behind scripts/screenshots, run once in `odoo-bin shell` on the demo
database: every screen of the backflush gets something worth reading.

Prints one JSON line (``SCENARIO {...}``) with the record ids to open.
"""

import json

from odoo import Command

env = env  # noqa: F821, PLW0127 - provided by odoo-bin shell
ref = env.ref
stock = ref("stock.warehouse0").lot_stock_id
Production = env["mrp.production"]
Quant = env["stock.quant"]


def set_stock(product, qty):
    quant = Quant.with_context(inventory_mode=True).create(
        {"product_id": product.id, "location_id": stock.id, "inventory_quantity": qty}
    )
    quant.action_apply_inventory()


def new_mo(product, bom, qty):
    mo = Production.create(
        {"product_id": product.id, "bom_id": bom.id, "product_qty": qty}
    )
    mo.action_confirm()
    return mo


chair = ref("mrp_backflush.product_chair")
chair_bom = ref("mrp_backflush.bom_chair")
bicycle = ref("mrp_backflush.product_bicycle")
bicycle_bom = ref("mrp_backflush.bom_bicycle")
wheel = ref("mrp_backflush.product_wheel")
mo_chair = ref("mrp_backflush.mo_chair")
mo_bicycle = ref("mrp_backflush.mo_bicycle")

# A stool whose components are all recorded by hand: nothing to backflush.
categ = ref("mrp_backflush.product_category_backflush")
stool, stool_seat = env["product.product"].create(
    [
        {"name": "Stool", "is_storable": True, "categ_id": categ.id},
        {
            "name": "Stool Seat",
            "is_storable": True,
            "categ_id": categ.id,
            "standard_price": 7.0,
        },
    ]
)
stool_bom = env["mrp.bom"].create(
    {
        "product_tmpl_id": stool.product_tmpl_id.id,
        "bom_line_ids": [
            Command.create(
                {
                    "product_id": stool_seat.id,
                    "product_qty": 1,
                    "backflush_mode": "manual",
                }
            )
        ],
    }
)
set_stock(stool_seat, 50)

# Produce the 100 chairs and the 50 bicycles (20 wheels deferred), then
# receive 15 wheels and retry: 15 of the 20 are posted, 5 stay pending.
mo_chair.with_context(skip_backorder=True).button_mark_done()
mo_bicycle.with_context(skip_backorder=True).button_mark_done()
set_stock(wheel, 15)
exception = mo_bicycle.backflush_exception_ids[:1]
exception.action_retry()

# Three orders of 10 chairs with 12 legs scrapped on each: the analysis
# shows actual scrap and the BOM accuracy advice suggests planned scrap.
leg = ref("mrp_backflush.product_chair_leg")
for _i in range(3):
    mo = new_mo(chair, chair_bom, 10)
    env["stock.scrap"].create(
        {
            "production_id": mo.id,
            "product_id": leg.id,
            "scrap_qty": 12,
            "location_id": mo.location_src_id.id,
        }
    ).action_validate()
    mo.with_context(skip_backorder=True).button_mark_done()

# The floor used 6 more legs and had 2 seat frames left on the 100 chairs:
# the Components tab shows the correction and the return.
correction = env["mrp.backflush.correction"].browse(
    mo_chair.action_backflush_correct()["res_id"]
)
seat_frame = ref("mrp_backflush.product_seat_frame")
for line in correction.line_ids:
    if line.product_id == leg:
        line.qty_used = line.consumed_qty + 6
    elif line.product_id == seat_frame:
        line.qty_used = line.consumed_qty - 2
correction.reason_tag_ids = ref("mrp_backflush.scrap_reason_tag_broken")
correction.action_confirm()

# Still to produce, previewed together: 100 chairs (planned scrap), 200 more
# chairs (legs short: the beech substitute fills in, the rest blocks), 50
# bicycles (no wheels left: deferred) and 10 stools (nothing to post).
mo_chair2 = new_mo(chair, chair_bom, 100)
mo_chair_big = new_mo(chair, chair_bom, 200)
mo_bicycle2 = new_mo(bicycle, bicycle_bom, 50)
mo_stool = new_mo(stool, stool_bom, 10)
# A scooter for the Backflush Station: lot-tracked, with a lot-tracked saddle
# whose GS1 label the operator scans; its wheels are short (deferred).
scooter, saddle = env["product.product"].create(
    [
        {
            "name": "Scooter",
            "is_storable": True,
            "tracking": "lot",
            "categ_id": categ.id,
        },
        {
            "name": "Scooter Saddle",
            "default_code": "SAD-01",
            "barcode": "2000000077123",
            "is_storable": True,
            "tracking": "lot",
            "categ_id": categ.id,
            "standard_price": 12.0,
        },
    ]
)
scooter_bom = env["mrp.bom"].create(
    {
        "product_tmpl_id": scooter.product_tmpl_id.id,
        "backflush_shortage_policy": "defer",
        "bom_line_ids": [
            Command.create({"product_id": saddle.id, "product_qty": 1}),
            Command.create({"product_id": wheel.id, "product_qty": 2}),
        ],
    }
)
saddle_lot = env["stock.lot"].create({"name": "SAD-2026-11", "product_id": saddle.id})
Quant.with_context(inventory_mode=True).create(
    {
        "product_id": saddle.id,
        "location_id": stock.id,
        "lot_id": saddle_lot.id,
        "inventory_quantity": 40,
    }
).action_apply_inventory()
mo_scooter = new_mo(scooter, scooter_bom, 12)
# 3 more wheels arrive: a retry from the exception form posts 3 of the 5.
set_stock(wheel, 3)

# A radio whose sensor is serial-tracked: none reserved when it is done, so
# the 4 sensors wait for their serial numbers (Record Serial Numbers).
radio, sensor = env["product.product"].create(
    [
        {"name": "Radio", "is_storable": True, "categ_id": categ.id},
        {
            "name": "Radio Sensor",
            "is_storable": True,
            "tracking": "serial",
            "categ_id": categ.id,
            "standard_price": 5.0,
        },
    ]
)
radio_bom = env["mrp.bom"].create(
    {
        "product_tmpl_id": radio.product_tmpl_id.id,
        "consumption": "flexible",
        "backflush_shortage_policy": "defer",
        "bom_line_ids": [Command.create({"product_id": sensor.id, "product_qty": 1})],
    }
)
mo_radio = new_mo(radio, radio_bom, 4)
for i in range(6):
    lot = env["stock.lot"].create({"name": f"SEN-{i + 1:04d}", "product_id": sensor.id})
    Quant.with_context(inventory_mode=True).create(
        {
            "product_id": sensor.id,
            "location_id": stock.id,
            "lot_id": lot.id,
            "inventory_quantity": 1,
        }
    ).action_apply_inventory()
mo_radio.with_context(skip_backorder=True).button_mark_done()

# Mass Mark Done as the manager: 4 footrests go to the background (above a
# threshold of 2); the big one lacks boards under "block" and fails, the
# others are done; the round's summary reaches the manager's inbox. Three
# more are left for the screenshot that queues them.
admin = ref("base.user_admin")
admin.notification_type = "inbox"  # the round's summary in Discuss, not by email
env.company.backflush_background_threshold = 2
footrest, board = env["product.product"].create(
    [
        {"name": "Footrest", "is_storable": True, "categ_id": categ.id},
        {
            "name": "Footrest Board",
            "is_storable": True,
            "categ_id": categ.id,
            "standard_price": 4.0,
        },
    ]
)
footrest_bom = env["mrp.bom"].create(
    {
        "product_tmpl_id": footrest.product_tmpl_id.id,
        "backflush_shortage_policy": "block",
        "bom_line_ids": [Command.create({"product_id": board.id, "product_qty": 2})],
    }
)
set_stock(board, 100)
mass = Production.browse()
for qty in (5, 5, 5, 200):
    mass |= new_mo(footrest, footrest_bom, qty)
mass.with_user(admin).with_context(
    active_model="mrp.production", active_ids=mass.ids
).button_mark_done()
env["mrp.backflush.queue"]._cron_backflush_mark_done()
for _i in range(6):
    new_mo(footrest, footrest_bom, 2)
mo_failed = mass.filtered(lambda p: p.state != "done")

# Supply locations: the work center's input location, and the backrest's
# own on the chair's BOM (the stock it already comes from).
workcenter = env["mrp.workcenter"].search([], limit=1)
workcenter.backflush_location_id = stock
ref("mrp_backflush.bom_chair_line_backrest").backflush_location_id = stock

# The operator (Marc Demo) is a manufacturing user.
demo = ref("base.user_demo")

print(
    "SCENARIO "
    + json.dumps(
        {
            "mo_chair": mo_chair.id,
            "mo_bicycle": mo_bicycle.id,
            "mo_chair2": mo_chair2.id,
            "mo_scooter_name": mo_scooter.name,
            "multi_ids": [mo_chair2.id, mo_chair_big.id, mo_bicycle2.id, mo_stool.id],
            "run_chair": mo_chair.backflush_run_ids.filtered(
                lambda r: r.trigger == "mark_done"
            )[:1].id,
            "run_retry": mo_bicycle.backflush_run_ids.filtered(
                lambda r: r.trigger == "retry"
            )[:1].id,
            "exception": exception.id,
            "run_correction": mo_chair.backflush_run_ids.filtered(
                lambda r: r.trigger == "correction"
            )[:1].id,
            "bom_chair": chair_bom.id,
            "leg_line": ref("mrp_backflush.bom_chair_line_leg").id,
            "serial_exception": mo_radio.backflush_exception_ids[:1].id,
            "mo_failed": mo_failed.id,
            "footrest_product": footrest.id,
            "workcenter": workcenter.id,
            "demo_login": demo.login,
        }
    )
)
env.cr.commit()
