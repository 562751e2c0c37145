/** @odoo-module **/
/* Copyright 2026 mrp_backflush authors
 * License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl). */
import {registry} from "@web/core/registry";

registry.category("web_tour.tours").add("mrp_backflush_operator_mark_done", {
    steps: () => [
        {
            content: "The MO is ready to be produced",
            trigger: ".o_form_view .o_field_widget[name=name]:contains('BF/TOUR')",
        },
        {
            content: "Produce All",
            trigger: ".o_form_view button[name=button_mark_done]:visible",
            run: "click",
        },
        {
            content: "The MO is done",
            trigger:
                ".o_statusbar_status button[data-value=done].o_arrow_button_current",
        },
        {
            content: "Open the backflush runs",
            trigger: "button[name=action_view_backflush_runs]",
            run: "click",
        },
        {
            content: "The run of this production is listed",
            trigger: ".o_list_view .o_data_row td:contains('Order produced')",
        },
    ],
});

registry.category("web_tour.tours").add("mrp_backflush_operator_preview_produce", {
    steps: () => [
        {
            content: "The MO is ready to be produced",
            trigger: ".o_form_view .o_field_widget[name=name]:contains('BF/TOUR')",
        },
        {
            content: "Nothing posted yet: no Role column, empty on every line",
            trigger:
                ".o_field_widget[name=move_raw_ids] .o_data_row:contains('Tour Leg'):not(:has(td[name=backflush_role]))",
        },
        {
            content: "Open the backflush preview",
            trigger: ".o_form_view button[name=action_backflush_preview]",
            run: "click",
        },
        {
            content: "To Post counts the planned scrap: 20 legs + 5 % = 21",
            trigger:
                ".modal .o_data_row:contains('Tour Leg') td[name=to_post_qty]:contains('21.00')",
        },
        {
            content: "The unit is shown",
            trigger: ".modal .o_data_row:contains('Tour Leg') td[name=product_uom_id]",
        },
        {
            content: "Produce All from the preview",
            trigger: ".modal button[name=action_mark_done]:contains('Produce All')",
            run: "click",
        },
        {
            content: "The MO is done",
            trigger:
                ".o_statusbar_status button[data-value=done].o_arrow_button_current",
        },
        {
            content: "The Components tab tells the planned scrap line apart",
            trigger:
                ".o_field_widget[name=move_raw_ids] td[name=backflush_role]:contains('Planned scrap')",
        },
        {
            content: "Open the backflush runs",
            trigger: "button[name=action_view_backflush_runs]",
            run: "click",
        },
        {
            content: "Open the run",
            trigger: ".o_list_view .o_data_row td:contains('Order produced')",
            run: "click",
        },
        {
            content: "The run lists the component and its planned scrap",
            trigger: ".o_form_view .o_data_row td[name=role]:contains('Planned scrap')",
        },
    ],
});

registry.category("web_tour.tours").add("mrp_backflush_manager_policy", {
    steps: () => [
        {
            content: "Open the Backflush tab of the BOM",
            trigger: ".o_notebook .nav-link:contains('Backflush')",
            run: "click",
        },
        {
            content: "Opt in to deferring shortages",
            trigger: "div[name=backflush_shortage_policy] input[data-value=defer]",
            run: "click",
        },
        {
            content: "Save",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "Saved",
            trigger: ".o_form_saved",
        },
    ],
});

registry.category("web_tour.tours").add("mrp_backflush_manager_retry", {
    steps: () => [
        {
            content: "The exception is pending",
            trigger:
                ".o_statusbar_status button[data-value=pending].o_arrow_button_current",
        },
        {
            content: "Retry now that part of the stock arrived",
            trigger: ".o_form_view button[name=action_retry]",
            run: "click",
        },
        {
            content: "A notification says what was posted and what is still pending",
            trigger:
                ".o_notification:contains('15.00 Units posted'):contains('still pending')",
        },
        {
            content: "The form shows what was posted since",
            trigger: ".o_form_view .o_field_widget[name=posted_qty]:contains('15.00')",
        },
    ],
});

registry.category("web_tour.tours").add("mrp_backflush_manager_advice_apply", {
    steps: () => [
        {
            content: "Analyse the last done orders",
            trigger: ".modal button[name=action_compute]",
            run: "click",
        },
        {
            content: "The leg line is off the BOM",
            trigger: ".modal .o_data_row:contains('Tour Leg')",
        },
        {
            content: "Apply the suggestion",
            trigger:
                ".modal .o_data_row:contains('Tour Leg') button[name=action_apply]",
            run: "click",
        },
        {
            content: "A notification says what changed",
            trigger: ".o_notification:contains('Planned scrap 0.00 % → 10.00 %')",
        },
        {
            content: "Applied: no Apply button left on the line",
            trigger:
                ".modal .o_data_row:contains('Tour Leg'):not(:has(button[name=action_apply]))",
        },
    ],
});
