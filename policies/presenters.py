"""Read-only helpers for the designer views: previews, diffs, usage and tester results.

Nothing here writes. The live preview builds a stack's policy in memory with an unsaved
shared object substituted for the stored one, so an architect sees what PAGENT would
receive before saving; it reuses the generation code rather than restating it.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Model, Q, QuerySet, Sum
from django.http import Http404

from attls import ciphers
from attls.ciphers import NistStatus, Protocol
from attls.effective import PROTOCOLS, EffectiveSettings, effective_all
from attls.errors import Problem
from attls.lint import Finding
from attls.matching import Connection, MatchResult, RuleConditions, RuleMatcher, address_key
from attls.policy import (
    Policy,
    Statement,
    TTLSCipherParms,
    TTLSKeyringParms,
    parse_policy,
    render_policy,
    render_statement,
)
from attls.values import ValueRefused
from policies.generation import build_policy, stack_policy, stack_rules
from policies.lint import design_lint
from policies.models import (
    ChangeRecord,
    CipherSet,
    ConnectionAction,
    EnvironmentAction,
    GroupAction,
    Keyring,
    PolicyVersion,
    Rule,
    Service,
    Stack,
)
from policies.selectors import User, service_for, shared_object_usage, stacks_with_counts
from policies.services import SHARED_OBJECT_TYPES, policy_header

# --- shared object kinds -------------------------------------------------------------------

KIND_LABELS: dict[str, str] = {
    "group-action": "Group actions",
    "environment-action": "Environment actions",
    "connection-action": "Connection actions",
    "cipher-set": "Cipher sets",
    "keyring": "Key rings",
}
KIND_STATEMENTS: dict[str, str] = {
    "group-action": "TTLSGroupAction",
    "environment-action": "TTLSEnvironmentAction",
    "connection-action": "TTLSConnectionAction",
    "cipher-set": "TTLSCipherParms",
    "keyring": "TTLSKeyringParms",
}


def kind_of(obj: Model) -> str:
    for kind, model in SHARED_OBJECT_TYPES.items():
        if isinstance(obj, model):
            return kind
    raise TypeError(f"not a shared object: {obj!r}")


def model_of(kind: str) -> type[Model]:
    try:
        return SHARED_OBJECT_TYPES[kind]
    except KeyError:
        raise Http404(f"no shared object type {kind!r}") from None


# --- who may see a service -----------------------------------------------------------------


def visible_service(*, user: User, uuid: str) -> Service:
    """The service if the user may see it; 403 when it exists but is not theirs, else 404.

    UUIDs are unguessable, so saying "not yours" rather than "not found" leaks nothing of
    use, and it tells an app owner who followed a colleague's link what happened.
    """
    try:
        return service_for(user=user, uuid=uuid)
    except (Service.DoesNotExist, ValueError):
        if Service.objects.filter(uuid=uuid).exists():
            raise PermissionDenied from None
        raise Http404("no such service") from None


# --- code listings and diffs -------------------------------------------------------------------


@dataclass(frozen=True)
class CodeLine:
    number: int
    text: str
    mark: str = ""  # "problem" for a line a syntax error points at


def numbered(text: str) -> list[CodeLine]:
    return [CodeLine(number, line) for number, line in enumerate(text.splitlines(), start=1)]


def listing(text: str) -> Listing:
    """A whole policy for a page: with line numbers, unless it is too long to be read there."""
    count = text.count("\n") + (0 if text.endswith("\n") else 1)
    return Listing(numbered(text) if count <= FULL_LISTING_MAX_LINES else None, count)


@dataclass(frozen=True)
class Listing:
    lines: list[CodeLine] | None  # None: too long to show
    count: int


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "del", "ctx", "hunk", "meta"
    old: int | None
    new: int | None
    text: str


class _KnownOpcodes(difflib.SequenceMatcher):
    """A SequenceMatcher that groups opcodes computed elsewhere (see diff_rows)."""

    def __init__(self, opcodes: list[tuple[str, int, int, int, int]]) -> None:
        super().__init__(None, [], [])
        self._known = opcodes

    def get_opcodes(self) -> list[tuple[str, int, int, int, int]]:  # type: ignore[override]
        return self._known


# Rows of a diff shown at once; a policy of thousands of rules published for the first time
# would otherwise send tens of thousands of lines to the browser.
MAX_DIFF_ROWS = 4000


def diff_rows(
    before: str, after: str, *, from_label: str, to_label: str, context: int = 3
) -> list[DiffLine]:
    """The unified diff of two texts as rows with old and new line numbers.

    The common head and tail are set aside before difflib looks at the rest: a shared
    object edit changes a few lines of a 30,000-line policy, and matching only the middle
    keeps the live preview fast. The result is that of difflib.unified_diff.
    """
    a, b = before.splitlines(), after.splitlines()
    head = 0
    limit = min(len(a), len(b))
    while head < limit and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < limit - head and a[len(a) - 1 - tail] == b[len(b) - 1 - tail]:
        tail += 1
    if head == len(a) == len(b):
        return []
    middle = difflib.SequenceMatcher(
        None, a[head : len(a) - tail], b[head : len(b) - tail], autojunk=False
    ).get_opcodes()
    opcodes = [("equal", 0, head, 0, head)] if head else []
    for tag, i1, i2, j1, j2 in middle:
        opcodes.append((tag, i1 + head, i2 + head, j1 + head, j2 + head))
    if tail:
        opcodes.append(("equal", len(a) - tail, len(a), len(b) - tail, len(b)))
    rows = [
        DiffLine("meta", None, None, f"--- {from_label}"),
        DiffLine("meta", None, None, f"+++ {to_label}"),
    ]
    for group in _KnownOpcodes(opcodes).get_grouped_opcodes(context):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        rows.append(DiffLine("hunk", None, None, f"@@ -{_range(i1, i2)} +{_range(j1, j2)} @@"))
        for tag, k1, k2, m1, m2 in group:
            if tag == "equal":
                rows.extend(
                    DiffLine("ctx", k + 1, m1 + n + 1, a[k]) for n, k in enumerate(range(k1, k2))
                )
                continue
            rows.extend(DiffLine("del", k + 1, None, a[k]) for k in range(k1, k2))
            rows.extend(DiffLine("add", None, m + 1, b[m]) for m in range(m1, m2))
    return rows


def _range(start: int, stop: int) -> str:
    """A hunk range as unified diffs write it: `first,count`, 1-based."""
    length = stop - start
    first = start + 1
    if length == 1:
        return str(first)
    if length == 0:
        first -= 1
    return f"{first},{length}"


def truncated(rows: list[DiffLine]) -> tuple[list[DiffLine], int]:
    """At most MAX_DIFF_ROWS rows, and how many were left out."""
    if len(rows) <= MAX_DIFF_ROWS:
        return rows, 0
    return rows[:MAX_DIFF_ROWS], len(rows) - MAX_DIFF_ROWS


def diff_stats(rows: Sequence[DiffLine]) -> tuple[int, int]:
    return (
        sum(1 for row in rows if row.kind == "add"),
        sum(1 for row in rows if row.kind == "del"),
    )


# --- lint ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FindingRow:
    severity: str
    code: str
    message: str
    statement: str
    status: str = ""  # "new" or "" in a preview
    collection: str = ""  # "rules" when the statement is a TTLSRule, i.e. a service
    controls: tuple[str, ...] = ()  # the SP 800-52r2 controls a profile finding breaks

    @classmethod
    def of(cls, finding: Finding, status: str = "") -> FindingRow:
        collection, statement = finding.statement or ("", "")
        return cls(
            finding.severity,
            finding.code,
            finding.message,
            statement,
            status,
            collection,
            getattr(finding, "controls", ()),
        )


_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def finding_rows(
    findings: Iterable[Finding], *, before: Iterable[Finding] | None = None
) -> list[FindingRow]:
    """Findings, errors first; with `before`, those not found before are marked new."""
    known = None if before is None else {(f.severity, f.code, f.message) for f in before}
    rows = [
        FindingRow.of(
            f, "new" if known is not None and (f.severity, f.code, f.message) not in known else ""
        )
        for f in findings
    ]
    return sorted(rows, key=lambda row: (_SEVERITY_ORDER.get(row.severity, 9), row.code))


def severity_counts(findings: Iterable[Finding | FindingRow]) -> dict[str, int]:
    counts = {"error": 0, "warning": 0, "info": 0}
    for finding in findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    return counts


# --- cipher registry -------------------------------------------------------------------------


@dataclass(frozen=True)
class CipherRow:
    code: str
    iana_name: str
    versions: str
    aead: bool
    pfs: bool
    nist: str  # approved / transition / not listed
    position: int | None  # place in the set, from 1; None when not in it

    @property
    def selected(self) -> bool:
        return self.position is not None


_VERSION_ORDER = [p.value for p in PROTOCOLS]


_VERSION_SHORT = {
    "SSLv2": "SSL2",
    "SSLv3": "SSL3",
    "TLSv1": "1.0",
    "TLSv1.1": "1.1",
    "TLSv1.2": "1.2",
    "TLSv1.3": "1.3",
}


def _versions(protocols: Iterable[Protocol]) -> str:
    """`1.2`, `1.3`, `1.0-1.2` or `SSL3-1.2`: the protocol versions that can negotiate a suite."""
    values = sorted((p.value for p in protocols), key=_VERSION_ORDER.index)
    if not values:
        return "never"
    short = [_VERSION_SHORT[v] for v in values]
    if len(short) > 2:
        return f"{short[0]}-{short[-1]}"
    return ", ".join(short)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _nist(status: NistStatus) -> str:
    return {
        NistStatus.APPROVED: "approved",
        NistStatus.TRANSITION: "transition",
        NistStatus.NOT_LISTED: "not listed",
    }[status]


def cipher_rows(selected: Sequence[str]) -> list[CipherRow]:
    """The registry for a cipher-set form: the set's suites in order, then all the others.

    Unknown codes (which validation refuses) are still shown so the user sees them.
    """
    order = {code.upper(): index for index, code in enumerate(selected, start=1)}
    rows: list[CipherRow] = []
    known = set()
    for suite in ciphers.all_suites():
        if not suite.protocols:
            continue  # TLS_NULL_WITH_NULL_NULL is never negotiated
        known.add(suite.code)
        rows.append(
            CipherRow(
                code=suite.code,
                iana_name=suite.iana_name,
                versions=_versions(suite.protocols),
                aead=suite.aead,
                pfs=suite.forward_secrecy,
                nist=_nist(suite.nist_800_52r2),
                position=order.get(suite.code),
            )
        )
    for code, position in order.items():
        if code not in known:
            rows.append(CipherRow(code, "not in the registry", "", False, False, "", position))
    chosen = sorted((r for r in rows if r.selected), key=lambda r: r.position or 0)
    # The rest: what SP 800-52r2 approves first, then the others, in registry order.
    rest = [r for r in rows if not r.selected]
    rest.sort(key=lambda r: {"approved": 0, "transition": 1}.get(r.nist, 2))
    return chosen + rest


def suite_names(codes: Iterable[str]) -> list[tuple[str, str, str]]:
    """(code, IANA name, SP 800-52r2 status) of each code, for effective-settings tables."""
    out = []
    for code in codes:
        suite = ciphers.get(code)
        if suite is None:
            out.append((code, "unknown", ""))
        else:
            out.append((suite.code, suite.iana_name, _nist(suite.nist_800_52r2)))
    return out


# --- usage of shared objects, for every object in one query ---------------------------------------


@dataclass(frozen=True)
class UsageCount:
    rules: int = 0
    stacks: int = 0

    @property
    def summary(self) -> str:
        return f"used by {plural(self.rules, 'rule')} on {plural(self.stacks, 'stack')}"


def usage_counts() -> dict[tuple[str, int], UsageCount]:
    """(kind, id) -> how many included rules use the object, and on how many stacks.

    The same meaning as selectors.shared_object_usage, for every object at once.
    """
    rules: dict[tuple[str, int], set[int]] = defaultdict(set)
    stacks: dict[tuple[str, int], set[int]] = defaultdict(set)
    rows = Rule.objects.filter(service__included=True).values_list(
        "id",
        "service__stack_id",
        "group_action_id",
        "environment_action_id",
        "connection_action_id",
        "override_cipher_set_id",
        "environment_action__cipher_set_id",
        "connection_action__cipher_set_id",
        "environment_action__keyring_id",
    )
    for rule_id, stack_id, group, env, conn, override, env_ciphers, conn_ciphers, ring in rows:
        keys = [("group-action", group)]
        if env is not None:
            keys.append(("environment-action", env))
        if conn is not None:
            keys.append(("connection-action", conn))
        for cipher_set in {override, env_ciphers, conn_ciphers} - {None}:
            keys.append(("cipher-set", cipher_set))
        if ring is not None:
            keys.append(("keyring", ring))
        for key in keys:
            rules[key].add(rule_id)
            stacks[key].add(stack_id)
    return {key: UsageCount(len(rules[key]), len(stacks[key])) for key in rules}


# --- live preview of an unsaved shared object ----------------------------------------------------


# A preview is sent on every pause in typing: past this, only the diff is shown.
FULL_LISTING_MAX_LINES = 3000


@dataclass(frozen=True)
class RuleChange:
    rule: str
    service_uuid: str | None
    changes: list[str]


@dataclass(frozen=True)
class ChangeGroup:
    changes: list[str]
    rules: list[RuleChange]

    # Rule names shown per group; the rest are counted.
    SHOWN = 40

    @property
    def shown(self) -> list[RuleChange]:
        return self.rules[: self.SHOWN]

    @property
    def hidden(self) -> int:
        return max(0, len(self.rules) - self.SHOWN)


@dataclass
class StackPreview:
    stack: Stack
    text: str
    diff: list[DiffLine]
    findings: list[FindingRow]
    counts: dict[str, int]
    counts_before: dict[str, int]
    changed_rules: list[RuleChange]
    omitted: int = 0  # diff rows left out (see MAX_DIFF_ROWS)
    services: dict[str, str] = field(default_factory=dict)  # rule name -> service UUID

    @property
    def change_groups(self) -> list[ChangeGroup]:
        """Rules with the same change together: one row for the 3,000 rules a shared edit hits."""
        groups: dict[tuple[str, ...], list[RuleChange]] = {}
        for change in self.changed_rules:
            groups.setdefault(tuple(change.changes), []).append(change)
        return [ChangeGroup(list(changes), rules) for changes, rules in groups.items()]

    @property
    def listing(self) -> Listing:
        return listing(self.text)

    @property
    def added(self) -> int:
        return diff_stats(self.diff)[0]

    @property
    def removed(self) -> int:
        return diff_stats(self.diff)[1]


@dataclass
class ObjectPreview:
    rules: int
    stacks: list[StackPreview] = field(default_factory=list)
    statement: str = ""

    @property
    def changed_rules(self) -> int:
        return sum(len(s.changed_rules) for s in self.stacks)

    @property
    def counts(self) -> dict[str, int]:
        total = {"error": 0, "warning": 0, "info": 0}
        for stack in self.stacks:
            for key, value in stack.counts.items():
                total[key] = total.get(key, 0) + value
        return total

    @property
    def summary(self) -> str:
        return f"used by {plural(self.rules, 'rule')} on {plural(len(self.stacks), 'stack')}"


class _RuleWith:
    """A stored rule seen with one of its actions replaced by an unsaved object.

    Cheaper than copying thousands of model instances at every keystroke, and the
    stored rule (cached, shared between requests) is never touched.
    """

    __slots__ = ("_attribute", "_rule", "_value")

    def __init__(self, rule: Rule, attribute: str, value: Model) -> None:
        self._rule = rule
        self._attribute = attribute
        self._value = value

    def __getattr__(self, name: str) -> Any:
        if name == self._attribute:
            return self._value
        return getattr(self._rule, name)


def _substituted(rules: list[Rule], original: Model, edited: Model) -> list[Rule]:
    """The rules with the unsaved object in place of the stored one."""
    attribute = {
        GroupAction: "group_action",
        EnvironmentAction: "environment_action",
        ConnectionAction: "connection_action",
    }.get(type(original))
    if attribute is None:
        return rules
    id_attribute = f"{attribute}_id"
    return [
        _RuleWith(rule, attribute, edited)  # type: ignore[misc]
        if getattr(rule, id_attribute) == original.pk
        else rule
        for rule in rules
    ]


def _patch_leaf(policy: Policy, original: Model, edited: Model) -> None:
    """Key rings and cipher sets are loaded by id during generation: swap the statement."""
    if isinstance(original, CipherSet):
        assert isinstance(edited, CipherSet)
        if original.name not in policy.cipher_parms:
            return
        del policy.cipher_parms[original.name]
        policy.add(TTLSCipherParms(name=edited.name, v3_cipher_suites=tuple(edited.suites)))
        attribute = "cipher_ref"
        collections: tuple[dict[str, Any], ...] = (
            policy.environment_actions,
            policy.connection_actions,
        )
    elif isinstance(original, Keyring):
        assert isinstance(edited, Keyring)
        if original.name not in policy.keyring_parms:
            return
        del policy.keyring_parms[original.name]
        policy.add(TTLSKeyringParms(name=edited.name, keyring=edited.ring))
        attribute = "keyring_ref"
        collections = (policy.environment_actions,)
    else:
        return
    if edited.name == original.name:
        return
    for collection in collections:
        for name, statement in list(collection.items()):
            if getattr(statement, attribute) == original.name:
                collection[name] = dataclasses.replace(statement, **{attribute: edited.name})


def _on_off(value: bool) -> str:
    return "On" if value else "Off"


def effective_changes(before: EffectiveSettings, after: EffectiveSettings) -> list[str]:
    """What a person would notice changing in a rule's effective settings."""
    out: list[str] = []
    if before.ttls_enabled != after.ttls_enabled:
        out.append(f"TTLSEnabled {_on_off(before.ttls_enabled)} → {_on_off(after.ttls_enabled)}")
    for protocol in PROTOCOLS:
        old, new = before.protocols[protocol], after.protocols[protocol]
        if old != new:
            out.append(f"{protocol.value} {_on_off(old)} → {_on_off(new)}")
    if before.v3_cipher_suites != after.v3_cipher_suites:
        removed = [c for c in before.v3_cipher_suites if c not in after.v3_cipher_suites]
        added = [c for c in after.v3_cipher_suites if c not in before.v3_cipher_suites]
        parts = []
        if added:
            parts.append("+" + " +".join(added))
        if removed:
            parts.append("-" + " -".join(removed))
        out.append("ciphers " + (" ".join(parts) if parts else "reordered"))
    for attribute, label in (
        ("handshake_role", "HandshakeRole"),
        ("client_auth_type", "ClientAuthType"),
        ("keyring", "Keyring"),
        ("certificate_label", "CertificateLabel"),
        ("handshake_timeout", "HandshakeTimeout"),
        ("renegotiation", "Renegotiation"),
        ("cert_validation_mode", "CertValidationMode"),
        ("fips140", "FIPS140"),
        ("trace", "Trace"),
    ):
        old, new = getattr(before, attribute), getattr(after, attribute)
        if old != new:
            out.append(f"{label} {old} → {new}")
    return out


