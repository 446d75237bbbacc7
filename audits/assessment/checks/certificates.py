"""Checks of NIST SP 800-52r2 §3.2 and §3.2.1: server certificates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from attls.ciphers import Protocol
from audits.assessment.checks.common import _day, _design_check, _empty_for, _judge, _said
from audits.assessment.checks.history import _incident_evidence
from audits.assessment.checks.registry import check
from audits.assessment.facts import (
    FAIL,
    NA,
    PASS,
    UNKNOWN,
    WARN,
    Context,
    ServiceFacts,
    Verdict,
    _iso,
)
from audits.catalog import Control
from fleet.models import (
    Certificate,
)

# --- §3.2 / §3.2.1 certificates -------------------------------------------------------------

PREFERRED_CURVES = frozenset({"secp256r1", "secp384r1"})
WEAK_HASHES = frozenset({"md2", "md4", "md5", "sha1"})
STRONG_HASHES = frozenset(
    {"sha224", "sha256", "sha384", "sha512", "sha512_224", "sha512_256"}
    | {"sha3-224", "sha3-256", "sha3-384", "sha3-512"}
)
# Security strength in bits of the keys whose size is fixed by their type.
FIXED_STRENGTH = {"Ed25519": 128, "Ed448": 224, "X25519": 128, "X448": 224}
# The signature family a certificate of this key type is signed with to be consistent
# (SP 800-52r2 §3.2.1: DH with DSA, ECDH with ECDSA).
CONSISTENT_FAMILY = {"RSA": "RSA", "EC": "ECDSA", "DSA": "DSA", "DH": "DSA"}
# The catalog parameter with the smallest acceptable size of a key of this type.
MINIMUM_BITS = {
    "RSA": "min_rsa_bits",
    "DSA": "min_rsa_bits",
    "DH": "min_rsa_bits",
    "EC": "min_ecc_bits",
}
# CRL distribution point fields the profile forbids: facts key -> RFC 5280 name.
CRL_FIELDS = (
    ("reasons", "reasons"),
    ("crl_issuer", "cRLIssuer"),
    ("relative_name", "nameRelativeToCRLIssuer"),
)
NOT_READ = "was recorded before the probe read certificate details"
SHOWN_NAMES = 5


@dataclass(frozen=True)
class Presented:
    """A service's current certificate with the facts the probe read (fleet/certificates.py)."""

    name: str  # certificate CN=... of rule X (stack)
    row: Certificate
    leaf: Mapping[str, Any]
    issuers: list[Mapping[str, Any]]

    def unreadable(self, *fields: str) -> list[tuple[str, str]]:
        unknown = self.leaf.get("unknown") or {}
        return [
            (UNKNOWN, f"{self.name}: its {field} could not be read ({unknown[field]})")
            for field in fields
            if field in unknown
        ]

    @property
    def signer(self) -> Mapping[str, Any] | None:
        """The presented certificate of the leaf's issuer, if the server sent it."""
        for issuer in self.issuers:
            if issuer.get("subject") == self.leaf.get("issuer"):
                return issuer
        return None


def _current_certificate(s: ServiceFacts) -> Certificate:
    return max(s.certificates, key=lambda c: (c.last_seen, c.not_after))


def _presented(s: ServiceFacts) -> tuple[Presented | None, list[tuple[str, str]]]:
    """The current certificate's facts, or why there are none (an UNKNOWN item)."""
    if not s.certificates:
        missing = [(UNKNOWN, f"no certificate of {s.label} was seen by the probe")]
        return None, missing if s.secured else []
    row = _current_certificate(s)
    name = f"certificate {row.subject} of {s.label}"
    details = row.details or {}
    if not details.get("leaf"):
        return None, [(UNKNOWN, f"{name} {NOT_READ}")]
    return Presented(name, row, details["leaf"], list(details.get("issuers") or [])), []


