"""Writes of the audits app: running assessments, recording and revoking accepted risks, and
asking for evidence packs.

Each write leaves a ChangeRecord (policies.changes), which the audit log chains by hash. An
assessment is computed synchronously by `assessment_run`; a pack request saves a PENDING
assessment (when it asks for a new scope and period) and the pack, and enqueues the job
(audits.tasks -> audits.pack_job) once the transaction commits. Who may do what is decided
by audits.selectors.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from accounts.roles import Capability, Role, has_capability, roles_of
from audits import pack_job, selectors
from audits.assessing import assessment_execute
from audits.assessment import ScopeError, scope_services
from audits.catalog import CatalogError, load_catalog
from audits.models import Assessment, EvidencePack, RiskException, RunState, ScopeKind
from audits.tasks import generate_evidence_pack
from policies.changes import change_record
from policies.models import Service, Stack

log = logging.getLogger(__name__)

User = AbstractBaseUser | AnonymousUser


class AssessmentRefused(ValueError):
    """An assessment that cannot be started: bad scope, period or parameters."""


# --- assessments ----------------------------------------------------------------------------


def _require_may_assess(actor: User, scope_kind: str, scope: Mapping[str, Any]) -> None:
    """Auditors and architects assess anything; app owners only their own services
    (audits.selectors decides)."""
    if selectors.may_generate(actor, scope_kind, dict(scope)):
        return
    if has_capability(actor, Capability.VIEW_OWN_SERVICES) and scope_kind in (
        selectors.OWNED_SCOPE_KINDS
    ):
        scope_services(scope_kind, scope)  # a scope that names no service is refused as such
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
    change_record(
        actor=actor,
        action="create",
        obj=assessment,
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
    change_record(actor=actor, action="create", obj=exception, after=_exception_snapshot(exception))
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
    change_record(
        actor=actor,
        action="revoke",
        obj=locked,
        before=before,
        after=_exception_snapshot(locked),
        note=note,
    )
    return locked


# --- evidence packs ---------------------------------------------------------------------------


class PackRefused(Exception):
    """The request is not allowed or not valid; the message says why, nothing was saved."""


@dataclass(frozen=True)
class PackRequest:
    """A new assessment and pack: the scope and period as the form or the API gives them."""

    scope_kind: str
    scope: dict[str, Any]
    period_start: dt.datetime
    period_end: dt.datetime
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
        if not selectors.may_see(actor, assessment):
            raise PermissionDenied
        if assessment.status != RunState.SUCCEEDED:
            raise PackRefused("that assessment has not finished")
    else:
        assert new is not None
        if not selectors.may_generate(actor, new.scope_kind, new.scope):
            raise PermissionDenied
        if new.period_start > timezone.now():
            raise PackRefused("the period starts in the future")
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
        progress=[pack_job.progress_entry("requested", f"by {actor.get_username()}")],
    )
    transaction.on_commit(lambda: generate_evidence_pack.delay(pack.pk))
    return pack
