"""Every API endpoint walked with every persona: who may read, who may write.

Reads of the estate need "view estate" (architect, operator, auditor, admin); services
and rules are also open to app owners, limited to the services they own. Every write
needs "edit design" and publication needs "publish": the architect's. A forbidden write
answers 403 (401 when nobody is signed in) and leaves the database exactly as it was.
"""

import pytest
from django.db.models import Model
from django.urls import resolve

from policies import services
from policies.api import urls as api_urls
from policies.models import (
    ChangeRecord,
    CipherSet,
    ConnectionAction,
    EnvironmentAction,
    GroupAction,
    Keyring,
    Lpar,
    PolicyVersion,
    Rule,
    Service,
    Stack,
)
from tests.policies.api.test_services_api import new_service

ESTATE_READERS = {"architect", "operator", "auditor", "admin"}
PERSONAS = [*sorted(ESTATE_READERS), "owner of A", "owner of B", "anonymous"]


@pytest.fixture
def walk(estate, architect):
    services.shared_object_create(actor=architect, model=GroupAction, fields={"name": "grpSpare"})
    services.shared_object_create(
        actor=architect, model=ConnectionAction, fields={"name": "connSpare"}
    )
    return estate


def reads(walk) -> dict[str, str]:
    """Each GET endpoint and who may read it: `estate`, `services`, `A` or `signed in`."""
    a = walk["A"].uuid
    return {
        "/api/lpars/": "estate",
        "/api/lpars/SYSA/": "estate",
        "/api/stacks/": "estate",
        "/api/stacks/SYSA/TCPIP/": "estate",
        "/api/stacks/SYSA/TCPIP/draft/": "estate",
        "/api/stacks/SYSA/TCPIP/versions/": "estate",
        "/api/stacks/SYSA/TCPIP/versions/1/": "estate",
        "/api/stacks/SYSA/TCPIP/versions/1/text/": "estate",
        "/api/keyrings/": "estate",
        "/api/keyrings/ringShared/": "estate",
        "/api/cipher-sets/": "estate",
        "/api/cipher-sets/ciphersAead/": "estate",
        "/api/group-actions/": "estate",
        "/api/group-actions/grpMaster/": "estate",
        "/api/environment-actions/": "estate",
        "/api/environment-actions/envTls12_13/": "estate",
        "/api/connection-actions/": "estate",
        "/api/connection-actions/connSpare/": "estate",
        "/api/services/": "services",
        f"/api/services/{a}/": "A",
        "/api/rules/": "services",
        f"/api/rules/{a}/": "A",
        "/api/schema/": "signed in",
    }


def expected_read(persona: str, audience: str) -> int:
    if persona == "anonymous":
        return 401
    if audience == "estate":
        return 200 if persona in ESTATE_READERS else 403
    if audience == "A":
        return 404 if persona == "owner of B" else 200
    return 200


def writes(walk) -> dict[str, tuple[str, str, dict | None, int]]:
    """Each write: (method, path, body, the architect's status)."""
    a, b = walk["A"], walk["B"]
    full_a = new_service(name="TN3270A", local_port_low=992, local_port_high=992)
    return {
        "add an LPAR": ("post", "/api/lpars/", {"name": "SYSB"}, 201),
        "add a stack": (
            "post",
            "/api/stacks/",
            {"lpar": "SYSA", "name": "TCPIPB", "policy_file": "/etc/pagent/TCPIPB.policy"},
            201,
        ),
        "add a service": ("post", "/api/services/", new_service(), 201),
        "change a service": (
            "patch",
            f"/api/services/{a.uuid}/",
            {"revision": 1, "tier": "low"},
            200,
        ),
        "replace a service": ("put", f"/api/services/{a.uuid}/", {**full_a, "revision": 1}, 200),
        "delete a service": ("delete", f"/api/services/{b.uuid}/", None, 204),
        "add a key ring": ("post", "/api/keyrings/", {"name": "ringNew", "ring": "T/R"}, 201),
        "change a key ring": (
            "patch",
            "/api/keyrings/ringShared/",
            {"revision": 1, "ring": "TCPIP/Other"},
            200,
        ),
        "add a cipher set": ("post", "/api/cipher-sets/", {"name": "c13", "suites": ["1301"]}, 201),
        "change a cipher set": (
            "patch",
            "/api/cipher-sets/ciphersAead/",
            {"revision": 1, "suites": ["1302", "1301"]},
            200,
        ),
        "add a group action": ("post", "/api/group-actions/", {"name": "grpNew"}, 201),
        "change a group action": (
            "patch",
            "/api/group-actions/grpMaster/",
            {"revision": 1, "trace": 6},
            200,
        ),
        "delete a group action": ("delete", "/api/group-actions/grpSpare/", None, 204),
        "add an environment action": (
            "post",
            "/api/environment-actions/",
            {"name": "envNew", "keyring": "ringShared"},
            201,
        ),
        "change an environment action": (
            "patch",
            "/api/environment-actions/envTls12_13/",
            {"revision": 1, "tlsv1_2": False},
            200,
        ),
        "add a connection action": ("post", "/api/connection-actions/", {"name": "connNew"}, 201),
        "change a connection action": (
            "put",
            "/api/connection-actions/connSpare/",
            {"revision": 1, "name": "connSpare", "handshake_role": "Client"},
            200,
        ),
        "delete a connection action": ("delete", "/api/connection-actions/connSpare/", None, 204),
        "publish": (
            "post",
            "/api/stacks/SYSA/TCPIP/publish/",
            {"note": "walk", "acknowledge_warnings": True},
            201,
        ),
        "declare a stack's release": (
            "post",
            "/api/stacks/SYSA/TCPIP/release/",
            {"zos_release": "3.2"},
            200,
        ),
    }


