"""The active TLS probe: what does each service port accept, and which certificate it shows.

For TLS 1.3 and the certificate chain the probe uses sslyze (five suites to try, and its
certificate parsing). For TLS 1.2 and older it enumerates suites the way a server's choice
reveals them: offer every suite, note the one the server picks, offer the rest again, until
the server refuses. That costs one handshake per accepted suite plus one, instead of one
per suite in the registry (sslyze's way: about 400 handshakes a port), which is what makes
a 30-port verification fit in seconds. Suites the local OpenSSL cannot offer (RC4, DES,
export; OpenSSL 3 removed them) cannot be detected this way; the probe says which it
could offer.

Results are plain data (JSON-ready), stored raw on the verification run and hashed like
the command outputs. A port that does not speak TLS at all is reported as such.

The probe deliberately offers what a policy refuses (TLS 1.0, weak suites), and AT-TLS logs
each refusal as EZD1286I, naming the client's socket as REMOTE. So every result lists the
local (source) socket of every TCP connection the probe opened to that port (`sockets`:
our own handshakes, and sslyze's, observed where sslyze opens them), and verify.py counts
the EZD1286I lines of those sockets as the probe's refusals, not as the service's failures.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sslyze import (
    ScanCommand,
    Scanner,
    ServerNetworkConfiguration,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanStatusEnum,
)
from sslyze.connection_helpers import tls_connection as sslyze_connections

from attls import ciphers
from attls.ciphers import Protocol
from attls.reports.syslog import ProbeSocket, address_port
from fleet import certificates

# Below TLS 1.2, in the order attls.ciphers.Protocol declares them (oldest first).
DEPRECATED = tuple(p.value for p in Protocol if p not in (Protocol.TLSV1_2, Protocol.TLSV1_3))
_LEGACY_VERSIONS = (
    ("TLSv1", ssl.TLSVersion.TLSv1),
    ("TLSv1.1", ssl.TLSVersion.TLSv1_1),
    ("TLSv1.2", ssl.TLSVersion.TLSv1_2),
)


@dataclass(frozen=True)
class ProbeTarget:
    """A service port: `zos_port` as the policy knows it, reached at host:port."""

    key: str  # e.g. the service name
    zos_port: int
    host: str
    port: int


def socket_text(address: Any) -> str:
    """`127.0.0.1..40312`: a socket address as AT-TLS messages write it (ip..port)."""
    return f"{address[0]}..{address[1]}"


@dataclass
class SocketLog:
    """The local (source) socket of every TCP connection the probe opened, per target key.

    Written from the probe's threads and sslyze's, hence the lock.
    """

    opened: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, key: str, sock: socket.socket, tool: str) -> None:
        try:
            source = socket_text(sock.getsockname())
        except OSError:  # closed under us: it was connected, but its address is gone
            source = "?"
        with self._lock:
            self.opened.setdefault(key, []).append({"source": source, "tool": tool})

    def recorder(self, key: str, tool: str) -> Callable[[socket.socket], None]:
        return lambda sock: self.record(key, sock, tool)

    def of(self, key: str) -> list[dict[str, str]]:
        with self._lock:
            return list(self.opened.get(key, []))


# sslyze opens every connection of a direct scan in one function of its own; wrapping it
# (once, for the whole process) is how the probe learns the source socket of each of them.
# A probe registers a listener for its targets' addresses while its scan runs.
_SslyzeListener = Callable[[Any, socket.socket], None]
_sslyze_listeners: list[_SslyzeListener] = []
_sslyze_lock = threading.Lock()


def _observe_sslyze_connections() -> bool:
    """Wraps sslyze's socket opener; False when this sslyze has no such seam."""
    original = getattr(sslyze_connections, "_open_socket_for_direct_connection", None)
    if original is None:
        return False
    if getattr(original, "observed_by_probe", False):
        return True

    def opened(server_location: Any, network_timeout: int) -> socket.socket:
        sock: socket.socket = original(server_location, network_timeout)
        with _sslyze_lock:
            listeners = list(_sslyze_listeners)
        for listener in listeners:
            listener(server_location, sock)
        return sock

    opened.observed_by_probe = True  # type: ignore[attr-defined]
    sslyze_connections._open_socket_for_direct_connection = opened
    return True


