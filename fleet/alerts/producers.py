"""The alert events the fleet raises, built from its rows: one function per place an alert
arises, so the producers' own modules change by one call (fleet/verify.py is being split)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from fleet.alerts.kinds import Severity
from fleet.alerts.services import alert_emit
from fleet.models import TargetStatus

if TYPE_CHECKING:
    from fleet.models import Certificate, Deployment, DeploymentTarget, DriftEvent, Incident
    from policies.models import Service, Stack

MAIL_PREFIX = "[attls-portal] "


def alert_drift(event: DriftEvent, condition: object) -> None:
    services = list(getattr(condition, "services", []) or event.services or [])
    alert_emit(
        kind="drift",
        stack=event.stack,
        service=event.service,
        summary=f"drift on {event.stack.label}: {event.get_kind_display()}",
        details={
            "drift": str(event.uuid),
            "condition": event.key,
            "detail": event.detail,
            "services": services,
            "opened_at": event.opened_at.isoformat(),
            "text": f"Stack: {event.stack.label}\n"
            f"Opened: {event.opened_at:%Y-%m-%d %H:%M:%S} UTC\n"
            f"Condition: {event.key}\n\n{event.detail}\n",
        },
    )


def alert_certificate(
    stack: Stack, certificate: Certificate, threshold: int, subject: str, body: str
) -> None:
    """A certificate crossed an alert threshold (days left), or expired (threshold 0)."""
    alert_emit(
        kind="certificate-expired" if threshold == 0 else "certificate-expiry",
        stack=stack,
        summary=subject.removeprefix(MAIL_PREFIX),
        details={
            "subject": certificate.subject,
            "issuer": certificate.issuer,
            "serial": certificate.serial,
            "fingerprint": certificate.fingerprint,
            "not_after": certificate.not_after.isoformat(),
            "threshold_days": threshold,
            "ports": list(certificate.ports),
            "services": list(certificate.rules),
            "text": body,
        },
    )


def alert_refusal_surge(incident: Incident, service: Service | None) -> None:
    name = incident.details.get("service")
    alert_emit(
        kind="refusal-surge",
        stack=incident.stack,
        service=service,
        summary=f"clients refused on {incident.stack.label}: {name}",
        details={
            "incident": str(incident.uuid),
            "refused": incident.details.get("refused"),
            "codes": incident.details.get("codes"),
            "peers": incident.details.get("peers"),
            "services": [service.name] if service is not None else [],
            "text": f"{incident.summary}\n\nOpened: {incident.opened_at:%Y-%m-%d %H:%M:%S} UTC\n",
        },
    )


def alert_deployment_failed(deployment: Deployment, targets: Iterable[DeploymentTarget]) -> None:
    """One event per stack the deployment failed or rolled back on (the order is per stack)."""
    for target in targets:
        if target.status not in (TargetStatus.FAILED, TargetStatus.ROLLED_BACK):
            continue
        rolled = target.status == TargetStatus.ROLLED_BACK
        outcome = "rolled back" if rolled else "failed"
        alert_emit(
            kind="deployment-failed",
            severity=Severity.ERROR if rolled else Severity.CRITICAL,
            stack=target.stack,
            summary=f"deployment {outcome} on {target.stack.label}: v{target.version.number}",
            details={
                "deployment": str(deployment.uuid),
                "status": target.status,
                "version": target.version.number,
                "error": target.error,
                "text": f"Deployment {deployment.uuid} {outcome} on {target.stack.label}"
                f" (version {target.version.number}).\n\n{target.error}\n",
            },
        )
