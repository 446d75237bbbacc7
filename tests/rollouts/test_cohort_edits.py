"""The cohorts' shape and a campaign's planning through the API: the same service functions
as the pages, the same refusals (403 role, 409 state, 400 field), nothing changed by any."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.roles import Role
from policies.models import ChangeRecord, Stack
from rollouts import cohorts, services
from rollouts.models import Campaign, CohortKind

BASE = "/api/campaigns/"


def client_of(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def shape(campaign: Campaign) -> list[tuple[int, str, str, list[str]]]:
    return [
        (c.position, c.name, c.kind, sorted(s.name for s in c.services.all()))
        for c in campaign.cohorts.order_by("position")
    ]


def test_the_api_plans_with_a_duration_an_owner_and_auto_promotion(estate, people):
    made = client_of(people["alice"]).post(
        BASE,
        {
            "name": "Through the API",
            "stacks": ["SYSA/TCPIP"],
            "bake_seconds": "2m",
            "owner": "bob",
            "auto_promote": True,
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    campaign = Campaign.objects.get(uuid=made.json()["uuid"])
    assert campaign.bake_seconds == 120 and made.json()["auto_promote"] is True
    assert campaign.owner == people["bob"] and campaign.auto_promote_approver == people["alice"]

    before = Campaign.objects.count(), ChangeRecord.objects.count()
    for body, field in [
        ({"bake_seconds": "soon"}, "bake_seconds"),
        ({"bake_seconds": 0}, "bake_seconds"),
        ({"owner": "carol"}, "owner"),  # an auditor owns no campaign
        ({"owner": "nobody"}, "owner"),
        ({"auto_promote": True}, "auto_promote"),  # alice would allow her own campaign's
        ({"stacks": ["SYSA/TCPIP", "LAB1/TCPIP"], "lab_stack": "LAB1/TCPIP"}, "lab_stack"),
    ]:
        refused = client_of(people["alice"]).post(
            BASE, {"name": "Refused", "stacks": ["SYSA/TCPIP"]} | body, format="json"
        )
        assert refused.status_code == 400, (body, refused.content)
        assert field in refused.json(), refused.json()
    assert (Campaign.objects.count(), ChangeRecord.objects.count()) == before


def test_the_cohorts_shape_through_the_api_and_who_may_change_it(estate, people, make_user):
    campaign = services.campaign_create(
        actor=people["alice"], name="Shape", stacks=estate, bake_seconds=60
    )
    url = f"{BASE}{campaign.uuid}/"
    alice = client_of(people["alice"])
    added = alice.post(url + "cohort-add/", {"name": "Last ones"}, format="json")
    assert added.status_code == 200 and added.json()["cohorts"][-1]["name"] == "Last ones"
    assert (
        alice.post(url + "cohort-move/", {"position": 3, "to": 1}, format="json").status_code == 200
    )
    renamed = alice.post(url + "cohort-rename/", {"position": 1, "name": "Second"}, format="json")
    assert [c["name"] for c in renamed.json()["cohorts"]][:2] == ["Pilot: Low tier", "Second"]
    assert alice.post(url + "cohort-remove/", {"position": 1}, format="json").status_code == 200
    assert len(shape(campaign)) == 3

    before, records = shape(campaign), ChangeRecord.objects.count()
    carol = client_of(people["carol"])
    for action, body in [
        ("cohort-add", {"name": "x"}),
        ("cohort-move", {"position": 1, "to": 2}),
        ("cohort-rename", {"position": 0, "name": "x"}),
        ("cohort-remove", {"position": 0}),
    ]:
        assert carol.post(url + f"{action}/", body, format="json").status_code == 403
    refused = alice.post(url + "cohort-remove/", {"position": 0}, format="json")
    assert (
        refused.status_code == 409
        and "move them to another cohort first" in refused.json()["detail"]
    )
    missing = alice.post(url + "cohort-rename/", {"position": 8, "name": "x"}, format="json")
    assert missing.status_code == 400 and "position" in missing.json()
    assert shape(campaign) == before and ChangeRecord.objects.count() == records


def test_setting_a_cohorts_services_leaves_none_of_the_scope_in_no_cohort(estate, people):
    campaign = services.campaign_create(actor=people["alice"], name="Sets", stacks=estate)
    low = campaign.cohorts.get(position=0)
    cohorts.cohort_add(actor=people["alice"], campaign=campaign, name="Empty")  # holds none
    before = shape(campaign)
    url = f"{BASE}{campaign.uuid}/cohort/"
    # Emptying the pilot would leave its services in no cohort: their rules would then be in
    # every version from the first step on, ungated.
    refused = client_of(people["alice"]).post(url, {"position": 0, "services": []}, format="json")
    assert refused.status_code == 400 and "would be left in no cohort" in str(refused.json())
    assert shape(campaign) == before
    assert low.services.exists()


def test_the_lab_cohort_stays_first_and_the_first_cohort_after_it_is_the_pilot(estate, people):
    lab = Stack.objects.get(lpar__name="LAB1")
    campaign = services.campaign_create(
        actor=people["alice"], name="Lab", stacks=estate, lab_stack=lab
    )
    lab_cohort = campaign.cohorts.get(position=0)
    assert lab_cohort.kind == CohortKind.LAB
    with pytest.raises(services.CampaignRefused, match="lab cohort"):
        cohorts.cohort_move(actor=people["alice"], cohort=lab_cohort, position=2)
    with pytest.raises(services.CampaignRefused, match="lab cohort"):
        cohorts.cohort_remove(actor=people["alice"], cohort=lab_cohort)
    high = campaign.cohorts.get(position=3)
    with pytest.raises(Exception, match="A position from 1 to 3"):
        cohorts.cohort_move(actor=people["alice"], cohort=high, position=0)
    cohorts.cohort_move(actor=people["alice"], cohort=high, position=1)
    assert [(p, k) for p, _, k, _ in shape(campaign)] == [
        (0, CohortKind.LAB),
        (1, CohortKind.PILOT),
        (2, CohortKind.ROLLOUT),
        (3, CohortKind.ROLLOUT),
    ]
    assert shape(campaign)[1][1] == "Rollout: High tier"  # its name is the person's to change


def test_an_auditor_cannot_edit_cohorts_through_the_services_either(estate, people, make_user):
    campaign = services.campaign_create(actor=people["alice"], name="Roles", stacks=estate)
    cohort = campaign.cohorts.get(position=1)
    for call in (
        lambda: cohorts.cohort_add(actor=people["carol"], campaign=campaign, name="x"),
        lambda: cohorts.cohort_rename(actor=people["carol"], cohort=cohort, name="x"),
        lambda: cohorts.cohort_move(actor=people["carol"], cohort=cohort, position=2),
        lambda: cohorts.cohort_remove(actor=people["carol"], cohort=cohort),
    ):
        with pytest.raises(services.CampaignForbidden):
            call()
    ada = make_user("ada", Role.ARCHITECT)
    assert cohorts.cohort_rename(actor=ada, cohort=cohort, name="By ada").name == "By ada"


def test_promoting_into_an_empty_cohort_is_refused_saying_which(estate, people):
    from tests.rollouts.support import planned

    campaign = planned(estate, people)
    empty = cohorts.cohort_add(actor=people["alice"], campaign=campaign, name="Nobody yet")
    cohorts.cohort_move(actor=people["alice"], cohort=empty, position=0)

    with pytest.raises(services.CampaignRefused, match="Nobody yet, holds no service"):
        services.campaign_promote(actor=people["alice"], campaign=campaign)
    assert not campaign.steps.exists()
