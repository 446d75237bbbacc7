"""The signed PDF shows the figures of the assessment it signs, and no others.

The pack is generated from a new assessment run by the engine on the reference estate, with
a period that starts in the middle of an hour and a certificate warning threshold that is not
the catalog's default; every figure the PDF prints for the period is then read back with
pdftotext and compared with what the assessment stored.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from attls.reports import smf119 as z
from audits import charts, oscal, period
from audits import selectors as audit_selectors
from audits import services as audit_services
from audits.models import EvidencePack, ScopeKind
from audits.tasks import generate_evidence_pack
from fleet.models import LparConnection, RunStatus, ZertRun
from fleet.zert import collect as zert_collect
from policies.models import Stack
from tests.attls.reports.test_smf119 import connection as record
from tests.attls.reports.test_smf119 import tls
from tests.audits.estate import Assessed, build_assessed
from tests.audits.test_evidence import pdf_text, squash

WARNING_DAYS = 400  # the default is 30: one more certificate of the estate expires within it


def test_every_figure_of_the_pdf_is_the_stored_assessments(
    make_user, django_capture_on_commit_callbacks
) -> None:
    assessed: Assessed = build_assessed(make_user)
    # zERT recorded SYSA/TCPIP's TN3270S: two connections on TLS 1.2 and one in cleartext.
    sysa = assessed.fleet.sysa
    dump = _zert_dump(sysa, [_zert(1, 0x0303), _zert(2, 0x0303), _zert(3, None)])
    now = timezone.now()
    top = now.replace(minute=0, second=0, microsecond=0)
    start = top - timedelta(hours=5) + timedelta(minutes=20)  # inside an hour with a roll-up
    with django_capture_on_commit_callbacks(execute=False):
        pack = audit_services.evidence_pack_request(
            actor=assessed.people["auditor"],
            new=audit_services.PackRequest(
                scope_kind=ScopeKind.ESTATE,
                scope={},
                period_start=start,
                period_end=now,
                parameters={"cert_expiry_warning_days": WARNING_DAYS},
            ),
        )
    assert generate_evidence_pack(pack.pk) == "succeeded"
    pack = EvidencePack.objects.select_related("assessment").get(pk=pack.pk)
    assessment = pack.assessment
    summary = assessment.summary
    assert assessment.parameters["cert_expiry_warning_days"] == WARNING_DAYS
    text = squash(pdf_text(audit_selectors.pack_file(pack, "pdf")))

    # The protocol mix of the whole period: the engine's sums over the roll-ups of every hour
    # the period touches (the first one counts from its start, rounded down to the hour).
    protocols = summary["protocols"]
    connections = summary["coverage"]["connections"]
    assert connections == sum(protocols.values()) > 0
    assert connections == 20 * 6  # 2 services x 10 connections x 6 hours (5 + the started one)
    assert f"{connections:,} connections" in text
    mix = text.split("Protocol mix")[1].split("Share", 1)[1]
    for row in charts.protocol_table(protocols):
        assert f"{row['name']} {row['count']:,} {row['share']}" in mix, row
    # Deployments: those approved, started or finished in the period, as the engine counted.
    # (pdftotext reads the row of figure tiles as its keys, then its values)
    tiles = re.search(r"DRIFT EVENTS INCIDENTS DEPLOYMENTS (\d+) (\d+) (\d+) opened", text)
    assert tiles is not None, text[:3000]
    assert int(tiles.group(3)) == summary["deployments"] >= 1
    assert int(tiles.group(1)) == summary["drift"]["events"]
    assert int(tiles.group(2)) == summary["incidents"]["count"]
    # Certificates: judged at the evaluation instant against the assessment's threshold.
    inventory = text.split("D Certificate inventory")[-1].split("E Manifest of raw outputs")[0]
    assert f"expiring within {WARNING_DAYS} days" in inventory
    certificates = summary["certificates"]
    assert certificates["warning_days"] == WARNING_DAYS
    # each row: its not-after date, then its state when not valid
    states = re.findall(r"\d{4}-\d{2}-\d{2} (expiring|expired)\b", inventory)
    assert states.count("expiring") == certificates["expiring"] == 2
    assert states.count("expired") == certificates["expired"] == 1
    assert len(re.findall(r"serial \w+", inventory)) == certificates["count"]
    # zERT: the records, connections and dump files the assessment stored, and no others.
    zert = summary["zert"]
    assert (zert["records"], zert["connections"], zert["encrypted"]) == (3, 3, 2)
    assert zert["without_zert"] == ["SYSB/TCPIP"]
    measured = text.split("Measured by zERT")[1].split("Start and end")[0]
    assert f"From {zert['records']:,} zERT records (SMF 119) of SYSA/TCPIP" in measured
    assert f"in 1 dump file (appendix E): {zert['connections']:,} connections" in measured
    assert f"{zert['encrypted']:,} encrypted" in measured
    for name, count in [*zert["by_protection"].items(), *zert["protocols"].items()]:
        assert f"{name} {count:,}" in measured, name
    manifest = text.split("zERT dump files behind the figures")[1]
    (stored,) = zert["dumps"]
    assert stored["sha256"] == dump["sha256"] and stored["records"] == 3
    assert f"SYSA {stored['finished_at'][:10]}" in manifest
    assert f"{stored['records']:,} {stored['sha256']}" in squash(manifest.replace("\n", " "))
    tls10 = assessment.results.get(control_id="NIST-800-52r2-3.1-tls10")
    assert tls10.evidence["zert_dumps"] == zert["dumps"]
    assert tls10.evidence["observed_from"].startswith("3 zERT records of SYSA/TCPIP")
    # The OSCAL file carries the same figures as an observation whose source is the dump.
    document = json.loads(audit_selectors.pack_file(pack, "oscal").read_bytes())
    assert oscal.validate(document) == []
    result = document["assessment-results"]["results"][0]
    (observation,) = [o for o in result["observations"] if o["title"].startswith("Connections")]
    props = {p["name"]: p["value"] for p in observation["props"]}
    assert props["zert-records"] == str(zert["records"])
    assert props["zert-connections"] == str(zert["connections"])
    assert props["zert-protocol-tlsv1-2"] == str(zert["protocols"]["TLSv1.2"])
    (link,) = observation["relevant-evidence"]
    resources = {r["uuid"]: r for r in document["assessment-results"]["back-matter"]["resources"]}
    dump_resource = resources[link["href"][1:]]
    assert dump_resource["rlinks"][0]["hashes"][0]["value"] == dump["sha256"]
    # The per-day trend is the stored one.
    assert summary["days"] == period.coverage_by_day(
        [s.pk for s in assessed.fleet.design.services.values()], start, now
    )


def _zert(conn: int, version: int | None) -> z.ConnectionRecord:
    """An Init record of a TN3270 connection (port 992) that started at 00:00 UTC today."""
    today = datetime.now(UTC).date()
    attributes = tls(version)._replace(source=1, provider="") if version else None
    return record(
        connection_id=conn,
        event=1,
        tls=attributes,
        security_protocols=0x80 if attributes else 0,
        start_date=today,
        start_time=0,
        end_date=None,
        end_time=0,
        header=record().header._replace(date=today),
    )


def _zert_dump(stack: Stack, records: list[z.ConnectionRecord]) -> dict[str, object]:
    """A finished zERT collection of these records, as the collector stores it."""
    data = z.render_dump(records)
    connection = LparConnection.objects.get(lpar=stack.lpar)
    run = ZertRun.objects.create(connection=connection, source="sftp")
    digest, name = zert_collect.keep_dump(data)
    run.outputs["dump"] = {"sha256": digest, "bytes": len(data), "file": name}
    zert_collect._ingest(run, data, None)
    ZertRun.objects.filter(pk=run.pk).update(
        status=RunStatus.SUCCEEDED, finished_at=timezone.now(), outputs=run.outputs
    )
    return dict(run.outputs["dump"])


def test_the_protocol_order_knows_sslv2_and_a_certificate_state_is_the_engines() -> None:
    assert charts.PROTOCOL_ORDER[-2:] == ("SSLv2", "cleartext")
    assert period.PROTOCOL_KEYS[0] == "SSLv2"
    at = timezone.now()
    assert period.certificate_state(at + timedelta(days=12), at, 30) == ("expiring", 12)
    assert period.certificate_state(at + timedelta(days=12), at, 10)[0] == "valid"
    assert period.certificate_state(at, at, 10)[0] == "expired"
    assert period.floor_hour(at.replace(minute=59)) == at.replace(minute=0, second=0, microsecond=0)
