"""Change impact where people decide, in a real browser: shown open and loaded without a click,
above the button that requests or approves the change."""

from __future__ import annotations

import pytest
from django.urls import reverse

from policies.models import PolicyVersion
from tests.fleet.test_impact import CLIENT, request_change, seen
from tests.fleet.ui_estate import build_fleet, withdraw_pending

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_request_and_review_pages_show_the_impact_open_above_their_buttons(
    page, live_server, sign_in, make_user, shot
):
    fleet = build_fleet(make_user, observations=1, hours=1)
    withdraw_pending(fleet)
    seen(fleet.service_a, CLIENT)  # cleartext on a port the change secures: it will break
    PolicyVersion.objects.create(  # a version SYSA does not run yet, to request
        stack=fleet.sysa, number=3, text=fleet.v2.text, sha256=fleet.v2.sha256,
        model=fleet.v2.model, author=fleet.people["architect"], parent=fleet.v2,
    )  # fmt: skip

    # Requesting: every stack's prediction loads with the page, no summary to open.
    sign_in(fleet.people["operator"])
    page.goto(f"{live_server.url}{reverse('fleet:deployment-new')}")
    stacks = page.get_by_test_id("impact-stack")
    assert stacks.count() >= 1
    for index in range(stacks.count()):
        expect(stacks.nth(index).get_by_test_id("impact-panel")).to_be_visible()
    request = page.get_by_role("button", name="Request deployment")
    assert _top(page.get_by_test_id("impact-preview")) < _top(request)
    shot(page, "impact-01-request-page")

    # Approving: the peer that will break is on screen, above the approve button.
    deployment = request_change(fleet)
    sign_in(fleet.people["operator2"])
    page.goto(f"{live_server.url}{reverse('fleet:deployment', args=[deployment.uuid])}")
    peer = page.locator(f'[data-testid="impact-peers"] tr[data-peer="CICSWEB1 {CLIENT}"]')
    expect(peer).to_be_visible()
    approve = page.get_by_role("button", name="Approve and run")
    assert _top(peer) < _top(approve)
    shot(page, "impact-02-review-page")


def _top(locator) -> float:
    box = locator.bounding_box()
    assert box is not None
    return box["y"]
