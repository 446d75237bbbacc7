"""A campaign's people and the seeded reference estate (SYSA and SYSB with connections)."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.roles import Role
from fleet.models import LparConnection
from policies.models import Lpar, Stack
from portal.seed import load_scenario, seed_datacenter


@pytest.fixture
def people(make_user: Any) -> dict[str, Any]:
    return {
        "alice": make_user("alice", Role.OPERATOR, Role.ARCHITECT),
        "bob": make_user("bob", Role.OPERATOR),
        "carol": make_user("carol", Role.AUDITOR),
    }


@pytest.fixture
def estate(db: None) -> list[Stack]:
    seed_datacenter(scenario=load_scenario())
    for lpar in Lpar.objects.filter(name__in=["SYSA", "SYSB"]):
        LparConnection.objects.create(lpar=lpar, username="ATTLSADM", ca_bundle="-")
    return list(Stack.objects.filter(lpar__name__in=["SYSA", "SYSB"]).order_by("lpar__name"))
