"""Verification of one stack: what is loaded, what each connection negotiated, what ports accept.

Three native views and one active probe, as ARCHITECTURE.md describes:

- `pasearch -t -p STACK`: is the loaded policy the last deployed version?
- `netstat -x CONN -p STACK`: which rule secured each connection, with which protocol and cipher?
- `netstat -a -X NOTTLSPOLICY -p STACK`: which connections no rule covers?
- the probe (fleet/probe.py): which versions and suites each service port accepts, and its
  certificate.

Every output is stored raw with its SHA-256 before it is parsed. Output that does not parse
is kept, marked, and the run goes on with what did parse (the worker never crashes on it).
From the parsed views come per-service figures, connection observations (bulk written),
drift events (opened once, resolved when the condition clears) and the certificate
inventory with its alerts and incidents.

Handshake failures are the EZD1286I lines of the stack that the syslog gained since the
previous run read it. The probe itself is refused by policy on purpose (TLS 1.0, weak
suites), and AT-TLS logs those refusals too: a line whose REMOTE socket is one the portal's
probe connected from, to the port named as LOCAL, is counted as a probe refusal, not as a
failure of the service. Within a run the syslog is read before the probe, so a run's own
probe shows up in the next run's lines: the probes that can have produced the new lines are
those of the runs of the stack that were probing after the previous read.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from attls.effective import effective_for_rule
from attls.errors import AttlsError, ReportParseError
from attls.policy import Policy, parse_policy
from attls.policy.values import read_job_pattern
from attls.reports.compare import compare_report
from attls.reports.netstat import (
    NetstatAllConnReport,
    NetstatTtlsReport,
)
from attls.reports.pasearch import PasearchReport
from attls.reports.syslog import (
    ProbeSocket,
    RuleFailures,
    address_port,
    count_failures,
    new_lines,
    parse_failure_line,
    stack_failure_lines,
)
from fleet import selectors
from fleet.alerts.producers import alert_certificate, alert_drift
from fleet.baselines import stack_baseline_capture
from fleet.connectors.base import Connector, ConnectorError, FileMissing
from fleet.connectors.factory import probe_address
from fleet.models import (
    NUL_SHOWN_AS,
    Certificate,
    ConnectionObservation,
    DeploymentTarget,
    DriftEvent,
    DriftKind,
    Incident,
    LparConnection,
    RunStatus,
    ServiceHour,
    TargetStatus,
    VerificationRun,
)
from fleet.probe import ProbeTarget, not_probed, probe
from fleet.readings import read_output
from fleet.refusals import apply_refusals
from policies.models import Service, Stack

log = logging.getLogger(__name__)

ALERT_DAYS = (30, 7)
SYSLOG_LINES_KEPT = 500
# How long after a probe ends its EZD1286I lines may still be on their way into the syslog:
# probes that ended this long before the previous read still count as possible sources.
PROBE_LOG_DELAY = timedelta(seconds=60)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def storable(text: str) -> str:
    """The text as received, but with NUL shown as U+2400 (PostgreSQL's JSON cannot hold NUL).

    The SHA-256 kept beside it is always that of the text as received; an output's entry
    counts the NULs so shown (`nul_shown`), and selectors.output_text() restores them.
    """
    return text.replace("\x00", NUL_SHOWN_AS)


def deployed_target(stack: Stack) -> DeploymentTarget | None:
    """The last target that reached this stack successfully: what should be loaded now
    (one query, fleet.selectors.deployed_target)."""
    return selectors.deployed_target(stack)


# --- collecting -----------------------------------------------------------------------------


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


# Which attribute of Views each command's report fills.
_VIEW_OF = {"pasearch": "pasearch", "netstat_conn": "connections", "netstat_allconn": "uncovered"}


def _collect(
    run: VerificationRun,
    connection: LparConnection,
    connector: Connector,
    previous: Previous | None = None,
    scope: set[str] | None = None,
) -> Views:
    stack = run.stack.name
    commands = {
        "pasearch": f"pasearch -t -p {stack}",
        "netstat_conn": f"netstat -x CONN -p {stack}",
        "netstat_allconn": f"netstat -a -X NOTTLSPOLICY -p {stack}",
    }
    views = Views()
    outputs: dict[str, Any] = {}
    for name, command in commands.items():
        started = time.perf_counter()
        result = connector.run(command)
        text = result.stdout
        entry: dict[str, Any] = {
            "command": command,
            "text": storable(text),
            "nul_shown": text.count("\x00"),
            "stderr": storable(result.stderr),
            "exit_status": result.exit_status,
            "sha256": sha256(text),
            "seconds": round(time.perf_counter() - started, 3),
            "parsed": False,
            "error": "",
        }
        try:
            if not result.ok:
                raise ReportParseError(
                    1, f"exit status {result.exit_status}: {result.stderr[:200]}"
                )
            reading = read_output(name, text, stack=run.stack)
            setattr(views, _VIEW_OF[name], reading.report)
            entry["parsed"] = True
            if reading.warning:
                entry["warning"] = reading.warning
        except AttlsError as error:
            entry["error"] = str(error)
            run.parse_failed = True
            log.warning("verification %s: %s output kept unparsed: %s", run.uuid, name, error)
        outputs[name] = entry
    _handshake_failures(run, connector, connection, outputs, views, previous)
    targets, unprobed = probe_plan(run.stack, connection, scope)
    command = f"sslyze probe of {len(targets)} port(s)"
    started_at = timezone.now()
    # On the row before the probe starts and as soon as it ends (whatever becomes of this
    # run): a run reading the syslog meanwhile must know whose connections it may see.
    outputs["probe"] = {
        "command": command,
        "json": {},
        "sha256": sha256(_json({})),
        "seconds": 0.0,
        "parsed": False,
        "error": "the probe had not finished when this was stored",
        "started_at": started_at.isoformat(),
        "finished_at": None,
    }
    VerificationRun.objects.filter(pk=run.pk).update(outputs=outputs)
    started = time.perf_counter()
    views.probe = _probe_each(targets) | unprobed
    probe_text = _json(views.probe)
    outputs["probe"] = {
        "command": command,
        "json": views.probe,
        "sha256": sha256(probe_text),
        "seconds": round(time.perf_counter() - started, 3),
        "parsed": True,
        "error": "",
        "started_at": started_at.isoformat(),
        "finished_at": timezone.now().isoformat(),
    }
    VerificationRun.objects.filter(pk=run.pk).update(outputs=outputs)
    run.outputs = outputs
    return views


def probe_plan(
    stack: Stack, connection: LparConnection, scope: set[str] | None
) -> tuple[list[ProbeTarget], dict[str, dict[str, Any]]]:
    """The ports to probe, and the services that cannot be probed with the reason.

    Only the inbound services in the deployed version's scope (`scope`: its rule names) are
    probed; before anything is deployed (`scope` None) every inbound service is, as the
    inventory of the pre-portal estate. A port with no address to probe it at is recorded
    as "not probed" for that service alone: one service never blinds the stack.
    """
    targets: list[ProbeTarget] = []
    unprobed: dict[str, dict[str, Any]] = {}
    for service in stack.services.filter(direction="Inbound").order_by("name"):
        if service.local_port_low == 0:
            continue
        if scope is not None and service.name not in scope:
            continue
        try:
            host, port = probe_address(connection, stack.name, service.local_port_low)
        except ConnectorError as error:
            unprobed[service.name] = not_probed(
                service.local_port_low, f"{connection.host}:?", str(error)
            )
            continue
        targets.append(ProbeTarget(service.name, service.local_port_low, host, port))
    return targets, unprobed


def _probe_each(targets: list[ProbeTarget]) -> dict[str, dict[str, Any]]:
    """The probe's results; if the probe itself fails, every port reads "not probed"."""
    try:
        return probe(targets)
    except Exception as error:  # sslyze or a socket error of the probe's own, not the LPAR's
        log.exception("the probe of %d port(s) failed", len(targets))
        return {
            t.key: not_probed(t.zos_port, f"{t.host}:{t.port}", f"the probe failed: {error!r}")
            for t in targets
        }


# --- AT-TLS handshake failures (EZD1286I) -----------------------------------------------------
# The syslog is read as a report (attls/reports/syslog.py); here are the fleet's parts: which
# lines the portal's own probe caused, and what the previous run left to continue from.


def probe_sockets(probe_json: dict[str, Any]) -> set[ProbeSocket]:
    """Every connection a probe's results (fleet/probe.py) list, as (address, port, z/OS port)."""
    found: set[ProbeSocket] = set()
    for result in (probe_json or {}).values():
        zos_port = result.get("zos_port")
        if not isinstance(zos_port, int):
            continue
        for entry in result.get("sockets") or []:
            source = address_port(str(entry.get("source", "")))
            if source is not None:
                found.add((source[0], source[1], zos_port))
    return found


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
    runs = VerificationRun.objects.filter(stack=stack).exclude(pk=exclude)
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
    return found


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
    result = connector.run(f"cat {connection.syslog_path}")
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


def _json(data: Any) -> str:
    import json

    return json.dumps(data, sort_keys=True, separators=(",", ":"))


# --- attributing connections to services ---------------------------------------------------


@dataclass(frozen=True)
class _ServiceKey:
    service: Service
    inbound: bool
    port: int
    job: str | None

    def matches(self, *, local_port: int, remote_port: int, job: str) -> bool:
        port = local_port if self.inbound else remote_port
        if port != self.port:
            return False
        if not self.job:
            return True
        if self.job.endswith("*"):
            return job.upper().startswith(self.job[:-1])
        return job.upper() == self.job


def _service_keys(stack: Stack) -> list[_ServiceKey]:
    keys = []
    for service in stack.services.all():
        inbound = service.direction != "Outbound"
        port = service.local_port_low if inbound else service.remote_port_low
        if port:
            job = read_job_pattern([service.jobname]) if service.jobname else None
            keys.append(_ServiceKey(service, inbound, port, job))
    return keys


def _owner(keys: list[_ServiceKey], local_port: int, remote_port: int, job: str) -> Service | None:
    for key in keys:
        if key.matches(local_port=local_port, remote_port=remote_port, job=job):
            return key.service
    return None


@dataclass
class Seen:
    """One live connection, from either netstat view."""

    conn_id: str
    local: str
    remote: str
    local_port: int
    remote_port: int
    job: str
    protocol: str
    cipher: str
    rule: str
    group: str
    environment: str
    connection_action: str
    secured: bool
    service: Service | None = None
    # Mapped to a rule that secures, but not (yet) secured: the TLS handshake has not
    # completed, e.g. a cleartext client on an AT-TLS port waiting for HandshakeTimeout.
    pending: bool = False


def _securing_rules(views: Views) -> set[str]:
    """Rules whose group has TTLSEnabled On in the loaded policy."""
    if views.pasearch is None:
        return set()
    rules = set()
    for rule in views.pasearch.rules:
        group = rule.detail("Group")
        if group is not None and group.get("TTLSEnabled") == "On":
            rules.add(rule.name)
    return rules


def _seen(views: Views, keys: list[_ServiceKey]) -> list[Seen]:
    seen: list[Seen] = []
    securing = _securing_rules(views)
    if views.connections is not None:
        for conn in views.connections.connections:
            item = Seen(
                conn_id=conn.conn_id,
                local=str(conn.local_socket),
                remote=str(conn.remote_socket),
                local_port=conn.local_socket.port or 0,
                remote_port=conn.remote_socket.port or 0,
                job=conn.job_name,
                protocol=conn.protocol or "",
                cipher=conn.cipher_code or "",
                rule=conn.rule or "",
                group=conn.group_action or "",
                environment=conn.env_action or "",
                connection_action=conn.conn_action or "",
                secured=conn.protocol is not None,
                pending=conn.protocol is None and (conn.rule or "") in securing,
            )
            item.service = _owner(keys, item.local_port, item.remote_port, item.job)
            seen.append(item)
    if views.uncovered is not None:
        for row in views.uncovered.rows:
            if row.state.lower().startswith("listen"):
                continue
            item = Seen(
                conn_id=row.conn_id,
                local=str(row.local_socket),
                remote=str(row.foreign_socket),
                local_port=row.local_socket.port or 0,
                remote_port=row.foreign_socket.port or 0,
                job=row.user_id,
                protocol="",
                cipher="",
                rule="",
                group="",
                environment="",
                connection_action="",
                secured=False,
            )
            item.service = _owner(keys, item.local_port, item.remote_port, item.job)
            seen.append(item)
    return seen


# --- figures --------------------------------------------------------------------------------


def _figures(
    seen: list[Seen],
    views: Views,
    deployed_policy: Policy | None,
    services: Iterable[Service],
) -> dict[str, Any]:
    per_service: dict[str, dict[str, Any]] = {}
    in_scope = set(deployed_policy.rules) if deployed_policy is not None else set()
    for service in services:
        everything = [
            item for item in seen if item.service is not None and item.service.pk == service.pk
        ]
        mine = [item for item in everything if not item.pending]
        secured = [item for item in mine if item.secured]
        protocols = Counter(item.protocol or "cleartext" for item in mine)
        ciphers = Counter(item.cipher for item in secured if item.cipher)
        unexpected = [
            {"conn_id": item.conn_id, "rule": item.rule}
            for item in secured
            if item.rule and item.rule != service.name
        ]
        probe_result = views.probe.get(service.name, {})
        per_service[service.name] = {
            "service": str(service.uuid),
            "in_scope": service.name in in_scope,
            "connections": len(mine),
            "handshakes_pending": len(everything) - len(mine),
            "secured": len(secured),
            "coverage": round(len(secured) / len(mine), 4) if mine else None,
            "cleartext": len(mine) - len(secured),
            "cleartext_in_scope": (len(mine) - len(secured)) if service.name in in_scope else 0,
            "protocols": dict(sorted(protocols.items())),
            "ciphers": dict(sorted(ciphers.items())),
            "unexpected_rule": unexpected,
            "probe_protocols": probe_result.get("protocols", []),
            "probe_deprecated": probe_result.get("deprecated", []),
            "probe_tls": probe_result.get("tls"),
            "not_probed": probe_result.get("not_probed", ""),
            # EZD1286I lines of its rule since the previous run, less the probe's refusals.
            "handshake_failures": dict(views.failures.get(service.name, {})),
            "probe_refusals": dict(views.probe_refusals.get(service.name, {})),
            **_refused_figures(views.refused.get(service.name)),
        }
    settled = [item for item in seen if not item.pending]
    total = len(settled)
    secured_total = sum(1 for item in settled if item.secured)
    protocols_total = Counter(item.protocol or "cleartext" for item in settled)
    return {
        "connections": total,
        "handshakes_pending": len(seen) - total,
        "secured": secured_total,
        "coverage": round(secured_total / total, 4) if total else None,
        "protocols": dict(sorted(protocols_total.items())),
        "services": per_service,
        "loaded_rules": len(views.pasearch.rules) if views.pasearch is not None else None,
        "handshake_failures_total": views.failures_total,
        "probe_refusals_total": views.probe_refusals_total,
        # Refused attempts (EZD1286I, the probe's apart) beside coverage: coverage counts
        # sessions, and a refused client never becomes one.
        "refused": sum(found.total for found in views.refused.values()),
        # Compact, for the hour-before comparison of later runs (fleet/refusals.py).
        "refusals": {
            "window_seconds": views.refusal_window_seconds,
            "services": {
                name: entry["refused"] for name, entry in per_service.items() if entry["refused"]
            },
        },
    }


PEERS_SHOWN = 20


def _refused_figures(found: RuleFailures | None) -> dict[str, Any]:
    """A service's refused attempts since the previous run: how many, per family, per peer."""
    if found is None:
        return {"refused": 0, "refused_families": {}, "refused_peers": {}}
    return {
        "refused": found.total,
        "refused_families": dict(found.families.most_common()),
        "refused_peers": dict(found.peers.most_common(PEERS_SHOWN)),
    }


# --- observations ---------------------------------------------------------------------------


def _observe(stack: Stack, seen: list[Seen], now: datetime) -> None:
    """Bulk upsert: a connection id with the same sockets is the same connection."""
    existing = {
        (o.conn_id, o.local_socket, o.remote_socket): o
        for o in ConnectionObservation.objects.filter(
            stack=stack,
            conn_id__in=[item.conn_id for item in seen],
            last_seen__gte=now - timedelta(hours=1),
        )
    }
    update, create, unchanged = [], [], []
    for item in seen:
        found = existing.get((item.conn_id, item.local, item.remote))
        state = (item.protocol, item.cipher, item.secured, item.rule)
        if found is not None and (found.protocol, found.cipher, found.secured, found.rule) == state:
            unchanged.append(found.pk)  # only last_seen moves
        elif found is not None:
            found.last_seen = now
            found.protocol, found.cipher, found.secured = item.protocol, item.cipher, item.secured
            found.rule = item.rule
            update.append(found)
        else:
            create.append(
                ConnectionObservation(
                    stack=stack,
                    service=item.service,
                    conn_id=item.conn_id,
                    local_socket=item.local,
                    remote_socket=item.remote,
                    jobname=item.job[:8],
                    protocol=item.protocol,
                    cipher=item.cipher,
                    rule=item.rule,
                    group_action=item.group,
                    environment_action=item.environment,
                    connection_action=item.connection_action,
                    secured=item.secured,
                    first_seen=now,
                    last_seen=now,
                )
            )
    # One plain UPDATE per batch for connections seen again as they were (nearly all of
    # them): bulk_update's CASE WHEN per row and field costs seconds for 1,000 connections.
    for start in range(0, len(unchanged), 500):
        ConnectionObservation.objects.filter(pk__in=unchanged[start : start + 500]).update(
            last_seen=now
        )
    ConnectionObservation.objects.bulk_update(
        update, ["last_seen", "protocol", "cipher", "secured", "rule"], batch_size=1000
    )
    ConnectionObservation.objects.bulk_create(create, batch_size=1000)
    _roll_up(stack, now)


def _roll_up(stack: Stack, now: datetime) -> None:
    """This hour's figures per service, from the connections seen during the hour."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    rows = (
        ConnectionObservation.objects.filter(
            stack=stack, service__isnull=False, last_seen__gte=hour
        )
        .values("service_id", "protocol", "cipher", "secured")
        .annotate(n=Count("id"))
    )
    figures: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"connections": 0, "secured": 0, "protocols": Counter(), "ciphers": Counter()}
    )
    for row in rows:
        entry = figures[row["service_id"]]
        entry["connections"] += row["n"]
        entry["protocols"][row["protocol"] or "cleartext"] += row["n"]
        if row["secured"]:
            entry["secured"] += row["n"]
            if row["cipher"]:
                entry["ciphers"][row["cipher"]] += row["n"]
    for service_id, entry in figures.items():
        ServiceHour.objects.update_or_create(
            service_id=service_id,
            hour=hour,
            defaults={
                "connections": entry["connections"],
                "secured": entry["secured"],
                "cleartext": entry["connections"] - entry["secured"],
                "protocols": dict(entry["protocols"]),
                "ciphers": dict(entry["ciphers"]),
            },
        )


def end_abandoned_runs(*, older_than: timedelta) -> int:
    """Ends the verifications still pending or running `older_than` after they were created:
    their worker stopped (or their queued message was lost). They end failed with that reason,
    so no run shows "Running" for ever; the next scheduled run measures again."""
    now = timezone.now()
    return VerificationRun.objects.filter(
        status__in=(RunStatus.PENDING, RunStatus.RUNNING), created_at__lt=now - older_than
    ).update(
        status=RunStatus.FAILED,
        finished_at=now,
        error=f"abandoned: no result {older_than.total_seconds():.0f} s after it was requested;"
        " the worker that ran it stopped or its queued message was lost",
    )


def prune_observations(*, older_than: timedelta) -> int:
    """Raw rows go once rolled up; the hourly figures stay for the audit period."""
    deleted, _ = ConnectionObservation.objects.filter(
        last_seen__lt=timezone.now() - older_than
    ).delete()
    return deleted


# --- drift ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    kind: str
    key: str
    detail: str
    # Every service the cause affects (one cause, one event).
    services: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileCheck:
    """The policy file as this run read it, against the text it should hold."""

    path: str
    sha256: str | None  # None: not readable this run (file drift not judged)
    expected_sha256: str | None  # None: nothing to compare with (first contact)
    expected_label: str = ""
    error: str = ""

    @property
    def judged(self) -> bool:
        return self.sha256 is not None and self.expected_sha256 is not None

    @property
    def drifted(self) -> bool:
        return self.judged and self.sha256 != self.expected_sha256


def _read_policy_file(
    run: VerificationRun, connector: Connector, expected: DeploymentTarget | None
) -> tuple[FileCheck, dict[str, Any]]:
    """Reads the stack's policy file (before any other view: a file edited but not yet
    refreshed is found by this run) and compares its hash with what it should hold: what
    the deployment under verification wrote, else last-known-good. The first contact with
    a stack on which nothing was deployed stores the file as the stack's baseline."""
    stack = run.stack
    path = stack.policy_file
    started = time.perf_counter()
    try:
        try:
            text, existed = connector.get_file(path), True
        except FileMissing:
            text, existed = "", False
    except ConnectorError as error:
        entry = {
            "command": f"read {path}",
            "sha256": None,
            "error": str(error)[:500],
            "parsed": False,
            "seconds": round(time.perf_counter() - started, 3),
        }
        return FileCheck(path, None, None, error=str(error)), entry
    found = sha256(text)
    if expected is not None:
        good_sha, label = expected.sha256, f"v{expected.version.number} being deployed"
    else:
        good = selectors.last_known_good(stack)
        if good is None:
            baseline = stack_baseline_capture(
                stack=stack,
                path=path,
                text=text,
                existed=existed,
                captured_by=f"verification {str(run.uuid)[:8]}",
            )
            good = selectors.LastKnownGood.of_baseline(baseline)
        good_sha, label = good.sha256, good.label
    entry = {
        "command": f"read {path}",
        "sha256": found,
        "exists": existed,
        "expected_sha256": good_sha,
        "expected": label,
        # The text itself only when it is not the expected one: the evidence of the drift.
        "text": storable(text) if found != good_sha else "",
        "parsed": True,
        "error": "",
        "seconds": round(time.perf_counter() - started, 3),
    }
    return FileCheck(path, found, good_sha, label), entry


