"""`manage.py seed_datacenter`: the reference data center and one demo user per role.

Idempotent: run it as often as you like; what exists is left as it is.
"""

from pathlib import Path
from typing import Any

from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from portal.seed import SCENARIO, load_scenario, seed_datacenter, seed_demo_campaign


class Command(BaseCommand):
    help = (
        "Create the reference data center (SYSA, SYSB, LAB1; 30 services), demo users and"
        " the demo's rollout campaign."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", type=Path, default=SCENARIO, help="scenario YAML")
        parser.add_argument("--no-users", action="store_true", help="do not create the demo users")

    def handle(self, *args: Any, **options: Any) -> None:
        app_owner = None
        if not options["no_users"]:
            call_command("ensure_demo_users", stdout=self.stdout)
            app_owner = User.objects.get(username="appowner")
        result = seed_datacenter(scenario=load_scenario(options["file"]), app_owner=app_owner)
        made = ", ".join(f"{count} {what}" for what, count in result.created.items())
        self.stdout.write(
            f"Reference data center seeded from {options['file'].name}: created {made}"
        )
        if app_owner is not None and result.app_owner_team:
            self.stdout.write(f"  appowner owns the services of team {result.app_owner_team!r}")
        if not options["no_users"]:
            # Planned by the operator, so that operator2 is the second person of every step.
            campaign, created = seed_demo_campaign(owner=User.objects.get(username="operator"))
            state = "planned" if created else "kept"
            self.stdout.write(
                f"  campaign {campaign.name!r} {state}: {campaign.get_phase_display()},"
                f" {campaign.bake_seconds} s bake (/campaigns/{campaign.uuid}/)"
            )
