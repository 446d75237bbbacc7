"""One verification run from start to end: collect, attribute, judge, record."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from attls.policy import parse_policy
from fleet import selectors
from fleet.connectors.base import Connector
from fleet.impact.compare import open_unpredicted, syslog_read_at
from fleet.impact.history import record_refusals
from fleet.models import (
    DeploymentTarget,
    RunStatus,
    VerificationRun,
)
from fleet.refusals import apply_refusals
from fleet.signals import verification_finished
from fleet.stored_figures import figures_store
from fleet.verify.certificates import _certificates
from fleet.verify.collect import _collect
from fleet.verify.drift import _apply_drift, _conditions, _read_policy_file, in_flux
from fleet.verify.figures import _figures, _observe, _seen, _service_keys
from fleet.verify.snapshot import _previous
from policies.models import Stack


def deployed_target(stack: Stack) -> DeploymentTarget | None:
    """The last target that reached this stack successfully: what should be loaded now
    (one query, fleet.selectors.deployed_target)."""
    return selectors.deployed_target(stack)


# --- the run --------------------------------------------------------------------------------


def verify(
    run: VerificationRun, connector: Connector, *, expected: DeploymentTarget | None = None
) -> VerificationRun:
    """Runs a claimed verification to the end; the caller claimed it and handles errors.

    `expected`: the target a deployment is verifying, judged against what it deployed.
    Without it the run judges against what was deployed when its snapshot was taken; when a
    deployment was changing the stack during the snapshot, the run cannot tell drift from
    that deployment, so it judges no drift of the policy (and opens or resolves none).
    """
    stack = run.stack
    connection = stack.lpar.connection
    now = timezone.now()
    snapshot_from = run.started_at or now
    deployed = expected if expected is not None else deployed_target(stack)
    run.expected_version = deployed.version if deployed is not None else None
    deployed_policy = parse_policy(deployed.text) if deployed is not None else None
    scope = set(deployed_policy.rules) if deployed_policy is not None else None
    file, file_output = _read_policy_file(run, connector, expected)
    views = _collect(run, connection, connector, _previous(run), scope)
    run.outputs["policy_file"] = file_output
    busy = None if expected is not None else in_flux(stack, snapshot_from, timezone.now())
    keys = _service_keys(stack)
    seen = _seen(views, keys)
    figures = _figures(seen, views, deployed_policy, stack.services.all())
    if busy is None:
        conditions, judged = _conditions(stack, views, figures, deployed, file)
    else:
        conditions, judged = [], set()
        figures["drift_not_judged"] = (
            f"deployment {str(busy.deployment.uuid)[:8]} (v{busy.version.number}) was changing"
            f" {stack.label} during this run's snapshot"
        )
    with transaction.atomic():
        _observe(stack, seen, now)
        opened = _apply_drift(run, conditions, judged, now)
        incidents = apply_refusals(run, figures, views.refused, views.refusal_window_seconds, now)
        if views.refusal_window_seconds is not None:
            # A first read holds the file's whole history, not refusals of today's policy.
            read_at = syslog_read_at(run) or now
            window_from = read_at - timedelta(seconds=views.refusal_window_seconds)
            record_refusals(stack, views.refused, window_from=window_from, read_at=read_at)
            incidents += open_unpredicted(run, views.refused, window_from, now)
        run.results = figures | {
            "drift_opened": [e.key for e in opened],
            "incidents_opened": [i.key for i in incidents],
        }
        run.status = RunStatus.SUCCEEDED
        run.finished_at = timezone.now()
        run.save()
        figures_store(run)  # once: a finished run never changes
    _certificates(run, connection, connector, now)
    # Receivers enqueue work of their own on it (rollouts' gates); after the commit, so
    # they read the run as stored.
    run_id, stack_id = run.pk, stack.pk
    transaction.on_commit(
        lambda: verification_finished.send(sender=VerificationRun, run_id=run_id, stack_id=stack_id)
    )
    # last_verified_at is the scheduler's: it claims a slot by setting it when it enqueues.
    return run
