"""Real netstat and pasearch output in every dress z/OS prints it, and loud failure otherwise."""

import pytest

from attls.errors import ReportParseError
from attls.reports.netstat import (
    SocketAddr,
    parse_netstat_allconn,
    parse_netstat_group,
    parse_netstat_ttls,
)
from attls.reports.pasearch import parse_pasearch, parse_pasearch_images
from tests.attls.conftest import SHARED

NETSTAT = SHARED / "reference" / "samples" / "real-world" / "netstat"


def sample(name: str) -> str:
    path = NETSTAT / name
    if not path.is_file():
        pytest.skip(f"the real sample is not at {path}")
    return path.read_text()


def test_the_real_shell_allconn_long_layout_with_ipv4_mapped_sockets_gives_its_three_rows():
    report = parse_netstat_allconn(sample("openliberty-netstat-P-v1r10.txt"))

    assert (report.release, report.tcpip_name, report.incomplete) == ("V1R10", "TCPIP", False)
    assert [(r.user_id, r.conn_id, r.state) for r in report.rows] == [
        ("BBON001", "000014F6", "Establsh"),
        ("BBON001", "000012D9", "Listen"),
        ("BBOS001", "000014F5", "Establsh"),
    ]
    assert report.rows[0].local_socket == SocketAddr("::ffff:9.57.165.181", 9355)
    assert report.rows[1].foreign_socket == SocketAddr("::", 0)


def test_the_real_tso_output_with_a_message_id_on_every_line_gives_its_row():
    report = parse_netstat_allconn(sample("tso-netstat-msgid-header-v2r4.txt"))

    assert (report.release, report.tcpip_name, report.incomplete) == ("V2R4", "TCPIP", False)
    [row] = report.rows
    assert (row.user_id, row.conn_id) == ("CSQ9CHIN", "000000BB")
    assert row.local_socket == SocketAddr("10.1.1.2", 1414)
    assert row.foreign_socket == SocketAddr("10.1.0.2", 51844)


def test_the_real_console_group_display_with_its_ezd0101i_header_gives_its_group():
    report = parse_netstat_group(sample("virtel-console-d-tcpip-n-ttls-group.txt"))

    assert (report.release, report.tcpip_name) == ("V1R12", "TCPIP")
    assert [(g.group_action, g.group_id, g.conns) for g in report.groups] == [
        ("VIRTELGROUP", "00000002", 0)
    ]


def test_a_console_display_after_its_command_echo_is_read():
    text = "D TCPIP,,NETSTAT,TTLS,GROUP\n" + sample("virtel-console-d-tcpip-n-ttls-group.txt")
    assert len(parse_netstat_group(text).groups) == 1


SHORT = """\
MVS TCP/IP NETSTAT CS V2R5       TCPIP Name: TCPIP           10:00:00
User Id  Conn     Local Socket           Foreign Socket         State
-------  ----     ------------           --------------         -----
FTPD1    0000002A 0.0.0.0..21            0.0.0.0..0             Listen
TN3270A  0000003C ::ffff:10.1.1.2..23    ::ffff:10.20.4.17..50312 Establsh
"""


def test_the_allconn_short_layout_gives_its_rows_instead_of_zero_rows_and_warnings():
    report = parse_netstat_allconn(SHORT, filter="NOTTLSPOLICY")

    assert report.incomplete is False
    assert [(r.user_id, r.state, r.local_socket.port) for r in report.rows] == [
        ("FTPD1", "Listen", 21),
        ("TN3270A", "Establsh", 23),
    ]


def test_a_layout_the_parser_does_not_know_fails_loudly_rather_than_reading_as_nothing():
    unknown = SHORT.replace("User Id  Conn     Local Socket", "Job      Id       Local Socket")
    with pytest.raises(ReportParseError, match="not one this parser knows"):
        parse_netstat_allconn(unknown, filter="NOTTLSPOLICY")
    with pytest.raises(ReportParseError):
        parse_netstat_group("MVS TCP/IP NETSTAT CS V2R5 TCPIP Name: TCPIP\nsomething else here\n")
    with pytest.raises(ReportParseError):
        parse_netstat_ttls("MVS TCP/IP NETSTAT CS V2R5 TCPIP Name: TCPIP\nsomething else\n")


def test_rows_with_lines_not_understood_mark_the_report_incomplete():
    text = SHORT + "TN3270B  0000003D ::ffff:10.1.1.2..23\n"
    report = parse_netstat_allconn(text)
    assert report.incomplete is True
    assert [w.line for w in report.warnings] == [6]
    assert len(report.rows) == 2


def test_a_report_of_no_connections_is_complete_and_empty():
    report = parse_netstat_allconn(SHORT.split("FTPD1")[0], filter="NOTTLSPOLICY")
    assert (report.rows, report.incomplete) == ([], False)


def test_pasearch_of_several_images_keeps_each_images_rules_apart(sample_pasearch_text: str):
    second = sample_pasearch_text.replace("Image Name: TCPIP ", "Image Name: TCPIPB").replace(
        "policyRule:             AZFClientRule", "policyRule:             OnlyOnB      "
    )
    text = "$ pasearch -t\n" + sample_pasearch_text + second
    first, other = parse_pasearch_images(text)

    assert (first.image, other.image) == ("TCPIP", "TCPIPB")
    assert "OnlyOnB" not in {r.name for r in first.rules}
    assert "OnlyOnB" in {r.name for r in other.rules}
    assert parse_pasearch(text, image="TCPIPB").rules[0].name == "OnlyOnB"
    with pytest.raises(ReportParseError, match="2 images"):
        parse_pasearch(text)
    assert first.warnings == other.warnings == []


def test_pasearch_after_a_command_echo_is_read(sample_pasearch_text: str):
    report = parse_pasearch("pasearch -t\n" + sample_pasearch_text)
    assert (len(report.rules), report.incomplete) == (12, False)


CONSOLE_ALLCONN = """\
D TCPIP,,NETSTAT,ALLCONN
EZD0101I NETSTAT CS V2R5 TCPIP 412
USER ID  CONN     STATE
FTPD1    0000002A LISTEN
  LOCAL SOCKET:   ::..21
  FOREIGN SOCKET: ::..0
TN3270A  0000003C ESTABLSH
  LOCAL SOCKET:   ::FFFF:10.1.1.2..23
  FOREIGN SOCKET: ::FFFF:10.20.4.17..50312
2 OF 2 RECORDS DISPLAYED
END OF THE REPORT
"""


def test_a_console_allconn_display_in_upper_case_gives_its_rows():
    # Layout reconstructed from the real console GROUP display and the shell ALLCONN layout
    # (the console prints the same report upper-cased, after its EZD0101I header).
    report = parse_netstat_allconn(CONSOLE_ALLCONN)

    assert (report.release, report.tcpip_name, report.incomplete) == ("V2R5", "TCPIP", False)
    assert [(r.user_id, r.state, r.local_socket.port) for r in report.rows] == [
        ("FTPD1", "LISTEN", 21),
        ("TN3270A", "ESTABLSH", 23),
    ]
