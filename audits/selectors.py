"""Reads of the audits app that depend on who asks: the one place that decides what a user sees.

Auditors and architects (the AUDIT capability) see every assessment, evidence pack and
exception; an application owner sees those whose scope is only services they own (the
services whose owners include them); everyone else nothing. The services (audits.services)
ask `may_generate` before they write.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.roles import Capability, has_capability
from audits import signing
from audits.models import Assessment, ControlResult, EvidencePack, RiskException, ScopeKind
from policies.models import Service

User = AbstractBaseUser | AnonymousUser

# Only these scopes can be all of one owner's services.
OWNED_SCOPE_KINDS = (ScopeKind.SERVICE, ScopeKind.SERVICES)


# --- who may see what ------------------------------------------------------------------------


def owned_service_uuids(user: User) -> set[str]:
    """The services the user owns (their uuids): what an application owner may see."""
    return {str(u) for u in Service.objects.filter(owners=user).values_list("uuid", flat=True)}


def scope_service_uuids(scope_kind: str, scope: dict[str, Any]) -> list[str]:
    """The services a service or services scope names."""
    uuids = [str(u) for u in scope.get("services") or []]
    if scope.get("service"):
        uuids.append(str(scope["service"]))
    return uuids


def _owns(owned: set[str], scope_kind: str, scope: dict[str, Any] | None) -> bool:
    if scope_kind not in OWNED_SCOPE_KINDS:
        return False
    wanted = scope_service_uuids(scope_kind, scope or {})
    return bool(wanted) and set(wanted) <= owned


def may_generate(user: User, scope_kind: str, scope: dict[str, Any]) -> bool:
    """Auditors and architects: any scope. App owners: only services they own."""
    if has_capability(user, Capability.AUDIT):
        return True
    if not has_capability(user, Capability.VIEW_OWN_SERVICES):
        return False
    return _owns(owned_service_uuids(user), scope_kind, scope)


def may_see(user: User, assessment: Assessment) -> bool:
    return may_generate(user, assessment.scope_kind, assessment.scope or {})


def may_use_audits(user: User) -> bool:
    return has_capability(user, Capability.AUDIT) or has_capability(
        user, Capability.VIEW_OWN_SERVICES
    )


def _visible(user: User, rows: QuerySet[Any], prefix: str = "") -> QuerySet[Any]:
    """`rows` (assessments, or packs through `prefix`) the user may see."""
    if has_capability(user, Capability.AUDIT):
        return rows
    if not has_capability(user, Capability.VIEW_OWN_SERVICES):
        return rows.none()
    owned = owned_service_uuids(user)
    if not owned:
        return rows.none()
    # Scopes are JSON: the few service-scoped rows are checked here, not in SQL.
    candidates = rows.model.objects.filter(
        **{f"{prefix}scope_kind__in": OWNED_SCOPE_KINDS}
    ).values_list("pk", f"{prefix}scope_kind", f"{prefix}scope")
    return rows.filter(pk__in=[pk for pk, kind, scope in candidates if _owns(owned, kind, scope)])


# --- assessments ------------------------------------------------------------------------------


def assessment_list_for(*, user: User) -> QuerySet[Assessment]:
    """Every assessment for auditors and architects; an app owner's own-service ones otherwise."""
    assessments = Assessment.objects.select_related("created_by").order_by("-created_at", "-id")
    return _visible(user, assessments)


def assessment_for(*, user: User, uuid: Any) -> Assessment:
    """One assessment the user may see; 404 otherwise (not 403: its existence is not told)."""
    assessment = assessment_list_for(user=user).filter(uuid=uuid).first()
    if assessment is None:
        raise Http404("No such assessment")
    return assessment


def control_results_of(*, assessment: Assessment) -> QuerySet[ControlResult]:
    """The results of an assessment the caller already may see, by framework and control."""
    return assessment.results.select_related("exception__owner").order_by("framework", "control_id")


# --- evidence packs ---------------------------------------------------------------------------


def pack_list_for(*, user: User) -> QuerySet[EvidencePack]:
    packs = EvidencePack.objects.select_related("assessment", "created_by").order_by(
        "-created_at", "-id"
    )
    return _visible(user, packs, prefix="assessment__")


def pack_for(*, user: User, uuid: Any) -> EvidencePack:
    """The pack if the user may see it; 404 otherwise (not 403: its existence is not told)."""
    pack = pack_list_for(user=user).filter(uuid=uuid).first()
    if pack is None:
        raise Http404("No such evidence pack")
    return pack


def pack_file(pack: EvidencePack, kind: str) -> Path:
    """The stored PDF or OSCAL file of a finished pack."""
    name = pack.pdf_path if kind == "pdf" else pack.oscal_path
    if not name:
        raise Http404("The pack has no such file yet")
    return Path(settings.EVIDENCE_DIR) / name


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


# --- risk exceptions -------------------------------------------------------------------------


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
