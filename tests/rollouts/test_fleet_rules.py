"""A campaign under fleet's rules: change impact (the stored prediction, its acknowledgement
and the unpredicted refusals after the change), four eyes, one pending request per stack.

History is stored rows (zERT roll-ups, refusals), as fleet's verification stores them; the
prediction and the comparison are fleet.impact's own, computed from them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from fleet import services as fleet
from fleet.impact.models import ImpactAcknowledgement, ImpactPrediction, PeerRefusalDaily
from fleet.models import Deployment, RunStatus, ZertDaily
from policies.models import ChangeRecord, PolicyVersion, Service, Stack
from rollouts import gates, presenters, services, steps
from rollouts.models import Campaign, CampaignStatus, Check, Step, StepStatus, Verdict
from tests.rollouts.support import deployed, planned, verified

CLIENT = "10.1.1.1"


def pilot_service(campaign: Campaign, stack: Stack) -> Service:
    found = campaign.cohorts.get(position=0).services.filter(stack=stack).order_by("name").first()
    assert found is not None
    return found


def cleartext_client(service: Service, peer: str = CLIENT) -> None:
    """A client seen yesterday in clear text on the service's port: a rule that secures the
    port breaks it (RC 5003), as fleet.impact predicts."""
    ZertDaily.objects.create(
        day=timezone.now().date() - timedelta(days=1),
        stack=service.stack,
        service=service,
        service_key=service.id,
        peer=peer,
        protection="none",
        protocol="",
        cipher="",
        connections=30,
        records=30,
    )


def started(campaign: Campaign, actor: Any) -> Step:
    step = services.campaign_promote(actor=actor, campaign=campaign)
    assert step is not None
    steps.step_start(step.id, "test")
    step.refresh_from_db()
    return step


def test_a_step_with_peers_predicted_to_break_is_approved_only_with_a_reason(estate, people):
    campaign = planned(estate, people)
    alice, bob = people["alice"], people["bob"]
    cleartext_client(pilot_service(campaign, estate[0]))
    step = started(campaign, alice)
    assert step.status == StepStatus.REQUESTED
    assert fleet.breaking_peers(step.deployment)[0]["remote_address"] == CLIENT
    shown = presenters.next_action(campaign, bob)
    assert shown.action == "approve" and "1 peer(s) will break" in shown.text

    with pytest.raises(fleet.DeploymentImpactUnacknowledged, match="will break"):
        services.step_approve(actor=bob, step=step, acknowledge_impact="  ")
    api = APIClient()
    api.force_authenticate(bob)
    answer = api.post(f"/api/campaigns/{campaign.uuid}/approve/", {}, format="json")
    assert answer.status_code == 400
    assert answer.json()["will_break"][0]["remote_address"] == CLIENT
    page = Client()
    page.force_login(bob)
    url = f"/campaigns/{campaign.uuid}/approve/"
    shown_page = page.get(f"/campaigns/{campaign.uuid}/").content.decode()
    assert 'name="acknowledge_impact"' in shown_page
    assert re.search(r'<textarea id="acknowledge-impact"[^>]* required[ >]', shown_page)
    refused = page.post(url, {"acknowledge_impact": ""}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 400 and "will break" in refused.content.decode()
    blank = page.post(url, {"acknowledge_impact": "   "}, HTTP_HX_REQUEST="true")
    assert blank.status_code == 400
    assert "the acknowledgement given was blank" in blank.content.decode()
    step.refresh_from_db()
    assert step.status == StepStatus.REQUESTED
    assert Deployment.objects.get(pk=step.deployment_id).status == RunStatus.PENDING
    assert not ImpactAcknowledgement.objects.exists()

    answer = page.post(url, {"acknowledge_impact": "The batch client moves to TLS today."})
    assert answer.status_code in (200, 302)
    step.refresh_from_db()
    assert step.status == StepStatus.DEPLOYING
    ack = ImpactAcknowledgement.objects.get(deployment_id=step.deployment_id)
    assert ack.by == bob and ack.reason == "The batch client moves to TLS today."
    record = ChangeRecord.objects.get(object_uuid=campaign.uuid, action="approve")
    assert record.after["impact_acknowledged"] == {"reason": ack.reason, "peers": 1}


def test_auto_promotion_never_acknowledges_predicted_breakage_the_step_waits_saying_why(
    estate, people
):
    campaign = planned(estate, people)
    alice, bob = people["alice"], people["bob"]
    services.campaign_auto_promote_set(actor=bob, campaign=campaign, enabled=True)
    cleartext_client(pilot_service(campaign, estate[0]))
    step = services.campaign_promote(actor=alice, campaign=campaign, automatic=True)
    steps.step_start(step.id, "test")
    step.refresh_from_db()

    assert step.status == StepStatus.REQUESTED
    assert "auto-promotion held the approval" in step.error and "1 peer(s)" in step.error
    assert Deployment.objects.get(pk=step.deployment_id).status == RunStatus.PENDING
    assert not ImpactAcknowledgement.objects.exists()
    shown = presenters.next_action(campaign, bob)
    assert shown.action == "approve" and shown.yours and "auto-promotion held" in shown.text

    services.step_approve(actor=bob, step=step, acknowledge_impact="Known: client retires.")
    step.refresh_from_db()
    assert step.status == StepStatus.DEPLOYING and step.error == ""


def test_without_predicted_breakage_auto_promotion_approves_as_before(estate, people):
    campaign = planned(estate, people)
    services.campaign_auto_promote_set(actor=people["bob"], campaign=campaign, enabled=True)
    step = services.campaign_promote(actor=people["alice"], campaign=campaign, automatic=True)
    steps.step_start(step.id, "test")
    step.refresh_from_db()
    assert step.status == StepStatus.DEPLOYING and step.error == ""
    assert step.deployment.approved_by == people["bob"]


def baking(campaign: Campaign, people: dict[str, Any]) -> Step:
    step = started(campaign, people["alice"])
    services.step_approve(actor=people["bob"], step=step)
    step.refresh_from_db()
    deployed(step)
    steps.campaign_evaluate(campaign.id)
    step.refresh_from_db()
    assert step.status == StepStatus.BAKING
    return step


def test_the_gate_fails_on_a_refusal_the_prediction_did_not_name_in_the_cohorts(estate, people):
    campaign = planned(estate, people)
    step = baking(campaign, people)
    sysa = estate[0]
    pilot = pilot_service(campaign, sysa)
    later = Service.objects.filter(stack=sysa).exclude(tier=pilot.tier).first()
    assert later is not None
    services_now = steps.gate_services(step)
    # A prediction is stored, nothing refused yet: the check passes (it no longer waits).
    assert gates.unpredicted_refusals(step, services_now) == []

    after = step.deployment.finished_at + timedelta(seconds=1)
    for name, peer in ((pilot.name, "10.9.9.9"), (later.name, "10.8.8.8")):
        PeerRefusalDaily.objects.create(
            day=after.date(),
            stack=sysa,
            service_name=name,
            peer=peer,
            rc="5003",
            family="protocol",
            refused=4,
            first_at=after,
            last_at=after,
            last_window_from=after,
        )
    found = gates.unpredicted_refusals(step, services_now)
    # The later cohort's service is not this gate's: only the pilot's peer is evidence.
    assert found is not None and len(found) == 1
    assert found[0].startswith(f"{sysa.label} {pilot.name} 10.9.9.9: refused 4")
    for stack in estate:
        verified(stack, secured=True)
    assert steps.campaign_evaluate(campaign.id) == StepStatus.FAILED
    step.refresh_from_db()
    check = step.verdict["checks"][Check.UNPREDICTED]
    assert check["verdict"] == Verdict.FAILED and check["value"] == 1.0
    assert "10.9.9.9" in check["evidence"][0]
    assert "unpredicted 1.0 against 0.0" in step.error

    # Resumed with what was done: the bake restarts, and a refusal from before no longer
    # holds it; a peer still refused after the resume does.
    services.campaign_resume(actor=people["bob"], campaign=campaign, reason="client moved")
    # (as if resumed a minute after the refusals: this test's clock has barely moved)
    Step.objects.filter(pk=step.pk).update(bake_started_at=after + timedelta(minutes=1))
    step.refresh_from_db()
    assert step.status == StepStatus.BAKING
    assert gates.unpredicted_refusals(step, services_now) == []
    again = step.bake_started_at + timedelta(seconds=1)
    PeerRefusalDaily.objects.filter(peer="10.9.9.9").update(last_at=again, last_window_from=again)
    (still,) = gates.unpredicted_refusals(step, services_now) or [None]
    assert still is not None and "10.9.9.9" in still


def test_without_a_stored_prediction_the_check_waits_without_holding(estate, people):
    campaign = planned(estate, people)
    step = baking(campaign, people)
    ImpactPrediction.objects.filter(target__deployment=step.deployment).delete()
    assert gates.unpredicted_refusals(step, steps.gate_services(step)) is None
    for stack in estate:
        verified(stack, secured=True)
    steps.campaign_evaluate(campaign.id)
    step.refresh_from_db()
    assert step.verdict["checks"][Check.UNPREDICTED]["verdict"] == Verdict.WAITING
    assert step.verdict["verdict"] == Verdict.PASSING


def test_a_step_waits_while_another_request_is_pending_on_its_stack(estate, people):
    campaign = planned(estate, people)
    alice, bob = people["alice"], people["bob"]
    baking(campaign, people)
    for stack in estate:
        verified(stack, secured=True)
    steps.campaign_evaluate(campaign.id, now=timezone.now() + timedelta(seconds=61))
    pilot = pilot_service(campaign, estate[0])
    removal = services.service_rule_rollback(
        actor=bob, campaign=campaign, service=pilot, reason="partner refused"
    )
    assert removal is not None and removal.status == RunStatus.PENDING  # four eyes
    versions = PolicyVersion.objects.count()

    second = started(campaign, alice)
    assert second.status == StepStatus.PENDING and second.deployment_id is None
    assert "already has a pending deployment request" in second.error
    assert str(removal.uuid)[:8] in second.error
    assert PolicyVersion.objects.count() == versions  # nothing of it was kept
    assert str(removal.uuid)[:8] in presenters.next_action(campaign, alice).text

    fleet.deployment_cancel(deployment=removal, actor=bob, reason="the partner fixed it")
    steps.step_start(second.id, "test")
    second.refresh_from_db()
    assert second.status == StepStatus.REQUESTED and second.error == ""
    assert second.attempts == 2


def test_an_abort_cancels_its_steps_own_request_and_its_restore_waits_for_another(estate, people):
    campaign = planned(estate, people)
    alice, bob = people["alice"], people["bob"]
    baking(campaign, people)
    pilot = pilot_service(campaign, estate[0])
    removal = services.service_rule_rollback(
        actor=bob, campaign=campaign, service=pilot, reason="partner refused"
    )
    assert removal is not None

    restore = services.campaign_abort(actor=alice, campaign=campaign, reason="stop")
    assert restore is not None
    steps.step_start(restore.id, "test")
    restore.refresh_from_db()
    assert restore.status == StepStatus.PENDING and "pending deployment request" in restore.error
    shown = presenters.next_action(campaign, bob)
    assert shown.text.startswith("The abort's restore is waiting to request its deployment")
    fleet.deployment_cancel(deployment=removal, actor=bob, reason="the abort restores")
    steps.step_start(restore.id, "test")
    restore.refresh_from_db()
    assert restore.status == StepStatus.REQUESTED


def test_an_abort_cancels_the_steps_own_pending_request_and_frees_its_stacks(estate, people):
    campaign = planned(estate, people)
    alice, bob = people["alice"], people["bob"]
    step = started(campaign, alice)
    assert step.status == StepStatus.REQUESTED

    assert services.campaign_abort(actor=bob, campaign=campaign, reason="not now") is None
    assert Deployment.objects.get(pk=step.deployment_id).status == RunStatus.CANCELLED
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.ABORTED
    # Nothing pending is left behind on the stacks: the next request is taken.
    version = PolicyVersion.objects.get(pk=step.versions[str(estate[0].id)])
    assert fleet.deployment_request(actor=alice, targets=[(estate[0], version)]).pk
