"""Reads of the fleet that depend on who asks. No view or API view filters by permission itself.

Who sees what:
- the estate (every stack's figures, deployments, verifications, drift, certificates,
  incidents): whoever may VIEW_ESTATE;
- LPAR connections (without their secrets): operators;
- services and their live connections: `policies.selectors.service_list_for`, so an app
  owner sees only the services they own.

List reads cost a fixed number of queries however many rows they return: figures come from
each stack's latest verification (one query for all stacks), counts from grouped queries.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import (
    Count,
    F,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Window,
)
from django.db.models.functions import RowNumber
from django.utils import timezone

from accounts.roles import Capability, has_capability
from attls.errors import AttlsError
from attls.policy import parse_policy
from fleet import presenters
from fleet.models import (
    NUL_SHOWN_AS,
    Certificate,
    ConnectionObservation,
    Deployment,
    DeploymentStep,
    DeploymentTarget,
    DriftEvent,
    Incident,
    LparConnection,
    RunStatus,
    ServiceHour,
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
HEAVY_TARGET_FIELDS = ("text", "last_known_good")


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


# --- the fleet overview: one row per stack --------------------------------------------------------


@dataclass
class StackStatus:
    """What the dashboard says about one stack, from its latest verification and deployments."""

    stack: Stack
    connection: LparConnection | None
    run: VerificationRun | None  # the latest succeeded verification: where figures come from
    last_run: VerificationRun | None  # the latest of any status: a failing one shows
    deployed: DeploymentTarget | None  # what should be loaded now
    latest_version: PolicyVersion | None
    active_deployment: Deployment | None
    open_drift: int = 0
    certificates_due: int = 0  # expire within 30 days, still valid
    certificates_expired: int = 0
    next_expiry: datetime | None = None

    @property
    def results(self) -> dict[str, Any]:
        return self.run.results if self.run is not None else {}

    @property
    def coverage(self) -> float | None:
        return self.results.get("coverage")

    @property
    def coverage_text(self) -> str:
        return presenters.percent(self.results.get("secured", 0), self.results.get("connections"))

    @property
    def refused(self) -> int:
        """Attempts AT-TLS refused (EZD1286I, the probe's apart) since the run before; from
        the services' failures for a run stored before the stack-wide figure existed."""
        if "refused" in self.results:
            return int(self.results["refused"] or 0)
        services = (self.results.get("services") or {}).values()
        return sum(sum((e.get("handshake_failures") or {}).values()) for e in services)

    @property
    def services_refusing(self) -> list[str]:
        services = self.results.get("services") or {}
        return sorted(
            n for n, e in services.items() if any((e.get("handshake_failures") or {}).values())
        )

    @property
    def coverage_css(self) -> str:
        """Green only at full coverage with no refused attempt: refused clients are not
        sessions, so coverage alone can read 100% while clients are turned away."""
        coverage = self.coverage
        if coverage is None:
            return "none"
        if coverage < 0.8:
            return "bad"
        return "good" if coverage >= 0.99 and not self.refused else "warn"

    @property
    def protocol_bar(self) -> presenters.Bar:
        return presenters.protocol_bar(self.results.get("protocols") or {})

    @property
    def ports(self) -> presenters.PortSummary:
        return presenters.port_summary(self.results.get("services") or {})

    @property
    def in_scope(self) -> int:
        return sum(1 for s in (self.results.get("services") or {}).values() if s.get("in_scope"))

    @property
    def behind(self) -> bool:
        """A newer version is published than the one deployed."""
        return (
            self.deployed is not None
            and self.latest_version is not None
            and self.latest_version.number > self.deployed.version.number
        )

    @property
    def stale(self) -> bool:
        """No successful verification for three intervals: the figures are old."""
        if self.run is None or self.connection is None or not self.connection.enabled:
            return False
        finished = self.run.finished_at or self.run.created_at
        return timezone.now() - finished > timedelta(
            seconds=3 * max(self.connection.verification_interval, 20)
        )

    @property
    def last_failed(self) -> bool:
        return self.last_run is not None and self.last_run.status == RunStatus.FAILED


def stack_status_list(*, user: User, stacks: QuerySet[Stack] | None = None) -> list[StackStatus]:
    """Every stack's status for those who see the estate; nothing for anyone else."""
    if not sees_estate(user):
        return []
    return estate_stack_statuses(stacks=stacks)


def estate_stack_statuses(*, stacks: QuerySet[Stack] | None = None) -> list[StackStatus]:
    """Every stack's status, unscoped: for `stack_status_list` and for readers that are not a
    user but stand for the estate's monitoring (the Prometheus endpoint, by its token)."""
    verifications = VerificationRun.objects.filter(stack=OuterRef("pk"))
    rows = list(
        (stacks if stacks is not None else Stack.objects.all())
        .select_related("lpar", "lpar__connection")
        .annotate(
            run_id=_latest(verifications.filter(status=RunStatus.SUCCEEDED), "-created_at", "-id"),
            last_run_id=_latest(verifications, "-created_at", "-id"),
            deployed_id=_latest(
                DeploymentTarget.objects.filter(
                    stack=OuterRef("pk"), status=TargetStatus.SUCCEEDED
                ),
                "-finished_at",
                "-id",
            ),
            latest_version_id=_latest(
                PolicyVersion.objects.filter(stack=OuterRef("pk")), "-number"
            ),
            active_deployment_id=Subquery(
                DeploymentTarget.objects.filter(stack=OuterRef("pk"), deployment__status__in=ACTIVE)
                .order_by("-deployment__created_at")
                .values("deployment_id")[:1]
            ),
        )
        .order_by("lpar__name", "name")
    )
    if not rows:
        return []
    run_ids = {r.run_id for r in rows} | {r.last_run_id for r in rows}
    runs = VerificationRun.objects.defer("outputs").in_bulk(run_ids - {None})
    targets = (
        DeploymentTarget.objects.defer(*HEAVY_TARGET_FIELDS)
        .select_related("version", "deployment")
        .in_bulk({r.deployed_id for r in rows} - {None})
    )
    versions = PolicyVersion.objects.defer("text", "model").in_bulk(
        {r.latest_version_id for r in rows} - {None}
    )
    active = Deployment.objects.in_bulk({r.active_deployment_id for r in rows} - {None})
    ids = [r.id for r in rows]
    drift = dict(
        DriftEvent.objects.filter(stack_id__in=ids, resolved_at=None)
        .values_list("stack_id")
        .annotate(n=Count("id"))
        .values_list("stack_id", "n")
    )
    statuses = [
        StackStatus(
            stack=r,
            connection=connection_of(r.lpar),
            run=runs.get(r.run_id),
            last_run=runs.get(r.last_run_id),
            deployed=targets.get(r.deployed_id),
            latest_version=versions.get(r.latest_version_id),
            active_deployment=active.get(r.active_deployment_id),
            open_drift=drift.get(r.id, 0),
        )
        for r in rows
    ]
    _count_certificates(statuses)
    return statuses


def _count_certificates(statuses: list[StackStatus]) -> None:
    """Certificates the last probe still saw that expire within 30 days (or have expired)."""
    now = timezone.now()
    by_stack = {s.stack.id: s for s in statuses}
    due = Certificate.objects.filter(
        stack_id__in=by_stack, not_after__lte=now + timedelta(days=CERTIFICATE_WARNING_DAYS)
    ).only("stack_id", "not_after", "last_seen")
    for certificate in due:
        status = by_stack[certificate.stack_id]
        if status.run is not None and certificate.last_seen < status.run.created_at:
            continue  # replaced since: the last probe no longer sees it
        if certificate.not_after <= now:
            status.certificates_expired += 1
        else:
            status.certificates_due += 1
            if status.next_expiry is None or certificate.not_after < status.next_expiry:
                status.next_expiry = certificate.not_after


@dataclass(frozen=True)
class FleetTotals:
    stacks: int
    deployed: int
    connections: int
    secured: int
    open_drift: int
    certificates_due: int
    certificates_expired: int
    open_incidents: int
    active_deployments: int
    refused: int = 0  # attempts refused since each stack's previous verification
    stacks_refusing: int = 0

    @property
    def coverage_text(self) -> str:
        return presenters.percent(self.secured, self.connections)

    @property
    def coverage_css(self) -> str:
        if not self.connections:
            return ""
        if self.secured == 0:
            return "bad"
        return "good" if self.secured == self.connections and not self.refused else "warn"


def fleet_totals(*, user: User, statuses: Sequence[StackStatus]) -> FleetTotals | None:
    if not sees_estate(user):
        return None
    return FleetTotals(
        stacks=len(statuses),
        deployed=sum(1 for s in statuses if s.deployed is not None),
        connections=sum(s.results.get("connections") or 0 for s in statuses),
        secured=sum(s.results.get("secured") or 0 for s in statuses),
        open_drift=sum(s.open_drift for s in statuses),
        certificates_due=sum(s.certificates_due for s in statuses),
        certificates_expired=sum(s.certificates_expired for s in statuses),
        open_incidents=Incident.objects.filter(resolved_at=None).count(),
        active_deployments=Deployment.objects.filter(status__in=ACTIVE).count(),
        refused=sum(s.refused for s in statuses),
        stacks_refusing=sum(1 for s in statuses if s.refused),
    )


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
class DeployChoice:
    """A stack an operator may deploy to, with its latest published version."""

    stack: Stack
    version: PolicyVersion
    deployed: DeploymentTarget | None
    has_connection: bool

    @property
    def key(self) -> str:
        return str(self.stack.uuid)

    @property
    def is_current(self) -> bool:
        return self.deployed is not None and self.deployed.version_id == self.version.id


def deploy_choices(*, user: User) -> list[DeployChoice]:
    """Stacks with a published version, each with its latest; empty for non-operators."""
    if not operates(user):
        return []
    statuses = stack_status_list(
        user=user, stacks=Stack.objects.filter(versions__isnull=False).distinct()
    )
    versions = (
        PolicyVersion.objects.defer("model")
        .select_related("author")
        .in_bulk({s.latest_version.id for s in statuses if s.latest_version is not None})
    )
    return [
        DeployChoice(
            stack=s.stack,
            version=versions[s.latest_version.id],
            deployed=s.deployed,
            has_connection=s.connection is not None,
        )
        for s in statuses
        if s.latest_version is not None
    ]


@dataclass(frozen=True)
class RollbackPlan:
    """What "roll back" would do to a stack, or why it cannot."""

    stack: Stack
    current: DeploymentTarget | None
    previous: PolicyVersion | None

    @property
    def refusal(self) -> str:
        if self.current is None:
            return f"Nothing has been deployed to {self.stack.label} yet."
        if self.previous is None:
            return f"v{self.current.version.number} is the first version of {self.stack.label}."
        return ""


def deployed_target(stack: Stack) -> DeploymentTarget | None:
    """The last target that reached the stack (as fleet.verify.deployed_target), with its text."""
    return (
        DeploymentTarget.objects.filter(stack=stack, status=TargetStatus.SUCCEEDED)
        .select_related("version__author", "deployment")
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
        if newest > target.version.number and not target.removed_rule:
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
        removed = f" without rule {target.removed_rule}" if target.removed_rule else ""
        when = (
            f", verified as loaded {target.finished_at:%Y-%m-%d %H:%M:%S} UTC"
            if (target.finished_at)
            else ""
        )
        return cls(
            text=target.text,
            sha256=target.sha256,
            source="version",
            label=f"v{target.version.number}{removed} (deployment"
            f" {str(target.deployment.uuid)[:8]}{when})",
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
    current = deployed_target(stack)
    previous = None
    if current is not None:
        previous = (
            PolicyVersion.objects.filter(stack=stack, number__lt=current.version.number)
            .select_related("author")
            .order_by("-number")
            .first()
        )
    return RollbackPlan(stack=stack, current=current, previous=previous)


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
    no spaces: how fleet/verify.py hashes it)."""
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
    if not sees_estate(user):
        return Incident.objects.none()
    filters = filters or FindingFilters(status="all")
    incidents = Incident.objects.select_related(
        "stack__lpar", "certificate", "service", "preceded_by"
    ).filter(filters.stack_q())
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


def stack_labels() -> list[str]:
    """`SYSA/TCPIP` of every stack, for the filters."""
    return [
        f"{lpar}/{name}"
        for lpar, name in Stack.objects.order_by("lpar__name", "name").values_list(
            "lpar__name", "name"
        )
    ]


# --- LPAR connections -----------------------------------------------------------------------------


def lpar_list_for_operators(*, user: User) -> QuerySet[Lpar]:
    """Every LPAR with its connection (if any) and stacks; operators only."""
    if not operates(user):
        return Lpar.objects.none()
    return Lpar.objects.select_related("connection").prefetch_related("stacks").order_by("name")


def lpar_for_operators(*, user: User, name: str) -> Lpar:
    return lpar_list_for_operators(user=user).get(name=name)


# --- services: "my services" ----------------------------------------------------------------------


@dataclass
class ServiceStatus:
    """One service as its owner sees it: badge, latest figures, live connections, mix over time."""

    service: Service
    run: VerificationRun | None
    entry: dict[str, Any] | None
    live: list[ConnectionObservation] = field(default_factory=list)
    hours: list[ServiceHour] = field(default_factory=list)
    chart: presenters.Chart | None = None

    @property
    def badge(self) -> presenters.Badge:
        deployed = self.run is not None and self.run.expected_version_id is not None
        return presenters.service_badge(self.entry, policy_deployed=deployed)

    @property
    def protocol_bar(self) -> presenters.Bar:
        return presenters.protocol_bar((self.entry or {}).get("protocols") or {})

    @property
    def live_count(self) -> int:
        return (self.entry or {}).get("connections") or 0

    @property
    def coverage_text(self) -> str:
        entry = self.entry or {}
        return presenters.percent(entry.get("secured", 0), entry.get("connections"))

    @property
    def failures(self) -> dict[str, int]:
        return (self.entry or {}).get("handshake_failures") or {}

    @property
    def failures_text(self) -> str:
        return presenters.failures_text(self.failures)

    @property
    def failures_total(self) -> int:
        return sum(self.failures.values())

    @property
    def failure_codes(self) -> str:
        return presenters.failure_codes(self.failures)

    @property
    def refused_text(self) -> str:
        return presenters.refused_text(self.entry)

    @property
    def refused_peers_text(self) -> str:
        return presenters.refused_peers_text(self.entry)


LIVE_SHOWN = 12


def visible_services(*, user: User) -> QuerySet[Service]:
    """The services the user may see: an app owner's own; every one for the estate."""
    return service_list_for(user=user).order_by("stack__lpar__name", "stack__name", "name")


def service_statuses(
    services: Iterable[Service],
    *,
    window: str = "24h",
    now: datetime | None = None,
    details: bool = True,
) -> list[ServiceStatus]:
    """Status of already visible services (a page of `visible_services`), in four queries.

    `details`: also the live connections and the protocol mix over the window."""
    services = list(services)
    now = now or timezone.now()
    if not services:
        return []
    stack_ids = {s.stack_id for s in services}
    latest = (
        VerificationRun.objects.filter(stack=OuterRef("pk"), status=RunStatus.SUCCEEDED)
        .order_by("-created_at", "-id")
        .values("id")[:1]
    )
    run_ids = Stack.objects.filter(id__in=stack_ids).annotate(run_id=Subquery(latest))
    runs = VerificationRun.objects.defer("outputs").in_bulk(
        {r.run_id for r in run_ids if r.run_id is not None}
    )
    run_by_stack = {run.stack_id: run for run in runs.values()}
    statuses = []
    for service in services:
        run = run_by_stack.get(service.stack_id)
        entry = (run.results.get("services") or {}).get(service.name) if run else None
        statuses.append(ServiceStatus(service=service, run=run, entry=entry))
    if details:
        _attach_live(statuses, run_by_stack)
        _attach_charts(statuses, window=window, now=now)
    return statuses


def _attach_live(statuses: list[ServiceStatus], runs: dict[int, VerificationRun]) -> None:
    """The connections the latest run saw, a few per service (one windowed query)."""
    if not runs:
        return
    seen_by_latest = Q()
    for stack_id, run in runs.items():
        seen_by_latest |= Q(stack_id=stack_id, last_seen__gte=run.created_at)
    rows = (
        ConnectionObservation.objects.filter(seen_by_latest)
        .filter(service_id__in=[s.service.id for s in statuses])
        .annotate(
            row=Window(
                RowNumber(),
                partition_by=[F("service_id")],
                order_by=[F("secured").asc(), F("first_seen").desc(), F("id").desc()],
            )
        )
        .filter(row__lte=LIVE_SHOWN)
    )
    by_service: dict[int, list[ConnectionObservation]] = defaultdict(list)
    for row in rows:
        by_service[row.service_id].append(row)
    for status in statuses:
        status.live = by_service.get(status.service.id, [])


def _attach_charts(statuses: list[ServiceStatus], *, window: str, now: datetime) -> None:
    span, _ = presenters.WINDOWS[window]
    hours: dict[int, list[ServiceHour]] = defaultdict(list)
    for hour in ServiceHour.objects.filter(
        service_id__in=[s.service.id for s in statuses],
        hour__gte=now.replace(minute=0, second=0, microsecond=0) - span,
    ):
        hours[hour.service_id].append(hour)
    for status in statuses:
        status.hours = sorted(hours[status.service.id], key=lambda h: h.hour)
        status.chart = presenters.mix_chart(status.hours, now=now, window=window)