def _rule_changes(
    before: Policy,
    effective_before: dict[str, EffectiveSettings],
    after: Policy,
    services_by_name: dict[str, str],
    release: str,
) -> list[RuleChange]:
    effective_after = effective_all(after, release=release)
    changes: list[RuleChange] = []
    for name in sorted(effective_after):
        old = effective_before.get(name)
        if old is None:
            continue
        described = effective_changes(old, effective_after[name])
        if not described and before.rules[name] != after.rules[name]:
            described = ["references renamed"]
        if described:
            changes.append(RuleChange(name, services_by_name.get(name), described))
    return changes


@dataclass(frozen=True)
class _StackBase:
    """A stack's draft as stored: what every preview of an unsaved edit is compared with."""

    fingerprint: tuple[Any, ...]
    rules: list[Rule]
    policy: Policy
    text: str
    findings: list[Finding]
    effective: dict[str, EffectiveSettings]
    services_by_name: dict[str, str]


# A preview is asked for at every pause in typing, and the stored draft it is compared with
# does not change meanwhile: keep the last few, keyed by stack and checked against a
# fingerprint of the design, so only the edited side is generated each time.
_BASES: OrderedDict[str, _StackBase] = OrderedDict()
_BASES_LOCK = threading.Lock()
_BASES_KEPT = 16


