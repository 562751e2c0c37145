# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""How background work (Mark Done in the background, the retry of pending
postings) tells one order's failure from the others'."""

import logging
from contextlib import contextmanager

from odoo.exceptions import UserError, ValidationError
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY

_logger = logging.getLogger(__name__)


class Failure:
    """What went wrong in a ``savepoint_failure`` block: ``message`` is for
    the user, ``None`` while nothing failed."""

    message = None


@contextmanager
def savepoint_failure(env, what):
    """Run the block in a savepoint: a refusal (``UserError``,
    ``ValidationError``) is rolled back and kept as a readable message;
    a concurrency error goes up to Odoo, which retries the whole request
    or job in a new snapshot (a retry inside this one fails again); any
    other error is a defect: rolled back, logged with its traceback and
    reported without its internals. ``what`` names the work in the log."""
    failure = Failure()
    try:
        with env.cr.savepoint():
            yield failure
    except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
        raise
    except (UserError, ValidationError) as error:
        failure.message = error.args[0]
    except Exception:  # noqa: BLE001 - one defect must not stop the others
        _logger.exception("Unexpected error in %s", what)
        failure.message = env._(
            "an unexpected error occurred; nothing was posted. The details are "
            "in the server log: tell your administrator."
        )
