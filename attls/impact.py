"""Change impact: before a policy change, which peers will break.

A prediction compares a candidate policy with the current one (or with none: "no AT-TLS
policy yet") against what every peer was seen doing, and gives per peer a verdict, the rule
that would apply, the reasons in words and the observations behind them:

* will-break: the peer only ever used something the candidate removes — cleartext on a port
  that becomes TLS (an inbound rule refuses a cleartext client with RC 5003), only protocol
  versions the candidate's effective settings switch off (RC 412), only suites the candidate
  drops while we chose from its offer (RC 402), no client certificate where one becomes
  required (RC 5001);
* at-risk: the evidence does not settle it — the peer's suite is dropped but it may offer
  others, a server certificate from another issuer, a certificate now checked against SAF;
* untested: as a client we will offer something the partner has never been offered (a
  partner that aborts on a TLS 1.3 ClientHello it has never seen);
* safe: the peer was seen succeeding with what the candidate keeps;
* no-data: no observation in the window.

Which rule applies to a peer's connection is `attls.matching`'s answer; what the rule does
is `attls.effective`'s (protocol defaults, cipher lists): nothing here restates a default.
Observations are daily roll-ups (or single rows); they are folded per peer as they stream
in, so memory grows with the number of peers, not of observations.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, Final, NamedTuple, cast

from attls import ciphers
from attls.ciphers import Protocol
from attls.effective import PROTOCOLS, EffectiveSettings
from attls.errors import AttlsError
from attls.matching import DIRECTIONS, Connection, Direction, RuleMatcher, address_key
from attls.policy.model import Policy

__all__ = [
    "CLEARTEXT",
    "VERSION_WORDS",
    "ImpactInputError",
    "PeerObservation",
    "PeerPrediction",
    "Prediction",
    "ServicePrediction",
    "Verdict",
    "predict",
]

CLEARTEXT: Final = "cleartext"
# The words a peer's versions are written with: cleartext, then AT-TLS's protocol keywords.
VERSION_WORDS: Final[tuple[str, ...]] = (CLEARTEXT, *(p.value for p in PROTOCOLS))
_TLS13: Final = Protocol.TLSV1_3.value
# The address the z/OS side listens on is not part of an observation; rules that condition on
# LocalAddr are matched as for any local address (0.0.0.0 is in no address condition but All).
_ANY_LOCAL: Final = "0.0.0.0"
NO_RULE: Final = "(no AT-TLS rule)"
# Roles as AT-TLS names them; the server side waits for a ClientHello.
_SERVER_ROLES: Final = frozenset({"Server", "ServerWithClientAuth"})
# ClientAuthType (reference §1.7, IBM attls_handshake_roles.htm): Required and SAFCheck demand a
# certificate; Full validates one when sent; PassThru neither demands nor validates.
_CERT_REQUIRED: Final = frozenset({"Required", "SAFCheck"})
_CERT_VALIDATED: Final = frozenset({"Full", "Required", "SAFCheck"})


class ImpactInputError(AttlsError):
    """An observation or peer file that cannot be used; line and column are 1-based."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        self.message = message
        self.line = line
        self.column = column
        where = f"line {line}, column {column}: " if line else ""
        super().__init__(where + message)


class Verdict(StrEnum):
    """Worst first: a peer takes the worst verdict any of its findings gives."""

    WILL_BREAK = "will-break"
    AT_RISK = "at-risk"
    UNTESTED = "untested"
    SAFE = "safe"
    NO_DATA = "no-data"


_SEVERITY: Final = {verdict: rank for rank, verdict in enumerate(Verdict)}


