"""Scope is scope: an app owner's pack holds only data about the services in its scope.

owen owns CICSWEB1 on SYSA/TCPIP and asks for a pack of it alone. The stack also carries
other teams' services, and the estate around it has everything that must stay out: a
certificate shared by CICSWEB1 (port 8443) and CICSWEB2 (port 8444), a certificate only the
MQ listener uses, handshake failures of other rules, a deployment to SYSB alone and one to
SYSA and SYSB together, a removal of another team's rule, drift and incidents elsewhere.
The pack is computed by the engine and rendered by the task, then read back as its reader
sees it (pdftotext, the OSCAL JSON) and as a verification answer, field by field.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audits import selectors as audit_selectors
from audits import services as audit_services
from audits.models import EvidencePack
from audits.scope import OUTSIDE, resolve
from audits.tasks import generate_evidence_pack
from fleet.models import (
    Certificate,
    Deployment,
    DeploymentKind,
    DeploymentTarget,
    DriftEvent,
    Incident,
    RunStatus,
    TargetStatus,
    VerificationRun,
)
from fleet.services import deployment_request
from tests.audits.assessment_support import finish, publish
from tests.audits.test_evidence import pdf_text, squash
from tests.fleet.ui_estate import FleetEstate, build_fleet, reinstate_pending, withdraw_pending

IN_SCOPE = "CICSWEB1"
# Every other service of the reference data center, on SYSA and on SYSB.
OTHERS = (
    "TN3270S",
    "CICSWEB2",
    "MQCHIN",
    "MQPARTNER",
    "DB2DDF",
    "FTPSRV",
    "ZOSMF",
    "TN3270B",
    "BATCHXFR",
    "CICSWEBB",
    "DB2DDFB",
)
OTHER_CERTIFICATES = ("CN=mqp1chin.sysa.bank.example", "CN=ftpd.sysa.bank.example")


def _names(text: str) -> set[str]:
    """The other services' names that `text` holds as a word."""
    return {name for name in OTHERS if re.search(rf"(?<![A-Za-z0-9]){name}(?![A-Za-z0-9])", text)}


@pytest.fixture
def estate(make_user: Any) -> dict[str, Any]:
    fleet = build_fleet(make_user)
    now = timezone.now()
    operator, approver = fleet.people["operator"], fleet.people["operator2"]
    services = fleet.design.services
    sysb_v1 = publish(fleet.sysb, fleet.people["architect"])
    # A deployment to SYSB alone, and one to both stacks (one pending request per stack:
    # each is finished before the next is requested; the estate's own pending one waits).
    withdraw_pending(fleet)
    sysb_only = deployment_request(actor=operator, targets=[(fleet.sysb, sysb_v1)], note="B")
    Deployment.objects.filter(pk=sysb_only.pk).update(approved_by=approver)
    finish(sysb_only, now - timedelta(hours=2))
    both = deployment_request(
        actor=operator,
        targets=[(fleet.sysa, fleet.v2), (fleet.sysb, sysb_v1)],
        note="A and B, for CICSWEB1 and MQCHIN",
    )
    Deployment.objects.filter(pk=both.pk).update(approved_by=approver)
    finish(both, now - timedelta(hours=2))
    reinstate_pending(fleet)
    # Another team's rule removed from SYSA (the emergency path).
    removal = Deployment.objects.create(
        kind=DeploymentKind.REMOVE_RULE,
        requested_by=operator,
        approved_by=operator,
        status=RunStatus.SUCCEEDED,
        approved_at=now - timedelta(hours=1),
        started_at=now - timedelta(hours=1),
        finished_at=now - timedelta(hours=1),
    )
    DeploymentTarget.objects.create(
        deployment=removal,
        position=0,
        stack=fleet.sysa,
        version=fleet.v2,
        text=fleet.v2.text,
        sha256=fleet.v2.sha256,
        removed_rule="MQCHIN",
        status=TargetStatus.SUCCEEDED,
        started_at=now - timedelta(hours=1),
        finished_at=now - timedelta(hours=1),
    )
    # Handshake failures of three rules, one of them in scope.
    results = fleet.run_after.results | {
        "handshake_failures_total": {
            "CICSWEB1": {"412": 2},
            "MQPARTNER": {"8": 3},
            "FTPSRV": {"401": 7},
        },
        "drift_opened": ["unexpected-rule:MQCHIN:TN3270S"],
    }
    VerificationRun.objects.filter(pk=fleet.run_after.pk).update(results=results)
    # The stack-wide drift names the in-scope rule and another; SYSB drifted too.
    DriftEvent.objects.filter(stack=fleet.sysa, key="policy").update(
        detail="The loaded policy differs from v2 deployed:\nrule CICSWEB1: TLSv1.3 On -> Off"
        "\nrule CICSWEB2: LocalPortRange 8444 -> 8445\nrule CICSWEB1 and CICSWEB2: priority"
    )
    DriftEvent.objects.create(
        stack=fleet.sysb,
        service=services["TN3270B"],
        kind="probe",
        key="probe:TN3270B:TLSv1",
        detail="TN3270B: port 992 accepts TLSv1, which the policy has Off",
        opened_at=now - timedelta(hours=5),
        last_seen_at=now - timedelta(hours=1),
    )
    shared = Certificate.objects.get(stack=fleet.sysa, rules=["CICSWEB1", "CICSWEB2"])
    Incident.objects.create(
        stack=fleet.sysa,
        certificate=shared,
        kind="certificate-expired",
        summary=f"The certificate {shared.subject} used by CICSWEB1, CICSWEB2 on SYSA/TCPIP"
        " expired on 2026-01-01 00:00 UTC; 2 failing handshake(s) logged.",
        failing_handshakes=[
            "EZD1286I TTLS Error LOCAL: 10.1.1.10..8443 JOBNAME: CICSPRD1 RULE: CICSWEB1 RC: 401",
            "EZD1286I TTLS Error LOCAL: 10.1.1.10..8444 JOBNAME: CICSPRD2 RULE: CICSWEB2 RC: 401",
        ],
        opened_at=now - timedelta(hours=6),
    )
    mq = Certificate.objects.get(stack=fleet.sysa, rules=["MQCHIN"])
    Incident.objects.create(
        stack=fleet.sysa,
        certificate=mq,
        kind="certificate-expired",
        summary=f"The certificate {mq.subject} used by MQCHIN on SYSA/TCPIP expired.",
        opened_at=now - timedelta(hours=4),
    )
    Incident.objects.create(
        stack=fleet.sysb, kind="certificate-expired", summary="TN3270B expired", opened_at=now
    )
    return {
        "fleet": fleet,
        "sysb_only": sysb_only,
        "both": both,
        "removal": removal,
        "shared": shared,
    }


