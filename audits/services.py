"""Writes of the audits app: running assessments, recording and revoking accepted risks.

Each write leaves a ChangeRecord (policies.models), which the audit log chains by hash.
An assessment is computed synchronously; the evidence-pack task calls `assessment_run`
(or `assessment_execute` on a row a view created), holding only ids.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from accounts.roles import Capability, Role, has_capability, roles_of
from audits.assessment import Evaluation, ScopeError, assess, scope_services
from audits.catalog import CatalogError, load_catalog
from audits.models import Assessment, ControlResult, RiskException, RunState, ScopeKind
from policies.models import ChangeRecord, Service, Stack

log = logging.getLogger(__name__)

User = AbstractBaseUser | AnonymousUser


class AssessmentRefused(ValueError):
    """An assessment that cannot be started: bad scope, period or parameters."""


def _record(
    actor: User | None,
    action: str,
    obj: Assessment | RiskException,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None,
    note: str = "",
) -> ChangeRecord:
    return ChangeRecord.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        object_type=type(obj).__name__,
        object_uuid=obj.uuid,
        object_name=str(obj)[:100],
        before=before,
        after=after,
        note=note,
    )


# --- assessments ----------------------------------------------------------------------------


def _require_may_assess(actor: User, scope_kind: str, scope: Mapping[str, Any]) -> None:
    """Auditors and architects assess anything; app owners only their own services."""
    if has_capability(actor, Capability.AUDIT):
        return
    if has_capability(actor, Capability.VIEW_OWN_SERVICES) and scope_kind in (
        ScopeKind.SERVICE,
        ScopeKind.SERVICES,
    ):
        services = scope_services(scope_kind, scope)
        if not services.exclude(owners=actor).exists():
            return
        raise PermissionError("an application owner may assess only services they own")
    raise PermissionError("only auditors, architects and service owners may run assessments")


@transaction.atomic
def assessment_create(
    *,
    actor: User,
    scope_kind: str,
    scope: Mapping[str, Any] | None,
    period_start: dt.datetime,
    period_end: dt.datetime,
    parameters: Mapping[str, Any] | None = None,
) -> Assessment:
    """A PENDING assessment, validated (scope, period, parameters, permission), not computed."""
    scope = dict(scope or {})
    if scope_kind not in ScopeKind.values:
        raise AssessmentRefused(f"unknown scope kind {scope_kind!r}")
    try:
        _require_may_assess(actor, scope_kind, scope)
        scope_services(scope_kind, scope)
    except ScopeError as error:
        raise AssessmentRefused(str(error)) from None
    for name, value in (("period_start", period_start), ("period_end", period_end)):
        if not isinstance(value, dt.datetime) or timezone.is_naive(value):
            raise AssessmentRefused(f"{name} must be a date-time with a time zone")
    if period_end <= period_start:
        raise AssessmentRefused("the period must end after it starts")
    catalog = load_catalog()
    try:
        resolved = catalog.resolve_parameters(parameters)
    except CatalogError as error:
        raise AssessmentRefused(str(error)) from None
    assessment = Assessment.objects.create(
        scope_kind=scope_kind,
        scope=scope,
        period_start=period_start,
        period_end=period_end,
        catalog_version=catalog.version,
        catalog_sha256=catalog.sha256,
        # The caller's overrides; the values actually used replace them once computed.
        parameters=catalog.parameters_to_json(
            {k: v for k, v in resolved.items() if k in (parameters or {})}
        ),
        created_by=actor,
        status=RunState.PENDING,
    )
    _record(
        actor,
        "create",
        assessment,
        after={
            "scope_kind": scope_kind,
            "scope": scope,
            "period_start": period_start.isoformat(),
            "period_end": period_end.isoformat(),
            "parameters": assessment.parameters,
            "catalog_version": catalog.version,
        },
    )
    return assessment


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
            _record(
                assessment.created_by,
                "fail",
                assessment,
                after={"status": assessment.status, "error": assessment.error},
            )
        return assessment
    with transaction.atomic():
        _store(assessment, evaluation)
        assessment.catalog_version = catalog.version
        assessment.catalog_sha256 = catalog.sha256
        assessment.parameters = evaluation.parameters
        assessment.summary = evaluation.summary
        assessment.status = RunState.SUCCEEDED
        assessment.error = ""
        assessment.save(
            update_fields=[
                "catalog_version",
                "catalog_sha256",
                "parameters",
                "summary",
                "status",
                "error",
            ]
        )
        _record(
            assessment.created_by,
            "assess",
            assessment,
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


def assessment_run(
    *,
    actor: User,
    scope_kind: str,
    scope: Mapping[str, Any] | None,
    period_start: dt.datetime,
    period_end: dt.datetime,
    parameters: Mapping[str, Any] | None = None,
) -> Assessment:
    """Creates and computes an assessment now: Assessment, ControlResults and summary stored.

    Bad input and missing permission raise (AssessmentRefused, PermissionError) before
    anything is written; a failure while computing leaves the row FAILED with the error.
    """
    assessment = assessment_create(
        actor=actor,
        scope_kind=scope_kind,
        scope=scope,
        period_start=period_start,
        period_end=period_end,
        parameters=parameters,
    )
    return assessment_execute(assessment=assessment)


# --- risk exceptions ------------------------------------------------------------------------


def _require_architect(actor: User) -> None:
    if Role.ARCHITECT not in roles_of(actor):  # type: ignore[arg-type]
        raise PermissionError("only an architect may accept or revoke a risk")


def _exception_snapshot(exception: RiskException) -> dict[str, Any]:
    return {
        "uuid": str(exception.uuid),
        "control_id": exception.control_id,
        "service": (
            f"{exception.service.stack.label}/{exception.service.name}"
            if exception.service
            else None
        ),
        "stack": exception.stack.label if exception.stack else None,
        "justification": exception.justification,
        "owner": exception.owner.get_username(),
        "expires_at": exception.expires_at.isoformat(),
        "revoked_at": exception.revoked_at.isoformat() if exception.revoked_at else None,
    }


@transaction.atomic
def risk_exception_create(
    *,
    actor: User,
    control_id: str,
    service: Service | None = None,
    stack: Stack | None = None,
    justification: str,
    owner: AbstractBaseUser,
    expires_at: dt.datetime,
) -> RiskException:
    """Records an accepted risk for one control on a service, a stack or the whole estate.

    Architects only. It shows as EXCEPTION (never PASS) in assessments evaluated before it
    expires or is revoked.
    """
    _require_architect(actor)
    catalog = load_catalog()
    if control_id not in catalog.ids:
        raise ValueError(f"no control {control_id!r} in catalog {catalog.version}")
    if not justification.strip():
        raise ValueError("say why the risk is accepted: the justification is empty")
    if not isinstance(expires_at, dt.datetime) or timezone.is_naive(expires_at):
        raise ValueError("expires_at must be a date-time with a time zone")
    if expires_at <= timezone.now():
        raise ValueError("an exception must expire in the future")
    if service is not None and stack is not None and service.stack_id != stack.pk:
        raise ValueError(f"{service.name} is not a service of {stack}")
    if owner is None or not owner.is_active:
        raise ValueError("an exception needs an active owner")
    exception = RiskException.objects.create(
        control_id=control_id,
        service=service,
        stack=stack if service is None else service.stack,
        justification=justification.strip(),
        owner=owner,
        created_by=actor,
        expires_at=expires_at,
    )
    _record(actor, "create", exception, after=_exception_snapshot(exception))
    return exception


@transaction.atomic
def risk_exception_revoke(
    *, actor: User, exception: RiskException, note: str = ""
) -> RiskException:
    """Ends an accepted risk now; assessments evaluated from now on no longer apply it."""
    _require_architect(actor)
    locked = RiskException.objects.select_for_update().get(pk=exception.pk)
    if locked.revoked_at is not None:
        raise ValueError(f"this exception was already revoked on {locked.revoked_at:%Y-%m-%d}")
    before = _exception_snapshot(locked)
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    _record(actor, "revoke", locked, before=before, after=_exception_snapshot(locked), note=note)
    return locked
