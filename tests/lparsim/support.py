"""Helpers for the lparsim tests: a simulator started in-process (its own loop, in a thread)
and reached only over its sockets: z/OSMF with httpx, SSH with asyncssh, services with `ssl`."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncssh
import httpx
import yaml

from lparsim.runner import SimulatorThread

USER = "ATTLSADM"
PASSWORD = "s3cret-demo"


def base_config(**sim: Any) -> dict[str, Any]:
    """A one-LPAR estate: SYSA, stack TCPIP, a shared ring, two inbound services, one
    outbound service to a partner that rejects TLS 1.3 offers."""
    return {
        "version": 1,
        "sim": {
            "workdir": "work",
            "base_port": 0,
            "users": [{"name": USER, "password": PASSWORD, "generate_key": True}],
            **sim,
        },
        "lpars": [
            {
                "name": "SYSA",
                "release": "3.1",
                "stacks": [{"name": "TCPIP", "sim": {"refresh_seconds": 1800}}],
                "key_rings": [
                    {
                        "name": "ATTLS/SharedRing",
                        "certificates": [
                            {"label": "SYSA.ATTLS", "common_name": "sysa.test", "default": True},
                            {"label": "SYSA.OTHER", "common_name": "other.sysa.test"},
                        ],
                    }
                ],
                "services": [
                    {
                        "name": "TN3270 Secure",
                        "jobname": "TN3270A",
                        "port": 992,
                        "direction": "Inbound",
                        "criticality": "high",
                        "owner": "team-network",
                        "sim": {"app_tls": {"versions": ["TLSv1", "TLSv1.1", "TLSv1.2"]}},
                    },
                    {
                        "name": "FTP",
                        "jobname": "FTPD1",
                        "port": 21,
                        "direction": "Inbound",
                        "criticality": "low",
                        "owner": "team-batch",
                    },
                    {
                        "name": "MQ to Clearing House",
                        "jobname": "MQP1CHIN",
                        "port": 1416,
                        "direction": "Outbound",
                        "criticality": "medium",
                        "owner": "team-messaging",
                        "sim": {
                            "partner": "CLEARHOUSE",
                            "app_tls": {"versions": ["TLSv1.2"]},
                        },
                    },
                ],
            }
        ],
        "partners": [
            {
                "name": "CLEARHOUSE",
                "port": 1416,
                "sim": {"tls": {"versions": ["TLSv1.2"], "rejects_tls13_offer": True}},
            }
        ],
    }


def write_config(directory: Path, data: dict[str, Any]) -> Path:
    path = directory / "lparsim.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Sim:
    """A running simulator and the clients the tests use to reach it."""

    def __init__(self, thread: SimulatorThread, password: str = PASSWORD) -> None:
        self.thread = thread
        self.password = password
        self.simulator = thread.simulator
        self.ca_file = str(self.simulator.ca_file)
        self.key_file = str(self.simulator.user_key_path(USER))

    def lpar(self, name: str = "SYSA") -> Any:
        return self.simulator.lpars[name]

    # --- z/OSMF ---------------------------------------------------------------------------------

    def zosmf(self, lpar: str = "SYSA", *, csrf: bool = True, auth: bool = True) -> httpx.Client:
        port = self.lpar(lpar).config.zosmf_port
        headers = {"X-CSRF-ZOSMF-HEADER": ""} if csrf else {}
        return httpx.Client(
            base_url=f"https://127.0.0.1:{port}",
            verify=ssl.create_default_context(cafile=self.ca_file),
            auth=(USER, self.password) if auth else None,
            headers=headers,
            timeout=15,
        )

    def console(self, command: str, lpar: str = "SYSA") -> str:
        with self.zosmf(lpar) as client:
            response = client.put("/zosmf/restconsoles/consoles/defcn", json={"cmd": command})
        assert response.status_code == 200, response.text
        return str(response.json()["cmd-response"])

    def write_file(self, path: str, text: str, lpar: str = "SYSA") -> None:
        with self.zosmf(lpar) as client:
            response = client.put(
                f"/zosmf/restfiles/fs{path}",
                content=text.encode(),
                headers={"Content-Type": "text/plain; charset=utf-8", "X-IBM-Data-Type": "text"},
            )
        assert response.status_code in (201, 204), response.text

    def install(self, policy: str, lpar: str = "SYSA") -> str:
        """Writes the stack's policy file over z/OSMF and refreshes PAGENT; the console text."""
        self.write_file("/etc/pagent/TCPIP.policy", policy, lpar)
        return self.console("F PAGENT,REFRESH", lpar)

    # --- SSH ------------------------------------------------------------------------------------

    async def _ssh(self, lpar: str, commands: list[str]) -> list[asyncssh.SSHCompletedProcess]:
        port = self.lpar(lpar).config.ssh_port
        async with asyncssh.connect(
            "127.0.0.1",
            port,
            username=USER,
            client_keys=[self.key_file],
            known_hosts=None,
            connect_timeout=15,
        ) as connection:
            return [await connection.run(command, timeout=30) for command in commands]

    def ssh(self, *commands: str, lpar: str = "SYSA") -> list[asyncssh.SSHCompletedProcess]:
        return asyncio.run(self._ssh(lpar, list(commands)))

    def run(self, command: str, lpar: str = "SYSA") -> asyncssh.SSHCompletedProcess:
        return self.ssh(command, lpar=lpar)[0]

    def syslog(self, lpar: str = "SYSA") -> str:
        return str(self.run("cat /var/log/syslog", lpar).stdout)

    # --- admin API ------------------------------------------------------------------------------

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return httpx.request(method, self.simulator.admin_url() + path, json=body, timeout=15)

    # --- service ports --------------------------------------------------------------------------

    def service_port(self, service: str, lpar: str = "SYSA") -> int:
        config = self.lpar(lpar).config
        return next(s.host_port for s in config.services if s.name == service)


def tls_context(
    *versions: ssl.TLSVersion, ca_file: str | None = None, cert_file: str | None = None
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    if ca_file:
        context.load_verify_locations(ca_file)
    else:
        context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = min(versions)
        context.maximum_version = max(versions)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    if cert_file:
        context.load_cert_chain(cert_file)
    return context


class Session:
    """A client session on a service port: TLS (or cleartext), one exchanged line."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def exchange(self, line: bytes = b"PING 1\n") -> bytes:
        self.sock.sendall(line)
        data = b""
        while not data.endswith(b"\n"):
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data

    @property
    def version(self) -> str | None:
        return self.sock.version() if isinstance(self.sock, ssl.SSLSocket) else None

    @property
    def cipher(self) -> str | None:
        return self.sock.cipher()[0] if isinstance(self.sock, ssl.SSLSocket) else None

    @property
    def local_port(self) -> int:
        return int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()


def connect(port: int, context: ssl.SSLContext | None = None, timeout: float = 10) -> Session:
    """Connects to a service; raises ssl.SSLError / OSError when the server refuses."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if context is None:
        return Session(sock)
    try:
        return Session(context.wrap_socket(sock))
    except BaseException:
        sock.close()
        raise


def wait_for(predicate: Callable[[], Any], timeout: float = 10, step: float = 0.05) -> Any:
    """Polls until predicate() is truthy (bounded in time); returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)
