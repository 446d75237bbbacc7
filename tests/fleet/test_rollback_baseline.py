"""Rolling back the first deployment of a stack: back to its baseline, the pre-portal file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from attls.policy import parse_policy, render_policy
from fleet import selectors
from fleet.baselines import stack_baseline_capture
from fleet.connectors.factory import connector_for
from fleet.deploy import Runner, sha256
from fleet.models import (
    Deployment,
    DeploymentKind,
    DeploymentTarget,
    LparConnection,
    RunStatus,
    StackBaseline,
    TargetStatus,
)
from fleet.services import DeploymentRefused, rollback_to_previous
from fleet.tasks import _verify_for_deployment
from policies.models import PolicyVersion
from tests.fleet.conftest import FAST, Lab
from tests.fleet.ui_estate import FleetEstate, build_fleet, withdraw_pending


@pytest.fixture
def fleet(make_user) -> FleetEstate:
    estate = build_fleet(make_user)
    # v1 never went live on SYSA: its deployment failed, so v2 is the first version deployed.
    DeploymentTarget.objects.filter(stack=estate.sysa, version=estate.v1).update(
        status=TargetStatus.FAILED
    )
    return estate


def baseline_for(fleet: FleetEstate, text: str = "# the pre-portal policy\n") -> StackBaseline:
    return StackBaseline.objects.create(
        stack=fleet.sysa,
        path=fleet.sysa.policy_file,
        text=text,
        sha256=sha256(text),
        captured_at=timezone.now() - timedelta(days=3),
        captured_by="deployment 1a2b3c4d",
    )


@pytest.mark.django_db
def test_a_version_never_deployed_is_not_a_way_back_and_without_a_baseline_none_is(
    fleet: FleetEstate,
) -> None:
    plan = selectors.rollback_plan(stack=fleet.sysa)
    assert plan.previous is None and plan.baseline is None
    assert "no baseline of its pre-portal file was captured" in plan.refusal
    count = Deployment.objects.count()
    with pytest.raises(DeploymentRefused, match="no baseline"):
        rollback_to_previous(actor=fleet.people["operator"], stack=fleet.sysa)
    assert Deployment.objects.count() == count


@pytest.mark.django_db
def test_the_rollback_plan_targets_the_baseline_named_with_its_sha256(fleet: FleetEstate) -> None:
    baseline = baseline_for(fleet)

    plan = selectors.rollback_plan(stack=fleet.sysa)

    assert (plan.refusal, plan.to_baseline, plan.baseline) == ("", True, baseline)
    assert "the baseline (the pre-portal file" in plan.to_label
    assert baseline.sha256 in plan.to_label


@pytest.mark.django_db
def test_a_baseline_that_was_no_file_is_refused_the_portal_deletes_nothing(
    fleet: FleetEstate,
) -> None:
    baseline = baseline_for(fleet, "")
    StackBaseline.objects.filter(pk=baseline.pk).update(existed=False)
    assert "the portal does not delete policy files" in (
        selectors.rollback_plan(stack=fleet.sysa).refusal
    )


@pytest.mark.django_db
def test_the_rollback_page_offers_the_baseline_and_requests_its_text(fleet: FleetEstate) -> None:
    baseline = baseline_for(fleet)
    withdraw_pending(fleet)
    client = Client()
    client.force_login(fleet.people["operator"])
    url = reverse("fleet:stack-rollback", args=["SYSA", "TCPIP"])

    page = client.get(url).content.decode()
    assert '<span class="mono">v2</span> to <span class="mono">the baseline</span>?' in page
    assert baseline.sha256 in page

    client.post(url, {"note": ""})

    rollback = Deployment.objects.get(kind=DeploymentKind.ROLLBACK)
    target = rollback.targets.get()
    assert (target.baseline, target.text, target.sha256) == (
        baseline,
        baseline.text,
        baseline.sha256,
    )
    assert rollback.note.startswith("roll back SYSA/TCPIP from v2 to the baseline")
    assert baseline.sha256 in rollback.note


# --- against lparsim: the restore is uploaded, refreshed and compared ---------------------------


PRE_PORTAL = """\
TTLSRule TN3270
{
  LocalPortRange 992
  Direction Inbound
  TTLSGroupActionRef grpOff
}

TTLSGroupAction grpOff
{
  TTLSEnabled Off
}
"""
ADDED = """
TTLSRule FTPS
{
  LocalPortRange 990
  Direction Inbound
  TTLSGroupActionRef grpOff
}
"""


@pytest.fixture
def _no_faults(lab: Lab) -> Iterator[None]:
    yield
    lab.clear()


def test_a_rollback_to_the_baseline_restores_its_text_verified(
    connection: LparConnection, lab: Lab, make_user, _no_faults: None
) -> None:
    stack = connection.lpar.stacks.get()
    requester = make_user("olivia", Role.OPERATOR)
    approver = make_user("otto", Role.OPERATOR)
    path = stack.policy_file
    # The pre-portal file holds one rule; v1, the first version deployed, adds one.
    good = render_policy(parse_policy(PRE_PORTAL))
    text = render_policy(parse_policy(PRE_PORTAL + ADDED))
    with connector_for(connection, timeouts=FAST) as lpar:
        lpar.put_file(path, good)
        baseline = stack_baseline_capture(
            stack=stack, path=path, text=good, existed=True, captured_by="test"
        )
        lpar.put_file(path, text)
        assert "EZZ8771I" in "\n".join(lpar.console("F PAGENT,REFRESH").lines)
    version = PolicyVersion.objects.create(
        stack=stack, number=1, text=text, sha256=sha256(text), model={}, author=requester
    )
    first = Deployment.objects.create(requested_by=requester, status=RunStatus.SUCCEEDED)
    DeploymentTarget.objects.create(
        deployment=first,
        position=0,
        stack=stack,
        version=version,
        text=text,
        sha256=sha256(text),
        status=TargetStatus.SUCCEEDED,
        finished_at=timezone.now(),
    )

    rollback = rollback_to_previous(actor=requester, stack=stack)
    Deployment.objects.filter(pk=rollback.pk).update(status=RunStatus.RUNNING, approved_by=approver)
    Runner(
        rollback,
        connector_for=lambda target: connector_for(target.stack.lpar.connection, timeouts=FAST),
        verify=_verify_for_deployment,
    ).run()

    rollback.refresh_from_db()
    assert rollback.status == RunStatus.SUCCEEDED, rollback.error
    with connector_for(connection, timeouts=FAST) as lpar:
        assert lpar.get_file(path) == good
    compared = rollback.steps.get(name="compare loaded policy")
    assert compared.ok and f"as the baseline it restores, sha256 {baseline.sha256}" in (
        compared.output
    )
    assert selectors.last_known_good(stack).sha256 == baseline.sha256
    refusal = selectors.rollback_plan(stack=stack).refusal
    assert refusal.endswith("runs its baseline, the pre-portal file.")
