"""A stack's peer history: what every peer of every service was seen doing, from the tables
that already hold each fact.

- versions and suites negotiated, connections a day, first and last seen: zERT's daily
  roll-ups (ZertDaily: one row per day, service, peer, protection, protocol and suite);
  where zERT has nothing for a service, peer and day, the AT-TLS connections netstat
  showed (ConnectionObservation; netstat tells nothing of connections AT-TLS does not
  secure, so those are never taken as cleartext);
- refusals by return-code family: PeerRefusalDaily, written here from each verification's
  syslog read (`record_refusals`).

A peer is (service, address): inbound, its own port is ephemeral; outbound, z/OS's is.
The service gives the port and job a rule would see (`peer_key`). Rows without a service
(traffic no service of the design covers) have no port to match a rule with and are left
out of predictions; the history page counts them.

Client certificates: no table records whether a peer presented one (zERT's certificate
sections are not rolled up), so every observation says "none" — a candidate that starts
requiring client certificates is predicted will-break for every peer (inferred).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connections as databases
from django.db import router, transaction
from django.utils import timezone

from attls.impact import CLEARTEXT, VERSION_WORDS, PeerObservation
from attls.reports.syslog import RuleFailures, address_port
from attls.returncodes import family_of
from fleet.impact.models import PeerRefusalDaily
from fleet.models import (
    ConnectionObservation,
    VerificationRun,
    ZertDaily,
    ZertProtection,
    ZertRecord,
)
from fleet.probe import probe_sockets
from policies.models import Service, Stack

DEFAULT_WINDOW_DAYS = 30
# How far before the window a prediction looks for peers it then calls no-data.
KNOWN_BEFORE_DAYS = 60
_VERSIONS = frozenset(VERSION_WORDS)
# zERT writes some protocols as their wire code.
_WIRE = {"X'0301'": "TLSv1", "X'0302'": "TLSv1.1", "X'0303'": "TLSv1.2", "X'0304'": "TLSv1.3"}
_TLS_PROTECTIONS = (ZertProtection.APP_TLS, ZertProtection.AT_TLS, ZertProtection.NONE)


def version_word(protocol: str) -> str | None:
    """`TLSv1.2` (or X'0303') as attls.impact spells it; None for what is not a TLS version."""
    word = _WIRE.get(protocol.strip().upper(), protocol.strip())
    return word if word in _VERSIONS and word != CLEARTEXT else None


def _suite(cipher: str) -> frozenset[str]:
    code = cipher.strip().upper()
    if len(code) == 4 and all(ch in "0123456789ABCDEF" for ch in code):
        return frozenset({code})
    return frozenset()


def peer_key(service: Service) -> tuple[str, int, int, str | None, str | None]:
    """(direction, local port, remote port, job, userid) a rule sees for a service's peers."""
    if service.direction == "Outbound":
        return "Outbound", 0, service.remote_port_low, service.jobname or None, None
    return "Inbound", service.local_port_low, 0, service.jobname or None, None


def window(today: date | None = None, days: int = DEFAULT_WINDOW_DAYS) -> tuple[date, date]:
    until = today or timezone.now().date()
    return until - timedelta(days=days - 1), until


PROBE_LOOKBACK = timedelta(hours=1)


def probe_peers(stack: Stack, *, now: datetime | None = None) -> set[tuple[int, str]]:
    """(service id, address) of the portal's own probe: every zERT record of that address on
    that service over the last hour is a connection a probe of the stack listed.

    The probe connects to each service every verification (and is refused on purpose), so
    it would otherwise be predicted as a client that breaks. A real client that shares the
    probe's address keeps its peer (its own connections are not the probe's).
    """
    now = now or timezone.now()
    since = now - PROBE_LOOKBACK
    sockets: set[tuple[str, int, int]] = set()
    for record in VerificationRun.objects.filter(
        stack=stack, created_at__gte=since - PROBE_LOOKBACK
    ).values_list("outputs__probe", flat=True):
        if isinstance(record, dict):
            sockets |= probe_sockets(record.get("json") or {})
    if not sockets:
        return set()
    probe_only: set[tuple[int, str]] = set()
    mixed: set[tuple[int, str]] = set()
    rows = ZertRecord.objects.filter(
        stack=stack,
        started_at__gte=since,
        remote_address__in={address for address, _, _ in sockets},
        service__isnull=False,
    ).values_list("service_id", "remote_address", "remote_port", "local_port")
    for service_id, address, port, zos_port in rows.iterator(chunk_size=5000):
        key = (service_id, address)
        (probe_only if (address, port, zos_port) in sockets else mixed).add(key)
    return probe_only - mixed


