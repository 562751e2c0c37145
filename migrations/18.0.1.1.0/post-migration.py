# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    """Background Mark Done moved to ``mrp.backflush.queue``; its scheduled
    action is ``noupdate``, so point the installed record at the new model."""
    if not version:
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    cron = env.ref(
        "mrp_backflush.ir_cron_backflush_mark_done", raise_if_not_found=False
    )
    if cron:
        cron.model_id = env.ref("mrp_backflush.model_mrp_backflush_queue")
