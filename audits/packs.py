"""Evidence packs: who may ask for one, the request, the generation steps, and the reads.

Writes (`evidence_pack_request`, `evidence_pack_generate`) and the reads that depend on who
asks (`pack_list_for`, `pack_for`, `assessment_list_for`) live together here, apart from the
assessment engine's own services.py and selectors.py, because they are one feature.

Who may generate: auditors and architects (Capability.AUDIT) any scope; an app owner only a
pack whose scope is services they own. A pack of a new scope and period starts as a PENDING
assessment made by the engine's `assessment_create`; the task computes it with
`assessment_execute`, so the request answers at once whatever the size of the estate.
Generation runs on the `evidence` queue; the task holds only the pack's id and claims the row
with a conditional update. Every step refreshes the pack's heartbeat: a running pack whose
heartbeat stopped for EVIDENCE_STALE_SECONDS lost its worker, and the next worker to claim it
starts the generation again from the assessment (nothing before the last step is kept, and
only the claimant's result is stored).

The steps, each written to EvidencePack.progress for the page that polls it:
  1. assessment: the engine computes the PENDING assessment (a pack of a new scope);
  2. evidence: scope, control results, the verification runs and the hashes of their outputs;
  3. OSCAL: the assessment results as OSCAL JSON (deterministic, so its SHA-256 is stable);
  4. PDF: rendered by WeasyPrint, quoting the OSCAL file's SHA-256;
  5. signature: PAdES with the organisation's key;
  6. ledger: both files stored, their hashes on the row, an entry in the audit log.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.roles import Capability, has_capability
from audits import evidence, log, oscal, signing
from audits.models import Assessment, EvidencePack, RunState, ScopeKind
from policies.selectors import service_list_for

logger = logging.getLogger(__name__)

STEPS = ("assessment", "evidence", "oscal", "pdf", "signature", "ledger")
STEP_TITLES = {
    "requested": "Requested",
    "claimed": "Picked up by a worker",
    "assessment": "Assessment",
    "evidence": "Evidence gathered",
    "oscal": "OSCAL results",
    "pdf": "PDF rendered",
    "signature": "Signed",
    "ledger": "Stored and recorded",
    "resumed": "Taken over from a stopped worker",
    "failed": "Failed",
}


class PackRefused(Exception):
    """The request is not allowed or not valid; the message says why, nothing was saved."""


# --- who may do what ---------------------------------------------------------------------------


def _owned_uuids(user: User) -> set[str]:
    return {str(u) for u in service_list_for(user=user).values_list("uuid", flat=True)}


def scope_service_uuids(scope_kind: str, scope: dict[str, Any]) -> list[str]:
    uuids = [str(u) for u in scope.get("services") or []]
    if scope.get("service"):
        uuids.append(str(scope["service"]))
    return uuids


def may_generate(user: User, scope_kind: str, scope: dict[str, Any]) -> bool:
    """Auditors and architects: any scope. App owners: only services they own."""
    if has_capability(user, Capability.AUDIT):
        return True
    if not has_capability(user, Capability.VIEW_OWN_SERVICES):
        return False
    if scope_kind not in (ScopeKind.SERVICE, ScopeKind.SERVICES):
        return False
    wanted = set(scope_service_uuids(scope_kind, scope))
    return bool(wanted) and wanted <= _owned_uuids(user)


def may_see(user: User, assessment: Assessment) -> bool:
    return may_generate(user, assessment.scope_kind, assessment.scope or {})


def may_use_audits(user: User) -> bool:
    return has_capability(user, Capability.AUDIT) or has_capability(
        user, Capability.VIEW_OWN_SERVICES
    )


# --- reads ---------------------------------------------------------------------------------------


def pack_list_for(*, user: User) -> QuerySet[EvidencePack]:
    packs = EvidencePack.objects.select_related("assessment", "created_by").order_by(
        "-created_at", "-id"
    )
    if has_capability(user, Capability.AUDIT):
        return packs
    if not has_capability(user, Capability.VIEW_OWN_SERVICES):
        return packs.none()
    owned = _owned_uuids(user)
    candidates = EvidencePack.objects.filter(
        assessment__scope_kind__in=(ScopeKind.SERVICE, ScopeKind.SERVICES)
    ).values_list("pk", "assessment__scope_kind", "assessment__scope")
    visible = [pk for pk, kind, scope in candidates if _owns(owned, kind, scope)]
    return packs.filter(pk__in=visible)


def _owns(owned: set[str], scope_kind: str, scope: dict[str, Any] | None) -> bool:
    wanted = scope_service_uuids(scope_kind, scope or {})
    return bool(wanted) and set(wanted) <= owned


def pack_for(*, user: User, uuid: Any) -> EvidencePack:
    """The pack if the user may see it; 404 otherwise (not 403: its existence is not told)."""
    pack = pack_list_for(user=user).filter(uuid=uuid).first()
    if pack is None:
        raise Http404("No such evidence pack")
    return pack


def assessment_list_for(*, user: User) -> QuerySet[Assessment]:
    assessments = Assessment.objects.select_related("created_by").order_by("-created_at", "-id")
    if has_capability(user, Capability.AUDIT):
        return assessments
    if not has_capability(user, Capability.VIEW_OWN_SERVICES):
        return assessments.none()
    owned = _owned_uuids(user)
    candidates = Assessment.objects.filter(
        scope_kind__in=(ScopeKind.SERVICE, ScopeKind.SERVICES)
    ).values_list("pk", "scope_kind", "scope")
    visible = [pk for pk, kind, scope in candidates if _owns(owned, kind, scope)]
    return assessments.filter(pk__in=visible)


def assessment_for(*, user: User, uuid: Any) -> Assessment:
    assessment = assessment_list_for(user=user).filter(uuid=uuid).first()
    if assessment is None:
        raise Http404("No such assessment")
    return assessment


# What a verification answer says of a file in the ledger whose pack the uploader may not see:
# no uuid, date, author or scope, which would tell them about other teams' services.
NOT_YOURS = "signed by this portal, not a pack you may see"


@dataclass(frozen=True)
class LedgerAnswer:
    """What a verification answer tells `user` about the uploaded file's ledger entry."""

    in_ledger: bool
    pack: EvidencePack | None  # only a pack the user may see
    said: str

    def entry(self) -> dict[str, Any] | None:
        """The ledger entry as the API answers it: None unless the user may see the pack."""
        if self.pack is None:
            return None
        return {
            "uuid": self.pack.uuid,
            "created_at": self.pack.created_at,
            "created_by": self.pack.created_by.get_username(),
            "assessment": self.pack.assessment.uuid,
        }