def observations(
    stack: Stack, *, since: date, until: date, services: dict[int, Service] | None = None
) -> Iterator[PeerObservation]:
    """Every daily observation of the stack's peers in [since, until], for attls.impact;
    the portal probe's own connections apart (`probe_peers`)."""
    services = services if services is not None else _services(stack)
    shapes = {sid: peer_key(s) for sid, s in services.items()}
    own = probe_peers(stack)
    from_zert: set[tuple[int, str, date]] = set()
    rows = (
        ZertDaily.objects.filter(
            stack=stack,
            day__gte=since,
            day__lte=until,
            service_id__in=list(services),
            protection__in=_TLS_PROTECTIONS,
        )
        .values_list("day", "service_id", "peer", "protection", "protocol", "cipher", "connections")
        .iterator(chunk_size=5000)
    )
    for day, service_id, peer, protection, protocol, cipher, connections in rows:
        if (service_id, peer) in own:
            continue
        if protection == ZertProtection.NONE:
            versions = frozenset({CLEARTEXT})
        else:
            word = version_word(protocol)
            if word is None:
                continue  # SSLv3 or a protocol attls.impact has no word for
            versions = frozenset({word})
        from_zert.add((service_id, peer, day))
        yield _observation(
            shapes[service_id],
            services[service_id].name,
            peer,
            day,
            versions,
            _suite(cipher) if protection != ZertProtection.NONE else frozenset(),
            connections,
            attls=protection == ZertProtection.AT_TLS,
        )
    for obs in _netstat(stack, since, until, services, shapes):
        service_id, peer, day, versions, suite = obs
        if (service_id, peer, day) in from_zert or (service_id, peer) in own:
            continue  # zERT saw that day already: one fact, one place
        yield _observation(
            shapes[service_id], services[service_id].name, peer, day, versions, suite, 1, attls=True
        )


def _observation(
    shape: tuple[str, int, int, str | None, str | None],
    service: str,
    peer: str,
    day: date,
    versions: frozenset[str],
    suites: frozenset[str],
    connections: int,
    *,
    attls: bool,
) -> PeerObservation:
    direction, local_port, remote_port, job, userid = shape
    return PeerObservation(
        direction,
        local_port,
        peer,
        remote_port,
        job,
        versions,
        suites,
        False,
        connections,
        day,
        service=service,
        userid=userid,
        without_attls=frozenset() if attls else versions,
    )


def _netstat(
    stack: Stack,
    since: date,
    until: date,
    services: dict[int, Service],
    shapes: dict[int, Any],
) -> Iterator[tuple[int, str, date, frozenset[str], frozenset[str]]]:
    """AT-TLS connections netstat showed, one per connection, on the day last seen."""
    start = timezone.make_aware(datetime.combine(since, datetime.min.time()))
    rows = ConnectionObservation.objects.filter(
        stack=stack, secured=True, last_seen__gte=start, service_id__in=list(services)
    ).values_list("service_id", "remote_socket", "protocol", "cipher", "last_seen")
    for service_id, remote, protocol, cipher, last_seen in rows.iterator(chunk_size=5000):
        socket = address_port(remote)
        word = version_word(protocol or "")
        day = last_seen.astimezone(UTC).date()
        if socket is None or word is None or day > until:
            continue
        yield service_id, socket[0], day, frozenset({word}), _suite(cipher or "")


def _services(stack: Stack) -> dict[int, Service]:
    return {s.id: s for s in Service.objects.filter(stack=stack)}


# --- refusals ----------------------------------------------------------------------------------


def record_refusals(
    stack: Stack, refused: dict[str, RuleFailures], *, window_from: datetime, read_at: datetime
) -> int:
    """Adds the refused handshakes of one syslog stretch [window_from, read_at] to the daily
    per-peer roll-up; returns the number of (service, peer, code) rows touched. Summed in
    memory, then written in a few statements (`add_refusal_rows`), whatever the number of
    peers: a 10,000-line stretch touches thousands of rows."""
    day = read_at.astimezone(UTC).date()
    counts: Counter[tuple[str, str, str]] = Counter()
    for name, found in refused.items():
        for (peer, rc), count in found.peer_codes.items():
            if count:
                counts[(name, peer, rc)] += count
    if not counts:
        return 0
    names = {name for name, _, _ in counts}
    by_name = {s.name: s.id for s in Service.objects.filter(stack=stack, name__in=names)}
    add_refusal_rows(
        [
            {
                "day": day,
                "stack": stack.pk,
                "service": by_name.get(name),
                "service_name": name,
                "peer": peer,
                "rc": rc,
                "family": str(family_of(rc)),
                "refused": count,
                "first_at": read_at,
                "last_at": read_at,
                "last_window_from": window_from,
            }
            # In key order: two runs of one stack writing at once lock rows in one order
            # (PostgreSQL), so neither waits on the other in a cycle.
            for (name, peer, rc), count in sorted(counts.items())
        ]
    )
    return len(counts)


REFUSAL_ROWS_A_STATEMENT = 500  # and never more than the backend takes parameters for


