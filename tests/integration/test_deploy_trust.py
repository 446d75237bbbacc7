"""Deploy and verify you can trust: every run ends, last-known-good is known, drift is precise.

One lparsim for the module (the `lab` fixture), a fresh portal database per test (`estate`),
the real worker and Redis. Faults are injected at the outbound seam, in lparsim: a z/OSMF API
that fails (`request`), an SSH session lost mid-command (`lose-session`), damaged output
(`garble`), a refused refresh (`refresh-failure`), an out-of-band edit (`drift`).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from attls.policy import parse_policy
from attls.reports.compare import compare_report
from attls.reports.pasearch import parse_pasearch
from fleet import deploy as deploy_steps
from fleet import services as fleet
from fleet.connectors.factory import connector_for
from fleet.models import (
    DeploymentStep,
    DriftEvent,
    RunStatus,
    StackBaseline,
    TargetStatus,
    VerificationRun,
)
from fleet.selectors import last_known_good
from policies import services as design
from policies.models import ChangeRecord, Rule, Service, Stack

from .conftest import Lab, Worker, wait_for
from .test_deployment import deploy, finished, publish, steps, sysa

pytestmark = pytest.mark.integration

UNSERVED = "Unserved_7554"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def live_file(stack: Stack) -> str:
    with connector_for(stack.lpar.connection) as connector:
        return connector.get_file(stack.policy_file)


def loaded(stack: Stack) -> str:
    with connector_for(stack.lpar.connection) as connector:
        return connector.run(f"pasearch -t -p {stack.name}").stdout


def add_unserved_service(stack: Stack) -> Service:
    """An inbound service on port 7554, for which lparsim has no listener, secured like the
    first inbound service of the stack."""
    template = (
        Service.objects.filter(stack=stack, direction="Inbound", local_port_low__gt=0)
        .order_by("name")
        .first()
    )
    assert template is not None
    rule = Rule.objects.get(service=template)
    return design.service_create(
        actor=User.objects.get(username="architect"),
        fields={
            "stack": stack,
            "name": UNSERVED,
            "jobname": "UNSRV754",
            "local_port_low": 7554,
            "local_port_high": 7554,
            "direction": "Inbound",
            "priority": rule.priority,
            "group_action": rule.group_action,
            "environment_action": rule.environment_action,
            "connection_action": rule.connection_action,
        },
    )


def schedule(stack: Stack, interval: int = 5) -> None:
    connection = stack.lpar.connection
    connection.enabled = True
    connection.verification_interval = interval
    connection.last_verified_at = None
    connection.save()


def scheduled_runs_after(stack: Stack, moment: Any, count: int, timeout: float) -> list[Any]:
    def runs() -> list[Any] | None:
        found = list(
            VerificationRun.objects.filter(
                stack=stack,
                deployment=None,
                status=RunStatus.SUCCEEDED,
                created_at__gt=moment,
            ).order_by("created_at")
        )
        return found if len(found) >= count else None

    return wait_for(runs, timeout=timeout, every=0.5, what=f"{count} scheduled verification(s)")


# --- every run ends, restored to last-known-good ---------------------------------------------

# One fault per step, at the outbound seam. Retried (transient) faults fail every try.
STEP_FAULTS = {
    "upload": (
        "request",
        {"method": "PUT", "path": "/zosmf/restfiles/", "status": 500},
        deploy_steps.RETRIES,
    ),
    "refresh": (
        "request",
        {"method": "PUT", "path": "/zosmf/restconsoles/", "status": 500},
        deploy_steps.RETRIES,
    ),
    "compare": ("garble", {"command": "pasearch"}, 1),
    # The session lost while the deployment's own verification runs netstat: an exception
    # inside the verification, not one of the steps' classified errors.
    "verification": ("lose-session", {"command": "netstat"}, 1),
}


@pytest.mark.parametrize("step", list(STEP_FAULTS))
def test_an_error_in_each_step_ends_rolled_back_to_last_known_good(estate: Lab, step: str):
    stack = sysa()
    seeded = estate.seeded[("SYSA", stack.policy_file)]
    kind, body, count = STEP_FAULTS[step]
    estate.fault(kind, count=count, **body)

    deployment = finished(deploy(stack, publish(stack)), timeout=90)

    target = deployment.targets.get()
    assert deployment.status == RunStatus.ROLLED_BACK, (deployment.error, steps(deployment))
    assert target.status == TargetStatus.ROLLED_BACK, target.error
    # The first contact captured the pre-portal file: that is last-known-good here.
    baseline = StackBaseline.objects.get(stack=stack)
    assert baseline.sha256 == sha(seeded)
    assert target.last_known_good_sha256 == baseline.sha256
    assert live_file(stack) == seeded
    restored = DeploymentStep.objects.get(
        deployment=deployment, name="restore last-known-good", ok=True
    )
    assert "baseline" in restored.output and baseline.sha256 in restored.output
    compared = DeploymentStep.objects.get(
        deployment=deployment, name="compare restored policy", ok=True
    )
    assert baseline.sha256 in compared.output
    assert not VerificationRun.objects.filter(
        deployment=deployment, status__in=(RunStatus.PENDING, RunStatus.RUNNING)
    ).exists()
    if step == "verification":
        run = VerificationRun.objects.get(deployment=deployment)
        assert run.status == RunStatus.FAILED and run.error
        assert "internal error in step 'verify'" in target.error


def test_a_worker_killed_during_verification_leaves_nothing_running(estate: Lab, worker: Worker):
    stack = sysa()
    estate.fault("zosmf", delay=1.5)  # every z/OSMF call slow: the run is caught in the act
    deployment = deploy(stack, publish(stack))
    caught = wait_for(
        lambda: VerificationRun.objects.filter(
            deployment=deployment, status=RunStatus.RUNNING
        ).first(),
        timeout=60,
        what="the deployment's own verification to run",
    )

    worker.kill()
    estate.clear()
    worker.start()

    deployment = finished(deployment, timeout=90)
    assert deployment.status == RunStatus.SUCCEEDED, (deployment.error, steps(deployment))
    assert deployment.targets.get().status == TargetStatus.SUCCEEDED
    abandoned = wait_for(  # FLEET_VERIFY_STALE_SECONDS is 40 for the test worker
        lambda: VerificationRun.objects.filter(pk=caught.pk, status=RunStatus.FAILED).first(),
        timeout=90,
        what="the abandoned verification to end",
    )
    assert "abandoned" in abandoned.error and abandoned.finished_at is not None
    assert not VerificationRun.objects.filter(
        stack=stack, status__in=(RunStatus.PENDING, RunStatus.RUNNING)
    ).exists()


# --- last-known-good is the verified text, not the drifted file ------------------------------


def test_after_drift_refresh_a_failing_refresh_restores_the_last_verified_version(estate: Lab):
    stack = sysa()
    first = finished(deploy(stack, publish(stack)))
    assert first.status == RunStatus.SUCCEEDED, first.error
    verified = first.targets.get()
    estate.fault("drift", stack="TCPIP", refresh=True)
    drifted = live_file(stack)
    assert sha(drifted) != verified.sha256
    add_unserved_service(stack)
    v2 = publish(stack, "one more service")

    stopped = finished(deploy(stack, v2))

    # File drift: stopped before uploading, the drifted file untouched.
    target = stopped.targets.get()
    assert stopped.status == RunStatus.FAILED and "file drift" in stopped.error
    assert target.status == TargetStatus.FAILED
    assert not target.uploaded and target.file_drift_sha256 == sha(drifted)
    assert live_file(stack) == drifted
    good = last_known_good(stack)
    assert good is not None and good.source == "version" and good.sha256 == verified.sha256

    estate.fault("refresh-failure", count=1)
    fleet.deployment_acknowledge_overwrite(
        deployment=stopped,
        actor=User.objects.get(username="operator2"),
        comment="the TLSv1 edit was not approved",
    )
    assert ChangeRecord.objects.filter(
        action="ack-overwrite", object_uuid=stopped.uuid, note="the TLSv1 edit was not approved"
    ).exists()
    rolled = finished(stopped)

    assert rolled.status == RunStatus.ROLLED_BACK, (rolled.error, steps(rolled))
    assert "PAGENT refused the policy" in rolled.error
    assert live_file(stack) == verified.text  # v1 as verified, not the drifted file
    restored = DeploymentStep.objects.get(
        deployment=rolled, name="restore last-known-good", ok=True
    )
    assert "v1" in restored.output and verified.sha256 in restored.output
    compared = DeploymentStep.objects.get(deployment=rolled, name="compare restored policy")
    assert compared.ok and "as published" not in compared.output
    assert "policyRule:             TN3270_Secure" in loaded(stack)


# --- one service never blinds a stack; no false drift ----------------------------------------


def test_an_unserved_service_is_not_probed_and_deploy_and_rollback_open_no_drift(estate: Lab):
    stack = sysa()
    assert finished(deploy(stack, publish(stack))).status == RunStatus.SUCCEEDED
    add_unserved_service(stack)
    v2 = publish(stack, "a service on 7554")
    schedule(stack)

    deployment = finished(deploy(stack, v2), timeout=90)

    assert deployment.status == RunStatus.SUCCEEDED, (deployment.error, steps(deployment))
    assert deployment.targets.get().status == TargetStatus.SUCCEEDED
    own = VerificationRun.objects.get(deployment=deployment)
    unserved = own.results["services"][UNSERVED]
    assert unserved["not_probed"].startswith("no probe port is mapped for TCPIP port 7554")
    assert unserved["probe_tls"] is None
    probed = [s for s in own.results["services"].values() if s["probe_tls"]]
    assert probed, "the other services were probed"
    assert UNSERVED in DeploymentStep.objects.get(deployment=deployment, name="verify").output
    # Verification goes on every interval, the unserved service read "not probed" each time.
    after = scheduled_runs_after(stack, deployment.finished_at, 2, timeout=40)
    assert all(r.results["services"][UNSERVED]["not_probed"] for r in after)

    rollback = fleet.rollback_to_previous(
        actor=User.objects.get(username="operator"), stack=stack, note="back to v1"
    )
    rollback = fleet.deployment_approve(
        deployment=rollback, actor=User.objects.get(username="operator2")
    )
    rollback = finished(rollback, timeout=90)
    assert rollback.status == RunStatus.SUCCEEDED, (rollback.error, steps(rollback))
    after_rollback = scheduled_runs_after(stack, rollback.finished_at, 2, timeout=40)
    assert UNSERVED not in {
        name for name, s in after_rollback[-1].results["services"].items() if s["in_scope"]
    }
    # Neither the deployment, nor the rollback, nor the runs overlapping them found drift
    # of the policy: each compared with what was deployed at its snapshot.
    policy_drift = DriftEvent.objects.filter(stack=stack, key="policy")
    assert not policy_drift.exists(), [(e.kind, e.detail) for e in policy_drift]


# --- drift: the file alone, one cause one event ----------------------------------------------


def test_a_file_only_drift_opens_within_an_interval_and_one_cause_is_one_event(estate: Lab):
    stack = sysa()
    deployment = finished(deploy(stack, publish(stack)))
    assert deployment.status == RunStatus.SUCCEEDED
    deployed = parse_policy(deployment.targets.get().text)
    moment = timezone.now()
    schedule(stack)
    scheduled_runs_after(stack, moment, 1, timeout=45)

    estate.fault("drift", stack="TCPIP")  # the file only: nobody refreshes
    started = time.monotonic()
    event = wait_for(
        lambda: DriftEvent.objects.filter(stack=stack, key="policy", resolved_at=None).first(),
        timeout=30,
        what="a file drift event",
    )
    assert time.monotonic() - started <= 15
    assert event.kind == "file", event.detail
    assert "changed without a deployment" in event.detail
    # Found before anyone refreshed: what is loaded is still the deployed version.
    assert compare_report(deployed, parse_pasearch(loaded(stack)), image=stack.name) == []

    # Now the edit is loaded (TLSv1 On in a shared environment): the same cause, one event,
    # listing the services whose ports now accept TLSv1.
    estate.fault("drift", stack="TCPIP", refresh=True)

    def escalated() -> DriftEvent | None:
        found = DriftEvent.objects.get(pk=event.pk)
        return found if found.kind == "policy" and len(found.services) >= 2 else None

    escalated_event = wait_for(escalated, timeout=40, what="the event to list the services")
    open_events = DriftEvent.objects.filter(stack=stack, resolved_at=None)
    assert list(open_events) == [escalated_event], [(e.key, e.detail) for e in open_events]
    assert "The loaded policy differs from v1" in escalated_event.detail
    assert "changed without a deployment" in escalated_event.detail
    for name in escalated_event.services:
        assert name in escalated_event.detail

    acknowledged = fleet.drift_event_acknowledge(
        event=escalated_event,
        actor=User.objects.get(username="operator"),
        comment="change CHG0042 in progress",
    )
    assert acknowledged.acknowledged_at is not None and acknowledged.is_open
    assert ChangeRecord.objects.filter(
        action="acknowledge", object_uuid=event.uuid, note="change CHG0042 in progress"
    ).exists()
