/** @odoo-module **/
/* Copyright 2026 mrp_backflush authors
 * License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl). */
import {registry} from "@web/core/registry";

const LEG_ROW = ".o_data_row:contains('BF/MON/1'):contains('Monitor Tour Leg')";
const SEAT_ROW = ".o_data_row:contains('BF/MON/1'):contains('Monitor Tour Seat')";

registry.category("web_tour.tours").add("mrp_backflush_monitor", {
    steps: () => [
        {
            content: "The headline counts the pending postings",
            trigger:
                ".o_backflush_monitor_headline button[name=pending]:contains('Pending postings')",
        },
        {
            content: "A stock manager sees their value at cost",
            trigger:
                ".o_backflush_monitor_headline [name=value]:contains('Value at cost')",
        },
        {
            content: "The oldest pending posting and the BOM lines to review",
            trigger:
                ".o_backflush_monitor_headline button[name=oldest]:contains('Oldest pending')",
        },
        {
            content: "Pending postings are grouped by cause: open No stock",
            trigger: ".o_group_header:contains('No stock')",
            run: "click",
        },
        {
            content: "Select the legs of the order",
            trigger: `${LEG_ROW} .o_list_record_selector input`,
            run: "click",
        },
        {
            content: "and its seats",
            trigger: `${SEAT_ROW} .o_list_record_selector input`,
            run: "click",
        },
        {
            content: "Retry both",
            trigger: ".o_control_panel button[name=action_retry]",
            run: "click",
        },
        {
            content: "The legs that arrived are posted, the seats stay pending",
            trigger:
                ".o_notification:contains('Monitor Tour Leg: all posted'):contains('Still nothing in stock for Monitor Tour Seat')",
        },
        {
            content: "Close the notification",
            trigger:
                ".o_notification:contains('Monitor Tour Leg') .o_notification_close",
            run: "click",
        },
        {
            content: "Open No stock again",
            trigger: ".o_group_header:contains('No stock')",
            run: function () {
                const header = document.querySelector(".o_group_header.o_group_open");
                if (!header || !header.textContent.includes("No stock")) {
                    this.anchor.click();
                }
            },
        },
        {
            content: "Only the seats of the order are left: select them",
            trigger: `.o_list_view:not(:has(${LEG_ROW})) ${SEAT_ROW} .o_list_record_selector input`,
            run: "click",
        },
        {
            content: "Cancel them",
            trigger: ".o_control_panel button[name=action_cancel]",
            run: "click",
        },
        {
            content: "Say why",
            trigger: ".modal div[name=reason] textarea",
            run: "edit Seats bought by the customer",
        },
        {
            content: "Confirm",
            trigger: ".modal button[name=action_confirm]",
            run: "click",
        },
        {
            content: "The cancel is confirmed",
            trigger: ".o_notification:contains('cancelled')",
        },
        {
            content: "and the seats leave the monitor",
            trigger: `.o_list_view:not(:has(${SEAT_ROW}))`,
        },
    ],
});

registry.category("web_tour.tours").add("mrp_backflush_correction_return", {
    steps: () => [
        {
            content: "Correct the consumption of the done order",
            trigger: ".o_form_view button[name=action_backflush_correct]",
            run: "click",
        },
        {
            content: "The seats: 2 were not used",
            trigger: ".modal .o_data_row:contains('Tour Seat') td[name=qty_used]",
            run: "click",
        },
        {
            content: "Enter what was really used",
            trigger: ".modal .o_data_row.o_selected_row td[name=qty_used] input",
            run: "edit 8",
        },
        {
            content: "Post the correction",
            trigger: ".modal button[name=action_confirm]",
            run: "click",
        },
        {
            content: "Back on the order",
            trigger: "body:not(:has(.modal)) .o_form_view",
        },
        {
            content: "The Components tab shows the 2 seats returned",
            trigger:
                ".o_field_widget[name=move_raw_ids] .o_data_row:contains('Tour Seat') td[name=backflush_returned_qty]:contains('2.00')",
        },
    ],
});

registry.category("web_tour.tours").add("mrp_backflush_mass_done_queue", {
    steps: () => [
        ...["BF/MASS/OK/1", "BF/MASS/OK/2", "BF/MASS/BIG"].map((name) => ({
            content: `Select ${name}`,
            trigger: `.o_data_row:contains('${name}') .o_list_record_selector input`,
            run: "click",
        })),
        {
            content: "Open the actions",
            trigger: ".o_control_panel .o_cp_action_menus button:has(.fa-cog)",
            run: "click",
        },
        {
            content: "Mark as Done",
            trigger: ".o-dropdown--menu .o_menu_item:contains('Mark as Done')",
            run: "click",
        },
        {
            content: "They are marked done in the background",
            trigger: ".o_notification:contains('in the background')",
        },
    ],
});

registry.category("web_tour.tours").add("mrp_backflush_mass_done_failed", {
    steps: () => [
        {
            content: "Open the filters",
            trigger: ".o_searchview_dropdown_toggler",
            run: "click",
        },
        {
            content: "Filter the orders whose Mark Done failed",
            trigger: ".o_filter_menu .dropdown-item:contains('Mark Done failed')",
            run: "click",
        },
        {
            content: "Only the order that failed is listed",
            trigger:
                ".o_list_view:not(:has(.o_data_row:contains('BF/MASS/OK'))) .o_data_row:contains('BF/MASS/BIG')",
            run: "click",
        },
        {
            content: "The order says why",
            trigger: ".o_form_view .alert-warning:contains('Not enough components')",
        },
    ],
});
