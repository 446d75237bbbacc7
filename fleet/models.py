"""The running estate: how to reach each LPAR, what was deployed, what is observed.

Every run (deployment, verification) is a row with a status, start, end, error and a
step log; the UI polls the row. Raw command output is kept as received, with its SHA-256,
so every figure on a page or in an evidence pack can be traced to the text it came from.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from attls import values
from policies.models import Lpar, PolicyVersion, Service, Stack
from policies.validators import django_validator


def default_policy_path_prefixes() -> list[str]:
    return list(values.DEFAULT_POLICY_PREFIXES)


def validate_policy_path_prefixes(value: object) -> None:
    """A non-empty list of absolute directories, each ending in `/`, without `..`."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Expected a list of directories")
    if not value:
        raise ValidationError("Allow at least one directory, e.g. /etc/pagent/")
    for prefix in value:
        django_validator(lambda path: values.unix_directory(path, what="The directory"))(prefix)


def validate_precheck_allowlist(value: object) -> None:
    """A list of IP addresses and networks (`192.0.2.10`, `198.51.100.0/24`)."""
    from fleet.precheck import parse_allowlist

    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Expected a list of IP addresses or networks")
    try:
        parse_allowlist(value)
    except ValueError as error:
        raise ValidationError(str(error)) from None


def validate_pagent_procname(value: str) -> None:
    """The PAGENT started task, named in `F <proc>,REFRESH`: a z/OS job name."""
    django_validator(lambda name: values.job_name(name, what="The PAGENT procedure"))(value)


def validate_syslog_path(value: str) -> None:
    django_validator(lambda path: values.unix_path(path, what="The syslog path"))(value)


class Transport(models.TextChoices):
    ZOSMF = "zosmf", "z/OSMF REST"
    SSH = "ssh", "SSH"


class ZertSource(models.TextChoices):
    JOB = "job", "IFASMFDL dump job through z/OSMF, downloaded in binary"
    SFTP = "sftp", "The dump file read over SSH (SFTP)"


def default_zert_jcl() -> str:
    from fleet.zert_jcl import DEFAULT_JCL

    return DEFAULT_JCL


def validate_dump_dsn(value: str) -> None:
    from fleet.zert_jcl import validate_dsn

    django_validator(validate_dsn)(value)


class LparConnection(models.Model):
    """How the portal reaches one LPAR. The secret is encrypted at rest (fleet/secrets.py).

    z/OSMF: files and console over HTTPS, TLS verified against `ca_bundle`; commands such
    as pasearch run over SSH when `ssh_port` is set (z/OSMF has no plain "run" API).
    SSH: everything over SSH with the host key pinned in `ssh_host_key`.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    lpar = models.OneToOneField(Lpar, on_delete=models.PROTECT, related_name="connection")
    transport = models.CharField(max_length=8, choices=Transport.choices, default=Transport.ZOSMF)
    host = models.CharField(max_length=255, default="127.0.0.1")
    zosmf_port = models.PositiveIntegerField(
        default=443, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    ssh_port = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    username = models.CharField(max_length=8)
    # Fernet token of the password (z/OSMF) and of the private key (SSH); never rendered.
    password_encrypted = models.TextField(blank=True, editable=False)
    ssh_key_encrypted = models.TextField(blank=True, editable=False)
    ca_bundle = models.TextField(help_text="PEM of the CA that issued the z/OSMF certificate")
    ssh_host_key = models.TextField(
        blank=True, help_text="The pinned SSH host public key (OpenSSH format)"
    )
    pagent_procname = models.CharField(
        max_length=8, default="PAGENT", validators=[validate_pagent_procname]
    )
    # Where AT-TLS writes its syslogd messages (EZD1286I ...), read when handshakes fail.
    syslog_path = models.CharField(
        max_length=255, default="/var/log/syslog", validators=[validate_syslog_path]
    )
    # The only directories a deployment may write a policy file into on this LPAR: a
    # stack's policy file outside them is refused when the deployment is requested and
    # again by the worker before upload (so /etc/pagent.conf can never be overwritten).
    policy_path_prefixes = models.JSONField(
        default=default_policy_path_prefixes,
        validators=[validate_policy_path_prefixes],
        help_text="Directories policy files may be written to, each ending in /",
    )
    verification_interval = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(5)], help_text="Seconds between verifications"
    )
    enabled = models.BooleanField(default=True)
    # Where the simulator's service ports are, for the active probe: {"TCPIP": {"992": 21003}}.
    # Empty for a real LPAR, whose service ports are probed at `host`.
    probe_ports = models.JSONField(default=dict, blank=True)
    # Partners the active pre-check may open one handshake to, besides loopback: what z/OS
    # connects to from this LPAR, agreed with their owners (fleet/precheck.py).
    precheck_allowlist = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_precheck_allowlist],
        help_text="Partner IP addresses or networks the TLS pre-check may connect to",
    )
    last_verified_at = models.DateTimeField(null=True, blank=True)
    # zERT collection (fleet/zert/): optional, off until switched on for the LPAR.
    zert_enabled = models.BooleanField(default=False)
    zert_source = models.CharField(max_length=8, choices=ZertSource.choices, default=ZertSource.JOB)
    # The IFASMFDL job, a template the site edits ({dsn}, {date_from}, {date_to}, {start},
    # {end} filled in by the collector: fleet/zert_jcl.py).
    zert_jcl = models.TextField(blank=True, default=default_zert_jcl)
    zert_dump_dsn = models.CharField(
        max_length=44, default="ATTLSADM.ZERT.DUMP", validators=[validate_dump_dsn]
    )
    zert_dump_path = models.CharField(
        max_length=255, default="/var/smf/zert.smf", validators=[validate_syslog_path]
    )
    zert_interval = models.PositiveIntegerField(
        default=900, validators=[MinValueValidator(5)], help_text="Seconds between zERT reads"
    )
    last_zert_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.lpar.name} via {self.get_transport_display()}"

    def policy_file_refusal(self, stack: Stack) -> str | None:
        """Why a deployment may not write `stack`'s policy file on this LPAR, or None."""
        try:
            values.policy_file_path(
                stack.policy_file,
                allowed_prefixes=self.policy_path_prefixes,
                what=f"The policy file of {stack.label}",
            )
        except values.ValueRefused as refusal:
            return str(refusal)
        return None


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    ROLLED_BACK = "rolled_back", "Failed and rolled back"
    # A pending deployment that never runs: turned down by a reviewer, or withdrawn.
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