def in_flux(stack: Stack, since: datetime, until: datetime) -> DeploymentTarget | None:
    """A deployment target that may have changed the stack's file or loaded policy between
    `since` and `until` (a run's snapshot): such a run cannot tell drift from deployment."""
    return (
        DeploymentTarget.objects.filter(stack=stack, started_at__lte=until)
        .filter(Q(finished_at__isnull=True) | Q(finished_at__gte=since))
        .filter(Q(uploaded=True) | Q(status=TargetStatus.RUNNING))
        .select_related("deployment", "version")
        .order_by("-started_at")
        .first()
    )


def _conditions(
    stack: Stack,
    views: Views,
    figures: dict[str, Any],
    deployed: DeploymentTarget | None,
    file: FileCheck | None = None,
) -> tuple[list[Condition], set[str]]:
    """The drift conditions present now, one per cause, and the kinds this run could judge.

    A policy changed out of band (the file, what is loaded, or both) is one cause: one
    condition keyed "policy" that lists every service it affects, including those whose
    connections or probe results contradict the deployed policy. Without it, the probe's
    contradictions are grouped by what they are (a protocol accepted that the policy has
    Off, a secured port that speaks no TLS) and connections secured by another service's
    rule by that rule, each one condition listing its services.
    """
    conditions: list[Condition] = []
    judged: set[str] = set()
    deployed_policy = parse_policy(deployed.text) if deployed is not None else None
    policy_lines: list[str] = []
    policy_services: set[str] = set()
    loaded_drift = False
    if file is not None and file.judged:
        judged.add(DriftKind.FILE)
        if file.drifted:
            policy_lines.append(
                f"The policy file {file.path} changed without a deployment: sha256"
                f" {(file.sha256 or '')[:12]}, expected {file.expected_label}"
                f" (sha256 {(file.expected_sha256 or '')[:12]})."
            )
    if deployed_policy is not None and deployed is not None and views.pasearch is not None:
        judged.add(DriftKind.POLICY)
        differences = compare_report(deployed_policy, views.pasearch, image=stack.name)
        if differences:
            loaded_drift = True
            lines = "\n".join(str(d) for d in differences[:50])
            more = f"\n(and {len(differences) - 50} more)" if len(differences) > 50 else ""
            policy_lines.append(
                f"The loaded policy differs from v{deployed.version.number} deployed"
                f" ({deployed.sha256[:12]}):\n{lines}{more}"
            )
            policy_services |= {d.rule for d in differences}
    consequences: list[tuple[str, str, str]] = []  # (group key, service, line)
    if views.connections is not None and deployed_policy is not None:
        judged.add(DriftKind.UNEXPECTED_RULE)
        for name, entry in figures["services"].items():
            if not entry["in_scope"]:
                continue
            for rule in sorted({u["rule"] for u in entry["unexpected_rule"]}):
                count = sum(1 for u in entry["unexpected_rule"] if u["rule"] == rule)
                consequences.append(
                    (
                        f"unexpected-rule:{rule}",
                        name,
                        f"{count} connection(s) of {name} are secured by rule {rule},"
                        f" not by {name}",
                    )
                )
    if deployed_policy is not None and views.probe:
        judged.add(DriftKind.PROBE)
        for name, entry in figures["services"].items():
            rule = deployed_policy.rules.get(name)
            result = views.probe.get(name)
            if rule is None or result is None or result.get("tls") is None:
                continue  # not in scope, or not probed: nothing to contradict
            effective = effective_for_rule(deployed_policy, rule, release=stack.zos_release)
            if not effective.ttls_enabled:
                continue
            allowed = {p.value for p in effective.enabled_protocols}
            if not result.get("tls"):
                consequences.append(
                    (
                        "probe:no-tls",
                        name,
                        f"{name}: the policy secures this port, but it does not speak TLS",
                    )
                )
            for protocol in sorted(set(entry["probe_protocols"]) - allowed):
                consequences.append(
                    (
                        f"probe:accepts:{protocol}",
                        name,
                        f"{name}: port {result['zos_port']} accepts {protocol},"
                        " which the policy has Off",
                    )
                )
    if policy_lines:
        for _, name, line in consequences:
            policy_services.add(name)
            policy_lines.append(line)
        names = tuple(sorted(policy_services))
        conditions.append(
            Condition(
                DriftKind.POLICY if loaded_drift else DriftKind.FILE,
                "policy",
                "\n".join(policy_lines)
                + (f"\nServices affected: {', '.join(names)}" if names else ""),
                names,
            )
        )
        return conditions, judged
    grouped: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key, name, line in consequences:
        grouped[key].append((name, line))
    for key, entries in grouped.items():
        names = tuple(sorted({name for name, _ in entries}))
        kind = DriftKind.UNEXPECTED_RULE if key.startswith("unexpected-rule:") else DriftKind.PROBE
        conditions.append(
            Condition(
                kind,
                key,
                "\n".join(line for _, line in entries) + f"\nServices affected: {', '.join(names)}",
                names,
            )
        )
    return conditions, judged


