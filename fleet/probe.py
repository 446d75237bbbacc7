"""The active TLS probe: what does each service port accept, and which certificate it shows.

sslyze connects to every port and tries each protocol version with its cipher suites, then
reads the certificate chain. Results are plain data (JSON-ready) so they are stored raw on
the verification run and hashed like the command outputs. A port that does not speak TLS
at all (cleartext) is reported as such, not as an error.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sslyze import (
    ScanCommand,
    Scanner,
    ServerHostnameCouldNotBeResolved,
    ServerNetworkConfiguration,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanStatusEnum,
)

from attls import ciphers

_VERSIONS = (
    (ScanCommand.TLS_1_0_CIPHER_SUITES, "tls_1_0_cipher_suites", "TLSv1"),
    (ScanCommand.TLS_1_1_CIPHER_SUITES, "tls_1_1_cipher_suites", "TLSv1.1"),
    (ScanCommand.TLS_1_2_CIPHER_SUITES, "tls_1_2_cipher_suites", "TLSv1.2"),
    (ScanCommand.TLS_1_3_CIPHER_SUITES, "tls_1_3_cipher_suites", "TLSv1.3"),
)
DEPRECATED = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1")


@dataclass(frozen=True)
class ProbeTarget:
    """A service port: `zos_port` as the policy knows it, reached at host:port."""

    key: str  # e.g. the service name
    zos_port: int
    host: str
    port: int


def _code(name: str) -> str:
    suite = None
    try:
        suite = ciphers.by_name(name)
    except KeyError:
        suite = None
    return suite.code if suite is not None else name


def _certificate(cert: x509.Certificate) -> dict[str, Any]:
    not_after = cert.not_valid_after_utc
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "X"),
        "not_after": not_after.isoformat(),
        "fingerprint": cert.fingerprint(hashes.SHA256()).hex(),
    }


def probe(targets: Sequence[ProbeTarget], *, timeout: float = 2.0) -> dict[str, dict[str, Any]]:
    """{key: {"zos_port", "tls", "protocols", "ciphers": {protocol: [codes]}, "certificate",
    "error"}} for every target."""
    if not targets:
        return {}
    scanner = Scanner(per_server_concurrent_connections_limit=8, concurrent_server_scans_limit=32)
    by_uuid: dict[Any, ProbeTarget] = {}
    requests: list[ServerScanRequest] = []
    results: dict[str, dict[str, Any]] = {}
    for target in targets:
        speaks, reason = speaks_tls(target.host, target.port, timeout=timeout)
        if not speaks:
            # sslyze would spend its whole timeout per version on a cleartext port.
            results[target.key] = _failed(target, f"no TLS on this port ({reason})")
            continue
        try:
            location = ServerNetworkLocation(target.host, target.port, ip_address=target.host)
        except ServerHostnameCouldNotBeResolved as error:
            results[target.key] = _failed(target, f"cannot resolve {target.host}: {error}")
            continue
        request = ServerScanRequest(
            server_location=location,
            network_configuration=ServerNetworkConfiguration(
                tls_server_name_indication=target.host, network_timeout=int(max(1, timeout))
            ),
            scan_commands={command for command, _, _ in _VERSIONS} | {ScanCommand.CERTIFICATE_INFO},
        )
        by_uuid[request.uuid] = target
        requests.append(request)
    if requests:
        scanner.queue_scans(requests)
        for result in scanner.get_results():
            target = by_uuid[result.uuid]
            results[target.key] = _result(target, result)
    return results


def speaks_tls(host: str, port: int, *, timeout: float) -> tuple[bool, str]:
    """Whether the port answers a ClientHello as a TLS server would (even with an alert)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return True, ""
    except ssl.SSLEOFError:
        return False, "the server closed the connection instead of answering the ClientHello"
    except ssl.SSLError as error:
        # An alert (protocol version, handshake failure) is a TLS server saying no; a record
        # that is not TLS at all is a cleartext server answering.
        if "WRONG_VERSION_NUMBER" in error.reason if error.reason else False:
            return False, "the server answered in cleartext"
        if error.reason in ("RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"):
            return False, "the server answered in cleartext"
        return True, ""
    except TimeoutError:
        return False, f"no TLS answer within {timeout:.0f} s"
    except (ConnectionError, OSError) as error:
        return False, f"connection failed: {error}"


def _failed(target: ProbeTarget, error: str) -> dict[str, Any]:
    return {
        "zos_port": target.zos_port,
        "address": f"{target.host}:{target.port}",
        "tls": False,
        "protocols": [],
        "ciphers": {},
        "certificate": None,
        "error": error,
    }


def _result(target: ProbeTarget, result: Any) -> dict[str, Any]:
    if result.scan_status != ServerScanStatusEnum.COMPLETED:
        error = result.connectivity_error_trace
        reason = str(result.connectivity_result or "") or (
            error.exc_type.__name__ if error is not None else "no TLS handshake"
        )
        return _failed(target, f"no TLS on this port ({reason})")
    protocols: list[str] = []
    suites: dict[str, list[str]] = {}
    attempts = result.scan_result
    for _, attribute, protocol in _VERSIONS:
        attempt = getattr(attempts, attribute)
        if attempt.result is None:
            continue
        accepted = attempt.result.accepted_cipher_suites
        if accepted:
            protocols.append(protocol)
            suites[protocol] = [_code(suite.cipher_suite.name) for suite in accepted]
    certificate = None
    info = attempts.certificate_info
    if info.result is not None and info.result.certificate_deployments:
        chain = info.result.certificate_deployments[0].received_certificate_chain
        if chain:
            certificate = _certificate(chain[0])
    return {
        "zos_port": target.zos_port,
        "address": f"{target.host}:{target.port}",
        "tls": bool(protocols),
        "protocols": protocols,
        "deprecated": [p for p in protocols if p in DEPRECATED],
        "ciphers": suites,
        "certificate": certificate,
        "error": "",
        "probed_at": dt.datetime.now(dt.UTC).isoformat(),
    }