class PeerObservation(NamedTuple):
    """What one peer was seen doing, as z/OS sees it, over a day or a window.

    A named tuple rather than a frozen dataclass: a fleet's roll-ups are millions of these,
    and a tuple is built several times faster.

    `versions` are VERSION_WORDS the peer's connections used (`cleartext` for connections
    nothing encrypted); `suites` 4-hex cipher codes negotiated; `client_cert` whether the peer
    presented a client certificate. `offered_versions` are the versions we offered the
    partner when we were the client, where the history knows them. `server_issuers` the
    issuers of the z/OS server certificates the peer was seen accepting. An observation
    with neither versions nor connections is a known peer with no traffic: it counts toward
    no-data. `day` None is "in the window".
    """

    direction: Direction
    local_port: int
    remote_address: str
    remote_port: int
    job: str | None
    versions: frozenset[str]
    suites: frozenset[str] = frozenset()
    client_cert: bool = False
    connections: int = 0
    day: date | None = None
    offered_versions: frozenset[str] = frozenset()
    server_issuers: frozenset[str] = frozenset()
    userid: str | None = None
    # The portal's service name; when None, the rule's name stands for the service.
    service: str | None = None

    @property
    def peer_key(self) -> tuple[str, int, str, int, str | None]:
        return (self.direction, self.local_port, self.remote_address, self.remote_port, self.job)


@dataclass(frozen=True, slots=True)
class PeerPrediction:
    """The verdict for one peer, the rule that would apply and why."""

    direction: Direction
    local_port: int
    remote_address: str
    remote_port: int
    job: str | None
    service: str
    verdict: Verdict
    rule: str | None  # the candidate's rule for the peer's connections; None: no rule
    current_rule: str | None  # the current policy's rule, None when none applies
    reasons: tuple[str, ...]  # worst first; reasons[0] explains the verdict
    versions: frozenset[str]
    suites: frozenset[str]
    client_cert: bool
    connections_per_day: float
    observations: tuple[PeerObservation, ...] = field(repr=False)

    @property
    def reason(self) -> str:
        return self.reasons[0]


@dataclass(frozen=True, slots=True)
class ServicePrediction:
    service: str
    rule: str | None
    peers: tuple[PeerPrediction, ...]
    counts: Mapping[Verdict, int]
    connections_per_day: Mapping[Verdict, float]

    @property
    def verdict(self) -> Verdict:
        """The worst verdict of its peers; no-data for a service no peer was seen on."""
        present = [v for v in Verdict if self.counts.get(v)]
        return present[0] if present else Verdict.NO_DATA


@dataclass(frozen=True, slots=True)
class Prediction:
    services: tuple[ServicePrediction, ...]
    window_days: int
    release: str | None

    @property
    def peers(self) -> tuple[PeerPrediction, ...]:
        return tuple(p for s in self.services for p in s.peers)

    @property
    def counts(self) -> dict[Verdict, int]:
        total = dict.fromkeys(Verdict, 0)
        for service in self.services:
            for verdict, n in service.counts.items():
                total[verdict] += n
        return total

    @property
    def connections_per_day(self) -> dict[Verdict, float]:
        total = dict.fromkeys(Verdict, 0.0)
        for service in self.services:
            for verdict, n in service.connections_per_day.items():
                total[verdict] += n
        return total

    @property
    def affected_connections_per_day(self) -> float:
        """Connections a day of the peers that will break or are at risk."""
        per = self.connections_per_day
        return per[Verdict.WILL_BREAK] + per[Verdict.AT_RISK]


# --- folding observations per peer -------------------------------------------------------


class _Peer:
    """Everything seen of one peer in the window, folded."""

    __slots__ = (
        "client_cert",
        "connections",
        "issuers",
        "observations",
        "offered",
        "service",
        "suites",
        "userid",
        "versions",
    )

    def __init__(self, first: PeerObservation) -> None:
        self.versions: frozenset[str] = first.versions
        self.suites: frozenset[str] = first.suites
        self.client_cert = first.client_cert
        self.connections = first.connections
        self.offered: frozenset[str] = first.offered_versions
        self.issuers: frozenset[str] = first.server_issuers
        self.userid = first.userid
        self.service = first.service
        self.observations: list[PeerObservation] = [first]

    def add(self, obs: PeerObservation) -> None:
        # Daily roll-ups of one peer mostly repeat the same sets: skip the union then.
        if obs.versions is not self.versions and not obs.versions <= self.versions:
            self.versions = self.versions | obs.versions
        if obs.suites is not self.suites and not obs.suites <= self.suites:
            self.suites = self.suites | obs.suites
        if obs.offered_versions and not obs.offered_versions <= self.offered:
            self.offered = self.offered | obs.offered_versions
        if obs.server_issuers and not obs.server_issuers <= self.issuers:
            self.issuers = self.issuers | obs.server_issuers
        self.client_cert = self.client_cert or obs.client_cert
        self.connections += obs.connections
        self.userid = self.userid or obs.userid
        self.service = self.service or obs.service
        self.observations.append(obs)


