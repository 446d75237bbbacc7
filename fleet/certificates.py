"""What a presented certificate chain says, as JSON-ready facts for the assessment engine.

    details = facts(chain)   # chain: the certificates the server sent, leaf first

`facts` is pure: it reads the certificates (cryptography's `x509.Certificate`) and never
raises for what it finds in them. Nothing is verified here: not the signatures, not the
path, not revocation. The shape (version 1):

    {
      "schema": 1,
      "leaf": {                                   # None when the chain is empty
        "subject": "CN=tn3270.sysa.bank.example", "issuer": "CN=Bank Issuing CA",
        "self_signed": false,                     # subject and issuer names are equal
        "version": 3,                             # 1 or 3 (X.509 v1 / v3); None if unreadable
        "key": {"type": "RSA", "bits": 2048, "curve": null},
        "signature": {"algorithm": "sha256WithRSAEncryption", "oid": "1.2.840.113549.1.1.11",
                      "family": "RSA", "hash": "sha256"},
        "not_before": "2025-01-01T00:00:00+00:00", "not_after": "2026-01-01T00:00:00+00:00",
        "key_usage": {"critical": true, "flags": ["digitalSignature", "keyEncipherment"]},
        "extended_key_usage": {"critical": false, "purposes": ["serverAuth"],
                               "oids": ["1.3.6.1.5.5.7.3.1"], "any": false},
        "subject_alt_name": {"critical": false, "dns": ["tn3270.sysa.bank.example"],
                             "ip": ["10.1.1.5"], "other": 0},
        "authority_info_access": {"ocsp": ["http://ocsp.bank.example"],
                                  "ca_issuers": ["http://pki.bank.example/issuing.crt"]},
        "crl_distribution_points": {"uris": ["http://pki.bank.example/issuing.crl"],
                                    "reasons": false, "crl_issuer": false,
                                    "relative_name": false},
        "unknown": {}                             # field -> why it could not be read
      },
      "issuers": [                                # the rest of the chain, in the order sent
        {"subject": ..., "issuer": ..., "self_signed": ..., "key": {...},
         "signature": {...}, "unknown": {}}
      ]
    }

Key types: RSA, EC (`curve` is the SEC name, e.g. secp256r1, `bits` its size), DSA, DH
(`bits`), Ed25519, Ed448, X25519, X448 (`bits` null), or "unknown" with the key's `oid`.
Signature families: RSA (PKCS#1 v1.5 and PSS), ECDSA, DSA, EdDSA, GOST or "unknown";
`hash` is null where the algorithm has no separate hash (EdDSA) or it is not known.

An extension the certificate does not carry is null. A field that could not be read (a
malformed extension, an unknown algorithm, a bad version) is null too and named in
`unknown` with the reason, so a reader can tell "absent" from "not known".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dh, dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    SignatureAlgorithmOID,
)

__all__ = ["SCHEMA", "facts"]

SCHEMA = 1

_S = SignatureAlgorithmOID
SIGNATURES: dict[str, tuple[str, str]] = {
    oid.dotted_string: (name, family)
    for oid, name, family in (
        (_S.RSA_WITH_MD5, "md5WithRSAEncryption", "RSA"),
        (_S.RSA_WITH_SHA1, "sha1WithRSAEncryption", "RSA"),
        (_S._RSA_WITH_SHA1, "sha1WithRSA (OIW)", "RSA"),
        (_S.RSA_WITH_SHA224, "sha224WithRSAEncryption", "RSA"),
        (_S.RSA_WITH_SHA256, "sha256WithRSAEncryption", "RSA"),
        (_S.RSA_WITH_SHA384, "sha384WithRSAEncryption", "RSA"),
        (_S.RSA_WITH_SHA512, "sha512WithRSAEncryption", "RSA"),
        (_S.RSA_WITH_SHA3_224, "id-rsassa-pkcs1-v1_5-with-sha3-224", "RSA"),
        (_S.RSA_WITH_SHA3_256, "id-rsassa-pkcs1-v1_5-with-sha3-256", "RSA"),
        (_S.RSA_WITH_SHA3_384, "id-rsassa-pkcs1-v1_5-with-sha3-384", "RSA"),
        (_S.RSA_WITH_SHA3_512, "id-rsassa-pkcs1-v1_5-with-sha3-512", "RSA"),
        (_S.RSASSA_PSS, "RSASSA-PSS", "RSA"),
        (_S.ECDSA_WITH_SHA1, "ecdsa-with-SHA1", "ECDSA"),
        (_S.ECDSA_WITH_SHA224, "ecdsa-with-SHA224", "ECDSA"),
        (_S.ECDSA_WITH_SHA256, "ecdsa-with-SHA256", "ECDSA"),
        (_S.ECDSA_WITH_SHA384, "ecdsa-with-SHA384", "ECDSA"),
        (_S.ECDSA_WITH_SHA512, "ecdsa-with-SHA512", "ECDSA"),
        (_S.ECDSA_WITH_SHA3_224, "id-ecdsa-with-sha3-224", "ECDSA"),
        (_S.ECDSA_WITH_SHA3_256, "id-ecdsa-with-sha3-256", "ECDSA"),
        (_S.ECDSA_WITH_SHA3_384, "id-ecdsa-with-sha3-384", "ECDSA"),
        (_S.ECDSA_WITH_SHA3_512, "id-ecdsa-with-sha3-512", "ECDSA"),
        (_S.DSA_WITH_SHA1, "dsa-with-sha1", "DSA"),
        (_S.DSA_WITH_SHA224, "dsa-with-sha224", "DSA"),
        (_S.DSA_WITH_SHA256, "dsa-with-sha256", "DSA"),
        (_S.DSA_WITH_SHA384, "dsa-with-sha384", "DSA"),
        (_S.DSA_WITH_SHA512, "dsa-with-sha512", "DSA"),
        (_S.ED25519, "Ed25519", "EdDSA"),
        (_S.ED448, "Ed448", "EdDSA"),
        (_S.GOSTR3411_94_WITH_3410_2001, "GOST R 34.11-94 with 34.10-2001", "GOST"),
        (_S.GOSTR3410_2012_WITH_3411_2012_256, "GOST R 34.10-2012 (256)", "GOST"),
        (_S.GOSTR3410_2012_WITH_3411_2012_512, "GOST R 34.10-2012 (512)", "GOST"),
    )
}

_E = ExtendedKeyUsageOID
PURPOSES: dict[str, str] = {
    oid.dotted_string: name
    for oid, name in (
        (_E.SERVER_AUTH, "serverAuth"),
        (_E.CLIENT_AUTH, "clientAuth"),
        (_E.CODE_SIGNING, "codeSigning"),
        (_E.EMAIL_PROTECTION, "emailProtection"),
        (_E.TIME_STAMPING, "timeStamping"),
        (_E.OCSP_SIGNING, "OCSPSigning"),
        (_E.ANY_EXTENDED_KEY_USAGE, "anyExtendedKeyUsage"),
        (_E.IPSEC_IKE, "ipsecIKE"),
        (_E.SMARTCARD_LOGON, "smartcardLogon"),
        (_E.KERBEROS_PKINIT_KDC, "pkinitKDC"),
        (_E.CERTIFICATE_TRANSPARENCY, "certificateTransparency"),
    )
}

# keyUsage attribute of cryptography -> the RFC 5280 name.
KEY_USAGE_FLAGS = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)

# Reading a certificate can fail in these ways; anything else is a bug of ours.
UNREADABLE: tuple[type[Exception], ...] = (ValueError, UnsupportedAlgorithm, TypeError)

T = TypeVar("T")


def facts(chain: list[x509.Certificate]) -> dict[str, Any]:
    """The leaf's and the presented issuers' facts (shape in the module docstring)."""
    if not chain:
        return {"schema": SCHEMA, "leaf": None, "issuers": []}
    return {
        "schema": SCHEMA,
        "leaf": _leaf(chain[0]),
        "issuers": [_issuer(certificate) for certificate in chain[1:]],
    }


class _Reader:
    """Reads one certificate's fields, noting those it could not read instead of raising."""

    def __init__(self, certificate: x509.Certificate) -> None:
        self.certificate = certificate
        self.unknown: dict[str, str] = {}
        self.extensions = self.read("extensions", lambda: certificate.extensions)

    def read(self, name: str, read: Callable[[], T]) -> T | None:
        try:
            return read()
        except UNREADABLE as error:
            self.unknown[name] = str(error) or type(error).__name__
            return None

    def extension(self, name: str, kind: type[x509.ExtensionType]) -> x509.Extension[Any] | None:
        """The extension, or None when absent (or when the extensions could not be read)."""
        extensions = self.extensions
        if extensions is None:
            self.unknown.setdefault(name, self.unknown["extensions"])
            return None
        try:
            return extensions.get_extension_for_class(kind)
        except x509.ExtensionNotFound:
            return None


