"""The design: LPARs, stacks, services with their rules, shared policy objects, versions.

A stack's draft policy is generated from these rows (policies/generation.py); a
published PolicyVersion freezes it and never changes again. Shared objects carry a
`revision` counter so that a save based on a stale form is refused, not merged.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from attls import values
from attls.policy.model import PRIORITY_MAX, PRIORITY_MIN
from attls.releases import DEFAULT_RELEASE, release_choices
from policies import choices
from policies.validators import (
    validate_address,
    validate_certificate_label,
    validate_cipher_codes,
    validate_client_ecurves,
    validate_client_key_share_groups,
    validate_job_pattern,
    validate_keyring,
    validate_labels,
    validate_ocsp_url,
    validate_policy_file,
    validate_policy_name,
    validate_server_kex_ecurves,
    validate_server_key_share_groups,
    validate_signature_pairs,
    validate_stack_name,
    validate_system_name,
    validate_user_id_pattern,
)

PORT_VALIDATORS = [MinValueValidator(0), MaxValueValidator(65535)]


class Lpar(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(
        max_length=8,
        unique=True,
        validators=[validate_system_name],
        help_text="System name, e.g. SYSA: 1-8 of A-Z 0-9 @ # $, not a digit first",
    )
    kind = models.CharField(
        max_length=16, choices=choices.LparKind.choices, default=choices.LparKind.PRODUCTION
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Stack(models.Model):
    """One TCP/IP stack (TcpImage) of an LPAR, and where its AT-TLS policy file lives."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    lpar = models.ForeignKey(Lpar, on_delete=models.PROTECT, related_name="stacks")
    name = models.CharField(
        max_length=8,
        validators=[validate_stack_name],
        help_text="TCP/IP job name, e.g. TCPIP: 1-8 of A-Z 0-9 @ # $, not a digit first",
    )
    policy_file = models.CharField(
        max_length=1023,
        default="/etc/pagent/TCPIP.policy",
        validators=[validate_policy_file],
        help_text="Absolute z/OS UNIX path; deployments write it only under the directories"
        " allowed by the LPAR's connection",
    )
    # Defaults, cipher implementation and lint follow the release (attls.releases); a
    # verification compares it with the release the stack's pasearch header prints.
    zos_release = models.CharField(
        "z/OS release",
        max_length=4,
        choices=release_choices(),
        default=DEFAULT_RELEASE,
        help_text="The z/OS release the stack runs; AT-TLS defaults differ by release",
    )

    class Meta:
        ordering = ["lpar__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["lpar", "name"], name="stack_unique_per_lpar")
        ]

    def __str__(self) -> str:
        return f"{self.lpar.name}/{self.name}"

    def clean(self) -> None:
        """The policy file lies under a directory the LPAR allows: its connection's allowed
        directories, else the default ones (attls.values.DEFAULT_POLICY_PREFIXES). Checked
        here so every way of saving a stack (service, API, seed) shares it; deployments
        check it again (fleet.models.LparConnection.policy_file_refusal) since the
        directories may change after."""
        if not self.policy_file or self.lpar_id is None:
            return  # the field's own validators answer for a missing value
        # The connection is fleet's (a reverse one-to-one, read without importing fleet).
        connection = getattr(self.lpar, "connection", None)
        allowed = getattr(connection, "policy_path_prefixes", None) or list(
            values.DEFAULT_POLICY_PREFIXES
        )
        try:
            values.policy_file_path(self.policy_file, allowed_prefixes=allowed)
        except values.ValueRefused as refusal:
            raise ValidationError({"policy_file": str(refusal)}) from None

    @property
    def label(self) -> str:
        """`SYSA/TCPIP`, the way operators name a stack."""
        return f"{self.lpar.name}/{self.name}"


