"""Sign-in lock-out: 10 wrong passwords lock for the configured time, however the client
dresses its address; an admin lifts it; the audit log has each lock-out once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.roles import Role
from audits.models import AuditEntry
from tests.conftest import PASSWORD

LOGIN = "/login/"


def sign_in(client: Client, username: str, password: str, **meta: str):
    return client.post(LOGIN, {"username": username, "password": password}, **meta)


def signed_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == reverse("dashboard")


def fail(client: Client, username: str, times: int, **meta: str) -> list[int]:
    return [sign_in(client, username, f"guess-{n}", **meta).status_code for n in range(times)]


def age_failures(by: timedelta) -> None:
    """The lock-out counts from the last failure: move every failure back in time."""
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=attempt.attempt_time - by)


@pytest.fixture
def otto(make_user: Callable[..., User]) -> User:
    return make_user("otto", Role.OPERATOR)


def test_the_lockout_is_ten_failures_and_fifteen_minutes_by_default() -> None:
    assert settings.AUTH_LOCKOUT_FAILURES == settings.AXES_FAILURE_LIMIT == 10
    assert timedelta(minutes=settings.AUTH_LOCKOUT_MINUTES) == settings.AXES_COOLOFF_TIME
    assert settings.AUTH_LOCKOUT_MINUTES == 15


def test_ten_wrong_passwords_lock_the_account_for_the_configured_time(otto: User) -> None:
    client = Client()

    answers = fail(client, "otto", 10)
    right_too_soon = sign_in(client, "otto", PASSWORD)

    assert answers == [200] * 9 + [429]
    assert right_too_soon.status_code == 429
    assert "Signing in is locked" in right_too_soon.content.decode()
    assert right_too_soon["Retry-After"] == str(15 * 60)
    assert "_auth_user_id" not in client.session

    age_failures(timedelta(minutes=14))
    assert sign_in(client, "otto", PASSWORD).status_code == 429  # a minute to go

    age_failures(timedelta(minutes=1, seconds=1))
    assert signed_in(sign_in(client, "otto", PASSWORD))


def test_the_lockout_time_comes_from_settings(otto: User, settings) -> None:
    settings.AXES_COOLOFF_TIME = timedelta(minutes=2)
    fail(Client(), "otto", 10)

    age_failures(timedelta(minutes=1))
    assert sign_in(Client(), "otto", PASSWORD).status_code == 429
    age_failures(timedelta(minutes=1, seconds=1))
    assert signed_in(sign_in(Client(), "otto", PASSWORD))


def test_attempts_during_the_lockout_do_not_extend_it(otto: User) -> None:
    fail(Client(), "otto", 10)
    age_failures(timedelta(minutes=10))

    fail(Client(), "otto", 5)  # refused while locked: not counted
    age_failures(timedelta(minutes=5, seconds=1))

    assert signed_in(sign_in(Client(), "otto", PASSWORD))


def test_nine_wrong_passwords_do_not_lock(otto: User) -> None:
    fail(Client(), "otto", 9)

    assert signed_in(sign_in(Client(), "otto", PASSWORD))


def test_a_spoofed_forwarded_for_does_not_reset_the_count(otto: User) -> None:
    """With no proxy declared (TRUSTED_PROXIES empty), X-Forwarded-For is the client's own word."""
    client = Client()
    answers = [
        sign_in(client, "otto", "guess", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code
        for n in range(10)
    ]

    assert answers[-1] == 429
    assert (
        sign_in(client, "otto", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.99").status_code == 429
    )
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}


def test_a_colleague_behind_the_same_address_is_not_locked_out_with_the_guessed_name(
    otto: User, make_user: Callable[..., User]
) -> None:
    make_user("opal", Role.OPERATOR)
    fail(Client(), "otto", 10)

    assert sign_in(Client(), "otto", PASSWORD).status_code == 429  # that name, that address
    assert signed_in(sign_in(Client(), "opal", PASSWORD))  # a colleague behind the same NAT
    assert signed_in(sign_in(Client(), "otto", PASSWORD, REMOTE_ADDR="192.0.2.44"))


def test_one_address_guessing_many_usernames_is_locked_at_its_own_higher_limit(
    make_user: Callable[..., User], settings
) -> None:
    assert settings.AUTH_LOCKOUT_ADDRESS_FAILURES == 100  # by default, ten times a name's
    settings.AUTH_LOCKOUT_ADDRESS_FAILURES = 15
    make_user("otto", Role.OPERATOR)
    client = Client()

    answers = [sign_in(client, f"user{n}", "Winter2026!").status_code for n in range(15)]

    assert answers == [200] * 14 + [429]
    # The address is locked: even a right password of an untouched user is refused from it.
    assert sign_in(client, "otto", PASSWORD).status_code == 429


@pytest.fixture
def behind_one_proxy(settings) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.1"]


def via_proxy(client_address: str, spoofed: str = "") -> dict[str, str]:
    """What our proxy forwards: whatever the client sent, then the address it came from."""
    chain = f"{spoofed}, {client_address}" if spoofed else client_address
    return {"HTTP_X_FORWARDED_FOR": chain, "REMOTE_ADDR": "10.0.0.1"}


def test_behind_a_proxy_the_client_is_the_address_the_proxy_appended(
    make_user: Callable[..., User], behind_one_proxy: None, settings
) -> None:
    settings.AUTH_LOCKOUT_ADDRESS_FAILURES = 10
    make_user("otto", Role.OPERATOR)
    make_user("opal", Role.OPERATOR)
    client = Client()

    answers = [
        client.post(
            LOGIN,
            {"username": f"user{n}", "password": "guess"},
            **via_proxy("203.0.113.7", spoofed=f"192.0.2.{n}"),
        ).status_code
        for n in range(10)
    ]
    from_the_guesser = client.post(
        LOGIN, {"username": "otto", "password": PASSWORD}, **via_proxy("203.0.113.7", "192.0.2.50")
    )
    from_elsewhere = Client().post(
        LOGIN, {"username": "opal", "password": PASSWORD}, **via_proxy("203.0.113.8")
    )

    assert answers[-1] == 429
    assert from_the_guesser.status_code == 429
    assert signed_in(from_elsewhere)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}


