"""My services: the services a user may see, each with its status, live connections and
protocol mix, from its stack's latest verification (who sees which service:
`policies.selectors.service_list_for`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import (
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Window,
)
from django.db.models.functions import RowNumber
from django.utils import timezone

from fleet import presenters
from fleet.models import (
    ConnectionObservation,
    RunStatus,
    ServiceHour,
    VerificationRun,
)
from fleet.selectors import User
from policies.models import Service, Stack
from policies.selectors import service_list_for


@dataclass
class ServiceStatus:
    """One service as its owner sees it: badge, latest figures, live connections, mix over time."""

    service: Service
    run: VerificationRun | None
    entry: dict[str, Any] | None
    live: list[ConnectionObservation] = field(default_factory=list)
    hours: list[ServiceHour] = field(default_factory=list)
    chart: presenters.Chart | None = None

    @property
    def badge(self) -> presenters.Badge:
        deployed = self.run is not None and self.run.expected_version_id is not None
        return presenters.service_badge(self.entry, policy_deployed=deployed)

    @property
    def protocol_bar(self) -> presenters.Bar:
        return presenters.protocol_bar((self.entry or {}).get("protocols") or {})

    @property
    def live_count(self) -> int:
        return (self.entry or {}).get("connections") or 0

    @property
    def coverage_text(self) -> str:
        entry = self.entry or {}
        return presenters.percent(entry.get("secured", 0), entry.get("connections"))

    @property
    def failures(self) -> dict[str, int]:
        return (self.entry or {}).get("handshake_failures") or {}

    @property
    def failures_text(self) -> str:
        return presenters.failures_text(self.failures)

    @property
    def failures_total(self) -> int:
        return sum(self.failures.values())

    @property
    def failure_codes(self) -> str:
        return presenters.failure_codes(self.failures)

    @property
    def refused_text(self) -> str:
        return presenters.refused_text(self.entry)

    @property
    def refused_peers_text(self) -> str:
        return presenters.refused_peers_text(self.entry)


LIVE_SHOWN = 12


def visible_services(*, user: User) -> QuerySet[Service]:
    """The services the user may see: an app owner's own; every one for the estate."""
    return service_list_for(user=user).order_by("stack__lpar__name", "stack__name", "name")


def service_statuses(
    services: Iterable[Service],
    *,
    window: str = "24h",
    now: datetime | None = None,
    details: bool = True,
) -> list[ServiceStatus]:
    """Status of already visible services (a page of `visible_services`), in four queries.

    `details`: also the live connections and the protocol mix over the window."""
    services = list(services)
    now = now or timezone.now()
    if not services:
        return []
    stack_ids = {s.stack_id for s in services}
    latest = (
        VerificationRun.objects.filter(stack=OuterRef("pk"), status=RunStatus.SUCCEEDED)
        .order_by("-created_at", "-id")
        .values("id")[:1]
    )
    run_ids = Stack.objects.filter(id__in=stack_ids).annotate(run_id=Subquery(latest))
    runs = VerificationRun.objects.defer("outputs").in_bulk(
        {r.run_id for r in run_ids if r.run_id is not None}
    )
    run_by_stack = {run.stack_id: run for run in runs.values()}
    statuses = []
    for service in services:
        run = run_by_stack.get(service.stack_id)
        entry = (run.results.get("services") or {}).get(service.name) if run else None
        statuses.append(ServiceStatus(service=service, run=run, entry=entry))
    if details:
        _attach_live(statuses, run_by_stack)
        _attach_charts(statuses, window=window, now=now)
    return statuses


def _attach_live(statuses: list[ServiceStatus], runs: dict[int, VerificationRun]) -> None:
    """The connections the latest run saw, a few per service (one windowed query)."""
    if not runs:
        return
    seen_by_latest = Q()
    for stack_id, run in runs.items():
        seen_by_latest |= Q(stack_id=stack_id, last_seen__gte=run.created_at)
    rows = (
        ConnectionObservation.objects.filter(seen_by_latest)
        .filter(service_id__in=[s.service.id for s in statuses])
        .annotate(
            row=Window(
                RowNumber(),
                partition_by=[F("service_id")],
                order_by=[F("secured").asc(), F("first_seen").desc(), F("id").desc()],
            )
        )
        .filter(row__lte=LIVE_SHOWN)
    )
    by_service: dict[int, list[ConnectionObservation]] = defaultdict(list)
    for row in rows:
        by_service[row.service_id].append(row)
    for status in statuses:
        status.live = by_service.get(status.service.id, [])


def _attach_charts(statuses: list[ServiceStatus], *, window: str, now: datetime) -> None:
    span, _ = presenters.WINDOWS[window]
    hours: dict[int, list[ServiceHour]] = defaultdict(list)
    for hour in ServiceHour.objects.filter(
        service_id__in=[s.service.id for s in statuses],
        hour__gte=now.replace(minute=0, second=0, microsecond=0) - span,
    ):
        hours[hour.service_id].append(hour)
    for status in statuses:
        status.hours = sorted(hours[status.service.id], key=lambda h: h.hour)
        status.chart = presenters.mix_chart(status.hours, now=now, window=window)
