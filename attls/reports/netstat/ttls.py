"""`netstat -x CONN [connid] [DETAIL]`: which rule and actions secured each connection, with
which protocol and cipher."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice

from attls.errors import ReportParseError
from attls.reports.netstat.common import (
    SocketAddr,
    _header_from_line,
    _is_conn_id,
    _is_trailer,
    _pad,
    _refuse_unread,
    _render_header,
    normalise_netstat,
    parse_socket,
)
from attls.reports.netstat.layout import (
    _DETAIL_STOPS,
    CONN_ACTION_VALUE_COLUMN,
    CONN_CERT_USER_ID,
    CONN_CIPHER,
    CONN_CONN_ACTION,
    CONN_ENV_ACTION,
    CONN_FIELD_INDENT,
    CONN_FIPS140,
    CONN_GROUP_ACTION,
    CONN_ID_LABEL,
    CONN_JOB_NAME,
    CONN_LOCAL_SOCKET,
    CONN_MAP_TYPE,
    CONN_REMOTE_SOCKET,
    CONN_RULE,
    CONN_SEC_LEVEL,
    CONN_VALUE_COLUMN,
    DETAIL_RULE_LABEL,
    NOT_APPLICABLE,
)
from attls.reports.pasearch.layout import ACTION_LABEL, ACTION_VALUE_COLUMN
from attls.reports.pasearch.model import Node, ReportWarning, TtlsAction
from attls.reports.pasearch.parse import _parse_action, _parse_tree
from attls.reports.pasearch.render import _render_tree, render_action

# --- netstat -x CONN [DETAIL] ------------------------------------------------------------------
# Confirmed: labels LocalSocket, RemoteSocket, SecLevel ("TLS Version 1.2"), Cipher (code and
# name). Reconstructed: the ConnID block start, the other labels, value columns 16/18, N/A for
# what does not apply, and the whole DETAIL part.


@dataclass(frozen=True, slots=True)
class TtlsConnection:
    """One connection of `netstat -x CONN`. Values printed as N/A are None.

    `rule_detail` and `action_details` are filled only from a DETAIL report.
    """

    conn_id: str
    job_name: str
    local_socket: SocketAddr
    remote_socket: SocketAddr
    sec_level: str | None = None
    cipher_code: str | None = None
    cipher_name: str | None = None
    cert_user_id: str | None = None
    map_type: str | None = None
    fips140: str | None = None
    rule: str | None = None
    group_action: str | None = None
    env_action: str | None = None
    conn_action: str | None = None
    rule_detail: tuple[Node, ...] | None = None
    action_details: tuple[TtlsAction, ...] = ()

    @property
    def protocol(self) -> str | None:
        """`TLS Version 1.3` as `TLSv1.3`, `SSL Version 3` as `SSLv3`; None if not of that form."""
        if self.sec_level is None:
            return None
        parts = self.sec_level.split()
        if len(parts) == 3 and parts[0] in ("TLS", "SSL") and parts[1] == "Version":
            return f"{parts[0]}v{parts[2]}"
        return None


@dataclass(frozen=True, slots=True)
class NetstatTtlsReport:
    """`netstat -x CONN` for one or many connections, with or without DETAIL."""

    release: str
    tcpip_name: str
    time: str | None
    connections: list[TtlsConnection] = field(default_factory=list)
    warnings: list[ReportWarning] = field(default_factory=list)

    @property
    def incomplete(self) -> bool:
        """Some lines were not understood (see `warnings`): rows may be missing."""
        return bool(self.warnings)


_CONN_ACTIONS = (
    (CONN_GROUP_ACTION, "group_action"),
    (CONN_ENV_ACTION, "env_action"),
    (CONN_CONN_ACTION, "conn_action"),
)
# Labels whose value is taken as printed (N/A meaning None); the sockets are parsed apart.
_CONN_LABELS = frozenset(
    {
        CONN_JOB_NAME,
        CONN_SEC_LEVEL,
        CONN_CIPHER,
        CONN_CERT_USER_ID,
        CONN_MAP_TYPE,
        CONN_FIPS140,
        CONN_RULE,
        CONN_GROUP_ACTION,
        CONN_ENV_ACTION,
        CONN_CONN_ACTION,
    }
)


def _render_connection(conn: TtlsConnection, out: list[str]) -> None:
    margin = " " * CONN_FIELD_INDENT

    def line(label: str, value: str, column: int = CONN_VALUE_COLUMN) -> None:
        out.append(_pad(f"{margin}{label}:", column) + value)

    out.append(f"{CONN_ID_LABEL}: {conn.conn_id}")
    line(CONN_JOB_NAME, conn.job_name)
    line(CONN_LOCAL_SOCKET, str(conn.local_socket))
    line(CONN_REMOTE_SOCKET, str(conn.remote_socket))
    line(CONN_SEC_LEVEL, conn.sec_level or NOT_APPLICABLE)
    if conn.cipher_code is None:
        line(CONN_CIPHER, NOT_APPLICABLE)
    else:
        line(CONN_CIPHER, f"{conn.cipher_code} {conn.cipher_name or ''}".rstrip())
    line(CONN_CERT_USER_ID, conn.cert_user_id or NOT_APPLICABLE)
    line(CONN_MAP_TYPE, conn.map_type or NOT_APPLICABLE)
    line(CONN_FIPS140, conn.fips140 or NOT_APPLICABLE)
    line(CONN_RULE, conn.rule or NOT_APPLICABLE)
    for label, attribute in _CONN_ACTIONS:
        line(label, getattr(conn, attribute) or NOT_APPLICABLE, CONN_ACTION_VALUE_COLUMN)


class _ActionTexts:
    """Rendered `TTLS Action:` sections, so an action shared by many connections renders once.

    Looked up by identity first (the same object under many connections), then by value (equal
    actions built separately); identities stay valid because the report holds the objects.
    """

    def __init__(self) -> None:
        self.by_id: dict[int, str] = {}
        self.by_value: dict[TtlsAction, str] = {}

    def text(self, action: TtlsAction) -> str:
        found = self.by_id.get(id(action))
        if found is None:
            found = self.by_value.get(action)
            if found is None:
                lines: list[str] = []
                render_action(action, lines)
                found = self.by_value[action] = "\n".join(lines)
            self.by_id[id(action)] = found
        return found


def _render_detail(conn: TtlsConnection, out: list[str], actions: _ActionTexts) -> None:
    if conn.rule_detail is not None:
        out.append("")
        out.append(
            (_pad("  " + DETAIL_RULE_LABEL, ACTION_VALUE_COLUMN) + (conn.rule or "")).rstrip()
        )
        _render_tree(conn.rule_detail, 4, out)
    for action in conn.action_details:
        out.append("")
        out.append(actions.text(action))


def render_netstat_ttls(report: NetstatTtlsReport, detail: bool = False) -> str:
    """`netstat -x CONN` text; with `detail`, each connection's rule and actions follow it."""
    out = [_render_header(report.release, report.tcpip_name, report.time)]
    actions = _ActionTexts()
    for conn in report.connections:
        _render_connection(conn, out)
        if detail:
            _render_detail(conn, out, actions)
        out.append("")
    out.append("")  # the final newline, without copying the whole text a second time
    return "\n".join(out)


