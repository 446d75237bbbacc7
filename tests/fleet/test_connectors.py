"""The fleet connectors against a real lparsim, over real sockets: z/OSMF REST (files,
console, info), SSH (commands, SFTP), and the classification of every failure."""

from __future__ import annotations

import base64
import datetime as dt
import gc
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import asyncssh
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fleet.connectors.base import (
    AuthenticationFailed,
    ConnectorError,
    FileMissing,
    PermanentError,
    Timeouts,
    TransientError,
)
from fleet.connectors.factory import (
    LparConnector,
    connector_for,
    probe_address,
    ssh_client,
    zosmf_client,
)
from fleet.connectors.ssh import SshClient
from fleet.connectors.zosmf import CSRF_HEADER, ZosmfClient
from fleet.models import LparConnection, Transport
from fleet.secrets import encrypt
from tests.fleet.conftest import FAST, Lab
from tests.lparsim.policies import TN3270, policy

POLICY_FILE = "/etc/pagent/TCPIP.policy"


@pytest.fixture(autouse=True)
def _no_faults(lab: Lab) -> Iterator[None]:
    yield
    lab.clear()


@pytest.fixture
def zosmf(connection: LparConnection) -> Iterator[ZosmfClient]:
    with zosmf_client(connection, timeouts=FAST) as client:
        yield client


@pytest.fixture
def ssh(connection: LparConnection) -> Iterator[SshClient]:
    with ssh_client(connection, timeouts=FAST) as client:
        yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def other_ca_pem() -> str:
    """A CA that issued nothing lparsim presents."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Somebody Else's CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class SilentServer:
    """Accepts TCP connections and never says a word (a hung z/OSMF or sshd)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def elapsed(action: Callable[[], Any]) -> tuple[BaseException | None, float]:
    start = time.monotonic()
    try:
        action()
    except Exception as error:
        return error, time.monotonic() - start
    return None, time.monotonic() - start


# --- z/OSMF ---------------------------------------------------------------------------------------


def test_zosmf_files_round_trip(zosmf: ZosmfClient) -> None:
    text = "line one\nzweite Zeile: Grüße, café\n"
    zosmf.put_file("/u/attlsadm/note.txt", text)  # created (201)
    assert zosmf.get_file("/u/attlsadm/note.txt") == text
    zosmf.put_file("/u/attlsadm/note.txt", text + "three\n")  # replaced (204)
    assert zosmf.get_file("/u/attlsadm/note.txt") == text + "three\n"
    assert "TcpImage TCPIP" in zosmf.get_file("/etc/pagent.conf")


def test_zosmf_info(zosmf: ZosmfClient) -> None:
    info = zosmf.info()
    assert info["zos_version"] == "04.29.00"
    assert info["zosmf_port"] == str(zosmf.port)


def test_console_refresh_returns_pagents_messages(zosmf: ZosmfClient) -> None:
    response = zosmf.console("F PAGENT,REFRESH")
    assert response.command == "F PAGENT,REFRESH"
    assert response.response_key.startswith("C")
    assert any(line.startswith("EZZ8771I") and "TCPIP" in line for line in response.lines)


def test_console_refused_command_is_permanent(zosmf: ZosmfClient) -> None:
    with pytest.raises(PermanentError) as caught:
        zosmf.console("F PAGENT," + "X" * 130)
    assert not isinstance(caught.value, TransientError)
    assert "126 characters" in str(caught.value)


def test_missing_file_via_zosmf(zosmf: ZosmfClient) -> None:
    with pytest.raises(FileMissing) as caught:
        zosmf.get_file("/etc/pagent/NOSUCH.policy")
    assert "/etc/pagent/NOSUCH.policy" in str(caught.value)
    assert "Path name not found" in str(caught.value)
    assert "EDC5129I" in str(caught.value)


