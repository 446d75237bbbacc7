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
import ipaddress
import logging
import re
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
from fleet.connectors.base import Connector, ConnectorError
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
from fleet.probe import ProbeTarget, probe
from fleet.readings import read_output
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
    """The last target that reached this stack successfully: what should be loaded now."""
    return (
        DeploymentTarget.objects.filter(stack=stack, status=TargetStatus.SUCCEEDED)
        .select_related("version")
        .order_by("-finished_at", "-id")
        .first()
    )


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
    targets = []
    for service in run.stack.services.filter(direction="Inbound").order_by("name"):
        if service.local_port_low == 0:
            continue
        host, port = probe_address(connection, stack, service.local_port_low)
        targets.append(ProbeTarget(service.name, service.local_port_low, host, port))
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
    views.probe = probe(targets)
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


# --- AT-TLS handshake failures (EZD1286I) -----------------------------------------------------

_RULE = re.compile(r"\bRULE: (\S+)")
_RC = re.compile(r"\bRC: +(\d+)")
_CONNID = re.compile(r"\bCONNID: (\S+)")
_LOCAL = re.compile(r"\bLOCAL: (\S+)\.\.(\d+)")
_REMOTE = re.compile(r"\bREMOTE: (\S+)\.\.(\d+)")

# (source address, source port, z/OS port probed): one TCP connection of the probe.
ProbeSocket = tuple[str, int, int]


def normal_address(text: str) -> str:
    """One spelling per IP address: `::FFFF:010.001.002.003` and `10.1.2.3` are the same.

    AT-TLS writes IPv4 peers of an IPv6 stack as IPv4-mapped, sometimes zero-padded.
    """
    text = text.strip()
    if text.lower().startswith("::ffff:") and "." in text:
        text = text[7:]
    parts = text.split(".")
    if len(parts) == 4 and all(part.isdigit() for part in parts):
        return ".".join(str(int(part)) for part in parts)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text.lower()
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _socket(text: str) -> tuple[str, int] | None:
    address, _, port = text.rpartition("..")
    if not address or not port.isdigit():
        return None
    return normal_address(address), int(port)


@dataclass(frozen=True)
class FailureLine:
    """What an EZD1286I line says about one failed handshake."""

    rule: str
    rc: str
    conn_id: str
    local_port: int | None
    remote: tuple[str, int] | None  # the peer's socket: for an inbound rule, the client's

    def probe_socket(self) -> ProbeSocket | None:
        if self.remote is None or self.local_port is None:
            return None
        return (self.remote[0], self.remote[1], self.local_port)


def parse_failure_line(line: str) -> FailureLine:
    """The fields of an EZD1286I line (`?` or None for what it lacks), e.g. from
    `... TCPIP: EZD1286I TTLS Error GRPID: 00000001 ENVID: 00000002 CONNID: 0000010A
    LOCAL: 10.1.1.1..992 REMOTE: 10.9.9.9..40312 JOBNAME: TN3270A USERID: TN3270A
    RULE: TN3270_Secure RC:  412 Initial Handshake`."""
    rule, rc, conn_id = _RULE.search(line), _RC.search(line), _CONNID.search(line)
    local, remote = _LOCAL.search(line), _REMOTE.search(line)
    return FailureLine(
        rule=rule.group(1) if rule else "?",
        rc=rc.group(1) if rc else "?",
        conn_id=conn_id.group(1) if conn_id else "?",
        local_port=int(local.group(2)) if local else None,
        remote=(normal_address(remote.group(1)), int(remote.group(2))) if remote else None,
    )


def probe_sockets(probe_json: dict[str, Any]) -> set[ProbeSocket]:
    """Every connection a probe's results (fleet/probe.py) list, as (address, port, z/OS port)."""
    found: set[ProbeSocket] = set()
    for result in (probe_json or {}).values():
        zos_port = result.get("zos_port")
        if not isinstance(zos_port, int):
            continue
        for entry in result.get("sockets") or []:
            source = _socket(str(entry.get("source", "")))
            if source is not None:
                found.add((source[0], source[1], zos_port))
    return found