def ledger_answer_for(*, user: User, result: signing.VerificationResult) -> LedgerAnswer:
    """The ledger part of a verification answer: the pack named only if `user` may see it."""
    pack = result.matches_ledger
    if pack is None:
        return LedgerAnswer(False, None, "no evidence pack in the ledger has this file's SHA-256")
    if not pack_list_for(user=user).filter(pk=pack.pk).exists():
        return LedgerAnswer(True, None, NOT_YOURS)
    return LedgerAnswer(True, pack, f"pack {pack.uuid} of {pack.created_at:%Y-%m-%d %H:%M} UTC")


def pack_file(pack: EvidencePack, kind: str) -> Path:
    """The stored PDF or OSCAL file of a finished pack."""
    name = pack.pdf_path if kind == "pdf" else pack.oscal_path
    if not name:
        raise Http404("The pack has no such file yet")
    return Path(settings.EVIDENCE_DIR) / name


# --- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackRequest:
    """A new assessment and pack: the scope and period as the form or the API gives them."""

    scope_kind: str
    scope: dict[str, Any]
    period_start: datetime
    period_end: datetime
    parameters: dict[str, Any] | None = None


@transaction.atomic
def evidence_pack_request(
    *,
    actor: User,
    assessment: Assessment | None = None,
    new: PackRequest | None = None,
) -> EvidencePack:
    """Asks for a pack of an existing assessment, or of a new one over a scope and period.

    Refused (PermissionDenied) when the actor may not generate for that scope; PackRefused
    when the request is not valid. The task is enqueued once the transaction commits.
    """
    if (assessment is None) == (new is None):
        raise PackRefused("give either an assessment or a scope and period")
    if assessment is not None:
        if not may_see(actor, assessment):
            raise PermissionDenied
        if assessment.status != RunState.SUCCEEDED:
            raise PackRefused("that assessment has not finished")
    else:
        assert new is not None
        if not may_generate(actor, new.scope_kind, new.scope):
            raise PermissionDenied
        if new.period_start > timezone.now():
            raise PackRefused("the period starts in the future")
        from audits.services import AssessmentRefused, assessment_create

        # A PENDING assessment, validated by the engine; the task's first step computes it.
        try:
            assessment = assessment_create(
                actor=actor,
                scope_kind=new.scope_kind,
                scope=new.scope,
                period_start=new.period_start,
                period_end=new.period_end,
                parameters=new.parameters,
            )
        except AssessmentRefused as error:
            raise PackRefused(str(error)) from None
        except PermissionError:
            raise PermissionDenied from None
    pack = EvidencePack.objects.create(
        assessment=assessment,
        created_by=actor,
        progress=[_entry("requested", f"by {actor.get_username()}")],
    )
    from audits.tasks import generate_evidence_pack

    transaction.on_commit(lambda: generate_evidence_pack.delay(pack.pk))
    return pack


