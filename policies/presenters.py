"""Read-only helpers for the designer views: lint rows, cipher rows,
usage, lists of shared objects and stacks, import listings.

Nothing here writes. The live preview is in preview.py, the connection tester in tester.py,
listings and diffs in diffs.py; the kinds of shared object in kinds.py.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django import forms
from django.core.exceptions import PermissionDenied
from django.db.models import Max, Model, Q, QuerySet
from django.http import Http404

from attls import ciphers
from attls.ciphers import NistStatus, Protocol
from attls.effective import PROTOCOLS, EffectiveSettings, effective_all
from attls.errors import Problem
from attls.lint import Finding
from attls.policy import (
    Policy,
    Statement,
    render_policy,
    render_statement,
)
from attls.values import ValueRefused
from policies.diffs import _display
from policies.generation import build_policy, stack_policy
from policies.kinds import SHARED_OBJECT_KINDS
from policies.models import (
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
from policies.services import policy_header

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


# --- policy text as written (with what it cannot write said so) ----------------------------------


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
    return [
        ObjectGroup(
            kind.slug,
            kind.label,
            kind.statement,
            [
                ObjectRow(
                    obj, kind.slug, counts.get((kind.slug, obj.pk), UsageCount()), _summary(obj)
                )
                for obj in kind.listed()
            ],
        )
        for kind in SHARED_OBJECT_KINDS.values()
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
