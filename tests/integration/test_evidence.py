"""The reference data center deployed through lparsim, then its evidence pack, signed.

Everything is real: the portal seeded with the reference data center, lparsim's three LPARs,
a Celery worker that deploys, verifies and generates the pack, WeasyPrint and pyHanko. The
figures the PDF must state are computed here from the verification runs the worker stored,
not from the code that writes the PDF.
"""

from __future__ import annotations

import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from accounts.client import Client, client_context
from audits import selectors as audit_selectors
from audits import services as audit_services
from audits.models import Assessment, AuditEntry, EvidencePack, Outcome, RunState, ScopeKind
from audits.signing import verify_pack
from fleet import services as fleet
from fleet.models import RunStatus, VerificationFigures, VerificationRun
from fleet.stored_figures import run_figures
from fleet.tasks import verification_request
from policies.models import Service, Stack

from .conftest import Lab, wait_for
from .test_deployment import finished, publish

pytestmark = pytest.mark.integration


def verify_all(stacks: list[Stack]) -> list[VerificationRun]:
    requested = [verification_request(stack_id=stack.id) for stack in stacks]
    return [
        wait_for(
            lambda run=run: VerificationRun.objects.filter(
                pk=run.pk, status=RunStatus.SUCCEEDED
            ).first(),
            timeout=90,
            what=f"the verification of {run.stack}",
        )
        for run in requested
    ]


def encrypted(runs: list[VerificationRun]) -> tuple[int, int, int]:
    """(connections, encrypted by AT-TLS, on TLS 1.3) over the services the portal models."""
    connections = secured = tls13 = 0
    for run in runs:
        modelled = set(Service.objects.filter(stack=run.stack).values_list("name", flat=True))
        for name, figures in run.results["services"].items():
            if name in modelled:
                connections += figures["connections"]
                secured += figures["secured"]
                tls13 += figures["protocols"].get("TLSv1.3", 0)
    return connections, secured, tls13


def percent(part: int, whole: int) -> str:
    share = 100.0 * part / whole
    return "100 %" if share == 100 else f"{share:.1f} %"


def pdf_text(path: Path) -> str:
    text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return " ".join(text.split())


