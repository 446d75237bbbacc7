"""The worker's side of a campaign: publishing and requesting a step, and its gate.

`step_start` runs once per step: it claims the step (PENDING, locked), publishes per affected
stack the version holding the rules of every cohort so far, and requests their deployment
through fleet's four-eyes flow, all in one transaction: a worker killed in the middle leaves
the step pending, the next attempt begins again from nothing, and nothing is applied twice.

`campaign_evaluate` follows the step: the deployment's end starts the bake; every
verification of the step's stacks during the bake is judged (rollouts.gates) and stored; a
check failed beyond its failure limit holds the campaign and opens an incident; the bake time
passed with the gate passing ends the step passed, and auto-promotes when allowed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone

from fleet import services as fleet
from fleet.models import Deployment, Incident, IncidentKind, RunStatus
from fleet.selectors import deployed_target
from policies.changes import change_record
from policies.models import PolicyVersion, Stack
from policies.services import PublishRefused, policy_version_publish, stack_draft
from rollouts import gates, replay
from rollouts.models import (
    Campaign,
    CampaignStatus,
    Cohort,
    GateEvaluation,
    Step,
    StepKind,
    StepStatus,
    Verdict,
)

log = logging.getLogger(__name__)

FAILED_DEPLOYMENT = (
    RunStatus.FAILED,
    RunStatus.ROLLED_BACK,
    RunStatus.REJECTED,
    RunStatus.CANCELLED,
)


class StepRefused(Exception):
    """A step that cannot go on; the message says why."""


# --- what a step holds --------------------------------------------------------------------


def cohorts_so_far(step: Step) -> list[Cohort]:
    assert step.cohort is not None
    return list(step.campaign.cohorts.filter(position__lte=step.cohort.position))


def excluded_services(campaign: Campaign, upto: int) -> set[int]:
    """Services whose rules a version for cohorts 0..`upto` leaves out: those of the later
    cohorts, and the rules rolled back during the campaign (held back)."""
    later = set(
        campaign.cohorts.filter(position__gt=upto).values_list("services__id", flat=True)
    ) - {None}
    return later | set(campaign.held_back.values_list("id", flat=True))


def gate_services(step: Step) -> list[gates.GateService]:
    """The services the step's gate covers: those of every cohort so far on its stacks."""
    if step.cohort is None:
        return []
    campaign = step.campaign
    held = set(campaign.held_back.values_list("id", flat=True))
    rows = (
        campaign.cohorts.filter(position__lte=step.cohort.position)
        .values_list("services__id", "services__name", "services__stack_id")
        .order_by("services__id")
    )
    stacks = set(int(k) for k in step.versions)
    return [
        gates.GateService(id=i, name=n, stack_id=s)
        for i, n, s in rows
        if i is not None and i not in held and s in stacks
    ]


def step_stacks(step: Step) -> list[Stack]:
    """The stacks the step's cohort has services on, in a fixed order."""
    assert step.cohort is not None
    return list(
        Stack.objects.filter(services__in=step.cohort.services.all())
        .distinct()
        .select_related("lpar__connection")
        .order_by("lpar__name", "name")
    )


def _publish(step: Step, stack: Stack, exclude: set[int]) -> PolicyVersion:
    """The stack's design less `exclude`, published; the latest version when it is that."""
    draft = stack_draft(stack=stack, exclude_services=exclude)
    if draft.published is not None and draft.published.sha256 == draft.sha256:
        return draft.published
    what = (
        f"the rules of every cohort up to {step.cohort.name}"
        if step.cohort is not None
        else "abort: the rules of the cohorts before the aborted step"
    )
    return policy_version_publish(
        stack=stack,
        actor=step.requested_by,
        note=f"campaign {step.campaign.name}, step {step.position}: {what}",
        acknowledge_warnings=True,
        exclude_services=exclude,
    )


# --- starting a step ------------------------------------------------------------------------


def step_start(step_id: int, worker: str) -> Step | None:
    """Publishes and requests the step's deployment, once; None when it was not pending."""
    try:
        with transaction.atomic():
            step = (
                # Only the step's row is locked (PostgreSQL cannot lock the nullable side of
                # the outer joins select_related makes).
                Step.objects.select_for_update(of=("self",))
                .select_related("campaign", "cohort", "requested_by")
                .get(pk=step_id)
            )
            if step.status != StepStatus.PENDING:
                return None
            Step.objects.filter(pk=step.pk).update(attempts=step.attempts + 1, claimed_by=worker)
            if step.kind == StepKind.COHORT:
                _start_cohort(step)
            else:
                _start_abort(step)
            return step
    except fleet.DeploymentPending as busy:
        # One pending request per stack (fleet): the step waits, pending, nothing of it kept;
        # beat starts it again (tasks.resume_pending_steps) until that request is closed.
        with transaction.atomic():
            step = (
                Step.objects.select_for_update(of=("self",))
                .select_related("campaign")
                .get(pk=step_id)
            )
            if step.status != StepStatus.PENDING:
                return None
            step.attempts += 1
            step.error = waiting_text(busy)
            step.save(update_fields=["attempts", "error"])
        return step
    except (PublishRefused, fleet.DeploymentRefused, PermissionError) as error:
        # Nothing of the step was kept (the transaction rolled back); the step says why.
        with transaction.atomic():
            step = (
                Step.objects.select_for_update(of=("self",))
                .select_related("campaign")
                .get(pk=step_id)
            )
            if step.status != StepStatus.PENDING:
                return None
            _fail(step, f"the step could not start: {error}", timezone.now())
        return step


