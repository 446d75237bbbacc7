"""Reads every published version again and marks any whose text is not its model.

    python manage.py policy_versions_check

Exits non-zero when any stored version is untrusted, so a deployment pipeline can stop.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from policies.models import PolicyVersion
from policies.services import policy_versions_check


class Command(BaseCommand):
    help = "Mark published policy versions whose text does not read back as their model."

    def handle(self, *args: Any, **options: Any) -> None:
        for version in policy_versions_check():
            state = f"untrusted: {version.text_problem}" if version.text_problem else "trusted"
            self.stdout.write(f"{version} is now {state}")
        untrusted = PolicyVersion.objects.exclude(text_problem="")
        for version in untrusted.select_related("stack__lpar"):
            self.stdout.write(f"{version}: {version.text_problem}")
        if untrusted.exists():
            raise CommandError(f"{untrusted.count()} published version(s) cannot be trusted")
        self.stdout.write("every published version reads back as its model")