WRITE_NAMES = [
    "add an LPAR",
    "add a stack",
    "add a service",
    "change a service",
    "replace a service",
    "delete a service",
    "add a key ring",
    "change a key ring",
    "add a cipher set",
    "change a cipher set",
    "add a group action",
    "change a group action",
    "delete a group action",
    "add an environment action",
    "change an environment action",
    "add a connection action",
    "change a connection action",
    "delete a connection action",
    "publish",
    "declare a stack's release",
]

DESIGN_MODELS: list[type[Model]] = [
    Lpar,
    Stack,
    Service,
    Rule,
    Keyring,
    CipherSet,
    GroupAction,
    EnvironmentAction,
    ConnectionAction,
    PolicyVersion,
    ChangeRecord,
]


def design_state() -> dict[str, list]:
    """Every row of the design, the change log and service owners, to compare before/after."""
    state = {m.__name__: list(m.objects.order_by("pk").values()) for m in DESIGN_MODELS}
    state["owners"] = list(Service.owners.through.objects.order_by("pk").values())
    return state


def persona_client(client_for, personas, persona):
    return client_for(None if persona == "anonymous" else personas[persona])


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_role_reads_exactly_what_its_capabilities_allow(walk, client_for, personas, persona):
    client = persona_client(client_for, personas, persona)

    answers = {path: client.get(path).status_code for path in reads(walk)}

    expected = {path: expected_read(persona, audience) for path, audience in reads(walk).items()}
    assert answers == expected


def test_the_walk_covers_every_api_endpoint(walk):
    walked = {*reads(walk), *(path for _, path, _, _ in writes(walk).values())}

    walked_names = {resolve(path).url_name for path in walked}

    routes = {pattern.name for pattern in api_urls.urlpatterns}
    # API tokens are accounts' (tests/accounts/test_api_tokens.py); docs: test_docs
    assert routes - walked_names == {"docs"}


@pytest.mark.parametrize("persona", ["operator", "auditor", "admin", "owner of A", "owner of B"])
def test_every_write_by_a_role_without_the_capability_answers_403_and_changes_nothing(
    walk, client_for, personas, persona
):
    client = persona_client(client_for, personas, persona)
    before = design_state()

    answers = {
        name: getattr(client, method)(path, body).status_code
        for name, (method, path, body, _) in writes(walk).items()
    }

    assert answers == dict.fromkeys(WRITE_NAMES, 403)
    assert design_state() == before


def test_every_write_by_an_anonymous_caller_answers_401_and_changes_nothing(walk, client_for):
    client = client_for(None)
    before = design_state()

    answers = {
        name: getattr(client, method)(path, body).status_code
        for name, (method, path, body, _) in writes(walk).items()
    }

    assert answers == dict.fromkeys(WRITE_NAMES, 401)
    assert design_state() == before


@pytest.mark.parametrize("write", WRITE_NAMES)
def test_an_architect_may_make_every_write_and_it_is_recorded(walk, as_architect, write):
    method, path, body, status = writes(walk)[write]
    records = ChangeRecord.objects.count()

    response = getattr(as_architect, method)(path, body)

    assert response.status_code == status, response.data
    assert ChangeRecord.objects.count() == records + 1
