"""What the netstat reports share: the header, the TSO and console dresses undone, sockets,
connection ids, and the refusal to read an unknown layout as an empty report."""

from __future__ import annotations

from typing import Any, NamedTuple

from attls.errors import ReportParseError
from attls.reports.netstat.layout import (
    _COMMAND_ECHO,
    _MESSAGE_ID,
    CONSOLE_HEADER_PREFIX,
    HEADER_PREFIX,
    HEADER_RELEASE_GAP,
    TCPIP_NAME_LABEL,
    TCPIP_NAME_WIDTH,
    TRAILER_SUFFIXES,
)
from attls.reports.pasearch.model import ReportWarning

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
