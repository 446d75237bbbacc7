"""Celery tasks of the fleet. They take ids only, claim their row, and are safe to run twice.

Queues (CELERY_TASK_ROUTES in portal/settings.py): `deploy` for deployments, `verify` for
verifications; beat only enqueues.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fleet import deploy, verify
from fleet.connectors.base import Connector, ConnectorError
from fleet.connectors.factory import connector_for
from fleet.models import (
    Deployment,
    DeploymentTarget,
    LparConnection,
    RunStatus,
    VerificationRun,
)

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _verify_for_deployment(target: DeploymentTarget, connector: Connector) -> VerificationRun:
    """The deployment's own verification, judged against what it deployed (not against
    the stack's previous deployment, which is still the last succeeded one meanwhile)."""
    run = VerificationRun.objects.create(
        stack=target.stack,
        deployment=target.deployment,
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
    )
    try:
        return verify.verify(run, connector, expected=target)
    except Exception as error:
        # The run ends with the reason; the deployment restores last-known-good.
        VerificationRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED, error=f"{error}", finished_at=timezone.now()
        )
        raise


@shared_task
def run_deployment(deployment_id: int) -> str:
    deployment = deploy.claim(
        deployment_id, worker_name(), stale_after=settings.FLEET_DEPLOY_STALE_SECONDS
    )
    if deployment is None:
        return "not claimed: finished, running elsewhere, or not approved"
    runner = deploy.Runner(
        deployment,
        connector_for=lambda target: connector_for(target.stack.lpar.connection),
        verify=_verify_for_deployment,
    )
    try:
        if deployment.attempts > settings.FLEET_DEPLOY_MAX_CLAIMS:
            # Its workers kept stopping mid-run (a crash, a machine lost): pushing again
            # would likely stop again, so the stack goes back to last-known-good instead.
            runner.give_up(
                f"given up after {deployment.attempts - 1} workers stopped in the middle of it;"
                " the stack was restored to last-known-good"
            )
        else:
            runner.run()
    except Exception as error:  # Runner.run ends its rows itself; this is the last resort
        log.exception("deployment %s failed unexpectedly", deployment.uuid)
        deploy.abandon(deployment, f"internal error: {error!r}")
    return str(Deployment.objects.get(pk=deployment.pk).status)


@shared_task
def resume_stale_deployments() -> int:
    """Re-enqueues running deployments whose worker stopped (claim() decides who takes them),
    and ends the verifications whose worker stopped: nothing stays "Running" without one."""
    verify.end_abandoned_runs(older_than=timedelta(seconds=settings.FLEET_VERIFY_STALE_SECONDS))
    stale = timezone.now() - timedelta(seconds=settings.FLEET_DEPLOY_STALE_SECONDS)
    ids = list(
        Deployment.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=stale).values_list(
            "id", flat=True
        )
    )
    for deployment_id in ids:
        run_deployment.delay(deployment_id)
    return len(ids)


@shared_task
def run_verification(run_id: int) -> str:
    claimed = VerificationRun.objects.filter(id=run_id, status=RunStatus.PENDING).update(
        status=RunStatus.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return "not claimed"
    run = VerificationRun.objects.select_related("stack__lpar__connection").get(id=run_id)
    try:
        with connector_for(run.stack.lpar.connection) as connector:
            verify.verify(run, connector)
    except ConnectorError as error:
        VerificationRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED, error=str(error), finished_at=timezone.now()
        )
        return "failed"
    except Exception as error:  # recorded on the run; the worker goes on
        log.exception("verification %s failed unexpectedly", run.uuid)
        VerificationRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FAILED, error=f"internal error: {error!r}", finished_at=timezone.now()
        )
        return "failed"
    return "succeeded"


def verification_request(*, stack_id: int, deployment_id: int | None = None) -> VerificationRun:
    """Creates a pending run and enqueues it after the transaction commits."""
    run = VerificationRun.objects.create(stack_id=stack_id, deployment_id=deployment_id)
    transaction.on_commit(lambda: run_verification.delay(run.id))
    return run


@shared_task
def schedule_verifications() -> int:
    """Enqueues a verification for every stack of each LPAR whose interval has passed."""
    now = timezone.now()
    count = 0
    for connection in LparConnection.objects.filter(enabled=True).select_related("lpar"):
        due = connection.last_verified_at is None or (
            connection.last_verified_at + timedelta(seconds=connection.verification_interval) <= now
        )
        if not due:
            continue
        busy = VerificationRun.objects.filter(
            stack__lpar=connection.lpar,
            status__in=(RunStatus.PENDING, RunStatus.RUNNING),
            created_at__gte=now - timedelta(seconds=max(60, 3 * connection.verification_interval)),
        ).exists()
        if busy:
            continue
        with transaction.atomic():
            # Claim the slot so a second beat tick does not schedule the same LPAR again.
            taken = LparConnection.objects.filter(
                pk=connection.pk, last_verified_at=connection.last_verified_at
            ).update(last_verified_at=now)
            if not taken:
                continue
            for stack in connection.lpar.stacks.all():
                verification_request(stack_id=stack.id)
                count += 1
    return count


@shared_task
def prune_observations() -> int:
    return verify.prune_observations(
        older_than=timedelta(hours=settings.FLEET_OBSERVATION_RETENTION_HOURS)
    )


# --- zERT collection (fleet/zert/), on its own queue `zert` -----------------------------------


@shared_task
def run_zert_collection(run_id: int) -> str:
    from fleet.zert import collect

    run = collect.claim(run_id)
    if run is None:
        return "not claimed"
    return str(collect.collect(run).status)


@shared_task
def schedule_zert_collections() -> int:
    """Enqueues a zERT run for every LPAR connection with zERT on whose interval has passed."""
    from fleet.models import ZertRun
    from fleet.zert import collect

    now = timezone.now()
    count = 0
    for connection in LparConnection.objects.filter(zert_enabled=True):
        due = connection.last_zert_at is None or (
            connection.last_zert_at + timedelta(seconds=connection.zert_interval) <= now
        )
        if not due:
            continue
        busy = ZertRun.objects.filter(
            connection=connection,
            status__in=(RunStatus.PENDING, RunStatus.RUNNING),
            created_at__gte=now - timedelta(seconds=settings.ZERT_STALE_SECONDS),
        ).exists()
        if busy:
            continue
        with transaction.atomic():
            # Claim the slot so a second beat tick does not schedule the same LPAR again.
            taken = LparConnection.objects.filter(
                pk=connection.pk, last_zert_at=connection.last_zert_at
            ).update(last_zert_at=now)
            if taken:
                collect.run_request(connection=connection)
                count += 1
    return count


@shared_task
def prune_zert_records() -> int:
    """Raw zERT rows past the retention go (whole monthly partitions on PostgreSQL); the
    daily roll-ups stay. Runs left pending or running past ZERT_STALE_SECONDS end failed."""
    from fleet.models import ZertRun
    from fleet.zert import ingest

    stale = timezone.now() - timedelta(seconds=settings.ZERT_STALE_SECONDS)
    ZertRun.objects.filter(
        status__in=(RunStatus.PENDING, RunStatus.RUNNING), created_at__lt=stale
    ).update(
        status=RunStatus.FAILED,
        error="its worker stopped (or its message was lost) before it ended",
        finished_at=timezone.now(),
    )
    return ingest.prune(older_than=timedelta(days=settings.ZERT_RETENTION_DAYS))
