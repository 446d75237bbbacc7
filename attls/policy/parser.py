"""Reads an AT-TLS policy file into the typed model, checking everything a person can fix.

`read_policy(data)` takes the bytes (EBCDIC or UTF-8, see attls.textcodec) or the text of a
file and never raises: it returns the policy built from every statement that could be
built, the errors, and the warnings. `parse_policy(text)` returns the `Policy` or raises
`PolicySyntaxError` listing every error.

Errors, each at its line and column: unknown statements and parameters, bad values, names
over 32 characters, missing required parameters, duplicate names, and references to
statements that do not exist. References may point forward: names are resolved after the
whole file has been read.

Warnings are what Policy Agent accepts although it is wrong or odd, each saying what
Policy Agent makes of it, and whether that is documented, observed in real z/OS output
(../shared/reference/samples: the PAGENTTN policy and the z/OS 3.1 report of what was
installed from it) or inferred: a parameter given again, a block given both inline and by
reference, a number where an address belongs, a V3CipherSuites4Char value Policy Agent
ignores, quoted values, labels with blanks, bytes that are not UTF-8.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from attls.errors import PolicySyntaxError, Problem
from attls.policy import values as v
from attls.policy.model import (
    COLLECTION_OF,
    COLLECTIONS,
    IpAddr,
    Location,
    Param,
    Policy,
    PortRange,
    Statement,
    TTLSEnvironmentAction,
    TTLSGroupAction,
    TTLSKeyringParms,
    TTLSRule,
)
from attls.policy.syntax import MAX_PROBLEMS, Node, SourceText, parse_tree, stopped_reading
from attls.textcodec import Encoding, decode_text


@dataclass(frozen=True, slots=True)
class _Slot:
    """One keyword a statement accepts: the field it fills and how to read it."""

    field: str
    param: Param
    read: v.Reader | None
    keyword: str  # in IBM casing: the primary keyword or the alias this slot is for


_SLOTS: dict[type[Statement], dict[str, _Slot]] = {}


def _slots(cls: type[Statement]) -> dict[str, _Slot]:
    slots = _SLOTS.get(cls)
    if slots is None:
        slots = {}
        for field_name, param in cls.params():
            slots[param.keyword.lower()] = _Slot(field_name, param, param.read, param.keyword)
            for alias, reader in param.aliases:
                slots[alias.lower()] = _Slot(field_name, param, reader, alias)
        _SLOTS[cls] = slots
    return slots


_TOP_LEVEL: dict[str, type[Statement]] = {
    cls.STATEMENT.lower(): cls for cls in COLLECTIONS.values()
}

# Pagent.conf statements that may share a file with AT-TLS policy; they are not ours to read.
_PAGENT_STATEMENTS = frozenset(
    s.lower()
    for s in (
        "TcpImage",
        "PEPInstance",
        "TTLSConfig",
        "CommonTTLSConfig",
        "LogLevel",
        "Codepage",
    )
)


_KNOWN: list[frozenset[str]] = []


def _known_keywords() -> frozenset[str]:
    """Every keyword a policy file may hold, in lower case and IBM's case (computed once)."""
    if not _KNOWN:
        words = set(_TOP_LEVEL) | set(_PAGENT_STATEMENTS) | {"{", "}"}
        for cls in COLLECTIONS.values():
            words.add(cls.STATEMENT)
            for _, param in cls.params():
                # IBM's casing too, so the usual spelling is found without lower().
                words.update((param.keyword, param.keyword.lower()))
                for alias, _ in param.aliases:
                    words.update((alias, alias.lower()))
        _KNOWN.append(frozenset(words))
    return _KNOWN[0]


@dataclass(frozen=True, slots=True)
class _Reference:
    target: str
    name: str
    line: int
    word_index: int
    keyword: str


# The most parameter lines one statement may have: a long cipher list is a few hundred;
# beyond this a block is not a policy, and reading it would only cost time.
MAX_PARAMETER_LINES = 2000