def _certificate_check(
    ctx: Context, judge: Callable[[Presented], list[tuple[str, str]]], *fields: str
) -> Verdict:
    """`judge` on the current certificate of every server service; UNKNOWN where the facts
    it needs (`fields` of the leaf) were not recorded or could not be read."""

    def items(s: ServiceFacts) -> list[tuple[str, str]]:
        presented, why = _presented(s)
        if presented is None:
            return why
        return presented.unreadable(*fields) or judge(presented)

    return _servers_judged(ctx, items)


def _servers_judged(
    ctx: Context, judge: Callable[[ServiceFacts], list[tuple[str, str]]]
) -> Verdict:
    """Every server service, with a rule or not: a port presents a certificate either way."""
    verdict = _judge([s for s in ctx.services if s.role == "server"], judge)
    verdict.empty = _empty_for(ctx, "server")
    return verdict


def _key_said(key: Mapping[str, Any]) -> str:
    """`RSA 2048-bit`, `EC secp256r1 (256-bit)`, `Ed25519`, `unknown (1.2.3)`."""
    kind, bits, curve = key.get("type"), key.get("bits"), key.get("curve")
    if kind == "EC":
        return f"EC {curve} ({bits}-bit)"
    if kind == "unknown":
        return f"unknown ({key.get('oid') or 'no OID'})"
    return f"{kind} {bits}-bit" if bits else str(kind)


def _a(said: str) -> str:
    """`an RSA 2048-bit`, `a DSA 2048-bit`: the article as the initialism is spoken."""
    return f"{'an' if said[:1] in set('AEFHILMNORSXU') else 'a'} {said}"


def _names_said(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN_NAMES])
    return shown + (f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else "")


def _certificate_evidence(certificate: Certificate) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "subject": certificate.subject,
        "issuer": certificate.issuer,
        "serial": certificate.serial,
        "not_after": _iso(certificate.not_after),
        "fingerprint": certificate.fingerprint,
        "rules": list(certificate.rules),
        "ports": list(certificate.ports),
        "first_seen": _iso(certificate.first_seen),
        "last_seen": _iso(certificate.last_seen),
    }
    leaf = (certificate.details or {}).get("leaf")
    if not leaf:
        return evidence | {"details": None}
    aia = leaf.get("authority_info_access") or {}
    return evidence | {
        "version": leaf.get("version"),
        "key": _key_said(leaf["key"]),
        "signature": leaf["signature"].get("algorithm"),
        "not_before": leaf.get("not_before"),
        "key_usage": leaf.get("key_usage"),
        "extended_key_usage": (leaf.get("extended_key_usage") or {}).get("purposes"),
        "subject_alt_name": leaf.get("subject_alt_name"),
        "ocsp": aia.get("ocsp"),
        "ca_issuers": aia.get("ca_issuers"),
        "crl_distribution_points": leaf.get("crl_distribution_points"),
        "issuers": [
            {
                "subject": issuer.get("subject"),
                "key": _key_said(issuer["key"]),
                "signature": issuer["signature"].get("algorithm"),
            }
            for issuer in certificate.details.get("issuers") or []
        ],
        "unreadable": sorted(leaf.get("unknown") or {}),
    }


@check("certificate_key_type")
def check_certificate_key_type(ctx: Context, control: Control) -> Verdict:
    def judge(c: Presented) -> list[tuple[str, str]]:
        key = c.leaf["key"]
        if key["type"] in ("RSA", "EC"):
            return [(PASS, f"{c.name} holds {_a(_key_said(key))} key")]
        if key["type"] == "unknown":
            return [(UNKNOWN, f"{c.name} holds a key of a type the probe does not know")]
        return [(FAIL, f"{c.name} holds {_a(_key_said(key))} key, neither RSA nor ECDSA")]

    return _certificate_check(ctx, judge, "key")


