"""Running a stored assessment through the engine: the one write both a request and the
evidence-pack job use (audits.services.assessment_run, audits.pack_job).

Its results, parameters and summary are stored in one transaction, with a ChangeRecord
(policies.changes) that the audit log chains.
"""

from __future__ import annotations

import logging

from django.db import transaction

from audits.assessment import Evaluation, assess
from audits.catalog import load_catalog
from audits.models import Assessment, ControlResult, RunState
from audits.report import REPORT_VERSION, assessment_report
from policies.changes import change_record

log = logging.getLogger(__name__)


def _store(assessment: Assessment, evaluation: Evaluation) -> None:
    ControlResult.objects.filter(assessment=assessment).delete()  # a re-run replaces results
    ControlResult.objects.bulk_create(
        [
            ControlResult(
                assessment=assessment,
                control_id=result.control_id,
                framework=result.framework,
                title=result.title[:300],
                outcome=result.outcome,
                rationale=result.rationale,
                evidence=result.evidence,
                sp800_53=result.sp800_53,
                exception=result.exception,
            )
            for result in evaluation.results
        ],
        batch_size=500,
    )


def assessment_execute(*, assessment: Assessment) -> Assessment:
    """Computes a PENDING assessment and stores its results: SUCCEEDED, or FAILED with why.

    The row is claimed with a conditional update, so two workers never compute it twice; the
    loser gets the row back as it is.
    """
    claimed = Assessment.objects.filter(pk=assessment.pk, status=RunState.PENDING).update(
        status=RunState.RUNNING
    )
    assessment.refresh_from_db()
    if not claimed:
        return assessment
    catalog = load_catalog()
    try:
        evaluation = assess(
            scope_kind=assessment.scope_kind,
            scope=assessment.scope,
            period_start=assessment.period_start,
            period_end=assessment.period_end,
            parameters=assessment.parameters,
            catalog=catalog,
        )
    except Exception as error:  # recorded on the row; the caller sees FAILED, not a crash
        log.exception("assessment %s failed", assessment.uuid)
        with transaction.atomic():
            Assessment.objects.filter(pk=assessment.pk).update(
                status=RunState.FAILED, error=f"{type(error).__name__}: {error}"[:2000]
            )
            assessment.refresh_from_db()
            change_record(
                actor=assessment.created_by,
                action="fail",
                obj=assessment,
                after={"status": assessment.status, "error": assessment.error},
            )
        return assessment
    with transaction.atomic():
        _store(assessment, evaluation)
        assessment.catalog_version = catalog.version
        assessment.catalog_sha256 = catalog.sha256
        assessment.parameters = evaluation.parameters
        assessment.summary = evaluation.summary
        assessment.report = assessment_report(assessment, evaluation.results)
        assessment.status = RunState.SUCCEEDED
        assessment.error = ""
        assessment.save(
            update_fields=[
                "catalog_version",
                "catalog_sha256",
                "parameters",
                "summary",
                "report",
                "status",
                "error",
            ]
        )
        change_record(
            actor=assessment.created_by,
            action="assess",
            obj=assessment,
            after={
                "status": assessment.status,
                "catalog_version": catalog.version,
                "catalog_sha256": catalog.sha256,
                "outcomes": evaluation.summary["outcomes"],
                "coverage": evaluation.summary["coverage"]["ratio"],
                "services": evaluation.summary["scope"]["services"],
                "exceptions_applied": evaluation.summary["exceptions_applied"],
            },
        )
    return assessment


def assessment_report_ensure(*, assessment: Assessment, results: list[ControlResult]) -> Assessment:
    """The assessment with its pack report: stored when it was computed; for a row stored
    before reports existed (or with an older shape), computed now under the same rules and
    stored, so every later pack of it prints the same."""
    if (assessment.report or {}).get("version") == REPORT_VERSION:
        return assessment
    assessment.report = assessment_report(assessment, results)
    Assessment.objects.filter(pk=assessment.pk).update(report=assessment.report)
    return assessment
