"""Alerts through the real dispatcher: events enqueued on commit to Redis, delivered by the
Celery worker's `alerts` queue (several tasks per stack at once), retried with backoff."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from fleet.alerts.models import AlertChannel, AlertDelivery
from fleet.alerts.services import alert_emit, channel_save
from policies.models import Lpar, Stack
from tests.fleet.alerts_support import WebhookReceiver

from .conftest import wait_for
from .harness import Worker

pytestmark = pytest.mark.integration

SECRET = "integration-webhook-secret"


def test_a_webhook_failing_three_times_then_recovering_gets_every_event_once_in_order(
    transactional_db: None, worker: Worker
) -> None:
    stacks = [
        Stack.objects.create(lpar=Lpar.objects.create(name=name), name="TCPIP")
        for name in ("SYSA", "SYSB")
    ]
    AlertChannel.objects.filter(kind="email").delete()
    with WebhookReceiver(SECRET, fail_first=3) as receiver:
        channel_save(
            channel=AlertChannel(name="soc", kind="webhook", config={"url": receiver.url}),
            actor=User.objects.create_user("alma"),
            secret=SECRET,
            stacks=[],
            services=[],
        )
        for index in range(12):
            alert_emit(kind="drift", stack=stacks[index % 3 % 2], summary=f"event {index}")
        wait_for(
            lambda: AlertDelivery.objects.filter(status="delivered").count() == 12,
            timeout=90,
            what="every delivery delivered by the worker",
        )

    per_stack: dict[str, list[int]] = {}
    for body in receiver.accepted:
        per_stack.setdefault(body["stack"], []).append(body["sequence"])
    assert per_stack == {"SYSA/TCPIP": list(range(1, 9)), "SYSB/TCPIP": list(range(1, 5))}
    assert all(receiver.signatures_valid) and receiver.requests == 12 + 3
