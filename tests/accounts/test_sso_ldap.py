"""Signing in with a directory password, against Debian's slapd with a throw-away directory
(tests/accounts/conftest.py): the entry found by its entryUUID, group DNs mapped to roles, the
lock-out counting wrong directory passwords like wrong local ones."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from accounts.models import DirectoryIdentity, IdentitySource
from accounts.roles import Role, roles_of
from accounts.services import directory_group_mapping_create, user_deactivate
from accounts.sso.ldap import unique_id
from audits.models import AuditEntry
from tests.accounts.conftest import ARCHITECTS, BASE, LDAP_PASSWORD, OPERATORS

pytestmark = pytest.mark.django_db

ALICE = f"uid=alice,ou=people,{BASE}"


@pytest.fixture
def mapping(db: None) -> None:
    directory_group_mapping_create(
        actor=None, source=IdentitySource.LDAP, group=OPERATORS, roles=[Role.OPERATOR]
    )
    # Typed in another case than slapd returns it: LDAP compares DNs without regard to case.
    directory_group_mapping_create(
        actor=None, source=IdentitySource.LDAP, group=ARCHITECTS.upper(), roles=[Role.ARCHITECT]
    )


# Every request of these clients comes from here, with this browser (the audit log says so).
BROWSER = {"REMOTE_ADDR": "198.51.100.23", "HTTP_USER_AGENT": "Mozilla/5.0 directory-test"}
SOURCE = {"address": "198.51.100.23", "user_agent": "Mozilla/5.0 directory-test"}


def sign_in(username: str, password: str) -> tuple[Client, int]:
    client = Client(**BROWSER)
    response = client.post(reverse("login"), {"username": username, "password": password})
    return client, response.status_code


def signed_in_as(client: Client) -> str | None:
    response = client.get(reverse("accounts:tokens"))
    return response.wsgi_request.user.username if response.status_code == 200 else None


def test_sign_in_maps_group_dns_to_roles(ldap_on, mapping) -> None:
    client, status = sign_in("alice", LDAP_PASSWORD)

    assert status == 302 and signed_in_as(client) == "alice"
    alice = User.objects.get(username="alice")
    assert roles_of(alice) == [Role.OPERATOR]
    assert (alice.email, alice.first_name, alice.last_name) == (
        "alice@bank.example",
        "Alice",
        "Liddell",
    )
    assert not alice.has_usable_password()  # the directory holds the password
    identity = DirectoryIdentity.objects.get(user=alice)
    assert identity.source == "ldap" and identity.subject == ldap_on.entry_uuid(ALICE)
    assert identity.person_link == "e1001"  # employeeNumber, normalised

    login = AuditEntry.objects.get(action="login", actor="alice")
    assert login.data["client"] == SOURCE
    assert login.data["backend"] == "accounts.sso.ldap.LdapBackend"

    _, status = sign_in("bob", "bob-directory-pass-2")
    assert status == 302
    assert roles_of(User.objects.get(username="bob")) == [Role.ARCHITECT, Role.OPERATOR]


def test_a_person_removed_from_a_group_loses_its_role_at_the_next_sign_in(ldap_on, mapping) -> None:
    sign_in("alice", LDAP_PASSWORD)
    assert roles_of(User.objects.get(username="alice")) == [Role.OPERATOR]
    ldap_on.modify(f"dn: {OPERATORS}\nchangetype: modify\ndelete: member\nmember: {ALICE}\n")
    try:
        client, status = sign_in("alice", LDAP_PASSWORD)

        assert status == 302 and signed_in_as(client) == "alice"
        assert roles_of(User.objects.get(username="alice")) == []
    finally:
        ldap_on.modify(f"dn: {OPERATORS}\nchangetype: modify\nadd: member\nmember: {ALICE}\n")


def test_a_wrong_directory_password_signs_nobody_in(ldap_on, mapping) -> None:
    client, status = sign_in("alice", "not-her-password")

    assert status == 200 and signed_in_as(client) is None
    assert not User.objects.filter(username="alice").exists()
    assert AuditEntry.objects.get(action="login failed", actor="alice").data["client"] == SOURCE


def test_the_lock_out_applies_to_directory_passwords(ldap_on, mapping, settings) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in("alice", "guess")

    client, status = sign_in("alice", LDAP_PASSWORD)

    assert status == 429  # the right directory password, refused while the lock-out lasts
    assert signed_in_as(client) is None


def test_a_directory_name_never_takes_over_a_local_account(ldap_on, mapping, make_user) -> None:
    local = make_user("alice", Role.ADMIN)  # the break-glass account

    client, status = sign_in("alice", LDAP_PASSWORD)

    assert status == 302 and signed_in_as(client) == "alice@ldap"
    assert roles_of(User.objects.get(pk=local.pk)) == [Role.ADMIN]
    assert roles_of(User.objects.get(username="alice@ldap")) == [Role.OPERATOR]


def test_a_deactivated_user_cannot_sign_in_with_the_directory_password(
    ldap_on, mapping, make_user
) -> None:
    open_session, _ = sign_in("alice", LDAP_PASSWORD)
    user_deactivate(actor=make_user("adam", Role.ADMIN), user=User.objects.get(username="alice"))

    assert signed_in_as(open_session) is None  # the open session ends at its next request
    client, status = sign_in("alice", LDAP_PASSWORD)
    assert status == 200 and signed_in_as(client) is None


def test_active_directory_object_guids_read_as_ad_tools_show_them() -> None:
    # objectGUID {01234567-89ab-cdef-0123-456789abcdef} as AD stores it: the first three
    # fields little-endian (Microsoft's GUID layout).
    stored = bytes.fromhex("67452301ab89efcd0123456789abcdef")
    assert unique_id(stored) == "01234567-89ab-cdef-0123-456789abcdef"
    assert (
        unique_id("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0") == "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    )
    assert unique_id(None) == ""