def _check(obs: PeerObservation) -> None:
    """Observations built in code get the same checks as those read from a file."""
    if obs.direction not in DIRECTIONS:
        raise ImpactInputError(f"direction must be Inbound or Outbound, not {obs.direction!r}")
    for name, port in (("local_port", obs.local_port), ("remote_port", obs.remote_port)):
        if not 0 <= port <= 65535:
            raise ImpactInputError(f"{name} must be 0-65535, not {port}")
    try:
        address_key(obs.remote_address)
    except (ValueError, TypeError):
        raise ImpactInputError(f"{obs.remote_address!r} is not an IP address") from None
    unknown = obs.versions - _VERSION_SET
    if unknown:
        raise ImpactInputError(f"unknown version(s) {sorted(unknown)}; use {VERSION_WORDS}")
    if obs.connections < 0:
        raise ImpactInputError(f"connections must not be negative, not {obs.connections}")


_VERSION_SET: Final = frozenset(VERSION_WORDS)


def _fold(
    observations: Iterable[PeerObservation], *, since: date | None, until: date | None
) -> tuple[dict[tuple[str, int, str, int, str | None], _Peer], set[tuple[Any, ...]]]:
    """Peers seen in the window, and the keys of peers known only from outside it.

    The hot loop of a prediction (one pass per roll-up row): a peer's first row is checked
    in full; later rows share its key (direction and ports), so only their version sets
    (checked once per distinct set) and counts need a look.
    """
    peers: dict[tuple[str, int, str, int, str | None], _Peer] = {}
    stale: set[tuple[Any, ...]] = set()
    checked_versions: set[frozenset[str]] = set()
    low = since or date.min
    high = until or date.max
    for obs in observations:
        # One unpacking instead of a dozen attribute reads: this loop runs once per row.
        (_, _, _, _, _, versions, suites, client_cert, connections, day, offered, issuers, _,
         service) = obs  # fmt: skip
        key = obs[:5]
        if versions not in checked_versions or connections < 0:
            _check(obs)
            checked_versions.add(versions)
        if day is not None and not low <= day <= high:
            if key not in peers:
                _check(obs)
            stale.add(key)
            continue
        peer = peers.get(key)
        if peer is None:
            _check(obs)
            peers[key] = _Peer(obs)
        elif (
            versions is peer.versions
            and suites is peer.suites
            and not offered
            and not issuers
            and service is None
        ):
            # The common case: a daily roll-up that repeats what the peer already did.
            peer.connections += connections
            if client_cert:
                peer.client_cert = True
            peer.observations.append(obs)
        else:
            peer.add(obs)
    return peers, stale


# --- judging one peer ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Finding:
    verdict: Verdict
    reason: str


def _words(items: Iterable[str]) -> str:
    ordered = sorted(items, key=_version_rank)
    return ", ".join(ordered) if ordered else "none"


def _version_rank(word: str) -> tuple[int, str]:
    try:
        return VERSION_WORDS.index(word), word
    except ValueError:
        return len(VERSION_WORDS), word


def _enabled(settings: EffectiveSettings) -> frozenset[str]:
    return frozenset(p.value for p in settings.enabled_protocols)


def _suite_versions(code: str) -> frozenset[str]:
    suite = ciphers.get(code)
    return frozenset(p.value for p in suite.protocols) if suite is not None else frozenset()


def _role(settings: EffectiveSettings, direction: str) -> tuple[str, bool]:
    """The handshake role, and whether it was inferred from the direction (no role set)."""
    if settings.handshake_role:
        return settings.handshake_role, False
    return ("Client" if direction == "Outbound" else "Server"), True


def _secures(settings: EffectiveSettings | None) -> bool:
    return settings is not None and settings.ttls_enabled


_IssuerOf = Callable[[EffectiveSettings], "str | None"]


