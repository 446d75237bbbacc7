"""Estate rows for the assessment tests, written as the fleet's worker would leave them.

Designs go through the policies services (publish included), deployments through the fleet
services (four eyes included); what the worker and the verifier write afterwards (statuses,
runs, hourly roll-ups, certificates) is written with the ORM. No lparsim: these tests judge
records. Certificates are generated here with `cryptography`, and their rows carry the facts
`fleet.certificates.facts` reads from them, as the probe will record them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    ExtensionOID,
    NameOID,
)
from django.contrib.auth.models import User
from django.utils import timezone

from audits.assessment import ResultData, evaluate
from audits.catalog import load_catalog
from fleet.certificates import facts
from fleet.models import (
    Certificate,
    Deployment,
    DeploymentTarget,
    LparConnection,
    RunStatus,
    ServiceHour,
    TargetStatus,
    VerificationRun,
)
from fleet.services import deployment_approve, deployment_request
from policies import services as design
from policies.models import EnvironmentAction, PolicyVersion, Service, Stack

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBdemoCAcertificate\n-----END CERTIFICATE-----"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoHostKeyPinned"


@pytest.fixture
def legacy_environment(shared: dict[str, Any], architect: User) -> EnvironmentAction:
    """An environment that still enables TLS 1.0, as the 'before' estate had."""
    return design.shared_object_create(
        actor=architect,
        model=EnvironmentAction,
        fields={
            "name": "envLegacy",
            "keyring": shared["keyring"],
            "cipher_set": shared["ciphers"],
            "handshake_role": "Server",
            "tlsv1": True,
            "tlsv1_2": True,
            "tlsv1_3": True,
        },
    )


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def connect(stack: Stack) -> LparConnection:
    connection, _ = LparConnection.objects.get_or_create(
        lpar=stack.lpar,
        defaults={
            "username": "ATTLSADM",
            "ca_bundle": CA_PEM,
            "ssh_port": 22,
            "ssh_host_key": HOST_KEY,
        },
    )
    return connection


def publish(stack: Stack, architect: User, note: str = "First cut.") -> PolicyVersion:
    return design.policy_version_publish(
        stack=stack, actor=architect, note=note, acknowledge_warnings=True
    )


def deploy(
    stack: Stack,
    version: PolicyVersion,
    *,
    requester: User,
    approver: User,
    at: datetime,
) -> Deployment:
    """Requested and approved through the fleet services, then finished as the worker would."""
    connect(stack)
    deployment = deployment_request(actor=requester, targets=[(stack, version)], note="rollout")
    deployment = deployment_approve(deployment=deployment, actor=approver)
    finish(deployment, at)
    return deployment


def finish(deployment: Deployment, at: datetime) -> Deployment:
    Deployment.objects.filter(pk=deployment.pk).update(
        status=RunStatus.SUCCEEDED,
        approved_at=at,
        started_at=at,
        finished_at=at + timedelta(seconds=3),
    )
    DeploymentTarget.objects.filter(deployment=deployment).update(
        status=TargetStatus.SUCCEEDED,
        started_at=at,
        finished_at=at + timedelta(seconds=3),
        uploaded=True,
    )
    deployment.refresh_from_db()
    return deployment


def entry(
    service: Service,
    *,
    in_scope: bool = True,
    protocols: dict[str, int] | None = None,
    probe: list[str] | None = None,
    ciphers: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One service's figures in a verification run's results (fleet/verify.py `_figures`)."""
    protocols = protocols if protocols is not None else {"TLSv1.3": 4}
    probe = probe if probe is not None else ["TLSv1.2", "TLSv1.3"]
    connections = sum(protocols.values())
    cleartext = protocols.get("cleartext", 0)
    return {
        "service": str(service.uuid),
        "in_scope": in_scope,
        "connections": connections,
        "handshakes_pending": 0,
        "secured": connections - cleartext,
        "coverage": round((connections - cleartext) / connections, 4) if connections else None,
        "cleartext": cleartext,
        "cleartext_in_scope": cleartext if in_scope else 0,
        "protocols": protocols,
        "ciphers": ciphers or {},
        "unexpected_rule": [],
        "probe_protocols": probe,
        "probe_deprecated": [p for p in probe if p in ("SSLv3", "TLSv1", "TLSv1.1")],
        "probe_tls": bool(probe) if service.direction != "Outbound" else None,
        "handshake_failures": {},
    }


