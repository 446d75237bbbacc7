"""Render and parse the z/OS reports that show AT-TLS at work.

* `pasearch -t`: the policy PAGENT has loaded (`parse_pasearch`, `render_pasearch`,
  `pasearch_summary`);
* `netstat -x CONN [DETAIL]`, `netstat -x GROUP` and `netstat -a [-X NOTTLSPOLICY]`: which
  connections AT-TLS secured, how, and which it did not cover.

The simulator renders these reports from its loaded policy and live connections; the fleet
parses them from real LPARs. Parsers go by labels, keep lines they do not understand as
`ReportWarning`s and raise `attls.errors.ReportParseError` (with a 1-based line) on garbage.
"""

from attls.reports.netstat import (
    NOTTLSPOLICY,
    AllConnRow,
    NetstatAllConnReport,
    NetstatGroupReport,
    NetstatTtlsReport,
    SocketAddr,
    TtlsConnection,
    TtlsGroupRow,
    parse_netstat_allconn,
    parse_netstat_group,
    parse_netstat_ttls,
    parse_socket,
    render_netstat_allconn,
    render_netstat_group,
    render_netstat_ttls,
)
from attls.reports.pasearch import (
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
    effective_ciphers,
    effective_protocols,
    parse_pasearch,
    pasearch_summary,
    render_pasearch,
)

__all__ = [
    "NOTTLSPOLICY",
    "ActionRef",
    "AddrPair",
    "AllConnRow",
    "ConditionSummary",
    "Field",
    "ListField",
    "ListItem",
    "NetstatAllConnReport",
    "NetstatGroupReport",
    "NetstatTtlsReport",
    "Node",
    "PasearchReport",
    "PasearchRule",
    "ReportWarning",
    "Section",
    "SocketAddr",
    "TtlsAction",
    "TtlsConnection",
    "TtlsGroupRow",
    "effective_ciphers",
    "effective_protocols",
    "parse_netstat_allconn",
    "parse_netstat_group",
    "parse_netstat_ttls",
    "parse_pasearch",
    "parse_socket",
    "pasearch_summary",
    "render_netstat_allconn",
    "render_netstat_group",
    "render_netstat_ttls",
    "render_pasearch",
]
