"""Replaying production peers against a lab stack: what each peer did, offered to the lab.

The portal knows a peer by what it negotiated (zERT's roll-ups, the AT-TLS connections
netstat showed; fleet.impact.history), as a prediction's peer record carries it. From that
record `profile_of` derives the peer's *profile*: the protocol versions it would offer, its
suites, whether it presents a client certificate; and says which parts were observed and
which inferred:

- versions: those seen negotiated are observed; the versions between the oldest and the
  newest seen are inferred (a client that negotiated TLS 1.0 and TLS 1.2 speaks TLS 1.1 too);
- suites: those seen negotiated are observed; a version with no suite seen gets every suite
  of the registry for it (inferred), since a ClientHello needs some;
- client certificate: no table records one (history's note), so "none" is always inferred.

A peer record without a usable version (no observation in the window, a record that does
not parse) has no profile: it is *no data*, never replayed and never accepted.

A replay is one handshake per distinct profile, through the pre-check's client
(fleet.precheck: nassl, bounded, allow-listed) with the profile as the offer: an inbound
client against the lab service's own port; an outbound partner (z/OS is the client there)
receives the lab rule's own client offer at the endpoint the lab service reaches. A
cleartext profile opens a TCP connection and sends a line of cleartext, as such a client
does: a TLS port closes it or answers with an alert (AT-TLS RC 5003). The replay connects
from the worker's address, not the peer's: a rule scoped by remote address may not match
it (named in each result's limits).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from attls import ciphers
from attls.ciphers import Protocol
from attls.impact import CLEARTEXT, VERSION_WORDS
from fleet import precheck as active

NO_DATA: Final = "no-data"
# The outcomes a replayed peer can have: the pre-check's, and no-data.
OUTCOMES: Final = ("accepted", "refused", "unreachable", "not-attempted", NO_DATA)
MAX_REPLAYS: Final = 200  # distinct profiles a replay runs; the rest are not attempted
DEADLINE: Final = 120.0  # seconds for a whole replay
CLEARTEXT_PROBE: Final = b"HELLO FROM A CLEARTEXT CLIENT\r\n"
SOURCE_LIMIT: Final = (
    "sent from the portal's worker, not from the peer's address: a rule that matches by"
    " remote address may not apply to it"
)
_TLS = tuple(p.value for p in Protocol if p not in (Protocol.SSLV2, Protocol.SSLV3))


@dataclass(frozen=True)
class PeerProfile:
    """What a peer would offer, with the provenance of each part (see the module)."""

    direction: str  # Inbound (the peer is a client) | Outbound (the peer is the partner)
    versions: tuple[str, ...]  # VERSION_WORDS order; ("cleartext",) for a cleartext client
    suites: tuple[str, ...]  # 4-hex codes, observed first, then inferred
    client_cert: bool
    observed: tuple[str, ...] = ()  # "versions TLSv1.2", "suites C02F"
    inferred: tuple[str, ...] = ()  # each with why

    @property
    def cleartext(self) -> bool:
        return self.versions == (CLEARTEXT,)

    @property
    def is_inferred(self) -> bool:
        return bool(self.inferred)

    def key(self) -> tuple[Any, ...]:
        return (self.direction, self.versions, self.suites, self.client_cert)

    def offer(self) -> active.ClientOffer:
        """The ClientHello of this client (groups and signature pairs: OpenSSL's)."""
        return active.ClientOffer(
            tuple(Protocol(v) for v in self.versions if v != CLEARTEXT), self.suites
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "versions": list(self.versions),
            "suites": list(self.suites),
            "client_cert": self.client_cert,
            "observed": list(self.observed),
            "inferred": list(self.inferred),
        }


def _codes(values: Any) -> list[str]:
    found = []
    for value in values if isinstance(values, list | tuple) else []:
        code = str(value).strip().upper()
        if ciphers.get(code) is not None and code not in found:
            found.append(code)
    return found


def profile_of(record: Any) -> PeerProfile | None:
    """The peer's profile from a prediction's peer record; None (no data) when the record
    holds no version the peer was seen using, or is not a peer record at all."""
    if not isinstance(record, dict):
        return None
    direction = record.get("direction")
    seen = record.get("versions")
    if direction not in ("Inbound", "Outbound") or not isinstance(seen, list | tuple):
        return None
    words = {str(v) for v in seen} & set(VERSION_WORDS)
    tls = [v for v in _TLS if v in words]
    if not tls:
        if CLEARTEXT in words and direction == "Inbound":
            return PeerProfile(
                direction,
                (CLEARTEXT,),
                (),
                False,
                observed=("cleartext connections",),
            )
        return None  # nothing usable seen (or an outbound partner never seen with TLS)
    observed = [f"versions {' '.join(tls)}"]
    inferred: list[str] = []
    low, high = _TLS.index(tls[0]), _TLS.index(tls[-1])
    between = [v for v in _TLS[low : high + 1] if v not in tls]
    if between:
        inferred.append(f"versions {' '.join(between)}: between the versions seen")
    versions = tuple(_TLS[low : high + 1])
    suites = _codes(record.get("suites"))
    if suites:
        observed.append(f"suites {' '.join(suites)}")
    for version in versions:
        if any(version in {p.value for p in ciphers.by_code(c).protocols} for c in suites):
            continue
        added = [
            s.code
            for s in ciphers.suites_for([version])
            if s.openssl_name is not None and s.code not in suites
        ]
        if added:
            suites += added
            inferred.append(f"suites for {version}: none seen, the registry's {len(added)}")
    if record.get("client_cert") is True:
        observed.append("a client certificate")
    inferred.append(
        "client certificate: none (no record holds whether a peer presents one; a"
        " certificate cannot be replayed for a peer anyway)"
    )
    return PeerProfile(
        direction,
        versions,
        tuple(suites),
        bool(record.get("client_cert") is True),
        observed=tuple(observed),
        inferred=tuple(inferred),
    )


@dataclass(frozen=True)
class ReplayPlan:
    """One handshake to make: `offer` (None: cleartext) to `target`; `refusal` set when it
    cannot be made (then it is recorded as not attempted, with that reason)."""

    key: str
    target: active.PrecheckTarget | None
    zos_port: int  # the lab stack's port the connection reaches (0: a partner's)
    offer: active.ClientOffer | None
    refusal: str = ""
    limits: tuple[str, ...] = ()


@dataclass
class Replayed:
    """The sockets the replay opened to the lab stack, as (address, port, z/OS port)."""

    sockets: list[tuple[str, int, int]] = field(default_factory=list)


def _cleartext(
    target: active.PrecheckTarget, timeout: float, on_connect: Callable[[socket.socket], None]
) -> active.PrecheckResult:
    """A cleartext client's first line, and what the port does with it."""
    started = time.monotonic()

    def result(outcome: str, reason: str) -> active.PrecheckResult:
        return active.PrecheckResult(
            target.key,
            target.address,
            target.port,
            outcome,
            reason,
            seconds=round(time.monotonic() - started, 3),
            offer="cleartext",
        )

    try:
        sock = socket.create_connection((target.address, target.port), timeout=timeout)
    except OSError as error:
        return result("unreachable", f"no TCP connection: {error}")
    with sock:
        on_connect(sock)
        try:
            sock.sendall(CLEARTEXT_PROBE)
            answer = sock.recv(64)
        except TimeoutError:
            return result("accepted", "the port kept the cleartext connection open")
        except OSError as error:
            return result("refused", f"the port reset the cleartext connection ({error})")
    if not answer:
        return result("refused", "the port closed the connection on cleartext data (a TLS port)")
    if answer[0] == 0x15:
        return result("refused", "the port answered cleartext data with a TLS alert")
    return result("accepted", "the port answered in cleartext")


def replay(
    plans: Sequence[ReplayPlan],
    *,
    allowlist: Sequence[str] = (),
    timeout: float = active.DEFAULT_TIMEOUT,
    deadline: float = DEADLINE,
    on_socket: Callable[[tuple[str, int, int]], None] | None = None,
    after_each: Callable[[], str] | None = None,
) -> dict[str, active.PrecheckResult]:
    """Each plan's handshake, one after the other, within `deadline`; results by plan key.

    `on_socket` gets the source socket of every connection to the lab stack as it is opened
    (possibly on another thread); `after_each` is called, on this thread, after each plan
    that connected: the caller records the sockets for the stack's verification
    (fleet.impact.models.PortalHandshakes) while the replay runs, and returns why the
    replay must stop ("" to go on): the plans left are then not attempted, with that reason."""
    started = time.monotonic()
    results: dict[str, active.PrecheckResult] = {}
    stop = ""
    for index, plan in enumerate(plans):
        target = plan.target
        left = deadline - (time.monotonic() - started)

        def skipped(reason: str, plan: ReplayPlan = plan) -> active.PrecheckResult:
            where = plan.target
            return active.PrecheckResult(
                plan.key,
                where.address if where else "",
                where.port if where else 0,
                "not-attempted",
                reason,
                offer_limits=plan.limits,
            )

        if plan.refusal or target is None:
            results[plan.key] = skipped(plan.refusal or "no endpoint to replay against")
            continue
        if stop:
            results[plan.key] = skipped(stop)
            continue
        if index >= MAX_REPLAYS:
            results[plan.key] = skipped(f"a replay covers at most {MAX_REPLAYS} profiles")
            continue
        if left <= 0:
            results[plan.key] = skipped(f"not reached within the replay's {deadline:g} s")
            continue

        def record(sock: socket.socket, zos_port: int = plan.zos_port) -> None:
            if on_socket is None or not zos_port:
                return
            try:
                address, port = sock.getsockname()[:2]
            except OSError:
                return
            on_socket((str(address), int(port), zos_port))

        if plan.offer is None:
            why = active.refusal(target.address, active.parse_allowlist(allowlist))
            found = skipped(why) if why else _cleartext(target, min(timeout, left), record)
        else:
            try:
                (found,) = active.precheck(
                    [target],
                    plan.offer,
                    allowlist=allowlist,
                    timeout=min(timeout, left),
                    deadline=left,
                    on_connect=lambda _target, sock: record(sock),
                )
            except active.PrecheckError as error:
                found = skipped(str(error))
        found.offer_limits = tuple(found.offer_limits) + plan.limits
        results[plan.key] = found
        if after_each is not None:
            stop = after_each()
    return results
