"""The connector of one LPAR: files, console and commands, each through the right front.

    with connector_for(connection) as lpar:
        text = lpar.get_file(stack.policy_file)
        lpar.put_file(stack.policy_file, new_text)
        lpar.console("F PAGENT,REFRESH")
        lpar.run("pasearch -t")

- Files go through the connection's transport: z/OSMF restfiles when it is `zosmf`, SFTP
  when it is `ssh`.
- `console()` always goes through z/OSMF: its console API (`restconsoles`) is how the
  portal issues `F PAGENT,REFRESH` and reads PAGENT's answer, whatever the file transport.
- `run()` always goes through SSH: z/OSMF has no plain "run a UNIX command" API
  (reference §8.6), and `pasearch` / `netstat` are z/OS UNIX commands.

Clients are opened lazily, on the first call that needs them, and `close()` closes only
what was opened. Secrets are decrypted when a client is opened and live only inside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleet.connectors.base import CommandResult, ConsoleResponse, PermanentError, Timeouts
from fleet.connectors.ssh import SshClient
from fleet.connectors.zosmf import ZosmfClient
from fleet.secrets import SecretUnreadable, decrypt

if TYPE_CHECKING:
    from fleet.models import LparConnection

ZOSMF = "zosmf"
SSH = "ssh"


def _secret(token: str) -> str:
    try:
        return decrypt(token)
    except SecretUnreadable as error:
        raise PermanentError(str(error)) from None


def zosmf_client(connection: LparConnection, *, timeouts: Timeouts | None = None) -> ZosmfClient:
    """A z/OSMF client for the connection (password decrypted here)."""
    return ZosmfClient(
        connection.host,
        connection.zosmf_port,
        connection.username,
        _secret(connection.password_encrypted),
        connection.ca_bundle,
        timeouts=timeouts,
    )


def ssh_client(connection: LparConnection, *, timeouts: Timeouts | None = None) -> SshClient:
    """An SSH client for the connection (key or password decrypted here)."""
    if not connection.ssh_port:
        raise PermanentError(
            f"no SSH port is configured for {connection.host}: commands such as pasearch "
            "and netstat run over SSH (z/OSMF has no plain command API)"
        )
    key = _secret(connection.ssh_key_encrypted)
    return SshClient(
        connection.host,
        connection.ssh_port,
        connection.username,
        host_key=connection.ssh_host_key,
        private_key=key,
        password="" if key else _secret(connection.password_encrypted),
        timeouts=timeouts,
    )


class LparConnector:
    """`base.Connector` for one LparConnection; a context manager."""

    def __init__(self, connection: LparConnection, *, timeouts: Timeouts | None = None) -> None:
        self.connection = connection
        self.timeouts = timeouts or Timeouts()
        self._zosmf: ZosmfClient | None = None
        self._ssh: SshClient | None = None

    def __repr__(self) -> str:
        c = self.connection
        return f"<LparConnector {c.username}@{c.host} files via {c.transport}>"

    @property
    def zosmf(self) -> ZosmfClient:
        if self._zosmf is None:
            self._zosmf = zosmf_client(self.connection, timeouts=self.timeouts)
        return self._zosmf

    @property
    def ssh(self) -> SshClient:
        if self._ssh is None:
            self._ssh = ssh_client(self.connection, timeouts=self.timeouts)
        return self._ssh

    def _files(self) -> ZosmfClient | SshClient:
        return self.ssh if self.connection.transport == SSH else self.zosmf

    def get_file(self, path: str) -> str:
        return self._files().get_file(path)

    def put_file(self, path: str, text: str) -> None:
        self._files().put_file(path, text)

    def console(self, command: str) -> ConsoleResponse:
        """Through z/OSMF's console API, whatever the transport: how PAGENT is refreshed."""
        return self.zosmf.console(command)

    def run(self, command: str) -> CommandResult:
        """Through SSH, whatever the transport: z/OSMF has no plain command API."""
        return self.ssh.run(command)

    def close(self) -> None:
        zosmf, ssh = self._zosmf, self._ssh
        self._zosmf = self._ssh = None
        try:
            if ssh is not None:
                ssh.close()
        finally:
            if zosmf is not None:
                zosmf.close()

    def __enter__(self) -> LparConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connector_for(connection: LparConnection, *, timeouts: Timeouts | None = None) -> LparConnector:
    """The connector of an LPAR; nothing is opened until the first call."""
    return LparConnector(connection, timeouts=timeouts)


def probe_address(connection: LparConnection, stack_name: str, zos_port: int) -> tuple[str, int]:
    """Where to probe a stack's service port from here.

    A real LPAR (`probe_ports` empty) is probed at its host on the z/OS port. lparsim maps
    each z/OS port of a stack to a loopback host port (`{"TCPIP": {"992": 21003}}`); when
    the connection has such a map, a port missing from it is an error rather than a probe of
    the wrong port.
    """
    mapping = connection.probe_ports or {}
    if not mapping:
        return connection.host, int(zos_port)
    ports = mapping.get(stack_name) or mapping.get(stack_name.upper()) or {}
    host_port = ports.get(str(zos_port))
    if host_port is None:
        raise PermanentError(
            f"no probe port is mapped for {stack_name} port {zos_port} on {connection.host} "
            "(probe_ports lists the simulator's inbound services)"
        )
    return connection.host, int(host_port)
