"""Celery tasks of the audits app: evidence packs, on their own `evidence` queue (routed in
portal/settings.py).

The task takes the pack's id only and claims the row with a conditional update (requested ->
running, or running with a stopped heartbeat -> taken over); it returns at once when it lost
the claim, so a redelivered message or a second worker does no harm. Every failure is
recorded on the row and in the audit log. Beat re-enqueues packs whose worker stopped.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from celery.signals import worker_init
from django.conf import settings
from django.utils import timezone

from audits import log as audit_log
from audits import pack_job
from audits.models import EvidencePack, RunState
from fleet.tasks import worker_name

log = logging.getLogger(__name__)


@worker_init.connect
def _import_the_pdf_renderer(sender: Any, **_: object) -> None:
    """WeasyPrint takes about a second to import: a worker that consumes the evidence queue
    imports it once, before its pool starts (the pool's processes inherit it), rather than
    in its first pack. Workers of the other queues never load it."""
    queues = sender.app.amqp.queues
    if "evidence" in set(queues.consume_from or queues):
        import weasyprint  # noqa: F401

        log.info("WeasyPrint loaded for evidence packs")


@shared_task
def generate_evidence_pack(pack_id: int) -> str:
    worker = worker_name()
    if not pack_job.claim(pack_id, worker, stale_after=settings.EVIDENCE_STALE_SECONDS):
        return "not claimed: running elsewhere or finished"
    try:
        pack_job.evidence_pack_generate(pack_id)
    except Exception as error:  # the row must say what happened, whatever it was
        log.exception("evidence pack %s failed", pack_id)
        pack_job.evidence_pack_fail(pack_id, error, worker=worker)
        return "failed"
    return str(EvidencePack.objects.values_list("status", flat=True).get(pk=pack_id))


@shared_task
def resume_stale_evidence_packs() -> int:
    """Re-enqueues running packs whose worker stopped (claim() decides who takes them)."""
    stale = timezone.now() - timedelta(seconds=settings.EVIDENCE_STALE_SECONDS)
    ids = list(
        EvidencePack.objects.filter(status=RunState.RUNNING, heartbeat_at__lt=stale).values_list(
            "id", flat=True
        )
    )
    for pack_id in ids:
        generate_evidence_pack.delay(pack_id)
    return len(ids)


@shared_task
def audit_chain_checkpoint() -> str:
    """Beat, every AUDIT_CHECKPOINT_SECONDS: records the audit log's head outside the chain,
    so `audit_verify` notices entries later deleted from its end. Idempotent: a head already
    recorded by the newest checkpoint is not recorded again."""
    checkpoint = audit_log.audit_checkpoint_write()
    if checkpoint is None:
        return "head unchanged (or the log is empty)"
    return f"head #{checkpoint.sequence} recorded"
