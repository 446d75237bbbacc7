"""The §3.2 / §3.2.1 certificate controls judged on what the probe read from presented chains."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from accounts.roles import Role
from audits.evidence import describe
from fleet.models import Certificate
from tests.audits import assessment_support as support
from tests.audits.assessment_support import (
    ANY_PURPOSE,
    CLIENT_AUTH,
    CRL_URL,
    Issued,
    authority,
    certificate_row,
    deploy,
    issue,
    publish,
    run_catalog,
    with_broken_alt_name,
)
from tests.policies import conftest as design_fixtures

architect = design_fixtures.architect
stack = design_fixtures.stack
shared = design_fixtures.shared
make_service = design_fixtures.make_service
legacy_environment = support.legacy_environment

CERT_TYPE = "NIST-800-52r2-3.2-cert-type"
OCSP = "NIST-800-52r2-3.2-ocsp-ca"
STRENGTH = "NIST-800-52r2-3.2.1-x509v3-strength"
SIGNATURE_HASH = "NIST-800-52r2-3.2.1-signature-hash"
VALIDITY = "NIST-800-52r2-3.2.1-validity"
EKU = "NIST-800-52r2-3.2.1-eku"
KEY_USAGE = "NIST-800-52r2-3.2.1-key-usage"
SAN = "NIST-800-52r2-3.2.1-san"
ACCESS = "NIST-800-52r2-3.2.1-aia-crldp"
LEGACY = "NIST-800-52r2-3.2.1-legacy-sig-consistency"
PROFILE = (CERT_TYPE, OCSP, STRENGTH, SIGNATURE_HASH, VALIDITY, EKU, KEY_USAGE, SAN, ACCESS)


@pytest.fixture
def root():
    return authority("Bank Root CA", key="rsa2048")


@pytest.fixture
def issuing(root):
    return authority("Bank Issuing CA", issuer=root)


@pytest.fixture
def rsa_issuing(root):
    return authority("Bank RSA Issuing CA", key="rsa2048", issuer=root)


@pytest.fixture
def estate(stack, make_service, make_user, architect):
    """Serve `chains` ({rule: chain}), one inbound rule per chain, deployed six days ago."""

    def build(chains: dict[str, list[Issued]], **fields) -> dict:
        services = {
            rule: make_service(rule, 990 + n, jobname=f"JOB{n}", **fields)
            for n, rule in enumerate(chains)
        }
        deploy(
            stack,
            publish(stack, architect),
            requester=make_user("olivia", Role.OPERATOR),
            approver=make_user("otto", Role.OPERATOR),
            at=timezone.now() - timedelta(days=6),
        )
        for n, (rule, chain) in enumerate(chains.items()):
            certificate_row(stack, [rule], chain, ports=[990 + n])
        return services

    return build


def _outcomes(result, services) -> dict[str, str]:
    by_uuid = {str(service.uuid): rule for rule, service in services.items()}
    return {by_uuid[uuid]: outcome for uuid, outcome in result.per_service.items()}


def test_a_well_formed_chain_passes_every_certificate_profile_control(estate, issuing, root):
    leaf = issue("tn3270.sysa.bank.example", issuer=issuing, days=397, crl=CRL_URL)
    estate({"TN3270S": [leaf, issuing, root]})

    results = run_catalog()

    for control in PROFILE:
        assert results[control].outcome == "PASS", (control, results[control].rationale)
    assert results[LEGACY].outcome == "NOT_APPLICABLE"
    assert "holds an RSA 2048-bit key" in results[CERT_TYPE].rationale
    assert "names the OCSP responder http://ocsp.bank.example" in results[OCSP].rationale
    assert "its issuer CN=Bank Issuing CA: EC secp384r1 (384-bit) key" in (
        results[STRENGTH].rationale
    )
    assert "days left), a lifetime of 397 days (at most 1096)" in results[VALIDITY].rationale
    assert "Not evaluated: Whether the names are those clients reach each service by" in (
        results[SAN].rationale
    )
    evidence = results[STRENGTH].evidence["certificates"][0]
    assert evidence["key"] == "RSA 2048-bit"
    assert evidence["signature"] == "ecdsa-with-SHA256"
    assert evidence["issuers"][0] == {
        "subject": "CN=Bank Issuing CA",
        "key": "EC secp384r1 (384-bit)",
        "signature": "sha256WithRSAEncryption",
    }
    assert describe(evidence, kind="certificates").endswith(" · RSA 2048-bit · ecdsa-with-SHA256")


def test_certificates_recorded_before_the_probe_read_details_are_unknown_never_pass(
    stack, estate, issuing, root
):
    estate({"TN3270S": [issue("tn3270.sysa.bank.example", issuer=issuing), issuing, root]})
    Certificate.objects.update(details={})

    results = run_catalog()

    for control in PROFILE:
        assert results[control].outcome == "UNKNOWN", (control, results[control].rationale)
        assert "was recorded before the probe read certificate details" in (
            results[control].rationale
        )
    assert "is valid until" not in results[VALIDITY].rationale.split("UNKNOWN")[0]
    assert results[STRENGTH].evidence["certificates"][0]["details"] is None


def test_an_expired_certificate_without_details_still_fails_on_its_expiry(stack, estate, issuing):
    expired = issue("old.bank.example", issuer=issuing, not_before=datetime(2020, 1, 1, tzinfo=UTC))
    estate({"TN3270S": [expired, issuing]})
    Certificate.objects.update(details={})

    result = run_catalog()[VALIDITY]

    assert result.outcome == "FAIL"
    assert "certificate CN=old.bank.example of rule TN3270S (SYSA/TCPIP) expired on" in (
        result.rationale
    )


def test_key_type_strength_and_version_fail_where_the_profile_says_shall(
    estate, issuing, rsa_issuing
):
    services = estate(
        {
            "RSA1024": [issue("weak.bank.example", key="rsa1024", issuer=issuing), issuing],
            "P192": [issue("p192.bank.example", key="p192", issuer=issuing), issuing],
            "ED25519": [issue("ed.bank.example", key="ed25519", issuer=issuing), issuing],
            "V1": [issue("v1.bank.example", issuer=rsa_issuing, v1=True), rsa_issuing],
            "ALONE": [issue("alone.bank.example", key="p256", issuer=issuing)],
        }
    )

    results = run_catalog()
    lenient = run_catalog(min_rsa_bits=1024)

    assert _outcomes(results[CERT_TYPE], services) == {
        "RSA1024": "PASS",
        "P192": "PASS",
        "ED25519": "FAIL",
        "V1": "PASS",
        "ALONE": "PASS",
    }
    assert "holds an Ed25519 key, neither RSA nor ECDSA" in results[CERT_TYPE].rationale
    assert _outcomes(results[STRENGTH], services) == {
        "RSA1024": "FAIL",
        "P192": "FAIL",
        "ED25519": "PASS",
        "V1": "FAIL",
        "ALONE": "UNKNOWN",
    }
    rationale = results[STRENGTH].rationale
    assert "RSA 1024-bit key, below 2048 bits (min_rsa_bits)" in rationale
    assert "EC secp192r1 (192-bit) key, below 224 bits (min_ecc_bits)" in rationale
    assert "certificate CN=v1.bank.example of rule V1 (SYSA/TCPIP) is X.509 v1, not v3" in rationale
    assert "came without its issuer CN=Bank Issuing CA, so the key that signed it" in rationale
    assert _outcomes(lenient[STRENGTH], services)["RSA1024"] == "PASS"


def test_a_p521_key_is_strong_enough_but_warns_as_not_preferred(estate):
    issuing = authority("Bank P-521 CA", key="p521")
    services = estate({"TN3270S": [issue("tn.bank.example", key="p256", issuer=issuing), issuing]})

    result = run_catalog()[STRENGTH]

    assert _outcomes(result, services) == {"TN3270S": "WARN"}
    assert "its issuer CN=Bank P-521 CA: EC secp521r1 (521-bit) key; P-256 or P-384 is" in (
        result.rationale
    )


def test_a_sha1_signature_in_the_presented_chain_fails_but_a_self_signed_root_is_not_judged(
    estate, root, rsa_issuing
):
    old_root = authority("Old Root CA", key="rsa2048", signature_hash="sha1")
    services = estate(
        {
            "SHA1LEAF": [issue("sha1.bank.example", issuer=rsa_issuing, signature_hash="sha1")],
            "SHA1ROOT": [issue("ok.bank.example", issuer=old_root), old_root],
            "MD5": [issue("md5.bank.example", issuer=rsa_issuing, signature_hash="md5")],
        }
    )

    result = run_catalog()[SIGNATURE_HASH]

    assert _outcomes(result, services) == {"SHA1LEAF": "FAIL", "SHA1ROOT": "PASS", "MD5": "FAIL"}
    assert (
        "certificate CN=sha1.bank.example of rule SHA1LEAF (SYSA/TCPIP) is signed with"
        " sha1WithRSAEncryption (sha1)"
    ) in result.rationale
    assert "md5WithRSAEncryption (md5)" in result.rationale
    assert "self-signed root it sends is a trust anchor" in result.rationale


def test_extended_key_usage_needs_server_auth_and_refuses_any_purpose(estate, issuing):
    services = estate(
        {
            "NOEKU": [issue("a.bank.example", issuer=issuing, purposes=None), issuing],
            "ANYEKU": [issue("b.bank.example", issuer=issuing, purposes=(ANY_PURPOSE,)), issuing],
            "CLIENT": [issue("c.bank.example", issuer=issuing, purposes=(CLIENT_AUTH,)), issuing],
            "GOOD": [issue("d.bank.example", issuer=issuing), issuing],
        }
    )

    result = run_catalog()[EKU]

    assert _outcomes(result, services) == {
        "NOEKU": "FAIL",
        "ANYEKU": "FAIL",
        "CLIENT": "FAIL",
        "GOOD": "PASS",
    }
    assert "has no extendedKeyUsage, so it does not assert serverAuth" in result.rationale
    assert "asserts anyExtendedKeyUsage (purposes: anyExtendedKeyUsage)" in result.rationale
    assert "does not assert serverAuth (purposes: clientAuth)" in result.rationale


def test_key_usage_must_match_the_key_type_and_be_critical(estate, issuing):
    services = estate(
        {
            "NOKU": [issue("a.bank.example", issuer=issuing, key_usage=None), issuing],
            "KEYAGREE": [
                issue("b.bank.example", issuer=issuing, key_usage=("key_agreement",)),
                issuing,
            ],
            "NONCRIT": [issue("c.bank.example", issuer=issuing, key_usage_critical=False), issuing],
            "ECDH": [
                issue("d.bank.example", key="p256", issuer=issuing, key_usage=("key_agreement",)),
                issuing,
            ],
            "ECDSA": [
                issue(
                    "e.bank.example", key="p256", issuer=issuing, key_usage=("digital_signature",)
                ),
                issuing,
            ],
        }
    )

    result = run_catalog()[KEY_USAGE]

    assert _outcomes(result, services) == {
        "NOKU": "FAIL",
        "KEYAGREE": "FAIL",
        "NONCRIT": "FAIL",
        "ECDH": "PASS",
        "ECDSA": "PASS",
    }
    assert "is an RSA signature certificate without digitalSignature (has keyAgreement)" in (
        result.rationale
    )
    assert "has a keyUsage extension not marked critical" in result.rationale
    assert "Caveat: An EC key certified for keyAgreement alone" in result.rationale


def test_a_subject_alt_name_with_a_dns_name_or_an_ip_address_passes(estate, issuing):
    services = estate(
        {
            "NOSAN": [issue("a.bank.example", issuer=issuing, names=()), issuing],
            "IPONLY": [issue("b.bank.example", issuer=issuing, names=("10.1.1.5",)), issuing],
            "DNS": [issue("c.bank.example", issuer=issuing), issuing],
        }
    )

    result = run_catalog()[SAN]

    assert _outcomes(result, services) == {"NOSAN": "FAIL", "IPONLY": "PASS", "DNS": "PASS"}
    assert "certificate CN=a.bank.example of rule NOSAN (SYSA/TCPIP) has no subjectAltName" in (
        result.rationale
    )


def test_ocsp_and_issuer_addresses_and_crl_points_follow_the_profile(estate, issuing):
    services = estate(
        {
            "NOAIA": [issue("a.bank.example", issuer=issuing, ocsp=None, ca_issuers=None), issuing],
            "OCSPONLY": [issue("b.bank.example", issuer=issuing, ca_issuers=None), issuing],
            "LDAP": [issue("c.bank.example", issuer=issuing, ocsp="ldap://ocsp"), issuing],
            "CRLFIELDS": [
                issue("d.bank.example", issuer=issuing, crl=CRL_URL, crl_restricted=True),
                issuing,
            ],
            "GOOD": [issue("e.bank.example", issuer=issuing, crl=CRL_URL), issuing],
        }
    )

    results = run_catalog()

    assert _outcomes(results[OCSP], services) == {
        "NOAIA": "FAIL",
        "OCSPONLY": "PASS",
        "LDAP": "PASS",
        "CRLFIELDS": "PASS",
        "GOOD": "PASS",
    }
    assert _outcomes(results[ACCESS], services) == {
        "NOAIA": "FAIL",
        "OCSPONLY": "FAIL",
        "LDAP": "FAIL",
        "CRLFIELDS": "FAIL",
        "GOOD": "PASS",
    }
    rationale = results[ACCESS].rationale
    assert "rule OCSPONLY (SYSA/TCPIP) gives no HTTP address for the issuing CA's certificate" in (
        rationale
    )
    assert "rule LDAP (SYSA/TCPIP) gives no HTTP address for the OCSP" in rationale
    assert "has a CRL distribution point using reasons, cRLIssuer" in rationale
    assert "CRLs from http://pki.bank.example/issuing.crl" in rationale


def test_a_lifetime_over_three_years_warns_and_a_certificate_not_yet_valid_fails(estate, issuing):
    services = estate(
        {
            "LONG": [issue("long.bank.example", issuer=issuing, days=5 * 365), issuing],
            "FUTURE": [
                issue(
                    "future.bank.example",
                    issuer=issuing,
                    not_before=datetime.now(UTC) + timedelta(days=2),
                ),
                issuing,
            ],
            "THREE": [issue("three.bank.example", issuer=issuing, days=1096), issuing],
        }
    )

    result = run_catalog()[VALIDITY]

    assert _outcomes(result, services) == {"LONG": "WARN", "FUTURE": "FAIL", "THREE": "PASS"}
    assert "is valid for 1825 days (from" in result.rationale
    assert "more than 1096 (cert_max_validity_days)" in result.rationale
    assert "certificate CN=future.bank.example of rule FUTURE (SYSA/TCPIP) is not valid before" in (
        result.rationale
    )
    assert _outcomes(run_catalog(cert_max_validity_days=2000)[VALIDITY], services)["LONG"] == (
        "PASS"
    )


def test_while_tls_1_0_is_on_a_signature_of_another_family_than_the_key_warns(
    estate, issuing, rsa_issuing, legacy_environment
):
    services = estate(
        {
            "MIXED": [issue("a.bank.example", issuer=issuing), issuing],
            "MATCHED": [issue("b.bank.example", issuer=rsa_issuing), rsa_issuing],
        },
        environment_action=legacy_environment,
    )

    result = run_catalog()[LEGACY]

    assert _outcomes(result, services) == {"MIXED": "WARN", "MATCHED": "PASS"}
    assert (
        "rule MIXED (SYSA/TCPIP) has TLSv1 On (environment envLegacy); certificate"
        " CN=a.bank.example of rule MIXED (SYSA/TCPIP) has an RSA 2048-bit key signed with"
        " ecdsa-with-SHA256, not RSA"
    ) in result.rationale


def test_a_subject_alt_name_that_cannot_be_read_is_unknown(estate, issuing):
    services = estate({"ODD": [with_broken_alt_name("odd.bank.example", issuer=issuing), issuing]})

    results = run_catalog()

    assert _outcomes(results[SAN], services) == {"ODD": "UNKNOWN"}
    assert "its subject_alt_name could not be read" in results[SAN].rationale
    assert results[CERT_TYPE].outcome == "PASS"
