"""Which rule a connection maps to, decided as Policy Agent decides it.

Rules are searched in priority order, highest first; a rule without Priority has priority 1.
IBM: "Policy Agent orders rules in alphabetical order within priority" (attls_rules.htm).
The first rule whose conditions all hold wins. A condition the rule does not give is not
considered. What the conditions mean here:

* Direction: `Both` covers Inbound and Outbound.
* Jobname / Userid: compared without regard to case (z/OS names are upper case); a trailing
  `*` matches any rest, and `*` alone matches every connection.
* Addresses: LocalAddr or the IpAddr, IpAddrSet (any of its prefixes, ranges and addresses)
  or IpAddrGroup (any inline IpAddr, IpAddrRef or IpAddrSetRef) a `...Ref` names; the same
  for the remote side. An IPv4-mapped IPv6 address (`::ffff:10.1.1.1`) is the IPv4 address.
* Ports: LocalPortRange or the PortRange / PortGroup (any member) a `...Ref` names; port 0
  means any port.
* A time condition (IpTimeCondition) is not evaluated: the rule is treated as always in force.
* A `...Ref` that names nothing makes the rule match nothing (Policy Agent would not install
  it; lint reports the dangling reference).

`RuleMatcher` compiles the rules once and indexes them so that a connection is tested only
against rules that can possibly match it: each rule is filed under one of its conditions (a
local or remote port, a local or remote address, a job name or user ID), the one whose
buckets are smallest, and rules with none of these selective conditions go to a general
list. Every list keeps the global evaluation order, so the earliest match across the lists
is the winner.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final, Literal, Union

from attls.effective import EffectiveResolver, EffectiveSettings
from attls.policy.model import IpAddrSet, Policy, TTLSRule
from attls.policy.values import Address, Ports

__all__ = [
    "DIRECTIONS",
    "Connection",
    "Direction",
    "Interval",
    "MatchResult",
    "NamePattern",
    "Probe",
    "RuleConditions",
    "RuleMatcher",
    "address_key",
    "compile_conditions",
    "conditions_hold",
    "evaluation_order",
]

Direction = Literal["Inbound", "Outbound"]
DIRECTIONS: Final[tuple[Direction, Direction]] = ("Inbound", "Outbound")

# Addresses become one integer each: IPv4 as itself, IPv6 offset by 2**128, so that intervals
# of the two versions never overlap and one interval test serves both.
_V6: Final = 1 << 128
_V4_MAPPED_LOW: Final = 0xFFFF_0000_0000
_V4_MAPPED_HIGH: Final = 0xFFFF_FFFF_FFFF

Interval = tuple[int, int]
# The values a rule is tested against: local port, remote port, local and remote address (as
# `address_key`), upper-case job name and user ID. -1 is a port or address no rule condition
# contains, and None a name no pattern matches.
Probe = tuple[int, int, int, int, str | None, str | None]
# A condition as inclusive intervals; None means "not considered" (any value).
Intervals = tuple[Interval, ...] | None


def address_key(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    """An address as one integer; an IPv4-mapped IPv6 address gives its IPv4 key."""
    if isinstance(address, str):
        try:
            return int.from_bytes(socket.inet_pton(socket.AF_INET, address), "big")
        except OSError:
            address = ipaddress.ip_address(address)  # ValueError names a bad address
    if address.version == 4:
        return int(address)
    value = int(address)
    if _V4_MAPPED_LOW <= value <= _V4_MAPPED_HIGH:
        return value - _V4_MAPPED_LOW
    return value + _V6


@dataclass(frozen=True, slots=True)
class Connection:
    """One TCP connection as the stack sees it when AT-TLS looks up a rule.

    Addresses are text or `ipaddress` objects. `direction` is Inbound for a connection the
    z/OS side accepted and Outbound for one it started. A job name or user ID of None is
    unknown: it matches only rules that do not ask for one (or ask for `*`).
    """

    local_addr: str | ipaddress.IPv4Address | ipaddress.IPv6Address
    local_port: int
    remote_addr: str | ipaddress.IPv4Address | ipaddress.IPv6Address
    remote_port: int
    jobname: str | None
    userid: str | None
    direction: Direction

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be Inbound or Outbound, not {self.direction!r}")


@dataclass(frozen=True, slots=True)
class NamePattern:
    """A Jobname or Userid condition, upper-cased; `prefix` when it ends in `*`."""

    text: str
    prefix: bool

    def matches(self, name: str | None) -> bool:
        if name is None:
            return False
        return name.startswith(self.text) if self.prefix else name == self.text

    def __str__(self) -> str:
        return self.text + "*" if self.prefix else self.text


@dataclass(frozen=True, slots=True)
class RuleConditions:
    """A rule's conditions in a form that is quick to test and to compare.

    Each of the address and port conditions is a sorted tuple of disjoint inclusive
    intervals (addresses as `address_key` integers), or None when the rule does not
    consider it; an empty tuple matches nothing. `direction` None covers both directions,
    as does `Both`. `order` is the rule's place in the evaluation order, from 0.
    """

    order: int
    name: str
    priority: int
    rule: TTLSRule
    direction: Direction | None
    local_addrs: Intervals
    remote_addrs: Intervals
    local_ports: Intervals
    remote_ports: Intervals
    jobname: NamePattern | None
    userid: NamePattern | None
    timed: bool

    def covers(self, direction: Direction) -> bool:
        return self.direction is None or self.direction == direction

    @property
    def matches_nothing(self) -> bool:
        """A condition set to nothing: a `...Ref` to a missing or empty object."""
        return () in (self.local_ports, self.remote_ports, self.local_addrs, self.remote_addrs)


def evaluation_order(policy: Policy) -> list[TTLSRule]:
    """Rules in the order Policy Agent searches them (see TTLSRule.search_key)."""
    return sorted(policy.rules.values(), key=lambda rule: rule.search_key)


def _merge(intervals: list[Interval]) -> tuple[Interval, ...]:
    intervals.sort()
    merged: list[Interval] = []
    for low, high in intervals:
        if merged and low <= merged[-1][1] + 1:
            if high > merged[-1][1]:
                merged[-1] = (merged[-1][0], high)
        else:
            merged.append((low, high))
    return tuple(merged)


def _address_intervals(addresses: Sequence[Address]) -> Intervals:
    """Intervals of a set of Address values; None when any of them is `All`."""
    out: list[Interval] = []
    for address in addresses:
        if address.is_all:
            return None
        assert address.low is not None and address.high is not None
        low, high = int(address.low), int(address.high)
        if address.low.version == 4:
            out.append((low, high))
            continue
        out.append((low + _V6, high + _V6))
        # The IPv4-mapped part of an IPv6 range also covers the IPv4 addresses.
        if low <= _V4_MAPPED_HIGH and high >= _V4_MAPPED_LOW:
            out.append(
                (
                    max(low, _V4_MAPPED_LOW) - _V4_MAPPED_LOW,
                    min(high, _V4_MAPPED_HIGH) - _V4_MAPPED_LOW,
                )
            )
    return _merge(out)


def _set_members(ip_set: IpAddrSet) -> list[Address]:
    return [*ip_set.prefixes, *ip_set.ranges, *ip_set.addrs]


def _addresses(
    policy: Policy,
    inline: Address | None,
    ref: str | None,
    set_ref: str | None,
    group_ref: str | None,
) -> Intervals:
    if inline is not None:
        return _address_intervals([inline])
    members: list[Address] = []
    if ref is not None:
        ip_addr = policy.ip_addrs.get(ref)
        if ip_addr is not None and ip_addr.addr is not None:
            members.append(ip_addr.addr)
    elif set_ref is not None:
        ip_set = policy.ip_addr_sets.get(set_ref)
        if ip_set is not None:
            members.extend(_set_members(ip_set))
    elif group_ref is not None:
        group = policy.ip_addr_groups.get(group_ref)
        if group is not None:
            members.extend(a.addr for a in group.ip_addrs if a.addr is not None)
            for inline_set in group.ip_addr_sets:
                members.extend(_set_members(inline_set))
            for name in group.ip_addr_refs:
                member = policy.ip_addrs.get(name)
                if member is not None and member.addr is not None:
                    members.append(member.addr)
            for name in group.ip_addr_set_refs:
                member_set = policy.ip_addr_sets.get(name)
                if member_set is not None:
                    members.extend(_set_members(member_set))
    else:
        return None
    return _address_intervals(members)


def _port_intervals(ports: Sequence[Ports]) -> Intervals:
    out: list[Interval] = []
    for port in ports:
        if port.is_any:
            return None
        out.append((port.low, port.high))
    return _merge(out)


def _ports(
    policy: Policy, inline: Ports | None, ref: str | None, group_ref: str | None
) -> Intervals:
    if inline is not None:
        return _port_intervals([inline])
    members: list[Ports] = []
    if ref is not None:
        port_range = policy.port_ranges.get(ref)
        if port_range is not None and port_range.port is not None:
            members.append(port_range.port)
    elif group_ref is not None:
        group = policy.port_groups.get(group_ref)
        if group is not None:
            members.extend(r.port for r in group.port_ranges if r.port is not None)
            for name in group.port_range_refs:
                member = policy.port_ranges.get(name)
                if member is not None and member.port is not None:
                    members.append(member.port)
    else:
        return None
    return _port_intervals(members)


def _pattern(value: str | None) -> NamePattern | None:
    if value is None or value == "*":
        return None
    upper = value.upper()
    if upper.endswith("*"):
        return NamePattern(upper[:-1], True)
    return NamePattern(upper, False)


def compile_conditions(policy: Policy, rule: TTLSRule, order: int) -> RuleConditions:
    direction: Direction | None = None
    if rule.direction in DIRECTIONS:
        direction = "Inbound" if rule.direction == "Inbound" else "Outbound"
    return RuleConditions(
        order=order,
        name=rule.name or "",
        priority=rule.effective_priority,
        rule=rule,
        direction=direction,
        local_addrs=_addresses(
            policy,
            rule.local_addr,
            rule.local_addr_ref,
            rule.local_addr_set_ref,
            rule.local_addr_group_ref,
        ),
        remote_addrs=_addresses(
            policy,
            rule.remote_addr,
            rule.remote_addr_ref,
            rule.remote_addr_set_ref,
            rule.remote_addr_group_ref,
        ),
        local_ports=_ports(
            policy, rule.local_port_range, rule.local_port_range_ref, rule.local_port_group_ref
        ),
        remote_ports=_ports(
            policy, rule.remote_port_range, rule.remote_port_range_ref, rule.remote_port_group_ref
        ),
        jobname=_pattern(rule.jobname),
        userid=_pattern(rule.userid),
        timed=rule.ip_time_condition is not None or rule.ip_time_condition_ref is not None,
    )


def _within(value: int, intervals: tuple[Interval, ...]) -> bool:
    # A plain loop: any() over a generator costs several times more on this hot path.
    for low, high in intervals:  # noqa: SIM110
        if low <= value <= high:
            return True
    return False


def conditions_hold(
    c: RuleConditions,
    local_port: int,
    remote_port: int,
    local_addr: int,
    remote_addr: int,
    jobname: str | None,
    userid: str | None,
) -> bool:
    """Whether every condition the rule gives holds (direction already checked)."""
    ports = c.local_ports
    if ports is not None and not _within(local_port, ports):
        return False
    ports = c.remote_ports
    if ports is not None and not _within(remote_port, ports):
        return False
    pattern = c.jobname
    if pattern is not None and not pattern.matches(jobname):
        return False
    pattern = c.userid
    if pattern is not None and not pattern.matches(userid):
        return False
    addrs = c.local_addrs
    if addrs is not None and not _within(local_addr, addrs):
        return False
    addrs = c.remote_addrs
    return addrs is None or _within(remote_addr, addrs)


# --- the index ---------------------------------------------------------------------------------

# A condition covering more keys than this is not filed under that condition.
_MAX_KEYS: Final = 64
# An interval is filed under blocks of 2**shift values, the finest of these sizes that needs
# at most _MAX_BLOCKS blocks: single ports, 256-port blocks; single addresses, IPv4 /24, /16
# and /8 blocks, IPv6 /64 and /32 blocks.
_MAX_BLOCKS: Final = 16
_PORT_SHIFTS: Final = (0, 8)
_ADDRESS_SHIFTS: Final = (0, 8, 16, 24, 64, 96)
# A bucket with more rules than this is indexed again by the conditions not used yet.
_SPLIT: Final = 8

_Dimension = Literal["local_port", "remote_port", "local_addr", "remote_addr", "jobname", "userid"]
# (dimension, position of its value in a Probe, block shifts or None for a name pattern)
_DIMENSIONS: Final[tuple[tuple[_Dimension, int, tuple[int, ...] | None], ...]] = (
    ("local_port", 0, _PORT_SHIFTS),
    ("remote_port", 1, _PORT_SHIFTS),
    ("local_addr", 2, _ADDRESS_SHIFTS),
    ("remote_addr", 3, _ADDRESS_SHIFTS),
    ("jobname", 4, None),
    ("userid", 5, None),
)


def _interval_keys(intervals: Intervals, shifts: tuple[int, ...]) -> list[int] | None:
    if intervals is None:
        return None
    keys: set[int] = set()
    for low, high in intervals:
        for level, shift in enumerate(shifts):
            first, last = low >> shift, high >> shift
            if last - first < _MAX_BLOCKS:
                keys.update((block << 3) | level for block in range(first, last + 1))
                break
        else:
            return None
        if len(keys) > _MAX_KEYS:
            return None
    return sorted(keys)


def _pattern_keys(pattern: NamePattern | None) -> list[str] | None:
    if pattern is None or (pattern.prefix and not pattern.text):
        return None
    return [pattern.text + "*" if pattern.prefix else pattern.text]


def _keys(c: RuleConditions, dimension: _Dimension) -> list[int] | list[str] | None:
    """Index keys of a rule in one dimension; None when that condition is not selective."""
    if dimension == "local_port":
        return _interval_keys(c.local_ports, _PORT_SHIFTS)
    if dimension == "remote_port":
        return _interval_keys(c.remote_ports, _PORT_SHIFTS)
    if dimension == "local_addr":
        return _interval_keys(c.local_addrs, _ADDRESS_SHIFTS)
    if dimension == "remote_addr":
        return _interval_keys(c.remote_addrs, _ADDRESS_SHIFTS)
    if dimension == "jobname":
        return _pattern_keys(c.jobname)
    return _pattern_keys(c.userid)


# A bucket: the rules under one key, in evaluation order, or an index of them when many.
_Node = Union[list[RuleConditions], "_Index"]


class _Index:
    """Rules filed for quick lookup: each under the condition whose buckets are smallest.

    `tables` holds, per dimension used, the buckets by key and the lookups to make: for an
    interval dimension (level, shift) pairs of the block sizes present, for a name pattern
    the lengths of the prefix patterns present. Rules with no selective condition left are
    in `general`.
    """

    __slots__ = ("general", "tables")

    def __init__(self) -> None:
        self.tables: list[tuple[int, bool, dict[Any, _Node], tuple[Any, ...]]] = []
        self.general: list[RuleConditions] = []

    @classmethod
    def build(cls, rules: Sequence[RuleConditions], used: frozenset[str] = frozenset()) -> _Index:
        dimensions = [d for d in _DIMENSIONS if d[0] not in used]
        keys = [{name: _keys(c, name) for name, _, _ in dimensions} for c in rules]
        counts: dict[str, Counter[Any]] = {name: Counter() for name, _, _ in dimensions}
        for rule_keys in keys:
            for name, found in rule_keys.items():
                if found is not None:
                    counts[name].update(found)
        index = cls()
        filed: dict[str, dict[Any, list[RuleConditions]]] = {name: {} for name, _, _ in dimensions}
        for c, rule_keys in zip(rules, keys, strict=True):
            best: tuple[int, int, int] | None = None
            chosen: _Dimension | None = None
            for rank, (name, _, _) in enumerate(dimensions):
                found = rule_keys[name]
                if found is None:
                    continue
                count = counts[name]
                cost = (max(count[k] for k in found), len(found), rank)
                if best is None or cost < best:
                    best, chosen = cost, name
            if chosen is None:
                index.general.append(c)
                continue
            buckets = filed[chosen]
            for key in rule_keys[chosen] or ():
                buckets.setdefault(key, []).append(c)
        for name, position, shifts in dimensions:
            buckets = filed[name]
            if not buckets:
                continue
            table: dict[Any, _Node] = {}
            for key, bucket in buckets.items():
                table[key] = bucket
                if len(bucket) > _SPLIT:
                    sub = cls.build(bucket, used | {name})
                    if len(sub.general) < len(bucket):
                        table[key] = sub
            lookups: tuple[Any, ...]
            if shifts is None:
                lookups = tuple(sorted({len(k) - 1 for k in buckets if k.endswith("*")}))
            else:
                levels = sorted({k & 7 for k in buckets})
                lookups = tuple((level, shifts[level]) for level in levels)
            index.tables.append((position, shifts is None, table, lookups))
        return index

    def collect(self, probe: Probe, out: list[list[RuleConditions]]) -> None:
        """Appends every list that may hold a rule matching the probe (each in order)."""
        # Loops written out by hand: this runs once or more per connection matched.
        for position, is_pattern, table, lookups in self.tables:
            value = probe[position]
            if is_pattern:
                if value is None:
                    continue
                node = table.get(value)
                if node is not None:
                    if isinstance(node, list):
                        out.append(node)
                    else:
                        node.collect(probe, out)
                size = len(value)  # type: ignore[arg-type]
                for length in lookups:
                    if length > size:
                        break
                    node = table.get(value[:length] + "*")  # type: ignore[index]
                    if node is not None:
                        if isinstance(node, list):
                            out.append(node)
                        else:
                            node.collect(probe, out)
            else:
                for level, shift in lookups:
                    node = table.get(((value >> shift) << 3) | level)
                    if node is not None:
                        if isinstance(node, list):
                            out.append(node)
                        else:
                            node.collect(probe, out)
        if self.general:
            out.append(self.general)


# --- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchResult:
    """A rule that a connection maps to, with why, and (computed on demand) its settings."""

    rule: str
    priority: int
    order: int
    connection: Connection
    conditions: RuleConditions = field(repr=False, compare=False)
    _resolver: EffectiveResolver = field(repr=False, compare=False)

    @cached_property
    def effective(self) -> EffectiveSettings:
        return self._resolver.for_rule(self.conditions.rule)

    @cached_property
    def reasons(self) -> tuple[str, ...]:
        """One sentence per condition the rule gives, saying how the connection meets it."""
        return _reasons(self.conditions, self.connection)


def _reasons(c: RuleConditions, conn: Connection) -> tuple[str, ...]:
    rule = c.rule
    out = [f"Direction {rule.direction or 'not given'} covers {conn.direction}"]
    for side, addr, port in (
        ("Local", conn.local_addr, conn.local_port),
        ("Remote", conn.remote_addr, conn.remote_port),
    ):
        lower = side.lower()
        addr_condition = _address_condition(rule, lower)
        if addr_condition is not None:
            out.append(f"{side}{addr_condition} contains {lower} address {addr}")
        port_condition = _port_condition(rule, lower)
        if port_condition is not None:
            out.append(f"{side}{port_condition} contains {lower} port {port}")
    if rule.jobname is not None:
        out.append(f"Jobname {rule.jobname} matches job {conn.jobname}")
    if rule.userid is not None:
        out.append(f"Userid {rule.userid} matches user {conn.userid}")
    if c.timed:
        out.append("its IpTimeCondition is not evaluated: the rule is taken as always in force")
    out.append(f"Priority {c.priority}, position {c.order + 1} in evaluation order")
    return tuple(out)


def _address_condition(rule: TTLSRule, side: str) -> str | None:
    inline: Address | None = getattr(rule, f"{side}_addr")
    if inline is not None:
        return f"Addr {inline}"
    for suffix, keyword in (
        ("ref", "AddrRef"),
        ("set_ref", "AddrSetRef"),
        ("group_ref", "AddrGroupRef"),
    ):
        name: str | None = getattr(rule, f"{side}_addr_{suffix}")
        if name is not None:
            return f"{keyword} {name}"
    return None


def _port_condition(rule: TTLSRule, side: str) -> str | None:
    inline: Ports | None = getattr(rule, f"{side}_port_range")
    if inline is not None:
        return f"PortRange {inline}"
    for suffix, keyword in (("range_ref", "PortRangeRef"), ("group_ref", "PortGroupRef")):
        name: str | None = getattr(rule, f"{side}_port_{suffix}")
        if name is not None:
            return f"{keyword} {name}"
    return None


class RuleMatcher:
    """Answers "which rule would this connection hit?" for one policy.

    Build it once per policy (compiling is linear in the number of rules); the policy must
    not change afterwards.
    """

    def __init__(self, policy: Policy, *, release: str | None = None) -> None:
        self.policy = policy
        self.rules: tuple[RuleConditions, ...] = tuple(
            compile_conditions(policy, rule, order)
            for order, rule in enumerate(evaluation_order(policy))
        )
        self._indexes: dict[str, _Index] = {
            direction: _Index.build(
                [c for c in self.rules if c.covers(direction) and not c.matches_nothing]
            )
            for direction in DIRECTIONS
        }
        self._resolver = EffectiveResolver(policy, release=release)

    def _prepare(self, conn: Connection) -> Probe:
        return (
            conn.local_port,
            conn.remote_port,
            address_key(conn.local_addr),
            address_key(conn.remote_addr),
            conn.jobname.upper() if conn.jobname is not None else None,
            conn.userid.upper() if conn.userid is not None else None,
        )

    def _result(self, c: RuleConditions, conn: Connection) -> MatchResult:
        return MatchResult(c.name, c.priority, c.order, conn, c, self._resolver)

    def match(self, conn: Connection) -> MatchResult | None:
        """The rule Policy Agent would map this connection to, or None (no AT-TLS policy)."""
        values = self._prepare(conn)
        best: RuleConditions | None = None
        for bucket in self.buckets(conn.direction, values):
            for c in bucket:
                if best is not None and c.order >= best.order:
                    break
                if conditions_hold(c, *values):
                    best = c
                    break
        return None if best is None else self._result(best, conn)

    def candidates(self, conn: Connection) -> list[MatchResult]:
        """Every rule whose conditions hold, in evaluation order; the first one wins."""
        return [
            self._result(c, conn) for c in self.matching_rules(conn.direction, self._prepare(conn))
        ]

    def buckets(self, direction: Direction, probe: Probe) -> list[list[RuleConditions]]:
        """Lists (each in evaluation order) that hold every rule that may match the probe."""
        buckets: list[list[RuleConditions]] = []
        self._indexes[direction].collect(probe, buckets)
        return buckets

    def matching_rules(self, direction: Direction, probe: Probe) -> list[RuleConditions]:
        """Compiled rules whose conditions hold for raw values, in evaluation order."""
        found: dict[int, RuleConditions] = {}
        for bucket in self.buckets(direction, probe):
            for c in bucket:
                if conditions_hold(c, *probe):
                    found[c.order] = c
        return [found[order] for order in sorted(found)]
