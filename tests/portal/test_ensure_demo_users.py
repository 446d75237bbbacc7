from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from pytest_django import Settings

from accounts.roles import ROLE_GROUPS, Role
from portal.management.commands.ensure_demo_users import (
    DEMO_PASSWORD,
    DEMO_USERNAMES,
    demo_logins,
)

pytestmark = pytest.mark.django_db


def demo_users_state() -> dict[str, tuple[int, list[str], bool]]:
    return {
        user.username: (
            user.pk,
            list(user.groups.values_list("name", flat=True)),
            user.check_password(DEMO_PASSWORD),
        )
        for user in User.objects.order_by("username")
    }


def test_ensure_demo_users_creates_one_user_per_role_and_prints_the_logins(
    settings: Settings,
) -> None:
    settings.DEBUG = True
    out = StringIO()

    call_command("ensure_demo_users", stdout=out)

    assert set(DEMO_USERNAMES) == set(Role)
    state = demo_users_state()
    for username, role in demo_logins():
        _, groups, password_ok = state[username]
        assert groups == [ROLE_GROUPS[role]]
        assert password_ok
        assert username in out.getvalue()
    assert DEMO_PASSWORD in out.getvalue()
    # The README's four-eyes story: a second operator approves what `operator` requested.
    operators = [name for name, role in demo_logins() if role is Role.OPERATOR]
    assert len(operators) == 2


def test_ensure_demo_users_is_idempotent_and_repairs_what_was_changed(
    settings: Settings,
) -> None:
    settings.DEBUG = True
    call_command("ensure_demo_users", stdout=StringIO())
    before = demo_users_state()
    operator = User.objects.get(username=DEMO_USERNAMES[Role.OPERATOR])
    operator.set_password("changed")
    operator.save()
    operator.groups.clear()

    call_command("ensure_demo_users", stdout=StringIO())

    assert demo_users_state() == before


def test_ensure_demo_users_refuses_to_run_with_debug_off(settings: Settings) -> None:
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG"):
        call_command("ensure_demo_users", stdout=StringIO())

    assert not User.objects.exists()
