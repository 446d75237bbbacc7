"""A step's gate: every check judged on the latest verification of each of its stacks.

Gathering is in bulk (the latest run of each stack, open drift and open incidents of all the
step's stacks: a handful of queries whatever the number of services); judging is plain
arithmetic over what was gathered (`judge`), so it is fast and tested on its own.

Checks cover the services of every cohort so far on the step's stacks (what its versions
secure): coverage of their connections, refused attempts, refusals the impact prediction did
not name, open drift, open incidents (the campaign's own gate incidents apart), the
handshake latency added since the inventory (the median over the services the probe measured
both times), and on the lab step the production peers the lab refused that the prediction did
not say would break (rollouts.replay). Each check is passing, failed or waiting (nothing to
judge yet) with its evidence.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fleet.impact import compare
from fleet.models import DriftEvent, Incident, IncidentKind, VerificationRun
from rollouts import figures, replay
from rollouts.models import AT_LEAST, Campaign, Check, LabReplay, ReplayStatus, Step, Verdict


@dataclass(frozen=True)
class GateService:
    id: int
    name: str
    stack_id: int


@dataclass
class Gathered:
    """What one evaluation reads: runs by stack, open drift and incidents by stack."""

    runs: dict[int, VerificationRun]
    drift: dict[int, list[str]] = field(default_factory=dict)
    incidents: dict[int, list[str]] = field(default_factory=dict)
    unpredicted: list[str] | None = None
    # The lab step's replay of the production peers (rollouts.replay.summary); None on
    # any other step (the check is not judged there).
    lab_replay: dict[str, Any] | None = None


def unpredicted_refusals(step: Step, services: Sequence[GateService]) -> list[str] | None:
    """The refusals after the step's deployment that its impact prediction did not name, on
    the gate's services: per peer, "stack service peer: refused n, the prediction ...".

    Read from change impact's per-peer comparison of each of the deployment's targets
    (fleet.impact.compare): an unpredicted refusal is a peer refused after the change that
    the prediction called safe, had no data for, or did not know. None while nothing can be
    compared (no deployment, no stored prediction, a prediction that could not be made, or
    no target that reached its stack yet): the check then waits without holding the gate
    (the refusals check still counts every refusal).

    A step that bakes again after a hold (campaign_resume: its bake restarted after its
    deployment finished) is judged on the refusals since then: what was dealt with before the
    resume no longer holds it, a peer still refused does.
    """
    if step.deployment_id is None:
        return None
    assert step.deployment is not None
    finished = step.deployment.finished_at
    resumed = step.bake_started_at is not None and (
        finished is None or step.bake_started_at > finished
    )
    names: dict[int, set[str]] = defaultdict(set)
    for service in services:
        names[service.stack_id].add(service.name)
    compared = False
    found: list[str] = []
    since = step.bake_started_at if resumed else None
    for comparison in compare.deployment_comparisons(step.deployment, since=since):
        prediction = comparison.prediction
        if not comparison.compared or prediction is None or prediction.error:
            continue
        compared = True
        stack = comparison.target.stack
        for peer in comparison.peers:
            if peer.outcome == compare.UNPREDICTED and peer.service in names[stack.id]:
                found.append(
                    f"{stack.label} {peer.service} {peer.peer}: refused {peer.refused},"
                    f" the prediction said {peer.verdict} ({peer.reason})"
                )
    return found if compared else None


def gather(step: Step, services: Sequence[GateService]) -> Gathered:
    stack_ids = sorted({s.stack_id for s in services})
    since = step.bake_started_at
    runs = figures.latest_runs(stack_ids, since=since)
    drift: dict[int, list[str]] = defaultdict(list)
    for stack_id, key, detail in DriftEvent.objects.filter(
        stack_id__in=stack_ids, resolved_at=None
    ).values_list("stack_id", "key", "detail"):
        drift[stack_id].append(f"{key}: {detail[:120]}")
    incidents: dict[int, list[str]] = defaultdict(list)
    for stack_id, kind, summary in (
        Incident.objects.filter(stack_id__in=stack_ids, resolved_at=None)
        .exclude(kind=IncidentKind.CAMPAIGN_GATE)
        .values_list("stack_id", "kind", "summary")
    ):
        incidents[stack_id].append(f"{kind}: {summary[:120]}")
    lab_replay = None
    if replay.is_lab_step(step):
        lab_replay = replay.summary(LabReplay.objects.filter(step=step).first())
    return Gathered(
        runs, dict(drift), dict(incidents), unpredicted_refusals(step, services), lab_replay
    )


def _lab_replay(campaign: Campaign, found: dict[str, Any]) -> dict[str, Any]:
    """The lab-replay check: production peers the lab refused that the prediction did not
    say would break. Waits (and holds the step) until the replay is done; a replay that
    failed fails it, since the lab would then have been validated without its peers."""
    threshold = float(campaign.gate(Check.LAB_REPLAY)["threshold"])
    status = found.get("status")
    if status in (None, ReplayStatus.PENDING, ReplayStatus.RUNNING):
        return {
            "value": None,
            "threshold": threshold,
            "verdict": Verdict.WAITING,
            "evidence": ["the production peers are being replayed against the lab"],
        }
    if status == ReplayStatus.FAILED:
        return {
            "value": None,
            "threshold": threshold,
            "verdict": Verdict.FAILED,
            "evidence": [f"the replay failed: {found.get('error') or 'no reason recorded'}"],
        }
    unpredicted, expected = found["unpredicted"], found["expected"]
    counts = found["counts"]
    evidence = [
        f"{len(found['peers'])} production peer(s) replayed: "
        + ", ".join(f"{n} {match}" for match, n in sorted(counts.items()))
        if found["peers"]
        else "no production peer known to the portal: nothing to replay"
    ]
    evidence += [f"unpredicted: {replay.peer_line(p)}" for p in unpredicted]
    evidence += [f"expected: {replay.peer_line(p)}" for p in expected]
    value = float(len(unpredicted))
    return {
        "value": value,
        "threshold": threshold,
        "verdict": _verdict(Check.LAB_REPLAY, value, threshold),
        "evidence": evidence[:20],
    }


def _verdict(check: str, value: float, threshold: float) -> str:
    ok = value >= threshold if check in AT_LEAST else value <= threshold
    return Verdict.PASSING if ok else Verdict.FAILED


def judge(
    campaign: Campaign, services: Sequence[GateService], gathered: Gathered
) -> dict[str, dict[str, Any]]:
    """{check: {"value", "threshold", "verdict", "evidence"}} for every check."""
    results: dict[str, dict[str, Any]] = {}
    missing = sorted(
        {s.stack_id for s in services} - set(gathered.runs),
    )
    entries: list[tuple[GateService, dict[str, Any]]] = []
    for service in services:
        run = gathered.runs.get(service.stack_id)
        if run is not None:
            entry = (run.results.get("services") or {}).get(service.name) or {}
            entries.append((service, entry))

    def put(check: str, value: float | None, evidence: list[str]) -> None:
        threshold = float(campaign.gate(check)["threshold"])
        verdict = Verdict.WAITING if value is None else _verdict(check, value, threshold)
        results[check] = {
            "value": value,
            "threshold": threshold,
            "verdict": verdict,
            "evidence": evidence[:20],
        }

    waiting_note = [f"no verification since the bake began on stack id {i}" for i in missing]

    connections = sum(int(e.get("connections") or 0) for _, e in entries)
    secured = sum(int(e.get("secured") or 0) for _, e in entries)
    uncovered = [
        f"{s.name}: {int(e.get('secured') or 0)}/{int(e.get('connections') or 0)} secured"
        for s, e in entries
        if int(e.get("connections") or 0) > int(e.get("secured") or 0)
    ]
    coverage = round(100.0 * secured / connections, 2) if connections and not missing else None
    put(Check.COVERAGE, coverage, uncovered or waiting_note or [f"{secured}/{connections}"])

    refused = [(s, int(e.get("refused") or 0)) for s, e in entries]
    put(
        Check.REFUSALS,
        None if missing else float(sum(n for _, n in refused)),
        [f"{s.name}: {n} refused" for s, n in refused if n] or waiting_note,
    )

    if gathered.unpredicted is None:
        results[Check.UNPREDICTED] = {
            "value": None,
            "threshold": float(campaign.gate(Check.UNPREDICTED)["threshold"]),
            "verdict": Verdict.WAITING,
            "evidence": [
                "nothing to compare yet: no impact prediction stored for this step's"
                " deployment, or none of its targets reached its stack"
            ],
            "blocking": False,
        }
    else:
        put(Check.UNPREDICTED, float(len(gathered.unpredicted)), gathered.unpredicted)

    if gathered.lab_replay is not None:
        results[Check.LAB_REPLAY] = _lab_replay(campaign, gathered.lab_replay)

    stack_ids = sorted({s.stack_id for s in services})
    drift = [line for i in stack_ids for line in gathered.drift.get(i, [])]
    put(Check.DRIFT, float(len(drift)), drift)
    incidents = [line for i in stack_ids for line in gathered.incidents.get(i, [])]
    put(Check.INCIDENTS, float(len(incidents)), incidents)

    baseline = campaign.baseline.get("services") or {}
    added: list[tuple[str, float]] = []
    for service, entry in entries:
        now = figures.setup_ms(entry)
        then = (baseline.get(str(service.id)) or {}).get("setup_ms")
        if now is not None and then is not None:
            added.append((service.name, round(now - then, 3)))
    if added:
        median = round(statistics.median(value for _, value in added), 3)
        put(
            Check.LATENCY,
            median,
            [f"{name}: {value:+.1f} ms" for name, value in sorted(added, key=lambda i: -i[1])],
        )
    else:
        results[Check.LATENCY] = {
            "value": None,
            "threshold": float(campaign.gate(Check.LATENCY)["threshold"]),
            "verdict": Verdict.WAITING if missing else Verdict.PASSING,
            "evidence": waiting_note
            or ["no service of these cohorts was probed both in the inventory and now"],
        }
    return results


def overall(checks: dict[str, dict[str, Any]]) -> str:
    """Failed if any check failed; waiting if any blocking check waits; else passing."""
    verdicts = [c["verdict"] for c in checks.values() if c.get("blocking", True)]
    if Verdict.FAILED in verdicts:
        return Verdict.FAILED
    if Verdict.WAITING in verdicts:
        return Verdict.WAITING
    return Verdict.PASSING


def newest_run_at(gathered: Gathered) -> datetime | None:
    times = [r.finished_at for r in gathered.runs.values() if r.finished_at is not None]
    return max(times) if times else None
