# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""What the screens show of a backflushed order (issue 27): the Components
tab (Odoo's order, pending, returned), runs, valuation roles, correction reasons,
exception cancellation."""

from lxml import etree

from odoo import Command
from odoo.tests import Form, new_test_user, tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestScreens(BackflushCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.chair = cls._product("Screen Chair", 0.0)
        cls.leg = cls._product("Screen Leg", 2.0)
        cls.oak = cls._product("Screen Oak Leg", 3.0)
        cls.seat = cls._product("Screen Seat", 10.0)
        cls.bom = cls._bom(
            cls.chair,
            [(cls.seat, 1), (cls.leg, 4, {"scrap_percent": 10})],
            backflush_substitution="priority",
        )
        cls.leg_line = cls.bom.bom_line_ids.filtered(
            lambda ln: ln.product_id == cls.leg
        )
        cls.leg_line.substitute_ids = [Command.create({"product_id": cls.oak.id})]
        cls._stock(cls.seat, 100)
        cls.manager = new_test_user(
            cls.env,
            "bf_screen_manager",
            groups="mrp.group_mrp_manager,stock.group_stock_manager",
        )

    def _components_tab(self, mo):
        """The order's raw moves as the form's Components tab lists them."""
        arch = etree.fromstring(
            mo.get_views([(False, "form")])["views"]["form"]["arch"]
        )
        order = arch.xpath("//field[@name='move_raw_ids']/list")[0].get("default_order")
        return self.env["stock.move"].search(
            [("raw_material_production_id", "=", mo.id)], order=f"{order}, id"
        )

    def _correct(self, mo, used):
        action = mo.with_user(self.manager).action_backflush_correct()
        wizard = (
            self.env["mrp.backflush.correction"]
            .with_user(self.manager)
            .browse(action["res_id"])
        )
        for line in wizard.line_ids:
            if line.product_id in used:
                line.qty_used = used[line.product_id]
        wizard.action_confirm()

    def test_components_tab_keeps_odoo_s_order(self):
        """Odoo's own flows (and its tests) read the components in the order
        its form creates them: the module leaves that order alone."""
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 1)
        tab = self._components_tab(mo)
        odoo_order = self.env["stock.move"].search(
            [("raw_material_production_id", "=", mo.id)],
            order="is_done, manual_consumption desc, sequence, id",
        )
        self.assertEqual(tab, odoo_order)
        self.assertEqual(mo.move_raw_ids.product_id, self.seat | self.leg)

    def test_components_tab_groups_a_component_s_lines(self):
        """On a done order, the tab lists the lines of one component
        together, the component first (display only: the moves keep the
        order Odoo created them in)."""
        self._stock(self.leg, 100)
        bom = self._bom(
            self.chair, [(self.leg, 4, {"scrap_percent": 10}), (self.seat, 1)]
        )
        mo = self._mo(bom, 10)
        mo.button_mark_done()
        self._correct(mo, {self.leg: 50})
        self.assertEqual(
            mo.move_raw_ids.mapped(lambda m: (m.product_id, m.backflush_role))[1],
            (self.seat, "component"),
        )
        spec = {
            "move_raw_ids": {
                "fields": {"product_id": {}, "backflush_role": {}},
                "order": "is_done, manual_consumption desc, sequence",
            }
        }
        lines = mo.web_read(spec)[0]["move_raw_ids"]
        self.assertEqual(
            [(line["product_id"], line["backflush_role"]) for line in lines],
            [
                (self.leg.id, "component"),
                (self.leg.id, "planned_scrap"),
                (self.leg.id, "correction"),
                (self.seat.id, "component"),
            ],
        )

    def test_deferred_shortage_shows_pending_on_the_component(self):
        self.bom.backflush_shortage_policy = "defer"
        self.bom.backflush_substitution = "none"
        self._stock(self.leg, 30)
        mo = self._mo(self.bom, 10)
        mo.button_mark_done()
        leg = self._raw(mo, self.leg)
        self.assertEqual(leg.backflush_pending_qty, 14)
        self.assertFalse(self._raw(mo, self.seat).backflush_pending_qty)
        self._stock(self.leg, 10)
        mo.backflush_exception_ids.action_retry()
        leg.invalidate_recordset(["backflush_pending_qty"])
        self.assertEqual(leg.backflush_pending_qty, 4)

    def test_returned_leftovers_show_on_the_component(self):
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 10)
        mo.button_mark_done()
        seat = self._raw(mo, self.seat)
        self.assertFalse(seat.backflush_returned_qty)
        self._correct(mo, {self.seat: 8})
        seat.invalidate_recordset(["backflush_returned_qty"])
        self.assertEqual(seat.backflush_returned_qty, 2)
        # the return is no raw move of the order: the tab lists the seat once
        self.assertEqual(
            self._components_tab(mo).filtered(lambda m: m.product_id == self.seat), seat
        )

    def test_run_names_say_the_order_and_what_posted(self):
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 10)
        mo.button_mark_done()
        self._correct(mo, {self.seat: 8})
        runs = mo.backflush_run_ids.sorted("id")
        self.assertEqual(
            runs.mapped("name"),
            [
                f"{mo.name} · Order produced #1",
                f"{mo.name} · Consumption corrected #2",
            ],
        )

    def test_finished_goods_have_a_valuation_role(self):
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 2)
        mo.button_mark_done()
        finished = mo.move_finished_ids.stock_valuation_layer_ids
        self.assertEqual(finished.mapped("backflush_role"), ["finished"])
        self.assertEqual(finished.backflush_production_id, mo)
        # an order the backflush posted nothing for stays Odoo's
        self.bom.backflush_mode = "manual"
        manual = self._mo(self.bom, 1)
        for move in manual.move_raw_ids:
            move.quantity = move.product_uom_qty
            move.picked = True
        manual.button_mark_done()
        self.assertFalse(manual.backflush_run_ids)
        layers = manual.move_finished_ids.stock_valuation_layer_ids
        self.assertEqual(layers.mapped("backflush_role"), [False])

    def test_valuation_by_role_names_the_other_layers(self):
        """Grouped by role, the layers the backflush did not make (receipts,
        adjustments, orders done without it) read "Not backflushed", not
        "None"; their role stays empty, and the group and a filter on that
        value open on them."""
        self._stock(self.leg, 100)
        self._mo(self.bom, 2).button_mark_done()
        Layer = self.env["stock.valuation.layer"]
        groups = {
            group["backflush_role"]: group
            for group in Layer.read_group([], ["quantity"], ["backflush_role"])
        }
        self.assertNotIn(False, groups)
        self.assertIn("finished", groups)
        other = groups["none"]
        self.assertEqual(
            dict(Layer._fields["backflush_role"].selection)["none"], "Not backflushed"
        )
        self.assertEqual(
            Layer.search_count(other["__domain"]), other["backflush_role_count"]
        )
        # a filter on the value finds the group, as the role is never stored
        for domain in (
            [("backflush_role", "=", False)],
            [("backflush_role", "=", "none")],
            [("backflush_role", "in", ["none"])],
        ):
            self.assertEqual(Layer.search_count(domain), other["backflush_role_count"])
        self.assertEqual(
            Layer.search_count([("backflush_role", "in", ["none", "finished"])]),
            other["backflush_role_count"] + groups["finished"]["backflush_role_count"],
        )
        self.assertEqual(
            Layer.search_count([("backflush_role", "!=", "none")]),
            Layer.search_count([("backflush_role", "!=", False)]),
        )
        # the pivot groups without laziness
        rows = Layer.read_group(
            [], ["quantity"], ["backflush_role", "product_id"], lazy=False
        )
        self.assertNotIn(False, {row["backflush_role"] for row in rows})

    def test_correction_reasons_can_be_created(self):
        self.assertTrue(self.env.ref("mrp_backflush.scrap_reason_tag_broken"))
        arch = self.env.ref("mrp_backflush.mrp_backflush_correction_view_form").arch
        tags = etree.fromstring(arch).xpath("//field[@name='reason_tag_ids']")[0]
        self.assertNotIn("'no_create': True", tags.get("options"))
        tag_id, _name = (
            self.env["stock.scrap.reason.tag"]
            .with_user(self.manager)
            .name_create("Legs dropped by the forklift")
        )
        self.assertTrue(tag_id)

    def test_cancelling_an_exception_says_so(self):
        self.bom.backflush_shortage_policy = "defer"
        self.bom.backflush_substitution = "none"
        mo = self._mo(self.bom, 10)
        mo.button_mark_done()
        exc = mo.backflush_exception_ids
        wizard = Form(
            self.env["mrp.backflush.exception.cancel"]
            .with_user(self.manager)
            .with_context(**exc.with_user(self.manager).action_cancel()["context"])
        )
        wizard.reason = "legs written off"
        action = wizard.save().action_confirm()
        self.assertEqual(exc.state, "cancel")
        self.assertEqual(action["tag"], "display_notification")
        self.assertIn(exc.name, action["params"]["message"])
        self.assertEqual(
            action["params"]["next"], {"type": "ir.actions.act_window_close"}
        )

    def test_preview_shows_the_work_order_column_only_when_used(self):
        """An empty Work Order column took the room of the product names
        ("Chair Leg (…" at 1280 and 1600)."""
        self._stock(self.leg, 100)
        mo = self._mo(self.bom, 2)
        preview = self.env["mrp.backflush.preview"].browse(
            mo.action_backflush_preview()["res_id"]
        )
        self.assertFalse(preview.has_workorder)
        arch = etree.fromstring(
            self.env.ref("mrp_backflush.mrp_backflush_preview_view_form").arch
        )
        column = arch.xpath(
            "//field[@name='line_ids']/list/field[@name='workorder_id']"
        )
        self.assertEqual(column[0].get("column_invisible"), "not parent.has_workorder")

    def _list_columns(self, xmlid, field=None):
        """The columns of a list view (or of the list of ``field`` in a
        form), by field name, as the client receives them."""
        view = self.env.ref(xmlid)
        model = self.env[view.model]
        arch = etree.fromstring(
            model.get_views([(view.id, view.type)])["views"][view.type]["arch"]
        )
        path = f"//field[@name='{field}']/list/field" if field else "/list/field"
        return {node.get("name"): node for node in arch.xpath(path)}

    def test_monitor_columns_fit_at_1280(self):
        """At 1280 px the monitor cut "Manufacturing Order" and "What Fixes
        It": every row is pending (no State column), the quantity's history
        is optional, the order is an MO as in the analysis."""
        columns = self._list_columns(
            "mrp_backflush.mrp_backflush_exception_view_list_monitor"
        )
        self.assertEqual(columns["production_id"].get("string"), "MO")
        # the text of What Fixes It takes what the order, the product and
        # the cause leave (its whole text is on the form)
        self.assertEqual(columns["production_id"].get("width"), "110px")
        self.assertEqual(columns["product_id"].get("width"), "130px")
        self.assertEqual(columns["cause"].get("width"), "150px")
        self.assertIn("'show_time': false", columns["date"].get("options"))
        self.assertFalse(columns["date"].get("widget"))
        self.assertEqual(columns["date"].get("width"), "100px")
        self.assertFalse(columns["cause_help"].get("width"))
        self.assertEqual(columns["initial_qty"].get("optional"), "hide")
        self.assertEqual(columns["posted_qty"].get("optional"), "hide")
        self.assertEqual(columns["state"].get("column_invisible"), "True")
        self.assertFalse(columns["cause_help"].get("column_invisible"))
        # the list of Backflush Exceptions keeps them
        plain = self._list_columns("mrp_backflush.mrp_backflush_exception_view_list")
        self.assertEqual(plain["initial_qty"].get("optional"), "show")
        self.assertFalse(plain["state"].get("column_invisible"))

    def test_monitor_what_fixes_it_wraps(self):
        """At 1280 px "What Fixes It" was cut to "Receive or move the
        component into the l…": the operator reads the whole sentence, on
        two lines if need be."""
        for xmlid in (
            "mrp_backflush.mrp_backflush_exception_view_list_monitor",
            "mrp_backflush.mrp_backflush_exception_view_list",
        ):
            columns = self._list_columns(xmlid)
            self.assertIn("text-wrap", columns["cause_help"].get("class") or "")

    def test_advice_evidence_fits_its_column(self):
        """The automatic basis' Evidence column read "Recorded …"."""
        columns = self._list_columns(
            "mrp_backflush.mrp_bom_backflush_advice_view_form", "line_ids"
        )
        self.assertEqual(columns["basis"].get("width"), "110px")
        field = self.env["mrp.bom.backflush.advice.line"]._fields["basis"]
        self.assertEqual(field.string, "Evidence")
        self.assertEqual(
            dict(field.selection), {"consumption": "Consumption", "counts": "Counts"}
        )

    def test_components_tab_shows_roles_once_posted(self):
        """Before anything is posted the Role column was empty on every line
        and took the room of the quantities."""
        arch = etree.fromstring(
            self.env["mrp.production"].get_views([(False, "form")])["views"]["form"][
                "arch"
            ]
        )
        role = arch.xpath(
            "//field[@name='move_raw_ids']/list/field[@name='backflush_role']"
        )[0]
        self.assertEqual(role.get("column_invisible"), "not parent.backflush_run_count")

    def test_count_variance_component_keeps_its_room(self):
        """At 1280 px the component read "[FURN_8855] D…" beside the
        company: the company is an optional column, hidden."""
        columns = self._list_columns(
            "mrp_backflush.mrp_backflush_count_variance_view_list"
        )
        self.assertEqual(columns["company_id"].get("optional"), "hide")

    def test_advice_keeps_room_for_the_change(self):
        """In the 1140 px dialog, the change a manager applies was cut to
        "Planned s…": names and change have fixed widths, the explanation
        (whole in the row's form) takes what is left."""
        columns = self._list_columns(
            "mrp_backflush.mrp_bom_backflush_advice_view_form", "line_ids"
        )
        self.assertEqual(columns["change"].get("width"), "230px")
        self.assertEqual(columns["product_id"].get("width"), "140px")
        self.assertEqual(columns["bom_id"].get("width"), "140px")
        self.assertEqual(columns["production_count"].get("optional"), "hide")
        self.assertFalse(columns["explanation"].get("width"))

    def test_count_variance_pivot_per_component(self):
        """A year of 1,000 components opened as 12,000 month cells (over a
        second of formatting, 24 columns of measures at 1280 px): one row
        per component over the Count Date filter's period, months a click
        away."""
        arch = etree.fromstring(
            self.env["mrp.backflush.count.variance"].get_views([(False, "pivot")])[
                "views"
            ]["pivot"]["arch"]
        )
        self.assertEqual(
            [
                (f.get("name"), f.get("type"))
                for f in arch.xpath("//field[@type!='measure']")
            ],
            [("product_id", "row")],
        )

    def test_count_variance_dates_show_the_moment(self):
        """Two counts of one day read "12/03/2026" twice: the list shows
        the count's time (without seconds), in a column it fits."""
        columns = self._list_columns(
            "mrp_backflush.mrp_backflush_count_variance_view_list"
        )
        for name in ("date", "previous_date"):
            self.assertFalse(columns[name].get("widget"))
            self.assertEqual(columns[name].get("options"), "{'show_seconds': false}")
            self.assertEqual(columns[name].get("width"), "130px")
        self.assertEqual(columns["bom_id"].get("string"), "BOM")

    def test_advice_row_dialog_has_a_title(self):
        """A row of the advice opened as "Open: Suggestions"."""
        arch = etree.fromstring(
            self.env.ref("mrp_backflush.mrp_bom_backflush_advice_view_form").arch
        )
        field = arch.xpath("//field[@name='line_ids']")[0]
        self.assertEqual(field.get("string"), "BOM Accuracy Suggestion")

    def test_advice_without_suggestion_gives_the_change_s_room_away(self):
        """On the counts basis every row may be weak evidence: an empty
        Change column of 230 px cut each explanation to "Weak evid…"."""
        advice = self.env["mrp.bom.backflush.advice"].create({})
        advice.line_ids = [Command.create({"bom_line_id": self.leg_line.id})]
        self.assertFalse(advice.has_suggestion)
        advice.line_ids = [
            Command.create(
                {"bom_line_id": self.leg_line.id, "suggestion_type": "scrap"}
            )
        ]
        self.assertTrue(advice.has_suggestion)
        columns = self._list_columns(
            "mrp_backflush.mrp_bom_backflush_advice_view_form", "line_ids"
        )
        self.assertEqual(
            columns["change"].get("column_invisible"), "not parent.has_suggestion"
        )

    def test_mass_done_failure_banner_reads_title_then_reason(self):
        """The reason of a failed background Mark Done runs over several
        lines: inline, the title sat under it, beside its last line."""
        arch = etree.fromstring(
            self.env["mrp.production"].get_views([(False, "form")])["views"]["form"][
                "arch"
            ]
        )
        banner = arch.xpath(
            "//div[hasclass('alert-warning')][.//field[@name='backflush_queue_error']]"
        )[0]
        title, reason = banner.xpath("./*")[:2]
        self.assertEqual(title.text, "Mark Done in the background failed")
        self.assertEqual(reason.get("name"), "backflush_queue_error")
        self.assertNotIn("oe_inline", reason.get("class") or "")

    def test_record_serials_says_what_to_enter(self):
        """The wizard's Serial Numbers field was an empty line."""
        arch = etree.fromstring(
            self.env.ref("mrp_backflush.mrp_backflush_exception_serials_view_form").arch
        )
        lots = arch.xpath("//field[@name='lot_ids']")[0]
        self.assertEqual(
            lots.get("placeholder"), "Scan or type the serial numbers used"
        )