def _apply_drift(
    run: VerificationRun, conditions: list[Condition], judged: set[str], now: datetime
) -> list[DriftEvent]:
    """Opens events for new conditions (once), resolves open ones whose condition cleared."""
    stack = run.stack
    opened: list[DriftEvent] = []
    keys = {c.key for c in conditions}
    open_events = {e.key: e for e in DriftEvent.objects.filter(stack=stack, resolved_at=None)}
    services = {s.name: s for s in stack.services.all()}
    for condition in conditions:
        single = services.get(condition.services[0]) if len(condition.services) == 1 else None
        event = open_events.get(condition.key)
        if event is not None:
            DriftEvent.objects.filter(pk=event.pk).update(
                last_seen_at=now,
                detail=condition.detail,
                kind=condition.kind,
                services=list(condition.services),
                service=single,
            )
            continue
        event = DriftEvent.objects.create(
            stack=stack,
            service=single,
            services=list(condition.services),
            kind=condition.kind,
            key=condition.key,
            detail=condition.detail,
            opened_at=now,
            last_seen_at=now,
            opened_by_run=run,
        )
        opened.append(event)
        alert_drift(event, condition)
    for key, event in open_events.items():
        if key not in keys and event.kind in judged:
            DriftEvent.objects.filter(pk=event.pk).update(resolved_at=now)
    return opened