def _objects_fingerprint() -> tuple[Any, ...]:
    """Changes anywhere in the design: the change log, and shared objects' last saves."""
    return (
        ChangeRecord.objects.order_by("-id").values_list("id", flat=True).first(),
        *(
            tuple(model.objects.aggregate(n=Count("id"), at=Max("updated_at")).values())
            for model in SHARED_OBJECT_TYPES.values()
        ),
    )


def _stack_fingerprint(stack: Stack, objects: tuple[Any, ...]) -> tuple[Any, ...]:
    services = Service.objects.filter(stack=stack).aggregate(
        n=Count("id"), revisions=Sum("revision"), at=Max("updated_at")
    )
    # The release decides defaults and lint, so a change of release is a change of base.
    return (objects, stack.zos_release, *services.values())


def _stack_base(stack: Stack, objects: tuple[Any, ...]) -> _StackBase:
    fingerprint = _stack_fingerprint(stack, objects)
    key = str(stack.uuid)
    with _BASES_LOCK:
        base = _BASES.get(key)
        if base is not None and base.fingerprint == fingerprint:
            _BASES.move_to_end(key)
            return base
    rules = stack_rules(stack)
    policy = build_policy(rules)
    base = _StackBase(
        fingerprint=fingerprint,
        rules=rules,
        policy=policy,
        text=_written(policy, header=policy_header(stack)),
        findings=design_lint(policy, release=stack.zos_release),
        effective=effective_all(policy, release=stack.zos_release),
        services_by_name={rule.service.name: str(rule.service.uuid) for rule in rules},
    )
    with _BASES_LOCK:
        _BASES[key] = base
        _BASES.move_to_end(key)
        while len(_BASES) > _BASES_KEPT:
            _BASES.popitem(last=False)
    return base