SSLYZE_OBSERVED = _observe_sslyze_connections()


def _offerable() -> dict[str, str]:
    """OpenSSL name -> 4-character code of every pre-TLS 1.3 suite the local OpenSSL offers."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    offered: dict[str, str] = {}
    for entry in context.get_ciphers():
        if entry["protocol"] == "TLSv1.3":
            continue
        try:
            suite = ciphers.by_openssl_name(entry["name"])
        except KeyError:
            continue
        offered[entry["name"]] = suite.code
    return offered


OFFERABLE = _offerable()


def _context(version: ssl.TLSVersion, suites: list[str]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = context.maximum_version = version
    context.set_ciphers(":".join(suites) + ":@SECLEVEL=0")
    return context


def _handshake(
    target: ProbeTarget,
    context: ssl.SSLContext,
    timeout: float,
    on_connect: Callable[[socket.socket], None] | None = None,
) -> str | None:
    """The OpenSSL name of the suite the server picked, or None when it refused."""
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout) as raw:
            if on_connect is not None:
                on_connect(raw)
            with context.wrap_socket(raw, server_hostname=target.host) as tls:
                picked = tls.cipher()
                return picked[0] if picked else None
    except (ssl.SSLError, OSError):
        return None


def _legacy_suites(
    target: ProbeTarget, timeout: float, sockets: SocketLog | None = None
) -> dict[str, list[str]]:
    """Accepted suites per version up to TLS 1.2, in the server's order of preference."""
    accepted: dict[str, list[str]] = {}
    for label, version in _LEGACY_VERSIONS:
        remaining = list(OFFERABLE)
        found: list[str] = []
        while remaining:
            try:
                context = _context(version, remaining)
            except ssl.SSLError:
                break  # none of the remaining suites exists for this version here
            picked = _handshake(
                target,
                context,
                timeout,
                sockets.recorder(target.key, "enumeration") if sockets is not None else None,
            )
            if picked is None or picked not in remaining:
                break
            found.append(OFFERABLE[picked])
            remaining.remove(picked)
        if found:
            accepted[label] = found
    return accepted


def speaks_tls(
    host: str,
    port: int,
    *,
    timeout: float,
    on_connect: Callable[[socket.socket], None] | None = None,
    on_handshake: Callable[[], None] | None = None,
) -> tuple[bool, str]:
    """Whether the port answers a ClientHello as a TLS server would (even with an alert).

    `on_handshake` is called the moment a handshake completed (not on an alert)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            if on_connect is not None:
                on_connect(raw)
            with context.wrap_socket(raw, server_hostname=host):
                if on_handshake is not None:
                    on_handshake()
                return True, ""
    except ssl.SSLEOFError:
        return False, "the server closed the connection instead of answering the ClientHello"
    except ssl.SSLError as error:
        # An alert (protocol version, handshake failure) is a TLS server saying no; a record
        # that is not TLS at all is a cleartext server answering.
        if error.reason in (
            "WRONG_VERSION_NUMBER",
            "RECORD_LAYER_FAILURE",
            "PACKET_LENGTH_TOO_LONG",
        ):
            return False, "the server answered in cleartext"
        return True, ""
    except TimeoutError:
        return False, f"no TLS answer within {timeout:.0f} s"
    except OSError as error:
        return False, f"connection failed: {error}"


def _certificate(cert: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "X"),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "fingerprint": cert.fingerprint(hashes.SHA256()).hex(),
    }


def not_probed(zos_port: int, address: str, reason: str) -> dict[str, Any]:
    """The result of a port the probe could not examine: it says nothing about TLS.

    `tls` is None (not False: nothing was learnt), and `not_probed` says why. One such port
    never stops the probe of the others.
    """
    return {
        "zos_port": zos_port,
        "address": address,
        "tls": None,
        "protocols": [],
        "deprecated": [],
        "ciphers": {},
        "certificate": None,
        "error": f"not probed: {reason}",
        "not_probed": reason,
        "sockets": [],
    }


# What speaks_tls says when the port could not be reached at all: no answer, TLS or not.
_UNREACHABLE = ("connection failed", "no TLS answer within")


def _failed(target: ProbeTarget, error: str, sockets: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "zos_port": target.zos_port,
        "address": f"{target.host}:{target.port}",
        "tls": False,
        "protocols": [],
        "deprecated": [],
        "ciphers": {},
        "certificate": None,
        "error": error,
        "sockets": sockets,
    }


def _tls13_and_certificates(
    targets: Sequence[ProbeTarget], timeout: float, sockets: SocketLog | None = None
) -> dict[str, dict[str, Any]]:
    """sslyze's TLS 1.3 suites and certificate chain for each target."""
    by_address: dict[tuple[str, int], str] = {}
    for target in targets:
        by_address.setdefault((target.host, target.port), target.key)

    def listener(location: Any, sock: socket.socket) -> None:
        key = by_address.get((location.ip_address, location.port))
        if key is not None and sockets is not None:
            sockets.record(key, sock, "sslyze")

    with _sslyze_lock:
        _sslyze_listeners.append(listener)
    try:
        return _sslyze_scan(targets, timeout)
    finally:
        with _sslyze_lock:
            _sslyze_listeners.remove(listener)


