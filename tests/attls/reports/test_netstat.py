"""`netstat -x CONN [DETAIL]`, `netstat -x GROUP` and `netstat -a [-X NOTTLSPOLICY]` reports."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from attls.errors import ReportParseError
from attls.reports import (
    AllConnRow,
    Field,
    NetstatAllConnReport,
    NetstatGroupReport,
    NetstatTtlsReport,
    ReportWarning,
    SocketAddr,
    TtlsConnection,
    TtlsGroupRow,
    parse_netstat_allconn,
    parse_netstat_group,
    parse_netstat_ttls,
    parse_pasearch,
    parse_socket,
    render_netstat_allconn,
    render_netstat_group,
    render_netstat_ttls,
)

# The z/OS UNIX `netstat` layout as a real system printed it (the public OpenLiberty test code
# quotes such output); these lines are typed from that layout with our own jobs and addresses.
ALLCONN_TEXT = """\
MVS TCP/IP NETSTAT CS V2R5       TCPIP Name: TCPIPB          14:02:11
User Id  Conn     State
-------  ----     -----
PAYSRV1  0001EEF1 Establsh
  Local Socket:   ::ffff:10.1.1.2..8443
  Foreign Socket: ::ffff:10.20.4.17..51844
PAYSRV1  000012D9 Listen
  Local Socket:   ::..8443
  Foreign Socket: ::..0
SYSLOGD  0000002D UDP
  Local Socket:   0.0.0.0..514
  Foreign Socket: *..*
