"""The dispatcher: Celery tasks on the `alerts` queue (CELERY_TASK_ROUTES)."""

from __future__ import annotations

from celery import shared_task
from django.db.models import Q

from fleet.alerts.models import DONE, AlertDelivery
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
    """Beat: enqueues every channel and stack with a delivery not yet done, so a lost message
    (a broker down at emit, a worker killed) delays an alert but never loses it."""
    pairs = (
        AlertDelivery.objects.filter(~Q(status__in=DONE))
        .values_list("channel_id", "stack_id")
        .distinct()
    )
    count = 0
    for channel_id, stack_id in pairs:
        enqueue_delivery(channel_id, stack_id)
        count += 1
    return count
