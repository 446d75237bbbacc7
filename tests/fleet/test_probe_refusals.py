"""The probe's own refused handshakes are told apart from the services' failed handshakes.

The probe offers TLS 1.0 and weak suites on purpose; AT-TLS refuses them and logs EZD1286I
with the probe's source socket as REMOTE. fleet/verify/handshakes.py counts those lines as probe
refusals.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone

from attls.reports import syslog
from fleet import probe as probe_module
from fleet import verify
from fleet.connectors.base import Timeouts
from fleet.connectors.factory import connector_for
from fleet.models import LparConnection, RunStatus, VerificationRun
from fleet.probe import ProbeTarget, probe
from policies.models import Service, Stack
from tests.lparsim.policies import TN3270, policy

from .conftest import FAST, Lab

LINE = (
    "Nov 24 04:50:26 SYSA TCPIP: EZD1286I TTLS Error GRPID: 00000001 ENVID: 00000002"
    " CONNID: 00000106 LOCAL: 127.0.0.1..992 REMOTE: 127.0.0.1..37213 JOBNAME: TN3270A"
    " USERID: TN3270A RULE: rule_TN3270 RC:  412 Initial Handshake"
)


def line(remote: str, *, local: str = "10.1.1.1..992", rc: int = 412, conn: int = 0x106) -> str:
    return (
        f"Nov 24 04:50:{conn % 60:02d} SYSA TCPIP: EZD1286I TTLS Error GRPID: 00000001"
        f" ENVID: 00000002 CONNID: {conn:08X} LOCAL: {local} REMOTE: {remote}"
        f" JOBNAME: TN3270A USERID: TN3270A RULE: TN3270_Secure RC: {rc:4d} Initial Handshake"
    )


# --- parsing ----------------------------------------------------------------------------------


def test_an_ezd1286i_line_gives_rule_rc_connection_and_both_sockets() -> None:
    failure = syslog.parse_failure_line(LINE)

    assert failure.rule == "rule_TN3270"
    assert failure.rc == "412"
    assert failure.conn_id == "00000106"
    assert failure.local_port == 992
    assert failure.remote == ("127.0.0.1", 37213)
    assert failure.probe_socket() == ("127.0.0.1", 37213, 992)


def test_ipv4_mapped_and_zero_padded_peers_read_as_the_plain_ipv4_address() -> None:
    failure = syslog.parse_failure_line(
        line("::FFFF:010.001.002.003..40312", local="::FFFF:010.000.000.001..992")
    )

    assert failure.remote == ("10.1.2.3", 40312)
    assert syslog.normal_address("::ffff:10.1.2.3") == "10.1.2.3"
    assert syslog.normal_address("2001:DB8::1") == "2001:db8::1"
    assert syslog.normal_address("::ffff:a01:203") == "10.1.2.3"


def test_a_line_without_sockets_is_a_service_failure_never_a_probe_refusal() -> None:
    text = "SYSA TCPIP: EZD1286I TTLS Error GRPID: 00000001 RULE: R1 RC: 5004 Initial Handshake"
    counted = syslog.count_failures([text], {("127.0.0.1", 1, 992)})

    assert counted.services == {"R1": {"5004": 1}}
    assert counted.probe == {}


# --- counting ---------------------------------------------------------------------------------


def test_lines_from_the_probe_sockets_are_counted_as_probe_refusals_apart() -> None:
    probe_json = {
        "TN3270_Secure": {
            "zos_port": 992,
            "sockets": [
                {"source": "10.9.9.9..40312", "tool": "enumeration"},
                {"source": "10.9.9.9..40313", "tool": "sslyze"},
            ],
        }
    }
    lines = [
        line("10.9.9.9..40312", rc=412, conn=1),  # the probe's TLS 1.0 offer
        line("::FFFF:10.9.9.9..40313", rc=402, conn=2),  # sslyze, IPv4-mapped
        line("10.7.7.7..40312", rc=412, conn=3),  # a client elsewhere, same port number
        line("10.9.9.9..40314", rc=412, conn=4),  # the portal host, not a probe socket
        line("10.9.9.9..40312", local="10.1.1.1..23", rc=5003, conn=5),  # another service
    ]

    counted = syslog.count_failures(lines, verify.probe_sockets(probe_json))

    assert counted.probe == {"TN3270_Secure": {"412": 1, "402": 1}}
    assert counted.services == {"TN3270_Secure": {"412": 2, "5003": 1}}
    assert [f.conn_id for f in counted.probe_lines] == ["00000001", "00000002"]


def test_the_probe_sockets_come_from_every_result_including_ports_without_tls() -> None:
    probe_json = {
        "A": {"zos_port": 992, "sockets": [{"source": "127.0.0.1..5000", "tool": "speaks_tls"}]},
        "B": {"zos_port": 21, "tls": False, "sockets": [{"source": "::1..5001"}]},
        "C": {"zos_port": 23},  # a result from before the probe recorded its sockets
    }

    assert verify.probe_sockets(probe_json) == {("127.0.0.1", 5000, 992), ("::1", 5001, 21)}


def test_only_the_lines_after_the_one_read_last_are_new() -> None:
    lines = [line("10.7.7.7..1", conn=n) for n in range(1, 6)]

    assert syslog.new_lines(lines, lines[2]) == (lines[3:], True)
    assert syslog.new_lines(lines, lines[-1]) == ([], True)
    assert syslog.new_lines(lines, None) == (lines, False)
    # Rotated or restarted: the line read last is gone, so every line is new.
    assert syslog.new_lines(lines[3:], lines[1]) == (lines[3:], False)


# --- the probe records its sockets ------------------------------------------------------------


class TlsServer:
    """A TLS 1.2/1.3 server on loopback that notes the peer of every connection it accepts."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.peers: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self.listener.accept()
            except OSError:
                return
            self.peers.append(f"{peer[0]}..{peer[1]}")
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            with self.context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    cert, key = _self_signed(tmp_path)
    server = TlsServer(cert, key)
    try:
        yield server
    finally:
        server.close()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_the_probe_records_the_source_socket_of_every_connection_it_opens(
    tls_server: TlsServer,
) -> None:
    assert probe_module.SSLYZE_OBSERVED  # sslyze still opens its sockets where we look

    results = probe([ProbeTarget("svc", 992, "127.0.0.1", tls_server.port)], timeout=3)

    recorded = results["svc"]["sockets"]
    tools = {entry["tool"] for entry in recorded}
    assert tools == {"speaks_tls", "enumeration", "sslyze"}, recorded
    # Exactly the connections the server saw, no more and no fewer.
    assert sorted(entry["source"] for entry in recorded) == sorted(tls_server.peers)
    assert results["svc"]["protocols"] == ["TLSv1.2", "TLSv1.3"]