def test_wrong_password_fails_at_once(connection: LparConnection, lab: Lab) -> None:
    connection.password_encrypted = encrypt("not-the-password")
    with zosmf_client(connection, timeouts=FAST) as client:
        error, seconds = elapsed(lambda: client.get_file("/etc/pagent.conf"))
    assert isinstance(error, AuthenticationFailed)
    assert not error.transient
    assert lab.user in str(error) and "password" in str(error)
    assert "not-the-password" not in str(error) + error.detail
    assert seconds < 2


def test_503_is_transient(zosmf: ZosmfClient, lab: Lab) -> None:
    lab.fault("zosmf", status=503)
    with pytest.raises(TransientError) as caught:
        zosmf.get_file("/etc/pagent.conf")
    assert "503" in str(caught.value)
    with pytest.raises(TransientError):
        zosmf.console("F PAGENT,REFRESH")
    lab.clear()
    assert "TcpImage" in zosmf.get_file("/etc/pagent.conf")


def test_slow_zosmf_beyond_the_read_timeout_is_transient(
    connection: LparConnection, lab: Lab
) -> None:
    lab.fault("zosmf", delay=3)
    timeouts = Timeouts(connect=3, read=0.5)
    with zosmf_client(connection, timeouts=timeouts) as client:
        error, seconds = elapsed(lambda: client.get_file("/etc/pagent.conf"))
    assert isinstance(error, TransientError)
    assert "within 0.5 s" in str(error)
    assert seconds < 2


def test_untrusted_ca_is_permanent(connection: LparConnection) -> None:
    connection.ca_bundle = other_ca_pem()
    with zosmf_client(connection, timeouts=FAST) as client, pytest.raises(PermanentError) as caught:
        client.info()
    assert not isinstance(caught.value, TransientError)
    assert "not trusted by the configured CA" in str(caught.value)


def test_no_ca_bundle_is_refused_before_connecting(connection: LparConnection) -> None:
    connection.ca_bundle = ""
    with pytest.raises(PermanentError, match="no CA bundle"):
        zosmf_client(connection)


def test_zosmf_refused_connection_is_transient(connection: LparConnection) -> None:
    connection.zosmf_port = free_port()
    with (
        zosmf_client(connection, timeouts=FAST) as client,
        pytest.raises(TransientError, match="cannot reach z/OSMF"),
    ):
        client.info()


def test_zosmf_that_never_answers_the_handshake_is_transient(
    connection: LparConnection, silent: SilentServer
) -> None:
    connection.zosmf_port = silent.port
    with zosmf_client(connection, timeouts=Timeouts(connect=0.5, read=0.5)) as client:
        error, seconds = elapsed(client.info)
    assert isinstance(error, TransientError)
    assert seconds < 2


# --- z/OSMF at the HTTP level (console polling, headers) -------------------------------------


def mock_client(lab: Lab, handler: Callable[[httpx.Request], httpx.Response]) -> ZosmfClient:
    return ZosmfClient(
        "zos.example",
        443,
        "ATTLSADM",
        "pw-in-mock",
        lab.simulator.ca_file.read_text(),
        timeouts=Timeouts(console_polls=3, console_poll_interval=0.01),
        http_transport=httpx.MockTransport(handler),
    )


def test_console_polls_solmsgs_when_the_response_comes_later(lab: Lab) -> None:
    seen: list[httpx.Request] = []
    answers = iter(["", "EZZ8771I PAGENT CONFIG POLICY PROCESSING COMPLETE FOR TCPIP : TTLS\r"])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "PUT":
            return httpx.Response(
                200,
                json={
                    "cmd-response": "",
                    "cmd-response-key": "C0000042",
                    "cmd-response-uri": "/zosmf/restconsoles/consoles/defcn/solmsgs/C0000042",
                },
            )
        return httpx.Response(200, json={"cmd-response": next(answers)})

    with mock_client(lab, handler) as client:
        response = client.console("F PAGENT,REFRESH")
    assert response.lines == ["EZZ8771I PAGENT CONFIG POLICY PROCESSING COMPLETE FOR TCPIP : TTLS"]
    assert [r.url.path for r in seen] == [
        "/zosmf/restconsoles/consoles/defcn",
        "/zosmf/restconsoles/consoles/defcn/solmsgs/C0000042",
        "/zosmf/restconsoles/consoles/defcn/solmsgs/C0000042",
    ]
    assert all(CSRF_HEADER in r.headers for r in seen)
    expected = "Basic " + base64.b64encode(b"ATTLSADM:pw-in-mock").decode()
    assert all(r.headers["Authorization"] == expected for r in seen)