class _StopReading(Exception):
    """Too many problems: the rest of the file is not worth reading."""


class _Builder:
    def __init__(self, source: SourceText) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.references: list[_Reference] = []
        self.comments: dict[tuple[Any, ...], str] = {}

    def problem(self, node: Node, word_index: int, message: str) -> None:
        if len(self.problems) >= MAX_PROBLEMS:
            self.problems.append(stopped_reading(self.source, node.line, node.word_index))
            raise _StopReading
        self.problems.append(self.source.problem(node.line, node.word_index + word_index, message))

    def warn(self, node: Node, word_index: int, message: str) -> None:
        """Something Policy Agent accepts (so the file loads) that a person should still fix."""
        if len(self.warnings) < MAX_PROBLEMS:
            self.warnings.append(
                self.source.problem(node.line, node.word_index + word_index, message)
            )

    def statement(
        self,
        node: Node,
        cls: type[Statement],
        *,
        top_level: bool,
        path: tuple[Any, ...] = (),
    ) -> Statement | None:
        """Builds one statement from its node; None when it is too broken to keep."""
        name = self._name(node, cls, top_level=top_level)
        if node.children is None:
            self.problem(node, 0, f"{cls.STATEMENT} needs a block: '{{' on the next line")
            return None
        slots = _slots(cls)
        values: dict[str, Any] = {}
        seen: dict[str, Node] = {}
        children = node.children
        if len(children) > MAX_PARAMETER_LINES:
            self.problem(
                node,
                0,
                f"{cls.STATEMENT} has {len(children)} parameter lines; no AT-TLS statement needs"
                f" more than {MAX_PARAMETER_LINES}, so it was not read",
            )
            return None
        if not path or all(c.comment is None and c.children is None for c in children):
            # Nothing to remember where it came from: the common case, kept fast.
            for child in children:
                self._parameter(child, cls, slots, values, seen)
        else:
            occurrences: dict[str, int] = {}
            for child in children:
                keyword = child.keyword.lower()
                occurrence = occurrences[keyword] = occurrences.get(keyword, -1) + 1
                step = (*path, keyword, occurrence)
                if child.comment is not None:
                    self.comments[step] = child.comment
                self._parameter(child, cls, slots, values, seen, step)
        if name is not None:
            values["name"] = name
        try:
            statement = cls(**values)
        except TypeError as error:  # pragma: no cover - a schema bug, not bad input
            raise AssertionError(f"schema of {cls.STATEMENT}: {error}") from error
        self._required(node, statement, present=set(seen))
        return statement

    def _name(self, node: Node, cls: type[Statement], *, top_level: bool) -> str | None:
        values = node.values
        if not values:
            if top_level:
                self.problem(node, 0, f"{cls.STATEMENT} needs a name")
            return None
        if len(values) > 1:
            self.problem(node, 2, f"{cls.STATEMENT} takes one name; '{values[1]}' is extra")
        name = values[0]
        trouble = v.check_name(name)
        if trouble:
            self.problem(node, 1, trouble)
        return name

    def _parameter(
        self,
        node: Node,
        cls: type[Statement],
        slots: dict[str, _Slot],
        values: dict[str, Any],
        seen: dict[str, Node],
        path: tuple[Any, ...] = (),
    ) -> None:
        keyword = node.keyword
        slot = slots.get(keyword.lower())
        if slot is None:
            self.problem(node, 0, self._unknown(keyword, cls))
            return
        param = slot.param
        kind = param.kind
        repeated = seen.get(slot.field) if kind in ("value", "ref", "block") else None
        if repeated is not None and param.concatenate_with is None:
            # Policy Agent loads such a file (the real PAGENTTN policy repeats TLSv1, TLSv1.1
            # and TLSv1.2 in eAdvAZFClient). Which occurrence it keeps is not documented and
            # that file cannot tell (both carry the same value): the later one is our reading.
            self.warn(
                node,
                0,
                f"{param.keyword} is given again in {cls.STATEMENT} (first on line"
                f" {repeated.line}); Policy Agent accepts the file, and this tool uses the later"
                " value (inferred: IBM does not say which one Policy Agent keeps)",
            )
        if repeated is not None and param.concatenation_inferred:
            self.warn(
                node,
                0,
                f"{param.keyword} is given again in {cls.STATEMENT} (first on line"
                f" {repeated.line}); this tool joins the values into one blank-separated list"
                " (inferred: IBM does not say what Policy Agent does with a repeat)",
            )
        seen[slot.field] = node
        if kind in ("block", "blocks"):
            assert param.block is not None
            if node.children is None:
                self.problem(node, 0, f"{param.keyword} needs a block: '{{' on the next line")
                return
            inner = self.statement(node, param.block, top_level=False, path=path)
            if inner is None:
                return
            if kind == "block":
                values[slot.field] = inner
            else:
                values[slot.field] = (*values.get(slot.field, ()), inner)
            return
        if node.children is not None:
            self.problem(node, 0, f"{param.keyword} does not take a block")
            return
        if kind in ("ref", "refs"):
            name = self._reference(node, param)
            if name is None:
                return
            if kind == "ref":
                values[slot.field] = name
            else:
                values[slot.field] = (*values.get(slot.field, ()), name)
            return
        assert slot.read is not None
        try:
            value = slot.read(node.values)
        except v.Tolerated as tolerated:
            message = str(tolerated)
            if not message.startswith(slot.keyword):
                message = f"{slot.keyword}: {message}"
            self.warn(node, 1, message)
            if tolerated.value is None:
                return
            value = tolerated.value
        except ValueError as error:
            message = str(error)
            if not message.startswith(slot.keyword):
                message = f"{slot.keyword}: {message}"
            self.problem(node, 1, message)
            return
        if kind == "list":
            # Readers of code strings return several items at once; others return one.
            items = value if isinstance(value, tuple) else (value,)
            values[slot.field] = (*values.get(slot.field, ()), *items)
        elif repeated is not None and param.concatenate_with is not None:
            values[slot.field] = f"{values[slot.field]}{param.concatenate_with}{value}"
        else:
            values[slot.field] = value

    def _reference(self, node: Node, param: Param) -> str | None:
        args = node.values
        if len(args) != 1:
            self.problem(node, 1 if args else 0, f"{param.keyword} takes one name")
            return None
        name = args[0]
        trouble = v.check_name(name)
        if trouble:
            self.problem(node, 1, trouble)
            return None
        assert param.target is not None
        self.references.append(
            _Reference(param.target, name, node.line, node.word_index + 1, param.keyword)
        )
        return name

    def _unknown(self, keyword: str, cls: type[Statement]) -> str:
        lowered = keyword.lower()
        if lowered in _TOP_LEVEL:
            return f"{_TOP_LEVEL[lowered].STATEMENT} cannot be used inside {cls.STATEMENT}"
        return f"unknown parameter '{keyword}' in {cls.STATEMENT}"

    def _required(self, node: Node, statement: Statement, *, present: set[str]) -> None:
        """Parameters a statement cannot do without, and pairs that exclude each other.

        `present` holds the fields that were written, even with a bad value: a bad value is
        reported once, as a bad value, not again as missing.
        """
        name = statement.STATEMENT
        missing: list[str] = []
        if isinstance(statement, TTLSRule):
            if "direction" not in present:
                missing.append("Direction")
            if "group_action_ref" not in present:
                missing.append("TTLSGroupActionRef")
            if not _has_condition(statement) and not present & _CONDITION_NAMES:
                self.problem(
                    node,
                    0,
                    f"{name} '{statement.name}' needs at least one condition: an address, a port,"
                    " Jobname or Userid",
                )
            for group in _EXCLUSIVE_RULE_FIELDS:
                given = [kw for field_name, kw in group if getattr(statement, field_name)]
                if len(given) > 1:
                    self.problem(node, 0, f"{name} '{statement.name}': give only one of {given}")
        elif isinstance(statement, TTLSGroupAction):
            if "ttls_enabled" not in present:
                missing.append("TTLSEnabled")
        elif isinstance(statement, TTLSEnvironmentAction):
            if "handshake_role" not in present:
                missing.append("HandshakeRole")
            if not present & {"keyring", "keyring_ref"}:
                missing.append("TTLSKeyringParms or TTLSKeyringParmsRef")
        elif isinstance(statement, TTLSKeyringParms):
            if "keyring" not in present:
                missing.append("Keyring")
        elif isinstance(statement, IpAddr):
            if "addr" not in present:
                missing.append("Addr")
        elif isinstance(statement, PortRange) and "port" not in present:
            missing.append("Port")
        for keyword in missing:
            label = f"{name} '{statement.name}'" if statement.name else name
            self.problem(node, 0, f"{label} is missing {keyword}")
        for field_name, param in type(statement).params():
            if param.kind == "block" and getattr(statement, field_name) is not None:
                ref_field = field_name + "_ref"
                if getattr(statement, ref_field, None) is not None:
                    # Observed: AZFEnvAction1Client in the real PAGENTTN policy has both; the
                    # z/OS 3.1 report shows the inline block's values (TLSv1 at its default
                    # On, where the referenced AZFEnvAdvServer sets it Off), nothing merged.
                    self.warn(
                        node,
                        0,
                        f"{name}: both {param.keyword} and {param.keyword}Ref are given; Policy"
                        f" Agent uses the inline {param.keyword} and ignores"
                        f" {param.keyword}Ref {getattr(statement, ref_field)} (observed in a real"
                        " z/OS 3.1 report)",
                    )


