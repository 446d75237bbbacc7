"""Render and parse the z/OS UNIX `netstat` reports the portal reads.

* `netstat -x CONN [connid] [DETAIL]` (TSO `NETSTAT TTLS CONN`): which rule and actions secured
  each connection, with which protocol and cipher;
* `netstat -x` / `netstat -x GROUP` (TSO `NETSTAT TTLS GROUP`): the active AT-TLS groups;
* `netstat -a` (TSO `NETSTAT ALLCONN`), optionally with `-X NOTTLSPOLICY`: every connection, or
  only those no AT-TLS rule covers.

Reference §4 marks most of these layouts [unconfirmed]. Each layout is therefore one small
renderer/parser pair below, and every label, header string and column is a constant at the top of
this module, so a correction from a real system is one edit. The parsers go by labels and
whitespace-separated tokens, never by columns; trailing blanks are ignored; lines they do not
understand are kept as `ReportWarning`s; structural garbage raises `ReportParseError` with the
1-based line number.

Sources (public material, paraphrased):
* Report header `MVS TCP/IP NETSTAT CS V2R4       TCPIP Name: TCPIP           16:40:39`:
  real TSO output on colinpaice.blog/2022/06/01/netstat-ttls-and-at-tls/ (after its EZZ2350I
  message id) and real z/OS UNIX `netstat` output quoted in a comment of
  OpenLiberty/open-liberty dev/fattest.simplicity/src/componenttest/topology/impl/
  PortDetectionUtil.java (release `V1R10`, same gaps). [observed]
* ALLCONN rows (`User Id  Conn     State`, a dashes line, then per connection
  `JOBNAME  CONNID   State` with indented `Local Socket:` / `Foreign Socket:`): the same
  OpenLiberty comment. [observed] State abbreviations (`Listen`, `Establsh`, ...): IBM's
  "TCP connection status" table for the TSO and z/OS UNIX reports. [confirmed, in part]
* TTLS CONN labels `LocalSocket:`, `RemoteSocket:`, `SecLevel:`, `Cipher: <code> <name>`: a
  production REXX (ATTLSRPT) that parses them, per reference §4.2. [confirmed] Every other CONN
  label, the `ConnID:` block start and all of the DETAIL layout are reconstructed. [unconfirmed]
* GROUP columns `TTLSGrpAction  Group ID  Conns`: the console form of the report quoted in
  Virtel's documentation, with its line breaks lost. [observed; column widths reconstructed]

The same reports come in three dresses, all read here [observed in the real samples of
../shared/reference/samples/real-world/netstat]:
* z/OS UNIX shell: as above;
* TSO NETSTAT: every line prefixed with its message id (`EZZ2350I MVS TCP/IP NETSTAT ...`,
  `EZZ2550I Client Name: ...`), and connections as `Client Name: X  Client Id: Y` with
  `Local Socket: a  Foreign Socket: b` on one line;
* console (`D TCPIP,,NETSTAT,...`): the header is `EZD0101I NETSTAT CS V1R12 TCPIP 378`
  (release, stack, message sequence), upper case, with trailers.
A leading echo of the command is skipped. ALLCONN comes in the long layout (sockets on lines
of their own) and the short one (`User Id Conn Local Socket Foreign Socket State`, one line
per connection).

A report is never read as "nothing found" when it holds lines the parser does not understand:
with no row read and lines skipped, the parse fails; with rows and lines skipped, the report
is `incomplete` and lists the skipped lines (`warnings`), and callers treat it as a failed read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, NamedTuple

from attls.errors import ReportParseError
from attls.reports.pasearch.layout import ACTION_LABEL, ACTION_VALUE_COLUMN, SECTION_STARTS
from attls.reports.pasearch.model import Node, ReportWarning, TtlsAction
from attls.reports.pasearch.parse import _parse_action, _parse_tree
from attls.reports.pasearch.render import _render_tree, render_action

# --- Layout constants -------------------------------------------------------------------------

# Header [observed]: release, then seven blanks, then the stack name padded to 16, then the time.
HEADER_PREFIX = "MVS TCP/IP NETSTAT CS "
# Console header after its EZD0101I message id [observed]: `NETSTAT CS V1R12 TCPIP 378`.
CONSOLE_HEADER_PREFIX = "NETSTAT CS "
# TSO and console message ids at the start of a line [observed: EZZ2350I, EZZ2550I, EZD0101I].
_MESSAGE_ID = re.compile(r"(?m)^[ \t]*EZ[A-Z]\d{4}[A-Z][ \t]?")
# A leading echo of the command that produced the report (`D TCPIP,,NETSTAT,TTLS,GROUP`,
# `$ netstat -a`, `NETSTAT ALLCONN`).
_COMMAND_ECHO = re.compile(
    r"^\s*(?:[$#>]\s*)?(?:D(?:ISPLAY)?\s+TCPIP\b|netstat\b|onetstat\b)", re.IGNORECASE
)
HEADER_RELEASE_GAP = " " * 7
TCPIP_NAME_LABEL = "TCPIP Name:"
TCPIP_NAME_WIDTH = 16

NOT_APPLICABLE = "N/A"  # printed for an action or value that does not apply [unconfirmed]

# Console / TSO trailers; the z/OS UNIX form may not print them. Recognised and ignored.
TRAILER_SUFFIXES = ("RECORDS DISPLAYED", "END OF THE REPORT")

# TTLS CONN [labels LocalSocket/RemoteSocket/SecLevel/Cipher confirmed; the rest reconstructed]
CONN_ID_LABEL = "ConnID"
CONN_FIELD_INDENT = 2
CONN_VALUE_COLUMN = 16
CONN_ACTION_VALUE_COLUMN = 18
CONN_JOB_NAME = "JobName"
CONN_LOCAL_SOCKET = "LocalSocket"
CONN_REMOTE_SOCKET = "RemoteSocket"
CONN_SEC_LEVEL = "SecLevel"
CONN_CIPHER = "Cipher"
CONN_CERT_USER_ID = "CertUserID"
CONN_MAP_TYPE = "MapType"
CONN_FIPS140 = "FIPS140"
CONN_RULE = "TTLSRule"
CONN_GROUP_ACTION = "TTLSGrpAction"
CONN_ENV_ACTION = "TTLSEnvAction"
CONN_CONN_ACTION = "TTLSConnAction"
# DETAIL appends, after a blank line, the rule (as a pasearch-like tree under this label) and
# then each action in pasearch's `TTLS Action:` form. [reconstructed]
DETAIL_RULE_LABEL = "TTLS Rule:"
_DETAIL_STOPS = (*SECTION_STARTS, DETAIL_RULE_LABEL)

# GROUP [column names observed; widths reconstructed]
GROUP_COLUMNS_TITLE = "TTLSGrpAction"
GROUP_HEADING = f"{GROUP_COLUMNS_TITLE:<33} {'Group ID':<17} Conns"
GROUP_NAME_WIDTH = 33
GROUP_ID_WIDTH = 17

# ALLCONN [observed]
ALLCONN_HEADING = "User Id  Conn     State"
ALLCONN_RULE = "-------  ----     -----"
ALLCONN_USER_WIDTH = 8
# Short layout heading [observed in IBM's z/OS UNIX netstat examples; one line per connection].
ALLCONN_SHORT_HEADING = "User Id  Conn     Local Socket           Foreign Socket         State"
# TSO long layout [observed: Colin Paice's blog, EZZ2550I/EZZ2551I lines].
_TSO_CLIENT = re.compile(r"Client Name:\s*(\S+)\s+Client Id:\s*(\S+)", re.IGNORECASE)
_TSO_SOCKETS = re.compile(r"Local Socket:\s*(\S+)\s+Foreign Socket:\s*(\S+)", re.IGNORECASE)
ALLCONN_LOCAL_SOCKET = "Local Socket"
ALLCONN_FOREIGN_SOCKET = "Foreign Socket"
ALLCONN_SOCKET_PREFIXES = {
    ALLCONN_LOCAL_SOCKET: "  Local Socket:   ",
    ALLCONN_FOREIGN_SOCKET: "  Foreign Socket: ",
}
NOTTLSPOLICY = "NOTTLSPOLICY"
# TSO / z/OS UNIX state abbreviations, for reference; the parser accepts any word. Listen ..
# ClosWait [confirmed: IBM "TCP connection status" table]; LastAck .. Closed [assumed, by pattern].
TCP_STATES = (
    "Listen",
    "SynSent",
    "SynRcvd",
    "Establsh",
    "FinWait1",
    "FinWait2",
    "ClosWait",
    "LastAck",
    "Closing",
    "TimeWait",
    "Closed",
)


# --- Shared pieces ------------------------------------------------------------------------------


class SocketAddr(NamedTuple):
    """An `ip..port` socket. `port` is None for a wildcard (`*`); IPv6 forms are kept verbatim."""

    ip: str
    port: int | None

    def __str__(self) -> str:
        return f"{self.ip}..{'*' if self.port is None else self.port}"


def parse_socket(value: str, line: int) -> SocketAddr:
    """Parse `10.1.1.2..7554`, `::ffff:9.57.165.181..9355`, `::..0` or `*..*`."""
    ip, dots, port = value.strip().rpartition("..")
    if not dots or not ip or " " in ip:
        raise ReportParseError(line, f"expected a socket written ip..port, not {value.strip()!r}")
    if port == "*":
        return SocketAddr(ip, None)
    if not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise ReportParseError(line, f"socket {value.strip()!r} has no valid port")
    return SocketAddr(ip, int(port))


def _is_conn_id(value: str) -> bool:
    if len(value) != 8 or not value.isascii():
        return False
    try:
        int(value, 16)
    except ValueError:
        return False
    return True


def _pad(prefix: str, column: int) -> str:
    return prefix.ljust(column) if len(prefix) < column else prefix + " "


def _refuse_unread(what: str, rows: list[Any], warnings: list[ReportWarning]) -> None:
    """No row read but lines skipped: a layout we do not know, never "nothing found"."""
    if warnings and not rows:
        first = warnings[0]
        raise ReportParseError(
            first.line,
            f"no {what} could be read and {len(warnings)} line(s) were not understood"
            f" (first: {first.text.strip()[:60]!r}); the layout is not one this parser knows",
        )


def _is_trailer(text: str) -> bool:
    return text.upper().endswith(TRAILER_SUFFIXES)


class NetstatHeader(NamedTuple):
    release: str
    tcpip_name: str
    time: str | None


def _render_header(release: str, tcpip_name: str, time: str | None) -> str:
    line = f"{HEADER_PREFIX}{release}{HEADER_RELEASE_GAP}{TCPIP_NAME_LABEL} {tcpip_name}"
    if time is None:
        return line
    return line + " " * max(1, TCPIP_NAME_WIDTH - len(tcpip_name)) + time


def normalise_netstat(text: str) -> str:
    """The report as the z/OS UNIX shell prints it: message ids and a command echo removed.

    Lines keep their numbers (an echo becomes a blank line), so errors still point at the
    line of the text as received.
    """
    start = 0
    while True:
        newline = text.find("\n", start)
        end = len(text) if newline < 0 else newline
        line = text[start:end]
        if line.strip() and _COMMAND_ECHO.match(line) and not _looks_like_header(line):
            text = text[:start] + text[end:]
            end = start
        elif line.strip():
            break
        if newline < 0:
            return text
        start = end + 1
    if _MESSAGE_ID.match(text, start):
        text = _MESSAGE_ID.sub("", text)
    return text


def _looks_like_header(line: str) -> bool:
    stripped = _MESSAGE_ID.sub("", line).strip()
    return stripped.startswith((HEADER_PREFIX, CONSOLE_HEADER_PREFIX))


def _header_from_line(text: str, number: int) -> NetstatHeader:
    text = text.strip()
    if text.startswith(CONSOLE_HEADER_PREFIX):
        tokens = text[len(CONSOLE_HEADER_PREFIX) :].split()
        if len(tokens) not in (2, 3):
            raise ReportParseError(number, "the console netstat header needs a release and stack")
        return NetstatHeader(tokens[0], tokens[1], None)
    if not text.startswith(HEADER_PREFIX):
        raise ReportParseError(number, f"expected the netstat header {HEADER_PREFIX!r}...")
    release, found, rest = text[len(HEADER_PREFIX) :].partition(TCPIP_NAME_LABEL)
    tokens = rest.split()
    if not found or not release.strip() or not tokens or len(tokens) > 2:
        raise ReportParseError(number, "the netstat header needs a release and 'TCPIP Name:'")
    return NetstatHeader(release.strip(), tokens[0], tokens[1] if len(tokens) == 2 else None)


def _parse_header(lines: list[str]) -> tuple[NetstatHeader, int]:
    """Read the header, the first non-blank line. Returns it and the index of the next line."""
    index = 0
    while index < len(lines) and not lines[index].strip():
        index += 1
    if index == len(lines):
        raise ReportParseError(1, "empty report: expected the netstat header")
    return _header_from_line(lines[index], index + 1), index + 1


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
