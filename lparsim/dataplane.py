"""The AT-TLS data plane of one TCP/IP stack: real loopback listeners and connections.

At accept (inbound) or connect (outbound) the installed policy is matched with
`attls.matching.RuleMatcher`, using the z/OS view of the connection: the service's z/OS
port (not the host port it listens on), the peer's address and port, the service's job name
and user ID, and the direction. Then:

* a matching rule whose group has TTLSEnabled On: AT-TLS does the handshake with the
  rule's effective protocols, ciphers and key-ring certificate (the SSL environment);
* a matching rule with TTLSEnabled Off: the connection is mapped to the rule but not secured;
* no matching rule: the application does what it always did, its own TLS (`app_tls`, the
  "before" estate) or cleartext; `netstat -a -X NOTTLSPOLICY` lists these.

Every connection is a row of the stack's connection table, which `netstat` renders: the
protocol and cipher are what the real handshake negotiated (`SSLObject.version()` and
`.cipher()`), never what the policy asked for. Failed AT-TLS handshakes are logged as
EZD1286I with the return code (reference §5.3, §5.4) in the LPAR's syslog file.

SSL environments are kept per content of the rule's actions (group, environment, connection
and what they reference), as AT-TLS keeps them per action: a refresh that leaves the actions
unchanged keeps the environment, and with it the certificate it read from the key ring.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from attls import ciphers
from attls.ciphers import Protocol
from attls.effective import EffectiveSettings
from attls.matching import Connection, MatchResult
from lparsim import tlsio
from lparsim.config import SPEAKABLE, PartnerConfig, ServiceConfig
from lparsim.keyrings import CertRecord, KeyRingStore
from lparsim.pagent import Installed

if TYPE_CHECKING:
    from lparsim.lpar import Lpar

IDLE_SECONDS = 900.0  # an application connection with no traffic for this long is closed
FIRST_ID = 0x100


@dataclass
class ConnRecord:
    """One row of the connection table."""

    conn_id: int
    stack: str
    jobname: str
    userid: str
    direction: str  # Inbound | Outbound | Listen
    local: tuple[str, int]
    remote: tuple[str, int]
    service: str | None
    state: str = "Establsh"
    opened_at: float = field(default_factory=time.monotonic)
    # AT-TLS mapping: None when no rule covers the connection (NOTTLSPOLICY).
    installed: Installed | None = None
    rule: str | None = None
    group_action: str | None = None
    env_action: str | None = None
    conn_action: str | None = None
    ttls_enabled: bool = False
    fips140: bool = False
    group_id: int | None = None
    env_id: int | None = None
    # What secured it: "at-tls", "app" (the application's own TLS) or "none".
    secured_by: str = "none"
    protocol: str | None = None  # ssl spelling: TLSv1.2
    cipher: str | None = None  # OpenSSL name
    cert_user_id: str | None = None
    closer: Callable[[], None] | None = None

    @property
    def mapped(self) -> bool:
        return self.rule is not None


@dataclass
class Environment:
    """An SSL environment: one SSLContext for one combination of actions."""

    env_id: int
    role: str
    context: ssl.SSLContext | None
    cert: CertRecord | None
    failure: tuple[int, str] | None = None
    ring: str | None = None
    label: str | None = None
    client_auth_type: str = "Required"


@dataclass
class Group:
    name: str
    group_id: int


@dataclass
class Stats:
    handshake_failures: dict[int, int] = field(default_factory=dict)
    app_failures: int = 0
    accepted: int = 0

    def failure(self, rc: int) -> None:
        self.handshake_failures[rc] = self.handshake_failures.get(rc, 0) + 1


def sec_level(protocol: str | None) -> str | None:
    """`TLSv1.2` -> `TLS Version 1.2`, `TLSv1` -> `TLS Version 1` (netstat's SecLevel)."""
    if not protocol:
        return None
    if protocol.startswith("TLSv"):
        return f"TLS Version {protocol[4:]}"
    if protocol.startswith("SSLv"):
        return f"SSL Version {protocol[4:]}"
    return protocol


def cipher_code(openssl_name: str | None) -> tuple[str | None, str | None]:
    if not openssl_name:
        return None, None
    try:
        suite = ciphers.by_openssl_name(openssl_name)
    except ciphers.UnknownCipherError:
        return None, openssl_name
    return suite.code, suite.iana_name


def _ring_lookup(store: KeyRingStore, keyring: str) -> str | None:
    """A policy's Keyring (`owner/ring` or `ring`) as one of the configured rings."""
    if store.has_ring(keyring):
        return keyring
    short = keyring.rsplit("/", 1)[-1]
    return next((name for name in store.rings if name.rsplit("/", 1)[-1] == short), None)


class StackRuntime:
    """The connection table and SSL environments of one stack."""

    def __init__(self, lpar: Lpar, name: str) -> None:
        self.lpar = lpar
        self.name = name
        self.conns: dict[int, ConnRecord] = {}
        self.listeners: list[ConnRecord] = []
        self._next_id = FIRST_ID
        self.environments: dict[tuple[Any, ...], Environment] = {}
        self._next_env = 1
        self.groups: dict[tuple[Any, ...], Group] = {}
        self._next_group = 1
        self.stats = Stats()

    # --- table --------------------------------------------------------------------------------

    def new_id(self) -> int:
        conn_id = self._next_id
        self._next_id = self._next_id + 1 if self._next_id < 0xFFFFFFF0 else FIRST_ID
        return conn_id

    def open(self, record: ConnRecord) -> ConnRecord:
        self.conns[record.conn_id] = record
        self.lpar.zert.opened(record)
        return record

    def close(self, record: ConnRecord) -> None:
        self.conns.pop(record.conn_id, None)
        self.lpar.zert.closed(record)

    def add_listener(self, service: ServiceConfig, address: str) -> None:
        self.listeners.append(
            ConnRecord(
                conn_id=self.new_id(),
                stack=self.name,
                jobname=service.jobname,
                userid=service.userid,
                direction="Listen",
                local=(address, service.port),
                remote=("0.0.0.0", 0),
                service=service.name,
                state="Listen",
            )
        )

    def drop(self, service: str | None = None) -> int:
        """Aborts established connections (all, or one service's); returns how many."""
        count = 0
        for record in list(self.conns.values()):
            if service is not None and record.service != service:
                continue
            if record.closer is not None:
                record.closer()
                count += 1
            self.conns.pop(record.conn_id, None)
        return count

    # --- groups and environments ---------------------------------------------------------------

    def group(self, installed: Installed, effective: EffectiveSettings) -> Group:
        key = ("group", installed.action_key(effective.group_action))
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(effective.group_action or "", self._next_group)
            self._next_group += 1
        return group

    def environment(
        self, installed: Installed, effective: EffectiveSettings, direction: str
    ) -> Environment:
        key = (
            installed.action_key(effective.group_action),
            installed.action_key(effective.environment_action),
            installed.action_key(effective.connection_action),
            direction,
        )
        env = self.environments.get(key)
        if env is not None and env.cert is not None and env.ring is not None:
            current = self.lpar.keyrings.get(env.ring, env.label)
            # The same certificate changed in place (it expired): the environment sees it.
            if (
                current is not None
                and current.serial == env.cert.serial
                and current is not env.cert
            ):
                env = None
        if env is None:
            env_id = self.environments[key].env_id if key in self.environments else None
            env = self._build(effective, direction, env_id)
            self.environments[key] = env
        return env

    def _build(
        self, effective: EffectiveSettings, direction: str, env_id: int | None
    ) -> Environment:
        if env_id is None:
            env_id = self._next_env
            self._next_env += 1
        role = effective.handshake_role or ("Server" if direction == "Inbound" else "Client")
        env = Environment(env_id, role, None, None, client_auth_type=effective.client_auth_type)
        store = self.lpar.keyrings
        if effective.keyring is None:
            env.failure = (202, "no key ring in the environment")
            return env
        ring = _ring_lookup(store, effective.keyring)
        if ring is None:
            env.failure = (202, f"key ring {effective.keyring} cannot be opened")
            return env
        server = role in ("Server", "ServerWithClientAuth")
        label = (
            effective.server_certificate_label or effective.certificate_label
            if server
            else effective.certificate_label
        )
        cert = store.get(ring, label)
        if cert is None and label is not None:
            env.failure = (407, f"key label {label} does not exist in {ring}")
            return env
        if cert is None and server:
            env.failure = (7, f"no default certificate in {ring}")
            return env
        env.ring, env.label, env.cert = ring, label, cert
        protocols = [p for p in effective.enabled_protocols if p in SPEAKABLE]
        codes = effective.v3_cipher_suites
        names: list[str] = []
        has_tls13 = effective.ciphers_from == "system-ssl-default"
        for code in codes:
            suite = ciphers.get(code)
            if suite is None:
                continue
            if suite.tls13_only:
                has_tls13 = True
            elif suite.openssl_name:
                names.append(suite.openssl_name)
        if not names:
            protocols = [p for p in protocols if p is Protocol.TLSV1_3]
        if not has_tls13:
            protocols = [p for p in protocols if p is not Protocol.TLSV1_3]
        if not protocols:
            env.failure = (402, "no protocol version with a usable cipher suite is enabled")
            return env
        cipher_string = ":".join([*names, tlsio.SEC_LEVEL_0]) if names else None
        try:
            if server:
                verify = ssl.CERT_NONE
                if role == "ServerWithClientAuth":
                    verify = (
                        ssl.CERT_REQUIRED
                        if effective.client_auth_type in ("Required", "SAFCheck")
                        else ssl.CERT_OPTIONAL
                    )
                assert cert is not None
                context = tlsio.server_context(
                    protocols,
                    cert_file=str(cert.path),
                    ciphers=cipher_string,
                    cafile=str(store.ca_file),
                    client_auth=verify,
                    server_preference=True,
                )
            else:
                context = tlsio.client_context(
                    protocols,
                    cafile=str(store.ca_file),
                    verify=True,
                    cert_file=str(cert.path) if cert is not None else None,
                    ciphers=cipher_string,
                )
        except ssl.SSLError as error:
            env.failure = (402, f"no cipher suite can be used: {error.reason or error}")
            return env
        env.context = context
        return env


class DataPlane:
    """The listeners, application behaviour and AT-TLS handshakes of one LPAR."""

    def __init__(self, lpar: Lpar) -> None:
        self.lpar = lpar
        self.stacks = {stack.name: StackRuntime(lpar, stack.name) for stack in lpar.config.stacks}
        self.servers: list[asyncio.AbstractServer] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self._app_contexts: dict[str, tuple[int, ssl.SSLContext | None]] = {}

    async def start(self) -> None:
        address = self.lpar.config.address
        for service in self.lpar.config.services:
            if service.direction != "Inbound":
                continue
            server = await asyncio.start_server(
                lambda r, w, s=service: self._spawn(self.inbound(s, r, w)),
                address,
                service.host_port,
                backlog=2048,
            )
            if not service.host_port:
                service.host_port = server.sockets[0].getsockname()[1]
            self.servers.append(server)
            self.stacks[service.stack].add_listener(service, address)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        for stack in self.stacks.values():
            stack.drop()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=2)
        for server in self.servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)

    # --- the application side -------------------------------------------------------------------

    def app_context(self, service: ServiceConfig, *, server_side: bool) -> ssl.SSLContext | None:
        """The application's own TLS context (the "before" estate), rebuilt on ring changes."""
        app = service.app_tls
        if app is None:
            return None
        store = self.lpar.keyrings
        key = f"{service.name}/{'server' if server_side else 'client'}"
        cached = self._app_contexts.get(key)
        if cached is not None and cached[0] == store.version:
            return cached[1]
        ring = app.keyring or store.first_ring()
        cert = store.get(ring, app.label) if ring else None
        context: ssl.SSLContext | None = None
        if server_side and cert is not None:
            context = tlsio.server_context(
                app.protocols, cert_file=str(cert.path), cafile=str(store.ca_file)
            )
        elif not server_side:
            context = tlsio.client_context(
                app.protocols,
                cafile=str(store.ca_file),
                cert_file=str(cert.path) if cert is not None else None,
            )
        self._app_contexts[key] = (store.version, context)
        return context

    async def serve_application(self, stream: tlsio.Stream, record: ConnRecord) -> None:
        """What every simulated server application does: answer each line it receives."""
        while True:
            try:
                line = await asyncio.wait_for(stream.readline(), IDLE_SECONDS)
            except (TimeoutError, OSError, ssl.SSLError, asyncio.IncompleteReadError):
                return
            if not line:
                return
            await stream.write(b"%s %s" % (record.jobname.encode(), line))

    # --- inbound ------------------------------------------------------------------------------

    async def inbound(
        self, service: ServiceConfig, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        stack = self.stacks[service.stack]
        peer = writer.get_extra_info("peername") or ("0.0.0.0", 0)
        record = stack.open(
            ConnRecord(
                conn_id=stack.new_id(),
                stack=stack.name,
                jobname=service.jobname,
                userid=service.userid,
                direction="Inbound",
                local=(self.lpar.config.address, service.port),
                remote=(peer[0], peer[1]),
                service=service.name,
                closer=writer.transport.abort,
            )
        )
        stack.stats.accepted += 1
        stream: tlsio.Stream | None = None
        try:
            stream = await self.secure(stack, service, record, reader, writer)
            if stream is not None:
                self.lpar.zert.protected(record)
                await self.serve_application(stream, record)
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except Exception as error:  # one connection must not stop the listener
            self.lpar.note(f"{service.name}: connection {record.conn_id:08X} failed: {error!r}")
        finally:
            stack.close(record)
            if stream is not None:
                with contextlib.suppress(Exception):
                    await stream.close()
            writer.transport.abort()

    def match(self, stack: StackRuntime, record: ConnRecord) -> MatchResult | None:
        installed = self.lpar.pagent.installed(stack.name)
        if installed is None or not installed.has_rules:
            return None
        result = installed.matcher.match(
            Connection(
                local_addr=record.local[0],
                local_port=record.local[1],
                remote_addr=record.remote[0],
                remote_port=record.remote[1],
                jobname=record.jobname,
                userid=record.userid,
                direction="Inbound" if record.direction == "Inbound" else "Outbound",
            )
        )
        if result is not None:
            effective = result.effective
            group = stack.group(installed, effective)
            record.installed = installed
            record.rule = result.rule
            record.group_action = effective.group_action
            record.env_action = effective.environment_action
            record.conn_action = effective.connection_action
            record.ttls_enabled = effective.ttls_enabled
            record.fips140 = effective.fips140
            record.group_id = group.group_id
            if effective.trace & 4:
                status = "Enabled" if effective.ttls_enabled else "Not Enabled"
                self.lpar.syslog(
                    stack.name,
                    f"EZD1281I TTLS Map CONNID: {record.conn_id:08X} "
                    f"LOCAL: {_socket(record.local)} REMOTE: {_socket(record.remote)} "
                    f"JOBNAME: {record.jobname} USERID: {record.userid} "
                    f"TYPE: {record.direction} STATUS: {status} RULE: {result.rule} "
                    f"ACTIONS: {effective.group_action or 'N/A'} "
                    f"{effective.environment_action or 'N/A'} "
                    f"{effective.connection_action or 'N/A'}",
                )
        return result

    async def secure(
        self,
        stack: StackRuntime,
        service: ServiceConfig,
        record: ConnRecord,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> tlsio.Stream | None:
        """AT-TLS, or the application's own behaviour; None when the connection failed."""
        result = self.match(stack, record)
        server_side = record.direction == "Inbound"
        if result is not None and result.effective.ttls_enabled:
            return await self.attls_handshake(stack, record, result.effective, reader, writer)
        if service.app_tls is not None:
            context = self.app_context(service, server_side=server_side)
            if context is None:
                return None
            try:
                if server_side:
                    first = await asyncio.wait_for(reader.read(tlsio.READ_SIZE), 30)
                    if not first or not tlsio.looks_like_tls(first):
                        stack.stats.app_failures += 1
                        return None
                else:
                    first = b""
                tls = await tlsio.TlsStream.handshake(
                    reader, writer, context, server_side=server_side, timeout=30, initial=first
                )
            except (ssl.SSLError, OSError, TimeoutError, asyncio.IncompleteReadError):
                stack.stats.app_failures += 1
                return None
            negotiated = tls.negotiated
            record.secured_by = "app"
            record.protocol, record.cipher = negotiated.protocol, negotiated.cipher
            return tls
        if server_side:
            first = await asyncio.wait_for(reader.read(tlsio.READ_SIZE), IDLE_SECONDS)
            if not first or tlsio.looks_like_tls(first):
                # A TLS client on a cleartext application: it answers nothing sensible.
                stack.stats.app_failures += 1 if first else 0
                return None
            return tlsio.PlainStream(reader, writer, first)
        return tlsio.PlainStream(reader, writer)

    async def attls_handshake(
        self,
        stack: StackRuntime,
        record: ConnRecord,
        effective: EffectiveSettings,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> tlsio.TlsStream | None:
        assert record.installed is not None
        env = stack.environment(record.installed, effective, record.direction)
        record.env_id = env.env_id
        if env.failure is not None:
            self.handshake_failed(stack, record, effective, *env.failure)
            return None
        assert env.context is not None
        timeout = float(effective.handshake_timeout or 86400)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        server_side = env.role in ("Server", "ServerWithClientAuth")
        try:
            first = b""
            if server_side:
                # Wait for the peer's first flight: nothing is RC 5004, cleartext RC 5003.
                first = await asyncio.wait_for(reader.read(tlsio.READ_SIZE), timeout)
                if not first:
                    raise tlsio.HandshakeFailed(406, "peer closed before the handshake")
                if not tlsio.looks_like_tls(first):
                    raise tlsio.HandshakeFailed(5003, "cleartext data received")
            tls = await tlsio.TlsStream.handshake(
                reader,
                writer,
                env.context,
                server_side=server_side,
                timeout=max(0.01, deadline - loop.time()),
                initial=first,
            )
        except (ssl.SSLError, OSError, TimeoutError, asyncio.IncompleteReadError) as error:
            rc, reason = tlsio.handshake_rc(error)
            if env.cert is not None and env.cert.expired() and server_side:
                rc, reason = 401, f"certificate {env.label or 'default'} is expired"
            self.handshake_failed(stack, record, effective, rc, reason)
            return None
        except tlsio.HandshakeFailed as error:
            self.handshake_failed(stack, record, effective, error.rc, error.reason)
            return None
        # System SSL refuses its own expired certificate, even with a peer that did not check.
        if env.cert is not None and env.cert.expired() and server_side:
            self.handshake_failed(
                stack, record, effective, 401, f"certificate {env.label or 'default'} is expired"
            )
            await tls.close()
            return None
        peer = tls.peer_certificate()
        if peer is not None:
            record.cert_user_id = self._cert_user(peer)
        if (
            env.role == "ServerWithClientAuth"
            and env.client_auth_type == "SAFCheck"
            and record.cert_user_id is None
        ):
            self.handshake_failed(stack, record, effective, 5002, "client certificate not in SAF")
            await tls.close()
            return None
        if env.client_auth_type != "SAFCheck":
            record.cert_user_id = None
        negotiated = tls.negotiated
        record.secured_by = "at-tls"
        record.protocol, record.cipher = negotiated.protocol, negotiated.cipher
        return tls

    def _cert_user(self, der: bytes) -> str | None:
        """SAFCheck: the user a client certificate maps to (its CN, if that user exists)."""
        try:
            names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(
                NameOID.COMMON_NAME
            )
        except ValueError:
            return None
        if not names:
            return None
        user = self.lpar.simulator_config.user(str(names[0].value))
        return user.name if user is not None else None

    def handshake_failed(
        self,
        stack: StackRuntime,
        record: ConnRecord,
        effective: EffectiveSettings,
        rc: int,
        reason: str,
    ) -> None:
        stack.stats.failure(rc)
        if effective.trace & 2:
            self.lpar.syslog(
                stack.name,
                f"EZD1286I TTLS Error GRPID: {record.group_id or 0:08X} "
                f"ENVID: {record.env_id or 0:08X} CONNID: {record.conn_id:08X} "
                f"LOCAL: {_socket(record.local)} REMOTE: {_socket(record.remote)} "
                f"JOBNAME: {record.jobname} USERID: {record.userid} RULE: {record.rule} "
                f"RC: {rc:4d} Initial Handshake",
            )
        self.lpar.note(f"{stack.name} CONNID {record.conn_id:08X} RC {rc}: {reason}")

    # --- outbound -----------------------------------------------------------------------------

    async def outbound(
        self,
        service: ServiceConfig,
        partner: PartnerConfig,
        hold: Callable[[tlsio.Stream, ConnRecord], Any],
    ) -> str:
        """One session of an outbound job to its partner. Returns how it ended."""
        stack = self.stacks[service.stack]
        address = self.lpar.config.address
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(partner.address, partner.host_port, local_addr=(address, 0)),
            10,
        )
        local = writer.get_extra_info("sockname") or (address, 0)
        record = stack.open(
            ConnRecord(
                conn_id=stack.new_id(),
                stack=stack.name,
                jobname=service.jobname,
                userid=service.userid,
                direction="Outbound",
                local=(address, local[1]),
                remote=(partner.address, partner.port),
                service=service.name,
                closer=writer.transport.abort,
            )
        )
        stream: tlsio.Stream | None = None
        try:
            stream = await self.secure(stack, service, record, reader, writer)
            if stream is None:
                return "failed"
            self.lpar.zert.protected(record)
            await hold(stream, record)
            return "ok"
        finally:
            stack.close(record)
            if stream is not None:
                with contextlib.suppress(Exception):
                    await stream.close()
            writer.transport.abort()


def _socket(address: tuple[str, int]) -> str:
    return f"{address[0]}..{address[1]}"


# --- partners -----------------------------------------------------------------------------------


@dataclass
class PartnerStats:
    accepted: int = 0
    tls13_rejected: int = 0
    failed: int = 0
    negotiated: dict[str, int] = field(default_factory=dict)


class PartnerServer:
    """A partner endpoint outside the data center, simulated in the same process."""

    def __init__(self, config: PartnerConfig, cert_file: str, ca_file: str) -> None:
        self.config = config
        self.cert_file = cert_file
        self.ca_file = ca_file
        self.server: asyncio.AbstractServer | None = None
        self.stats = PartnerStats()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.context: ssl.SSLContext | None = None
        if config.tls is not None:
            self.context = tlsio.server_context(
                config.tls.protocols,
                cert_file=cert_file,
                cafile=ca_file,
                client_auth=ssl.CERT_REQUIRED if config.tls.client_auth else ssl.CERT_NONE,
            )

    async def start(self) -> None:
        self.server = await asyncio.start_server(
            self._accept, self.config.address, self.config.host_port, backlog=1024
        )
        if not self.config.host_port:
            self.config.host_port = self.server.sockets[0].getsockname()[1]

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self.handle(reader, writer))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=2)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.accepted += 1
        try:
            first = await asyncio.wait_for(reader.read(tlsio.READ_SIZE), 30)
            if not first:
                return
            stream: tlsio.Stream
            if self.context is None:
                if tlsio.looks_like_tls(first):
                    self.stats.failed += 1
                    return
                stream = tlsio.PlainStream(reader, writer, first)
            else:
                if not tlsio.looks_like_tls(first):
                    self.stats.failed += 1
                    return
                assert self.config.tls is not None
                if self.config.tls.rejects_tls13_offer:
                    first = await self._whole_hello(reader, first)
                    offered = tlsio.client_hello_versions(first)
                    if offered is not None and 0x0304 in offered:
                        # Version intolerance: any ClientHello that offers TLS 1.3 is refused.
                        self.stats.tls13_rejected += 1
                        writer.write(tlsio.PROTOCOL_VERSION_ALERT)
                        with contextlib.suppress(OSError):
                            await writer.drain()
                        return
                try:
                    stream = await tlsio.TlsStream.handshake(
                        reader, writer, self.context, server_side=True, timeout=30, initial=first
                    )
                except (ssl.SSLError, OSError, TimeoutError):
                    self.stats.failed += 1
                    return
                protocol = stream.negotiated.protocol
                self.stats.negotiated[protocol] = self.stats.negotiated.get(protocol, 0) + 1
            while True:
                line = await asyncio.wait_for(stream.readline(), IDLE_SECONDS)
                if not line:
                    return
                await stream.write(b"%s %s" % (self.config.name.encode(), line))
        except (OSError, ssl.SSLError, TimeoutError, asyncio.IncompleteReadError):
            return
        finally:
            writer.transport.abort()

    @staticmethod
    async def _whole_hello(reader: asyncio.StreamReader, data: bytes) -> bytes:
        """Reads on until the ClientHello is complete (bounded: 16 reads, 64 KiB)."""
        for _ in range(16):
            if tlsio.client_hello_versions(data) is not None or len(data) > 65536:
                break
            more = await asyncio.wait_for(reader.read(tlsio.READ_SIZE), 10)
            if not more:
                break
            data += more
        return data
