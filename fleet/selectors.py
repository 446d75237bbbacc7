"""Reads of the fleet that depend on who asks. No view or API view filters by permission itself.

Who sees what:
- the estate (every stack's figures, deployments, verifications, drift, certificates,
  incidents): whoever may VIEW_ESTATE;
- LPAR connections (without their secrets): operators;
- services and their live connections: `policies.selectors.service_list_for`, so an app
  owner sees only the services they own.

The same rules decide the reads of fleet/overview.py (one row per stack, the totals, the
deployment choices) and fleet/service_status.py. List reads cost a fixed number of queries
however many rows they return: figures come from each stack's latest verification (one query
for all stacks), counts from grouped queries.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import (
    Max,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.utils import timezone

from accounts.roles import Capability, has_capability
from attls.errors import AttlsError
from attls.policy import parse_policy
from fleet.models import (
    NUL_SHOWN_AS,
    Certificate,
    Deployment,
    DeploymentKind,
    DeploymentStep,
    DeploymentTarget,
    DriftEvent,
    Incident,
    LparConnection,
    RunStatus,
    StackBaseline,
    TargetStatus,
    VerificationRun,
)
from policies.models import Lpar, PolicyVersion, Service, Stack
from policies.selectors import service_list_for
from policies.services import stack_draft

User = AbstractBaseUser | AnonymousUser

CERTIFICATE_WARNING_DAYS = 30
ACTIVE = (RunStatus.APPROVED, RunStatus.RUNNING)
# The raw texts are large; lists never load them.
HEAVY_TARGET_FIELDS = ("text", "last_known_good", "file_drift_text")


def sees_estate(user: User) -> bool:
    return has_capability(user, Capability.VIEW_ESTATE)


def operates(user: User) -> bool:
    return has_capability(user, Capability.OPERATE)


def connection_of(lpar: Lpar) -> LparConnection | None:
    """The LPAR's connection, or None (the reverse one-to-one raises when there is none)."""
    try:
        return lpar.connection
    except LparConnection.DoesNotExist:
        return None


def _latest(queryset: QuerySet, *order: str) -> Subquery:
    return Subquery(queryset.order_by(*order).values("id")[:1])


def stack_for(*, user: User, lpar: str, stack: str) -> Stack:
    """A stack by its names, for those who see the estate; Stack.DoesNotExist otherwise."""
    stacks = Stack.objects.select_related("lpar", "lpar__connection")
    if not sees_estate(user):
        stacks = stacks.none()
    return stacks.get(lpar__name=lpar, name=stack)


# --- deployments ----------------------------------------------------------------------------------


def _targets() -> QuerySet[DeploymentTarget]:
    return DeploymentTarget.objects.defer(*HEAVY_TARGET_FIELDS).select_related(
        "stack__lpar", "version__author"
    )


def deployment_list_for(*, user: User) -> QuerySet[Deployment]:
    """Newest first, with their targets (two queries for a page, however long)."""
    if not sees_estate(user):
        return Deployment.objects.none()
    return (
        Deployment.objects.select_related("requested_by", "approved_by", "rollback_of")
        .prefetch_related(Prefetch("targets", queryset=_targets()))
        .order_by("-created_at", "-id")
    )


def deployment_for(*, user: User, uuid: Any) -> Deployment:
    """One deployment with its targets and step log; Deployment.DoesNotExist if not visible."""
    return (
        deployment_list_for(user=user)
        .prefetch_related(
            Prefetch(
                "steps",
                queryset=DeploymentStep.objects.select_related("target__stack__lpar").order_by(
                    "at", "id"
                ),
            ),
            Prefetch(
                "verifications",
                queryset=VerificationRun.objects.defer("outputs").select_related("stack__lpar"),
            ),
        )
        .get(uuid=uuid)
    )


