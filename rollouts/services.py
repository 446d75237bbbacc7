"""Writes of a campaign: create, edit, leave a phase, and the actions on its steps.

Who may do what: an architect or an operator plans (create, cohorts, gates, baseline, design);
only an operator acts on the estate (promote, approve, pause, resume, skip, abort, roll a rule
back). Four eyes: a step's deployment is approved by a second person through fleet's own
approval (fleet.services.deployment_approve refuses its requester and its versions' author),
a skipped gate by a second person, auto-promotion allowed by a second person, and the way
back too: an abort's restore and a rule's rollback are pending requests another operator
approves (no emergency path around four eyes). Predicted breakage is accepted only by a
person's acknowledgement at approval, never by auto-promotion. A refusal is
CampaignForbidden (403) or CampaignRefused (409) and changes nothing. Every action leaves a
change record (policies.changes, chained into the audit log).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from celery import current_app
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.identity import same_person
from accounts.roles import Capability, has_capability
from attls.policy import parse_policy
from fleet import services as fleet
from fleet.impact.models import ImpactAcknowledgement
from fleet.models import Incident, LparConnection, RunStatus
from fleet.selectors import deployed_target
from policies.changes import change_record
from policies.choices import Phase, Tier
from policies.models import Service, Stack
from policies.services import stack_draft
from rollouts import figures, replay
from rollouts.lab import lab_rules_copy
from rollouts.models import (
    ActionKind,
    ActionRequest,
    ActionStatus,
    Campaign,
    CampaignStatus,
    Cohort,
    CohortKind,
    Step,
    StepKind,
    StepStatus,
    validate_gates,
    with_added_checks,
)
from rollouts.steps import current_step, evaluate_at_bake_end, excluded_services

User = AbstractBaseUser | AnonymousUser

TIER_ORDER = [Tier.LOW, Tier.MEDIUM, Tier.HIGH]
START_STEP = "rollouts.tasks.start_step"


class CampaignRefused(Exception):
    """An action the campaign's state does not allow now; the message says why (409)."""


class CampaignForbidden(PermissionError):
    """An action this person may not take (role, or four eyes); nothing changed (403)."""


def _plans(actor: User) -> None:
    if not (has_capability(actor, Capability.PUBLISH) or has_capability(actor, Capability.OPERATE)):
        raise CampaignForbidden("only an architect or an operator may plan a campaign")


def _operates(actor: User) -> None:
    if not has_capability(actor, Capability.OPERATE):
        raise CampaignForbidden("only an operator may act on a campaign's steps")


