"""Estate rows for the assessment tests, written as the fleet's worker would leave them.

Designs go through the policies services (publish included), deployments through the fleet
services (four eyes included); what the worker and the verifier write afterwards (statuses,
runs, hourly roll-ups) is written with the ORM. No lparsim: these tests judge records.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from audits.assessment import ResultData, evaluate
from audits.catalog import load_catalog
from fleet.models import (
    Deployment,
    DeploymentTarget,
    LparConnection,
    RunStatus,
    ServiceHour,
    TargetStatus,
    VerificationRun,
)
from fleet.services import deployment_approve, deployment_request
from policies import services as design
from policies.models import PolicyVersion, Service, Stack

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBdemoCAcertificate\n-----END CERTIFICATE-----"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoHostKeyPinned"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def connect(stack: Stack) -> LparConnection:
    connection, _ = LparConnection.objects.get_or_create(
        lpar=stack.lpar,
        defaults={
            "username": "ATTLSADM",
            "ca_bundle": CA_PEM,
            "ssh_port": 22,
            "ssh_host_key": HOST_KEY,
        },
    )
    return connection


def publish(stack: Stack, architect: User, note: str = "First cut.") -> PolicyVersion:
    return design.policy_version_publish(
        stack=stack, actor=architect, note=note, acknowledge_warnings=True
    )


def deploy(
    stack: Stack,
    version: PolicyVersion,
    *,
    requester: User,
    approver: User,
    at: datetime,
) -> Deployment:
    """Requested and approved through the fleet services, then finished as the worker would."""
    connect(stack)
    deployment = deployment_request(actor=requester, targets=[(stack, version)], note="rollout")
    deployment = deployment_approve(deployment=deployment, actor=approver)
    finish(deployment, at)
    return deployment


def finish(deployment: Deployment, at: datetime) -> Deployment:
    Deployment.objects.filter(pk=deployment.pk).update(
        status=RunStatus.SUCCEEDED,
        approved_at=at,
        started_at=at,
        finished_at=at + timedelta(seconds=3),
    )
    DeploymentTarget.objects.filter(deployment=deployment).update(
        status=TargetStatus.SUCCEEDED,
        started_at=at,
        finished_at=at + timedelta(seconds=3),
        uploaded=True,
    )
    deployment.refresh_from_db()
    return deployment


def entry(
    service: Service,
    *,
    in_scope: bool = True,
    protocols: dict[str, int] | None = None,
    probe: list[str] | None = None,
    ciphers: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One service's figures in a verification run's results (fleet/verify.py `_figures`)."""
    protocols = protocols if protocols is not None else {"TLSv1.3": 4}
    probe = probe if probe is not None else ["TLSv1.2", "TLSv1.3"]
    connections = sum(protocols.values())
    cleartext = protocols.get("cleartext", 0)
    return {
        "service": str(service.uuid),
        "in_scope": in_scope,
        "connections": connections,
        "handshakes_pending": 0,
        "secured": connections - cleartext,
        "coverage": round((connections - cleartext) / connections, 4) if connections else None,
        "cleartext": cleartext,
        "cleartext_in_scope": cleartext if in_scope else 0,
        "protocols": protocols,
        "ciphers": ciphers or {},
        "unexpected_rule": [],
        "probe_protocols": probe,
        "probe_deprecated": [p for p in probe if p in ("SSLv3", "TLSv1", "TLSv1.1")],
        "probe_tls": bool(probe) if service.direction != "Outbound" else None,
        "handshake_failures": {},
    }


def verification(
    stack: Stack,
    at: datetime,
    entries: dict[str, dict[str, Any]],
    *,
    version: PolicyVersion | None = None,
    probe_errors: dict[str, str] | None = None,
    parse_failed: bool = False,
) -> VerificationRun:
    """A successful verification run of `stack` created at `at`, with these service figures."""
    connections = sum(e["connections"] for e in entries.values())
    secured = sum(e["secured"] for e in entries.values())
    protocols: dict[str, int] = {}
    for figures in entries.values():
        for protocol, n in figures["protocols"].items():
            protocols[protocol] = protocols.get(protocol, 0) + n
    probe = {
        name: {
            "zos_port": 0,
            "tls": bool(figures["probe_protocols"]),
            "protocols": figures["probe_protocols"],
            "ciphers": {},
            "certificate": None,
            "error": (probe_errors or {}).get(name, ""),
        }
        for name, figures in entries.items()
    }
    text = f"pasearch of {stack.label} at {at.isoformat()}"
    run = VerificationRun.objects.create(
        stack=stack,
        expected_version=version,
        status=RunStatus.SUCCEEDED,
        started_at=at,
        finished_at=at + timedelta(seconds=2),
        parse_failed=parse_failed,
        outputs={
            "pasearch": {"text": text, "sha256": sha(text), "parsed": True, "error": ""},
            "probe": {"json": probe, "sha256": sha(json.dumps(probe, sort_keys=True))},
        },
        results={
            "connections": connections,
            "secured": secured,
            "coverage": round(secured / connections, 4) if connections else None,
            "protocols": protocols,
            "services": entries,
            "loaded_rules": len(entries),
            "handshake_failures_total": {},
            "drift_opened": [],
        },
    )
    VerificationRun.objects.filter(pk=run.pk).update(created_at=at)
    run.refresh_from_db()
    return run


def hours(
    service: Service,
    start: datetime,
    count: int,
    protocols: dict[str, int],
    ciphers: dict[str, int] | None = None,
) -> list[ServiceHour]:
    """`count` hourly roll-ups from the hour of `start`, each with these protocol counts."""
    first = start.replace(minute=0, second=0, microsecond=0)
    connections = sum(protocols.values())
    cleartext = protocols.get("cleartext", 0)
    return ServiceHour.objects.bulk_create(
        ServiceHour(
            service=service,
            hour=first + timedelta(hours=n),
            connections=connections,
            secured=connections - cleartext,
            cleartext=cleartext,
            protocols=protocols,
            ciphers=ciphers or {},
        )
        for n in range(count)
    )


def period(days: int = 7) -> tuple[datetime, datetime]:
    end = timezone.now()
    return end - timedelta(days=days), end


def run_catalog(
    *,
    scope_kind: str = "estate",
    scope: dict[str, Any] | None = None,
    days: int = 7,
    **parameters: Any,
) -> dict[str, ResultData]:
    """Every control's result for the last `days` days, by control id."""
    start, end = period(days)
    results = evaluate(
        scope_kind=scope_kind,
        scope=scope or {},
        period_start=start,
        period_end=end,
        parameters=parameters,
        catalog=load_catalog(),
    )
    return {result.control_id: result for result in results}
