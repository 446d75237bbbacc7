"""The SSH front of one LPAR (asyncssh): key authentication, commands, SFTP.

The host key is generated once and kept in the work directory, so clients can pin it. A
user logs in with a key listed for them in the configuration (or with their password when
one is set). `exec` runs one command line (see `lparsim.commands`); a shell session reads
command lines until `exit`. SFTP is rooted at the LPAR's z/OS UNIX files; `..` cannot leave
them and links cannot be made.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import TYPE_CHECKING, Any

import asyncssh

from lparsim import commands

if TYPE_CHECKING:
    from lparsim.lpar import Lpar

MAX_LINE = 4096
MAX_SHELL_COMMANDS = 10_000


class _Server(asyncssh.SSHServer):
    def __init__(self, front: SshFront) -> None:
        self.front = front

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        if self.front.lpar.faults.ssh_refuse:
            return False
        user = self.front.lpar.simulator_config.user(username)
        if user is None or user.password is None:
            return False
        return secrets.compare_digest(user.password.encode(), password.encode())

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if self.front.lpar.faults.ssh_refuse:
            return False
        allowed = self.front.authorized(username)
        return key.public_data in allowed


class _Sftp(asyncssh.SFTPServer):
    def __init__(self, chan: asyncssh.SSHServerChannel, root: bytes) -> None:
        super().__init__(chan, chroot=root)

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("links are not allowed here")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("links are not allowed here")


class SshFront:
    def __init__(self, lpar: Lpar) -> None:
        self.lpar = lpar
        self.acceptor: asyncssh.SSHAcceptor | None = None
        self.port = 0
        self._keys: dict[str, set[bytes]] = {}

    def host_key(self) -> asyncssh.SSHKey:
        path = self.lpar.directory / "ssh_host_ed25519_key"
        if path.is_file():
            return asyncssh.read_private_key(str(path))
        key = asyncssh.generate_private_key("ssh-ed25519")
        path.parent.mkdir(parents=True, exist_ok=True)
        key.write_private_key(str(path))
        path.chmod(0o600)
        key.write_public_key(str(path) + ".pub")
        return key

    def authorized(self, username: str) -> set[bytes]:
        user = self.lpar.simulator_config.user(username)
        if user is None:
            return set()
        keys = self._keys.get(user.name)
        if keys is None:
            keys = set()
            for line in user.authorized_keys:
                with contextlib.suppress(asyncssh.KeyImportError, ValueError):
                    keys.add(asyncssh.import_public_key(line).public_data)
            self._keys[user.name] = keys
        return keys

    async def start(self) -> None:
        root = str(self.lpar.fs.root).encode()
        self.acceptor = await asyncssh.create_server(
            lambda: _Server(self),
            self.lpar.config.address,
            self.lpar.config.ssh_port,
            server_host_keys=[self.host_key()],
            process_factory=self.handle,
            sftp_factory=lambda chan: _Sftp(chan, root),
            allow_scp=False,
            encoding="utf-8",
            login_timeout=30,
            backlog=256,
        )
        self.port = self.acceptor.sockets[0].getsockname()[1]
        self.lpar.config.ssh_port = self.port

    async def stop(self) -> None:
        if self.acceptor is not None:
            self.acceptor.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.acceptor.wait_closed(), 2)

    async def handle(self, process: asyncssh.SSHServerProcess[Any]) -> None:
        user = process.get_extra_info("username") or "?"
        try:
            if process.command is not None:
                if self.lpar.faults.loses(process.command):
                    # The whole session goes, as when the network drops mid-command.
                    process.channel.get_connection().abort()
                    return
                result = commands.run_shell(self.lpar, process.command, user)
                process.stdout.write(self.lpar.faults.garble(process.command, result.stdout))
                process.stderr.write(result.stderr)
                await process.stdout.drain()
                process.exit(result.status)
                return
            await self._shell(process, user)
        except (asyncssh.BreakReceived, asyncssh.TerminalSizeChanged, ConnectionError):
            process.exit(1)

    async def _shell(self, process: asyncssh.SSHServerProcess[Any], user: str) -> None:
        prompt = f"{self.lpar.name}:/u/{user.lower()}: >"
        status = 0
        for _ in range(MAX_SHELL_COMMANDS):
            process.stdout.write(prompt)
            try:
                line = await asyncio.wait_for(process.stdin.readline(), 3600)
            except (TimeoutError, asyncssh.BreakReceived):
                break
            if not line:
                break
            line = line.strip()[:MAX_LINE]
            if line in ("exit", "logout"):
                break
            if not line:
                continue
            result = commands.run_shell(self.lpar, line, user)
            process.stdout.write(result.stdout)
            process.stderr.write(result.stderr)
            status = result.status
        process.exit(status)
