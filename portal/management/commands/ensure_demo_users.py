"""Create one demo user per role with a known password; safe to run again.

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


class Command(BaseCommand):
    help = "Create or reset one demo user per role, all with the demo password."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("demo users have a known password: refused with DEBUG off")
        with transaction.atomic():
            groups = ensure_role_groups()
            for role, username in DEMO_USERNAMES.items():
                user, _ = User.objects.get_or_create(username=username)
                user.set_password(DEMO_PASSWORD)
                user.is_active = True
                user.save()
                user.groups.set([groups[role]])
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD})")
        for role, username in DEMO_USERNAMES.items():
            self.stdout.write(f"  {username:<10} {role}")
