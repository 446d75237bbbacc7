"""Reviewing a pending deployment in a real browser: the stale warning and its second
confirmation swapped in by htmx, a rejection with its reason, the requester's cancel."""

from __future__ import annotations

import pytest

from fleet.models import Deployment, RunStatus
from fleet.services import deployment_request
from tests.fleet.ui_estate import build_fleet, reinstate_pending, withdraw_pending

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_stale_request_needs_a_second_confirmation_then_is_rejected_and_another_cancelled(
    page, live_server, sign_in, make_user, shot
):
    fleet = build_fleet(make_user, observations=1, hours=1)
    withdraw_pending(fleet)  # one pending request per stack: the estate's waits its turn
    stale = deployment_request(actor=fleet.people["operator"], targets=[(fleet.sysa, fleet.v1)])

    sign_in(fleet.people["operator2"])
    page.goto(f"{live_server.url}/fleet/deployments/{stale.uuid}/")
    panel = page.locator("#approve-panel")
    expect(panel.get_by_test_id("stale-warning")).to_contain_text(
        "v1 is no longer the latest version of SYSA/TCPIP: v2 was published since."
    )
    expect(page.get_by_test_id("policy-file")).to_have_text("/etc/pagent/TCPIP.policy")

    # The first approval is answered with the warnings again and a second button (409, htmx).
    panel.get_by_role("button", name="Approve and run").click()
    expect(panel.get_by_test_id("confirm-stale")).to_be_visible()
    shot(page, "review-01-stale-needs-confirmation")
    assert Deployment.objects.get(pk=stale.pk).status == RunStatus.PENDING

    # Rejected instead, with a reason: the page reloads and says who and why.
    panel.locator("summary", has_text="Reject").click()
    panel.get_by_label("Reason for rejecting").fill("v2 is what we deploy now.")
    panel.get_by_role("button", name="Reject the deployment").click()
    expect(page.get_by_test_id("closed")).to_contain_text("Rejected by otto")
    expect(page.get_by_test_id("deployment-status")).to_have_text("Rejected")
    shot(page, "review-02-rejected")
    stale.refresh_from_db()
    assert stale.status == RunStatus.REJECTED and stale.close_reason == "v2 is what we deploy now."

    # The requester sees no approve button on their own request, and cancels it.
    reinstate_pending(fleet)
    sign_in(fleet.people["operator"])
    page.goto(f"{live_server.url}/fleet/deployments/{fleet.pending.uuid}/")
    panel = page.locator("#approve-panel")
    expect(panel).to_contain_text("You requested this deployment")
    expect(panel.get_by_role("button", name="Approve and run")).to_have_count(0)
    panel.locator("summary", has_text="Cancel").click()
    panel.get_by_role("button", name="Cancel the deployment").click()
    expect(page.get_by_test_id("deployment-status")).to_have_text("Cancelled")
    assert Deployment.objects.get(pk=fleet.pending.pk).status == RunStatus.CANCELLED