_EXCLUSIVE_RULE_FIELDS: tuple[tuple[tuple[str, str], ...], ...] = tuple(
    tuple((field_name, keyword) for field_name, keyword in group)
    for group in (
        (
            ("local_addr", "LocalAddr"),
            ("local_addr_ref", "LocalAddrRef"),
            ("local_addr_set_ref", "LocalAddrSetRef"),
            ("local_addr_group_ref", "LocalAddrGroupRef"),
        ),
        (
            ("remote_addr", "RemoteAddr"),
            ("remote_addr_ref", "RemoteAddrRef"),
            ("remote_addr_set_ref", "RemoteAddrSetRef"),
            ("remote_addr_group_ref", "RemoteAddrGroupRef"),
        ),
        (
            ("local_port_range", "LocalPortRange"),
            ("local_port_range_ref", "LocalPortRangeRef"),
            ("local_port_group_ref", "LocalPortGroupRef"),
        ),
        (
            ("remote_port_range", "RemotePortRange"),
            ("remote_port_range_ref", "RemotePortRangeRef"),
            ("remote_port_group_ref", "RemotePortGroupRef"),
        ),
    )
)

_CONDITION_FIELDS = tuple(field_name for group in _EXCLUSIVE_RULE_FIELDS for field_name, _ in group)
_CONDITION_NAMES = frozenset((*_CONDITION_FIELDS, "jobname", "userid"))