def _sslyze_scan(targets: Sequence[ProbeTarget], timeout: float) -> dict[str, dict[str, Any]]:
    scanner = Scanner(per_server_concurrent_connections_limit=2, concurrent_server_scans_limit=32)
    by_uuid: dict[Any, ProbeTarget] = {}
    requests = []
    for target in targets:
        request = ServerScanRequest(
            server_location=ServerNetworkLocation(target.host, target.port, ip_address=target.host),
            network_configuration=ServerNetworkConfiguration(
                tls_server_name_indication=target.host, network_timeout=int(max(1, timeout))
            ),
            scan_commands={ScanCommand.TLS_1_3_CIPHER_SUITES, ScanCommand.CERTIFICATE_INFO},
        )
        by_uuid[request.uuid] = target
        requests.append(request)
    found: dict[str, dict[str, Any]] = {}
    if not requests:
        return found
    scanner.queue_scans(requests)
    for result in scanner.get_results():
        target = by_uuid[result.uuid]
        entry: dict[str, Any] = {"tls13": [], "certificate": None}
        if result.scan_status == ServerScanStatusEnum.COMPLETED:
            attempt = result.scan_result.tls_1_3_cipher_suites
            if attempt.result is not None:
                entry["tls13"] = [
                    _code(s.cipher_suite.name) for s in attempt.result.accepted_cipher_suites
                ]
            info = result.scan_result.certificate_info
            if info.result is not None and info.result.certificate_deployments:
                chain = info.result.certificate_deployments[0].received_certificate_chain
                if chain:
                    entry["certificate"] = _certificate(chain[0]) | {
                        "details": certificates.facts(chain)
                    }
        found[target.key] = entry
    return found


def _code(name: str) -> str:
    try:
        return ciphers.by_name(name).code
    except KeyError:
        return name