# --- generation -----------------------------------------------------------------------------------


def _entry(step: str, detail: str) -> dict[str, str]:
    return {"at": timezone.now().isoformat(timespec="seconds"), "step": step, "detail": detail}


def claim(pack_id: int, worker: str, *, stale_after: float) -> bool:
    """Takes a requested pack, or a running one whose worker stopped beating; False otherwise.

    Both are compare-and-swap updates, so two workers never take the same pack at once. On a
    takeover the dead worker's assessment computation, if it was in one, is lost with it
    (results are stored in one transaction), so the assessment goes back to PENDING.
    """
    now = timezone.now()
    fresh = EvidencePack.objects.filter(pk=pack_id, status=RunState.PENDING).update(
        status=RunState.RUNNING, claimed_by=worker, heartbeat_at=now, attempts=F("attempts") + 1
    )
    if fresh:
        return True
    previous = EvidencePack.objects.filter(pk=pack_id).values_list("claimed_by", flat=True).first()
    taken = EvidencePack.objects.filter(
        pk=pack_id,
        status=RunState.RUNNING,
        heartbeat_at__lt=now - timedelta(seconds=stale_after),
    ).update(claimed_by=worker, heartbeat_at=now, attempts=F("attempts") + 1)
    if not taken:
        return False
    pack = EvidencePack.objects.get(pk=pack_id)
    Assessment.objects.filter(pk=pack.assessment_id, status=RunState.RUNNING).update(
        status=RunState.PENDING
    )
    EvidencePack.objects.filter(pk=pack_id).update(
        progress=[
            *pack.progress,
            _entry(
                "resumed",
                f"worker {previous or '?'} stopped (no heartbeat for {stale_after:.0f} s);"
                f" {worker} starts the generation again",
            ),
        ]
    )
    return True


class Progress:
    """Appends steps to the pack's progress as they finish; the page polls the row.

    Each step is also the worker's heartbeat.
    """

    def __init__(self, pack: EvidencePack) -> None:
        self.pack = pack
        self.entries: list[dict[str, str]] = list(pack.progress or [])
        self.started = time.perf_counter()

    def step(self, step: str, detail: str) -> None:
        elapsed = time.perf_counter() - self.started
        self.entries.append(_entry(step, f"{detail} ({elapsed:.1f} s)"))
        EvidencePack.objects.filter(pk=self.pack.pk).update(
            progress=self.entries, heartbeat_at=timezone.now()
        )


def _run_assessment(pack: EvidencePack, progress: Progress) -> Assessment:
    """Computes the pack's PENDING assessment with the engine (audits.services)."""
    from audits.services import assessment_execute

    done = assessment_execute(assessment=pack.assessment)
    if done.status != RunState.SUCCEEDED:
        raise RuntimeError(f"the assessment did not succeed ({done.status}): {done.error}")
    pack.assessment = done
    progress.step(
        "assessment",
        f"{done.results.count()} controls of catalog {done.catalog_version} evaluated",
    )
    return done


