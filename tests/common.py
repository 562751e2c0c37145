# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import Command
from odoo.tests import Form, TransactionCase, new_test_user


class BackflushCase(TransactionCase):
    """Products, stock, BOMs and MOs built the way a user would."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True))
        cls.company = cls.env.company
        cls.warehouse = cls.env["stock.warehouse"].search(
            [("company_id", "=", cls.company.id)], limit=1
        )
        cls.stock_location = cls.warehouse.lot_stock_id
        cls.uom_unit = cls.env.ref("uom.product_uom_unit")
        cls.uom_dozen = cls.env.ref("uom.product_uom_dozen")
        cls.uom_kgm = cls.env.ref("uom.product_uom_kgm")
        cls.uom_gram = cls.env.ref("uom.product_uom_gram")
        cls.categ_fifo = cls.env["product.category"].create(
            {
                "name": "Backflush FIFO",
                "property_cost_method": "fifo",
                "property_valuation": "manual_periodic",
            }
        )
        cls.categ_avco = cls.env["product.category"].create(
            {
                "name": "Backflush AVCO",
                "property_cost_method": "average",
                "property_valuation": "manual_periodic",
            }
        )

    @classmethod
    def _product(cls, name, cost=1.0, categ=None, uom=None, **vals):
        """``uom``: the product's unit, for purchase too."""
        if uom:
            vals = dict(vals, uom_id=uom.id, uom_po_id=uom.id)
        return cls.env["product.product"].create(
            dict(
                {
                    "name": name,
                    "type": "consu",
                    "is_storable": True,
                    "standard_price": cost,
                    "categ_id": (categ or cls.categ_fifo).id,
                },
                **vals,
            )
        )

    @classmethod
    def _grams_and_pieces(cls, pieces_name):
        """Quantities with 3 decimals, kilograms to the gram, and a unit of
        whole pieces, ``cls.uom_piece`` (a board is never cut in 0.3)."""
        cls.addClassCleanup(cls.env.registry.clear_cache)
        cls.env.ref("product.decimal_product_uom").digits = 3
        cls.uom_kgm.rounding = 0.001
        cls.uom_piece = cls.env["uom.uom"].create(
            {
                "name": pieces_name,
                "category_id": cls.uom_unit.category_id.id,
                "uom_type": "bigger",
                "factor_inv": 1.0,
                "rounding": 1.0,
            }
        )

    @classmethod
    def _workcenter(cls, name, **vals):
        """A work center without start time; the user sees operations."""
        cls.env.user.groups_id += cls.env.ref("mrp.group_mrp_routings")
        return cls.env["mrp.workcenter"].create(
            dict({"name": name, "time_start": 0}, **vals)
        )

    @classmethod
    def _operator(cls, login, **vals):
        """A user of manufacturing and inventory."""
        return new_test_user(
            cls.env, login, groups="mrp.group_mrp_user,stock.group_stock_user", **vals
        )

    @classmethod
    def _manager(cls, login, **vals):
        """A manager of manufacturing and inventory."""
        return new_test_user(
            cls.env,
            login,
            groups="mrp.group_mrp_manager,stock.group_stock_manager",
            **vals,
        )

    @classmethod
    def _stock(cls, product, qty, location=None, lot=None):
        quant = (
            cls.env["stock.quant"]
            .with_context(inventory_mode=True)
            .create(
                {
                    "product_id": product.id,
                    "location_id": (location or cls.stock_location).id,
                    "inventory_quantity": qty,
                    "lot_id": lot and lot.id,
                }
            )
        )
        quant.action_apply_inventory()
        return quant

    @classmethod
    def _bom(cls, product, lines, qty=1.0, **vals):
        """``lines``: list of (component, qty) or (component, qty, line vals)."""
        commands = []
        for line in lines:
            component, line_qty, *extra = line
            commands.append(
                Command.create(
                    dict(
                        {"product_id": component.id, "product_qty": line_qty},
                        **(extra[0] if extra else {}),
                    )
                )
            )
        return cls.env["mrp.bom"].create(
            dict(
                {
                    "product_tmpl_id": product.product_tmpl_id.id,
                    "product_qty": qty,
                    "consumption": "flexible",
                    "bom_line_ids": commands,
                },
                **vals,
            )
        )

    def _mo(self, bom, qty, user=None, env=None):
        """``env``: the environment to work in (another company's, say)."""
        env = env or (self.env(user=user) if user else self.env)
        form = Form(env["mrp.production"])
        form.product_id = bom.product_id or bom.product_tmpl_id.product_variant_id
        form.bom_id = bom
        form.product_qty = qty
        mo = form.save()
        mo.action_confirm()
        return mo

    @classmethod
    def _stocks(cls, **quantities):
        """Stock each product named by its attribute: ``_stocks(leg=30)``."""
        for name, qty in quantities.items():
            cls._stock(getattr(cls, name), qty)

    @classmethod
    def _seed_chair(cls, legs, seats):
        """The chair of the seed example, legs at 2.5 and seat frames at 12,
        with ``legs`` and ``seats`` in stock."""
        cls.chair = cls._product("Chair", 0.0)
        cls.leg = cls._product("Leg", 2.5)
        cls.seat = cls._product("Seat Frame", 12.0)
        cls._stocks(leg=legs, seat=seats)

    def _family(self, mo):
        return mo.procurement_group_id.mrp_production_ids

    def _family_consumed(self, mo, product):
        """Done raw moves of ``product`` over the MO's family."""
        moves = self._family(mo).move_raw_ids.filtered(
            lambda m: m.product_id == product and m.state == "done"
        )
        return sum(moves.mapped("quantity"))

    def _other_company(self, name):
        """A new company, its stock location and an environment working in it."""
        company = self.env["res.company"].create({"name": name})
        warehouse = self.env["stock.warehouse"].search(
            [("company_id", "=", company.id)]
        )
        env = self.env(context=dict(self.env.context, allowed_company_ids=[company.id]))
        return company, warehouse.lot_stock_id, env

    def _backorder(self, mo, qty, set_components=False):
        """Produce ``qty`` of ``mo`` and keep the rest as a backorder;
        ``set_components``: as the form does (its onchange sets the
        components' quantities)."""
        mo.qty_producing = qty
        if set_components:
            mo._set_qty_producing(False)
        self._mark_done_with_backorder(mo)
        return self._family(mo).filtered(lambda p: p.state not in ("done", "cancel"))

    def _type_quantities(self, mo, qty_producing, quantities):
        """In the MO's form, the quantity producing and what each move of
        ``quantities`` ({move: quantity}) used, as an operator types them."""
        with Form(mo) as form:
            form.qty_producing = qty_producing
            for move, qty in quantities.items():
                index = mo.move_raw_ids.ids.index(move.id)
                with form.move_raw_ids.edit(index) as line:
                    line.quantity = qty

    def _mark_done_with_backorder(self, mo):
        """Mark Done ``mo`` and answer the backorder dialog: keep the rest."""
        action = mo.button_mark_done()
        Form(
            self.env[action["res_model"]].with_context(**action["context"])
        ).save().action_backorder()

    def _scrap(self, mo, product, qty, env=None, tags=()):
        """Scrap from the MO, as the operator does with its Scrap button;
        ``tags``: the scrap reasons chosen."""
        action = mo.button_scrap()
        form = Form(
            (env or self.env)["stock.scrap"].with_context(**action["context"]),
            view=action["views"][0][0],
        )
        form.product_id = product
        form.scrap_qty = qty
        for tag in tags:
            form.scrap_reason_tag_ids.add(tag)
        scrap = form.save()
        scrap.action_validate()
        self.assertEqual(scrap.state, "done")
        return scrap

    def _bicycle_bom(self, *lines, **vals):
        """Bicycles of 2 wheels at 40 (6 in stock), 2 spoke sets at 25 (100
        in stock) standing in for a missing wheel; ``lines``: more lines."""
        bicycle = self._product("Bicycle", 0.0)
        wheel = self._product("Wheel", 40.0)
        spokes = self._product("Spoke Set", 25.0)
        self._stock(wheel, 6)
        self._stock(spokes, 100)
        substitute = Command.create({"product_id": spokes.id, "factor": 2})
        bom = self._bom(
            bicycle,
            [(wheel, 2, {"substitute_ids": [substitute]}), *lines],
            backflush_substitution="priority",
            **vals,
        )
        return bom, wheel, spokes

    def _correction_wizard(self, mo):
        action = mo.action_backflush_correct()
        return self.env[action["res_model"]].browse(action["res_id"])

    def _mark_done_request(self, productions, user=None):
        """Mark Done as one request: a failure rolls back all it did."""
        with self.env.cr.savepoint():
            return productions.with_user(user or self.env.user).button_mark_done()

    def _pick_of(self, mo):
        return mo.picking_ids.filtered(
            lambda p: (
                p.picking_type_id == self.warehouse.pbm_type_id
                and p.state not in ("done", "cancel")
            )
        )

    def _pick(self, mo, quantities, backorder=False):
        """Validate the pick to pre-production of ``mo`` (manufacture in 2
        or 3 steps) with ``quantities``: {product or
        (product, lot): qty}; the rest becomes a pick backorder when
        ``backorder``, else it is dropped."""
        picking = self._pick_of(mo)
        self.assertEqual(len(picking), 1, "one pick waits for the order")
        picking.action_assign()
        for move in picking.move_ids:
            move.move_line_ids.unlink()
            vals = [
                dict(
                    move._prepare_move_line_vals(quantity=qty),
                    lot_id=key[1].id if isinstance(key, tuple) else False,
                    picked=True,
                )
                for key, qty in quantities.items()
                if (key[0] if isinstance(key, tuple) else key) == move.product_id
            ]
            self.env["stock.move.line"].create(vals)
            move.picked = True
        action = picking.button_validate()
        if action is not True:
            wizard = Form(
                self.env[action["res_model"]].with_context(**action["context"])
            ).save()
            if backorder:
                wizard.process()
            else:
                wizard.process_cancel_backorder()
        self.assertEqual(picking.state, "done")
        return picking

    def _unbuild(self, mo, qty):
        """Unbuild ``qty`` finished units of ``mo`` back into stock."""
        self.env["mrp.unbuild"].create(
            {
                "product_id": mo.product_id.id,
                "bom_id": mo.bom_id.id,
                "mo_id": mo.id,
                "product_qty": qty,
                "product_uom_id": mo.product_uom_id.id,
                "location_id": self.stock_location.id,
                "location_dest_id": self.stock_location.id,
            }
        ).action_unbuild()

    def _assert_ledger_balanced(self, mo):
        """posted + pending + cancelled = required, per BOM line of the
        family of ``mo``."""
        ledger = self.env["mrp.backflush.ledger"]
        family = mo.procurement_group_id.mrp_production_ids
        components = family.move_raw_ids.filtered(
            lambda m: m.backflush_role == "component"
        )
        keys = {(ledger._family_key(mo), move.bom_line_id): move for move in components}
        entries = ledger._entries(family, components.bom_line_id, keys)
        for (_family_key, line), entry in entries.items():
            self.assertAlmostEqual(
                entry.settled_qty,
                entry.required(),
                places=6,
                msg=f"{line.product_id.display_name}: settled vs required",
            )
        return entries

    def _qty(self, product, location=None):
        return product.with_context(
            location=(location or self.stock_location).id
        ).qty_available

    def _raw(self, mo, product, role="component"):
        return mo.move_raw_ids.filtered(
            lambda m: m.product_id == product and m.backflush_role == role
        )

    def _layers_value(self, moves):
        return sum(moves.stock_valuation_layer_ids.mapped("value"))
