"""Planning a campaign in a real browser: the new campaign form (its scope follows the stacks
ticked, through htmx), then a service moved between cohorts on the cohorts' editor."""

from __future__ import annotations

import pytest

from accounts.roles import Role
from policies.models import ChangeRecord, Service
from rollouts.models import Campaign
from tests.rollouts.support import reference_estate

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_planner_creates_a_campaign_and_moves_a_service_between_cohorts(
    page, live_server, sign_in, make_user, shot
):
    reference_estate()
    alice = make_user("alice", Role.ARCHITECT, Role.OPERATOR)
    sign_in(alice)

    page.goto(f"{live_server.url}/campaigns/")
    page.get_by_test_id("new-campaign").click()
    expect(page.get_by_role("heading", name="New campaign")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("Browser pilot")
    page.get_by_label("SYSA/TCPIP").check()
    scope = page.get_by_test_id("campaign-scope")
    expect(scope.locator('[data-stack="SYSA/TCPIP"]')).to_be_visible()
    expect(scope.locator('[data-stack="SYSB/TCPIP"]')).to_have_count(0)
    expect(scope.get_by_test_id("target-design")).to_contain_text("rule")
    # A service unticked stays unticked when another stack is ticked, then unticked again.
    first = scope.locator('input[name="services"]').first
    first.uncheck()
    page.get_by_label("SYSB/TCPIP").check()
    expect(scope.locator('[data-stack="SYSB/TCPIP"]')).to_be_visible()
    expect(scope.locator('input[name="services"]').first).not_to_be_checked()
    page.get_by_label("SYSB/TCPIP").uncheck()
    expect(scope.locator('[data-stack="SYSB/TCPIP"]')).to_have_count(0)
    page.get_by_label("Bake time").fill("2m")
    shot(page, "campaign-new-01-filled")
    page.get_by_test_id("create-campaign").click()

    expect(page.get_by_role("heading", name="Browser pilot")).to_be_visible()
    expect(page.locator(".alert-success")).to_contain_text("bake time 2m")
    campaign = Campaign.objects.get(name="Browser pilot")
    assert campaign.bake_seconds == 120
    scope_labels = {s.stack.label for s in campaign.services.select_related("stack__lpar")}
    assert scope_labels == {"SYSA/TCPIP"}
    sysa = Service.objects.filter(stack__lpar__name="SYSA", included=True, rule__isnull=False)
    assert campaign.services.count() == sysa.count() - 1  # the one unticked

    page.get_by_test_id("edit-cohorts").click()
    first, second = campaign.cohorts.order_by("position")[:2]
    moving = first.services.order_by("name").first()
    label = f"{moving.stack.label} {moving.name}"
    row = page.locator(f'tr[data-position="{first.position}"] [data-service="{label}"]')
    row.locator('select[name="to"]').select_option(label=second.name)
    row.get_by_role("button", name="Move").click()

    expect(page.locator(".alert-success")).to_contain_text(f"moved to {second.name}")
    target = page.locator(f'tr[data-position="{second.position}"]')
    expect(target.locator(f'[data-service="{label}"]')).to_be_visible()
    shot(page, "campaign-new-02-service-moved")
    assert moving in second.services.all() and moving not in first.services.all()
    assert ChangeRecord.objects.filter(object_uuid=campaign.uuid, action="cohort").exists()
