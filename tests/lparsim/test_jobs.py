"""The JES side of lparsim's jobs: JCL as JES reads it, IFASMFDL's control statements and the
records they select (pure functions; the REST front is tested over sockets in test_zert)."""

from __future__ import annotations

import pytest

from attls.reports import smf119
from lparsim.jobs import ControlError, JclError, parse_ifasmfdl, parse_jcl, record_selected
from tests.attls.reports.test_smf119 import connection


def test_jcl_statements_continue_comments_are_skipped_and_instream_data_is_kept() -> None:
    jobname, steps = parse_jcl(
        "//ZDUMP JOB (1),'X',CLASS=A\n"
        "//* a comment\n"
        "//S1 EXEC PGM=IFASMFDL\n"
        "//OUT DD DSN=A.B.C,\n"
        "//      DISP=(NEW,CATLG)\n"
        "//SYSIN DD *\n"
        " LSNAME(IFASMF.ZERT)\n"
        "/*\n"
        "//S2 EXEC PGM=IEFBR14\n"
    )
    assert jobname == "ZDUMP"
    assert [(s.name, s.program) for s in steps] == [("S1", "IFASMFDL"), ("S2", "IEFBR14")]
    assert (steps[0].dds["OUT"].dsn, steps[0].dds["OUT"].disp) == ("A.B.C", "NEW")
    assert steps[0].dds["SYSIN"].instream == [" LSNAME(IFASMF.ZERT)"]


@pytest.mark.parametrize(
    ("jcl", "message"),
    [
        ("//S1 EXEC PGM=IEFBR14\n", "IEFC605I"),
        ("//TOOLONGNAME JOB\n//S1 EXEC PGM=IEFBR14\n", "IEFC662I"),
        ("//J JOB\n//D DD DSN=A.B\n", "DD D before EXEC"),
        ("//J JOB\n//S1 EXEC PROC=X\n", "IEFC630I"),
        ("//J JOB\n//S1 EXEC PGM=IEFBR14\n//D DD DSN=9BAD.NAME\n", "IEFC622I"),
        ("//J JOB\n", "IEFC607I"),
        ("//J JOB\nnot a statement\n", "IEFC605I"),
    ],
)
def test_jcl_that_jes_cannot_read_is_a_jcl_error(jcl: str, message: str) -> None:
    with pytest.raises(JclError, match=message):
        parse_jcl(jcl)


def test_ifasmfdl_selects_by_type_subtype_date_and_time() -> None:
    record = smf119.render_record(
        connection()._replace(header=connection().header._replace(time=45_000_00))
    )  # 12:30 local, 2026-12-06
    summary_like = bytearray(record)
    summary_like[23] = 12

    def selects(statements: str, data: bytes = record) -> bool:
        return record_selected(parse_ifasmfdl(statements.splitlines()), data)

    base = "LSNAME(IFASMF.ZERT)\n"
    assert selects(base + "OUTDD(OUT,TYPE(119))")
    assert selects(base + "OUTDD(OUT,TYPE(119(11:12)))")
    assert selects(base + "OUTDD(OUT,TYPE(119(11,12)))", bytes(summary_like))
    assert not selects(base + "OUTDD(OUT,TYPE(119(12)))")
    assert not selects(base + "OUTDD(OUT,TYPE(30))")
    assert selects(base + "OUTDD(OUT,TYPE(119)) DATE(2026340,2026340)")
    assert not selects(base + "OUTDD(OUT,TYPE(119)) DATE(2026341,2026365)")
    assert selects(base + "OUTDD(OUT,TYPE(119)) START(1200) END(1300)")
    assert not selects(base + "OUTDD(OUT,TYPE(119)) START(1300) END(2400)")


@pytest.mark.parametrize(
    ("statements", "message"),
    [
        ("OUTDD(OUT,TYPE(119))", "no LSNAME"),
        ("LSNAME(X)", "no OUTDD"),
        ("LSNAME(X) OUTDD(OUT)", "is not OUTDD"),
        ("LSNAME(X) OUTDD(OUT,TYPE(ABC))", "cannot be read"),
        ("LSNAME(X) OUTDD(OUT,TYPE(119)) DATE(2026)", "DATE"),
    ],
)
def test_control_statements_ifasmfdl_cannot_read_are_refused(statements: str, message: str) -> None:
    with pytest.raises(ControlError, match=message):
        parse_ifasmfdl([statements])
