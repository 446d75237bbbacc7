"""Exports of the estate as CSV or JSON, each cut to what its caller may see.

Every export reads through the selector that scopes the matching page (`service_list_for`,
`drift_list_for`, ...), never a filter of its own, so an export holds exactly what its
caller's pages show: an app owner's services and their connections, nothing of other teams;
the estate-wide lists for those who see the estate; the audit log for auditors (AUDIT).

Rows are streamed (read a page at a time, one CSV line or JSON object at a time), so a
table of any size leaves memory flat and the first bytes leave at once.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.roles import Capability
from audits.browse import audit_entries
from audits.forms import log_filters
from fleet import selectors as fleet_selectors
from fleet.models import ConnectionObservation
from policies.selectors import service_list_for

User = AbstractBaseUser | AnonymousUser
CHUNK = 2000
FORMATS = ("csv", "json")


class ExportRefused(ValueError):
    """A parameter the export cannot honour (a malformed or too long window); 400."""


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    @classmethod
    def parse(cls, params: Any, *, now: datetime | None = None) -> Window:
        """`since`/`until` as ISO 8601 (UTC when no offset); the last 24 hours by default."""
        now = now or timezone.now()
        until = _instant(params.get("until"), "until") or now
        since = _instant(params.get("since"), "since") or until - timedelta(hours=24)
        if since >= until:
            raise ExportRefused("since must be before until")
        longest = timedelta(days=settings.OPS_EXPORT_MAX_DAYS)
        if until - since > longest:
            raise ExportRefused(
                f"the window is longer than {settings.OPS_EXPORT_MAX_DAYS} days "
                "(OPS_EXPORT_MAX_DAYS): export it in parts"
            )
        return cls(since=since, until=until)


def _instant(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value.strip().replace(" ", "+"))
    if parsed is None:
        raise ExportRefused(f"{name} is not an ISO 8601 date and time: {value!r}")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, timezone.utc)


def _when(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _stack_label(obj: Any) -> str:
    return f"{obj.stack.lpar.name}/{obj.stack.name}"


def _ports(low: int, high: int) -> str:
    if not low and not high:
        return ""
    return str(low) if low == high or not high else f"{low}-{high}"


Rows = Callable[[User, Any], Iterable[Sequence[Any]]]


@dataclass(frozen=True)
class Export:
    name: str
    title: str
    # Who may ask at all; the selector then cuts the rows to the caller's scope.
    capabilities: tuple[Capability, ...]
    columns: tuple[str, ...]
    rows: Rows

    @property
    def url_name(self) -> str:
        return f"export-{self.name}"


def _chunked(queryset: QuerySet[Any]) -> Iterator[Any]:
    """The rows a page of CHUNK at a time, in the queryset's order (then by id, so pages
    neither skip nor repeat a row). Pages, not a server-side cursor (`.iterator()` on
    PostgreSQL): a streamed answer is read after the view returns, when the transaction that
    cursor lived in may be gone."""
    order = queryset.query.order_by or queryset.model._meta.ordering
    ordered = queryset.order_by(*order, "pk")
    start = 0
    while True:
        page = list(ordered[start : start + CHUNK])
        yield from page
        if len(page) < CHUNK:
            return
        start += CHUNK


def _services(user: User, params: Any) -> Iterator[Sequence[Any]]:
    services = service_list_for(user=user).order_by("stack__lpar__name", "stack__name", "name")
    for s in _chunked(services):
        rule = getattr(s, "rule", None)
        yield (
            str(s.uuid),
            s.stack.lpar.name,
            s.stack.name,
            s.name,
            s.owner_team,
            s.jobname,
            s.userid,
            _ports(s.local_port_low, s.local_port_high),
            s.remote_address,
            _ports(s.remote_port_low, s.remote_port_high),
            s.direction,
            s.tier,
            s.phase,
            s.included,
            rule.priority if rule is not None else "",
            str(rule.group_action) if rule is not None else "",
        )


def _connections(user: User, params: Any) -> Iterator[Sequence[Any]]:
    window = Window.parse(params)
    rows = ConnectionObservation.objects.select_related("stack__lpar", "service").filter(
        last_seen__gte=window.since, first_seen__lte=window.until
    )
    if not fleet_selectors.sees_estate(user):
        # Connections of the caller's own services only: none without a known service.
        rows = rows.filter(service__in=service_list_for(user=user))
    for c in _chunked(rows.order_by("first_seen", "id")):
        yield (
            _stack_label(c),
            c.service.name if c.service else "",
            c.conn_id,
            c.local_socket,
            c.remote_socket,
            c.jobname,
            c.secured,
            c.protocol,
            c.cipher,
            c.rule,
            _when(c.first_seen),
            _when(c.last_seen),
        )


def _certificates(user: User, params: Any) -> Iterator[Sequence[Any]]:
    for c in _chunked(fleet_selectors.certificate_list_for(user=user)):
        yield (
            _stack_label(c),
            c.subject,
            c.issuer,
            c.serial,
            c.fingerprint,
            _when(c.not_after),
            c.ring,
            c.label,
            " ".join(str(p) for p in c.ports),
            " ".join(str(r) for r in c.rules),
            _when(c.first_seen),
            _when(c.last_seen),
        )


def _drift(user: User, params: Any) -> Iterator[Sequence[Any]]:
    filters = fleet_selectors.FindingFilters.parse(params, default_status="all")
    for d in _chunked(fleet_selectors.drift_list_for(user=user, filters=filters)):
        yield (
            str(d.uuid),
            _stack_label(d),
            d.kind,
            d.key,
            " ".join(d.services or ([d.service.name] if d.service else [])),
            d.detail,
            _when(d.opened_at),
            _when(d.last_seen_at),
            _when(d.resolved_at),
            d.acknowledged_by.get_username() if d.acknowledged_by else "",
            d.acknowledgement,
        )


def _incidents(user: User, params: Any) -> Iterator[Sequence[Any]]:
    filters = fleet_selectors.FindingFilters.parse(params, default_status="all")
    for i in _chunked(fleet_selectors.incident_list_for(user=user, filters=filters)):
        yield (
            str(i.uuid),
            _stack_label(i),
            i.kind,
            i.service.name if i.service else "",
            i.summary,
            _when(i.opened_at),
            _when(i.last_seen_at),
            _when(i.resolved_at),
            i.resolution,
            str(i.preceded_by.uuid) if i.preceded_by else "",
        )


def _deployments(user: User, params: Any) -> Iterator[Sequence[Any]]:
    # One row per deployment and stack, the unit an auditor reconciles with change tickets.
    deployments = fleet_selectors.deployment_list_for(user=user)
    for d in _chunked(deployments):
        for t in d.targets.all():
            yield (
                str(d.uuid),
                d.kind,
                d.status,
                f"{t.stack.lpar.name}/{t.stack.name}",
                t.version.number,
                t.status,
                d.requested_by.get_username(),
                d.approved_by.get_username() if d.approved_by else "",
                _when(d.created_at),
                _when(d.approved_at),
                _when(d.started_at),
                _when(d.finished_at),
                d.error,
            )


def _audit_log(user: User, params: Any) -> Iterator[Sequence[Any]]:
    # In chain order, so a reader can re-hash it; filtered as the audit log page filters, by
    # the same form (actor, action, dates, object).
    try:
        filters = log_filters(params)
    except ValueError as refused:
        raise ExportRefused(str(refused)) from None
    entries = audit_entries(filters).order_by("sequence")
    for e in _chunked(entries):
        yield (
            e.sequence,
            _when(e.at),
            e.actor,
            e.action,
            e.object_type,
            e.object_id,
            e.summary,
            e.client_address,
            e.user_agent,
            json.dumps(e.data, sort_keys=True, separators=(",", ":")),
            e.prev_hash,
            e.hash,
        )


ESTATE = (Capability.VIEW_ESTATE,)
ESTATE_AND_OWNERS = (Capability.VIEW_ESTATE, Capability.VIEW_OWN_SERVICES)

EXPORTS: dict[str, Export] = {
    e.name: e
    for e in (
        Export(
            "services",
            "Services",
            ESTATE_AND_OWNERS,
            (
                "uuid",
                "lpar",
                "stack",
                "name",
                "owner_team",
                "jobname",
                "userid",
                "local_ports",
                "remote_address",
                "remote_ports",
                "direction",
                "tier",
                "phase",
                "included",
                "rule_priority",
                "rule_group_action",
            ),
            _services,
        ),
        Export(
            "connections",
            "Connections in a window (since, until: ISO 8601; the last 24 hours by default)",
            ESTATE_AND_OWNERS,
            (
                "stack",
                "service",
                "conn_id",
                "local_socket",
                "remote_socket",
                "jobname",
                "secured",
                "protocol",
                "cipher",
                "rule",
                "first_seen",
                "last_seen",
            ),
            _connections,
        ),
        Export(
            "certificates",
            "Certificates the probe saw",
            ESTATE,
            (
                "stack",
                "subject",
                "issuer",
                "serial",
                "fingerprint_sha256",
                "not_after",
                "keyring",
                "label",
                "ports",
                "rules",
                "first_seen",
                "last_seen",
            ),
            _certificates,
        ),
        Export(
            "drift",
            "Drift events (status: open, resolved or all)",
            ESTATE,
            (
                "uuid",
                "stack",
                "kind",
                "key",
                "services",
                "detail",
                "opened_at",
                "last_seen_at",
                "resolved_at",
                "acknowledged_by",
                "acknowledgement",
            ),
            _drift,
        ),
        Export(
            "incidents",
            "Incidents (status: open, resolved or all)",
            ESTATE,
            (
                "uuid",
                "stack",
                "kind",
                "service",
                "summary",
                "opened_at",
                "last_seen_at",
                "resolved_at",
                "resolution",
                "preceded_by_deployment",
            ),
            _incidents,
        ),
        Export(
            "deployments",
            "Deployments, one row per stack",
            ESTATE,
            (
                "uuid",
                "kind",
                "status",
                "stack",
                "version",
                "stack_status",
                "requested_by",
                "approved_by",
                "created_at",
                "approved_at",
                "started_at",
                "finished_at",
                "error",
            ),
            _deployments,
        ),
        Export(
            "audit-log",
            "The audit log in chain order",
            (Capability.AUDIT,),
            (
                "sequence",
                "at",
                "actor",
                "action",
                "object_type",
                "object_id",
                "summary",
                "client_address",
                "user_agent",
                "data",
                "prev_hash",
                "hash",
            ),
            _audit_log,
        ),
    )
}


class _Line:
    """csv.writer writes into this and we hand each line on (the csv docs' streaming idiom)."""

    def write(self, value: str) -> str:
        return value


def _csv_cell(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to a spreadsheet (CSV injection, OWASP): quote
    # it with a leading apostrophe so a crafted summary or peer name cannot run in Excel.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def stream_csv(export: Export, rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(export.columns)
    for row in rows:
        yield writer.writerow([_csv_cell(v) for v in row])


def stream_json(export: Export, rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    yield "["
    first = True
    for row in rows:
        yield ("\n" if first else ",\n") + json.dumps(dict(zip(export.columns, row, strict=True)))
        first = False
    yield "\n]\n"


def first_rows(rows: Iterable[Sequence[Any]]) -> Iterator[Sequence[Any]]:
    """Start the row generator now, so a refused parameter is a 400 before streaming."""
    iterator = iter(rows)
    try:
        head = next(iterator)
    except StopIteration:
        return iter(())

    def chained() -> Iterator[Sequence[Any]]:
        yield head
        yield from iterator

    return chained()


def export_rows(*, export: Export, user: User, params: Any) -> Iterator[Sequence[Any]]:
    return first_rows(export.rows(user, params))