def test_the_reference_data_center_deployed_yields_a_signed_pack_with_its_figures(
    estate: Lab,
) -> None:
    started = timezone.now() - timedelta(seconds=1)
    stacks = list(Stack.objects.select_related("lpar").order_by("lpar__name"))
    assert [str(s.lpar.name) for s in stacks] == ["LAB1", "SYSA", "SYSB"]

    # Before: each service's own TLS, TLS 1.0 and cleartext included.
    before = verify_all(stacks)
    # One deployment of every stack's first published version, approved by a second operator.
    deployment = fleet.deployment_request(
        actor=User.objects.get(username="operator"),
        targets=[(stack, publish(stack)) for stack in stacks],
        note="AT-TLS for the reference data center",
    )
    fleet.deployment_approve(deployment=deployment, actor=User.objects.get(username="operator2"))
    assert finished(deployment, timeout=120).status == RunStatus.SUCCEEDED, deployment.error
    # Connections made before the refresh keep their old state until they close: drop them,
    # let the clients reconnect under the new policy, and measure.
    for lpar in ("SYSA", "SYSB", "LAB1"):
        estate.fault("drop", lpar=lpar)
    time.sleep(4)
    after = verify_all(stacks)
    # The worker stored each finished run's stack-wide figures, as run_figures gives them
    # from its results: what the dashboard and /metrics read (fleet/stored_figures.py).
    for run in after:
        run.refresh_from_db()
        assert VerificationFigures.objects.get(run=run).figures == run_figures(run.results)

    # Asked for as the auditor's browser would (the request's client, as the middleware sets
    # it): the worker that signs the pack records that client, carried in the task's header.
    auditors_browser = Client(address="198.51.100.77", user_agent="Mozilla/5.0 auditor")
    with client_context(auditors_browser):
        pack = audit_services.evidence_pack_request(
            actor=User.objects.get(username="auditor"),
            new=audit_services.PackRequest(
                scope_kind=ScopeKind.ESTATE,
                scope={},
                period_start=started,
                period_end=timezone.now(),
            ),
        )
    pack = wait_for(
        lambda: (
            EvidencePack.objects.filter(pk=pack.pk)
            .exclude(status__in=(RunState.PENDING, RunState.RUNNING))
            .first()
        ),
        timeout=180,
        what="the evidence pack",
    )
    assert pack.status == RunState.SUCCEEDED, (pack.error, pack.progress)
    signed = AuditEntry.objects.get(action="evidence", object_id=str(pack.uuid))
    assert signed.data["client"] == auditors_browser.as_data()
    # The deployment the worker ran was not asked for through a request here: the system.
    assert (
        AuditEntry.objects.filter(object_type="Deployment").exclude(data__client="system").count()
        == 0
    )
    assessment = Assessment.objects.get(pk=pack.assessment_id)
    results = {r.control_id: r for r in assessment.results.all()}
    text = pdf_text(audit_selectors.pack_file(pack, "pdf"))

    # The cover and the concrete figures, as the stored verification runs give them.
    services = Service.objects.count()
    assert f"Whole estate: 3 LPARs, 3 stacks, {services} services" in text
    connections, secured, tls13 = encrypted(after)
    assert connections > 0 and secured > 0
    assert (
        f"At the end of the period {percent(secured, connections)} of {connections:,}"
        f" observed connections were encrypted by AT-TLS, {percent(tls13, secured)} of them"
        " with TLS 1.3" in text
    ), text[:3000]
    start_connections, start_secured, _ = encrypted(before)
    assert start_secured < secured  # the apps' own TLS is not AT-TLS: coverage rose
    assert f"{percent(start_secured, start_connections)} at its start" in text
    assert "verified 9 times" in text  # before, the deployment's own check, after; 3 stacks
    assert "No AT-TLS" in text  # what the start's connections were: the apps' own TLS or none

    # Every control with its outcome; the counts in the summary match the stored results.
    counts = {outcome: 0 for outcome in Outcome.values}
    for result in results.values():
        counts[result.outcome] += 1
        assert f"{result.control_id} §" in text, result.control_id
    assert f"{len(results)} controls were evaluated:" in text
    for outcome, label in (("PASS", "PASS"), ("FAIL", "FAIL"), ("WARN", "WARN")):
        if counts[outcome]:
            assert f"{counts[outcome]} {label}" in text, outcome
    # After the deployment no service accepts TLS 1.0: the protocol control says so.
    tls10 = results["NIST-800-52r2-3.1-tls10"]
    assert tls10.outcome == Outcome.PASS, tls10.rationale
    # The certificates the probe was shown are judged from what it read off them.
    for control in (
        "NIST-800-52r2-3.2-cert-type",
        "NIST-800-52r2-3.2.1-x509v3-strength",
        "NIST-800-52r2-3.2.1-signature-hash",
        "NIST-800-52r2-3.2.1-eku",
        "NIST-800-52r2-3.2.1-key-usage",
        "NIST-800-52r2-3.2.1-san",
        "NIST-800-52r2-3.2.1-aia-crldp",
    ):
        assert results[control].outcome == Outcome.PASS, (control, results[control].rationale)
    # The change history names the approver and the deployment's end in its final state; the
    # manifest lists every raw output's hash.
    assert "approve Deployment deployment" in text and "operator2" in text
    assert f"finish Deployment deployment {str(deployment.uuid)[:8]} (Succeeded)" in text
    for run in after:
        for output in run.outputs.values():
            assert output["sha256"] in text

    # The signature validates and the file is the one in the ledger; one changed byte fails.
    data = audit_selectors.pack_file(pack, "pdf").read_bytes()
    verdict = verify_pack(data)
    assert verdict.ok and verdict.intact and verdict.trusted, verdict
    assert verdict.matches_ledger == pack
    changed = bytearray(data)
    changed[len(data) // 2] ^= 0x01
    tampered = verify_pack(bytes(changed))
    assert not tampered.ok and tampered.matches_ledger is None
