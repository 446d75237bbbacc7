"""After the change: who was refused, against what the deployment's prediction said.

Per peer (service, address) of a deployed target:

- predicted and refused: the prediction said it breaks (will-break, or untested with a
  refused pre-check) and AT-TLS refused it;
- predicted and fine: said to break, not refused (yet);
- warned and refused: at-risk or untested (pre-check not refused), refused;
- unpredicted refusal: refused, and the prediction called it safe or had no data, or did
  not know the peer at all. Each opens an incident that says so (`open_unpredicted`);
- refused as before: the prediction said the change does not affect the peer (its rule
  does the same before and after) and refused it today already (will-break, at-risk or
  untested, unchanged). Neither a hit nor a miss of the prediction: left out of precision
  and recall, and no incident.

Refusals come from PeerRefusalDaily. "After the change" starts where the target's own
verification read the syslog (after the upload and refresh): a row counts when the syslog
stretch of its latest read began there or later (and before the stack's next change), so a
stretch that straddles the refresh, which may hold refusals of the old policy, is not
counted (a peer refused only then is missed; refused clients retry). Precision is
predicted-and-refused over predicted; recall is predicted-and-refused over refused (the
refusals the change may have caused: refused-as-before is not among them).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from django.db import IntegrityError, transaction

from attls.reports.syslog import RuleFailures
from attls.returncodes import describe
from fleet.impact.models import ImpactPrediction, PeerRefusalDaily
from fleet.impact.predict import breaks, flagged
from fleet.models import (
    Deployment,
    DeploymentTarget,
    Incident,
    IncidentKind,
    TargetStatus,
    VerificationRun,
)
from policies.models import Service, Stack

PREDICTED_REFUSED: Final = "predicted-refused"
PREDICTED_FINE: Final = "predicted-fine"
WARNED_REFUSED: Final = "warned-refused"
UNPREDICTED: Final = "unpredicted-refusal"
UNCHANGED_REFUSED: Final = "unchanged-refused"
OUTCOMES: Final = (
    PREDICTED_REFUSED,
    PREDICTED_FINE,
    WARNED_REFUSED,
    UNPREDICTED,
    UNCHANGED_REFUSED,
)
OUTCOME_LABELS: Final = {
    PREDICTED_REFUSED: "predicted and refused",
    PREDICTED_FINE: "predicted and fine",
    WARNED_REFUSED: "warned (at risk or untested) and refused",
    UNPREDICTED: "unpredicted refusal",
    UNCHANGED_REFUSED: "refused as before (unchanged by the change)",
}


@dataclass
class PeerOutcome:
    service: str
    peer: str
    outcome: str
    verdict: str  # the prediction's, or "unknown peer"
    refused: int
    families: dict[str, int]
    reason: str  # the prediction's reason, or why it had none

    @property
    def label(self) -> str:
        return OUTCOME_LABELS[self.outcome]


@dataclass
class Comparison:
    """One deployed target's outcome against its prediction."""

    target: DeploymentTarget
    prediction: ImpactPrediction | None
    peers: list[PeerOutcome] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for peer in self.peers:
            counts[peer.outcome] += 1
        return counts

    @property
    def compared(self) -> bool:
        return self.prediction is not None and self.since is not None


def _refusals(stack: Stack, since: datetime, until: datetime | None) -> dict[tuple[str, str], Any]:
    rows = PeerRefusalDaily.objects.filter(stack=stack, last_window_from__gte=since)
    if until is not None:
        rows = rows.filter(last_window_from__lt=until)
    found: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"refused": 0, "families": defaultdict(int)}
    )
    for name, peer, family, refused in rows.values_list(
        "service_name", "peer", "family", "refused"
    ):
        entry = found[(name, peer)]
        entry["refused"] += refused
        entry["families"][family] += refused
    return found


def syslog_read_at(run: VerificationRun) -> datetime | None:
    """When the run read the syslog (its stretch ends there, the next one begins there)."""
    value = ((run.outputs or {}).get("syslog") or {}).get("read_at")
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def boundary(target: DeploymentTarget) -> datetime | None:
    """Where "after the change" begins for a target: its own verification's syslog read,
    else its finish. None for a target that did not reach its stack."""
    if target.status != TargetStatus.SUCCEEDED or target.finished_at is None:
        return None
    own = (
        VerificationRun.objects.filter(deployment_id=target.deployment_id, stack_id=target.stack_id)
        .order_by("created_at")
        .only("outputs")
        .first()
    )
    read = syslog_read_at(own) if own is not None else None
    return read or target.finished_at