def test_console_polling_is_bounded(lab: Lab) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return httpx.Response(200, json={"cmd-response": "", "cmd-response-key": "C1"})

    with mock_client(lab, handler) as client:
        response = client.console("D TCPIP,,NETSTAT,TTLS")
    assert response.text == ""
    assert calls == ["PUT", "GET", "GET", "GET"]


@pytest.mark.parametrize(
    ("status", "body", "kind", "words"),
    [
        (502, {}, TransientError, "502"),
        (504, {}, TransientError, "504"),
        (403, {"errorID": "IZUG846W", "errorMsg": "IZUG846W: rejected"}, AuthenticationFailed, ""),
        (412, {"message": "The file was changed by someone else"}, PermanentError, "changed"),
        (404, {"reason": "No response is kept for key C1"}, PermanentError, "No response"),
    ],
)
def test_status_classification(
    lab: Lab, status: int, body: dict[str, Any], kind: type[ConnectorError], words: str
) -> None:
    with (
        mock_client(lab, lambda request: httpx.Response(status, json=body)) as client,
        pytest.raises(kind) as caught,
    ):
        client.info()
    assert type(caught.value) is kind
    assert words in str(caught.value)
    assert not isinstance(caught.value, FileMissing)  # 404 is FileMissing for files only


# --- SSH ------------------------------------------------------------------------------------------


def test_commands_over_ssh_reuse_one_connection(ssh: SshClient) -> None:
    result = ssh.run("netstat -x")
    assert result.ok
    assert "TTLSGrpAction" in result.stdout
    connection = ssh._conn
    missing = ssh.run("nosuchcommand")
    assert missing.exit_status == 127 and "FSUM7351" in missing.stdout + missing.stderr
    assert ssh._conn is connection  # reused


def test_sftp_round_trip_and_missing_file(ssh: SshClient) -> None:
    text = "über SFTP\nline two\n"
    ssh.put_file("/u/attlsadm/sftp.txt", text)
    assert ssh.get_file("/u/attlsadm/sftp.txt") == text
    with pytest.raises(FileMissing) as caught:
        ssh.get_file("/etc/pagent/NOSUCH.policy")
    assert "/etc/pagent/NOSUCH.policy" in str(caught.value)


def test_wrong_client_key_is_an_authentication_failure(connection: LparConnection) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    client = SshClient(
        connection.host,
        connection.ssh_port or 0,
        connection.username,
        host_key=connection.ssh_host_key,
        private_key=stranger,
        timeouts=FAST,
    )
    with client:
        error, seconds = elapsed(lambda: client.run("true"))
    assert isinstance(error, AuthenticationFailed)
    assert "ATTLSADM" in str(error) and "key was not accepted" in str(error)
    assert seconds < 3


def test_refused_ssh_login_is_an_authentication_failure(ssh: SshClient, lab: Lab) -> None:
    lab.fault("ssh-auth", refuse=True)
    with pytest.raises(AuthenticationFailed):
        ssh.run("true")


@pytest.mark.parametrize("key_type", ["ssh-ed25519", "ecdsa-sha2-nistp256"])
def test_a_host_key_other_than_the_pinned_one_is_refused(
    connection: LparConnection, key_type: str
) -> None:
    impostor = asyncssh.generate_private_key(key_type).export_public_key().decode()
    connection.ssh_host_key = impostor
    with ssh_client(connection, timeouts=FAST) as client, pytest.raises(PermanentError) as caught:
        client.run("true")
    assert not isinstance(caught.value, AuthenticationFailed | TransientError)
    assert "host key does not match the pinned key" in str(caught.value)


