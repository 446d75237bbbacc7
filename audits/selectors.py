"""Reads of the audits app that depend on who asks.

Auditors and architects (the AUDIT capability) see every assessment and exception; an
application owner sees those whose scope is only services they own; everyone else nothing.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.roles import Capability, has_capability
from audits.models import Assessment, ControlResult, RiskException, ScopeKind
from policies.models import Service

User = AbstractBaseUser | AnonymousUser


def _owned_service_uuids(user: User) -> set[str]:
    return {str(u) for u in Service.objects.filter(owners=user).values_list("uuid", flat=True)}


def _scope_uuids(assessment_scope: dict) -> set[str]:
    wanted = list(assessment_scope.get("services") or [])
    if assessment_scope.get("service"):
        wanted.append(assessment_scope["service"])
    return {str(u) for u in wanted}


def assessments_for(*, user: User) -> QuerySet[Assessment]:
    """Every assessment for auditors and architects; an app owner's own-service ones otherwise."""
    assessments = Assessment.objects.select_related("created_by")
    if has_capability(user, Capability.AUDIT):
        return assessments
    if not has_capability(user, Capability.VIEW_OWN_SERVICES):
        return assessments.none()
    owned = _owned_service_uuids(user)
    if not owned:
        return assessments.none()
    # Scopes are JSON: the few service-scoped rows are checked here, not in SQL.
    allowed = [
        pk
        for pk, scope in Assessment.objects.filter(
            scope_kind__in=(ScopeKind.SERVICE, ScopeKind.SERVICES)
        ).values_list("pk", "scope")
        if (uuids := _scope_uuids(scope or {})) and uuids <= owned
    ]
    return assessments.filter(pk__in=allowed)


def assessment_for(*, user: User, uuid: str) -> Assessment:
    """One assessment the user may see; Assessment.DoesNotExist otherwise (a 404, not a 403)."""
    return assessments_for(user=user).get(uuid=uuid)


def control_results_of(*, assessment: Assessment) -> QuerySet[ControlResult]:
    """The results of an assessment the caller already may see, by framework and control."""
    return assessment.results.select_related("exception__owner").order_by("framework", "control_id")


def risk_exceptions_for(*, user: User, active_only: bool = False) -> QuerySet[RiskException]:
    """Accepted risks: all for auditors and architects, those on own services for app owners."""
    exceptions = RiskException.objects.select_related(
        "owner", "created_by", "service__stack__lpar", "stack__lpar"
    )
    if active_only:
        now = timezone.now()
        exceptions = exceptions.filter(revoked_at__isnull=True, expires_at__gt=now)
    if has_capability(user, Capability.AUDIT):
        return exceptions
    if has_capability(user, Capability.VIEW_OWN_SERVICES):
        return exceptions.filter(Q(service__owners=user)).distinct()
    return exceptions.none()
