"""Assessments of the control catalog against the estate, exceptions, and evidence packs."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from policies.models import Service, Stack


class ScopeKind(models.TextChoices):
    ESTATE = "estate", "Whole estate"
    LPAR = "lpar", "One LPAR"
    SERVICES = "services", "A set of services"
    SERVICE = "service", "One service"


class RunState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Outcome(models.TextChoices):
    PASS = "PASS", "Pass"
    WARN = "WARN", "Warn"
    FAIL = "FAIL", "Fail"
    NOT_APPLICABLE = "NOT_APPLICABLE", "Not applicable"
    UNKNOWN = "UNKNOWN", "Unknown"
    EXCEPTION = "EXCEPTION", "Accepted risk (exception)"


class Assessment(models.Model):
    """The catalog evaluated for a scope and period; which catalog version it used is kept."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    scope_kind = models.CharField(max_length=16, choices=ScopeKind.choices)
    scope = models.JSONField(default=dict)  # {"lpar": "SYSA"} / {"services": [uuid, ...]}
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    catalog_version = models.CharField(max_length=32)
    catalog_sha256 = models.CharField(max_length=64)
    parameters = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assessments"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=RunState.choices, default=RunState.PENDING)
    summary = models.JSONField(default=dict)  # counts per outcome, coverage, protocol mix, ...
    # Everything an evidence pack prints besides the control results (figures, tables, the
    # appendix, with the parameters used), computed with the results: audits/report.py.
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"assessment {str(self.uuid)[:8]} ({self.get_scope_kind_display()})"


class RiskException(models.Model):
    """An accepted risk: shown as an exception, never as PASS, and only until it expires."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    control_id = models.CharField(max_length=100)
    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, null=True, blank=True, related_name="exceptions"
    )
    stack = models.ForeignKey(
        Stack, on_delete=models.CASCADE, null=True, blank=True, related_name="exceptions"
    )
    justification = models.TextField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_exceptions"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="created_exceptions"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["expires_at"]

    def __str__(self) -> str:
        target = self.service or self.stack or "estate"
        return f"{self.control_id} for {target} until {self.expires_at:%Y-%m-%d}"


class ControlResult(models.Model):
    """One control of one assessment: its outcome, why, and the evidence behind it."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="results")
    control_id = models.CharField(max_length=100)
    framework = models.CharField(max_length=32)  # SP800-52r2, SP800-207
    title = models.CharField(max_length=300)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    rationale = models.TextField()
    # {"rules": [...], "services": [...], "versions": [{"stack", "number", "sha256"}],
    #  "verification_runs": [...], "drift": [...], "deployments": [...], "certificates": [...]}
    evidence = models.JSONField(default=dict)
    sp800_53 = models.JSONField(default=list)
    exception = models.ForeignKey(
        RiskException, on_delete=models.SET_NULL, null=True, blank=True, related_name="results"
    )

    class Meta:
        ordering = ["assessment", "framework", "control_id"]

    def __str__(self) -> str:
        return f"{self.control_id}: {self.outcome}"


class EvidencePack(models.Model):
    """The signed PDF and OSCAL of one assessment, and its entry in the ledger."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, related_name="packs")
    status = models.CharField(max_length=16, choices=RunState.choices, default=RunState.PENDING)
    progress = models.JSONField(default=list)  # [{"at", "step", "detail"}]
    pdf_path = models.CharField(max_length=500, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    oscal_path = models.CharField(max_length=500, blank=True)
    oscal_sha256 = models.CharField(max_length=64, blank=True)
    signer = models.CharField(max_length=500, blank=True)
    timestamped = models.BooleanField(default=False)
    # The worker generating it, refreshed at every step: a running pack whose heartbeat
    # stopped lost its worker, and another one starts the generation again.
    claimed_by = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="evidence_packs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # The audit log's head when the pack was generated, printed in its PDF and OSCAL file:
    # `audit_verify` checks the log still holds that entry with that hash.
    chain_sequence = models.PositiveBigIntegerField(null=True, blank=True)
    chain_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"evidence pack {str(self.uuid)[:8]}"