class DeploymentKind(models.TextChoices):
    DEPLOY = "deploy", "Deploy"
    ROLLBACK = "rollback", "Roll back to a previous version"
    REMOVE_RULE = "remove-rule", "Remove one rule"


class Deployment(models.Model):
    """Policy versions pushed to stacks in order; stops at the first failing stack."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=DeploymentKind.choices, default="deploy")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="requested_deployments"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="approved_deployments",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    # Who rejected or cancelled it while it was pending, when, and why.
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="closed_deployments",
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.TextField(blank=True)
    rollback_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="rollbacks"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Which worker claimed it, and how many times it was claimed (redeliveries).
    claimed_by = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Refreshed at every step: a running deployment whose heartbeat stopped lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"deployment {str(self.uuid)[:8]} ({self.get_status_display()})"

    @property
    def is_finished(self) -> bool:
        return self.status in (
            RunStatus.SUCCEEDED,
            RunStatus.FAILED,
            RunStatus.ROLLED_BACK,
            RunStatus.REJECTED,
            RunStatus.CANCELLED,
        )


class TargetStatus(models.TextChoices):
    WAITING = "waiting", "Waiting"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    ROLLED_BACK = "rolled_back", "Rolled back to last known good"
    SKIPPED = "skipped", "Skipped after an earlier failure"
    NOT_RUN = "not_run", "Not run: the deployment was rejected or cancelled"


class DeploymentTarget(models.Model):
    """One stack of a deployment and the text it receives."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="targets")
    position = models.PositiveIntegerField()
    stack = models.ForeignKey(Stack, on_delete=models.PROTECT, related_name="deployment_targets")
    version = models.ForeignKey(
        PolicyVersion, on_delete=models.PROTECT, related_name="deployment_targets"
    )
    # The text uploaded: the version's, or the version minus one rule for a remove-rule.
    text = models.TextField()
    sha256 = models.CharField(max_length=64)
    removed_rule = models.CharField(max_length=32, blank=True)
    # A rollback to the pre-portal state: the text is this baseline's, not the version's
    # (the version is the one rolled back from, kept because a target always names one).
    baseline = models.ForeignKey(
        "StackBaseline",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="restored_by",
    )
    status = models.CharField(
        max_length=16, choices=TargetStatus.choices, default=TargetStatus.WAITING
    )
    # The text a failure restores, kept once per target before anything is uploaded: the
    # last text the portal verified as loaded on the stack, else the stack's baseline
    # (fleet.selectors.last_known_good). `last_known_good_source` names which one it is.
    last_known_good = models.TextField(blank=True)
    last_known_good_sha256 = models.CharField(max_length=64, blank=True)
    last_known_good_source = models.CharField(max_length=300, blank=True)
    # True from the moment the upload is attempted: from then on a failure restores.
    uploaded = models.BooleanField(default=False)
    # File drift found before uploading: the SHA-256 of the live file that was not
    # last-known-good. The deployment stopped; it goes on only once an operator acknowledges
    # overwriting exactly that text (the acknowledged hash must equal the live one).
    file_drift_sha256 = models.CharField(max_length=64, blank=True)
    # The text found, so the stop can show what changed (a diff against last-known-good).
    file_drift_text = models.TextField(blank=True)
    overwrite_acknowledged_sha256 = models.CharField(max_length=64, blank=True)
    overwrite_acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="acknowledged_overwrites",
    )
    overwrite_acknowledged_at = models.DateTimeField(null=True, blank=True)
    overwrite_comment = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["deployment", "position"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "position"], name="target_position")
        ]

    def __str__(self) -> str:
        return f"{self.stack.label} {self.what}"

    @property
    def what(self) -> str:
        """The text this target deploys, named for a page or a log: "v3", "v3 without rule
        CICSWEB1", or "the baseline (sha256 1a2b3c4d5e6f)"."""
        if self.baseline_id is not None:
            return f"the baseline (sha256 {self.sha256[:12]})"
        removed = f" without rule {self.removed_rule}" if self.removed_rule else ""
        return f"v{self.version.number}{removed}"


