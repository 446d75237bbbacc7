"""Render the model as the text `pasearch -t` prints, in the columns of `layout`."""

from __future__ import annotations

from attls.reports.pasearch.layout import (
    ACTION_FIELD_INDENT,
    ACTION_INDENT,
    ACTION_LABEL,
    ACTION_VALUE_COLUMN,
    GSK_VALUE_COLUMN,
    HEADER_PREFIX,
    IMAGE_LABEL,
    LIST_KEYWORD_COLUMN,
    NO_POLICIES,
    RULE_LABEL,
    RULE_VALUE_COLUMN,
    SECOND_LABEL_COLUMN,
    SECOND_VALUE_COLUMN,
    TIME_SECOND_LABELS,
)
from attls.reports.pasearch.model import (
    Field,
    ListField,
    Node,
    PasearchReport,
    PasearchRule,
    TtlsAction,
)

# --- Rendering ----------------------------------------------------------------------------------


def _pad(prefix: str, column: int) -> str:
    """`prefix` padded so the next text starts at `column`, or one blank after a long prefix."""
    return prefix.ljust(column) if len(prefix) < column else prefix + " "


def _two(first: str, value: str, second: str, second_value: str) -> str:
    line = _pad(_pad(first, RULE_VALUE_COLUMN) + value, SECOND_LABEL_COLUMN) + second
    return (_pad(line, SECOND_VALUE_COLUMN) + second_value) if second_value else line


def _one(label: str, value: str, column: int = RULE_VALUE_COLUMN) -> str:
    return (_pad(label, column) + value) if value else label


def _render_tree(nodes: tuple[Node, ...], indent: int, out: list[str]) -> None:
    margin = " " * indent
    for node in nodes:
        prefix = margin + node.label + ":"
        if isinstance(node, Field):
            column = GSK_VALUE_COLUMN if node.label.startswith("GSK_") else ACTION_VALUE_COLUMN
            out.append(_pad(prefix, column) + node.value)
        elif isinstance(node, ListField):
            if node.keyword is not None:
                out.append(_pad(prefix, LIST_KEYWORD_COLUMN) + node.keyword)
            else:
                out.append(prefix)
                item_margin = margin + " "
                for item in node.items:
                    out.append(
                        f"{item_margin}{item.code}  {item.name}"
                        if item.name
                        else item_margin + item.code
                    )
        else:
            out.append(prefix)
            _render_tree(node.children, indent + 1, out)


def render_action(action: TtlsAction, out: list[str], indent: int = ACTION_INDENT) -> None:
    """Append the lines of one `TTLS Action:` section (as pasearch prints it) to `out`."""
    margin = " " * indent
    inner = " " * (indent + ACTION_FIELD_INDENT - ACTION_INDENT)
    out.append(_pad(margin + ACTION_LABEL, ACTION_VALUE_COLUMN) + action.name)
    if action.version is not None:
        out.append(_pad(inner + "Version:", ACTION_VALUE_COLUMN) + str(action.version))
    if action.status is not None:
        out.append(_one(inner + "Status:", action.status, ACTION_VALUE_COLUMN))
    if action.scope is not None:
        out.append(_one(inner + "Scope:", action.scope, ACTION_VALUE_COLUMN))
    _render_tree(action.fields, indent + ACTION_FIELD_INDENT - ACTION_INDENT, out)
    if action.created is not None:
        out.append(f"{inner}Policy created: {action.created}")
    if action.updated is not None:
        out.append(f"{inner}Policy updated: {action.updated}")


def _render_rule(rule: PasearchRule, out: list[str], cache: dict[int, list[str]]) -> None:
    condition = rule.condition
    out.append(_pad(RULE_LABEL, RULE_VALUE_COLUMN) + rule.name)
    out.append(_one("  Rule Type:", rule.rule_type))
    out.append(_two("  Version:", str(rule.version), "Status:", rule.status))
    out.append(_two("  Weight:", str(rule.weight), "ForLoadDist:", rule.for_load_dist))
    out.append(_two("  Priority:", str(rule.priority), "Sequence Actions:", rule.sequence_actions))
    out.append(_pad("  No. Policy Action:", RULE_VALUE_COLUMN) + str(len(rule.actions)))
    for ref in rule.actions:
        out.append(_pad("  policyAction:", RULE_VALUE_COLUMN) + ref.name)
        out.append(_one("   ActionType:", ref.action_type))
        out.append(_pad("   Action Sequence:", RULE_VALUE_COLUMN) + str(ref.sequence))
    out.append("  Time Periods:")
    periods = rule.time_periods
    index = 0
    while index < len(periods):
        label, value = periods[index]
        second = TIME_SECOND_LABELS.get(label)
        if second is not None and index + 1 < len(periods) and periods[index + 1][0] == second:
            out.append(_two(f"   {label}:", value, second + ":", periods[index + 1][1]))
            index += 2
            continue
        out.append(_one(f"   {label}:", value))
        index += 1
    out.append(
        _two("  TTLS Condition Summary:", "", "NegativeIndicator:", condition.negative_indicator)
    )
    for title, pair in (
        ("   Local Address:", condition.local_addr),
        ("   Remote Address:", condition.remote_addr),
    ):
        out.append(title)
        out.append(_one("    FromAddr:", pair.from_addr))
        out.append(_one(f"    {pair.kind}:", pair.to_addr))
    out.append(
        _two(
            "   LocalPortFrom:",
            str(condition.local_port_from),
            "LocalPortTo:",
            str(condition.local_port_to),
        )
    )
    out.append(
        _two(
            "   RemotePortFrom:",
            str(condition.remote_port_from),
            "RemotePortTo:",
            str(condition.remote_port_to),
        )
    )
    out.append(_two("   JobName:", condition.job_name, "UserId:", condition.user_id))
    out.append(_one("   ServiceDirection:", condition.direction))
    out.append(f"  Policy created: {rule.created}".rstrip())
    out.append(f"  Policy updated: {rule.updated}".rstrip())
    for action in rule.action_details:
        out.append("")
        # Shared actions repeat under every rule that uses them; render each object once.
        rendered = cache.get(id(action))
        if rendered is None:
            rendered = []
            render_action(action, rendered)
            cache[id(action)] = rendered
        out.extend(rendered)


def render_pasearch(report: PasearchReport) -> str:
    """The text `pasearch -t` prints for `report` (warnings are not rendered)."""
    out: list[str] = [""]
    if report.release is not None:
        out.append(
            _pad(HEADER_PREFIX + report.release, SECOND_LABEL_COLUMN)
            + f"{IMAGE_LABEL} {report.image or ''}".rstrip()
        )
        if report.date is not None or report.time is not None:
            date_line = _one("  Date:", report.date or "")
            if report.time is not None:
                date_line = _pad(_pad(date_line, RULE_VALUE_COLUMN), SECOND_LABEL_COLUMN)
                date_line += f"Time:  {report.time}"
            out.append(date_line)
        if report.instance_id is not None:
            out.append(_pad("  TTLS Instance Id:", RULE_VALUE_COLUMN) + str(report.instance_id))
    else:
        out.pop()
    if report.no_policies:
        if report.release is not None:
            out.append("")
        out.append(NO_POLICIES)
    cache: dict[int, list[str]] = {}
    for rule in report.rules:
        out.extend([""] * rule.blank_lines_before)
        _render_rule(rule, out, cache)
    out.append("")  # the final newline, without copying the whole text a second time
    return "\n".join(out)
