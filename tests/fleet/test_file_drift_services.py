"""A policy file changed out of band but not loaded: the drift names the services whose rules
differ between the text expected there and the one found, read from a real lparsim."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import timezone

from accounts.roles import Role
from attls.policy import parse_policy, render_policy
from fleet.connectors.factory import connector_for
from fleet.deploy import sha256
from fleet.models import (
    Deployment,
    DeploymentTarget,
    LparConnection,
    RunStatus,
    TargetStatus,
    VerificationRun,
)
from fleet.verify import Views, _conditions
from fleet.verify.drift import _read_policy_file, changed_rules
from policies.models import Lpar, PolicyVersion, Stack
from tests.fleet.conftest import FAST, Lab

POLICY = """\
TTLSRule TN3270
{
  LocalPortRange 992
  Direction Inbound
  TTLSGroupActionRef grpOff
}

TTLSRule FTPS
{
  LocalPortRange 990
  Direction Inbound
  TTLSGroupActionRef grpOff
}

TTLSGroupAction grpOff
{
  TTLSEnabled Off
}
"""


@pytest.fixture(autouse=True)
def _no_faults(lab: Lab) -> Iterator[None]:
    yield
    lab.clear()


def test_a_file_only_drift_lists_the_services_whose_rules_differ(
    connection: LparConnection, make_user
) -> None:
    stack = connection.lpar.stacks.get()
    author = make_user("ada", Role.ARCHITECT)
    deployed = render_policy(parse_policy(POLICY))
    edited = render_policy(parse_policy(POLICY.replace("LocalPortRange 990", "LocalPortRange 21")))
    version = PolicyVersion.objects.create(
        stack=stack, number=1, text=deployed, sha256=sha256(deployed), model={}, author=author
    )
    target = DeploymentTarget.objects.create(
        deployment=Deployment.objects.create(requested_by=author, status=RunStatus.SUCCEEDED),
        position=0,
        stack=stack,
        version=version,
        text=deployed,
        sha256=sha256(deployed),
        status=TargetStatus.SUCCEEDED,
        finished_at=timezone.now(),
    )
    run = VerificationRun.objects.create(stack=stack)
    with connector_for(connection, timeouts=FAST) as lpar:
        lpar.put_file(stack.policy_file, edited)  # by hand, and nobody refreshed
        file, _ = _read_policy_file(run, lpar, None)

    assert file.drifted and file.changed_rules == ("FTPS",)
    conditions, _ = _conditions(stack, Views(), {"services": {}}, target, file)
    (condition,) = conditions
    assert (condition.kind, condition.services) == ("file", ("FTPS",))
    assert "Rules that differ in the file: FTPS." in condition.detail
    assert condition.detail.endswith("Services affected: FTPS")


def test_a_file_that_does_not_parse_says_the_rules_cannot_be_told(db, make_user) -> None:
    stack = Stack.objects.create(lpar=Lpar.objects.create(name="SYSZ"), name="TCPIP")
    assert changed_rules(stack, POLICY, POLICY) == ((), "")
    names, why = changed_rules(stack, POLICY, "TTLSRule {")
    assert names == () and why.startswith("the rules changed cannot be told:")
