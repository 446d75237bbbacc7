"""Refused clients: a surge of AT-TLS handshake failures opens one incident per service.

A verification counts the EZD1286I lines its stack wrote since the previous run read the
syslog (attls/reports/syslog.py; the portal probe's own refusals apart). For each service:

- rate: refused attempts a minute over that stretch of syslog;
- share: refused / (refused + the service's live connections now), the attempts we can see;
- baseline: the refusal rate of the hour before the deployment or drift that preceded the
  stretch (when one happened in the last hour), else of the hour before the stretch.

A surge is a rate above FLEET_REFUSAL_SURGE_PER_MINUTE, a share above
FLEET_REFUSAL_SURGE_PERCENT and a rate above FLEET_REFUSAL_SURGE_FACTOR times the baseline.
It opens one incident (keyed `refused:<service>`) naming the service, the peers, the codes
with their meanings and families, and the deployment that preceded it. Refusals belong to the
incident opened for their service after the latest change (deployment or drift) preceding
them: while no newer change happened, every run that sees refusals adds to it; refusals seen
after a newer change end it (superseded) and open a new incident, surge or not — they are
the consequence of another change. A run that sees none for the service (with a readable
syslog) resolves it: that is what removing the service's rule, or rolling back, leads to.

A first read of a stack's syslog is not judged: with no previous read there is no stretch
to take a rate over, only the file's whole history.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from attls.reports.syslog import RuleFailures
from attls.returncodes import describe, family_label, family_of
from fleet.alerts.producers import alert_refusal_surge
from fleet.models import (
    DeploymentTarget,
    DriftEvent,
    Incident,
    IncidentKind,
    RunStatus,
    VerificationRun,
)
from policies.models import Service, Stack

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
PEERS_KEPT = 50
LINES_KEPT = 200


@dataclass(frozen=True)
class Thresholds:
    per_minute: float
    share: float  # 0..1
    factor: float

    @classmethod
    def from_settings(cls) -> Thresholds:
        return cls(
            per_minute=float(settings.FLEET_REFUSAL_SURGE_PER_MINUTE),
            share=settings.FLEET_REFUSAL_SURGE_PERCENT / 100,
            factor=float(settings.FLEET_REFUSAL_SURGE_FACTOR),
        )


@dataclass(frozen=True)
class Judgement:
    """One service's refusals over one stretch of syslog, against the thresholds."""

    refused: int
    attempts: int
    per_minute: float
    share: float
    baseline_per_minute: float
    surge: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "refused": self.refused,
            "attempts": self.attempts,
            "per_minute": round(self.per_minute, 2),
            "share": round(self.share, 4),
            "baseline_per_minute": round(self.baseline_per_minute, 2),
        }


def judge(
    *, refused: int, connections: int, window_seconds: float, baseline: float, limits: Thresholds
) -> Judgement:
    attempts = refused + connections
    per_minute = refused * 60 / window_seconds if window_seconds > 0 else 0.0
    share = refused / attempts if attempts else 0.0
    surge = (
        refused > 0
        and per_minute > limits.per_minute
        and share > limits.share
        and per_minute > limits.factor * baseline
    )
    return Judgement(refused, attempts, per_minute, share, baseline, surge)


@dataclass(frozen=True)
class Change:
    """What changed on the stack before the refusals: the last deployment and open drift,
    and the newest drift event opened before them (open or resolved since: a change all the
    same)."""

    deployment: DeploymentTarget | None
    drift: list[DriftEvent]
    latest_drift: DriftEvent | None = None

    @property
    def at(self) -> datetime | None:
        """When the latest change happened; None when the portal knows of none."""
        moments = [e.opened_at for e in self.drift]
        if self.latest_drift is not None:
            moments.append(self.latest_drift.opened_at)
        target = self.deployment
        moment = (target.finished_at or target.started_at) if target is not None else None
        if moment is not None:
            moments.append(moment)
        return max(moments) if moments else None

    def text(self) -> str:
        parts = []
        target = self.deployment
        if target is not None:
            what = f"v{target.version.number}"
            if target.removed_rule:
                what += f" without rule {target.removed_rule}"
            kind = target.deployment.get_kind_display()
            when = (
                f"{target.get_status_display().lower()} {target.finished_at:%Y-%m-%d %H:%M:%S} UTC"
                if target.finished_at is not None
                else "this verification is its own"
            )
            parts.append(f"deployment {str(target.deployment.uuid)[:8]} ({kind}, {what}, {when})")
        if self.drift:
            parts.append(
                f"{len(self.drift)} open drift event(s): "
                + "; ".join(f"{e.get_kind_display()} ({e.key})" for e in self.drift[:5])
            )
        return " and ".join(parts) if parts else "no deployment or drift known to the portal"

    def as_dict(self) -> dict[str, Any]:
        target = self.deployment
        return {
            "deployment": (
                {
                    "uuid": str(target.deployment.uuid),
                    "kind": target.deployment.kind,
                    "version": target.version.number,
                    "removed_rule": target.removed_rule,
                    "status": target.status,
                    "finished_at": target.finished_at.isoformat() if target.finished_at else None,
                }
                if target is not None
                else None
            ),
            "drift": [
                {"key": e.key, "kind": e.kind, "opened_at": e.opened_at.isoformat()}
                for e in self.drift
            ],
        }


