"""Alerts through the real dispatcher: events enqueued on commit to Redis, delivered by the
Celery worker's `alerts` queue (several tasks per stack at once), retried with backoff."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from fleet.alerts.models import AlertChannel, AlertDelivery
from fleet.alerts.services import alert_emit, channel_save
from fleet.models import RunStatus
from policies.models import Lpar, Stack
from tests.fleet.alerts_support import SyslogCollector, WebhookReceiver

from .conftest import Lab, wait_for
from .harness import Worker
from .test_deployment import deploy, finished, publish, sysa

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


def test_a_rolled_back_deployment_reaches_the_siem_through_the_worker(estate: Lab) -> None:
    with SyslogCollector() as collector:
        channel_save(
            channel=AlertChannel(
                name="siem",
                kind="syslog",
                config={"host": "127.0.0.1", "port": collector.tcp_port, "transport": "tcp"},
                kinds=["deployment-failed"],
            ),
            actor=User.objects.get(username="operator"),
            secret=None,
            stacks=[],
            services=[],
        )
        stack = sysa()
        estate.fault("refresh-failure", count=1)

        deployment = finished(deploy(stack, publish(stack)))
        messages = wait_for(lambda: collector.wait_for(1, timeout=0.5), timeout=60, what="syslog")

    assert deployment.status == RunStatus.ROLLED_BACK
    assert len(messages) == 1
    assert " attls-portal - deployment-failed [attls@32473 " in messages[0]
    assert 'stack="SYSA/TCPIP" seq="1"]' in messages[0]
    assert "CEF:0|attls-portal|attls-portal|1.0|deployment-failed|" in messages[0]
    assert (
        f"deployment rolled back on SYSA/TCPIP: v{deployment.targets.get().version.number}"
        in (messages[0])
    )


def test_drift_found_by_a_verification_reaches_the_siem_as_cef(estate: Lab) -> None:
    stack = sysa()
    assert finished(deploy(stack, publish(stack))).status == RunStatus.SUCCEEDED
    with SyslogCollector() as collector:
        channel_save(
            channel=AlertChannel(
                name="siem",
                kind="syslog",
                config={"host": "127.0.0.1", "port": collector.udp_port, "transport": "udp"},
                kinds=["drift"],
            ),
            actor=User.objects.get(username="operator"),
            secret=None,
            stacks=[stack],
            services=[],
        )
        connection = stack.lpar.connection
        connection.enabled = True
        connection.verification_interval = 5
        connection.save()
        estate.fault("drift", stack="TCPIP", refresh=True)
        messages = wait_for(lambda: collector.wait_for(1, timeout=0.5), timeout=60, what="syslog")

    assert " attls-portal - drift [attls@32473 " in messages[0]
    assert 'stack="SYSA/TCPIP"' in messages[0]
    assert (
        "CEF:0|attls-portal|attls-portal|1.0|drift|Drift from the designed policy|8|"
        in (messages[0])
    )
