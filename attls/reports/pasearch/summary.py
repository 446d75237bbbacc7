"""What a loaded rule switches on (protocols, ciphers), and a compact table of the rules."""

from __future__ import annotations

from attls.reports.pasearch.layout import PROTOCOL_LABELS
from attls.reports.pasearch.model import ListField, PasearchReport, PasearchRule

# --- Summary --------------------------------------------------------------------------------


def _ports(low: int, high: int) -> str:
    if low == 0 and high == 0:
        return "any"
    return str(low) if low == high else f"{low}-{high}"


def effective_protocols(rule: PasearchRule) -> list[str]:
    """Protocols the rule turns On: the environment's, overridden by the connection action's."""
    state: dict[str, str] = {}
    environment = rule.detail("Environment")
    if environment is not None:
        for protocol in PROTOCOL_LABELS:
            value = environment.get("TTLSEnvironmentAdvancedParms", protocol)
            if value is not None:
                state[protocol] = value
    connection = rule.detail("Connection")
    if connection is not None:
        for protocol in PROTOCOL_LABELS:
            value = connection.get("TTLSConnectionAdvancedParms", protocol)
            if value is not None:
                state[protocol] = value
    return [protocol for protocol in PROTOCOL_LABELS if state.get(protocol) == "On"]


def effective_ciphers(rule: PasearchRule) -> list[str] | None:
    """The cipher codes in force: the connection action's list if it has one, else the
    environment's; None when neither prints a list."""
    for scope in ("Connection", "Environment"):
        action = rule.detail(scope)
        if action is not None:
            node = action.find("TTLSCipherParms", "v3CipherSuites")
            if isinstance(node, ListField):
                return node.codes
    return None


def pasearch_summary(report: PasearchReport) -> str:
    """A compact table of the rules: matching conditions, actions and what they switch on."""
    header = (
        "rule",
        "prio",
        "direction",
        "local port",
        "remote port",
        "job",
        "group",
        "environment",
        "connection",
        "TTLSEnabled",
        "protocols on",
        "ciphers",
    )
    rows: list[tuple[str, ...]] = [header]
    for rule in report.rules:
        condition = rule.condition
        group = rule.detail("Group")
        ciphers = effective_ciphers(rule)
        rows.append(
            (
                rule.name,
                str(rule.priority),
                condition.direction,
                _ports(condition.local_port_from, condition.local_port_to),
                _ports(condition.remote_port_from, condition.remote_port_to),
                condition.job_name or "-",
                rule.action_named("Group") or "-",
                rule.action_named("Environment") or "-",
                rule.action_named("Connection") or "-",
                (group.get("TTLSEnabled") if group is not None else None) or "-",
                ",".join(effective_protocols(rule)) or "-",
                "-" if ciphers is None else str(len(ciphers)),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    where = f"{report.image} (pasearch CS {report.release})" if report.release else "pasearch"
    title = f"{where}: {len(report.rules)} rule{'s' if len(report.rules) != 1 else ''}"
    if report.no_policies:
        title += " (No policies retrieved)"
    return "\n".join([title, *lines]) + "\n"
