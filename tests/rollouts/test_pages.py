"""The campaign pages: the list, the campaign page at each state, its actions and polling."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from fleet.models import Deployment, RunStatus
from policies.models import ChangeRecord
from rollouts import services, steps
from rollouts.models import Step, StepStatus
from tests.rollouts.support import deployed, planned, verified


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def baking(estate: list[Any], people: dict[str, Any]) -> Any:
    """A campaign whose pilot bakes, its gate judged once (passing)."""
    campaign = planned(estate, people)
    step = services.campaign_promote(actor=people["alice"], campaign=campaign)
    steps.step_start(step.id, "test")
    services.step_approve(actor=people["bob"], step=Step.objects.get(pk=step.id))
    deployed(Step.objects.get(pk=step.id))
    steps.campaign_evaluate(campaign.id)
    for stack in estate:
        verified(stack, secured=True, extra_ms=1.0)
    steps.campaign_evaluate(campaign.id)
    return campaign


def test_the_campaign_page_shows_timeline_gate_charts_figures_and_polls(estate, people):
    campaign = baking(estate, people)
    carol = signed_in(people["carol"])
    listing = carol.get(reverse("rollouts:campaigns"))
    assert campaign.name in listing.content.decode()

    url = reverse("rollouts:campaign", args=[campaign.uuid])
    page = carol.get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="timeline"' in html and "baking" in html
    assert html.count('class="gate-chart"') == 6  # one small chart per check
    assert "threshold 100" in html  # coverage's threshold line
    assert "threshold 0.0 · failures 0/0 allowed" in html  # a zero threshold is shown too
    assert 'hx-trigger="every 3s"' in html  # a step bakes: the page polls
    # before 40 % coverage (the baseline), now 100 %
    assert '<tr data-figure="coverage"><td>AT-TLS coverage</td><td class="num">40.0 %' in html
    assert "Operators act on a campaign" in html  # an auditor gets no form

    # The poll: the same state gets the live partial; a state that moved on a full refresh.
    live = carol.get(
        url,
        {"state": page.context["state_key"]},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="campaign-live",
    )
    assert live.status_code == 200 and "<html" not in live.content.decode()
    moved = carol.get(
        url,
        {"state": "active:pilot:0:requested:-:0"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="campaign-live",
    )
    assert moved.status_code == 204 and moved["HX-Refresh"] == "true"


def test_actions_on_the_page_four_eyes_and_refusals_change_nothing(estate, people):
    campaign = planned(estate, people)
    alice, bob, carol = (signed_in(people[n]) for n in ("alice", "bob", "carol"))
    promote = reverse("rollouts:campaign-promote", args=[campaign.uuid])
    approve = reverse("rollouts:campaign-approve", args=[campaign.uuid])
    records = ChangeRecord.objects.count()

    assert carol.post(promote).status_code == 403
    assert ChangeRecord.objects.count() == records

    answer = alice.post(promote, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200 and answer["HX-Location"]
    step = Step.objects.get(campaign=campaign)
    steps.step_start(step.id, "test")
    page = alice.get(reverse("rollouts:campaign", args=[campaign.uuid])).content.decode()
    assert "You requested this step" in page

    refused = alice.post(approve, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="actions-panel")
    assert refused.status_code == 403
    assert "another operator must approve it" in refused.content.decode()
    assert Step.objects.get(pk=step.pk).status == StepStatus.REQUESTED
    assert Deployment.objects.get(pk=Step.objects.get(pk=step.pk).deployment_id).status == (
        RunStatus.PENDING
    )

    # A reason is needed to abort: 400, what was typed kept, nothing changed.
    abort = reverse("rollouts:campaign-abort", args=[campaign.uuid])
    empty = bob.post(abort, {"reason": " "}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="actions-panel")
    assert empty.status_code == 400 and "Say why" in empty.content.decode()
    assert Step.objects.get(pk=step.pk).status == StepStatus.REQUESTED

    assert bob.post(approve).status_code == 302
    assert Step.objects.get(pk=step.pk).status == StepStatus.DEPLOYING


def test_a_held_campaign_offers_resume_skip_rollback_and_abort(estate, people):
    campaign = baking(estate, people)
    for stack in estate:
        verified(stack, secured=True, refused=4)
    steps.campaign_evaluate(campaign.id, now=timezone.now() + timedelta(seconds=1))
    html = (
        signed_in(people["bob"])
        .get(reverse("rollouts:campaign", args=[campaign.uuid]))
        .content.decode()
    )
    assert "Held: a gate failed" in html
    for form in ("resume", "skip-gate", "rule-rollback", "abort"):
        assert reverse(f"rollouts:campaign-{form}", args=[campaign.uuid]) in html, form


def test_the_before_figures_show_what_zert_recorded_of_the_applications_own_tls(estate, people):
    # Before AT-TLS the verifications see no protocol: "0.0 %" deprecated alone would say
    # the estate had no TLS 1.0/1.1, when zERT recorded the applications' own.
    campaign = planned(estate, people)
    page = reverse("rollouts:campaign", args=[campaign.uuid])
    assert "zERT:" not in signed_in(people["bob"]).get(page).content.decode()  # none recorded
    campaign.baseline["totals"].update(
        zert_connections=682, zert_deprecated_share=10.6, zert_cleartext_share=38.9
    )
    campaign.save(update_fields=["baseline"])
    html = signed_in(people["bob"]).get(page).content.decode()
    assert "zERT: 10.6 % on TLS 1.0/1.1 (the applications&#x27; own TLS)" in html
    assert "zERT: 38.9 % of 682 connections cleartext" in html
