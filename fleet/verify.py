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
"""

from __future__ import annotations

import hashlib
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
from django.db.models import Count
from django.utils import timezone

from attls.effective import effective_for_rule
from attls.errors import AttlsError, ReportParseError
from attls.policy import Policy, parse_policy
from attls.policy.values import read_job_pattern
from attls.reports.compare import compare_report
from attls.reports.netstat import (
    NetstatAllConnReport,
    NetstatTtlsReport,
    parse_netstat_allconn,
    parse_netstat_ttls,
)
from attls.reports.pasearch import PasearchReport, parse_pasearch
from fleet.connectors.base import Connector, ConnectorError
from fleet.connectors.factory import probe_address
from fleet.models import (
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
from policies.models import Service, Stack

log = logging.getLogger(__name__)

ALERT_DAYS = (30, 7)
SYSLOG_LINES_KEPT = 500


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def storable(text: str) -> str:
    """The text as received, but with NUL shown as U+2400 (PostgreSQL's JSON cannot hold NUL).

    The SHA-256 kept beside it is always that of the text as received.
    """
    return text.replace("\x00", "\u2400")


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
    # Failed AT-TLS handshakes logged so far, per rule and return code (cumulative).
    failures: dict[str, dict[str, int]] = field(default_factory=dict)


def _collect(run: VerificationRun, connection: LparConnection, connector: Connector) -> Views:
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
            if name == "pasearch":
                views.pasearch = parse_pasearch(text)
            elif name == "netstat_conn":
                views.connections = parse_netstat_ttls(text)
            else:
                views.uncovered = parse_netstat_allconn(text, filter="NOTTLSPOLICY")
            entry["parsed"] = True
        except AttlsError as error:
            entry["error"] = str(error)
            run.parse_failed = True
            log.warning("verification %s: %s output kept unparsed: %s", run.uuid, name, error)
        outputs[name] = entry
    views.failures = _handshake_failures(connector, connection, stack, outputs)
    targets = []
    for service in run.stack.services.filter(direction="Inbound").order_by("name"):
        if service.local_port_low == 0:
            continue
        host, port = probe_address(connection, stack, service.local_port_low)
        targets.append(ProbeTarget(service.name, service.local_port_low, host, port))
    started = time.perf_counter()
    views.probe = probe(targets)
    probe_text = _json(views.probe)
    outputs["probe"] = {
        "command": f"sslyze probe of {len(targets)} port(s)",
        "json": views.probe,
        "sha256": sha256(probe_text),
        "seconds": round(time.perf_counter() - started, 3),
        "parsed": True,
        "error": "",
    }
    run.outputs = outputs
    return views


_RULE = re.compile(r"\bRULE: (\S+)")
_RC = re.compile(r"\bRC: +(\d+)")


def _handshake_failures(
    connector: Connector, connection: LparConnection, stack: str, outputs: dict[str, Any]
) -> dict[str, dict[str, int]]:
    """Counts the EZD1286I messages of the stack in the AT-TLS syslog, per rule and RC.

    Only the EZD1286I lines are kept (with their hash): the syslog holds much else.
    """
    started = time.perf_counter()
    result = connector.run(f"cat {connection.syslog_path}")
    lines = [
        line
        for line in result.stdout.splitlines()
        if "EZD1286I" in line and (f" {stack}:" in line or f" {stack}[" in line)
    ]
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for line in lines:
        rule, rc = _RULE.search(line), _RC.search(line)
        counts[rule.group(1) if rule else "?"][rc.group(1) if rc else "?"] += 1
    # Counts come from every line; the stored text keeps the newest ones, so a long-lived
    # syslog does not make each run megabytes large. Its hash covers what is stored.
    kept = lines[-SYSLOG_LINES_KEPT:]
    text = "\n".join(kept)
    outputs["syslog"] = {
        "command": f"cat {connection.syslog_path} (EZD1286I lines of {stack}: the newest"
        f" {len(kept)} of {len(lines)})",
        "text": storable(text),
        "sha256": sha256(text),
        "exit_status": result.exit_status,
        "seconds": round(time.perf_counter() - started, 3),
        "parsed": result.ok,
        "error": "" if result.ok else result.stderr[:500],
    }
    return {rule: dict(codes) for rule, codes in counts.items()}


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
    previous_failures: dict[str, dict[str, int]],
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
            "handshake_failures": _new_failures(
                views.failures.get(service.name, {}), previous_failures.get(service.name, {})
            ),
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
        "handshake_failures_total": views.failures,
    }


def _new_failures(now: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """Failures logged since the previous run, per RC (a log that restarted counts afresh)."""
    new = {}
    for rc, count in now.items():
        delta = count - before.get(rc, 0)
        new[rc] = delta if delta >= 0 else count
    return {rc: n for rc, n in new.items() if n}


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
            },
        )
        if not created:
            Certificate.objects.filter(pk=certificate.pk).update(
                last_seen=now, rules=sorted(data["rules"]), ports=sorted(data["ports"])
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
        failing = _failing_handshakes(connection, connector)
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


def _failing_handshakes(connection: LparConnection, connector: Connector) -> list[str]:
    """EZD1286I lines with RC 401 (certificate expired or not yet valid) from the syslog."""
    try:
        text = connector.run(f"cat {connection.syslog_path}").stdout
    except ConnectorError as error:
        return [f"(syslog not readable: {error})"]
    lines = []
    for line in text.splitlines():
        rc = _RC.search(line) if "EZD1286I" in line else None
        if rc is not None and rc.group(1) == "401":
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
    views = _collect(run, connection, connector)
    keys = _service_keys(stack)
    seen = _seen(views, keys)
    deployed_policy = parse_policy(deployed.text) if deployed is not None else None
    previous = (
        VerificationRun.objects.filter(stack=stack, status=RunStatus.SUCCEEDED)
        .exclude(pk=run.pk)
        .order_by("-created_at")
        .values_list("results", flat=True)
        .first()
    )
    previous_failures = (previous or {}).get("handshake_failures_total", {})
    figures = _figures(seen, views, deployed_policy, stack.services.all(), previous_failures)
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
