"""`netstat -a` (TSO `NETSTAT ALLCONN`), optionally with `-X NOTTLSPOLICY`: every connection,
or only those no AT-TLS rule covers, in the long, short and TSO layouts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from attls.errors import ReportParseError
from attls.reports.netstat.common import (
    SocketAddr,
    _is_conn_id,
    _is_trailer,
    _parse_header,
    _refuse_unread,
    _render_header,
    normalise_netstat,
    parse_socket,
)
from attls.reports.netstat.layout import (
    _TSO_CLIENT,
    _TSO_SOCKETS,
    ALLCONN_FOREIGN_SOCKET,
    ALLCONN_HEADING,
    ALLCONN_LOCAL_SOCKET,
    ALLCONN_RULE,
    ALLCONN_SHORT_HEADING,
    ALLCONN_SOCKET_PREFIXES,
    ALLCONN_USER_WIDTH,
    NOTTLSPOLICY,
)
from attls.reports.pasearch.model import ReportWarning

# --- netstat -a (ALLCONN), optionally -X NOTTLSPOLICY --------------------------------------------
# Observed: the whole layout (real z/OS UNIX output). Unconfirmed: whether the report echoes the
# connection-type filter; it is taken from the command the caller ran, not from the text.


@dataclass(frozen=True, slots=True)
class AllConnRow:
    """One connection of `netstat -a`: owning job (the `User Id` column), id, state, sockets."""

    user_id: str
    conn_id: str
    state: str
    local_socket: SocketAddr
    foreign_socket: SocketAddr


@dataclass(frozen=True, slots=True)
class NetstatAllConnReport:
    """`netstat -a`; `filter` is `NOTTLSPOLICY` for `netstat -a -X NOTTLSPOLICY`, else None."""

    release: str
    tcpip_name: str
    time: str | None
    rows: list[AllConnRow] = field(default_factory=list)
    filter: str | None = None
    warnings: list[ReportWarning] = field(default_factory=list)

    @property
    def incomplete(self) -> bool:
        """Some lines were not understood (see `warnings`): rows may be missing."""
        return bool(self.warnings)


def render_netstat_allconn(report: NetstatAllConnReport) -> str:
    """`netstat -a` text (the filter is part of the command, not of the text)."""
    out = [
        _render_header(report.release, report.tcpip_name, report.time),
        ALLCONN_HEADING,
        ALLCONN_RULE,
    ]
    local_prefix = ALLCONN_SOCKET_PREFIXES[ALLCONN_LOCAL_SOCKET]
    foreign_prefix = ALLCONN_SOCKET_PREFIXES[ALLCONN_FOREIGN_SOCKET]
    for row in report.rows:
        out.append(f"{row.user_id:<{ALLCONN_USER_WIDTH}} {row.conn_id} {row.state}")
        out.append(f"{local_prefix}{row.local_socket}")
        out.append(f"{foreign_prefix}{row.foreign_socket}")
    return "\n".join(out) + "\n"


def _normalise_filter(value: str | None) -> str | None:
    if value is None:
        return None
    if value.upper() != NOTTLSPOLICY:
        raise ValueError(f"unsupported netstat -X filter {value!r}; expected {NOTTLSPOLICY}")
    return NOTTLSPOLICY


_ALLCONN_HEADING_UPPER = ALLCONN_HEADING.upper().split()
_ALLCONN_SHORT_HEADING_UPPER = ALLCONN_SHORT_HEADING.upper().split()
_ALLCONN_LABELS = {
    label.upper(): label for label in (ALLCONN_LOCAL_SOCKET, ALLCONN_FOREIGN_SOCKET, "State")
}


def parse_netstat_allconn(text: str, *, filter: str | None = None) -> NetstatAllConnReport:
    """Parse `netstat -a` / TSO `NETSTAT ALLCONN` output, long or short layout.

    Pass `filter="NOTTLSPOLICY"` when the command had that filter. Layouts read:
    long   `JOB CONNID State` then `Local Socket: a` and `Foreign Socket: b` lines;
    short  `JOB CONNID a b State` under the heading `User Id Conn Local Socket Foreign ...`;
    TSO    `Client Name: JOB  Client Id: CONNID` then `Local Socket: a  Foreign Socket: b`
           (no state is printed in the observed sample; an optional `State: s` is read, and
           without one the state is empty).
    """
    report_filter = _normalise_filter(filter)
    lines = normalise_netstat(text).split("\n")
    header, index = _parse_header(lines)
    warnings: list[ReportWarning] = []
    rows: list[AllConnRow] = []
    # The row being read: user, conn, state, its line, local and foreign sockets.
    current: list[Any] | None = None
    sockets: dict[str, SocketAddr] = {}
    short_layout = False

    def finish() -> None:
        if current is None:
            return
        user, conn, state, number = current
        local = sockets.get(ALLCONN_LOCAL_SOCKET)
        foreign = sockets.get(ALLCONN_FOREIGN_SOCKET)
        if local is None or foreign is None:
            raise ReportParseError(number, f"connection {conn} lacks Local or Foreign Socket:")
        rows.append(AllConnRow(user, conn, state, local, foreign))

    for offset in range(index, len(lines)):
        raw = lines[offset]
        text_line = raw.strip()
        number = offset + 1
        if not text_line or _is_trailer(text_line):
            continue
        tokens = text_line.split()
        upper = [token.upper() for token in tokens]
        if upper == _ALLCONN_HEADING_UPPER or not text_line.strip("- "):
            continue
        if upper == _ALLCONN_SHORT_HEADING_UPPER:
            short_layout = True
            continue
        if short_layout and len(tokens) == 5 and ":" not in (tokens[0] + tokens[1]):
            user, conn, local_text, foreign_text, state = tokens
            if not _is_conn_id(conn):
                raise ReportParseError(number, f"Conn must be 8 hexadecimal digits, not {conn!r}")
            rows.append(
                AllConnRow(
                    user,
                    conn,
                    state,
                    parse_socket(local_text, number),
                    parse_socket(foreign_text, number),
                )
            )
            continue
        client = _TSO_CLIENT.fullmatch(text_line)
        if client is not None:
            finish()
            if not _is_conn_id(client.group(2)):
                raise ReportParseError(
                    number, f"Client Id must be 8 hexadecimal digits, not {client.group(2)!r}"
                )
            current = [client.group(1), client.group(2), "", number]
            sockets = {}
            continue
        both = _TSO_SOCKETS.fullmatch(text_line)
        if both is not None and current is not None:
            sockets[ALLCONN_LOCAL_SOCKET] = parse_socket(both.group(1), number)
            sockets[ALLCONN_FOREIGN_SOCKET] = parse_socket(both.group(2), number)
            continue
        written, colon, rest = text_line.partition(":")
        # The console prints the labels in upper case.
        label = _ALLCONN_LABELS.get(written.upper(), written)
        if colon and label in ALLCONN_SOCKET_PREFIXES:
            if current is None:
                warnings.append(ReportWarning(number, raw, f"{label}: before any connection"))
            else:
                sockets[label] = parse_socket(rest, number)
            continue
        if colon and label == "State" and current is not None and rest.strip():
            current[2] = rest.strip()
            continue
        if len(tokens) == 3 and not colon and not short_layout:
            user, conn, state = tokens
            if not _is_conn_id(conn):
                raise ReportParseError(number, f"Conn must be 8 hexadecimal digits, not {conn!r}")
            finish()
            current = [user, conn, state, number]
            sockets = {}
            continue
        warnings.append(ReportWarning(number, raw))
    finish()
    _refuse_unread("connection", rows, warnings)
    return NetstatAllConnReport(
        release=header.release,
        tcpip_name=header.tcpip_name,
        time=header.time,
        rows=rows,
        filter=report_filter,
        warnings=warnings,
    )