def verification(
    stack: Stack,
    at: datetime,
    entries: dict[str, dict[str, Any]],
    *,
    version: PolicyVersion | None = None,
    probe_errors: dict[str, str] | None = None,
    parse_failed: bool = False,
) -> VerificationRun:
    """A successful verification run of `stack` created at `at`, with these service figures."""
    connections = sum(e["connections"] for e in entries.values())
    secured = sum(e["secured"] for e in entries.values())
    protocols: dict[str, int] = {}
    for figures in entries.values():
        for protocol, n in figures["protocols"].items():
            protocols[protocol] = protocols.get(protocol, 0) + n
    probe = {
        name: {
            "zos_port": 0,
            "tls": bool(figures["probe_protocols"]),
            "protocols": figures["probe_protocols"],
            "ciphers": {},
            "certificate": None,
            "error": (probe_errors or {}).get(name, ""),
        }
        for name, figures in entries.items()
    }
    text = f"pasearch of {stack.label} at {at.isoformat()}"
    run = VerificationRun.objects.create(
        stack=stack,
        expected_version=version,
        status=RunStatus.SUCCEEDED,
        started_at=at,
        finished_at=at + timedelta(seconds=2),
        parse_failed=parse_failed,
        outputs={
            "pasearch": {"text": text, "sha256": sha(text), "parsed": True, "error": ""},
            "probe": {"json": probe, "sha256": sha(json.dumps(probe, sort_keys=True))},
        },
        results={
            "connections": connections,
            "secured": secured,
            "coverage": round(secured / connections, 4) if connections else None,
            "protocols": protocols,
            "services": entries,
            "loaded_rules": len(entries),
            "handshake_failures_total": {},
            "drift_opened": [],
        },
    )
    VerificationRun.objects.filter(pk=run.pk).update(created_at=at)
    run.refresh_from_db()
    return run


def hours(
    service: Service,
    start: datetime,
    count: int,
    protocols: dict[str, int],
    ciphers: dict[str, int] | None = None,
) -> list[ServiceHour]:
    """`count` hourly roll-ups from the hour of `start`, each with these protocol counts."""
    first = start.replace(minute=0, second=0, microsecond=0)
    connections = sum(protocols.values())
    cleartext = protocols.get("cleartext", 0)
    return ServiceHour.objects.bulk_create(
        ServiceHour(
            service=service,
            hour=first + timedelta(hours=n),
            connections=connections,
            secured=connections - cleartext,
            cleartext=cleartext,
            protocols=protocols,
            ciphers=ciphers or {},
        )
        for n in range(count)
    )


def period(days: int = 7) -> tuple[datetime, datetime]:
    end = timezone.now()
    return end - timedelta(days=days), end


def run_catalog(
    *,
    scope_kind: str = "estate",
    scope: dict[str, Any] | None = None,
    days: int = 7,
    **parameters: Any,
) -> dict[str, ResultData]:
    """Every control's result for the last `days` days, by control id."""
    start, end = period(days)
    results = evaluate(
        scope_kind=scope_kind,
        scope=scope or {},
        period_start=start,
        period_end=end,
        parameters=parameters,
        catalog=load_catalog(),
    )
    return {result.control_id: result for result in results}


# --- certificates ---------------------------------------------------------------------------

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
ANY_PURPOSE = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
OCSP_URL = "http://ocsp.bank.example"
CA_ISSUERS_URL = "http://pki.bank.example/issuing.crt"
CRL_URL = "http://pki.bank.example/issuing.crl"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@cache
def private_key(kind: str) -> PrivateKey:
    """One key per kind for the session: rsa1024, rsa2048, p192, p256, p384, p521, ed25519."""
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    curves = {"p192": ec.SECP192R1(), "p256": ec.SECP256R1(), "p384": ec.SECP384R1()}
    curves["p521"] = ec.SECP521R1()
    return ec.generate_private_key(curves[kind])


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: PrivateKey