@check("certificate_ocsp")
def check_certificate_ocsp(ctx: Context, control: Control) -> Verdict:
    def judge(c: Presented) -> list[tuple[str, str]]:
        aia = c.leaf["authority_info_access"]
        if aia is None:
            return [(FAIL, f"{c.name} has no Authority Information Access, so no OCSP address")]
        if not aia["ocsp"]:
            return [(FAIL, f"{c.name} names no OCSP responder in its Authority Information Access")]
        return [(PASS, f"{c.name} names the OCSP responder {_names_said(aia['ocsp'])}")]

    return _certificate_check(ctx, judge, "authority_info_access")


def _key_strength(ctx: Context, whose: str, key: Mapping[str, Any]) -> tuple[str, str]:
    kind, bits = key.get("type"), key.get("bits")
    said = _key_said(key)
    if kind in FIXED_STRENGTH:
        return PASS, f"{whose}: {said} key ({FIXED_STRENGTH[kind]}-bit security)"
    parameter = MINIMUM_BITS.get(str(kind))
    if parameter is None or not bits:
        return UNKNOWN, f"{whose}: the strength of its {said} key is not known"
    least = ctx.params[parameter]
    if bits < least:
        return FAIL, f"{whose}: {said} key, below {least} bits ({parameter})"
    if kind == "EC" and key.get("curve") not in PREFERRED_CURVES:
        return WARN, f"{whose}: {said} key; P-256 or P-384 is preferred"
    return PASS, f"{whose}: {said} key"


@check("certificate_strength")
def check_certificate_strength(ctx: Context, control: Control) -> Verdict:
    def judge(c: Presented) -> list[tuple[str, str]]:
        items: list[tuple[str, str]] = []
        version = c.leaf["version"]
        if version != 3:
            items.append((FAIL, f"{c.name} is X.509 v{version}, not v3"))
        items.append(_key_strength(ctx, c.name, c.leaf["key"]))
        if c.signer is None and not c.leaf["self_signed"]:
            items.append(
                (
                    UNKNOWN,
                    f"{c.name} came without its issuer {c.leaf['issuer']}, so the key that"
                    " signed it is not known",
                )
            )
        for issuer in c.issuers:
            items.append(_key_strength(ctx, f"its issuer {issuer['subject']}", issuer["key"]))
        return items

    return _certificate_check(ctx, judge, "version", "key")


def _signed_with(whose: str, facts: Mapping[str, Any]) -> tuple[str, str]:
    signature = facts["signature"]
    algorithm, hashed = signature.get("algorithm") or "an unknown algorithm", signature.get("hash")
    if hashed in WEAK_HASHES:
        return FAIL, f"{whose} is signed with {algorithm} ({hashed})"
    if hashed in STRONG_HASHES:
        return PASS, f"{whose} is signed with {algorithm}"
    return UNKNOWN, f"{whose} is signed with {algorithm}, whose hash is not judged"


@check("certificate_signature_hash")
def check_certificate_signature_hash(ctx: Context, control: Control) -> Verdict:
    def judge(c: Presented) -> list[tuple[str, str]]:
        items = [_signed_with(c.name, c.leaf)]
        for issuer in c.issuers:
            if not issuer["self_signed"]:
                items.append(_signed_with(f"its issuer {issuer['subject']}", issuer))
        return items

    verdict = _certificate_check(ctx, judge, "signature", "signature_hash")
    verdict.notes.append(
        "Judged on the chain the server presents: certificates it leaves out are not seen, and"
        " a self-signed root it sends is a trust anchor whose own signature is not relied on."
    )
    return verdict


