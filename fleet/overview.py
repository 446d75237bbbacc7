"""The fleet overview, one row per stack, the estate's totals and the deployment choices built
on them: reads that depend on who asks (fleet.selectors says who sees what). Figures come from
each stack's latest verification, one query for all stacks; counts from grouped queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import (
    Count,
    OuterRef,
    QuerySet,
    Subquery,
)
from django.utils import timezone

from fleet import presenters, stored_figures
from fleet.models import (
    Certificate,
    Deployment,
    DeploymentTarget,
    DriftEvent,
    Incident,
    LparConnection,
    RunStatus,
    TargetStatus,
    VerificationRun,
)
from fleet.selectors import (
    ACTIVE,
    CERTIFICATE_WARNING_DAYS,
    HEAVY_TARGET_FIELDS,
    User,
    _latest,
    connection_of,
    operates,
    sees_estate,
)
from policies.models import PolicyVersion, Stack

RUN_SHOWN = ("id", "uuid", "status", "created_at", "started_at", "finished_at", "error")


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
    # The latest succeeded run's stack-wide figures (fleet/stored_figures.py); {} without one.
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def results(self) -> dict[str, Any]:
        """Every service's figures of the latest run: for one stack's page. The overview
        loads runs without them (a query per stack here); its figures are in `figures`."""
        return self.run.results if self.run is not None else {}

    @property
    def connections(self) -> int | None:
        return self.figures.get("connections")

    @property
    def secured(self) -> int | None:
        return self.figures.get("secured")

    @property
    def coverage(self) -> float | None:
        return self.figures.get("coverage")

    @property
    def coverage_text(self) -> str:
        return presenters.percent(self.figures.get("secured", 0), self.figures.get("connections"))

    @property
    def refused(self) -> int:
        """Attempts AT-TLS refused (EZD1286I, the probe's apart) since the run before."""
        return int(self.figures.get("refused") or 0)

    @property
    def services_refusing(self) -> list[str]:
        return list(self.figures.get("services_refusing") or [])

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
        return presenters.protocol_bar(self.figures.get("protocols") or {})

    @property
    def ports(self) -> presenters.PortSummary:
        ports = self.figures.get("ports") or {}
        return presenters.PortSummary(
            probed=ports.get("probed", 0),
            cleartext=ports.get("cleartext", 0),
            app_tls=ports.get("app_tls", 0),
            deprecated=ports.get("deprecated", 0),
            weakest=dict(ports.get("weakest") or {}),
        )

    @property
    def in_scope(self) -> int:
        return int(self.figures.get("in_scope") or 0)

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
    # Only what is shown of a run; its figures are stored apart (fleet/stored_figures.py).
    # Not its outputs nor every service's results, nor (SQLite) any column stored after them:
    # reading one reads through them.
    runs = VerificationRun.objects.only(*RUN_SHOWN).in_bulk(run_ids - {None})
    figures = stored_figures.figures_for(r.run_id for r in rows if r.run_id is not None)
    targets = (
        # Not the version's text nor its model: decoding those was a third of the page.
        DeploymentTarget.objects.defer(*HEAVY_TARGET_FIELDS, "version__text", "version__model")
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
            figures=figures.get(r.run_id, {}),
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
        connections=sum(s.connections or 0 for s in statuses),
        secured=sum(s.secured or 0 for s in statuses),
        open_drift=sum(s.open_drift for s in statuses),
        certificates_due=sum(s.certificates_due for s in statuses),
        certificates_expired=sum(s.certificates_expired for s in statuses),
        open_incidents=Incident.objects.filter(resolved_at=None).count(),
        active_deployments=Deployment.objects.filter(status__in=ACTIVE).count(),
        refused=sum(s.refused for s in statuses),
        stacks_refusing=sum(1 for s in statuses if s.refused),
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