def waiting_text(busy: fleet.DeploymentPending) -> str:
    """Why a step has not requested its deployment yet."""
    return (
        f"waiting to request its deployment: {busy} The step requests it by itself once that"
        " request is approved, rejected or cancelled."
    )


def _start_cohort(step: Step) -> None:
    assert step.cohort is not None
    campaign = step.campaign
    exclude = excluded_services(campaign, step.cohort.position)
    targets: list[tuple[Stack, PolicyVersion]] = []
    previous: dict[str, int | None] = {}
    for stack in step_stacks(step):
        current = deployed_target(stack)
        previous[str(stack.id)] = current.version_id if current is not None else None
        targets.append((stack, _publish(step, stack, exclude)))
    deployment = fleet.deployment_request(
        actor=step.requested_by,
        targets=targets,
        note=f"campaign {campaign.name}, step {step.position}: {step.cohort.name}",
    )
    step.versions = {str(stack.id): version.id for stack, version in targets}
    step.previous_versions = previous
    step.deployment = deployment
    step.status = StepStatus.REQUESTED
    step.error = ""
    held = ""
    if campaign.auto_promote and campaign.auto_promote_approver is not None:
        breaking = fleet.breaking_peers(deployment)
        if breaking:
            # Accepting predicted breakage takes a person's reason: auto-promotion never
            # acknowledges it; the step waits for an approval that does (step_approve).
            held = step.error = auto_approval_held_text(len(breaking))
        else:
            fleet.deployment_approve(deployment=deployment, actor=campaign.auto_promote_approver)
            step.status = StepStatus.DEPLOYING
    step.save(update_fields=["versions", "previous_versions", "deployment", "status", "error"])
    change_record(
        actor=step.requested_by,
        action="step start",
        obj=campaign,
        after={
            "step": step.position,
            "cohort": step.cohort.name,
            "versions": {s.label: v.number for s, v in targets},
            "deployment": str(deployment.uuid),
        },
        note=held,
    )


def auto_approval_held_text(will_break: int) -> str:
    return (
        f"auto-promotion held the approval: the prediction says {will_break} peer(s) will"
        " break, and only a person may accept that, saying why (approve with an"
        " acknowledgement)"
    )


def _start_abort(step: Step) -> None:
    """Redeploys what was deployed on each stack before the aborted step (its
    `previous_versions`, copied onto this step); a stack that had nothing from the portal
    before gets a version with the rules of the cohorts before the aborted one."""
    campaign = step.campaign
    aborted = Step.objects.filter(
        campaign=campaign, position__lt=step.position, kind=StepKind.COHORT
    ).last()
    assert aborted is not None and aborted.cohort is not None
    exclude = excluded_services(campaign, aborted.cohort.position - 1)
    targets: list[tuple[Stack, PolicyVersion]] = []
    for stack_id, version_id in sorted(step.previous_versions.items()):
        stack = Stack.objects.select_related("lpar__connection").get(pk=int(stack_id))
        if version_id is not None:
            targets.append((stack, PolicyVersion.objects.get(pk=version_id)))
        else:
            targets.append((stack, _publish(step, stack, exclude)))
    deployment = fleet.restore_versions(
        actor=step.requested_by,
        targets=targets,
        note=f"campaign {campaign.name}: abort of step {aborted.position}, previous versions back",
    )
    step.versions = {str(stack.id): version.id for stack, version in targets}
    step.deployment = deployment
    # A rollback like any other: another operator approves it (step_approve).
    step.status = StepStatus.REQUESTED
    step.error = ""
    step.save(update_fields=["versions", "deployment", "status", "error"])


# --- following a step -----------------------------------------------------------------------


def current_step(campaign: Campaign) -> Step | None:
    return campaign.steps.order_by("-position").first()


