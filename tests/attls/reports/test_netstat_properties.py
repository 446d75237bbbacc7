"""Properties of the netstat renderers and parsers, over random reports and random damage."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attls.errors import ReportParseError
from attls.reports import (
    NetstatAllConnReport,
    NetstatGroupReport,
    NetstatTtlsReport,
    TtlsConnection,
    parse_netstat_allconn,
    parse_netstat_group,
    parse_netstat_ttls,
    render_netstat_allconn,
    render_netstat_group,
    render_netstat_ttls,
)
from attls.reports.netstat.ttls import _parse_netstat_ttls

from .strategies import (
    actions,
    netstat_allconn_reports,
    netstat_group_reports,
    netstat_ttls_reports,
    trees,
)
from .test_pasearch_properties import _damage, edits

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEWER = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

netstat_garbage = st.sampled_from(
    [
        "ConnID: 0000ZZZZ",
        "ConnID:",
        "  LocalSocket:  nowhere",
        "  TTLS Action:",
        "  TTLS Rule:                    X",
        "grpX  00000001  x",
        "USER  0000000G  Listen",
        "  Local Socket:   1.2.3.4..",
        "MVS TCP/IP NETSTAT CS",
        "END OF THE REPORT",
    ]
)
netstat_edits = st.lists(
    st.tuples(
        st.sampled_from(["delete", "duplicate", "swap", "insert", "truncate"]),
        st.integers(0, 10_000),
        st.integers(0, 10_000),
        st.one_of(st.text(max_size=20), netstat_garbage),
    ),
    min_size=1,
    max_size=4,
)


def _without_warnings(report: Any) -> Any:
    return dataclasses.replace(report, warnings=[])


@FAST
@given(netstat_ttls_reports(detail=False))
def test_random_conn_reports_round_trip_through_render_and_parse(
    report: NetstatTtlsReport,
) -> None:
    assert parse_netstat_ttls(render_netstat_ttls(report)) == report


@FEWER
@given(netstat_ttls_reports(detail=True))
def test_random_conn_detail_reports_round_trip_through_render_and_parse(
    report: NetstatTtlsReport,
) -> None:
    assert parse_netstat_ttls(render_netstat_ttls(report, detail=True)) == report


@FAST
@given(netstat_group_reports)
def test_random_group_reports_round_trip_through_render_and_parse(
    report: NetstatGroupReport,
) -> None:
    assert parse_netstat_group(render_netstat_group(report)) == report


@FAST
@given(netstat_allconn_reports)
def test_random_allconn_reports_round_trip_through_render_and_parse(
    report: NetstatAllConnReport,
) -> None:
    rendered = render_netstat_allconn(report)

    assert parse_netstat_allconn(rendered, filter=report.filter) == report


def _check_damage(
    text: str,
    parse: Callable[[str], Any],
    render: Callable[[Any], str],
) -> None:
    try:
        parsed = parse(text)
    except ReportParseError as error:
        assert 1 <= error.line <= len(text.split("\n"))
        return
    assert all(1 <= warning.line <= len(text.split("\n")) for warning in parsed.warnings)
    assert parse(render(parsed)) == _without_warnings(parsed)


@FEWER
@given(netstat_ttls_reports(detail=True), st.one_of(edits, netstat_edits))
def test_damaged_conn_detail_text_raises_only_report_parse_error(
    report: NetstatTtlsReport, operations: list[tuple[str, int, int, str]]
) -> None:
    text = _damage(render_netstat_ttls(report, detail=True), operations)

    _check_damage(text, parse_netstat_ttls, lambda parsed: render_netstat_ttls(parsed, detail=True))


@FAST
@given(netstat_group_reports, st.one_of(edits, netstat_edits))
def test_damaged_group_text_raises_only_report_parse_error(
    report: NetstatGroupReport, operations: list[tuple[str, int, int, str]]
) -> None:
    text = _damage(render_netstat_group(report), operations)

    _check_damage(text, parse_netstat_group, render_netstat_group)


@FAST
@given(netstat_allconn_reports, st.one_of(edits, netstat_edits))
def test_damaged_allconn_text_raises_only_report_parse_error(
    report: NetstatAllConnReport, operations: list[tuple[str, int, int, str]]
) -> None:
    text = _damage(render_netstat_allconn(report), operations)

    _check_damage(text, parse_netstat_allconn, render_netstat_allconn)


@FAST
@given(st.text(max_size=200))
def test_arbitrary_text_raises_only_report_parse_error_from_every_netstat_parser(
    text: str,
) -> None:
    for parse in (parse_netstat_ttls, parse_netstat_group, parse_netstat_allconn):
        try:
            parse(text)
        except ReportParseError as error:
            assert error.line >= 1


@st.composite
def reports_sharing_one_detail(draw: st.DrawFn) -> NetstatTtlsReport:
    """Connections that all carry the same rule detail and actions, as on a busy stack."""
    report = draw(netstat_ttls_reports(detail=False))
    rule_detail = draw(st.one_of(st.none(), trees))
    shared = tuple(draw(st.lists(actions, max_size=2)))
    connections: list[TtlsConnection] = [
        dataclasses.replace(conn, rule_detail=rule_detail, action_details=shared)
        for conn in report.connections
    ]
    return dataclasses.replace(report, connections=connections)


def _outcome(text: str, fast: bool) -> object:
    try:
        return _parse_netstat_ttls(text, fast=fast)
    except ReportParseError as error:
        return (error.line, error.message)


@FAST
@given(reports_sharing_one_detail(), st.one_of(st.just([]), edits, netstat_edits))
def test_reusing_the_previous_detail_reads_exactly_what_the_plain_reading_does(
    report: NetstatTtlsReport, operations: list[tuple[str, int, int, str]]
) -> None:
    text = _damage(render_netstat_ttls(report, detail=True), operations)

    assert _outcome(text, fast=True) == _outcome(text, fast=False)
