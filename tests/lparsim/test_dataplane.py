"""The AT-TLS data plane: real TLS handshakes against the service ports, and what netstat
and syslog say about them afterwards."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Any

import pytest

from attls import ciphers
from attls.reports.netstat import parse_netstat_allconn, parse_netstat_ttls
from lparsim import pki
from tests.lparsim.policies import FTP, MQ_OUT, TN3270, policy
from tests.lparsim.support import Sim, base_config, connect, tls_context, wait_for

TLS1 = ssl.TLSVersion.TLSv1
TLS12 = ssl.TLSVersion.TLSv1_2
TLS13 = ssl.TLSVersion.TLSv1_3


def _uncovered_ports(sim: Sim) -> set[int | None]:
    report = parse_netstat_allconn(sim.run("netstat -a -X NOTTLSPOLICY").stdout)
    return {row.foreign_socket.port for row in report.rows}


def _ttls(sim: Sim, command: str = "netstat -x CONN") -> dict[int | None, Any]:
    report = parse_netstat_ttls(sim.run(command).stdout)
    return {conn.remote_socket.port: conn for conn in report.connections}


def test_a_tls10_client_is_accepted_before_the_policy_and_refused_after(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    port = sim.service_port("TN3270 Secure")
    before = connect(port, tls_context(TLS1, ca_file=sim.ca_file))
    assert before.version == "TLSv1"  # the application's own (legacy) TLS
    assert before.exchange() == b"TN3270A PING 1\n"
    assert before.local_port in _uncovered_ports(sim)
    assert _ttls(sim) == {}

    assert "EZZ8771I" in sim.install(policy(TN3270))

    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    refused_port = sock.getsockname()[1]
    with pytest.raises(ssl.SSLError, match=r"PROTOCOL_VERSION|protocol version"):
        tls_context(TLS1, ca_file=sim.ca_file).wrap_socket(sock)
    sock.close()
    failure = wait_for(
        lambda: [
            line
            for line in sim.syslog().splitlines()
            if f"..{refused_port} " in line and "EZD1286I" in line
        ]
    )[0]
    assert "RULE: rule_TN3270 RC:  412 Initial Handshake" in failure
    assert "JOBNAME: TN3270A" in failure

    # The session opened before the refresh keeps running on the application's TLS.
    assert before.exchange(b"PING 2\n") == b"TN3270A PING 2\n"
    before.close()


def test_netstat_shows_what_each_real_handshake_negotiated(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    sim.install(policy(TN3270))
    port = sim.service_port("TN3270 Secure")
    modern = connect(port, tls_context(TLS12, TLS13, ca_file=sim.ca_file))
    tls12 = connect(port, tls_context(TLS12, ca_file=sim.ca_file))
    assert modern.exchange() and tls12.exchange()

    seen = _ttls(sim)
    for session, level in ((modern, "TLS Version 1.3"), (tls12, "TLS Version 1.2")):
        conn = seen[session.local_port]
        suite = ciphers.by_openssl_name(session.cipher or "")
        assert conn.sec_level == level
        assert (conn.cipher_code, conn.cipher_name) == (suite.code, suite.iana_name)
        assert (conn.rule, conn.group_action, conn.env_action) == (
            "rule_TN3270",
            "gAct_MASTER",
            "eAct_TLS12_13",
        )
        assert conn.conn_action is None
        assert conn.job_name == "TN3270A"
        assert conn.local_socket.port == 992  # the z/OS port, not the host port
    # TLS 1.2 ciphers come from the policy list, in its order (server preference).
    assert seen[tls12.local_port].cipher_code in ("C02B", "C02C")
    assert modern.local_port not in _uncovered_ports(sim)

    one = seen[tls12.local_port].conn_id
    detail = parse_netstat_ttls(sim.run(f"netstat -x CONN {one} DETAIL").stdout).connections
    assert [conn.conn_id for conn in detail] == [one]
    assert [action.name for action in detail[0].action_details] == ["gAct_MASTER", "eAct_TLS12_13"]
    group = sim.run("netstat -x GROUP").stdout
    assert "gAct_MASTER" in group and group.rstrip().endswith("2")
    modern.close()
    tls12.close()


def test_a_cleartext_client_on_an_attls_port_is_logged_as_rc_5003(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    port = sim.service_port("FTP")
    plain = connect(port)
    assert plain.exchange(b"USER anonymous\n") == b"FTPD1 USER anonymous\n"
    plain.close()

    sim.install(policy(FTP))
    late = connect(port)
    assert late.exchange(b"USER anonymous\n") == b""  # AT-TLS closes it
    late.close()
    assert wait_for(lambda: "RULE: rule_FTP RC: 5003 Initial Handshake" in sim.syslog())


def test_a_silent_peer_times_out_with_rc_5004(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    sim.install(policy(FTP, handshake_timeout=1))
    silent = connect(sim.service_port("FTP"))
    silent.sock.settimeout(5)
    assert silent.sock.recv(10) == b""  # closed after the handshake timeout
    silent.close()
    assert "RULE: rule_FTP RC: 5004 Initial Handshake" in sim.syslog()


def test_a_group_with_ttls_enabled_off_maps_but_does_not_secure(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    sim.install(policy(FTP, enabled=False))
    plain = connect(sim.service_port("FTP"))
    assert plain.exchange() == b"FTPD1 PING 1\n"
    conn = _ttls(sim)[plain.local_port]
    assert conn.rule == "rule_FTP" and conn.sec_level is None
    assert plain.local_port not in _uncovered_ports(sim)
    plain.close()


@pytest.fixture
def own_ca(tmp_path: Path) -> tuple[pki.Issued, Path, Path]:
    """A CA made by the test, given to lparsim in its configuration."""
    ca = pki.create_ca("test suite CA")
    cert, key = tmp_path / "ca-cert.pem", tmp_path / "ca-key.pem"
    cert.write_bytes(ca.cert_pem)
    key.write_bytes(ca.key_pem)
    return ca, cert, key


def test_client_authentication_required_refuses_a_client_without_a_certificate(  # type: ignore[no-untyped-def]
    start, own_ca, tmp_path: Path
) -> None:
    ca, cert, key = own_ca
    sim: Sim = start(base_config(ca={"cert": str(cert), "key": str(key)}))
    assert Path(sim.ca_file).read_bytes() == ca.cert_pem
    sim.install(policy(TN3270, role="ServerWithClientAuth", client_auth="Required"))
    port = sim.service_port("TN3270 Secure")

    with pytest.raises((ssl.SSLError, ConnectionError)):
        connect(port, tls_context(TLS12, ca_file=sim.ca_file)).exchange()
    assert wait_for(lambda: "RULE: rule_TN3270 RC: 5001 Initial Handshake" in sim.syslog())

    client_pem = tmp_path / "client.pem"
    pki.issue(ca, common_name="BRANCH01", not_after=pki.days_from_now(30), client=True).write(
        client_pem
    )
    good = connect(port, tls_context(TLS12, ca_file=sim.ca_file, cert_file=str(client_pem)))
    assert good.exchange() == b"TN3270A PING 1\n"
    good.close()


def test_an_expired_certificate_fails_handshakes_until_renewed_and_the_environment_rebuilt(  # type: ignore[no-untyped-def]
    start,
) -> None:
    sim: Sim = start()
    sim.install(policy(TN3270))
    port = sim.service_port("TN3270 Secure")
    assert connect(port, tls_context(TLS12, ca_file=sim.ca_file)).exchange()

    expired = sim.admin("POST", "/lpars/SYSA/faults/expire-cert", {"ring": "ATTLS/SharedRing"})
    assert expired.json()["expired"] is True
    with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        connect(port, tls_context(TLS12, ca_file=sim.ca_file))
    assert wait_for(lambda: "RULE: rule_TN3270 RC:  401 Initial Handshake" in sim.syslog())

    # A replacement in the ring is not used by the open SSL environment...
    renewed = sim.admin("POST", "/lpars/SYSA/certs/renew", {"ring": "ATTLS/SharedRing", "days": 90})
    assert renewed.json()["expired"] is False
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(port, tls_context(TLS12, ca_file=sim.ca_file))
    # ...until EnvironmentUserInstance changes and PAGENT refreshes.
    sim.install(policy(TN3270, instance=1))
    session = connect(port, tls_context(TLS12, ca_file=sim.ca_file))
    assert session.exchange() == b"TN3270A PING 1\n"
    served = session.sock.getpeercert()
    assert served is not None
    assert int(str(served["serialNumber"]), 16) == int(renewed.json()["serial"], 16)
    session.close()


def test_the_partner_rejects_any_hello_that_offers_tls13(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    partner_port = sim.simulator.partners["CLEARHOUSE"].config.host_port
    with pytest.raises(ssl.SSLError, match=r"PROTOCOL_VERSION|protocol version"):
        connect(partner_port, tls_context(TLS12, TLS13, ca_file=sim.ca_file))
    session = connect(partner_port, tls_context(TLS12, ca_file=sim.ca_file))
    assert session.version == "TLSv1.2"
    assert session.exchange() == b"CLEARHOUSE PING 1\n"
    session.close()


def _outbound_config() -> dict[str, Any]:
    data = base_config()
    mq = data["lpars"][0]["services"][2]
    mq["sim"]["populations"] = [
        {
            "name": "channel",
            "clients": 1,
            "tls": "tls1.2",
            "session_seconds": 30,
            "reconnect_seconds": 0.2,
            "ramp_seconds": 0,
        }
    ]
    return data


def test_an_outbound_rule_offering_tls13_to_the_partner_fails_and_tls12_rolls_back(  # type: ignore[no-untyped-def]
    start,
) -> None:
    sim: Sim = start(_outbound_config(), populations=True)

    def outbound() -> list[Any]:
        report = parse_netstat_allconn(sim.run("netstat -a").stdout)
        return [row for row in report.rows if row.user_id == "MQP1CHIN" and row.state == "Establsh"]

    # Before: the channel's own TLS 1.2, not covered by AT-TLS.
    channel = wait_for(outbound)[0]
    assert channel.foreign_socket.port == 1416
    assert channel.foreign_socket.port in _uncovered_ports(sim)

    sim.install(policy(MQ_OUT))
    sim.admin("POST", "/lpars/SYSA/faults/drop", {"service": "MQ to Clearing House"})
    assert wait_for(
        lambda: (
            "JOBNAME: MQP1CHIN USERID: MQP1CHIN RULE: rule_MQ_CLEARHOUSE RC:  412" in sim.syslog()
        )
    )
    partner = sim.simulator.partners["CLEARHOUSE"].stats
    assert partner.tls13_rejected >= 1

    # Rollback: the client connection action turns TLS 1.3 Off.
    sim.install(policy(MQ_OUT, client_tls13=False))

    def secured() -> list[Any]:
        return [
            conn
            for conn in parse_netstat_ttls(sim.run("netstat -x CONN").stdout).connections
            if conn.job_name == "MQP1CHIN" and conn.sec_level == "TLS Version 1.2"
        ]

    conn = wait_for(secured, timeout=15)[0]
    assert (conn.rule, conn.conn_action) == ("rule_MQ_CLEARHOUSE", "cAct_CLIENT")
    assert conn.remote_socket.port == 1416

    # The job can be told to stop opening sessions.
    stopped = sim.admin("POST", "/lpars/SYSA/populations/channel", {"clients": 0})
    assert stopped.json() == {"population": "MQ to Clearing House/channel", "clients": 0}


def test_dropping_connections_closes_them_and_empties_the_table(start) -> None:  # type: ignore[no-untyped-def]
    sim: Sim = start()
    session = connect(sim.service_port("FTP"))
    assert session.exchange()
    assert session.local_port in _uncovered_ports(sim)
    dropped = sim.admin("POST", "/lpars/SYSA/faults/drop", {}).json()
    assert dropped["dropped"] == 1
    session.sock.settimeout(5)
    assert session.sock.recv(10) == b""
    assert session.local_port not in _uncovered_ports(sim)
    session.close()


def test_a_refused_handshake_is_logged_with_the_clients_own_source_socket_as_remote(start) -> None:  # type: ignore[no-untyped-def]
    # The portal tells its probe's refusals from real failures by this socket, as on z/OS.
    sim: Sim = start()
    sim.install(policy(TN3270))
    port = sim.service_port("TN3270 Secure")
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    source = "{}..{}".format(*sock.getsockname()[:2])
    with pytest.raises(ssl.SSLError):
        tls_context(TLS1, ca_file=sim.ca_file).wrap_socket(sock)
    sock.close()

    failure = wait_for(
        lambda: [
            line
            for line in sim.syslog().splitlines()
            if "EZD1286I" in line and f"REMOTE: {source} " in line
        ]
    )[0]
    assert " LOCAL: 127.0.0.1..992 " in failure  # the z/OS port, not the host port
    assert failure.endswith("RULE: rule_TN3270 RC:  412 Initial Handshake")