def _judge(
    direction: str,
    seen: frozenset[str],
    suites: frozenset[str],
    client_cert: bool,
    offered: frozenset[str],
    issuers: frozenset[str],
    new: EffectiveSettings | None,
    old: EffectiveSettings | None,
    issuer_of: _IssuerOf | None,
) -> list[_Finding]:
    """Every finding for a peer with these observations, under the new and old rule."""
    tls_seen = seen - {CLEARTEXT}
    if not _secures(new):
        return _judge_unsecured(seen, tls_seen, new, old)
    assert new is not None
    role, inferred = _role(new, direction)
    enabled = _enabled(new)
    rule = f"rule {new.rule}"
    findings: list[_Finding] = []
    if role not in _SERVER_ROLES and role != "Client":
        return [_Finding(Verdict.AT_RISK, f"{rule} has HandshakeRole {role}, not predicted")]
    partner_is_server = direction == "Outbound"
    if role in _SERVER_ROLES and partner_is_server:
        findings.append(
            _Finding(
                Verdict.WILL_BREAK,
                f"{rule} takes the server role ({role}) on a connection z/OS starts: both"
                " sides wait for a ClientHello and the handshake times out (RC 5004)",
            )
        )
        return findings
    if role == "Client" and not partner_is_server:
        findings.append(
            _Finding(
                Verdict.AT_RISK,
                f"{rule} takes the client role on a connection the peer starts: it works only"
                " if the peer's application acts as the TLS server (not observable here)",
            )
        )
    role_note = " (role inferred from the direction: the rule sets no HandshakeRole)"
    role_note = role_note if inferred else ""

    if seen == {CLEARTEXT}:
        if role in _SERVER_ROLES:
            why = (
                f"only seen in cleartext; {rule} makes the port TLS and AT-TLS refuses a"
                f" cleartext client (RC 5003){role_note}"
            )
        else:
            why = (
                f"only seen in cleartext; {rule} starts a TLS handshake the partner has never"
                f" answered{role_note}"
            )
        return [*findings, _Finding(Verdict.WILL_BREAK, why)]
    if CLEARTEXT in seen:
        findings.append(
            _Finding(
                Verdict.AT_RISK,
                f"also seen in cleartext; its cleartext connections will be refused by {rule}"
                " (RC 5003), its TLS connections judged below",
            )
        )

    kept = tls_seen & enabled
    if not kept:
        why = (
            f"only seen on {_words(tls_seen)}; the effective settings of {rule} switch them"
            f" off (On: {_words(enabled)}), a protocol mismatch (RC 412)"
        )
        return [*findings, _Finding(Verdict.WILL_BREAK, why)]

    if role == "Client":
        findings += _judge_as_client(rule, tls_seen, kept, enabled, suites, offered, new, old)
    else:
        findings += _judge_as_server(rule, kept, suites, client_cert, issuers, new, old, issuer_of)
    if not any(f.verdict is not Verdict.SAFE for f in findings):
        kept_suites = sorted(suites & set(new.v3_cipher_suites))
        findings.append(
            _Finding(
                Verdict.SAFE,
                f"seen succeeding with {_words(kept)}"
                + (f" and {' '.join(kept_suites)}" if kept_suites else "")
                + f", which {rule} keeps",
            )
        )
    return findings


def _judge_unsecured(
    seen: frozenset[str],
    tls_seen: frozenset[str],
    new: EffectiveSettings | None,
    old: EffectiveSettings | None,
) -> list[_Finding]:
    """The candidate leaves the connection to the application (no rule, or TTLSEnabled Off)."""
    what = (
        f"rule {new.rule} has TTLSEnabled Off" if new is not None else "no rule of the candidate"
    ) + " maps it"
    if _secures(old) and tls_seen:
        assert old is not None
        return [
            _Finding(
                Verdict.AT_RISK,
                f"{what}: AT-TLS no longer secures it (rule {old.rule} does today); the peer"
                f" was seen on {_words(tls_seen)} and will get whatever the application does"
                " itself (its own TLS or cleartext)",
            )
        ]
    return [
        _Finding(
            Verdict.SAFE,
            f"{what}: the application's own behaviour continues as seen ({_words(seen)})",
        )
    ]