def _locked(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update().get(pk=campaign.pk)


def _record(
    actor: User | None, action: str, campaign: Campaign, after: dict[str, Any], note: str = ""
) -> None:
    change_record(actor=actor, action=action, obj=campaign, after=after, note=note)


# --- planning -------------------------------------------------------------------------------


@transaction.atomic
def campaign_create(
    *,
    actor: User,
    name: str,
    stacks: Sequence[Stack],
    owner: Any = None,
    description: str = "",
    bake_seconds: int | None = None,
    gates: dict[str, Any] | None = None,
    lab_stack: Stack | None = None,
    services: Sequence[Service] | None = None,
    auto_promote: bool = False,
) -> Campaign:
    """A campaign in the inventory phase; cohorts by criticality tier, low first (the first
    one the pilot), after a lab cohort when a lab stack is named.

    The owner (default: the actor) plans it and requests its automatic steps, so is an
    architect or an operator. Auto-promotion may be allowed at once only by an operator who
    is not the owner (the rule of campaign_auto_promote_set); that operator is its approver."""
    _plans(actor)
    owner = owner or actor
    problems: dict[str, str] = {}
    if not stacks:
        problems["stacks"] = "Name at least one stack."
    if not (has_capability(owner, Capability.PUBLISH) or has_capability(owner, Capability.OPERATE)):
        problems["owner"] = (
            f"{owner} is neither an architect nor an operator: the owner plans the campaign"
            " and requests its steps."
        )
    stack_ids = {s.id for s in stacks}
    if lab_stack is not None and lab_stack.id in stack_ids:
        problems["lab_stack"] = (
            f"{lab_stack.label} is one of the campaign's stacks: the lab validates the"
            " candidate away from them."
        )
    outside = [s for s in services or () if s.stack_id not in stack_ids]
    if outside:
        problems["services"] = "Not on the campaign's stacks: " + ", ".join(
            f"{s.stack.label} {s.name}" for s in outside
        )
    if auto_promote:
        refusal = _auto_promote_refusal(owner=owner, actor=actor)
        if refusal:
            problems["auto_promote"] = refusal + "."
    if problems:
        raise ValidationError(problems)
    campaign = Campaign(
        name=name.strip(),
        description=description,
        owner=owner,
        created_by=actor,
        lab_stack=lab_stack,
    )
    if bake_seconds is not None:
        campaign.bake_seconds = bake_seconds
    if gates is not None:
        campaign.gates = with_added_checks(gates) if isinstance(gates, dict) else gates
    if auto_promote:
        campaign.auto_promote, campaign.auto_promote_approver = True, actor  # type: ignore[assignment]
    campaign.full_clean()
    campaign.save()
    campaign.stacks.set(stacks)
    scope = (
        list(services)
        if services is not None
        else list(Service.objects.filter(stack__in=stacks, included=True, rule__isnull=False))
    )
    campaign.services.set(scope)
    position = 0
    if lab_stack is not None:
        lab = Cohort.objects.create(
            campaign=campaign, position=0, name="Lab validation", kind=CohortKind.LAB
        )
        lab.services.set(Service.objects.filter(stack=lab_stack, included=True))
        position = 1
    for tier in TIER_ORDER:
        members = [s for s in scope if s.tier == tier]
        if not members:
            continue
        kind = CohortKind.PILOT if position == (1 if lab_stack else 0) else CohortKind.ROLLOUT
        cohort = Cohort.objects.create(
            campaign=campaign,
            position=position,
            name=f"{'Pilot' if kind == CohortKind.PILOT else 'Rollout'}: {tier.label} tier",
            kind=kind,
            tier=tier,
        )
        cohort.services.set(members)
        position += 1
    _record(actor, "create", campaign, summary(campaign))
    return campaign


def summary(campaign: Campaign) -> dict[str, Any]:
    return {
        "name": campaign.name,
        "phase": campaign.phase,
        "status": campaign.status,
        "bake_seconds": campaign.bake_seconds,
        "gates": campaign.gates,
        "auto_promote": campaign.auto_promote,
        "stacks": sorted(s.label for s in campaign.stacks.select_related("lpar")),
        "cohorts": [
            {"name": c.name, "services": sorted(s.name for s in c.services.all())}
            for c in campaign.cohorts.prefetch_related("services")
        ],
    }


@transaction.atomic
def campaign_settings_update(
    *,
    actor: User,
    campaign: Campaign,
    bake_seconds: int | None = None,
    gates: dict[str, Any] | None = None,
) -> Campaign:
    """Bake time and gate thresholds and failure limits, before or while the campaign runs;
    they apply from the next evaluation. A finished campaign's settings are its record."""
    _plans(actor)
    locked = _locked(campaign)
    _not_finished(locked)
    before = {"bake_seconds": locked.bake_seconds, "gates": locked.gates}
    if bake_seconds is not None:
        locked.bake_seconds = bake_seconds
    if gates is not None:
        validate_gates(gates)
        locked.gates = with_added_checks(gates)
    locked.full_clean()
    locked.save(update_fields=["bake_seconds", "gates"])
    change_record(
        actor=actor,
        action="update",
        obj=locked,
        before=before,
        after={"bake_seconds": locked.bake_seconds, "gates": locked.gates},
    )
    return locked


def _not_finished(campaign: Campaign) -> None:
    if campaign.status in (CampaignStatus.DONE, CampaignStatus.ABORTED):
        raise CampaignRefused(f"the campaign is {campaign.get_status_display().lower()}")


_OWNER_ALONE = "the campaign's owner may not allow its auto-promotion alone"


def _auto_promote_refusal(*, owner: Any, actor: User) -> str:
    """Why `actor` may not allow auto-promotion of a campaign `owner` owns ("" if they may)."""
    if not has_capability(actor, Capability.OPERATE):
        return "only an operator may allow auto-promotion"
    if same_person(owner, actor):
        return _OWNER_ALONE + ": another operator allows it"
    return ""


@transaction.atomic
def campaign_auto_promote_set(*, actor: User, campaign: Campaign, enabled: bool) -> Campaign:
    """Auto-promotion is allowed by a second operator, not the owner: that operator then
    approves each deployment it requests (fleet's four eyes hold as for any deployment)."""
    _operates(actor)
    locked = _locked(campaign)
    if enabled and same_person(locked.owner, actor):
        raise CampaignForbidden(_OWNER_ALONE)
    locked.auto_promote = enabled
    locked.auto_promote_approver = actor if enabled else None  # type: ignore[assignment]
    locked.save(update_fields=["auto_promote", "auto_promote_approver"])
    _record(actor, "auto-promote", locked, {"auto_promote": enabled})
    return locked


# --- phases ----------------------------------------------------------------------------------


def _all_services(campaign: Campaign) -> list[Service]:
    lab = campaign.cohorts.filter(kind=CohortKind.LAB).values_list("services__id", flat=True)
    ids = set(campaign.services.values_list("id", flat=True)) | (set(lab) - {None})
    return list(Service.objects.filter(id__in=ids).select_related("stack"))


@transaction.atomic
def campaign_baseline_freeze(*, actor: User, campaign: Campaign) -> Campaign:
    """Ends the inventory: the baseline, from each stack's latest stored verification and
    zERT's roll-ups, is frozen as the campaign's "before"."""
    _plans(actor)
    locked = _locked(campaign)
    if locked.phase != Phase.INVENTORY:
        raise CampaignRefused("the baseline was frozen already")
    services = _all_services(locked)
    stack_ids = {s.stack_id for s in services}
    runs = figures.latest_runs(stack_ids)
    unverified = Stack.objects.filter(id__in=stack_ids - set(runs)).select_related("lpar")
    if unverified:
        raise CampaignRefused(
            "no verification of " + ", ".join(s.label for s in unverified) + " yet: the baseline"
            " is taken from stored verifications"
        )
    # What the applications' own TLS negotiates is zERT's to say (the verifications see no
    # protocol before AT-TLS): with its collection on, the baseline waits for one.
    uncollected = sorted(
        LparConnection.objects.filter(lpar__stacks__id__in=stack_ids, zert_enabled=True)
        .exclude(zert_runs__status=RunStatus.SUCCEEDED)
        .values_list("lpar__name", flat=True)
        .distinct()
    )
    if uncollected:
        raise CampaignRefused(
            "no zERT collection of " + ", ".join(uncollected) + " has completed yet: the"
            " baseline would miss the protocols the applications negotiate themselves"
        )
    baseline = figures.measure(services)
    # The lab's services are measured too (the lab step's gate compares its added latency with
    # theirs), but the totals, the page's "before", are production's as "now" and the end
    # state are: LAB1's clients are not the account's.
    baseline["totals"] = figures.totals_of(baseline, locked.services.values_list("id", flat=True))
    locked.baseline = baseline
    locked.baseline_at = timezone.now()
    locked.phase = Phase.DESIGN
    locked.save(update_fields=["baseline", "baseline_at", "phase"])
    _record(actor, "baseline", locked, {"totals": locked.baseline["totals"]})
    return locked


@transaction.atomic
def campaign_design_complete(*, actor: User, campaign: Campaign) -> Campaign:
    """Leaves the design phase when every stack's target policy is lint and compliance clean
    (no error, no warning)."""
    _plans(actor)
    locked = _locked(campaign)
    if locked.phase != Phase.DESIGN:
        raise CampaignRefused("the campaign is not in its design phase")
    stacks = list(locked.stacks.select_related("lpar"))
    copied = None
    if locked.lab_stack is not None:
        stacks.append(locked.lab_stack)
        # The lab validates the production rules: copied now, so the lint below covers them
        # on the lab stack too (a refusal rolls the copy back with everything else).
        copied = lab_rules_copy(
            actor=actor,
            lab=locked.lab_stack,
            production=list(
                locked.services.filter(stack__in=locked.stacks.all()).select_related("stack__lpar")
            ),
        )
        lab_cohort = locked.cohorts.filter(kind=CohortKind.LAB).first()
        if lab_cohort is not None:
            lab_cohort.services.set(copied.services)
    problems = []
    for stack in stacks:
        draft = stack_draft(
            stack=stack, exclude_services=set(locked.held_back.values_list("id", flat=True))
        )
        for finding in draft.errors + draft.warnings:
            problems.append(f"{stack.label}: {finding.severity} {finding.code} {finding.message}")
        if draft.unwritable:
            problems.append(f"{stack.label}: {draft.unwritable}")
    if problems:
        raise CampaignRefused("the target design is not clean: " + "; ".join(problems[:10]))
    first = locked.cohorts.order_by("position").first()
    locked.phase = Phase.LAB if first is not None and first.kind == CohortKind.LAB else Phase.PILOT
    locked.save(update_fields=["phase"])
    after: dict[str, Any] = {"phase": locked.phase}
    if copied is not None:
        after["lab"] = {
            "created": copied.created,
            "updated": copied.updated,
            "skipped": copied.skipped,
        }
    _record(actor, "design done", locked, after)
    return locked


PHASE_OF = {
    CohortKind.LAB: Phase.LAB,
    CohortKind.PILOT: Phase.PILOT,
    CohortKind.ROLLOUT: Phase.ROLLOUT,
}


# --- actions ---------------------------------------------------------------------------------


def campaign_promote(*, actor: User, campaign: Campaign, automatic: bool = False) -> Step | None:
    """Starts the next cohort's step when the current one passed (or the design is done);
    after the last cohort, ends the campaign. The step's deployment then waits for a second
    person's approval (step_approve), unless auto-promotion is allowed."""
    with transaction.atomic():
        if not automatic:
            _operates(actor)
        locked = _locked(campaign)
        if locked.status != CampaignStatus.ACTIVE:
            raise CampaignRefused(f"the campaign is {locked.get_status_display().lower()}")
        if locked.phase in (Phase.INVENTORY, Phase.DESIGN):
            raise CampaignRefused(f"the campaign is in its {locked.get_phase_display()} phase")
        step = current_step(locked)
        if step is not None and step.status != StepStatus.PASSED:
            raise CampaignRefused(
                f"step {step.position} is {step.get_status_display().lower()}: its gate must pass"
                " (or be skipped with four eyes) before the next cohort"
            )
        done_upto = step.cohort.position if step is not None and step.cohort else -1
        cohort = locked.cohorts.filter(position__gt=done_upto).order_by("position").first()
        if cohort is None:
            _finish(locked, actor)
            return None
        if not cohort.services.exists():
            # A step with nothing to deploy would only fail: say so before it exists.
            raise CampaignRefused(
                f"the next cohort, {cohort.name}, holds no service: move services into it or"
                " remove it (Cohorts) before promoting"
            )
        new = Step.objects.create(
            campaign=locked,
            position=(step.position + 1) if step is not None else 0,
            cohort=cohort,
            requested_by=locked.owner if automatic else actor,
        )
        locked.phase = PHASE_OF[CohortKind(cohort.kind)]
        locked.save(update_fields=["phase"])
        Service.objects.filter(id__in=cohort.services.values("id")).update(phase=locked.phase)
        _record(
            actor,
            "promote",
            locked,
            {"step": new.position, "cohort": cohort.name, "automatic": automatic},
        )
        _enqueue_start(new)
        return new


def campaign_auto_promote(campaign_id: int) -> Step | None:
    """Promotes a campaign whose current step passed, when auto-promotion is allowed and the
    campaign is active; nothing otherwise (safe to call on every evaluation)."""
    campaign = Campaign.objects.get(pk=campaign_id)
    step = current_step(campaign)
    if (
        not campaign.auto_promote
        or campaign.auto_promote_approver is None
        or campaign.status != CampaignStatus.ACTIVE
        or step is None
        or step.status != StepStatus.PASSED
    ):
        return None
    try:
        return campaign_promote(actor=campaign.owner, campaign=campaign, automatic=True)
    except CampaignRefused:
        return None  # promoted meanwhile by another evaluation, or the end state differs


def _enqueue_start(step: Step) -> None:
    # By the task's name: rollouts.tasks calls this module (auto-promotion), so this module
    # does not import it back. Routing and serialization are the same as .delay()'s.
    step_id = step.id
    transaction.on_commit(lambda: current_app.send_task(START_STEP, args=[step_id]))


def _finish(campaign: Campaign, actor: User) -> None:
    """The last cohort passed: the end state is measured and checked against the target."""
    mismatched = []
    exclude = set(campaign.held_back.values_list("id", flat=True))
    for stack in campaign.stacks.select_related("lpar"):
        target = deployed_target(stack)
        draft = stack_draft(stack=stack, exclude_services=exclude)
        if target is None or target.sha256 != draft.sha256:
            mismatched.append(stack.label)
    if mismatched:
        raise CampaignRefused(
            "what is deployed is not the target design on " + ", ".join(mismatched)
        )
    campaign.end_state = figures.measure(
        Service.objects.filter(id__in=campaign.services.values("id")).select_related("stack")
    )
    campaign.phase = Phase.DONE
    campaign.status = CampaignStatus.DONE
    campaign.finished_at = timezone.now()
    campaign.save(update_fields=["end_state", "phase", "status", "finished_at"])
    Service.objects.filter(id__in=campaign.services.values("id")).update(phase=Phase.DONE)
    _record(actor, "done", campaign, {"totals": campaign.end_state["totals"]})


@transaction.atomic
def step_approve(
    *, actor: User, step: Step, confirm_stale: str = "", acknowledge_impact: str = ""
) -> Step:
    """The second person: approves the step's deployment (a cohort's, or an abort's restore)
    through fleet's four-eyes approval (refused, with nothing changed, to its requester and to
    its versions' author). When the step's stored prediction says peers will break, the
    approval needs `acknowledge_impact`, why they may (fleet.services.deployment_approve
    refuses it without, DeploymentImpactUnacknowledged, and stores it with the deployment)."""
    _operates(actor)
    locked = Step.objects.select_for_update().get(pk=step.pk)
    if locked.status != StepStatus.REQUESTED or locked.deployment is None:
        raise CampaignRefused(f"step {locked.position} is {locked.get_status_display().lower()}")
    try:
        fleet.deployment_approve(
            deployment=locked.deployment,
            actor=actor,
            confirm_stale=confirm_stale,
            acknowledge_impact=acknowledge_impact,
        )
    except fleet.DeploymentForbidden as error:
        raise CampaignForbidden(str(error)) from None
    locked.status = StepStatus.DEPLOYING
    locked.error = ""  # what it waited for (an acknowledgement auto-promotion does not give)
    locked.save(update_fields=["status", "error"])
    after: dict[str, Any] = {"step": locked.position, "deployment": str(locked.deployment.uuid)}
    # Stored by fleet only when the prediction named peers that will break.
    acknowledged = ImpactAcknowledgement.objects.filter(deployment=locked.deployment).first()
    if acknowledged is not None:
        after["impact_acknowledged"] = {
            "reason": acknowledged.reason,
            "peers": len(acknowledged.peers),
        }
    _record(actor, "approve", locked.campaign, after)
    return locked


@transaction.atomic
def campaign_pause(*, actor: User, campaign: Campaign, reason: str = "") -> Campaign:
    """No promotion while paused; gates are still evaluated."""
    _operates(actor)
    locked = _locked(campaign)
    if locked.status != CampaignStatus.ACTIVE:
        raise CampaignRefused(f"the campaign is {locked.get_status_display().lower()}")
    locked.status, locked.status_reason = CampaignStatus.PAUSED, reason
    locked.save(update_fields=["status", "status_reason"])
    _record(actor, "pause", locked, {"status": locked.status}, reason)
    return locked


@transaction.atomic
def campaign_resume(*, actor: User, campaign: Campaign, reason: str = "") -> Campaign:
    """Paused: active again. Held: the failed step bakes again from now, its failures
    counted anew, its incident resolved (the cause was dealt with, `reason` says how)."""
    _operates(actor)
    locked = _locked(campaign)
    if locked.status == CampaignStatus.HELD:
        if not reason.strip():
            raise ValidationError({"reason": "Say what was done about the failed gate."})
        step = current_step(locked)
        if step is not None and step.status == StepStatus.FAILED and step.bake_started_at:
            now = timezone.now()
            step.status = StepStatus.BAKING
            step.bake_started_at = now
            step.bake_ends_at = now + timedelta(seconds=locked.bake_seconds)
            step.failures, step.verdict, step.error, step.finished_at = {}, {}, "", None
            step.save()
            evaluate_at_bake_end(step)
            if replay.is_lab_step(step):
                # What the lab refused may have been fixed there: replayed again.
                replay.replay_request(step)
            _resolve(step, f"resumed by {actor}: {reason}")
    elif locked.status != CampaignStatus.PAUSED:
        raise CampaignRefused(f"the campaign is {locked.get_status_display().lower()}")
    locked.status, locked.status_reason = CampaignStatus.ACTIVE, ""
    locked.save(update_fields=["status", "status_reason"])
    _record(actor, "resume", locked, {"status": locked.status}, reason)
    return locked


@transaction.atomic
def step_request_again(*, actor: User, campaign: Campaign, reason: str) -> Step:
    """A held campaign's failed cohort step, requested again from the design as it is now
    (less the later cohorts and the held-back rules): new versions, another operator's
    approval (four eyes), a bake of its own. For what only a new version reaches, such as an
    SSL environment rebuilt after a certificate renewal (EnvironmentUserInstance raised on
    the environment action: AT-TLS keeps the certificate an open environment read until
    then). The failed step stays as it was, its gate incident resolved."""
    _operates(actor)
    if not reason.strip():
        raise ValidationError({"reason": "Say what changed in the design (it is recorded)."})
    locked = _locked(campaign)
    if locked.status != CampaignStatus.HELD:
        raise CampaignRefused(f"the campaign is {locked.get_status_display().lower()}")
    step = current_step(locked)
    if step is None or step.kind != StepKind.COHORT or step.status != StepStatus.FAILED:
        raise CampaignRefused("only a cohort step whose gate failed is requested again")
    again = Step.objects.create(
        campaign=locked, position=step.position + 1, cohort=step.cohort, requested_by=actor
    )
    _resolve(step, f"requested again by {actor}: {reason}")
    locked.status, locked.status_reason = CampaignStatus.ACTIVE, ""
    locked.save(update_fields=["status", "status_reason"])
    _record(
        actor,
        "request again",
        locked,
        {"step": again.position, "failed_step": step.position, "cohort": step.cohort.name},
        reason,
    )
    _enqueue_start(again)
    return again


def _resolve(step: Step, resolution: str) -> None:
    if step.incident_id is not None:
        Incident.objects.filter(pk=step.incident_id, resolved_at=None).update(
            resolved_at=timezone.now(), resolution=resolution
        )


@transaction.atomic
def gate_skip_request(*, actor: User, step: Step, reason: str) -> ActionRequest:
    _operates(actor)
    if not reason.strip():
        raise ValidationError({"reason": "Say why the gate may be skipped (it is recorded)."})
    locked = Step.objects.select_for_update().get(pk=step.pk)
    if locked.status not in (StepStatus.BAKING, StepStatus.FAILED):
        raise CampaignRefused(f"step {locked.position} is {locked.get_status_display().lower()}")
    action = ActionRequest.objects.create(
        step=locked, kind=ActionKind.SKIP_GATE, reason=reason.strip(), requested_by=actor
    )
    _record(actor, "skip gate?", locked.campaign, {"step": locked.position}, reason)
    return action


@transaction.atomic
def gate_skip_approve(*, actor: User, action: ActionRequest) -> Step:
    """A second person lets the step pass without its gate; the step is flagged skipped."""
    _operates(actor)
    locked = ActionRequest.objects.select_for_update().get(pk=action.pk)
    if locked.status != ActionStatus.PENDING:
        raise CampaignRefused(f"this request is {locked.get_status_display().lower()}")
    if same_person(locked.requested_by, actor):
        raise CampaignForbidden(
            "you asked for this skip yourself; another operator must approve it"
        )
    step = Step.objects.select_for_update().get(pk=locked.step_id)
    if step.status not in (StepStatus.BAKING, StepStatus.FAILED):
        raise CampaignRefused(f"step {step.position} is {step.get_status_display().lower()}")
    now = timezone.now()
    locked.status, locked.approved_by, locked.approved_at = ActionStatus.APPROVED, actor, now
    locked.save(update_fields=["status", "approved_by", "approved_at"])
    step.status, step.gate_skipped, step.finished_at = StepStatus.PASSED, True, now
    step.save(update_fields=["status", "gate_skipped", "finished_at"])
    _resolve(step, f"gate skipped: {locked.reason}")
    campaign = _locked(step.campaign)
    if campaign.status == CampaignStatus.HELD:
        campaign.status, campaign.status_reason = CampaignStatus.ACTIVE, ""
        campaign.save(update_fields=["status", "status_reason"])
    _record(
        actor,
        "skip gate",
        campaign,
        {"step": step.position, "requested_by": str(locked.requested_by), "flagged": True},
        locked.reason,
    )
    return step


def _restore_after(step: Step, actor: User) -> Step:
    """The abort's step after `step`: redeploys the versions before it, started by a worker."""
    restore = Step.objects.create(
        campaign_id=step.campaign_id,
        position=step.position + 1,
        kind=StepKind.ABORT,
        requested_by=actor,
        previous_versions=step.previous_versions,
    )
    _enqueue_start(restore)
    return restore


@transaction.atomic
def campaign_abort(*, actor: User, campaign: Campaign, reason: str) -> Step | None:
    """Rolls the current cohort back: what each of its stacks ran before the step is requested
    again (a rollback, verified by its own verification), and the campaign ends aborted once
    it is deployed. The restore is a rollback like any other: another operator approves it
    (four eyes; step_approve), and it waits while another request is pending on one of its
    stacks (one pending request per stack). A step whose own request still waits for
    approval is cancelled instead: nothing of it ran. A restore rejected or failed may be
    requested again by aborting again."""
    _operates(actor)
    if not reason.strip():
        raise ValidationError({"reason": "Say why the campaign is aborted."})
    locked = _locked(campaign)
    if locked.status in (CampaignStatus.ABORTED, CampaignStatus.DONE):
        raise CampaignRefused(f"the campaign is {locked.get_status_display().lower()}")
    step = current_step(locked)
    now = timezone.now()
    restore = None
    if step is not None and step.kind == StepKind.ABORT:
        if step.status != StepStatus.FAILED:
            raise CampaignRefused(
                f"an abort's restore is under way already (step {step.position}:"
                f" {step.get_status_display().lower()})"
            )
        # Its restore was rejected, cancelled or failed: requested anew, four eyes again.
        restore = _restore_after(step, actor)
        _resolve(step, f"abort requested again by {actor}: {reason}")
    elif step is not None and step.kind == StepKind.COHORT:
        step = Step.objects.select_for_update().get(pk=step.pk)
        if step.status == StepStatus.PENDING or step.deployment_id is None:
            step.status = StepStatus.ABORTED  # never started (or failed to): nothing to undo
        elif step.status == StepStatus.REQUESTED and step.deployment is not None:
            # Its own request never ran: cancelled, nothing to restore (and the stack's one
            # pending request is free again).
            fleet.deployment_cancel(deployment=step.deployment, actor=actor, reason=reason)
            step.status = StepStatus.ABORTED
        else:
            step.status = StepStatus.ABORTED
            restore = _restore_after(step, actor)
        step.finished_at = step.finished_at or now
        step.save(update_fields=["status", "finished_at"])
        _resolve(step, f"campaign aborted by {actor}: {reason}")
    if restore is None:
        locked.status, locked.finished_at = CampaignStatus.ABORTED, now
    locked.status_reason = reason
    locked.save(update_fields=["status", "finished_at", "status_reason"])
    _record(actor, "abort", locked, {"step": step.position if step else None}, reason)
    return restore


@transaction.atomic
def service_rule_rollback(
    *, actor: User, campaign: Campaign, service: Service, reason: str
) -> Any | None:
    """The account's fast rollback: the deployed policy less this service's rule, requested
    (fleet.services.remove_rule: another operator approves it, four eyes, and it is refused
    while another request is pending on the stack), and the rule held back from the
    campaign's later versions.
    A rule its stack does not run yet (a later cohort's) is only held back: nothing to deploy,
    None. The lab's copies are offered too (rule_rollback_candidates): what the lab showed
    wrong is taken out of the lab as production's rule is held back."""
    _operates(actor)
    if not reason.strip():
        raise ValidationError({"reason": "Say why the rule is rolled back."})
    locked = _locked(campaign)
    if not rule_rollback_candidates(locked).filter(pk=service.pk).exists():
        raise CampaignRefused(f"{service.name} is not in the campaign's scope")
    if locked.held_back.filter(pk=service.pk).exists():
        raise CampaignRefused(f"{service.name} on {service.stack.label} is held back already")
    current = deployed_target(service.stack)
    deployment = None
    if current is not None and service.name in parse_policy(current.text).rules:
        try:
            deployment = fleet.remove_rule(
                actor=actor, stack=service.stack, rule=service.name, note=reason
            )
        except fleet.DeploymentRefused as error:
            raise CampaignRefused(str(error)) from None
    locked.held_back.add(service)
    _record(
        actor,
        "rule rollback" if deployment is not None else "rule hold back",
        locked,
        {
            "service": service.name,
            "stack": service.stack.label,
            "deployment": str(deployment.uuid) if deployment is not None else None,
        },
        reason,
    )
    return deployment


def rule_rollback_candidates(campaign: Campaign) -> QuerySet[Service]:
    """The services whose rule the campaign may roll back or hold back: its scope's, and the
    lab cohort's copies of them on the lab stack (held back ones included)."""
    lab = campaign.cohorts.filter(kind=CohortKind.LAB).values("services__id")
    return Service.objects.filter(
        Q(id__in=campaign.services.values("id")) | Q(id__in=lab)
    ).select_related("stack__lpar")


def excluded_now(campaign: Campaign) -> set[int]:
    """What the current versions leave out (for pages): later cohorts and held-back rules."""
    step = current_step(campaign)
    upto = step.cohort.position if step is not None and step.cohort is not None else -1
    return excluded_services(campaign, upto)
