"""Reviewing a pending deployment: four eyes, reject, cancel, stale requests, the live diff.

Through the page (htmx and plain POST) and the REST API alike: a forbidden action answers 403
and changes nothing (no status change, no audit record); every action taken is in the audit
log.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.roles import Role, ensure_role_groups
from fleet.deploy import claim
from fleet.models import Deployment, RunStatus, TargetStatus
from fleet.selectors import live_policy_text
from fleet.services import deployment_request
from policies.models import ChangeRecord, PolicyVersion
from tests.fleet.ui_estate import (
    FleetEstate,
    _succeed,
    build_fleet,
    reinstate_pending,
    withdraw_pending,
)

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true", "HX-Target": "approve-panel"}
API = "/api/fleet"


@pytest.fixture
def fleet(make_user) -> FleetEstate:
    return build_fleet(make_user, observations=1, hours=1)


def page_as(fleet: FleetEstate, who: str) -> Client:
    client = Client()
    client.force_login(fleet.people[who])
    return client


def api_as(fleet: FleetEstate, who: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(fleet.people[who])
    return client


def url(name: str, deployment: Deployment) -> str:
    return reverse(f"fleet:deployment-{name}", args=[deployment.uuid])


def detail(deployment: Deployment) -> str:
    return reverse("fleet:deployment", args=[deployment.uuid])


def audit(deployment: Deployment) -> list[tuple[str, str, str]]:
    return [
        (r.action, r.actor.username if r.actor else "", r.note)
        for r in ChangeRecord.objects.filter(object_uuid=deployment.uuid).order_by("id")
    ]


def publish_v3(fleet: FleetEstate, text: str | None = None) -> PolicyVersion:
    lines = fleet.v2.text.splitlines(keepends=True)
    body = text if text is not None else "".join([*lines[:-1], "# v3 drops the last line\n"])
    return PolicyVersion.objects.create(
        stack=fleet.sysa,
        number=3,
        text=body,
        sha256="3" * 64,
        model=fleet.v2.model,
        author=fleet.people["architect"],
        note="v3",
        parent=fleet.v2,
    )


# --- four eyes -----------------------------------------------------------------------------------


def test_the_requester_cannot_approve_on_the_page_nothing_changes(fleet) -> None:
    pending = fleet.pending  # requested by olivia
    before = audit(pending)

    response = page_as(fleet, "operator").post(url("approve", pending), headers=HTMX)

    assert response.status_code == 403
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="approve-panel"')
    assert "You requested this deployment yourself; another operator must approve it." in body
    pending.refresh_from_db()
    assert pending.status == RunStatus.PENDING and pending.approved_by is None
    assert audit(pending) == before


def test_the_requester_cannot_approve_through_the_api_nothing_changes(fleet) -> None:
    pending = fleet.pending
    before = audit(pending)

    response = api_as(fleet, "operator").post(f"{API}/deployments/{pending.uuid}/approve/")

    assert response.status_code == 403
    assert "you requested this deployment yourself" in response.json()["detail"]
    pending.refresh_from_db()
    assert pending.status == RunStatus.PENDING
    assert audit(pending) == before


def test_the_requester_sees_no_approve_button_but_may_cancel(fleet) -> None:
    body = page_as(fleet, "operator").get(detail(fleet.pending)).content.decode()
    assert "You requested this deployment" in body
    assert "Approve and run" not in body
    assert url("cancel", fleet.pending) in body
    assert url("reject", fleet.pending) not in body

    other = page_as(fleet, "operator2").get(detail(fleet.pending)).content.decode()
    assert "Approve and run" in other and url("reject", fleet.pending) in other


def test_another_operator_approves_and_the_approval_is_in_the_audit_log(fleet) -> None:
    response = page_as(fleet, "operator2").post(url("approve", fleet.pending), headers=HTMX)

    assert response.status_code == 200 and response["HX-Location"]
    fleet.pending.refresh_from_db()
    assert fleet.pending.status == RunStatus.APPROVED
    assert audit(fleet.pending)[-1][:2] == ("approve", "otto")


# --- reject --------------------------------------------------------------------------------------


def test_reject_on_the_page_needs_a_reason_then_closes_the_deployment(fleet) -> None:
    pending = fleet.pending
    client = page_as(fleet, "operator2")

    blank = client.post(url("reject", pending), {"reject-reason": "  "}, headers=HTMX)
    assert blank.status_code == 422
    assert "Say why the deployment is rejected." in blank.content.decode()
    pending.refresh_from_db()
    assert pending.status == RunStatus.PENDING

    done = client.post(url("reject", pending), {"reject-reason": "Change window is closed."})
    assert done.status_code == 302
    pending.refresh_from_db()
    assert pending.status == RunStatus.REJECTED
    assert pending.closed_by == fleet.people["operator2"]
    assert pending.close_reason == "Change window is closed."
    assert pending.finished_at is not None
    assert {t.status for t in pending.targets.all()} == {TargetStatus.NOT_RUN}
    assert audit(pending)[-1] == ("reject", "otto", "Change window is closed.")

    page = client.get(detail(pending)).content.decode()
    assert "Rejected by otto" in page and "Change window is closed." in page
    listed = client.get(reverse("fleet:deployments") + "?status=closed").content.decode()
    assert str(pending.uuid)[:8] in listed and "badge run-rejected" in listed
    assert "Approve and run" not in page
    # A worker never runs it.
    assert claim(pending.id, "worker-x", stale_after=60) is None


def test_the_requester_may_not_reject_their_own_request(fleet) -> None:
    pending = fleet.pending
    response = page_as(fleet, "operator").post(
        url("reject", pending), {"reject-reason": "no"}, headers=HTMX
    )
    assert response.status_code == 403
    assert "cancel it instead" in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == RunStatus.PENDING


def test_reject_through_the_api(fleet) -> None:
    pending = fleet.pending
    client = api_as(fleet, "operator2")

    missing = client.post(f"{API}/deployments/{pending.uuid}/reject/", {})
    assert missing.status_code == 400
    assert missing.json()["reason"] == ["Say why the deployment is rejected."]

    response = client.post(
        f"{API}/deployments/{pending.uuid}/reject/", {"reason": "Wrong stack order."}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "rejected" and body["closed_by"] == "otto"
    assert body["close_reason"] == "Wrong stack order."
    assert audit(pending)[-1] == ("reject", "otto", "Wrong stack order.")

    again = client.post(f"{API}/deployments/{pending.uuid}/approve/")
    assert again.status_code == 409 and "rejected" in again.json()["detail"]


def test_an_auditor_cannot_reject_or_cancel(fleet) -> None:
    pending = fleet.pending
    for action in ("reject", "cancel"):
        page = page_as(fleet, "auditor").post(url(action, pending), {f"{action}-reason": "x"})
        api = api_as(fleet, "auditor").post(
            f"{API}/deployments/{pending.uuid}/{action}/", {"reason": "x"}
        )
        assert (page.status_code, api.status_code) == (403, 403)
    pending.refresh_from_db()
    assert pending.status == RunStatus.PENDING
    assert [a for a, _, _ in audit(pending)] == ["request"]


# --- cancel --------------------------------------------------------------------------------------


def test_the_requester_cancels_on_the_page(fleet) -> None:
    pending = fleet.pending
    response = page_as(fleet, "operator").post(
        url("cancel", pending), {"cancel-reason": "Superseded by the v3 request."}, headers=HTMX
    )
    assert response.status_code == 200 and response["HX-Location"]
    pending.refresh_from_db()
    assert pending.status == RunStatus.CANCELLED and pending.closed_by == fleet.people["operator"]
    assert audit(pending)[-1] == ("cancel", "olivia", "Superseded by the v3 request.")


def test_another_operator_cancels_through_the_api_and_a_cancelled_one_stays_cancelled(
    fleet,
) -> None:
    pending = fleet.pending
    client = api_as(fleet, "operator2")
    response = client.post(f"{API}/deployments/{pending.uuid}/cancel/", {})
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert audit(pending)[-1][:2] == ("cancel", "otto")

    again = client.post(f"{API}/deployments/{pending.uuid}/cancel/", {})
    assert again.status_code == 409
    assert [a for a, _, _ in audit(pending)] == ["request", "cancel"]


def test_an_approved_deployment_can_no_longer_be_cancelled(fleet) -> None:
    api_as(fleet, "operator2").post(f"{API}/deployments/{fleet.pending.uuid}/approve/")
    response = page_as(fleet, "operator").post(url("cancel", fleet.pending), headers=HTMX)
    assert response.status_code == 409
    assert "This deployment is approved." in response.content.decode()
    fleet.pending.refresh_from_db()
    assert fleet.pending.status == RunStatus.APPROVED


# --- stale requests ------------------------------------------------------------------------------


def test_a_request_for_a_version_no_longer_the_latest_warns_and_needs_a_second_confirmation(
    fleet,
) -> None:
    withdraw_pending(fleet)
    stale = deployment_request(actor=fleet.people["operator"], targets=[(fleet.sysa, fleet.v1)])
    client = page_as(fleet, "operator2")

    page = client.get(detail(stale)).content.decode()
    assert "v1 is no longer the latest version of SYSA/TCPIP: v2 was published since." in page

    first = client.post(url("approve", stale), headers=HTMX)
    assert first.status_code == 409
    body = first.content.decode()
    assert "v2 was published since" in body and 'data-testid="confirm-stale"' in body
    stale.refresh_from_db()
    assert stale.status == RunStatus.PENDING

    wrong = client.post(url("approve", stale), {"confirm": "0" * 16}, headers=HTMX)
    assert wrong.status_code == 409
    token = body.split('name="confirm" value="')[1].split('"')[0]

    confirmed = client.post(url("approve", stale), {"confirm": token}, headers=HTMX)
    assert confirmed.status_code == 200
    stale.refresh_from_db()
    assert stale.status == RunStatus.APPROVED
    record = ChangeRecord.objects.filter(object_uuid=stale.uuid, action="approve").get()
    assert record.after["confirmed"] == [
        "v1 is no longer the latest version of SYSA/TCPIP: v2 was published since."
    ]


def test_a_request_whose_stack_changed_since_warns_through_the_api(fleet) -> None:
    withdraw_pending(fleet)
    pending = fleet.pending
    # Another deployment of SYSA goes live after the request.
    other = deployment_request(actor=fleet.people["operator2"], targets=[(fleet.sysa, fleet.v2)])
    _succeed(other, fleet.people["operator"], timezone.now() + timedelta(seconds=1))
    reinstate_pending(fleet)
    client = api_as(fleet, "operator2")

    detail = client.get(f"{API}/deployments/{pending.uuid}/").json()
    assert detail["confirm"] and "changed since this was requested" in detail["stale"][0]["message"]

    first = client.post(f"{API}/deployments/{pending.uuid}/approve/")
    assert first.status_code == 409
    answer = first.json()
    assert answer["confirm"] == detail["confirm"]
    assert answer["stale"][0]["stack"] == "SYSA/TCPIP"
    assert f"deployment {str(other.uuid)[:8]} put v2 live" in answer["detail"]
    pending.refresh_from_db()
    assert pending.status == RunStatus.PENDING

    confirmed = client.post(
        f"{API}/deployments/{pending.uuid}/approve/", {"confirm": answer["confirm"]}
    )
    assert confirmed.status_code == 202 and confirmed.json()["status"] == "approved"


def test_another_deployment_of_the_stack_in_flight_warns_too(fleet) -> None:
    withdraw_pending(fleet)
    other = deployment_request(actor=fleet.people["operator2"], targets=[(fleet.sysa, fleet.v2)])
    api_as(fleet, "operator").post(f"{API}/deployments/{other.uuid}/approve/")
    reinstate_pending(fleet)  # requested before the other was approved

    first = api_as(fleet, "operator2").post(f"{API}/deployments/{fleet.pending.uuid}/approve/")

    assert first.status_code == 409
    assert (
        f"deployment {str(other.uuid)[:8]} of v2 to SYSA/TCPIP is approved now"
        in (first.json()["stale"][0]["message"])
    )


def test_a_fresh_request_is_approved_at_once(fleet) -> None:
    response = api_as(fleet, "operator2").post(f"{API}/deployments/{fleet.pending.uuid}/approve/")
    assert response.status_code == 202


# --- what it would change ------------------------------------------------------------------------


def test_request_and_approval_pages_show_the_diff_against_the_live_text_and_the_file(
    fleet,
) -> None:
    withdraw_pending(fleet)
    v3 = publish_v3(fleet)
    live = live_policy_text(fleet.sysa)
    assert (
        live is not None and live.text == fleet.v2.text and live.label.startswith("v2 (deployment ")
    )

    new = page_as(fleet, "operator").get(reverse("fleet:deployment-new")).content.decode()
    assert fleet.sysa.policy_file in new
    assert "SYSA/TCPIP v3" in new and "# v3 drops the last line" in new

    pending = deployment_request(actor=fleet.people["operator"], targets=[(fleet.sysa, v3)])
    page = page_as(fleet, "operator2").get(detail(pending)).content.decode()
    assert 'data-testid="live-diffs"' in page
    assert f'data-testid="policy-file">{fleet.sysa.policy_file}<' in page
    assert "Live: v2 (deployment " in page
    assert '<span class="line del">' in page and '<span class="line add">' in page


def test_a_stack_with_nothing_deployed_diffs_against_nothing(fleet) -> None:
    assert live_policy_text(fleet.sysb) is None


def test_the_publisher_of_the_previous_version_cannot_approve_the_rollback_to_it(fleet) -> None:
    withdraw_pending(fleet)
    ada = fleet.people["architect"]  # published v1 and v2
    ada.groups.add(ensure_role_groups()[Role.OPERATOR])
    requested = api_as(fleet, "operator").post(f"{API}/stacks/SYSA/TCPIP/rollback/", {})
    rollback = Deployment.objects.get(uuid=requested.json()["uuid"])

    page = page_as(fleet, "architect").post(
        reverse("fleet:deployment-approve", args=[rollback.uuid]), headers=HTMX
    )
    api = api_as(fleet, "architect").post(f"{API}/deployments/{rollback.uuid}/approve/")

    assert page.status_code == 403
    assert "You published SYSA/TCPIP v1 yourself" in page.content.decode()
    assert api.status_code == 403 and "you published SYSA/TCPIP v1" in api.json()["detail"]
    assert Deployment.objects.get(pk=rollback.pk).status == RunStatus.PENDING
