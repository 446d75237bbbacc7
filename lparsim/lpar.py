"""One simulated LPAR: its files, key rings, PAGENT, data plane, z/OSMF, SSH and clients.

Host layout under `<workdir>/<LPAR>/`:

    root/               the z/OS UNIX file system (/etc/pagent.conf, /var/log/syslog, ...)
    keyrings/           key-ring certificates (PEM, certificate and key), kept across restarts
    datasets/           MVS data sets written by jobs (one host file per data set name)
    clients/            client certificates of populations that authenticate
    ssh_host_ed25519_key, zosmf.pem
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lparsim import pki
from lparsim.config import Config, LparConfig
from lparsim.dataplane import DataPlane
from lparsim.fsys import ZosFileSystem
from lparsim.jobs import Jes
from lparsim.keyrings import KeyRingStore
from lparsim.pagent import Pagent
from lparsim.population import Population
from lparsim.zert import ZertRecorder

SYSLOG_LIMIT = 16 * 1024 * 1024  # bytes before the syslog file is rotated to <name>.1
TICK_SECONDS = 1.0


@dataclass
class Faults:
    zosmf_status: int | None = None
    zosmf_status_remaining: int | None = None  # None: until cleared
    zosmf_delay: float = 0.0
    ssh_refuse: bool = False
    # The next `garble_remaining` shell commands whose first word is `garble_command` print
    # damaged output: what a half-written spool or a changed release layout looks like.
    garble_command: str | None = None
    garble_remaining: int = 0
    # The next `request_fail_remaining` z/OSMF requests with method `request_fail_method`
    # whose path starts with `request_fail_path` answer `request_fail_status`: one API of
    # z/OSMF failing (a file PUT, the console) while the rest answers.
    request_fail_method: str | None = None
    request_fail_path: str = ""
    request_fail_status: int = 500
    request_fail_remaining: int = 0
    # The next `lose_remaining` SSH commands whose first word is `lose_command` lose their
    # session: the connection is aborted before any output (a network drop mid-command).
    lose_command: str | None = None
    lose_remaining: int = 0

    def failing_request(self, method: str, path: str) -> int | None:
        """The status this z/OSMF request must answer, or None to serve it."""
        if (
            self.request_fail_remaining <= 0
            or method.upper() != self.request_fail_method
            or not path.startswith(self.request_fail_path)
        ):
            return None
        self.request_fail_remaining -= 1
        return self.request_fail_status

    def loses(self, command: str) -> bool:
        """Whether this SSH command's session is to be lost."""
        words = command.split()
        if self.lose_remaining <= 0 or not words or words[0] != self.lose_command:
            return False
        self.lose_remaining -= 1
        return True

    def garble(self, command: str, output: str) -> str:
        words = command.split()
        if self.garble_remaining <= 0 or not words or words[0] != self.garble_command:
            return output
        self.garble_remaining -= 1
        # Every line reversed and NUL-terminated: nothing a parser could take for a report.
        return "\n".join(f"@@{line[::-1]}\x00" for line in output.splitlines()) + "\n"

    def describe(self, pagent_fail_next: int) -> dict[str, Any]:
        return {
            "garble_command": self.garble_command,
            "garble_remaining": self.garble_remaining,
            "request_fail": {
                "method": self.request_fail_method,
                "path": self.request_fail_path,
                "status": self.request_fail_status,
                "remaining": self.request_fail_remaining,
            },
            "lose_command": self.lose_command,
            "lose_remaining": self.lose_remaining,
            "zosmf_status": self.zosmf_status,
            "zosmf_status_remaining": self.zosmf_status_remaining,
            "zosmf_delay": self.zosmf_delay,
            "ssh_refuse": self.ssh_refuse,
            "refresh_failures_pending": pagent_fail_next,
        }