def probe(targets: Sequence[ProbeTarget], *, timeout: float = 2.0) -> dict[str, dict[str, Any]]:
    """{key: {"zos_port", "tls", "protocols", "deprecated", "ciphers": {protocol: [codes]},
    "certificate", "error", "sockets": [{"source": "ip..port", "tool"}]}} for every target.

    `sockets` lists every TCP connection the probe opened to the target, whichever part of
    the probe opened it (`speaks_tls`, `enumeration`, `sslyze`), by its local socket.
    """
    results: dict[str, dict[str, Any]] = {}
    if not targets:
        return results
    sockets = SocketLog()
    timings: dict[str, dict[str, float]] = {}
    with ThreadPoolExecutor(max_workers=16) as pool:
        spoken = dict(
            zip(
                targets,
                pool.map(lambda t: _timed_speaks_tls(t, timeout, sockets, timings), targets),
                strict=True,
            )
        )
        tls_targets = [t for t in targets if spoken[t][0]]
        legacy = dict(
            zip(
                tls_targets,
                pool.map(lambda t: _legacy_suites(t, timeout, sockets), tls_targets),
                strict=True,
            )
        )
    modern = _tls13_and_certificates(tls_targets, timeout, sockets)
    now = dt.datetime.now(dt.UTC).isoformat()
    for target in targets:
        speaks, reason = spoken[target]
        if not speaks and reason.startswith(_UNREACHABLE):
            # Refused, reset or silent: nothing answered, so nothing can be said about TLS.
            results[target.key] = not_probed(
                target.zos_port, f"{target.host}:{target.port}", reason
            ) | {"sockets": sockets.of(target.key)}
            continue
        if not speaks:
            results[target.key] = _failed(
                target, f"no TLS on this port ({reason})", sockets.of(target.key)
            ) | timings.get(target.key, {})
            continue
        suites = dict(legacy[target])
        extra = modern.get(target.key, {})
        if extra.get("tls13"):
            suites["TLSv1.3"] = extra["tls13"]
        protocols = [p.value for p in Protocol if p.value in suites]
        results[target.key] = {
            "zos_port": target.zos_port,
            "address": f"{target.host}:{target.port}",
            # It answered as a TLS server (speaks_tls), even if it then completed no handshake:
            # AT-TLS refusing every client (an expired certificate, no common suite) is not a
            # port that "does not speak TLS", and must not read as cleartext.
            "tls": True,
            "protocols": protocols,
            "deprecated": [p for p in protocols if p in DEPRECATED],
            "ciphers": suites,
            "certificate": extra.get("certificate"),
            "error": ""
            if protocols
            else "a TLS server, but it completed no handshake the probe offered",
            "probed_at": now,
            "sockets": sockets.of(target.key),
            # The first connection's set-up: TCP connect, then the TLS handshake to its end
            # (rollouts' added-latency gate compares them with the inventory's).
            **timings.get(target.key, {}),
        }
    return results


def probe_sockets(probe_json: dict[str, Any]) -> set[ProbeSocket]:
    """Every connection a probe's results (fleet/probe.py) list, as (address, port, z/OS port)."""
    found: set[ProbeSocket] = set()
    for result in (probe_json or {}).values():
        zos_port = result.get("zos_port")
        if not isinstance(zos_port, int):
            continue
        for entry in result.get("sockets") or []:
            source = address_port(str(entry.get("source", "")))
            if source is not None:
                found.add((source[0], source[1], zos_port))
    return found


def _timed_speaks_tls(
    target: ProbeTarget,
    timeout: float,
    sockets: SocketLog,
    timings: dict[str, dict[str, float]],
) -> tuple[bool, str]:
    """speaks_tls, timing the TCP connect and what follows it (the handshake) apart.

    `connect_ms` is kept whenever the port accepted the connection (a cleartext port too: it
    is the "before" of a service that AT-TLS will secure); `handshake_ms` only when the
    handshake completed.
    """
    record = sockets.recorder(target.key, "speaks_tls")
    marks: dict[str, float] = {}

    def on_connect(sock: socket.socket) -> None:
        marks["connected"] = time.perf_counter()
        record(sock)

    def on_handshake() -> None:
        marks["handshake"] = time.perf_counter()

    started = time.perf_counter()
    speaks, reason = speaks_tls(
        target.host,
        target.port,
        timeout=timeout,
        on_connect=on_connect,
        on_handshake=on_handshake,
    )
    if "connected" in marks:
        entry = {"connect_ms": round((marks["connected"] - started) * 1000, 3)}
        if "handshake" in marks:
            entry["handshake_ms"] = round((marks["handshake"] - marks["connected"]) * 1000, 3)
        timings[target.key] = entry
    return speaks, reason