def _line_starting(text: str, label: str, start: int, end: int) -> int:
    """Offset of the first line in text[start:end] that starts (after blanks) with `label`.

    `start` must be the offset of a line start. Returns -1 when there is none.
    """
    at = text.find(label, start, end)
    while at >= 0:
        line_start = text.rfind("\n", start, at) + 1 or start
        if not text[line_start:at].strip():
            return line_start
        at = text.find(label, at + 1, end)
    return -1


def _next_line(text: str, position: int) -> int:
    """Offset of the line after the one containing `position` (len(text) at the end)."""
    newline = text.find("\n", position)
    return len(text) if newline < 0 else newline + 1


_DetailParse = tuple[tuple[Node, ...] | None, tuple[TtlsAction, ...], list[ReportWarning]]


def _parse_detail(lines: list[str]) -> _DetailParse:
    """Parse the DETAIL part of one connection; warnings are numbered from its first line."""
    warnings: list[ReportWarning] = []
    rule_detail: tuple[Node, ...] | None = None
    actions: list[TtlsAction] = []
    index = 0
    count = len(lines)
    while index < count:
        raw = lines[index]
        text = raw.strip()
        if not text or _is_trailer(text):
            index += 1
        elif text.startswith(ACTION_LABEL):
            action, index = _parse_action(lines, index, 0, warnings, _DETAIL_STOPS)
            actions.append(action)
        elif text.startswith(DETAIL_RULE_LABEL) and rule_detail is None and not actions:
            indent = len(raw) - len(raw.lstrip())
            rule_detail, index = _parse_tree(
                lines, index + 1, indent, 0, warnings, frozenset(), {}, _DETAIL_STOPS
            )
        else:
            warnings.append(ReportWarning(index + 1, raw))
            index += 1
    return rule_detail, tuple(actions), warnings