def shared_object_preview(*, original: Model, edited: Model) -> ObjectPreview:
    """The policy of every stack that uses `original`, as it would be with `edited` saved.

    `edited` is an unsaved instance carrying the form's values; nothing is written.
    """
    usage = shared_object_usage(original)
    preview = ObjectPreview(rules=usage.rules)
    objects = _objects_fingerprint() if usage.stacks else ()
    for stack in usage.stacks:
        base = _stack_base(stack, objects)
        after = build_policy(_substituted(base.rules, original, edited))
        _patch_leaf(after, original, edited)
        after_text = _written(after, header=policy_header(stack))
        after_findings = design_lint(after, release=stack.zos_release)
        diff, omitted = truncated(
            diff_rows(
                base.text,
                after_text,
                from_label=f"{stack.label} draft",
                to_label=f"{stack.label} draft with your change",
            )
        )
        preview.stacks.append(
            StackPreview(
                stack=stack,
                text=after_text,
                diff=diff,
                omitted=omitted,
                findings=finding_rows(after_findings, before=base.findings),
                counts=severity_counts(after_findings),
                counts_before=severity_counts(base.findings),
                changed_rules=_rule_changes(
                    base.policy, base.effective, after, base.services_by_name, stack.zos_release
                ),
                services=base.services_by_name,
            )
        )
        if not preview.statement:
            preview.statement = _statement_text(after, edited)
    return preview


