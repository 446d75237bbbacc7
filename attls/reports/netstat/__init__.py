"""Render and parse the z/OS UNIX `netstat` reports the portal reads.

* `netstat -x CONN [connid] [DETAIL]` (TSO `NETSTAT TTLS CONN`): which rule and actions secured
  each connection, with which protocol and cipher;
* `netstat -x` / `netstat -x GROUP` (TSO `NETSTAT TTLS GROUP`): the active AT-TLS groups;
* `netstat -a` (TSO `NETSTAT ALLCONN`), optionally with `-X NOTTLSPOLICY`: every connection, or
  only those no AT-TLS rule covers.

Reference §4 marks most of these layouts [unconfirmed]. Each layout is therefore one small
renderer/parser pair (`ttls`, `group`, `allconn`), and every label, header string and column is a
constant of `layout`, so a correction from a real system is one edit. The parsers go by labels and
whitespace-separated tokens, never by columns; trailing blanks are ignored; lines they do not
understand are kept as `ReportWarning`s; structural garbage raises `ReportParseError` with the
1-based line number.

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

The modules: `layout` (labels, headers, columns, and where each comes from), `common` (the
header, the dresses undone, sockets), one per report (`ttls`, `group`, `allconn`). Every public
name is re-exported here.
"""

from __future__ import annotations

from attls.reports.netstat.allconn import (
    AllConnRow,
    NetstatAllConnReport,
    parse_netstat_allconn,
    render_netstat_allconn,
)
from attls.reports.netstat.common import (
    NetstatHeader,
    SocketAddr,
    normalise_netstat,
    parse_socket,
)
from attls.reports.netstat.group import (
    NetstatGroupReport,
    TtlsGroupRow,
    parse_netstat_group,
    render_netstat_group,
)
from attls.reports.netstat.layout import (
    ALLCONN_FOREIGN_SOCKET,
    ALLCONN_HEADING,
    ALLCONN_LOCAL_SOCKET,
    ALLCONN_RULE,
    ALLCONN_SHORT_HEADING,
    ALLCONN_SOCKET_PREFIXES,
    ALLCONN_USER_WIDTH,
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
    CONSOLE_HEADER_PREFIX,
    DETAIL_RULE_LABEL,
    GROUP_COLUMNS_TITLE,
    GROUP_HEADING,
    GROUP_ID_WIDTH,
    GROUP_NAME_WIDTH,
    HEADER_PREFIX,
    HEADER_RELEASE_GAP,
    NOT_APPLICABLE,
    NOTTLSPOLICY,
    TCP_STATES,
    TCPIP_NAME_LABEL,
    TCPIP_NAME_WIDTH,
    TRAILER_SUFFIXES,
)
from attls.reports.netstat.ttls import (
    NetstatTtlsReport,
    TtlsConnection,
    parse_netstat_ttls,
    render_netstat_ttls,
)

__all__ = [
    "ALLCONN_FOREIGN_SOCKET",
    "ALLCONN_HEADING",
    "ALLCONN_LOCAL_SOCKET",
    "ALLCONN_RULE",
    "ALLCONN_SHORT_HEADING",
    "ALLCONN_SOCKET_PREFIXES",
    "ALLCONN_USER_WIDTH",
    "CONN_ACTION_VALUE_COLUMN",
    "CONN_CERT_USER_ID",
    "CONN_CIPHER",
    "CONN_CONN_ACTION",
    "CONN_ENV_ACTION",
    "CONN_FIELD_INDENT",
    "CONN_FIPS140",
    "CONN_GROUP_ACTION",
    "CONN_ID_LABEL",
    "CONN_JOB_NAME",
    "CONN_LOCAL_SOCKET",
    "CONN_MAP_TYPE",
    "CONN_REMOTE_SOCKET",
    "CONN_RULE",
    "CONN_SEC_LEVEL",
    "CONN_VALUE_COLUMN",
    "CONSOLE_HEADER_PREFIX",
    "DETAIL_RULE_LABEL",
    "GROUP_COLUMNS_TITLE",
    "GROUP_HEADING",
    "GROUP_ID_WIDTH",
    "GROUP_NAME_WIDTH",
    "HEADER_PREFIX",
    "HEADER_RELEASE_GAP",
    "NOTTLSPOLICY",
    "NOT_APPLICABLE",
    "TCPIP_NAME_LABEL",
    "TCPIP_NAME_WIDTH",
    "TCP_STATES",
    "TRAILER_SUFFIXES",
    "AllConnRow",
    "NetstatAllConnReport",
    "NetstatGroupReport",
    "NetstatHeader",
    "NetstatTtlsReport",
    "SocketAddr",
    "TtlsConnection",
    "TtlsGroupRow",
    "normalise_netstat",
    "parse_netstat_allconn",
    "parse_netstat_group",
    "parse_netstat_ttls",
    "parse_socket",
    "render_netstat_allconn",
    "render_netstat_group",
    "render_netstat_ttls",
]
