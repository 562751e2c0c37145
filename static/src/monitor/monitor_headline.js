/** @odoo-module **/
/* Copyright 2026 mrp_backflush authors
 * License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl). */
import {Component, onWillStart, onWillUpdateProps, useState} from "@odoo/owl";
import {ListRenderer} from "@web/views/list/list_renderer";
import {listView} from "@web/views/list/list_view";
import {registry} from "@web/core/registry";
import {useService} from "@web/core/utils/hooks";

/**
 * Headline figures above the Backflush Monitor: what is pending, its value
 * (stock managers), the oldest, the negative stock backflushes left and
 * the BOM lines the accuracy advice flags. Read again whenever the list
 * is (after a retry or a cancel), in one call.
 */
export class BackflushMonitorHeadline extends Component {
    static template = "mrp_backflush.MonitorHeadline";
    static props = {list: {type: Object, optional: true}};

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.state = useState({figures: null});
        onWillStart(() => this.load());
        // Each reload of the list (a search, a retry, a cancel) gives the
        // renderer a new root: read the figures again with it.
        onWillUpdateProps((next) => next.list !== this.props.list && this.load());
    }

    async load() {
        this.state.figures = await this.orm.call(
            "mrp.backflush.exception",
            "retrieve_monitor_figures",
            []
        );
    }

    /** Show the list with only these filters (by their names). */
    filter(names) {
        const searchModel = this.env.searchModel;
        const items = searchModel.getSearchItems((item) => names.includes(item.name));
        searchModel.query = [];
        for (const item of items) {
            searchModel.toggleSearchItem(item.id);
        }
    }

    showAll() {
        this.filter(["group_by_cause"]);
    }

    showOldest() {
        this.filter([`filter_age_${this.state.figures.oldest_bucket}`]);
    }

    async open(figure) {
        const action = await this.orm.call(
            "mrp.backflush.exception",
            "action_open_monitor_figure",
            [figure]
        );
        await this.action.doAction(action);
    }
}

export class BackflushMonitorRenderer extends ListRenderer {
    static template = "mrp_backflush.MonitorListRenderer";
    static components = {...ListRenderer.components, BackflushMonitorHeadline};
}

registry.category("views").add("mrp_backflush_monitor_list", {
    ...listView,
    Renderer: BackflushMonitorRenderer,
});
