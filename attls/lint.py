"""Findings about a policy that parses but may not do what its designer meant.

`lint(policy, profile)` returns findings, each with a stable `code`, a sentence that names
the statements involved, and where the statement is defined when the policy came from a
file. Codes, by what they look at:

rules and their order
  shadowed-rule             a rule can never match: an earlier rule matches all it would
  equal-priority-overlap    rules at one priority can match the same connection but use
                            different actions; the winner is decided only by name order
  cleartext-rule            the rule's group has TTLSEnabled Off: its connections are clear
  missing-environment       the rule's group has TTLSEnabled On but it names no environment
the file
  pagent-tolerated          something Policy Agent accepts (the file loads) that is still
                            wrong or unusual: a repeated parameter, a block given inline and
                            by reference, a number for an address, bytes that are not UTF-8...;
                            the message says what Policy Agent makes of it
statements
  dangling-reference        a `...Ref` names a statement that does not exist
  unused-object             a statement no rule uses, directly or through other statements
effective settings (rules whose group has TTLSEnabled On)
  no-protocol               every protocol is Off
  no-modern-protocol        TLSv1.2 and TLSv1.3 are Off: only older versions can be negotiated
  no-usable-cipher          no listed suite can be negotiated with any protocol that is On
  protocol-without-cipher   TLSv1.2 or TLSv1.3 is On but no listed suite works with it
  suite-not-implemented     a listed suite System SSL on the stack's z/OS release does not
                            implement (attls.releases); Policy Agent drops it
  handshake-role-direction  a Server role on an Outbound rule, or Client on an Inbound one
  profile-protocol          (with a profile) a protocol On that the profile does not allow
  profile-cipher            (with a profile) a listed suite the profile does not allow
  check-bounded             the shadowing/overlap search gave up on some rules (too many
                            candidates); nothing is claimed about them

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
from typing import Final, Literal

from attls import ciphers
from attls.ciphers import NistStatus, Protocol
from attls.effective import EffectiveSettings, effective_all
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
from attls.policy.model import (
    COLLECTIONS,
    TIE_ORDER_NOTE,
    Location,
    Policy,
    Statement,
    collation_dependent,
)

__all__ = ["Finding", "Profile", "Severity", "lint"]

Severity = Literal["error", "warning", "info"]

# At most this many earlier rules are compared with one rule, per check.
MAX_CANDIDATES: Final = 2000
# A condition covering more values than this is not expanded into index keys.
_MAX_KEYS: Final = 64


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding. `statement` is (collection, name) of the statement it is about."""

    severity: Severity
    code: str
    message: str
    statement: tuple[str, str] | None = None
    location: Location | None = None


_MODERN: Final = frozenset({Protocol.TLSV1_2, Protocol.TLSV1_3})


@dataclass(frozen=True, slots=True)
class Profile:
    """What a compliance profile allows: protocol versions and cipher suites (4-char codes)."""

    name: str
    allowed_protocols: frozenset[Protocol]
    allowed_ciphers: frozenset[str]

    @classmethod
    def nist_800_52r2(cls) -> Profile:
        """TLS 1.2 and 1.3 with the suites SP 800-52r2 lists for general use (§3.3.1)."""
        return cls(
            name="NIST SP 800-52r2",
            allowed_protocols=_MODERN,
            allowed_ciphers=frozenset(
                s.code
                for s in ciphers.all_suites()
                if s.nist_800_52r2 is NistStatus.APPROVED and s.protocols & _MODERN
            ),
        )

    @classmethod
    def tls12_13_aead_ecdhe(cls) -> Profile:
        """The scenario's shared environment: TLS 1.2 and 1.3, AEAD only, ECDHE for TLS 1.2.

        TLS 1.3 suites are all AEAD and take their (EC)DHE group from the key-share
        settings, not from the suite, so all of them are allowed.
        """
        return cls(
            name="TLS 1.2/1.3 AEAD with ECDHE",
            allowed_protocols=_MODERN,
            allowed_ciphers=frozenset(
                s.code
                for s in ciphers.all_suites()
                if s.tls13_only
                or (Protocol.TLSV1_2 in s.protocols and s.aead and s.key_exchange == "ECDHE")
            ),
        )


def lint(
    policy: Policy, profile: Profile | None = None, *, release: str | None = None
) -> list[Finding]:
    """Every finding about the policy on a z/OS release (default 3.1), in file order."""
    findings: list[Finding] = [
        Finding("warning", "pagent-tolerated", w.message, None, Location(w.line, w.column))
        for w in policy.warnings
    ]
    findings.extend(_references(policy))
    findings.extend(_rule_order_cached(policy))
    findings.extend(_settings(policy, profile, release))
    return sorted(findings, key=_sort_key)


