"""The change-approval control names every deployment row its requester approved, by any of
their accounts and of any kind (a rollback and a rule removal too), however it was written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import Role
from fleet.models import Deployment, DeploymentKind
from fleet.services import deployment_approve, deployment_request
from tests.audits.assessment_support import connect, finish, publish, run_catalog
from tests.policies import conftest as design_fixtures

architect = design_fixtures.architect
stack = design_fixtures.stack
shared = design_fixtures.shared
make_service = design_fixtures.make_service

APPROVAL = "HIST-CHANGE-APPROVAL"


@pytest.fixture
def deployed(stack, make_service, architect):
    make_service("TN3270S", 992)
    version = publish(stack, architect)
    connect(stack)
    return version


def _row(stack, version, requester, approver, kind=DeploymentKind.DEPLOY) -> Deployment:
    deployment = deployment_request(actor=requester, targets=[(stack, version)], kind=kind)
    # An old row, from before the service refused it (or written behind its back).
    Deployment.objects.filter(pk=deployment.pk).update(approved_by=approver)
    return finish(deployment, timezone.now() - timedelta(days=1))


@pytest.mark.parametrize("kind", [DeploymentKind.DEPLOY, DeploymentKind.ROLLBACK])
def test_a_row_approved_by_its_requester_fails_and_is_named(
    stack, deployed, make_user, kind
) -> None:
    olivia = make_user("olivia", Role.OPERATOR)
    row = _row(stack, deployed, olivia, olivia, kind)

    result = run_catalog()[APPROVAL]

    assert result.outcome == "FAIL"
    assert f"deployment {str(row.uuid)[:8]}" in result.rationale
    assert "was approved by its requester olivia" in result.rationale


def test_a_row_approved_by_another_account_of_the_requester_fails_too(
    stack, deployed, make_user
) -> None:
    olivia = make_user("olivia", Role.OPERATOR)
    olivia_sso = make_user("olivia.sso", Role.OPERATOR)
    for account in (olivia, olivia_sso):  # one person: the e-mail address links them
        account.email = "olivia@bank.example"
        account.save(update_fields=["email"])
    row = _row(stack, deployed, olivia, olivia_sso)

    result = run_catalog()[APPROVAL]

    assert result.outcome == "FAIL"
    assert (
        f"deployment {str(row.uuid)[:8]} (deploy: v1 of SYSA/TCPIP by ada) was approved by"
        " olivia.sso, another account of its requester olivia" in result.rationale
    )


def test_a_row_approved_by_someone_else_passes(stack, deployed, make_user) -> None:
    olivia, otto = make_user("olivia", Role.OPERATOR), make_user("otto", Role.OPERATOR)
    deployment = deployment_request(actor=olivia, targets=[(stack, deployed)])
    deployment_approve(deployment=deployment, actor=otto)
    finish(deployment, timezone.now() - timedelta(days=1))

    result = run_catalog()[APPROVAL]

    assert result.outcome == "PASS", result.rationale
