"""The certificate inventory a run updates from its probe, with the expiry alerts and incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from attls.reports.syslog import (
    parse_failure_line,
    stack_failure_lines,
)
from fleet.alerts.producers import alert_certificate
from fleet.connectors.base import Connector, ConnectorError, command_line
from fleet.models import (
    Certificate,
    Incident,
    IncidentKind,
    LparConnection,
    VerificationRun,
)
from fleet.probe import probe_sockets
from fleet.verify.handshakes import PROBE_LOG_DELAY, probe_runs

ALERT_DAYS = (30, 7)


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
    _resolve_renewed(run, found, now)
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


def _resolve_renewed(
    run: VerificationRun, presented: dict[str, dict[str, Any]], now: datetime
) -> None:
    """Resolves the stack's open certificate-expired incidents this run shows over: the expired
    certificate is presented on none of the probed ports, and every rule it served presented a
    certificate valid now. A rule the probe got no certificate from (not probed, no TLS) leaves
    the incident open: the run does not show the renewal there."""
    by_rule = {
        rule: data
        for data in presented.values()
        if datetime.fromisoformat(data["not_after"]) > now
        for rule in data["rules"]
    }
    incidents = Incident.objects.filter(
        stack=run.stack, kind=IncidentKind.CERTIFICATE_EXPIRED, resolved_at=None
    ).select_related("certificate")
    for incident in incidents:
        expired = incident.certificate
        if expired is None or expired.fingerprint in presented:
            continue
        # The rules it served when the incident opened, and any it was seen on since (the
        # certificate's own list is where the probe last met it).
        served = sorted({*expired.rules, *(incident.details or {}).get("rules", [])})
        if not served or any(rule not in by_rule for rule in served):
            continue
        renewed = [
            {
                "rule": rule,
                "subject": by_rule[rule]["subject"],
                "serial": by_rule[rule]["serial"],
                "fingerprint": by_rule[rule]["fingerprint"],
                "not_after": by_rule[rule]["not_after"],
            }
            for rule in served
        ]
        shown = "; ".join(
            f"{r['rule']}: {r['subject']} serial {r['serial']}, valid until"
            f" {datetime.fromisoformat(r['not_after']):%Y-%m-%d %H:%M} UTC"
            for r in renewed
        )
        Incident.objects.filter(pk=incident.pk, resolved_at=None).update(
            resolved_at=now,
            resolution=(
                f"Renewed: verification {str(run.uuid)[:8]} at {now:%Y-%m-%d %H:%M:%S} UTC found"
                f" the expired certificate (serial {expired.serial}) presented on no port, and a"
                f" valid one on every rule it served: {shown}."
            ),
            details={
                **(incident.details or {}),
                "resolved_by_run": str(run.uuid),
                "renewed": renewed,
            },
        )


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
            # What it served, kept: the certificate's own list follows the probe.
            details={"rules": sorted(certificate.rules), "ports": sorted(certificate.ports)},
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
        text = connector.run(command_line("cat", connection.syslog_path)).stdout
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
