"""A campaign's report: what was stored, in the order it happened, for the evidence pack.

Baseline and end state (frozen by the campaign), then every step with its versions, its
deployment, its gate's last verdict and how many evaluations judged it, the lab step's replay
of the production peers (each peer's profile, outcome and prediction), a skipped gate flagged
with who asked, who approved and why, and the rules rolled back or held back (from the change
log). Nothing is measured again here: the report presents what the campaign stored.
"""

from __future__ import annotations

from typing import Any

from policies.models import ChangeRecord, PolicyVersion, Stack
from rollouts import replay
from rollouts.models import ActionKind, ActionStatus, Campaign

ROLLBACKS = ("rule rollback", "rule hold back")


def _who(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def campaign_report(campaign: Campaign) -> dict[str, Any]:
    steps = list(
        campaign.steps.select_related(
            "cohort", "deployment__approved_by", "incident", "requested_by"
        )
        .prefetch_related("actions__requested_by", "actions__approved_by", "evaluations")
        .order_by("position")
    )
    version_ids = {v for s in steps for v in s.versions.values() if v is not None}
    numbers = dict(PolicyVersion.objects.filter(id__in=version_ids).values_list("id", "number"))
    labels = {
        str(stack.id): stack.label
        for stack in Stack.objects.filter(
            id__in=[int(k) for s in steps for k in s.versions]
        ).select_related("lpar")
    }
    rows = []
    for step in steps:
        skip = next(
            (
                a
                for a in step.actions.all()
                if a.kind == ActionKind.SKIP_GATE and a.status == ActionStatus.APPROVED
            ),
            None,
        )
        deployment = step.deployment
        rows.append(
            {
                "position": step.position,
                "kind": step.kind,
                "cohort": step.cohort.name if step.cohort else None,
                "status": step.status,
                "requested_by": _who(step.requested_by),
                "versions": {
                    labels.get(k, k): numbers.get(v) for k, v in sorted(step.versions.items())
                },
                "deployment": {
                    "uuid": str(deployment.uuid),
                    "status": deployment.status,
                    "approved_by": _who(deployment.approved_by),
                }
                if deployment is not None
                else None,
                "bake": [step.bake_started_at, step.bake_ends_at],
                "evaluations": len(step.evaluations.all()),
                "verdict": (step.verdict or {}).get("verdict"),
                "gate_skipped": step.gate_skipped,
                "skip": {
                    "reason": skip.reason,
                    "requested_by": _who(skip.requested_by),
                    "approved_by": _who(skip.approved_by),
                    "approved_at": skip.approved_at,
                }
                if skip is not None
                else None,
                "incident": str(step.incident.uuid) if step.incident else None,
                "error": step.error,
                # The lab step's replay of the production peers (None on other steps).
                "lab_replay": replay.report_rows(step) if replay.is_lab_step(step) else None,
            }
        )
    rollbacks = [
        {
            "at": record.at,
            "by": _who(record.actor),
            "action": record.action,
            "service": (record.after or {}).get("service"),
            "stack": (record.after or {}).get("stack"),
            "deployment": (record.after or {}).get("deployment"),
            "reason": record.note,
        }
        for record in ChangeRecord.objects.filter(
            object_type="Campaign", object_uuid=campaign.uuid, action__in=ROLLBACKS
        )
        .select_related("actor")
        .order_by("at", "id")
    ]
    return {
        "campaign": str(campaign.uuid),
        "name": campaign.name,
        "status": campaign.status,
        "baseline_at": campaign.baseline_at,
        "baseline": (campaign.baseline or {}).get("totals"),
        "finished_at": campaign.finished_at,
        "end_state": (campaign.end_state or {}).get("totals"),
        "steps": rows,
        "skipped_gates": [r["position"] for r in rows if r["gate_skipped"]],
        "rule_rollbacks": rollbacks,
    }
