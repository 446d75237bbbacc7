"""The pieces the integration tests and bench/fleet_bench.py share: Redis and a Celery worker.

- Redis: `redis_url(db)` yields the URL of database `db` of the Redis at CELERY_BROKER_URL
  when it answers (flushed first), or of a redis-server started here on a free loopback
  port and stopped by its PID afterwards.
- `Worker`: `celery worker --beat` in its own process group, started and stopped by PID.

Nothing here imports Django or pytest: errors are HarnessError, which the fixtures turn into
test failures and the benchmark into its own message.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import redis

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
QUEUES = "default,deploy,verify,probe,evidence,alerts,zert"


class HarnessError(RuntimeError):
    """Redis or the worker could not be brought up; the message says what to do."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def xdist_index() -> int:
    """0 in a serial run or on pytest-xdist's worker gw0, N on gwN.

    Tests that use a database of the configured Redis take their number minus this, so
    parallel test workers never share a Celery queue (each runs a worker of its own).
    """
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    if index >= 4:
        raise HarnessError("the Redis databases of the tests are laid out for at most 4 workers")
    return index


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@contextmanager
def redis_url(db: int, *, configured: str | None = None) -> Iterator[str]:
    """A Redis database for tests: the configured server's `db` if it answers, else our own.

    `configured` defaults to CELERY_BROKER_URL. The configured server's database is flushed
    first; a redis-server started here listens on loopback only, keeps nothing on disk, and
    is stopped by its PID when the block ends.
    """
    configured = configured or os.environ.get("CELERY_BROKER_URL", DEFAULT_BROKER_URL)
    parsed = urlparse(configured)
    if parsed.scheme == "redis" and redis_answers(configured):
        url = f"redis://{parsed.hostname}:{parsed.port or 6379}/{db}"
        redis.Redis.from_url(url).flushdb()
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise HarnessError(
            "no Redis answers and redis-server is not installed (make test installs it)"
        )
    port = free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/{db}"
    deadline = time.monotonic() + 10
    while not redis_answers(url):
        if time.monotonic() > deadline:
            process.kill()
            raise HarnessError("the redis-server started for the tests did not answer")
        time.sleep(0.05)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


class Worker:
    """A Celery worker (with embedded beat) in its own process group."""

    def __init__(
        self, env: dict[str, str], log: Path, *, name: str = "itest", concurrency: int = 2
    ) -> None:
        self.env = env
        self.log = log
        self.name = name
        self.concurrency = concurrency
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self, timeout: float = 60) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "--app",
                "portal",
                "worker",
                "--beat",
                "--schedule",
                str(self.log.parent / "beat-schedule"),
                "--queues",
                QUEUES,
                "--concurrency",
                str(self.concurrency),
                "--loglevel",
                "INFO",
                "--hostname",
                f"{self.name}-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a kill takes its children too
        )
        deadline = time.monotonic() + timeout
        while b"ready." not in self.log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL, as a machine losing power would: no cleanup, no ack."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