def _judge_as_client(
    rule: str,
    tls_seen: frozenset[str],
    kept: frozenset[str],
    enabled: frozenset[str],
    suites: frozenset[str],
    offered: frozenset[str],
    new: EffectiveSettings,
    old: EffectiveSettings | None,
) -> list[_Finding]:
    """z/OS offers; the partner chooses."""
    findings: list[_Finding] = []
    offered_before = offered | tls_seen
    if _secures(old):
        assert old is not None
        offered_before |= _enabled(old)
    never_offered = enabled - offered_before
    if never_offered:
        highest = max(never_offered, key=_version_rank)
        findings.append(
            _Finding(
                Verdict.UNTESTED,
                f"{rule} will offer {_words(never_offered)}, which the partner has never been"
                f" offered (only seen on {_words(tls_seen)}); a partner that aborts on an"
                f" unknown version refuses the whole ClientHello — run the pre-check"
                + (" (a TLS 1.3 offer)" if highest == _TLS13 else ""),
            )
        )
    usable = {c for c in new.v3_cipher_suites if _suite_versions(c) & kept}
    seen_usable = {c for c in suites if _suite_versions(c) & kept}
    if seen_usable and not seen_usable & usable:
        findings.append(
            _Finding(
                Verdict.AT_RISK,
                f"the partner chose {_words(sorted(seen_usable))}, which {rule} no longer"
                " offers; it may accept another of the offered suites (not observed)",
            )
        )
    return findings


def _judge_as_server(
    rule: str,
    kept: frozenset[str],
    suites: frozenset[str],
    client_cert: bool,
    issuers: frozenset[str],
    new: EffectiveSettings,
    old: EffectiveSettings | None,
    issuer_of: _IssuerOf | None,
) -> list[_Finding]:
    """The peer offers; z/OS (System SSL, server preference) chooses."""
    findings: list[_Finding] = []
    auth = new.client_auth_type
    with_auth = new.handshake_role == "ServerWithClientAuth"
    if with_auth and auth in _CERT_REQUIRED and not client_cert:
        findings.append(
            _Finding(
                Verdict.WILL_BREAK,
                f"never presented a client certificate; {rule} has ServerWithClientAuth with"
                f" ClientAuthType {auth}, which requires one (RC 5001)",
            )
        )
    elif with_auth and auth in _CERT_VALIDATED and client_cert:
        old_checks = (
            old is not None
            and _secures(old)
            and old.handshake_role == "ServerWithClientAuth"
            and old.client_auth_type == auth
        )
        if not old_checks:
            extra = " and must map to a SAF user ID (RC 5002)" if auth == "SAFCheck" else ""
            findings.append(
                _Finding(
                    Verdict.AT_RISK,
                    f"its client certificate will be validated against the key ring by {rule}"
                    f" (ClientAuthType {auth}){extra}; it was not validated so before",
                )
            )

    usable = [c for c in new.v3_cipher_suites if _suite_versions(c) & kept]
    seen_usable = {c for c in suites if _suite_versions(c) & kept}
    if seen_usable and not seen_usable & set(usable):
        findings.append(_dropped_suites(rule, seen_usable, usable, old))

    if issuer_of is not None:
        issuer = issuer_of(new)
        if issuer is not None and issuers and issuer not in issuers:
            findings.append(
                _Finding(
                    Verdict.AT_RISK,
                    f"{rule} presents a server certificate issued by {issuer}; the peer was only"
                    f" seen accepting certificates from {', '.join(sorted(issuers))}",
                )
            )
    return findings


def _dropped_suites(
    rule: str, seen_usable: set[str], usable: list[str], old: EffectiveSettings | None
) -> _Finding:
    """The suites the peer used are gone; did we learn its whole offer when we chose?

    Under the old rule System SSL chose from the peer's offer in the old list's order, so
    every old suite ahead of the chosen one was not in the offer. If each suite the candidate
    keeps is one of those, the peer cannot agree on any (RC 402); otherwise it may.
    """
    used = _words(sorted(seen_usable))
    if old is not None and _secures(old):
        order = {code: at for at, code in enumerate(old.v3_cipher_suites)}
        first_chosen = min((order[c] for c in seen_usable if c in order), default=None)
        if first_chosen is not None and all(order.get(c, math.inf) < first_chosen for c in usable):
            return _Finding(
                Verdict.WILL_BREAK,
                f"only used {used}, which {rule} drops; rule {old.rule} chose from its offer and"
                f" passed over {_words(usable)}, so it offers none of the suites kept (RC 402)",
            )
    return _Finding(
        Verdict.AT_RISK,
        f"only used {used}, which {rule} drops; it may offer one of {_words(usable)}"
        " (its full offer was not observed)",
    )


