"""The rules that say which facts belong to an assessment's period: one definition each.

The assessment engine (audits/assessment/) reads the period through these, and the evidence
pack (audits/evidence.py) does too where it must read something again, so the signed PDF
cannot contradict the control results it signs:

- hourly roll-ups: the hour that holds the period's start counts (the window starts at the
  start rounded down to the hour), up to the end (exclusive);
- deployments: those approved, started or finished in the period;
- the policy in force on a stack: the last target that reached it by finish time, bounded
  by the evaluation instant (`fleet.selectors.deployed_target`);
- certificates: seen in the period, judged at the evaluation instant against the catalog's
  `cert_expiry_warning_days` as the assessment used it;
- protocols: every version AT-TLS knows, SSLv2 included, oldest first, then cleartext;
- change impact: a deployment's acknowledgement and, per target, the prediction stored with
  it and the comparison of the refusals after it (fleet.impact.compare), as fleet.impact
  stores and compares them; nothing is predicted again;
- rollout campaigns: the steps begun by the period's end and not finished before its start
  (a step still baking or held has no finish), of campaigns whose cohorts hold a service of
  the scope (audits/campaigns.py reads them);
- zERT: the daily roll-ups (ZertDaily, per UTC day of a connection's start) of every day the
  period touches, the day that holds its start included whole; the dumps behind them are the
  runs that first stored records of those days for the scope's stacks (ZertRunDay).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import Max, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from attls.ciphers import Protocol
from audits.catalog import load_catalog
from fleet.impact import compare
from fleet.impact.models import ImpactAcknowledgement
from fleet.models import (
    Deployment,
    DeploymentTarget,
    ServiceHour,
    ZertDaily,
    ZertRun,
    ZertRunDay,
)
from fleet.selectors import deployed_target
from policies.models import Stack

__all__ = [
    "CLEARTEXT",
    "PROTOCOL_KEYS",
    "campaign_steps_in",
    "certificate_state",
    "change_impact",
    "coverage_by_day",
    "deployments_in",
    "evaluated_at",
    "floor_hour",
    "in_force",
    "service_hours",
    "warning_days",
    "zert_daily",
    "zert_days",
    "zert_dumps",
    "zert_stacks",
]

CLEARTEXT = "cleartext"
# The keys of a roll-up's protocol counts: the AT-TLS spellings, oldest first, then cleartext.
PROTOCOL_KEYS: tuple[str, ...] = (*(p.value for p in Protocol), CLEARTEXT)


def floor_hour(moment: dt.datetime) -> dt.datetime:
    """The start of the hour that holds `moment`: roll-ups are per hour."""
    return moment.replace(minute=0, second=0, microsecond=0)


def service_hours(
    services: Iterable[int] | QuerySet[Any], start: dt.datetime, end: dt.datetime
) -> QuerySet[ServiceHour]:
    """The hourly roll-ups of `services` (ids, or a query of ids) in the period."""
    return ServiceHour.objects.filter(
        service_id__in=services, hour__gte=floor_hour(start), hour__lt=end
    )


def coverage_by_day(
    services: Iterable[int] | QuerySet[Any], start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """Connections and encrypted connections per day of the period's roll-ups, JSON-ready."""
    rows = (
        service_hours(services, start, end)
        .annotate(day=TruncDate("hour"))
        .values("day")
        .annotate(connections=Sum("connections"), secured=Sum("secured"))
        .order_by("day")
    )
    return [
        {
            "day": row["day"].isoformat(),
            "connections": row["connections"] or 0,
            "secured": row["secured"] or 0,
        }
        for row in rows
    ]


def deployments_in(start: dt.datetime, end: dt.datetime) -> Q:
    """Deployments of the period: approved, started or finished in it."""
    return (
        Q(approved_at__range=(start, end))
        | Q(started_at__range=(start, end))
        | Q(finished_at__range=(start, end))
    )


def campaign_steps_in(start: dt.datetime, end: dt.datetime) -> Q:
    """Campaign steps of the period: begun by its end, not finished before its start."""
    return Q(created_at__lte=end) & (Q(finished_at__isnull=True) | Q(finished_at__gte=start))


def in_force(stacks: Iterable[Stack], at: dt.datetime) -> dict[int, DeploymentTarget | None]:
    """Per stack id: the target deployed there at `at` (None when nothing was)."""
    return {stack.pk: deployed_target(stack, at=at) for stack in stacks}


def evaluated_at(summary: Mapping[str, Any] | None, period_end: dt.datetime) -> dt.datetime:
    """The evaluation instant the assessment used, as it stored it; else the period end."""
    value = (summary or {}).get("evaluated_at")
    return dt.datetime.fromisoformat(value) if value else period_end


