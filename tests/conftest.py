from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from pytest_django import Settings

from accounts.roles import Role, ensure_role_groups
from audits.signing import DemoKey, demo_signing_key_create


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Settings) -> None:
    # The production hasher is slow on purpose; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _a_cache_of_its_own(settings: Settings, request: pytest.FixtureRequest) -> None:
    # The API throttles count in the cache, which the default settings put on the broker's
    # Redis: one test's counts (or another run's) would reach the next test. Each test gets
    # a cache of its own in memory; tests of the Redis cache set one up themselves.
    settings.CACHES = {
        alias: {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"{alias}:{request.node.nodeid}",
        }
        for alias in ("default", "process")
    }


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


SIGNING_PASSPHRASE = "test-only-signing-passphrase"


@pytest.fixture(scope="session")
def demo_key(tmp_path_factory: pytest.TempPathFactory) -> DemoKey:
    """A demo CA and evidence-signing key, made once per session the way
    `manage.py ensure_demo_signing_key` makes them (in a temporary directory)."""
    directory = tmp_path_factory.mktemp("signing")
    return demo_signing_key_create(
        p12_path=directory / "evidence-signing.p12",
        ca_path=directory / "demo-ca.pem",
        passphrase=SIGNING_PASSPHRASE,
        organisation="Test Bank",
    )