"""

GROUP_TEXT = """\
MVS TCP/IP NETSTAT CS V3R1       TCPIP Name: TCPIPB          09:41:07
TTLSGrpAction                     Group ID          Conns
grpMaster                         00000002          17
grpLegacy                         00000005          0
"""


# --- netstat -x CONN ---------------------------------------------------------------------


def test_a_handwritten_conn_detail_report_parses_into_connections_with_details(
    handwritten_conn_detail_text: str,
) -> None:
    report = parse_netstat_ttls(handwritten_conn_detail_text)

    assert report.warnings == []
    assert (report.release, report.tcpip_name, report.time) == ("V3R1", "TCPIPB", "09:41:07")
    pay, ledger = report.connections
    assert pay.conn_id == "0001EEF1"
    assert pay.local_socket == SocketAddr("10.1.1.2", 8443)
    assert pay.remote_socket == SocketAddr("10.20.4.17", 51844)
    assert (pay.sec_level, pay.protocol) == ("TLS Version 1.3", "TLSv1.3")
    assert (pay.cipher_code, pay.cipher_name) == ("1301", "TLS_AES_128_GCM_SHA256")
    assert (pay.cert_user_id, pay.map_type, pay.fips140) == (None, "Primary", "Off")
    assert (pay.rule, pay.group_action, pay.env_action, pay.conn_action) == (
        "PayInbound",
        "grpMaster",
        "envSrvTls12_13",
        "connPay",
    )
    assert pay.rule_detail == (
        Field("Priority", "1000"),
        Field("ServiceDirection", "Inbound"),
    )
    assert [action.name for action in pay.action_details] == ["grpMaster", "connPay"]
    assert pay.action_details[1].list("TTLSCipherParms", "v3CipherSuites") == ["1301", "1302"]
    assert ledger.local_socket == SocketAddr("::FFFF:10.1.1.2", 1027)
    assert (ledger.protocol, ledger.conn_action) == ("TLSv1.2", None)
    assert (ledger.rule_detail, ledger.action_details) == (None, ())


def test_rendering_the_handwritten_conn_detail_report_gives_back_its_text(
    handwritten_conn_detail_text: str,
) -> None:
    report = parse_netstat_ttls(handwritten_conn_detail_text)

    assert render_netstat_ttls(report, detail=True) == handwritten_conn_detail_text


def test_without_detail_a_conn_report_keeps_only_the_connection_lines(
    handwritten_conn_detail_text: str,
) -> None:
    report = parse_netstat_ttls(handwritten_conn_detail_text)
    plain = render_netstat_ttls(report)

    assert "TTLS Action:" not in plain
    assert [conn.conn_id for conn in parse_netstat_ttls(plain).connections] == [
        "0001EEF1",
        "0001EF0A",
    ]
    assert parse_netstat_ttls(plain).connections[0].action_details == ()


def test_detail_from_the_real_pasearch_actions_round_trips(real_pasearch_text: str) -> None:
    rule = parse_pasearch(real_pasearch_text).rules[0]
    conn = TtlsConnection(
        conn_id="0000A1B2",
        job_name="AZFCLNT",
        local_socket=SocketAddr("10.1.1.2", 1030),
        remote_socket=SocketAddr("0.0.26.137", 6793),
        sec_level="TLS Version 1.2",
        cipher_code="C02F",
        cipher_name="TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        rule=rule.name,
        group_action="AZFGroupAction1",
        env_action="eActAZFClient",
        conn_action="AZFConnAction1",
        rule_detail=(Field("Priority", "255"),),
        action_details=tuple(rule.action_details),
    )
    report = NetstatTtlsReport("V3R1", "TCPIP", "04:55:00", [conn, conn])

    assert parse_netstat_ttls(render_netstat_ttls(report, detail=True)) == report


def test_a_connection_report_with_no_connections_is_just_its_header() -> None:
    report = NetstatTtlsReport("V3R1", "TCPIP", None)

    assert render_netstat_ttls(report) == "MVS TCP/IP NETSTAT CS V3R1       TCPIP Name: TCPIP\n"
    assert parse_netstat_ttls(render_netstat_ttls(report)) == report


def test_unknown_conn_lines_are_warnings_and_trailers_are_ignored(
    handwritten_conn_detail_text: str,
) -> None:
    lines = handwritten_conn_detail_text.split("\n")
    lines.insert(6, "  Handshake:    Full")
    lines.insert(20, "    stray words in the rule detail")
    lines.append("2 OF 2 RECORDS DISPLAYED")
    padded = "\r\n".join(f"{line}  " for line in lines)

    report = parse_netstat_ttls(padded)

    assert [(warning.line, warning.text.strip()) for warning in report.warnings] == [
        (7, "Handshake:    Full"),
        (21, "stray words in the rule detail"),
    ]
    assert len(report.connections) == 2
    assert report.connections[0].cipher_code == "1301"


def test_sockets_are_parsed_into_address_and_port() -> None:
    assert parse_socket("10.1.1.2..7554", 1) == SocketAddr("10.1.1.2", 7554)
    assert parse_socket("::FFFF:000.000.000.002..3973", 1) == SocketAddr(
        "::FFFF:000.000.000.002", 3973
    )
    assert parse_socket("::..0", 1) == SocketAddr("::", 0)
    assert parse_socket("*..*", 1) == SocketAddr("*", None)
    assert str(SocketAddr("2001:db8::17", 443)) == "2001:db8::17..443"


CONN_GARBAGE = [
    pytest.param(lambda lines: ["", "garbage", *lines], 2, "netstat header", id="no-header"),
    pytest.param(
        lambda lines: [*lines[:1], "ConnID: 12345", *lines[2:]], 2, "8 hexadecimal", id="bad-id"
    ),
    pytest.param(
        lambda lines: [*lines[:3], "  LocalSocket:  10.1.1.2:8443", *lines[4:]],
        4,
        "ip..port",
        id="socket-without-dots",
    ),
    pytest.param(
        lambda lines: [*lines[:4], "  RemoteSocket: 10.20.4.17..99999", *lines[5:]],
        5,
        "no valid port",
        id="port-out-of-range",
    ),
    pytest.param(
        lambda lines: [*lines[:3], *lines[4:]], 2, "lacks LocalSocket", id="missing-socket"
    ),
    pytest.param(
        lambda lines: [*lines[:27], "  TTLS Action:", *lines[28:]],
        28,
        "TTLS Action: has no name",
        id="nameless-action",
    ),
    pytest.param(lambda lines: [], 1, "empty report", id="empty"),
]


@pytest.mark.parametrize(("mutate", "line", "message"), CONN_GARBAGE)
def test_each_kind_of_conn_garbage_names_its_line(
    handwritten_conn_detail_text: str,
    mutate: Callable[[list[str]], list[str]],
    line: int,
    message: str,
) -> None:
    text = "\n".join(mutate(handwritten_conn_detail_text.split("\n")))

    with pytest.raises(ReportParseError) as caught:
        parse_netstat_ttls(text)

    assert (caught.value.line, message in caught.value.message) == (line, True)


# --- netstat -x GROUP --------------------------------------------------------------------


def test_a_group_report_lists_each_group_with_its_id_and_connection_count() -> None:
    report = parse_netstat_group(GROUP_TEXT)

    assert report == NetstatGroupReport(
        "V3R1",
        "TCPIPB",
        "09:41:07",
        [TtlsGroupRow("grpMaster", "00000002", 17), TtlsGroupRow("grpLegacy", "00000005", 0)],
    )
    assert render_netstat_group(report) == GROUP_TEXT


def test_the_upper_case_console_form_of_the_group_report_also_parses() -> None:
    text = (
        "MVS TCP/IP NETSTAT CS V1R12       TCPIP Name: TCPIP           10:00:00\n"
        "TTLSGRPACTION                     GROUP ID          CONNS\n"
        "VIRTELGROUP                       00000002          0\n"
        "1 OF 1 RECORDS DISPLAYED\n"
        "END OF THE REPORT\n"
    )

    report = parse_netstat_group(text)

    assert report.groups == [TtlsGroupRow("VIRTELGROUP", "00000002", 0)]
    assert report.warnings == []


def test_group_garbage_names_its_line() -> None:
    with pytest.raises(ReportParseError) as bad_id:
        parse_netstat_group(GROUP_TEXT.replace("00000005", "0000005Z"))
    with pytest.raises(ReportParseError) as bad_count:
        parse_netstat_group(GROUP_TEXT.replace("          17", "          many"))
    odd = parse_netstat_group(GROUP_TEXT + "a line of four words\n")

    assert (bad_id.value.line, bad_count.value.line) == (4, 3)
    assert odd.warnings == [ReportWarning(5, "a line of four words")]


# --- netstat -a (ALLCONN) ----------------------------------------------------------------


def test_an_allconn_report_lists_each_connection_with_its_sockets() -> None:
    report = parse_netstat_allconn(ALLCONN_TEXT)

    assert report.rows == [
        AllConnRow(
            "PAYSRV1",
            "0001EEF1",
            "Establsh",
            SocketAddr("::ffff:10.1.1.2", 8443),
            SocketAddr("::ffff:10.20.4.17", 51844),
        ),
        AllConnRow("PAYSRV1", "000012D9", "Listen", SocketAddr("::", 8443), SocketAddr("::", 0)),
        AllConnRow("SYSLOGD", "0000002D", "UDP", SocketAddr("0.0.0.0", 514), SocketAddr("*", None)),
    ]
    assert (report.filter, report.warnings) == (None, [])
    assert render_netstat_allconn(report) == ALLCONN_TEXT


def test_the_nottlspolicy_filter_is_kept_on_the_report() -> None:
    report = parse_netstat_allconn(ALLCONN_TEXT, filter="NoTTLSPolicy")

    assert report.filter == "NOTTLSPOLICY"
    assert parse_netstat_allconn(render_netstat_allconn(report), filter=report.filter) == report
    with pytest.raises(ValueError, match="unsupported"):
        parse_netstat_allconn(ALLCONN_TEXT, filter="TTLSPOLICY")


def test_allconn_garbage_names_its_line_and_unknown_lines_are_warnings() -> None:
    with pytest.raises(ReportParseError) as bad_conn:
        parse_netstat_allconn(ALLCONN_TEXT.replace("000012D9", "12D9ZZZZ"))
    with pytest.raises(ReportParseError) as lost_socket:
        parse_netstat_allconn(ALLCONN_TEXT.replace("  Foreign Socket: ::..0\n", ""))
    noisy = parse_netstat_allconn(
        ALLCONN_TEXT.replace("Listen\n", "Listen\n  ApplData: something\n")
    )

    assert bad_conn.value.line == 7
    assert lost_socket.value.line == 7
    assert noisy.warnings == [ReportWarning(8, "  ApplData: something")]
    assert len(noisy.rows) == 3


def test_an_empty_allconn_report_round_trips() -> None:
    report = NetstatAllConnReport("V2R4", "TCPIP", "16:40:39", filter="NOTTLSPOLICY")

    assert parse_netstat_allconn(render_netstat_allconn(report), filter=NOTTLS) == report


NOTTLS = "NOTTLSPOLICY"
