# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Two real database cursors at once: each quantity is posted once.

Data is committed on purpose (other cursors must see it); every product
is unique to its test, and the pending postings a test leaves are set
aside after it, so the rest of the suite is not disturbed (the Backflush
Monitor's headline counts every pending posting of the database).
"""

import threading
import time
import uuid

from psycopg2 import errors

from odoo import SUPERUSER_ID, Command, api
from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger


@tagged("post_install", "-at_install")
class TestConcurrency(TransactionCase):
    def _env(self, cr):
        return api.Environment(cr, SUPERUSER_ID, {})

    def _chair_and_leg(self, env, tag, categ_name, cost_method, **leg_vals):
        """A chair and a leg (cost 2) of a new category, named after ``tag``."""
        categ = env["product.category"].create(
            {"name": f"{categ_name} {tag}", "property_cost_method": cost_method}
        )
        return env["product.product"].create(
            [
                {"name": f"Chair {tag}", "is_storable": True, "categ_id": categ.id},
                dict(
                    {
                        "name": f"Leg {tag}",
                        "is_storable": True,
                        "categ_id": categ.id,
                        "standard_price": 2.0,
                    },
                    **leg_vals,
                ),
            ]
        )

    def _stock_location(self, env):
        return (
            env["stock.warehouse"]
            .search([("company_id", "=", env.company.id)], limit=1)
            .lot_stock_id
        )

    def _inventory(self, env, product, location, qty, lot=None):
        env["stock.quant"].with_context(inventory_mode=True).create(
            {
                "product_id": product.id,
                "location_id": location.id,
                "lot_id": lot and lot.id,
                "inventory_quantity": qty,
            }
        ).action_apply_inventory()

    def _setup(self, policy, stock, mo_qtys):
        """Commit a BOM (4 legs per chair), stock and confirmed MOs."""
        tag = uuid.uuid4().hex[:8]
        with self.registry.cursor() as cr:
            env = self._env(cr)
            chair, leg = self._chair_and_leg(env, tag, "Concurrency", "fifo")
            bom = env["mrp.bom"].create(
                {
                    "product_tmpl_id": chair.product_tmpl_id.id,
                    "backflush_shortage_policy": policy,
                    "bom_line_ids": [
                        Command.create({"product_id": leg.id, "product_qty": 4})
                    ],
                }
            )
            location = self._stock_location(env)
            self._inventory(env, leg, location, stock)
            mos = env["mrp.production"].create(
                [
                    {"product_id": chair.id, "bom_id": bom.id, "product_qty": qty}
                    for qty in mo_qtys
                ]
            )
            mos.action_confirm()
            self.addCleanup(self._set_aside_pending, mos.ids)
            return leg.id, location.id, mos.ids

    def _set_aside_pending(self, mo_ids):
        with self.registry.cursor() as cr:
            self._env(cr)["mrp.backflush.exception"].search(
                [("production_id", "in", mo_ids), ("state", "=", "pending")]
            ).state = "cancel"

    def _add_legs(self, env, leg_id, location_id, qty):
        env["stock.quant"]._update_available_quantity(
            env["product.product"].browse(leg_id),
            env["stock.location"].browse(location_id),
            qty,
        )

    def _leg_qty(self, leg_id, location_id):
        with self.registry.cursor() as cr:
            product = self._env(cr)["product.product"].browse(leg_id)
            return product.with_context(location=location_id).qty_available

    def _in_thread(self, target):
        """Run ``target(env)`` on its own cursor in a thread; keep the outcome."""
        outcome = {}

        def run():
            with self.registry.cursor() as cr:
                cr.execute("SET lock_timeout = '20s'")
                try:
                    outcome["result"] = target(self._env(cr))
                except Exception as error:  # noqa: BLE001 - reported to the test
                    cr.rollback()
                    outcome["error"] = error

        thread = threading.Thread(target=run)
        thread.start()
        return thread, outcome

    def _race(self, first, second, second_waits=True):
        """``first(env)`` on a cursor left open while ``second(env)`` starts
        in a thread; after a second the first commits. ``second_waits``:
        the second must then be waiting for the first's lock."""
        cr_a = self.registry.cursor()
        try:
            first(self._env(cr_a))
            thread, outcome = self._in_thread(second)
            time.sleep(1.0)
            if second_waits:
                self.assertTrue(thread.is_alive())
            cr_a.commit()
        finally:
            cr_a.close()
        thread.join(30)
        return outcome

    def _mark_done(self, mo_id):
        """A Mark Done request of ``mo_id``, for ``_race``."""
        return lambda env: env["mrp.production"].browse(mo_id).button_mark_done()

    @mute_logger("odoo.sql_db")
    def test_same_mo_marked_done_by_two_users(self):
        leg_id, location_id, (mo_id,) = self._setup("block", 100, [10])
        # user B waits for user A's lock
        outcome = self._race(self._mark_done(mo_id), self._mark_done(mo_id))
        # B's stale snapshot is refused; Odoo would retry B's request ...
        self.assertIsInstance(outcome.get("error"), errors.SerializationFailure)
        # ... and the retry finds the MO done: it posts nothing more.
        with self.registry.cursor() as cr:
            mo = self._env(cr)["mrp.production"].browse(mo_id)
            mo.button_mark_done()
            self.assertEqual(len(mo.backflush_run_ids), 1)
            self.assertEqual(
                mo.move_raw_ids.filtered(lambda m: m.state == "done").quantity, 40
            )
        self.assertEqual(self._leg_qty(leg_id, location_id), 60)

    @mute_logger("odoo.sql_db")
    def test_two_mos_share_a_short_component_defer(self):
        leg_id, location_id, (mo1_id, mo2_id) = self._setup("defer", 300, [50, 50])
        outcome = self._race(
            self._mark_done(mo1_id), self._mark_done(mo2_id), second_waits=False
        )
        if "error" in outcome:  # serialization failure: Odoo retries the request
            self.assertIsInstance(outcome["error"], errors.SerializationFailure)
            with self.registry.cursor() as cr:
                self._env(cr)["mrp.production"].browse(mo2_id).button_mark_done()
        with self.registry.cursor() as cr:
            env = self._env(cr)
            mo1, mo2 = env["mrp.production"].browse([mo1_id, mo2_id])
            self.assertEqual((mo1.state, mo2.state), ("done", "done"))
            for mo, required in ((mo1, 200), (mo2, 200)):
                posted = sum(
                    mo.move_raw_ids.filtered(lambda m: m.state == "done").mapped(
                        "quantity"
                    )
                )
                pending = sum(mo.backflush_exception_ids.mapped("quantity"))
                self.assertAlmostEqual(posted + pending, required)
        self.assertEqual(self._leg_qty(leg_id, location_id), 0)

    @mute_logger(
        "odoo.sql_db", "odoo.addons.mrp_backflush.models.mrp_backflush_exception"
    )
    def test_user_retry_while_cron_runs(self):
        leg_id, location_id, (mo_id,) = self._setup("defer", 100, [50])  # 100 short
        with self.registry.cursor() as cr:
            env = self._env(cr)
            env["mrp.production"].browse(mo_id).button_mark_done()
            self._add_legs(env, leg_id, location_id, 70)
        cr_a = self.registry.cursor()
        try:
            mo_a = self._env(cr_a)["mrp.production"].browse(mo_id)
            mo_a.backflush_exception_ids.action_retry()  # user A, not committed yet
            thread, outcome = self._in_thread(
                lambda env: env["mrp.backflush.exception"]._cron_retry()
            )
            thread.join(30)
            cr_a.commit()
        finally:
            cr_a.close()
        self.assertNotIn("error", outcome)  # the cron skips what is locked
        with self.registry.cursor() as cr:
            env = self._env(cr)
            mo = env["mrp.production"].browse(mo_id)
            exc = mo.backflush_exception_ids
            self.assertEqual(
                (exc.posted_qty, exc.quantity, exc.state), (70, 30, "pending")
            )
            deferred = mo.move_raw_ids.filtered(
                lambda m: m.backflush_role == "deferred"
            )
            self.assertEqual(deferred.mapped("quantity"), [70])
            env["mrp.backflush.exception"]._cron_retry()  # nothing new arrived
            self.assertEqual(exc.posted_qty, 70)
        self.assertEqual(self._leg_qty(leg_id, location_id), 0)

    @mute_logger("odoo.sql_db")
    def test_cron_skips_only_the_locked_exception(self):
        """One exception a user is posting does not stop the company."""
        leg_id, location_id, mo_ids = self._setup("defer", 0, [5, 5])  # 20 short each
        with self.registry.cursor() as cr:
            env = self._env(cr)
            env["mrp.production"].browse(mo_ids).button_mark_done()
            self._add_legs(env, leg_id, location_id, 40)
            locked_id, free_id = (
                env["mrp.production"].browse(mo_ids).backflush_exception_ids.ids
            )
        cr_a = self.registry.cursor()
        try:
            cr_a.execute(
                "SELECT id FROM mrp_backflush_exception WHERE id = %s FOR UPDATE",
                [locked_id],
            )
            thread, outcome = self._in_thread(
                lambda env: env["mrp.backflush.exception"]._cron_retry()
            )
            thread.join(30)
        finally:
            cr_a.rollback()
            cr_a.close()
        self.assertNotIn("error", outcome)
        with self.registry.cursor() as cr:
            exceptions = self._env(cr)["mrp.backflush.exception"]
            self.assertEqual(exceptions.browse(free_id).state, "done")
            self.assertEqual(exceptions.browse(locked_id).state, "pending")
        self.assertEqual(self._leg_qty(leg_id, location_id), 20)

    @mute_logger("odoo.sql_db")
    def test_same_mo_corrected_by_two_managers(self):
        leg_id, location_id, (mo_id,) = self._setup("block", 100, [10])
        with self.registry.cursor() as cr:
            env = self._env(cr)
            admin = env.ref("base.user_admin")
            mo = env["mrp.production"].browse(mo_id).with_user(admin)
            mo.button_mark_done()  # 40 legs
            wizard_ids = []
            for _i in range(2):  # both managers open the wizard: 44 used
                action = mo.action_backflush_correct()
                wizard = env["mrp.backflush.correction"].browse(action["res_id"])
                wizard.line_ids.qty_used = 44
                wizard_ids.append(wizard.id)

        def correct(env, wizard_id):
            admin = env.ref("base.user_admin")
            wizard = env["mrp.backflush.correction"].with_user(admin)
            return wizard.browse(wizard_id).action_confirm()

        # manager B waits for manager A's lock
        outcome = self._race(
            lambda env: correct(env, wizard_ids[0]),
            lambda env: correct(env, wizard_ids[1]),
        )
        # B's stale snapshot is refused; Odoo would retry B's request ...
        self.assertIsInstance(outcome.get("error"), errors.SerializationFailure)
        # ... and the retry is told to look again.
        with self.registry.cursor() as cr:
            env = self._env(cr)
            with self.assertRaisesRegex(UserError, "changed since you opened"):
                correct(env, wizard_ids[1])
            runs = env["mrp.production"].browse(mo_id).backflush_run_ids
            self.assertEqual(runs.mapped("trigger"), ["correction", "mark_done"])
        self.assertEqual(self._leg_qty(leg_id, location_id), 56)

    def _setup_split_siblings(self):
        """Commit an MO of 10 chairs (4 lot-tracked legs each, 1 leg of fixed
        scrap per family, standard cost) split in two siblings of 5, each
        holding legs of its own lot: the two postings touch no common row
        but the family's procurement group."""
        tag = uuid.uuid4().hex[:8]
        with self.registry.cursor() as cr:
            env = self._env(cr)
            chair, leg = self._chair_and_leg(
                env,
                tag,
                "Split",
                "standard",
                tracking="lot",
                lot_valuated=True,  # layers run down per lot
            )
            bom = env["mrp.bom"].create(
                {
                    "product_tmpl_id": chair.product_tmpl_id.id,
                    "consumption": "flexible",
                    "bom_line_ids": [
                        Command.create(
                            {
                                "product_id": leg.id,
                                "product_qty": 4,
                                "scrap_fixed_qty": 1,
                            }
                        )
                    ],
                }
            )
            location = self._stock_location(env)
            lots = env["stock.lot"].create(
                [{"name": f"{tag}-{i}", "product_id": leg.id} for i in (1, 2)]
            )
            for lot in lots:
                self._inventory(env, leg, location, 30, lot=lot)
            mo = env["mrp.production"].create(
                {"product_id": chair.id, "bom_id": bom.id, "product_qty": 10}
            )
            mo.action_confirm()
            siblings = mo._split_productions({mo: [5, 5]})
            for sibling, lot in zip(siblings, lots, strict=True):
                move = sibling.move_raw_ids
                move.move_line_ids.unlink()
                env["stock.move.line"].create(
                    {
                        "move_id": move.id,
                        "product_id": leg.id,
                        "product_uom_id": move.product_uom.id,
                        "lot_id": lot.id,
                        "quantity": 20,
                        "location_id": location.id,
                        "location_dest_id": move.location_dest_id.id,
                    }
                )
            return leg.id, siblings.ids

    def _family_consumption(self, leg_id, mo_ids):
        with self.registry.cursor() as cr:
            mos = self._env(cr)["mrp.production"].browse(mo_ids)
            moves = mos.move_raw_ids.filtered(
                lambda m: m.state == "done" and m.product_id.id == leg_id
            )
            return sum(moves.mapped("quantity"))

    @mute_logger("odoo.sql_db")
    def test_two_siblings_of_a_split_finished_at_once(self):
        leg_id, (id_a, id_b) = self._setup_split_siblings()
        # B waits for the family's lock
        outcome = self._race(self._mark_done(id_a), self._mark_done(id_b))
        # B's snapshot missed A's posting: refused, Odoo retries B's request
        self.assertIsInstance(outcome.get("error"), errors.SerializationFailure)
        with self.registry.cursor() as cr:
            self._env(cr)["mrp.production"].browse(id_b).button_mark_done()
        # 40 legs and the family's fixed scrap once
        self.assertEqual(self._family_consumption(leg_id, [id_a, id_b]), 41)
