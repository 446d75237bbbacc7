"""`netstat -x GROUP` (and plain `netstat -x`): the active AT-TLS groups."""

from __future__ import annotations

from dataclasses import dataclass, field

from attls.errors import ReportParseError
from attls.reports.netstat.common import (
    _is_conn_id,
    _is_trailer,
    _parse_header,
    _refuse_unread,
    _render_header,
    normalise_netstat,
)
from attls.reports.netstat.layout import (
    GROUP_COLUMNS_TITLE,
    GROUP_HEADING,
    GROUP_ID_WIDTH,
    GROUP_NAME_WIDTH,
)
from attls.reports.pasearch.model import ReportWarning

# --- netstat -x GROUP ------------------------------------------------------------------------
# Observed (console form, upper-cased): the column names and one row per group with its action
# name, an 8-digit hexadecimal group id and a count. Reconstructed: the widths and mixed case of
# the z/OS UNIX form.


@dataclass(frozen=True, slots=True)
class TtlsGroupRow:
    group_action: str
    group_id: str
    conns: int


@dataclass(frozen=True, slots=True)
class NetstatGroupReport:
    release: str
    tcpip_name: str
    time: str | None
    groups: list[TtlsGroupRow] = field(default_factory=list)
    warnings: list[ReportWarning] = field(default_factory=list)

    @property
    def incomplete(self) -> bool:
        """Some lines were not understood (see `warnings`): rows may be missing."""
        return bool(self.warnings)


def render_netstat_group(report: NetstatGroupReport) -> str:
    """`netstat -x GROUP` text."""
    out = [_render_header(report.release, report.tcpip_name, report.time), GROUP_HEADING]
    for group in report.groups:
        out.append(
            f"{group.group_action:<{GROUP_NAME_WIDTH}} {group.group_id:<{GROUP_ID_WIDTH}} "
            f"{group.conns}"
        )
    return "\n".join(out) + "\n"


def parse_netstat_group(text: str) -> NetstatGroupReport:
    """Parse `netstat -x GROUP` output (either case of the column titles)."""
    lines = normalise_netstat(text).split("\n")
    header, index = _parse_header(lines)
    warnings: list[ReportWarning] = []
    groups: list[TtlsGroupRow] = []
    for offset in range(index, len(lines)):
        raw = lines[offset]
        text_line = raw.strip()
        number = offset + 1
        if not text_line or _is_trailer(text_line):
            continue
        tokens = text_line.split()
        if tokens[0].upper() == GROUP_COLUMNS_TITLE.upper():
            continue
        if len(tokens) != 3:
            warnings.append(ReportWarning(number, raw))
            continue
        name, group_id, conns = tokens
        if not _is_conn_id(group_id):
            raise ReportParseError(number, f"group id must be 8 hexadecimal digits: {group_id!r}")
        if not (conns.isascii() and conns.isdigit()):
            raise ReportParseError(number, f"connection count must be a number: {conns!r}")
        groups.append(TtlsGroupRow(name, group_id, int(conns)))
    _refuse_unread("group", groups, warnings)
    return NetstatGroupReport(
        release=header.release,
        tcpip_name=header.tcpip_name,
        time=header.time,
        groups=groups,
        warnings=warnings,
    )
