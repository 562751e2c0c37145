# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from unittest.mock import patch

from psycopg2 import errors

from odoo.tests import tagged

from .common import BackflushCase


@tagged("post_install", "-at_install")
class TestFailures(BackflushCase):
    """Background work tells a refusal, a concurrency error and a defect
    apart: the first is told in plain words, the second goes back to
    Odoo's retry, the third is logged with its traceback and reported
    without its internals."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stool = cls._product("Failing Stool", 0.0)
        cls.leg = cls._product("Failing Leg", 2.0)
        cls.bom = cls._bom(cls.stool, [(cls.leg, 4)], backflush_shortage_policy="defer")
        cls.Exception = cls.env.registry["mrp.backflush.exception"]
        cls.Production = cls.env.registry["mrp.production"]

    def _two_deferred(self):
        mos = self._mo(self.bom, 1) | self._mo(self.bom, 1)
        mos.button_mark_done()
        self._stock(self.leg, 8)
        return mos.backflush_exception_ids

    def test_retry_reports_a_defect_without_its_internals(self):
        exc_a, exc_b = self._two_deferred()
        original = self.Exception._post_available

        def post_available(exceptions):
            if exc_a in exceptions:
                raise KeyError("internal-detail-42")
            return original(exceptions)

        with (
            patch.object(self.Exception, "_post_available", post_available),
            self.assertLogs("odoo.addons.mrp_backflush.failures", "ERROR") as logs,
        ):
            action = (exc_a | exc_b).action_retry()
        message = action["params"]["message"]
        self.assertIn("unexpected error", message)
        self.assertNotIn("internal-detail-42", message)
        self.assertIn("Traceback", "\n".join(logs.output))
        self.assertEqual((exc_a.state, exc_b.state), ("pending", "done"))

    def test_retry_leaves_a_concurrency_error_to_odoo(self):
        exceptions = self._two_deferred()

        def post_available(exceptions):
            raise errors.SerializationFailure("could not serialize access")

        with (
            patch.object(self.Exception, "_post_available", post_available),
            self.assertRaises(errors.SerializationFailure),
        ):
            exceptions._cron_retry()

    def test_background_mark_done_reports_a_defect_without_its_internals(self):
        self._stock(self.leg, 8)
        mo = self._mo(self.bom, 1)

        def mark_done(productions):
            raise ZeroDivisionError("internal-detail-43")

        with (
            patch.object(self.Production, "button_mark_done", mark_done),
            self.assertLogs("odoo.addons.mrp_backflush.failures", "ERROR"),
        ):
            self.env["mrp.backflush.queue"]._backflush_mark_done_queued(mo)
        body = mo.message_ids[:1].body
        self.assertIn("unexpected error", body)
        self.assertNotIn("internal-detail-43", body)
        self.assertNotEqual(mo.state, "done")

    def test_background_mark_done_leaves_a_concurrency_error_to_odoo(self):
        mo = self._mo(self.bom, 1)

        def mark_done(productions):
            raise errors.LockNotAvailable("could not obtain lock")

        with (
            patch.object(self.Production, "button_mark_done", mark_done),
            self.assertRaises(errors.LockNotAvailable),
        ):
            self.env["mrp.backflush.queue"]._backflush_mark_done_queued(mo)
