"""Properties of the `pasearch -t` renderer and parser, over random reports and random damage."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attls.errors import ReportParseError
from attls.reports import PasearchReport, parse_pasearch, render_pasearch

from .strategies import pasearch_reports

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Damage done to a report's lines: delete, duplicate, swap, insert garbage, truncate.
garbage = st.one_of(
    st.text(max_size=30),
    st.binary(max_size=30).map(lambda raw: raw.decode("latin-1")),
    st.sampled_from(
        [
            "policyRule:",
            "  TTLS Action:",
            "  Priority:   x",
            "   LocalPortFrom:  1  LocalPortTo:",
            "\x00\x01\x02",
            "No policies retrieved",
            "    TLSv1.3:  On",
            "      0021  secp224r1",
        ]
    ),
)
edits = st.lists(
    st.tuples(
        st.sampled_from(["delete", "duplicate", "swap", "insert", "truncate"]),
        st.integers(0, 10_000),
        st.integers(0, 10_000),
        garbage,
    ),
    min_size=1,
    max_size=4,
)


def _damage(text: str, operations: list[tuple[str, int, int, str]]) -> str:
    lines = text.split("\n")
    for operation, first, second, junk in operations:
        if not lines:
            break
        at, other = first % len(lines), second % len(lines)
        if operation == "delete":
            del lines[at]
        elif operation == "duplicate":
            lines.insert(at, lines[at])
        elif operation == "swap":
            lines[at], lines[other] = lines[other], lines[at]
        elif operation == "insert":
            column = second % (len(lines[at]) + 1)
            lines[at] = lines[at][:column] + junk + lines[at][column:]
        else:
            joined = "\n".join(lines)
            lines = joined[: first % (len(joined) + 1)].split("\n")
    return "\n".join(lines)


def _without_warnings(report: PasearchReport) -> PasearchReport:
    return PasearchReport(
        report.release,
        report.image,
        report.date,
        report.time,
        report.instance_id,
        report.rules,
        [],
        report.no_policies,
    )


@FAST
@given(pasearch_reports())
def test_random_valid_reports_round_trip_through_render_and_parse(report: PasearchReport) -> None:
    assert parse_pasearch(render_pasearch(report)) == report


@FAST
@given(pasearch_reports(), edits)
def test_damaged_report_text_raises_only_report_parse_error_at_a_real_line(
    report: PasearchReport, operations: list[tuple[str, int, int, str]]
) -> None:
    text = _damage(render_pasearch(report), operations)

    try:
        parsed = parse_pasearch(text)
    except ReportParseError as error:
        assert 1 <= error.line <= len(text.split("\n"))
        return
    # Whatever was understood renders to a report that reads back the same.
    assert all(1 <= warning.line <= len(text.split("\n")) for warning in parsed.warnings)
    assert parse_pasearch(render_pasearch(parsed)) == _without_warnings(parsed)


@FAST
@given(st.text(max_size=200))
def test_arbitrary_text_raises_only_report_parse_error(text: str) -> None:
    try:
        parse_pasearch(text)
    except ReportParseError as error:
        assert error.line >= 1


@FAST
@given(pasearch_reports(), st.lists(st.integers(0, 10_000), max_size=5))
def test_trailing_blanks_never_change_what_a_report_says(
    report: PasearchReport, padded: list[int]
) -> None:
    lines = render_pasearch(report).split("\n")
    for at in padded:
        lines[at % len(lines)] += " " * (1 + at % 3)

    assert parse_pasearch("\n".join(lines)) == report