def _common(reader: _Reader) -> dict[str, Any]:
    certificate = reader.certificate
    subject = reader.read("subject", certificate.subject.rfc4514_string)
    issuer = reader.read("issuer", certificate.issuer.rfc4514_string)
    return {
        "subject": subject,
        "issuer": issuer,
        "self_signed": subject is not None and subject == issuer,
        "key": _key(reader),
        "signature": _signature(reader),
    }


def _issuer(certificate: x509.Certificate) -> dict[str, Any]:
    reader = _Reader(certificate)
    found = _common(reader)
    found["unknown"] = reader.unknown
    return found


def _leaf(certificate: x509.Certificate) -> dict[str, Any]:
    reader = _Reader(certificate)
    found = _common(reader)
    version = reader.read("version", lambda: certificate.version)
    found["version"] = (
        None if version is None else {x509.Version.v1: 1, x509.Version.v3: 3}[version]
    )
    found["not_before"] = reader.read(
        "not_before", lambda: certificate.not_valid_before_utc.isoformat()
    )
    found["not_after"] = reader.read(
        "not_after", lambda: certificate.not_valid_after_utc.isoformat()
    )
    found["key_usage"] = reader.read("key_usage", lambda: _key_usage(reader))
    found["extended_key_usage"] = reader.read("extended_key_usage", lambda: _eku(reader))
    found["subject_alt_name"] = reader.read("subject_alt_name", lambda: _san(reader))
    found["authority_info_access"] = reader.read("authority_info_access", lambda: _aia(reader))
    found["crl_distribution_points"] = reader.read(
        "crl_distribution_points", lambda: _crldp(reader)
    )
    found["unknown"] = reader.unknown
    return found


