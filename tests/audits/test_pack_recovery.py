"""A pack whose worker stopped: taken over by heartbeat, generated once, stored once.

The task is called in this process as the worker would call it; the takeover conditions
(the claim, the stopped heartbeat, a half-computed assessment) are set on the rows as a
killed worker leaves them. The SIGKILL of a real worker process is exercised for
deployments in tests/integration; packs use the same claim-by-heartbeat rule.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django import Settings

from audits import evidence
from audits import pack_job as audit_pack_job
from audits import selectors as audit_selectors
from audits import services as audit_services
from audits.models import AuditEntry, EvidencePack, RunState, ScopeKind
from audits.signing import verify_pack
from audits.tasks import generate_evidence_pack, resume_stale_evidence_packs
from portal.celery import app
from tests.audits.estate import Assessed, build_assessed


@pytest.fixture
def assessed(make_user) -> Assessed:
    return build_assessed(make_user)


def requested(assessed: Assessed, captured) -> EvidencePack:
    """A pack of a new scope: its assessment is PENDING until the task computes it."""
    now = timezone.now()
    with captured(execute=False):
        return audit_services.evidence_pack_request(
            actor=assessed.people["auditor"],
            new=audit_services.PackRequest(
                scope_kind=ScopeKind.LPAR,
                scope={"lpar": "SYSA"},
                period_start=now - timedelta(days=3),
                period_end=now,
            ),
        )


def left_by_a_dead_worker(pack: EvidencePack, *, silent_for: timedelta) -> None:
    """What a worker killed in the middle of the assessment step leaves behind."""
    EvidencePack.objects.filter(pk=pack.pk).update(
        status=RunState.RUNNING,
        claimed_by="gone-host:4242",
        heartbeat_at=timezone.now() - silent_for,
        attempts=1,
    )
    pack.assessment.__class__.objects.filter(pk=pack.assessment_id).update(status=RunState.RUNNING)


def test_a_pack_whose_worker_stopped_is_taken_over_and_generated_once(
    assessed: Assessed, django_capture_on_commit_callbacks, settings: Settings
) -> None:
    settings.EVIDENCE_STALE_SECONDS = 60
    pack = requested(assessed, django_capture_on_commit_callbacks)
    left_by_a_dead_worker(pack, silent_for=timedelta(minutes=5))

    assert generate_evidence_pack(pack.pk) == RunState.SUCCEEDED

    pack.refresh_from_db()
    assert pack.status == RunState.SUCCEEDED
    assert pack.attempts == 2 and pack.claimed_by != "gone-host:4242"
    resumed = next(entry for entry in pack.progress if entry["step"] == "resumed")
    assert "worker gone-host:4242 stopped (no heartbeat for 60 s)" in resumed["detail"]
    assert pack.assessment.status == RunState.SUCCEEDED  # computed again from PENDING
    assert pack.assessment.results.exists()
    assert verify_pack(audit_selectors.pack_file(pack, "pdf").read_bytes()).matches_ledger == pack
    assert AuditEntry.objects.filter(action="evidence", object_id=str(pack.uuid)).count() == 1
    client = Client()
    client.force_login(assessed.people["auditor"])
    page = client.get(f"/audits/packs/{pack.uuid}/").content.decode()
    assert "attempt 2: took over from a stopped worker" in page
    assert "worker gone-host:4242 stopped" in page


def test_a_running_pack_with_a_live_heartbeat_is_left_alone(
    assessed: Assessed, django_capture_on_commit_callbacks, settings: Settings
) -> None:
    settings.EVIDENCE_STALE_SECONDS = 60
    pack = requested(assessed, django_capture_on_commit_callbacks)
    left_by_a_dead_worker(pack, silent_for=timedelta(seconds=10))

    assert generate_evidence_pack(pack.pk) == "not claimed: running elsewhere or finished"

    pack.refresh_from_db()
    assert (pack.status, pack.claimed_by, pack.attempts) == (
        RunState.RUNNING,
        "gone-host:4242",
        1,
    )
    assert pack.assessment.status == RunState.RUNNING
    assert not AuditEntry.objects.filter(object_id=str(pack.uuid), action="evidence").exists()


def test_a_worker_taken_over_while_still_running_stores_nothing(
    assessed: Assessed,
    django_capture_on_commit_callbacks,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pack = requested(assessed, django_capture_on_commit_callbacks)
    assert audit_pack_job.claim(pack.pk, "slow-host:1", stale_after=60)
    render_pdf = evidence.render_pdf

    def render_then_lose_the_claim(*args: Any, **kwargs: Any) -> bytes:
        # The real rendering, slow enough here that another worker took the pack over.
        data = render_pdf(*args, **kwargs)
        EvidencePack.objects.filter(pk=pack.pk).update(claimed_by="other-host:2")
        return data

    monkeypatch.setattr(evidence, "render_pdf", render_then_lose_the_claim)
    audit_pack_job.evidence_pack_generate(pack.pk)
    audit_pack_job.evidence_pack_fail(pack.pk, "a late failure", worker="slow-host:1")

    pack.refresh_from_db()
    assert pack.status == RunState.RUNNING and pack.claimed_by == "other-host:2"
    assert not pack.pdf_sha256 and not pack.error
    assert not Path(settings.EVIDENCE_DIR, f"{pack.uuid}.pdf").exists()
    assert not AuditEntry.objects.filter(
        object_id=str(pack.uuid), action__in=("evidence", "evidence failed")
    ).exists()


def test_beat_re_enqueues_only_packs_whose_heartbeat_stopped(
    assessed: Assessed, django_capture_on_commit_callbacks, settings: Settings
) -> None:
    settings.EVIDENCE_STALE_SECONDS = 60
    stale = requested(assessed, django_capture_on_commit_callbacks)
    live = requested(assessed, django_capture_on_commit_callbacks)
    left_by_a_dead_worker(stale, silent_for=timedelta(minutes=5))
    left_by_a_dead_worker(live, silent_for=timedelta(seconds=5))

    app.conf.task_always_eager = True  # the enqueued task runs here, as the worker would
    try:
        assert resume_stale_evidence_packs() == 1
    finally:
        app.conf.task_always_eager = False

    stale.refresh_from_db()
    live.refresh_from_db()
    assert stale.status == RunState.SUCCEEDED and stale.attempts == 2
    assert live.status == RunState.RUNNING and live.attempts == 1
