"""The protocol and suite controls judge from zERT's records where the stack has them.

The zERT rows are written by the collector's own ingestion (`fleet.zert.collect._ingest`) from
a dump rendered by `attls.reports.smf119`, the dump kept under its SHA-256 as a run keeps it;
the netstat side is the verifications' hourly roll-ups, as in tests/audits/test_assessment.py.
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import Role
from attls.reports import smf119 as z
from fleet.models import RunStatus, ZertRun
from fleet.zert import collect
from policies.models import Stack
from tests.attls.reports.test_smf119 import connection as record
from tests.attls.reports.test_smf119 import tls
from tests.audits.assessment_support import (
    connect,
    deploy,
    entry,
    hours,
    period,
    publish,
    run_catalog,
    verification,
)
from tests.policies import conftest as design_fixtures

architect = design_fixtures.architect
stack = design_fixtures.stack
shared = design_fixtures.shared
make_service = design_fixtures.make_service

TLS10 = "NIST-800-52r2-3.1-tls10"
SUITES = "NIST-800-52r2-3.3.1-approved-suites"
TLS13 = "NIST-800-52r2-3.1-tls13-support"


@pytest.fixture
def people(make_user, architect):
    return {
        "architect": architect,
        "operator": make_user("olivia", Role.OPERATOR),
        "operator2": make_user("otto", Role.OPERATOR),
    }


def _connection(
    conn: int, version: int | None, cipher: str = "C02F", *, at_tls: bool = False
) -> z.ConnectionRecord:
    """An Init record of a connection to port 992 that started today (UTC), as zERT writes it."""
    today = dt.datetime.now(dt.UTC).date()
    attributes = None
    if version is not None:
        attributes = tls(version, cipher)._replace(
            source=2 if at_tls else 1, provider="IBM System SSL" if at_tls else "Observation"
        )
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


def _zert(stack: Stack, records: list[z.ConnectionRecord]) -> ZertRun:
    """A finished collection of these records: the dump kept with its hash, then ingested."""
    data = z.render_dump(records)
    run = ZertRun.objects.create(connection=connect(stack), source="sftp")
    digest, name = collect.keep_dump(data)
    run.outputs["dump"] = {"sha256": digest, "bytes": len(data), "file": name}
    collect._ingest(run, data, None)
    ZertRun.objects.filter(pk=run.pk).update(
        status=RunStatus.SUCCEEDED,
        finished_at=timezone.now(),
        outputs=run.outputs,
        records_stored=run.records_stored,
    )
    return run


def test_zert_records_decide_the_tls10_and_suite_controls_and_are_cited_with_their_dump(
    stack, make_service
):
    # "Before": no AT-TLS rule; the application's own TLS speaks TLS 1.0 with RC4 to a peer.
    make_service("TN3270B", 992)
    run = _zert(
        stack,
        [
            _connection(1, 0x0301, "0005"),  # TLSv1, TLS_RSA_WITH_RC4_128_SHA
            _connection(2, 0x0301, "0005"),
            _connection(3, 0x0303, "C02F"),
            _connection(4, None),  # cleartext
        ],
    )

    results = run_catalog()

    tls10 = results[TLS10]
    assert tls10.outcome == "FAIL"
    today = dt.datetime.now(dt.UTC).date()
    assert (
        "zERT recorded 2 TLSv1 connection(s) of TN3270B in the period (2 Application TLS),"
        f" the last on {today}" in tls10.rationale
    )
    assert "Note: Observed from 4 zERT records of SYSA/TCPIP (1 dump file" in tls10.rationale
    dump = run.outputs["dump"]
    assert tls10.evidence["zert_dumps"] == [
        {
            "run": str(run.uuid),
            "lpar": "SYSA",
            "source": "sftp",
            "finished_at": tls10.evidence["zert_dumps"][0]["finished_at"],
            "file": dump["file"],
            "sha256": dump["sha256"],
            "bytes": dump["bytes"],
            "records": 4,
        }
    ]
    assert tls10.evidence["observed_from"].startswith("4 zERT records of SYSA/TCPIP")
    suites = results[SUITES]
    assert suites.outcome == "FAIL"
    assert (
        "zERT recorded 2 connection(s) of TN3270B that negotiated 0005 TLS_RSA_WITH_RC4_128_SHA"
        in suites.rationale
    )
    assert suites.evidence["zert_dumps"] == tls10.evidence["zert_dumps"]
    assert results[TLS13].evidence["observed_by_zert"] == {
        "tls13_connections": 0,
        "tls_connections": 3,
        "tls13_share": 0.0,
    }


def test_without_zert_records_the_controls_say_they_rest_on_netstat_samples(stack, make_service):
    service = make_service("TN3270B", 992)
    start, _ = period()
    hours(service, start + timedelta(hours=1), 5, {"TLSv1": 2, "TLSv1.2": 6})
    # zERT records of another day than the period's do not count.
    old = dt.datetime.now(dt.UTC).date() - timedelta(days=30)
    stale = _connection(1, 0x0303)
    _zert(stack, [stale._replace(start_date=old, header=stale.header._replace(date=old))])

    tls10 = run_catalog()[TLS10]

    assert tls10.outcome == "FAIL"
    assert "10 TLSv1 session(s) of TN3270B observed in the period" in tls10.rationale
    assert tls10.evidence["observed_from"].startswith("netstat samples")
    assert "zert_dumps" not in tls10.evidence
    assert "Note: Observed from netstat samples" in tls10.rationale


def test_where_zert_and_netstat_disagree_zert_decides_and_the_rationale_says_so(
    stack, make_service, people
):
    # The rule allows TLS 1.2 and 1.3 only; netstat's samples claim two TLS 1.0 sessions and an
    # RC4 suite, zERT recorded every connection on TLS 1.2 through AT-TLS.
    service = make_service("TN3270S", 992)
    version = publish(stack, people["architect"])
    deploy(
        stack,
        version,
        requester=people["operator"],
        approver=people["operator2"],
        at=timezone.now() - timedelta(days=6),
    )
    start, _ = period()
    sampled = {"TLSv1": 2, "TLSv1.2": 6}
    hours(service, start + timedelta(hours=1), 1, sampled, {"0005": 2})
    verification(
        stack,
        timezone.now() - timedelta(hours=1),
        {"TN3270S": entry(service, protocols=sampled, ciphers={"0005": 2})},
        version=version,
    )
    before = run_catalog()
    assert before[TLS10].outcome == "FAIL"  # netstat alone: the sampled TLS 1.0 and RC4
    assert before[SUITES].outcome == "FAIL", before[SUITES].rationale

    _zert(stack, [_connection(n, 0x0303, "C02F", at_tls=True) for n in range(1, 4)])
    results = run_catalog()

    tls10 = results[TLS10]
    assert tls10.outcome == "PASS", tls10.rationale
    assert (
        "Note: zERT and netstat disagree on TN3270S (SYSA/TCPIP): netstat samples saw 2 AT-TLS"
        " protocol TLSv1 session(s), zERT recorded 0 AT-TLS connection(s) with it; zERT,"
        " which records every connection, decides." in tls10.rationale
    )
    suites = results[SUITES]
    assert suites.outcome == "PASS", suites.rationale
    assert "netstat samples saw 2 AT-TLS suite 0005 session(s)" in suites.rationale
