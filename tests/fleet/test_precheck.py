"""The active pre-check against lparsim's partners in the reference data center.

CLEARHOUSE aborts on any ClientHello that offers TLS 1.3 (a fatal protocol_version alert);
ACMEBANK and LOGISTICO speak TLS 1.2 and 1.3. The offer is v1's, generated from the seed.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from django.core.exceptions import ValidationError

from attls.ciphers import Protocol
from attls.effective import effective_settings
from fleet.models import LparConnection, validate_precheck_allowlist
from fleet.precheck import (
    ClientOffer,
    PrecheckError,
    PrecheckTarget,
    parse_allowlist,
    precheck,
    precheck_for_connection,
    refusal,
)
from lparsim.config import load_config
from lparsim.runner import SimulatorThread
from policies.generation import stack_policy
from policies.models import Lpar, Stack
from portal.seed import SCENARIO, load_scenario, seed_datacenter

CLEARHOUSE_RULE = "MQ_Channel_to_Clearing_House"


@pytest.fixture(scope="module")
def partners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, PrecheckTarget]]:
    """The reference scenario's partners, running on loopback (no client populations)."""
    workdir = tmp_path_factory.mktemp("reference")
    config = load_config(SCENARIO, workdir=workdir, base_port=0)
    thread = SimulatorThread(config, populations=False).start()
    try:
        yield {
            name: PrecheckTarget(name, server.config.address, server.config.host_port)
            for name, server in thread.simulator.partners.items()
        }
    finally:
        thread.stop()


@pytest.fixture
def v1_offer(db) -> ClientOffer:
    """What SYSA's v1 rule for the clearing-house channel will put in its ClientHello."""
    seed_datacenter(scenario=load_scenario())
    v1 = stack_policy(Stack.objects.get(lpar__name="SYSA", name="TCPIP"))
    return ClientOffer.of(effective_settings(v1, CLEARHOUSE_RULE))


def test_v1s_offer_is_refused_by_clearhouse_and_accepted_by_the_other_partners(partners, v1_offer):
    assert Protocol.TLSV1_3 in v1_offer.versions

    results = {r.key: r for r in precheck(list(partners.values()), v1_offer)}

    assert results["CLEARHOUSE"].outcome == "refused"
    assert "protocol_version alert" in results["CLEARHOUSE"].reason
    for name in ("ACMEBANK", "LOGISTICO"):
        assert results[name].accepted, results[name].reason
        assert results[name].version == "TLSv1.3"
        # TLS 1.3 suites are offered exactly: the partner chose one of v1's.
        assert results[name].suite in v1_offer.suites
    # v1's groups (P-256, P-384) went into the ClientHello; what OpenSSL cannot say, it says.
    assert v1_offer.groups == ("0023", "0024")
    assert any(
        "key share for secp256r1 only" in limit for limit in results["ACMEBANK"].offer_limits
    )
    assert all(r.offer == v1_offer.describe() for r in results.values())
    assert all(r.offer_limits for r in results.values())


def test_the_same_offer_without_tls_1_3_is_accepted_by_clearhouse(partners, v1_offer):
    without = ClientOffer(
        tuple(v for v in v1_offer.versions if v is not Protocol.TLSV1_3), v1_offer.suites
    )

    (result,) = precheck([partners["CLEARHOUSE"]], without)

    assert result.accepted, result.reason
    assert result.version == "TLSv1.2"
    # The partner chose one of the offered suites.
    assert result.suite in v1_offer.suites


def test_an_offer_of_only_suites_the_partner_cannot_use_is_refused_with_the_reason(partners):
    # C02F needs an RSA server certificate; the partner's is ECDSA: no shared suite.
    (result,) = precheck([partners["CLEARHOUSE"]], ClientOffer((Protocol.TLSV1_2,), ("C02F",)))

    assert result.outcome == "refused"
    assert "handshake_failure alert" in result.reason


