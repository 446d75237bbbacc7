"""A campaign's people and the seeded reference estate (SYSA and SYSB with connections)."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.roles import Role
from policies.models import Stack
from tests.rollouts.support import reference_estate


@pytest.fixture
def people(make_user: Any) -> dict[str, Any]:
    return {
        "alice": make_user("alice", Role.OPERATOR, Role.ARCHITECT),
        "bob": make_user("bob", Role.OPERATOR),
        "carol": make_user("carol", Role.AUDITOR),
    }


@pytest.fixture
def estate(db: None) -> list[Stack]:
    return reference_estate()
