"""The facts read from a presented chain: every field, absent extensions, odd certificates."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fleet.certificates import facts
from tests.audits.assessment_support import (
    ANY_PURPOSE,
    CA_ISSUERS_URL,
    CLIENT_AUTH,
    CRL_URL,
    OCSP_URL,
    SERVER_AUTH,
    authority,
    issue,
    with_broken_alt_name,
)

ISSUING_CA = "CN=Bank Issuing CA"
SHA256_WITH_RSA = {
    "algorithm": "sha256WithRSAEncryption",
    "oid": "1.2.840.113549.1.1.11",
    "family": "RSA",
    "hash": "sha256",
}


def _leaf_of(*chain) -> dict:
    return facts([issued.certificate for issued in chain])["leaf"]


def test_an_rsa_leaf_with_every_extension_is_read_whole_with_its_issuer():
    root = authority("Bank Root CA", key="rsa2048")
    issuing = authority("Bank Issuing CA", issuer=root)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    leaf = issue(
        "tn3270.sysa.bank.example",
        issuer=issuing,
        not_before=start,
        days=397,
        purposes=(SERVER_AUTH, CLIENT_AUTH),
        names=("tn3270.sysa.bank.example", "10.1.1.5"),
        crl=CRL_URL,
    )

    found = facts([leaf.certificate, issuing.certificate, root.certificate])

    assert found["schema"] == 1
    assert found["leaf"] == {
        "subject": "CN=tn3270.sysa.bank.example",
        "issuer": ISSUING_CA,
        "self_signed": False,
        "key": {"type": "RSA", "bits": 2048, "curve": None},
        "signature": {
            "algorithm": "ecdsa-with-SHA256",
            "oid": "1.2.840.10045.4.3.2",
            "family": "ECDSA",
            "hash": "sha256",
        },
        "version": 3,
        "not_before": "2025-01-01T00:00:00+00:00",
        "not_after": "2026-02-02T00:00:00+00:00",
        "key_usage": {"critical": True, "flags": ["digitalSignature", "keyEncipherment"]},
        "extended_key_usage": {
            "critical": False,
            "purposes": ["serverAuth", "clientAuth"],
            "oids": ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"],
            "any": False,
        },
        "subject_alt_name": {
            "critical": False,
            "dns": ["tn3270.sysa.bank.example"],
            "ip": ["10.1.1.5"],
            "other": 0,
        },
        "authority_info_access": {"ocsp": [OCSP_URL], "ca_issuers": [CA_ISSUERS_URL]},
        "crl_distribution_points": {
            "uris": [CRL_URL],
            "reasons": False,
            "crl_issuer": False,
            "relative_name": False,
        },
        "unknown": {},
    }
    assert found["issuers"] == [
        {
            "subject": ISSUING_CA,
            "issuer": "CN=Bank Root CA",
            "self_signed": False,
            "key": {"type": "EC", "bits": 384, "curve": "secp384r1"},
            "signature": SHA256_WITH_RSA,
            "unknown": {},
        },
        {
            "subject": "CN=Bank Root CA",
            "issuer": "CN=Bank Root CA",
            "self_signed": True,
            "key": {"type": "RSA", "bits": 2048, "curve": None},
            "signature": SHA256_WITH_RSA,
            "unknown": {},
        },
    ]
    assert json.loads(json.dumps(found)) == found


def test_key_types_and_sizes_are_recorded_for_rsa_1024_ec_p256_and_ed25519():
    assert _leaf_of(issue("weak.bank.example", key="rsa1024"))["key"] == {
        "type": "RSA",
        "bits": 1024,
        "curve": None,
    }
    ec_leaf = _leaf_of(issue("ec.bank.example", key="p256"))
    assert ec_leaf["key"] == {"type": "EC", "bits": 256, "curve": "secp256r1"}
    assert ec_leaf["signature"]["family"] == "ECDSA"
    edwards = _leaf_of(issue("ed.bank.example", key="ed25519"))
    assert edwards["key"] == {"type": "Ed25519", "bits": None, "curve": None}
    assert edwards["signature"] == {
        "algorithm": "Ed25519",
        "oid": "1.3.101.112",
        "family": "EdDSA",
        "hash": None,
    }


def test_a_sha1_signed_certificate_names_sha1_as_its_hash():
    issuing = authority("Bank Issuing CA", key="rsa2048")

    leaf = _leaf_of(issue("old.bank.example", issuer=issuing, signature_hash="sha1"), issuing)

    assert leaf["signature"] == {
        "algorithm": "sha1WithRSAEncryption",
        "oid": "1.2.840.113549.1.1.5",
        "family": "RSA",
        "hash": "sha1",
    }
    assert leaf["version"] == 3
    assert leaf["extended_key_usage"]["purposes"] == ["serverAuth"]


def test_absent_extensions_are_null_not_guessed():
    leaf = _leaf_of(
        issue(
            "bare.bank.example",
            key_usage=None,
            purposes=None,
            names=(),
            ocsp=None,
            ca_issuers=None,
        )
    )

    assert leaf["key_usage"] is None
    assert leaf["extended_key_usage"] is None
    assert leaf["subject_alt_name"] is None
    assert leaf["authority_info_access"] is None
    assert leaf["crl_distribution_points"] is None
    assert leaf["self_signed"] is True
    assert leaf["unknown"] == {}


def test_any_extended_key_usage_is_flagged():
    leaf = _leaf_of(issue("any.bank.example", purposes=(ANY_PURPOSE,)))

    assert leaf["extended_key_usage"]["purposes"] == ["anyExtendedKeyUsage"]
    assert leaf["extended_key_usage"]["any"] is True


def test_aia_with_ocsp_only_and_a_crl_point_with_reasons_and_crl_issuer():
    leaf = _leaf_of(issue("crl.bank.example", ca_issuers=None, crl=CRL_URL, crl_restricted=True))

    assert leaf["authority_info_access"] == {"ocsp": [OCSP_URL], "ca_issuers": []}
    assert leaf["crl_distribution_points"] == {
        "uris": [CRL_URL],
        "reasons": True,
        "crl_issuer": True,
        "relative_name": False,
    }


def test_an_x509_v1_certificate_is_read_as_version_1_without_extensions():
    leaf = _leaf_of(issue("v1.bank.example", v1=True))

    assert leaf["version"] == 1
    assert leaf["key_usage"] is None
    assert leaf["subject_alt_name"] is None
    assert leaf["signature"]["hash"] == "sha256"


def test_a_malformed_extension_is_recorded_as_unknown_instead_of_raising():
    odd = with_broken_alt_name("odd.bank.example").certificate

    leaf = facts([odd])["leaf"]

    assert leaf["subject_alt_name"] is None
    assert leaf["key_usage"] is None
    assert set(leaf["unknown"]) >= {"extensions", "subject_alt_name", "key_usage"}
    assert leaf["key"]["curve"] == "secp256r1"
    assert leaf["not_after"] == "2025-04-01T00:00:00+00:00"


def test_an_empty_chain_has_no_leaf():
    assert facts([]) == {"schema": 1, "leaf": None, "issuers": []}