def _next_change(target: DeploymentTarget) -> datetime | None:
    assert target.finished_at is not None
    later = (
        DeploymentTarget.objects.filter(
            stack=target.stack,
            status=TargetStatus.SUCCEEDED,
            finished_at__gt=target.finished_at,
        )
        .order_by("finished_at")
        .first()
    )
    return boundary(later) if later is not None else None


def compare_target(target: DeploymentTarget) -> Comparison:
    prediction = ImpactPrediction.objects.filter(target=target).first()
    comparison = Comparison(target, prediction)
    since = boundary(target)
    if prediction is None or since is None:
        return comparison
    comparison.since = since
    comparison.until = _next_change(target)
    refused = _refusals(target.stack, comparison.since, comparison.until)
    predicted = {(p["service"], p["remote_address"]): p for p in prediction.peers}
    for key, peer in predicted.items():
        seen = refused.pop(key, None)
        if breaks(peer):
            outcome = PREDICTED_REFUSED if seen else PREDICTED_FINE
        elif seen and peer.get("unchanged") and flagged(peer):
            outcome = UNCHANGED_REFUSED
        elif seen and flagged(peer):
            outcome = WARNED_REFUSED
        elif seen:
            outcome = UNPREDICTED
        else:
            continue
        comparison.peers.append(
            PeerOutcome(
                key[0],
                key[1],
                outcome,
                peer["verdict"],
                seen["refused"] if seen else 0,
                dict(seen["families"]) if seen else {},
                peer["reason"],
            )
        )
    for (service, address), seen in refused.items():
        comparison.peers.append(
            PeerOutcome(
                service,
                address,
                UNPREDICTED,
                "unknown peer",
                seen["refused"],
                dict(seen["families"]),
                "not in the prediction: no observation of this peer before it",
            )
        )
    order = {
        o: i
        for i, o in enumerate((UNPREDICTED, PREDICTED_REFUSED, WARNED_REFUSED, UNCHANGED_REFUSED))
    }
    comparison.peers.sort(key=lambda p: (order.get(p.outcome, 9), p.service, p.peer))
    return comparison


def deployment_comparisons(deployment: Deployment) -> list[Comparison]:
    return [compare_target(t) for t in deployment.targets.select_related("stack__lpar", "version")]


@dataclass
class Scores:
    """Precision and recall over every compared target."""

    predicted_refused: int = 0
    predicted_fine: int = 0
    warned_refused: int = 0
    unpredicted: int = 0
    unchanged_refused: int = 0  # refused before the change as after: not scored
    targets: int = 0
    rows: list[Comparison] = field(default_factory=list)

    def add(self, comparison: Comparison) -> None:
        counts = comparison.counts
        self.predicted_refused += counts[PREDICTED_REFUSED]
        self.predicted_fine += counts[PREDICTED_FINE]
        self.warned_refused += counts[WARNED_REFUSED]
        self.unpredicted += counts[UNPREDICTED]
        self.unchanged_refused += counts[UNCHANGED_REFUSED]
        self.targets += 1
        self.rows.append(comparison)

    @property
    def refused(self) -> int:
        return self.predicted_refused + self.warned_refused + self.unpredicted

    @property
    def precision(self) -> float | None:
        predicted = self.predicted_refused + self.predicted_fine
        return self.predicted_refused / predicted if predicted else None

    @property
    def recall(self) -> float | None:
        return self.predicted_refused / self.refused if self.refused else None


def fleet_scores(targets: Any = None) -> Scores:
    """Precision and recall over all deployed targets that carry a prediction."""
    scores = Scores()
    found = (
        targets
        if targets is not None
        else DeploymentTarget.objects.filter(
            status=TargetStatus.SUCCEEDED, prediction__isnull=False
        )
    )
    for target in found.select_related("stack__lpar", "version", "deployment").order_by(
        "-finished_at"
    ):
        comparison = compare_target(target)
        if comparison.compared:
            scores.add(comparison)
    return scores


# --- the unpredicted-refusal incident ----------------------------------------------------------


