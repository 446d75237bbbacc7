"""`manage.py audit_verify`: recompute the audit log's hash chain; exit 1 at the first break.

Besides every entry's hash, it checks that the log still holds the head recorded outside it
by the highest checkpoint and the highest evidence pack: entries deleted from the end are
named with the head that recorded them.
"""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audits.log import verify_chain


class Command(BaseCommand):
    help = (
        "Check the hash chain of the audit log against the latest checkpoint and evidence"
        " pack, and name the first broken or missing entry."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        check = verify_chain()
        seconds = time.perf_counter() - started
        if not check.intact:
            raise CommandError(
                f"audit log BROKEN at entry #{check.broken_at}: {check.reason}"
                f" ({check.entries} entries read in {seconds:.2f} s)"
            )
        line = f"audit log intact: {check.entries} entries verified in {seconds:.2f} s"
        if check.head is not None:
            line += f"; head #{check.head.sequence:,} {check.head.hash}"
        if check.anchors_held:
            line += f"; it holds the head recorded by the {' and the '.join(check.anchors_held)}"
        else:
            line += "; no checkpoint or evidence pack has recorded a head yet"
        self.stdout.write(line)
