# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Screenshots of the backflush screens in headless Chromium, driven over
the DevTools protocol (used by scripts/screenshots; needs websocket-client
and requests, both in Odoo's test requirements).

    python screenshots_cdp.py URL DB OUT_DIR SCENARIO_JSON
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import requests
import websocket

SIZES = [(1600, 1000), (1280, 800)]
# The station runs on a 10-inch tablet, portrait and landscape
STATION_SIZES = [(800, 1280), (1280, 800)]
PASSWORDS = {"admin": "admin", "demo": "demo"}


def shots(ids):
    """(name, login, url, steps): what each screenshot shows."""
    mo_url = "/odoo/action-mrp.mrp_production_action"
    bom_url = f"/odoo/action-mrp.mrp_bom_form_action/{ids['bom_chair']}"
    analysis = "/odoo/action-mrp_backflush.mrp_backflush_analysis_action"
    count_variance = "/odoo/action-mrp_backflush.mrp_backflush_count_variance_action"
    station = "/odoo/action-mrp_backflush.mrp_backflush_station_action"

    def scan(barcode):
        """What a keyboard-wedge scanner does, through Odoo's barcode service."""
        return (
            "odoo.__WOWL_DEBUG__.root.env.services.barcode.bus.trigger("
            f"'barcode_scanned', {{barcode: {json.dumps(barcode)}}});"
        )

    preview_multi = (
        "const env = odoo.__WOWL_DEBUG__.root.env;"
        "const action = await env.services.orm.call('mrp.production',"
        f"'action_backflush_preview', [{json.dumps(ids['multi_ids'])}]);"
        "await env.services.action.doAction(action);"
    )

    def click_text(selector, text):
        """Click the first ``selector`` element whose text has ``text``."""
        return (
            f"const el = [...document.querySelectorAll({json.dumps(selector)})]"
            f".find((e) => e.textContent.includes({json.dumps(text)}));"
            "el.click();"
        )

    def show_column(field, column):
        """Show an optional column of a one2many list (the choice is kept in
        the browser: the second size finds it shown already)."""
        lst = f".o_field_widget[name={field}]"
        return (
            f"if (!document.querySelector('{lst} th[data-name={column}]')) {{"
            f"document.querySelector('{lst} .o_optional_columns_dropdown button')"
            ".click();"
            "await new Promise((r) => setTimeout(r, 500));"
            f"document.querySelector('.o-dropdown--menu input[name={column}]')"
            ".click();"
            "await new Promise((r) => setTimeout(r, 500));"
            f"document.querySelector('{lst} .o_optional_columns_dropdown button')"
            ".click(); }"
        )

    # What a manager's selection of three orders and Mark as Done does
    # (Odoo's server action calls button_mark_done with the selection).
    mass_done = (
        "const env = odoo.__WOWL_DEBUG__.root.env;"
        "const ids = await env.services.orm.search('mrp.production', ["
        f"['product_id', '=', {ids.get('footrest_product', 0)}],"
        "['state', '=', 'confirmed'], ['backflush_queue_user_id', '=', false],"
        "['backflush_queue_error', '=', false]],"
        " {limit: 3});"
        "const action = await env.services.orm.call('mrp.production',"
        "'button_mark_done', [ids], {context: {active_model: 'mrp.production',"
        " active_ids: ids}});"
        "await env.services.action.doAction(action);"
    )
    return [
        (
            "01_preview_one_mo",
            "demo",
            f"{mo_url}/{ids['mo_chair2']}",
            [
                ("click", "button[name=action_backflush_preview]"),
                ("wait", ".modal .o_list_renderer .o_data_row"),
            ],
        ),
        (
            "02_preview_several_mos",
            "demo",
            mo_url,
            [
                ("wait", ".o_list_renderer"),
                ("js", preview_multi),
                ("wait", ".modal .o_list_renderer .o_data_row"),
            ],
        ),
        (
            "03_mo_done_components",
            "demo",
            f"{mo_url}/{ids['mo_chair']}",
            [("wait", ".o_field_widget[name=move_raw_ids] .o_data_row")],
        ),
        (
            "04_mo_done_chatter",
            "demo",
            f"{mo_url}/{ids['mo_bicycle']}",
            [("wait", ".o-mail-Message"), ("scroll", ".o-mail-Message")],
        ),
        (
            "05_run_mark_done",
            "admin",
            f"/odoo/action-mrp_backflush.mrp_backflush_run_action/{ids['run_chair']}",
            [("wait", ".o_form_view .o_data_row")],
        ),
        (
            "06_run_retry",
            "admin",
            f"/odoo/action-mrp_backflush.mrp_backflush_run_action/{ids['run_retry']}",
            [("wait", ".o_form_view .o_data_row")],
        ),
        (
            "07_exception_form",
            "admin",
            "/odoo/action-mrp_backflush.mrp_backflush_exception_action/"
            f"{ids['exception']}",
            [("wait", ".o_form_view .o_field_widget[name=product_id]")],
        ),
        (
            "08_exception_retry_notification",
            "admin",
            "/odoo/action-mrp_backflush.mrp_backflush_exception_action/"
            f"{ids['exception']}",
            [
                ("click", ".o_form_view button[name=action_retry]"),
                ("wait", ".o_notification"),
            ],
        ),
        ("09_analysis_pivot", "admin", analysis, [("wait", ".o_pivot")]),
        (
            "10_analysis_graph",
            "admin",
            f"{analysis}?view_type=graph",
            [("wait", ".o_graph_renderer canvas")],
        ),
        (
            "11_analysis_list",
            "admin",
            f"{analysis}?view_type=list",
            [("wait", ".o_list_renderer")],
        ),
        (
            "12_settings",
            "admin",
            "/odoo/settings#mrp",
            [("wait", "#backflush_mode"), ("scroll", "#backflush_mode")],
        ),
        (
            "13_bom_components",
            "admin",
            bom_url,
            [("wait", ".o_field_widget[name=bom_line_ids] .o_data_row")],
        ),
        (
            "14_bom_backflush_tab",
            "admin",
            bom_url,
            [
                ("click", ".o_notebook .nav-link[name=backflush]"),
                ("wait", ".o_field_widget[name=backflush_substitution]"),
            ],
        ),
        (
            "15_substitutes_operator",
            "demo",
            bom_url,
            [
                ("click", ".o_data_row button[name=action_open_substitutes]"),
                ("wait", ".modal .o_field_widget[name=substitute_ids]"),
            ],
        ),
        (
            "16_advice",
            "admin",
            "/odoo/action-mrp_backflush.mrp_bom_backflush_advice_action",
            [
                ("click", ".modal button[name=action_compute]"),
                ("wait", ".modal .o_data_row, .modal .alert-success"),
            ],
        ),
        (
            "16b_advice_counts",
            "admin",
            "/odoo/action-mrp_backflush.mrp_bom_backflush_advice_action",
            [
                (
                    "click",
                    ".modal .o_field_widget[name=basis] input[data-value=counts]",
                ),
                ("wait", ".modal .o_field_widget[name=date_from]"),
                ("click", ".modal button[name=action_compute]"),
                ("wait", ".modal .o_data_row, .modal .alert-success"),
            ],
        ),
        (
            "16c_advice_row",
            "admin",
            "/odoo/action-mrp_backflush.mrp_bom_backflush_advice_action",
            [
                ("click", ".modal button[name=action_compute]"),
                ("click", ".modal .o_data_row td[name=product_id]"),
                ("wait", ".modal .o_field_widget[name=suggestion_type]"),
            ],
        ),
        (
            "18_mo_pending_components",
            "demo",
            f"{mo_url}/{ids['mo_bicycle']}",
            [("wait", ".o_field_widget[name=move_raw_ids] .o_data_row")],
        ),
        (
            "19_run_correction",
            "admin",
            "/odoo/action-mrp_backflush.mrp_backflush_run_action/"
            f"{ids['run_correction']}",
            [("wait", ".o_form_view .o_data_row")],
        ),
        (
            "20_correction_dialog",
            "admin",
            f"{mo_url}/{ids['mo_chair']}",
            [
                ("click", "button[name=action_backflush_correct]"),
                ("wait", ".modal .o_field_widget[name=reason_tag_ids]"),
            ],
        ),
        (
            "21_count_variance_list",
            "admin",
            f"{count_variance}?view_type=list",
            [("wait", ".o_list_renderer")],
        ),
        (
            "22_count_variance_graph",
            "admin",
            f"{count_variance}?view_type=graph",
            [("wait", ".o_graph_renderer canvas")],
        ),
        (
            "23_station",
            "demo",
            station,
            [
                ("wait", ".o_bf_station_scan_input"),
                ("js", scan(ids["mo_scooter_name"])),
                ("wait", ".o_bf_station_line"),
                # the saddle's GS1-128 label: GTIN, expiry, 12 units, FNC1, lot
                ("js", scan("0102000000077123172806303012#10SAD-2027-01")),
                ("wait", ".o_bf_station_lot_entry"),
            ],
        ),
        (
            "24_monitor",
            "admin",
            "/odoo/action-mrp_backflush.mrp_backflush_exception_action_monitor",
            [("wait", ".o_backflush_monitor_headline"), ("wait", ".o_list_renderer")],
        ),
        (
            "24b_monitor_open",
            "admin",
            "/odoo/action-mrp_backflush.mrp_backflush_exception_action_monitor",
            [
                ("wait", ".o_backflush_monitor_headline"),
                ("wait", ".o_list_renderer .o_group_header"),
                (
                    "js",
                    "for (const h of document.querySelectorAll('.o_group_header'))"
                    " { h.click(); await new Promise((r) => setTimeout(r, 700)); }",
                ),
                ("wait", ".o_list_renderer .o_data_row"),
            ],
        ),
        (
            "25_mass_done_queued",
            "admin",
            mo_url,
            [
                ("wait", ".o_list_renderer .o_data_row"),
                ("js", mass_done),
                ("wait", ".o_notification"),
            ],
        ),
        (
            "26_mass_done_failed_filter",
            "admin",
            mo_url,
            [
                ("wait", ".o_list_renderer .o_data_row"),
                ("click", ".o_searchview_facet .o_facet_remove"),
                ("click", ".o_searchview_dropdown_toggler"),
                ("wait", ".o_filter_menu"),
                ("js", click_text(".o_filter_menu .dropdown-item", "Mark Done failed")),
                ("click", ".o_searchview_dropdown_toggler"),
                ("wait", ".o_list_renderer .o_data_row"),
            ],
        ),
        (
            "27_mass_done_failed_order",
            "admin",
            f"{mo_url}/{ids.get('mo_failed')}",
            [("wait", ".o_form_view .alert-warning"), ("wait", ".o-mail-Activity")],
        ),
        (
            "28_mass_done_inbox",
            "admin",
            "/odoo/discuss?active_id=mail.box_inbox",
            [("wait", ".o-mail-Message")],
        ),
        (
            "29_record_serials",
            "admin",
            "/odoo/action-mrp_backflush.mrp_backflush_exception_action/"
            f"{ids.get('serial_exception')}",
            [
                ("click", ".o_form_view button[name=action_record_serials]"),
                ("wait", ".modal .o_field_widget[name=lot_ids]"),
            ],
        ),
        (
            "30_bom_supply_from",
            "admin",
            bom_url,
            [
                ("wait", ".o_field_widget[name=bom_line_ids] .o_data_row"),
                ("js", show_column("bom_line_ids", "backflush_location_id")),
                (
                    "wait",
                    ".o_field_widget[name=bom_line_ids] "
                    "th[data-name=backflush_location_id]",
                ),
            ],
        ),
        (
            "31_workcenter_supply",
            "admin",
            f"/odoo/action-mrp.mrp_workcenter_action/{ids.get('workcenter')}",
            [("wait", ".o_field_widget[name=backflush_location_id]")],
        ),
        (
            "32_correction_reasons",
            "admin",
            f"{mo_url}/{ids['mo_chair']}",
            [
                ("click", "button[name=action_backflush_correct]"),
                ("wait", ".modal .o_field_widget[name=reason_tag_ids] input"),
                ("click", ".modal .o_field_widget[name=reason_tag_ids] input"),
                ("wait", ".o-autocomplete--dropdown-menu"),
            ],
        ),
        (
            "17_valuation_by_role",
            "admin",
            "/odoo/action-stock_account.stock_valuation_layer_action",
            [
                ("wait", ".o_list_renderer"),
                ("click", ".o_searchview_dropdown_toggler"),
                ("wait", ".o_group_by_menu"),
                ("js", click_text(".o_group_by_menu .dropdown-item", "Backflush Role")),
                ("wait", ".o_group_header"),
                ("click", ".o_searchview_dropdown_toggler"),
            ],
        ),
        # last: applying changes the chair's BOM the other screens show
        (
            "33_advice_apply_notification",
            "admin",
            "/odoo/action-mrp_backflush.mrp_bom_backflush_advice_action",
            [
                ("click", ".modal button[name=action_compute]"),
                ("click", ".modal .o_data_row button[name=action_apply]"),
                ("wait", ".o_notification"),
            ],
        ),
    ]


class Browser:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="bf-shots-")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        exe = next(
            e
            for e in ("chromium", "chromium-browser", "google-chrome")
            if shutil.which(e)
        )
        self.proc = subprocess.Popen(
            [
                exe,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                f"--remote-debugging-port={self.port}",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        page = None
        for _ in range(100):
            try:
                targets = requests.get(
                    f"http://127.0.0.1:{self.port}/json/list", timeout=2
                ).json()
                page = next(t for t in targets if t["type"] == "page")
                break
            except (requests.RequestException, StopIteration):
                time.sleep(0.2)
        if not page:
            raise SystemExit("Chromium did not start its DevTools endpoint.")
        self.ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        self.next_id = 0
        self.send("Page.enable")
        self.send("Network.enable")

    def send(self, method, **params):
        self.next_id += 1
        self.ws.send(
            json.dumps({"id": self.next_id, "method": method, "params": params})
        )
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def evaluate(self, expression, await_promise=False):
        res = self.send(
            "Runtime.evaluate",
            expression=expression,
            awaitPromise=await_promise,
            returnByValue=True,
        )
        if res.get("exceptionDetails"):
            raise RuntimeError(f"{expression[:80]}: {res['exceptionDetails']}")
        return res.get("result", {}).get("value")

    def wait(self, selector, timeout=30):
        check = (
            f"!!document.querySelector({json.dumps(selector)}) && "
            "!document.querySelector('.o_loading_indicator, .o_blockUI')"
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.evaluate(check):
                time.sleep(0.8)  # let the last renders and animations settle
                return
            time.sleep(0.25)
        raise RuntimeError(f"timeout waiting for {selector}")

    def close(self):
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)


def login(base_url, db, user):
    resp = requests.post(
        f"{base_url}/web/session/authenticate",
        json={
            "jsonrpc": "2.0",
            "params": {"db": db, "login": user, "password": PASSWORDS[user]},
        },
        timeout=60,
    )
    resp.raise_for_status()
    if resp.json().get("error"):
        raise SystemExit(f"Cannot log in as {user}: {resp.json()['error']}")
    return resp.cookies["session_id"]


def main():
    base_url, db, out_dir, ids_json = sys.argv[1:5]
    only = sys.argv[5:]
    ids = json.loads(ids_json)
    os.makedirs(out_dir, exist_ok=True)
    sessions = {}
    browser = Browser()
    host = base_url.split("//", 1)[1].split(":", 1)[0]
    failures = []
    try:
        for name, user, url, steps in shots(ids):
            if only and not any(o in name for o in only):
                continue
            if user not in sessions:
                sessions[user] = login(base_url, db, user)
            browser.send("Network.clearBrowserCookies")
            browser.send(
                "Network.setCookie",
                name="session_id",
                value=sessions[user],
                domain=host,
                path="/",
            )
            # a notification after a change: the change is made once
            sizes = SIZES[:1] if name.endswith("_notification") else SIZES
            if "station" in name:
                sizes = STATION_SIZES
            for width, height in sizes:
                path = os.path.join(out_dir, f"{name}_{width}x{height}.png")
                try:
                    browser.send(
                        "Emulation.setDeviceMetricsOverride",
                        width=width,
                        height=height,
                        deviceScaleFactor=1,
                        mobile=False,
                    )
                    browser.send("Page.navigate", url="about:blank")
                    browser.send("Page.navigate", url=base_url + url)
                    # the first page compiles the assets: give it time
                    browser.wait(".o_action_manager", timeout=180)
                    for kind, arg in steps:
                        if kind == "wait":
                            browser.wait(arg)
                        elif kind == "click":
                            browser.wait(arg)
                            browser.evaluate(
                                f"document.querySelector({json.dumps(arg)}).click()"
                            )
                        elif kind == "scroll":
                            browser.evaluate(
                                f"document.querySelector({json.dumps(arg)})"
                                ".scrollIntoView({block: 'center'})"
                            )
                        elif kind == "js":
                            browser.evaluate(
                                f"(async () => {{ {arg} }})()", await_promise=True
                            )
                    png = browser.send("Page.captureScreenshot", format="png")
                    with open(path, "wb") as f:
                        f.write(base64.b64decode(png["data"]))
                    print(path)
                except RuntimeError as error:
                    failures.append(f"{name} {width}x{height}: {error}")
                    print(f"FAILED {name} {width}x{height}: {error}", file=sys.stderr)
    finally:
        browser.close()
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