def _has_condition(rule: TTLSRule) -> bool:
    return (
        any(getattr(rule, field_name) is not None for field_name in _CONDITION_FIELDS)
        or rule.jobname is not None
        or rule.userid is not None
    )


@dataclass(frozen=True, slots=True)
class PolicyReading:
    """Everything one read of a policy file found.

    `policy` holds every statement that could be built, also when there are `errors`, so
    lint can go on and a person sees every problem in one run. `warnings` are what Policy
    Agent accepts but a person should fix (also on `policy.warnings`).
    """

    policy: Policy
    errors: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    encoding: Encoding


def read_policy(data: str | bytes, *, encoding: Encoding | None = None) -> PolicyReading:
    """Reads a policy file from its bytes (EBCDIC or UTF-8, see attls.textcodec) or text.

    Never raises for bad input: errors are returned, in file order.
    """
    if isinstance(data, bytes):
        decoded = decode_text(data, encoding=encoding)
        text, chosen, decode_warnings = decoded.text, decoded.encoding, decoded.warnings
    else:
        text, chosen, decode_warnings = data, "UTF-8", ()
    policy, problems, _, _ = _build(text)
    policy.warnings = sorted((*decode_warnings, *policy.warnings), key=lambda p: (p.line, p.column))
    return PolicyReading(
        policy,
        tuple(sorted(problems, key=lambda p: (p.line, p.column))),
        tuple(policy.warnings),
        chosen,
    )


