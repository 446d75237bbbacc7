"""What the fleet API reads and writes. Serializers shape and parse; fleet.services writes.

Objects are named as everywhere in the API: a stack by `SYSA/TCPIP`, an LPAR by its name,
deployments, verifications, drift events and incidents by uuid, users by username. An LPAR
connection says only whether a password or key is stored: the encrypted fields are not
declared here, so no response can carry them.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fleet import presenters
from fleet.models import (
    Certificate,
    ConnectionObservation,
    Deployment,
    DeploymentKind,
    DeploymentStep,
    DeploymentTarget,
    DriftEvent,
    DriftKind,
    Incident,
    LparConnection,
    RunStatus,
    TargetStatus,
    Transport,
    VerificationRun,
)
from fleet.overview import StackStatus
from fleet.selectors import (
    OUTPUTS,
    Staleness,
    deployment_staleness,
    output_text,
    staleness_token,
)
from fleet.service_status import ServiceStatus
from policies.api.serializers import StackField


def _values(choices: type[models.TextChoices]) -> str:
    return "; ".join(f"`{value}`: {label}" for value, label in choices.choices)


class Username(serializers.SlugRelatedField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="username", read_only=True, **kwargs)


@extend_schema_field({"type": "string", "example": "SYSA/TCPIP"})
class StackLabel(serializers.Field):
    """A stack, read as its label."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str:
        return value.label


class FleetErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


# --- LPAR connections ------------------------------------------------------------------------


class LparConnectionSerializer(serializers.ModelSerializer):
    """How the portal reaches an LPAR; secrets only as "is one stored"."""

    lpar = serializers.CharField(source="lpar.name", read_only=True)
    transport = serializers.ChoiceField(choices=Transport.choices, read_only=True)
    password_set = serializers.SerializerMethodField()
    ssh_key_set = serializers.SerializerMethodField()
    stacks = serializers.SerializerMethodField()

    class Meta:
        model = LparConnection
        fields = [
            "uuid",
            "lpar",
            "transport",
            "host",
            "zosmf_port",
            "ssh_port",
            "username",
            "password_set",
            "ssh_key_set",
            "ca_bundle",
            "ssh_host_key",
            "pagent_procname",
            "syslog_path",
            "policy_path_prefixes",
            "verification_interval",
            "enabled",
            "last_verified_at",
            "stacks",
        ]
        read_only_fields = fields

    def get_password_set(self, obj: LparConnection) -> bool:
        return bool(obj.password_encrypted)

    def get_ssh_key_set(self, obj: LparConnection) -> bool:
        return bool(obj.ssh_key_encrypted)

    def get_stacks(self, obj: LparConnection) -> list[str]:
        return [f"{obj.lpar.name}/{stack.name}" for stack in obj.lpar.stacks.all()]


# --- deployments ------------------------------------------------------------------------------


class DeploymentTargetSerializer(serializers.ModelSerializer):
    stack = StackLabel()
    version = serializers.IntegerField(source="version.number", read_only=True)
    # Plain strings, not enums: the schema would need settings.ENUM_NAME_OVERRIDES to name
    # two choice sets that share a field name.
    status = serializers.CharField(read_only=True, help_text=_values(TargetStatus))

    class Meta:
        model = DeploymentTarget
        fields = [
            "position",
            "stack",
            "version",
            "sha256",
            "removed_rule",
            "status",
            "uploaded",
            "last_known_good_sha256",
            "started_at",
            "finished_at",
            "error",
        ]
        read_only_fields = fields


class DeploymentStepSerializer(serializers.ModelSerializer):
    stack = serializers.SerializerMethodField()

    class Meta:
        model = DeploymentStep
        fields = ["at", "stack", "name", "ok", "output", "seconds"]
        read_only_fields = fields

    def get_stack(self, obj: DeploymentStep) -> str | None:
        return obj.target.stack.label if obj.target is not None else None


class DeploymentSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True, help_text=_values(DeploymentKind))
    status = serializers.ChoiceField(choices=RunStatus.choices, read_only=True)
    requested_by = Username()
    approved_by = Username(allow_null=True)
    closed_by = Username(
        allow_null=True, help_text="Who rejected or cancelled it while it was pending"
    )
    rollback_of = serializers.SlugRelatedField(slug_field="uuid", read_only=True, allow_null=True)
    targets = DeploymentTargetSerializer(many=True, read_only=True)

    class Meta:
        model = Deployment
        fields = [
            "uuid",
            "kind",
            "status",
            "requested_by",
            "approved_by",
            "approved_at",
            "closed_by",
            "closed_at",
            "close_reason",
            "rollback_of",
            "note",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "attempts",
            "targets",
        ]
        read_only_fields = fields


class StalenessSerializer(serializers.Serializer):
    stack = StackLabel()
    message = serializers.CharField()


class DeploymentDetailSerializer(DeploymentSerializer):
    steps = DeploymentStepSerializer(many=True, read_only=True)
    verifications = serializers.SlugRelatedField(slug_field="uuid", many=True, read_only=True)
    stale = serializers.SerializerMethodField(
        help_text="While pending: what changed since the request (a newer version, another"
        " deployment live). Approving then needs `confirm`."
    )
    confirm = serializers.SerializerMethodField(
        help_text="While pending and stale: the token to send with the approval to confirm"
        " exactly these warnings; empty otherwise"
    )

    class Meta(DeploymentSerializer.Meta):
        fields = [*DeploymentSerializer.Meta.fields, "steps", "verifications", "stale", "confirm"]
        read_only_fields = fields

    def _staleness(self, obj: Deployment) -> list[Staleness]:
        if obj.status != RunStatus.PENDING:
            return []
        cache = self.context.setdefault("staleness", {})
        if obj.pk not in cache:
            cache[obj.pk] = deployment_staleness(obj)
        return cache[obj.pk]

    @extend_schema_field(StalenessSerializer(many=True))
    def get_stale(self, obj: Deployment) -> list[dict[str, Any]]:
        return StalenessSerializer(self._staleness(obj), many=True).data

    def get_confirm(self, obj: Deployment) -> str:
        return staleness_token(self._staleness(obj))


class DeploymentApproveSerializer(serializers.Serializer):
    confirm = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=64,
        help_text="The `confirm` token of a stale deployment (from its detail or the 409"
        " answer): you approve it knowing exactly those warnings",
    )
    acknowledge_impact = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text="Why peers the prediction says will break may break (required when there are"
        " any; stored with the deployment and in the change log)",
    )


class DeploymentRejectSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=2000,
        help_text="Why it is rejected; the requester reads it, the audit log keeps it",
        error_messages={
            "required": "Say why the deployment is rejected.",
            "blank": "Say why the deployment is rejected.",
        },
    )


class DeploymentCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class StaleErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    stale = StalenessSerializer(many=True)
    confirm = serializers.CharField(help_text="Send it back as `confirm` to approve anyway")


class DeploymentTargetRequestSerializer(serializers.Serializer):
    stack = StackField()
    version = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="Version number within the stack; the latest published when left out",
    )


