"""The campaigns API: every action through it, who may take it, and four eyes.

A refused action answers 403 (role, four eyes) or 409 (state) and changes nothing: neither
the campaign nor its steps nor the change log. Steps are started in-process (no worker).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.roles import Role
from fleet.models import Deployment, RunStatus
from policies.models import ChangeRecord
from rollouts import services, steps
from rollouts.models import ActionRequest, Campaign, Step, StepStatus
from tests.rollouts.support import deployed, planned, verified

BASE = "/api/campaigns/"


def client_of(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def snapshot(campaign: Campaign) -> tuple[object, ...]:
    campaign.refresh_from_db()
    return (
        campaign.phase,
        campaign.status,
        campaign.bake_seconds,
        campaign.auto_promote,
        tuple(campaign.steps.values_list("status", flat=True)),
        ActionRequest.objects.filter(step__campaign=campaign).count(),
        ChangeRecord.objects.count(),
        Deployment.objects.count(),
    )


OPERATOR_ACTIONS = {
    "promote": {},
    "approve": {},
    "pause": {"reason": "x"},
    "resume": {"reason": "x"},
    "skip-gate": {"reason": "x"},
    "abort": {"reason": "x"},
    "request-again": {"reason": "x"},
    "rule-rollback": {"service": "CICSWEB1", "reason": "x"},
    "auto-promote": {"enabled": True},
}
PLANNING_ACTIONS = {
    "baseline": {},
    "design-complete": {},
    "settings": {"bake_seconds": 5},
    "cohort": {"position": 0, "services": []},
}


def test_an_auditor_may_read_but_takes_no_action_and_an_architect_only_plans(
    estate, people, make_user
):
    architect = make_user("ada", Role.ARCHITECT)
    campaign = planned(estate, people)
    carol, ada = client_of(people["carol"]), client_of(architect)
    assert carol.get(BASE).json()["results"][0]["uuid"] == str(campaign.uuid)
    detail = carol.get(f"{BASE}{campaign.uuid}/").json()
    assert detail["baseline"]["coverage"] == 40.0
    assert detail["next_action"]["action"] == "promote"
    assert detail["next_action"]["yours"] is False
    before = snapshot(campaign)

    for name, body in {**OPERATOR_ACTIONS, **PLANNING_ACTIONS}.items():
        answer = carol.post(f"{BASE}{campaign.uuid}/{name}/", body, format="json")
        assert answer.status_code == 403, (name, answer.content)
    for name, body in OPERATOR_ACTIONS.items():
        answer = ada.post(f"{BASE}{campaign.uuid}/{name}/", body, format="json")
        assert answer.status_code == 403, (name, answer.content)
    assert (
        carol.post(BASE, {"name": "x", "stacks": ["SYSA/TCPIP"]}, format="json").status_code == 403
    )
    assert snapshot(campaign) == before

    # An app owner sees no campaign at all.
    owner = client_of(make_user("owen", Role.APP_OWNER))
    assert owner.get(f"{BASE}{campaign.uuid}/").status_code == 403


def test_a_campaign_is_planned_and_promoted_through_the_api(estate, people):
    alice = client_of(people["alice"])
    made = alice.post(
        BASE,
        {"name": "Pilot", "stacks": ["SYSA/TCPIP", "SYSB/TCPIP"], "bake_seconds": 30},
        format="json",
    )
    assert made.status_code == 201, made.content
    url = f"{BASE}{made.json()['uuid']}/"
    assert [c["tier"] for c in made.json()["cohorts"]] == ["low", "medium", "high"]
    assert made.json()["next_action"]["action"] == "baseline"

    # Nothing verified yet: the baseline is refused with the reason, nothing changed.
    refused = alice.post(url + "baseline/")
    assert refused.status_code == 409 and "no verification" in refused.json()["detail"]
    for stack in estate:
        verified(stack, secured=False)
    assert alice.post(url + "baseline/").json()["phase"] == "design"
    assert alice.post(url + "design-complete/").json()["phase"] == "pilot"
    bad = alice.post(url + "settings/", {"gates": {"coverage": {"threshold": 200}}}, format="json")
    assert bad.status_code == 400
    promoted = alice.post(url + "promote/")
    assert promoted.status_code == 200, promoted.content
    assert promoted.json()["steps"][0]["status"] == "pending"
    assert alice.post(url + "promote/").status_code == 409  # the step has not passed


def test_promotion_without_a_second_person_is_refused_through_the_api(estate, people):
    campaign = planned(estate, people)
    alice, bob = client_of(people["alice"]), client_of(people["bob"])
    url = f"{BASE}{campaign.uuid}/"
    alice.post(url + "promote/")
    step = Step.objects.get(campaign=campaign)
    steps.step_start(step.id, "test")
    assert alice.get(url).json()["next_action"]["yours"] is False
    before = snapshot(campaign)

    refused = alice.post(url + "approve/")
    assert refused.status_code == 403
    assert "yourself" in refused.json()["detail"]
    assert snapshot(campaign) == before
    assert Deployment.objects.get(pk=Step.objects.get(pk=step.pk).deployment_id).status == (
        RunStatus.PENDING
    )

    assert bob.get(url).json()["next_action"]["yours"] is True
    approved = bob.post(url + "approve/")
    assert approved.status_code == 200, approved.content
    assert approved.json()["steps"][0]["status"] == "deploying"


def test_a_gate_skip_needs_a_second_operator_and_is_flagged(estate, people):
    campaign = planned(estate, people)
    alice, bob = client_of(people["alice"]), client_of(people["bob"])
    url = f"{BASE}{campaign.uuid}/"
    alice.post(url + "promote/")
    step = Step.objects.get(campaign=campaign)
    steps.step_start(step.id, "test")
    bob.post(url + "approve/")
    deployed(Step.objects.get(pk=step.pk))
    steps.campaign_evaluate(campaign.id)

    assert alice.post(url + "skip-gate/", {"reason": " "}, format="json").status_code == 400
    asked = alice.post(url + "skip-gate/", {"reason": "known batch retry"}, format="json")
    assert asked.status_code == 201, asked.content
    approve = f"{BASE}requests/{asked.json()['uuid']}/approve/"
    assert alice.get(url).json()["next_action"]["action"] == "approve-skip"
    before = snapshot(campaign)
    assert alice.post(approve).status_code == 403
    assert client_of(people["carol"]).post(approve).status_code == 403
    assert snapshot(campaign) == before

    skipped = bob.post(approve)
    assert skipped.status_code == 200, skipped.content
    assert skipped.json()["status"] == "passed" and skipped.json()["gate_skipped"] is True
    assert bob.post(approve).status_code == 409  # approved already
    detail = bob.get(f"{BASE}steps/{step.uuid}/").json()
    assert detail["gate_skipped"] is True
    report = client_of(people["carol"]).get(url + "report/").json()
    assert report["skipped_gates"] == [0]
    assert report["steps"][0]["skip"]["requested_by"] == "alice"
    assert report["steps"][0]["skip"]["approved_by"] == "bob"
    assert report["steps"][0]["skip"]["reason"] == "known batch retry"
    assert report["steps"][0]["deployment"]["approved_by"] == "bob"


def test_pause_resume_abort_and_a_rule_rollback_through_the_api(estate, people):
    campaign = planned(estate, people)
    alice, bob = client_of(people["alice"]), client_of(people["bob"])
    url = f"{BASE}{campaign.uuid}/"
    assert (
        bob.post(url + "pause/", {"reason": "change freeze"}, format="json").json()["status"]
        == "paused"
    )
    assert alice.post(url + "promote/").status_code == 409  # paused
    assert bob.post(url + "resume/").json()["status"] == "active"
    alice.post(url + "promote/")
    step = Step.objects.get(campaign=campaign)
    steps.step_start(step.id, "test")
    bob.post(url + "approve/")
    deployed(Step.objects.get(pk=step.pk))
    steps.campaign_evaluate(campaign.id)
    for stack in estate:
        verified(stack, secured=True)
    steps.campaign_evaluate(campaign.id, now=timezone.now() + timedelta(seconds=61))
    assert Step.objects.get(pk=step.pk).status == StepStatus.PASSED

    # A service's rule rolled back: named ambiguously it is refused; by LPAR/STACK/NAME it is
    # removed from the deployed policy (a deployment of its own) and held back.
    pilot = campaign.cohorts.get(position=0).services.select_related("stack__lpar").first()
    ambiguous = alice.post(url + "rule-rollback/", {"service": "NOSUCH", "reason": "x"})
    assert ambiguous.status_code == 400
    before = Deployment.objects.count()
    ref = f"{pilot.stack.lpar.name}/{pilot.stack.name}/{pilot.name}"
    rolled = bob.post(url + "rule-rollback/", {"service": ref, "reason": "partner refuses"})
    assert rolled.status_code == 200, rolled.content
    assert rolled.json()["held_back"] == [pilot.name]
    assert Deployment.objects.count() == before + 1

    assert bob.post(url + "abort/", {"reason": ""}, format="json").status_code == 400
    aborted = bob.post(url + "abort/", {"reason": "partner broke"}, format="json")
    assert aborted.status_code == 200
    # The pilot's versions are undone by a restore step (the previous versions deployed again).
    assert [(s["kind"], s["status"]) for s in aborted.json()["steps"]] == [
        ("cohort", "aborted"),
        ("abort", "pending"),
    ]
    assert bob.post(url + "abort/", {"reason": "again"}, format="json").status_code == 409


def test_a_rule_not_deployed_yet_is_held_back_without_a_deployment(estate, people):
    campaign = planned(estate, people)
    bob = client_of(people["bob"])
    high = campaign.cohorts.get(position=2).services.select_related("stack__lpar").first()
    ref = f"{high.stack.lpar.name}/{high.stack.name}/{high.name}"
    before = Deployment.objects.count()
    held = bob.post(f"{BASE}{campaign.uuid}/rule-rollback/", {"service": ref, "reason": "partner"})
    assert held.status_code == 200, held.content
    assert held.json()["held_back"] == [high.name]
    rollbacks = bob.get(f"{BASE}{campaign.uuid}/report/").json()["rule_rollbacks"]
    assert [(r["action"], r["service"], r["deployment"]) for r in rollbacks] == [
        ("rule hold back", high.name, None)
    ]
    assert Deployment.objects.count() == before
    assert ChangeRecord.objects.filter(action="rule hold back").count() == 1
    again = bob.post(f"{BASE}{campaign.uuid}/rule-rollback/", {"service": ref, "reason": "x"})
    assert again.status_code == 409


def test_the_campaign_lists_cost_the_same_queries_for_one_campaign_or_three(estate, people):
    carol = client_of(people["carol"])
    page = Client()
    page.force_login(people["carol"])

    def counted() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as api:
            assert carol.get(BASE).status_code == 200
        with CaptureQueriesContext(connection) as html:
            assert page.get("/campaigns/").status_code == 200
        return len(api), len(html)

    services.campaign_create(actor=people["alice"], name="one", stacks=estate)
    counted()  # the user's roles are cached on it from the first request on
    one = counted()
    for name in ("two", "three"):
        services.campaign_create(actor=people["alice"], name=name, stacks=estate)
    assert counted() == one