def test_no_pinned_host_key_no_connection(connection: LparConnection) -> None:
    connection.ssh_host_key = ""
    with pytest.raises(PermanentError, match="no SSH host key is pinned"):
        ssh_client(connection)


def test_ssh_refused_connection_is_transient(connection: LparConnection) -> None:
    connection.ssh_port = free_port()
    with (
        ssh_client(connection, timeouts=FAST) as client,
        pytest.raises(TransientError, match="cannot reach SSH server"),
    ):
        client.run("true")


def test_sshd_that_never_answers_is_transient(
    connection: LparConnection, silent: SilentServer
) -> None:
    connection.ssh_port = silent.port
    with ssh_client(connection, timeouts=Timeouts(connect=0.5)) as client:
        error, seconds = elapsed(lambda: client.run("true"))
    assert isinstance(error, TransientError)
    assert "within 0.5 s" in str(error)
    assert seconds < 2.5


def test_ssh_reconnects_after_a_lost_connection(ssh: SshClient) -> None:
    assert ssh.run("true").ok
    assert ssh._conn is not None
    ssh._conn.abort()
    time.sleep(0.05)
    assert ssh.run("true").ok  # the dropped connection is noticed and replaced


def test_a_client_dropped_without_close_stops_its_loop(connection: LparConnection) -> None:
    client = ssh_client(connection, timeouts=FAST)
    assert client.run("true").ok
    thread = client._thread
    assert thread is not None and thread.is_alive()
    del client
    gc.collect()
    thread.join(3)
    assert not thread.is_alive()


# --- the factory ----------------------------------------------------------------------------------


def test_deploy_cycle_through_the_connector(connection: LparConnection) -> None:
    """Upload through z/OSMF, refresh through the console, read back through SSH."""
    with connector_for(connection, timeouts=FAST) as lpar:
        assert isinstance(lpar, LparConnector)
        assert lpar._zosmf is None and lpar._ssh is None  # lazy
        lpar.put_file(POLICY_FILE, policy(TN3270))
        assert lpar._ssh is None  # files through z/OSMF
        refresh = lpar.console("F PAGENT,REFRESH")
        assert any(line.startswith("EZZ8771I") for line in refresh.lines)
        search = lpar.run("pasearch -t")
        assert search.ok
        assert "rule_TN3270" in search.stdout
        assert lpar._ssh is not None
        ssh = lpar._ssh
    assert lpar._zosmf is None and lpar._ssh is None
    assert not ssh.connected


def test_ssh_transport_moves_files_over_sftp(connection: LparConnection) -> None:
    connection.transport = Transport.SSH
    with connector_for(connection, timeouts=FAST) as lpar:
        lpar.put_file("/u/attlsadm/via-ssh.txt", "sftp\n")
        assert lpar._zosmf is None
        assert lpar.get_file("/u/attlsadm/via-ssh.txt") == "sftp\n"
        # console still through z/OSMF, which sees the same file system
        assert lpar.zosmf.get_file("/u/attlsadm/via-ssh.txt") == "sftp\n"
        assert lpar.console("D T").lines


def test_run_without_an_ssh_port_says_why(connection: LparConnection) -> None:
    connection.ssh_port = None
    with (
        connector_for(connection) as lpar,
        pytest.raises(PermanentError, match="z/OSMF has no plain command API"),
    ):
        lpar.run("pasearch -t")


def test_probe_address_maps_simulated_ports(connection: LparConnection, lab: Lab) -> None:
    tn3270 = next(s for s in lab.lpar().config.services if s.port == 992)
    assert probe_address(connection, "TCPIP", 992) == ("127.0.0.1", tn3270.host_port)
    with pytest.raises(PermanentError, match="no probe port"):
        probe_address(connection, "TCPIP", 1416)  # outbound: nothing listens for it here
    connection.probe_ports = {}
    connection.host = "sysa.example.com"
    assert probe_address(connection, "TCPIP", 992) == ("sysa.example.com", 992)


