"""The planning pages: a new campaign, its cohorts' editor, its gates and bake time.

Each form goes through the service the API uses; a field error answers 422 with the line of
what is wrong on its field, a refused state 409, a role without planning 403, and none of them
saves anything: neither the campaign nor its cohorts nor the change log.
"""

from __future__ import annotations

import html as html_text
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from policies.models import ChangeRecord, Service, Stack
from rollouts import services
from rollouts.models import Campaign, Check, Cohort, CohortKind, default_gates
from rollouts.planning_views import layout_key
from tests.rollouts.support import planned

NEW = reverse("rollouts:campaign-new")


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def stack(label: str) -> Stack:
    lpar, name = label.split("/")
    return Stack.objects.get(lpar__name=lpar, name=name)


def service(label: str, name: str) -> Service:
    return Service.objects.get(stack=stack(label), name=name)


def field_errors(html: str, field: str) -> list[str]:
    """The error lines the page shows on one field (its data-field block)."""
    block = re.search(
        rf'data-field="{re.escape(field)}"(.*?)(?=data-field="|</fieldset>|</table>)', html, re.S
    )
    assert block, f"no field {field} on the page"
    found = re.findall(r'<p class="field-error">(.*?)</p>', block.group(1), re.S)
    return [html_text.unescape(line) for line in found]


def new_campaign_body(**changes: Any) -> dict[str, Any]:
    gates = default_gates()
    body: dict[str, Any] = {
        "name": "Pilot from the browser",
        "description": "SYSA's web tier first",
        "stacks": [str(stack("SYSA/TCPIP").uuid), str(stack("SYSB/TCPIP").uuid)],
        "services": [
            str(s.uuid)
            for s in Service.objects.filter(
                stack__lpar__name__in=["SYSA", "SYSB"], included=True, rule__isnull=False
            )
        ],
        "owner": "alice",
        "lab_stack": "",
        "bake": "7d",
    }
    for check in Check:
        body[f"{check.value}_threshold"] = gates[check]["threshold"]
        body[f"{check.value}_failure_limit"] = gates[check]["failure_limit"]
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def saved() -> tuple[object, ...]:
    return (
        Campaign.objects.count(),
        Cohort.objects.count(),
        ChangeRecord.objects.count(),
        tuple(Campaign.objects.order_by("pk").values_list("bake_seconds", "gates", "name")),
        tuple(Cohort.objects.order_by("pk").values_list("position", "name", "kind")),
        tuple(
            Cohort.services.through.objects.order_by("pk").values_list("cohort_id", "service_id")
        ),
    )


# --- a new campaign ----------------------------------------------------------------------------


