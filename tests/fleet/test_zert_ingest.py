"""Storing zERT records: once per natural key, rolled up by day, pruned; the inventory's
figures and its scoping. Runs on SQLite and, with DATABASE_URL set, on PostgreSQL (COPY and
the partitioned table)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection as database
from django.urls import reverse

from accounts.roles import Role
from attls.reports import smf119 as z
from fleet.models import ZertDaily, ZertRecord
from fleet.zert import ingest, inventory
from policies.models import Lpar, Service, Stack
from tests.attls.reports.test_smf119 import connection as record
from tests.attls.reports.test_smf119 import tls

TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture
def estate(db: None) -> dict[str, object]:
    lpar = Lpar.objects.create(name="SYSA")
    stack = Stack.objects.create(lpar=lpar, name="TCPIP")
    tn3270 = Service.objects.create(
        stack=stack, name="TN3270", jobname="TN3270A", local_port_low=992, local_port_high=992
    )
    partner = Service.objects.create(
        stack=stack,
        name="MQ to partner",
        jobname="MQP1*",
        remote_port_low=1414,
        remote_port_high=1414,
        direction="Outbound",
    )
    return {"lpar": lpar, "stack": stack, "tn3270": tn3270, "partner": partner}


def _record(
    conn: int,
    *,
    event: int = 1,
    peer: str = "192.0.2.7",
    version: int | None = 0x0303,
    cipher: str = "C02F",
    source: int = 1,
    day: dt.date = TODAY,
    smf_time: int = 4_500_000,
    **changes: object,
) -> z.ConnectionRecord:
    attributes = None
    if version is not None:
        attributes = tls(version, cipher)._replace(
            source=source, provider="IBM System SSL" if source == 2 else "Observation"
        )
    return record(
        connection_id=conn,
        event=event,
        remote_address=peer,
        tls=attributes,
        security_protocols=0x80 if attributes else 0,
        start_date=day,
        end_date=day if event in (3, 4) else None,
        header=record().header._replace(date=day, time=smf_time),
        **changes,
    )


def _store(lpar: Lpar, records: list[z.ConnectionRecord]) -> int:
    mapper = ingest.RecordMapper(lpar.id)
    rows = [row for row in (mapper.row(r) for r in records) if row is not None]
    return ingest.store_batch(rows)


def test_a_record_stored_twice_is_stored_and_counted_once(estate: dict[str, object]) -> None:
    lpar = estate["lpar"]
    assert isinstance(lpar, Lpar)
    first = [
        _record(1),  # app TLS 1.2, Init
        _record(1, event=3, smf_time=4_600_000),  # its Term
        _record(2, event=4, version=0x0301, cipher="002F"),  # app TLS 1.0, short
        _record(3, version=None, peer="198.51.100.9"),  # cleartext
        _record(4, source=2, version=0x0304, cipher="1302"),  # AT-TLS
        _record(5, local_port=50000, remote_port=1414, jobname="MQP1CHIN"),  # outbound
    ]
    assert _store(lpar, first) == 6
    # The next dump overlaps: the same six and one new.
    assert _store(lpar, [*first, _record(6, peer="198.51.100.9", version=None)]) == 1
    assert ZertRecord.objects.count() == 7
    daily = {
        (d.service.name if d.service else None, d.peer, d.protection, d.protocol): (
            d.connections,
            d.records,
        )
        for d in ZertDaily.objects.select_related("service")
    }
    assert daily == {
        ("TN3270", "192.0.2.7", "app-tls", "TLSv1.2"): (1, 2),
        ("TN3270", "192.0.2.7", "app-tls", "TLSv1"): (1, 1),
        ("TN3270", "198.51.100.9", "none", ""): (2, 2),
        ("TN3270", "192.0.2.7", "at-tls", "TLSv1.3"): (1, 1),
        ("MQ to partner", "192.0.2.7", "app-tls", "TLSv1.2"): (1, 1),
    }


def test_records_of_a_stack_the_lpar_does_not_have_are_skipped(estate: dict[str, object]) -> None:
    lpar = estate["lpar"]
    assert isinstance(lpar, Lpar)
    mapper = ingest.RecordMapper(lpar.id)
    other = _record(9)._replace(ident=record().ident._replace(stack="TCPIPB"))
    assert mapper.row(other) is None
    assert mapper.unknown_stacks == {"TCPIPB": 1}


def test_prune_removes_raw_rows_past_retention_and_keeps_the_roll_ups(
    estate: dict[str, object],
) -> None:
    lpar = estate["lpar"]
    assert isinstance(lpar, Lpar)
    old = TODAY - dt.timedelta(days=70)
    assert _store(lpar, [_record(1, day=old), _record(2)]) == 2
    assert ingest.prune(older_than=dt.timedelta(days=35)) == 1
    assert list(ZertRecord.objects.values_list("connection_id", flat=True)) == [2]
    assert ZertDaily.objects.filter(day=old).exists()


@pytest.mark.skipif(database.vendor != "postgresql", reason="partitions are PostgreSQL's")
def test_on_postgresql_the_raw_table_is_partitioned_by_month(estate: dict[str, object]) -> None:
    lpar = estate["lpar"]
    assert isinstance(lpar, Lpar)
    old = TODAY - dt.timedelta(days=70)
    _store(lpar, [_record(1, day=old), _record(2)])
    names = ingest.partitions()
    assert ingest.partition_name(old.replace(day=1)) in names
    assert ingest.partition_name(TODAY.replace(day=1)) in names
    assert "fleet_zertrecord_default" in names
    ingest.prune(older_than=dt.timedelta(days=35))
    assert ingest.partition_name(old.replace(day=1)) not in ingest.partitions()


def test_the_inventory_shows_the_before_picture_and_owners_see_their_services_only(
    estate: dict[str, object], make_user, client
) -> None:
    lpar, partner = estate["lpar"], estate["partner"]
    assert isinstance(lpar, Lpar) and isinstance(partner, Service)
    _store(
        lpar,
        [
            _record(1),
            _record(2, event=4, version=0x0301, cipher="002F"),
            _record(3, version=None, peer="198.51.100.9"),
            _record(5, local_port=50000, remote_port=1414, jobname="MQP1CHIN"),
        ],
    )
    architect = make_user("architect", Role.ARCHITECT)
    filters = inventory.InventoryFilters()
    totals = inventory.totals_for(user=architect, filters=filters)
    assert (totals.connections, totals.encrypted, totals.records) == (4, 3, 4)
    assert (totals.deprecated, totals.tls_connections) == (1, 3)
    found = inventory.peer_page_for(user=architect, filters=filters, number="7")  # past the end
    assert (found.peers, found.cleartext_peers, found.page.number) == (3, 1, 1)
    shown = [(r["service__name"], r["peer"], r["total"], r["cleartext"]) for r in found.rows]
    assert shown[0] == ("TN3270", "192.0.2.7", 2, 0)  # most connections first
    assert sorted(shown[1:]) == [
        ("MQ to partner", "192.0.2.7", 1, 0),
        ("TN3270", "198.51.100.9", 1, 1),
    ]
    # The last 30 days, aggregated from the daily roll-ups, say the same.
    window = inventory.peer_page_for(
        user=architect, filters=inventory.InventoryFilters(days=30), number=1
    )
    assert (window.peers, window.cleartext_peers) == (3, 1)
    assert sorted(
        (r["service__name"], r["peer"], r["total"], r["cleartext"] or 0) for r in window.rows
    ) == sorted(shown)
    assert totals.app_protocols == {"TLSv1.2": 2, "TLSv1": 1}
    client.force_login(architect)
    dashboard = client.get(reverse("dashboard")).content.decode()
    assert "from 4 zERT records" in dashboard and "from netstat samples" in dashboard
    owner = make_user("owner", Role.APP_OWNER)
    partner.owners.add(owner)
    mine = inventory.totals_for(user=owner, filters=filters)
    assert (mine.connections, mine.records) == (1, 1)
    client.force_login(owner)
    page = client.get(reverse("fleet:inventory"))
    assert page.status_code == 200
    assert b"from 1 zERT records" in page.content
    assert b"198.51.100.9" not in page.content
    csv = b"".join(client.get(reverse("fleet:inventory-csv")).streaming_content)
    assert csv.decode().splitlines()[1].startswith("SYSA,TCPIP,MQ to partner,192.0.2.7,1,")
    assert len(csv.decode().splitlines()) == 2


def test_beat_enqueues_a_zert_run_for_each_due_lpar_once(
    estate: dict[str, object], django_capture_on_commit_callbacks
) -> None:
    from fleet.models import LparConnection, ZertRun
    from fleet.tasks import schedule_zert_collections

    lpar = estate["lpar"]
    assert isinstance(lpar, Lpar)
    connection = LparConnection.objects.create(lpar=lpar, username="ATTLSADM", ca_bundle="x")
    assert schedule_zert_collections() == 0  # zERT is off until switched on
    LparConnection.objects.filter(pk=connection.pk).update(zert_enabled=True, zert_interval=600)
    with django_capture_on_commit_callbacks() as enqueued:
        assert schedule_zert_collections() == 1
    assert len(enqueued) == 1
    run = ZertRun.objects.get()
    assert (run.status, run.source) == ("pending", "job")
    assert schedule_zert_collections() == 0  # not due again within its interval


def _summary(
    before: int, after: int, *, secured: bool, day: dt.date = TODAY, smf_time: int = 4_590_000
) -> z.SummaryRecord:
    """One session's subtype 12 record: `before` and `after` connections in its life."""
    return z.SummaryRecord(
        record().header._replace(date=day, time=smf_time),
        record().ident._replace(reason=0x80),
        900 * 1_000_000 << 12,  # 900 s in TOD units
        1,
        0x40,
        0x80 if secured else 0,
        "TN3270A",
        "TN3270A",
        6,
        "10.1.1.1",
        "192.0.2.7",
        992,
        992,
        "",
        z.SummaryCounts(before, 0, 0, 1, 0, 0, 0, 0),
        z.SummaryCounts(after, 0, 1, 2, 0, 0, 0, 0),
        tls=tls()._replace(handshake_role=0, provider="", server_certificate=None)
        if secured
        else None,
    )


