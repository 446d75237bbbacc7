"""The lab phase: the production rules copied onto LAB1, deployed there before the pilot."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from attls.policy import parse_policy
from fleet.models import LparConnection, RunStatus
from policies.choices import Phase
from policies.models import ChangeRecord, Lpar, Service, Stack
from rollouts import services, steps
from rollouts.models import CohortKind
from tests.rollouts.support import deployed, verified


@pytest.fixture
def lab(estate: list[Stack]) -> Stack:
    stack = Stack.objects.get(lpar__name="LAB1")
    LparConnection.objects.create(
        lpar=Lpar.objects.get(name="LAB1"), username="ATTLSADM", ca_bundle="-"
    )
    return stack


def test_leaving_the_design_copies_the_production_rules_to_the_lab_and_deploys_them_first(
    estate: list[Stack], lab: Stack, people: dict[str, Any]
) -> None:
    alice = people["alice"]
    campaign = services.campaign_create(
        actor=alice, name="with a lab", stacks=estate, lab_stack=lab, bake_seconds=60
    )
    for stack in [*estate, lab]:
        verified(stack, secured=False)
    services.campaign_baseline_freeze(actor=alice, campaign=campaign)
    lab_ports = {s.name: (s.local_port_low, s.jobname) for s in lab.services.all()}
    services.campaign_design_complete(actor=alice, campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.phase == Phase.LAB

    production = list(campaign.services.select_related("stack__lpar", "rule"))
    names = {s.name for s in production}
    cohort = campaign.cohorts.get(kind=CohortKind.LAB)
    copies = {s.name: s for s in cohort.services.select_related("rule")}
    assert set(copies) == names  # one lab rule per production name
    first = {}
    for service in sorted(production, key=lambda s: (s.stack.lpar.name, s.name)):
        first.setdefault(service.name, service)
    for name, service in first.items():
        copy, rule = copies[name], service.rule
        assert copy.stack_id == lab.id
        assert (copy.rule.priority, copy.rule.group_action_id) == (
            rule.priority,
            rule.group_action_id,
        )
        assert (copy.rule.environment_action_id, copy.rule.connection_action_id) == (
            rule.environment_action_id,
            rule.connection_action_id,
        )
    # A service LAB1 had keeps its own endpoints; only its rule became production's.
    kept = [n for n in lab_ports if n in names]
    assert kept
    for name in kept:
        lab_service = Service.objects.get(stack=lab, name=name)
        assert (lab_service.local_port_low, lab_service.jobname) == lab_ports[name]
    record = ChangeRecord.objects.filter(object_type="Campaign", action="design done").get()
    assert record.after["lab"]["skipped"]  # the names SYSA and SYSB share

    step = services.campaign_promote(actor=people["bob"], campaign=campaign)
    steps.step_start(step.id, "test")
    step.refresh_from_db()
    assert list(step.versions) == [str(lab.id)], step.error
    version = lab.versions.get(pk=step.versions[str(lab.id)])
    assert names <= set(parse_policy(version.text).rules)


def _in_the_lab(estate: list[Stack], lab: Stack, people: dict[str, Any]) -> Any:
    """A campaign with LAB1 as its lab, its lab step deployed."""
    alice = people["alice"]
    campaign = services.campaign_create(
        actor=alice, name="with a lab", stacks=estate, lab_stack=lab, bake_seconds=60
    )
    for stack in [*estate, lab]:
        verified(stack, secured=False)
    services.campaign_baseline_freeze(actor=alice, campaign=campaign)
    services.campaign_design_complete(actor=alice, campaign=campaign)
    step = services.campaign_promote(actor=people["bob"], campaign=campaign)
    steps.step_start(step.id, "test")
    step.refresh_from_db()
    deployed(step)
    return campaign


def test_the_baseline_totals_are_productions_though_the_lab_is_measured_too(
    estate: list[Stack], lab: Stack, people: dict[str, Any]
) -> None:
    alice = people["alice"]
    campaign = services.campaign_create(
        actor=alice, name="with a lab", stacks=estate, lab_stack=lab, bake_seconds=60
    )
    for stack in estate:
        verified(stack, secured=False)
    verified(lab, secured=True)  # the lab's figures would lift the "before" coverage
    services.campaign_baseline_freeze(actor=alice, campaign=campaign)
    campaign.refresh_from_db()
    production = campaign.services.count()
    assert len(campaign.baseline["services"]) == production + lab.services.count()
    totals = campaign.baseline["totals"]
    assert totals["services"] == production and totals["connections"] == 10 * production
    assert totals["coverage"] == 40.0  # production's 4 of 10, not LAB1's 10 of 10


def test_the_labs_copy_of_a_rule_is_rolled_back_there_and_productions_only_held_back(
    estate: list[Stack], lab: Stack, people: dict[str, Any]
) -> None:
    from rollouts.views import campaign_context

    campaign = _in_the_lab(estate, lab, people)
    name = "MQ_Channel_to_Clearing_House"
    copy = Service.objects.get(stack=lab, name=name)
    request = RequestFactory().get("/")
    request.user = people["bob"]
    offered = {(s.stack.lpar.name, s.name) for s in campaign_context(request, campaign)[
        "rollback_services"]}  # fmt: skip
    assert {("LAB1", name), ("SYSA", name), ("SYSB", name)} <= offered

    removal = services.service_rule_rollback(
        actor=people["bob"], campaign=campaign, service=copy, reason="CLEARHOUSE refuses 1.3"
    )
    assert removal is not None and removal.status == RunStatus.PENDING
    assert [t.stack_id for t in removal.targets.all()] == [lab.id]
    for lpar in ("SYSA", "SYSB"):  # production runs no rule yet: held back, nothing deployed
        production = Service.objects.get(stack__lpar__name=lpar, name=name)
        assert (
            services.service_rule_rollback(
                actor=people["bob"], campaign=campaign, service=production, reason="the lab"
            )
            is None
        )
    assert set(campaign.held_back.values_list("stack__lpar__name", flat=True)) == {
        "LAB1",
        "SYSA",
        "SYSB",
    }
    offered = {(s.stack.lpar.name, s.name) for s in campaign_context(request, campaign)[
        "rollback_services"]}  # fmt: skip
    assert not {s for s in offered if s[1] == name}
    # A service of neither the scope nor the lab's copies is refused.
    stray = Service.objects.filter(stack=lab).exclude(
        id__in=campaign.cohorts.get(kind=CohortKind.LAB).services.values("id")
    )
    for service in stray:
        with pytest.raises(services.CampaignRefused):
            services.service_rule_rollback(
                actor=people["bob"], campaign=campaign, service=service, reason="no"
            )


def test_the_campaign_page_says_the_lab_comes_before_the_pilot(
    estate: list[Stack], lab: Stack, people: dict[str, Any]
) -> None:
    from django.test import Client
    from django.urls import reverse

    campaign = services.campaign_create(
        actor=people["alice"], name="with a lab", stacks=estate, lab_stack=lab
    )
    client = Client()
    client.force_login(people["bob"])
    html = client.get(reverse("rollouts:campaign", args=[campaign.uuid])).content.decode()
    assert "First the lab validation on" in html and "the first is the pilot" not in html