class DeploymentRequestSerializer(serializers.Serializer):
    targets = DeploymentTargetRequestSerializer(
        many=True, allow_empty=False, help_text="Stacks in the order they are deployed to"
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class RollbackRequestSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class RemoveRuleRequestSerializer(serializers.Serializer):
    rule = serializers.CharField(max_length=32, help_text="A rule of the deployed policy")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class AcknowledgementSerializer(serializers.Serializer):
    comment = serializers.CharField(
        allow_blank=True, max_length=2000, help_text="Why; recorded in the audit log (required)"
    )


# --- verifications ----------------------------------------------------------------------------


class OutputSummarySerializer(serializers.Serializer):
    command = serializers.CharField()
    sha256 = serializers.CharField()
    parsed = serializers.BooleanField()
    error = serializers.CharField(allow_blank=True)
    seconds = serializers.FloatField(required=False)


class OutputSerializer(OutputSummarySerializer):
    exit_status = serializers.IntegerField(required=False, allow_null=True)
    stderr = serializers.CharField(required=False, allow_blank=True)
    text = serializers.CharField(
        help_text="The raw output; for the probe, the canonical JSON its sha256 is of"
    )


def _outputs(run: VerificationRun, *, with_text: bool) -> dict[str, Any]:
    found = {}
    for name in OUTPUTS:
        entry = (run.outputs or {}).get(name)
        if entry is None:
            continue
        item = {
            "command": entry.get("command", ""),
            "sha256": entry.get("sha256", ""),
            "parsed": bool(entry.get("parsed")),
            "error": entry.get("error", ""),
            "seconds": entry.get("seconds", 0.0),
        }
        if with_text:
            item["exit_status"] = entry.get("exit_status")
            item["stderr"] = entry.get("stderr", "")
            item["text"] = output_text(entry)
        found[name] = item
    return found


class VerificationSerializer(serializers.ModelSerializer):
    """A verification without its raw outputs and per-service figures (see the detail)."""

    stack = StackLabel()
    status = serializers.ChoiceField(choices=RunStatus.choices, read_only=True)
    expected_version = serializers.IntegerField(
        source="expected_version.number", read_only=True, allow_null=True
    )
    deployment = serializers.SlugRelatedField(slug_field="uuid", read_only=True, allow_null=True)
    connections = serializers.SerializerMethodField()
    secured = serializers.SerializerMethodField()
    coverage = serializers.SerializerMethodField()
    refused = serializers.SerializerMethodField(
        help_text="Attempts AT-TLS refused (EZD1286I, the portal probe's apart) since the"
        " previous run; not counted in coverage"
    )
    protocols = serializers.SerializerMethodField()

    class Meta:
        model = VerificationRun
        fields = [
            "uuid",
            "stack",
            "status",
            "deployment",
            "expected_version",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "parse_failed",
            "connections",
            "secured",
            "coverage",
            "refused",
            "protocols",
        ]
        read_only_fields = fields

    def get_refused(self, obj: VerificationRun) -> int | None:
        return (obj.results or {}).get("refused")

    def get_connections(self, obj: VerificationRun) -> int | None:
        return (obj.results or {}).get("connections")

    def get_secured(self, obj: VerificationRun) -> int | None:
        return (obj.results or {}).get("secured")

    def get_coverage(self, obj: VerificationRun) -> float | None:
        return (obj.results or {}).get("coverage")

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_protocols(self, obj: VerificationRun) -> dict[str, int]:
        return (obj.results or {}).get("protocols") or {}


class VerificationDetailSerializer(VerificationSerializer):
    results = serializers.JSONField(
        read_only=True, help_text="Per-service figures, as fleet/verify/figures.py computes them"
    )
    outputs = serializers.SerializerMethodField()

    class Meta(VerificationSerializer.Meta):
        fields = [*VerificationSerializer.Meta.fields, "results", "outputs"]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField(child=OutputSerializer()))
    def get_outputs(self, obj: VerificationRun) -> dict[str, Any]:
        return _outputs(obj, with_text=True)


# --- drift, certificates, incidents -----------------------------------------------------------


class DriftEventSerializer(serializers.ModelSerializer):
    stack = StackLabel()
    service = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    opened_by_run = serializers.SlugRelatedField(slug_field="uuid", read_only=True, allow_null=True)
    kind = serializers.CharField(read_only=True, help_text=_values(DriftKind))
    is_open = serializers.BooleanField(read_only=True)
    services = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Every service this cause affects (one cause, one event)",
    )
    acknowledged_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = DriftEvent
        fields = [
            "uuid",
            "stack",
            "service",
            "services",
            "kind",
            "key",
            "detail",
            "opened_at",
            "last_seen_at",
            "resolved_at",
            "is_open",
            "opened_by_run",
            "acknowledged_by",
            "acknowledged_at",
            "acknowledgement",
        ]
        read_only_fields = fields


class CertificateSerializer(serializers.ModelSerializer):
    stack = StackLabel()
    days_left = serializers.SerializerMethodField()
    band = serializers.SerializerMethodField(help_text="expired, ≤ 7 days, ≤ 30 days or valid")
    rules = serializers.ListField(child=serializers.CharField(), read_only=True)
    ports = serializers.ListField(child=serializers.IntegerField(), read_only=True)

    class Meta:
        model = Certificate
        fields = [
            "stack",
            "fingerprint",
            "subject",
            "issuer",
            "serial",
            "ring",
            "label",
            "not_after",
            "days_left",
            "band",
            "rules",
            "ports",
            "first_seen",
            "last_seen",
        ]
        read_only_fields = fields

    def get_days_left(self, obj: Certificate) -> int:
        return presenters.certificate_expiry(obj.not_after, timezone.now()).days

    def get_band(self, obj: Certificate) -> str:
        return presenters.certificate_expiry(obj.not_after, timezone.now()).label


