"""Refused clients are first-class: deploying v1 to SYSA turns clients away, and it shows.

The reference data center has cleartext TN3270 and intranet clients, TLS 1.0 clients of
TN3270, CICS and Db2, and a partner (CLEARHOUSE) that aborts any ClientHello offering
TLS 1.3. v1 secures every port with TLS 1.2/1.3 only: AT-TLS refuses all of them (RC 5003,
RC 412) and logs EZD1286I. Coverage stays 100% of the sessions that exist; the refusals must
open incidents within one verification interval, naming the services, the codes and the
deployment, and show beside coverage on the dashboard. Removing the partner's rule through
the incident resolves its incident.
"""

from __future__ import annotations

import html
import re
import time

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from fleet import services as fleet
from fleet.models import (
    Deployment,
    Incident,
    IncidentKind,
    LparConnection,
    RunStatus,
    VerificationRun,
)

from .conftest import Lab, wait_for
from .test_deployment import deploy, finished, publish, steps, sysa

pytestmark = pytest.mark.integration

INTERVAL = 10  # seconds: the verification interval of SYSA in this test
PARTNER_RULE = "MQ_Channel_to_Clearing_House"


def open_incident(stack_id: int, service: str, after: Deployment) -> Incident | None:
    return Incident.objects.filter(
        stack_id=stack_id,
        kind=IncidentKind.REFUSED_CLIENTS,
        key=f"refused:{service}",
        resolved_at=None,
        opened_at__gte=after.started_at,  # its own verification may open it
    ).first()


def _state(stack_id: int) -> str:
    """What each run of the stack judged: for a failure message."""
    lines = []
    for run in VerificationRun.objects.filter(stack_id=stack_id).order_by("created_at"):
        services = run.results.get("services") or {}
        judged = {n: e.get("refusal_judgement") for n, e in services.items() if e.get("refused")}
        lines.append(
            f"{run.created_at:%H:%M:%S} {run.status} refused={run.results.get('refused')}"
            f" window={(run.results.get('refusals') or {}).get('window_seconds')} {judged}"
        )
    keys = list(Incident.objects.values_list("key", flat=True))
    return "; ".join(lines) + f"; incidents {keys}"


def _latest_succeeded(stack_id: int) -> VerificationRun | None:
    """The run the dashboard takes a stack's figures from (fleet.overview: the latest
    succeeded by creation)."""
    return (
        VerificationRun.objects.filter(stack_id=stack_id, status=RunStatus.SUCCEEDED)
        .order_by("-created_at", "-id")
        .first()
    )


def _stack_row(page: str, label: str) -> str:
    """The dashboard's table row of one stack."""
    found = re.search(
        rf'<tr[^>]*data-stack="{re.escape(html.escape(label))}"[^>]*>(.*?)</tr>', page, re.S
    )
    assert found, f"no row for {label} on the dashboard"
    return found.group(1)


def _run_shown(row: str) -> str:
    """The uuid of the verification a stack's row takes its figures from: its "last
    verified" link."""
    found = re.search(r'<a class="when" href="[^"]*/verifications/([0-9a-f-]{36})/"', row)
    assert found, f"no verification named in the row: {row}"
    return found.group(1)


