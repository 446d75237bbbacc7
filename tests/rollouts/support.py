"""Helpers of the campaign tests: stored verifications, a deployment ended as the worker ends
it, a campaign planned to its pilot; and the objects the role walk's campaign URLs name."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from fleet.models import (
    Deployment,
    DeploymentTarget,
    LparConnection,
    RunStatus,
    TargetStatus,
    VerificationRun,
)
from policies.models import Lpar, Stack
from portal.seed import load_scenario, seed_datacenter
from rollouts import services, steps
from rollouts.models import ActionKind, ActionRequest, Step
from rollouts.planning_views import COHORT_ACTIONS
from rollouts.views import ACTIONS


def reference_estate() -> list[Stack]:
    """The seeded reference design; SYSA and SYSB with an LPAR connection (never dialled)."""
    seed_datacenter(scenario=load_scenario())
    for lpar in Lpar.objects.filter(name__in=["SYSA", "SYSB"]):
        LparConnection.objects.create(lpar=lpar, username="ATTLSADM", ca_bundle="-")
    return list(Stack.objects.filter(lpar__name__in=["SYSA", "SYSB"]).order_by("lpar__name"))


def verified(stack: Stack, *, secured: bool, refused: int = 0, extra_ms: float = 0.0) -> None:
    """A succeeded verification of `stack` with every service's figures."""
    results: dict[str, Any] = {"services": {}}
    for service in stack.services.all():
        results["services"][service.name] = {
            "connections": 10,
            "secured": 10 if secured else 4,
            "protocols": {"TLSv1.3": 10} if secured else {"cleartext": 6, "TLSv1": 4},
            "refused": refused,
            "probe_connect_ms": 1.0,
            "probe_handshake_ms": (2.0 + extra_ms) if secured else None,
        }
    now = timezone.now()
    VerificationRun.objects.create(
        stack=stack, status=RunStatus.SUCCEEDED, started_at=now, finished_at=now, results=results
    )


def deployed(step: Any) -> None:
    """The step's deployment as the fleet's worker ends it when everything went well."""
    now = timezone.now()
    Deployment.objects.filter(pk=step.deployment_id).update(
        status=RunStatus.SUCCEEDED, finished_at=now
    )
    DeploymentTarget.objects.filter(deployment_id=step.deployment_id).update(
        status=TargetStatus.SUCCEEDED, finished_at=now
    )


def planned(estate: list[Stack], people: dict[str, Any], **fields: Any) -> Any:
    campaign = services.campaign_create(
        actor=people["alice"], name="SYSA and SYSB", stacks=estate, bake_seconds=60, **fields
    )
    for stack in estate:
        verified(stack, secured=False)
    services.campaign_baseline_freeze(actor=people["alice"], campaign=campaign)
    services.campaign_design_complete(actor=people["alice"], campaign=campaign)
    campaign.refresh_from_db()
    return campaign


def promoted_and_deployed(campaign: Any, people: dict[str, Any]) -> Step:
    """The campaign's next step promoted by alice, started, approved by bob and deployed."""
    step = services.campaign_promote(actor=people["alice"], campaign=campaign)
    steps.step_start(step.id, "test")
    services.step_approve(actor=people["bob"], step=Step.objects.get(pk=step.id))
    step.refresh_from_db()
    deployed(step)
    return step


def rollouts_walk_kwargs(design: Any) -> dict[str, dict[str, Any]]:
    """For tests/portal/test_role_walk.py: a campaign in its inventory (planned by the
    architect), a pending step and a pending gate-skip request the architect asked for, so
    that the walk's operator is not excluded by four eyes (refusals are then 409 or 400)."""
    campaign = services.campaign_create(
        actor=design.architect, name="Walk", stacks=list(design.stacks.values())
    )
    step = Step.objects.create(
        campaign=campaign,
        position=0,
        cohort=campaign.cohorts.first(),
        requested_by=design.architect,
    )
    asked = ActionRequest.objects.create(
        step=step, kind=ActionKind.SKIP_GATE, reason="walk", requested_by=design.architect
    )
    kwargs: dict[str, dict[str, Any]] = {
        name: {"campaign": campaign.uuid}
        for name in (
            "rollouts-api:campaign-detail",
            "rollouts-api:campaign-report",
            "rollouts-api:campaign-abort",
            "rollouts-api:campaign-approve",
            "rollouts-api:campaign-auto-promote",
            "rollouts-api:campaign-baseline",
            "rollouts-api:campaign-cohort",
            "rollouts-api:campaign-cohort-add",
            "rollouts-api:campaign-cohort-rename",
            "rollouts-api:campaign-cohort-remove",
            "rollouts-api:campaign-cohort-move",
            "rollouts-api:campaign-design-complete",
            "rollouts-api:campaign-pause",
            "rollouts-api:campaign-promote",
            "rollouts-api:campaign-request-again",
            "rollouts-api:campaign-resume",
            "rollouts-api:campaign-rule-rollback",
            "rollouts-api:campaign-settings-update",
            "rollouts-api:campaign-skip-gate",
        )
    }
    planning = ("campaign-gates", "campaign-cohorts", *(f"cohort-{a}" for a in COHORT_ACTIONS))
    for name in ("campaign", *(f"campaign-{a}" for a in ACTIONS), *planning):
        kwargs[f"rollouts:{name}"] = {"campaign": campaign.uuid}
    kwargs["rollouts-api:step-detail"] = {"step": step.uuid}
    kwargs["rollouts-api:request-detail"] = {"request_id": asked.uuid}
    kwargs["rollouts-api:request-approve"] = {"request_id": asked.uuid}
    return kwargs
