"""The load balancer's health check: is this web process able to serve, and is the back end
that does the work alive?

Each check answers ok or not with a short reason that names no host, URL or secret (an
exception's class, never its message: a broker URL's message may carry its password). The
answer is 200 when every check passes, 503 otherwise, so a balancer takes a host out of
rotation; monitoring reads the JSON for which part failed.

- database: one `SELECT 1`.
- broker: a connection to CELERY_BROKER_URL (Redis or RabbitMQ) within two seconds.
- workers: Celery's broadcast `active_queues` (workers answer through the broker within
  OPS_HEALTH_WORKER_TIMEOUT); failing when a queue of CELERY_TASK_QUEUES has no consumer,
  since its work (deployments, verifications, evidence) would wait for ever.
- beat: the heartbeat row beat's schedule stamps every OPS_BEAT_HEARTBEAT_SECONDS through a
  default-queue worker (portal/tasks.py); failing when older than three intervals.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from portal.models import Heartbeat
from portal.tasks import BEAT

BROKER_CONNECT_TIMEOUT = 2.0


@dataclass
class Check:
    ok: bool
    detail: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


def _problem(error: BaseException) -> str:
    return f"unreachable ({type(error).__name__})"


def _broker(app: Any) -> Any:
    """A connection to the broker the settings name (Celery itself would prefer the
    CELERY_BROKER_URL of the environment; in production the two are the same)."""
    return app.connection_for_write(
        settings.CELERY_BROKER_URL, connect_timeout=BROKER_CONNECT_TIMEOUT
    )


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any driver's error means the same to a balancer
        return Check(ok=False, detail=_problem(error))
    return Check(ok=True)


def check_broker() -> Check:
    from portal.celery import app

    try:
        with _broker(app) as broker:
            broker.ensure_connection(max_retries=1, timeout=BROKER_CONNECT_TIMEOUT)
    except Exception as error:
        return Check(ok=False, detail=_problem(error))
    return Check(ok=True)


def configured_queues() -> list[str]:
    return [queue.name for queue in settings.CELERY_TASK_QUEUES]


def check_workers() -> Check:
    from portal.celery import app

    try:
        with _broker(app) as broker:
            inspect = app.control.inspect(
                timeout=settings.OPS_HEALTH_WORKER_TIMEOUT, connection=broker
            )
            answers = inspect.active_queues() or {}
    except Exception as error:
        return Check(ok=False, detail=_problem(error))
    consumers: Counter[str] = Counter()
    for queues in answers.values():
        for queue in queues or []:
            consumers[queue.get("name", "")] += 1
    per_queue = {name: consumers.get(name, 0) for name in configured_queues()}
    idle = [name for name, count in per_queue.items() if not count]
    facts: dict[str, Any] = {"workers": len(answers), "consumers_per_queue": per_queue}
    if not answers:
        return Check(ok=False, detail="no worker answered", facts=facts)
    if idle:
        return Check(ok=False, detail=f"no worker consumes {', '.join(idle)}", facts=facts)
    return Check(ok=True, facts=facts)


def check_beat() -> Check:
    limit = 3 * settings.OPS_BEAT_HEARTBEAT_SECONDS
    try:
        beat = Heartbeat.objects.filter(name=BEAT).first()
    except Exception as error:
        return Check(ok=False, detail=_problem(error))
    if beat is None:
        return Check(ok=False, detail="no heartbeat recorded yet", facts={"limit_seconds": limit})
    age = max(0, int((timezone.now() - beat.at).total_seconds()))
    facts = {"seconds_since_heartbeat": age, "limit_seconds": limit}
    if age > limit:
        return Check(ok=False, detail="heartbeat too old", facts=facts)
    return Check(ok=True, facts=facts)


CHECKS = {
    "database": check_database,
    "broker": check_broker,
    "workers": check_workers,
    "beat": check_beat,
}


def health() -> tuple[bool, dict[str, Any]]:
    """Every check, in order; (all passed, the JSON body)."""
    results = {name: check() for name, check in CHECKS.items()}
    healthy = all(result.ok for result in results.values())
    body = {
        "status": "ok" if healthy else "failing",
        "checks": {name: asdict(result) for name, result in results.items()},
    }
    return healthy, body