@dataclass
class FailureCount:
    """EZD1286I lines per rule and RC: the services' failures and the probe's refusals apart."""

    services: dict[str, dict[str, int]] = field(default_factory=dict)
    probe: dict[str, dict[str, int]] = field(default_factory=dict)
    probe_lines: list[FailureLine] = field(default_factory=list)


def count_failures(lines: Iterable[str], probe: set[ProbeSocket]) -> FailureCount:
    """Counts EZD1286I lines per rule and RC; a line whose REMOTE socket is one the probe
    connected from, to the port its LOCAL socket names, is a probe refusal."""
    services: dict[str, Counter[str]] = defaultdict(Counter)
    refusals: dict[str, Counter[str]] = defaultdict(Counter)
    probe_lines = []
    for line in lines:
        failure = parse_failure_line(line)
        if failure.probe_socket() in probe:
            refusals[failure.rule][failure.rc] += 1
            probe_lines.append(failure)
        else:
            services[failure.rule][failure.rc] += 1
    return FailureCount(
        services={rule: dict(codes) for rule, codes in services.items()},
        probe={rule: dict(codes) for rule, codes in refusals.items()},
        probe_lines=probe_lines,
    )


def new_lines(lines: list[str], last_read: str | None) -> tuple[list[str], bool]:
    """The lines after `last_read` (the newest line the previous run read), and whether it
    was found. Not found (none read before, or the file was rotated or restarted since):
    every line is new. The previous run stored its lines as `storable` text."""
    if last_read:
        for index in range(len(lines) - 1, -1, -1):
            if storable(lines[index]) == last_read:
                return lines[index + 1 :], True
    return lines, False


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


def _stack_failure_lines(text: str, stack: str) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if "EZD1286I" in line and (f" {stack}:" in line or f" {stack}[" in line)
    ]


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
    lines = _stack_failure_lines(result.stdout, stack)
    before = (previous.syslog.get("text") or "") if previous is not None else ""
    last_read = before.rsplit("\n", 1)[-1] if before else None
    window, continued = new_lines(lines, last_read)
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
            # EZD1286I lines of its rule since the previous run, less the probe's refusals.
            "handshake_failures": dict(views.failures.get(service.name, {})),
            "probe_refusals": dict(views.probe_refusals.get(service.name, {})),
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
    service: Service | None = None