def _parse_connection(
    lines: list[str], first: int, detail: _DetailParse | None, warnings: list[ReportWarning]
) -> TtlsConnection:
    """Parse one connection from its `ConnID:` line (line number `first`) to its DETAIL part."""
    conn_id = lines[0].strip()[len(CONN_ID_LABEL) + 1 :].strip()
    if not _is_conn_id(conn_id):
        raise ReportParseError(first, f"ConnID must be 8 hexadecimal digits, not {conn_id!r}")
    values: dict[str, str] = {}
    local: SocketAddr | None = None
    remote: SocketAddr | None = None
    number = first
    # The hot loop of a 20,000-connection report: one partition and two strips per line.
    for raw in islice(lines, 1, None):
        number += 1
        label, colon, rest = raw.partition(":")
        if colon:
            label = label.strip()
            if label in _CONN_LABELS:
                values[label] = rest.strip()
            elif label == CONN_LOCAL_SOCKET:
                local = parse_socket(rest, number)
            elif label == CONN_REMOTE_SOCKET:
                remote = parse_socket(rest, number)
            else:
                warnings.append(ReportWarning(number, raw))
        elif raw and not raw.isspace() and not _is_trailer(raw.strip()):
            warnings.append(ReportWarning(number, raw))
    if local is None or remote is None:
        raise ReportParseError(first, f"connection {conn_id} lacks LocalSocket: or RemoteSocket:")

    def value(label: str) -> str | None:
        text = values.get(label)
        return None if not text or text == NOT_APPLICABLE else text

    cipher_code: str | None = None
    cipher_name: str | None = None
    cipher = value(CONN_CIPHER)
    if cipher:
        cipher_code, _, name = cipher.partition(" ")
        cipher_name = name.strip() or None
    rule_detail, actions = (None, ()) if detail is None else detail[:2]
    return TtlsConnection(
        conn_id,
        value(CONN_JOB_NAME) or "",
        local,
        remote,
        value(CONN_SEC_LEVEL),
        cipher_code,
        cipher_name,
        value(CONN_CERT_USER_ID),
        value(CONN_MAP_TYPE),
        value(CONN_FIPS140),
        value(CONN_RULE),
        value(CONN_GROUP_ACTION),
        value(CONN_ENV_ACTION),
        value(CONN_CONN_ACTION),
        rule_detail,
        actions,
    )


# How far past a `ConnID:` line to look for its DETAIL part when reusing the previous one.
_CONN_PART_WINDOW = 4096


def _detail_start(text: str, start: int, stop: int) -> int:
    """Where the DETAIL part of the connection in text[start:stop] begins, or -1."""
    rule = _line_starting(text, DETAIL_RULE_LABEL, start, stop)
    action = _line_starting(text, ACTION_LABEL, start, stop)
    return action if rule < 0 or 0 <= action < rule else rule


