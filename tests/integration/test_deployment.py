"""Push, verify, roll back: the fleet against lparsim with a real worker and Redis."""

from __future__ import annotations

import hashlib
import socket
import ssl
import time

import pytest
from django.contrib.auth.models import User

from fleet import services as fleet
from fleet.connectors.factory import connector_for
from fleet.models import (
    Deployment,
    DeploymentStep,
    DriftEvent,
    RunStatus,
    TargetStatus,
    VerificationRun,
)
from fleet.selectors import output_text
from fleet.tasks import verification_request
from policies import services as design
from policies.models import PolicyVersion, Stack

from .conftest import Lab, wait_for

pytestmark = pytest.mark.integration


def sysa() -> Stack:
    return Stack.objects.get(lpar__name="SYSA", name="TCPIP")


def publish(stack: Stack, note: str = "AT-TLS for every service") -> PolicyVersion:
    return design.policy_version_publish(
        stack=stack,
        actor=User.objects.get(username="architect"),
        note=note,
        acknowledge_warnings=True,
    )


def deploy(stack: Stack, version: PolicyVersion) -> Deployment:
    operator = User.objects.get(username="operator")
    deployment = fleet.deployment_request(actor=operator, targets=[(stack, version)], note="test")
    # Tests that collected zERT first deploy with clients the prediction says will break
    # (tests/integration/test_impact.py is about that); the acknowledgement lets them run.
    return fleet.deployment_approve(
        deployment=deployment,
        actor=User.objects.get(username="operator2"),
        acknowledge_impact="integration test: the refusals are what it observes",
    )


def finished(deployment: Deployment, timeout: float = 60) -> Deployment:
    def done() -> Deployment | None:
        current = Deployment.objects.get(pk=deployment.pk)
        return current if current.is_finished else None

    return wait_for(done, timeout=timeout, what=f"{deployment} to finish")


