"""Rollout campaigns of an assessment's period and scope, JSON-ready: what the pack's "Rollout
campaigns" section prints, the OSCAL observations carry and the HIST-CAMPAIGN-GATES check
judges (audits/report.py stores it; the engine's Context holds the same list).

The content is the campaign's own report (rollouts.report.campaign_report: baseline and end
state as the campaign froze them, every step with its versions, deployment, last verdict, a
skipped gate with who asked, who approved and why, rules rolled back or held back). Added here,
read from what was stored: per step its gate evaluations counted by verdict and the last one's
checks with their evidence, the impact prediction and acknowledgement stored with its
deployment (read through audits.period.change_impact, as the change-impact section reads
them), whether a skip had a second person (accounts.identity.same_person) and whether the
step was promoted and on what.

Which steps: those of the period (audits.period.campaign_steps_in) whose cohort holds a
service of the scope, and the restore of an abort of such a step. Cut to the scope: versions
and targets of its stacks, its cohort's services, its rule rollbacks; figures summed over its
services with rollouts.figures.totals (the function the campaign froze its totals with), so an
owner's pack shows its services' baseline; free text with other services' names replaced.
A campaign not finished by the period's end has no end state here.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db.models import Count

from accounts.identity import same_person
from audits import period
from audits.evidence_text import IMPACT_VERDICTS
from audits.scope import Scope
from rollouts import figures
from rollouts.models import (
    ActionKind,
    ActionStatus,
    Campaign,
    CampaignStatus,
    Check,
    GateEvaluation,
    Step,
    StepKind,
    StepStatus,
    Verdict,
)
from rollouts.report import campaign_report

# Evidence lines of a gate check the report keeps (the campaign's page has all of them).
EVIDENCE_LINES = 5
# How a promoted step left its gate.
GATE_PASSED = "gate passed"
FOUR_EYES_SKIP = "skipped with four eyes"
LONE_SKIP = "skipped without a second person"
NOT_PASSED = "promoted without a passed gate"
PROMOTED_OK = frozenset({GATE_PASSED, FOUR_EYES_SKIP})


def _iso(moment: Any) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        return moment
    return str(moment.astimezone(dt.UTC).isoformat())


def _figures(stored: dict[str, Any], scope: Scope, whole: bool) -> dict[str, Any] | None:
    """The stored totals, or for a scope holding only some of the campaign's services, the
    same totals over the stored figures of its services and stacks."""
    if not stored:
        return None
    if whole:
        totals: dict[str, Any] | None = stored.get("totals")
        return totals
    services = {str(pk) for pk in scope.service_ids}
    stacks = {str(pk) for pk in scope.stack_ids}
    return figures.totals(
        {k: v for k, v in (stored.get("services") or {}).items() if k in services},
        {k: v for k, v in (stored.get("stacks") or {}).items() if k in stacks},
    )


def _checks(step: Step, scope: Scope) -> list[dict[str, Any]]:
    """The last evaluation's checks, in the gate's order, with their first evidence lines."""
    stored = (step.verdict or {}).get("checks") or {}
    rows = []
    for check in Check:
        found = stored.get(check.value)
        if not isinstance(found, dict):
            continue
        lines = [scope.redact_text(str(line)) for line in found.get("evidence") or []]
        rows.append(
            {
                "check": check.value,
                "label": check.label,
                "verdict": found.get("verdict"),
                "value": found.get("value"),
                "threshold": found.get("threshold"),
                "evidence": lines[:EVIDENCE_LINES],
                "more": max(0, len(lines) - EVIDENCE_LINES),
            }
        )
    return rows


def _impact(step: Step, scope: Scope, end: dt.datetime) -> dict[str, Any] | None:
    deployment = step.deployment
    if deployment is None:
        return None
    stacks = set(scope.stack_ids)
    targets = [
        t
        for t in deployment.targets.select_related("stack__lpar", "version")
        if t.stack_id in stacks
    ]
    acknowledgement, comparisons = period.change_impact(deployment, targets, end)
    rows = []
    for comparison in comparisons:
        prediction = comparison.prediction
        rows.append(
            {
                "stack": comparison.target.stack.label,
                "number": comparison.target.version.number,
                "prediction": None
                if prediction is None
                else {
                    "uuid": str(prediction.uuid),
                    "error": prediction.error,
                    "counts": [[v, int(prediction.counts.get(v, 0))] for v in IMPACT_VERDICTS],
                    "will_break": prediction.will_break,
                },
            }
        )
    return {
        "targets": rows,
        "acknowledgement": None
        if acknowledgement is None
        else {
            "by": acknowledgement.by.get_username(),
            "at": _iso(acknowledgement.at),
            "reason": scope.redact_text(acknowledgement.reason),
        },
    }


def _lab_replay(found: dict[str, Any] | None, scope: Scope) -> dict[str, Any] | None:
    """The lab step's replay, its production peers cut to the scope's stacks."""
    if found is None:
        return None
    ids = {stack.label: stack.pk for stack in scope.stacks}
    peers = [
        {
            "stack": p["stack"],
            "service": p["service"],
            "peer": p["peer"],
            "profile": " ".join(p["profile"].get("versions") or []) or "no data",
            "inferred": p["inferred"],
            "outcome": p["outcome"],
            "negotiated": f"{p['version']} {p['suite']}".strip(),
            "reason": scope.redact_text(p["reason"]),
            "verdict": p["verdict"],
            "match": p["match"],
            "matched": p["matched"],
        }
        for p in found["peers"]
        if p["stack"] in ids and scope.holds_rule(ids[p["stack"]], p["service"])
    ]
    return {
        "status": found["status"],
        "error": scope.redact_text(found["error"]),
        "finished_at": _iso(found["finished_at"]),
        "peers": peers,
        "unpredicted": sum(1 for p in peers if p["match"] == "unpredicted"),
    }


def _promotion(step: Step, promoted: bool) -> str | None:
    if not promoted:
        return None
    if step.gate_skipped:
        skip = _skip(step)
        if skip is None or same_person(skip.requested_by, skip.approved_by):
            return LONE_SKIP  # same_person is False when nobody approved
        return FOUR_EYES_SKIP
    if step.status == StepStatus.PASSED and (step.verdict or {}).get("verdict") == Verdict.PASSING:
        return GATE_PASSED
    return NOT_PASSED


def _skip(step: Step) -> Any:
    return next(
        (
            a
            for a in step.actions.all()
            if a.kind == ActionKind.SKIP_GATE and a.status == ActionStatus.APPROVED
        ),
        None,
    )


def _steps(campaign: Campaign, scope: Scope, start: dt.datetime, end: dt.datetime) -> list[Step]:
    """The campaign's steps of the period that are about the scope (see the module's doc)."""
    inside = set(scope.service_ids)
    in_period = set(
        campaign.steps.filter(period.campaign_steps_in(start, end)).values_list("id", flat=True)
    )
    steps = list(
        campaign.steps.select_related("cohort", "deployment")
        .prefetch_related("cohort__services", "actions__requested_by", "actions__approved_by")
        .order_by("position")
    )
    about: set[int] = set()
    chosen = []
    for step in steps:
        if step.kind == StepKind.COHORT and step.cohort is not None:
            if any(s.pk in inside for s in step.cohort.services.all()):
                about.add(step.position)
        elif step.kind == StepKind.ABORT and step.position - 1 in about:
            about.add(step.position)
        if step.position in about and step.id in in_period:
            chosen.append(step)
    return chosen


def _campaign(
    campaign: Campaign, scope: Scope, start: dt.datetime, end: dt.datetime
) -> dict[str, Any] | None:
    chosen = _steps(campaign, scope, start, end)
    if not chosen:
        return None
    report = campaign_report(campaign)  # the campaign's own report: one account of its steps
    rows = {row["position"]: row for row in report["steps"]}
    labels = {stack.label for stack in scope.stacks}
    stack_ids = {stack.label: stack.pk for stack in scope.stacks}
    inside = set(scope.service_ids)
    whole = set(campaign.services.values_list("id", flat=True)) <= inside
    counted: dict[int, dict[str, int]] = defaultdict(dict)
    for step_id, verdict, n in (
        GateEvaluation.objects.filter(step__in=chosen)
        .values_list("step_id", "verdict")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counted[step_id][verdict] = n
    cohorts = [s for s in campaign.steps.all() if s.kind == StepKind.COHORT]
    last = max((s.position for s in cohorts), default=-1)
    steps = []
    for step in chosen:
        row = rows[step.position]
        later = any(s.position > step.position for s in cohorts)
        promoted = step.kind == StepKind.COHORT and (
            later or (step.position == last and campaign.status == CampaignStatus.DONE)
        )
        promotion = _promotion(step, promoted)
        skip = row["skip"]
        if skip is not None:
            approved = _skip(step)
            skip = skip | {
                "reason": scope.redact_text(skip["reason"]),
                "approved_at": _iso(skip["approved_at"]),
                "four_eyes": approved is not None
                and approved.approved_by is not None
                and not same_person(approved.requested_by, approved.approved_by),
            }
        cohort_services = (
            sorted(
                f"{s.stack.label}/{s.name}"
                for s in step.cohort.services.select_related("stack__lpar")
                if s.pk in inside
            )
            if step.cohort is not None
            else []
        )
        steps.append(
            {
                "position": step.position,
                "kind": row["kind"],
                "cohort": row["cohort"],
                "services": cohort_services,
                "status": row["status"],
                "status_label": step.get_status_display(),
                "requested_by": row["requested_by"],
                "versions": [[k, v] for k, v in row["versions"].items() if k in labels],
                "deployment": row["deployment"],
                "impact": _impact(step, scope, end),
                "bake": [_iso(row["bake"][0]), _iso(row["bake"][1])],
                "evaluations": [[v.value, counted[step.id].get(v.value, 0)] for v in Verdict],
                "verdict": row["verdict"],
                "checks": _checks(step, scope),
                "gate_skipped": row["gate_skipped"],
                "skip": skip,
                "incident": row["incident"],
                "error": scope.redact_text(row["error"]),
                "finished_at": _iso(step.finished_at),
                "promoted": promoted,
                "promotion": promotion,
                "lab_replay": _lab_replay(row.get("lab_replay"), scope),
            }
        )
    rollbacks = [
        {
            "at": _iso(r["at"]),
            "by": r["by"],
            "action": r["action"],
            "service": r["service"],
            "stack": r["stack"],
            "deployment": r["deployment"],
            "reason": scope.redact_text(r["reason"]),
        }
        for r in report["rule_rollbacks"]
        if r["stack"] in labels
        and start <= r["at"] <= end
        and scope.holds_rule(stack_ids[r["stack"]], str(r["service"]))
    ]
    finished = campaign.finished_at is not None and campaign.finished_at <= end
    return {
        "uuid": report["campaign"],
        "name": report["name"],
        "status": report["status"],
        "status_label": campaign.get_status_display(),
        "owner": campaign.owner.get_username(),
        "services": len(inside & set(campaign.services.values_list("id", flat=True))),
        "baseline_at": _iso(report["baseline_at"]),
        "baseline": _figures(campaign.baseline or {}, scope, whole),
        "finished_at": _iso(report["finished_at"]) if finished else None,
        "end_state": _figures(campaign.end_state or {}, scope, whole) if finished else None,
        "aborted": scope.redact_text(campaign.status_reason)
        if campaign.status == CampaignStatus.ABORTED
        else None,
        "steps": steps,
        "skipped_gates": [s["position"] for s in steps if s["gate_skipped"]],
        "rule_rollbacks": rollbacks,
    }


def campaign_evidence(scope: Scope, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """The campaigns with a step of the period about the scope, oldest first."""
    services = scope.query.values("id") if scope.query is not None else scope.service_ids
    found = (
        Campaign.objects.filter(
            steps__in=Step.objects.filter(period.campaign_steps_in(start, end)),
            services__in=services,
        )
        .distinct()
        .select_related("owner")
        .order_by("created_at", "id")
    )
    rows = [_campaign(campaign, scope, start, end) for campaign in found]
    return [row for row in rows if row is not None]
