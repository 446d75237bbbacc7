"""Lint of the rules' order: `shadowed-rule`, `equal-priority-overlap`,
`collation-dependent-order` and `check-bounded`.

Shadowing is claimed only when provable: every condition of the earlier rule is absent or
contains the later rule's, and the earlier rule has no time condition. To stay fast on large
policies the earlier rules that could cover (or overlap) a rule are looked up in an index of
conditions, like the matcher's, and the search per rule is bounded.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from attls.lint.findings import Finding, _rule_finding
from attls.matching import (
    DIRECTIONS,
    Direction,
    Interval,
    NamePattern,
    Probe,
    RuleConditions,
    RuleMatcher,
    conditions_hold,
)
from attls.policy.model import TIE_ORDER_NOTE, Policy, collation_dependent

# At most this many earlier rules are compared with one rule, per check.
MAX_CANDIDATES: Final = 2000
# A condition covering more values than this is not expanded into index keys.
_MAX_KEYS: Final = 64


# --- rule order: shadowing and equal-priority overlaps ------------------------------------------


def _covers_intervals(
    outer: tuple[Interval, ...] | None, inner: tuple[Interval, ...] | None
) -> bool:
    """Whether every value of `inner` is in `outer` (None means every value)."""
    if outer is None:
        return True
    if inner is None:
        return False
    # Both are sorted and disjoint, so each inner interval must sit inside one outer interval.
    i = 0
    for low, high in inner:
        while i < len(outer) and outer[i][1] < low:
            i += 1
        if i == len(outer) or not (outer[i][0] <= low and high <= outer[i][1]):
            return False
    return True


def _intersect_intervals(a: tuple[Interval, ...] | None, b: tuple[Interval, ...] | None) -> bool:
    if a is None or b is None:
        return True
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i][1] < b[j][0]:
            i += 1
        elif b[j][1] < a[i][0]:
            j += 1
        else:
            return True
    return False


def _covers(a: RuleConditions, b: RuleConditions) -> bool:
    """Whether every connection matching `b` also matches `a` (provably)."""
    if a.timed:
        return False  # a time condition may leave a gap in which `b` matches
    if a.direction is not None and a.direction != b.direction:
        return False
    for outer, inner in ((a.jobname, b.jobname), (a.userid, b.userid)):
        if outer is None:
            continue
        if inner is None:
            return False
        if outer.prefix:
            if not inner.text.startswith(outer.text):
                return False
        elif inner.prefix or inner.text != outer.text:
            return False
    return (
        _covers_intervals(a.local_ports, b.local_ports)
        and _covers_intervals(a.remote_ports, b.remote_ports)
        and _covers_intervals(a.local_addrs, b.local_addrs)
        and _covers_intervals(a.remote_addrs, b.remote_addrs)
    )


def _intersect(a: RuleConditions, b: RuleConditions) -> bool:
    """Whether some connection could match both rules."""
    if a.direction is not None and b.direction is not None and a.direction != b.direction:
        return False
    for x, y in ((a.jobname, b.jobname), (a.userid, b.userid)):
        if x is None or y is None:
            continue
        if x.prefix and y.prefix:
            if not (x.text.startswith(y.text) or y.text.startswith(x.text)):
                return False
        elif x.prefix:
            if not y.text.startswith(x.text):
                return False
        elif y.prefix:
            if not x.text.startswith(y.text):
                return False
        elif x.text != y.text:
            return False
    return (
        _intersect_intervals(a.local_ports, b.local_ports)
        and _intersect_intervals(a.remote_ports, b.remote_ports)
        and _intersect_intervals(a.local_addrs, b.local_addrs)
        and _intersect_intervals(a.remote_addrs, b.remote_addrs)
    )


# A candidate lookup returns buckets (lists of rules, each in evaluation order); their total
# length is its cost, so the cheapest condition can be chosen before anything is copied.
_Buckets = list[Sequence[RuleConditions]]


@dataclass(slots=True)
class _IntervalIndex:
    """Rules by one address or port condition."""

    keyed: dict[int, list[RuleConditions]] = field(default_factory=dict)
    wide: list[RuleConditions] = field(default_factory=list)
    any: list[RuleConditions] = field(default_factory=list)

    def add(self, c: RuleConditions, intervals: tuple[Interval, ...] | None) -> None:
        if intervals is None:
            self.any.append(c)
        elif sum(high - low + 1 for low, high in intervals) > _MAX_KEYS:
            self.wide.append(c)
        else:
            for low, high in intervals:
                for value in range(low, high + 1):
                    self.keyed.setdefault(value, []).append(c)

    def overlapping(self, intervals: tuple[Interval, ...] | None) -> _Buckets | None:
        """Buckets holding every rule whose condition may share a value with `intervals`."""
        if intervals is None or sum(high - low + 1 for low, high in intervals) > _MAX_KEYS:
            return None
        found: _Buckets = [
            self.keyed[value]
            for low, high in intervals
            for value in range(low, high + 1)
            if value in self.keyed
        ]
        return [*found, self.wide, self.any]


@dataclass(slots=True)
class _PatternIndex:
    """Rules by their Jobname or Userid condition."""

    exact: dict[str, list[RuleConditions]] = field(default_factory=dict)
    prefixed: dict[str, list[RuleConditions]] = field(default_factory=dict)
    any: list[RuleConditions] = field(default_factory=list)
    _sorted_exact: list[str] = field(default_factory=list)
    _sorted_prefixed: list[str] = field(default_factory=list)

    def add(self, c: RuleConditions, pattern: NamePattern | None) -> None:
        if pattern is None:
            self.any.append(c)
            return
        target = self.prefixed if pattern.prefix else self.exact
        target.setdefault(pattern.text, []).append(c)

    def seal(self) -> None:
        self._sorted_exact = sorted(self.exact)
        self._sorted_prefixed = sorted(self.prefixed)

    def _prefixes_of(self, text: str) -> _Buckets:
        """Rules whose prefix pattern matches `text` (or everything `text*` matches)."""
        prefixed = self.prefixed
        return [prefixed[text[:n]] for n in range(len(text) + 1) if text[:n] in prefixed]

    def overlapping(self, pattern: NamePattern | None) -> _Buckets | None:
        if pattern is None:
            return None
        text = pattern.text
        found = self._prefixes_of(text)
        if not pattern.prefix:
            found.append(self.exact.get(text, []))
            return [*found, self.any]
        # `text*` also meets every longer prefix and every exact name that starts with it.
        for names, buckets in (
            (self._sorted_prefixed, self.prefixed),
            (self._sorted_exact, self.exact),
        ):
            for name in names[bisect.bisect_left(names, text) :]:
                if not name.startswith(text):
                    break
                if buckets is self.exact or name != text:
                    found.append(buckets[name])
        return [*found, self.any]


@dataclass(slots=True)
class _ConditionIndex:
    """Rules by each of their conditions, to find the few that may meet a given rule."""

    local_ports: _IntervalIndex = field(default_factory=_IntervalIndex)
    remote_ports: _IntervalIndex = field(default_factory=_IntervalIndex)
    local_addrs: _IntervalIndex = field(default_factory=_IntervalIndex)
    remote_addrs: _IntervalIndex = field(default_factory=_IntervalIndex)
    jobname: _PatternIndex = field(default_factory=_PatternIndex)
    userid: _PatternIndex = field(default_factory=_PatternIndex)

    @classmethod
    def build(cls, rules: Iterable[RuleConditions]) -> _ConditionIndex:
        index = cls()
        for c in rules:
            index.local_ports.add(c, c.local_ports)
            index.remote_ports.add(c, c.remote_ports)
            index.local_addrs.add(c, c.local_addrs)
            index.remote_addrs.add(c, c.remote_addrs)
            index.jobname.add(c, c.jobname)
            index.userid.add(c, c.userid)
        index.jobname.seal()
        index.userid.seal()
        return index

    def overlapping(self, c: RuleConditions) -> _Buckets | None:
        """The cheapest set of buckets that holds every rule that may meet `c`; None: all."""
        options = [
            self.local_ports.overlapping(c.local_ports),
            self.remote_ports.overlapping(c.remote_ports),
            self.local_addrs.overlapping(c.local_addrs),
            self.remote_addrs.overlapping(c.remote_addrs),
            self.jobname.overlapping(c.jobname),
            self.userid.overlapping(c.userid),
        ]
        found = [option for option in options if option is not None]
        return _cheapest(found) if found else None


def _cheapest(options: list[_Buckets]) -> _Buckets:
    return min(options, key=lambda buckets: sum(len(bucket) for bucket in buckets))


def _earlier(
    buckets: Sequence[Sequence[RuleConditions]], before: int
) -> list[RuleConditions] | None:
    """Rules from the buckets that come before position `before`, once each, in order.

    None when there are too many to compare (more than MAX_CANDIDATES).
    """
    seen: dict[int, RuleConditions] = {}
    for bucket in buckets:
        for c in bucket:
            if c.order >= before:
                break  # each bucket is in evaluation order
            seen[c.order] = c
        if len(seen) > MAX_CANDIDATES:
            return None
    return [seen[order] for order in sorted(seen)]


def _representative(c: RuleConditions) -> Probe:
    """Values that every rule covering `c` matches: one of its own for each condition it
    gives, and for each it does not give a value that only rules without it match."""

    def first(intervals: tuple[Interval, ...] | None) -> int:
        return -1 if intervals is None else intervals[0][0]

    return (
        first(c.local_ports),
        first(c.remote_ports),
        first(c.local_addrs),
        first(c.remote_addrs),
        None if c.jobname is None else c.jobname.text,
        None if c.userid is None else c.userid.text,
    )


# The rule-order findings depend only on the rules, the condition objects they name and where
# they stand in the file. A designer's live preview lints the same rules again and again
# while only an action changes, so the last few results are kept.
_RULE_ORDER_CACHE: dict[int, tuple[object, list[Finding]]] = {}
_RULE_ORDER_CACHE_SIZE = 8


def _rule_order_key(policy: Policy) -> object:
    return (
        tuple(policy.rules.items()),
        tuple(policy.ip_addrs.items()),
        tuple(policy.ip_addr_sets.items()),
        tuple(policy.ip_addr_groups.items()),
        tuple(policy.port_ranges.items()),
        tuple(policy.port_groups.items()),
        tuple((key, value) for key, value in policy.locations.items() if key[0] == "rules"),
    )


def _rule_order_cached(policy: Policy) -> list[Finding]:
    key = _rule_order_key(policy)
    digest = hash(key)
    cached = _RULE_ORDER_CACHE.get(digest)
    if cached is not None and cached[0] == key:
        return list(cached[1])
    findings = _rule_order(policy)
    if len(_RULE_ORDER_CACHE) >= _RULE_ORDER_CACHE_SIZE:
        _RULE_ORDER_CACHE.pop(next(iter(_RULE_ORDER_CACHE)))
    _RULE_ORDER_CACHE[digest] = (key, list(findings))
    return findings


def _rule_order(policy: Policy) -> list[Finding]:
    matcher = RuleMatcher(policy)
    live = [c for c in matcher.rules if not c.matches_nothing]
    findings: list[Finding] = []
    bounded: list[str] = []

    # A rule that covers another matches the other's representative values, so the matcher's
    # index finds the few candidates; `_covers` then decides.
    shadowed: set[int] = set()
    for c in live:
        probe = _representative(c)
        candidates = _earlier(matcher.buckets(c.direction or "Inbound", probe), c.order)
        if candidates is None:
            bounded.append(c.name)
            continue
        winner = next((a for a in candidates if conditions_hold(a, *probe) and _covers(a, c)), None)
        if winner is not None:
            shadowed.add(c.order)
            findings.append(_shadow_finding(policy, winner, c))
            if winner.priority == c.priority:
                collation = _collation_finding(policy, [winner], c)
                if collation is not None:
                    findings.append(collation)

    by_priority: dict[int, list[RuleConditions]] = defaultdict(list)
    for c in live:
        if c.order not in shadowed:
            by_priority[c.priority].append(c)
    for peers in by_priority.values():
        if len(peers) < 2:
            continue
        overlap_index: dict[Direction, _ConditionIndex] = {
            direction: _ConditionIndex.build(c for c in peers if c.covers(direction))
            for direction in DIRECTIONS
        }
        for c in peers:
            directions = DIRECTIONS if c.direction is None else (c.direction,)
            buckets: _Buckets = []
            for direction in directions:
                option = overlap_index[direction].overlapping(c)
                buckets.extend(option if option is not None else [peers])
            candidates = _earlier(buckets, c.order)
            if candidates is None:
                if c.name not in bounded:
                    bounded.append(c.name)
                continue
            actions = _actions(c)
            others = [a for a in candidates if _actions(a) != actions and _intersect(a, c)]
            if others:
                findings.append(_overlap_finding(policy, others, c))
                collation = _collation_finding(policy, others, c)
                if collation is not None:
                    findings.append(collation)
    if bounded:
        shown = ", ".join(f"'{name}'" for name in bounded[:5])
        more = f" and {len(bounded) - 5} more" if len(bounded) > 5 else ""
        findings.append(
            Finding(
                "info",
                "check-bounded",
                f"Shadowing and overlaps were not checked for TTLSRule {shown}{more}: each has"
                f" more than {MAX_CANDIDATES} earlier rules to compare with",
            )
        )
    return findings


def _actions(c: RuleConditions) -> tuple[str | None, str | None, str | None]:
    rule = c.rule
    return (rule.group_action_ref, rule.environment_action_ref, rule.connection_action_ref)


def _shadow_finding(policy: Policy, winner: RuleConditions, loser: RuleConditions) -> Finding:
    if winner.priority == loser.priority:
        why = f"same priority {loser.priority}, and '{winner.name}' sorts first: {TIE_ORDER_NOTE}"
    else:
        why = f"priority {winner.priority} is higher than {loser.priority}"
    return _rule_finding(
        policy,
        "warning",
        "shadowed-rule",
        loser.name,
        f"TTLSRule '{loser.name}' can never match: TTLSRule '{winner.name}' is searched first"
        f" ({why}) and matches every connection that '{loser.name}' would",
    )


def _overlap_finding(
    policy: Policy, winners: Sequence[RuleConditions], loser: RuleConditions
) -> Finding:
    first = winners[0].name
    more = f" (and {len(winners) - 1} more)" if len(winners) > 1 else ""
    return _rule_finding(
        policy,
        "warning",
        "equal-priority-overlap",
        loser.name,
        f"TTLSRule '{loser.name}' and TTLSRule '{first}'{more} have the same priority"
        f" {loser.priority} and can match the same connections but use different actions;"
        f" '{first}' wins only because its name sorts first ({TIE_ORDER_NOTE})",
    )


def _collation_finding(
    policy: Policy, winners: Sequence[RuleConditions], loser: RuleConditions
) -> Finding | None:
    """Equal-priority overlaps whose winner another collation would change."""
    dependent = [w.name for w in winners if collation_dependent(w.name, loser.name)]
    if not dependent:
        return None
    names = ", ".join(f"'{name}'" for name in dependent)
    return _rule_finding(
        policy,
        "warning",
        "collation-dependent-order",
        loser.name,
        f"Whether TTLSRule '{loser.name}' or TTLSRule {names} wins their shared connections"
        " depends on the collation (case, digits against letters, '_' or '~'): IBM documents"
        " only alphabetical order, and this tool assumes EBCDIC. Give them different"
        " priorities",
    )
