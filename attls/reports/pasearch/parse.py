"""Parse `pasearch -t` text into the model.

The parser does not use the columns of `layout`. It splits each stripped line on its first
`:`, finds a second label by name, and reads nesting in action details from indentation only.
Trailing blanks are ignored. Lines it does not understand inside a rule are kept as
`ReportWarning`s; structural garbage (no header, a nameless `policyRule:`, a `TTLS Action:`
outside a rule, a number that is not one) raises `ReportParseError` with the 1-based line number.
"""

from __future__ import annotations

import builtins
import re
from typing import TypeAlias

from attls.errors import ReportParseError
from attls.reports.pasearch.layout import (
    ACTION_LABEL,
    ADDR_SECOND_LABELS,
    HEADER_PREFIX,
    IMAGE_LABEL,
    LIST_LABELS,
    NO_POLICIES,
    RULE_LABEL,
    SECTION_STARTS,
    TIME_SECOND_LABELS,
)
from attls.reports.pasearch.model import (
    ActionRef,
    AddrPair,
    ConditionSummary,
    Field,
    ListField,
    ListItem,
    Node,
    PasearchReport,
    PasearchRule,
    ReportWarning,
    Section,
    TtlsAction,
)

# --- Parsing ------------------------------------------------------------------------------------


def _number(value: str, line: int, what: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise ReportParseError(line, f"{what} must be a number, not {value!r}")
    return int(value)


def _port(value: str, line: int, what: str) -> int:
    port = _number(value, line, what)
    if port > 65535:
        raise ReportParseError(line, f"{what} {port} is not a port number")
    return port


def _split_second(rest: str, label: str, line: int) -> tuple[str, str]:
    """Split `value1   Label2: value2` at the second label (given with its colon), by name."""
    at = rest.find(label)
    while at > 0 and rest[at - 1] not in " \t":
        at = rest.find(label, at + 1)
    if at < 0:
        raise ReportParseError(line, f"expected {label!r} on this line")
    return rest[:at].strip(), rest[at + len(label) :].strip()


_SECTION, _LIST, _PENDING = 0, 1, 2


class _Frame:
    """An open value-less label while its nested lines are read."""

    __slots__ = ("children", "indent", "items", "kind", "label")

    def __init__(self, indent: int, label: str) -> None:
        self.indent = indent
        self.label = label
        self.kind = _PENDING
        self.children: list[Node] = []
        self.items: list[ListItem] = []

    def node(self) -> Node:
        if self.kind == _LIST or (self.kind == _PENDING and self.label in LIST_LABELS):
            return ListField(self.label, tuple(self.items))
        return Section(self.label, tuple(self.children))


def _parse_tree(
    lines: builtins.list[str],
    start: int,
    base_indent: int,
    line_base: int,
    warnings: builtins.list[ReportWarning],
    root_labels: frozenset[str],
    root_values: dict[str, tuple[str, int]],
    stops: tuple[str, ...] = SECTION_STARTS,
) -> tuple[tuple[Node, ...], int]:
    """Read nested detail lines from `start` until a blank line, a line at `base_indent` or
    less, or a line starting with one of `stops`.

    Root-level lines whose label is in `root_labels` go to `root_values` (label -> value, line)
    instead of the tree. Returns the tree and the index of the first line not consumed.
    """
    root: list[Node] = []
    stack: list[_Frame] = []
    index = start
    count = len(lines)
    while index < count:
        raw = lines[index]
        body = raw.lstrip()
        if not body or body.isspace():
            break
        indent = len(raw) - len(body)
        if indent <= base_indent or body.startswith(stops):
            break
        text = body.rstrip()
        while stack and indent <= stack[-1].indent:
            done = stack.pop()
            (stack[-1].children if stack else root).append(done.node())
        top = stack[-1] if stack else None
        colon = text.find(":")
        if colon < 0:
            if top is not None and top.kind != _SECTION:
                top.kind = _LIST
                code, _, name = text.partition(" ")
                top.items.append(ListItem(code, name.strip()))
            else:
                warnings.append(ReportWarning(line_base + index + 1, raw))
            index += 1
            continue
        if top is not None and top.kind == _LIST:
            warnings.append(ReportWarning(line_base + index + 1, raw, "labelled line in a list"))
            index += 1
            continue
        label = text[:colon]
        value = text[colon + 1 :].strip()
        if top is None:
            if label in root_labels:
                if label in root_values:
                    warnings.append(ReportWarning(line_base + index + 1, raw, "repeated line"))
                else:
                    root_values[label] = (value, line_base + index + 1)
                index += 1
                continue
            siblings = root
        else:
            top.kind = _SECTION
            siblings = top.children
        if not value:
            stack.append(_Frame(indent, label))
        elif label in LIST_LABELS:
            siblings.append(ListField(label, (), value))
        else:
            siblings.append(Field(label, value))
        index += 1
    while stack:
        done = stack.pop()
        (stack[-1].children if stack else root).append(done.node())
    return tuple(root), index


_ACTION_ROOT_LABELS = frozenset({"Version", "Status", "Scope", "Policy created", "Policy updated"})


def _parse_action(
    lines: builtins.list[str],
    index: int,
    line_base: int,
    warnings: builtins.list[ReportWarning],
    stops: tuple[str, ...] = SECTION_STARTS,
) -> tuple[TtlsAction, int]:
    """Read one `TTLS Action:` section starting at `lines[index]`."""
    raw = lines[index]
    body = raw.lstrip()
    name = body.rstrip()[len(ACTION_LABEL) :].strip()
    if not name:
        raise ReportParseError(line_base + index + 1, "TTLS Action: has no name")
    values: dict[str, tuple[str, int]] = {}
    fields, end = _parse_tree(
        lines,
        index + 1,
        len(raw) - len(body),
        line_base,
        warnings,
        _ACTION_ROOT_LABELS,
        values,
        stops,
    )
    version: int | None = None
    if "Version" in values:
        text, line = values["Version"]
        version = _number(text, line, "Version")
    return (
        TtlsAction(
            name=name,
            version=version,
            status=values["Status"][0] if "Status" in values else None,
            scope=values["Scope"][0] if "Scope" in values else None,
            fields=fields,
            created=values["Policy created"][0] if "Policy created" in values else None,
            updated=values["Policy updated"][0] if "Policy updated" in values else None,
        ),
        end,
    )


# A parsed action section and its warnings, numbered from the section's first line.
_CachedAction: TypeAlias = tuple[TtlsAction, builtins.list[ReportWarning]]


def _cached_action(
    lines: builtins.list[str],
    index: int,
    indent: int,
    cache: dict[tuple[str, ...], _CachedAction],
    warnings: builtins.list[ReportWarning],
) -> tuple[TtlsAction, int]:
    """`_parse_action`, parsing each distinct section text once.

    Every rule repeats the full text of each action it uses, so most of a large report is the
    same few sections over and over. The section's extent is found by a cheap scan (lines
    indented deeper than the `TTLS Action:` line); the parse decides the true end, and only a
    section whose parse ends where the scan did is cached.
    """
    margin = " " * (indent + 1)
    end = index + 1
    count = len(lines)
    while end < count:
        line = lines[end]
        if not line.startswith(margin) or line.isspace():
            break
        end += 1
    key = tuple(lines[index:end])
    hit = cache.get(key)
    if hit is not None:
        action, relative = hit
        warnings.extend(ReportWarning(index + w.line, w.text, w.message) for w in relative)
        return action, end
    found: builtins.list[ReportWarning] = []
    action, stop = _parse_action(lines, index, 0, found)
    warnings.extend(found)
    if stop == end:
        cache[key] = (action, [ReportWarning(w.line - index, w.text, w.message) for w in found])
    return action, stop


class _RuleBuilder:
    """Collects the lines of one rule's header while they are read."""

    __slots__ = (
        "actions",
        "addr",
        "blank_lines_before",
        "created",
        "details",
        "direction",
        "for_load_dist",
        "job_name",
        "line",
        "local_addr",
        "local_ports",
        "name",
        "negative_indicator",
        "policy_action_count",
        "priority",
        "remote_addr",
        "remote_ports",
        "rule_type",
        "sequence_actions",
        "state",
        "status",
        "time_periods",
        "updated",
        "user_id",
        "version",
        "weight",
    )

    def __init__(self, name: str, line: int, blank_lines_before: int) -> None:
        self.name = name
        self.line = line
        self.blank_lines_before = blank_lines_before
        self.rule_type = "TTLS"
        self.version = 3
        self.status = "Active"
        self.weight = 1
        self.for_load_dist = "False"
        self.priority: int | None = None
        self.sequence_actions = "Don't Care"
        self.policy_action_count: tuple[int, int] | None = None
        self.actions: list[ActionRef] = []
        self.time_periods: list[tuple[str, str]] = []
        self.negative_indicator = "Off"
        # [from, to, kind] of each address condition, filled in as the lines arrive.
        self.local_addr = ["All", "All", "ToAddr"]
        self.remote_addr = ["All", "All", "ToAddr"]
        self.addr: list[str] | None = None
        self.local_ports = (0, 0)
        self.remote_ports = (0, 0)
        self.job_name = ""
        self.user_id = ""
        self.direction = "Both"
        self.created = ""
        self.updated = ""
        self.details: list[TtlsAction] = []
        self.state = 0

    def build(self, warnings: builtins.list[ReportWarning]) -> PasearchRule:
        if self.priority is None:
            raise ReportParseError(self.line, f"policyRule {self.name} has no Priority: line")
        if self.policy_action_count is not None:
            count, line = self.policy_action_count
            if count != len(self.actions):
                warnings.append(
                    ReportWarning(
                        line,
                        f"No. Policy Action: {count}",
                        f"rule lists {len(self.actions)} policyAction entries, not {count}",
                    )
                )
        local, remote = self.local_addr, self.remote_addr
        return PasearchRule(
            name=self.name,
            priority=self.priority,
            rule_type=self.rule_type,
            version=self.version,
            status=self.status,
            weight=self.weight,
            for_load_dist=self.for_load_dist,
            sequence_actions=self.sequence_actions,
            actions=self.actions,
            time_periods=self.time_periods,
            condition=ConditionSummary(
                negative_indicator=self.negative_indicator,
                local_addr=AddrPair(local[0], local[1], local[2]),
                remote_addr=AddrPair(remote[0], remote[1], remote[2]),
                local_port_from=self.local_ports[0],
                local_port_to=self.local_ports[1],
                remote_port_from=self.remote_ports[0],
                remote_port_to=self.remote_ports[1],
                job_name=self.job_name,
                user_id=self.user_id,
                direction=self.direction,
            ),
            created=self.created,
            updated=self.updated,
            action_details=self.details,
            blank_lines_before=self.blank_lines_before,
        )


_IN_RULE, _IN_TIME, _IN_CONDITION = 0, 1, 2


def _rule_line(rule: _RuleBuilder, raw: str, line: int, warnings: list[ReportWarning]) -> None:
    """Read one line of a rule's header, time periods or condition summary, by its label."""
    text = raw.strip()
    label, colon, rest = text.partition(":")
    if not colon:
        warnings.append(ReportWarning(line, raw))
        return
    if label == "Version":
        version, rule.status = _split_second(rest, "Status:", line)
        rule.version = _number(version, line, "Version")
    elif label == "Weight":
        weight, rule.for_load_dist = _split_second(rest, "ForLoadDist:", line)
        rule.weight = _number(weight, line, "Weight")
    elif label == "Priority":
        priority, rule.sequence_actions = _split_second(rest, "Sequence Actions:", line)
        rule.priority = _number(priority, line, "Priority")
    elif label == "Rule Type":
        rule.rule_type = rest.strip()
    elif label == "No. Policy Action":
        rule.policy_action_count = (_number(rest.strip(), line, "No. Policy Action"), line)
    elif label == "policyAction":
        name = rest.strip()
        if not name:
            raise ReportParseError(line, "policyAction: has no name")
        rule.actions.append(ActionRef(name, ""))
    elif label == "ActionType" or label == "Action Sequence":
        if not rule.actions:
            warnings.append(ReportWarning(line, raw, f"{label}: before any policyAction:"))
            return
        last = rule.actions[-1]
        if label == "ActionType":
            rule.actions[-1] = ActionRef(last.name, rest.strip(), last.sequence)
        else:
            sequence = _number(rest.strip(), line, "Action Sequence")
            rule.actions[-1] = ActionRef(last.name, last.action_type, sequence)
    elif label == "Time Periods":
        rule.state = _IN_TIME
    elif label == "TTLS Condition Summary":
        _, rule.negative_indicator = _split_second(rest, "NegativeIndicator:", line)
        rule.state = _IN_CONDITION
    elif label == "Policy created":
        rule.created = rest.strip()
    elif label == "Policy updated":
        rule.updated = rest.strip()
    elif rule.state == _IN_TIME:
        second = TIME_SECOND_LABELS.get(label)
        if second is None:
            rule.time_periods.append((label, rest.strip()))
        else:
            first_value, second_value = _split_second(rest, second + ":", line)
            rule.time_periods.append((label, first_value))
            rule.time_periods.append((second, second_value))
    elif rule.state == _IN_CONDITION:
        _condition_line(rule, label, rest, raw, line, warnings)
    else:
        warnings.append(ReportWarning(line, raw))


def _condition_line(
    rule: _RuleBuilder, label: str, rest: str, raw: str, line: int, warnings: list[ReportWarning]
) -> None:
    if label == "Local Address":
        rule.addr = rule.local_addr
    elif label == "Remote Address":
        rule.addr = rule.remote_addr
    elif label == "FromAddr" or label in ADDR_SECOND_LABELS:
        if rule.addr is None:
            warnings.append(ReportWarning(line, raw, f"{label}: outside an address"))
        elif label == "FromAddr":
            rule.addr[0] = rest.strip()
        else:
            rule.addr[1] = rest.strip()
            rule.addr[2] = label
    elif label == "LocalPortFrom":
        low, high = _split_second(rest, "LocalPortTo:", line)
        rule.local_ports = (_port(low, line, "LocalPortFrom"), _port(high, line, "LocalPortTo"))
    elif label == "RemotePortFrom":
        low, high = _split_second(rest, "RemotePortTo:", line)
        rule.remote_ports = (_port(low, line, "RemotePortFrom"), _port(high, line, "RemotePortTo"))
    elif label == "JobName":
        rule.job_name, rule.user_id = _split_second(rest, "UserId:", line)
    elif label == "ServiceDirection":
        rule.direction = rest.strip()
    else:
        warnings.append(ReportWarning(line, raw))


def _parse_header(
    lines: list[str], index: int, warnings: list[ReportWarning]
) -> tuple[tuple[str, str, str | None, str | None, int | None], int]:
    line = index + 1
    text = lines[index].strip()
    if not text.startswith(HEADER_PREFIX):
        raise ReportParseError(line, f"expected the pasearch header {HEADER_PREFIX!r}<release>")
    release, found, image = text[len(HEADER_PREFIX) :].partition(IMAGE_LABEL)
    release = release.strip()
    if not found or not release:
        raise ReportParseError(line, "the pasearch header needs a release and 'Image Name:'")
    date: str | None = None
    time: str | None = None
    instance_id: int | None = None
    index += 1
    while index < len(lines):
        raw = lines[index]
        text = raw.strip()
        if not text or text.startswith(RULE_LABEL) or text == NO_POLICIES:
            break
        label, colon, rest = text.partition(":")
        if colon and label == "Date":
            if rest.find("Time:") >= 0:
                date, time = _split_second(rest, "Time:", index + 1)
            else:
                date = rest.strip()
        elif colon and label == "TTLS Instance Id":
            instance_id = _number(rest.strip(), index + 1, "TTLS Instance Id")
        else:
            warnings.append(ReportWarning(index + 1, raw))
        index += 1
    return (release, image.strip(), date, time, instance_id), index


# A leading echo of the command (`$ pasearch -t`, `pasearch -t -p TCPIP`).
_COMMAND_ECHO = re.compile(r"\s*(?:[$#>]\s*)?pasearch\b")


def parse_pasearch_images(text: str) -> list[PasearchReport]:
    """Every image of a `pasearch -t` report, in order: one report per `Image Name:` header.

    pasearch prints the policies of each TCP/IP image it is asked about (or all of them)
    under a header of its own; each image's rules belong to that image alone.
    """
    if text.count(HEADER_PREFIX) <= 1:
        return [parse_pasearch(text)]
    starts = [match.start() for match in _HEADER_LINE.finditer(text)]
    reports = []
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(text)
        # Blank lines in front keep every line number that of the whole text.
        padding = "\n" * text.count("\n", 0, start)
        reports.append(parse_pasearch(padding + text[start:end]))
    return reports


_HEADER_LINE = re.compile(r"(?m)^[ \t]*" + re.escape(HEADER_PREFIX))


def parse_pasearch(text: str, *, image: str | None = None) -> PasearchReport:
    """Parse the text of `pasearch -t` (or `No policies retrieved`) into a `PasearchReport`.

    A report of several images needs `image=` to say which one is meant (else
    ReportParseError names them), so no rule is ever attributed to the wrong stack.
    """
    if text.count(HEADER_PREFIX) > 1:
        images = parse_pasearch_images(text)
        chosen = [report for report in images if report.image == image]
        if image is None or not chosen:
            names = ", ".join(str(report.image) for report in images)
            wanted = "name the image to read" if image is None else f"none is {image!r}"
            raise ReportParseError(1, f"the report holds {len(images)} images ({names}); {wanted}")
        return chosen[0]
    lines = text.split("\n")
    count = len(lines)
    warnings: list[ReportWarning] = []
    index = 0
    while index < count and (
        not lines[index]
        or lines[index].isspace()
        or (
            _COMMAND_ECHO.match(lines[index])
            and not lines[index].lstrip().startswith(HEADER_PREFIX)
        )
    ):
        index += 1
    if index == count:
        raise ReportParseError(1, "empty report: expected the pasearch header")
    no_policies = False
    if lines[index].strip() == NO_POLICIES:
        release = image = date = time = None
        instance_id = None
    else:
        (release, image, date, time, instance_id), index = _parse_header(lines, index, warnings)

    rules: list[PasearchRule] = []
    rule: _RuleBuilder | None = None
    blank_run = 0
    cache: dict[tuple[str, ...], _CachedAction] = {}
    while index < count:
        raw = lines[index]
        body = raw.lstrip()
        if not body or body.isspace():
            blank_run += 1
            index += 1
            continue
        if body.startswith(RULE_LABEL):
            if rule is not None:
                rules.append(rule.build(warnings))
            name = body.rstrip()[len(RULE_LABEL) :].strip()
            if not name:
                raise ReportParseError(index + 1, "policyRule: has no name")
            rule = _RuleBuilder(name, index + 1, blank_run)
            blank_run = 0
            index += 1
            # The rule's own lines run up to the first blank line (or the first action).
            while index < count:
                raw = lines[index]
                body = raw.lstrip()
                if not body or body.isspace() or body.startswith((RULE_LABEL, ACTION_LABEL)):
                    break
                _rule_line(rule, raw, index + 1, warnings)
                index += 1
            continue
        blank_run = 0
        if body.startswith(ACTION_LABEL):
            if rule is None:
                raise ReportParseError(index + 1, "TTLS Action: outside a policyRule")
            action, index = _cached_action(lines, index, len(raw) - len(body), cache, warnings)
            rule.details.append(action)
            continue
        if body.rstrip() == NO_POLICIES and rule is None and not rules:
            no_policies = True
        else:
            warnings.append(ReportWarning(index + 1, raw))
        index += 1
    if rule is not None:
        rules.append(rule.build(warnings))
    return PasearchReport(
        release=release,
        image=image,
        date=date,
        time=time,
        instance_id=instance_id,
        rules=rules,
        warnings=warnings,
        no_policies=no_policies,
    )