def test_a_run_names_the_days_it_stored_and_sums_its_intervals_once(
    estate: dict[str, object], make_user, client
) -> None:
    from fleet.models import LparConnection, ZertInterval, ZertRun, ZertRunDay
    from fleet.zert import collect

    lpar, stack = estate["lpar"], estate["stack"]
    assert isinstance(lpar, Lpar) and isinstance(stack, Stack)
    connection = LparConnection.objects.create(lpar=lpar, username="ATTLSADM", ca_bundle="x")
    yesterday = TODAY - dt.timedelta(days=1)
    dump = z.render_dump(
        [
            _record(1, day=yesterday),
            _record(2),
            _record(3, version=None),
            _summary(4, 10, secured=True),
            _summary(0, 3, secured=False),
            _summary(1, 1, secured=False, smf_time=4_680_000),  # the next interval
        ]
    )
    first = ZertRun.objects.create(connection=connection, source="job")
    collect._ingest(first, dump, None)
    assert first.records_stored == 3
    assert sorted(ZertRunDay.objects.values_list("run_id", "stack_id", "day", "records")) == [
        (first.id, stack.id, yesterday, 1),
        (first.id, stack.id, TODAY, 2),
    ]
    intervals = list(ZertInterval.objects.order_by("smf_time"))
    assert [(i.summaries, i.connections, i.tls, i.cleartext, i.active) for i in intervals] == [
        (2, 9, 6, 3, 4),
        (1, 0, 0, 0, 2),
    ]
    assert intervals[0].seconds == 900.0 and intervals[0].run_id == first.id
    assert first.outputs["reader"]["intervals_stored"] == 2
    # The same dump read again: no record, day or interval is stored or counted twice.
    second = ZertRun.objects.create(connection=connection, source="job")
    collect._ingest(second, dump, None)
    assert second.records_stored == 0 and second.outputs["reader"]["intervals_stored"] == 0
    assert not ZertRunDay.objects.filter(run=second).exists()
    assert ZertInterval.objects.count() == 2
    # The inventory page shows the intervals to estate viewers, not to a service's owner.
    client.force_login(make_user("architect", Role.ARCHITECT))
    page = client.get(reverse("fleet:inventory")).content.decode()
    shown = page.split('data-testid="intervals"')[1].split("</table>")[0]
    assert "SYSA/TCPIP" in shown and "900 s" in shown
    rows = [
        [cell.split(">")[-1] for cell in row.split("</td>")[3:8]]
        for row in shown.split("<tbody>")[1].split("</tr>")[:-1]
    ]
    # newest first: sessions, new connections, TLS, cleartext, SSH/IPsec
    assert rows == [["1", "0", "0", "0", "0"], ["2", "9", "6", "3", "0"]]
    owner = make_user("owner", Role.APP_OWNER)
    Service.objects.get(name="TN3270").owners.add(owner)
    client.force_login(owner)
    assert 'data-testid="intervals"' not in client.get(reverse("fleet:inventory")).content.decode()


