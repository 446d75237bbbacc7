"""Benchmarks of issue 6 measured so far: `audit_verify` over 100,000 entries (≤ 5 s).

Builds a temporary SQLite database, appends 100,000 chained entries in bulk (computed
with the same rules as audits.log.append), then times the verification.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

WORK = Path(tempfile.mkdtemp(prefix="audits-bench-"))
os.environ["DATABASE_URL"] = f"sqlite:///{WORK / 'bench.sqlite3'}"
os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from audits.log import GENESIS, canonical, entry_hash, verify_chain  # noqa: E402
from audits.models import AuditEntry  # noqa: E402

ENTRIES = 100_000
TARGET_SECONDS = 5.0


def build() -> None:
    call_command("migrate", verbosity=0)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    previous = GENESIS
    batch = []
    for sequence in range(1, ENTRIES + 1):
        at = start + timedelta(seconds=sequence)
        fields = {
            "sequence": sequence,
            "at": at,
            "actor": f"user{sequence % 17}",
            "action": ("update", "publish", "approve", "login")[sequence % 4],
            "object_type": "Service",
            "object_id": str(sequence % 3000),
            "summary": f"update Service SVC{sequence % 3000:05d}",
            "data": {"after": {"priority": sequence % 500, "phase": "pilot"}, "before": None},
        }
        digest = entry_hash(previous, canonical(**fields))
        batch.append(AuditEntry(**fields, prev_hash=previous, hash=digest))
        previous = digest
        if len(batch) == 5000:
            AuditEntry.objects.bulk_create(batch)
            batch = []
    AuditEntry.objects.bulk_create(batch)


def main() -> int:
    started = time.perf_counter()
    build()
    print(f"audits benchmarks ({ENTRIES:,} entries built in {time.perf_counter() - started:.1f} s)")
    times = []
    for _ in range(3):
        started = time.perf_counter()
        check = verify_chain()
        times.append(time.perf_counter() - started)
        assert check.intact and check.entries == ENTRIES, check
    best = min(times)
    ok = best <= TARGET_SECONDS
    print(
        f"  audit_verify over {ENTRIES:,} entries   best {best:.2f} s"
        f" (target {TARGET_SECONDS:.0f} s)  {'ok' if ok else 'MISSED'}"
    )
    print("  not measured yet: evidence packs and signature verification (issue 6 in progress)")
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        import shutil

        shutil.rmtree(WORK, ignore_errors=True)