def _conditions(
    stack: Stack, views: Views, figures: dict[str, Any], deployed: DeploymentTarget | None
) -> tuple[list[Condition], set[str]]:
    """The drift conditions present now, and the kinds this run could judge."""
    conditions: list[Condition] = []
    judged: set[str] = set()
    services = {s.name: s for s in stack.services.all()}
    deployed_policy = parse_policy(deployed.text) if deployed is not None else None
    if deployed_policy is not None and views.pasearch is not None:
        judged.add(DriftKind.POLICY)
        differences = compare_report(deployed_policy, views.pasearch, image=stack.name)
        if differences:
            lines = "\n".join(str(d) for d in differences[:50])
            more = f"\n(and {len(differences) - 50} more)" if len(differences) > 50 else ""
            conditions.append(
                Condition(
                    DriftKind.POLICY,
                    "policy",
                    f"The loaded policy differs from v{deployed.version.number} deployed"
                    f" ({deployed.sha256[:12]}):\n{lines}{more}",
                )
            )
    if views.connections is not None and deployed_policy is not None:
        judged.add(DriftKind.UNEXPECTED_RULE)
        for name, entry in figures["services"].items():
            if not entry["in_scope"]:
                continue
            for rule in sorted({u["rule"] for u in entry["unexpected_rule"]}):
                count = sum(1 for u in entry["unexpected_rule"] if u["rule"] == rule)
                conditions.append(
                    Condition(
                        DriftKind.UNEXPECTED_RULE,
                        f"unexpected-rule:{name}:{rule}",
                        f"{count} connection(s) of {name} are secured by rule {rule},"
                        f" not by {name}",
                        services.get(name),
                    )
                )
    if deployed_policy is not None and views.probe:
        judged.add(DriftKind.PROBE)
        for name, entry in figures["services"].items():
            rule = deployed_policy.rules.get(name)
            if rule is None or name not in views.probe:
                continue
            effective = effective_for_rule(deployed_policy, rule)
            allowed = (
                {p.value for p in effective.enabled_protocols} if effective.ttls_enabled else set()
            )
            accepted = set(entry["probe_protocols"])
            if effective.ttls_enabled and not views.probe[name].get("tls"):
                conditions.append(
                    Condition(
                        DriftKind.PROBE,
                        f"probe:{name}:no-tls",
                        f"{name}: the policy secures this port, but it does not speak TLS",
                        services.get(name),
                    )
                )
            for protocol in sorted(accepted - allowed) if effective.ttls_enabled else []:
                conditions.append(
                    Condition(
                        DriftKind.PROBE,
                        f"probe:{name}:{protocol}",
                        f"{name}: port {views.probe[name]['zos_port']} accepts {protocol},"
                        f" which the policy has Off",
                        services.get(name),
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
    for condition in conditions:
        event = open_events.get(condition.key)
        if event is not None:
            DriftEvent.objects.filter(pk=event.pk).update(last_seen_at=now, detail=condition.detail)
            continue
        event = DriftEvent.objects.create(
            stack=stack,
            service=condition.service,
            kind=condition.kind,
            key=condition.key,
            detail=condition.detail,
            opened_at=now,
            last_seen_at=now,
            opened_by_run=run,
        )
        opened.append(event)
        _notify_drift(event, condition)
    for key, event in open_events.items():
        if key not in keys and event.kind in judged:
            DriftEvent.objects.filter(pk=event.pk).update(resolved_at=now)
    return opened


def _notify_drift(event: DriftEvent, condition: Condition) -> None:
    owners = [condition.service] if condition.service is not None else []
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
    owners = Service.objects.filter(stack=run.stack, name__in=certificate.rules)
    recipients = sorted(
        {*settings.FLEET_ALERT_RECIPIENTS}
        | {user.email for service in owners for user in service.owners.all() if user.email}
    )
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
    if recipients:
        send_mail(subject, body, None, recipients, fail_silently=True)


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
    for line in _stack_failure_lines(text, run.stack.name):
        failure = parse_failure_line(line)
        if failure.rc == "401" and failure.probe_socket() not in own:
            lines.append(line)
    return lines[-200:]


# --- the run --------------------------------------------------------------------------------


def verify(run: VerificationRun, connector: Connector) -> VerificationRun:
    """Runs a claimed verification to the end; the caller claimed it and handles errors."""
    stack = run.stack
    connection = stack.lpar.connection
    now = timezone.now()
    deployed = deployed_target(stack)
    run.expected_version = deployed.version if deployed is not None else None
    views = _collect(run, connection, connector, _previous(run))
    keys = _service_keys(stack)
    seen = _seen(views, keys)
    deployed_policy = parse_policy(deployed.text) if deployed is not None else None
    figures = _figures(seen, views, deployed_policy, stack.services.all())
    conditions, judged = _conditions(stack, views, figures, deployed)
    with transaction.atomic():
        _observe(stack, seen, now)
        opened = _apply_drift(run, conditions, judged, now)
        run.results = figures | {"drift_opened": [e.key for e in opened]}
        run.status = RunStatus.SUCCEEDED
        run.finished_at = timezone.now()
        run.save()
    _certificates(run, connection, connector, now)
    # last_verified_at is the scheduler's: it claims a slot by setting it when it enqueues.
    return run