def issue(
    common_name: str,
    *,
    key: str = "rsa2048",
    issuer: Issued | None = None,
    ca: bool = False,
    not_before: datetime | None = None,
    days: int = 365,
    key_usage: tuple[str, ...] | None = ("digital_signature", "key_encipherment"),
    key_usage_critical: bool = True,
    purposes: tuple[x509.ObjectIdentifier, ...] | None = (SERVER_AUTH,),
    names: tuple[str, ...] | None = None,
    ocsp: str | None = OCSP_URL,
    ca_issuers: str | None = CA_ISSUERS_URL,
    crl: str | None = None,
    crl_restricted: bool = False,
    signature_hash: str = "sha256",
    v1: bool = False,
) -> Issued:
    """A certificate for `common_name`, signed by `issuer` (self-signed without one).

    Extensions given None are left out; `names` (default: the common name) become DNS or IP
    subjectAltNames. `signature_hash` sha1 or md5, and `v1`, need an RSA issuer: cryptography
    no longer signs them, so the certificate is re-signed by hand (`_resign`).
    """
    private = private_key(key)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    signer = issuer.key if issuer is not None else private
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.certificate.subject if issuer is not None else name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
    )
    for extension, critical in _extensions(
        common_name,
        ca=ca,
        key_usage=key_usage,
        purposes=purposes,
        names=names,
        ocsp=ocsp,
        ca_issuers=ca_issuers,
        crl=crl,
        crl_restricted=crl_restricted,
        key_usage_critical=key_usage_critical,
    ):
        builder = builder.add_extension(extension, critical=critical)
    digest = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    certificate = builder.sign(signer, digest)
    if signature_hash != "sha256" or v1:
        assert isinstance(signer, rsa.RSAPrivateKey), "hand re-signing is done with RSA only"
        certificate = _resign(certificate, signer, signature_hash, v1=v1)
    return Issued(certificate, private)


def authority(
    common_name: str,
    *,
    key: str = "p384",
    issuer: Issued | None = None,
    signature_hash: str = "sha256",
) -> Issued:
    """A CA certificate: keyCertSign and cRLSign, no purposes, names or AIA."""
    return issue(
        common_name,
        key=key,
        issuer=issuer,
        ca=True,
        days=3650,
        key_usage=("key_cert_sign", "crl_sign"),
        purposes=None,
        names=(),
        ocsp=None,
        ca_issuers=None,
        signature_hash=signature_hash,
    )


def with_broken_alt_name(common_name: str, *, issuer: Issued | None = None) -> Issued:
    """An EC P-256 certificate whose subjectAltName is not DER: cryptography cannot read its
    extensions."""
    private = private_key("p256")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = datetime(2025, 1, 1, tzinfo=UTC) if issuer is None else datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.certificate.subject if issuer is not None else name)
        .public_key(private.public_key())
        .serial_number(7)
        .not_valid_before(start - timedelta(days=1))
        .not_valid_after(start + timedelta(days=90))
        .add_extension(
            x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x00broken"),
            critical=False,
        )
        .sign(issuer.key if issuer is not None else private, hashes.SHA256())
    )
    return Issued(certificate, private)


