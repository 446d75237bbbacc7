"""The prediction: observations folded per peer, each judged under its candidate rule."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final, cast

from attls.effective import EffectiveSettings
from attls.impact.model import (
    NO_RULE,
    SEVERITY,
    UNCHANGED_PREFIX,
    VERSION_WORDS,
    ImpactInputError,
    PeerObservation,
    PeerPrediction,
    Prediction,
    ServicePrediction,
    Verdict,
)
from attls.impact.verdicts import IssuerOf, judge, same_effect
from attls.matching import DIRECTIONS, Connection, Direction, RuleMatcher, address_key
from attls.policy.model import Policy

# The address the z/OS side listens on is not part of an observation; rules that condition on
# LocalAddr are matched as for any local address (0.0.0.0 is in no address condition but All).
_ANY_LOCAL: Final = "0.0.0.0"


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
        "without_attls",
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
        self.without_attls: frozenset[str] = first.without_attls
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
        if obs.without_attls and not obs.without_attls <= self.without_attls:
            self.without_attls = self.without_attls | obs.without_attls
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
         service, without_attls) = obs  # fmt: skip
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
            and without_attls is peer.without_attls
        ):
            # The common case: a daily roll-up that repeats what the peer already did.
            peer.connections += connections
            if client_cert:
                peer.client_cert = True
            peer.observations.append(obs)
        else:
            peer.add(obs)
    return peers, stale


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
    issuer_of: IssuerOf | None = None,
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
    issuer_of: IssuerOf | None,
    known_rules: Iterable[str] | None,
) -> Prediction:
    since = today - timedelta(days=window_days - 1) if today is not None else None
    peers, stale = _fold(observations, since=since, until=today)
    new_rules = _Rules(new, release, local_address)
    old_rules = _Rules(old, release, local_address) if old is not None else None
    # Per signature: the verdict and the reasons, worst first.
    verdicts: dict[tuple[Any, ...], tuple[Verdict, tuple[str, ...]]] = {}
    # Per (new rule, old rule) pair: whether the change leaves the peer's rule as it is.
    same: dict[tuple[int, int], bool] = {}
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
        unchanged = False
        if new_match is not None and old_match is not None:
            pair = (new_match.order, old_match.order)
            known = same.get(pair)
            if known is None:
                known = same[pair] = same_effect(old_match.settings, new_match.settings)
            unchanged = known
        judged: tuple[Verdict, tuple[str, ...]]
        if not peer.versions:
            judged = (Verdict.NO_DATA, ("no connection observed in the window",))
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
                peer.without_attls,
            )
            cached = verdicts.get(signature)
            if cached is None:
                findings = sorted(
                    judge(
                        direction,
                        peer.versions,
                        peer.suites,
                        peer.client_cert,
                        peer.offered,
                        peer.issuers,
                        peer.without_attls,
                        new_settings,
                        old_settings,
                        issuer_of,
                    ),
                    key=lambda f: SEVERITY[f.verdict],
                )
                cached = verdicts[signature] = (
                    findings[0].verdict,
                    tuple(f.reason for f in findings),
                )
            judged = cached
        verdict, reasons = judged
        if unchanged:
            reasons = (UNCHANGED_PREFIX + reasons[0], *reasons[1:])
        place(
            PeerPrediction(
                direction=cast(Direction, direction),
                local_port=local_port,
                remote_address=remote_address,
                remote_port=remote_port,
                job=job,
                service=service,
                verdict=verdict,
                rule=rule,
                current_rule=current,
                reasons=reasons,
                versions=peer.versions,
                suites=peer.suites,
                client_cert=peer.client_cert,
                connections_per_day=per_day,
                observations=tuple(peer.observations),
                unchanged=unchanged,
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
    unchanged = dict.fromkeys(Verdict, 0)
    per_day = dict.fromkeys(Verdict, 0.0)
    for peer in peers:
        if peer.unchanged:
            unchanged[peer.verdict] += 1
            continue
        counts[peer.verdict] += 1
        per_day[peer.verdict] += peer.connections_per_day
    # The peers the change affects first, each part worst first.
    peers.sort(key=lambda p: (p.unchanged, SEVERITY[p.verdict], p.remote_address, p.remote_port))
    return ServicePrediction(
        service=name,
        rule=rule,
        peers=tuple(peers),
        counts=counts,
        connections_per_day=per_day,
        unchanged=unchanged,
    )
