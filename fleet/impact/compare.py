"""After the change: who was refused, against what the deployment's prediction said.

Per peer (service, address) of a deployed target:

- predicted and refused: the prediction said it breaks (will-break, or untested with a
  refused pre-check) and AT-TLS refused it;
- predicted and fine: said to break, not refused (yet);
- warned and refused: at-risk or untested (pre-check not refused), refused;
- unpredicted refusal: refused, and the prediction called it safe or had no data, or did
  not know the peer at all. A verification that finds some opens one incident per service
  naming those peers, or adds them to the service's open one (`open_unpredicted`);
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
from typing import Any, Final, NamedTuple

from django.db import IntegrityError, transaction

from attls.reports.syslog import RuleFailures
from attls.returncodes import describe, family_label, family_of
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


def compare_target(
    target: DeploymentTarget, *, since: datetime | None = None, until: datetime | None = None
) -> Comparison:
    """The refusals after the target's change (from `since` when that is later: a campaign
    gate that bakes again after a hold judges what came after; until the next change of its
    stack, or `until` when that is earlier: an evidence period's end, after which they are not
    that period's), held to the prediction stored with it. Refusals are kept per day and
    peer (PeerRefusalDaily): a peer still refused after `since` is counted with its day."""
    prediction = ImpactPrediction.objects.filter(target=target).first()
    comparison = Comparison(target, prediction)
    start = boundary(target)
    if prediction is None or start is None:
        return comparison
    comparison.since = max(start, since) if since is not None else start
    next_change = _next_change(target)
    comparison.until = min((m for m in (next_change, until) if m is not None), default=None)
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


def deployment_comparisons(
    deployment: Deployment, *, since: datetime | None = None
) -> list[Comparison]:
    targets = deployment.targets.select_related("stack__lpar", "version")
    return [compare_target(t, since=since) for t in targets]


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


UNKNOWN_PEER: Final = "unknown peer"
PEERS_NAMED: Final = 5  # in an incident's summary; its details list every peer


def open_unpredicted(
    run: VerificationRun, refused: dict[str, RuleFailures], window_from: datetime, now: datetime
) -> list[Incident]:
    """Opens one incident per service (keyed `unpredicted:<service>`) whose peers AT-TLS
    refused although the last deployment's prediction did not warn about them; its details
    list those peers. An open one of the same deployment target is extended (new peers
    added, counts summed); one of an earlier target is superseded; one whose service this
    stretch saw no unpredicted refusal of is resolved. Only a syslog stretch that began
    after the change is judged (see the module's docstring). A few queries per run, whatever
    the number of peers. Returns the incidents it opened."""
    judged = _unpredicted_peers(run, refused, window_from)
    found = {
        i.key: i
        for i in Incident.objects.filter(
            stack=run.stack, kind=IncidentKind.UNPREDICTED_REFUSAL, resolved_at=None
        )
    }
    if judged is None:
        # A stretch not judged against a prediction resolves only what nothing refused.
        still = {name for name, failures in refused.items() if failures.total}
    else:
        still = set(judged.peers)
    _resolve_unpredicted(found, still, now)
    if judged is None or not judged.peers:
        return []
    return _open_or_extend(run, judged, found, now)


class _Judged(NamedTuple):
    target: DeploymentTarget
    prediction: ImpactPrediction
    peers: dict[str, dict[str, dict[str, Any]]]  # service -> address -> what it was refused


def _unpredicted_peers(
    run: VerificationRun, refused: dict[str, RuleFailures], window_from: datetime
) -> _Judged | None:
    """The refused peers the judged target's prediction did not warn about, per service and
    address ({"address", "refused", "codes": {rc: n}, "predicted", "reason"}); None when
    the stretch cannot be judged (no prediction, or it began before the change)."""
    if not any(failures.total for failures in refused.values()):
        return None
    target = _judged_target(run)
    prediction = (
        ImpactPrediction.objects.filter(target=target).first() if target is not None else None
    )
    if target is None or prediction is None or prediction.error:
        return None
    since = boundary(target)
    if since is None or window_from < since:
        return None
    predicted = {(p["service"], p["remote_address"]): p for p in prediction.peers}
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for name, failures in refused.items():
        peers: dict[str, dict[str, Any]] = {}
        for (peer, rc), count in failures.peer_codes.items():
            known = predicted.get((name, peer))
            if known is not None and (breaks(known) or flagged(known)):
                continue
            entry = peers.get(peer)
            if entry is None:
                entry = peers[peer] = {
                    "address": peer,
                    "refused": 0,
                    "codes": {},
                    "predicted": known["verdict"] if known is not None else UNKNOWN_PEER,
                    "reason": (
                        known["reason"]
                        if known is not None
                        else "not in the prediction: no observation of this peer before it"
                    ),
                }
            entry["refused"] += count
            entry["codes"][rc] = entry["codes"].get(rc, 0) + count
        if peers:
            found[name] = peers
    return _Judged(target, prediction, found)


def _merged(details: dict[str, Any], peers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An incident's details with more refused peers: new ones added, counts summed; the
    totals and codes are recomputed from the peer list (one fact in one place)."""
    listed = {p["address"]: p for p in details.get("peers") or []}
    for address, entry in peers.items():
        before = listed.get(address)
        if before is None:
            listed[address] = {**entry, "codes": dict(entry["codes"])}
            continue
        before["refused"] = int(before.get("refused") or 0) + entry["refused"]
        codes = dict(before.get("codes") or {})
        for rc, n in entry["codes"].items():
            codes[rc] = int(codes.get(rc) or 0) + n
        before["codes"] = codes
    # A list, not an object: PostgreSQL's jsonb does not keep an object's key order.
    rows = sorted(listed.values(), key=lambda p: (-p["refused"], p["address"]))
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        for rc, n in row["codes"].items():
            totals[rc] += n
    return {
        **details,
        "refused": sum(p["refused"] for p in rows),
        "codes": {
            rc: {
                "count": n,
                "meaning": describe(rc),
                "family": family_label(family_of(rc), code=rc),
            }
            for rc, n in sorted(totals.items(), key=lambda item: -item[1])
        },
        "peers": rows,
    }


def _summary(name: str, run: VerificationRun, target: DeploymentTarget, d: dict[str, Any]) -> str:
    peers = d["peers"]
    shown = ", ".join(
        f"{p['address']} \N{MULTIPLICATION SIGN}{p['refused']} ({p['predicted']})"
        for p in peers[:PEERS_NAMED]
    )
    more = f" and {len(peers) - PEERS_NAMED} more" if len(peers) > PEERS_NAMED else ""
    codes = "; ".join(
        f"RC {info['meaning']} \N{MULTIPLICATION SIGN}{info['count']}"
        for info in d["codes"].values()
    )
    return (
        f"Unpredicted refusal: AT-TLS refused {len(peers)} peer(s) of {name} on"
        f" {run.stack.label} ({d['refused']} attempt(s)) after deployment"
        f" {str(target.deployment.uuid)[:8]} (v{target.version.number}), whose prediction did"
        f" not warn about them (unknown peer, or its verdict): {shown}{more}. {codes}."
    )


def _open_or_extend(
    run: VerificationRun, judged: _Judged, found: dict[str, Incident], now: datetime
) -> list[Incident]:
    """Extends the services' open incidents of this target, supersedes those of an earlier
    one and opens the rest: one bulk update, one bulk insert."""
    extended: list[Incident] = []
    superseded: list[int] = []
    new: list[Incident] = []
    target = judged.target
    services = {
        s.name: s for s in Service.objects.filter(stack=run.stack, name__in=list(judged.peers))
    }
    for name, refused in judged.peers.items():
        key = f"unpredicted:{name}"[:200]
        incident = found.get(key)
        if incident is not None and (incident.details or {}).get("target") == target.pk:
            incident.details = _merged(incident.details, refused)
            incident.summary = _summary(name, run, target, incident.details)
            incident.last_seen_at = now
            extended.append(incident)
            continue
        if incident is not None:
            superseded.append(incident.pk)
        details = _merged(
            {
                "service": name,
                "target": target.pk,
                "deployment": str(target.deployment.uuid),
                "version": target.version.number,
                "prediction": str(judged.prediction.uuid),
                "opened_by_run": str(run.uuid),
            },
            refused,
        )
        new.append(
            Incident(
                stack=run.stack,
                service=services.get(name),
                preceded_by=target.deployment,
                kind=IncidentKind.UNPREDICTED_REFUSAL,
                key=key,
                summary=_summary(name, run, target, details),
                details=details,
                opened_at=now,
                last_seen_at=now,
            )
        )
    if superseded:
        Incident.objects.filter(pk__in=superseded, resolved_at=None).update(
            resolved_at=now,
            resolution=f"Superseded: deployment {str(target.deployment.uuid)[:8]}"
            f" (v{target.version.number}) reached the stack after it opened; the unpredicted"
            " refusals seen since are in a new incident.",
        )
    if extended:
        Incident.objects.bulk_update(extended, ["details", "summary", "last_seen_at"])
    try:
        with transaction.atomic():  # a savepoint: the run's own transaction goes on
            return Incident.objects.bulk_create(new)
    except IntegrityError:
        return _open_one_by_one(run, target, new, now)


def _open_one_by_one(
    run: VerificationRun, target: DeploymentTarget, new: list[Incident], now: datetime
) -> list[Incident]:
    """Another run of the stack opened some of them a moment ago (one open incident per
    key): those are extended with these peers, the rest opened."""
    opened = []
    for incident in new:
        try:
            with transaction.atomic():
                incident.save(force_insert=True)
            opened.append(incident)
        except IntegrityError:
            existing = Incident.objects.filter(
                stack=run.stack, key=incident.key, resolved_at=None
            ).first()
            if existing is None:
                continue
            peers = {p["address"]: p for p in incident.details["peers"]}
            details = _merged(existing.details or {}, peers)
            name = incident.details["service"]
            Incident.objects.filter(pk=existing.pk).update(
                details=details, summary=_summary(name, run, target, details), last_seen_at=now
            )
    return opened


def _resolve_unpredicted(found: dict[str, Incident], still: set[str], now: datetime) -> None:
    """Resolves, in one update each, the open incidents of services this stretch saw no
    unpredicted refusal of, and any left of the one-per-peer kind (keyed with the peer);
    removes them from `found`."""
    legacy = [k for k, i in found.items() if "peer" in (i.details or {})]
    quiet = [k for k, i in found.items() if (i.details or {}).get("service") not in still]
    quiet = [k for k in quiet if k not in legacy]
    for keys, why in (
        (
            quiet,
            "No unpredicted refusal of this service logged (EZD1286I) since the previous"
            " verification.",
        ),
        (legacy, "Replaced by one unpredicted-refusal incident per service."),
    ):
        if keys:
            Incident.objects.filter(pk__in=[found[k].pk for k in keys], resolved_at=None).update(
                resolved_at=now, resolution=why
            )
        for key in keys:
            del found[key]