def _notify_drift(event: DriftEvent, condition: Condition) -> None:
    owners = list(Service.objects.filter(stack=event.stack, name__in=condition.services))
    recipients = sorted(
        {*settings.FLEET_ALERT_RECIPIENTS}
        | {user.email for service in owners for user in service.owners.all() if user.email}
    )
    if not recipients:
        return
    send_mail(
        f"[attls-portal] drift on {event.stack.label}: {event.get_kind_display()}",
        f"Stack: {event.stack.label}\nOpened: {event.opened_at:%Y-%m-%d %H:%M:%S} UTC\n"
        f"Condition: {event.key}\n\n{event.detail}\n",
        None,
        recipients,
        fail_silently=True,  # a mail server down must not lose the verification
    )


# --- certificates ---------------------------------------------------------------------------


def _certificates(
    run: VerificationRun, connection: LparConnection, connector: Connector, now: datetime
) -> None:
    found: dict[str, dict[str, Any]] = {}
    for name, result in (run.outputs.get("probe", {}).get("json") or {}).items():
        certificate = result.get("certificate")
        if not certificate:
            continue
        entry = found.setdefault(
            certificate["fingerprint"], {**certificate, "rules": [], "ports": []}
        )
        entry["rules"].append(name)
        entry["ports"].append(result["zos_port"])
    for fingerprint, data in found.items():
        not_after = datetime.fromisoformat(data["not_after"])
        certificate, created = Certificate.objects.get_or_create(
            stack=run.stack,
            fingerprint=fingerprint,
            defaults={
                "subject": data["subject"],
                "issuer": data["issuer"],
                "serial": data["serial"],
                "not_after": not_after,
                "rules": sorted(data["rules"]),
                "ports": sorted(data["ports"]),
                "first_seen": now,
                "last_seen": now,
                "details": data.get("details") or {},
            },
        )
        if not created:
            # A probe result from before the probe read details must not wipe them.
            Certificate.objects.filter(pk=certificate.pk).update(
                last_seen=now,
                rules=sorted(data["rules"]),
                ports=sorted(data["ports"]),
                **({"details": data["details"]} if data.get("details") else {}),
            )
        _alert(run, connection, connector, certificate, now)