def _unwritable(refusal: ValueRefused) -> str:
    return (
        f"# This design cannot be written as a policy file: {refusal}.\n"
        "# Correct that value; nothing can be published until then.\n"
    )


def _written(policy: Policy, *, header: str | None = None) -> str:
    """The policy's text; for a design holding a value the renderer refuses (a row saved
    before the validators existed), a comment naming it, so that the page where it is
    corrected still opens. Publishing refuses such a design (policies.services)."""
    try:
        return render_policy(policy, header=header)
    except ValueRefused as refusal:
        return _unwritable(refusal)


def _written_statement(statement: Statement) -> str:
    try:
        return render_statement(statement)
    except ValueRefused as refusal:
        return _unwritable(refusal)


def _statement_text(policy: Policy, edited: Model) -> str:
    collection = {
        GroupAction: policy.group_actions,
        EnvironmentAction: policy.environment_actions,
        ConnectionAction: policy.connection_actions,
        CipherSet: policy.cipher_parms,
        Keyring: policy.keyring_parms,
    }[type(edited)]
    statement = collection.get(edited.name)  # type: ignore[attr-defined]
    return _written_statement(statement) if statement is not None else ""


# --- one service's rule, as PAGENT gets it -------------------------------------------------------


@dataclass(frozen=True)
class ServicePolicy:
    text: str
    effective: EffectiveSettings | None


