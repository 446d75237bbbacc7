"""The places an alert arises each record one event: a refused-client surge, a deployment
that ends failed or rolled back, a certificate crossing an expiry threshold."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from fleet.alerts.kinds import Severity
from fleet.alerts.models import AlertEvent
from fleet.deploy import Runner
from fleet.models import (
    Certificate,
    Deployment,
    DeploymentTarget,
    RunStatus,
    TargetStatus,
    VerificationRun,
)
from fleet.verify import certificates as verify_certificates
from policies.models import PolicyVersion
from tests.fleet.test_refusals import line, refusing
from tests.fleet.ui_estate import FleetEstate, build_fleet


@pytest.fixture
def fleet(make_user: Any) -> FleetEstate:
    return build_fleet(make_user, observations=0, hours=0)


def test_a_refusal_surge_raises_one_event_naming_its_service(fleet: FleetEstate) -> None:
    lines = [line("TN3270S", 5003, "10.2.0.1", n) for n in range(1, 7)]

    [incident] = refusing(fleet, lines, TN3270S=3)
    refusing(fleet, lines, TN3270S=3)  # the open incident grows; no second alert

    event = AlertEvent.objects.get(kind="refusal-surge")
    assert event.stack == incident.stack and event.service == incident.service
    assert event.details["incident"] == str(incident.uuid)
    assert event.details["services"] == ["TN3270S"] and event.sequence == 1


def test_a_deployment_ending_rolled_back_raises_an_event_for_its_stack(
    fleet: FleetEstate,
) -> None:
    sysa = fleet.design.stacks["SYSA"]
    deployment = Deployment.objects.create(
        requested_by=fleet.people["operator"], status=RunStatus.RUNNING
    )
    version = PolicyVersion.objects.get(stack=sysa, number=1)
    DeploymentTarget.objects.create(
        deployment=deployment, position=0, stack=sysa, version=version, text="", sha256="0" * 64,
        status=TargetStatus.ROLLED_BACK, error="pasearch differs; restored v1",
    )  # fmt: skip
    runner = Runner(deployment, connector_for=None, verify=None)  # type: ignore[arg-type]

    runner.finish(True)

    event = AlertEvent.objects.get(kind="deployment-failed")
    assert event.stack == sysa and event.severity == Severity.ERROR
    assert "rolled back on SYSA/TCPIP" in event.summary
    assert event.details["deployment"] == str(deployment.uuid)
    assert event.details["error"] == "pasearch differs; restored v1"


def test_a_succeeded_deployment_raises_nothing(fleet: FleetEstate) -> None:
    deployment = Deployment.objects.create(
        requested_by=fleet.people["operator"], status=RunStatus.RUNNING
    )
    Runner(deployment, connector_for=None, verify=None).finish(False)  # type: ignore[arg-type]

    assert not AlertEvent.objects.filter(kind="deployment-failed").exists()


def test_a_certificate_crossing_seven_days_raises_one_warning(fleet: FleetEstate) -> None:
    sysa = fleet.design.stacks["SYSA"]
    now = timezone.now()
    certificate = Certificate.objects.create(
        stack=sysa, subject="CN=cicsweb1", issuer="CN=Bank CA", serial="0A", fingerprint="f" * 64,
        not_after=now + timedelta(days=5), rules=["CICSWEB1"], ports=[8443], first_seen=now,
        last_seen=now,
    )  # fmt: skip
    run = VerificationRun.objects.create(stack=sysa, status=RunStatus.RUNNING)

    verify_certificates._alert(run, None, None, certificate, now)  # type: ignore[arg-type]
    certificate.refresh_from_db()
    verify_certificates._alert(run, None, None, certificate, now)  # type: ignore[arg-type]

    event = AlertEvent.objects.get()
    assert (event.kind, event.severity) == ("certificate-expiry", Severity.WARNING)
    assert event.details["threshold_days"] == 7 and event.details["services"] == ["CICSWEB1"]
    assert "expires in 4 day(s)" in event.summary or "expires in 5 day(s)" in event.summary
