"""What one run parsed (its views of the stack) and what the previous run left for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from attls.reports.netstat import (
    NetstatAllConnReport,
    NetstatTtlsReport,
)
from attls.reports.pasearch import PasearchReport
from attls.reports.syslog import RuleFailures
from fleet.models import (
    RunStatus,
    VerificationRun,
)


@dataclass
class Views:
    """The parsed views of one run; None where the output did not parse."""

    pasearch: PasearchReport | None = None
    connections: NetstatTtlsReport | None = None
    uncovered: NetstatAllConnReport | None = None
    probe: dict[str, dict[str, Any]] = field(default_factory=dict)
    # EZD1286I lines since the previous run, per rule and return code: the services' failed
    # handshakes, and the refusals of the portal's own probe (not the services' doing).
    failures: dict[str, dict[str, int]] = field(default_factory=dict)
    probe_refusals: dict[str, dict[str, int]] = field(default_factory=dict)
    # The same, summed over the life of the syslog file (what audits show per stack).
    failures_total: dict[str, dict[str, int]] = field(default_factory=dict)
    probe_refusals_total: dict[str, dict[str, int]] = field(default_factory=dict)
    # The services' failures per rule with their families and peers (attls.reports.syslog),
    # and the seconds of syslog they cover: None on a first read (no previous run to count
    # from) or when the syslog could not be read, so no refusal rate can be judged.
    refused: dict[str, RuleFailures] = field(default_factory=dict)
    refusal_window_seconds: float | None = None


@dataclass(frozen=True)
class Previous:
    """What the previous successful run of the stack left for this one to continue from."""

    uuid: str
    started_at: datetime | None
    results: dict[str, Any]
    syslog: dict[str, Any]  # its outputs["syslog"]


def _previous(run: VerificationRun) -> Previous | None:
    row = (
        VerificationRun.objects.filter(stack=run.stack, status=RunStatus.SUCCEEDED)
        .exclude(pk=run.pk)
        .order_by("-created_at")
        .values("uuid", "started_at", "created_at", "results", "outputs__syslog")
        .first()
    )
    if row is None:
        return None
    return Previous(
        uuid=str(row["uuid"]),
        started_at=row["started_at"] or row["created_at"],
        results=row["results"] or {},
        syslog=row["outputs__syslog"] or {},
    )
