"""The active pre-check: does a partner accept the ClientHello a candidate policy will send?

A prediction calls a partner *untested* when z/OS, as the TLS client, will offer something
the partner has never been offered (typically TLS 1.3). The pre-check settles it before the
change: ONE handshake per partner with exactly the candidate's client offer, and records
accepted (with the version and suite the partner chose) or refused (with the reason).

The ClientHello is built with nassl, the OpenSSL binding the probe's sslyze uses, because
Python's `ssl` cannot set TLS 1.3 suites or groups. It carries the rule's protocol versions
(holes included), its TLS 1.2-and-older suites and its TLS 1.3 suites in policy order, its
groups (ClientKeyShareGroups, then ClientECurves) and its signature pairs. What OpenSSL cannot
express exactly is named in each result's `offer_limits`: OpenSSL sends one supported-groups
list for both protocols and a TLS 1.3 key share for the first group only, and signature
pairs it has no (hash, key) form for are left to OpenSSL's defaults.

Bounded everywhere, because it reaches outside the data center: at most `max_partners`
partners per run, a timeout per handshake, a deadline for the whole run, and only to
addresses on the LPAR connection's allow-list (`LparConnection.precheck_allowlist`) or on
loopback (the lab). Names are refused: only IP literals, so no lookup can redirect it.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

from nassl.ephemeral_key_info import OpenSslEcNidEnum
from nassl.ssl_client import (
    ClientCertificateRequested,
    OpenSslDigestNidEnum,
    OpenSslEvpPkeyEnum,
    OpenSslVerifyEnum,
    OpenSslVersionEnum,
    SslClient,
)

from attls import ciphers, tlsgroups
from attls.ciphers import Protocol
from attls.effective import EffectiveSettings

if TYPE_CHECKING:
    from fleet.models import LparConnection

MAX_PARTNERS: Final = 20
DEFAULT_TIMEOUT: Final = 3.0  # seconds per handshake (connect included)
DEFAULT_DEADLINE: Final = 10.0  # seconds for the whole run
_WORKERS: Final = 8

# The versions OpenSSL speaks, and the options that cut one out of a range (OpenSSL's
# SSL_OP_NO_* values, which Python's ssl exposes under the same names).
_NO_OPTION: Final[dict[Protocol, int]] = {
    Protocol.TLSV1: int(ssl.OP_NO_TLSv1),
    Protocol.TLSV1_1: int(ssl.OP_NO_TLSv1_1),
    Protocol.TLSV1_2: int(ssl.OP_NO_TLSv1_2),
    Protocol.TLSV1_3: int(ssl.OP_NO_TLSv1_3),
}
_SSLV3_OFF: Final = int(ssl.OP_NO_SSLv3)
# NamedGroup code (attls.tlsgroups) -> OpenSSL NID.
_GROUP_NID: Final[dict[str, OpenSslEcNidEnum]] = {
    "0019": OpenSslEcNidEnum.SECP192R1,
    "0021": OpenSslEcNidEnum.SECP224R1,
    "0023": OpenSslEcNidEnum.SECP256R1,
    "0024": OpenSslEcNidEnum.SECP384R1,
    "0025": OpenSslEcNidEnum.SECP521R1,
    "0029": OpenSslEcNidEnum.X25519,
    "0030": OpenSslEcNidEnum.X448,
}
# Signature pair `hhss` (TLS 1.2 HashAlgorithm, SignatureAlgorithm) -> OpenSSL (digest, key).
_HASH_NID: Final = {
    "02": OpenSslDigestNidEnum.SHA1,
    "03": OpenSslDigestNidEnum.SHA224,
    "04": OpenSslDigestNidEnum.SHA256,
    "05": OpenSslDigestNidEnum.SHA384,
    "06": OpenSslDigestNidEnum.SHA512,
}
_KEY_NID: Final = {
    "01": OpenSslEvpPkeyEnum.RSA,
    "02": OpenSslEvpPkeyEnum.DSA,
    "03": OpenSslEvpPkeyEnum.EC,
}
_PROTOCOL_LINE: Final = re.compile(r"Protocol\s*:\s*(\S+)")


class PrecheckError(ValueError):
    """A pre-check that must not run as asked (too many partners, an offer nothing speaks)."""


@dataclass(frozen=True)
class ClientOffer:
    """What z/OS will put in its ClientHello: versions On, suites, groups, signature pairs."""

    versions: tuple[Protocol, ...]
    suites: tuple[str, ...]  # 4-hex V3 cipher codes in policy order, TLS 1.3 ones included
    groups: tuple[str, ...] = ()  # NamedGroup codes; empty: OpenSSL's defaults
    signature_pairs: tuple[str, ...] = ()  # `hhss` codes; empty: OpenSSL's defaults

    @classmethod
    def of(cls, settings: EffectiveSettings) -> ClientOffer:
        """The offer of a rule's effective settings (attls.effective resolves the defaults)."""
        groups: list[str] = []
        if Protocol.TLSV1_3 in settings.enabled_protocols:
            groups += settings.client_key_share_groups
        groups += [g for g in settings.client_ecurves if g not in groups]
        return cls(
            tuple(settings.enabled_protocols),
            tuple(settings.v3_cipher_suites),
            tuple(groups),
            tuple(settings.signature_pairs),
        )

    def describe(self) -> str:
        text = f"{', '.join(v.value for v in self.versions)}; suites {' '.join(self.suites)}"
        if self.groups:
            text += f"; groups {' '.join(tlsgroups.group_name(g) for g in self.groups)}"
        if self.signature_pairs:
            text += f"; signature pairs {' '.join(self.signature_pairs)}"
        return text