@pytest.fixture
def owner_pack(estate: dict[str, Any], django_capture_on_commit_callbacks: Any) -> EvidencePack:
    fleet: FleetEstate = estate["fleet"]
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=False):
        pack = audit_services.evidence_pack_request(
            actor=fleet.people["owner_a"],
            new=audit_services.PackRequest(
                scope_kind="services",
                scope={"services": [str(fleet.service_a.uuid)]},
                period_start=now - timedelta(days=3),
                period_end=now + timedelta(minutes=1),
            ),
        )
    assert generate_evidence_pack(pack.pk) == "succeeded", EvidencePack.objects.get(
        pk=pack.pk
    ).error
    pack.refresh_from_db()
    return pack


def test_the_pdf_of_an_owners_pack_names_nothing_outside_its_scope(
    estate: dict[str, Any], owner_pack: EvidencePack
) -> None:
    text = squash(pdf_text(audit_selectors.pack_file(owner_pack, "pdf")))

    assert "Service CICSWEB1 on SYSA/TCPIP" in text  # the pack is about something
    assert _names(text) == set()
    assert "SYSB" not in text
    for subject in OTHER_CERTIFICATES:
        assert subject not in text
    # The shared certificate, with its in-scope rule and port only.
    assert estate["shared"].subject in text
    assert re.findall(r"ports ([\d, ]+?) ", text) == ["8443"]
    # The deployment to SYSA and SYSB is listed with its SYSA target; the others are not.
    assert str(estate["both"].uuid)[:8] in text
    assert str(estate["sysb_only"].uuid)[:8] not in text
    assert str(estate["removal"].uuid)[:8] not in text
    assert f"A and B, for CICSWEB1 and {OUTSIDE}" in text  # its note, as the request's too
    # The stack-wide drift keeps its lines about CICSWEB1; the incident of the shared
    # certificate keeps CICSWEB1's failing handshake.
    assert "rule CICSWEB1: TLSv1.3 On -> Off" in text
    assert f"rule CICSWEB1 and {OUTSIDE}:" in text  # table cells interleave in pdftotext
    assert "(1 line(s) about services outside this scope left out)" in text
    assert "The certificate CN=sysa.bank.example used by CICSWEB1 on" in text
    assert "1 failing handshake(s) of this rule logged" in text
    # Handshake failures: CICSWEB1's return code only.
    assert "CICSWEB1: 412" in text
    assert "RC 8" not in text and "401 " not in text.split("CICSWEB1: 412")[1][:40]


def _walk(value: Any, key: str) -> list[Any]:
    """Every value of `key` anywhere in a JSON document."""
    found = []
    if isinstance(value, dict):
        for k, inner in value.items():
            if k == key:
                found.append(inner)
            found += _walk(inner, key)
    elif isinstance(value, list):
        for inner in value:
            found += _walk(inner, key)
    return found