class StackBaseline(models.Model):
    """A stack's policy file as the portal first found it: the pre-portal state.

    Captured once, at the first contact (a deployment's or a verification's read of the
    live file) while nothing has been deployed to the stack; never changed afterwards.
    Until a deployment is verified as loaded, it is the stack's last-known-good.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    stack = models.OneToOneField(Stack, on_delete=models.CASCADE, related_name="policy_baseline")
    path = models.CharField(max_length=255)
    text = models.TextField(blank=True)
    sha256 = models.CharField(max_length=64)
    # False when the file did not exist at the first contact (the text is then empty).
    existed = models.BooleanField(default=True)
    captured_at = models.DateTimeField()
    captured_by = models.CharField(max_length=100)  # "deployment 1a2b3c4d", "verification …"

    def __str__(self) -> str:
        return f"baseline of {self.stack.label} ({self.sha256[:12]})"


class DeploymentStep(models.Model):
    """One logged step of a deployment: what was done, when, and what came back."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="steps")
    target = models.ForeignKey(
        DeploymentTarget, on_delete=models.CASCADE, null=True, blank=True, related_name="steps"
    )
    at = models.DateTimeField(auto_now_add=True)
    name = models.CharField(max_length=64)
    ok = models.BooleanField(default=True)
    output = models.TextField(blank=True)
    seconds = models.FloatField(default=0.0)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({'ok' if self.ok else 'failed'})"


# How a raw output holding NUL is stored (PostgreSQL's JSON cannot hold NUL): each NUL shown
# as U+2400 SYMBOL FOR NULL, counted in the output's `nul_shown`; its SHA-256 is always that
# of the text as received (fleet.selectors.output_text restores it).
NUL_SHOWN_AS = "\u2400"