def parse_netstat_ttls(text: str) -> NetstatTtlsReport:
    """Parse `netstat -x CONN` output, one or many connections, with or without DETAIL.

    Works on the text block by block (one block per `ConnID:`), so a DETAIL report of many
    thousand connections is never split into lines as a whole, and a DETAIL text shared by many
    connections (the same rule and actions) is parsed once.
    """
    return _parse_netstat_ttls(text, fast=True)


def _parse_netstat_ttls(text: str, *, fast: bool) -> NetstatTtlsReport:
    """`parse_netstat_ttls`. With `fast`, a DETAIL text equal to the previous connection's is
    recognised by one comparison in place instead of being found, copied and hashed again;
    `fast=False` is the plain reading, which tests compare it with."""
    text = normalise_netstat(text)
    end = len(text)
    position = 0
    line_number = 1  # 1-based number of the line that starts at `position`
    while True:
        after = _next_line(text, position)
        if text[position:after].strip():
            break
        if after >= end:
            raise ReportParseError(1, "empty report: expected the netstat header")
        position = after
        line_number += 1
    header = _header_from_line(text[position:after], line_number)
    position = after
    line_number += 1
    warnings: list[ReportWarning] = []
    conn_label = CONN_ID_LABEL + ":"
    block = _line_starting(text, conn_label, position, end)
    # Lines between the header and the first connection.
    for offset, raw in enumerate(text[position : end if block < 0 else block].split("\n")):
        if raw.strip() and not _is_trailer(raw.strip()):
            warnings.append(ReportWarning(line_number + offset, raw))
    if block >= 0:
        line_number += text.count("\n", position, block)
    connections: list[TtlsConnection] = []
    detail_cache: dict[str, _DetailParse] = {}
    # The previous connection's DETAIL text, its parse and its number of line breaks.
    last_key: str | None = None
    last_detail: _DetailParse | None = None
    last_breaks = 0
    while block >= 0:
        detail: _DetailParse | None = None
        detail_start = -1
        next_block = -2  # not found yet
        if fast and last_key is not None:
            # The same rule and actions as the connection before: compare in place.
            window = min(end, block + _CONN_PART_WINDOW)
            candidate = _detail_start(text, block, window)
            after_detail = candidate + len(last_key)
            if (
                candidate >= 0
                and text.startswith(last_key, candidate)
                and (after_detail == end or text.startswith(conn_label, after_detail))
                and _line_starting(text, conn_label, _next_line(text, block), candidate) < 0
            ):
                detail_start, detail = candidate, last_detail
                next_block = after_detail if after_detail < end else -1
        if next_block == -2:
            next_block = _line_starting(text, conn_label, _next_line(text, block), end)
            block_end = end if next_block < 0 else next_block
            detail_start = _detail_start(text, block, block_end)
            if detail_start >= 0:
                key = text[detail_start:block_end]
                detail = detail_cache.get(key)
                if detail is None:
                    try:
                        detail = detail_cache[key] = _parse_detail(key.split("\n"))
                    except ReportParseError as error:
                        base = line_number + text.count("\n", block, detail_start) - 1
                        raise ReportParseError(
                            base + error.line, error.message, error.column
                        ) from None
                last_key, last_detail, last_breaks = key, detail, key.count("\n")
            else:
                last_key = None
        conn_end = (end if next_block < 0 else next_block) if detail_start < 0 else detail_start
        conn_lines = text[block:conn_end].split("\n")
        connections.append(_parse_connection(conn_lines, line_number, detail, warnings))
        conn_breaks = text.count("\n", block, conn_end)
        if detail is not None and detail[2]:
            base = line_number + conn_breaks - 1
            warnings.extend(
                ReportWarning(base + warning.line, warning.text, warning.message)
                for warning in detail[2]
            )
        line_number += conn_breaks + (last_breaks if detail_start >= 0 else 0)
        block = next_block
    _refuse_unread("connection", connections, warnings)
    return NetstatTtlsReport(
        release=header.release,
        tcpip_name=header.tcpip_name,
        time=header.time,
        connections=connections,
        warnings=warnings,
    )