def test_the_connection_list_says_per_stack_whether_zert_is_collected_and_when_records_landed(
    estate: dict[str, object], make_user, client
) -> None:
    from fleet.models import LparConnection, RunStatus, ZertRun
    from fleet.zert import collect

    lpar, stack = estate["lpar"], estate["stack"]
    assert isinstance(lpar, Lpar) and isinstance(stack, Stack)
    quiet = Stack.objects.create(lpar=lpar, name="TCPIPB")  # zERT records never name it
    Stack.objects.create(lpar=Lpar.objects.create(name="SYSB"), name="TCPIP")  # no connection
    connection = LparConnection.objects.create(lpar=lpar, username="ATTLSADM", ca_bundle="x")
    client.force_login(make_user("olivia", Role.OPERATOR))

    def states() -> dict[str, tuple[str, str]]:
        page = client.get(reverse("fleet:connections")).content.decode()
        found = {}
        for lpar_name, cell in re.findall(
            r'<strong>(\w+)</strong>.*?data-testid="zert-state">(.*?)</td>', page, re.S
        ):
            for name, collection, stored in re.findall(
                r'data-zert-stack="(\w+)">.*?data-zert-collection="(\w+)".*?'
                r"data-zert-stored[^>]*>([^<]*)<",
                cell,
                re.S,
            ):
                found[f"{lpar_name}/{name}"] = (collection, stored)
        return found

    unknown = "no record stored; zERT on the stack: unknown"
    assert states() == {
        "SYSA/TCPIP": ("off", unknown),
        "SYSA/TCPIPB": ("off", unknown),
        "SYSB/TCPIP": ("unknown", unknown),  # no connection: the portal cannot tell
    }

    LparConnection.objects.filter(pk=connection.pk).update(zert_enabled=True)
    run = ZertRun.objects.create(connection=connection, source="job")
    collect._ingest(run, z.render_dump([_record(1), _record(2)]), None)
    run = collect._finish(run, RunStatus.SUCCEEDED, "")
    assert run.finished_at is not None
    shown = states()
    assert shown["SYSA/TCPIP"] == (
        "on",
        f"last records stored {run.finished_at:%Y-%m-%d %H:%M:%S} UTC",
    )
    assert shown["SYSA/TCPIPB"] == ("on", unknown)  # collected, but no record names it
    assert shown["SYSB/TCPIP"] == ("unknown", unknown)
    page = client.get(reverse("fleet:connections")).content.decode()
    assert f"(connections up to {TODAY:%Y-%m-%d})" in page
    assert 'data-zert-last-run="succeeded">last run succeeded' in page
    assert "2 read, 2 new" in page
    assert quiet.name in page

    # A later run that fails stores nothing: the stack keeps its last stored time.
    failed = ZertRun.objects.create(connection=connection, source="job")
    collect._finish(failed, RunStatus.FAILED, "z/OSMF answered 503 (transient)")
    assert (
        states()["SYSA/TCPIP"][1] == f"last records stored {run.finished_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    assert "last run failed" in client.get(reverse("fleet:connections")).content.decode()