# --- secrets never leak -----------------------------------------------------------------------


def test_no_message_or_repr_carries_a_secret(connection: LparConnection, lab: Lab) -> None:
    key_body = "".join(lab.key_text.splitlines()[1:-1])
    secrets = [
        lab.password,
        base64.b64encode(f"{lab.user}:{lab.password}".encode()).decode(),
        key_body[:40],
        key_body[-40:],
    ]
    texts: list[str] = []

    def collect(action: Callable[[], Any]) -> None:
        error, _ = elapsed(action)
        assert isinstance(error, ConnectorError), error
        texts.extend([str(error), repr(error), error.detail, str(error.args)])

    with connector_for(connection, timeouts=FAST) as lpar:
        lpar.get_file("/etc/pagent.conf")
        lpar.run("true")
        texts += [repr(lpar), str(lpar), repr(lpar.zosmf), repr(lpar.ssh), repr(vars(lpar))]
        collect(lambda: lpar.get_file("/nope"))
        collect(lambda: lpar.ssh.get_file("/nope"))
        lab.fault("zosmf", status=503)
        collect(lambda: lpar.console("D T"))
        lab.fault("ssh-auth", refuse=True)
        lpar.ssh.close()
        collect(lambda: lpar.run("true"))
    lab.clear()

    wrong = LparConnection(
        lpar=connection.lpar,
        host=connection.host,
        zosmf_port=connection.zosmf_port,
        ssh_port=connection.ssh_port,
        username=connection.username,
        password_encrypted=encrypt(lab.password + "x"),
        ssh_key_encrypted=connection.ssh_key_encrypted,
        ca_bundle=connection.ca_bundle,
        ssh_host_key=asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode(),
    )
    with connector_for(wrong, timeouts=FAST) as lpar:
        collect(lambda: lpar.zosmf.info())
        collect(lambda: lpar.run("true"))
    wrong.ca_bundle = other_ca_pem()
    with connector_for(wrong, timeouts=FAST) as lpar:
        collect(lambda: lpar.zosmf.info())

    everything = "\n".join(texts)
    assert "refused the password of user ATTLSADM" in everything
    assert "host key does not match" in everything
    for secret in secrets:
        assert secret not in everything


def test_zosmf_jobs_and_binary_data_sets(zosmf: ZosmfClient, ssh: SshClient, lab: Lab) -> None:
    """The zERT collector's calls: a job runs to its end with its spool; a data set comes back
    as its bytes (RDWs included), a missing one FileMissing (a cut download: tests/integration)."""
    from fleet import zert_jcl as jcl

    with pytest.raises(FileMissing):
        zosmf.delete_dataset("ATTLSADM.CONN.TEST")
    text = jcl.render(
        jcl.DEFAULT_JCL, dsn="ATTLSADM.CONN.TEST", since=None, until=dt.datetime.now()
    )
    job = zosmf.submit_job(text)
    assert (job.jobname, job.status) == ("ZERTDUMP", "INPUT")
    deadline = time.monotonic() + 10
    while not job.ended and time.monotonic() < deadline:
        time.sleep(0.1)
        job = zosmf.job_status(job.jobname, job.jobid)
    assert job.retcode == "CC 0000"
    spool = {f.ddname: f.text for f in zosmf.job_spool(job.jobname, job.jobid)}
    assert "RECORDS WRITTEN" in spool["SYSPRINT"]
    data = zosmf.read_dataset_binary("ATTLSADM.CONN.TEST")
    assert data == b"" or int.from_bytes(data[:2], "big") >= 28  # RDW-framed records
    zosmf.purge_job(job.jobname, job.jobid)
    with pytest.raises(PermanentError, match="No job found"):
        zosmf.job_status(job.jobname, job.jobid)
    zosmf.delete_dataset("ATTLSADM.CONN.TEST")
    assert b"TcpImage" in ssh.read_bytes("/etc/pagent.conf")
