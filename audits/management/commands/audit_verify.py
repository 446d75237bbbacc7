"""`manage.py audit_verify`: recompute the audit log's hash chain; exit 1 at the first break."""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audits.log import verify_chain


class Command(BaseCommand):
    help = "Check the hash chain of the audit log and name the first broken entry."

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        check = verify_chain()
        seconds = time.perf_counter() - started
        if not check.intact:
            raise CommandError(
                f"audit log BROKEN at entry #{check.broken_at}: {check.reason}"
                f" ({check.entries} entries read in {seconds:.2f} s)"
            )
        self.stdout.write(f"audit log intact: {check.entries} entries verified in {seconds:.2f} s")