def test_refused_clients_open_incidents_show_beside_coverage_and_resolve_when_removed(
    estate: Lab,
):
    stack = sysa()
    LparConnection.objects.filter(lpar=stack.lpar).update(
        enabled=True, verification_interval=INTERVAL
    )
    wait_for(
        lambda: VerificationRun.objects.filter(stack=stack, status=RunStatus.SUCCEEDED).exists(),
        timeout=60,
        what="a first scheduled verification (the syslog is read from there on)",
    )

    deployment = finished(deploy(stack, publish(stack)))
    assert deployment.status == RunStatus.SUCCEEDED, (deployment.error, steps(deployment))
    # Sessions opened before the refresh keep their state until they end (as AT-TLS does);
    # end them now rather than wait out the clients' session length.
    estate.fault("drop")

    # Within one interval: the first verification after the deployment's own opens them.
    expected = {
        "TN3270_Cleartext": "5003",
        "TN3270_Secure": "412",
        PARTNER_RULE: "412",
    }
    found = wait_for(
        lambda: (
            all(open_incident(stack.id, name, deployment) for name in expected)
            and {name: open_incident(stack.id, name, deployment) for name in expected}
        ),
        timeout=3 * INTERVAL + 30,
        what=f"refused-clients incidents for {sorted(expected)}",
    )
    after = VerificationRun.objects.filter(
        stack=stack, created_at__gt=deployment.finished_at, deployment__isnull=True
    ).order_by("created_at")
    within_one_interval = {str(run.uuid) for run in after[:2]}
    for name, code in expected.items():
        incident = found[name]
        assert incident.service is not None and incident.service.name == name
        assert incident.preceded_by_id == deployment.pk
        assert str(deployment.uuid)[:8] in incident.summary
        assert code in incident.details["codes"], incident.details
        assert incident.details["codes"][code]["meaning"].startswith(code + " ")
        assert incident.details["peers"], incident.details
        assert incident.failing_handshakes
        assert incident.details["opened_by_run"] in within_one_interval or incident.details[
            "opened_by_run"
        ] in {str(r.uuid) for r in deployment.verifications.all()}, incident.details[
            "opened_by_run"
        ]
    assert found["TN3270_Cleartext"].details["families"].get("cleartext")
    assert found[PARTNER_RULE].details["families"].get("protocol")
    assert "outbound handshake(s)" in found[PARTNER_RULE].summary
    # One incident per service, however many runs see the refusals.
    time.sleep(INTERVAL)
    assert (
        Incident.objects.filter(
            stack=stack, key=f"refused:{PARTNER_RULE}", resolved_at=None
        ).count()
        == 1
    )

    # The dashboard: coverage of the sessions, and beside it the refused attempts, not green.
    # Verifications go on every INTERVAL meanwhile, so the run to compare with is the one the
    # page says it shows (the stack's row links to it), not whichever is newest once the page
    # is read: that one may have finished after the rendering, with a count of its own. It
    # must be no older than the newest run that had finished before the page was asked for.
    newest_before = _latest_succeeded(stack.id)
    client = Client()
    client.force_login(User.objects.get(username="operator"))
    page = client.get(reverse("dashboard")).content.decode()
    assert 'data-testid="tile-refused"' in page
    assert 'class="tile good" data-testid="tile-coverage"' not in page
    row = _stack_row(page, stack.label)
    shown = VerificationRun.objects.get(uuid=_run_shown(row))
    assert shown.stack_id == stack.id and shown.status == RunStatus.SUCCEEDED, _state(stack.id)
    assert newest_before is not None
    assert (shown.created_at, shown.pk) >= (newest_before.created_at, newest_before.pk), (
        f"the dashboard shows run {shown.uuid}, older than {newest_before.uuid}: "
        + _state(stack.id)
    )
    assert shown.results["refused"] > 0, _state(stack.id)
    assert f"{shown.results['refused']} refused" in row, (shown.results["refused"], row)

    # Remove the partner's rule through its incident: an architect publishes v2 without it,
    # an operator requests the deployment, another approves (four eyes).
    partner = found[PARTNER_RULE]
    version, requested = fleet.incident_remove_rule(
        incident=partner, actor=User.objects.get(username="architect")
    )
    assert requested is None and PARTNER_RULE not in version.text
    request = fleet.deployment_request(
        actor=User.objects.get(username="operator"), targets=[(stack, version)], note="incident"
    )
    removal = finished(
        fleet.deployment_approve(deployment=request, actor=User.objects.get(username="operator2"))
    )
    assert removal.status == RunStatus.SUCCEEDED, (removal.error, steps(removal))

    resolved = wait_for(
        lambda: Incident.objects.filter(pk=partner.pk, resolved_at__isnull=False).first(),
        timeout=4 * INTERVAL + 30,
        what="the partner's incident to resolve once its rule is gone",
    )
    assert resolved.resolution
    # The other services' clients are still refused: their incidents stay open.
    assert open_incident(stack.id, "TN3270_Cleartext", deployment) is not None