@dataclass(frozen=True)
class RollbackPlan:
    """What "roll back" would do to a stack, or why it cannot."""

    stack: Stack
    current: DeploymentTarget | None
    # The latest version deployed to the stack before the current one; else, when no earlier
    # version went live there, the stack's baseline (its pre-portal file).
    previous: PolicyVersion | None
    baseline: StackBaseline | None = None

    @property
    def to_baseline(self) -> bool:
        return self.previous is None and self.baseline is not None

    @property
    def to_label(self) -> str:
        """What a rollback would put back: "v1", or the baseline by name and SHA-256."""
        if self.previous is not None:
            return f"v{self.previous.number}"
        if self.baseline is not None:
            return LastKnownGood.of_baseline(self.baseline).label + (
                f", sha256 {self.baseline.sha256}"
            )
        return ""

    @property
    def refusal(self) -> str:
        if self.current is None:
            return f"Nothing has been deployed to {self.stack.label} yet."
        if self.current.baseline_id is not None:
            return f"{self.stack.label} already runs its baseline, the pre-portal file."
        if self.previous is None and self.baseline is None:
            return (
                f"{self.current.what} is the first version deployed to {self.stack.label}, and"
                " no baseline of its pre-portal file was captured."
            )
        if self.to_baseline and self.baseline is not None and not self.baseline.existed:
            return (
                f"{self.current.what} is the first version deployed to {self.stack.label}, and"
                f" before it there was no file {self.baseline.path}: the portal does not delete"
                " policy files. Remove the rules that must go instead."
            )
        return ""


def deployed_target(stack: Stack, *, at: datetime | None = None) -> DeploymentTarget | None:
    """The last target that reached the stack by finish time, with its text: what is deployed
    there now, or at `at` (the audits engine and the evidence pack ask for a past instant).

    The one definition of "what is deployed on a stack" (fleet.verify, the audits engine and
    the evidence pack use it)."""
    found = DeploymentTarget.objects.filter(stack=stack, status=TargetStatus.SUCCEEDED)
    if at is not None:
        found = found.filter(finished_at__lte=at)
    return (
        found.select_related(
            "version__author", "deployment__approved_by", "deployment__requested_by"
        )
        .order_by("-finished_at", "-id")
        .first()
    )


@dataclass(frozen=True)
class LiveText:
    """The policy text a stack is known to run, and a label saying which text it is."""

    text: str
    label: str  # e.g. "v2, deployed and verified 2026-12-06 22:10 UTC"
    sha256: str


def live_policy_text(stack: Stack) -> LiveText | None:
    """The text `stack` is known to run: last-known-good (the text last deployed and verified
    as loaded there, else the baseline captured at first contact); None before any contact.

    The one place the request and approval pages ask "what runs there now?".
    """
    known = last_known_good(stack)
    if known is None:
        return None
    return LiveText(text=known.text, label=known.label, sha256=known.sha256)


@dataclass(frozen=True)
class Staleness:
    """Why approving a pending deployment now would not do what its requester saw."""

    stack: Stack
    message: str


def deployment_staleness(deployment: Deployment) -> list[Staleness]:
    """What changed since the deployment was requested: newer versions, other deployments live
    (or approved and about to be).

    Approving it anyway needs a confirmation of exactly these (see `staleness_token`).
    """
    found: list[Staleness] = []
    targets = list(deployment.targets.all())
    if not targets:
        return found
    stack_ids = {t.stack_id for t in targets}
    latest = dict(
        PolicyVersion.objects.filter(stack_id__in=stack_ids)
        .values("stack")
        .annotate(latest=Max("number"))
        .values_list("stack", "latest")
    )
    went_live = (
        DeploymentTarget.objects.filter(
            stack_id__in=stack_ids,
            status=TargetStatus.SUCCEEDED,
            finished_at__gt=deployment.created_at,
        )
        .exclude(deployment=deployment)
        .select_related("version", "deployment")
        .order_by("finished_at", "id")
    )
    live_by_stack: dict[int, list[DeploymentTarget]] = defaultdict(list)
    for other in went_live:
        live_by_stack[other.stack_id].append(other)
    # Approved or running now: it is about to change the stack under this one.
    in_flight: dict[int, list[DeploymentTarget]] = defaultdict(list)
    for other in (
        DeploymentTarget.objects.filter(stack_id__in=stack_ids, deployment__status__in=ACTIVE)
        .exclude(deployment=deployment)
        .select_related("version", "deployment")
        .order_by("deployment__created_at", "id")
    ):
        in_flight[other.stack_id].append(other)
    for target in targets:
        newest = latest.get(target.stack_id, target.version.number)
        # A rollback deploys an older version on purpose; a removal, the deployed one.
        going_back = deployment.kind == DeploymentKind.ROLLBACK or target.removed_rule
        if newest > target.version.number and not going_back:
            found.append(
                Staleness(
                    target.stack,
                    f"v{target.version.number} is no longer the latest version of"
                    f" {target.stack.label}: v{newest} was published since.",
                )
            )
        for other in in_flight.get(target.stack_id, []):
            found.append(
                Staleness(
                    target.stack,
                    f"deployment {str(other.deployment.uuid)[:8]} of v{other.version.number} to"
                    f" {target.stack.label} is {other.deployment.get_status_display().lower()}"
                    " now: it changes the stack before this one would.",
                )
            )
        for other in live_by_stack.get(target.stack_id, []):
            found.append(
                Staleness(
                    target.stack,
                    f"{target.stack.label} changed since this was requested: deployment"
                    f" {str(other.deployment.uuid)[:8]} put v{other.version.number} live at"
                    f" {other.finished_at:%Y-%m-%d %H:%M:%S} UTC.",
                )
            )
    return found


