"""Four eyes holds across identities: one person signing in through a second account (local and
OpenID Connect, or LDAP and OpenID Connect) cannot approve a deployment they requested or whose
version they published. Sign-ins go through the real provider and the real slapd
(tests/accounts/conftest.py); the approval through the deployment page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from accounts.identity import same_person
from accounts.models import IdentitySource
from accounts.roles import Role
from accounts.services import directory_group_mapping_create
from fleet.models import Deployment, RunStatus
from fleet.services import deployment_request
from tests.accounts.conftest import LDAP_PASSWORD, OPERATORS, oidc_person, oidc_sign_in
from tests.fleet.ui_estate import FleetEstate, build_fleet, withdraw_pending

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true", "HX-Target": "approve-panel"}


@pytest.fixture
def fleet(make_user) -> FleetEstate:
    estate = build_fleet(make_user, observations=1, hours=1)
    for source, group in ((IdentitySource.OIDC, "zos-operators"), (IdentitySource.LDAP, OPERATORS)):
        directory_group_mapping_create(
            actor=None, source=source, group=group, roles=[Role.OPERATOR]
        )
    return estate


def approve(client: Client, deployment: Deployment) -> int:
    url = reverse("fleet:deployment-approve", args=[deployment.uuid])
    return client.post(url, headers=HTMX).status_code


def operator_through_oidc(issuer: str, sub: str, **claims: str) -> tuple[Client, User]:
    oidc_person(issuer, sub, groups=["zos-operators"], **claims)
    client = Client()
    assert oidc_sign_in(client, issuer, sub).status_code == 302
    user = client.get(reverse("accounts:tokens")).wsgi_request.user
    assert user.is_authenticated
    return client, user  # type: ignore[return-value]


def test_the_requester_cannot_approve_through_their_oidc_identity(fleet, oidc) -> None:
    olivia = fleet.people["operator"]  # local account; requested fleet.pending
    olivia.email = "olivia@bank.example"
    olivia.save()
    client, second = operator_through_oidc(
        oidc, "sub-olivia", preferred_username="olivia", email="Olivia@Bank.example"
    )
    assert second.pk != olivia.pk and second.username == "olivia@oidc"

    assert approve(client, fleet.pending) == 403
    fleet.pending.refresh_from_db()
    assert fleet.pending.status == RunStatus.PENDING and fleet.pending.approved_by is None


def test_the_publisher_cannot_approve_through_their_oidc_identity(fleet, oidc) -> None:
    ada = fleet.people["architect"]  # local account; published the version fleet.pending deploys
    ada.email = "ada@bank.example"
    ada.save()
    client, _ = operator_through_oidc(oidc, "sub-ada", preferred_username="ada2", email=ada.email)

    assert approve(client, fleet.pending) == 403
    fleet.pending.refresh_from_db()
    assert fleet.pending.status == RunStatus.PENDING


def test_ldap_and_oidc_identities_linked_by_employee_number_are_one_person(
    fleet, oidc, ldap_on, settings
) -> None:
    settings.SSO_PERSON_LINK_OIDC_CLAIM = "employee_number"
    directory = Client()
    directory.post(reverse("login"), {"username": "alice", "password": LDAP_PASSWORD})
    alice_ldap = User.objects.get(username="alice")
    withdraw_pending(fleet)  # one pending request per stack
    request = deployment_request(
        actor=alice_ldap, targets=[(fleet.sysa, fleet.v2)], note="through LDAP"
    )
    # Another mailbox at the identity provider: only the employee number ties them.
    client, alice_oidc = operator_through_oidc(
        oidc,
        "sub-alice",
        preferred_username="aliddell",
        email="a.liddell@idp.example",
        employee_number="E1001",
    )
    assert same_person(alice_ldap, alice_oidc)

    assert approve(client, request) == 403
    request.refresh_from_db()
    assert request.status == RunStatus.PENDING


def test_another_person_through_oidc_approves(fleet, oidc) -> None:
    fleet.people["operator"].email = "olivia@bank.example"
    fleet.people["operator"].save()
    client, other = operator_through_oidc(
        oidc, "sub-oscar", preferred_username="oscar", email="oscar@bank.example"
    )
    assert not same_person(other, fleet.people["operator"])

    assert approve(client, fleet.pending) == 200
    fleet.pending.refresh_from_db()
    assert fleet.pending.status == RunStatus.APPROVED and fleet.pending.approved_by == other


def test_accounts_without_a_shared_key_are_different_people(make_user, settings) -> None:
    a, b = make_user("anna", Role.OPERATOR), make_user("bert", Role.OPERATOR)
    assert same_person(a, a) and not same_person(a, b) and not same_person(a, None)
    a.email = b.email = "team-mailbox@bank.example"
    a.save(), b.save()
    assert same_person(a, b)  # a shared mailbox errs on the side of four eyes (documented)
    settings.SSO_PERSON_LINK_BY_EMAIL = False
    assert not same_person(a, b)
