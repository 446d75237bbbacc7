"""Periodic clean-up of verification rows: abandoned runs, old connection observations."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from fleet.models import (
    ConnectionObservation,
    RunStatus,
    VerificationRun,
)


def end_abandoned_runs(*, older_than: timedelta) -> int:
    """Ends the verifications still pending or running `older_than` after they were created:
    their worker stopped (or their queued message was lost). They end failed with that reason,
    so no run shows "Running" for ever; the next scheduled run measures again."""
    now = timezone.now()
    return VerificationRun.objects.filter(
        status__in=(RunStatus.PENDING, RunStatus.RUNNING), created_at__lt=now - older_than
    ).update(
        status=RunStatus.FAILED,
        finished_at=now,
        error=f"abandoned: no result {older_than.total_seconds():.0f} s after it was requested;"
        " the worker that ran it stopped or its queued message was lost",
    )


def prune_observations(*, older_than: timedelta) -> int:
    """Raw rows go once rolled up; the hourly figures stay for the audit period."""
    deleted, _ = ConnectionObservation.objects.filter(
        last_seen__lt=timezone.now() - older_than
    ).delete()
    return deleted
