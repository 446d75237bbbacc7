"""The directory-group mapping pages (admins): map, change and remove a group; refusals name the
field and change nothing; every change is in the audit log with before and after."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import DirectoryGroupMapping, IdentitySource
from accounts.roles import Role
from accounts.services import directory_grants
from audits.models import AuditEntry

pytestmark = pytest.mark.django_db

OPERATORS = "cn=zos-operators,ou=groups,o=bank"


@pytest.fixture
def admin(make_user) -> Client:
    client = Client()
    client.force_login(make_user("adam", Role.ADMIN))
    return client


def mapping_events() -> list[tuple[str, str]]:
    return list(
        AuditEntry.objects.filter(action__startswith="directory group mapping")
        .order_by("pk")
        .values_list("action", "actor")
    )


def test_an_admin_maps_changes_and_removes_a_group(admin) -> None:
    response = admin.post(
        reverse("accounts:group-mappings"),
        {"source": "ldap", "group": OPERATORS, "roles": ["operator"], "note": "z/OS ops"},
    )
    assert response.status_code == 302
    mapping = DirectoryGroupMapping.objects.get()
    assert (mapping.source, mapping.group, mapping.roles) == ("ldap", OPERATORS, ["operator"])
    page = admin.get(reverse("accounts:group-mappings")).content.decode()
    assert OPERATORS in page and "z/OS ops" in page

    url = reverse("accounts:group-mapping", args=[mapping.uuid])
    response = admin.post(url, {"group": OPERATORS, "roles": ["operator", "auditor"]})
    assert response.status_code == 302
    mapping.refresh_from_db()
    assert mapping.roles == ["operator", "auditor"] and mapping.source == "ldap"

    response = admin.post(reverse("accounts:group-mapping-delete", args=[mapping.uuid]))
    assert response.status_code == 302 and not DirectoryGroupMapping.objects.exists()
    assert mapping_events() == [
        ("directory group mapping create", "adam"),
        ("directory group mapping update", "adam"),
        ("directory group mapping delete", "adam"),
    ]
    update = AuditEntry.objects.get(action="directory group mapping update")
    assert update.data["before"]["roles"] == ["operator"]
    assert update.data["after"]["roles"] == ["operator", "auditor"]
    assert update.data["mapping"] == str(mapping.uuid)


@pytest.mark.parametrize(
    ("group", "message"),
    [
        ("zos-operators", "An LDAP group is named by its DN"),
        ("CN=ZOS-Operators,OU=groups,O=bank", "is mapped already"),  # same DN, other case
        ("cn=x\n,o=bank", "no control characters"),
        ("   ", "This field is required"),
    ],
)
def test_a_bad_or_taken_group_is_refused_and_nothing_changes(admin, group, message) -> None:
    admin.post(reverse("accounts:group-mappings"), {"source": "ldap", "group": OPERATORS})
    before = list(DirectoryGroupMapping.objects.values_list("pk", "group", "roles"))
    events = mapping_events()

    response = admin.post(
        reverse("accounts:group-mappings"), {"source": "ldap", "group": group, "roles": ["admin"]}
    )

    assert response.status_code == 422 and message in response.content.decode()
    assert list(DirectoryGroupMapping.objects.values_list("pk", "group", "roles")) == before
    assert mapping_events() == events


def test_an_oidc_group_is_compared_exactly_and_grants_are_the_union(admin) -> None:
    for group, roles in (("zos-operators", ["operator"]), ("ZOS-OPERATORS", ["auditor"])):
        response = admin.post(
            reverse("accounts:group-mappings"), {"source": "oidc", "group": group, "roles": roles}
        )
        assert response.status_code == 302  # a claim value is case-sensitive: two groups

    roles, services, used = directory_grants(
        source=IdentitySource.OIDC, groups=["zos-operators", "ZOS-OPERATORS", "unmapped"]
    )
    assert roles == [Role.OPERATOR, Role.AUDITOR] and services == [] and len(used) == 2
    assert directory_grants(source=IdentitySource.LDAP, groups=["zos-operators"])[0] == []


def test_the_api_maps_changes_and_removes_a_group(make_user, estate_service) -> None:
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(make_user("adam", Role.ADMIN))
    body = {"source": "oidc", "group": "cics-web", "roles": ["app owner"]}

    created = client.post("/api/directory-groups/", {**body, "services": [str(estate_service)]})
    assert created.status_code == 201, created.json()
    uuid = created.json()["uuid"]
    assert created.json()["services"] == [str(estate_service)]
    assert client.post("/api/directory-groups/", body).status_code == 400  # mapped already

    changed = client.put(f"/api/directory-groups/{uuid}/", {"group": "cics-web", "roles": []})
    assert changed.status_code == 200 and changed.json()["roles"] == []
    assert changed.json()["services"] == []
    refused = client.put(f"/api/directory-groups/{uuid}/", {**body, "source": "ldap"})
    assert refused.status_code == 400 and "source" in refused.json()

    assert [row["group"] for row in client.get("/api/directory-groups/").json()] == ["cics-web"]
    assert client.delete(f"/api/directory-groups/{uuid}/").status_code == 204
    assert not DirectoryGroupMapping.objects.exists()
    assert [action for action, _ in mapping_events()] == [
        "directory group mapping create",
        "directory group mapping update",
        "directory group mapping delete",
    ]


@pytest.fixture
def estate_service(make_user) -> object:
    from tests.e2e.estate import build_estate

    estate = build_estate(make_user("ada", Role.ARCHITECT), owner=make_user("owen", Role.APP_OWNER))
    return estate.services["CICSWEB1"].uuid
