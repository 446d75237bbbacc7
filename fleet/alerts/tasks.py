"""The dispatcher: Celery tasks on the `alerts` queue (CELERY_TASK_ROUTES)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from fleet.alerts.models import DONE, AlertDelivery, DeliveryStatus
from fleet.alerts.services import alert_deliveries_drain, enqueue_delivery


@shared_task
def deliver_alerts(channel_id: int, stack_id: int | None) -> str:
    """Delivers one stack's events to one channel in order; re-enqueues itself for the time
    the head delivery waits before its next attempt."""
    delay = alert_deliveries_drain(channel_id=channel_id, stack_id=stack_id)
    if delay is None:
        return "done"
    enqueue_delivery(channel_id, stack_id, countdown=delay)
    return f"next attempt in {delay:.1f}s"


@shared_task
def resume_alert_deliveries() -> int:
    """Beat: enqueues every channel and stack whose next delivery is due and has nobody
    working on it, so a lost message (a broker down at emit, a worker killed) delays an alert
    but never loses it. A head waiting out its backoff already has its task scheduled."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.ALERTS_CLAIM_STALE_SECONDS)
    pairs = set(
        AlertDelivery.objects.filter(~Q(status__in=DONE)).values_list("channel_id", "stack_id")
    )
    count = 0
    for channel_id, stack_id in sorted(pairs, key=str):
        head = (
            AlertDelivery.objects.filter(channel_id=channel_id, stack_id=stack_id)
            .exclude(status__in=DONE)
            .order_by("sequence", "id")
            .first()
        )
        if head is None:
            continue
        waiting = head.next_attempt_at is not None and head.next_attempt_at > now
        working = head.status == DeliveryStatus.SENDING and (head.claimed_at or now) > stale
        if not waiting and not working:
            enqueue_delivery(channel_id, stack_id)
            count += 1
    return count
