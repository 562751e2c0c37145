# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Background work on OCA's queue_job when it is installed (an optional
dependency): Mark Done in the background and the retry of pending postings
become jobs in the channel ``root.mrp_backflush``, whose capacity the admin
sets in the job runner's configuration. Without queue_job, scheduled
actions do the same work."""

from odoo.tools import split_every

CHANNEL = "root.mrp_backflush"


def installed(env):
    """queue_job is installed: ``with_delay`` exists on every model."""
    return "queue.job" in env


def batches(records, size):
    """``records`` in recordsets of at most ``size``."""
    for ids in split_every(size, records.ids):
        yield records.browse(ids)


def identity_key():
    """queue_job's identity key that keeps the same job from being queued
    twice (imported here: queue_job may not be installed)."""
    from odoo.addons.queue_job.job import identity_exact

    return identity_exact
