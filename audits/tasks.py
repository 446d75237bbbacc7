"""Celery tasks of the audits app: evidence packs, on their own `evidence` queue.

The task takes the pack's id only, claims the row with a conditional update (PENDING ->
RUNNING) and returns at once when it lost the claim, so a redelivered message or a second
worker does no harm. Every failure is recorded on the row and in the audit log.
"""

from __future__ import annotations

import logging

from celery import shared_task

from audits import packs

log = logging.getLogger(__name__)


@shared_task(queue="evidence")
def generate_evidence_pack(pack_id: int) -> str:
    if not packs.claim(pack_id):
        return "not claimed: running elsewhere or finished"
    try:
        packs.evidence_pack_generate(pack_id)
    except Exception as error:  # the row must say what happened, whatever it was
        log.exception("evidence pack %s failed", pack_id)
        packs.evidence_pack_fail(pack_id, error)
        return "failed"
    return "succeeded"