def _sort_key(finding: Finding) -> tuple[int, int, int, str, str, str]:
    where = finding.location
    statement = finding.statement or ("", "")
    if where is None:
        return (1, 0, 0, statement[0], statement[1], finding.code)
    return (0, where.line, where.column, finding.code, finding.message, "")


def _rule_finding(
    policy: Policy, severity: Severity, code: str, rule: str, message: str
) -> Finding:
    return Finding(severity, code, message, ("rules", rule), policy.locations.get(("rules", rule)))


def _label(collection: str, name: str) -> str:
    return f"{COLLECTIONS[collection].STATEMENT} '{name}'"


# --- references: dangling and unused ------------------------------------------------------------


def _references_of(statement: Statement) -> Iterable[tuple[str, str]]:
    """(target collection, name) of every `...Ref` in a statement and its inline blocks."""
    for field_name, param in type(statement).params():
        value = getattr(statement, field_name)
        if param.kind == "ref" and value is not None:
            assert param.target is not None
            yield param.target, value
        elif param.kind == "refs":
            assert param.target is not None
            for name in value:
                yield param.target, name
        elif param.kind == "block" and value is not None:
            yield from _references_of(value)
        elif param.kind == "blocks":
            for inner in value:
                yield from _references_of(inner)


def _references(policy: Policy) -> list[Finding]:
    findings: list[Finding] = []
    edges: dict[tuple[str, str], list[tuple[str, str]]] = {}
    referenced: set[tuple[str, str]] = set()
    for collection, statement in policy.statements():
        assert statement.name is not None
        owner = (collection, statement.name)
        targets: list[tuple[str, str]] = []
        for target in _references_of(statement):
            if target[1] in policy.collection(target[0]):
                targets.append(target)
                referenced.add(target)
            else:
                findings.append(
                    Finding(
                        "error",
                        "dangling-reference",
                        f"{_label(*owner)} names {_label(*target)}, which is not defined",
                        owner,
                        policy.locations.get(owner),
                    )
                )
        edges[owner] = targets
    # Everything reachable from a rule is in use.
    used: set[tuple[str, str]] = set()
    stack = [("rules", name) for name in policy.rules]
    while stack:
        node = stack.pop()
        if node in used:
            continue
        used.add(node)
        stack.extend(edges.get(node, ()))
    for collection, statement in policy.statements():
        assert statement.name is not None
        key = (collection, statement.name)
        if collection == "rules" or key in used:
            continue
        why = "only unused statements refer to it" if key in referenced else "nothing refers to it"
        findings.append(
            Finding(
                "warning",
                "unused-object",
                f"{_label(*key)} is not used by any rule: {why}",
                key,
                policy.locations.get(key),
            )
        )
    return findings


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


# --- effective settings --------------------------------------------------------------------------

_SERVER_ROLES: Final = frozenset({"Server", "ServerWithClientAuth"})


