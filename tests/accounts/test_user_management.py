"""User and role management: an admin creates users, sets roles and services, deactivates,
resets passwords; every change is in the audit log; anyone else gets 403 and nothing changes;
a single sign-on backend syncs users through the same services."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import services
from accounts.models import ApiToken
from accounts.roles import Role, roles_of
from audits.log import verify_chain
from audits.models import AuditEntry
from policies.models import Lpar, Service, Stack
from tests.conftest import PASSWORD

NEW_PASSWORD = "a long new passphrase 2026"


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    return make_user("adam", Role.ADMIN)


@pytest.fixture
def admin_client(admin: User) -> Client:
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def payments(db) -> list[Service]:
    stack = Stack.objects.create(lpar=Lpar.objects.create(name="SYSA"), name="TCPIP")
    return [Service.objects.create(stack=stack, name=name) for name in ("PAYAPI", "PAYMQ")]


def can_sign_in(username: str, password: str) -> bool:
    answer = Client().post("/login/", {"username": username, "password": password})
    return answer.status_code == 302 and answer["Location"] == reverse("dashboard")


def audited(action: str) -> AuditEntry:
    return AuditEntry.objects.get(action=action)


def test_an_admin_creates_a_user_with_roles_and_services(
    admin_client: Client, payments: list[Service]
) -> None:
    answer = admin_client.post(
        reverse("accounts:user-create"),
        {
            "username": "olga",
            "first_name": "Olga",
            "email": "olga@example.com",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "roles": ["app owner"],
            "services": [str(payments[0].uuid)],
        },
    )

    assert answer.status_code == 302
    olga = User.objects.get(username="olga")
    assert roles_of(olga) == [Role.APP_OWNER]
    assert list(olga.owned_services.all()) == [payments[0]]
    assert can_sign_in("olga", NEW_PASSWORD)
    entry = audited("user create")
    assert entry.actor == "adam" and entry.object_id == str(olga.pk)
    assert entry.data["after"]["roles"] == ["app owner"]
    assert entry.data["after"]["services"] == [
        {"uuid": str(payments[0].uuid), "service": "SYSA/TCPIP/PAYAPI"}
    ]
    assert NEW_PASSWORD not in str(entry.data)
    assert verify_chain().intact


@pytest.mark.parametrize(
    ("password", "again", "message"),
    [
        ("short", "short", "too short"),
        ("password123", "password123", "too common"),
        (NEW_PASSWORD, NEW_PASSWORD + "x", "differ"),
    ],
)
def test_a_user_with_a_weak_or_mistyped_password_is_not_created(
    admin_client: Client, password: str, again: str, message: str
) -> None:
    answer = admin_client.post(
        reverse("accounts:user-create"),
        {"username": "olga", "password1": password, "password2": again, "roles": ["auditor"]},
    )

    assert answer.status_code == 422
    assert message in answer.content.decode()
    assert not User.objects.filter(username="olga").exists()
    assert not AuditEntry.objects.filter(action="user create").exists()


def test_a_taken_username_is_refused(admin_client: Client, admin: User) -> None:
    answer = admin_client.post(
        reverse("accounts:user-create"),
        {"username": "adam", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert answer.status_code == 422
    assert "already exists" in answer.content.decode()


def test_an_admin_changes_roles_and_services_and_both_are_audited(
    admin_client: Client, make_user: Callable[..., User], payments: list[Service]
) -> None:
    olga = make_user("olga", Role.AUDITOR)

    answer = admin_client.post(
        reverse("accounts:user", args=["olga"]),
        {
            "first_name": "Olga",
            "roles": ["app owner", "operator"],
            "services": [str(s.uuid) for s in payments],
        },
    )

    assert answer.status_code == 302
    assert roles_of(olga) == [Role.OPERATOR, Role.APP_OWNER]
    assert set(olga.owned_services.all()) == set(payments)
    roles = audited("user roles")
    assert roles.data["before"] == ["auditor"]
    assert roles.data["after"] == ["operator", "app owner"]
    assert len(audited("user services").data["after"]) == 2
    assert audited("user update").data["after"]["first_name"] == "Olga"


def test_saving_without_a_change_writes_nothing_to_the_log(
    admin_client: Client, make_user: Callable[..., User]
) -> None:
    make_user("olga", Role.AUDITOR)
    before = AuditEntry.objects.count()

    admin_client.post(reverse("accounts:user", args=["olga"]), {"roles": ["auditor"]})

    assert AuditEntry.objects.count() == before


def test_the_pages_list_and_show_users(admin_client: Client, make_user) -> None:
    make_user("olga", Role.AUDITOR)

    listing = admin_client.get(reverse("accounts:users")).content.decode()
    page = admin_client.get(reverse("accounts:user", args=["olga"]))
    new = admin_client.get(reverse("accounts:user-create"))

    assert "olga" in listing and "auditor" in listing
    assert page.status_code == 200 and "olga" in page.content.decode()
    assert new.status_code == 200
    assert admin_client.get(reverse("accounts:user", args=["nobody"])).status_code == 404


def test_the_user_list_costs_the_same_queries_for_many_users(
    admin_client: Client, make_user: Callable[..., User], django_assert_max_num_queries
) -> None:
    make_user("olga", Role.AUDITOR)
    admin_client.get(reverse("accounts:users"))  # warm the session and the template cache
    with CaptureQueriesContext(connection) as few:
        admin_client.get(reverse("accounts:users"))
    for n in range(20):
        make_user(f"user{n}", Role.OPERATOR, Role.APP_OWNER)

    with django_assert_max_num_queries(len(few)):
        page = admin_client.get(reverse("accounts:users"))

    assert page.content.decode().count("user1") >= 11


def test_deactivating_ends_sessions_and_revokes_tokens(
    admin_client: Client, make_user: Callable[..., User]
) -> None:
    olga = make_user("olga", Role.OPERATOR)
    session = Client()
    session.force_login(olga)
    ApiToken.objects.create(user=olga, name="ci")

    answer = admin_client.post(reverse("accounts:user-active", args=["olga"]), {"active": "false"})

    assert answer.status_code == 302
    olga.refresh_from_db()
    assert not olga.is_active
    assert not can_sign_in("olga", PASSWORD)
    assert session.get(reverse("dashboard")).status_code == 302  # sent to the login page
    assert not ApiToken.objects.filter(user=olga).exists()
    assert audited("user deactivate").data["tokens_revoked"] == 1

    admin_client.post(reverse("accounts:user-active", args=["olga"]), {"active": "true"})
    assert can_sign_in("olga", PASSWORD)
    assert audited("user reactivate").actor == "adam"


def test_an_admin_cannot_deactivate_themselves(admin_client: Client, admin: User) -> None:
    answer = admin_client.post(reverse("accounts:user-active", args=["adam"]), {"active": "false"})

    assert answer.status_code == 422
    admin.refresh_from_db()
    assert admin.is_active


def test_the_last_admin_keeps_the_admin_role(
    admin_client: Client, admin: User, make_user: Callable[..., User]
) -> None:
    refused = admin_client.post(
        reverse("accounts:user", args=["adam"]), {"first_name": "Adam", "roles": ["auditor"]}
    )

    assert refused.status_code == 422
    assert "last active admin" in refused.content.decode()
    assert roles_of(admin) == [Role.ADMIN]
    admin.refresh_from_db()
    assert admin.first_name == ""  # the whole form was refused, not only the roles

    make_user("ada", Role.ADMIN)
    allowed = admin_client.post(reverse("accounts:user", args=["adam"]), {"roles": ["auditor"]})
    assert allowed.status_code == 302


def test_the_last_admin_cannot_be_deactivated_by_anyone(admin: User) -> None:
    with pytest.raises(services.AccountRefused, match="last active admin"):
        services.user_deactivate(actor=None, user=admin)


def test_a_password_reset_ends_sessions_and_revokes_tokens(
    admin_client: Client, make_user: Callable[..., User]
) -> None:
    olga = make_user("olga", Role.OPERATOR)
    session = Client()
    session.force_login(olga)
    ApiToken.objects.create(user=olga, name="ci")

    answer = admin_client.post(
        reverse("accounts:user-password", args=["olga"]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert answer.status_code == 302
    assert not can_sign_in("olga", PASSWORD)
    assert can_sign_in("olga", NEW_PASSWORD)
    assert session.get(reverse("dashboard")).status_code == 302
    assert not ApiToken.objects.filter(user=olga).exists()
    entry = audited("user password reset")
    assert entry.actor == "adam" and NEW_PASSWORD not in str(entry.data)


def test_a_weak_password_is_not_set(admin_client: Client, make_user) -> None:
    make_user("olga", Role.OPERATOR)

    answer = admin_client.post(
        reverse("accounts:user-password", args=["olga"]),
        {"password1": "olga", "password2": "olga"},
    )

    assert answer.status_code == 422
    assert can_sign_in("olga", PASSWORD)


# --- everyone else: 403, nothing changed ----------------------------------------------------


def accounts_state() -> tuple[object, ...]:
    return (
        tuple(User.objects.order_by("pk").values_list("username", "is_active", "password")),
        tuple(User.groups.through.objects.order_by("pk").values_list("user_id", "group_id")),
        tuple(Service.owners.through.objects.values_list("user_id", "service_id")),
        AuditEntry.objects.filter(object_type="User").exclude(action="login").count(),
    )


@pytest.mark.parametrize("role", [Role.ARCHITECT, Role.OPERATOR, Role.AUDITOR, Role.APP_OWNER])
def test_every_other_role_is_refused_and_nothing_changes(
    make_user: Callable[..., User], admin: User, payments: list[Service], role: Role
) -> None:
    make_user("olga", Role.AUDITOR)
    client = Client()
    client.force_login(make_user("someone", role))
    before = accounts_state()
    writes = {
        reverse("accounts:user-create"): {
            "username": "mallory",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "roles": ["admin"],
        },
        reverse("accounts:user", args=["olga"]): {
            "roles": ["admin"],
            "services": [str(payments[0].uuid)],
        },
        reverse("accounts:user", args=["someone"]): {"roles": ["admin"]},
        reverse("accounts:user-password", args=["olga"]): {
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
        reverse("accounts:user-active", args=["adam"]): {"active": "false"},
        reverse("accounts:lockout-lift"): {"username": "olga"},
    }

    answers = {url: client.post(url, data).status_code for url, data in writes.items()}
    reads = {
        url: client.get(url).status_code
        for url in (reverse("accounts:users"), reverse("accounts:user", args=["olga"]))
    }

    assert set(answers.values()) == {403}, answers
    assert set(reads.values()) == {403}, reads
    assert accounts_state() == before


# --- single sign-on plugs in here -------------------------------------------------------------


def test_an_identity_provider_creates_and_syncs_a_user(db) -> None:
    olga = services.user_sync_from_identity_provider(
        source="corp-idp", username="olga", email="olga@example.com", roles=[Role.AUDITOR]
    )

    assert roles_of(olga) == [Role.AUDITOR]
    assert not olga.has_usable_password()
    assert audited("user create").actor == "sso:corp-idp"

    services.user_sync_from_identity_provider(
        source="corp-idp",
        username="olga",
        email="olga@example.com",
        roles=[Role.AUDITOR, Role.ARCHITECT],
    )
    services.user_sync_from_identity_provider(
        source="corp-idp",
        username="olga",
        email="olga@example.com",
        roles=[Role.ARCHITECT, Role.AUDITOR],  # the same roles: nothing to record
    )

    assert roles_of(olga) == [Role.ARCHITECT, Role.AUDITOR]
    entry = audited("user roles")
    assert entry.actor == "sso:corp-idp" and entry.data["after"] == ["architect", "auditor"]
    assert User.objects.filter(username="olga").count() == 1
    assert verify_chain().intact