def parse_policy(text: str | bytes, *, source: str | None = None) -> Policy:
    """Reads a whole AT-TLS policy file. Raises PolicySyntaxError with every problem found.

    What Policy Agent tolerates is not an error: it is on the returned `policy.warnings`.
    """
    reading = read_policy(text)
    if reading.errors:
        raise PolicySyntaxError(list(reading.errors), source)
    return reading.policy


def parse_policy_files(files: Sequence[tuple[str, str]]) -> Policy:
    """Reads several files as one policy, in order (the common file first).

    As Policy Agent does, a statement defined again under the same type and name in a later
    file replaces the earlier one, and references may cross files; within one file a repeated
    name is an error. Each problem names its file.
    """
    merged = Policy()
    problems: list[Problem] = []
    pending: list[tuple[str, SourceText, _Reference]] = []
    for source_name, text in files:
        policy, file_problems, references, source = _build(text, resolve=False)
        problems.extend(dataclasses.replace(p, source=source_name) for p in file_problems)
        merged.warnings.extend(dataclasses.replace(p, source=source_name) for p in policy.warnings)
        pending.extend((source_name, source, reference) for reference in references)
        for collection, statement in policy.statements():
            merged.add(statement)
            assert statement.name is not None
            merged.locations[(collection, statement.name)] = policy.locations[
                (collection, statement.name)
            ]
    for source_name, source, reference in pending:
        if reference.name not in merged.collection(reference.target):
            problem = source.problem(reference.line, reference.word_index, _dangling(reference))
            problems.append(dataclasses.replace(problem, source=source_name))
    if not problems:
        problems.extend(_group_needs_environment(merged))
    if problems:
        raise PolicySyntaxError(problems)
    return merged


def _build(
    text: str, *, resolve: bool = True
) -> tuple[Policy, list[Problem], list[_Reference], SourceText]:
    """Reads one file. With `resolve`, references are checked against this file alone."""
    source = SourceText(text)
    tree, problems = parse_tree(text, source, _known_keywords())
    builder = _Builder(source)
    builder.problems.extend(problems)
    policy = Policy()
    try:
        _build_statements(tree, builder, policy, source)
    except _StopReading:
        resolve = False
    policy.warnings = builder.warnings
    policy.comments = builder.comments
    if resolve:
        for reference in builder.references:
            if reference.name not in policy.collection(reference.target):
                builder.problems.append(
                    source.problem(reference.line, reference.word_index, _dangling(reference))
                )
        builder.problems.extend(_group_needs_environment(policy))
    return policy, builder.problems, builder.references, source


def _build_statements(
    tree: list[Node], builder: _Builder, policy: Policy, source: SourceText
) -> None:
    for node in tree:
        cls = _TOP_LEVEL.get(node.keyword.lower())
        if cls is None:
            if node.keyword == "{":
                continue  # an orphan brace, already reported
            if node.keyword.lower() in _PAGENT_STATEMENTS:
                builder.problem(
                    node,
                    0,
                    f"{node.keyword} belongs in pagent.conf or the image file,"
                    " not in the AT-TLS policy file",
                )
            else:
                builder.problem(node, 0, f"unknown statement '{node.keyword}'")
            continue
        collection = COLLECTION_OF[cls]
        path = (collection, node.values[0]) if node.values else ()
        statement = builder.statement(node, cls, top_level=True, path=path)
        if statement is None or statement.name is None:
            continue
        if node.comment is not None:
            builder.comments[path] = node.comment
        existing = policy.collection(collection)
        if statement.name in existing:
            first = policy.locations[(collection, statement.name)]
            builder.problem(
                node,
                1,
                f"{cls.STATEMENT} '{statement.name}' is defined twice (first on line {first.line})",
            )
            continue
        existing[statement.name] = statement
        policy.locations[(collection, statement.name)] = Location(
            node.line, source.column(node.line, node.word_index)
        )


