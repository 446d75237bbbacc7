"""Change impact as the pages show it: a prediction's panel, a deployment's impact section.

No writes and no fleet.services import: fleet/views.py (the deployment page) and
fleet/impact_views.py (the panels) both present through here.
"""

from __future__ import annotations

from typing import Any, Final

from attls.policy import parse_policy, render_policy
from fleet.impact import compare
from fleet.impact.models import ImpactAcknowledgement, ImpactPrediction
from fleet.impact.predict import Candidate, breaks
from fleet.models import Deployment, DeploymentTarget
from policies.models import PolicyVersion

VERDICT_ORDER: Final = ("will-break", "at-risk", "untested", "safe", "no-data")
# How an unchanged peer's verdict reads: the candidate does to it what the policy in force does.
UNCHANGED_LABELS: Final = {
    "will-break": "already refused",
    "at-risk": "already at risk",
    "untested": "untested",
    "safe": "safe",
    "no-data": "no data",
}
# How a count of services or peers with a verdict reads: "15 services with no data".
VERDICT_WORDS: Final = {
    "will-break": "will break",
    "at-risk": "at risk",
    "untested": "untested",
    "safe": "safe",
    "no-data": "with no data",
}
PEERS_SHOWN: Final = 200


class NoSuchRule(LookupError):
    """The version has no rule of that name."""


def present(record: dict[str, Any] | ImpactPrediction) -> dict[str, Any]:
    """A stored or fresh prediction as the panel shows it: counts in verdict order, the
    peers worst first (will-break, refused pre-checks, at-risk, untested), the rest counted.

    Two kinds of thing are counted, each next to the rows it counts: services (the candidate's
    rules, one verdict each: the services table) and the peers the change affects (the peers
    table). A service no peer was seen on is a no-data *service* with no peer at all, so the
    peer counts alone would say "0 no-data" above a table of no-data services."""
    if isinstance(record, ImpactPrediction):
        record = {
            "candidate": record.candidate,
            "current": record.current,
            "window_days": record.window_days,
            "counts": record.counts,
            "per_day": record.per_day,
            "services": record.services,
            "peers": record.peers,
            "error": record.error,
        }
    peers = record["peers"]
    affected = [p for p in peers if not p.get("unchanged")]
    unchanged = [p for p in peers if p.get("unchanged")]
    shown = [p for p in affected if p["verdict"] != "safe" and p["verdict"] != "no-data"]
    shown.sort(key=lambda p: (not breaks(p), VERDICT_ORDER.index(p["verdict"]), p["service"]))
    unchanged_shown = [p for p in unchanged if p["verdict"] != "safe"]
    unchanged_shown.sort(key=lambda p: (VERDICT_ORDER.index(p["verdict"]), p["service"]))
    services = record["services"]
    return {
        **record,
        # Peers the change affects, by verdict (the peers table lists the will-break, at-risk
        # and untested ones; safe and no-data peers are counted, not listed).
        "peer_counts": [(v, record["counts"].get(v, 0), VERDICT_WORDS[v]) for v in VERDICT_ORDER],
        "peers_affected": len(affected),
        # Services by their verdict (the services table lists every one that is not safe).
        "service_counts": [
            (v, sum(1 for s in services if s["verdict"] == v), VERDICT_WORDS[v])
            for v in VERDICT_ORDER
        ],
        "services_safe": sum(1 for s in services if s["verdict"] == "safe"),
        "precheck_refused": record["counts"].get("precheck-refused", 0),
        "will_break": sum(1 for p in peers if breaks(p)),
        "flagged": shown[:PEERS_SHOWN],
        "flagged_more": max(0, len(shown) - PEERS_SHOWN),
        "services_flagged": sorted(
            (s for s in services if s["verdict"] != "safe"),
            key=lambda s: VERDICT_ORDER.index(s["verdict"]),
        ),
        # Peers the candidate does not affect, apart: "9 already refused, unchanged".
        "unchanged": [
            (UNCHANGED_LABELS[v], n)
            for v in VERDICT_ORDER
            if (n := sum(1 for p in unchanged if p["verdict"] == v))
        ],
        "unchanged_flagged": unchanged_shown[:PEERS_SHOWN],
    }


def without(version: PolicyVersion, rule: str) -> Candidate:
    """A version with one rule removed, rendered as a remove-rule deployment would."""
    policy = parse_policy(version.text)
    if rule not in policy.rules:
        raise NoSuchRule(f"v{version.number} has no rule {rule}")
    del policy.rules[rule]
    return Candidate(render_policy(policy), f"v{version.number} without rule {rule}")


def impact_context(deployment: Deployment, targets: list[DeploymentTarget]) -> dict[str, Any]:
    """What the deployment page shows of change impact, per target."""
    predictions = {
        p.target_id: p for p in ImpactPrediction.objects.filter(target__deployment=deployment)
    }
    rows = []
    for target in targets:
        prediction = predictions.get(target.id)
        comparison = compare.compare_target(target) if target.finished_at else None
        rows.append(
            {
                "target": target,
                "impact": present(prediction) if prediction is not None else None,
                "comparison": comparison if comparison and comparison.compared else None,
            }
        )
    acknowledgement = ImpactAcknowledgement.objects.filter(deployment=deployment).first()
    will_break = sum(r["impact"]["will_break"] for r in rows if r["impact"])
    return {
        "impact_rows": rows,
        "impact_will_break": will_break,
        "impact_acknowledgement": acknowledgement,
        "outcome_labels": compare.OUTCOME_LABELS,
    }
