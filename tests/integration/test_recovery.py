"""A worker that dies mid-deployment, a partner that rejects TLS 1.3, an expiring certificate."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import User

from fleet import services as fleet
from fleet.models import Certificate, DeploymentStep, Incident, RunStatus, VerificationRun
from fleet.tasks import verification_request

from .conftest import Lab, Worker, wait_for
from .test_deployment import deploy, finished, publish, steps, sysa

pytestmark = pytest.mark.integration


def verified(stack, timeout: float = 60) -> VerificationRun:
    run = verification_request(stack_id=stack.id)
    return wait_for(
        lambda: VerificationRun.objects.filter(pk=run.pk, status=RunStatus.SUCCEEDED).first(),
        timeout=timeout,
        what="a verification",
    )


def test_a_worker_killed_mid_deployment_is_replaced_and_the_deployment_completes_once(
    estate: Lab, worker: Worker
):
    stack = sysa()
    estate.fault("zosmf", delay=1.5)  # slow enough to be caught in the middle
    deployment = deploy(stack, publish(stack))
    wait_for(
        lambda: DeploymentStep.objects.filter(
            deployment=deployment, name="upload", ok=True
        ).exists(),
        timeout=60,
        what="the upload step",
    )

    worker.kill()
    estate.clear()
    worker.start()

    deployment = finished(deployment, timeout=90)
    assert deployment.status == RunStatus.SUCCEEDED, (deployment.error, steps(deployment))
    names = [name for name, _ in steps(deployment)]
    assert "resumed" in names
    uploads = DeploymentStep.objects.filter(deployment=deployment, name="upload", ok=True)
    real_uploads = [s for s in uploads if "not uploaded again" not in s.output]
    assert len(real_uploads) == 1, [s.output for s in uploads]
    assert deployment.attempts == 2


def test_a_partner_that_rejects_tls_1_3_fails_until_its_rule_is_removed(estate: Lab):
    stack = sysa()
    rule = "MQ_Channel_to_Clearing_House"
    assert finished(deploy(stack, publish(stack))).status == RunStatus.SUCCEEDED
    estate.fault("drop")

    def failing() -> VerificationRun | None:
        run = verified(stack)
        return run if run.results["services"][rule]["handshake_failures"] else None

    broken = wait_for(failing, timeout=60, every=1, what="handshake failures to the partner")
    assert set(broken.results["services"][rule]["handshake_failures"]) <= {"412", "402", "406"}

    removal = fleet.remove_rule(actor=User.objects.get(username="operator"), stack=stack, rule=rule)
    removal = fleet.deployment_approve(
        deployment=removal, actor=User.objects.get(username="operator2")
    )
    assert finished(removal).status == RunStatus.SUCCEEDED
    assert removal.targets.get().removed_rule == rule
    estate.fault("drop")
    time.sleep(3)
    verified(stack)  # the baseline after the removal

    def restored() -> VerificationRun | None:
        run = verified(stack)
        figures = run.results["services"][rule]
        return run if figures["connections"] and not figures["handshake_failures"] else None

    run = wait_for(restored, timeout=60, every=1, what="the partner to connect again")
    assert (
        rule not in run.results["handshake_failures_total"]
        or run.results["services"][rule]["connections"]
    )


def test_an_expired_certificate_raises_an_incident_with_the_failing_handshakes(estate: Lab):
    stack = sysa()
    assert finished(deploy(stack, publish(stack))).status == RunStatus.SUCCEEDED
    verified(stack)
    estate.admin("/lpars/SYSA/faults/expire-cert", {"ring": "ATTLS/SharedRing"})
    estate.fault("drop")
    time.sleep(3)

    def incident() -> Incident | None:
        verified(stack)
        return Incident.objects.filter(stack=stack, kind="certificate-expired").first()

    found = wait_for(incident, timeout=60, every=1, what="an expired-certificate incident")
    assert found.certificate is not None
    assert found.failing_handshakes, found.summary
    assert all("RC:  401" in line for line in found.failing_handshakes)
    assert Certificate.objects.filter(stack=stack, alerted_days=0).exists()


def test_lpar_credentials_never_appear_in_the_worker_log_or_the_run_rows(
    estate: Lab, worker: Worker
):
    stack = sysa()
    deployment = finished(deploy(stack, publish(stack)))
    verified(stack)
    connection = stack.lpar.connection
    from fleet import secrets

    password = secrets.decrypt(connection.password_encrypted)
    key = secrets.decrypt(connection.ssh_key_encrypted)
    assert password
    log = worker.log.read_text()
    secret_lines = [line for line in key.splitlines() if len(line) > 20]
    assert password not in log
    assert not any(line in log for line in secret_lines)
    rows = " ".join(
        [
            deployment.error,
            *[s.output for s in DeploymentStep.objects.filter(deployment=deployment)],
        ]
    )
    assert password not in rows