def test_failed_token_requests_count_towards_the_same_lockout(otto: User, settings) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "1000/minute"},  # the lock-out alone, here
    }
    api = APIClient()

    answers = [
        api.post("/api/token/", {"username": "otto", "password": f"guess{n}"}).status_code
        for n in range(5)
    ]
    form = fail(Client(), "otto", 4)
    locked_token = api.post("/api/token/", {"username": "otto", "password": "guess"})
    right_token = api.post("/api/token/", {"username": "otto", "password": PASSWORD})

    assert answers == [400] * 5
    assert form == [200] * 4
    assert locked_token.status_code == 429
    assert right_token.status_code == 429
    assert right_token["Retry-After"] == str(15 * 60)
    assert "token" not in right_token.data
    assert sign_in(Client(), "otto", PASSWORD).status_code == 429


def test_each_lockout_is_in_the_audit_log_once(otto: User) -> None:
    fail(Client(), "otto", 10)
    fail(Client(), "otto", 3)  # refused during the lock-out

    entries = AuditEntry.objects.filter(action="sign-in lock-out")

    assert entries.count() == 1
    entry = entries.get()
    assert entry.object_type == "User" and entry.object_id == str(otto.pk)
    assert entry.data["username"] == "otto"
    assert entry.data["address"] == "127.0.0.1"
    assert entry.data["failures"] == 10
    assert "otto" in entry.summary and "127.0.0.1" in entry.summary


def test_a_lockout_of_a_name_nobody_has_is_logged_too(db) -> None:
    fail(Client(), "nobody", 10)

    entry = AuditEntry.objects.get(action="sign-in lock-out")
    assert entry.object_id == "" and entry.data["username"] == "nobody"


def test_an_admin_lifts_a_lockout_and_the_lift_is_audited(
    otto: User, make_user: Callable[..., User]
) -> None:
    fail(Client(), "otto", 10)
    admin = Client()
    admin.force_login(make_user("adam", Role.ADMIN))

    listed = admin.get(reverse("accounts:users"))
    on_the_user_page = admin.get(reverse("accounts:user", args=["otto"]))
    lifted = admin.post(reverse("accounts:lockout-lift"), {"username": "otto"})

    assert 'data-testid="lockout-table"' in listed.content.decode()
    assert "otto" in listed.content.decode().split('data-testid="lockout-table"')[1]
    assert 'data-testid="user-lockout"' in on_the_user_page.content.decode()
    assert lifted.status_code == 302
    assert signed_in(sign_in(Client(), "otto", PASSWORD))
    entry = AuditEntry.objects.get(action="sign-in lock-out lifted")
    assert entry.actor == "adam" and entry.data["username"] == "otto"


def test_an_admin_lifts_the_lockout_of_an_address(make_user: Callable[..., User], settings) -> None:
    settings.AUTH_LOCKOUT_ADDRESS_FAILURES = 10
    make_user("otto", Role.OPERATOR)
    for n in range(10):
        sign_in(Client(), f"user{n}", "guess")
    admin = Client()
    admin.force_login(make_user("adam", Role.ADMIN))

    admin.post(reverse("accounts:lockout-lift"), {"address": "127.0.0.1"})

    assert signed_in(sign_in(Client(), "otto", PASSWORD))


@pytest.mark.parametrize("role", [Role.ARCHITECT, Role.OPERATOR, Role.AUDITOR, Role.APP_OWNER])
def test_only_an_admin_may_lift_a_lockout(
    otto: User, make_user: Callable[..., User], role: Role
) -> None:
    fail(Client(), "otto", 10)
    other = Client()
    other.force_login(make_user("someone", role))

    answer = other.post(reverse("accounts:lockout-lift"), {"username": "otto"})

    assert answer.status_code == 403
    assert sign_in(Client(), "otto", PASSWORD).status_code == 429
    assert not AuditEntry.objects.filter(action="sign-in lock-out lifted").exists()
