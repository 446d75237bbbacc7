"""/healthz/ against a real worker with embedded beat: healthy while it runs, failing once it
is stopped. The worker here has a Redis database of its own, so the session's shared worker
(another database, another broadcast) cannot answer for it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.test import Client
from django.urls import reverse

from . import harness
from .conftest import _database_url, wait_for
from .harness import Worker

# Below the session workers' databases (14 down to 11, one per xdist worker) and
# bench/fleet_bench.py's 13: 10 minus this worker's index.
OWN_DB = 10 - harness.xdist_index()

pytestmark = pytest.mark.integration


def health() -> tuple[int, dict[str, Any]]:
    response = Client().get(reverse("healthz"))
    return response.status_code, json.loads(response.content)


def test_health_reports_a_stopped_worker_as_failing(
    transactional_db: None, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.test.utils import override_settings

    from portal.celery import app

    own_url = f"{redis_url.rsplit('/', 1)[0]}/{OWN_DB}"
    redis.Redis.from_url(own_url).flushdb()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DATABASE_CONN_MAX_AGE": "0",
        "CELERY_BROKER_URL": own_url,
        "DJANGO_DEBUG": "true",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "FLEET_SECRETS_KEY": settings.FLEET_SECRETS_KEY,
        "OPS_BEAT_HEARTBEAT_SECONDS": "5",
        # Nothing else of beat's schedule matters here; keep the worker quiet.
        "FLEET_SCHEDULER_SECONDS": "3600",
    }
    worker = Worker(env, tmp_path / "worker.log", name="health")
    previous = app.conf.broker_url
    with override_settings(
        CELERY_BROKER_URL=own_url, OPS_BEAT_HEARTBEAT_SECONDS=5, OPS_HEALTH_WORKER_TIMEOUT=1.0
    ):
        # Celery prefers CELERY_BROKER_URL from the environment to its configuration.
        monkeypatch.setenv("CELERY_BROKER_URL", own_url)
        app.conf.broker_url = own_url
        # Drop the pools connected to the session's broker (as the _broker fixture does).
        app._pool = None
        app.amqp._producer_pool = None
        try:
            worker.start()
            answers: list[Any] = []

            def healthy() -> Any:
                answers.append(health())
                return answers[-1][0] == 200 and answers[-1]

            try:
                status, body = wait_for(healthy, timeout=60, every=1, what="a healthy answer")
            except BaseException as error:
                log = (tmp_path / "worker.log").read_text()[-3000:]
                raise AssertionError(
                    f"last answer {answers[-1]}; the worker's log:\n{log}"
                ) from error
            checks = body["checks"]
            assert checks["workers"]["facts"]["workers"] == 1
            assert all(checks["workers"]["facts"]["consumers_per_queue"].values())
            assert checks["beat"]["ok"] and checks["beat"]["facts"]["seconds_since_heartbeat"] <= 15

            worker.stop()
            status, body = health()
            assert status == 503
            assert body["status"] == "failing"
            assert body["checks"]["workers"] == {
                "ok": False,
                "detail": "no worker answered",
                "facts": {
                    "workers": 0,
                    "consumers_per_queue": dict.fromkeys(
                        (queue.name for queue in settings.CELERY_TASK_QUEUES), 0
                    ),
                },
            }
            assert body["checks"]["broker"]["ok"] and body["checks"]["database"]["ok"]
        finally:
            worker.stop()
            app.conf.broker_url = previous
            app._pool = None
            app.amqp._producer_pool = None
