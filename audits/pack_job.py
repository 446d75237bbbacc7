"""The evidence-pack job: the body of audits.tasks.generate_evidence_pack (as fleet/deploy.py
is the body of the deployment task).

The request is audits.services.evidence_pack_request, who may ask audits.selectors. A pack
of a new scope and period starts as a PENDING assessment; its first step computes it with
`assessment_execute` (audits.assessing), so the request answers at once whatever the size
of the estate.
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
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audits import evidence, log, oscal, signing
from audits.assessing import assessment_execute, assessment_report_ensure
from audits.models import Assessment, EvidencePack, RunState

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


def progress_entry(step: str, detail: str) -> dict[str, str]:
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
            progress_entry(
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
        self.entries.append(progress_entry(step, f"{detail} ({elapsed:.1f} s)"))
        EvidencePack.objects.filter(pk=self.pack.pk).update(
            progress=self.entries, heartbeat_at=timezone.now()
        )


def _run_assessment(pack: EvidencePack, progress: Progress) -> Assessment:
    """Computes the pack's PENDING assessment with the engine (audits.assessing)."""
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

    # The stored assessment, read once: the row with who assessed it, its control results,
    # and the report it computed (audits/report.py) that the PDF presents.
    assessment = Assessment.objects.select_related("created_by").get(pk=assessment.pk)
    results = list(assessment.results.select_related("exception__owner"))
    assessment = assessment_report_ensure(assessment=assessment, results=results)
    report = assessment.report
    manifest = evidence.manifest_of(report["manifest_runs"])
    outputs = sum(len(row["outputs"]) for row in manifest)
    # The audit log's head now, printed in both files and kept on the row: audit_verify
    # checks the log still holds it, so entries deleted from its end are noticed.
    head = log.chain_head()
    progress.step(
        "evidence",
        f"{len(results)} controls, {report['scope_label']},"
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
        results=results,
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
    progress.entries.append(progress_entry("ledger", f"PDF SHA-256 {pdf_sha256}"))
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
            summary=f"evidence pack of {report['scope_label']} signed ({signed.level})",
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
    entries = [*pack.progress, progress_entry("failed", message[:500])]
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