def _joined(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _suite_label(code: str) -> str:
    suite = ciphers.get(code)
    return f"{code} {suite.iana_name}" if suite is not None else code


def _protocols_of(code: str) -> frozenset[Protocol]:
    suite = ciphers.get(code)
    return suite.protocols if suite is not None else frozenset()


def _settings(policy: Policy, profile: Profile | None, release: str | None) -> list[Finding]:
    """Checks of each rule's effective settings; the work is shared per action triple."""
    findings: list[Finding] = []
    per_actions: dict[tuple[str | None, str | None, str | None], list[_Problem]] = {}
    for name, settings in effective_all(policy, release=release).items():
        if settings.group_action is None or settings.group_action not in policy.group_actions:
            continue  # no group (validate_policy says so) or an undefined one (dangling)
        if not settings.ttls_enabled:
            findings.append(
                _rule_finding(
                    policy,
                    "warning",
                    "cleartext-rule",
                    name,
                    f"TTLSRule '{name}' is cleartext because TTLSGroupAction"
                    f" '{settings.group_action}' has TTLSEnabled Off",
                )
            )
            continue
        if settings.environment_action is None:
            findings.append(
                _rule_finding(
                    policy,
                    "error",
                    "missing-environment",
                    name,
                    f"TTLSRule '{name}' uses TTLSGroupAction '{settings.group_action}', which has"
                    " TTLSEnabled On, but names no TTLSEnvironmentAction",
                )
            )
            continue
        if settings.environment_action not in policy.environment_actions:
            continue  # dangling-reference says so; defaults would only mislead
        key = (settings.group_action, settings.environment_action, settings.connection_action)
        problems = per_actions.get(key)
        if problems is None:
            problems = per_actions[key] = _action_problems(settings, profile)
        for severity, code, detail in problems:
            findings.append(
                _rule_finding(policy, severity, code, name, f"TTLSRule '{name}' {detail}")
            )
        role_problem = _role_problem(settings)
        if role_problem is not None:
            findings.append(
                _rule_finding(
                    policy,
                    "warning",
                    "handshake-role-direction",
                    name,
                    f"TTLSRule '{name}' {role_problem}",
                )
            )
    return findings


# (severity, code, the sentence after "TTLSRule 'name' ")
_Problem = tuple[Severity, str, str]


def _action_problems(settings: EffectiveSettings, profile: Profile | None) -> list[_Problem]:
    """Problems of the settings that depend only on the rule's actions."""
    out: list[_Problem] = []
    for code in settings.not_implemented_suites:
        out.append(
            (
                "error",
                "suite-not-implemented",
                f"lists {_suite_label(code)}, which System SSL on z/OS {settings.release} does not"
                " implement: Policy Agent leaves it out of the list, so a partner that offers"
                " only this suite fails the handshake (return code 402, no cipher suite in"
                " common)",
            )
        )
    enabled = settings.enabled_protocols
    suites = settings.v3_cipher_suites
    default_list = settings.ciphers_from == "system-ssl-default"
    # "... {listing} no cipher suite usable with X": where the list comes from matters.
    listing = "uses the System SSL default cipher list, which has" if default_list else "lists"
    if not enabled:
        out.append(("error", "no-protocol", "has every protocol Off, so no handshake can succeed"))
    else:
        if not _MODERN & set(enabled):
            out.append(
                (
                    "error",
                    "no-modern-protocol",
                    "has TLSv1.2 and TLSv1.3 Off, so only"
                    f" {_joined([p.value for p in enabled])} can be negotiated",
                )
            )
        usable = {p for code in suites for p in _protocols_of(code)}
        if not usable & set(enabled):
            if suites and all(_protocols_of(code) == {Protocol.TLSV1_3} for code in suites):
                out.append(
                    (
                        "error",
                        "no-usable-cipher",
                        f"lists only TLS 1.3 cipher suites ({', '.join(suites)}) but TLSv1.3 is"
                        " Off, so no handshake can succeed",
                    )
                )
            else:
                out.append(
                    (
                        "error",
                        "no-usable-cipher",
                        f"{listing} no cipher suite usable with"
                        f" {_joined([p.value for p in enabled])}, so no handshake can succeed",
                    )
                )
        else:
            for protocol in (Protocol.TLSV1_2, Protocol.TLSV1_3):
                if protocol in enabled and protocol not in usable:
                    out.append(
                        (
                            "warning",
                            "protocol-without-cipher",
                            f"has {protocol.value} On but {listing} no cipher suite usable with"
                            f" it, so {protocol.value} cannot be negotiated",
                        )
                    )
    if profile is not None:
        banned = [p.value for p in enabled if p not in profile.allowed_protocols]
        if banned:
            out.append(
                (
                    "error",
                    "profile-protocol",
                    f"enables {_joined(banned)}, which profile '{profile.name}' does not allow",
                )
            )
        bad_suites = [_suite_label(code) for code in suites if code not in profile.allowed_ciphers]
        if bad_suites:
            out.append(
                (
                    "error",
                    "profile-cipher",
                    f"{listing} cipher suites that profile '{profile.name}' does not allow:"
                    f" {', '.join(bad_suites)}",
                )
            )
    return out


def _role_problem(settings: EffectiveSettings) -> str | None:
    role = settings.handshake_role
    if role is None:
        return None
    source = settings.sources["handshake_role"]
    if source == "connection":
        origin = f"TTLSConnectionAction '{settings.connection_action}'"
    else:
        origin = f"TTLSEnvironmentAction '{settings.environment_action}'"
    if settings.direction == "Outbound" and role in _SERVER_ROLES:
        fix = (
            "set HandshakeRole Client there"
            if source == "connection"
            else "add a TTLSConnectionAction with HandshakeRole Client"
        )
        return f"is Outbound but gets HandshakeRole {role} from {origin}; {fix}"
    if settings.direction == "Inbound" and role == "Client":
        return (
            f"is Inbound but gets HandshakeRole Client from {origin}; an inbound connection"
            " normally needs Server or ServerWithClientAuth"
        )
    return None
