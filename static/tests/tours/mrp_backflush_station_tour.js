/** @odoo-module **/
/* Copyright 2026 mrp_backflush authors
 * License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl). */
import {ConnectionLostError, rpc} from "@web/core/network/rpc";
import {registry} from "@web/core/registry";

/** Type the code in the scan field and press Enter, as a person or a wedge scanner into it. */
function typeCode(code) {
    return [
        {
            content: `Type ${code}`,
            trigger: ".o_bf_station_scan_input",
            run: `edit ${code}`,
        },
        {
            content: "Enter",
            trigger: ".o_bf_station_scan_input",
            run: "press Enter",
        },
    ];
}

/** A keyboard-wedge scanner with no field focused: keys go to Odoo's barcode service. */
function scanCode(content, code) {
    return {
        content,
        trigger: ".o_bf_station",
        run() {
            document.activeElement.blur();
            for (const key of [...code, "Enter"]) {
                document.body.dispatchEvent(
                    new KeyboardEvent("keydown", {key, bubbles: true, cancelable: true})
                );
            }
        },
    };
}

const waiting = {
    content: "Back to waiting for the next scan",
    trigger: ".o_bf_station_idle",
};

registry.category("web_tour.tours").add("mrp_backflush_station_done", {
    steps: () => [
        {
            content: "The operator finds the station in the Manufacturing menu",
            trigger: ".o_main_navbar .o_nav_entry:contains('Backflush Station')",
        },
        waiting,
        ...typeCode("BF/STATION/1"),
        {
            content: "The preview of the order is shown",
            trigger: ".o_bf_station_banner[data-tone=info]:contains('BF/STATION/1')",
        },
        {
            content: "20 legs will be posted from stock",
            trigger:
                ".o_bf_station_line.o_bf_tone_success:contains('Station Leg') .o_bf_station_line_qty:contains('20')",
        },
        {
            content: "The quantity produced is the order's",
            trigger: ".o_bf_station_qty:value(/^5$/)",
        },
        {
            content: "Done",
            trigger: ".o_bf_station_done",
            run: "click",
        },
        {
            content: "Posted, in green",
            trigger: ".o_bf_station_banner[data-tone=success]:contains('BF/STATION/1')",
        },
        waiting,
    ],
});

registry.category("web_tour.tours").add("mrp_backflush_station_defer", {
    steps: () => [
        ...typeCode("BF/STATION/2"),
        {
            content: "The short legs are deferred, in amber",
            trigger:
                ".o_bf_station_line.o_bf_tone_warning:contains('Station Leg') .o_bf_station_line_outcome .badge",
        },
        {
            content: "Done",
            trigger: ".o_bf_station_done",
            run: "click",
        },
        {
            content: "Done with the shortage deferred, in amber",
            trigger:
                ".o_bf_station_banner[data-tone=warning]:contains('BF/STATION/2'):contains('deferred')",
        },
        waiting,
    ],
});

registry.category("web_tour.tours").add("mrp_backflush_station_unknown", {
    steps: () => [
        ...typeCode("NO-SUCH-ORDER"),
        {
            content: "A clear red message names the barcode",
            trigger: ".o_bf_station_banner[data-tone=danger]:contains('NO-SUCH-ORDER')",
        },
        {
            content: "Still waiting: no order is open",
            trigger: ".o_bf_station_idle",
        },
        scanCode("The next scan is read", "BF/STATION/3"),
        {
            content: "The order is shown",
            trigger: ".o_bf_station_order_name:contains('BF/STATION/3')",
        },
        ...typeCode("NO-SUCH-ORDER"),
        {
            content: "An unknown barcode keeps the open order",
            trigger:
                ".o_bf_station_banner[data-tone=danger]:contains('NO-SUCH-ORDER') ~ section .o_bf_station_order_name:contains('BF/STATION/3')",
        },
        scanCode("Scan an order the BOM blocks", "BF/STATION/5"),
        {
            content: "The station says in red that it is blocked",
            trigger:
                ".o_bf_station_banner[data-tone=danger]:contains('BF/STATION/5'):contains('blocked')",
        },
        {
            content: "and which component is short",
            trigger: ".o_bf_station_line.o_bf_tone_danger:contains('Station Leg')",
        },
        {
            content: "Done anyway",
            trigger: ".o_bf_station_done",
            run: "click",
        },
        {
            content: "Refused in red, with the reason",
            trigger:
                ".o_bf_station_banner[data-tone=danger]:contains('refused'):contains('Station Leg')",
        },
        {
            content: "The order stays open to fix and retry",
            trigger: ".o_bf_station_order_name:contains('BF/STATION/5')",
        },
    ],
});

