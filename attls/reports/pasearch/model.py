"""The model of a parsed `pasearch -t` report: its rules, their conditions, and their actions.

Action details are release-dependent and unbounded, so they are kept as a generic ordered tree of
`Field`, `ListField` and `Section` nodes rather than one attribute per parameter.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import NamedTuple, TypeAlias

# --- Model ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportWarning:
    """A line of a report the parser kept but did not understand (1-based line number)."""

    line: int
    text: str
    message: str = "unrecognised line"


class ListItem(NamedTuple):
    """One `CODE  NAME` entry of a list such as `v3CipherSuites:`."""

    code: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Field:
    """A `Label: value` line of an action detail."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class ListField:
    """A list such as `v3CipherSuites:`; either items, or an inline keyword such as `Any`."""

    label: str
    items: tuple[ListItem, ...] = ()
    keyword: str | None = None

    @property
    def codes(self) -> list[str]:
        return [item.code for item in self.items]


@dataclass(frozen=True, slots=True)
class Section:
    """A value-less label such as `TTLSEnvironmentAdvancedParms:` and the lines nested under it."""

    label: str
    children: tuple[Node, ...] = ()


Node: TypeAlias = Field | ListField | Section


def find_node(nodes: tuple[Node, ...], path: tuple[str, ...]) -> Node | None:
    """The node reached by following labels through nested sections, or None."""
    current: tuple[Node, ...] = nodes
    found: Node | None = None
    for depth, label in enumerate(path):
        found = next((node for node in current if node.label == label), None)
        if found is None:
            return None
        if depth < len(path) - 1:
            if not isinstance(found, Section):
                return None
            current = found.children
    return found


@dataclass(frozen=True, slots=True)
class TtlsAction:
    """One `TTLS Action:` section: a group, environment or connection action as loaded.

    `scope` is `Group`, `Environment` or `Connection` as printed. `fields` holds every other
    line in order, nested as printed.
    """

    name: str
    version: int | None = None
    status: str | None = None
    scope: str | None = None
    fields: tuple[Node, ...] = ()
    created: str | None = None
    updated: str | None = None

    def find(self, *path: str) -> Node | None:
        return find_node(self.fields, path)

    def get(self, *path: str) -> str | None:
        """The value at a label path, e.g. `get("TTLSEnvironmentAdvancedParms", "TLSv1.2")`.

        A list set to a keyword gives its keyword; a section or a list of items gives None.
        """
        node = self.find(*path)
        if isinstance(node, Field):
            return node.value
        if isinstance(node, ListField):
            return node.keyword
        return None

    def list(self, *path: str) -> builtins.list[str]:
        """The item codes of a list, e.g. `list("TTLSCipherParms", "v3CipherSuites")`.

        Empty when the list is absent or set to a keyword (see `get` for the keyword).
        """
        node = self.find(*path)
        return node.codes if isinstance(node, ListField) else []


@dataclass(frozen=True, slots=True)
class ActionRef:
    """A `policyAction:` entry of a rule: the action's name, `TTLS Group` etc., and sequence."""

    name: str
    action_type: str
    sequence: int = 0

    @property
    def scope(self) -> str:
        """`Group`, `Environment` or `Connection` (the action type without `TTLS `)."""
        return self.action_type.removeprefix("TTLS ")


@dataclass(frozen=True, slots=True)
class AddrPair:
    """An address condition: `FromAddr` and the second line, `ToAddr`, `Prefix` or `Range`."""

    from_addr: str = "All"
    to_addr: str = "All"
    kind: str = "ToAddr"


@dataclass(frozen=True, slots=True)
class ConditionSummary:
    """The `TTLS Condition Summary:` of a rule. Ports 0/0 mean any port."""

    negative_indicator: str = "Off"
    local_addr: AddrPair = AddrPair()
    remote_addr: AddrPair = AddrPair()
    local_port_from: int = 0
    local_port_to: int = 0
    remote_port_from: int = 0
    remote_port_to: int = 0
    job_name: str = ""
    user_id: str = ""
    direction: str = "Both"


@dataclass(frozen=True, slots=True)
class PasearchRule:
    """One `policyRule:` with its header, conditions and the full text of its actions.

    `time_periods` keeps the `Time Periods:` lines as ordered (label, value) pairs; a line with
    two labels gives two pairs. `blank_lines_before` only preserves layout (the real report has
    one place with two blank lines) and takes no part in equality.
    """

    name: str
    priority: int
    rule_type: str = "TTLS"
    version: int = 3
    status: str = "Active"
    weight: int = 1
    for_load_dist: str = "False"
    sequence_actions: str = "Don't Care"
    actions: list[ActionRef] = field(default_factory=list)
    time_periods: list[tuple[str, str]] = field(default_factory=list)
    condition: ConditionSummary = ConditionSummary()
    created: str = ""
    updated: str = ""
    action_details: list[TtlsAction] = field(default_factory=list)
    blank_lines_before: int = field(default=1, compare=False, repr=False)

    def action_named(self, scope: str) -> str | None:
        """The name of the rule's `Group`, `Environment` or `Connection` action, if any."""
        return next((ref.name for ref in self.actions if ref.scope == scope), None)

    def detail(self, scope: str) -> TtlsAction | None:
        """The full text of the rule's action of that scope, if the report has it."""
        name = self.action_named(scope)
        for action in self.action_details:
            if action.name == name and (action.scope is None or action.scope == scope):
                return action
        return None


@dataclass(frozen=True, slots=True)
class PasearchReport:
    """A whole `pasearch -t` report.

    The header fields are None when the report has no header (a bare `No policies retrieved`).
    `no_policies` records that the report said `No policies retrieved`.
    """

    release: str | None
    image: str | None
    date: str | None
    time: str | None
    instance_id: int | None
    rules: list[PasearchRule] = field(default_factory=list)
    warnings: list[ReportWarning] = field(default_factory=list)
    no_policies: bool = False

    @property
    def incomplete(self) -> bool:
        """Some lines were not understood (see `warnings`): rules or settings may be missing."""
        return bool(self.warnings)
