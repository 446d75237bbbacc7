"""One search box over the estate: services, rules, shared objects, LPARs, peers and
certificates, by name, port, job, address or serial; each kind cut to what the caller may see.

Scope comes from the selectors every page uses: services (and their rules and peers)
through `policies.selectors.service_list_for` (an app owner: their own services only);
shared objects, LPARs and certificates only for those who see the estate (what their pages
show). Each kind answers at most LIMIT rows, the closest first (a name that starts with the
text before one that only contains it), so one query per kind, however large the estate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.urls import reverse

from fleet import selectors as fleet_selectors
from fleet.models import ConnectionObservation
from policies.kinds import SHARED_OBJECT_KINDS
from policies.models import Lpar, Rule
from policies.selectors import service_list_for

User = AbstractBaseUser | AnonymousUser
LIMIT = 20
MIN_LENGTH = 2


@dataclass
class Hit:
    title: str
    detail: str
    url: str = ""


@dataclass
class Results:
    query: str
    groups: dict[str, list[Hit]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(len(hits) for hits in self.groups.values())


def _port(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else None


def _closest(queryset: QuerySet[Any], field_name: str, text: str) -> QuerySet[Any]:
    return queryset.annotate(
        _rank=Case(
            When(**{f"{field_name}__istartswith": text}, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        )
    ).order_by("_rank", field_name)


def _services(user: User, text: str, port: int | None) -> list[Hit]:
    match = (
        Q(name__icontains=text)
        | Q(jobname__icontains=text)
        | Q(owner_team__icontains=text)
        | Q(remote_address__icontains=text)
    )
    if port is not None:
        match |= Q(local_port_low__lte=port, local_port_high__gte=port) | Q(local_port_low=port)
        match |= Q(remote_port_low__lte=port, remote_port_high__gte=port) | Q(remote_port_low=port)
    services = _closest(service_list_for(user=user).filter(match), "name", text)[:LIMIT]
    return [
        Hit(
            title=s.name,
            detail=" · ".join(
                part
                for part in (
                    s.stack.label,
                    f"job {s.jobname}" if s.jobname else "",
                    f"port {s.local_port_low}" if s.local_port_low else "",
                    s.owner_team,
                )
                if part
            ),
            url=reverse("policies:service-detail", args=[s.uuid]),
        )
        for s in services
    ]


def _rules(user: User, text: str) -> list[Hit]:
    """Rules by the actions they use (a rule is named after its service, found above)."""
    rules = (
        Rule.objects.filter(service__in=service_list_for(user=user))
        .filter(
            Q(group_action__name__icontains=text)
            | Q(environment_action__name__icontains=text)
            | Q(connection_action__name__icontains=text)
        )
        .select_related("service__stack__lpar", "group_action", "environment_action")
        .order_by("service__name")[:LIMIT]
    )
    return [
        Hit(
            title=str(rule),
            detail=" · ".join(
                str(a) for a in (rule.group_action, rule.environment_action) if a is not None
            ),
            url=reverse("policies:service-detail", args=[rule.service.uuid]),
        )
        for rule in rules
    ]


def _shared_objects(text: str) -> list[Hit]:
    hits: list[Hit] = []
    for kind in SHARED_OBJECT_KINDS.values():
        matching = kind.model._default_manager.filter(name__icontains=text)
        for obj in _closest(matching, "name", text)[:LIMIT]:
            hits.append(
                Hit(
                    title=obj.name,
                    detail=kind.label.removesuffix("s").lower(),
                    url=reverse("policies:object-detail", args=[kind.slug, obj.uuid]),
                )
            )
    return hits[:LIMIT]


def _lpars(text: str) -> list[Hit]:
    lpars = _closest(Lpar.objects.filter(name__icontains=text), "name", text)[:LIMIT]
    return [Hit(title=lpar.name, detail="LPAR") for lpar in lpars]


def _peers(user: User, text: str, port: int | None) -> list[Hit]:
    """Remote ends of observed connections, by address or port (`10.1.2.3..1414`)."""
    match = Q(remote_socket__icontains=text)
    if port is not None:
        match |= Q(remote_socket__endswith=f"..{port}") | Q(local_socket__endswith=f"..{port}")
    rows = ConnectionObservation.objects.filter(match)
    if not fleet_selectors.sees_estate(user):
        rows = rows.filter(service__in=service_list_for(user=user))
    peers = (
        rows.values("remote_socket", "service__name", "stack__lpar__name", "stack__name")
        .distinct()
        .order_by("remote_socket")[:LIMIT]
    )
    return [
        Hit(
            title=p["remote_socket"],
            detail=" · ".join(
                part
                for part in (f"{p['stack__lpar__name']}/{p['stack__name']}", p["service__name"])
                if part
            ),
        )
        for p in peers
    ]


def _certificates(user: User, text: str) -> list[Hit]:
    certificates = fleet_selectors.certificate_list_for(user=user).filter(
        Q(subject__icontains=text)
        | Q(serial__iexact=text.replace(":", ""))
        | Q(serial__icontains=text)
        | Q(fingerprint__istartswith=text.replace(":", ""))
        | Q(label__icontains=text)
    )[:LIMIT]
    return [
        Hit(
            title=c.subject,
            detail=f"{c.stack.label} · serial {c.serial} · until {c.not_after:%Y-%m-%d}",
            url=reverse("fleet:certificates") + f"?status=all&stack={c.stack.label}",
        )
        for c in certificates
    ]


def search_for(*, user: User, query: str) -> Results:
    text = query.strip()[:100]
    results = Results(query=text)
    if len(text) < MIN_LENGTH:
        return results
    port = _port(text)
    results.groups["Services"] = _services(user, text, port)
    results.groups["Rules"] = _rules(user, text)
    if fleet_selectors.sees_estate(user):
        results.groups["Shared objects"] = _shared_objects(text)
        results.groups["LPARs"] = _lpars(text)
    results.groups["Peers"] = _peers(user, text, port)
    results.groups["Certificates"] = _certificates(user, text)
    return results