class Lpar:
    def __init__(
        self, config: LparConfig, simulator: Config, ca: pki.Issued, ca_file: Path
    ) -> None:
        self.config = config
        self.simulator_config = simulator
        self.name = config.name
        self.directory = simulator.workdir / config.name
        self.fs = ZosFileSystem(self.directory / "root")
        self.ca = ca
        self.keyrings = KeyRingStore(self.directory / "keyrings", ca, ca_file)
        self.faults = Faults()
        self.pagent = Pagent(
            system=config.name,
            procname=config.pagent_procname,
            fs=self.fs,
            conf_path=config.pagent_conf,
            log_path=config.pagent_log,
            stacks=[stack.name for stack in config.stacks],
            console=self.console_log,
            clock=time.monotonic,
            release=config.release,
        )
        self.dataplane = DataPlane(self)
        self.zert = ZertRecorder(self)
        self.jes = Jes(self)
        self.populations: list[Population] = []
        self.notes: collections.deque[str] = collections.deque(maxlen=200)
        self._message_number = 100
        self._tick_task: asyncio.Task[None] | None = None
        self._client_certs: dict[str, Path] = {}
        # Imported here: the fronts import this module for type names.
        from lparsim.sshd import SshFront
        from lparsim.zosmf import ZosmfFront

        self.zosmf = ZosmfFront(self)
        self.ssh = SshFront(self)

    # --- files and logs ------------------------------------------------------------------------

    def seed_files(self) -> None:
        """Writes the z/OS UNIX files that do not exist yet (a restart keeps the others)."""
        config = self.config
        images = "\n".join(
            f"TcpImage {stack.name} {stack.image_file} FLUSH PURGE {stack.refresh_seconds}"
            for stack in config.stacks
        )
        self.fs.seed(
            config.pagent_conf,
            f"# Policy Agent main configuration for {config.name} (first written by lparsim)\n"
            f"LogLevel 31\n{images}\n",
        )
        for stack in config.stacks:
            self.fs.seed(
                stack.image_file,
                f"# Image configuration for stack {stack.name}\n"
                f"TTLSConfig {stack.policy_file} FLUSH PURGE\n",
            )
            self.fs.seed(stack.policy_file, stack.seed_policy)
        for path in (config.syslog, config.pagent_log, config.console_log):
            self.fs.seed(path, "")
        with contextlib.suppress(OSError):
            self.fs.mkdir("/u")
        for user in self.simulator_config.users:
            with contextlib.suppress(OSError):
                self.fs.mkdir(f"/u/{user.name.lower()}")

    def syslog(self, jobname: str, message: str) -> None:
        """A record as syslogd writes it: time, system, job name, message."""
        stamp = dt.datetime.now().astimezone()
        line = f"{stamp:%b} {stamp.day:2d} {stamp:%H:%M:%S} {self.name} {jobname}: {message}\n"
        path = self.config.syslog
        with contextlib.suppress(OSError):
            host = self.fs.host_path(path)
            if host.exists() and host.stat().st_size > SYSLOG_LIMIT:
                host.replace(host.with_name(host.name + ".1"))
        self.fs.append_text(path, line)

    def console_log(self, jobname: str, messages: list[str]) -> None:
        stamp = dt.datetime.now().astimezone()
        text = "".join(
            f"{stamp:%Y-%m-%d %H:%M:%S} {self.name:<8} {jobname:<8} {message}\n"
            for message in messages
        )
        if text:
            self.fs.append_text(self.config.console_log, text)

    def note(self, text: str) -> None:
        self.notes.append(f"{dt.datetime.now(dt.UTC):%H:%M:%S} {text}")

    def next_message_number(self) -> int:
        self._message_number = self._message_number + 1 if self._message_number < 999 else 100
        return self._message_number

    def client_certificate(self, name: str) -> Path:
        """A client certificate (CN = name) from the simulator CA, for populations."""
        path = self._client_certs.get(name)
        if path is None:
            path = self.directory / "clients" / f"{name}.pem"
            if not path.is_file():
                pki.issue(
                    self.ca,
                    common_name=name,
                    not_after=pki.days_from_now(365),
                    client=True,
                ).write(path)
            self._client_certs[name] = path
        return path

    # --- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self.seed_files()
        self.keyrings.load(self.config.key_rings)
        self.pagent.start()
        self.zert.start()
        await self.dataplane.start()
        await self.zosmf.start()
        await self.ssh.start()
        self._tick_task = asyncio.ensure_future(self._tick())

    def start_populations(self) -> None:
        for service in self.config.services:
            for population in service.populations:
                runner = Population(self, service, population)
                self.populations.append(runner)
                runner.start()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.pagent.tick()
            except Exception as error:  # a bad re-read must not stop the LPAR
                self.note(f"PAGENT interval re-read failed: {error}")

    async def stop(self) -> None:
        if self._tick_task is not None:
            self._tick_task.cancel()
        await asyncio.gather(*(population.stop() for population in self.populations))
        await self.ssh.stop()
        await self.zosmf.stop()
        await self.dataplane.stop()
        await self.jes.stop()
        await self.zert.stop()

    def population(self, name: str) -> Population | None:
        """A population by `service/name`, or by name alone when only one has it.

        Raises KeyError when a bare name is ambiguous.
        """
        exact = next((p for p in self.populations if p.key == name), None)
        if exact is not None:
            return exact
        found = [p for p in self.populations if p.config.name == name]
        if len(found) > 1:
            keys = ", ".join(p.key for p in found)
            raise KeyError(f"several populations are called {name}; give one of: {keys}")
        return found[0] if found else None

    # --- what the admin API shows -----------------------------------------------------------------

    def ports(self) -> dict[str, Any]:
        return {
            "address": self.config.address,
            "zosmf": self.config.zosmf_port,
            "ssh": self.config.ssh_port,
            "services": {
                service.name: {
                    "jobname": service.jobname,
                    "zos_port": service.port,
                    "host_port": service.host_port if service.direction == "Inbound" else None,
                    "direction": service.direction,
                    "stack": service.stack,
                }
                for service in self.config.services
            },
        }

    def describe(self) -> dict[str, Any]:
        stacks = {}
        for name, runtime in self.dataplane.stacks.items():
            installed = self.pagent.installed(name)
            agent = self.pagent.stacks[name]
            sessions: dict[str, dict[str, int]] = {"at-tls": {}, "app": {}, "none": {}}
            for record in runtime.conns.values():
                bucket = sessions[record.secured_by]
                protocol = record.protocol or "cleartext"
                bucket[protocol] = bucket.get(protocol, 0) + 1
            stacks[name] = {
                "instance_id": installed.instance_id if installed else None,
                "rules": len(installed.policy.rules) if installed else 0,
                "last_error": agent.last_error,
                "connections": len(runtime.conns),
                "sessions": sessions,
                "handshake_failures": dict(runtime.stats.handshake_failures),
                "app_failures": runtime.stats.app_failures,
            }
        return {
            "name": self.name,
            "role": self.config.role,
            "release": self.config.release,
            "ports": self.ports(),
            "stacks": stacks,
            "certificates": [record.describe() for record in self.keyrings.all()],
            "faults": self.faults.describe(self.pagent.fail_next),
            "populations": {
                p.key: {"target": p.target, **p.stats.as_dict()} for p in self.populations
            },
            "notes": list(self.notes)[-20:],
        }
