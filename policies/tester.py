"""The connection tester: which rule of a policy a connection would hit, with what, and the
rules it nearly hit and why not."""

from __future__ import annotations

from dataclasses import dataclass, field

from attls.effective import PROTOCOLS
from attls.matching import Connection, MatchResult, RuleConditions, RuleMatcher, address_key
from attls.policy import (
    Policy,
    parse_policy,
)
from policies.models import (
    PolicyVersion,
)
from policies.presenters import suite_names

# --- which rule would this connection hit? --------------------------------------------------------


@dataclass(frozen=True)
class ProtocolRow:
    protocol: str
    enabled: bool
    source: str


@dataclass(frozen=True)
class NearMiss:
    """A rule that would have matched but for some of its conditions."""

    rule: str
    priority: int
    failed: list[str]


@dataclass
class TesterResult:
    connection: Connection
    source: str
    winner: MatchResult | None
    others: list[MatchResult]
    protocols: list[ProtocolRow]
    suites: list[tuple[str, str, str]]
    rules_total: int
    near_misses: list[NearMiss] = field(default_factory=list)


def _inside(value: int, intervals: tuple[tuple[int, int], ...] | None) -> bool:
    return intervals is None or any(low <= value <= high for low, high in intervals)


def _failed_conditions(c: RuleConditions, connection: Connection) -> list[str]:
    """Which of the rule's conditions the connection does not meet, in words."""
    rule = c.rule
    failed = []
    if not c.covers(connection.direction):
        failed.append(f"Direction {rule.direction} is not {connection.direction}")
    if not _inside(connection.local_port, c.local_ports):
        failed.append(f"local port {connection.local_port} is outside its LocalPortRange")
    if not _inside(connection.remote_port, c.remote_ports):
        failed.append(f"remote port {connection.remote_port} is outside its RemotePortRange")
    if c.jobname is not None and not c.jobname.matches(
        connection.jobname.upper() if connection.jobname else None
    ):
        failed.append(f"Jobname {c.jobname} does not match job {connection.jobname or '(none)'}")
    if c.userid is not None and not c.userid.matches(
        connection.userid.upper() if connection.userid else None
    ):
        failed.append(f"Userid {c.userid} does not match user {connection.userid or '(none)'}")
    if not _inside(address_key(connection.local_addr), c.local_addrs):
        failed.append(f"local address {connection.local_addr} is outside its LocalAddr")
    if not _inside(address_key(connection.remote_addr), c.remote_addrs):
        failed.append(f"remote address {connection.remote_addr} is outside its RemoteAddr")
    return failed


# Near misses listed when no rule matches.
NEAR_MISSES = 8


def near_misses(matcher: RuleMatcher, connection: Connection) -> list[NearMiss]:
    """Rules that miss the connection by one or two conditions, closest first: what an
    engineer looks for when a connection they expected to be covered is not."""
    misses = []
    for c in matcher.rules:
        failed = _failed_conditions(c, connection)
        if 0 < len(failed) <= 2:
            misses.append(NearMiss(c.name, c.priority, failed))
    misses.sort(key=lambda miss: len(miss.failed))
    return misses[:NEAR_MISSES]


def connection_test(policy: Policy, connection: Connection, *, source: str) -> TesterResult:
    matcher = RuleMatcher(policy)
    candidates = matcher.candidates(connection)
    winner = candidates[0] if candidates else None
    protocols: list[ProtocolRow] = []
    suites: list[tuple[str, str, str]] = []
    if winner is not None:
        effective = winner.effective
        protocols = [
            ProtocolRow(p.value, effective.protocols[p], effective.protocol_sources[p])
            for p in PROTOCOLS
        ]
        suites = suite_names(effective.v3_cipher_suites)
    return TesterResult(
        connection=connection,
        source=source,
        winner=winner,
        others=candidates[1:],
        protocols=protocols,
        suites=suites,
        rules_total=len(policy.rules),
        near_misses=near_misses(matcher, connection) if winner is None else [],
    )


def version_policy(version: PolicyVersion) -> Policy:
    return parse_policy(version.text, source=f"v{version.number}")