def preceding_change(stack: Stack, *, before: datetime, deployment_id: int | None = None) -> Change:
    """The last deployment that ended on the stack before `before` (or the deployment whose
    own verification this is, still running), and the stack's open drift."""
    targets = DeploymentTarget.objects.select_related("deployment", "version").defer(
        "text", "last_known_good"
    )
    target = None
    if deployment_id is not None:
        target = targets.filter(stack=stack, deployment_id=deployment_id).first()
    if target is None:
        target = (
            targets.filter(
                stack=stack,
                finished_at__isnull=False,
                finished_at__lte=before,
                status__in=("succeeded", "rolled_back", "failed"),
            )
            .order_by("-finished_at", "-id")
            .first()
        )
    drift = list(
        DriftEvent.objects.filter(stack=stack, resolved_at=None, opened_at__lte=before).order_by(
            "-opened_at"
        )[:20]
    )
    latest = (
        DriftEvent.objects.filter(stack=stack, opened_at__lte=before)
        .order_by("-opened_at", "-id")
        .first()
    )
    return Change(target, drift, latest)


def refusal_rates(
    stack: Stack, *, since: datetime, until: datetime, exclude: int | None
) -> dict[str, float]:
    """Refused attempts a minute per service over the runs that ended between the two times.

    Reads only each run's compact `results.refusals` ({"window_seconds", "services"})."""
    refused: Counter[str] = Counter()
    seconds = 0.0
    rows = (
        VerificationRun.objects.filter(
            stack=stack,
            status=RunStatus.SUCCEEDED,
            finished_at__gte=since,
            finished_at__lt=until,
        )
        .exclude(pk=exclude)
        .values_list("results__refusals", flat=True)
    )
    for summary in rows:
        if not isinstance(summary, dict) or not summary.get("window_seconds"):
            continue
        seconds += float(summary["window_seconds"])
        refused.update({k: int(v) for k, v in (summary.get("services") or {}).items()})
    if seconds <= 0:
        return {}
    return {name: n * 60 / seconds for name, n in refused.items()}


def apply_refusals(
    run: VerificationRun,
    figures: dict[str, Any],
    refused: dict[str, RuleFailures],
    window_seconds: float | None,
    now: datetime,
) -> list[Incident]:
    """Opens, extends and resolves the stack's refused-clients incidents from one run.

    Stores each service's judgement in `figures` (its `refusal_judgement`). Returns the
    incidents it opened."""
    if window_seconds is None:
        return []  # first read, or no syslog: nothing to take a rate over
    stack = run.stack
    limits = Thresholds.from_settings()
    window_start = now - timedelta(seconds=window_seconds)
    services = figures.get("services") or {}
    open_incidents = {
        i.key: i
        for i in Incident.objects.filter(
            stack=stack, kind=IncidentKind.REFUSED_CLIENTS, resolved_at=None
        )
    }
    change: Change | None = None
    baselines: dict[datetime, dict[str, float]] = {}
    opened: list[Incident] = []
    by_name = {s.name: s for s in Service.objects.filter(stack=stack, name__in=list(services))}
    for name, entry in services.items():
        found = refused.get(name)
        key = f"refused:{name}"
        incident = open_incidents.pop(key, None)
        if found is None or not found.total:
            if incident is not None:
                _resolve(incident, entry, now)
            continue
        if change is None:
            change = preceding_change(stack, before=now, deployment_id=run.deployment_id)
        if incident is not None:
            if change.at is None or change.at <= incident.opened_at:
                _extend(incident, found, now)
                continue
            # A newer change preceded these refusals: they are not the open incident's.
            _supersede(incident, change, now)
        reference = change.at if change.at is not None and change.at > now - HOUR else window_start
        if reference not in baselines:
            baselines[reference] = refusal_rates(
                stack, since=reference - HOUR, until=reference, exclude=run.pk
            )
        judgement = judge(
            refused=found.total,
            connections=int(entry.get("connections") or 0),
            window_seconds=window_seconds,
            baseline=baselines[reference].get(name, 0.0),
            limits=limits,
        )
        entry["refusal_judgement"] = judgement.as_dict()
        if judgement.surge or incident is not None:
            incident = _open(run, by_name.get(name), name, found, judgement, change, now)
            if incident is not None:
                opened.append(incident)
    for incident in open_incidents.values():
        # A service the run no longer lists (deleted from the design): nothing refuses it.
        _resolve(incident, None, now)
    return opened


