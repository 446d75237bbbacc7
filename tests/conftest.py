from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from pytest_django import Settings

from accounts.roles import Role, ensure_role_groups


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Settings) -> None:
    # The production hasher is slow on purpose; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


PASSWORD = "correct horse battery staple"


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    """make_user("alice", Role.OPERATOR) -> an active user with that role and PASSWORD."""

    def make(username: str, *roles: Role) -> User:
        groups = ensure_role_groups()
        user = User.objects.create_user(username=username, password=PASSWORD)
        user.groups.set([groups[role] for role in roles])
        return user

    return make
