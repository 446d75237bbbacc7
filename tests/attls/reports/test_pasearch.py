"""`pasearch -t` reports: the real z/OS 3.1 sample, our own fixtures, and every kind of garbage."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from attls.errors import ReportParseError
from attls.reports import (
    AddrPair,
    Field,
    ListField,
    ListItem,
    PasearchReport,
    ReportWarning,
    Section,
    effective_ciphers,
    effective_protocols,
    parse_pasearch,
    pasearch_summary,
    render_pasearch,
)


def _stripped_lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.split("\n")]


# --- The real z/OS 3.1 report (third-party, read in place) ---------------------------------


def test_the_real_sample_parses_completely_without_warnings(real_pasearch_text: str) -> None:
    report = parse_pasearch(real_pasearch_text)

    assert report.warnings == []
    assert len(report.rules) == 12
    assert sum(len(rule.action_details) for rule in report.rules) == 35


def test_the_real_sample_header_names_release_image_date_and_instance(
    real_pasearch_text: str,
) -> None:
    report = parse_pasearch(real_pasearch_text)

    assert (report.release, report.image) == ("3.1", "TCPIP")
    assert (report.date, report.time) == ("12/23/2024", "04:52:29")
    assert report.instance_id == 1734951139
    assert report.no_policies is False


def test_the_real_sample_lists_its_rules_in_order_with_priorities(
    real_pasearch_text: str,
) -> None:
    report = parse_pasearch(real_pasearch_text)

    assert [(rule.name, rule.priority) for rule in report.rules] == [
        ("AZFClientRule", 255),
        ("AZFMutAuthRule", 255),
        ("AZFSrvAuthRule", 255),
        ("CPJES2IN", 255),
        ("CPJES2OUT", 255),
        ("COLATTLJ", 1),
        ("COLATTLS", 1),
        ("CSSMTPRule", 1),
        ("DEFAULTRULE12", 1),
        ("DEFAULTRULE13", 1),
        ("GPMSERVE", 1),
        ("TNZZZZ", 1),
    ]
    assert all(rule.weight == rule.priority for rule in report.rules)


def test_the_real_sample_keeps_conditions_ports_jobs_and_directions(
    real_pasearch_text: str,
) -> None:
    rules = {rule.name: rule for rule in parse_pasearch(real_pasearch_text).rules}

    client = rules["AZFClientRule"].condition
    assert (client.job_name, client.user_id, client.direction) == ("AZF*", "", "Outbound")
    assert (client.local_port_from, client.local_port_to) == (0, 0)
    assert client.local_addr == AddrPair("All", "All", "ToAddr")
    assert client.remote_addr == AddrPair("0.0.26.137", "0.0.26.137", "ToAddr")
    mutual = rules["AZFMutAuthRule"].condition
    assert (mutual.local_port_from, mutual.local_port_to, mutual.direction) == (
        6794,
        6794,
        "Inbound",
    )
    assert (rules["COLATTLJ"].condition.job_name, rules["COLATTLJ"].condition.user_id) == (
        "COLCOMPI",
        "COLIN",
    )
    assert rules["COLATTLS"].condition.user_id == "START1"
    assert rules["CSSMTPRule"].condition.remote_port_from == 25
    assert rules["TNZZZZ"].condition.job_name == "TN3270"
    assert [rules[name].condition.direction for name in ("COLATTLJ", "TNZZZZ", "CPJES2OUT")] == [
        "Both",
        "Inbound",
        "Outbound",
    ]


def test_the_real_sample_keeps_each_rules_action_references(real_pasearch_text: str) -> None:
    rules = {rule.name: rule for rule in parse_pasearch(real_pasearch_text).rules}

    client = rules["AZFClientRule"]
    assert [(ref.name, ref.action_type, ref.sequence) for ref in client.actions] == [
        ("eActAZFClient", "TTLS Environment", 0),
        ("AZFGroupAction1", "TTLS Group", 0),
        ("AZFConnAction1", "TTLS Connection", 0),
    ]
    assert [action.name for action in client.action_details] == [
        "eActAZFClient",
        "AZFGroupAction1",
        "AZFConnAction1",
    ]
    assert rules["CSSMTPRule"].action_named("Connection") is None
    assert client.time_periods[4] == ("Day of Week Mask", "1111111  (Sunday - Saturday)")
    assert ("To TimeOfDay", "24:00") in client.time_periods
    assert client.created == client.updated == "Mon Dec 23 04:52:19 2024"


def test_the_real_sample_connection_action_lists_its_ciphers(real_pasearch_text: str) -> None:
    client = parse_pasearch(real_pasearch_text).rules[0]
    connection = client.detail("Connection")

    assert connection is not None
    assert (connection.name, connection.scope, connection.version) == (
        "AZFConnAction1",
        "Connection",
        3,
    )
    assert connection.list("TTLSCipherParms", "v3CipherSuites") == [
        "C023",
        "C024",
        "C027",
        "C028",
        "C02B",
        "C02C",
        "C02F",
    ]
    assert connection.get("TTLSConnectionAdvancedParms", "CertificateLabel") == "RSA2048"


def test_the_real_sample_environment_turns_on_only_tls_1_2(real_pasearch_text: str) -> None:
    client = parse_pasearch(real_pasearch_text).rules[0]
    environment = client.detail("Environment")

    assert environment is not None and environment.name == "eActAZFClient"
    assert environment.get("TTLSEnvironmentAdvancedParms", "TLSv1.2") == "On"
    assert environment.get("TTLSEnvironmentAdvancedParms", "TLSv1.3") == "Off"
    assert environment.get("TTLSKeyringParms", "Keyring") == "start1/TN3270"
    assert environment.get("TTLSGskAdvancedParms", "GSK_V3_SESSION_TIMEOUT") == "86400"
    assert environment.get("TTLSGskAdvancedParms", "TTLSGskHttpCdpParms", "HttpCdpEnable") == (
        "Off"
    )
    assert environment.list("TTLSGskAdvancedParms", "TTLSGskOcspParms", "OcspRequestSigalg") == [
        "0401"
    ]
    assert effective_protocols(client) == ["TLSv1.2"]


def test_the_real_sample_keeps_a_keyword_list_apart_from_a_list_of_items(
    real_pasearch_text: str,
) -> None:
    rules = {rule.name: rule for rule in parse_pasearch(real_pasearch_text).rules}
    environment = rules["COLATTLJ"].detail("Environment")

    assert environment is not None
    assert environment.get("TTLSSignatureParms", "ClientECurves") == "Any"
    assert environment.list("TTLSSignatureParms", "ClientECurves") == []
    assert environment.find("TTLSSignatureParms", "ServerKeyShareGroups") == ListField(
        "ServerKeyShareGroups",
        (
            ListItem("0023", "secp256r1"),
            ListItem("0024", "secp384r1"),
            ListItem("0025", "secp521r1"),
            ListItem("0029", "X25519"),
            ListItem("0030", "X448"),
        ),
    )


def test_rendering_the_parsed_real_sample_reproduces_it_line_for_line(
    real_pasearch_text: str,
) -> None:
    rendered = render_pasearch(parse_pasearch(real_pasearch_text))

    assert _stripped_lines(rendered) == _stripped_lines(real_pasearch_text)


def test_the_real_sample_round_trips_through_render_and_parse(real_pasearch_text: str) -> None:
    report = parse_pasearch(real_pasearch_text)

    assert parse_pasearch(render_pasearch(report)) == report


# --- Our own handwritten report -------------------------------------------------------------


def test_a_handwritten_report_parses_into_the_model_it_describes(
    handwritten_pasearch_text: str,
) -> None:
    report = parse_pasearch(handwritten_pasearch_text)

    assert report.warnings == []
    assert (report.release, report.image, report.instance_id) == ("3.1", "TCPIPB", 1741944413)
    pay, ledger = report.rules
    assert (pay.name, pay.priority, pay.weight) == ("PayInbound", 1000, 1000)
    assert pay.condition.remote_addr == AddrPair("10.20.0.0", "16", "Prefix")
    assert ledger.condition.remote_addr == AddrPair("10.30.1.1", "10.30.1.9", "Range")
    assert (ledger.condition.remote_port_from, ledger.condition.remote_port_to) == (5500, 5510)
    assert (pay.condition.job_name, pay.condition.user_id) == ("PAYSRV*", "PAYUSER")
    assert ledger.updated == "Fri Mar 14 09:26:51 2025"
    environment = pay.detail("Environment")
    assert environment is not None
    assert environment.find("TTLSGskAdvancedParms", "TTLSGskHttpCdpParms") == Section(
        "TTLSGskHttpCdpParms",
        (Field("HttpCdpEnable", "Off"), Field("HttpCdpCacheSize", "32")),
    )
    assert environment.get("TTLSEnvironmentAdvancedParms", "ClientExtendedMasterSecret") == "On"
    assert environment.get("EnvironmentUserInstance") == "0"


def test_a_connection_action_overrides_the_environments_protocols_and_ciphers(
    handwritten_pasearch_text: str,
) -> None:
    pay, ledger = parse_pasearch(handwritten_pasearch_text).rules

    assert effective_protocols(pay) == ["TLSv1.3"]
    assert effective_ciphers(pay) == ["1301", "1302", "C02F"]
    assert effective_protocols(ledger) == ["TLSv1.2"]
    assert effective_ciphers(ledger) is None


def test_rendering_the_handwritten_report_gives_back_its_text(
    handwritten_pasearch_text: str,
) -> None:
    rendered = render_pasearch(parse_pasearch(handwritten_pasearch_text))

    assert rendered == handwritten_pasearch_text


def test_the_summary_shows_one_row_per_rule_with_what_it_switches_on(
    handwritten_pasearch_text: str,
) -> None:
    summary = pasearch_summary(parse_pasearch(handwritten_pasearch_text))
    lines = summary.splitlines()

    assert lines[0] == "TCPIPB (pasearch CS 3.1): 2 rules"
    assert lines[1].split() == [
        "rule",
        "prio",
        "direction",
        "local",
        "port",
        "remote",
        "port",
        "job",
        "group",
        "environment",
        "connection",
        "TTLSEnabled",
        "protocols",
        "on",
        "ciphers",
    ]
    assert lines[3].split() == [
        "PayInbound",
        "1000",
        "Inbound",
        "8443",
        "any",
        "PAYSRV*",
        "grpMaster",
        "envSrvTls12_13",
        "connPay",
        "On",
        "TLSv1.3",
        "3",
    ]
    assert lines[4].split() == [
        "LedgerOutbound",
        "1",
        "Outbound",
        "any",
        "5500-5510",
        "-",
        "grpMaster",
        "envClientTls12",
        "-",
        "On",
        "TLSv1.2",
        "-",
    ]


# --- Tolerance ------------------------------------------------------------------------------


def test_trailing_blanks_and_carriage_returns_are_tolerated(
    handwritten_pasearch_text: str,
) -> None:
    padded = "\r\n".join(f"{line}   " for line in handwritten_pasearch_text.split("\n"))

    assert parse_pasearch(padded) == parse_pasearch(handwritten_pasearch_text)


def test_unknown_lines_inside_a_rule_are_kept_as_warnings_with_their_line(
    handwritten_pasearch_text: str,
) -> None:
    lines = handwritten_pasearch_text.split("\n")
    priority = lines.index(
        "  Priority:             1000              Sequence Actions:  Don't Care"
    )
    lines.insert(priority, "  Some Future Field:    42")
    trace = lines.index("    Trace:                      2")
    lines.insert(trace, "    a line with no label")
    environment = lines.index("  TTLS Action:                  envSrvTls12_13")
    lines.insert(environment - 1, "  stray text between actions")

    report = parse_pasearch("\n".join(lines))

    assert report.warnings == [
        ReportWarning(priority + 1, "  Some Future Field:    42"),
        ReportWarning(trace + 1, "    a line with no label"),
        ReportWarning(environment, "  stray text between actions"),
    ]
    assert report.rules[0].priority == 1000
    assert len(report.rules[0].action_details) == 3


def test_a_policy_action_count_that_does_not_match_is_a_warning(
    handwritten_pasearch_text: str,
) -> None:
    text = handwritten_pasearch_text.replace(
        "  No. Policy Action:    2", "  No. Policy Action:    5"
    )

    report = parse_pasearch(text)

    assert len(report.warnings) == 1
    assert report.warnings[0].line == 117
    assert "2 policyAction" in report.warnings[0].message


def test_no_policies_retrieved_parses_to_a_report_without_rules() -> None:
    report = parse_pasearch("No policies retrieved\n")

    assert report == PasearchReport(None, None, None, None, None, no_policies=True)
    assert render_pasearch(report) == "No policies retrieved\n"


def test_no_policies_retrieved_after_a_header_keeps_the_header() -> None:
    text = (
        "\nTCP/IP pasearch CS 3.1                    Image Name: TCPIP\n"
        "  Date:                 12/23/2024        Time:  04:52:29\n\n"
        "No policies retrieved\n"
    )

    report = parse_pasearch(text)

    assert (report.image, report.no_policies, report.rules) == ("TCPIP", True, [])
    assert report.instance_id is None
    assert render_pasearch(report) == text


# --- Garbage: each class names its line ----------------------------------------------------

Edit = Callable[[list[str]], list[str]]


def replacing(number: int, text: str) -> Edit:
    """An edit that replaces line `number` (1-based)."""
    return lambda lines: [*lines[: number - 1], text, *lines[number:]]


def inserting(number: int, text: str) -> Edit:
    """An edit that inserts `text` so that it becomes line `number` (1-based)."""
    return lambda lines: [*lines[: number - 1], text, *lines[number - 1 :]]


def deleting(number: int) -> Edit:
    return lambda lines: [*lines[: number - 1], *lines[number:]]


# Line numbers below are those of data/handwritten-pasearch.report.
GARBAGE = [
    pytest.param(lambda lines: ["", "", "hello", *lines], 3, "pasearch header", id="no-header"),
    pytest.param(lambda lines: [], 1, "empty report", id="empty"),
    pytest.param(replacing(6, "policyRule:   "), 6, "has no name", id="nameless-rule"),
    pytest.param(
        inserting(6, "  TTLS Action:                  grpMaster"),
        6,
        "outside a policyRule",
        id="action-before-any-rule",
    ),
    pytest.param(
        replacing(10, "  Priority:             high              Sequence Actions:  x"),
        10,
        "Priority must be a number",
        id="non-numeric-priority",
    ),
    pytest.param(
        replacing(39, "   LocalPortFrom:       84x3              LocalPortTo:       1"),
        39,
        "LocalPortFrom must be a number",
        id="non-numeric-port",
    ),
    pytest.param(
        replacing(39, "   LocalPortFrom:       70000             LocalPortTo:       1"),
        39,
        "not a port number",
        id="port-out-of-range",
    ),
    pytest.param(
        replacing(9, "  Weight:               1000"), 9, "ForLoadDist:", id="missing-second-label"
    ),
    pytest.param(deleting(10), 6, "has no Priority", id="rule-without-priority"),
    pytest.param(
        replacing(46, "  TTLS Action:  "), 46, "TTLS Action: has no name", id="nameless-action"
    ),
    pytest.param(
        replacing(47, "    Version:                    three"),
        47,
        "Version must be a number",
        id="non-numeric-action-version",
    ),
    pytest.param(
        replacing(4, "  TTLS Instance Id:     17x"),
        4,
        "TTLS Instance Id must be a number",
        id="non-numeric-instance-id",
    ),
    pytest.param(
        replacing(2, "TCP/IP pasearch CS 3.1"), 2, "Image Name", id="header-without-image"
    ),
    pytest.param(
        replacing(14, "   Action Sequence:     ²"),
        14,
        "Action Sequence must be a number",
        id="unicode-digit-sequence",
    ),
]


@pytest.mark.parametrize(("mutate", "line", "message"), GARBAGE)
def test_each_kind_of_garbage_names_its_line(
    handwritten_pasearch_text: str, mutate: Edit, line: int, message: str
) -> None:
    text = "\n".join(mutate(handwritten_pasearch_text.split("\n")))

    with pytest.raises(ReportParseError) as caught:
        parse_pasearch(text)

    assert caught.value.line == line
    assert message in caught.value.message
