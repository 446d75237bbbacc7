"""The IFASMFDL dump job the collector submits: a template the site edits.

IFASMFDL [doc: z/OS MVS System Management Facilities, "Using the IFASMFDL program"] copies
the records of an SMF log stream that its `OUTDD(dd,TYPE(...))` selects, within
`DATE(yyyyddd,yyyyddd)`, `START(hhmm)` and `END(hhmm)` (the SMF header's LOCAL date and
time), to the data set of that DD. zERT writes its connection detail records as SMF type 119
subtype 11 [doc]. The log stream name (IFASMF.ZERT here) is the site's: edit the template.

The collector fills in, with `str.format`: {dsn} the dump data set, {date_from}/{date_to}
(yyyyddd) and {start}/{end} (hhmm) of the stretch it has not read yet. The data set is
deleted before each run and written with DISP=(NEW,CATLG).
"""

from __future__ import annotations

import datetime as dt
import re
import string

from attls.values import ValueRefused

DEFAULT_JCL = """\
//ZERTDUMP JOB (ACCT),'ATTLS PORTAL ZERT',CLASS=A,MSGCLASS=H
//* zERT connection detail records (SMF 119 subtype 11) for the portal
//STEP1    EXEC PGM=IFASMFDL
//OUTDD    DD DSN={dsn},DISP=(NEW,CATLG),
//            RECFM=VBS,LRECL=32760,BLKSIZE=27998,SPACE=(CYL,(10,10))
//SYSPRINT DD SYSOUT=*
//SYSIN    DD *
  LSNAME(IFASMF.ZERT,OPTIONS(DUMP))
  OUTDD(OUTDD,TYPE(119(11)))
  DATE({date_from},{date_to})
  START({start})
  END({end})
/*
"""

PLACEHOLDERS = ("dsn", "date_from", "date_to", "start", "end")
_NAME = r"[A-Z@#$][A-Z0-9@#$]{0,7}"
_DSN = re.compile(rf"^{_NAME}(\.{_NAME})*$")


def validate_dsn(value: str) -> str:
    """A cataloged data set name: qualifiers of 1-8 characters, 44 at most [doc: z/OS DFSMS]."""
    if len(value) > 44 or not _DSN.fullmatch(value):
        raise ValueRefused(
            f"The dump data set {value!r} is not a data set name (qualifiers of 1 to 8 "
            "characters A-Z, 0-9, @#$, not starting with a digit, 44 characters at most)"
        )
    return value


def validate_template(text: str) -> str:
    """A JCL template that names every placeholder the collector fills, and no other."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as error:
        raise ValueRefused(f"The dump job template cannot be filled in: {error}") from None
    unknown = fields - set(PLACEHOLDERS)
    if unknown:
        raise ValueRefused(
            "The dump job template names placeholders the collector does not fill: "
            + ", ".join(sorted(unknown))
        )
    if "dsn" not in fields:
        raise ValueRefused("The dump job template must write to {dsn} (the data set downloaded)")
    if not text.lstrip().startswith("//"):
        raise ValueRefused("The dump job template must start with a JOB statement (//name JOB)")
    return text


def render(template: str, *, dsn: str, since: dt.datetime | None, until: dt.datetime) -> str:
    """The job for the stretch since `since` (the LPAR's LOCAL time of the newest record read).

    START applies to every day of the DATE range (as lparsim reads IFASMFDL's statements), so
    it narrows the dump only when the range is one day; over several days each is read whole.
    The collector asks up to tomorrow (the LPAR's date may be ahead of the portal's), so the
    cursor's day is dumped from 00:00: records before the cursor's minute are skipped by the
    collector and those of that minute stored once by their natural key. Nothing is missed
    at the price of re-reading part of a day."""
    first = since or (until - dt.timedelta(days=1))
    return template.format(
        dsn=dsn,
        date_from=first.strftime("%Y%j"),
        date_to=until.strftime("%Y%j"),
        start=first.strftime("%H%M") if first.date() == until.date() else "0000",
        end="2400",
    )