@check("certificate_validity")
def check_certificate_validity(ctx: Context, control: Control) -> Verdict:
    warn_days = ctx.params["cert_expiry_warning_days"]
    max_days = ctx.params["cert_max_validity_days"]

    def lifetime(current: Certificate, name: str) -> tuple[str, str]:
        """A sentence, or for PASS the clause the expiry sentence ends with."""
        leaf = (current.details or {}).get("leaf") or {}
        if not leaf.get("not_before"):
            return UNKNOWN, f"the lifetime of {name} is not judged: it {NOT_READ}"
        start = dt.datetime.fromisoformat(leaf["not_before"])
        days = (current.not_after - start).days
        if ctx.eval_at < start:
            return FAIL, f"{name} is not valid before {_day(start)}"
        if days > max_days:
            return (
                WARN,
                f"{name} is valid for {days} days (from {_day(start)}), more than"
                f" {max_days} (cert_max_validity_days)",
            )
        return PASS, f"a lifetime of {days} days (at most {max_days})"

    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        if not s.certificates:
            if s.secured:
                return [(UNKNOWN, f"no certificate of {s.label} was seen by the probe")]
            return []
        current = _current_certificate(s)
        items: list[tuple[str, str]] = []
        left = current.not_after - ctx.eval_at
        name = f"certificate {current.subject} of {s.label}"
        life = lifetime(current, name)
        if left.total_seconds() <= 0:
            items.append((FAIL, f"{name} expired on {_day(current.not_after)}"))
        elif left < dt.timedelta(days=warn_days):
            items.append(
                (WARN, f"{name} expires on {_day(current.not_after)}, in {left.days} day(s)")
            )
        else:
            valid = f"{name} is valid until {_day(current.not_after)} ({left.days} days left)"
            items.append((PASS, valid + (f", {life[1]}" if life[0] == PASS else "")))
        for certificate in s.certificates:
            lapsed = (
                certificate.last_seen > certificate.not_after
                and certificate.not_after >= ctx.period_start
            )
            if lapsed and certificate is not current:
                items.append(
                    (
                        WARN,
                        f"certificate {certificate.subject} of {s.label} was served after it"
                        f" expired on {_day(certificate.not_after)} (last seen"
                        f" {_day(certificate.last_seen)}); it has been replaced",
                    )
                )
        return items + ([life] if life[0] != PASS else [])

    verdict = _servers_judged(ctx, judge)
    verdict.evidence["incidents"] = [
        _incident_evidence(i) for i in ctx.incidents if i.kind == "certificate-expired"
    ]
    return verdict


@check("certificate_server_auth")
def check_certificate_server_auth(ctx: Context, control: Control) -> Verdict:
    def judge(c: Presented) -> list[tuple[str, str]]:
        eku = c.leaf["extended_key_usage"]
        if eku is None:
            return [(FAIL, f"{c.name} has no extendedKeyUsage, so it does not assert serverAuth")]
        purposes = ", ".join(eku["purposes"]) or "none"
        if eku["any"]:
            return [(FAIL, f"{c.name} asserts anyExtendedKeyUsage (purposes: {purposes})")]
        if "serverAuth" not in eku["purposes"]:
            return [(FAIL, f"{c.name} does not assert serverAuth (purposes: {purposes})")]
        return [(PASS, f"{c.name} asserts {purposes}")]

    return _certificate_check(ctx, judge, "extended_key_usage")


def _usage_needed(kind: str, flags: set[str]) -> tuple[str, str] | None:
    """(what the certificate is, the keyUsage bit it needs), None for an unknown key type."""
    if kind in ("RSA", "DSA", "Ed25519", "Ed448"):
        return f"{kind} signature", "digitalSignature"
    if kind == "EC":
        if "keyAgreement" in flags and "digitalSignature" not in flags:
            return "static ECDH", "keyAgreement"
        return "ECDSA signature", "digitalSignature"
    if kind in ("DH", "X25519", "X448"):
        return f"static {kind}", "keyAgreement"
    return None