def _dangling(reference: _Reference) -> str:
    statement = COLLECTIONS[reference.target].STATEMENT
    return f"{reference.keyword} names {statement} '{reference.name}', which is not defined"


def _group_needs_environment(policy: Policy) -> list[Problem]:
    """A rule whose group has TTLSEnabled On must name an environment action."""
    problems: list[Problem] = []
    for name, rule in policy.rules.items():
        group = policy.group_actions.get(rule.group_action_ref or "")
        if group is not None and group.ttls_enabled and rule.environment_action_ref is None:
            where = policy.locations.get(("rules", name), Location(1, 1))
            problems.append(
                Problem(
                    where.line,
                    where.column,
                    f"TTLSRule '{name}' uses TTLSGroupAction '{group.name}', which has TTLSEnabled"
                    " On, so it needs a TTLSEnvironmentActionRef",
                )
            )
    return problems


def _collect_references(policy: Policy) -> list[tuple[str, str, str, str]]:
    """(collection, statement name, target collection, referenced name) for every reference."""
    found: list[tuple[str, str, str, str]] = []

    def walk(collection: str, owner: str, statement: Statement) -> None:
        for field_name, param in type(statement).params():
            value = getattr(statement, field_name)
            if param.kind == "ref" and value is not None:
                assert param.target is not None
                found.append((collection, owner, param.target, value))
            elif param.kind == "refs":
                assert param.target is not None
                found.extend((collection, owner, param.target, name) for name in value)
            elif param.kind == "block" and value is not None:
                walk(collection, owner, value)
            elif param.kind == "blocks":
                for inner in value:
                    walk(collection, owner, inner)

    for collection, statement in policy.statements():
        assert statement.name is not None
        walk(collection, statement.name, statement)
    return found


def _check_references(policy: Policy, references: list[tuple[str, str, str, str]]) -> list[Problem]:
    problems: list[Problem] = []
    for collection, owner, target, name in references:
        if name not in policy.collection(target):
            where = policy.locations.get((collection, owner), Location(1, 1))
            statement = COLLECTIONS[target].STATEMENT
            problems.append(
                Problem(
                    where.line,
                    where.column,
                    f"{COLLECTIONS[collection].STATEMENT} '{owner}' names {statement} '{name}',"
                    " which is not defined",
                )
            )
    return problems


def validate_policy(policy: Policy) -> list[Problem]:
    """Problems with a policy built in code (not from a file): references and required parameters.

    A policy read by parse_policy has passed these already. Locations are those recorded on
    the policy, or line 1 when it was never a file.
    """
    problems = _check_references(policy, _collect_references(policy))
    for name, rule in policy.rules.items():
        where = policy.locations.get(("rules", name), Location(1, 1))
        for keyword, value in (
            ("Direction", rule.direction),
            ("TTLSGroupActionRef", rule.group_action_ref),
        ):
            if value is None:
                problems.append(
                    Problem(where.line, where.column, f"TTLSRule '{name}' is missing {keyword}")
                )
        if not _has_condition(rule):
            problems.append(
                Problem(
                    where.line,
                    where.column,
                    f"TTLSRule '{name}' needs at least one condition: an address, a port,"
                    " Jobname or Userid",
                )
            )
    for collection, statement in policy.statements():
        assert statement.name is not None
        trouble = v.check_name(statement.name)
        if trouble:
            where = policy.locations.get((collection, statement.name), Location(1, 1))
            problems.append(Problem(where.line, where.column, trouble))
    problems.extend(_group_needs_environment(policy))
    return problems