def _alert(
    run: VerificationRun,
    connection: LparConnection,
    connector: Connector,
    certificate: Certificate,
    now: datetime,
) -> None:
    days_left = (certificate.not_after - now).total_seconds() / 86400
    threshold = (
        0 if days_left <= 0 else next((d for d in sorted(ALERT_DAYS) if days_left <= d), None)
    )
    if threshold is None:
        return
    if certificate.alerted_days is not None and certificate.alerted_days <= threshold:
        return  # this alert (or a later one) was sent already
    Certificate.objects.filter(pk=certificate.pk).update(alerted_days=threshold)
    if threshold == 0:
        failing = _failing_handshakes(run, connection, connector, certificate)
        Incident.objects.create(
            stack=run.stack,
            certificate=certificate,
            kind="certificate-expired",
            summary=(
                f"The certificate {certificate.subject} used by {', '.join(certificate.rules)} on"
                f" {run.stack.label} expired on {certificate.not_after:%Y-%m-%d %H:%M} UTC;"
                f" {len(failing)} failing handshake(s) logged."
            ),
            failing_handshakes=failing,
            opened_at=now,
        )
        subject = f"[attls-portal] EXPIRED certificate on {run.stack.label}: {certificate.subject}"
    else:
        subject = (
            f"[attls-portal] certificate on {run.stack.label} expires in {int(days_left)} day(s):"
            f" {certificate.subject}"
        )
    ports = ", ".join(map(str, certificate.ports))
    body = (
        f"Stack: {run.stack.label}\nCertificate: {certificate.subject}\n"
        f"Issuer: {certificate.issuer}\nSerial: {certificate.serial}\n"
        f"Not after: {certificate.not_after:%Y-%m-%d %H:%M} UTC\n"
        f"Used by: {', '.join(certificate.rules)} (ports {ports})\n"
    )
    alert_certificate(run.stack, certificate, threshold, subject, body)