class IncidentSerializer(serializers.ModelSerializer):
    stack = StackLabel()
    certificate = serializers.SlugRelatedField(
        slug_field="fingerprint", read_only=True, allow_null=True
    )
    failing_handshakes = serializers.ListField(child=serializers.CharField(), read_only=True)
    service = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    preceded_by = serializers.SlugRelatedField(
        slug_field="uuid",
        read_only=True,
        allow_null=True,
        help_text="The deployment that reached the stack last before the incident opened",
    )
    details = serializers.DictField(
        read_only=True,
        help_text="refused-clients: refused, codes (count, meaning, family), families, peers,"
        " judgement (per_minute, share, baseline_per_minute), preceded_by",
    )

    class Meta:
        model = Incident
        fields = [
            "uuid",
            "stack",
            "kind",
            "summary",
            "certificate",
            "service",
            "preceded_by",
            "details",
            "failing_handshakes",
            "opened_at",
            "last_seen_at",
            "resolved_at",
            "resolution",
        ]
        read_only_fields = fields


# --- the fleet overview, per stack -----------------------------------------------------------


class DeployedSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    sha256 = serializers.CharField()
    removed_rule = serializers.CharField(allow_blank=True)
    deployment = serializers.UUIDField()
    finished_at = serializers.DateTimeField(allow_null=True)


class LastVerificationSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    status = serializers.ChoiceField(choices=RunStatus.choices)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_blank=True)


class PortSummarySerializer(serializers.Serializer):
    probed = serializers.IntegerField(help_text="Service ports the probe reached")
    cleartext = serializers.IntegerField(help_text="Ports that do not speak TLS")
    app_tls = serializers.IntegerField(help_text="Ports that speak TLS")
    deprecated = serializers.IntegerField(help_text="Ports that accept TLS 1.0/1.1 or SSL")
    weakest = serializers.DictField(
        child=serializers.IntegerField(), help_text="Weakest accepted version → ports"
    )


class StackStatusSerializer(serializers.Serializer):
    """One stack's state: deployed version, AT-TLS coverage and protocol mix, findings."""

    stack = serializers.CharField(source="stack.label")
    lpar = serializers.CharField(source="stack.lpar.name")
    connected = serializers.SerializerMethodField()
    attls_deployed = serializers.SerializerMethodField()
    deployed = serializers.SerializerMethodField()
    latest_version = serializers.SerializerMethodField()
    connections = serializers.SerializerMethodField()
    secured = serializers.SerializerMethodField()
    coverage = serializers.SerializerMethodField()
    refused = serializers.IntegerField(
        help_text="Attempts AT-TLS refused since the stack's previous verification (EZD1286I,"
        " the portal probe's apart); not counted in coverage"
    )
    protocols = serializers.SerializerMethodField()
    ports = serializers.SerializerMethodField()
    open_drift = serializers.IntegerField()
    certificates_due = serializers.IntegerField(help_text="Expire within 30 days")
    certificates_expired = serializers.IntegerField()
    last_verification = serializers.SerializerMethodField()
    last_successful_verification = serializers.SerializerMethodField()

    def get_connected(self, obj: StackStatus) -> bool:
        return obj.connection is not None

    def get_attls_deployed(self, obj: StackStatus) -> bool:
        return obj.deployed is not None

    @extend_schema_field(DeployedSerializer(allow_null=True))
    def get_deployed(self, obj: StackStatus) -> dict[str, Any] | None:
        target = obj.deployed
        if target is None:
            return None
        return {
            "version": target.version.number,
            "sha256": target.sha256,
            "removed_rule": target.removed_rule,
            "deployment": target.deployment.uuid,
            "finished_at": target.finished_at,
        }

    def get_latest_version(self, obj: StackStatus) -> int | None:
        return obj.latest_version.number if obj.latest_version is not None else None

    def get_connections(self, obj: StackStatus) -> int | None:
        return obj.connections

    def get_secured(self, obj: StackStatus) -> int | None:
        return obj.secured

    def get_coverage(self, obj: StackStatus) -> float | None:
        return obj.coverage

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_protocols(self, obj: StackStatus) -> dict[str, int]:
        return dict(obj.figures.get("protocols") or {})

    @extend_schema_field(PortSummarySerializer)
    def get_ports(self, obj: StackStatus) -> dict[str, Any]:
        ports = obj.ports
        return {
            "probed": ports.probed,
            "cleartext": ports.cleartext,
            "app_tls": ports.app_tls,
            "deprecated": ports.deprecated,
            "weakest": ports.weakest,
        }

    def _run(self, run: VerificationRun | None) -> dict[str, Any] | None:
        if run is None:
            return None
        return {
            "uuid": run.uuid,
            "status": run.status,
            "created_at": run.created_at,
            "finished_at": run.finished_at,
            "error": run.error,
        }

    @extend_schema_field(LastVerificationSerializer(allow_null=True))
    def get_last_verification(self, obj: StackStatus) -> dict[str, Any] | None:
        return self._run(obj.last_run)

    @extend_schema_field(LastVerificationSerializer(allow_null=True))
    def get_last_successful_verification(self, obj: StackStatus) -> dict[str, Any] | None:
        return self._run(obj.run)


