"""The lab phase: the production rules copied onto LAB1, deployed there before the pilot."""

from __future__ import annotations

from typing import Any

import pytest

from attls.policy import parse_policy
from fleet.models import LparConnection
from policies.choices import Phase
from policies.models import ChangeRecord, Lpar, Service, Stack
from rollouts import services, steps
from rollouts.models import CohortKind
from tests.rollouts.support import verified


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