def add_refusal_rows(rows: list[dict[str, Any]]) -> None:
    """Inserts PeerRefusalDaily rows (field name -> value, every concrete field but the id),
    or, where the row of that day, stack, service, peer and code exists, ADDS `refused` to
    it in the same statement: `INSERT ... ON CONFLICT (<the unique key>) DO UPDATE SET
    refused = <table>.refused + excluded.refused` (PostgreSQL; SQLite >= 3.24). The database
    does the addition under the row's lock, so two runs of one stack overlapping never lose
    an increment. first_at/last_at keep the earliest/latest read, last_window_from follows
    last_at (an older read committed later does not move them back). One key once in
    `rows` (PostgreSQL refuses to update a row twice in one statement)."""
    if not rows:
        return
    meta = PeerRefusalDaily._meta
    (identity,) = (c for c in meta.constraints if c.name == "peer_refusal_daily_identity")
    names = [f.name for f in meta.concrete_fields if not f.primary_key]
    fields = [meta.get_field(name) for name in names]
    db = router.db_for_write(PeerRefusalDaily)
    conn = databases[db]
    quote = conn.ops.quote_name
    table = quote(meta.db_table)
    col = {f.name: quote(f.column) for f in fields}
    key = ", ".join(col[name] for name in identity.fields)

    def pick(column: str, newer: str) -> str:
        return (
            f"{column} = CASE WHEN excluded.{newer} THEN excluded.{column}"
            f" ELSE {table}.{column} END"
        )

    later = f"{col['last_at']} >= {table}.{col['last_at']}"
    sooner = f"{col['first_at']} < {table}.{col['first_at']}"
    on_conflict = (
        f" ON CONFLICT ({key}) DO UPDATE SET"
        f" {col['refused']} = {table}.{col['refused']} + excluded.{col['refused']},"
        f" {pick(col['first_at'], sooner)},"
        f" {pick(col['last_at'], later)},"
        f" {pick(col['last_window_from'], later)}"
    )
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    size = max(1, min(REFUSAL_ROWS_A_STATEMENT, conn.ops.bulk_batch_size(fields, rows)))
    with transaction.atomic(using=db), conn.cursor() as cursor:
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            params = [
                field.get_db_prep_save(row[name], conn)
                for row in batch
                for name, field in zip(names, fields, strict=True)
            ]
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(col[n] for n in names)})"
                f" VALUES {', '.join([row_sql] * len(batch))}{on_conflict}",
                params,
            )


# --- the history page -------------------------------------------------------------------------


@dataclass
class PeerHistory:
    service: str
    peer: str
    direction: str
    port: int
    job: str
    versions: set[str] = field(default_factory=set)
    suites: set[str] = field(default_factory=set)
    connections: int = 0
    first_seen: date | None = None
    last_seen: date | None = None
    refusals: dict[str, int] = field(default_factory=dict)  # family -> refused attempts
    days: int = 1

    @property
    def per_day(self) -> float:
        return self.connections / self.days

    @property
    def version_list(self) -> list[str]:
        return [v for v in VERSION_WORDS if v in self.versions]

    def seen(self, day: date) -> None:
        self.first_seen = day if self.first_seen is None else min(self.first_seen, day)
        self.last_seen = day if self.last_seen is None else max(self.last_seen, day)


def peer_history(
    stack: Stack, *, today: date | None = None, days: int = DEFAULT_WINDOW_DAYS
) -> list[PeerHistory]:
    """Per service and peer over the window: versions, suites, connections a day, first and
    last seen, refusals by family. Sorted by service, then peer."""
    since, until = window(today, days)
    services = _services(stack)
    by_name = {s.name: s for s in services.values()}
    found: dict[tuple[str, str], PeerHistory] = {}

    def entry(service: str, peer: str) -> PeerHistory:
        row = found.get((service, peer))
        if row is None:
            known = by_name.get(service)
            direction, local_port, remote_port, job, _ = (
                peer_key(known) if known is not None else ("?", 0, 0, None, None)
            )
            row = found[(service, peer)] = PeerHistory(
                service,
                peer,
                direction,
                remote_port if direction == "Outbound" else local_port,
                job or "",
                days=days,
            )
        return row

    for obs in observations(stack, since=since, until=until, services=services):
        row = entry(obs.service or "?", obs.remote_address)
        row.versions |= obs.versions
        row.suites |= obs.suites
        row.connections += obs.connections
        if obs.day is not None:
            row.seen(obs.day)
    for name, peer, family, refused, day in PeerRefusalDaily.objects.filter(
        stack=stack, day__gte=since, day__lte=until
    ).values_list("service_name", "peer", "family", "refused", "day"):
        row = entry(name, peer)
        row.refusals[family] = row.refusals.get(family, 0) + refused
        row.seen(day)
    return sorted(found.values(), key=lambda r: (r.service, r.peer))


def unmapped_peers(stack: Stack, *, today: date | None = None) -> int:
    """Peers zERT saw in the window on no service of the design: not predicted."""
    since, until = window(today)
    return (
        ZertDaily.objects.filter(stack=stack, day__gte=since, day__lte=until, service__isnull=True)
        .values("peer")
        .distinct()
        .count()
    )