@dataclass(frozen=True)
class _Hello:
    """An offer in OpenSSL's terms, checked once per run."""

    options: int
    cipher_list: str
    ciphersuites: str
    groups: tuple[OpenSslEcNidEnum, ...]
    sigalgs: tuple[tuple[OpenSslDigestNidEnum, OpenSslEvpPkeyEnum], ...]
    limits: tuple[str, ...]


@dataclass(frozen=True)
class PrecheckTarget:
    """A partner as z/OS reaches it: `key` names it (partner or service), address and port."""

    key: str
    address: str
    port: int


@dataclass
class PrecheckResult:
    key: str
    address: str
    port: int
    outcome: str  # accepted | refused | not-attempted | unreachable
    reason: str
    version: str | None = None
    suite: str | None = None  # 4-hex code the partner chose
    seconds: float = 0.0
    offer: str = ""
    offer_limits: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["offer_limits"] = list(self.offer_limits)
        return data


def parse_allowlist(
    entries: Iterable[str],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Addresses and networks (`192.0.2.10`, `198.51.100.0/24`); ValueError names a bad one."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network") from None
    return tuple(networks)


def refusal(
    address: str, allowlist: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> str | None:
    """Why the pre-check may not connect to `address`, or None when it may."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"{address!r} is not an IP address; the pre-check connects to addresses only"
    if ip.is_loopback or any(ip in network for network in allowlist):
        return None
    return f"{address} is not on this LPAR connection's pre-check allow-list"


def hello(offer: ClientOffer) -> _Hello:
    """The offer as OpenSSL settings; PrecheckError when nothing of it can be spoken."""
    limits = []
    legacy, tls13 = [], []
    for code in offer.suites:
        suite = ciphers.get(code)
        if suite is None or suite.openssl_name is None:
            continue
        (tls13 if suite.tls13_only else legacy).append(suite.openssl_name)
    speakable = [v for v in _NO_OPTION if v in offer.versions]
    if Protocol.TLSV1_3 in speakable and not tls13:
        # Without a TLS 1.3 suite in the list a TLS 1.3 handshake cannot be agreed (inferred;
        # lparsim models it so): the ClientHello leaves TLS 1.3 out.
        speakable.remove(Protocol.TLSV1_3)
        limits.append("TLSv1.3 is On but no TLS 1.3 suite is listed: not offered (inferred)")
    if not speakable:
        raise PrecheckError(f"the offer has no version OpenSSL can speak ({offer.describe()})")
    options = _SSLV3_OFF | sum(_NO_OPTION[v] for v in _NO_OPTION if v not in speakable)
    if any(v is not Protocol.TLSV1_3 for v in speakable) and not legacy:
        raise PrecheckError(
            "the offer lists no suite OpenSSL knows for"
            f" {', '.join(v.value for v in speakable if v is not Protocol.TLSV1_3)}"
        )
    groups = tuple(_GROUP_NID[g] for g in offer.groups if g in _GROUP_NID)
    if len(groups) < len(offer.groups):
        unknown = [g for g in offer.groups if g not in _GROUP_NID]
        limits.append(f"groups {' '.join(unknown)} unknown to OpenSSL here, left out")
    if groups and Protocol.TLSV1_3 in speakable:
        limits.append(
            "one supported-groups list for every version; a TLS 1.3 key share for"
            f" {tlsgroups.group_name(offer.groups[0])} only"
        )
    sigalgs = tuple(
        (_HASH_NID[pair[:2]], _KEY_NID[pair[2:]])
        for pair in offer.signature_pairs
        if pair[:2] in _HASH_NID and pair[2:] in _KEY_NID
    )
    if len(sigalgs) < len(offer.signature_pairs):
        limits.append(
            "signature pairs without an OpenSSL (hash, key) form (RSASSA-PSS) left to OpenSSL;"
            " all of them are OpenSSL's defaults"
        )
        sigalgs = ()
    return _Hello(
        options=options,
        # @SECLEVEL=0: the policy alone decides what is offered, as on z/OS.
        cipher_list=":".join(legacy) + ":@SECLEVEL=0" if legacy else "",
        ciphersuites=":".join(tls13),
        groups=groups,
        sigalgs=sigalgs,
        limits=tuple(limits),
    )


def _client(sock: socket.socket, offer: _Hello) -> SslClient:
    client = SslClient(
        underlying_socket=sock,
        ssl_version=OpenSslVersionEnum.SSLV23,  # every version, then cut by options
        ssl_verify=OpenSslVerifyEnum.NONE,
        # Whether the partner accepts the offer is the question; a request for a client
        # certificate is answered with none, as AT-TLS does without a client certificate.
        ignore_client_authentication_requests=True,
    )
    # SslClient has no public way to set options; its SSL object does (SSL_set_options).
    client._ssl.set_options(offer.options)
    if offer.cipher_list:  # empty when only TLS 1.3 is on: the options rule the rest out
        client.set_cipher_list(offer.cipher_list)
    if offer.ciphersuites:
        client.set_ciphersuites(offer.ciphersuites)
    if offer.groups:
        client.set_groups(list(offer.groups))
    if offer.sigalgs:
        client.set_signature_algorithms(list(offer.sigalgs))
    return client


def _reason(error: BaseException) -> str:
    text = str(error.args[0]) if error.args else str(error)
    alert = re.search(r"(?:sslv3|tlsv1|tlsv13) alert ([a-z ]+)", text)
    if alert:
        name = alert.group(1).strip().replace(" ", "_")
        return f"the partner refused the ClientHello with a fatal {name} alert"
    if isinstance(error, TimeoutError):
        return "no answer to the ClientHello within the handshake timeout"
    if "peer did not send data back" in text or isinstance(error, ConnectionError):
        return "the partner closed the connection during the handshake"
    return f"the handshake failed: {text.strip()}"


# Called with each target and the socket opened to it, before the ClientHello: a caller whose
# handshakes a stack logs (the lab replay) records their source sockets.
OnConnect = Callable[[PrecheckTarget, socket.socket], None]


def _one(
    target: PrecheckTarget,
    offer: _Hello,
    timeout: float,
    described: str,
    on_connect: OnConnect | None = None,
) -> PrecheckResult:
    started = time.monotonic()

    def result(outcome: str, reason: str, **found: Any) -> PrecheckResult:
        return PrecheckResult(
            target.key,
            target.address,
            target.port,
            outcome,
            reason,
            seconds=round(time.monotonic() - started, 3),
            offer=described,
            offer_limits=offer.limits,
            **found,
        )

    try:
        sock = socket.create_connection((target.address, target.port), timeout=timeout)
    except OSError as error:
        return result("unreachable", f"no TCP connection: {error}")
    try:
        if on_connect is not None:
            on_connect(target, sock)
        sock.settimeout(max(0.05, timeout - (time.monotonic() - started)))
        client = _client(sock, offer)
        try:
            client.do_handshake()
        except ClientCertificateRequested:
            return result("refused", "the partner requires a client certificate")
        except Exception as error:  # nassl raises OpenSSLError, IOError, socket errors
            return result("refused", _reason(error))
        name = client.get_current_cipher_name()
        try:
            suite = ciphers.by_openssl_name(name).code
        except KeyError:
            suite = name
        found = _PROTOCOL_LINE.search(client.get_session().as_text())
        version = found.group(1) if found else None
        return result(
            "accepted",
            f"the partner accepted the offer and chose {version} with {suite}",
            version=version,
            suite=suite,
        )
    finally:
        sock.close()


def precheck(
    targets: Sequence[PrecheckTarget],
    offer: ClientOffer,
    *,
    allowlist: Iterable[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float = DEFAULT_DEADLINE,
    max_partners: int = MAX_PARTNERS,
    on_connect: OnConnect | None = None,
) -> list[PrecheckResult]:
    """One handshake per target with exactly `offer`, in parallel, within `deadline` seconds.

    Targets off the allow-list are not attempted (their result says why); more than
    `max_partners` targets, or an offer nothing can speak, raise PrecheckError before any
    connection is opened. Results keep the targets' order.
    """
    if len(targets) > max_partners:
        raise PrecheckError(
            f"{len(targets)} partners asked; a pre-check covers at most {max_partners}"
        )
    if timeout <= 0 or deadline <= 0:
        raise PrecheckError("the handshake timeout and the deadline must be positive")
    networks = parse_allowlist(allowlist)
    prepared = hello(offer)
    described = offer.describe()
    started = time.monotonic()
    results: list[PrecheckResult | None] = [None] * len(targets)
    futures: dict[Future[PrecheckResult], int] = {}
    pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="precheck")
    try:
        for index, target in enumerate(targets):
            why = refusal(target.address, networks)
            if why is not None:
                results[index] = PrecheckResult(
                    target.key,
                    target.address,
                    target.port,
                    "not-attempted",
                    why,
                    offer=described,
                    offer_limits=prepared.limits,
                )
                continue
            futures[
                pool.submit(_one, target, prepared, min(timeout, deadline), described, on_connect)
            ] = index
        pending = set(futures)
        while pending:
            left = deadline - (time.monotonic() - started)
            if left <= 0:
                break
            done, pending = wait(pending, timeout=left, return_when=FIRST_COMPLETED)
            for future in done:
                results[futures[future]] = future.result()
        for future in pending:
            future.cancel()
            index = futures[future]
            target = targets[index]
            results[index] = PrecheckResult(
                target.key,
                target.address,
                target.port,
                "unreachable",
                f"not finished within the pre-check deadline of {deadline:g} s",
                offer=described,
                offer_limits=prepared.limits,
            )
    finally:
        # Running handshakes end by their own socket timeout; do not wait for them here.
        pool.shutdown(wait=False, cancel_futures=True)
    return [r for r in results if r is not None]


def precheck_for_connection(
    connection: LparConnection,
    targets: Sequence[PrecheckTarget],
    offer: ClientOffer,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float = DEFAULT_DEADLINE,
) -> list[PrecheckResult]:
    """The pre-check from one LPAR's point of view: its connection's allow-list applies."""
    return precheck(
        targets,
        offer,
        allowlist=connection.precheck_allowlist or (),
        timeout=timeout,
        deadline=deadline,
    )
