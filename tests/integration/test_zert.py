"""zERT collection against lparsim with a real worker: the "before" inventory measured from
every connection, zERT against netstat -x after v1, and the failures (a job that fails on
z/OSMF, a download cut in the middle, the same dump read twice).

lparsim's own connection log (`lparsim.zert.read_connection_log`) is what its data plane
actually negotiated; the portal never reads it, the test holds the portal's figures to it.
Records and log lines are written together, in the same order, so the N records a dump held
are the first N lines of the log.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from fleet.models import (
    ConnectionObservation,
    LparConnection,
    RunStatus,
    ZertDaily,
    ZertRecord,
    ZertRun,
    ZertSource,
)
from fleet.tasks import verification_request
from fleet.zert import collect, inventory
from lparsim import zert as lparsim_zert

from .conftest import Lab, wait_for
from .test_deployment import deploy, finished, publish, steps, sysa

pytestmark = pytest.mark.integration

INIT_AFTER = 1.0  # instead of zERT's 10 s: Init records arrive within the test
FIRST = ("ConnInit", "ShortTerm")
KIND = {"app": "app-tls", "at-tls": "at-tls", "none": "none"}


def _collect(connection: LparConnection, timeout: float = 60) -> ZertRun:
    with transaction.atomic():
        run = collect.run_request(connection=connection)
    return wait_for(
        lambda: (
            (r := ZertRun.objects.get(pk=run.pk)).status in (RunStatus.SUCCEEDED, RunStatus.FAILED)
            and r
        ),
        timeout=timeout,
        what=f"the zERT run of {connection.lpar.name}",
    )


def _log_key(line: dict[str, Any]) -> tuple[Any, ...]:
    return (
        # The seeded portal names services as policy names: other characters become "_".
        re.sub(r"[^A-Za-z0-9]", "_", line["service"]) if line["service"] else None,
        line["remote"][0],
        KIND[line["secured_by"]],
        line["protocol"] or "",
        line["cipher"] or "",
    )


def _stored_key(row: ZertRecord) -> tuple[Any, ...]:
    return (
        row.service.name if row.service else None,
        row.remote_address,
        row.protection,
        row.protocol,
        row.cipher,
    )


@pytest.fixture
def zert_lab(estate: Lab) -> Lab:
    for lpar in estate.simulator.lpars.values():
        lpar.zert.init_after = INIT_AFTER
    LparConnection.objects.update(zert_enabled=False, zert_source=ZertSource.JOB)
    return estate


def test_the_before_inventory_is_what_the_data_plane_negotiated(zert_lab: Lab) -> None:
    connection = LparConnection.objects.get(lpar__name="SYSA")
    wait_for(
        lambda: len(lparsim_zert.read_connection_log(zert_lab.lpar())) > 40,
        timeout=30,
        what="the populations' connections to reach their Init records",
    )
    run = _collect(connection)
    assert run.status == RunStatus.SUCCEEDED, (run.error, run.steps)
    assert [s["name"] for s in run.steps][:4] == [
        "delete old dump",
        "submit dump job",
        "dump job ended",
        "download dump (binary)",
    ]
    assert run.outputs["job"]["retcode"] == "CC 0000"
    assert "RECORDS WRITTEN" in run.outputs["spool"]["text"]
    assert collect.sha256(collect.dump_bytes(run.outputs["dump"])) == run.outputs["dump"]["sha256"]
    assert run.warnings == []
    assert run.records_read == run.records_stored > 0

    log = lparsim_zert.read_connection_log(zert_lab.lpar())[: run.records_read]
    stored = list(ZertRecord.objects.filter(run=run).select_related("service"))
    assert len(stored) == len(log)
    # Each record as the data plane negotiated it: connection, job, peer, protection.
    assert sorted(
        (r.connection_id, r.jobname, r.remote_address, r.remote_port, *_stored_key(r)[2:])
        for r in stored
    ) == sorted(
        (
            line["connection_id"],
            line["jobname"],
            *line["remote"],
            *_log_key(line)[2:],
        )
        for line in log
    )
    # The inventory's figures are the log's: connections per service, peer and protection.
    expected = Counter(_log_key(line) for line in log if line["event"] in FIRST)
    rolled = Counter()
    for day in ZertDaily.objects.select_related("service"):
        key = (
            day.service.name if day.service else None,
            day.peer,
            day.protection,
            day.protocol,
            day.cipher,
        )
        rolled[key] += day.connections
    assert +rolled == expected
    # Before AT-TLS: the applications' own TLS and cleartext, every service with its peers.
    architect = User.objects.get(username="architect")
    totals = inventory.totals_for(user=architect, filters=inventory.InventoryFilters())
    assert totals.by_protection.get("at-tls", 0) == 0
    assert totals.by_protection.get("app-tls") and totals.by_protection.get("none")
    assert totals.connections == sum(expected.values())
    services_seen = {key[0] for key in expected}
    rows = list(inventory.peer_rows_for(user=architect, filters=inventory.InventoryFilters()))
    assert {row["service__name"] for row in rows} == services_seen
    assert "TN3270_Cleartext" in services_seen and "TN3270_Secure" in services_seen
    cleartext = next(row for row in rows if row["service__name"] == "TN3270_Cleartext")
    assert cleartext["cleartext"] == cleartext["total"] > 0


def test_after_v1_zert_and_netstat_agree_on_every_at_tls_connection(zert_lab: Lab) -> None:
    stack = sysa()
    connection = stack.lpar.connection
    wait_for(
        lambda: lparsim_zert.read_connection_log(zert_lab.lpar()),
        timeout=30,
        what="a first zERT record",
    )
    first = _collect(connection)
    assert first.cursor is not None
    assert first.status == RunStatus.SUCCEEDED, first.error
    deployment = finished(deploy(stack, publish(stack)))
    assert deployment.status == RunStatus.SUCCEEDED, (deployment.error, steps(deployment))
    zert_lab.fault("drop")  # sessions opened before the refresh reconnect under AT-TLS
    wait_for(
        lambda: (
            sum(
                1
                for line in lparsim_zert.read_connection_log(zert_lab.lpar())
                if line["secured_by"] == "at-tls" and line["event"] == "ConnInit"
            )
            >= 10
        ),
        timeout=40,
        what="AT-TLS connections to reach their Init records",
    )
    with transaction.atomic():
        run = verification_request(stack_id=stack.id)
    wait_for(
        lambda: (
            ConnectionObservation.objects.filter(stack=stack, secured=True).exists()
            and type(run).objects.get(pk=run.pk).status == RunStatus.SUCCEEDED
        ),
        timeout=60,
        what="a verification that saw AT-TLS connections",
    )
    second = _collect(connection)
    assert second.status == RunStatus.SUCCEEDED, second.error
    assert second.since is not None and second.since == first.cursor  # resumed
    check = inventory.crosscheck_for(user=User.objects.get(username="architect"))
    assert check.disagree == []
    assert check.agree > 0
    at_tls = ZertRecord.objects.filter(stack=stack, protection="at-tls", event__in=(1, 4))
    seen = {o.conn_id for o in ConnectionObservation.objects.filter(stack=stack, secured=True)}
    both = [r for r in at_tls if f"{r.connection_id:08X}" in seen]
    assert both and check.agree >= len(both)


def test_failures_are_clear_and_nothing_is_stored_twice(zert_lab: Lab) -> None:
    connection = LparConnection.objects.get(lpar__name="SYSA")
    # A job that fails on z/OSMF: the program is not there (ABEND S806).
    connection.zert_jcl = connection.zert_jcl.replace("PGM=IFASMFDL", "PGM=IFASMFXX")
    connection.save()
    failed = _collect(connection)
    assert failed.status == RunStatus.FAILED
    assert "ABEND S806" in failed.error and "CSV003I" in failed.error
    assert "permanent" in failed.error
    assert not ZertRecord.objects.exists()
    # A JCL error.
    connection.zert_jcl = "//ZERTDUMP JOB (ACCT)\n//STEP1 EXEC PROC=NOPE\n{dsn}\n"
    connection.save()
    failed = _collect(connection)
    assert failed.status == RunStatus.FAILED and "JCL ERROR" in failed.error

    # A download cut in the middle: the run fails, transient, and stores nothing.
    connection.zert_jcl = ""
    connection.save()
    zert_lab.lpar().jes.cut_next_download = 300
    cut = _collect(connection)
    assert cut.status == RunStatus.FAILED, cut.steps
    assert "cut in the middle" in cut.error and "transient" in cut.error
    assert not ZertRecord.objects.exists()
    assert "dump" not in cut.outputs

    # The next run reads it whole.
    whole = _collect(connection)
    assert whole.status == RunStatus.SUCCEEDED, whole.error
    stored = ZertRecord.objects.count()
    assert stored == whole.records_stored > 0

    # The same dump read twice: nothing new.
    again = ZertRun.objects.create(
        connection=connection, source=ZertSource.JOB, status=RunStatus.RUNNING
    )
    collect._ingest(again, collect.dump_bytes(whole.outputs["dump"]), None)
    assert again.records_read == whole.records_read and again.records_stored == 0
    assert ZertRecord.objects.count() == stored
    # And over SFTP, the whole recording (overlapping everything above): only new records.
    LparConnection.objects.filter(pk=connection.pk).update(zert_source=ZertSource.SFTP)
    sftp = _collect(LparConnection.objects.get(pk=connection.pk))
    assert sftp.status == RunStatus.SUCCEEDED, sftp.error
    assert sftp.since == whole.cursor
    keys = ZertRecord.objects.values_list(
        "stack_id", "connection_id", "started_at", "event", "smf_date", "smf_time"
    )
    assert len(set(keys)) == len(keys) == stored + sftp.records_stored
    daily = sum(ZertDaily.objects.values_list("records", flat=True))
    assert daily == ZertRecord.objects.count()