# --- my services -------------------------------------------------------------------------------


class LiveConnectionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConnectionObservation
        fields = [
            "conn_id",
            "local_socket",
            "remote_socket",
            "jobname",
            "protocol",
            "cipher",
            "rule",
            "secured",
            "first_seen",
            "last_seen",
        ]
        read_only_fields = fields


class ServiceHourSerializer(serializers.Serializer):
    hour = serializers.DateTimeField()
    connections = serializers.IntegerField()
    secured = serializers.IntegerField()
    cleartext = serializers.IntegerField()
    protocols = serializers.DictField(child=serializers.IntegerField())


class MyServiceSerializer(serializers.Serializer):
    uuid = serializers.UUIDField(source="service.uuid")
    name = serializers.CharField(source="service.name")
    stack = serializers.CharField(source="service.stack.label")
    owner_team = serializers.CharField(source="service.owner_team")
    status = serializers.SerializerMethodField(
        help_text="secured, partly, refusing, cleartext, not-deployed or not-verified"
    )
    status_reason = serializers.SerializerMethodField()
    in_scope = serializers.SerializerMethodField(help_text="The deployed policy has its rule")
    connections = serializers.SerializerMethodField()
    secured = serializers.SerializerMethodField()
    protocols = serializers.SerializerMethodField()
    ciphers = serializers.SerializerMethodField()
    probe_protocols = serializers.SerializerMethodField(
        help_text="Versions the service port accepts"
    )
    handshake_failures = serializers.SerializerMethodField(
        help_text="Failed AT-TLS handshakes (EZD1286I) since the previous verification, per RC"
    )
    verified_at = serializers.SerializerMethodField()
    live_connections = LiveConnectionSerializer(source="live", many=True, read_only=True)
    hours = ServiceHourSerializer(many=True, read_only=True)

    def _entry(self, obj: ServiceStatus) -> dict[str, Any]:
        return obj.entry or {}

    def get_status(self, obj: ServiceStatus) -> str:
        return obj.badge.key

    def get_status_reason(self, obj: ServiceStatus) -> str:
        return obj.badge.why

    def get_in_scope(self, obj: ServiceStatus) -> bool:
        return bool(self._entry(obj).get("in_scope"))

    def get_connections(self, obj: ServiceStatus) -> int:
        return self._entry(obj).get("connections") or 0

    def get_secured(self, obj: ServiceStatus) -> int:
        return self._entry(obj).get("secured") or 0

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_protocols(self, obj: ServiceStatus) -> dict[str, int]:
        return self._entry(obj).get("protocols") or {}

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_ciphers(self, obj: ServiceStatus) -> dict[str, int]:
        return self._entry(obj).get("ciphers") or {}

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_probe_protocols(self, obj: ServiceStatus) -> list[str]:
        return self._entry(obj).get("probe_protocols") or []

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_handshake_failures(self, obj: ServiceStatus) -> dict[str, int]:
        return self._entry(obj).get("handshake_failures") or {}

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_verified_at(self, obj: ServiceStatus) -> Any:
        return obj.run.finished_at if obj.run is not None else None
