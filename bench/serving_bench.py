"""Serving benchmark (issue 17): /metrics and the dashboard through gunicorn.

Targets:
  * GET /metrics for 20 stacks and 3,000 services (a week of verifications written as the
    worker leaves them, bench/evidence_estate.py): <= 200 ms, the median of 7 scrapes after
    one warm-up, in this process through Django's test client with the bearer token;
  * the dashboard through gunicorn (scripts/serve.sh: production settings, WhiteNoise, HTTPS
    on loopback) with 4 worker processes, under 50 concurrent signed-in clients for 30 s:
    p95 <= 300 ms and no error. Each client is a thread with its own HTTP connection and its
    own session (a real session row of the auditor, as a sign-in leaves it), requesting the
    dashboard again as soon as it has the answer. Bounded by time (30 s) and by count
    (at most 100,000 requests).

The bench makes its own world in a temporary folder (a SQLite database, migrated) and stops
gunicorn by its PID at the end, also on failure. Everything listens on loopback.

    .venv/bin/python bench/serving_bench.py [--clients 50] [--seconds 30] [--keep]

Prints each figure with its target; exits 1 when one is missed or a step fails.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPException, HTTPSConnection, RemoteDisconnected
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.harness import free_port  # noqa: E402

STACKS = 20
SERVICES = 3000
METRICS_TARGET = 0.200
DASHBOARD_P95_TARGET = 0.300
GUNICORN_WORKERS = 4
MAX_REQUESTS = 100_000
TOKEN = secrets.token_urlsafe(32)


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def configure(work: Path) -> str:
    secret_key = secrets.token_urlsafe(50)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DJANGO_DEBUG": "true",
            "DJANGO_SECRET_KEY": secret_key,
            "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
            "OPS_METRICS_TOKEN": TOKEN,
            # No broker answers: the figures must not depend on one.
            "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        }
    )
    import logging

    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    return secret_key


def build_estate() -> Any:
    from django.core.management import call_command

    from bench import evidence_estate

    call_command("migrate", verbosity=0)
    # 20 LPARs of 150 services each (one TCPIP stack per LPAR), a verification a day.
    evidence_estate.PER_LPAR = SERVICES // STACKS
    return evidence_estate.build(services=SERVICES, run_every=24)


def bench_metrics() -> tuple[float, str]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME="127.0.0.1")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    client.get("/metrics", headers=headers)  # warm-up: imports, template-free path
    timings = []
    for _ in range(7):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get("/metrics", headers=headers)
            timings.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"/metrics answered {response.status_code}")
    body = response.content.decode()
    coverage = [
        line for line in body.splitlines() if line.startswith("attls_stack_coverage_ratio{")
    ]
    if len(coverage) != STACKS:
        raise RuntimeError(f"/metrics has coverage for {len(coverage)} stacks, not {STACKS}")
    detail = (
        f"median of 7 {statistics.median(timings) * 1000:.0f} ms, best "
        f"{min(timings) * 1000:.0f} ms, worst {max(timings) * 1000:.0f} ms; "
        f"{len(queries)} queries; {len(body)} bytes"
    )
    return statistics.median(timings), detail


def dashboard_alone(user: Any) -> str:
    """One client, in this process, no network: how long the page itself takes to make."""
    from django.test import Client

    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(user)
    client.get("/")
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        response = client.get("/")
        timings.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"the dashboard answered {response.status_code}")
    return f"median of 5 {statistics.median(timings) * 1000:.0f} ms, {len(response.content)} bytes"


def sessions(count: int, user: Any) -> list[str]:
    """Session keys as a sign-in leaves them (django.contrib.auth.login's three keys)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    keys = []
    for _ in range(count):
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        keys.append(store.session_key)
    return keys


class Gunicorn:
    def __init__(self, work: Path, secret_key: str) -> None:
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.serve_dir = work / "serve"
        self.log = work / "serve.log"
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_DEBUG"}
        env.update(
            {
                "DJANGO_SECRET_KEY": secret_key,
                "SERVE_PORT": str(self.port),
                "SERVE_WORKERS": str(GUNICORN_WORKERS),
                "SERVE_DIR": str(self.serve_dir),
                "DJANGO_STATIC_ROOT": str(ROOT / "var" / "test-serve-static"),
                "GUNICORN_ACCESSLOG": "",
            }
        )
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(ROOT / "scripts" / "serve.sh")],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait(self, timeout: float = 300) -> ssl.SSLContext:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"make serve exited:\n{self.log.read_text()[-3000:]}")
            cert = self.serve_dir / "loopback-cert.pem"
            if cert.exists():
                context = ssl.create_default_context(cafile=str(cert))
                with contextlib.suppress(httpx.TransportError):
                    httpx.get(f"{self.url}/login/", verify=context, timeout=2)
                    return context
            time.sleep(0.5)
        raise RuntimeError(f"gunicorn did not answer:\n{self.log.read_text()[-3000:]}")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of gunicorn's master and workers so far: its process group
        (started in a session of its own), read from /proc."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rpartition(")")[2].split()
                if int(fields[2]) == self.process.pid:  # pgrp
                    total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def keep_csrf_cookie(headers: dict[str, str], response: Any) -> None:
    """Sends the CSRF cookie back from then on, as a browser keeps it (without it, Django
    makes and sets a new one on every page)."""
    from django.conf import settings

    for value in response.headers.get_all("Set-Cookie") or []:
        pair = value.split(";", 1)[0]
        if pair.startswith(f"{settings.CSRF_COOKIE_NAME}="):
            session = headers["Cookie"].split("; ")[0]
            headers["Cookie"] = f"{session}; {pair}"