class VerificationRun(models.Model):
    """One verification of a stack: raw outputs, their hashes, what parsed, the results."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    stack = models.ForeignKey(Stack, on_delete=models.PROTECT, related_name="verifications")
    deployment = models.ForeignKey(
        Deployment, on_delete=models.SET_NULL, null=True, blank=True, related_name="verifications"
    )
    expected_version = models.ForeignKey(
        PolicyVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # outputs: {"pasearch": {"text":…, "sha256":…, "parsed": true, "error": ""}, "netstat_conn":…,
    # "netstat_allconn":…, "probe": {"json":…}}; results: per-service figures (fleet/verify.py).
    outputs = models.JSONField(default=dict)
    results = models.JSONField(default=dict)
    parse_failed = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["stack", "-created_at"]),
            # The dashboard notices a run that finished by the latest finished_at (portal/
            # dashboard.py): read from this index, not from a scan of every run.
            models.Index(fields=["finished_at"], name="fleet_run_finished_idx"),
        ]

    def __str__(self) -> str:
        return f"verification of {self.stack.label} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class VerificationFigures(models.Model):
    """The stack-wide figures derived from a finished run's results (fleet/stored_figures.py):
    what the dashboard, /metrics and the API read, without decoding every service's figures.

    A table of their own, not a column of the run: SQLite keeps a row's columns in order, so a
    column stored after the large outputs and results is reached only by reading through them
    (PostgreSQL keeps large values aside, but the portal runs on both).
    """

    run = models.OneToOneField(
        VerificationRun, on_delete=models.CASCADE, primary_key=True, related_name="figures"
    )
    figures = models.JSONField()

    def __str__(self) -> str:
        return f"figures of run {self.run_id}"


class ConnectionObservation(models.Model):
    """A live connection seen in netstat; first and last seen across verifications."""

    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="observations")
    service = models.ForeignKey(
        Service, on_delete=models.SET_NULL, null=True, blank=True, related_name="observations"
    )
    conn_id = models.CharField(max_length=8)
    local_socket = models.CharField(max_length=64)
    remote_socket = models.CharField(max_length=64)
    jobname = models.CharField(max_length=8, blank=True)
    protocol = models.CharField(max_length=16, blank=True)  # TLSv1.3, or blank in cleartext
    cipher = models.CharField(max_length=4, blank=True)
    rule = models.CharField(max_length=32, blank=True)
    group_action = models.CharField(max_length=32, blank=True)
    environment_action = models.CharField(max_length=32, blank=True)
    connection_action = models.CharField(max_length=32, blank=True)
    secured = models.BooleanField(default=False)  # by AT-TLS
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stack", "conn_id", "first_seen"], name="observation_identity"
            )
        ]
        indexes = [models.Index(fields=["stack", "conn_id"])]

    def __str__(self) -> str:
        return f"{self.conn_id} {self.local_socket} <- {self.remote_socket}"


class ServiceHour(models.Model):
    """Hourly roll-up of a service's observed connections, kept for the audit period."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="hours")
    hour = models.DateTimeField()
    connections = models.PositiveIntegerField(default=0)
    secured = models.PositiveIntegerField(default=0)
    cleartext = models.PositiveIntegerField(default=0)
    protocols = models.JSONField(default=dict)  # {"TLSv1.3": 12, "TLSv1.2": 3, "cleartext": 1}
    ciphers = models.JSONField(default=dict)
    unexpected_rule = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "hour"], name="service_hour_unique")
        ]
        ordering = ["service", "-hour"]

    def __str__(self) -> str:
        return f"{self.service} {self.hour:%Y-%m-%d %H}:00"


class DriftKind(models.TextChoices):
    FILE = "file", "Policy file changed without a deployment"
    POLICY = "policy", "Loaded policy differs from the last deployed version"
    UNEXPECTED_RULE = "unexpected-rule", "Connection secured by an unexpected rule"
    PROBE = "probe", "Probe contradicts the policy"


class DriftEvent(models.Model):
    """A condition that should not be. Opens once (by `key`), resolves when it clears."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="drift_events")
    service = models.ForeignKey(
        Service, on_delete=models.SET_NULL, null=True, blank=True, related_name="drift_events"
    )
    kind = models.CharField(max_length=24, choices=DriftKind.choices)
    key = models.CharField(max_length=200)
    detail = models.TextField()
    opened_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    opened_by_run = models.ForeignKey(
        VerificationRun, on_delete=models.SET_NULL, null=True, related_name="opened_drift"
    )
    # One cause is one event: the names of every service it affects (`service` is set
    # only when there is exactly one).
    services = models.JSONField(default=list, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="acknowledged_drift",
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledgement = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            # At most one open event per condition.
            models.UniqueConstraint(
                fields=["stack", "key"],
                condition=models.Q(resolved_at__isnull=True),
                name="one_open_drift_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.key}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class Certificate(models.Model):
    """A server certificate seen on a stack's ports (by the probe), with the rules using it."""

    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="certificates")
    ring = models.CharField(max_length=255, blank=True)
    label = models.CharField(max_length=64, blank=True)
    subject = models.CharField(max_length=500)
    issuer = models.CharField(max_length=500)
    serial = models.CharField(max_length=80)
    not_after = models.DateTimeField()
    fingerprint = models.CharField(max_length=64)
    rules = models.JSONField(default=list)
    ports = models.JSONField(default=list)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    alerted_days = models.PositiveIntegerField(null=True, blank=True)  # last alert sent: 30, 7, 0
    # What the probe read from the certificate and the chain presented with it; see
    # fleet/certificates.py. Empty when recorded before it did.
    details = models.JSONField(default=dict)

    class Meta:
        ordering = ["not_after"]
        constraints = [
            models.UniqueConstraint(fields=["stack", "fingerprint"], name="certificate_per_stack")
        ]

    def __str__(self) -> str:
        return f"{self.subject} (until {self.not_after:%Y-%m-%d})"


