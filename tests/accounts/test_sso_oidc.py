"""Signing in with OpenID Connect, against a real provider on loopback (tests/accounts/conftest.py):
discovery, the authorization code flow, the token endpoint and an RS256 ID token checked
against the provider's JWKS, then the directory-group mapping."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from accounts.models import DirectoryIdentity, IdentitySource
from accounts.roles import Role, roles_of
from accounts.services import directory_group_mapping_create, user_deactivate
from audits.models import AuditEntry
from policies.models import Service
from tests.accounts.conftest import oidc_person, oidc_sign_in

pytestmark = pytest.mark.django_db


def signed_in_user(client: Client) -> User | None:
    response = client.get(reverse("accounts:tokens"))
    return response.wsgi_request.user if response.status_code == 200 else None  # type: ignore[return-value]


@pytest.fixture
def mapping(db: None) -> None:
    directory_group_mapping_create(
        actor=None, source=IdentitySource.OIDC, group="zos-operators", roles=[Role.OPERATOR]
    )
    directory_group_mapping_create(
        actor=None, source=IdentitySource.OIDC, group="zos-auditors", roles=[Role.AUDITOR]
    )


def test_the_login_page_offers_the_provider_and_the_local_form(oidc) -> None:
    body = Client().get(reverse("login")).content.decode()
    assert "Sign in with Test Bank SSO" in body
    assert reverse("sso:oidc-start") in body
    assert 'name="password"' in body  # break-glass: local accounts stay


def test_sign_in_maps_the_groups_claim_to_roles(oidc, mapping) -> None:
    oidc_person(
        oidc,
        "sub-0001",
        preferred_username="carol",
        email="carol@bank.example",
        given_name="Carol",
        family_name="Jones",
        groups=["zos-operators", "zos-auditors", "canteen"],
    )
    client = Client()

    response = oidc_sign_in(client, oidc, "sub-0001")

    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    user = signed_in_user(client)
    assert user is not None and user.username == "carol"
    assert roles_of(User.objects.get(username="carol")) == [Role.OPERATOR, Role.AUDITOR]
    assert not User.objects.get(username="carol").has_usable_password()
    identity = DirectoryIdentity.objects.get(user__username="carol")
    assert (identity.source, identity.issuer, identity.subject) == ("oidc", oidc, "sub-0001")
    assert identity.person_link == "carol@bank.example"
    actions = list(AuditEntry.objects.filter(actor="sso:oidc").values_list("action", flat=True))
    assert actions == ["user create", "directory identity link"]


def test_a_sign_in_through_the_provider_records_the_browsers_address_and_agent(
    oidc, mapping
) -> None:
    oidc_person(oidc, "sub-0011", preferred_username="cleo", groups=["zos-auditors"])
    client = Client(REMOTE_ADDR="198.51.100.31", HTTP_USER_AGENT="Mozilla/5.0 sso-test")

    oidc_sign_in(client, oidc, "sub-0011")

    login = AuditEntry.objects.get(action="login", actor="cleo")
    assert login.data["client"] == {
        "address": "198.51.100.31",
        "user_agent": "Mozilla/5.0 sso-test",
    }
    assert login.data["backend"] == "accounts.sso.oidc.OidcBackend"


def test_a_person_removed_from_a_group_loses_its_role_at_the_next_sign_in(oidc, mapping) -> None:
    oidc_person(oidc, "sub-0002", preferred_username="dan", groups=["zos-operators"])
    oidc_sign_in(Client(), oidc, "sub-0002")
    assert roles_of(User.objects.get(username="dan")) == [Role.OPERATOR]

    oidc_person(oidc, "sub-0002", preferred_username="dan", groups=["zos-auditors"])
    client = Client()
    oidc_sign_in(client, oidc, "sub-0002")

    assert signed_in_user(client).username == "dan"  # type: ignore[union-attr]
    assert roles_of(User.objects.get(username="dan")) == [Role.AUDITOR]
    assert User.objects.filter(username__startswith="dan").count() == 1  # same identity, same user
    change = AuditEntry.objects.filter(action="user roles", actor="sso:oidc").latest("pk")
    assert change.data["before"] == ["operator"] and change.data["after"] == ["auditor"]


def test_group_mapping_gives_service_ownership(oidc, make_user) -> None:
    from tests.e2e.estate import build_estate

    estate = build_estate(make_user("ada", Role.ARCHITECT), owner=make_user("owen", Role.APP_OWNER))
    service = estate.services["CICSWEB1"]
    directory_group_mapping_create(
        actor=None,
        source=IdentitySource.OIDC,
        group="cics-web-team",
        roles=[Role.APP_OWNER],
        services=[service],
    )
    oidc_person(oidc, "sub-0003", preferred_username="erin", groups=["cics-web-team"])
    oidc_sign_in(Client(), oidc, "sub-0003")
    erin = User.objects.get(username="erin")
    assert roles_of(erin) == [Role.APP_OWNER]
    assert list(Service.objects.filter(owners=erin)) == [service]

    oidc_person(oidc, "sub-0003", preferred_username="erin", groups=[])
    oidc_sign_in(Client(), oidc, "sub-0003")
    assert roles_of(erin) == [] and not Service.objects.filter(owners=erin).exists()


def test_a_directory_name_never_takes_over_a_local_account(oidc, mapping, make_user) -> None:
    local_admin = make_user("root", Role.ADMIN)
    oidc_person(oidc, "sub-0004", preferred_username="root", groups=["zos-operators"])
    client = Client()

    oidc_sign_in(client, oidc, "sub-0004")

    user = signed_in_user(client)
    assert user is not None and user.username == "root@oidc" and user.pk != local_admin.pk
    assert roles_of(User.objects.get(username="root")) == [Role.ADMIN]
    assert roles_of(User.objects.get(username="root@oidc")) == [Role.OPERATOR]


def test_a_deactivated_user_cannot_sign_in_through_the_provider(oidc, mapping, make_user) -> None:
    oidc_person(oidc, "sub-0005", preferred_username="fay", groups=["zos-operators"])
    open_session = Client()
    oidc_sign_in(open_session, oidc, "sub-0005")
    admin = Client()
    admin.force_login(make_user("adam", Role.ADMIN))
    page = admin.get(reverse("accounts:user", args=["fay"])).content.decode()
    assert "Directory identities" in page and "sub-0005" in page and oidc in page

    user_deactivate(actor=make_user("root", Role.ADMIN), user=User.objects.get(username="fay"))

    assert signed_in_user(open_session) is None  # the open session ends at its next request
    client = Client()

    response = oidc_sign_in(client, oidc, "sub-0005")

    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert signed_in_user(client) is None
    assert AuditEntry.objects.filter(action="login failed").count() == 1  # told once


def test_a_callback_with_a_forged_state_signs_nobody_in(oidc, mapping) -> None:
    client = Client()
    client.get(reverse("sso:oidc-start"))

    response = client.get(reverse("sso:oidc-callback"), {"code": "stolen", "state": "forged"})

    assert response.status_code == 400  # SuspiciousOperation: not a state this browser was given
    assert signed_in_user(client) is None
    refused = AuditEntry.objects.get(action="login failed")
    assert "state not found" in refused.summary and refused.client_address == "127.0.0.1"


def test_a_sign_in_the_provider_refused_is_in_the_audit_log(oidc, mapping) -> None:
    client = Client(HTTP_USER_AGENT="Mozilla/5.0 sso-test")
    client.get(reverse("sso:oidc-start"))

    response = client.get(reverse("sso:oidc-callback"), {"error": "access_denied"})

    assert response.status_code == 302 and response["Location"] == reverse("login")
    refused = AuditEntry.objects.get(action="login failed")
    assert "the provider answered 'access_denied'" in refused.summary
    assert refused.user_agent == "Mozilla/5.0 sso-test"


def test_a_provider_that_cannot_be_reached_sends_back_to_the_login_page(settings, oidc) -> None:
    settings.OIDC_ISSUER = "http://127.0.0.1:9/unreachable"  # discard port: nothing answers
    client = Client()

    response = client.get(reverse("sso:oidc-start"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("login")
    assert "cannot be reached just now" in response.content.decode()


def test_with_oidc_off_the_login_page_offers_only_the_local_form(settings) -> None:
    settings.OIDC_ENABLED = False
    body = Client().get(reverse("login")).content.decode()
    assert "Sign in with" not in body
    response = Client().get(reverse("sso:oidc-start"))
    assert response.status_code == 302 and response["Location"] == reverse("login")


def test_an_id_token_from_another_issuer_signs_nobody_in(settings, oidc, mapping) -> None:
    # Endpoints set one by one (no discovery): the provider's ID token names
    # http://localhost:<port> as its issuer, not the one configured.
    for name, path in (
        ("OIDC_OP_AUTHORIZATION_ENDPOINT", "/oauth2/authorize"),
        ("OIDC_OP_TOKEN_ENDPOINT", "/oauth2/token"),
        ("OIDC_OP_USER_ENDPOINT", "/userinfo"),
        ("OIDC_OP_JWKS_ENDPOINT", "/jwks"),
    ):
        setattr(settings, name, oidc + path)
    settings.OIDC_ISSUER = "https://idp.bank.example"
    oidc_person(oidc, "sub-0009", preferred_username="mallory", groups=["zos-operators"])
    client = Client()

    response = oidc_sign_in(client, oidc, "sub-0009")

    assert response.status_code == 400  # SuspiciousOperation: "ID token issued by ..."
    assert signed_in_user(client) is None
    assert not User.objects.filter(username="mallory").exists()


def test_the_last_admin_keeps_the_role_and_that_sign_in_is_refused(oidc) -> None:
    directory_group_mapping_create(
        actor=None, source=IdentitySource.OIDC, group="portal-admins", roles=[Role.ADMIN]
    )
    oidc_person(oidc, "sub-0010", preferred_username="gus", groups=["portal-admins"])
    oidc_sign_in(Client(), oidc, "sub-0010")
    assert roles_of(User.objects.get(username="gus")) == [Role.ADMIN]  # the only admin
    oidc_person(oidc, "sub-0010", preferred_username="gus", groups=[])
    client = Client()

    response = oidc_sign_in(client, oidc, "sub-0010")

    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert signed_in_user(client) is None
    assert roles_of(User.objects.get(username="gus")) == [Role.ADMIN]


def test_details_the_portal_cannot_accept_refuse_the_sign_in_and_create_nothing(oidc) -> None:
    oidc_person(oidc, "sub-0011", preferred_username="ivy", email="not an address")
    client = Client()

    response = oidc_sign_in(client, oidc, "sub-0011")

    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert signed_in_user(client) is None
    assert not User.objects.filter(username="ivy").exists()
    assert not DirectoryIdentity.objects.exists()