def test_a_planner_plans_a_campaign_from_the_list_page(estate, people):
    alice = signed_in(people["alice"])
    listing = alice.get(reverse("rollouts:campaigns")).content.decode()
    assert f'href="{NEW}"' in listing

    page = alice.get(NEW)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Tick the campaign's stacks above" in html
    assert 'value="7d"' in html and 'value="100.0"' in html  # the defaults shown

    # Ticking SYSA lists SYSA's services only, with its target design, all ticked at first.
    sysa = stack("SYSA/TCPIP")
    scope = alice.get(
        NEW, {"stacks": [str(sysa.uuid)]}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="campaign-scope"
    )
    part = scope.content.decode()
    assert "<html" not in part and 'data-stack="SYSA/TCPIP"' in part
    assert 'data-stack="SYSB/TCPIP"' not in part
    assert 'data-testid="target-design"' in part and "rule" in part
    sysa_services = Service.objects.filter(stack=sysa, included=True, rule__isnull=False)
    assert part.count('name="services"') == sysa_services.count()
    assert part.count(" checked") == sysa_services.count()
    # What the person unticked stays unticked when another stack is added.
    first = sysa_services.first()
    again = alice.get(
        NEW,
        {
            "stacks": [str(sysa.uuid), str(stack("SYSB/TCPIP").uuid)],
            "shown_stacks": [str(sysa.uuid)],
            "services": [str(s.uuid) for s in sysa_services if s != first],
        },
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="campaign-scope",
    ).content.decode()
    assert f'value="{first.uuid}">' in again and f'value="{first.uuid}" checked' not in again

    low = list(Service.objects.filter(stack=sysa, tier="low", rule__isnull=False, included=True))
    high = list(Service.objects.filter(stack=sysa, tier="high", rule__isnull=False, included=True))
    body = new_campaign_body(
        stacks=[str(sysa.uuid)],
        services=[str(s.uuid) for s in low + high],
        owner="bob",
        lab_stack=str(stack("LAB1/TCPIP").uuid),
        bake="2m",
        auto_promote="on",
        coverage_threshold="95",
        latency_failure_limit="3",
    )
    records = ChangeRecord.objects.count()
    made = alice.post(NEW, body)
    assert made.status_code == 302, made.content.decode()[:3000]
    campaign = Campaign.objects.get(name="Pilot from the browser")
    assert made["Location"] == reverse("rollouts:campaign", args=[campaign.uuid])
    assert campaign.bake_seconds == 120
    assert campaign.owner == people["bob"] and campaign.created_by == people["alice"]
    assert campaign.auto_promote and campaign.auto_promote_approver == people["alice"]
    assert campaign.lab_stack == stack("LAB1/TCPIP")
    assert campaign.gates["coverage"] == {"threshold": 95.0, "failure_limit": 5}
    assert campaign.gates["latency"]["failure_limit"] == 3
    assert set(campaign.services.all()) == set(low + high)
    assert [(c.kind, c.tier) for c in campaign.cohorts.all()] == [
        ("lab", ""),
        ("pilot", "low"),
        ("rollout", "high"),
    ]
    record = ChangeRecord.objects.get(action="create", object_uuid=campaign.uuid)
    assert record.actor == people["alice"] and record.after["auto_promote"] is True
    assert ChangeRecord.objects.count() == records + 1
    # htmx gets the campaign's page by HX-Location.
    answer = alice.post(NEW, {**body, "name": "Second"}, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200 and "HX-Location" in answer


INVALID = {
    "name missing": ({"name": ""}, "name", "This field is required."),
    "name taken": ({"name": "SYSA and SYSB"}, "name", "already exists"),
    "no stack": ({"stacks": [], "services": []}, "stacks", "Choose at least one stack."),
    "no service": ({"services": []}, "services", "Choose at least one service"),
    "service off the stacks": (
        "sysb-service-only-sysa",
        "services",
        "Not on the campaign's stacks: SYSB",
    ),
    "bake unreadable": ({"bake": "7x"}, "bake", "is not a duration"),
    "bake zero": ({"bake": "0s"}, "bake", "at least 1 second"),
    "bake units twice": ({"bake": "1m1m"}, "bake", "each unit once"),
    "coverage over 100": ({"coverage_threshold": "101"}, "coverage_threshold", "less than or"),
    "threshold negative": ({"latency_threshold": "-1"}, "latency_threshold", "greater than or"),
    "limit not whole": ({"drift_failure_limit": "1.5"}, "drift_failure_limit", "whole number"),
    "limit too high": ({"refusals_failure_limit": "1001"}, "refusals_failure_limit", "1000"),
    "owner not a planner": ({"owner": "carol"}, "owner", "Select a valid choice"),
    # A lab stack is not offered as a production one (the service refuses it too, as the
    # API test shows).
    "lab among the stacks": ("lab-in-stacks", "stacks", "Select a valid choice"),
    "auto-promotion by its owner": ({"auto_promote": "on"}, "auto_promote", "owner may not"),
    "auto-promotion by an architect": ("architect-auto", "auto_promote", "only an operator"),
}


@pytest.mark.parametrize("case", INVALID, ids=list(INVALID))
def test_a_new_campaign_with_a_wrong_field_says_what_on_that_field_and_saves_nothing(
    case, estate, people, make_user
):
    planned(estate, people)  # "SYSA and SYSB" exists
    changes, field, line = INVALID[case]
    client = signed_in(people["alice"])
    if changes == "sysb-service-only-sysa":
        changes = {"stacks": [str(stack("SYSA/TCPIP").uuid)]}
    elif changes == "lab-in-stacks":
        lab = str(stack("LAB1/TCPIP").uuid)
        changes = {"stacks": [str(stack("SYSA/TCPIP").uuid), lab], "lab_stack": lab}
    elif changes == "architect-auto":
        client = signed_in(make_user("ada", Role.ARCHITECT))
        changes = {"owner": "alice", "auto_promote": "on"}
    assert isinstance(changes, dict)
    before = saved()

    answer = client.post(NEW, new_campaign_body(**changes))

    assert answer.status_code == 422
    errors = field_errors(answer.content.decode(), field)
    assert any(line in error for error in errors), errors
    assert saved() == before


def test_who_may_not_plan_gets_403_for_the_new_campaign_page_and_nothing_is_saved(
    estate, people, make_user
):
    before = saved()
    for user in (people["carol"], make_user("adam", Role.ADMIN), make_user("owen", Role.APP_OWNER)):
        client = signed_in(user)
        assert client.get(NEW).status_code == 403
        assert client.post(NEW, new_campaign_body(owner="alice")).status_code == 403
        listing = client.get(reverse("rollouts:campaigns"))
        assert f'href="{NEW}"' not in listing.content.decode()
    assert saved() == before


# --- gates and bake time ---------------------------------------------------------------------


def gates_body(campaign: Campaign, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"bake": f"{campaign.bake_seconds}s"}
    for check in Check:
        body[f"{check.value}_threshold"] = campaign.gate(check)["threshold"]
        body[f"{check.value}_failure_limit"] = campaign.gate(check)["failure_limit"]
    body.update(changes)
    return body


def test_a_planner_changes_gates_and_bake_time_while_the_campaign_runs(estate, people, make_user):
    campaign = planned(estate, people)
    services.campaign_promote(actor=people["alice"], campaign=campaign)  # a step runs
    ada = signed_in(make_user("ada", Role.ARCHITECT))  # architects plan too
    url = reverse("rollouts:campaign-gates", args=[campaign.uuid])
    page = ada.get(reverse("rollouts:campaign", args=[campaign.uuid])).content.decode()
    assert f'href="{url}"' in page
    form = ada.get(url).content.decode()
    assert 'value="1m"' in form  # the bake time as a duration

    answer = ada.post(url, gates_body(campaign, bake="1h30m", unpredicted_threshold="2"))

    assert answer.status_code == 302
    campaign.refresh_from_db()
    assert campaign.bake_seconds == 5400
    assert campaign.gates["unpredicted"] == {"threshold": 2.0, "failure_limit": 0}
    record = ChangeRecord.objects.filter(object_uuid=campaign.uuid).first()
    assert record is not None and record.action == "update"
    assert record.actor.username == "ada"
    assert record.before["bake_seconds"] == 60 and record.after["bake_seconds"] == 5400


@pytest.mark.parametrize(
    ("changes", "field", "line"),
    [
        ({"coverage_threshold": "100.5"}, "coverage_threshold", "less than or equal to 100"),
        ({"incidents_failure_limit": ""}, "incidents_failure_limit", "required"),
        ({"bake": "soon"}, "bake", "is not a duration"),
        ({"bake": "400d"}, "bake", "At most 366 days"),
    ],
)
def test_wrong_gate_settings_are_refused_on_their_field_and_nothing_changes(
    changes, field, line, estate, people
):
    campaign = planned(estate, people)
    url = reverse("rollouts:campaign-gates", args=[campaign.uuid])
    before = saved()
    answer = signed_in(people["alice"]).post(url, gates_body(campaign, **changes))
    assert answer.status_code == 422
    assert any(line in e for e in field_errors(answer.content.decode(), field))
    assert saved() == before


def test_gates_of_a_finished_campaign_are_refused_and_roles_without_planning_get_403(
    estate, people
):
    campaign = planned(estate, people)
    url = reverse("rollouts:campaign-gates", args=[campaign.uuid])
    carol = signed_in(people["carol"])
    before = saved()
    assert carol.get(url).status_code == 403
    assert carol.post(url, gates_body(campaign, bake="1s")).status_code == 403
    page = carol.get(reverse("rollouts:campaign", args=[campaign.uuid])).content.decode()
    assert f'href="{url}"' not in page
    assert saved() == before

    services.campaign_abort(actor=people["alice"], campaign=campaign, reason="changed plans")
    before = saved()
    refused = signed_in(people["alice"]).post(url, gates_body(campaign, bake="1s"))
    assert refused.status_code == 409
    assert "The campaign is aborted." in refused.content.decode()
    assert saved() == before


# --- the cohorts' editor -----------------------------------------------------------------------


def cohort_post(client: Client, campaign: Campaign, action: str, **body: Any) -> Any:
    body.setdefault("layout", layout_key(campaign))
    return client.post(reverse(f"rollouts:cohort-{action}", args=[campaign.uuid]), body)


def layout(campaign: Campaign) -> list[tuple[int, str, str, list[str]]]:
    return [
        (c.position, c.name, c.kind, sorted(s.name for s in c.services.all()))
        for c in campaign.cohorts.order_by("position")
    ]


def test_a_planner_moves_a_service_adds_renames_reorders_and_removes_cohorts(estate, people):
    campaign = planned(estate, people)
    alice = signed_in(people["alice"])
    editor = reverse("rollouts:campaign-cohorts", args=[campaign.uuid])
    assert (
        f'href="{editor}"'
        in alice.get(reverse("rollouts:campaign", args=[campaign.uuid])).content.decode()
    )
    assert alice.get(editor).status_code == 200
    low, _medium, high = campaign.cohorts.order_by("position")
    moving = low.services.order_by("name").first()
    records = ChangeRecord.objects.count()

    moved = cohort_post(alice, campaign, "move-service", service=str(moving.uuid), to=2)
    assert moved.status_code == 302 and moved["Location"] == editor
    assert moving in high.services.all() and moving not in low.services.all()

    assert cohort_post(alice, campaign, "add", name="  Stragglers ").status_code == 302
    assert cohort_post(alice, campaign, "rename", position=1, name="Middle").status_code == 302
    assert cohort_post(alice, campaign, "move", position=3, to=0).status_code == 302
    after = layout(campaign)
    assert [(p, n, k) for p, n, k, _ in after] == [
        (0, "Stragglers", CohortKind.PILOT),  # the first is the pilot now
        (1, low.name, CohortKind.ROLLOUT),
        (2, "Middle", CohortKind.ROLLOUT),
        (3, high.name, CohortKind.ROLLOUT),
    ]
    assert cohort_post(alice, campaign, "remove", position=0).status_code == 302
    assert [(p, k) for p, _, k, _ in layout(campaign)] == [
        (0, CohortKind.PILOT),
        (1, CohortKind.ROLLOUT),
        (2, CohortKind.ROLLOUT),
    ]
    actions = list(
        ChangeRecord.objects.filter(object_uuid=campaign.uuid)
        .order_by("id")
        .values_list("action", flat=True)
    )[-5:]
    assert actions == ["cohort", "cohort add", "cohort rename", "cohort move", "cohort remove"]
    assert ChangeRecord.objects.count() == records + 5
    page = alice.get(editor).content.decode()
    assert f'data-service="{moving.stack.label} {moving.name}"' in page


def test_a_started_cohort_is_fixed_every_edit_of_it_is_refused_and_nothing_changes(estate, people):
    campaign = planned(estate, people)
    services.campaign_promote(actor=people["alice"], campaign=campaign)  # the pilot's step
    alice = signed_in(people["alice"])
    pilot = campaign.cohorts.get(position=0)
    in_pilot = pilot.services.order_by("name").first()
    before, records = layout(campaign), ChangeRecord.objects.count()

    attempts = [
        (
            "move-service",
            {"service": str(in_pilot.uuid), "to": 1},
            "belongs to a cohort that has started",
        ),
        ("rename", {"position": 0, "name": "Renamed"}, "has started"),
        ("remove", {"position": 0}, "has started"),
        ("move", {"position": 0, "to": 1}, "has started"),
        ("move", {"position": 2, "to": 0}, "A position from 1 to 2"),
    ]
    for action, body, line in attempts:
        answer = cohort_post(alice, campaign, action, **body)
        assert answer.status_code in (409, 422), (action, answer.status_code)
        assert line in answer.content.decode(), action
    # Into the started pilot: refused too.
    later = campaign.cohorts.get(position=1).services.first()
    answer = cohort_post(alice, campaign, "move-service", service=str(later.uuid), to=0)
    assert answer.status_code == 409 and "has started" in answer.content.decode()
    assert layout(campaign) == before
    assert ChangeRecord.objects.count() == records

    page = alice.get(reverse("rollouts:campaign-cohorts", args=[campaign.uuid])).content.decode()
    assert "started: fixed" in page
    assert f'name="service" value="{in_pilot.uuid}"' not in page  # no move form offered


@pytest.mark.parametrize(
    ("action", "body", "line"),
    [
        ("add", {"name": "   "}, "Give the cohort a name."),
        ("add", {"name": "pilot: low tier"}, "has a cohort named"),
        ("add", {"name": "x" * 65}, "At most 64 characters."),
        ("rename", {"position": 1, "name": ""}, "Give the cohort a name."),
        ("rename", {"position": 9, "name": "Nine"}, "No cohort at this position."),
        ("move", {"position": 1, "to": 7}, "A position from 0 to 2"),
        ("move-service", {"service": "not-a-uuid", "to": 1}, "Enter a valid UUID."),
        ("move-service", {"to": 1}, "Choose a service."),
        ("remove", {"position": 1}, "move them to another cohort first"),
    ],
)
def test_a_wrong_cohort_edit_says_what_and_changes_nothing(action, body, line, estate, people):
    campaign = planned(estate, people)
    before, records = layout(campaign), ChangeRecord.objects.count()
    answer = cohort_post(signed_in(people["alice"]), campaign, action, **body)
    assert answer.status_code in (409, 422)
    assert line in answer.content.decode()
    assert layout(campaign) == before and ChangeRecord.objects.count() == records


def test_a_page_drawn_before_someone_else_changed_the_cohorts_is_refused(estate, people):
    campaign = planned(estate, people)
    drawn = layout_key(campaign)
    services_ = signed_in(people["bob"])
    assert cohort_post(services_, campaign, "move", position=2, to=0).status_code == 302
    before = layout(campaign)
    stale = cohort_post(
        signed_in(people["alice"]), campaign, "rename", position=0, name="X", layout=drawn
    )
    assert (
        stale.status_code == 409 and "changed since this page was drawn" in stale.content.decode()
    )
    assert layout(campaign) == before


def test_who_may_not_plan_gets_403_on_every_cohort_edit_and_nothing_changes(
    estate, people, make_user
):
    campaign = planned(estate, people)
    moving = campaign.cohorts.get(position=0).services.first()
    before, records = layout(campaign), ChangeRecord.objects.count()
    for user in (people["carol"], make_user("adam", Role.ADMIN)):
        client = signed_in(user)
        assert (
            client.get(reverse("rollouts:campaign-cohorts", args=[campaign.uuid])).status_code
            == 403
        )
        for action, body in [
            ("move-service", {"service": str(moving.uuid), "to": 1}),
            ("add", {"name": "More"}),
            ("rename", {"position": 0, "name": "X"}),
            ("remove", {"position": 0}),
            ("move", {"position": 1, "to": 2}),
        ]:
            assert cohort_post(client, campaign, action, **body).status_code == 403, action
    assert layout(campaign) == before and ChangeRecord.objects.count() == records