class IncidentKind(models.TextChoices):
    CERTIFICATE_EXPIRED = "certificate-expired", "Certificate expired"
    REFUSED_CLIENTS = "refused-clients", "Clients refused by AT-TLS"
    # A peer refused after a deployment whose prediction did not warn about it (fleet/impact).
    UNPREDICTED_REFUSAL = "unpredicted-refusal", "Unpredicted refusal"
    # A rollout campaign's gate failed after a step (rollouts/): the campaign holds.
    CAMPAIGN_GATE = "campaign-gate", "A rollout campaign's gate failed"


class Incident(models.Model):
    """Something broke for users: an expired certificate failing handshakes, or a surge of
    clients AT-TLS refuses (EZD1286I) after a deployment or a drift (fleet/refusals.py)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="incidents")
    certificate = models.ForeignKey(
        Certificate, on_delete=models.SET_NULL, null=True, blank=True, related_name="incidents"
    )
    # The service whose clients are refused (refused-clients).
    service = models.ForeignKey(
        Service, on_delete=models.SET_NULL, null=True, blank=True, related_name="incidents"
    )
    # The deployment that reached the stack last before the incident opened, if any.
    preceded_by = models.ForeignKey(
        Deployment, on_delete=models.SET_NULL, null=True, blank=True, related_name="incidents"
    )
    kind = models.CharField(max_length=32)  # IncidentKind
    # One open incident per condition (e.g. `refused:TN3270_Secure`); blank: not keyed.
    key = models.CharField(max_length=200, blank=True, default="")
    summary = models.TextField()
    failing_handshakes = models.JSONField(default=list)  # EZD1286I lines from the syslog
    # What a refused-clients incident found: codes and meanings, families, peers, rates.
    details = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["stack", "key"],
                condition=models.Q(resolved_at__isnull=True) & ~models.Q(key=""),
                name="one_open_incident_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.stack}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


# --- zERT (fleet/zert/) ---------------------------------------------------------------------------


class ZertRun(models.Model):
    """One zERT collection from one LPAR: the job or file read, what was stored, the steps.

    `outputs` holds the job's JCL and spool as text with their SHA-256 (as a verification
    keeps its command outputs) and, for the binary dump, its SHA-256, size and the file it is
    kept in (settings.ZERT_DUMP_DIR, named by its hash). `cursor` is the SMF header time
    (the LPAR's LOCAL time) of the newest record read: the next run starts from its minute.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    connection = models.ForeignKey(
        LparConnection, on_delete=models.CASCADE, related_name="zert_runs"
    )
    source = models.CharField(max_length=8, choices=ZertSource.choices)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    steps = models.JSONField(default=list)  # [{"name", "ok", "detail", "seconds", "at"}]
    outputs = models.JSONField(default=dict)
    warnings = models.JSONField(default=list)  # what the reader skipped, with offsets
    since = models.DateTimeField(null=True, blank=True)  # the cursor it started from
    cursor = models.DateTimeField(null=True, blank=True)
    records_read = models.PositiveIntegerField(default=0)  # subtype 11 records parsed
    records_stored = models.PositiveIntegerField(default=0)  # new ones (the rest were stored)
    records_skipped = models.PositiveIntegerField(default=0)  # damaged, other types, no stack

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["connection", "-created_at"])]

    def __str__(self) -> str:
        return f"zERT run of {self.connection.lpar.name} ({self.get_status_display()})"


# The alerts' tables belong to the fleet app (fleet/alerts/models.py), and so do change
# impact's (fleet/impact/models.py) and the zERT collector's records, roll-ups, peers, run
# days and summary intervals (fleet/zert/models.py).
from fleet.alerts.models import AlertChannel, AlertDelivery, AlertEvent  # noqa: E402, F401
from fleet.impact.models import (  # noqa: E402, F401
    ImpactAcknowledgement,
    ImpactPrediction,
    PeerRefusalDaily,
    PortalHandshakes,
)
from fleet.zert.models import (  # noqa: E402, F401
    ZertDaily,
    ZertInterval,
    ZertPeer,
    ZertProtection,
    ZertRecord,
    ZertRunDay,
)