def handshake(port: int, version: ssl.TLSVersion) -> str:
    """A client that speaks exactly `version`; returns the negotiated version or the error."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = context.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw) as tls,
        ):
            return str(tls.version())
    except (ssl.SSLError, ConnectionError, OSError) as error:
        return f"refused: {error.__class__.__name__}"


def steps(deployment: Deployment) -> list[tuple[str, bool]]:
    return list(DeploymentStep.objects.filter(deployment=deployment).values_list("name", "ok"))


def test_deploying_to_sysa_secures_every_service_and_refuses_tls_1_0(estate: Lab):
    stack = sysa()
    tn3270 = estate.service("TN3270 Secure")
    assert handshake(tn3270.host_port, ssl.TLSVersion.TLSv1) == "TLSv1"  # the app's own TLS

    deployment = finished(deploy(stack, publish(stack)))

    assert deployment.status == RunStatus.SUCCEEDED, (deployment.error, steps(deployment))
    names = [name for name, ok in steps(deployment) if ok]
    assert (
        names[:5]
        == [
            "read live file",
            "keep last-known-good",
            "upload",
            "refresh PAGENT",
            "compare loaded policy",
        ]
        or "upload" in names
    )
    assert handshake(tn3270.host_port, ssl.TLSVersion.TLSv1).startswith("refused")
    assert handshake(tn3270.host_port, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    with connector_for(stack.lpar.connection) as connector:
        loaded = connector.run("pasearch -t -p TCPIP").stdout
    assert "policyRule:             TN3270_Secure" in loaded

    # Connections made before the refresh keep their old state until they close (as AT-TLS
    # does); drop them, let the clients reconnect, and measure again.
    estate.fault("drop")
    time.sleep(4)
    run = verification_request(stack_id=stack.id)
    run = wait_for(
        lambda: VerificationRun.objects.filter(pk=run.pk, status=RunStatus.SUCCEEDED).first(),
        timeout=60,
        what="the verification after the deployment",
    )
    in_scope = {
        name: figures
        for name, figures in run.results["services"].items()
        if figures["in_scope"] and figures["connections"]
    }
    assert in_scope, run.results
    assert {name: figures["coverage"] for name, figures in in_scope.items()} == {
        name: 1.0 for name in in_scope
    }
    assert run.results["protocols"].get("TLSv1", 0) == 0


def test_a_refused_refresh_rolls_back_to_last_known_good_by_itself(estate: Lab):
    stack = sysa()
    before = estate.lpar().fs.read_text(stack.policy_file) if hasattr(estate.lpar(), "fs") else None
    estate.fault("refresh-failure", count=1)

    deployment = finished(deploy(stack, publish(stack)))

    assert deployment.status == RunStatus.ROLLED_BACK, (deployment.error, steps(deployment))
    target = deployment.targets.get()
    assert target.status == TargetStatus.ROLLED_BACK
    assert "PAGENT refused the policy" in deployment.error
    with connector_for(stack.lpar.connection) as connector:
        live = connector.get_file(stack.policy_file)
    assert live == target.last_known_good
    if before is not None:
        assert live == before
    names = [name for name, _ in steps(deployment)]
    assert "restore last-known-good" in names


def test_wrong_credentials_fail_at_once_without_retries(estate: Lab):
    stack = sysa()
    fleet.lpar_connection_save(
        actor=User.objects.get(username="operator"),
        lpar=stack.lpar,
        fields={},
        password="not-the-password",
    )

    deployment = finished(deploy(stack, publish(stack)))

    assert deployment.status == RunStatus.FAILED
    failures = [name for name, ok in steps(deployment) if not ok]
    assert failures.count("read live file") == 1  # no retry of a permanent error
    assert "password" in deployment.error.lower() or "authentic" in deployment.error.lower()
    assert "not-the-password" not in deployment.error


def test_zosmf_503s_are_retried_with_backoff_then_fail_with_a_clear_reason(estate: Lab):
    stack = sysa()
    estate.fault("zosmf", status=503)

    deployment = finished(deploy(stack, publish(stack)))

    assert deployment.status == RunStatus.FAILED
    failures = [name for name, ok in steps(deployment) if not ok]
    assert failures.count("read live file") == 3
    assert "still failing after 3 tries" in deployment.error


def test_drift_opens_within_an_interval_and_resolves_after_redeploy(estate: Lab):
    stack = sysa()
    version = publish(stack)
    assert finished(deploy(stack, version)).status == RunStatus.SUCCEEDED
    connection = stack.lpar.connection
    connection.enabled = True
    connection.verification_interval = 5
    connection.save()

    estate.fault("drift", stack="TCPIP", refresh=True)
    started = time.monotonic()
    event = wait_for(
        lambda: DriftEvent.objects.filter(stack=stack, kind="policy", resolved_at=None).first(),
        timeout=30,
        what="a policy drift event",
    )
    assert time.monotonic() - started <= 15
    assert "differs from v1" in event.detail

    redeploy = fleet.deployment_request(
        actor=User.objects.get(username="operator"), targets=[(stack, version)], note="undo drift"
    )
    fleet.deployment_approve(deployment=redeploy, actor=User.objects.get(username="operator2"))
    # The drifted file is not what the portal verified: the redeploy stops before uploading
    # until an operator acknowledges overwriting it.
    stopped = finished(redeploy)
    assert stopped.status == RunStatus.FAILED, stopped.error
    assert "file drift" in stopped.error
    assert not stopped.targets.get().uploaded
    fleet.deployment_acknowledge_overwrite(
        deployment=stopped,
        actor=User.objects.get(username="operator2"),
        comment="undo the out-of-band TLSv1 edit",
    )
    assert finished(redeploy).status == RunStatus.SUCCEEDED
    wait_for(
        lambda: DriftEvent.objects.filter(pk=event.pk, resolved_at__isnull=False).exists(),
        timeout=30,
        what="the drift event to resolve",
    )
    assert DriftEvent.objects.filter(stack=stack, kind="policy").count() == 1  # opened once


def test_unparseable_output_is_stored_raw_and_marked_and_the_worker_goes_on(estate: Lab):
    stack = sysa()
    estate.fault("garble", command="netstat", count=1)

    first = verification_request(stack_id=stack.id)
    first = wait_for(
        lambda: (
            VerificationRun.objects.filter(pk=first.pk)
            .exclude(status__in=(RunStatus.PENDING, RunStatus.RUNNING))
            .first()
        ),
        timeout=60,
        what="the verification with damaged output",
    )
    second = verification_request(stack_id=stack.id)
    second = wait_for(
        lambda: VerificationRun.objects.filter(pk=second.pk, status=RunStatus.SUCCEEDED).first(),
        timeout=60,
        what="the next verification",
    )

    assert first.parse_failed
    damaged = [name for name, out in first.outputs.items() if not out["parsed"]]
    assert damaged == ["netstat_conn"]
    damaged_output = first.outputs["netstat_conn"]
    assert "\u2400" in damaged_output["text"]  # NUL, as PostgreSQL can store it
    assert damaged_output["nul_shown"] > 0
    # The text as received (NUL restored) is the one whose hash was recorded.
    received = output_text(damaged_output)
    assert "\x00" in received
    assert hashlib.sha256(received.encode()).hexdigest() == damaged_output["sha256"]
    assert first.outputs["netstat_conn"]["error"]
    assert not second.parse_failed
