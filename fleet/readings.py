"""Reading one verification command's output, and what counts as having read it.

A report whose lines were not all understood is a failed read, never "nothing found": a
NOTTLSPOLICY listing read in part would otherwise say "no cleartext connections" while
some were missed. The stack's declared z/OS release is compared with the one the pasearch
header prints, so findings computed for the declared release are not trusted silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from attls.errors import ReportParseError
from attls.releases import release_from_header
from attls.reports.netstat import (
    NetstatAllConnReport,
    NetstatTtlsReport,
    parse_netstat_allconn,
    parse_netstat_ttls,
)
from attls.reports.pasearch import PasearchReport, ReportWarning, parse_pasearch
from policies.models import Stack

Report = PasearchReport | NetstatTtlsReport | NetstatAllConnReport


@dataclass(frozen=True, slots=True)
class Reading:
    report: Report
    # A sentence for the run's page when the output was read but something is off.
    warning: str = ""


def read_output(name: str, text: str, *, stack: Stack) -> Reading:
    """Parse the output of the command `name` ("pasearch", "netstat_conn", "netstat_allconn").

    Raises AttlsError when the output cannot be read, or was read only in part.
    """
    report: Report
    if name == "pasearch":
        report = parse_pasearch(text, image=stack.name)
        _refuse_incomplete(report.warnings, "pasearch -t")
        return Reading(report, release_mismatch(stack, report))
    if name == "netstat_conn":
        report = parse_netstat_ttls(text)
        _refuse_incomplete(report.warnings, "netstat -x CONN")
        return Reading(report)
    report = parse_netstat_allconn(text, filter="NOTTLSPOLICY")
    _refuse_incomplete(report.warnings, "netstat -a -X NOTTLSPOLICY")
    return Reading(report)


def _refuse_incomplete(warnings: list[ReportWarning], what: str) -> None:
    if warnings:
        first = warnings[0]
        raise ReportParseError(
            first.line,
            f"{what}: {len(warnings)} line(s) not understood (first on line {first.line}:"
            f" {first.text.strip()[:60]!r}); read in part, so treated as a failed read",
        )


def release_mismatch(stack: Stack, report: PasearchReport) -> str:
    """A warning when the report's z/OS release is not the one the stack declares."""
    seen = release_from_header(f"CS {report.release}") if report.release else None
    if seen is None or seen == stack.zos_release:
        return ""
    return (
        f"pasearch reports z/OS {seen}, but {stack.label} is declared as z/OS"
        f" {stack.zos_release}: defaults, cipher support and lint follow the declared"
        " release; correct the stack's release"
    )