# --- the prediction ------------------------------------------------------------------------


def _matcher(policy: Policy, release: str | None) -> RuleMatcher:
    """A matcher whose effective settings are those of `release` where attls knows releases.

    `RuleMatcher` takes `release` once the release-aware defaults are in; until then every
    release gets today's defaults.
    """
    if release is None:
        return RuleMatcher(policy)
    try:
        matcher: RuleMatcher = cast(Any, RuleMatcher)(policy, release=release)
    except TypeError:
        matcher = RuleMatcher(policy)
    except KeyError:  # attls.releases knows no such release
        raise ImpactInputError(f"unknown z/OS release {release!r}") from None
    return matcher


@dataclass(frozen=True, slots=True)
class _Applies:
    rule: str
    order: int  # place in the evaluation order: identifies the rule within its policy
    settings: EffectiveSettings


class _Rules:
    """Which rule of one policy a peer's connections map to, remembered per connection shape.

    When no rule of the policy conditions on an address, the answer cannot depend on the
    peer's address, so peers of one port and job share one lookup.
    """

    def __init__(self, policy: Policy, release: str | None, local_address: str) -> None:
        self.matcher = _matcher(policy, release)
        self.by_address = any(
            c.remote_addrs is not None or c.local_addrs is not None for c in self.matcher.rules
        )
        self.local_address = local_address
        self._known: dict[tuple[Any, ...], _Applies | None] = {}
        self._settings: dict[int, EffectiveSettings] = {}

    def find(
        self, key: tuple[str, int, str, int, str | None], userid: str | None
    ) -> _Applies | None:
        direction, local_port, remote_address, remote_port, job = key
        shape: tuple[Any, ...] = (direction, local_port, remote_port, job, userid)
        if self.by_address:
            shape += (remote_address,)
        try:
            return self._known[shape]
        except KeyError:
            pass
        try:
            match = self.matcher.match(
                Connection(
                    self.local_address,
                    local_port,
                    remote_address,
                    remote_port,
                    job,
                    userid,
                    cast(Direction, direction),
                )
            )
        except ValueError as error:
            raise ImpactInputError(f"peer {remote_address}: {error}") from None
        found = None
        if match is not None:
            settings = self._settings.get(match.order)
            if settings is None:
                settings = self._settings[match.order] = match.effective
            found = _Applies(match.rule, match.order, settings)
        self._known[shape] = found
        return found