def _failing_handshakes(
    run: VerificationRun,
    connection: LparConnection,
    connector: Connector,
    certificate: Certificate,
) -> list[str]:
    """The stack's EZD1286I lines with RC 401 (certificate expired or not yet valid) from the
    syslog, without the refusals of the portal's own probe.

    The syslog is read after this run's probe, which met the expired certificate too. An RC
    401 line cannot be older than the expiry, so the probes that may have written one are
    this run's and those that ran since the certificate expired.
    """
    try:
        read_at = timezone.now()
        text = connector.run(f"cat {connection.syslog_path}").stdout
    except ConnectorError as error:
        return [f"(syslog not readable: {error})"]
    probes = probe_runs(
        run.stack,
        since=certificate.not_after - PROBE_LOG_DELAY,
        until=read_at,
        exclude=run.pk,
    )
    own = probes.sockets | probe_sockets((run.outputs or {}).get("probe", {}).get("json") or {})
    lines = []
    for line in stack_failure_lines(text, run.stack.name):
        failure = parse_failure_line(line)
        if failure.rc == "401" and failure.probe_socket() not in own:
            lines.append(line)
    return lines[-200:]


# --- the run --------------------------------------------------------------------------------


def verify(
    run: VerificationRun, connector: Connector, *, expected: DeploymentTarget | None = None
) -> VerificationRun:
    """Runs a claimed verification to the end; the caller claimed it and handles errors.

    `expected`: the target a deployment is verifying, judged against what it deployed.
    Without it the run judges against what was deployed when its snapshot was taken; when a
    deployment was changing the stack during the snapshot, the run cannot tell drift from
    that deployment, so it judges no drift of the policy (and opens or resolves none).
    """
    stack = run.stack
    connection = stack.lpar.connection
    now = timezone.now()
    snapshot_from = run.started_at or now
    deployed = expected if expected is not None else deployed_target(stack)
    run.expected_version = deployed.version if deployed is not None else None
    deployed_policy = parse_policy(deployed.text) if deployed is not None else None
    scope = set(deployed_policy.rules) if deployed_policy is not None else None
    file, file_output = _read_policy_file(run, connector, expected)
    views = _collect(run, connection, connector, _previous(run), scope)
    run.outputs["policy_file"] = file_output
    busy = None if expected is not None else in_flux(stack, snapshot_from, timezone.now())
    keys = _service_keys(stack)
    seen = _seen(views, keys)
    figures = _figures(seen, views, deployed_policy, stack.services.all())
    if busy is None:
        conditions, judged = _conditions(stack, views, figures, deployed, file)
    else:
        conditions, judged = [], set()
        figures["drift_not_judged"] = (
            f"deployment {str(busy.deployment.uuid)[:8]} (v{busy.version.number}) was changing"
            f" {stack.label} during this run's snapshot"
        )
    with transaction.atomic():
        _observe(stack, seen, now)
        opened = _apply_drift(run, conditions, judged, now)
        incidents = apply_refusals(run, figures, views.refused, views.refusal_window_seconds, now)
        run.results = figures | {
            "drift_opened": [e.key for e in opened],
            "incidents_opened": [i.key for i in incidents],
        }
        run.status = RunStatus.SUCCEEDED
        run.finished_at = timezone.now()
        run.save()
    _certificates(run, connection, connector, now)
    # last_verified_at is the scheduler's: it claims a slot by setting it when it enqueues.
    return run
