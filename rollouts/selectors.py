"""Reads of campaigns that depend on who asks: the estate sees campaigns, nobody else."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from accounts.roles import Capability, has_capability
from rollouts.models import ActionRequest, Campaign, Step

User = AbstractBaseUser | AnonymousUser


def sees_campaigns(user: User) -> bool:
    return has_capability(user, Capability.VIEW_ESTATE)  # type: ignore[arg-type]


def plans(user: User) -> bool:
    """Architects and operators plan (create, cohorts, settings, baseline, design)."""
    return has_capability(user, Capability.PUBLISH) or has_capability(user, Capability.OPERATE)  # type: ignore[arg-type]


def operates(user: User) -> bool:
    return has_capability(user, Capability.OPERATE)  # type: ignore[arg-type]


def campaign_list_for(*, user: User) -> QuerySet[Campaign]:
    campaigns = Campaign.objects.select_related("owner").prefetch_related("stacks__lpar")
    return campaigns if sees_campaigns(user) else campaigns.none()


def campaign_for(*, user: User, uuid: Any) -> Campaign:
    """The campaign, or Campaign.DoesNotExist (also for someone who may not see it)."""
    return campaign_list_for(user=user).get(uuid=uuid)


def step_list_for(*, user: User) -> QuerySet[Step]:
    found = Step.objects.select_related(
        "campaign", "cohort", "deployment", "requested_by", "incident"
    )
    return found if sees_campaigns(user) else found.none()


def action_list_for(*, user: User) -> QuerySet[ActionRequest]:
    found = ActionRequest.objects.select_related("step__campaign", "requested_by", "approved_by")
    return found if sees_campaigns(user) else found.none()