def load(url: str, context: ssl.SSLContext, keys: list[str], seconds: float) -> dict[str, Any]:
    from django.conf import settings

    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    budget = [MAX_REQUESTS]

    host, port = urlsplit(url).hostname, urlsplit(url).port

    def client(key: str) -> None:
        # http.client rather than httpx: the clients share this machine's two CPUs with the
        # server, and httpx spent about 1.5 ms of CPU a request on them (printed below).
        headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={key}", "Accept": "text/html"}
        http = HTTPSConnection(host, port, context=context, timeout=10)
        try:
            while time.monotonic() < deadline:
                with lock:
                    if budget[0] <= 0:
                        return
                    budget[0] -= 1
                started = time.perf_counter()
                problem = ""
                for attempt in (1, 2):
                    try:
                        http.request("GET", "/", headers=headers)
                        response = http.getresponse()
                        body = response.read()
                        ok = response.status == 200 and b"fleet-summary" in body
                        problem = "" if ok else f"HTTP {response.status}"
                        keep_csrf_cookie(headers, response)
                        break
                    except (ConnectionError, RemoteDisconnected) as error:
                        # The server may close a kept-alive connection between two requests
                        # (a worker replaced after max_requests): a browser opens another and
                        # asks again; so does this client, once, timed from the first try.
                        http.close()
                        problem = type(error).__name__
                        if attempt == 2:
                            break
                    except (OSError, HTTPException) as error:
                        http.close()
                        problem = type(error).__name__
                        break
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if problem:
                        errors.append(problem)
        finally:
            http.close()

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        list(pool.map(client, keys))
    wall = time.monotonic() - started
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "errors": errors,
        "p50": ordered[len(ordered) // 2] if ordered else float("inf"),
        "p95": ordered[int(len(ordered) * 0.95)] if ordered else float("inf"),
        "max": ordered[-1] if ordered else float("inf"),
        "rate": len(ordered) / wall if wall else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--keep", action="store_true", help="leave the work folder in place")
    parser.add_argument(
        "--reuse",
        type=Path,
        help="a work folder an earlier --keep run left: its estate is measured again (the "
        "build takes minutes)",
    )
    args = parser.parse_args()
    reuse = args.reuse is not None and (args.reuse / "bench.sqlite3").exists()
    work = args.reuse if reuse else Path(tempfile.mkdtemp(prefix="serving-bench-"))
    secret_key = configure(work)
    missed = []
    gunicorn: Gunicorn | None = None
    try:
        if reuse:
            from django.contrib.auth.models import User

            say(f"measuring the estate built earlier in {work}")
            auditor = User.objects.get(username="audrey")
        else:
            say(f"building {STACKS} stacks with {SERVICES} services (a week of verifications)")
            started = time.monotonic()
            built = build_estate()
            auditor = built.auditor
            say(
                f"built: {built.stacks} stacks, {built.services} services, {built.runs} runs "
                f"in {time.monotonic() - started:.0f} s"
            )
        median, detail = bench_metrics()
        verdict = "ok" if median <= METRICS_TARGET else "MISSED"
        print(
            f"/metrics, {STACKS} stacks / {SERVICES} services: {detail} "
            f"(target <= {METRICS_TARGET * 1000:.0f} ms) {verdict}"
        )
        if verdict != "ok":
            missed.append("/metrics")

        print(
            f"dashboard alone, in-process, one client (for reference): {dashboard_alone(auditor)}"
        )
        say(f"starting make serve (gunicorn, {GUNICORN_WORKERS} workers)")
        gunicorn = Gunicorn(work, secret_key)
        context = gunicorn.wait()
        keys = sessions(args.clients, auditor)
        say(f"{args.clients} signed-in clients on the dashboard for {args.seconds:.0f} s")
        # The machine may be shared: the load average and the CPU the server itself spent
        # per request say what the latencies were measured under.
        load_before, served_before = os.getloadavg()[0], gunicorn.cpu_seconds()
        asked_before = sum(os.times()[:2])  # this process: the clients' threads
        result = load(gunicorn.url, context, keys, args.seconds)
        server_cpu = gunicorn.cpu_seconds() - served_before
        client_cpu = sum(os.times()[:2]) - asked_before
        requests = max(result["requests"], 1)
        print(
            f"machine: {os.cpu_count()} CPUs, load average {load_before:.1f} before and"
            f" {os.getloadavg()[0]:.1f} after the load; CPU per request: gunicorn"
            f" {server_cpu / requests * 1000:.1f} ms ({server_cpu:.1f} s in all), the clients"
            f" {client_cpu / requests * 1000:.1f} ms ({client_cpu:.1f} s)"
        )
        ok = result["p95"] <= DASHBOARD_P95_TARGET and not result["errors"]
        errors = sorted(set(result["errors"]))
        print(
            f"dashboard through gunicorn ({GUNICORN_WORKERS} workers), {args.clients} clients, "
            f"{args.seconds:.0f} s: {result['requests']} requests ({result['rate']:.1f}/s), "
            f"p50 {result['p50'] * 1000:.0f} ms, p95 {result['p95'] * 1000:.0f} ms, "
            f"max {result['max'] * 1000:.0f} ms, {len(result['errors'])} errors"
            f"{' ' + ', '.join(errors) if errors else ''} "
            f"(target p95 <= {DASHBOARD_P95_TARGET * 1000:.0f} ms, no error) "
            f"{'ok' if ok else 'MISSED'}"
        )
        if not ok:
            missed.append("dashboard")
    except Exception as error:  # a failed step is a failed bench, said plainly
        print(f"FAILED: {type(error).__name__}: {error}")
        missed.append("a step failed")
    finally:
        if gunicorn is not None:
            gunicorn.stop()
        if args.keep or reuse:
            say(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if missed:
        print(f"missed: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