def _judged_target(run: VerificationRun) -> DeploymentTarget | None:
    """The target whose prediction this run's refusals are judged against: the run's own
    deployment's, else the last one that reached the stack."""
    targets = DeploymentTarget.objects.select_related("deployment", "version").defer(
        "text", "last_known_good"
    )
    if run.deployment_id is not None:
        own = targets.filter(stack=run.stack, deployment_id=run.deployment_id).first()
        if own is not None:
            return own
    return (
        targets.filter(stack=run.stack, status=TargetStatus.SUCCEEDED)
        .order_by("-finished_at", "-id")
        .first()
    )


def open_unpredicted(
    run: VerificationRun, refused: dict[str, RuleFailures], window_from: datetime, now: datetime
) -> list[Incident]:
    """Opens one incident per refused peer the last deployment's prediction did not warn
    about (keyed `unpredicted:<service>:<peer>`); an open one is extended, and one whose
    peer this stretch saw no refusal of is resolved. Only a syslog stretch that began after
    the change is judged (see the module's docstring)."""
    _resolve_unpredicted(run, refused, now)
    if not any(found.total for found in refused.values()):
        return []
    target = _judged_target(run)
    prediction = (
        ImpactPrediction.objects.filter(target=target).first() if target is not None else None
    )
    if target is None or prediction is None or prediction.error:
        return []
    since = boundary(target)
    if since is None or window_from < since:
        return []
    predicted = {(p["service"], p["remote_address"]): p for p in prediction.peers}
    services = {s.name: s for s in Service.objects.filter(stack=run.stack, name__in=list(refused))}
    opened = []
    for name, found in refused.items():
        codes: dict[str, dict[str, int]] = defaultdict(dict)
        for (peer, rc), count in found.peer_codes.items():
            codes[peer][rc] = codes[peer].get(rc, 0) + count
        for peer, by_code in codes.items():
            known = predicted.get((name, peer))
            if known is not None and (breaks(known) or flagged(known)):
                continue
            incident = _open_or_extend(
                run, target, services.get(name), name, peer, by_code, known, now
            )
            if incident is not None:
                opened.append(incident)
    return opened


def _open_or_extend(
    run: VerificationRun,
    target: DeploymentTarget,
    service: Service | None,
    name: str,
    peer: str,
    by_code: dict[str, int],
    known: dict[str, Any] | None,
    now: datetime,
) -> Incident | None:
    key = f"unpredicted:{name}:{peer}"[:200]
    refused = sum(by_code.values())
    existing = Incident.objects.filter(stack=run.stack, key=key, resolved_at=None).first()
    if existing is not None:
        details = dict(existing.details or {})
        details["refused"] = int(details.get("refused") or 0) + refused
        Incident.objects.filter(pk=existing.pk).update(details=details, last_seen_at=now)
        return None
    said = (
        "did not know this peer (no observation of it before the prediction)"
        if known is None
        else f"called it {known['verdict']}: {known['reason']}"
    )
    codes = "; ".join(f"RC {describe(rc)} \N{MULTIPLICATION SIGN}{n}" for rc, n in by_code.items())
    deployment = target.deployment
    summary = (
        f"Unpredicted refusal: AT-TLS refused {peer} on {name} ({run.stack.label})"
        f" {refused} time(s) after deployment {str(deployment.uuid)[:8]}"
        f" (v{target.version.number}), whose prediction {said}. {codes}."
    )
    try:
        with transaction.atomic():
            return Incident.objects.create(
                stack=run.stack,
                service=service,
                preceded_by=deployment,
                kind=IncidentKind.UNPREDICTED_REFUSAL,
                key=key,
                summary=summary,
                details={
                    "service": name,
                    "peer": peer,
                    "refused": refused,
                    "codes": by_code,
                    "prediction": str(target.prediction.uuid),
                    "verdict": known["verdict"] if known is not None else None,
                    "opened_by_run": str(run.uuid),
                },
                opened_at=now,
                last_seen_at=now,
            )
    except IntegrityError:  # another run opened it a moment ago
        return None


def _resolve_unpredicted(
    run: VerificationRun, refused: dict[str, RuleFailures], now: datetime
) -> None:
    still = {(name, peer) for name, found in refused.items() for peer, _ in found.peer_codes}
    for incident in Incident.objects.filter(
        stack=run.stack, kind=IncidentKind.UNPREDICTED_REFUSAL, resolved_at=None
    ):
        details = incident.details or {}
        if (details.get("service"), details.get("peer")) not in still:
            Incident.objects.filter(pk=incident.pk, resolved_at=None).update(
                resolved_at=now,
                resolution="No refused attempt of this peer logged (EZD1286I) since the"
                " previous verification.",
            )