def _codes(found: RuleFailures) -> dict[str, dict[str, Any]]:
    return {
        rc: {"count": n, "meaning": describe(rc), "family": family_label(_family(rc), code=rc)}
        for rc, n in found.codes.most_common()
    }


def _family(rc: str) -> str:
    return str(family_of(rc))


def _summary(
    name: str, stack: Stack, details: dict[str, Any], change_text: str, *, outbound: bool
) -> str:
    codes = "; ".join(
        f"RC {info['meaning']} ({info['family']}) \N{MULTIPLICATION SIGN}{info['count']}"
        for rc, info in details["codes"].items()
    )
    peers = details["peers"]
    shown = ", ".join(f"{peer} \N{MULTIPLICATION SIGN}{n}" for peer, n in list(peers.items())[:5])
    more = f" and {len(peers) - 5} more" if len(peers) > 5 else ""
    judgement = details["judgement"]
    # Outbound, AT-TLS is the client: the partner may be the one that refused (a partner
    # that aborts on a TLS 1.3 offer makes AT-TLS log RC 412), so say only that it failed.
    what = (
        f"{details['refused']} outbound handshake(s) of {name} on {stack.label} to its partner"
        " failed"
        if outbound
        else f"AT-TLS refused {details['refused']} client connection attempt(s) to {name} on"
        f" {stack.label}"
    )
    return (
        f"{what} ({judgement['per_minute']:.1f} a minute, {judgement['share']:.0%} of attempts;"
        f" {judgement['baseline_per_minute']:.1f} a minute in the hour before): {codes}."
        f" Peers: {shown}{more}. Preceded by {change_text}."
    )


def _open(
    run: VerificationRun,
    service: Service | None,
    name: str,
    found: RuleFailures,
    judgement: Judgement,
    change: Change,
    now: datetime,
) -> Incident | None:
    details = {
        "service": name,
        "refused": found.total,
        "codes": _codes(found),
        "families": dict(found.families.most_common()),
        "peers": dict(found.peers.most_common(PEERS_KEPT)),
        "judgement": judgement.as_dict(),
        "preceded_by": change.as_dict(),
        "opened_by_run": str(run.uuid),
    }
    key = f"refused:{name}"
    try:
        with transaction.atomic():  # a savepoint: the run's own transaction goes on
            incident = _create(run, service, name, found, details, change, now)
    except IntegrityError:
        # Another run of the stack opened it a moment ago (one open incident per key).
        existing = Incident.objects.filter(stack=run.stack, key=key, resolved_at=None).first()
        if existing is not None:
            _extend(existing, found, now)
        return None
    alert_refusal_surge(incident, service)
    return incident


def _create(
    run: VerificationRun,
    service: Service | None,
    name: str,
    found: RuleFailures,
    details: dict[str, Any],
    change: Change,
    now: datetime,
) -> Incident:
    return Incident.objects.create(
        stack=run.stack,
        service=service,
        preceded_by=change.deployment.deployment if change.deployment is not None else None,
        kind=IncidentKind.REFUSED_CLIENTS,
        key=f"refused:{name}",
        summary=_summary(
            name,
            run.stack,
            details,
            change.text(),
            outbound=service is not None and service.direction == "Outbound",
        ),
        failing_handshakes=found.newest_lines(),
        details=details,
        opened_at=now,
        last_seen_at=now,
    )


def _extend(incident: Incident, found: RuleFailures, now: datetime) -> None:
    details = dict(incident.details or {})
    details["refused"] = int(details.get("refused") or 0) + found.total
    codes = dict(details.get("codes") or {})
    for rc, info in _codes(found).items():
        before = codes.get(rc, {}).get("count", 0)
        codes[rc] = {**info, "count": before + info["count"]}
    details["codes"] = codes
    families = Counter(details.get("families") or {})
    families.update(found.families)
    details["families"] = dict(families.most_common())
    peers = Counter(details.get("peers") or {})
    peers.update(found.peers)
    details["peers"] = dict(peers.most_common(PEERS_KEPT))
    lines = [*(incident.failing_handshakes or []), *found.newest_lines()][-LINES_KEPT:]
    Incident.objects.filter(pk=incident.pk).update(
        details=details, failing_handshakes=lines, last_seen_at=now
    )


def _supersede(incident: Incident, change: Change, now: datetime) -> None:
    Incident.objects.filter(pk=incident.pk, resolved_at=None).update(
        resolved_at=now,
        resolution=f"Superseded: {change.text()} came after it opened; the refusals seen"
        " since are in a new incident.",
    )


def _resolve(incident: Incident, entry: dict[str, Any] | None, now: datetime) -> None:
    if entry is not None and not entry.get("in_scope"):
        why = "Its rule is no longer in the policy deployed to the stack; no refusal since."
    else:
        why = "No refused attempt logged (EZD1286I) since the previous verification."
    Incident.objects.filter(pk=incident.pk, resolved_at=None).update(
        resolved_at=now, resolution=why
    )
