"""Rollout campaigns: the account's five-phase, gated migration as rows.

A campaign names its scope (stacks, and the services of those stacks it migrates), its
owner, its bake time and its gate settings. Its cohorts (by default one per criticality tier,
low first) are rolled out by steps: each step publishes, per affected stack, a version holding
the rules of every cohort so far and deploys them through fleet's four-eyes deployment; then
the step bakes, its gate evaluated on every verification of its stacks (GateEvaluation rows),
until the bake time has passed with the gate passing, or the gate fails and the campaign holds.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from fleet.models import Deployment, Incident
from policies.choices import Phase, Tier
from policies.models import Service, Stack

WEEK_SECONDS = 7 * 24 * 3600


class Check(models.TextChoices):
    """The gate's checks, in the order they are shown."""

    COVERAGE = "coverage", "Coverage of the cohorts' connections (%)"
    REFUSALS = "refusals", "Refused attempts per verification"
    UNPREDICTED = "unpredicted", "Refusals the impact prediction did not name"
    DRIFT = "drift", "Open drift events"
    INCIDENTS = "incidents", "Open incidents"
    LATENCY = "latency", "Added handshake latency (ms)"
    LAB_REPLAY = "lab-replay", "Production peers the lab refused unpredicted"


# Per check: the threshold and the failure limit (how many failed evaluations during a bake
# are tolerated before the gate fails: 0 fails at the first), as Argo Rollouts' analyses do.
# `min` checks pass at or above the threshold, `max` checks at or below it.
# Coverage tolerates failures: AT-TLS applies a refreshed policy to new connections, and the
# sessions opened before it keep their state until they end, so the first verifications of a
# bake may still count them (a step passes only on a passing evaluation after its bake).
DEFAULT_GATES: dict[str, dict[str, float]] = {
    Check.COVERAGE: {"threshold": 100.0, "failure_limit": 5},
    Check.REFUSALS: {"threshold": 0, "failure_limit": 0},
    Check.UNPREDICTED: {"threshold": 0, "failure_limit": 0},
    Check.DRIFT: {"threshold": 0, "failure_limit": 0},
    Check.INCIDENTS: {"threshold": 0, "failure_limit": 0},
    Check.LATENCY: {"threshold": 5.0, "failure_limit": 1},
    # Judged on the lab step only (rollouts.replay): a production peer the lab refused that
    # the prediction did not say would break.
    Check.LAB_REPLAY: {"threshold": 0, "failure_limit": 0},
}
AT_LEAST = frozenset({Check.COVERAGE})
# Checks added after campaigns (and API clients) first wrote their gates: a gates value
# without one is complete, the check takes its default (`with_added_checks`).
ADDED_CHECKS = frozenset({Check.LAB_REPLAY})
# The bounds validate_gates holds every setting to; the campaign forms offer the same.
THRESHOLD_MAX: dict[str, float] = {Check.COVERAGE: 100.0}  # a percentage
FAILURE_LIMIT_MAX = 1000


def default_gates() -> dict[str, dict[str, float]]:
    return {name: dict(values) for name, values in DEFAULT_GATES.items()}


def with_added_checks(gates: dict[str, Any]) -> dict[str, Any]:
    """`gates` with the default of every added check it lacks (ADDED_CHECKS)."""
    return {**{name: dict(DEFAULT_GATES[name]) for name in ADDED_CHECKS}, **gates}


def validate_gates(value: object) -> None:
    """Every check (an added one may be absent) with a non-negative threshold and a whole
    failure limit; nothing else."""
    if not isinstance(value, dict):
        raise ValidationError("Expected one entry per check")
    unknown = set(value) - set(Check.values)
    if unknown:
        raise ValidationError(f"Unknown check(s): {', '.join(sorted(unknown))}")
    for name in Check.values:
        entry = value.get(name)
        if entry is None and name in ADDED_CHECKS:
            continue
        if not isinstance(entry, dict) or set(entry) != {"threshold", "failure_limit"}:
            raise ValidationError(f"{name}: give a threshold and a failure limit")
        threshold, limit = entry["threshold"], entry["failure_limit"]
        if not isinstance(threshold, int | float) or isinstance(threshold, bool) or threshold < 0:
            raise ValidationError(f"{name}: the threshold must be a number of 0 or more")
        if name in THRESHOLD_MAX and threshold > THRESHOLD_MAX[name]:
            raise ValidationError(
                f"{name}: the threshold is a percentage, 0 to {THRESHOLD_MAX[name]:g}"
            )
        if (
            not isinstance(limit, int)
            or isinstance(limit, bool)
            or not 0 <= limit <= FAILURE_LIMIT_MAX
        ):
            raise ValidationError(
                f"{name}: the failure limit must be a whole number 0-{FAILURE_LIMIT_MAX}"
            )


class CampaignStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    HELD = "held", "Held: a gate failed"
    ABORTED = "aborted", "Aborted"
    DONE = "done", "Done"


class Campaign(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_campaigns"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="created_campaigns"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    stacks = models.ManyToManyField(Stack, related_name="campaigns")
    services = models.ManyToManyField(Service, related_name="campaigns")
    # The lab stack the candidate is validated on first (the reference LAB1); none: the lab
    # phase is recorded as skipped.
    lab_stack = models.ForeignKey(
        Stack, on_delete=models.PROTECT, null=True, blank=True, related_name="lab_campaigns"
    )
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.INVENTORY)
    status = models.CharField(
        max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.ACTIVE
    )
    status_reason = models.TextField(blank=True)
    bake_seconds = models.PositiveIntegerField(default=WEEK_SECONDS)
    gates = models.JSONField(default=default_gates, validators=[validate_gates])
    # Promote on a passed gate without asking: allowed by a second operator (who then stands
    # as the approver of the deployments it requests, fleet's four eyes).
    auto_promote = models.BooleanField(default=False)
    auto_promote_approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # Services whose rule was rolled back during the campaign: later versions leave it out.
    held_back = models.ManyToManyField(Service, related_name="+", blank=True)
    # The inventory's "before" column, frozen when the inventory phase ends (rollouts.figures).
    baseline = models.JSONField(default=dict, blank=True)
    baseline_at = models.DateTimeField(null=True, blank=True)
    # The end state, measured the same way when the last step has passed.
    end_state = models.JSONField(default=dict, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    def gate(self, check: str) -> dict[str, Any]:
        entry: dict[str, Any] = (self.gates or {}).get(check) or DEFAULT_GATES[check]
        return entry


class CohortKind(models.TextChoices):
    LAB = "lab", "Lab validation"
    PILOT = "pilot", "Pilot"
    ROLLOUT = "rollout", "Staged rollout"


class Cohort(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="cohorts")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=CohortKind.choices)
    tier = models.CharField(max_length=8, choices=Tier.choices, blank=True)
    services = models.ManyToManyField(Service, related_name="cohorts", blank=True)

    class Meta:
        ordering = ["campaign", "position"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "position"], name="cohort_position")
        ]

    def __str__(self) -> str:
        return self.name


class StepKind(models.TextChoices):
    COHORT = "cohort", "Cohort"
    ABORT = "abort", "Abort: the previous step's versions back"


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending: versions not yet published"
    REQUESTED = "requested", "Deployment waits for a second person's approval"
    DEPLOYING = "deploying", "Deploying"
    BAKING = "baking", "Baking"
    PASSED = "passed", "Gate passed"
    FAILED = "failed", "Gate failed"
    ABORTED = "aborted", "Aborted"
    RESTORED = "restored", "Previous versions restored and verified"


