"""A campaign's page in a real browser: the planner freezes the baseline and leaves the design
phase with htmx; the timeline, figures and next action follow."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from policies.choices import Phase
from rollouts import services
from rollouts.models import Campaign
from tests.rollouts.support import reference_estate, verified

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_planner_freezes_the_baseline_on_the_campaign_page(
    page, live_server, sign_in, make_user, shot
):
    estate = reference_estate()
    alice = make_user("alice", Role.ARCHITECT)
    campaign = services.campaign_create(
        actor=alice, name="SYSA and SYSB", stacks=estate, bake_seconds=120
    )
    for stack in estate:
        verified(stack, secured=False)

    sign_in(alice)
    page.goto(f"{live_server.url}/campaigns/")
    page.get_by_role("link", name="SYSA and SYSB").click()
    expect(page.get_by_test_id("campaign-phase")).to_have_text("Traffic inventory")
    expect(page.get_by_test_id("timeline")).to_be_visible()
    expect(page.get_by_test_id("next-action")).to_contain_text("Freeze the baseline")

    page.get_by_role("button", name="Freeze the baseline").click()
    expect(page.get_by_test_id("campaign-phase")).to_have_text("Policy design")
    expect(page.locator('[data-figure="coverage"]')).to_contain_text("40.0 %")
    expect(page.locator(".alert-success")).to_contain_text("Baseline frozen")
    shot(page, "campaign-01-baseline-frozen")
    assert Campaign.objects.get(pk=campaign.pk).phase == Phase.DESIGN

    # An operator's action is not offered to an architect: the page says who may.
    page.get_by_role("button", name="Leave the design phase").click()
    expect(page.get_by_test_id("campaign-phase")).to_have_text("Pilot")
    expect(page.get_by_test_id("next-action")).to_contain_text("Who may: an operator")
    expect(page.get_by_role("button", name="Promote")).to_have_count(0)
    shot(page, "campaign-02-pilot")
