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
from policies.choices import Phase
from rollouts import selectors
from rollouts.models import (
    ActionRequest,
    ActionStatus,
    Campaign,
    CampaignStatus,
    Step,
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
    if campaign.status == CampaignStatus.PAUSED:
        return NextAction("resume", "Resume the paused campaign.", OPERATOR, operates, ["abort"])
    if campaign.status == CampaignStatus.HELD:
        return NextAction(
            "resume",
            "A gate failed: deal with the cause and resume (the step bakes again), skip the"
            " gate with a second person, roll one service's rule back, or abort.",
            OPERATOR,
            operates,
            ["skip-gate", "rule-rollback", "abort"],
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
        excluded = {step.requested_by.get_username()} | {
            a.get_username() for a in versions_authors(step)
        }
        mine = any(same_person(a, user) for a in [step.requested_by, *versions_authors(step)])  # type: ignore[arg-type]
        return NextAction(
            "approve",
            f"Approve step {step.position}'s deployment (four eyes).",
            f"{OPERATOR} other than {', '.join(sorted(excluded))}",
            operates and not mine,
            ["abort"],
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
