"""Deployment targets are fenced: a policy file outside the LPAR's allowed directories, or an
untrusted version, is refused when the deployment is requested and again before upload."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from accounts.roles import Role
from attls.policy import parse_policy, render_policy
from attls.policy.serialize import policy_to_dict
from fleet import deploy
from fleet.connectors.factory import connector_for
from fleet.models import Deployment, DeploymentTarget, LparConnection, RunStatus, TargetStatus
from fleet.services import DeploymentRefused, deployment_request, lpar_connection_save
from policies.models import ChangeRecord, PolicyVersion, Stack
from tests.fleet.conftest import FAST

POLICY = """\
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


@pytest.fixture
def operator(make_user):
    return make_user("otto", Role.OPERATOR)


@pytest.fixture
def version(connection: LparConnection, make_user) -> PolicyVersion:
    policy = parse_policy(POLICY)
    text = render_policy(policy)
    return PolicyVersion.objects.create(
        stack=Stack.objects.get(lpar=connection.lpar),
        number=1,
        text=text,
        sha256="a" * 64,
        model=policy_to_dict(policy),
        author=make_user("ada", Role.ARCHITECT),
        note="v1",
    )


def _aim_at(stack: Stack, path: str) -> Stack:
    # Written past the design's validators, as a row from before them would be.
    Stack.objects.filter(pk=stack.pk).update(policy_file=path)
    return Stack.objects.select_related("lpar__connection").get(pk=stack.pk)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/etc/pagent.conf", "is /etc/pagent.conf, which is not under a directory allowed"),
        ("/etc/pagent/../pagent.conf", "'..'"),
        ("/etc/pagent/TCPIP.policy\nx", "line break"),
    ],
)
def test_a_deployment_outside_the_allowed_directories_is_refused_at_request_time(
    connection, version, operator, path, reason
):
    stack = _aim_at(version.stack, path)
    records = ChangeRecord.objects.count()

    with pytest.raises(DeploymentRefused) as refused:
        deployment_request(actor=operator, targets=[(stack, version)])

    assert f"The policy file of {stack.label} " in str(refused.value)
    assert reason in str(refused.value)
    assert not Deployment.objects.exists()
    assert ChangeRecord.objects.count() == records


def test_the_api_refuses_it_too_with_the_reason(connection, version, operator):
    _aim_at(version.stack, "/etc/pagent.conf")
    client = APIClient()
    client.force_login(operator)

    response = client.post(
        "/api/fleet/deployments/",
        {"targets": [{"stack": "SYSA/TCPIP", "version": 1}], "note": "try"},
        format="json",
    )

    assert response.status_code == 409, response.data
    assert "not under a directory allowed for it (/etc/pagent/)" in response.data["detail"]
    assert not Deployment.objects.exists()


def test_a_directory_added_to_the_connection_allows_the_path(connection, version, operator):
    stack = _aim_at(version.stack, "/u/attls/TCPIP.policy")
    LparConnection.objects.filter(pk=connection.pk).update(
        policy_path_prefixes=["/etc/pagent/", "/u/attls/"]
    )
    stack = Stack.objects.select_related("lpar__connection").get(pk=stack.pk)

    deployment = deployment_request(actor=operator, targets=[(stack, version)])

    assert deployment.status == RunStatus.PENDING


def test_an_untrusted_version_is_never_deployed(connection, version, operator):
    PolicyVersion.objects.filter(pk=version.pk).update(text_problem="Its text does not parse")
    version.refresh_from_db()

    with pytest.raises(DeploymentRefused, match=r"untrusted\. Its text does not parse"):
        deployment_request(actor=operator, targets=[(version.stack, version)])


def test_the_worker_checks_the_path_again_before_it_uploads(connection, version, operator, lab):
    deployment = deployment_request(actor=operator, targets=[(version.stack, version)])
    Deployment.objects.filter(pk=deployment.pk).update(status=RunStatus.RUNNING)
    # Between request and run, the stack is pointed at Policy Agent's own configuration.
    _aim_at(version.stack, "/etc/pagent.conf")
    reader = connector_for(connection, timeouts=FAST)
    before = reader.get_file("/etc/pagent.conf")

    def no_verification(*args: object) -> None:
        raise AssertionError("nothing may be verified: nothing was deployed")

    deploy.Runner(
        Deployment.objects.get(pk=deployment.pk),
        connector_for=lambda target: connector_for(target.stack.lpar.connection, timeouts=FAST),
        verify=no_verification,  # type: ignore[arg-type]
        sleep=lambda seconds: None,
    ).run()

    target = DeploymentTarget.objects.get(deployment=deployment)
    assert target.status == TargetStatus.FAILED
    assert not target.uploaded
    assert "is /etc/pagent.conf, which is not under a directory allowed" in target.error
    step = target.steps.get(name="check target")
    assert not step.ok
    assert Deployment.objects.get(pk=deployment.pk).status == RunStatus.FAILED
    assert reader.get_file("/etc/pagent.conf") == before
    reader.close()


@pytest.mark.parametrize(
    ("prefixes", "reason"),
    [
        (["/etc/pagent"], "must end with '/'"),
        (["etc/pagent/"], "absolute"),
        (["/etc/pagent/../"], "'..'"),
        ([], "cannot be blank"),
    ],
)
def test_the_allowed_directories_are_themselves_validated(connection, operator, prefixes, reason):
    with pytest.raises(ValidationError) as refused:
        lpar_connection_save(
            actor=operator, lpar=connection.lpar, fields={"policy_path_prefixes": prefixes}
        )

    assert reason in str(refused.value.message_dict["policy_path_prefixes"])
    assert LparConnection.objects.get(pk=connection.pk).policy_path_prefixes == ["/etc/pagent/"]


def test_the_pagent_procedure_cannot_carry_a_second_console_operand(connection, operator):
    with pytest.raises(ValidationError) as refused:
        lpar_connection_save(
            actor=operator, lpar=connection.lpar, fields={"pagent_procname": "PAGENT,X"}
        )

    assert "','" in str(refused.value.message_dict["pagent_procname"])