def predict(
    old: Policy | None,
    new: Policy,
    observations: Iterable[PeerObservation],
    *,
    window_days: int = 30,
    today: date | None = None,
    release: str | None = None,
    local_address: str = _ANY_LOCAL,
    issuer_of: _IssuerOf | None = None,
    known_rules: Iterable[str] | None = None,
) -> Prediction:
    """The prediction for `new` against `old` (None: no AT-TLS policy) and the observations.

    Observations dated before `today - window_days` (or after `today`) are outside the
    window; a peer seen only there, or seen with no traffic, is no-data. Every rule of the
    candidate appears as a service, with no peers when none was seen on it (`known_rules`
    limits which rules are listed that way). `issuer_of` gives the issuer of the server
    certificate a rule would present, where the caller knows key rings.
    """
    if window_days < 1:
        raise ImpactInputError(f"window_days must be at least 1, not {window_days}")
    with _collector_paused():
        return _predict(
            old,
            new,
            observations,
            window_days,
            today,
            release,
            local_address,
            issuer_of,
            known_rules,
        )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pauses Python's cyclic garbage collector while a prediction folds its observations.

    A prediction allocates only acyclic objects, but one per roll-up row; with hundreds of
    thousands of rows alive the collector's full passes cost a third of the run (measured by
    bench/impact_bench.py). Reference counting frees everything as usual; the collector's
    previous state is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _predict(
    old: Policy | None,
    new: Policy,
    observations: Iterable[PeerObservation],
    window_days: int,
    today: date | None,
    release: str | None,
    local_address: str,
    issuer_of: _IssuerOf | None,
    known_rules: Iterable[str] | None,
) -> Prediction:
    since = today - timedelta(days=window_days - 1) if today is not None else None
    peers, stale = _fold(observations, since=since, until=today)
    new_rules = _Rules(new, release, local_address)
    old_rules = _Rules(old, release, local_address) if old is not None else None
    verdicts: dict[tuple[Any, ...], list[_Finding]] = {}
    by_service: dict[str, list[PeerPrediction]] = {}
    service_rule: dict[str, str | None] = {}

    def place(prediction: PeerPrediction) -> None:
        by_service.setdefault(prediction.service, []).append(prediction)
        service_rule.setdefault(prediction.service, prediction.rule)

    for key, peer in peers.items():
        direction, local_port, remote_address, remote_port, job = key
        new_match = new_rules.find(key, peer.userid)
        old_match = old_rules.find(key, peer.userid) if old_rules is not None else None
        new_settings = new_match.settings if new_match is not None else None
        old_settings = old_match.settings if old_match is not None else None
        rule = new_match.rule if new_match is not None else None
        current = old_match.rule if old_match is not None else None
        service = peer.service or rule or current or NO_RULE
        per_day = peer.connections / window_days
        if not peer.versions:
            findings = [_Finding(Verdict.NO_DATA, "no connection observed in the window")]
        else:
            signature = (
                direction,
                new_match.order if new_match else None,
                old_match.order if old_match else None,
                peer.versions,
                peer.suites,
                peer.client_cert,
                peer.offered,
                peer.issuers,
            )
            cached = verdicts.get(signature)
            if cached is None:
                cached = verdicts[signature] = sorted(
                    _judge(
                        direction,
                        peer.versions,
                        peer.suites,
                        peer.client_cert,
                        peer.offered,
                        peer.issuers,
                        new_settings,
                        old_settings,
                        issuer_of,
                    ),
                    key=lambda f: _SEVERITY[f.verdict],
                )
            findings = cached
        place(
            PeerPrediction(
                direction=cast(Direction, direction),
                local_port=local_port,
                remote_address=remote_address,
                remote_port=remote_port,
                job=job,
                service=service,
                verdict=findings[0].verdict,
                rule=rule,
                current_rule=current,
                reasons=tuple(f.reason for f in findings),
                versions=peer.versions,
                suites=peer.suites,
                client_cert=peer.client_cert,
                connections_per_day=per_day,
                observations=tuple(peer.observations),
            )
        )
    for key in stale - peers.keys():
        direction, local_port, remote_address, remote_port, job = key
        new_match = new_rules.find(key, None)
        rule = new_match.rule if new_match is not None else None
        place(
            PeerPrediction(
                direction=cast(Direction, direction),
                local_port=local_port,
                remote_address=remote_address,
                remote_port=remote_port,
                job=job,
                service=rule or NO_RULE,
                verdict=Verdict.NO_DATA,
                rule=rule,
                current_rule=None,
                reasons=(f"no observation in the last {window_days} day(s)",),
                versions=frozenset(),
                suites=frozenset(),
                client_cert=False,
                connections_per_day=0.0,
                observations=(),
            )
        )
    wanted = set(known_rules) if known_rules is not None else set(new.rules)
    for name in sorted(wanted - service_rule.keys() - set(service_rule.values())):
        if name in new.rules:
            by_service[name] = []
            service_rule[name] = name
    return Prediction(
        services=tuple(
            _service(name, service_rule[name], by_service[name]) for name in sorted(by_service)
        ),
        window_days=window_days,
        release=release,
    )


def _service(name: str, rule: str | None, peers: list[PeerPrediction]) -> ServicePrediction:
    counts = dict.fromkeys(Verdict, 0)
    per_day = dict.fromkeys(Verdict, 0.0)
    for peer in peers:
        counts[peer.verdict] += 1
        per_day[peer.verdict] += peer.connections_per_day
    peers.sort(key=lambda p: (_SEVERITY[p.verdict], p.remote_address, p.remote_port))
    return ServicePrediction(
        service=name, rule=rule, peers=tuple(peers), counts=counts, connections_per_day=per_day
    )