registry.category("web_tour.tours").add("mrp_backflush_station_gs1", {
    steps: () => {
        // GS1-128: (01) GTIN, (17) expiry in 400 days, (30) 20 units, FNC1
        // typed as '#', (10) lot
        const expiry = luxon.DateTime.now().plus({days: 400}).toFormat("yyMMdd");
        return [
            scanCode("Scan the order", "BF/STATION/4"),
            {
                content: "The powder line is lot-tracked",
                trigger:
                    ".o_bf_station_line:contains('Station Powder') .o_bf_station_add_lot",
            },
            scanCode("Scan the powder's plain barcode", "2000000077123"),
            {
                content: "A lot line opens for the powder",
                trigger:
                    ".o_bf_station_banner:contains('Scan or type the lot of Station Powder')",
            },
            {
                content: "Remove it: the label has the lot",
                trigger:
                    ".o_bf_station_lot_entry[data-product='Station Powder'] .o_bf_station_lot_remove",
                run: "click",
            },
            {
                content: "No lot line left",
                trigger: ".o_bf_station:not(:has(.o_bf_station_lot_entry))",
            },
            scanCode(
                "Scan the label of the powder's lot",
                `010200000007712317${expiry}3020#10PWD-A1`
            ),
            {
                content: "The lot is recorded for the powder",
                trigger: ".o_bf_station_banner[data-tone=success]:contains('PWD-A1')",
            },
            {
                content: "with its quantity",
                trigger:
                    ".o_bf_station_lot_entry[data-product='Station Powder'] .o_bf_station_lot_qty:value(/^20$/)",
            },
            {
                content: "and its expiry date",
                trigger:
                    ".o_bf_station_lot_entry[data-product='Station Powder']:contains('Expires')",
            },
            {
                content: "The lot field holds the lot",
                trigger:
                    ".o_bf_station_lot_entry[data-product='Station Powder'] .o_bf_station_lot_name:value(/^PWD-A1$/)",
            },
            {
                content: "Scan the label of the cake produced into its lot field",
                trigger: ".o_bf_station_finished_lot",
                run: "edit 010200000007713010CAKE-0001",
            },
            {
                content: "The scanner's Enter",
                trigger: ".o_bf_station_finished_lot",
                run: "press Enter",
            },
            {
                content: "The lot produced is filled in",
                trigger: ".o_bf_station_finished_lot:value(/^CAKE-0001$/)",
            },
            {
                content: "Done",
                trigger: ".o_bf_station_done",
                run: "click",
            },
            {
                content: "Posted",
                trigger:
                    ".o_bf_station_banner[data-tone=success]:contains('BF/STATION/4')",
            },
            waiting,
        ];
    },
});

registry.category("web_tour.tours").add("mrp_backflush_station_lost_answer", {
    steps: () => [
        ...typeCode("BF/STATION/6"),
        {
            content: "The network will lose the answer of the next report",
            trigger: ".o_bf_station_done",
            run() {
                const send = rpc._rpc;
                rpc._rpc = function (url, params, settings) {
                    const answer = send.call(this, url, params, settings);
                    if (params.method !== "backflush_report") {
                        return answer;
                    }
                    rpc._rpc = send;
                    return answer.then(() => {
                        throw new ConnectionLostError(url);
                    });
                };
            },
        },
        {
            content: "Done: posted, but the answer is lost",
            trigger: ".o_bf_station_done",
            run: "click",
        },
        {
            content: "The station says nothing was confirmed and keeps the order",
            trigger:
                ".o_bf_station_banner[data-tone=danger]:contains('No connection') ~ section .o_bf_station_order_name:contains('BF/STATION/6')",
        },
        {
            content: "Done again",
            trigger: ".o_bf_station_done",
            run: "click",
        },
        {
            content: "The first answer comes back: posted once",
            trigger: ".o_bf_station_banner[data-tone=success]:contains('BF/STATION/6')",
        },
        waiting,
    ],
});