def test_the_oscal_file_and_the_stored_results_name_nothing_outside_the_scope(
    estate: dict[str, Any], owner_pack: EvidencePack
) -> None:
    raw = audit_selectors.pack_file(owner_pack, "oscal").read_text()
    document = json.loads(raw)
    result = document["assessment-results"]["results"][0]
    stored = list(owner_pack.assessment.results.values_list("evidence", flat=True))
    summary = owner_pack.assessment.summary

    assert [i["uuid"] for i in result["local-definitions"]["inventory-items"]] == [
        str(estate["fleet"].service_a.uuid)
    ]
    assert _names(raw) == set() and "SYSB" not in raw
    for subject in OTHER_CERTIFICATES:
        assert subject not in raw
    # Field by field, in what the engine stored (the OSCAL remarks are written from it).
    certificates = [c for value in _walk(stored, "certificates") for c in value]
    assert certificates and all(c["rules"] == ["CICSWEB1"] for c in certificates)
    assert all(c["ports"] == [8443] for c in certificates)
    assert {c["subject"] for c in certificates} == {estate["shared"].subject}
    deployments = [d for value in _walk(stored, "deployments") for d in value]
    shown = {d["uuid"] for d in deployments}
    assert {str(estate["fleet"].deployed.uuid), str(estate["both"].uuid)} <= shown
    assert not {str(estate["sysb_only"].uuid), str(estate["removal"].uuid)} & shown
    assert {t["stack"] for d in deployments for t in d["targets"]} == {"SYSA/TCPIP"}
    failures = _walk(stored, "handshake_failures")
    assert failures and all(f == {"SYSA/TCPIP": {"CICSWEB1": {"412": 2}}} for f in failures)
    drift = [d for value in _walk(stored, "drift") for d in value]
    assert {(d["stack"], d["kind"]) for d in drift} == {("SYSA/TCPIP", "policy")}
    runs = [r for value in _walk(stored, "verification_runs") for r in value]
    # The latest SYSA run's totals are CICSWEB1's own: 2 of 3 connections secured.
    assert {(r["stack"], r["connections"], r["secured"]) for r in runs} == {("SYSA/TCPIP", 3, 2)}
    assert [i["certificate"] for i in summary["incidents"]["items"]] == [estate["shared"].subject]
    assert _names(json.dumps(summary)) == set()


def _upload(client: Client, data: bytes, url: str) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(url, {"file": SimpleUploadedFile("p.pdf", data, "application/pdf")})


@pytest.mark.parametrize("url", ["/audits/api/verify/", "/audits/verify/"])
def test_a_verification_answer_names_only_a_pack_the_uploader_may_see(
    estate: dict[str, Any], owner_pack: EvidencePack, url: str
) -> None:
    people = estate["fleet"].people
    data = audit_selectors.pack_file(owner_pack, "pdf").read_bytes()
    answers = {}
    for who in ("owner_a", "owner_b", "auditor"):
        client = Client()
        client.force_login(people[who])
        response = _upload(client, data, url)
        assert response.status_code == 200
        answers[who] = response.content.decode()

    pack_id = str(owner_pack.uuid)
    for who in ("owner_a", "auditor"):
        assert pack_id[:8] in answers[who] and "owen" in answers[who]
    stranger = answers["owner_b"]
    assert audit_selectors.NOT_YOURS in stranger.lower()
    assert pack_id[:8] not in stranger and "owen" not in stranger
    assert str(owner_pack.assessment.uuid)[:8] not in stranger
    assert _names(stranger) == set() and IN_SCOPE not in stranger
    if url.startswith("/audits/api/"):
        answer = json.loads(stranger)
        assert answer["ok"] and answer["in_ledger"]
        assert answer["matches_ledger"] is None and answer["ledger"] == audit_selectors.NOT_YOURS
        assert json.loads(answers["owner_a"])["matches_ledger"]["uuid"] == pack_id


def test_text_about_other_services_is_cut_line_by_line(estate: dict[str, Any]) -> None:
    fleet: FleetEstate = estate["fleet"]
    scope = resolve("services", {"services": [str(fleet.service_a.uuid)]})
    sysa = fleet.sysa.pk

    assert scope.redact(sysa, "differs:\nrule CICSWEB10 x\nrule CICSWEB2: y") == (
        "differs:\nrule CICSWEB10 x\n(1 line(s) about services outside this scope left out)"
    )
    assert (
        scope.redact(sysa, "MQCHIN is secured by TN3270S.") == f"{OUTSIDE} is secured by {OUTSIDE}."
    )
    assert (
        scope.rule_name(sysa, "MQCHIN") == OUTSIDE and scope.rule_name(sysa, IN_SCOPE) == IN_SCOPE
    )
    assert scope.holds_port(sysa, 8443) and not scope.holds_port(sysa, 8444)
    # MQCHIN's connection secured by another team's rule: the fact stays, the name does not.
    mq = resolve("services", {"services": [str(fleet.service_b.uuid)]})
    [event] = [
        e
        for e in mq.drift(timezone.now() - timedelta(days=3), timezone.now())
        if e.kind == "unexpected-rule"
    ]
    assert event.key == f"unexpected-rule:MQCHIN:{OUTSIDE}"
    assert event.detail == f"1 connection(s) of MQCHIN are secured by rule {OUTSIDE}, not by MQCHIN"
    whole = resolve("lpar", {"lpar": "SYSA"})
    assert whole.redact(sysa, "rule CICSWEB2: y") == "rule CICSWEB2: y"