def campaign_evaluate(campaign_id: int, *, now: datetime | None = None) -> str:
    """Moves the campaign's current step on from what the fleet stored; safe to run twice."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.status in (CampaignStatus.ABORTED, CampaignStatus.DONE):
            return "finished"
        step = current_step(campaign)
        if step is None:
            return "no step"
        step = (
            Step.objects.select_for_update(of=("self",))
            .select_related("cohort", "deployment")
            .get(pk=step.pk)
        )
        step.campaign = campaign
        if step.status in (StepStatus.REQUESTED, StepStatus.DEPLOYING):
            _follow_deployment(step, now)
        if step.status == StepStatus.BAKING:
            _evaluate(step, now)
        return str(step.status)


def _follow_deployment(step: Step, now: datetime) -> None:
    deployment: Deployment | None = step.deployment
    if deployment is None:
        return
    deployment.refresh_from_db(fields=["status", "finished_at", "error"])
    if deployment.status == RunStatus.RUNNING and step.status == StepStatus.REQUESTED:
        step.status = StepStatus.DEPLOYING
        step.save(update_fields=["status"])
    elif deployment.status == RunStatus.SUCCEEDED:
        if step.kind == StepKind.ABORT:
            # Its own verification judged the restored text as loaded (fleet/deploy.py).
            step.status = StepStatus.RESTORED
            step.finished_at = deployment.finished_at or now
            step.save(update_fields=["status", "finished_at"])
            Campaign.objects.filter(pk=step.campaign_id).update(
                status=CampaignStatus.ABORTED, finished_at=now
            )
            return
        started = deployment.finished_at or now
        step.status = StepStatus.BAKING
        step.bake_started_at = started
        step.bake_ends_at = started + timedelta(seconds=step.campaign.bake_seconds)
        step.save(update_fields=["status", "bake_started_at", "bake_ends_at"])
        evaluate_at_bake_end(step)
        if replay.is_lab_step(step):
            # The deployment's own verification judged the lab's policy loaded: replay the
            # production peers against it now; the gate's lab-replay check waits for it.
            replay.replay_request(step)
    elif deployment.status in FAILED_DEPLOYMENT:
        _fail(
            step,
            f"deployment {str(deployment.uuid)[:8]} ended {deployment.get_status_display()}:"
            f" {deployment.error or deployment.close_reason}",
            now,
        )


EVALUATE = "rollouts.tasks.evaluate_campaign"


def evaluate_at_bake_end(step: Step) -> None:
    """An evaluation when the bake ends, so that a passed step is seen then rather than at the
    next verification or beat's tick. By the task's name: rollouts.tasks imports this module.
    Enqueued on commit; the evaluation is safe to run twice, and beat still looks later."""
    campaign_id, ends = step.campaign_id, step.bake_ends_at
    transaction.on_commit(lambda: current_app.send_task(EVALUATE, args=[campaign_id], eta=ends))


def _evaluate(step: Step, now: datetime) -> None:
    services = gate_services(step)
    gathered = gates.gather(step, services)
    newest = gates.newest_run_at(gathered)
    last = step.evaluations.order_by("-at", "-id").first()
    if newest is not None and (last is None or newest > last.at):
        checks = gates.judge(step.campaign, services, gathered)
        verdict = gates.overall(checks)
        GateEvaluation.objects.create(
            step=step,
            at=newest,
            runs=sorted(str(r.uuid) for r in gathered.runs.values()),
            checks=checks,
            verdict=verdict,
        )
        failures = dict(step.failures)
        over: list[str] = []
        for name, check in checks.items():
            if check["verdict"] == Verdict.FAILED:
                failures[name] = int(failures.get(name, 0)) + 1
                if failures[name] > int(step.campaign.gate(name)["failure_limit"]):
                    over.append(name)
        step.failures = failures
        step.verdict = {"verdict": verdict, "at": newest.isoformat(), "checks": checks}
        step.save(update_fields=["failures", "verdict"])
        if over:
            _fail(step, "gate failed: " + ", ".join(_failure_text(checks[n], n) for n in over), now)
            return
    if (
        step.bake_ends_at is not None
        and now >= step.bake_ends_at
        # Evaluations read only runs finished since the bake began (gates.gather).
        and step.verdict.get("verdict") == Verdict.PASSING
    ):
        step.status = StepStatus.PASSED
        step.finished_at = now
        step.save(update_fields=["status", "finished_at"])
        change_record(
            actor=None,
            action="gate pass",
            obj=step.campaign,
            after={"step": step.position, "verdict": step.verdict},
        )


def _failure_text(check: dict[str, Any], name: str) -> str:
    return f"{name} {check['value']} against {check['threshold']}"


def _fail(step: Step, reason: str, now: datetime) -> None:
    """The step failed: the campaign holds, an incident says why."""
    campaign = step.campaign
    step.status = StepStatus.FAILED
    step.error = reason
    step.finished_at = now
    stacks = [int(k) for k in step.versions] or list(campaign.stacks.values_list("id", flat=True))
    incident = Incident.objects.filter(
        key=f"campaign:{campaign.uuid}:{step.position}", resolved_at=None
    ).first()
    if incident is None and stacks:
        incident = Incident.objects.create(
            stack_id=stacks[0],
            kind=IncidentKind.CAMPAIGN_GATE,
            key=f"campaign:{campaign.uuid}:{step.position}",
            summary=f"Campaign {campaign.name} holds at step {step.position}: {reason}",
            preceded_by=step.deployment,
            details={"campaign": str(campaign.uuid), "step": step.position, "checks": step.verdict},
            opened_at=now,
            last_seen_at=now,
        )
    step.incident = incident
    step.save(update_fields=["status", "error", "finished_at", "incident"])
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.HELD, status_reason=reason)
    campaign.status, campaign.status_reason = CampaignStatus.HELD, reason
    change_record(
        actor=None, action="hold", obj=campaign, after={"step": step.position}, note=reason
    )