def _key(reader: _Reader) -> dict[str, Any]:
    certificate = reader.certificate
    key = reader.read("key", certificate.public_key)
    curve = None
    bits: int | None = None
    if isinstance(key, rsa.RSAPublicKey):
        kind, bits = "RSA", key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey):
        kind, bits, curve = "EC", key.curve.key_size, key.curve.name
    elif isinstance(key, dsa.DSAPublicKey):
        kind, bits = "DSA", key.key_size
    elif isinstance(key, dh.DHPublicKey):
        kind, bits = "DH", key.key_size
    elif isinstance(key, ed25519.Ed25519PublicKey):
        kind = "Ed25519"
    elif isinstance(key, ed448.Ed448PublicKey):
        kind = "Ed448"
    elif isinstance(key, x25519.X25519PublicKey):
        kind = "X25519"
    elif isinstance(key, x448.X448PublicKey):
        kind = "X448"
    else:
        oid = reader.read("key", lambda: certificate.public_key_algorithm_oid.dotted_string)
        return {"type": "unknown", "bits": None, "curve": None, "oid": oid}
    return {"type": kind, "bits": bits, "curve": curve}


def _signature(reader: _Reader) -> dict[str, Any]:
    certificate = reader.certificate
    oid = reader.read("signature", lambda: certificate.signature_algorithm_oid.dotted_string)
    name, family = SIGNATURES.get(oid or "", (oid, "unknown"))
    hashed = reader.read("signature_hash", lambda: certificate.signature_hash_algorithm)
    return {
        "algorithm": name,
        "oid": oid,
        "family": family,
        "hash": hashed.name if hashed is not None else None,
    }


def _key_usage(reader: _Reader) -> dict[str, Any] | None:
    extension = reader.extension("key_usage", x509.KeyUsage)
    if extension is None:
        return None
    usage = extension.value
    flags = [name for attribute, name in KEY_USAGE_FLAGS if getattr(usage, attribute)]
    # encipherOnly and decipherOnly exist only with keyAgreement; cryptography raises else.
    if usage.key_agreement and usage.encipher_only:
        flags.append("encipherOnly")
    if usage.key_agreement and usage.decipher_only:
        flags.append("decipherOnly")
    return {"critical": extension.critical, "flags": flags}


def _eku(reader: _Reader) -> dict[str, Any] | None:
    extension = reader.extension("extended_key_usage", x509.ExtendedKeyUsage)
    if extension is None:
        return None
    oids = [oid.dotted_string for oid in extension.value]
    return {
        "critical": extension.critical,
        "purposes": [PURPOSES.get(oid, oid) for oid in oids],
        "oids": oids,
        "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE.dotted_string in oids,
    }


def _san(reader: _Reader) -> dict[str, Any] | None:
    extension = reader.extension("subject_alt_name", x509.SubjectAlternativeName)
    if extension is None:
        return None
    names = extension.value
    dns = names.get_values_for_type(x509.DNSName)
    ip = [str(address) for address in names.get_values_for_type(x509.IPAddress)]
    return {
        "critical": extension.critical,
        "dns": dns,
        "ip": ip,
        "other": len(names) - len(dns) - len(ip),
    }


def _uris(names: list[x509.GeneralName] | None) -> list[str]:
    return [name.value for name in names or [] if isinstance(name, x509.UniformResourceIdentifier)]


def _aia(reader: _Reader) -> dict[str, Any] | None:
    extension = reader.extension("authority_info_access", x509.AuthorityInformationAccess)
    if extension is None:
        return None
    found: dict[str, list[str]] = {"ocsp": [], "ca_issuers": []}
    for description in extension.value:
        if description.access_method == AuthorityInformationAccessOID.OCSP:
            found["ocsp"] += _uris([description.access_location])
        elif description.access_method == AuthorityInformationAccessOID.CA_ISSUERS:
            found["ca_issuers"] += _uris([description.access_location])
    return found


def _crldp(reader: _Reader) -> dict[str, Any] | None:
    extension = reader.extension("crl_distribution_points", x509.CRLDistributionPoints)
    if extension is None:
        return None
    points = list(extension.value)
    return {
        "uris": [uri for point in points for uri in _uris(point.full_name)],
        "reasons": any(point.reasons for point in points),
        "crl_issuer": any(point.crl_issuer for point in points),
        "relative_name": any(point.relative_name for point in points),
    }