def service_policy(service: Service) -> ServicePolicy:
    """The rule of one service with the actions it names, and its effective settings."""
    rule = Rule.objects.select_related(
        "service__stack", "group_action", "environment_action", "connection_action"
    ).get(service=service)
    policy = build_policy([rule])
    settings = effective_all(policy, release=service.stack.zos_release).get(service.name)
    return ServicePolicy(_written(policy), settings)


# --- stacks and versions --------------------------------------------------------------------------


def stack_latest_versions() -> dict[int, int]:
    """stack id -> number of its latest published version."""
    return dict(
        PolicyVersion.objects.values("stack")
        .annotate(latest=Max("number"))
        .values_list("stack", "latest")
    )


def version_filename(version: PolicyVersion) -> str:
    return f"{version.stack.lpar.name}-{version.stack.name}-v{version.number}.policy"


def versions_diff(older: PolicyVersion | None, newer: PolicyVersion) -> list[DiffLine]:
    label = newer.stack.label
    return diff_rows(
        older.text if older is not None else "",
        newer.text,
        from_label=f"{label} v{older.number}" if older is not None else f"{label} (nothing)",
        to_label=f"{label} v{newer.number}",
    )


def draft_diff(draft: Any) -> list[DiffLine]:
    """The draft against the last published version (services.Draft.diff, as rows)."""
    published = draft.published
    label = draft.stack.label
    return diff_rows(
        published.text if published is not None else "",
        draft.text,
        from_label=f"{label} v{published.number}"
        if published is not None
        else f"{label} (nothing)",
        to_label=f"{label} draft",
    )


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


# --- service list filters ------------------------------------------------------------------------


def filter_choices(visible: QuerySet[Service]) -> tuple[list[str], list[str]]:
    """LPARs and owner teams among the services the user sees (an app owner sees only theirs)."""
    lpars = list(
        visible.order_by("stack__lpar__name").values_list("stack__lpar__name", flat=True).distinct()
    )
    teams = list(
        visible.exclude(owner_team="")
        .order_by("owner_team")
        .values_list("owner_team", flat=True)
        .distinct()
    )
    return lpars, teams


