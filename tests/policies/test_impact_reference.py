"""The prediction for SYSA's v1 on the reference data center, before any AT-TLS.

v1 is what the portal generates from the seeded design (policies.generation.stack_policy).
The peers are lparsim's populations, read from the scenario file by this test: one peer per
population, using the version and suite a real OpenSSL handshake between the population's
client offer and the service's own TLS (`sim.app_tls`) settles on — what zERT would record.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest

from attls import ciphers
from attls.ciphers import Protocol
from attls.impact import CLEARTEXT, PeerObservation, Verdict, predict
from attls.policy import Policy
from lparsim import pki, tlsio
from lparsim.config import Config, ServiceConfig, load_config
from policies.generation import stack_policy
from policies.models import Service, Stack
from portal.seed import SCENARIO, load_scenario, policy_name, seed_datacenter

CLEARHOUSE_RULE = "MQ_Channel_to_Clearing_House"
LEGACY = {Protocol.TLSV1.value, Protocol.TLSV1_1.value}


@pytest.fixture(scope="module")
def scenario() -> Config:
    return load_config(SCENARIO, workdir=Path("/nonexistent-never-written"), base_port=0)


@pytest.fixture
def v1(db) -> Policy:
    seed_datacenter(scenario=load_scenario())
    return stack_policy(Stack.objects.get(lpar__name="SYSA", name="TCPIP"))


@cache
def _server_pem(tmp: str) -> str:
    ca = pki.create_ca()
    leaf = pki.issue(
        ca, common_name="sysa.bank.example", not_after=datetime.now(UTC) + timedelta(days=30)
    )
    return str(leaf.write(Path(tmp) / "server.pem"))


@cache
def negotiate(
    client: tuple[Protocol, ...], server: tuple[Protocol, ...], pem: str
) -> tuple[str, str] | None:
    """(version, 4-hex suite) a real handshake settles on, in memory; None when it fails."""
    client_ctx = tlsio.client_context(client, cafile=None, verify=False)
    server_ctx = tlsio.server_context(server, cert_file=pem)
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client_ctx.wrap_bio(c_in, c_out, server_side=False)
    s = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side in (c, s):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:
                return None
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if c.version() and s.version():
            break
    cipher = c.cipher()
    assert cipher is not None
    return str(c.version()), ciphers.by_openssl_name(cipher[0]).code


def sysa_peers(config: Config, pem: str) -> dict[str, tuple[ServiceConfig, str, PeerObservation]]:
    """One observation per population of SYSA, by synthetic peer address."""
    lpar = next(lpar for lpar in config.lpars if lpar.name == "SYSA")
    partners = {p.name: p for p in config.partners}
    out: dict[str, tuple[ServiceConfig, str, PeerObservation]] = {}
    for s_index, service in enumerate(lpar.services, start=1):
        for p_index, population in enumerate(service.populations, start=1):
            address = f"10.{s_index}.{p_index}.1"
            outbound = service.direction == "Outbound"
            if outbound:
                partner = partners[str(service.partner)]
                assert service.app_tls is not None and partner.tls is not None
                seen = negotiate(service.app_tls.protocols, partner.tls.protocols, pem)
            elif population.cleartext or service.app_tls is None:
                seen = None
            else:
                seen = negotiate(population.protocols, service.app_tls.protocols, pem)
            versions = frozenset({seen[0] if seen else CLEARTEXT})
            out[address] = (
                service,
                population.name,
                PeerObservation(
                    direction="Outbound" if outbound else "Inbound",
                    local_port=0 if outbound else service.port,
                    remote_address=address,
                    remote_port=service.port if outbound else 0,
                    job=service.jobname,
                    versions=versions,
                    suites=frozenset({seen[1]}) if seen else frozenset(),
                    connections=population.clients * 30,
                    service=policy_name(service.name),
                    # Before any AT-TLS every connection is the application's own doing.
                    without_attls=versions,
                ),
            )
    return out


def test_v1_on_sysa_breaks_exactly_the_cleartext_and_tls_1_0_1_1_clients_and_clearhouse_is_untested(
    v1, scenario, tmp_path_factory
):
    peers = sysa_peers(scenario, _server_pem(str(tmp_path_factory.mktemp("pki"))))

    prediction = predict(None, v1, [observation for _, _, observation in peers.values()])

    verdicts = {p.remote_address: p for p in prediction.peers}
    # From the populations: every cleartext client (all of SYSA's services get a TLS rule in
    # v1) and every client that can only speak TLS 1.0/1.1.
    expected_breaks = {
        address
        for address, (service, _, observation) in peers.items()
        if service.direction == "Inbound"
        and (observation.versions == {CLEARTEXT} or observation.versions <= LEGACY)
    }
    breaking = {a for a, p in verdicts.items() if p.verdict is Verdict.WILL_BREAK}
    assert breaking == expected_breaks
    kinds = {peers[a][0].kind for a in breaking if peers[a][2].versions == {CLEARTEXT}}
    assert {"tn3270", "db2", "ims", "ftp"} <= kinds
    assert all(
        "RC 5003" in verdicts[a].reason for a in breaking if peers[a][2].versions == {CLEARTEXT}
    )
    assert all("RC 412" in verdicts[a].reason for a in breaking if peers[a][2].versions <= LEGACY)
    assert {peers[a][0].name for a in breaking if peers[a][2].versions <= LEGACY} == {
        "TN3270 Secure",
        "CICS Accounts API",
        "Db2 DDF Secure",
        "FTPS Implicit",
    }

    clearhouse = [p for p in prediction.peers if p.rule == CLEARHOUSE_RULE]
    assert clearhouse and all(p.verdict is Verdict.UNTESTED for p in clearhouse)
    assert "will offer TLSv1.3" in clearhouse[0].reason
    # The other partners were never offered TLS 1.3 either: the same evidence, the same
    # verdict; the pre-check is what tells them apart.
    assert {p.verdict for p in prediction.peers if p.direction == "Outbound"} == {Verdict.UNTESTED}
    # Everyone else was seen on TLS 1.2 with an AEAD ECDHE suite v1 keeps.
    rest = (
        set(verdicts)
        - breaking
        - {p.remote_address for p in prediction.peers if p.direction == "Outbound"}
    )
    assert rest and {verdicts[a].verdict for a in rest} == {Verdict.SAFE}

    counts = {s.service: s.counts for s in prediction.services}
    assert counts["TN3270_Cleartext"][Verdict.WILL_BREAK] == 1
    assert counts["TN3270_Secure"][Verdict.WILL_BREAK] == 1
    assert counts["TN3270_Secure"][Verdict.SAFE] == 1
    assert prediction.affected_connections_per_day > 0


def test_removing_clearhouses_rule_is_safe_for_it(v1, scenario, tmp_path_factory):
    # The design without the partner's service: the version generation would publish.
    assert CLEARHOUSE_RULE in v1.rules
    sysa = Stack.objects.get(lpar__name="SYSA", name="TCPIP")
    Service.objects.filter(stack=sysa, name=CLEARHOUSE_RULE).update(included=False)
    without = stack_policy(sysa)
    assert CLEARHOUSE_RULE not in without.rules
    peers = sysa_peers(scenario, _server_pem(str(tmp_path_factory.mktemp("pki"))))

    prediction = predict(None, without, [observation for _, _, observation in peers.values()])

    clearhouse = [p for p in prediction.peers if p.service == CLEARHOUSE_RULE]
    assert clearhouse
    assert all(p.verdict is Verdict.SAFE and p.rule is None for p in clearhouse)
    assert "no rule of the candidate maps it" in clearhouse[0].reason
    # The rest of v1 is judged as before.
    assert (
        prediction.counts[Verdict.WILL_BREAK]
        == predict(None, v1, [observation for _, _, observation in peers.values()]).counts[
            Verdict.WILL_BREAK
        ]
    )
