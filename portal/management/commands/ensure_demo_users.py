"""Create one demo user per role (and a second operator, to approve) with a known password;
safe to run again.

The demo and the data-center seed call this. It refuses to run with DEBUG off,
because known passwords have no place on a production portal.
"""

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.roles import Role, ensure_role_groups

DEMO_PASSWORD = "attls-demo"

DEMO_USERNAMES: dict[Role, str] = {
    Role.ARCHITECT: "architect",
    Role.OPERATOR: "operator",
    Role.AUDITOR: "auditor",
    Role.APP_OWNER: "appowner",
    Role.ADMIN: "admin",
}

# Four eyes: neither the requester nor the publisher may approve a deployment, so the
# README's story needs a second operator to approve what `operator` requested.
DEMO_SECOND_USERS: dict[str, Role] = {"operator2": Role.OPERATOR}


def demo_logins() -> list[tuple[str, Role]]:
    """Every demo login with its role, in the order they are printed."""
    return [(username, role) for role, username in DEMO_USERNAMES.items()] + list(
        DEMO_SECOND_USERS.items()
    )


class Command(BaseCommand):
    help = "Create or reset one demo user per role, all with the demo password."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("demo users have a known password: refused with DEBUG off")
        with transaction.atomic():
            groups = ensure_role_groups()
            for username, role in demo_logins():
                user, _ = User.objects.get_or_create(username=username)
                user.set_password(DEMO_PASSWORD)
                user.is_active = True
                user.save()
                user.groups.set([groups[role]])
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD})")
        for username, role in demo_logins():
            self.stdout.write(f"  {username:<10} {role}")
