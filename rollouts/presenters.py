"""What a campaign's page and API show besides its rows: the next action and who may take it.

One place answers "what happens next, and whose turn is it", so the page, the API and the
README's story cannot disagree: each answer names the action (the API's action name), a
sentence, who may take it (a role, and who is excluded by four eyes), and whether the person
asking may take it now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from accounts.identity import same_person
from fleet import services as fleet
from policies.choices import Phase
from rollouts import selectors
from rollouts.models import (
    ActionRequest,
    ActionStatus,
    Campaign,
    CampaignStatus,
    Step,
    StepKind,
    StepStatus,
)
from rollouts.steps import current_step

User = AbstractBaseUser | AnonymousUser

OPERATOR = "an operator"
PLANNER = "an architect or an operator"


@dataclass
class NextAction:
    action: str  # the API action's name ("" when the portal is the one to act)
    text: str
    who: str  # who may take it: a role, with four eyes' exclusions
    yours: bool  # the person asking may take it now
    also: list[str] = field(default_factory=list)  # other actions open now


def pending_skip(step: Step | None) -> ActionRequest | None:
    if step is None:
        return None
    return step.actions.filter(status=ActionStatus.PENDING).select_related("requested_by").first()


def versions_authors(step: Step) -> list[Any]:
    if step.deployment is None:
        return []
    return [t.version.author for t in step.deployment.targets.select_related("version__author")]


def next_action(campaign: Campaign, user: User) -> NextAction:
    operates = selectors.operates(user)
    plans = selectors.plans(user)
    if campaign.status == CampaignStatus.DONE:
        return NextAction("", "Done: the end state is measured and frozen.", "nobody", False)
    if campaign.status == CampaignStatus.ABORTED:
        return NextAction("", "Aborted: the previous versions were restored.", "nobody", False)
    step = current_step(campaign)
    skip = pending_skip(step)
    if skip is not None:
        mine = same_person(skip.requested_by, user)  # type: ignore[arg-type]
        return NextAction(
            "approve-skip",
            f"Approve skipping step {step.position}'s gate (asked by"  # type: ignore[union-attr]
            f" {skip.requested_by.get_username()}: {skip.reason})",
            f"{OPERATOR} other than {skip.requested_by.get_username()}",
            operates and not mine,
        )
    if step is not None and step.kind == StepKind.ABORT:
        return _abort_action(step, user, operates)
    if campaign.status == CampaignStatus.PAUSED:
        return NextAction("resume", "Resume the paused campaign.", OPERATOR, operates, ["abort"])
    if campaign.status == CampaignStatus.HELD:
        return NextAction(
            "resume",
            "A gate failed: deal with the cause and resume (the step bakes again), request"
            " the step again from the design (new versions), skip the gate with a second"
            " person, roll one service's rule back, or abort.",
            OPERATOR,
            operates,
            ["skip-gate", "request-again", "rule-rollback", "abort"],
        )
    if campaign.phase == Phase.INVENTORY:
        return NextAction(
            "baseline",
            "Freeze the baseline from the stacks' latest verifications and zERT.",
            PLANNER,
            plans,
        )
    if campaign.phase == Phase.DESIGN:
        return NextAction(
            "design-complete",
            "Leave the design phase: every stack's target policy lint and compliance clean.",
            PLANNER,
            plans,
        )
    if step is None or step.status == StepStatus.PASSED:
        last = campaign.cohorts.order_by("-position").first()
        finishing = step is not None and last is not None and step.cohort_id == last.id
        text = (
            "Promote: finish the campaign (the end state is measured)."
            if finishing
            else "Promote: start the next cohort's step."
        )
        if campaign.auto_promote and step is not None:
            text += " Auto-promotion is on: the portal promotes it itself."
        return NextAction("promote", text, OPERATOR, operates, ["pause", "abort"])
    if step.status == StepStatus.REQUESTED:
        return _approve_action(
            step, user, operates, f"Approve step {step.position}'s deployment (four eyes)."
        )
    if step.status == StepStatus.PENDING and step.error:
        return NextAction(
            "", f"Step {step.position} is {step.error}", "the portal", False, ["abort"]
        )
    if step.status == StepStatus.BAKING:
        return NextAction(
            "",
            f"Baking until {step.bake_ends_at:%Y-%m-%d %H:%M:%S} UTC: the gate is judged on"
            " every verification.",
            "the portal",
            False,
            ["skip-gate", "pause", "rule-rollback", "abort"],
        )
    return NextAction(
        "",
        f"Step {step.position} is {step.get_status_display().lower()}: the worker moves it on.",
        "the portal",
        False,
        ["abort"],
    )


def _approve_action(step: Step, user: User, operates: bool, text: str) -> NextAction:
    """Approving the step's pending deployment: four eyes, and the acknowledgement of the
    peers its prediction says will break (fleet.services.deployment_approve)."""
    authors = versions_authors(step)
    excluded = {step.requested_by.get_username()} | {a.get_username() for a in authors}
    mine = any(same_person(a, user) for a in [step.requested_by, *authors])  # type: ignore[arg-type]
    assert step.deployment is not None
    will_break = len(fleet.breaking_peers(step.deployment))
    if will_break:
        text += (
            f" The prediction says {will_break} peer(s) will break: the approval needs an"
            " acknowledgement that says why they may."
        )
    if step.error:
        text += f" Note: {step.error}."
    return NextAction(
        "approve",
        text,
        f"{OPERATOR} other than {', '.join(sorted(excluded))}",
        operates and not mine,
        [] if step.kind == StepKind.ABORT else ["abort"],
    )


def _abort_action(step: Step, user: User, operates: bool) -> NextAction:
    """An abort's restore: requested by the worker, approved by a second operator, then
    deployed and verified; requested again by aborting again when it failed."""
    if step.status == StepStatus.REQUESTED:
        return _approve_action(
            step,
            user,
            operates,
            f"Approve the abort's restore (step {step.position}): the versions each stack ran"
            " before the aborted step, deployed again (a rollback, four eyes).",
        )
    if step.status == StepStatus.FAILED:
        return NextAction(
            "abort",
            f"The abort's restore (step {step.position}) did not happen: {step.error}. Abort"
            " again to request it anew (a second operator approves it).",
            OPERATOR,
            operates,
        )
    if step.status == StepStatus.PENDING and step.error:
        return NextAction("", f"The abort's restore is {step.error}", "the portal", False)
    return NextAction(
        "",
        f"The abort's restore (step {step.position}) is {step.get_status_display().lower()}:"
        " the worker moves it on.",
        "the portal",
        False,
    )
