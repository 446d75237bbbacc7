"""SSH to z/OS UNIX: commands (`pasearch`, `netstat`) and files over SFTP.

asyncssh behind a synchronous facade: the client owns a private event loop running in a
daemon thread, so it works from Celery tasks and from code that already runs a loop. One
SSH connection (and one SFTP session on it) is opened on first use and reused until
`close()`; a connection-level failure drops it and the next call reconnects.

The server's host key must be the pinned one (`LparConnection.ssh_host_key`, an OpenSSH
public key line): nothing else is trusted, no known_hosts file, no X.509 host certificates,
no ~/.ssh/config, no agent. The client authenticates with the private key it is given (or,
without one, the password).

Errors are classified here, once (base.py): a refused login -> AuthenticationFailed; a
host key other than the pinned one -> PermanentError; timeouts, refused, reset or lost
connections -> TransientError; a missing file -> FileMissing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncssh
from asyncssh.public_key import get_default_public_key_algs

from fleet.connectors.base import (
    AuthenticationFailed,
    CommandResult,
    ConnectorError,
    FileMissing,
    PermanentError,
    Timeouts,
    TransientError,
)

T = TypeVar("T")
# Beyond the operation's own timeouts: how long the caller's thread waits for the loop.
_BACKSTOP_SECONDS = 5.0


def import_host_key(text: str) -> asyncssh.SSHKey:
    """The pinned host key from an OpenSSH public key line (`ssh-ed25519 AAAA… comment`)."""
    if not text or not text.strip():
        raise PermanentError("no SSH host key is pinned for this LPAR; refusing to connect")
    try:
        return asyncssh.import_public_key(text.strip())
    except (asyncssh.KeyImportError, ValueError) as error:
        raise PermanentError(
            "the pinned SSH host key cannot be read (expected an OpenSSH public key line)",
            detail=str(error),
        ) from None


class SshClient:
    """One z/OS UNIX user over SSH. Synchronous; `close()` (or `with`) when done."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        *,
        host_key: str,
        private_key: str = "",
        password: str = "",
        timeouts: Timeouts | None = None,
    ) -> None:
        self.host = host
        self.port = int(port)
        self.username = username
        self.timeouts = timeouts or Timeouts()
        self.where = f"SSH server at {host}:{self.port}"
        self._host_key = import_host_key(host_key)
        self._client_key: asyncssh.SSHKey | None = None
        if private_key.strip():
            try:
                self._client_key = asyncssh.import_private_key(private_key)
            except (asyncssh.KeyImportError, ValueError) as error:
                raise PermanentError(
                    "the SSH private key cannot be read (expected an unencrypted OpenSSH "
                    "private key)",
                    detail=type(error).__name__,
                ) from None
        elif not password:
            raise PermanentError(f"no SSH key or password is configured for {username}")
        self._password = password if self._client_key is None else ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._finalizer: weakref.finalize[Any, Any] | None = None
        # Shared with the finalizer (which must not hold the client): what to abort.
        self._open: list[asyncssh.SSHClientConnection] = []
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None

    def __repr__(self) -> str:
        return f"<SshClient {self.username}@{self.host}:{self.port}>"

    # --- the interface ---------------------------------------------------------------------------

    def run(self, command: str) -> CommandResult:
        """Runs one command line; its exit status and output (UTF-8, undecodable bytes
        replaced). A non-zero exit status is a result, not an error."""

        async def operation() -> CommandResult:
            connection = await self._connection()
            result = await connection.run(
                command,
                check=False,
                timeout=self.timeouts.command,
                encoding="utf-8",
                errors="replace",
            )
            status = result.exit_status
            if status is None and result.exit_signal is None and connection.is_closed():
                # No exit status because the connection went (a network drop, sshd ended):
                # the command's outcome is unknown, which is not an output to parse.
                raise TransientError(
                    f"{self.where} closed the connection while running"
                    f" {command.split(' ', 1)[0]!r} (no exit status)"
                )
            return CommandResult(
                exit_status=status if status is not None else -1,
                stdout=_text(result.stdout),
                stderr=_text(result.stderr),
            )

        return self._call(operation, f"running {command.split(' ', 1)[0]!r}")

    def get_file(self, path: str) -> str:
        """The text (UTF-8) of a file, read over SFTP."""

        async def operation() -> str:
            sftp = await self._sftp_client()

            async def read() -> bytes:
                async with sftp.open(path, "rb") as handle:
                    data: bytes = await handle.read()
                    return data

            data = await asyncio.wait_for(read(), self.timeouts.command)
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError as error:
                raise PermanentError(f"{path} is not UTF-8 text ({error.reason})") from None

        return self._call(operation, f"reading {path}", path=path)

    def read_bytes(self, path: str, *, timeout: float | None = None) -> bytes:
        """A binary file as its bytes, over SFTP (a zERT dump); `timeout` for a large one."""
        limit = timeout or self.timeouts.command

        async def operation() -> bytes:
            sftp = await self._sftp_client()

            async def read() -> bytes:
                async with sftp.open(path, "rb") as handle:
                    data: bytes = await handle.read()
                    return data

            return await asyncio.wait_for(read(), limit)

        return self._call(operation, f"reading {path}", path=path, extra=limit)

    def put_file(self, path: str, text: str) -> None:
        """Writes (creates or replaces) a file as UTF-8 text over SFTP."""
        data = text.encode("utf-8")

        async def operation() -> None:
            sftp = await self._sftp_client()

            async def write() -> None:
                async with sftp.open(path, "wb") as handle:
                    await handle.write(data)

            await asyncio.wait_for(write(), self.timeouts.command)

        self._call(operation, f"writing {path}", path=path)

    def close(self) -> None:
        """Closes the connection and stops the loop; the client can be used again after."""
        with self._lock:
            loop, thread = self._loop, self._thread
            if loop is None or thread is None:
                return
            if self._conn is not None:
                future = asyncio.run_coroutine_threadsafe(self._disconnect(), loop)
                with contextlib.suppress(Exception):
                    future.result(self.timeouts.connect)
            if self._finalizer is not None:
                self._finalizer.detach()
            _stop_loop(loop, self._open)
            thread.join(self.timeouts.connect)
            self._loop = self._thread = self._finalizer = None

    def __enter__(self) -> SshClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    # --- the loop --------------------------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=_run_loop, args=(loop,), name=f"ssh {self.host}:{self.port}", daemon=True
            )
            thread.start()
            self._loop, self._thread = loop, thread
            # A client dropped without close() does not leave its loop running forever.
            self._finalizer = weakref.finalize(self, _stop_loop, loop, self._open)
        return self._loop

    def _call(
        self,
        operation: Callable[[], Awaitable[T]],
        what: str,
        path: str = "",
        extra: float | None = None,
    ) -> T:
        with self._lock:
            loop = self._ensure_loop()
            future = asyncio.run_coroutine_threadsafe(self._guarded(operation, what, path), loop)
            command = max(self.timeouts.command, extra or 0.0)
            backstop = self.timeouts.connect + command + _BACKSTOP_SECONDS
            try:
                return future.result(backstop)
            except concurrent.futures.TimeoutError:
                future.cancel()
                raise TransientError(
                    f"{self.where} did not finish {what} within {backstop:g} s"
                ) from None

    async def _guarded(self, operation: Callable[[], Awaitable[T]], what: str, path: str) -> T:
        try:
            return await operation()
        except ConnectorError:
            raise
        except Exception as error:
            classified = self._classify(error, what, path)
            if classified.transient:
                await self._disconnect()
            raise classified from None

    async def _connection(self) -> asyncssh.SSHClientConnection:
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        self._conn = None
        self._sftp = None
        self._open[:] = [kept for kept in self._open if not kept.is_closed()]
        options: dict[str, Any] = {
            "port": self.port,
            "username": self.username,
            # Pinned: exactly this key is trusted, for this connection only.
            "known_hosts": ([self._host_key], [], []),
            # The pinned key's algorithms first, so a server that has the pinned key
            # presents it; the others after, so one that has not presents another key and
            # is refused by host key verification (a clear mismatch, not a failed exchange).
            "server_host_key_algs": _host_key_algs(self._host_key),
            "x509_trusted_certs": None,
            "config": None,
            "agent_path": None,
            "connect_timeout": self.timeouts.connect,
            "login_timeout": self.timeouts.connect,
        }
        if self._client_key is not None:
            options.update(
                client_keys=[self._client_key], password=None, preferred_auth="publickey"
            )
        else:
            options.update(client_keys=None, password=self._password, preferred_auth="password")
        self._conn = await asyncio.wait_for(
            asyncssh.connect(self.host, **options), self.timeouts.connect + 1
        )
        self._open.append(self._conn)
        return self._conn

    async def _sftp_client(self) -> asyncssh.SFTPClient:
        connection = await self._connection()
        if self._sftp is None:
            self._sftp = await asyncio.wait_for(
                connection.start_sftp_client(), self.timeouts.command
            )
        return self._sftp

    async def _disconnect(self) -> None:
        sftp, connection = self._sftp, self._conn
        self._sftp = self._conn = None
        if sftp is not None:
            with contextlib.suppress(Exception):
                sftp.exit()
        if connection is not None:
            with contextlib.suppress(ValueError):
                self._open.remove(connection)
            connection.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.wait_closed(), 2)

    # --- classification --------------------------------------------------------------------------

    def _classify(self, error: Exception, what: str, path: str) -> ConnectorError:
        detail = f"{type(error).__name__}: {error}"
        if isinstance(error, asyncssh.SFTPNoSuchFile):
            return FileMissing(f"{path}: no such file or directory ({error.reason})", detail=detail)
        if isinstance(error, asyncssh.SFTPPermissionDenied):
            return PermanentError(f"{path}: permission denied ({error.reason})", detail=detail)
        if isinstance(error, asyncssh.SFTPConnectionLost):
            return TransientError(f"{self.where} lost the SFTP session {what}", detail=detail)
        if isinstance(error, asyncssh.SFTPError):
            return PermanentError(f"{path}: {error.reason}", detail=detail)
        if isinstance(error, asyncssh.PermissionDenied):
            secret = "key" if self._client_key is not None else "password"
            return AuthenticationFailed(
                f"{self.where} refused user {self.username}: the {secret} was not accepted",
                detail=detail,
            )
        if isinstance(error, asyncssh.HostKeyNotVerifiable):
            return PermanentError(
                f"{self.where}: the host key does not match the pinned key "
                f"({self._host_key.get_algorithm()} "
                f"{self._host_key.get_fingerprint()})",
                detail=detail,
            )
        if isinstance(error, asyncssh.KeyExchangeFailed):
            return PermanentError(
                f"{self.where}: no common SSH algorithms ({error.reason})", detail=detail
            )
        if isinstance(error, TimeoutError):  # asyncio's, asyncssh's and the socket's
            limit = self.timeouts.command if self.connected else self.timeouts.connect
            return TransientError(
                f"{self.where} did not finish {what} within {limit:g} s", detail=detail
            )
        if isinstance(error, asyncssh.DisconnectError | asyncssh.ChannelOpenError | OSError):
            return TransientError(f"cannot reach {self.where} ({what}): {error}", detail=detail)
        return PermanentError(f"{self.where} failed {what}: {error}", detail=detail)


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _host_key_algs(pinned: asyncssh.SSHKey) -> list[str]:
    preferred = [alg.decode() for alg in pinned.sig_algorithms]
    others = [alg.decode() for alg in get_default_public_key_algs()]
    return list(dict.fromkeys(preferred + others))


def _stop_loop(
    loop: asyncio.AbstractEventLoop, connections: list[asyncssh.SSHClientConnection]
) -> None:
    """Aborts what is still open (a client dropped without close()) and stops the loop."""

    def stop() -> None:
        while connections:
            connections.pop().abort()
        loop.stop()

    with contextlib.suppress(RuntimeError):  # already closed
        loop.call_soon_threadsafe(stop)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
