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
            content: "Mark as Done (Produce All)",
            trigger: ".o_form_view button[name=button_mark_done]:visible",
            run: "click",
        },
        {
            content: "The MO is done",
            trigger: ".o_statusbar_status button[data-value=done].o_arrow_button_current",
        },
        {
            content: "Open the backflush runs",
            trigger: "button[name=action_view_backflush_runs]",
            run: "click",
        },
        {
            content: "The run of this Mark Done is listed",
            trigger: ".o_list_view .o_data_row td:contains('Mark Done')",
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
