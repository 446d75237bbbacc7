"""Benchmark of the alert dispatcher (issue 17): 1,000 events to a webhook on loopback.

Builds a throw-away SQLite database, a webhook channel and 1,000 events over 20 stacks, then
times the dispatcher (the service the `alerts` Celery task runs) delivering them to a real
HTTP receiver on loopback: each signed, in order per stack. Target: at most 10 s. The figure
is the wall clock of dispatch only (the events are emitted before the clock starts).
Exits 1 when the target is missed or a delivery is missing.

    python bench/alerts_bench.py
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

WORK = Path(tempfile.mkdtemp(prefix="alerts-bench-"))
os.environ["DATABASE_URL"] = f"sqlite:///{WORK / 'bench.sqlite3'}"
os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402

from fleet.alerts.models import AlertChannel, AlertDelivery, ChannelKind  # noqa: E402
from fleet.alerts.services import alert_emit, channel_save  # noqa: E402
from policies.models import Lpar, Stack  # noqa: E402
from tests.fleet.alerts_support import WebhookReceiver, drain_all  # noqa: E402

EVENTS = int(os.environ.get("ALERTS_BENCH_EVENTS", "1000"))
STACKS = 20
TARGET_SECONDS = 10.0
SECRET = "bench-secret"


def main() -> int:
    call_command("migrate", verbosity=0)
    AlertChannel.objects.filter(kind=ChannelKind.EMAIL).update(enabled=False)
    admin = User.objects.create_user("bench-admin")
    stacks = [
        Stack.objects.create(lpar=Lpar.objects.create(name=f"SYS{i:02d}"), name="TCPIP")
        for i in range(STACKS)
    ]
    with WebhookReceiver(SECRET) as receiver:
        channel_save(
            channel=AlertChannel(name="bench", kind="webhook", config={"url": receiver.url}),
            actor=admin,
            secret=SECRET,
            stacks=[],
            services=[],
        )
        for index in range(EVENTS):
            alert_emit(kind="drift", stack=stacks[index % STACKS], summary=f"event {index}")
        started = time.perf_counter()
        drain_all(seconds=120)
        seconds = time.perf_counter() - started
    delivered = AlertDelivery.objects.filter(status="delivered").count()
    per_stack: dict[str, list[int]] = {}
    for body in receiver.accepted:
        per_stack.setdefault(body["stack"], []).append(body["sequence"])
    in_order = all(seq == list(range(1, len(seq) + 1)) for seq in per_stack.values())
    ok = seconds <= TARGET_SECONDS and delivered == EVENTS and in_order
    ok = ok and len(receiver.accepted) == EVENTS and all(receiver.signatures_valid)
    print("alerts benchmark (issue 17)")
    print(
        f"  webhook dispatch of {EVENTS:,} events ({STACKS} stacks) to a loopback receiver"
        f"  {seconds:.2f} s (target {TARGET_SECONDS:.0f} s)"
        f"  {EVENTS / seconds:.0f} events/s  delivered {delivered}, in order {in_order}"
        f"  {'ok' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
