"""What the API reads and writes. Serializers parse and validate; services do the writing.

References between objects are by stable name, never by database id: a stack by its
`SYSA/TCPIP` label (or uuid), a shared object by its statement name, a user by username.
Users appear as usernames only; nothing here can carry a password, hash or token.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import UniqueTogetherValidator

from attls import ciphers
from attls.releases import release_choices
from policies.models import (
    CipherSet,
    ConnectionAction,
    EnvironmentAction,
    GroupAction,
    Keyring,
    Lpar,
    PolicyVersion,
    Rule,
    Service,
    Stack,
)
from policies.validators import (
    port_order_errors,
    validate_certificate_label,
    validate_client_ecurves,
    validate_client_key_share_groups,
    validate_server_kex_ecurves,
    validate_server_key_share_groups,
    validate_signature_pairs,
)

# --- references -------------------------------------------------------------------------


def stack_lookup(ref: str, *, prefix: str = "") -> dict[str, Any]:
    """Filter arguments for the stack named by `LPAR/STACK` or by its uuid."""
    try:
        return {f"{prefix}uuid": uuid.UUID(ref)}
    except ValueError:
        lpar_name, _, stack_name = ref.partition("/")
        return {f"{prefix}lpar__name": lpar_name, f"{prefix}name": stack_name}


@extend_schema_field({"type": "string", "example": "SYSA/TCPIP"})
class StackField(serializers.Field):
    """A stack, written as `LPAR/STACK` (its label) or its uuid, read as its label."""

    default_error_messages = {
        "does_not_exist": "There is no stack {ref}; name it LPAR/STACK, e.g. SYSA/TCPIP.",
        "invalid": "Name the stack as a string LPAR/STACK, e.g. SYSA/TCPIP.",
    }

    def to_internal_value(self, data: Any) -> Stack:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            return Stack.objects.select_related("lpar").get(**stack_lookup(data))
        except Stack.DoesNotExist:
            self.fail("does_not_exist", ref=data)

    def to_representation(self, value: Stack) -> str:
        return value.label


def by_name(model: type, **kwargs: Any) -> serializers.SlugRelatedField:
    """A reference to a shared object by its statement name."""
    return serializers.SlugRelatedField(slug_field="name", queryset=model.objects.all(), **kwargs)


class UsernameField(serializers.SlugRelatedField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="username", queryset=User.objects.all(), **kwargs)


# --- findings, usage ----------------------------------------------------------------------


class FindingSerializer(serializers.Serializer):
    """One lint finding about the policy, as `policies.services.finding_to_dict` spells it."""

    severity = serializers.ChoiceField(choices=["error", "warning", "info"])
    code = serializers.CharField(help_text="Stable code, e.g. `shadowed-rule`")
    message = serializers.CharField()
    statement = serializers.ListField(
        child=serializers.CharField(),
        allow_null=True,
        help_text="[statement type, name] of the statement the finding is about",
    )
    controls = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="For a NIST SP 800-52r2 profile finding: the control ids it breaks, as in"
        " the audit catalog (e.g. `NIST-800-52r2-3.1-tls11`)",
    )


class UsageSerializer(serializers.Serializer):
    rules = serializers.IntegerField(help_text="Included rules that use the object")
    stacks = serializers.ListField(
        child=serializers.CharField(), help_text="Labels of the stacks whose policy it reaches"
    )


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What happened and what to do about it")
    revision = serializers.IntegerField(
        required=False, help_text="The object's current revision, after a stale edit"
    )


class PublishRefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    findings = FindingSerializer(many=True)


# --- LPARs and stacks ----------------------------------------------------------------------


class LparSerializer(serializers.ModelSerializer):
    stacks = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = Lpar
        fields = ["uuid", "name", "kind", "description", "stacks"]


class StackSerializer(serializers.ModelSerializer):
    lpar = serializers.SlugRelatedField(slug_field="name", queryset=Lpar.objects.all())
    label = serializers.CharField(read_only=True)
    service_count = serializers.IntegerField(read_only=True)
    latest_version = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Number of the last published version"
    )

    class Meta:
        model = Stack
        fields = [
            "uuid",
            "lpar",
            "name",
            "label",
            "policy_file",
            "zos_release",
            "service_count",
            "latest_version",
        ]
        # The model's default path names the TCPIP stack; every other stack has its own.
        extra_kwargs = {"policy_file": {"required": True}}
        validators = [
            UniqueTogetherValidator(
                queryset=Stack.objects.all(),
                fields=["lpar", "name"],
                message="This LPAR already has a stack of that name.",
            )
        ]


class StackReleaseSerializer(serializers.Serializer):
    zos_release = serializers.ChoiceField(
        choices=release_choices(), help_text="The z/OS release the stack runs"
    )


# --- shared objects -----------------------------------------------------------------------


class SharedObjectSerializer(serializers.ModelSerializer):
    """Common fields. `usage` comes from the view (context["usage"]), computed per page."""

    usage = serializers.SerializerMethodField()

    common_fields = ["uuid", "name", "description", "revision", "updated_at", "usage"]

    @extend_schema_field(UsageSerializer)
    def get_usage(self, obj: Any) -> dict[str, Any]:
        return self.context["usage"][obj.pk]


class RevisionRequired(serializers.Serializer):
    """Updates carry the revision the client started from; a newer one answers 409."""

    revision = serializers.IntegerField(
        min_value=1,
        help_text="The revision you loaded. If someone saved since, the update answers 409.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # PATCH makes every field optional; the revision never is.
        if "revision" not in attrs:
            raise serializers.ValidationError(
                {"revision": ["Send the revision you started from (it is in every read)."]}
            )
        return super().validate(attrs)


class KeyringSerializer(SharedObjectSerializer):
    certificate_labels = serializers.ListField(
        child=serializers.CharField(
            min_length=1, max_length=32, validators=[validate_certificate_label]
        ),
        required=False,
    )

    class Meta:
        model = Keyring
        fields = [*SharedObjectSerializer.common_fields, "ring", "certificate_labels"]


class CipherSetSerializer(SharedObjectSerializer):
    suites = serializers.ListField(
        child=serializers.CharField(min_length=4, max_length=4),
        allow_empty=False,
        help_text="Ordered 4-character codes of the attls cipher registry, e.g. 1301, C02F",
    )
    suite_names = serializers.SerializerMethodField()

    class Meta:
        model = CipherSet
        fields = [*SharedObjectSerializer.common_fields, "suites", "suite_names"]

    def validate_suites(self, value: list[str]) -> list[str]:
        # The model validator reports unknown codes and repeats; codes are stored as
        # the registry writes them so that "c02f" and "C02F" are one suite.
        codes = [code.strip().upper() for code in value]
        unknown = [code for code in codes if ciphers.get(code) is None]
        if unknown:
            raise serializers.ValidationError(f"Not in the cipher registry: {', '.join(unknown)}.")
        return codes

    def get_suite_names(self, obj: CipherSet) -> list[str]:
        """IANA names of the suites, in order."""
        return [suite.iana_name if (suite := ciphers.get(code)) else code for code in obj.suites]


class GroupActionSerializer(SharedObjectSerializer):
    class Meta:
        model = GroupAction
        fields = [*SharedObjectSerializer.common_fields, "ttls_enabled", "trace", "fips140"]


def codes_field(parameter: str, validator: Any, example: str) -> serializers.ListField:
    """An ordered list of 4-character codes of TTLSSignatureParms; empty leaves it to z/OS."""
    return serializers.ListField(
        child=serializers.CharField(min_length=3, max_length=4),
        required=False,
        validators=[validator],
        help_text=f"{parameter}: ordered 4-character codes, e.g. {example}."
        " An empty list writes nothing, so the z/OS default applies.",
    )


class EnvironmentActionSerializer(SharedObjectSerializer):
    keyring = by_name(Keyring)
    cipher_set = by_name(CipherSet, allow_null=True, required=False)
    server_kex_ecurves = codes_field(
        "ServerKexECurves", validate_server_kex_ecurves, '["0023", "0024"]'
    )
    server_key_share_groups = codes_field(
        "ServerKeyShareGroups", validate_server_key_share_groups, '["0023", "0024"]'
    )
    client_ecurves = codes_field(
        "ClientECurves", validate_client_ecurves, '["0023", "0024"] or ["Any"]'
    )
    client_key_share_groups = codes_field(
        "ClientKeyShareGroups", validate_client_key_share_groups, '["0023"]'
    )
    signature_pairs = codes_field(
        "SignaturePairs", validate_signature_pairs, '["0601", "0603", "0401", "0403"]'
    )

    class Meta:
        model = EnvironmentAction
        fields = [
            *SharedObjectSerializer.common_fields,
            "handshake_role",
            "keyring",
            "cipher_set",
            "sslv3",
            "tlsv1",
            "tlsv1_1",
            "tlsv1_2",
            "tlsv1_3",
            "client_auth_type",
            "cert_validation_mode",
            "renegotiation",
            "handshake_timeout",
            "middle_box_compat_mode",
            "certificate_label",
            "environment_user_instance",
            *EnvironmentAction.SIGNATURE_FIELDS,
            *EnvironmentAction.PEER_MIN_FIELDS,
            *EnvironmentAction.REVOCATION_FIELDS,
        ]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Codes are stored as the registry writes them ("Any" keeps its casing).
        for name in EnvironmentAction.SIGNATURE_FIELDS:
            if name in attrs:
                attrs[name] = [c if c == "Any" else c.strip().upper() for c in attrs[name]]
        return super().validate(attrs)


class ConnectionActionSerializer(SharedObjectSerializer):
    cipher_set = by_name(CipherSet, allow_null=True, required=False)

    class Meta:
        model = ConnectionAction
        fields = [
            *SharedObjectSerializer.common_fields,
            "handshake_role",
            "cipher_set",
            "tlsv1_2",
            "tlsv1_3",
            "certificate_label",
        ]


class KeyringUpdateSerializer(RevisionRequired, KeyringSerializer):
    pass


class CipherSetUpdateSerializer(RevisionRequired, CipherSetSerializer):
    pass


class GroupActionUpdateSerializer(RevisionRequired, GroupActionSerializer):
    pass


class EnvironmentActionUpdateSerializer(RevisionRequired, EnvironmentActionSerializer):
    pass


class ConnectionActionUpdateSerializer(RevisionRequired, ConnectionActionSerializer):
    pass


# --- services and rules ---------------------------------------------------------------------


class RuleFieldsSerializer(serializers.ModelSerializer):
    """The TTLSRule of a service: priority, shared actions by name, its own overrides."""

    group_action = by_name(GroupAction)
    environment_action = by_name(EnvironmentAction, allow_null=True, required=False)
    connection_action = by_name(ConnectionAction, allow_null=True, required=False)
    override_cipher_set = by_name(CipherSet, allow_null=True, required=False)

    class Meta:
        model = Rule
        fields = [
            "priority",
            "group_action",
            "environment_action",
            "connection_action",
            "override_tlsv1_2",
            "override_tlsv1_3",
            "override_cipher_set",
        ]


class RuleSerializer(RuleFieldsSerializer):
    """A rule on its own (the rules endpoint), named by its service."""

    service = serializers.UUIDField(source="service.uuid", read_only=True)
    name = serializers.CharField(source="service.name", read_only=True)
    stack = serializers.CharField(source="service.stack.label", read_only=True)
    included = serializers.BooleanField(source="service.included", read_only=True)
    has_overrides = serializers.BooleanField(read_only=True)

    class Meta(RuleFieldsSerializer.Meta):
        fields = [
            "service",
            "name",
            "stack",
            "included",
            *RuleFieldsSerializer.Meta.fields,
            "has_overrides",
        ]
        read_only_fields = fields


class ServiceSerializer(serializers.ModelSerializer):
    stack = StackField()
    owners = UsernameField(many=True, required=False, help_text="Usernames of the owners")
    local_ports = serializers.CharField(read_only=True)
    rule = RuleFieldsSerializer()

    class Meta:
        model = Service
        fields = [
            "uuid",
            "stack",
            "name",
            "description",
            "owner_team",
            "owners",
            "jobname",
            "userid",
            "local_port_low",
            "local_port_high",
            "local_ports",
            "remote_address",
            "remote_port_low",
            "remote_port_high",
            "direction",
            "tier",
            "phase",
            "included",
            "rule",
            "revision",
            "updated_at",
        ]
        # The columns hold 9 characters for a trailing `*`; the job-name validator
        # states the real limit (8, then optionally `*`), DRF's would state 9.
        extra_kwargs = {"jobname": {"max_length": None}, "userid": {"max_length": None}}
        validators = [
            UniqueTogetherValidator(
                queryset=Service.objects.all(),
                fields=["stack", "name"],
                message="This stack already has a service of that name.",
            )
        ]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The model checks this as a table constraint, whose message names the
        # constraint; say it in the user's terms, on the field (as the designer's form does).
        ports = {
            name: attrs.get(name, getattr(self.instance, name, 0))
            for side in ("local", "remote")
            for name in (f"{side}_port_low", f"{side}_port_high")
        }
        errors = port_order_errors(ports)
        if errors:
            raise serializers.ValidationError({name: [text] for name, text in errors.items()})
        return super().validate(attrs)


class ServiceUpdateSerializer(RevisionRequired, ServiceSerializer):
    pass


class ServiceFiltersSerializer(serializers.Serializer):
    """The query string of the service list (the same filters as the designer's list)."""

    search = serializers.CharField(
        required=False, allow_blank=True, help_text="In name, job name, description, team"
    )
    lpar = serializers.CharField(required=False, allow_blank=True, help_text="LPAR name")
    stack = serializers.CharField(required=False, allow_blank=True, help_text="LPAR/STACK")
    tier = serializers.ChoiceField(
        choices=Service._meta.get_field("tier").choices, required=False, allow_blank=True
    )
    phase = serializers.ChoiceField(
        choices=Service._meta.get_field("phase").choices, required=False, allow_blank=True
    )
    owner = serializers.CharField(required=False, allow_blank=True, help_text="Owner team")


# --- drafts, versions, publication -----------------------------------------------------------


class PublishedRefSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    sha256 = serializers.CharField()


class DraftSerializer(serializers.Serializer):
    """What publishing the stack now would freeze, and how it differs from the last version."""

    stack = serializers.CharField(help_text="LPAR/STACK")
    text = serializers.CharField(help_text="The policy file as PAGENT would receive it")
    sha256 = serializers.CharField()
    findings = FindingSerializer(many=True)
    changed = serializers.BooleanField(help_text="Whether it differs from the last version")
    published = PublishedRefSerializer(allow_null=True, help_text="The last published version")
    diff = serializers.CharField(help_text="Unified diff from the last version (or nothing)")


class PublishSerializer(serializers.Serializer):
    note = serializers.CharField(help_text="What this version changes and why")
    acknowledge_warnings = serializers.BooleanField(
        default=False, help_text="Publish even though lint found warnings"
    )


class VersionSerializer(serializers.ModelSerializer):
    stack = serializers.CharField(source="stack.label", read_only=True)
    author = serializers.CharField(source="author.username", read_only=True)
    parent = serializers.IntegerField(
        source="parent.number", read_only=True, allow_null=True, help_text="Previous number"
    )
    lint = FindingSerializer(many=True, read_only=True, help_text="Findings acknowledged")
    created = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = PolicyVersion
        fields = [
            "uuid",
            "stack",
            "number",
            "sha256",
            "author",
            "note",
            "created",
            "parent",
            "lint",
            "text_problem",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "text_problem": {
                "help_text": "Why this version's text cannot be trusted as its model (it is"
                " never deployed then); empty for a sound version"
            }
        }


class VersionDetailSerializer(VersionSerializer):
    model = serializers.JSONField(
        read_only=True, help_text="The structured policy, statements in policy-file spelling"
    )

    class Meta(VersionSerializer.Meta):
        fields = [*VersionSerializer.Meta.fields, "model"]
        read_only_fields = fields
