"""Celery tasks of the campaigns: ids only, each safe to run twice.

- `start_step`: publishes and requests a step's deployment, once (rollouts.steps.step_start).
- `evaluate_campaign`: follows a campaign's current step; enqueued on every verification of
  one of its stacks (fleet's verification_finished) and by beat for every running step (the
  bake's end, a deployment's end, a lost message), on the `default` queue.
- `replay_lab`: the lab step's replay of the production peers, once its deployment is
  verified (rollouts.replay).
- `resume_pending_steps` (beat): steps left pending by a worker that stopped are started again,
  and so are lab replays whose message was lost or whose worker stopped (rollouts.replay).
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rollouts import replay, services, steps
from rollouts.models import CampaignStatus, Step, StepStatus

RUNNING = (StepStatus.REQUESTED, StepStatus.DEPLOYING, StepStatus.BAKING)


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@shared_task
def start_step(step_id: int) -> str:
    step = steps.step_start(step_id, _worker())
    return "not pending" if step is None else str(step.status)


@shared_task
def evaluate_campaign(campaign_id: int) -> str:
    status = steps.campaign_evaluate(campaign_id)
    if status == StepStatus.PASSED:
        services.campaign_auto_promote(campaign_id)
    return status


@shared_task
def replay_lab(step_id: int) -> str:
    """The lab step's replay of the production peers (rollouts.replay), then its gate."""
    done = replay.lab_replay_run(step_id, _worker())
    if done is None:
        return "not pending"
    evaluate_campaign.delay(done.step.campaign_id)
    return str(done.status)


def active_campaign_ids(stack_id: int | None = None) -> list[int]:
    """Campaigns whose current step runs, on `stack_id` when given (one query)."""
    found = Step.objects.filter(
        status__in=RUNNING,
        campaign__status__in=(CampaignStatus.ACTIVE, CampaignStatus.PAUSED, CampaignStatus.HELD),
    )
    if stack_id is not None:
        found = found.filter(versions__has_key=str(stack_id))
    return sorted(set(found.values_list("campaign_id", flat=True)))


def on_verification_finished(sender: Any, *, run_id: int, stack_id: int, **kwargs: Any) -> None:
    for campaign_id in active_campaign_ids(stack_id):
        transaction.on_commit(lambda c=campaign_id: evaluate_campaign.delay(c))


@shared_task
def evaluate_running_campaigns() -> int:
    ids = active_campaign_ids()
    for campaign_id in ids:
        evaluate_campaign.delay(campaign_id)
    return len(ids)


@shared_task
def resume_pending_steps() -> int:
    stale = timezone.now() - timedelta(seconds=settings.ROLLOUTS_STEP_STALE_SECONDS)
    ids = list(
        Step.objects.filter(status=StepStatus.PENDING, created_at__lt=stale).values_list(
            "id", flat=True
        )
    )
    for step_id in ids:
        start_step.delay(step_id)
    replays = replay.reclaim_stale()
    for step_id in replays:
        replay_lab.delay(step_id)
    return len(ids) + len(replays)