class Step(models.Model):
    """One cohort's rollout (or an abort's restore): versions, deployment, bake, gate."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=StepKind.choices, default=StepKind.COHORT)
    cohort = models.ForeignKey(
        Cohort, on_delete=models.PROTECT, null=True, blank=True, related_name="steps"
    )
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # {stack id: version id}: what this step published; and what was deployed on each stack
    # before it (None: nothing), which an abort puts back.
    versions = models.JSONField(default=dict, blank=True)
    previous_versions = models.JSONField(default=dict, blank=True)
    deployment = models.OneToOneField(
        Deployment, on_delete=models.PROTECT, null=True, blank=True, related_name="campaign_step"
    )
    # Which worker published it (the claim), and how often a worker began it.
    claimed_by = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    bake_started_at = models.DateTimeField(null=True, blank=True)
    bake_ends_at = models.DateTimeField(null=True, blank=True)
    # {check: failed evaluations so far}, against each check's failure limit.
    failures = models.JSONField(default=dict, blank=True)
    verdict = models.JSONField(default=dict, blank=True)  # the latest evaluation's
    gate_skipped = models.BooleanField(default=False)
    incident = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["campaign", "position"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "position"], name="step_position")
        ]

    def __str__(self) -> str:
        what = self.cohort.name if self.cohort is not None else self.get_kind_display()
        return f"step {self.position} ({what})"


class Verdict(models.TextChoices):
    PASSING = "passing", "Passing"
    FAILED = "failed", "Failed"
    WAITING = "waiting", "Waiting"


class GateEvaluation(models.Model):
    """The gate as one verification found it: every check with its figure and evidence."""

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="evaluations")
    at = models.DateTimeField()
    runs = models.JSONField(default=list)  # uuids of the verification runs read
    checks = models.JSONField(default=dict)  # {check: {value, threshold, verdict, evidence}}
    verdict = models.CharField(max_length=8, choices=Verdict.choices)

    class Meta:
        ordering = ["step", "at", "id"]

    def __str__(self) -> str:
        return f"{self.step}: {self.verdict} at {self.at:%H:%M:%S}"


class ActionKind(models.TextChoices):
    SKIP_GATE = "skip-gate", "Skip the gate"


class ActionStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a second person"
    APPROVED = "approved", "Approved"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ActionRequest(models.Model):
    """An action that needs four eyes besides a deployment's: asked by one, approved by
    another person."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="actions")
    kind = models.CharField(max_length=16, choices=ActionKind.choices)
    status = models.CharField(
        max_length=16, choices=ActionStatus.choices, default=ActionStatus.PENDING
    )
    reason = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_status_display()})"


class ReplayStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Replaying"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class LabReplay(models.Model):
    """The lab step's replay of the production peers (rollouts.replay): one per lab step,
    run once its deployment is verified; the gate's lab-replay check waits for it."""

    step = models.OneToOneField(Step, on_delete=models.CASCADE, related_name="lab_replay")
    status = models.CharField(
        max_length=16, choices=ReplayStatus.choices, default=ReplayStatus.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    # Per production stack: the prediction the peers are compared with, or why none.
    notes = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"lab replay of {self.step} ({self.get_status_display()})"


class ReplayMatch(models.TextChoices):
    """A replayed peer's outcome against its prediction."""

    AS_PREDICTED = "as-predicted", "Accepted, as predicted"
    EXPECTED = "expected", "Refused, as predicted (will break)"
    UNPREDICTED = "unpredicted", "Refused, not predicted"
    NOT_REFUSED = "not-refused", "Accepted, though predicted to break"
    NOT_REPLAYED = "not-replayed", "Not replayed"


class LabReplayPeer(models.Model):
    """One production peer, replayed against the lab copy of its service: its profile as
    the portal knows it, the handshake's outcome, and the prediction it is held to."""

    replay = models.ForeignKey(LabReplay, on_delete=models.CASCADE, related_name="peers")
    stack = models.ForeignKey(Stack, on_delete=models.PROTECT, related_name="+")
    service = models.CharField(max_length=64)  # the production service (its rule's name)
    peer = models.CharField(max_length=45)  # the peer's address
    direction = models.CharField(max_length=8)
    connections_per_day = models.FloatField(default=0)
    profile = models.JSONField(default=dict, blank=True)  # fleet.impact.replay.PeerProfile
    inferred = models.BooleanField(default=False)
    lab_service = models.CharField(max_length=64, blank=True)
    target = models.CharField(max_length=100, blank=True)  # address:port replayed against
    offer = models.TextField(blank=True)
    outcome = models.CharField(max_length=16)  # fleet.impact.replay.OUTCOMES
    reason = models.TextField(blank=True)
    version = models.CharField(max_length=16, blank=True)
    suite = models.CharField(max_length=64, blank=True)
    limits = models.JSONField(default=list, blank=True)
    verdict = models.CharField(max_length=16, blank=True)  # the prediction's for this peer
    predicted_breaks = models.BooleanField(default=False)
    match = models.CharField(max_length=16, choices=ReplayMatch.choices)

    class Meta:
        ordering = ["replay", "stack", "service", "peer"]
        constraints = [
            models.UniqueConstraint(
                fields=["replay", "stack", "service", "peer"], name="lab_replay_peer"
            )
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.peer}: {self.outcome} ({self.match})"
