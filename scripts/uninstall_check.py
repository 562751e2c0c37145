# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Uninstalling mrp_backflush leaves plain Odoo working (SPEC §4 Uninstall).

Run by scripts/odoo_suites in `odoo-bin shell` (the script reads ``env``),
twice on the suites' database, with UNINSTALL_PHASE set:

- ``use``: backflush an MO (planned scrap, so the module really posted),
  then uninstall the module;
- ``plain``: in a fresh registry without the module, Odoo's own server
  action *Mark as Done* is as mrp ships it, and Mark Done works on one MO
  (the form's button) and on several (the list's action).

Prints one line per check; exits non-zero on the first failure.
"""

import os
import sys
from pathlib import Path

from lxml import etree

from odoo import Command
from odoo.modules.module import get_module_path

env = globals()["env"]  # noqa: F821 - given by odoo-bin shell


def check(condition, message):
    print(("ok: " if condition else "FAILED: ") + message)
    if not condition:
        sys.exit(1)


def make_mo(suffix, qty=2):
    product = env["product.product"].create(
        {"name": f"Uninstall check {suffix}", "type": "consu", "is_storable": True}
    )
    component = env["product.product"].create(
        {"name": f"Uninstall part {suffix}", "type": "consu", "is_storable": True}
    )
    env["stock.quant"]._update_available_quantity(
        component, env.ref("stock.warehouse0").lot_stock_id, 100
    )
    line = {"product_id": component.id, "product_qty": 3}
    if "scrap_percent" in env["mrp.bom.line"]._fields:
        line["scrap_percent"] = 10
    bom = env["mrp.bom"].create(
        {
            "product_tmpl_id": product.product_tmpl_id.id,
            "consumption": "flexible",
            "bom_line_ids": [Command.create(line)],
        }
    )
    mo = env["mrp.production"].create(
        {"product_id": product.id, "bom_id": bom.id, "product_qty": qty}
    )
    mo.action_confirm()
    return mo, component


def odoo_mark_done_code():
    """The code of mrp's *Mark as Done* server action, as mrp ships it."""
    views = Path(get_module_path("mrp")) / "views" / "mrp_production_views.xml"
    record = etree.parse(str(views)).find(
        ".//record[@id='action_production_order_mark_done']"
    )
    return record.find("field[@name='code']").text


phase = os.environ["UNINSTALL_PHASE"]
if phase == "use":
    mo, component = make_mo("before")
    mo.button_mark_done()
    check(mo.state == "done", "Mark Done with the module")
    check(
        bool(mo.backflush_run_ids) and sum(mo.move_raw_ids.mapped("quantity")) > 6,
        "the module posted the component and its planned scrap",
    )
    env.cr.commit()
    env["ir.module.module"].search(
        [("name", "=", "mrp_backflush")]
    ).button_immediate_uninstall()
    print("ok: mrp_backflush uninstalled")
elif phase == "plain":
    module = env["ir.module.module"].search([("name", "=", "mrp_backflush")])
    check(module.state == "uninstalled", "mrp_backflush is uninstalled")
    check("backflush_role" not in env["stock.move"]._fields, "no backflush field left")
    action = env.ref("mrp.action_production_order_mark_done")
    check(
        action.code.strip() == odoo_mark_done_code().strip(),
        "Odoo's server action Mark as Done is as mrp ships it",
    )
    mo, component = make_mo("after")
    mo.button_mark_done()
    check(mo.state == "done", "Mark Done of one MO (the form's button)")
    check(
        sum(mo.move_raw_ids.mapped("quantity")) == 6,
        "Odoo consumed the BOM quantity",
    )
    mos = make_mo("list 1")[0] | make_mo("list 2")[0] | make_mo("list 3")[0]
    action.with_context(active_model="mrp.production", active_ids=mos.ids).run()
    check(set(mos.mapped("state")) == {"done"}, "Mark as Done from the list")
    env.cr.rollback()
else:
    sys.exit(f"unknown UNINSTALL_PHASE {phase!r}")