def staleness_token(staleness: Sequence[Staleness]) -> str:
    """A short digest of the warnings shown: a confirmation holds only for what was seen."""
    if not staleness:
        return ""
    digest = hashlib.sha256("\n".join(sorted(s.message for s in staleness)).encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class LastKnownGood:
    """The text a failing deployment restores on a stack, and where it comes from.

    `source` is "version" (the last deployment the portal verified as loaded there: its
    target's text, which for a remove-rule deployment is the version minus that rule) or
    "baseline" (the file as the portal first found it). `label` names it for a step log or
    a page: "v3 (deployment 1a2b3c4d, verified as loaded 2026-12-06 23:10 UTC)".
    """

    text: str
    sha256: str
    source: str
    label: str
    target: DeploymentTarget | None = None
    baseline: StackBaseline | None = None

    @property
    def version(self) -> PolicyVersion | None:
        return self.target.version if self.target is not None else None

    @classmethod
    def of_target(cls, target: DeploymentTarget) -> LastKnownGood:
        when = (
            f", verified as loaded {target.finished_at:%Y-%m-%d %H:%M:%S} UTC"
            if (target.finished_at)
            else ""
        )
        what = "the baseline, restored" if target.baseline_id is not None else target.what
        return cls(
            text=target.text,
            sha256=target.sha256,
            source="version",
            label=f"{what} (deployment {str(target.deployment.uuid)[:8]}{when})",
            target=target,
        )

    @classmethod
    def of_baseline(cls, baseline: StackBaseline) -> LastKnownGood:
        what = "file" if baseline.existed else "absence of a file"
        return cls(
            text=baseline.text,
            sha256=baseline.sha256,
            source="baseline",
            label=f"the baseline (the pre-portal {what} {baseline.path}, captured"
            f" {baseline.captured_at:%Y-%m-%d %H:%M:%S} UTC by {baseline.captured_by})",
            baseline=baseline,
        )


def last_known_good(stack: Stack) -> LastKnownGood | None:
    """The text the portal last verified as loaded on the stack, else its baseline; None
    before the first contact. What a deployment checks the live file against and restores,
    and what a request or approval page diffs against."""
    target = deployed_target(stack)
    if target is not None:
        return LastKnownGood.of_target(target)
    baseline = StackBaseline.objects.filter(stack=stack).first()
    return LastKnownGood.of_baseline(baseline) if baseline is not None else None


def baseline_of(*, stack: Stack) -> StackBaseline | None:
    return StackBaseline.objects.filter(stack=stack).first()


def rollback_plan(*, stack: Stack) -> RollbackPlan:
    """Back to the latest earlier version that went live on the stack (as published, not a
    remove-rule variant), else to the stack's baseline: a version never deployed there is not
    a way back."""
    current = deployed_target(stack)
    previous = None
    if current is not None:
        previous = (
            PolicyVersion.objects.filter(
                stack=stack,
                number__lt=current.version.number,
                deployment_targets__stack=stack,
                deployment_targets__status=TargetStatus.SUCCEEDED,
                deployment_targets__removed_rule="",
                deployment_targets__baseline=None,
            )
            .select_related("author")
            .order_by("-number")
            .distinct()
            .first()
        )
    baseline = baseline_of(stack=stack) if current is not None and previous is None else None
    return RollbackPlan(stack=stack, current=current, previous=previous, baseline=baseline)


@dataclass(frozen=True)
class RuleChoice:
    name: str
    priority: int | None
    service: Service | None


def deployed_rules(*, stack: Stack) -> tuple[DeploymentTarget | None, list[RuleChoice]]:
    """The rules of the policy deployed to the stack, with the services they belong to."""
    current = deployed_target(stack)
    if current is None:
        return None, []
    try:
        policy = parse_policy(current.text)
    except AttlsError:
        return current, []
    services = {s.name: s for s in Service.objects.filter(stack=stack, name__in=policy.rules)}
    return current, [
        RuleChoice(name=name, priority=getattr(rule, "priority", None), service=services.get(name))
        for name, rule in sorted(policy.rules.items())
    ]


# --- verifications --------------------------------------------------------------------------------


def verification_list_for(*, user: User) -> QuerySet[VerificationRun]:
    """Without the raw outputs (large); `verification_for` loads them."""
    if not sees_estate(user):
        return VerificationRun.objects.none()
    return (
        VerificationRun.objects.defer("outputs")
        .select_related("stack__lpar", "expected_version", "deployment")
        .order_by("-created_at", "-id")
    )


def verification_for(*, user: User, uuid: Any) -> VerificationRun:
    if not sees_estate(user):
        raise VerificationRun.DoesNotExist
    return VerificationRun.objects.select_related(
        "stack__lpar", "expected_version", "deployment"
    ).get(uuid=uuid)


# Outputs in the order a reader follows them, and how each is named.
OUTPUTS = {
    "pasearch": "pasearch -t: the policy AT-TLS has loaded",
    "netstat_conn": "netstat -x CONN: connections and the rule that secured each",
    "netstat_allconn": "netstat -a NOTTLSPOLICY: connections no rule covers",
    "probe": "Active probe: what each service port accepts",
    "syslog": "AT-TLS syslog: failed handshakes (EZD1286I)",
}


def output_text(entry: dict[str, Any]) -> str:
    """The exact text whose SHA-256 the run stored: the command's output as received (NUL
    restored where it is stored as U+2400), or for the probe its canonical JSON (sorted keys,
    no spaces: how fleet/verify/outputs.py hashes it)."""
    if "json" in entry:
        return json.dumps(entry.get("json"), sort_keys=True, separators=(",", ":"))
    text = str(entry.get("text") or "")
    return text.replace(NUL_SHOWN_AS, "\x00") if entry.get("nul_shown") else text


# --- drift, certificates, incidents ---------------------------------------------------------------


@dataclass(frozen=True)
class FindingFilters:
    """`?status=open|resolved|all&stack=SYSA/TCPIP` of the drift, certificate, incident lists."""

    status: str = "open"
    stack: str = ""

    @classmethod
    def parse(cls, params: Any, *, default_status: str = "open") -> FindingFilters:
        status = params.get("status") or default_status
        if status not in ("open", "resolved", "all"):
            status = default_status
        return cls(status=status, stack=(params.get("stack") or "").strip())

    def stack_q(self, prefix: str = "stack__") -> Q:
        if not self.stack:
            return Q()
        lpar, _, name = self.stack.partition("/")
        return Q(**{f"{prefix}lpar__name": lpar, f"{prefix}name": name})


def drift_list_for(*, user: User, filters: FindingFilters | None = None) -> QuerySet[DriftEvent]:
    if not sees_estate(user):
        return DriftEvent.objects.none()
    filters = filters or FindingFilters()
    events = DriftEvent.objects.select_related(
        "stack__lpar", "service", "opened_by_run", "acknowledged_by"
    ).filter(filters.stack_q())
    if filters.status == "open":
        events = events.filter(resolved_at=None)
    elif filters.status == "resolved":
        events = events.exclude(resolved_at=None)
    return events.order_by("-opened_at", "-id")


def certificate_list_for(
    *, user: User, filters: FindingFilters | None = None
) -> QuerySet[Certificate]:
    """Soonest expiry first. `status=open` keeps those expiring within 30 days or expired."""
    if not sees_estate(user):
        return Certificate.objects.none()
    filters = filters or FindingFilters(status="all")
    certificates = Certificate.objects.select_related("stack__lpar").filter(filters.stack_q())
    if filters.status == "open":
        certificates = certificates.filter(
            not_after__lte=timezone.now() + timedelta(days=CERTIFICATE_WARNING_DAYS)
        )
    return certificates.order_by("not_after", "id")


def incident_list_for(*, user: User, filters: FindingFilters | None = None) -> QuerySet[Incident]:
    """Every incident for those who see the estate; for an app owner, those of the services
    they own (policies.selectors.service_list_for, the one answer to who sees a service)."""
    incidents = Incident.objects.select_related(
        "stack__lpar", "certificate", "service", "preceded_by"
    )
    if not sees_estate(user):
        incidents = incidents.filter(service__in=service_list_for(user=user).values("pk"))
    filters = filters or FindingFilters(status="all")
    incidents = incidents.filter(filters.stack_q())
    if filters.status == "open":
        incidents = incidents.filter(resolved_at=None)
    elif filters.status == "resolved":
        incidents = incidents.exclude(resolved_at=None)
    return incidents.order_by("-opened_at", "-id")


def incident_for(*, user: User, uuid: Any) -> Incident:
    """One incident by uuid for those who see the estate; Incident.DoesNotExist otherwise."""
    return incident_list_for(user=user).get(uuid=uuid)


@dataclass(frozen=True)
class RemoveRulePlan:
    """Whether "remove this service's rule" can publish the latest version without the rule.

    The new version is the stack's draft with the service excluded. That is the deployed
    version without the rule only when the draft equals the latest version and the latest is
    what is deployed; otherwise the action would ship other changes too, and says so."""

    refusal: str
    latest: PolicyVersion | None
    deployed: DeploymentTarget | None


def remove_rule_plan(*, incident: Incident) -> RemoveRulePlan:
    stack, service = incident.stack, incident.service
    deployed = deployed_target(stack)
    latest = stack.versions.order_by("-number").first()
    refusal = ""
    if incident.resolved_at is not None:
        refusal = "This incident is resolved."
    elif service is None:
        refusal = "This incident names no service of the design (it was deleted)."
    elif not service.included:
        refusal = f"{service.name} is already excluded from the design of {stack.label}."
    elif deployed is None or latest is None:
        refusal = f"Nothing has been deployed to {stack.label}."
    elif deployed.version_id != latest.pk or deployed.removed_rule:
        refusal = (
            f"v{latest.number} is the latest version but {stack.label} runs"
            f" v{deployed.version.number}"
            + (f" without rule {deployed.removed_rule}" if deployed.removed_rule else "")
            + ": a version without this rule would deploy other changes too. Roll back, or"
            " remove the rule from what is deployed (Remove a rule)."
        )
    elif stack_draft(stack=stack).sha256 != latest.sha256:
        refusal = (
            f"The design of {stack.label} has changes not yet published since"
            f" v{latest.number}; publish or undo them first, or roll back."
        )
    return RemoveRulePlan(refusal=refusal, latest=latest, deployed=deployed)


def latest_verification_times(stack_ids: Iterable[int]) -> dict[int, datetime]:
    """When each stack's latest successful verification started (one grouped query)."""
    return dict(
        VerificationRun.objects.filter(stack_id__in=set(stack_ids), status=RunStatus.SUCCEEDED)
        .values_list("stack_id")
        .annotate(latest=Max("created_at"))
        .values_list("stack_id", "latest")
    )


def stack_labels(*, user: User | None = None) -> list[str]:
    """`SYSA/TCPIP` of every stack, for the filters; given `user`, of the stacks they see
    (an app owner: those of their services)."""
    stacks = Stack.objects.all()
    if user is not None and not sees_estate(user):
        stacks = stacks.filter(services__in=service_list_for(user=user).values("pk")).distinct()
    return [
        f"{lpar}/{name}"
        for lpar, name in stacks.order_by("lpar__name", "name").values_list("lpar__name", "name")
    ]


# --- LPAR connections -----------------------------------------------------------------------------


def lpar_list_for_operators(*, user: User) -> QuerySet[Lpar]:
    """Every LPAR with its connection (if any) and stacks; operators only."""
    if not operates(user):
        return Lpar.objects.none()
    return Lpar.objects.select_related("connection").prefetch_related("stacks").order_by("name")


def lpar_for_operators(*, user: User, name: str) -> Lpar:
    return lpar_list_for_operators(user=user).get(name=name)