def _extensions(
    common_name: str,
    *,
    ca: bool,
    key_usage: tuple[str, ...] | None,
    purposes: tuple[x509.ObjectIdentifier, ...] | None,
    names: tuple[str, ...] | None,
    ocsp: str | None,
    ca_issuers: str | None,
    crl: str | None,
    crl_restricted: bool,
    key_usage_critical: bool,
) -> list[tuple[x509.ExtensionType, bool]]:
    """Each extension with whether it is marked critical."""
    found: list[tuple[x509.ExtensionType, bool]] = []
    found.append((x509.BasicConstraints(ca=ca, path_length=None), True))
    if key_usage is not None:
        flags = {
            flag: flag in key_usage
            for flag in (
                "digital_signature",
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "key_cert_sign",
                "crl_sign",
            )
        }
        usage = x509.KeyUsage(**flags, encipher_only=False, decipher_only=False)
        found.append((usage, key_usage_critical))
    if purposes is not None:
        found.append((x509.ExtendedKeyUsage(list(purposes)), False))
    general: list[x509.GeneralName] = []
    for value in (common_name,) if names is None else names:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            general.append(x509.DNSName(value))
    if general:
        found.append((x509.SubjectAlternativeName(general), False))
    access = [
        x509.AccessDescription(method, x509.UniformResourceIdentifier(url))
        for method, url in (
            (AuthorityInformationAccessOID.OCSP, ocsp),
            (AuthorityInformationAccessOID.CA_ISSUERS, ca_issuers),
        )
        if url is not None
    ]
    if access:
        found.append((x509.AuthorityInformationAccess(access), False))
    if crl is not None:
        point = x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl)],
            relative_name=None,
            reasons=frozenset({x509.ReasonFlags.key_compromise}) if crl_restricted else None,
            crl_issuer=(
                [x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CRL")]))]
                if crl_restricted
                else None
            ),
        )
        found.append((x509.CRLDistributionPoints([point]), False))
    return found


# DER AlgorithmIdentifiers of the RSA signatures cryptography will not make any more.
RSA_SIGNATURES = {
    "sha1": (bytes.fromhex("300d06092a864886f70d0101050500"), hashes.SHA1()),
    "md5": (bytes.fromhex("300d06092a864886f70d0101040500"), hashes.MD5()),
    "sha256": (bytes.fromhex("300d06092a864886f70d01010b0500"), hashes.SHA256()),
}


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _children(der: bytes) -> list[bytes]:
    """The encoded elements inside one constructed DER element."""
    found = []
    at = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)
    while at < len(der):
        first = der[at + 1]
        if first & 0x80:
            count = first & 0x7F
            size = int.from_bytes(der[at + 2 : at + 2 + count], "big")
            end = at + 2 + count + size
        else:
            end = at + 2 + first
        found.append(der[at:end])
        at = end
    return found


def _resign(
    certificate: x509.Certificate, key: rsa.RSAPrivateKey, signature_hash: str, *, v1: bool
) -> x509.Certificate:
    """The certificate signed with `signature_hash`; as X.509 v1 (no extensions) with `v1`."""
    algorithm, digest = RSA_SIGNATURES[signature_hash]
    tbs, _, _ = _children(certificate.public_bytes(Encoding.DER))
    parts = _children(tbs)
    version = 1 if parts[0][0] == 0xA0 else 0  # [0] version, absent in v1
    parts[version + 1] = algorithm  # after the serial number
    if v1:
        parts = [part for part in parts[version:] if part[0] != 0xA3]  # [3] extensions
    body = _der(0x30, b"".join(parts))
    signature = key.sign(body, padding.PKCS1v15(), digest)
    return x509.load_der_x509_certificate(
        _der(0x30, body + algorithm + _der(0x03, b"\x00" + signature))
    )


def certificate_row(
    stack: Stack,
    rules: list[str],
    chain: list[Issued],
    *,
    ports: list[int] | None = None,
    first_seen: datetime | None = None,
    last_seen: datetime | None = None,
    details: bool = True,
) -> Certificate:
    """The row the verifier keeps for a chain the probe was presented (`details` False: as
    recorded before the probe read certificate details)."""
    leaf = chain[0].certificate
    now = timezone.now()
    return Certificate.objects.create(
        stack=stack,
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        serial=format(leaf.serial_number, "X"),
        not_after=leaf.not_valid_after_utc,
        fingerprint=leaf.fingerprint(hashes.SHA256()).hex(),
        rules=rules,
        ports=ports or [992],
        first_seen=first_seen or now - timedelta(days=5),
        last_seen=last_seen or now - timedelta(minutes=1),
        details=facts([issued.certificate for issued in chain]) if details else {},
    )
