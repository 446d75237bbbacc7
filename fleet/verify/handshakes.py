"""AT-TLS handshake failures (EZD1286I lines) since the previous run, the portal probe's own
refusals apart."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from attls.reports.syslog import (
    ProbeSocket,
    count_failures,
    new_lines,
    stack_failure_lines,
)
from fleet.connectors.base import Connector, command_line
from fleet.impact.models import PortalHandshakes
from fleet.models import (
    LparConnection,
    VerificationRun,
)
from fleet.probe import probe_sockets
from fleet.verify.outputs import sha256, storable
from fleet.verify.snapshot import Previous, Views
from policies.models import Stack

SYSLOG_LINES_KEPT = 500


# How long after a probe ends its EZD1286I lines may still be on their way into the syslog:
# probes that ended this long before the previous read still count as possible sources.
PROBE_LOG_DELAY = timedelta(seconds=60)


# --- AT-TLS handshake failures (EZD1286I) -----------------------------------------------------
# The syslog is read as a report (attls/reports/syslog.py); here are the fleet's parts: which
# lines the portal's own probe caused, and what the previous run left to continue from.


def _plus(
    before: dict[str, dict[str, int]], new: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    summed = {rule: dict(codes) for rule, codes in before.items()}
    for rule, codes in new.items():
        entry = summed.setdefault(rule, {})
        for rc, n in codes.items():
            entry[rc] = entry.get(rc, 0) + n
    return summed


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


@dataclass
class ProbeRuns:
    """The probes that may have produced a stretch of the syslog, and their connections."""

    sockets: set[ProbeSocket] = field(default_factory=set)
    runs: dict[str, set[ProbeSocket]] = field(default_factory=dict)  # run uuid -> sockets
    # Runs that had started probing but not recorded their connections yet: lines of theirs
    # cannot be told apart (kept for the record).
    in_progress: list[str] = field(default_factory=list)

    def run_of(self, socket: ProbeSocket | None) -> str:
        return next((uuid for uuid, found in self.runs.items() if socket in found), "")


def probe_runs(
    stack: Stack, *, since: datetime | None, until: datetime, exclude: int | None = None
) -> ProbeRuns:
    """The probes of the stack's runs that were running between `since` (None: ever) and
    `until`, whatever became of their runs."""
    found = ProbeRuns()
    runs = VerificationRun.objects.filter(stack=stack)
    if exclude is not None:
        runs = runs.exclude(pk=exclude)
    if since is not None:
        # A probe ends before its run does, so older finished runs cannot have probed since.
        runs = runs.filter(Q(finished_at__isnull=True) | Q(finished_at__gte=since))
    for uuid, record in runs.order_by("created_at").values_list("uuid", "outputs__probe"):
        if not isinstance(record, dict):
            continue
        started, finished = _moment(record.get("started_at")), _moment(record.get("finished_at"))
        if started is not None and started > until:
            continue  # began after the syslog was read
        if started is not None and finished is None:
            found.in_progress.append(str(uuid))
            continue
        if since is not None and finished is not None and finished < since:
            continue
        sockets = probe_sockets(record.get("json") or {})
        if sockets:
            found.runs[str(uuid)] = sockets
            found.sockets |= sockets
    _portal_handshakes(found, stack, since=since, until=until)
    return found


def _portal_handshakes(
    found: ProbeRuns, stack: Stack, *, since: datetime | None, until: datetime
) -> None:
    """Adds the connections the portal opened on purpose outside a verification (the lab
    replay: PortalHandshakes) in the same window: their refusals are the portal's too."""
    rows = PortalHandshakes.objects.filter(stack=stack, started_at__lte=until)
    if since is not None:
        rows = rows.filter(Q(finished_at__isnull=True) | Q(finished_at__gte=since))
    for pk, purpose, sockets in rows.values_list("pk", "purpose", "sockets"):
        found_here: set[ProbeSocket] = set()
        for entry in sockets or []:
            try:
                address, port, zos_port = entry
                found_here.add((str(address), int(port), int(zos_port)))
            except (TypeError, ValueError):
                continue  # not written by this portal: nothing to match
        if found_here:
            found.runs[f"{purpose} {pk}"] = found_here
            found.sockets |= found_here


def _handshake_failures(
    run: VerificationRun,
    connector: Connector,
    connection: LparConnection,
    outputs: dict[str, Any],
    views: Views,
    previous: Previous | None,
) -> None:
    """Counts the stack's EZD1286I lines the syslog gained since the previous run read it,
    per rule and RC, the portal probe's refusals apart.

    Only the EZD1286I lines are kept (with their hash): the syslog holds much else.
    """
    stack = run.stack.name
    started = time.perf_counter()
    read_at = timezone.now()
    result = connector.run(command_line("cat", connection.syslog_path))
    lines = stack_failure_lines(result.stdout, stack)
    before = (previous.syslog.get("text") or "") if previous is not None else ""
    last_read = before.rsplit("\n", 1)[-1] if before else None
    window, continued = new_lines(lines, last_read, stored=storable)
    since: datetime | None = None
    if previous is not None:
        since = (_moment(previous.syslog.get("read_at")) or previous.started_at) or None
    probes = probe_runs(
        run.stack,
        since=since - PROBE_LOG_DELAY if since is not None else None,
        until=read_at,
        exclude=run.pk,
    )
    counted = count_failures(window, probes.sockets)
    views.failures, views.probe_refusals = counted.services, counted.probe
    views.refused = counted.rules
    if previous is not None and since is not None and result.ok:
        views.refusal_window_seconds = max((read_at - since).total_seconds(), 1.0)
    previous_results = previous.results if previous is not None and continued else {}
    views.failures_total = _plus(
        previous_results.get("handshake_failures_total") or {}, counted.services
    )
    views.probe_refusals_total = _plus(
        previous_results.get("probe_refusals_total") or {}, counted.probe
    )
    # Counts come from every line; the stored text keeps the newest ones, so a long-lived
    # syslog does not make each run megabytes large. Its hash covers what is stored.
    kept = lines[-SYSLOG_LINES_KEPT:]
    text = "\n".join(kept)
    outputs["syslog"] = {
        "command": f"cat {connection.syslog_path} (EZD1286I lines of {stack}: the newest"
        f" {len(kept)} of {len(lines)})",
        "text": storable(text),
        "nul_shown": text.count("\x00"),
        "sha256": sha256(text),
        "exit_status": result.exit_status,
        "seconds": round(time.perf_counter() - started, 3),
        "parsed": result.ok,
        "error": "" if result.ok else result.stderr[:500],
        "read_at": read_at.isoformat(),
        # Which lines were counted, and which of them were the portal's own probe.
        "window": {
            "previous_run": previous.uuid if previous is not None else None,
            "after_line_sha256": sha256(last_read) if continued and last_read else None,
            "new_lines": len(window),
            "probe_runs": sorted(probes.runs),
            "probe_runs_in_progress": probes.in_progress,
            "probe_refusals": [
                {
                    "conn_id": line.conn_id,
                    "remote": f"{line.remote[0]}..{line.remote[1]}" if line.remote else "",
                    "local_port": line.local_port,
                    "rule": line.rule,
                    "rc": line.rc,
                    "probe_run": probes.run_of(line.probe_socket()),
                }
                for line in counted.probe_lines[-SYSLOG_LINES_KEPT:]
            ],
        },
    }