# --- a verification against lparsim -----------------------------------------------------------


@pytest.fixture
def tn3270(connection: LparConnection, lab: Lab) -> Iterator[Stack]:
    """TN3270 on SYSA, secured by a policy that refuses TLS 1.0 and 1.1 (Trace 6)."""
    stack = Stack.objects.get(lpar=connection.lpar, name="TCPIP")
    Service.objects.create(
        stack=stack,
        name="rule_TN3270",
        jobname="TN3270A",
        local_port_low=992,
        local_port_high=992,
        direction="Inbound",
    )
    with connector_for(connection, timeouts=FAST) as lpar:
        lpar.put_file("/etc/pagent/TCPIP.policy", policy(TN3270))
        lpar.console(f"F {connection.pagent_procname},REFRESH")
    yield stack
    with connector_for(connection, timeouts=FAST) as lpar:
        lpar.put_file("/etc/pagent/TCPIP.policy", "")
        lpar.console(f"F {connection.pagent_procname},REFRESH")


def _verified(stack: Stack, connection: LparConnection) -> VerificationRun:
    run = VerificationRun.objects.create(
        stack=stack, status=RunStatus.RUNNING, started_at=timezone.now()
    )
    with connector_for(connection, timeouts=Timeouts(command=15.0)) as lpar:
        return verify.verify(run, lpar)


def _tls10_client(port: int) -> str:
    """A real client that offers TLS 1.0 only (refused: RC 412); its source socket."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        source = f"{raw.getsockname()[0]}..{raw.getsockname()[1]}"
        with pytest.raises(ssl.SSLError):
            context.wrap_socket(raw)
    return source


def test_the_next_verification_counts_the_probe_refusals_apart_from_real_failures(
    db: None, tn3270: Stack, connection: LparConnection, lab: Lab
) -> None:
    port = next(s.host_port for s in lab.lpar().config.services if s.name == "TN3270 Secure")
    first = _verified(tn3270, connection)
    assert first.outputs["probe"]["json"]["rule_TN3270"]["sockets"]
    client = _tls10_client(port)

    second = _verified(tn3270, connection)

    figures = second.results["services"]["rule_TN3270"]
    assert figures["handshake_failures"] == {"412": 1}  # the real client, only
    assert figures["probe_refusals"], "the first run's probe offered TLS 1.0 and was refused"
    assert sum(figures["probe_refusals"].values()) >= 2  # TLS 1.0 and TLS 1.1 at least
    window = second.outputs["syslog"]["window"]
    assert window["previous_run"] == str(first.uuid)
    assert window["probe_runs"] == [str(first.uuid)]
    assert {r["probe_run"] for r in window["probe_refusals"]} == {str(first.uuid)}
    sources = {s["source"] for s in first.outputs["probe"]["json"]["rule_TN3270"]["sockets"]}
    assert {r["remote"] for r in window["probe_refusals"]} <= sources
    assert client not in sources
    assert second.results["handshake_failures_total"]["rule_TN3270"]["412"] >= 1
    assert second.results["probe_refusals_total"]["rule_TN3270"] == figures["probe_refusals"]

    third = _verified(tn3270, connection)

    figures = third.results["services"]["rule_TN3270"]
    assert figures["handshake_failures"] == {}
    assert figures["probe_refusals"] == second.results["services"]["rule_TN3270"]["probe_refusals"]
    window = third.outputs["syslog"]["window"]
    # The first probe ended less than PROBE_LOG_DELAY before the second read: still a
    # candidate, but every refusal read now is the second probe's.
    assert str(second.uuid) in window["probe_runs"]
    assert {r["probe_run"] for r in window["probe_refusals"]} == {str(second.uuid)}
    # The totals carry on from the previous run, the probe apart.
    assert third.results["handshake_failures_total"] == second.results["handshake_failures_total"]


# --- how the figure is shown ------------------------------------------------------------------


def test_the_failure_figure_says_the_probe_refusals_are_not_in_it() -> None:
    from fleet.presenters import service_rows

    entry = {
        "in_scope": True,
        "connections": 3,
        "secured": 3,
        "handshake_failures": {},
        "probe_refusals": {"412": 2, "402": 4},
    }

    row = service_rows({"TN3270_Secure": entry}, policy_deployed=True)[0]

    assert row.failures_total == 0
    assert row.badge.key == "secured"  # the probe's refusals are not the service's fault
    assert row.probe_refusals_total == 6
    assert "Not counted: 6 handshake(s) AT-TLS refused to the portal's own probe" in (
        row.probe_refusals
    )
    assert "RC 402 \N{MULTIPLICATION SIGN}4, RC 412 \N{MULTIPLICATION SIGN}2" in row.probe_refusals
