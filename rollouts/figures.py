"""A campaign's figures in the account's terms, read from what the fleet stored.

Per service, from its stack's latest succeeded verification (the figures fleet/verify stored
for it, as the fleet overview shows them): connections, secured, protocol mix, refused
attempts, and the probe's connection set-up time; from zERT's per-peer roll-ups (ZertPeer),
the connections it recorded and how many were cleartext or on a deprecated protocol. Per
stack, drift events opened over the last 30 days. Nothing is measured a second way here: the
inventory freezes these as the baseline, the page shows them again as "now", the end of the
campaign freezes them as the end state.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, OuterRef, Subquery, Sum
from django.utils import timezone

from fleet.models import DriftEvent, RunStatus, VerificationRun, ZertPeer
from fleet.presenters import DEPRECATED
from policies.models import Service, Stack

DRIFT_WINDOW = timedelta(days=30)


def latest_runs(stack_ids: Iterable[int], *, since: datetime | None = None) -> dict[int, Any]:
    """The latest succeeded verification of each stack (finished at or after `since`), in
    two queries whatever the number of stacks; the raw outputs are left unread."""
    runs = VerificationRun.objects.filter(stack=OuterRef("pk"), status=RunStatus.SUCCEEDED)
    if since is not None:
        runs = runs.filter(finished_at__gte=since)
    rows = (
        Stack.objects.filter(id__in=list(stack_ids))
        .annotate(run_id=Subquery(runs.order_by("-created_at", "-id").values("id")[:1]))
        .values_list("id", "run_id")
    )
    ids = {stack_id: run_id for stack_id, run_id in rows if run_id is not None}
    found = VerificationRun.objects.defer("outputs").in_bulk(set(ids.values()))
    return {stack_id: found[run_id] for stack_id, run_id in ids.items() if run_id in found}


def setup_ms(entry: dict[str, Any]) -> float | None:
    """The probe's connection set-up of a service: TCP connect, plus the TLS handshake when
    one completed (a cleartext port's set-up is its connect alone)."""
    connect = entry.get("probe_connect_ms")
    if connect is None:
        return None
    return round(float(connect) + float(entry.get("probe_handshake_ms") or 0.0), 3)


def service_figures(entry: dict[str, Any] | None) -> dict[str, Any]:
    """One service's figures from its entry in a run's results (fleet/verify/figures.py)."""
    entry = entry or {}
    protocols = {str(k): int(v) for k, v in (entry.get("protocols") or {}).items()}
    return {
        "connections": int(entry.get("connections") or 0),
        "secured": int(entry.get("secured") or 0),
        "protocols": protocols,
        "deprecated": sum(n for name, n in protocols.items() if name in DEPRECATED),
        "refused": int(entry.get("refused") or 0),
        "setup_ms": setup_ms(entry),
        "handshake_ms": entry.get("probe_handshake_ms"),
    }


def measure(services: Iterable[Service], *, now: datetime | None = None) -> dict[str, Any]:
    """Every figure of `services` as stored now: per service, per stack, and the totals."""
    now = now or timezone.now()
    services = list(services)
    stack_ids = {s.stack_id for s in services}
    runs = latest_runs(stack_ids)
    zert = {
        row["service_key"]: row
        for row in ZertPeer.objects.filter(service_key__in=[s.id for s in services])
        .values("service_key")
        .annotate(
            connections=Sum("connections"),
            cleartext=Sum("cleartext"),
            deprecated=Sum("deprecated"),
        )
    }
    drift = dict(
        DriftEvent.objects.filter(stack_id__in=stack_ids, opened_at__gte=now - DRIFT_WINDOW)
        .values_list("stack_id")
        .annotate(n=Count("id"))
        .values_list("stack_id", "n")
    )
    per_service: dict[str, Any] = {}
    for service in services:
        run = runs.get(service.stack_id)
        entry = ((run.results if run is not None else {}).get("services") or {}).get(service.name)
        figures = service_figures(entry)
        recorded = zert.get(service.id)
        figures["zert"] = (
            {key: int(recorded[key] or 0) for key in ("connections", "cleartext", "deprecated")}
            if recorded
            else None
        )
        figures["name"] = service.name
        figures["stack"] = service.stack_id
        per_service[str(service.id)] = figures
    stacks = {
        str(stack_id): {
            "run": str(runs[stack_id].uuid) if stack_id in runs else None,
            "run_at": runs[stack_id].finished_at.isoformat()
            if stack_id in runs and runs[stack_id].finished_at
            else None,
            "drift_30_days": drift.get(stack_id, 0),
        }
        for stack_id in sorted(stack_ids)
    }
    return {
        "at": now.isoformat(),
        "services": per_service,
        "stacks": stacks,
        "totals": totals(per_service, stacks),
    }


def _percent(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def totals(per_service: dict[str, Any], stacks: dict[str, Any]) -> dict[str, Any]:
    """The article's figures over the services: coverage, TLS 1.3 share, deprecated share
    (of the sessions seen; zERT's share of what it recorded beside it), drift events a month,
    refused attempts."""
    connections = sum(f["connections"] for f in per_service.values())
    secured = sum(f["secured"] for f in per_service.values())
    tls13 = sum(f["protocols"].get("TLSv1.3", 0) for f in per_service.values())
    deprecated = sum(f["deprecated"] for f in per_service.values())
    recorded = [f["zert"] for f in per_service.values() if f.get("zert")]
    zert_connections = sum(z["connections"] for z in recorded)
    return {
        "services": len(per_service),
        "connections": connections,
        "coverage": _percent(secured, connections),
        "tls13_share": _percent(tls13, connections),
        "deprecated_share": _percent(deprecated, connections),
        "zert_connections": zert_connections,
        "zert_deprecated_share": _percent(sum(z["deprecated"] for z in recorded), zert_connections),
        "zert_cleartext_share": _percent(sum(z["cleartext"] for z in recorded), zert_connections),
        "drift_per_month": sum(s["drift_30_days"] for s in stacks.values()),
        "refused": sum(f["refused"] for f in per_service.values()),
    }


def totals_of(measured: dict[str, Any], service_ids: Iterable[int]) -> dict[str, Any]:
    """The totals of `measured` (measure's answer) over `service_ids` and their stacks only."""
    wanted = {str(i) for i in service_ids}
    per_service = {k: v for k, v in measured["services"].items() if k in wanted}
    stack_ids = {str(f["stack"]) for f in per_service.values()}
    stacks = {k: v for k, v in measured["stacks"].items() if k in stack_ids}
    return totals(per_service, stacks)


def added_latency(now: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float]:
    """Per service (by id) measured both times: set-up now less set-up in the baseline, ms."""
    added: dict[str, float] = {}
    before = baseline.get("services") or {}
    for key, figures in (now.get("services") or {}).items():
        then = (before.get(key) or {}).get("setup_ms")
        if figures.get("setup_ms") is not None and then is not None:
            added[key] = round(figures["setup_ms"] - then, 3)
    return added