def test_the_offer_is_exact_for_tls_1_3_suites_and_groups(partners):
    # Only ChaCha20 for TLS 1.3: the partner, which prefers AES, has to take it.
    (chacha,) = precheck([partners["ACMEBANK"]], ClientOffer((Protocol.TLSV1_3,), ("1303",)))
    assert chacha.accepted, chacha.reason
    assert (chacha.version, chacha.suite) == ("TLSv1.3", "1303")

    # Only secp224r1, which the partner does not take: no key exchange can be agreed.
    (no_group,) = precheck(
        [partners["ACMEBANK"]], ClientOffer((Protocol.TLSV1_2,), ("C02B",), groups=("0021",))
    )
    assert no_group.outcome == "refused"
    assert "alert" in no_group.reason

    # In TLS 1.2 the groups also bound the curve of an ECDSA certificate: the partner's is
    # P-256, so P-384 alone is refused and P-256 accepted.
    (p384,) = precheck(
        [partners["ACMEBANK"]], ClientOffer((Protocol.TLSV1_2,), ("C02B",), groups=("0024",))
    )
    assert p384.outcome == "refused"
    (with_group,) = precheck(
        [partners["ACMEBANK"]], ClientOffer((Protocol.TLSV1_2,), ("C02B",), groups=("0023",))
    )
    assert with_group.accepted, with_group.reason
    assert (with_group.version, with_group.suite) == ("TLSv1.2", "C02B")


def test_an_offer_of_only_versions_the_partner_lacks_is_refused(partners):
    # TLS 1.0 alone is below what CLEARHOUSE speaks: a protocol refusal, with the reason.
    (result,) = precheck([partners["CLEARHOUSE"]], ClientOffer((Protocol.TLSV1,), ("C013",)))

    assert result.outcome == "refused"
    assert result.reason.startswith("the partner")


def test_addresses_off_the_allow_list_are_not_attempted_and_names_are_refused(partners):
    targets = [
        PrecheckTarget("OFFLIST", "192.0.2.10", 1416),
        PrecheckTarget("NAMED", "clearhouse.example", 1416),
        partners["CLEARHOUSE"],
    ]
    # The partner's certificate is ECDSA: an ECDSA suite must be on offer.
    offer = ClientOffer((Protocol.TLSV1_2,), ("C02B", "C02F"))

    results = precheck(targets, offer, allowlist=["198.51.100.0/24"])

    assert [r.outcome for r in results] == ["not-attempted", "not-attempted", "accepted"]
    assert "not on this LPAR connection's pre-check allow-list" in results[0].reason
    assert "not an IP address" in results[1].reason
    assert refusal("192.0.2.10", parse_allowlist(["192.0.2.0/28"])) is None
    assert refusal("192.0.2.99", parse_allowlist(["192.0.2.0/28"])) is not None


def test_the_pre_check_is_bounded_in_count_and_time():
    offer = ClientOffer((Protocol.TLSV1_2,), ("C02F",))
    too_many = [PrecheckTarget(f"P{i}", "127.0.0.1", 1) for i in range(21)]
    with pytest.raises(PrecheckError, match="at most 20"):
        precheck(too_many, offer)

    # A listener that never answers: the TCP connect completes from the backlog, the
    # ClientHello gets no answer.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        (timed_out,) = precheck(
            [PrecheckTarget("SILENT", "127.0.0.1", port)], offer, timeout=0.3, deadline=5
        )
        assert timed_out.outcome == "refused"
        assert "within the handshake timeout" in timed_out.reason

        results = precheck(
            [PrecheckTarget(f"S{i}", "127.0.0.1", port) for i in range(3)],
            offer,
            timeout=5,
            deadline=0.4,
        )
        assert time.monotonic() - started < 3
        assert {r.outcome for r in results} == {"unreachable"}
        assert all("deadline of 0.4 s" in r.reason for r in results)


def test_an_offer_nothing_can_speak_is_refused_before_connecting():
    with pytest.raises(PrecheckError, match="no version"):
        precheck([], ClientOffer((Protocol.SSLV3,), ("C02F",)))
    with pytest.raises(PrecheckError, match="no suite"):
        precheck([], ClientOffer((Protocol.TLSV1_2,), ("FFFF",)))


def test_the_allow_list_is_a_field_of_the_lpar_connection(db, partners):
    lpar = Lpar.objects.create(name="SYSA")
    connection = LparConnection.objects.create(
        lpar=lpar, username="ATTLSADM", ca_bundle="-", precheck_allowlist=["203.0.113.7"]
    )
    with pytest.raises(ValidationError):
        validate_precheck_allowlist(["203.0.113.7", "not-an-address"])
    validate_precheck_allowlist(["203.0.113.7", "2001:db8::/32"])

    results = precheck_for_connection(
        connection,
        [PrecheckTarget("LISTED", "203.0.113.8", 1416), partners["ACMEBANK"]],
        ClientOffer((Protocol.TLSV1_2, Protocol.TLSV1_3), ("1301", "C02B", "C02F")),
    )

    assert [r.outcome for r in results] == ["not-attempted", "accepted"]
