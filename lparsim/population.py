"""Client populations: real asyncio clients that keep sessions open to the services.

A population of an inbound service is a number of clients that connect to the service's
host port over loopback, with given TLS capabilities (or cleartext), hold each session for a
while with a line exchanged every few seconds, then reconnect after a pause. A population of
an outbound service is the z/OS job itself opening that many sessions to its partner.

Everything is bounded: clients per population (config), sessions per population
(`max_sessions`), optional running time (`run_seconds`), and every network wait has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lparsim import tlsio
from lparsim.config import PopulationConfig, ServiceConfig

if TYPE_CHECKING:
    from lparsim.dataplane import ConnRecord
    from lparsim.lpar import Lpar

CONNECT_TIMEOUT = 10.0
HANDSHAKE_TIMEOUT = 15.0
REPLY_TIMEOUT = 15.0


@dataclass
class PopulationStats:
    started: int = 0
    established: int = 0
    failed: int = 0
    dropped: int = 0
    active: int = 0
    protocols: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def fail(self, reason: str) -> None:
        self.failed += 1
        self.failures[reason] = self.failures.get(reason, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "established": self.established,
            "failed": self.failed,
            "dropped": self.dropped,
            "active": self.active,
            "protocols": dict(self.protocols),
            "failures": dict(self.failures),
        }


class Population:
    def __init__(self, lpar: Lpar, service: ServiceConfig, config: PopulationConfig) -> None:
        self.lpar = lpar
        self.service = service
        self.config = config
        self.target = config.clients
        self.stats = PopulationStats()
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self._context: ssl.SSLContext | None = None
        self._sessions = 0
        self._stopping = False
        self._started_at = 0.0
        self._rng = random.Random(f"{lpar.config.name}/{service.name}/{config.name}")

    @property
    def key(self) -> str:
        return f"{self.service.name}/{self.config.name}"

    def context(self) -> ssl.SSLContext | None:
        if self.config.cleartext:
            return None
        if self._context is None:
            cert_file = None
            if self.config.client_certificate:
                cert_file = str(self.lpar.client_certificate(self.config.name))
            self._context = tlsio.client_context(
                self.config.protocols,
                cafile=str(self.lpar.keyrings.ca_file),
                verify=self.config.verify,
                cert_file=cert_file,
            )
        return self._context

    def start(self) -> None:
        self._started_at = asyncio.get_running_loop().time()
        self.set_clients(self.target)

    def set_clients(self, count: int) -> None:
        """Grows or shrinks the number of clients (extra ones finish their session first)."""
        self.target = max(0, count)
        for index in range(self.target):
            task = self.tasks.get(index)
            if task is None or task.done():
                delay = (
                    self._rng.uniform(0, self.config.ramp_seconds)
                    if self.config.ramp_seconds
                    else 0
                )
                self.tasks[index] = asyncio.ensure_future(self._client(index, delay))

    async def stop(self) -> None:
        self._stopping = True
        tasks = [task for task in self.tasks.values() if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)

    def _may_continue(self, index: int) -> bool:
        if self._stopping or index >= self.target or self._sessions >= self.config.max_sessions:
            return False
        run = self.config.run_seconds
        return run is None or asyncio.get_running_loop().time() - self._started_at < run

    async def _client(self, index: int, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        while self._may_continue(index):
            self._sessions += 1
            self.stats.started += 1
            try:
                if self.service.direction == "Inbound":
                    await self._inbound_session()
                else:
                    await self._outbound_session()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a failed session ends that session, not the client
                self.stats.fail(type(error).__name__)
            pause = self.config.reconnect_seconds * self._rng.uniform(0.5, 1.5)
            await asyncio.sleep(pause)

    def _lifetime(self) -> float:
        return self.config.session_seconds * self._rng.uniform(0.8, 1.2)

    async def _inbound_session(self) -> None:
        config = self.lpar.config
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    config.address,
                    self.service.host_port,
                    local_addr=(self.config.source_address, 0),
                ),
                CONNECT_TIMEOUT,
            )
        except (OSError, TimeoutError):
            self.stats.fail("connect")
            return
        stream: tlsio.Stream
        try:
            context = self.context()
            if context is None:
                stream = tlsio.PlainStream(reader, writer)
                protocol = "cleartext"
            else:
                try:
                    tls = await tlsio.TlsStream.handshake(
                        reader, writer, context, server_side=False, timeout=HANDSHAKE_TIMEOUT
                    )
                except (ssl.SSLError, OSError, TimeoutError) as error:
                    self.stats.fail(
                        f"handshake: {getattr(error, 'reason', None) or type(error).__name__}"
                    )
                    return
                stream = tls
                protocol = tls.negotiated.protocol
            await self._hold(stream, protocol)
        finally:
            writer.transport.abort()

    async def _outbound_session(self) -> None:
        partner = self.lpar.simulator_config.partner(self.service.partner or "")
        if partner is None:
            self.stats.fail("no partner")
            return

        async def hold(stream: tlsio.Stream, record: ConnRecord) -> None:
            await self._hold(stream, record.protocol or "cleartext")

        try:
            result = await self.lpar.dataplane.outbound(self.service, partner, hold)
        except (OSError, TimeoutError):
            self.stats.fail("connect")
            return
        if result == "failed":
            self.stats.fail("handshake")

    async def _hold(self, stream: tlsio.Stream, protocol: str) -> None:
        """Keeps a session for its lifetime; the first exchanged line marks it established."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lifetime()
        counted = False
        sequence = 0
        try:
            while True:
                sequence += 1
                await stream.write(b"PING %d\n" % sequence)
                reply = await asyncio.wait_for(stream.readline(), REPLY_TIMEOUT)
                if not reply:
                    if counted:
                        self.stats.dropped += 1
                    else:
                        self.stats.fail("closed by server")
                    return
                if not counted:
                    counted = True
                    self.stats.established += 1
                    self.stats.active += 1
                    self.stats.protocols[protocol] = self.stats.protocols.get(protocol, 0) + 1
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                # Idle until the next ping, but notice at once when the server drops us.
                try:
                    data = await asyncio.wait_for(
                        stream.read(1), min(self.config.ping_seconds, remaining)
                    )
                except TimeoutError:
                    continue
                if not data:
                    self.stats.dropped += 1
                    return
        except (OSError, ssl.SSLError, TimeoutError, asyncio.IncompleteReadError):
            if counted:
                self.stats.dropped += 1
            else:
                self.stats.fail("closed by server")
        finally:
            if counted:
                self.stats.active -= 1
            with contextlib.suppress(Exception):
                await stream.close()