class SharedObject(models.Model):
    """Common fields of the objects many rules reference."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=32, unique=True, validators=[validate_policy_name])
    description = models.TextField(blank=True)
    revision = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Keyring(SharedObject):
    """A TTLSKeyringParms: the SAF key ring and the certificate labels it holds."""

    ring = models.CharField(
        max_length=1023,
        validators=[validate_keyring],
        help_text="owner/ringname, e.g. TCPIP/SharedRing (Keyring)",
    )
    certificate_labels = models.JSONField(default=list, blank=True, validators=[validate_labels])


class CipherSet(SharedObject):
    """A TTLSCipherParms: an ordered list of suites by 4-character code."""

    suites = models.JSONField(default=list, validators=[validate_cipher_codes])


class GroupAction(SharedObject):
    """A TTLSGroupAction: TTLSEnabled is the master switch of every rule that uses it."""

    ttls_enabled = models.BooleanField(default=True)
    trace = models.PositiveSmallIntegerField(
        default=2, validators=[MaxValueValidator(255)], help_text="Bit mask; 2 logs errors"
    )
    fips140 = models.BooleanField(default=False)


class EnvironmentAction(SharedObject):
    """A TTLSEnvironmentAction with the advanced parameters that matter for compliance.

    Protocol switches are always written out: TLSv1.2 and TLSv1.3 default to Off and
    TLSv1 and TLSv1.1 to On, a trap no design should rely on.
    """

    # The parameters written into the environment's inline blocks, by block (generation,
    # import, the form and the API all take them from here).
    SIGNATURE_FIELDS = (  # TTLSSignatureParms: ordered code lists
        "server_kex_ecurves",
        "server_key_share_groups",
        "client_ecurves",
        "client_key_share_groups",
        "signature_pairs",
    )
    PEER_MIN_FIELDS = (  # TTLSEnvironmentAdvancedParms: limits on the peer's certificate
        "peer_min_cert_version",
        "peer_min_rsa_key_size",
        "peer_min_ecc_key_size",
        "peer_min_dh_key_size",
        "peer_min_dsa_key_size",
    )
    OCSP_FIELDS = ("ocsp_server_stapling", "ocsp_aia_enable", "ocsp_url")  # TTLSGskOcspParms
    # TTLSGskAdvancedParms, with its inline TTLSGskOcspParms.
    REVOCATION_FIELDS = (*OCSP_FIELDS, "revocation_security_level")

    handshake_role = models.CharField(
        max_length=24, choices=choices.HandshakeRole.choices, default=choices.HandshakeRole.SERVER
    )
    keyring = models.ForeignKey(Keyring, on_delete=models.PROTECT, related_name="environments")
    cipher_set = models.ForeignKey(
        CipherSet, on_delete=models.PROTECT, null=True, blank=True, related_name="environments"
    )
    sslv3 = models.BooleanField("SSLv3", default=False)
    tlsv1 = models.BooleanField("TLSv1", default=False)
    tlsv1_1 = models.BooleanField("TLSv1.1", default=False)
    tlsv1_2 = models.BooleanField("TLSv1.2", default=True)
    tlsv1_3 = models.BooleanField("TLSv1.3", default=True)
    client_auth_type = models.CharField(
        max_length=16,
        choices=choices.ClientAuthType.choices,
        default=choices.ClientAuthType.REQUIRED,
    )
    cert_validation_mode = models.CharField(
        max_length=8,
        choices=choices.CertValidationMode.choices,
        default=choices.CertValidationMode.ANY,
    )
    renegotiation = models.CharField(
        max_length=11, choices=choices.Renegotiation.choices, default=choices.Renegotiation.DEFAULT
    )
    handshake_timeout = models.PositiveIntegerField(
        default=10, validators=[MaxValueValidator(86400)], help_text="Seconds"
    )
    middle_box_compat_mode = models.BooleanField(default=False)
    certificate_label = models.CharField(
        max_length=32, blank=True, validators=[validate_certificate_label]
    )
    environment_user_instance = models.PositiveIntegerField(
        default=0, help_text="Raise it to make AT-TLS open new SSL environments (new certificate)"
    )

    # Every parameter below is optional: empty (or null) leaves it out of the policy, so
    # z/OS applies its default, and designs made before these fields existed are unchanged.
    # TTLSSignatureParms, written inline in the environment action.
    server_kex_ecurves = models.JSONField(
        "ServerKexECurves",
        default=list,
        blank=True,
        validators=[validate_server_kex_ecurves],
        help_text="Curves for ECDHE key exchange below TLS 1.3 as a server, in order of"
        " preference, e.g. 0023 0024 (P-256, P-384). z/OS default: 0023 0024 0025 0021 0019,"
        " which includes secp192r1",
    )
    server_key_share_groups = models.JSONField(
        "ServerKeyShareGroups",
        default=list,
        blank=True,
        validators=[validate_server_key_share_groups],
        help_text="TLS 1.3 key share groups accepted as a server, e.g. 0023 0024."
        " z/OS default: 0023 0024 0025 0029 0030 (X25519 and X448 are not FIPS groups)",
    )
    client_ecurves = models.JSONField(
        "ClientECurves",
        default=list,
        blank=True,
        validators=[validate_client_ecurves],
        help_text="Curves offered below TLS 1.3 as a client, e.g. 0023 0024, or Any."
        " z/OS default: 0021 0023 0024 0025 0019, which includes secp192r1",
    )
    client_key_share_groups = models.JSONField(
        "ClientKeyShareGroups",
        default=list,
        blank=True,
        validators=[validate_client_key_share_groups],
        help_text="TLS 1.3 key shares sent as a client, e.g. 0023 0024. z/OS default: 0023",
    )
    signature_pairs = models.JSONField(
        "SignaturePairs",
        default=list,
        blank=True,
        validators=[validate_signature_pairs],
        help_text="Signature algorithm pairs offered, hash byte then signature byte, e.g."
        " 0601 0603 0501 0503 0401 0403. z/OS default adds SHA-224, SHA-1 and DSA pairs",
    )
    # TTLSEnvironmentAdvancedParms: the smallest key a peer's certificate may have.
    peer_min_cert_version = models.CharField(
        "PeerMinCertVersion",
        max_length=3,
        choices=choices.PeerMinCertVersion.choices,
        blank=True,
        help_text="Lowest X.509 version of a peer certificate. z/OS default: Any",
    )
    peer_min_rsa_key_size = models.PositiveIntegerField(
        "PeerMinRsaKeySize",
        null=True,
        blank=True,
        validators=[MaxValueValidator(16384)],
        help_text="Bits; smallest RSA key of a peer certificate. z/OS default: 1024",
    )
    peer_min_ecc_key_size = models.PositiveIntegerField(
        "PeerMinECCKeySize",
        null=True,
        blank=True,
        validators=[MaxValueValidator(1024)],
        help_text="Bits; smallest EC key of a peer certificate. z/OS default: 192",
    )
    peer_min_dh_key_size = models.PositiveIntegerField(
        "PeerMinDHKeySize",
        null=True,
        blank=True,
        validators=[MaxValueValidator(16384)],
        help_text="Bits; smallest DH key of a peer. z/OS default: 1024",
    )
    peer_min_dsa_key_size = models.PositiveIntegerField(
        "PeerMinDsaKeySize",
        null=True,
        blank=True,
        validators=[MaxValueValidator(16384)],
        help_text="Bits; smallest DSA key of a peer certificate. z/OS default: 1024",
    )
    # TTLSGskAdvancedParms with an inline TTLSGskOcspParms: revocation and stapling.
    revocation_security_level = models.CharField(
        "RevocationSecurityLevel",
        max_length=8,
        choices=choices.RevocationSecurityLevel.choices,
        blank=True,
        help_text="How strictly an unreachable revocation source fails the handshake;"
        " Low accepts the certificate (soft fail)",
    )
    ocsp_aia_enable = models.BooleanField(
        "OcspAiaEnable",
        null=True,
        blank=True,
        default=None,
        help_text="Check peer certificates with the OCSP responder their AIA extension names."
        " z/OS default: Off",
    )
    ocsp_url = models.CharField(
        "OcspUrl",
        max_length=1023,
        blank=True,
        validators=[validate_ocsp_url],
        help_text="An OCSP responder to ask about every peer certificate, e.g."
        " http://ocsp.example.com. z/OS default: none",
    )
    ocsp_server_stapling = models.BooleanField(
        "OcspServerStapling",
        null=True,
        blank=True,
        default=None,
        help_text="As a server, staple the OCSP response for its certificate"
        " (status_request). z/OS default: Off",
    )


class ConnectionAction(SharedObject):
    """A TTLSConnectionAction: overrides for a subset of connections (e.g. client role)."""

    handshake_role = models.CharField(
        max_length=24, choices=choices.HandshakeRole.choices, blank=True
    )
    cipher_set = models.ForeignKey(
        CipherSet, on_delete=models.PROTECT, null=True, blank=True, related_name="connections"
    )
    tlsv1_2 = models.CharField(
        "TLSv1.2", max_length=3, choices=choices.TriState.choices, blank=True
    )
    tlsv1_3 = models.CharField(
        "TLSv1.3", max_length=3, choices=choices.TriState.choices, blank=True
    )
    certificate_label = models.CharField(
        max_length=32, blank=True, validators=[validate_certificate_label]
    )


class Service(models.Model):
    """An application endpoint on a stack, and the connections AT-TLS should secure for it."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    stack = models.ForeignKey(Stack, on_delete=models.PROTECT, related_name="services")
    name = models.CharField(
        max_length=32,
        validators=[validate_policy_name],
        help_text="Also the name of its TTLSRule",
    )
    description = models.TextField(blank=True)
    owner_team = models.CharField(max_length=64, blank=True)
    owners = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="owned_services"
    )
    jobname = models.CharField(
        max_length=9, blank=True, validators=[validate_job_pattern], help_text="e.g. TN3270* "
    )
    userid = models.CharField(max_length=9, blank=True, validators=[validate_user_id_pattern])
    local_port_low = models.PositiveIntegerField(default=0, validators=PORT_VALIDATORS)
    local_port_high = models.PositiveIntegerField(default=0, validators=PORT_VALIDATORS)
    remote_address = models.CharField(max_length=100, default="All", validators=[validate_address])
    remote_port_low = models.PositiveIntegerField(default=0, validators=PORT_VALIDATORS)
    remote_port_high = models.PositiveIntegerField(default=0, validators=PORT_VALIDATORS)
    direction = models.CharField(
        max_length=8, choices=choices.Direction.choices, default=choices.Direction.INBOUND
    )
    tier = models.CharField(max_length=8, choices=choices.Tier.choices, default=choices.Tier.MEDIUM)
    phase = models.CharField(
        max_length=16, choices=choices.Phase.choices, default=choices.Phase.INVENTORY
    )
    included = models.BooleanField(
        default=True, help_text="Whether its rule is written into the stack's policy"
    )
    revision = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["stack__lpar__name", "stack__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["stack", "name"], name="service_unique_per_stack"),
            models.CheckConstraint(
                condition=models.Q(local_port_low__lte=models.F("local_port_high")),
                name="service_local_ports_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(remote_port_low__lte=models.F("remote_port_high")),
                name="service_remote_ports_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def local_ports(self) -> str:
        if self.local_port_low == self.local_port_high:
            return str(self.local_port_low)
        return f"{self.local_port_low}-{self.local_port_high}"


class Rule(models.Model):
    """The TTLSRule of one service: its priority, its actions and its own overrides.

    Overrides (TLS 1.2 / 1.3 switches, a cipher set) become a connection action of the
    rule's own, named after the rule, layered over the shared connection action if any:
    the "one partner stays on TLS 1.2" case, without touching the shared objects.
    """

    service = models.OneToOneField(Service, on_delete=models.CASCADE, related_name="rule")
    priority = models.PositiveIntegerField(
        default=100,
        validators=[MinValueValidator(PRIORITY_MIN), MaxValueValidator(PRIORITY_MAX)],
    )
    group_action = models.ForeignKey(GroupAction, on_delete=models.PROTECT, related_name="rules")
    environment_action = models.ForeignKey(
        EnvironmentAction, on_delete=models.PROTECT, null=True, blank=True, related_name="rules"
    )
    connection_action = models.ForeignKey(
        ConnectionAction, on_delete=models.PROTECT, null=True, blank=True, related_name="rules"
    )
    override_tlsv1_2 = models.CharField(
        "TLSv1.2 override", max_length=3, choices=choices.TriState.choices, blank=True
    )
    override_tlsv1_3 = models.CharField(
        "TLSv1.3 override", max_length=3, choices=choices.TriState.choices, blank=True
    )
    override_cipher_set = models.ForeignKey(
        CipherSet, on_delete=models.PROTECT, null=True, blank=True, related_name="overriding_rules"
    )

    def __str__(self) -> str:
        return self.service.name

    @property
    def has_overrides(self) -> bool:
        return bool(self.override_tlsv1_2 or self.override_tlsv1_3 or self.override_cipher_set_id)


class PolicyVersion(models.Model):
    """A published policy for one stack. Immutable: `save()` refuses to change a stored row."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    stack = models.ForeignKey(Stack, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    text = models.TextField()
    sha256 = models.CharField(max_length=64)
    model = models.JSONField(help_text="The structured policy model, for comparisons")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="published_versions"
    )
    note = models.TextField()
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    lint = models.JSONField(default=list, help_text="Lint findings acknowledged at publication")
    created_at = models.DateTimeField(auto_now_add=True)
    # Set on versions stored before publishing re-read its own text (or written around it)
    # whose text does not parse, or parses to another policy than `model`: such a version
    # is shown as untrusted and can never be deployed. Empty for every sound version.
    text_problem = models.TextField(
        blank=True,
        help_text="Why this version's text cannot be trusted as its model; empty when it can",
    )

    class Meta:
        ordering = ["stack", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["stack", "number"], name="version_number_per_stack")
        ]
        get_latest_by = "number"

    def __str__(self) -> str:
        return f"{self.stack.label} v{self.number}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise ValueError("a published policy version never changes")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ValueError("a published policy version is never deleted")

    @property
    def is_trusted(self) -> bool:
        """Whether the text is known to read back as the model (see `text_problem`)."""
        return not self.text_problem


class ChangeRecord(models.Model):
    """One write to the design: who, when, what, and the object before and after.

    The audit log chains these records by hash; here they are plain rows.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="changes"
    )
    # create, update, delete, publish, import, "exclude breaking services", a campaign action...
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32)
    object_uuid = models.UUIDField(null=True)
    object_name = models.CharField(max_length=100)
    before = models.JSONField(null=True)
    after = models.JSONField(null=True)
    note = models.TextField(blank=True)
    # Where the change came from: the client of the web or API request that made it (or that
    # started the task that made it); null and "" when the system acted on its own.
    client_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.object_type} {self.object_name}"
