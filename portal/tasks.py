"""Housekeeping tasks of the portal itself."""

from __future__ import annotations

import os
import socket

from celery import shared_task
from django.utils import timezone

from portal.models import Heartbeat

BEAT = "beat"


@shared_task
def beat_heartbeat() -> None:
    """Stamped every OPS_BEAT_HEARTBEAT_SECONDS by beat's schedule (portal/settings.py).

    A stamp proves beat is enqueueing and a worker of the default queue is consuming: the
    health check (portal/health.py) reports beat as failing when it is older than three
    intervals. The task expires after one interval, so a backlog never stamps stale proof."""
    Heartbeat.objects.update_or_create(
        name=BEAT,
        defaults={"at": timezone.now(), "host": f"{socket.gethostname()}:{os.getpid()}"},
    )
