"""The active pre-check: does a partner accept the ClientHello a candidate policy will send?

A prediction calls a partner *untested* when z/OS, as the TLS client, will offer something
the partner has never been offered (typically TLS 1.3). The pre-check settles it before the
change: ONE handshake per partner with exactly the candidate's client offer — its protocol
versions (holes included) and its TLS 1.2-and-older suites in policy order — and records
accepted (with the version and suite the partner chose) or refused (with the reason).

Bounded everywhere, because it reaches outside the data center: at most `max_partners`
partners per run, a timeout per handshake, a deadline for the whole run, and only to
addresses on the LPAR connection's allow-list (`LparConnection.precheck_allowlist`) or on
loopback (the lab). Names are refused: only IP literals, so no lookup can redirect it.

What Python's `ssl` cannot set, the pre-check cannot offer exactly, and every result says so
in `offer_limits`: TLS 1.3 suites (OpenSSL's defaults are offered; no
SSL_CTX_set_ciphersuites in `ssl`) and key-share groups / curves (no SSL_CTX_set1_groups).
A partner that refuses an offer for a TLS 1.3 suite or group reason can therefore be missed.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

from attls import ciphers
from attls.ciphers import Protocol
from attls.effective import EffectiveSettings

if TYPE_CHECKING:
    from fleet.models import LparConnection

MAX_PARTNERS: Final = 20
DEFAULT_TIMEOUT: Final = 3.0  # seconds per handshake (connect included)
DEFAULT_DEADLINE: Final = 10.0  # seconds for the whole run
_WORKERS: Final = 8

# Python's ssl speaks these; SSLv2/SSLv3 are gone from OpenSSL 3.
_TLS_VERSIONS: Final[dict[Protocol, ssl.TLSVersion]] = {
    Protocol.TLSV1: ssl.TLSVersion.TLSv1,
    Protocol.TLSV1_1: ssl.TLSVersion.TLSv1_1,
    Protocol.TLSV1_2: ssl.TLSVersion.TLSv1_2,
    Protocol.TLSV1_3: ssl.TLSVersion.TLSv1_3,
}
_NO_OPTION: Final[dict[Protocol, ssl.Options]] = {
    Protocol.TLSV1: ssl.OP_NO_TLSv1,
    Protocol.TLSV1_1: ssl.OP_NO_TLSv1_1,
    Protocol.TLSV1_2: ssl.OP_NO_TLSv1_2,
    Protocol.TLSV1_3: ssl.OP_NO_TLSv1_3,
}
_ORDER: Final = tuple(_TLS_VERSIONS)
OFFER_LIMITS: Final = (
    "TLS 1.3 suites are OpenSSL's defaults (Python's ssl cannot restrict them)",
    "key-share groups and curves are OpenSSL's defaults (Python's ssl cannot set them)",
)


class PrecheckError(ValueError):
    """A pre-check that must not run as asked (too many partners, an offer nothing speaks)."""


@dataclass(frozen=True)
class ClientOffer:
    """What z/OS will put in its ClientHello: versions On, V3 suites in policy order."""

    versions: tuple[Protocol, ...]
    suites: tuple[str, ...]

    @classmethod
    def of(cls, settings: EffectiveSettings) -> ClientOffer:
        """The offer of a rule's effective settings (attls.effective resolves the defaults)."""
        return cls(tuple(settings.enabled_protocols), tuple(settings.v3_cipher_suites))

    def describe(self) -> str:
        return f"{', '.join(v.value for v in self.versions)}; suites {' '.join(self.suites)}"


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
    offer_limits: tuple[str, ...] = field(default=OFFER_LIMITS)

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


def client_context(offer: ClientOffer) -> ssl.SSLContext:
    """A client context offering exactly the versions and (up to TLS 1.2) the suites."""
    speakable = [v for v in _ORDER if v in offer.versions]
    if not speakable:
        raise PrecheckError(f"the offer has no version Python's ssl can speak ({offer.describe()})")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # The question is whether the partner accepts the offer, not whether we trust it: the
    # certificate is checked by AT-TLS's own key ring at run time, not here.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        # TLS 1.0/1.1 are deprecated in Python's ssl; offering them when a policy does is the point.
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = _TLS_VERSIONS[speakable[0]]
        context.maximum_version = _TLS_VERSIONS[speakable[-1]]
    low, high = _ORDER.index(speakable[0]), _ORDER.index(speakable[-1])
    for version in _ORDER[low : high + 1]:
        if version not in speakable:
            context.options |= _NO_OPTION[version]
    legacy = [v for v in speakable if v is not Protocol.TLSV1_3]
    if legacy:
        names = [
            suite.openssl_name
            for suite in (ciphers.get(code) for code in offer.suites)
            if suite is not None and suite.openssl_name and not suite.tls13_only
        ]
        if not names:
            raise PrecheckError(
                f"the offer lists no suite for {', '.join(v.value for v in legacy)}"
                " that OpenSSL knows"
            )
        try:
            # @SECLEVEL=0: the policy alone decides what is offered, as on z/OS.
            context.set_ciphers(":".join(names) + ":@SECLEVEL=0")
        except ssl.SSLError:
            raise PrecheckError(
                f"OpenSSL here can offer none of the suites {' '.join(offer.suites)}"
            ) from None
    return context


def _reason(error: BaseException) -> str:
    if isinstance(error, ssl.SSLError):
        reason = getattr(error, "reason", None) or ""
        if reason.startswith(("TLSV1_ALERT_", "SSLV3_ALERT_", "TLSV13_ALERT_")):
            alert = reason.split("_ALERT_", 1)[1].lower()
            return f"the partner refused the ClientHello with a fatal {alert} alert ({reason})"
        if isinstance(error, ssl.SSLEOFError) or "EOF" in reason:
            return "the partner closed the connection during the handshake"
        return f"the handshake failed: {reason or error}"
    if isinstance(error, TimeoutError):
        return "no answer to the ClientHello within the handshake timeout"
    return f"the handshake failed: {error}"


def _one(
    target: PrecheckTarget, context: ssl.SSLContext, timeout: float, offer: str
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
            offer=offer,
            **found,
        )

    try:
        raw = socket.create_connection((target.address, target.port), timeout=timeout)
    except OSError as error:
        return result("unreachable", f"no TCP connection: {error}")
    try:
        raw.settimeout(max(0.05, timeout - (time.monotonic() - started)))
        with context.wrap_socket(raw, server_hostname=None) as tls:
            chosen = tls.cipher()
            version = tls.version()
            suite = None
            if chosen is not None:
                try:
                    suite = ciphers.by_openssl_name(chosen[0]).code
                except KeyError:
                    suite = chosen[0]
            return result(
                "accepted",
                f"the partner accepted the offer and chose {version} with {suite}",
                version=version,
                suite=suite,
            )
    except (ssl.SSLError, OSError) as error:
        return result("refused", _reason(error))
    finally:
        raw.close()


def precheck(
    targets: Sequence[PrecheckTarget],
    offer: ClientOffer,
    *,
    allowlist: Iterable[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float = DEFAULT_DEADLINE,
    max_partners: int = MAX_PARTNERS,
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
    context = client_context(offer)
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
                    target.key, target.address, target.port, "not-attempted", why, offer=described
                )
                continue
            futures[pool.submit(_one, target, context, min(timeout, deadline), described)] = index
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
