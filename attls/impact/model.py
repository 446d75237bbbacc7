"""What a prediction reads and gives: peer observations, verdicts, predictions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Final, NamedTuple

from attls.effective import PROTOCOLS
from attls.errors import AttlsError
from attls.matching import Direction

CLEARTEXT: Final = "cleartext"
# The words a peer's versions are written with: cleartext, then AT-TLS's protocol keywords.
VERSION_WORDS: Final[tuple[str, ...]] = (CLEARTEXT, *(p.value for p in PROTOCOLS))
NO_RULE: Final = "(no AT-TLS rule)"
UNCHANGED_PREFIX: Final = "unchanged by this candidate: "


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


SEVERITY: Final = {verdict: rank for rank, verdict in enumerate(Verdict)}


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
    # Versions seen on connections no AT-TLS rule mapped (the application's own TLS, or
    # cleartext): zERT tells them apart by TLS source. What the peer does without AT-TLS.
    without_attls: frozenset[str] = frozenset()

    @property
    def peer_key(self) -> tuple[str, int, str, int, str | None]:
        return (self.direction, self.local_port, self.remote_address, self.remote_port, self.job)


@dataclass(frozen=True, slots=True)
class PeerPrediction:
    """The verdict for one peer, the rule that would apply and why.

    `unchanged`: the peer maps to a rule in the current policy and in the candidate, and the
    two rules do the same to its connections (attls.impact.verdicts.same_effect). The change
    does not affect it: its verdict is kept for information (a peer refused today is judged
    will-break again) but it is not counted among the peers the change breaks.
    """

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
    unchanged: bool = False

    @property
    def reason(self) -> str:
        return self.reasons[0]


@dataclass(frozen=True, slots=True)
class ServicePrediction:
    """`counts` and `connections_per_day` are of the peers the change affects;
    `unchanged` counts by verdict the peers it does not (PeerPrediction.unchanged)."""

    service: str
    rule: str | None
    peers: tuple[PeerPrediction, ...]
    counts: Mapping[Verdict, int]
    connections_per_day: Mapping[Verdict, float]
    unchanged: Mapping[Verdict, int] = field(default_factory=dict)

    @property
    def verdict(self) -> Verdict:
        """The worst verdict of the peers the change affects; safe when it affects none of
        the peers seen, no-data for a service no peer was seen on."""
        present = [v for v in Verdict if self.counts.get(v)]
        if present:
            return present[0]
        return Verdict.SAFE if any(self.unchanged.values()) else Verdict.NO_DATA


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
        """Peers the change affects, by verdict."""
        total = dict.fromkeys(Verdict, 0)
        for service in self.services:
            for verdict, n in service.counts.items():
                total[verdict] += n
        return total

    @property
    def unchanged(self) -> dict[Verdict, int]:
        """Peers the change does not affect, by their (informative) verdict."""
        total = dict.fromkeys(Verdict, 0)
        for service in self.services:
            for verdict, n in service.unchanged.items():
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
        """Connections a day of the affected peers that will break or are at risk."""
        per = self.connections_per_day
        return per[Verdict.WILL_BREAK] + per[Verdict.AT_RISK]
