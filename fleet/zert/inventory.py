"""The traffic inventory: what every connection negotiated, from the zERT roll-ups.

Reads that depend on who asks: an estate viewer sees every stack, service and peer (and the
connections no service claims); an app owner the services they own, only. The figures are
those the article uses for the "before" picture: the share of connections encrypted, the
protocol and suite mix of the applications' own TLS, the cleartext peers, the connections on
deprecated versions, each with the count of zERT records behind it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import F, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from accounts.roles import Capability, has_capability
from fleet import presenters
from fleet.models import (
    ConnectionObservation,
    LparConnection,
    ZertDaily,
    ZertInterval,
    ZertPeer,
    ZertProtection,
    ZertRecord,
    ZertRun,
    ZertRunDay,
)
from fleet.selectors import User, connection_of, sees_estate
from fleet.zert import ingest
from policies.models import Service, Stack
from policies.selectors import service_list_for

DEPRECATED = ingest.DEPRECATED
ENCRYPTED = (
    ZertProtection.APP_TLS,
    ZertProtection.AT_TLS,
    ZertProtection.SSH,
    ZertProtection.IPSEC,
    ZertProtection.SEVERAL,
)
PAGE_SIZE = 50


@dataclass(frozen=True)
class InventoryFilters:
    """`?days=30&stack=SYSA/TCPIP&protection=none&q=10.1.` of the inventory page."""

    days: int | None = None  # None: every day the roll-ups hold
    stack: str = ""
    protection: str = ""
    peer: str = ""

    @classmethod
    def parse(cls, params: Any) -> InventoryFilters:
        days: int | None
        try:
            days = max(1, min(int(params.get("days")), 3660)) if params.get("days") else None
        except ValueError:
            days = None
        protection = params.get("protection") or ""
        if protection not in ZertProtection.values:
            protection = ""
        return cls(
            days=days,
            stack=(params.get("stack") or "").strip(),
            protection=protection,
            peer=(params.get("peer") or "").strip(),
        )

    @property
    def query(self) -> str:
        from urllib.parse import urlencode

        values = {"days": self.days, "stack": self.stack, "protection": self.protection}
        values["peer"] = self.peer
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def daily_for(*, user: User) -> QuerySet[ZertDaily]:
    """The roll-up rows the user may see."""
    rows = ZertDaily.objects.all()
    if sees_estate(user):
        return rows
    if has_capability(user, Capability.VIEW_OWN_SERVICES):
        return rows.filter(service__in=service_list_for(user=user).values("id"))
    return rows.none()


def peers_for(*, user: User) -> QuerySet[ZertPeer]:
    """The per-peer rows the user may see."""
    rows = ZertPeer.objects.all()
    if sees_estate(user):
        return rows
    if has_capability(user, Capability.VIEW_OWN_SERVICES):
        return rows.filter(service__in=service_list_for(user=user).values("id"))
    return rows.none()


_PEER_COLUMN = {
    ZertProtection.NONE: "cleartext",
    ZertProtection.APP_TLS: "app_tls",
    ZertProtection.AT_TLS: "at_tls",
}


def _peers(user: User, filters: InventoryFilters) -> QuerySet[ZertPeer]:
    rows = peers_for(user=user)
    if filters.stack:
        lpar, _, name = filters.stack.partition("/")
        rows = rows.filter(stack__lpar__name=lpar, stack__name=name)
    if filters.protection:
        rows = rows.filter(**{f"{_PEER_COLUMN.get(filters.protection, 'other')}__gt": 0})
    if filters.peer:
        rows = rows.filter(peer__startswith=filters.peer)
    return rows


def _filtered(user: User, filters: InventoryFilters) -> QuerySet[ZertDaily]:
    rows = daily_for(user=user)
    if filters.days is not None:
        rows = rows.filter(day__gte=timezone.now().date() - dt.timedelta(days=filters.days - 1))
    if filters.stack:
        lpar, _, name = filters.stack.partition("/")
        rows = rows.filter(stack__lpar__name=lpar, stack__name=name)
    if filters.protection:
        rows = rows.filter(protection=filters.protection)
    if filters.peer:
        rows = rows.filter(peer__startswith=filters.peer)
    return rows


@dataclass
class Totals:
    connections: int = 0
    records: int = 0
    changed: int = 0
    by_protection: dict[str, int] = field(default_factory=dict)
    app_protocols: dict[str, int] = field(default_factory=dict)
    app_suites: dict[str, int] = field(default_factory=dict)
    tls_connections: int = 0
    deprecated: int = 0

    @property
    def encrypted(self) -> int:
        return sum(self.by_protection.get(str(p), 0) for p in ENCRYPTED)

    @property
    def encrypted_share(self) -> str:
        return _percent(self.encrypted, self.connections)

    @property
    def deprecated_share(self) -> str:
        return _percent(self.deprecated, self.tls_connections)

    def protection_rows(self) -> list[tuple[str, int, str]]:
        return [
            (
                label,
                self.by_protection.get(value, 0),
                _percent(self.by_protection.get(value, 0), self.connections),
            )
            for value, label in ZertProtection.choices
            if self.by_protection.get(value, 0)
        ]

    def mix(self, counts: dict[str, int]) -> list[tuple[str, int, str]]:
        total = sum(counts.values())
        return [
            (name, n, _percent(n, total))
            for name, n in sorted(counts.items(), key=lambda i: (-i[1], i[0]))
        ]


def _percent(part: int, whole: int) -> str:
    return presenters.percent(part, whole)


def totals_for(*, user: User, filters: InventoryFilters) -> Totals:
    rows = _filtered(user, filters)
    totals = Totals()
    for item in rows.values("protection", "protocol", "cipher").annotate(
        connections=Sum("connections"), records=Sum("records"), changed=Sum("changed")
    ):
        count = int(item["connections"] or 0)
        totals.connections += count
        totals.records += int(item["records"] or 0)
        totals.changed += int(item["changed"] or 0)
        protection = item["protection"]
        totals.by_protection[protection] = totals.by_protection.get(protection, 0) + count
        if item["protocol"]:
            totals.tls_connections += count
            if item["protocol"] in DEPRECATED:
                totals.deprecated += count
        if protection == ZertProtection.APP_TLS:
            protocol = item["protocol"] or "unknown"
            totals.app_protocols[protocol] = totals.app_protocols.get(protocol, 0) + count
            suite = item["cipher"] or "unknown"
            totals.app_suites[suite] = totals.app_suites.get(suite, 0) + count
    return totals


def peer_rows_for(*, user: User, filters: InventoryFilters) -> QuerySet[Any]:
    """One row per stack, service and peer, most connections first: from the per-peer table
    over every day, else aggregated from the daily roll-ups of the days asked for."""
    if filters.days is None:
        return (
            _peers(user, filters)
            .values(
                "stack__lpar__name",
                "stack__name",
                "service_key",
                "service__name",
                "peer",
                "cleartext",
                "app_tls",
                "at_tls",
                "other",
                "deprecated",
                "last_day",
            )
            .annotate(total=F("connections"), zert_records=F("records"))
            .order_by("-connections", "id")
        )
    rows = _filtered(user, filters)
    deprecated = Q(protocol__in=DEPRECATED)
    return (
        rows.values("stack__lpar__name", "stack__name", "service_key", "service__name", "peer")
        .annotate(
            total=Sum("connections"),
            zert_records=Sum("records"),
            cleartext=Sum("connections", filter=Q(protection=ZertProtection.NONE)),
            app_tls=Sum("connections", filter=Q(protection=ZertProtection.APP_TLS)),
            at_tls=Sum("connections", filter=Q(protection=ZertProtection.AT_TLS)),
            other=Sum(
                "connections",
                filter=Q(
                    protection__in=(
                        ZertProtection.SSH,
                        ZertProtection.IPSEC,
                        ZertProtection.SEVERAL,
                    )
                ),
            ),
            deprecated=Sum("connections", filter=deprecated),
            last_day=Max("day"),
        )
        .order_by("-total", "stack__lpar__name", "stack__name", "service__name", "peer")
    )


@dataclass
class PeerPage:
    """One page of the per-peer rows, and the counts over every peer of the selection."""

    rows: list[dict[str, Any]]
    page: Page[Any]
    peers: int
    cleartext_peers: int


def _grouped(user: User, filters: InventoryFilters) -> QuerySet[Any]:
    """One row per stack, service and peer (ids only: names are looked up for one page)."""
    deprecated = Q(protocol__in=DEPRECATED)
    return (
        _filtered(user, filters)
        .values("stack_id", "service_key", "peer")
        .annotate(
            total=Sum("connections"),
            zert_records=Sum("records"),
            cleartext=Sum("connections", filter=Q(protection=ZertProtection.NONE)),
            app_tls=Sum("connections", filter=Q(protection=ZertProtection.APP_TLS)),
            at_tls=Sum("connections", filter=Q(protection=ZertProtection.AT_TLS)),
            other=Sum(
                "connections",
                filter=Q(
                    protection__in=(
                        ZertProtection.SSH,
                        ZertProtection.IPSEC,
                        ZertProtection.SEVERAL,
                    )
                ),
            ),
            deprecated=Sum("connections", filter=deprecated),
        )
        .order_by()
    )


def peer_page_for(*, user: User, filters: InventoryFilters, number: Any) -> PeerPage:
    """One page of peers, most connections first, in one aggregation: the number of peers and
    of peers that sent cleartext come with the page (window functions over the grouping), so
    100,000 peers cost one pass over the roll-ups, not three."""
    try:
        wanted = max(1, int(number or 1))
    except (TypeError, ValueError):
        wanted = 1
    if filters.days is None:
        peers = _peers(user, filters)
        count = peers.count()
        paginator = Paginator(peer_rows_for(user=user, filters=filters), PAGE_SIZE)
        paginator.count = count  # known already: not counted a second time
        page = paginator.get_page(wanted)
        return PeerPage(list(page.object_list), page, count, peers.filter(cleartext__gt=0).count())
    sql, params = _grouped(user, filters).query.sql_with_params()

    def fetch(page_number: int) -> list[dict[str, Any]]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT g.*, count(*) OVER () AS peers,"
                f" sum(CASE WHEN g.cleartext > 0 THEN 1 ELSE 0 END) OVER () AS cleartext_peers"
                f" FROM ({sql}) g ORDER BY g.total DESC, g.stack_id, g.service_key, g.peer"
                f" LIMIT {PAGE_SIZE} OFFSET {(page_number - 1) * PAGE_SIZE}",
                params,
            )
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    rows = fetch(wanted)
    if not rows and wanted > 1:
        # Past the end: the last page (the count comes with any page that has rows).
        first = fetch(1)
        total = int(first[0]["peers"]) if first else 0
        wanted = max(1, -(-total // PAGE_SIZE))
        rows = fetch(wanted) if total else []
    peers = int(rows[0]["peers"]) if rows else 0
    cleartext_peers = int(rows[0]["cleartext_peers"] or 0) if rows else 0
    stacks = {
        stack.id: stack
        for stack in Stack.objects.select_related("lpar").filter(
            id__in={row["stack_id"] for row in rows}
        )
    }
    services = dict(
        Service.objects.filter(id__in={row["service_key"] for row in rows}).values_list(
            "id", "name"
        )
    )
    for row in rows:
        stack = stacks[row["stack_id"]]
        row["stack__lpar__name"], row["stack__name"] = stack.lpar.name, stack.name
        row["service__name"] = services.get(row["service_key"])
    paginator = Paginator(range(peers), PAGE_SIZE)
    return PeerPage(rows, Page(rows, wanted, paginator), peers, cleartext_peers)


def mix_for_peers(
    *, user: User, filters: InventoryFilters, keys: list[tuple[int, str]]
) -> dict[tuple[int, str], str]:
    """The versions and suites each listed (service_key, peer) negotiated: "TLSv1.2 C02F x3"."""
    if not keys:
        return {}
    services = {key for key, _ in keys}
    peers = {peer for _, peer in keys}
    found: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    for item in (
        _filtered(user, filters)
        .filter(service_key__in=services, peer__in=peers)
        .exclude(protocol="")
        .values("service_key", "peer", "protocol", "cipher")
        .annotate(n=Sum("connections"))
    ):
        found[(item["service_key"], item["peer"])][f"{item['protocol']} {item['cipher']}"] += int(
            item["n"] or 0
        )
    return {
        key: ", ".join(f"{name} x{n}" for name, n in counts.most_common(4))
        for key, counts in found.items()
    }


def csv_rows(*, user: User, filters: InventoryFilters) -> Iterator[list[Any]]:
    yield [
        "lpar",
        "stack",
        "service",
        "peer",
        "connections",
        "cleartext",
        "application TLS",
        "AT-TLS",
        "SSH/IPsec",
        "deprecated versions",
        "zERT records",
        "last day",
    ]
    for row in peer_rows_for(user=user, filters=filters).iterator(chunk_size=2000):
        yield [
            row["stack__lpar__name"],
            row["stack__name"],
            row["service__name"] or "",
            row["peer"],
            row["total"] or 0,
            row["cleartext"] or 0,
            row["app_tls"] or 0,
            row["at_tls"] or 0,
            row["other"] or 0,
            row["deprecated"] or 0,
            row["zert_records"] or 0,
            row["last_day"].isoformat() if row["last_day"] else "",
        ]


def zert_record_count_for(*, user: User) -> int:
    """Every zERT record behind the roll-ups the user may see (the dashboard's "from N")."""
    return int(daily_for(user=user).aggregate(n=Sum("records"))["n"] or 0)


def zert_runs_of(connection: Any, limit: int = 5) -> list[ZertRun]:
    if connection is None:
        return []
    return list(ZertRun.objects.filter(connection=connection)[:limit])


@dataclass(frozen=True)
class StackZert:
    """What the portal knows of one stack's zERT. `collecting`: whether the portal reads the
    LPAR's zERT records (its connection's switch), None when the LPAR has no connection.
    `stored_at`: when a run last stored new records of this stack (its end), `newest_day` the
    newest day of connections among them. The portal does not read the stack's own zERT
    setting (GLOBALCONFIG ZERT): stored records show it was on; none stored leaves it unknown."""

    stack: Stack
    collecting: bool | None
    stored_at: dt.datetime | None
    newest_day: dt.date | None


@dataclass(frozen=True)
class LparZert:
    stacks: list[StackZert]
    last_run: ZertRun | None  # the connection's latest run, whatever its outcome


def zert_state_of(lpars: list[Any]) -> dict[int, LparZert]:
    """Per LPAR id (LPARs with their connection and stacks loaded): the zERT state of each
    stack and the latest run, in three queries however many LPARs and stacks."""
    stack_ids = [s.id for lpar in lpars for s in lpar.stacks.all()]
    stored = {
        row["stack_id"]: row
        for row in ZertRunDay.objects.filter(stack_id__in=stack_ids)
        .values("stack_id")
        .annotate(stored_at=Max("run__finished_at"), newest_day=Max("day"))
    }
    connections = {lpar.id: connection_of(lpar) for lpar in lpars}
    latest = ZertRun.objects.filter(connection=OuterRef("pk")).order_by("-created_at")
    run_ids = (
        LparConnection.objects.filter(pk__in=[c.pk for c in connections.values() if c])
        .annotate(last_run=Subquery(latest.values("id")[:1]))
        .values_list("last_run", flat=True)
    )
    runs = {
        r.connection_id: r
        for r in ZertRun.objects.filter(id__in=[i for i in run_ids if i]).defer(
            "steps", "outputs", "warnings"
        )
    }
    answer = {}
    for lpar in lpars:
        connection = connections[lpar.id]
        collecting = connection.zert_enabled if connection is not None else None
        stacks = [
            StackZert(
                stack=stack,
                collecting=collecting,
                stored_at=stored.get(stack.id, {}).get("stored_at"),
                newest_day=stored.get(stack.id, {}).get("newest_day"),
            )
            for stack in lpar.stacks.all()
        ]
        answer[lpar.id] = LparZert(
            stacks=stacks, last_run=runs.get(connection.pk) if connection is not None else None
        )
    return answer


INTERVALS_SHOWN = 24


def intervals_for(*, user: User, filters: InventoryFilters) -> list[ZertInterval]:
    """The latest zERT summary intervals (subtype 12) per stack, newest first. Estate viewers
    only: an interval sums every session of the stack, whichever services they belong to."""
    if not sees_estate(user):
        return []
    rows = ZertInterval.objects.select_related("stack__lpar")
    if filters.stack:
        lpar, _, name = filters.stack.partition("/")
        rows = rows.filter(stack__lpar__name=lpar, stack__name=name)
    return list(rows.order_by("-recorded_at", "stack_id")[:INTERVALS_SHOWN])


# --- zERT against netstat -x ---------------------------------------------------------------------


@dataclass(frozen=True)
class Crosscheck:
    """AT-TLS connections zERT recorded, held against the same connection in netstat -x."""

    agree: int
    disagree: list[dict[str, Any]]
    unseen: int  # never listed by a verification's netstat -x (short-lived, or between runs)

    @property
    def checked(self) -> int:
        return self.agree + len(self.disagree)


def crosscheck_for(*, user: User, days: int = 2) -> Crosscheck:
    """Same stack, same connection id (netstat's hex ConnID), started before netstat saw it:
    the version and the 4-hex suite must be the same. Estate viewers only (netstat shows
    every service)."""
    if not sees_estate(user):
        return Crosscheck(0, [], 0)
    since = timezone.now() - dt.timedelta(days=days)
    # netstat's side first (it is the smaller: live connections a verification listed), then
    # only the zERT rows of those connection ids; the others are counted, not loaded.
    observed: dict[tuple[int, str], list[ConnectionObservation]] = defaultdict(list)
    for seen in ConnectionObservation.objects.filter(secured=True, last_seen__gte=since).only(
        "stack_id", "conn_id", "first_seen", "last_seen", "protocol", "cipher"
    ):
        observed[(seen.stack_id, seen.conn_id.upper())].append(seen)
    ids: set[int] = set()
    for _, conn_id in observed:
        try:
            ids.add(int(conn_id, 16))
        except ValueError:
            continue
    # Each connection once, by its first record (Init, or Short Term); the AT-TLS total comes
    # from the daily roll-ups (an index range), not from counting raw rows.
    at_tls = ZertRecord.objects.filter(
        protection=ZertProtection.AT_TLS, started_at__gte=since, event__in=ingest.FIRST_EVENTS
    )
    total = int(
        ZertDaily.objects.filter(protection=ZertProtection.AT_TLS, day__gte=since.date()).aggregate(
            n=Sum("connections")
        )["n"]
        or 0
    )
    zert = list(
        at_tls.filter(stack_id__in={stack for stack, _ in observed}, connection_id__in=sorted(ids))
        .select_related("stack__lpar")
        .only(
            "stack__name",
            "stack__lpar__name",
            "connection_id",
            "started_at",
            "ended_at",
            "protocol",
            "cipher",
            "remote_address",
            "remote_port",
            "local_port",
            "jobname",
        )
    )
    unseen = max(0, total - len(zert))
    agree = 0
    disagree: list[dict[str, Any]] = []
    slack = dt.timedelta(minutes=2)  # the two clocks, and netstat's sampling
    for row in zert:
        candidates = [
            seen
            for seen in observed.get((row.stack_id, f"{row.connection_id:08X}"), ())
            if seen.last_seen >= row.started_at - slack
            and (row.ended_at is None or seen.first_seen <= row.ended_at + slack)
        ]
        if not candidates:
            unseen += 1
            continue
        seen = candidates[0]
        if seen.protocol == row.protocol and seen.cipher.upper() == row.cipher.upper():
            agree += 1
        else:
            disagree.append(
                {
                    "stack": f"{row.stack.lpar.name}/{row.stack.name}",
                    "conn_id": f"{row.connection_id:08X}",
                    "job": row.jobname,
                    "peer": f"{row.remote_address}..{row.remote_port}",
                    "zert": f"{row.protocol} {row.cipher}",
                    "netstat": f"{seen.protocol or '-'} {seen.cipher or '-'}",
                    "started": row.started_at,
                }
            )
    return Crosscheck(agree, disagree, unseen)