def _write(path: Path, data: bytes) -> None:
    """Writes the file whole or not at all (a reader never sees half a PDF)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def evidence_pack_generate(pack_id: int) -> None:
    """Runs the steps of a claimed pack; raises on failure (the task records it)."""
    pack = EvidencePack.objects.select_related("assessment__created_by", "created_by").get(
        pk=pack_id
    )
    progress = Progress(pack)
    progress.step("claimed", f"pack {str(pack.uuid)[:8]}")
    assessment = pack.assessment
    if assessment.status == RunState.PENDING:
        assessment = _run_assessment(pack, progress)
    elif assessment.status == RunState.SUCCEEDED:
        progress.step("assessment", f"assessment {str(assessment.uuid)[:8]} already evaluated")
    else:
        raise RuntimeError(f"the assessment is {assessment.status}: {assessment.error}")

    scope = evidence.resolve_scope(assessment)
    results = list(assessment.results.select_related("exception__owner"))
    spans = evidence.runs_of_period(scope, assessment.period_start, assessment.period_end)
    manifest = evidence.manifest_of(results, spans)
    outputs = sum(len(row["outputs"]) for row in manifest)
    # The audit log's head now, printed in both files and kept on the row: audit_verify
    # checks the log still holds it, so entries deleted from its end are noticed.
    head = log.chain_head()
    progress.step(
        "evidence",
        f"{len(results)} controls, {len(scope.services)} services,"
        f" {outputs} raw outputs of {len(manifest)} verification runs hashed",
    )

    document = oscal.assessment_results(
        assessment, results=results, manifest=manifest, chain_head=head
    )
    oscal_bytes = oscal.dumps(document)
    oscal_sha256 = hashlib.sha256(oscal_bytes).hexdigest()
    oscal_name = f"{pack.uuid}.oscal.json"
    findings = len(document["assessment-results"]["results"][0].get("findings", []))
    progress.step("oscal", f"{findings} findings, SHA-256 {oscal_sha256[:16]}…")

    signer = signing.load_signer()
    signer_name = signing.signer_name(signer.signing_cert)
    level = "PAdES-B-T" if settings.EVIDENCE_TSA_URL else "PAdES-B-B"
    context = evidence.pack_context(
        assessment=assessment,
        pack_uuid=pack.uuid,
        generated_by=pack.created_by,
        generated_at=timezone.now(),
        signer=signer_name,
        signature_level=level,
        oscal_name=oscal_name,
        oscal_sha256=oscal_sha256,
        scope=scope,
        results=results,
        spans=spans,
        manifest=manifest,
        chain_head=head,
    )
    pdf = evidence.render_pdf(context)
    progress.step("pdf", f"{len(pdf) // 1024} KiB")

    signed = signing.sign_pdf(
        pdf,
        reason=f"Evidence pack {pack.uuid} of assessment {assessment.uuid}",
        location="AT-TLS portal",
    )
    pdf_sha256 = hashlib.sha256(signed.data).hexdigest()
    progress.step("signature", f"{signed.level} by {signed.signer}")

    pdf_name = f"{pack.uuid}.pdf"
    directory = Path(settings.EVIDENCE_DIR)
    finished = timezone.now()
    progress.entries.append(_entry("ledger", f"PDF SHA-256 {pdf_sha256}"))
    with transaction.atomic():
        # Only the worker holding the claim stores its files and result: one that was thought
        # dead and taken over finds the claim gone and leaves the pack to its successor. The
        # row is locked meanwhile, so the files on disk are the ones whose hashes it records.
        held = (
            EvidencePack.objects.select_for_update()
            .filter(pk=pack.pk, status=RunState.RUNNING, claimed_by=pack.claimed_by)
            .exists()
        )
        if not held:
            logger.warning("evidence pack %s was taken over; this result is dropped", pack.uuid)
            return
        _write(directory / oscal_name, oscal_bytes)
        _write(directory / pdf_name, signed.data)
        EvidencePack.objects.filter(pk=pack.pk).update(
            status=RunState.SUCCEEDED,
            progress=progress.entries,
            pdf_path=pdf_name,
            pdf_sha256=pdf_sha256,
            oscal_path=oscal_name,
            oscal_sha256=oscal_sha256,
            signer=signed.signer[:500],
            timestamped=signed.timestamped,
            finished_at=finished,
            heartbeat_at=finished,
            error="",
            chain_sequence=head.sequence if head is not None else None,
            chain_hash=head.hash if head is not None else "",
        )
        log.append(
            actor=pack.created_by.get_username(),
            action="evidence",
            object_type="EvidencePack",
            object_id=str(pack.uuid),
            summary=f"evidence pack of {scope.label} signed ({signed.level})",
            data={
                "assessment": str(assessment.uuid),
                "pdf_sha256": pdf_sha256,
                "oscal_sha256": oscal_sha256,
                "signer": signed.signer,
                "level": signed.level,
                "period": [
                    assessment.period_start.isoformat(),
                    assessment.period_end.isoformat(),
                ],
            },
            at=finished,
        )


def evidence_pack_fail(pack_id: int, error: BaseException | str, *, worker: str) -> None:
    """Records a failed generation on the row and in the audit log (if `worker` still holds it)."""
    pack = EvidencePack.objects.select_related("created_by").get(pk=pack_id)
    message = str(error) if isinstance(error, str) else f"{type(error).__name__}: {error}"
    entries = [*pack.progress, _entry("failed", message[:500])]
    failed = EvidencePack.objects.filter(
        pk=pack_id, status=RunState.RUNNING, claimed_by=worker
    ).update(status=RunState.FAILED, error=message, progress=entries, finished_at=timezone.now())
    if not failed:
        return
    log.append(
        actor=pack.created_by.get_username(),
        action="evidence failed",
        object_type="EvidencePack",
        object_id=str(pack.uuid),
        summary=f"evidence pack {str(pack.uuid)[:8]} failed",
        data={"error": message[:500]},
    )