# --- a refused save: what the other editor changed ------------------------------------------------


@dataclass(frozen=True)
class Difference:
    label: str
    theirs: str
    yours: str


def _display(value: Any) -> str:
    if isinstance(value, bool):
        return "On" if value else "Off"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    if value in (None, ""):
        return "—"
    return str(value)


def _comparable(field: Any, value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    if isinstance(field.field, forms.NullBooleanField):
        return field.field.to_python(value)
    if isinstance(field.field, forms.BooleanField):
        return bool(value) and value not in ("false", "False", "0", "off")
    return "" if value is None else str(value)


def form_differences(yours: forms.BaseForm, theirs: forms.BaseForm) -> list[Difference]:
    """Fields where the stored object (an unbound form of it) differs from the user's input."""
    out = []
    for name in yours.fields:
        if name == "revision":
            continue
        mine, stored = yours[name], theirs[name]
        mine_value, stored_value = (
            _comparable(mine, mine.value()),
            _comparable(stored, stored.value()),
        )
        if mine_value != stored_value:
            out.append(Difference(str(mine.label), _display(stored_value), _display(mine_value)))
    return out


# --- shared objects: lists, attributes, usage -----------------------------------------------------


@dataclass
class ObjectRow:
    obj: Model
    kind: str
    usage: UsageCount
    summary: list[str]


@dataclass
class ObjectGroup:
    kind: str
    label: str
    statement: str
    rows: list[ObjectRow]


def _summary(obj: Model) -> list[str]:
    """A few words per object for the list: what an engineer looks for first."""
    if isinstance(obj, EnvironmentAction):
        on = [
            label
            for attribute, label in (
                ("sslv3", "SSLv3"),
                ("tlsv1", "TLSv1"),
                ("tlsv1_1", "TLSv1.1"),
                ("tlsv1_2", "TLSv1.2"),
                ("tlsv1_3", "TLSv1.3"),
            )
            if getattr(obj, attribute)
        ]
        return [
            obj.handshake_role,
            " ".join(on) or "no protocol",
            f"ring {obj.keyring.name}",
            f"ciphers {obj.cipher_set.name}" if obj.cipher_set else "default ciphers",
        ]
    if isinstance(obj, ConnectionAction):
        parts = [obj.handshake_role or "role inherited"]
        for attribute, label in (("tlsv1_2", "TLSv1.2"), ("tlsv1_3", "TLSv1.3")):
            if getattr(obj, attribute):
                parts.append(f"{label} {getattr(obj, attribute)}")
        if obj.cipher_set:
            parts.append(f"ciphers {obj.cipher_set.name}")
        return parts
    if isinstance(obj, GroupAction):
        return [
            "TTLSEnabled On" if obj.ttls_enabled else "TTLSEnabled Off",
            f"Trace {obj.trace}",
            *(["FIPS140"] if obj.fips140 else []),
        ]
    if isinstance(obj, CipherSet):
        return [
            f"{len(obj.suites)} suites",
            " ".join(obj.suites[:6]) + (" …" if len(obj.suites) > 6 else ""),
        ]
    if isinstance(obj, Keyring):
        return [obj.ring, f"{len(obj.certificate_labels)} label(s)"]
    return []


def shared_object_groups() -> list[ObjectGroup]:
    counts = usage_counts()
    querysets: dict[str, QuerySet[Any]] = {
        "group-action": GroupAction.objects.all(),
        "environment-action": EnvironmentAction.objects.select_related("keyring", "cipher_set"),
        "connection-action": ConnectionAction.objects.select_related("cipher_set"),
        "cipher-set": CipherSet.objects.all(),
        "keyring": Keyring.objects.all(),
    }
    return [
        ObjectGroup(
            kind,
            KIND_LABELS[kind],
            KIND_STATEMENTS[kind],
            [
                ObjectRow(obj, kind, counts.get((kind, obj.pk), UsageCount()), _summary(obj))
                for obj in queryset
            ],
        )
        for kind, queryset in querysets.items()
    ]


def object_attributes(form: forms.BaseForm) -> list[tuple[str, str]]:
    """(label, value) of every field of a stored object, read through its form."""
    out = []
    for name in form.fields:
        if name in ("revision", "suites"):
            continue
        bound = form[name]
        out.append((str(bound.label), _display(bound.value())))
    return out


@dataclass
class StackUsage:
    stack: Stack
    rules: list[tuple[str, str]]  # (rule name, service uuid)
    total: int = 0

    # Rule names listed per stack on an object's page; the rest are counted.
    SHOWN = 200

    @property
    def hidden(self) -> int:
        return self.total - len(self.rules)


@dataclass
class ObjectUsage:
    rules: int
    stacks: list[StackUsage]

    @property
    def summary(self) -> str:
        return f"used by {plural(self.rules, 'rule')} on {plural(len(self.stacks), 'stack')}"


def rules_using(obj: Model) -> ObjectUsage:
    """Which included rules use the object, by stack (the meaning of shared_object_usage)."""
    usage = shared_object_usage(obj)
    filters = {
        GroupAction: Q(group_action=obj),
        EnvironmentAction: Q(environment_action=obj),
        ConnectionAction: Q(connection_action=obj),
        CipherSet: Q(environment_action__cipher_set=obj)
        | Q(connection_action__cipher_set=obj)
        | Q(override_cipher_set=obj),
        Keyring: Q(environment_action__keyring=obj),
    }
    rows = (
        Rule.objects.filter(filters[type(obj)], service__included=True)
        .order_by("service__name")
        .values_list("service__stack_id", "service__name", "service__uuid")
        .distinct()
    )
    by_stack: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for stack_id, name, uuid in rows:
        by_stack[stack_id].append((name, str(uuid)))
    return ObjectUsage(
        rules=usage.rules,
        stacks=[
            StackUsage(
                stack,
                by_stack.get(stack.pk, [])[: StackUsage.SHOWN],
                len(by_stack.get(stack.pk, [])),
            )
            for stack in usage.stacks
        ],
    )


def object_statement(obj: Model) -> str:
    """The object as PAGENT gets it, rendered from one rule that uses it; "" when unused."""
    filters = {
        GroupAction: Q(group_action=obj),
        EnvironmentAction: Q(environment_action=obj),
        ConnectionAction: Q(connection_action=obj),
        CipherSet: Q(environment_action__cipher_set=obj)
        | Q(connection_action__cipher_set=obj)
        | Q(override_cipher_set=obj),
        Keyring: Q(environment_action__keyring=obj),
    }
    rule = (
        Rule.objects.filter(filters[type(obj)], service__included=True)
        .select_related("service", "group_action", "environment_action", "connection_action")
        .first()
    )
    if rule is None:
        return ""
    return _statement_text(build_policy([rule]), obj)


# --- stacks ---------------------------------------------------------------------------------------


@dataclass
class StackRow:
    stack: Stack
    services: int
    latest: PolicyVersion | None
    draft_sha256: str

    @property
    def changed(self) -> bool:
        return self.latest is None or self.latest.sha256 != self.draft_sha256


def stack_rows() -> list[StackRow]:
    """Every stack, its latest version and whether its draft differs from it."""
    latest_numbers = stack_latest_versions()
    latest = {
        v.stack_id: v
        for v in PolicyVersion.objects.select_related("author").filter(
            number__in=set(latest_numbers.values())
        )
        if latest_numbers.get(v.stack_id) == v.number
    }
    rows = []
    for stack in stacks_with_counts():
        text = _written(stack_policy(stack), header=policy_header(stack))
        rows.append(
            StackRow(
                stack=stack,
                services=stack.service_count,  # type: ignore[attr-defined]
                latest=latest.get(stack.pk),
                draft_sha256=hashlib.sha256(text.encode()).hexdigest(),
            )
        )
    return rows


def service_uuids(stack: Stack) -> dict[str, str]:
    """Rule name -> service UUID on a stack, to link tester results to services."""
    return {name: str(uuid) for name, uuid in stack.services.values_list("name", "uuid").order_by()}


# --- import ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListingLine:
    number: int
    text: str
    problems: list[Problem]

    @property
    def marks(self) -> list[tuple[str, Problem]]:
        """A caret under each problem's column, with spaces kept for the <pre>."""
        return [(" " * max(p.column - 1, 0) + "^", p) for p in self.problems]


def syntax_listing(text: str, problems: Sequence[Problem]) -> list[ListingLine]:
    by_line: dict[int, list[Problem]] = defaultdict(list)
    for problem in problems:
        by_line[problem.line].append(problem)
    lines = text.splitlines() or [""]
    listing = [
        ListingLine(number, line, by_line.get(number, []))
        for number, line in enumerate(lines, start=1)
    ]
    # A problem past the last line (an unclosed brace at end of file) still shows.
    for number in sorted(n for n in by_line if n > len(lines)):
        listing.append(ListingLine(number, "", by_line[number]))
    return listing
