"""An expired certificate's incident: opened by the verification whose probe met it, resolved
by the later one whose probe met its replacement on every rule it served, naming that run.

The probe's results are built by the probe's own reading of real certificates
(fleet.probe._certificate); the syslog read goes through the real connector, which cannot
reach the LPAR here (no SSH port), so the incident says the syslog was not readable.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from fleet.connectors.factory import LparConnector
from fleet.models import Incident, LparConnection, RunStatus, VerificationRun
from fleet.probe import _certificate
from fleet.verify.certificates import _certificates
from policies.models import Lpar, Stack
from tests.audits.assessment_support import authority, issue

pytestmark = pytest.mark.django_db

CA = authority("Bank Issuing CA")


def _issued(name: str, *, expires_in_days: int) -> dict[str, Any]:
    """A server certificate as the probe reports it."""
    not_before = datetime.now(UTC) - timedelta(days=400)
    days = 400 + expires_in_days
    return _certificate(issue(name, issuer=CA, not_before=not_before, days=days).certificate)


@pytest.fixture
def stack() -> Stack:
    lpar = Lpar.objects.create(name="SYSA")
    found = Stack.objects.create(lpar=lpar, name="TCPIP")
    # No SSH port: the syslog read fails at once, through the real connector.
    LparConnection.objects.create(lpar=lpar, username="ATTLSADM", ca_bundle="x", ssh_port=None)
    return found


def _verified(stack: Stack, presented: dict[str, tuple[int, dict[str, Any] | None]]) -> Any:
    """A finished run whose probe found, per rule, (port, certificate or None)."""
    probe = {
        rule: {"zos_port": port, "tls": certificate is not None, "certificate": certificate}
        for rule, (port, certificate) in presented.items()
    }
    run = VerificationRun.objects.create(
        stack=stack, status=RunStatus.SUCCEEDED, outputs={"probe": {"json": probe}}
    )
    connection = LparConnection.objects.get(lpar=stack.lpar)
    with LparConnector(connection) as connector:
        _certificates(run, connection, connector, timezone.now())
    return run


def test_the_incident_of_an_expired_certificate_resolves_once_every_rule_presents_a_valid_one(
    stack: Stack, make_user, client
) -> None:
    old = _issued("ftpd.sysa.bank.example", expires_in_days=-1)
    new = _issued("ftpd.sysa.bank.example", expires_in_days=397)
    _verified(stack, {"FTPSRV": (21, old), "FTPSRV2": (2121, old)})
    incident = Incident.objects.get(stack=stack, kind="certificate-expired")
    assert incident.is_open and incident.certificate.fingerprint == old["fingerprint"]
    assert incident.failing_handshakes[0].startswith("(syslog not readable: no SSH port")

    # Still presented on one rule: open. Not probed on the other (no certificate): open.
    _verified(stack, {"FTPSRV": (21, new), "FTPSRV2": (2121, old)})
    _verified(stack, {"FTPSRV": (21, new), "FTPSRV2": (2121, None)})
    incident.refresh_from_db()
    assert incident.is_open
    assert Incident.objects.filter(kind="certificate-expired").count() == 1  # not opened again

    renewed = _verified(stack, {"FTPSRV": (21, new), "FTPSRV2": (2121, new)})
    incident.refresh_from_db()
    assert not incident.is_open
    assert incident.details["resolved_by_run"] == str(renewed.uuid)
    assert [r["rule"] for r in incident.details["renewed"]] == ["FTPSRV", "FTPSRV2"]
    assert {r["serial"] for r in incident.details["renewed"]} == {new["serial"]}
    assert incident.resolution.startswith(f"Renewed: verification {str(renewed.uuid)[:8]}")
    assert f"serial {old['serial']}" in incident.resolution

    # Its page names the run that resolved it.
    client.force_login(make_user("olivia", Role.OPERATOR))
    page = client.get(reverse("fleet:incident", args=[incident.uuid])).content.decode()
    assert reverse("fleet:verification", args=[renewed.uuid]) in page


def test_a_replacement_that_has_expired_too_resolves_nothing(stack: Stack) -> None:
    old = _issued("tn3270.sysa.bank.example", expires_in_days=-30)
    also_expired = _issued("tn3270.sysa.bank.example", expires_in_days=-1)
    _verified(stack, {"TN3270S": (992, old)})
    _verified(stack, {"TN3270S": (992, also_expired)})
    incidents = Incident.objects.filter(stack=stack, kind="certificate-expired")
    # The first stays open; the replacement, expired as well, opens its own.
    assert sorted((i.certificate.serial, i.is_open) for i in incidents) == sorted(
        [(old["serial"], True), (also_expired["serial"], True)]
    )