def warning_days(parameters: Mapping[str, Any] | None) -> int:
    """`cert_expiry_warning_days` as the assessment used it (the engine stores every parameter
    it used); for a row stored without it, the catalog's default."""
    value = (parameters or {}).get("cert_expiry_warning_days")
    if value is None:
        value = load_catalog().resolve_parameters(None)["cert_expiry_warning_days"]
    return int(value)


def certificate_state(not_after: dt.datetime, at: dt.datetime, days: int) -> tuple[str, int]:
    """expired, expiring (within `days` of `at`) or valid; and whole days left at `at`."""
    left = (not_after - at).total_seconds() / 86400
    if not_after <= at:
        return "expired", int(left)
    if not_after <= at + dt.timedelta(days=days):
        return "expiring", int(left)
    return "valid", int(left)


def change_impact(
    deployment: Deployment, targets: Iterable[DeploymentTarget], end: dt.datetime
) -> tuple[ImpactAcknowledgement | None, list[compare.Comparison]]:
    """A deployment's change impact: who accepted its predicted breakage (None when nobody
    had to, or nobody did) and, per target, the comparison fleet.impact makes of the refusals
    after it with the prediction stored with the target (`Comparison.prediction`; None when
    none was stored; `compared` false while the target has not reached its stack). The
    refusals compared end at the period's `end`: what came after is another period's."""
    acknowledgement = (
        ImpactAcknowledgement.objects.select_related("by").filter(deployment=deployment).first()
    )
    return acknowledgement, [compare.compare_target(target, until=end) for target in targets]


# --- zERT -------------------------------------------------------------------------------------


def zert_days(start: dt.datetime, end: dt.datetime) -> tuple[dt.date, dt.date]:
    """The first and last UTC day of zERT roll-ups the period touches (the end is exclusive:
    a period that ends at midnight stops the day before)."""
    last = end.astimezone(dt.UTC) - dt.timedelta(microseconds=1)
    return start.astimezone(dt.UTC).date(), max(last.date(), start.astimezone(dt.UTC).date())


def zert_daily(
    services: Iterable[int] | QuerySet[Any], start: dt.datetime, end: dt.datetime
) -> QuerySet[ZertDaily]:
    """The daily zERT roll-ups of `services` (ids, or a query of ids) in the period."""
    first, last = zert_days(start, end)
    return ZertDaily.objects.filter(service_id__in=services, day__gte=first, day__lte=last)


def zert_stacks(
    stack_ids: Iterable[int], start: dt.datetime, end: dt.datetime
) -> dict[int, dict[str, Any]]:
    """Per stack with zERT records in the period: its records (all services and none) and the
    first and last day that has any."""
    first, last = zert_days(start, end)
    rows = (
        ZertDaily.objects.filter(stack_id__in=list(stack_ids), day__gte=first, day__lte=last)
        .values("stack_id")
        .annotate(records=Sum("records"), first=Min("day"), last=Max("day"))
        .order_by()
    )
    return {
        row["stack_id"]: {
            "records": row["records"] or 0,
            "first": row["first"],
            "last": row["last"],
        }
        for row in rows
        if row["records"]
    }


def zert_dumps(
    stack_ids: Iterable[int], start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """The dump files that fed the period's zERT figures of these stacks, JSON-ready: each run
    that first stored records of the period's days, with the SHA-256 of its dump as received
    and how many of those records it stored."""
    first, last = zert_days(start, end)
    stored = dict(
        ZertRunDay.objects.filter(stack_id__in=list(stack_ids), day__gte=first, day__lte=last)
        .values("run_id")
        .annotate(records=Sum("records"))
        .order_by()
        .values_list("run_id", "records")
    )
    runs = (
        ZertRun.objects.filter(pk__in=list(stored))
        .values("pk", "uuid", "source", "finished_at", "connection__lpar__name", "outputs__dump")
        .order_by("connection__lpar__name", "finished_at", "pk")
    )
    dumps = []
    for run in runs:
        dump = run["outputs__dump"] or {}
        finished = run["finished_at"]
        dumps.append(
            {
                "run": str(run["uuid"]),
                "lpar": run["connection__lpar__name"],
                "source": run["source"],
                "finished_at": finished.isoformat() if finished else None,
                "file": dump.get("file"),
                "sha256": dump.get("sha256"),
                "bytes": dump.get("bytes"),
                "records": stored[run["pk"]],
            }
        )
    return dumps
