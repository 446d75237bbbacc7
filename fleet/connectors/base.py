"""The interface every connector offers, and the one classification of errors.

Connectors are synchronous (Celery tasks are), carry mandatory timeouts, verify TLS or
pin host keys, and parse responses at the boundary. Errors are classified once, here:

- TransientError: worth retrying with backoff (timeouts, connection refused, 5xx).
- PermanentError: retrying cannot help (authentication, 404, a refused command).
  AuthenticationFailed and FileMissing are the two callers branch on.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Protocol


class ConnectorError(Exception):
    """Something went wrong talking to an LPAR. `transient` says whether to retry."""

    transient = False

    def __init__(self, message: str, *, detail: str = "") -> None:
        self.detail = detail
        super().__init__(message)


class TransientError(ConnectorError):
    transient = True


class PermanentError(ConnectorError):
    transient = False


class AuthenticationFailed(PermanentError):
    pass


class FileMissing(PermanentError):
    pass


@dataclass(frozen=True)
class Timeouts:
    """Every remote call is bounded. Seconds; the defaults suit a production LPAR."""

    connect: float = 5.0  # TCP connect plus the TLS or SSH handshake (and SSH login)
    read: float = 30.0  # one z/OSMF HTTP response
    command: float = 30.0  # one SSH command or SFTP transfer
    console_polls: int = 5  # solmsgs polls when a console response is not there yet
    console_poll_interval: float = 1.0


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


@dataclass(frozen=True)
class ConsoleResponse:
    """A console command's solicited response, lines as z/OSMF returned them."""

    command: str
    text: str
    response_key: str

    @property
    def lines(self) -> list[str]:
        return [line for line in self.text.replace("\r", "\n").split("\n") if line.strip()]


class Connector(Protocol):
    def put_file(self, path: str, text: str) -> None: ...

    def get_file(self, path: str) -> str: ...

    def console(self, command: str) -> ConsoleResponse: ...

    def run(self, command: str) -> CommandResult: ...

    def close(self) -> None: ...


def command_line(*words: str) -> str:
    """A command line for the LPAR's shell with each word quoted where it must be.

    z/OS names may hold the national characters @ # $ (a stack named `TCP#IP` or `$TCPIP`
    is a valid job name), and the z/OS UNIX shell reads `#` at the start of a word as a
    comment and `$` as a parameter: unquoted, `pasearch -p $TCPIP` would ask about another
    stack. Plain names are left as they are.
    """
    return " ".join(shlex.quote(word) for word in words)
