/** @odoo-module **/
/* Copyright 2026 mrp_backflush authors
 * License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl). */
import {registry} from "@web/core/registry";

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
            content: "Remove the default filter",
            trigger: ".o_searchview_facet:contains('To Do') .o_facet_remove",
            run: "click",
        },
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
                ".o_list_view:not(:has(.o_data_row:not(:contains('BF/MASS/BIG')))) .o_data_row:contains('BF/MASS/BIG') td[name=name]",
            run: "click",
        },
        {
            content: "The order says why",
            trigger: ".o_form_view .alert-warning:contains('Not enough components')",
        },
    ],
});

registry.category("web_tour.tours").add("mrp_backflush_monitor_retry", {
    steps: () => [
        {
            content: "The headline counts the one pending posting, at cost",
            trigger:
                ".o_backflush_monitor_headline:has([name=value]) button[name=pending] .fs-3:contains('1')",
        },
        {
            content: "Open the No stock group",
            trigger: ".o_group_header:contains('No stock')",
            run: "click",
        },
        {
            content: "What fixes it wraps rather than being cut",
            trigger:
                ".o_data_row:contains('BF/MON/1') td.text-wrap[name=cause_help]:contains('then retry.')",
        },
        {
            content: "Select the legs of the order",
            trigger: ".o_data_row:contains('BF/MON/1') .o_list_record_selector input",
            run: "click",
        },
        {
            content: "Retry them: the legs have arrived",
            trigger: ".o_control_panel button[name=action_retry]",
            run: "click",
        },
        {
            content: "The list reloads and the headline reads nothing pending",
            trigger:
                ".o_backflush_monitor_headline button[name=pending] .fs-3:contains('0')",
        },
    ],
});

registry.category("web_tour.tours").add("mrp_backflush_monitor_cancel", {
    steps: () => [
        {
            content: "The headline counts the two pending postings",
            trigger:
                ".o_backflush_monitor_headline button[name=pending] .fs-3:contains('2')",
        },
        {
            content: "Open the No stock group",
            trigger: ".o_group_header:contains('No stock')",
            run: "click",
        },
        ...["BF/MON/C1", "BF/MON/C2"].map((name) => ({
            content: `Select the legs of ${name}`,
            trigger: `.o_data_row:contains('${name}') .o_list_record_selector input`,
            run: "click",
        })),
        {
            content: "Cancel them: the legs will not be consumed",
            trigger: ".o_control_panel button[name=action_cancel]",
            run: "click",
        },
        {
            content: "Say why",
            trigger: ".modal .o_field_widget[name=reason] textarea",
            run: "edit The orders were made with legs from the rework bench",
        },
        {
            content: "Confirm the cancellation",
            trigger: ".modal button[name=action_confirm]",
            run: "click",
        },
        {
            content: "The dialog closes and the headline reads nothing pending",
            trigger:
                "body:not(:has(.modal)) .o_backflush_monitor_headline button[name=pending] .fs-3:contains('0')",
        },
    ],
});
