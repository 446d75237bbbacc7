"""The dump job template: filled in for the stretch not read yet, checked when the site edits
it, and read by lparsim's JES as IFASMFDL control statements."""

from __future__ import annotations

import datetime as dt

import pytest

from attls.values import ValueRefused
from fleet import zert_jcl as jcl
from lparsim.jobs import parse_ifasmfdl, parse_jcl


def test_the_default_job_dumps_subtype_11_from_the_cursor_minute_on() -> None:
    text = jcl.render(
        jcl.DEFAULT_JCL,
        dsn="ATTLSADM.ZERT.DUMP",
        since=dt.datetime(2026, 12, 6, 12, 34, 56),
        until=dt.datetime(2026, 12, 6, 23, 0),
    )
    jobname, steps = parse_jcl(text)
    assert (jobname, steps[0].program) == ("ZERTDUMP", "IFASMFDL")
    assert steps[0].dds["OUTDD"].dsn == "ATTLSADM.ZERT.DUMP"
    request = parse_ifasmfdl(steps[0].dds["SYSIN"].instream)
    assert request.types == [(119, 11, 11)]
    assert request.dates == (dt.date(2026, 12, 6), dt.date(2026, 12, 6))
    assert (request.start, request.end) == (1234, 2400)


def test_over_several_days_every_minute_of_each_day_is_read() -> None:
    text = jcl.render(
        jcl.DEFAULT_JCL,
        dsn="A.B",
        since=dt.datetime(2026, 12, 5, 22, 0),
        until=dt.datetime(2026, 12, 7, 1, 0),
    )
    request = parse_ifasmfdl(parse_jcl(text)[1][0].dds["SYSIN"].instream)
    assert request.dates == (dt.date(2026, 12, 5), dt.date(2026, 12, 7))
    assert request.start == 0


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("//J JOB\n//S EXEC PGM=IFASMFDL\n", "must write to {dsn}"),
        ("//J JOB\n{dsn} {volser}\n", "volser"),
        ("//J JOB\n{dsn} {\n", "cannot be filled"),
        ("J JOB {dsn}\n", "JOB statement"),
    ],
)
def test_a_template_the_collector_cannot_fill_is_refused(template: str, problem: str) -> None:
    with pytest.raises(ValueRefused, match=problem):
        jcl.validate_template(template)


@pytest.mark.parametrize("dsn", ["1BAD.NAME", "TOOLONGQUAL.X", "A..B", "a" * 45])
def test_a_dump_data_set_name_z_os_would_not_catalog_is_refused(dsn: str) -> None:
    with pytest.raises(ValueRefused):
        jcl.validate_dsn(dsn)


def test_a_spool_with_nul_is_kept_as_verification_keeps_outputs() -> None:
    from fleet.selectors import output_text
    from fleet.zert.collect import sha256, text_entry

    entry = text_entry("IEF142I\x00 STEP1\n")
    assert "\x00" not in entry["text"] and entry["nul_shown"] == 1
    assert output_text(entry) == "IEF142I\x00 STEP1\n"
    assert entry["sha256"] == sha256(b"IEF142I\x00 STEP1\n")
