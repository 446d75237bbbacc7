"""A campaign on the seeded reference design, its steps started in-process (no worker).

Verifications are rows with stored results, as fleet/verify stores them: the gate reads
nothing else. The worker and lparsim test the same flow end to end (tests/integration).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.roles import Role
from attls.policy import parse_policy
from fleet import services as fleet_services
from fleet.models import Deployment, Incident, IncidentKind, RunStatus
from policies.choices import Phase
from policies.models import ChangeRecord, Stack
from rollouts import presenters, services, steps
from rollouts.models import CampaignStatus, Check, StepStatus, Verdict
from tests.audits.assessment_support import finish, run_catalog
from tests.rollouts.support import deployed, planned, promoted_and_deployed, verified


def test_cohorts_default_to_one_per_tier_low_first_and_the_baseline_is_frozen(estate, people):
    campaign = planned(estate, people)

    cohorts = list(campaign.cohorts.all())
    assert [(c.kind, c.tier) for c in cohorts] == [
        ("pilot", "low"),
        ("rollout", "medium"),
        ("rollout", "high"),
    ]
    for cohort in cohorts:
        assert {s.tier for s in cohort.services.all()} == {cohort.tier}
    assert campaign.phase == Phase.PILOT
    totals = campaign.baseline["totals"]
    assert totals["coverage"] == 40.0 and totals["deprecated_share"] == 40.0
    assert len(campaign.baseline["services"]) == 30


def test_each_step_publishes_the_rules_of_the_cohorts_so_far_and_needs_a_second_person(
    estate, people
):
    campaign = planned(estate, people)
    alice, bob = people["alice"], people["bob"]

    step = services.campaign_promote(actor=alice, campaign=campaign)
    assert step is not None and step.status == StepStatus.PENDING
    steps.step_start(step.id, "test")
    assert steps.step_start(step.id, "test") is None  # a second start changes nothing
    step.refresh_from_db()
    assert step.status == StepStatus.REQUESTED and step.attempts == 1
    low = campaign.cohorts.get(position=0).services.all()
    assert len(step.versions) == 2
    for stack_id, version_id in step.versions.items():
        version = Stack.objects.get(pk=stack_id).versions.get(pk=version_id)
        rules = set(parse_policy(version.text).rules)
        assert rules == {s.name for s in low if s.stack_id == int(stack_id)}

    # The promoter published and requested: approving it alone is refused, nothing changes.
    with pytest.raises(services.CampaignForbidden):
        services.step_approve(actor=alice, step=step)
    step.refresh_from_db()
    assert step.status == StepStatus.REQUESTED
    services.step_approve(actor=bob, step=step)
    assert Deployment.objects.get(pk=step.deployment_id).status == RunStatus.APPROVED

    # Promotion before the gate passed is refused.
    with pytest.raises(services.CampaignRefused, match="gate must pass"):
        services.campaign_promote(actor=alice, campaign=campaign)
    assert ChangeRecord.objects.filter(object_type="Campaign", action="promote").count() == 1


def test_the_gate_waits_passes_after_the_bake_and_fails_holding_with_an_incident(estate, people):
    campaign = planned(estate, people)
    alice, bob = people["alice"], people["bob"]
    step = promoted_and_deployed(campaign, people)

    assert steps.campaign_evaluate(campaign.id) == StepStatus.BAKING  # no run since: waiting
    step.refresh_from_db()
    assert step.evaluations.count() == 0
    for stack in estate:
        verified(stack, secured=True, extra_ms=1.5)
    assert steps.campaign_evaluate(campaign.id) == StepStatus.BAKING  # bake not over
    evaluation = step.evaluations.get()
    assert evaluation.verdict == Verdict.PASSING, evaluation.checks
    # cleartext before: set-up was the connect (1 ms); now connect + handshake (1 + 3.5)
    assert evaluation.checks[Check.LATENCY]["value"] == pytest.approx(3.5)
    later = timezone.now() + timedelta(seconds=61)
    assert steps.campaign_evaluate(campaign.id, now=later) == StepStatus.PASSED

    step2 = services.campaign_promote(actor=alice, campaign=campaign)
    steps.step_start(step2.id, "test")
    services.step_approve(actor=bob, step=services.Step.objects.get(pk=step2.id))
    step2.refresh_from_db()
    deployed(step2)
    steps.campaign_evaluate(campaign.id)
    for stack in estate:
        verified(stack, secured=True, refused=3)
    assert steps.campaign_evaluate(campaign.id) == StepStatus.FAILED
    campaign.refresh_from_db()
    step2.refresh_from_db()
    assert campaign.status == CampaignStatus.HELD
    assert "refusals" in step2.error
    incident = Incident.objects.get(pk=step2.incident_id)
    assert incident.kind == IncidentKind.CAMPAIGN_GATE and incident.is_open

    # A skip needs a reason and a second person; then the step passes, flagged.
    action = services.gate_skip_request(actor=alice, step=step2, reason="known batch retry")
    with pytest.raises(services.CampaignForbidden):
        services.gate_skip_approve(actor=alice, action=action)
    with pytest.raises(services.CampaignForbidden):
        services.gate_skip_approve(actor=people["carol"], action=action)
    passed = services.gate_skip_approve(actor=bob, action=action)
    assert passed.status == StepStatus.PASSED and passed.gate_skipped
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.ACTIVE
    incident.refresh_from_db()
    assert not incident.is_open


def test_abort_restores_what_each_stack_ran_before_the_step_once_another_operator_approves(
    estate, people, make_user
):
    campaign = planned(estate, people)
    alice, bob = people["alice"], people["bob"]
    dave = make_user("dave", Role.OPERATOR)
    step = promoted_and_deployed(campaign, people)
    first = dict(step.versions)
    steps.campaign_evaluate(campaign.id)
    for stack in estate:
        verified(stack, secured=True)
    steps.campaign_evaluate(campaign.id, now=timezone.now() + timedelta(seconds=61))
    step2 = services.campaign_promote(actor=alice, campaign=campaign)
    steps.step_start(step2.id, "test")
    step2.refresh_from_db()
    assert step2.previous_versions == first

    with pytest.raises(services.CampaignForbidden):
        services.campaign_abort(actor=people["carol"], campaign=campaign, reason="no")
    services.step_approve(actor=bob, step=services.Step.objects.get(pk=step2.id))
    deployed(step2)
    restore = services.campaign_abort(actor=bob, campaign=campaign, reason="partner broke")
    steps.step_start(restore.id, "test")
    restore.refresh_from_db()
    assert restore.versions == first
    # A rollback like any other: it waits for a second operator (four eyes on the way back).
    assert restore.status == StepStatus.REQUESTED
    assert restore.deployment.kind == "rollback"
    assert restore.deployment.status == RunStatus.PENDING
    campaign.refresh_from_db()
    assert campaign.status != CampaignStatus.ABORTED
    shown = presenters.next_action(campaign, dave)
    assert shown.action == "approve" and shown.yours and "abort's restore" in shown.text
    assert shown.who == "an operator other than alice, bob"
    assert not presenters.next_action(campaign, bob).yours

    # bob asked for the restore, alice published the versions it puts back: neither may
    # approve it, and nothing changes; a second abort while it waits is refused.
    for person in (bob, alice):
        with pytest.raises(services.CampaignForbidden):
            services.step_approve(actor=person, step=restore)
    with pytest.raises(services.CampaignRefused, match="under way already"):
        services.campaign_abort(actor=alice, campaign=campaign, reason="again")
    assert Deployment.objects.get(pk=restore.deployment_id).status == RunStatus.PENDING

    services.step_approve(actor=dave, step=restore)
    restore.refresh_from_db()
    assert restore.status == StepStatus.DEPLOYING
    assert restore.deployment.approved_by == dave
    finish(restore.deployment, timezone.now() - timedelta(minutes=1))
    steps.campaign_evaluate(campaign.id)
    restore.refresh_from_db()
    campaign.refresh_from_db()
    assert restore.status == StepStatus.RESTORED
    assert campaign.status == CampaignStatus.ABORTED

    # Every deployment of the campaign was approved by a second person: the audit's
    # change-approval check passes them, the restore included.
    result = run_catalog()["HIST-CHANGE-APPROVAL"]
    assert result.outcome == "PASS", result.rationale
    assert result.evidence["counts"] == {"PASS": 6}  # three deployments on two stacks
    judged = {d["uuid"]: d for d in result.evidence["deployments"]}
    assert judged[str(restore.deployment.uuid)]["requested_by"] == "bob"
    assert judged[str(restore.deployment.uuid)]["approved_by"] == "dave"


def test_a_rejected_restore_holds_and_aborting_again_requests_it_anew(estate, people):
    campaign = planned(estate, people)
    alice, bob = people["alice"], people["bob"]
    promoted_and_deployed(campaign, people)
    restore = services.campaign_abort(actor=bob, campaign=campaign, reason="partner broke")
    steps.step_start(restore.id, "test")
    restore.refresh_from_db()
    fleet_services.deployment_reject(
        deployment=restore.deployment, actor=alice, reason="not this way"
    )
    steps.campaign_evaluate(campaign.id)
    restore.refresh_from_db()
    campaign.refresh_from_db()
    assert restore.status == StepStatus.FAILED and "not this way" in restore.error
    assert campaign.status == CampaignStatus.HELD
    shown = presenters.next_action(campaign, alice)
    assert shown.action == "abort" and "Abort again" in shown.text

    again = services.campaign_abort(actor=bob, campaign=campaign, reason="still broken")
    assert again is not None and again.position == restore.position + 1
    steps.step_start(again.id, "test")
    again.refresh_from_db()
    assert again.status == StepStatus.REQUESTED, again.error
    assert again.versions == restore.versions  # the same versions (no cohort's rules) back
    assert not Incident.objects.get(pk=restore.incident_id).is_open


def test_a_promotion_enqueues_the_start_by_a_registered_task_name():
    from portal.celery import app

    app.loader.import_default_modules()
    assert services.START_STEP in app.tasks
    assert steps.EVALUATE in app.tasks  # the bake's end


def test_abort_of_the_first_step_deploys_versions_without_any_cohorts_rules(estate, people):
    campaign = planned(estate, people)
    alice, bob = people["alice"], people["bob"]
    step = promoted_and_deployed(campaign, people)
    assert set(step.previous_versions.values()) == {None}

    restore = services.campaign_abort(actor=bob, campaign=campaign, reason="partner broke")
    steps.step_start(restore.id, "test")
    restore.refresh_from_db()
    assert restore.status == StepStatus.REQUESTED, restore.error  # bob published them
    for stack_id, version_id in restore.versions.items():
        version = Stack.objects.get(pk=stack_id).versions.get(pk=version_id)
        assert parse_policy(version.text).rules == {}
    services.step_approve(actor=alice, step=restore)


def test_a_step_that_could_not_start_holds_and_its_abort_undoes_nothing(estate, people):
    from fleet.models import LparConnection

    campaign = planned(estate, people)
    LparConnection.objects.filter(lpar__name="SYSB").delete()
    step = services.campaign_promote(actor=people["alice"], campaign=campaign)
    steps.step_start(step.id, "test")
    step.refresh_from_db()
    campaign.refresh_from_db()
    assert step.status == StepStatus.FAILED and "could not start" in step.error
    assert step.versions == {} and step.deployment_id is None  # nothing of it was kept
    assert campaign.status == CampaignStatus.HELD

    assert services.campaign_abort(actor=people["bob"], campaign=campaign, reason="no") is None
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.ABORTED
    assert list(campaign.steps.values_list("kind", "status")) == [("cohort", "aborted")]


def test_with_zert_collection_on_the_baseline_waits_for_a_collection(estate, people):
    from fleet.models import LparConnection, ZertRun, ZertSource

    alice = people["alice"]
    campaign = services.campaign_create(actor=alice, name="zERT first", stacks=estate)
    for stack in estate:
        verified(stack, secured=False)
    LparConnection.objects.filter(lpar__name="SYSA").update(zert_enabled=True)
    with pytest.raises(services.CampaignRefused, match="no zERT collection of SYSA"):
        services.campaign_baseline_freeze(actor=alice, campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.phase == Phase.INVENTORY and not campaign.baseline

    ZertRun.objects.create(
        connection=LparConnection.objects.get(lpar__name="SYSA"),
        source=ZertSource.JOB,
        status=RunStatus.FAILED,
    )
    with pytest.raises(services.CampaignRefused, match="no zERT collection of SYSA"):
        services.campaign_baseline_freeze(actor=alice, campaign=campaign)
    ZertRun.objects.create(
        connection=LparConnection.objects.get(lpar__name="SYSA"),
        source=ZertSource.JOB,
        status=RunStatus.SUCCEEDED,
    )
    services.campaign_baseline_freeze(actor=alice, campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.phase == Phase.DESIGN


def test_a_held_step_is_requested_again_from_the_design_as_it_is_now(estate, people):
    from policies.models import EnvironmentAction

    campaign = planned(estate, people)
    alice, bob = people["alice"], people["bob"]
    step = promoted_and_deployed(campaign, people)
    steps.campaign_evaluate(campaign.id)
    with pytest.raises(services.CampaignRefused, match="active"):  # only a held campaign
        services.step_request_again(actor=alice, campaign=campaign, reason="x")
    for stack in estate:
        verified(stack, secured=True, refused=3)
    assert steps.campaign_evaluate(campaign.id) == StepStatus.FAILED
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.HELD
    with pytest.raises(ValidationError):
        services.step_request_again(actor=alice, campaign=campaign, reason=" ")

    # The certificate was renewed: AT-TLS reads it once its environment is rebuilt.
    environment = EnvironmentAction.objects.get()
    EnvironmentAction.objects.filter(pk=environment.pk).update(
        environment_user_instance=environment.environment_user_instance + 1
    )
    again = services.step_request_again(
        actor=alice, campaign=campaign, reason="EnvironmentUserInstance raised"
    )
    step.refresh_from_db()
    campaign.refresh_from_db()
    assert step.status == StepStatus.FAILED and step.incident.resolved_at is not None
    assert campaign.status == CampaignStatus.ACTIVE
    assert (again.position, again.cohort_id) == (step.position + 1, step.cohort_id)
    steps.step_start(again.id, "test")
    again.refresh_from_db()
    assert again.status == StepStatus.REQUESTED
    assert again.previous_versions == {k: v for k, v in step.versions.items()}
    for stack_id, version_id in again.versions.items():
        text = Stack.objects.get(pk=stack_id).versions.get(pk=version_id).text
        raised = environment.environment_user_instance + 1
        assert re.search(rf"EnvironmentUserInstance\s+{raised}\n", text), text
        old = Stack.objects.get(pk=stack_id).versions.get(pk=step.versions[stack_id]).text
        assert set(parse_policy(text).rules) == set(parse_policy(old).rules)
    # Four eyes as for any step: its requester may not approve it.
    with pytest.raises(services.CampaignForbidden):
        services.step_approve(actor=alice, step=again)
    services.step_approve(actor=bob, step=again)
