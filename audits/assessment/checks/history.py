"""Checks of NIST SP 800-53 history rules: drift and change approval."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from accounts.identity import same_person
from audits.assessment.checks.common import _day
from audits.assessment.checks.registry import check
from audits.assessment.facts import (
    FAIL,
    NA,
    PASS,
    UNKNOWN,
    WARN,
    Context,
    Finding,
    StackFacts,
    Verdict,
    _iso,
)
from audits.catalog import Control
from audits.scope import scoped_targets
from fleet.models import (
    Deployment,
    DriftEvent,
    DriftKind,
    Incident,
    RunStatus,
)

# --- SP 800-53 history rules ----------------------------------------------------------------


def _drift_evidence(event: DriftEvent, stacks: Mapping[int, StackFacts]) -> dict[str, Any]:
    detail = event.detail.splitlines()
    return {
        "uuid": str(event.uuid),
        "key": event.key,
        "kind": event.kind,
        "stack": stacks[event.stack_id].label if event.stack_id in stacks else None,
        "service_id": event.service_id,
        "opened_at": _iso(event.opened_at),
        "resolved_at": _iso(event.resolved_at),
        "summary": detail[0] if detail else "",
        "detail_lines": len(detail),
        "opened_by_run": str(event.opened_by_run.uuid) if event.opened_by_run else None,
    }


def _deployment_evidence(deployment: Deployment) -> dict[str, Any]:
    return {
        "uuid": str(deployment.uuid),
        "kind": deployment.kind,
        "status": deployment.status,
        "requested_by": deployment.requested_by.get_username(),
        "approved_by": deployment.approved_by.get_username() if deployment.approved_by else None,
        "approved_at": _iso(deployment.approved_at),
        "started_at": _iso(deployment.started_at),
        "finished_at": _iso(deployment.finished_at),
        "targets": [
            {
                "stack": target.stack.label,
                "version": target.version.number,
                "version_sha256": target.version.sha256,
                "sha256": target.sha256,
                "author": target.version.author.get_username(),
                "removed_rule": target.removed_rule or None,
                "status": target.status,
            }
            for target in scoped_targets(deployment)
        ],
    }


def _incident_evidence(incident: Incident) -> dict[str, Any]:
    return {
        "uuid": str(incident.uuid),
        "kind": incident.kind,
        "stack": incident.stack.label,
        "summary": incident.summary,
        "opened_at": _iso(incident.opened_at),
        "resolved_at": _iso(incident.resolved_at),
        "certificate": incident.certificate.subject if incident.certificate else None,
    }


@check("configuration_drift")
def check_configuration_drift(ctx: Context, control: Control) -> Verdict:
    verdict = Verdict()
    services = {s.id: s for s in ctx.services}
    stacks = {s.id: s for s in ctx.stacks}
    sla = dt.timedelta(minutes=ctx.params["policy_refresh_sla_minutes"])
    troubled: set[int] = set()
    for event in ctx.drift:
        stack = stacks[event.stack_id]
        outcome = WARN if event.kind == DriftKind.UNEXPECTED_RULE else FAIL
        state = f"resolved {_day(event.resolved_at)}" if event.resolved_at else "still open"
        lines = event.detail.splitlines()
        summary = (lines[0].rstrip(":") if lines else event.key) + (
            f" ({len(lines) - 1} line(s) of detail in the event)" if len(lines) > 1 else ""
        )
        text = (
            f"{event.get_kind_display().lower()}: drift event {event.key} on {stack.label}"
            f" opened {_day(event.opened_at)}, {state}. {summary}"
        )
        service = services.get(event.service_id) if event.service_id else None
        verdict.findings.append(Finding(outcome, text, service=service, stack=stack))
        troubled.add(stack.id)
    for deployment in ctx.deployments:
        for target in scoped_targets(deployment):
            scoped = stacks.get(target.stack_id)
            if scoped is None:
                continue
            stack = scoped
            if deployment.status in (RunStatus.FAILED, RunStatus.ROLLED_BACK):
                verdict.findings.append(
                    Finding(
                        WARN,
                        f"deployment {str(deployment.uuid)[:8]} of v{target.version.number} to"
                        f" {stack.label} {deployment.get_status_display().lower()}:"
                        f" {(deployment.error or target.error or 'see its step log')[:200]}",
                        stack=stack,
                    )
                )
                troubled.add(stack.id)
            elif deployment.approved_at is not None:
                due = deployment.approved_at + sla
                late = (
                    deployment.finished_at > due
                    if deployment.finished_at
                    else ctx.eval_at > due and not deployment.is_finished
                )
                if late:
                    verdict.findings.append(
                        Finding(
                            WARN,
                            f"deployment {str(deployment.uuid)[:8]} to {stack.label}, approved"
                            f" {_day(deployment.approved_at)}, was not in force within"
                            f" {ctx.params['policy_refresh_sla_minutes']} minutes",
                            stack=stack,
                        )
                    )
                    troubled.add(stack.id)
    for stack in ctx.stacks:
        if stack.id in troubled:
            continue
        if stack.target is None:
            verdict.findings.append(
                Finding(
                    UNKNOWN,
                    f"nothing deployed to {stack.label} by the portal: no approved baseline to"
                    " compare the loaded policy with",
                    stack=stack,
                )
            )
        elif stack.runs == 0:
            verdict.findings.append(
                Finding(
                    UNKNOWN,
                    f"{stack.label} was not verified in the period: drift cannot be excluded",
                    stack=stack,
                )
            )
        else:
            verdict.findings.append(
                Finding(
                    PASS,
                    f"{stack.runs} verification run(s) compared the policy loaded on"
                    f" {stack.label} with {stack.version_label} ({stack.target.sha256[:12]}):"
                    " no drift",
                    stack=stack,
                )
            )
    verdict.empty = (NA, "no stack in scope")
    return verdict


@check("change_approval")
def check_change_approval(ctx: Context, control: Control) -> Verdict:
    verdict = Verdict()
    stacks = {s.id: s for s in ctx.stacks}
    for deployment in ctx.deployments:
        targets = [t for t in scoped_targets(deployment) if t.stack_id in stacks]
        if not targets:
            continue
        short = str(deployment.uuid)[:8]
        versions = ", ".join(
            f"v{t.version.number} of {t.stack.label} by {t.version.author.get_username()}"
            for t in targets
        )
        approver = deployment.approved_by
        requester = deployment.requested_by.get_username()
        # Whose text it deploys: a rule removal deploys a version that went live with four
        # eyes minus one rule, a baseline restore the pre-portal file (fleet.services).
        authors = [
            t.version.author for t in targets if not t.removed_rule and t.baseline_id is None
        ]
        if approver is None:
            if deployment.started_at is None:
                continue  # still waiting for approval: not a change yet
            outcome, text = FAIL, f"deployment {short} ({versions}) ran without an approval"
        elif same_person(approver, deployment.requested_by):
            # Four eyes hold on every kind, the way back included: a row approved by its
            # requester (or by another account of theirs) is named, whenever it was written.
            how = (
                "approved by its requester"
                if approver.pk == deployment.requested_by_id
                else f"approved by {approver.get_username()}, another account of its requester"
            )
            outcome, text = (
                FAIL,
                f"deployment {short} ({deployment.get_kind_display().lower()}: {versions}) was"
                f" {how} {requester}",
            )
        elif any(same_person(approver, author) for author in authors):
            outcome, text = (
                FAIL,
                f"deployment {short} ({versions}) was approved by {approver.get_username()},"
                " who published a version it deploys",
            )
        else:
            outcome, text = (
                PASS,
                f"deployment {short} ({versions}), requested by {requester}, approved by"
                f" {approver.get_username()} at {_day(deployment.approved_at)}",
            )
        for target in targets:
            verdict.findings.append(Finding(outcome, text, stack=stacks[target.stack_id]))
    verdict.empty = (NA, "no deployment in the period touched a stack in scope")
    return verdict