@check("certificate_key_usage")
def check_certificate_key_usage(ctx: Context, control: Control) -> Verdict:
    def judge(c: Presented) -> list[tuple[str, str]]:
        usage = c.leaf["key_usage"]
        if usage is None:
            return [(FAIL, f"{c.name} has no keyUsage extension")]
        flags = set(usage["flags"])
        said = ", ".join(usage["flags"]) or "no bits"
        needed = _usage_needed(c.leaf["key"]["type"], flags)
        if needed is None:
            return [(UNKNOWN, f"{c.name} has keyUsage {said} for a key of unknown type")]
        what, bit = needed
        items: list[tuple[str, str]] = []
        if bit not in flags:
            items.append((FAIL, f"{c.name} is {_a(what)} certificate without {bit} (has {said})"))
        if not usage["critical"]:
            items.append((FAIL, f"{c.name} has a keyUsage extension not marked critical"))
        return items or [(PASS, f"{c.name} is {_a(what)} certificate with keyUsage {said}")]

    return _certificate_check(ctx, judge, "key", "key_usage")


@check("certificate_subject_alt_name")
def check_certificate_subject_alt_name(ctx: Context, control: Control) -> Verdict:
    def judge(c: Presented) -> list[tuple[str, str]]:
        names = c.leaf["subject_alt_name"]
        if names is None:
            return [(FAIL, f"{c.name} has no subjectAltName extension")]
        if not names["dns"] and not names["ip"]:
            return [(FAIL, f"{c.name} has a subjectAltName with no DNS name or IP address")]
        return [(PASS, f"{c.name} names {_names_said(names['dns'] + names['ip'])}")]

    return _certificate_check(ctx, judge, "subject_alt_name")


def _http(uris: list[str]) -> list[str]:
    return [uri for uri in uris if uri.lower().startswith(("http://", "https://"))]


@check("certificate_access_points")
def check_certificate_access_points(ctx: Context, control: Control) -> Verdict:
    def judge(c: Presented) -> list[tuple[str, str]]:
        aia, points = c.leaf["authority_info_access"], c.leaf["crl_distribution_points"]
        items: list[tuple[str, str]] = []
        if aia is None:
            items.append((FAIL, f"{c.name} has no Authority Information Access extension"))
        else:
            for key, what in (("ca_issuers", "issuing CA's certificate"), ("ocsp", "OCSP")):
                if not _http(aia[key]):
                    items.append((FAIL, f"{c.name} gives no HTTP address for the {what}"))
        if points is not None:
            used = [name for field, name in CRL_FIELDS if points[field]]
            if used:
                items.append(
                    (FAIL, f"{c.name} has a CRL distribution point using {', '.join(used)}")
                )
        if items:
            return items
        crl = f"; CRLs from {_names_said(points['uris'])}" if points and points["uris"] else ""
        return [
            (
                PASS,
                f"{c.name} gives the issuer at {_names_said(_http(aia['ca_issuers']))} and OCSP"
                f" at {_names_said(_http(aia['ocsp']))}{crl}",
            )
        ]

    return _certificate_check(ctx, judge, "authority_info_access", "crl_distribution_points")


@check("legacy_signature_consistency")
def check_legacy_signature_consistency(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None
        old = [p for p in (Protocol.TLSV1, Protocol.TLSV1_1) if s.eff.protocols[p]]
        if not old:
            return [(NA, f"{s.label} offers no version before TLS 1.2")]
        versions = ", ".join(_said(s.eff, p) for p in old)
        c, why = _presented(s)
        if c is None:
            reason = why[0][1] if why else f"no certificate of {s.label} was seen by the probe"
            return [(UNKNOWN, f"{s.label} has {versions}; {reason}")]
        kind, signature = c.leaf["key"]["type"], c.leaf["signature"]
        family, expected = signature.get("family"), CONSISTENT_FAMILY.get(kind)
        key = _a(_key_said(c.leaf["key"]))
        said = f"{c.name} has {key} key signed with {signature['algorithm']}"
        if expected is None or family in (None, "unknown"):
            return [(UNKNOWN, f"{s.label} has {versions}; {said}, not judged")]
        if family != expected:
            return [(WARN, f"{s.label} has {versions}; {said}, not {expected}")]
        return [(PASS, f"{s.label} has {versions}; {said}")]

    return _design_check(ctx, "server", judge)
