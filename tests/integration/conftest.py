"""Integration tests: real Redis, a real Celery worker process (with beat), real lparsim.

- Redis: the one at CELERY_BROKER_URL when it answers (CI), database 14 of it; otherwise a
  redis-server started here on a free loopback port and stopped by its PID afterwards.
- The worker: `celery worker -B` in a subprocess on the test database (a file for SQLite,
  PostgreSQL's test database in CI), with short fleet timings. Stopped by its PID.
- lparsim: the reference data center from scenario/reference-datacenter.yaml, in this
  process on its own event loop, every port from the system, a work directory in tmp.
"""

from __future__ import annotations

import errno
import io
import itertools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.db import connection as db_connection

from audits.signing import DemoKey
from lparsim.config import load_config
from lparsim.runner import STATE_FILE, SimulatorThread
from tests.conftest import SIGNING_PASSPHRASE

from . import harness
from .harness import ROOT, Worker

SCENARIO = ROOT / "scenario" / "reference-datacenter.yaml"
REDIS_DB = 14  # minus the xdist worker's index: 14, 13, 12, 11

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    try:
        with harness.redis_url(REDIS_DB - harness.xdist_index()) as url:
            yield url
    except harness.HarnessError as error:
        pytest.fail(str(error))


def _database_url() -> str:
    """The URL of the test database pytest-django created, for the worker process."""
    params = db_connection.settings_dict
    if params["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{params['NAME']}"
    user = params.get("USER") or ""
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{params['NAME']}"


@pytest.fixture(scope="session")
def worker(
    django_db_setup: Any,
    django_db_blocker: Any,
    redis_url: str,
    tmp_path_factory: Any,
    demo_key: DemoKey,
) -> Iterator[Worker]:
    with django_db_blocker.unblock():
        database_url = _database_url()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": redis_url,
        "DJANGO_DEBUG": "true",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "FLEET_SECRETS_KEY": settings.FLEET_SECRETS_KEY,
        "FLEET_SCHEDULER_SECONDS": "1",
        "FLEET_DEPLOY_STALE_SECONDS": "12",
        "FLEET_VERIFY_STALE_SECONDS": "40",
        "FLEET_RESUME_SECONDS": "2",
        "ALERTS_RETRY_BASE_MS": "200",
        "DATABASE_CONN_MAX_AGE": "0",
        # Evidence packs: signed with the session's demo key, written where tests read them.
        "EVIDENCE_DIR": str(tmp_path_factory.mktemp("evidence")),
        "EVIDENCE_SIGNING_P12": str(demo_key.p12),
        "EVIDENCE_SIGNING_PASSPHRASE": SIGNING_PASSPHRASE,
        "EVIDENCE_TRUST_ROOTS": str(demo_key.ca_pem),
        "EVIDENCE_TSA_URL": "",
    }
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    running = Worker(env, log)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def _broker(settings: Any, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process enqueues to the same Redis the worker consumes."""
    from portal.celery import app

    # Celery reads CELERY_BROKER_URL from the environment before its configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", redis_url)
    settings.CELERY_BROKER_URL = redis_url
    app.conf.broker_url = redis_url
    # Earlier tests in the same run may have enqueued through the configured broker; the app
    # keeps that connection pool, so drop it and let the next enqueue connect to `redis_url`.
    app._pool = None
    app.amqp._producer_pool = None
    yield


class Lab:
    """The running reference data center and its fault API."""

    def __init__(self, thread: SimulatorThread, config_path: Path) -> None:
        self.thread = thread
        self.simulator = thread.simulator
        self.config_path = config_path
        self.state_file = self.simulator.config.workdir / STATE_FILE
        # The "before" policy files as lparsim seeded them, to start every test from there.
        self.seeded: dict[tuple[str, str], str] = {}
        for name, lpar in self.simulator.lpars.items():
            for stack in lpar.config.stacks:
                path = self.simulator.config.workdir / name / "root" / stack.policy_file.lstrip("/")
                self.seeded[(name, stack.policy_file)] = path.read_text()

    def lpar(self, name: str = "SYSA") -> Any:
        return self.simulator.lpars[name]

    def admin(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(self.simulator.admin_url() + path, json=body or {}, timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def fault(self, kind: str, lpar: str = "SYSA", **body: Any) -> dict[str, Any]:
        return self.admin(f"/lpars/{lpar}/faults/{kind}", body)

    def clear(self, lpar: str = "SYSA") -> None:
        self.admin(f"/lpars/{lpar}/faults/clear")

    def service(self, name: str, lpar: str = "SYSA") -> Any:
        return next(s for s in self.lpar(lpar).config.services if s.name == name)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: Any) -> Iterator[Lab]:
    yield from start_lab(tmp_path_factory)


# Each data center takes a block of host ports of its own, outside Linux's ephemeral range
# (32768-60999): a task still running when its module's data center stops (a verification's
# probe, a lab replay) then finds those ports closed, never a data center that another test
# process started since on recycled port numbers (ports from the system allowed that: a
# probe's ClientHello reached another process's SYSA and was counted as a cleartext client).
LAB_PORTS = 22000  # above the demo's 21000 block
LAB_BLOCK = 64  # the reference data center takes 38
LAB_BLOCKS = 39  # per test process: 4 processes end below 32000
_lab_blocks = itertools.count()


def _lab_base_port() -> int:
    block = next(_lab_blocks) % LAB_BLOCKS
    return LAB_PORTS + (harness.xdist_index() * LAB_BLOCKS + block) * LAB_BLOCK


def start_lab(tmp_path_factory: Any) -> Iterator[Lab]:
    """The reference data center, on ports of its own in a work directory of its own."""
    directory = tmp_path_factory.mktemp("datacenter")
    data = yaml.safe_load(SCENARIO.read_text())
    data["sim"]["workdir"] = str(directory / "work")
    config_path = directory / "datacenter.yaml"
    for attempt in range(3):  # a block something else holds: the next one
        data["sim"]["base_port"] = _lab_base_port()
        config_path.write_text(yaml.safe_dump(data))
        try:
            thread = SimulatorThread(load_config(config_path)).start()
            break
        except OSError as error:
            if error.errno != errno.EADDRINUSE or attempt == 2:
                raise
    try:
        yield Lab(thread, config_path)
    finally:
        thread.stop()


@pytest.fixture
def estate(transactional_db: None, lab: Lab, worker: Worker, settings: Any) -> Iterator[Any]:
    """The portal seeded with the data center and connected to lparsim; fresh per test."""
    from django.contrib.auth.models import User

    from accounts.roles import Role, ensure_role_groups
    from fleet.connectors.factory import connector_for
    from fleet.models import LparConnection

    settings.DEBUG = True  # demo users
    for name in (
        "EVIDENCE_DIR",
        "EVIDENCE_SIGNING_P12",
        "EVIDENCE_SIGNING_PASSPHRASE",
        "EVIDENCE_TRUST_ROOTS",
        "EVIDENCE_TSA_URL",
    ):
        setattr(settings, name, worker.env[name])
    call_command("seed_datacenter", stdout=io.StringIO())
    call_command(
        "connect_lparsim",
        str(lab.state_file),
        "--config",
        str(lab.config_path),
        stdout=io.StringIO(),
    )
    # Scheduled verification off: each test turns it on when it is what the test is about.
    LparConnection.objects.update(enabled=False)
    lab.clear()
    for connection in LparConnection.objects.select_related("lpar"):
        with connector_for(connection) as connector:
            for (lpar, path), text in lab.seeded.items():
                if lpar == connection.lpar.name:
                    connector.put_file(path, text)
            connector.console(f"F {connection.pagent_procname},REFRESH")
    groups = ensure_role_groups()
    # The seed's demo users include a second operator (four eyes); make sure of its role.
    second, _ = User.objects.get_or_create(username="operator2")
    second.groups.set([groups[Role.OPERATOR]])
    yield lab


def wait_for(
    condition: Callable[[], Any], *, timeout: float, every: float = 0.25, what: str = ""
) -> Any:
    """Polls `condition` until it is truthy; fails the test with `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
