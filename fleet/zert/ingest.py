"""Storing zERT connection detail records: idempotent, in batches, rolled up by day.

`RecordMapper` turns parsed subtype 11 records into rows (stack, service, protection, peer);
`store_batch` writes a batch and its daily roll-ups in one transaction:

- PostgreSQL: the batch is COPied (psycopg 3 `cursor.copy`) into a temporary table, then one
  statement inserts what is not stored yet (`ON CONFLICT DO NOTHING` on the natural key) and
  adds exactly the inserted rows to the roll-ups (`ON CONFLICT DO UPDATE` adding counts);
- elsewhere (SQLite): the stored keys of the batch's time span are read, the new rows
  `bulk_create`d and their roll-ups added row by row.

Either way a record read twice is stored, and counted, once. The raw table is partitioned by
month on PostgreSQL (migration 0010); `ensure_partitions` creates the months a batch needs,
`prune` drops raw rows older than the retention (whole partitions where it can).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import F

from attls.ciphers import Protocol
from attls.reports import smf119
from attls.values import job_name_pattern
from fleet.models import ZertDaily, ZertInterval, ZertPeer, ZertProtection, ZertRecord
from policies.models import Service, Stack

# The order of a row's values: the COPY's columns.
COLUMNS = (
    "stack_id",
    "service_id",
    "run_id",
    "connection_id",
    "event",
    "started_at",
    "ended_at",
    "smf_date",
    "smf_time",
    "protection",
    "protocol",
    "cipher",
    "jobname",
    "userid",
    "local_address",
    "local_port",
    "remote_address",
    "remote_port",
)
# The PostgreSQL types of COLUMNS, for the binary COPY.
COPY_TYPES = (
    "int8", "int8", "int8", "int8", "int2", "timestamptz", "timestamptz", "date", "int4",
    "text", "text", "text", "text", "text", "text", "int4", "text", "int4",
)  # fmt: skip
KEY = ("stack_id", "connection_id", "started_at", "event", "smf_date", "smf_time")
_KEY_INDEX = tuple(COLUMNS.index(name) for name in KEY)
Row = tuple[Any, ...]
# Versions counted as deprecated [RFC 8996: TLS 1.0 and 1.1; RFC 7568 SSLv3; RFC 6176 SSLv2].
DEPRECATED = (
    Protocol.SSLV2.value,
    Protocol.SSLV3.value,
    Protocol.TLSV1.value,
    Protocol.TLSV1_1.value,
)
# zERT events that begin a connection's story: Init (after 10 s) or Short Term (a shorter one)
# [doc: "How does zERT discovery provide the information?"]; Change is 2.
FIRST_EVENTS = (1, 4)
CHANGE_EVENT = 2
# What the System SSL protocol provider reports, as zERT writes it for AT-TLS.
SYSTEM_SSL = "IBM System SSL"


def protection_of(record: smf119.ConnectionRecord) -> str:
    """The protection of a connection as zERT recorded it.

    TLS reported by System SSL as the cryptographic protocol provider (TLS source 2) is taken
    as AT-TLS, TLS seen by stream observation (source 1) or by another provider as the
    application's own [inferred: zERT has no AT-TLS flag of its own; an application calling
    System SSL itself reports the same way, which the netstat -x cross-check tells apart].
    """
    bits = record.security_protocols
    kinds = []
    if bits & 0x80:  # SMF119SC_SASecProtos X'80' TLS [code]
        tls = record.tls
        at_tls = tls is not None and tls.source == 2 and tls.provider == SYSTEM_SSL
        kinds.append(ZertProtection.AT_TLS if at_tls else ZertProtection.APP_TLS)
    if bits & 0x40:  # X'40' SSH [code]
        kinds.append(ZertProtection.SSH)
    if bits & 0x20:  # X'20' IPsec [code]
        kinds.append(ZertProtection.IPSEC)
    if not kinds:
        return str(ZertProtection.NONE)
    return str(kinds[0]) if len(kinds) == 1 else str(ZertProtection.SEVERAL)


@dataclass(frozen=True)
class _ServicePorts:
    service_id: int
    inbound: bool
    low: int
    high: int
    job: str  # a job name, a pattern ending in *, or empty

    def matches(self, local_port: int, remote_port: int, jobname: str) -> bool:
        port = local_port if self.inbound else remote_port
        if not self.low <= port <= self.high:
            return False
        if not self.job:
            return True
        if self.job.endswith("*"):
            return jobname.upper().startswith(self.job[:-1])
        return jobname.upper() == self.job


class RecordMapper:
    """Maps records of one LPAR to rows: its stacks by name, services by port and job (as the
    policy's rules select them: an inbound service by its local port, an outbound one by its
    remote port)."""

    def __init__(self, lpar_id: int, *, run_id: int | None = None) -> None:
        self.run_id = run_id
        self.stacks = {s.name.upper(): s.id for s in Stack.objects.filter(lpar_id=lpar_id)}
        self.services: dict[int, list[_ServicePorts]] = {}
        for service in Service.objects.filter(stack__lpar_id=lpar_id).order_by("id"):
            inbound = service.direction != "Outbound"
            low = service.local_port_low if inbound else service.remote_port_low
            high = service.local_port_high if inbound else service.remote_port_high
            if not low:
                continue
            job = ""
            if service.jobname:
                try:
                    job = job_name_pattern(service.jobname).upper()
                except ValueError:
                    job = service.jobname.upper()
            self.services.setdefault(service.stack_id, []).append(
                _ServicePorts(service.id, inbound, low, max(high, low), job)
            )
        self.unknown_stacks: Counter[str] = Counter()

    def service_for(self, stack_id: int, local_port: int, remote_port: int, job: str) -> int | None:
        for ports in self.services.get(stack_id, ()):
            if ports.inbound and ports.matches(local_port, remote_port, job):
                return ports.service_id
        for ports in self.services.get(stack_id, ()):
            if not ports.inbound and ports.matches(local_port, remote_port, job):
                return ports.service_id
        return None

    def row(self, record: smf119.ConnectionRecord) -> Row | None:
        """The row of a record, or None when its stack is not one of the LPAR's or it has no
        start time (both counted by the caller as skipped)."""
        stack_id = self.stacks.get(record.ident.stack.upper())
        if stack_id is None:
            self.unknown_stacks[record.ident.stack] += 1
            return None
        started = record.started_at
        if started is None or record.header.date is None:
            return None
        tls = record.tls
        return (
            stack_id,
            self.service_for(stack_id, record.local_port, record.remote_port, record.jobname),
            self.run_id,
            record.connection_id,
            record.event,
            started,
            record.ended_at,
            record.header.date,
            record.header.time,
            protection_of(record),
            tls.version_name if tls is not None else "",
            (tls.cipher if tls is not None else "")[:8],
            record.jobname,
            record.userid,
            record.local_address,
            record.local_port,
            record.remote_address,
            record.remote_port,
        )


# --- interval summaries (subtype 12) -------------------------------------------------------------


class Intervals:
    """A run's subtype 12 records summed per stack and interval (ZertInterval).

    The records of one interval share their SMF header time (the stack writes them together at
    the interval's end), which is the interval's identity with the stack. New connections are
    the difference of the session's life counts between the interval's start and end."""

    def __init__(self, mapper: RecordMapper, *, run_id: int | None = None) -> None:
        self.mapper = mapper
        self.run_id = run_id
        self.rows: dict[tuple[int, dt.date, int], ZertInterval] = {}

    def add(self, record: smf119.SummaryRecord, at: dt.datetime) -> None:
        """Adds one summary record; `at` is its SMF header time (the LPAR's local time)."""
        if record.event != 1 or record.header.date is None:
            return  # 2 and 3 say aggregation was enabled or disabled: no counts [code]
        stack_id = self.mapper.stacks.get(record.ident.stack.upper())
        if stack_id is None:
            self.mapper.unknown_stacks[record.ident.stack] += 1
            return
        key = (stack_id, record.header.date, record.header.time)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = ZertInterval(
                stack_id=stack_id,
                run_id=self.run_id,
                smf_date=record.header.date,
                smf_time=record.header.time,
                recorded_at=at.replace(tzinfo=dt.UTC),
                seconds=0.0,
            )
        new = max(0, record.final.connections - record.initial.connections)
        row.seconds = max(row.seconds, record.interval_seconds)
        row.summaries += 1
        row.connections += new
        row.short_connections += max(
            0, record.final.short_connections - record.initial.short_connections
        )
        row.active += record.final.active_connections
        if record.security_protocols & 0x80:  # SMF119SS_SASecProtos X'80' TLS [code]
            row.tls += new
        elif record.security_protocols:
            row.other += new
        else:
            row.cleartext += new

    def store(self) -> int:
        """Stores the intervals not stored yet (an overlapping dump reads some again)."""
        if not self.rows:
            return 0
        stored = set(
            ZertInterval.objects.filter(
                stack_id__in={key[0] for key in self.rows},
                smf_date__in={key[1] for key in self.rows},
            ).values_list("stack_id", "smf_date", "smf_time")
        )
        new = [row for key, row in self.rows.items() if key not in stored]
        # ignore_conflicts: a run of another worker may store the same interval meanwhile
        ZertInterval.objects.bulk_create(new, ignore_conflicts=True)
        return len(new)


# --- storing --------------------------------------------------------------------------------------


# (stack id, UTC day of the connection's start) -> records stored first by this batch
Landed = Counter[tuple[int, dt.date]]


def store_batch(rows: Sequence[Row], *, landed: Landed | None = None) -> int:
    """Stores the rows not stored yet and adds them to the roll-ups; how many were new.

    `landed`, when given, is added the new rows per stack and day: the run that stored them
    is then named as a source of those days' figures (ZertRunDay)."""
    if not rows:
        return 0
    found: Landed = Counter()
    with transaction.atomic():
        if connection.vendor == "postgresql":
            ensure_partitions(row[5] for row in rows)
            _store_postgresql(rows, found)
        else:
            _store_portable(rows, found)
    if landed is not None:
        landed.update(found)
    return sum(found.values())


_ROLLUP_SQL = """
WITH new AS (
    INSERT INTO fleet_zertrecord ({columns})
    SELECT {columns} FROM zert_incoming
    ON CONFLICT (stack_id, connection_id, started_at, event, smf_date, smf_time) DO NOTHING
    RETURNING stack_id, service_id, remote_address, protection, protocol, cipher, event,
              started_at
), daily AS (
    INSERT INTO fleet_zertdaily (day, stack_id, service_id, service_key, peer, protection,
                                 protocol, cipher, connections, changed, records)
    SELECT (started_at AT TIME ZONE 'UTC')::date, stack_id, service_id,
           coalesce(service_id, 0), remote_address, protection, protocol, cipher,
           count(*) FILTER (WHERE event IN (1, 4)), count(*) FILTER (WHERE event = 2), count(*)
    FROM new
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    ON CONFLICT (day, stack_id, service_key, peer, protection, protocol, cipher) DO UPDATE SET
        connections = fleet_zertdaily.connections + EXCLUDED.connections,
        changed = fleet_zertdaily.changed + EXCLUDED.changed,
        records = fleet_zertdaily.records + EXCLUDED.records
    RETURNING 1
), peers AS (
    INSERT INTO fleet_zertpeer (stack_id, service_id, service_key, peer, connections, cleartext,
                                app_tls, at_tls, other, deprecated, records, first_day,
                                last_day)
    SELECT stack_id, service_id, coalesce(service_id, 0), remote_address,
           count(*) FILTER (WHERE event IN (1, 4)),
           count(*) FILTER (WHERE event IN (1, 4) AND protection = 'none'),
           count(*) FILTER (WHERE event IN (1, 4) AND protection = 'app-tls'),
           count(*) FILTER (WHERE event IN (1, 4) AND protection = 'at-tls'),
           count(*) FILTER (WHERE event IN (1, 4)
                            AND protection IN ('ssh', 'ipsec', 'several')),
           count(*) FILTER (WHERE event IN (1, 4) AND protocol IN ({deprecated})),
           count(*),
           min((started_at AT TIME ZONE 'UTC')::date), max((started_at AT TIME ZONE 'UTC')::date)
    FROM new
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (stack_id, service_key, peer) DO UPDATE SET
        connections = fleet_zertpeer.connections + EXCLUDED.connections,
        cleartext = fleet_zertpeer.cleartext + EXCLUDED.cleartext,
        app_tls = fleet_zertpeer.app_tls + EXCLUDED.app_tls,
        at_tls = fleet_zertpeer.at_tls + EXCLUDED.at_tls,
        other = fleet_zertpeer.other + EXCLUDED.other,
        deprecated = fleet_zertpeer.deprecated + EXCLUDED.deprecated,
        records = fleet_zertpeer.records + EXCLUDED.records,
        first_day = least(fleet_zertpeer.first_day, EXCLUDED.first_day),
        last_day = greatest(fleet_zertpeer.last_day, EXCLUDED.last_day)
    RETURNING 1
)
-- The data-modifying CTEs above run to completion whether or not this reads them.
SELECT stack_id, (started_at AT TIME ZONE 'UTC')::date, count(*) FROM new GROUP BY 1, 2
"""


def _store_postgresql(rows: Sequence[Row], landed: Landed) -> None:
    columns = ", ".join(COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS zert_incoming ON COMMIT DELETE ROWS AS "
            f"SELECT {columns} FROM fleet_zertrecord WITH NO DATA"
        )
        raw = cursor.cursor  # psycopg 3's own cursor, for COPY
        # Binary COPY with the types declared: psycopg dumps each value in C.
        with raw.copy(f"COPY zert_incoming ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(COPY_TYPES)
            for row in rows:
                copy.write_row(row)
        deprecated = ", ".join(f"'{name}'" for name in DEPRECATED)
        cursor.execute(_ROLLUP_SQL.format(columns=columns, deprecated=deprecated))
        for stack_id, day, count in cursor.fetchall():
            landed[(int(stack_id), day)] += int(count)
        cursor.execute("TRUNCATE zert_incoming")


def _store_portable(rows: Sequence[Row], landed: Landed) -> None:
    stacks = {row[0] for row in rows}
    first = min(row[5] for row in rows)
    last = max(row[5] for row in rows)
    stored = set(
        ZertRecord.objects.filter(
            stack_id__in=stacks, started_at__gte=first, started_at__lte=last
        ).values_list(*KEY)
    )
    new: list[Row] = []
    for row in rows:
        key = tuple(row[index] for index in _KEY_INDEX)
        if key in stored:
            continue
        stored.add(key)
        new.append(row)
    ZertRecord.objects.bulk_create(
        [ZertRecord(**dict(zip(COLUMNS, row, strict=True))) for row in new], batch_size=500
    )
    totals: Counter[tuple[Any, ...]] = Counter()
    changed: Counter[tuple[Any, ...]] = Counter()
    records: Counter[tuple[Any, ...]] = Counter()
    for row in new:
        day = row[5].astimezone(dt.UTC).date()
        key = (day, row[0], row[1], row[16], row[9], row[10], row[11])
        records[key] += 1
        if row[4] in FIRST_EVENTS:
            totals[key] += 1
        elif row[4] == CHANGE_EVENT:
            changed[key] += 1
    for key, count in records.items():
        day, stack_id, service_id, peer, protection, protocol, cipher = key
        identity = {
            "day": day,
            "stack_id": stack_id,
            "service_key": service_id or 0,
            "peer": peer,
            "protection": protection,
            "protocol": protocol,
            "cipher": cipher,
        }
        updated = ZertDaily.objects.filter(**identity).update(
            connections=F("connections") + totals[key],
            changed=F("changed") + changed[key],
            records=F("records") + count,
        )
        if not updated:
            ZertDaily.objects.create(
                **identity,
                service_id=service_id,
                connections=totals[key],
                changed=changed[key],
                records=count,
            )
    _add_peers_portable(new)
    for row in new:
        landed[(row[0], row[5].astimezone(dt.UTC).date())] += 1


_PEER_COLUMN = {
    ZertProtection.NONE: "cleartext",
    ZertProtection.APP_TLS: "app_tls",
    ZertProtection.AT_TLS: "at_tls",
}


def _add_peers_portable(new: Sequence[Row]) -> None:
    added: dict[tuple[Any, ...], Counter[str]] = {}
    days: dict[tuple[Any, ...], list[dt.date]] = {}
    for row in new:
        key = (row[0], row[1], row[16])
        counts = added.setdefault(key, Counter())
        day = row[5].astimezone(dt.UTC).date()
        days.setdefault(key, []).append(day)
        counts["records"] += 1
        if row[4] in FIRST_EVENTS:
            counts["connections"] += 1
            counts[_PEER_COLUMN.get(row[9], "other")] += 1
            if row[10] in DEPRECATED:
                counts["deprecated"] += 1
    for (stack_id, service_id, peer), counts in added.items():
        seen = days[(stack_id, service_id, peer)]
        peer_row, _ = ZertPeer.objects.get_or_create(
            stack_id=stack_id,
            service_key=service_id or 0,
            peer=peer,
            defaults={"service_id": service_id, "first_day": min(seen), "last_day": max(seen)},
        )
        for name, count in counts.items():
            setattr(peer_row, name, getattr(peer_row, name) + count)
        peer_row.first_day = min(peer_row.first_day, *seen)
        peer_row.last_day = max(peer_row.last_day, *seen)
        peer_row.save()


# --- partitions and pruning (PostgreSQL) ----------------------------------------------------------


def _month(moment: dt.datetime) -> dt.date:
    return moment.astimezone(dt.UTC).date().replace(day=1)


def _next_month(month: dt.date) -> dt.date:
    return (month + dt.timedelta(days=32)).replace(day=1)


def partition_name(month: dt.date) -> str:
    return f"fleet_zertrecord_p{month:%Y%m}"


def ensure_partitions(moments: Iterable[dt.datetime]) -> None:
    """Creates the monthly partitions these start times fall in (PostgreSQL only)."""
    if connection.vendor != "postgresql":
        return
    for month in sorted({_month(moment) for moment in moments}):
        name = partition_name(month)
        # Looked up every time (cheap), never cached: a rolled-back batch takes its new
        # partition with it.
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
            (exists,) = cursor.fetchone()
            if not exists:
                # A savepoint: a default partition already holding rows of this month makes
                # the creation fail, and those rows then simply stay in the default partition.
                try:
                    with transaction.atomic():
                        cursor.execute(
                            f"CREATE TABLE {name} PARTITION OF fleet_zertrecord FOR VALUES FROM"
                            f" ('{month:%Y-%m-%d} 00:00+00') TO"
                            f" ('{_next_month(month):%Y-%m-%d} 00:00+00')"
                        )
                except DatabaseError:  # the rows then go to the default partition
                    continue


def partitions() -> list[str]:
    """The monthly partitions of the raw table, oldest first (PostgreSQL; empty elsewhere)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'fleet_zertrecord'::regclass ORDER BY c.relname"
        )
        return [name for (name,) in cursor.fetchall()]


def prune(*, older_than: dt.timedelta, now: dt.datetime | None = None) -> int:
    """Deletes raw rows that started before now - older_than; roll-ups stay. On PostgreSQL a
    month wholly before the cut is dropped as a partition. How many rows went."""
    cutoff = (now or dt.datetime.now(dt.UTC)) - older_than
    removed = 0
    if connection.vendor == "postgresql":
        for name in partitions():
            if not name.startswith("fleet_zertrecord_p"):
                continue
            month = dt.datetime.strptime(name[-6:], "%Y%m").date()
            end = dt.datetime.combine(_next_month(month), dt.time(), tzinfo=dt.UTC)
            if end <= cutoff:
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT count(*) FROM {name}")
                    (count,) = cursor.fetchone()
                    cursor.execute(f"DROP TABLE {name}")
                removed += int(count)
    deleted, _ = ZertRecord.objects.filter(started_at__lt=cutoff).delete()
    return removed + deleted
