"""A small estate seen through the API by the named personas.

SYSA/TCPIP with the scenario's shared objects, published once as v1; then service A
(owned by Olive) and service B (owned by Bob) make the draft differ from v1.
"""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.roles import Role
from policies import services
from policies.models import Service, Stack


@pytest.fixture(autouse=True)
def _fresh_throttle_counts() -> None:
    # Throttle counts live in the cache, which outlives a test's database.
    cache.clear()


@pytest.fixture
def personas(make_user, architect) -> dict[str, User]:
    return {
        "architect": architect,
        "operator": make_user("otto", Role.OPERATOR),
        "auditor": make_user("audrey", Role.AUDITOR),
        "admin": make_user("adam", Role.ADMIN),
        "owner of A": make_user("olive", Role.APP_OWNER),
        "owner of B": make_user("bob", Role.APP_OWNER),
    }


@pytest.fixture
def estate(stack: Stack, shared, make_service, architect, personas) -> dict:
    first = make_service("TN3270V1", 23)
    services.policy_version_publish(stack=stack, actor=architect, note="first cut")
    service_a = make_service("TN3270A", 992, owners=[personas["owner of A"]], tier="high")
    service_b = make_service("FTPSB", 990, owners=[personas["owner of B"]], jobname="FTPD*")
    return {"stack": stack, "first": first, "A": service_a, "B": service_b, **shared}


@pytest.fixture
def client_for() -> Callable[[User | None], APIClient]:
    """An API client signed in (by session) as the user, or anonymous for None."""

    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def as_architect(client_for, architect) -> APIClient:
    return client_for(architect)


def service_url(service: Service) -> str:
    return f"/api/services/{service.uuid}/"
