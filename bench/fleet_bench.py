"""Fleet benchmark (issue 5): verify, deploy, roll back and detect drift against lparsim.

Targets:
  * one verification of a stack with 30 services and 1,000 live connections, probe
    included: <= 5 s (enqueued to succeeded, the worst of 3);
  * 20 LPARs verified with 2 worker processes: <= 30 s (20 runs enqueued at once, to the
    last one succeeded);
  * deploy to verified on one stack: <= 5 s (approval to the deployment's SUCCEEDED, which
    includes its verification; the worst of two deployments);
  * rollback to verified: <= 10 s (`rollback_to_previous`, approved by a second operator,
    to SUCCEEDED);
  * drift detection latency with a 10 s interval: <= 15 s (an out-of-band edit, TLS 1.0 and
    1.1 switched On, refreshed into PAGENT through lparsim's drift fault, until a policy
    DriftEvent opens; the worst of 3, each injected at a random moment of the cycle);
  * verification of the same stack with 10,000 EZD1286I lines written to its syslog since
    the previous run: <= 5 s (enqueued to succeeded; the lines name 29 of its rules, peers
    and codes, so the run also opens their refused-clients incidents);
  * refused-client incident latency with a 10 s interval: <= 15 s (20 TLS 1.0/1.1 clients of
    one service start, AT-TLS refuses them with RC 412, until its refused-clients incident
    opens; the worst of 3, each started at a random moment of the cycle).

The bench makes its own world and takes it down by PID at the end, also on failure: a
temporary SQLite database (migrated), Redis (database 13 of the one at CELERY_BROKER_URL,
else a redis-server of its own), one Celery worker with beat and `--concurrency 2` on
that database, and lparsim in this process (two generated data centers, one after the
other: bench/fleet_scenarios.py). Everything listens on loopback; every wait is bounded.
The product runs with its shipped timings (beat every FLEET_SCHEDULER_SECONDS, default 5).

Each figure is printed with its target and where its time went (the run's own step
timings); exits 1 when a target is missed or a step fails.

    .venv/bin/python bench/fleet_bench.py [--profile] [--keep]

--profile also runs one verification of the big stack in this process under cProfile and
prints the functions that took the most time; --keep leaves the work directory (worker log,
database, lparsim files) in place.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import logging
import os
import random
import resource
import secrets
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from cryptography.fernet import Fernet

from bench import fleet_scenarios
from lparsim.config import load_config
from lparsim.runner import STATE_FILE, SimulatorThread
from tests.integration import harness

REDIS_DB = 6  # the tests use 14 down to 7 (one or two per xdist worker)
VERIFY_TARGET = 5.0
FLEET_TARGET = 30.0
DEPLOY_TARGET = 5.0
ROLLBACK_TARGET = 10.0
DRIFT_TARGET = 15.0
DRIFT_INTERVAL = 10
SYSLOG_TARGET = 5.0
SYSLOG_LINES = 10_000
REFUSED_TARGET = 15.0
REFUSED_CLIENTS = 20
BIG_SERVICES = 30
BIG_CLIENTS = 1000
FLEET_LPARS = 20
RUNS = 3
POLL = 0.1


class BenchError(Exception):
    """A step of the bench could not be carried out; the message says which."""


@dataclass
class Figure:
    name: str
    target: float
    seconds: float | None = None
    detail: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.seconds is not None and self.seconds <= self.target

    def line(self) -> str:
        verdict = "ok" if self.ok else "MISSED"
        measured = f"{self.seconds:7.2f} s" if self.seconds is not None else "      - s"
        return f"{self.name:<58} {measured} (target {self.target:4.1f} s)  {verdict}"


def wait_for(
    condition: Callable[[], Any], *, timeout: float, what: str, every: float = POLL
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def say(message: str) -> None:
    print(f"  .. {message}", flush=True)


# --- the world ----------------------------------------------------------------------------------


def raise_file_limit(wanted: int = 16384) -> str:
    """lparsim holds both ends of every session in this process: 2 descriptors each."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return f"RLIMIT_NOFILE {soft}"


def configure_django(work: Path, redis_url: str) -> dict[str, str]:
    """Environment of this process and the worker: a fresh SQLite file, DEBUG, our Redis."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            # The worker's processes and this one write at the same time: SQLite's deferred
            # transactions fail at once with "database is locked" when one that has read
            # upgrades to a write while another process writes (fleet/verify/run.py's atomic
            # block does), so every connection begins IMMEDIATE and waits for the lock.
            "DATABASE_URL": (
                f"sqlite:///{work / 'bench.sqlite3'}?transaction_mode=IMMEDIATE&timeout=30"
            ),
            "DATABASE_CONN_MAX_AGE": "0",
            "DJANGO_DEBUG": "true",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "FLEET_SECRETS_KEY": Fernet.generate_key().decode(),
            "CELERY_BROKER_URL": redis_url,
        }
    )
    env = dict(os.environ)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:  # kept by the file: the worker's connections too
        cursor.execute("PRAGMA journal_mode=WAL")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return env


class Sim:
    """A generated data center running in this process, with its admin (fault) API."""

    def __init__(self, directory: Path, data: dict[str, Any]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.data = data
        self.config_path = directory / "datacenter.yaml"
        self.config_path.write_text(yaml.safe_dump(data, sort_keys=False))
        self.expected = sum(
            population["clients"]
            for lpar in data["lpars"]
            for service in lpar["services"]
            for population in service["sim"]["populations"]
        )
        started = time.perf_counter()
        self.thread = SimulatorThread(load_config(self.config_path), timeout=120).start()
        self.started_in = time.perf_counter() - started
        self.simulator = self.thread.simulator
        self.state_file = self.simulator.config.workdir / STATE_FILE
        self.client = httpx.Client(base_url=self.simulator.admin_url(), timeout=30)

    def stop(self) -> None:
        self.client.close()
        self.thread.stop()

    def admin(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.client.post(path, json=body or {})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def state(self, lpar: str) -> dict[str, Any]:
        response = self.client.get(f"/lpars/{lpar}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def sessions(self, kind: str | None = None) -> int:
        """Live sessions on every LPAR: all, or those secured by `kind` (at-tls, app, none)."""
        total = 0
        for name in self.simulator.lpars:
            for stack in self.state(name)["stacks"].values():
                for bucket, protocols in stack["sessions"].items():
                    if kind is None or bucket == kind:
                        total += sum(protocols.values())
        return total

    def wait_sessions(self, kind: str | None, timeout: float) -> int:
        wanted = int(self.expected * 0.98)
        what = f"{wanted} live {kind or ''} sessions".replace("  ", " ")
        wait_for(lambda: self.sessions(kind) >= wanted, timeout=timeout, what=what, every=0.5)
        return self.sessions(kind)


@contextlib.contextmanager
def running(sim: Sim) -> Iterator[Sim]:
    try:
        yield sim
    finally:
        sim.stop()


# --- the portal side ----------------------------------------------------------------------------


def seed_and_connect(sim: Sim) -> None:
    """The design from the same scenario, LPAR connections from lparsim's state file.

    Scheduled verification is off for the new connections (each figure turns it on when it
    is what it measures): in the same transaction, so beat never sees them enabled.
    """
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import transaction

    from accounts.roles import Role, ensure_role_groups
    from fleet.models import LparConnection
    from portal.seed import seed_datacenter

    with transaction.atomic():
        call_command("ensure_demo_users", stdout=io.StringIO())
        groups = ensure_role_groups()
        second, _ = User.objects.get_or_create(username="operator2")
        second.groups.set([groups[Role.OPERATOR]])
        seed_datacenter(scenario=sim.data)
        call_command(
            "connect_lparsim",
            str(sim.state_file),
            "--config",
            str(sim.config_path),
            stdout=io.StringIO(),
        )
        LparConnection.objects.update(enabled=False)


def user(name: str) -> Any:
    from django.contrib.auth.models import User

    return User.objects.get(username=name)


def publish(stack: Any, note: str) -> Any:
    from policies import services as design

    return design.policy_version_publish(
        stack=stack, actor=user("architect"), note=note, acknowledge_warnings=True
    )


def request_deployment(stack: Any, version: Any) -> Any:
    from fleet import services as fleet

    return fleet.deployment_request(
        actor=user("operator"), targets=[(stack, version)], note="bench"
    )


def approve(deployment: Any) -> Any:
    """Four eyes: operator2 approves what operator requested. The scenarios' TLS 1.0/1.1 and
    cleartext clients are there to be refused, so any peers the prediction says will break
    are acknowledged (fleet.services.deployment_approve refuses the approval otherwise)."""
    from fleet import services as fleet

    return fleet.deployment_approve(
        deployment=deployment,
        actor=user("operator2"),
        acknowledge_impact="bench: the scenario's TLS 1.0/1.1 and cleartext clients are refused",
    )


def finished(deployment_id: int, timeout: float) -> Any:
    from fleet.models import Deployment

    def done() -> Any:
        current = Deployment.objects.get(pk=deployment_id)
        return current if current.is_finished else None

    return wait_for(done, timeout=timeout, what=f"deployment {deployment_id} to finish")


def deployment_detail(deployment: Any) -> list[str]:
    from fleet.models import DeploymentStep, RunStatus

    steps = DeploymentStep.objects.filter(deployment=deployment).order_by("id")
    queued = (deployment.started_at - deployment.approved_at).total_seconds()
    parts = [f"queue {queued:.2f}"] + [f"{s.name} {s.seconds:.2f}" for s in steps if s.seconds]
    lines = ["steps (s): " + ", ".join(parts)]
    run = deployment.verifications.order_by("-pk").first()
    if run is not None and run.finished_at is not None:
        lines.append(run_breakdown(run))
    if deployment.status != RunStatus.SUCCEEDED:
        lines.append(f"status {deployment.status}: {deployment.error}")
    return lines


def timed_deployment(deployment: Any, approve: Callable[[], Any], timeout: float = 180) -> Any:
    started = time.monotonic()
    approve()
    done = finished(deployment.pk, timeout)
    return done, time.monotonic() - started


def run_breakdown(run: Any) -> str:
    """Where a verification's time went, from the timings it stores with its outputs."""
    total = (run.finished_at - run.started_at).total_seconds()
    queued = (run.started_at - run.created_at).total_seconds()
    parts = [f"queue {queued:.2f}"]
    steps = 0.0
    for name in ("pasearch", "netstat_conn", "netstat_allconn", "syslog", "probe"):
        entry = (run.outputs or {}).get(name) or {}
        if "seconds" in entry:
            steps += entry["seconds"]
            parts.append(f"{name} {entry['seconds']:.2f}")
    parts.append(f"parse+figures+db {max(0.0, total - steps):.2f}")
    results = run.results or {}
    # Every EZD1286I line in the syslog so far (the probe's refused handshakes among them).
    failures = sum(
        sum(codes.values()) for codes in (results.get("handshake_failures_total") or {}).values()
    )
    return (
        "run (s): "
        + ", ".join(parts)
        + f"; {results.get('connections')} connections, coverage {results.get('coverage')},"
        f" {failures} failed handshakes logged"
    )


def verified(run_id: int, timeout: float) -> Any:
    from fleet.models import RunStatus, VerificationRun

    def done() -> Any:
        run = VerificationRun.objects.get(pk=run_id)
        if run.status == RunStatus.FAILED:
            raise BenchError(f"verification {run_id} failed: {run.error}")
        return run if run.status == RunStatus.SUCCEEDED else None

    return wait_for(done, timeout=timeout, what=f"verification {run_id}")


# --- figures ------------------------------------------------------------------------------------


def bench_big_stack(work: Path, figures: dict[str, Figure], profile: bool) -> None:
    from fleet import services as fleet
    from fleet.models import DriftEvent, DriftKind, Incident, LparConnection, RunStatus
    from fleet.tasks import verification_request
    from policies import services as design
    from policies.models import Stack
    from portal.seed import policy_name

    data = fleet_scenarios.big_stack(work / "work", services=BIG_SERVICES, clients=BIG_CLIENTS)
    say(f"lparsim: 1 LPAR, {BIG_SERVICES} services, {BIG_CLIENTS} TLS clients")
    with running(Sim(work, data)) as sim:
        say(f"lparsim listening in {sim.started_in:.2f} s")
        live = sim.wait_sessions(None, timeout=90)
        say(f"{live} live sessions (application TLS)")
        seed_and_connect(sim)
        stack = Stack.objects.get(lpar__name="BIG1", name="TCPIP")

        # Deploy v1: every service gets its AT-TLS rule.
        deploy = figures["deploy"]
        v1 = publish(stack, "AT-TLS for every service")
        deployment = request_deployment(stack, v1)
        done, seconds = timed_deployment(
            deployment,
            lambda: approve(deployment),
        )
        deploy.detail += [f"v1 {seconds:.2f} s", *deployment_detail(done)]
        if done.status != RunStatus.SUCCEEDED:
            raise BenchError(f"deploying v1 did not succeed: {done.error}")
        deploy.seconds = seconds

        # Sessions opened before the refresh keep their state until they close: drop them
        # and let the clients come back under AT-TLS.
        sim.admin("/lpars/BIG1/faults/drop")
        live = sim.wait_sessions("at-tls", timeout=120)
        say(f"{live} live sessions secured by AT-TLS")

        # Figure 1: one verification, through the worker.
        verify = figures["verify"]
        times = []
        for _ in range(RUNS):
            started = time.monotonic()
            run = verification_request(stack_id=stack.id)
            run = verified(run.pk, timeout=120)
            times.append(time.monotonic() - started)
            verify.detail.append(f"{times[-1]:.2f} s; " + run_breakdown(run))
        verify.seconds = max(times)
        if profile:
            verify.detail += profile_verification(stack)

        # Figure: the same verification with 10,000 EZD1286I lines since the previous run.
        syslog = figures["syslog"]
        lpar = sim.simulator.lpars["BIG1"]
        # The service with the TLS 1.0/1.1 population is kept for the refused-client latency.
        refusing_service = policy_name(data["lpars"][0]["services"][0]["name"])
        rules = list(stack.services.exclude(name=refusing_service).values_list("name", flat=True))
        lpar.fs.append_text(lpar.config.syslog, failure_lines(rules, SYSLOG_LINES))
        started = time.monotonic()
        run = verification_request(stack_id=stack.id)
        run = verified(run.pk, timeout=120)
        syslog.seconds = time.monotonic() - started
        window = (run.outputs.get("syslog") or {}).get("window") or {}
        opened = len(run.results.get("incidents_opened") or [])
        syslog.detail.append(
            f"{window.get('new_lines')} new EZD1286I lines, {run.results.get('refused')} refused"
            f" attempts counted, {opened} incident(s) opened; " + run_breakdown(run)
        )

        # Deploy v2 (one rule's priority moved), then roll back to v1.
        service = stack.services.order_by("name").first()
        design.service_update(
            actor=user("architect"),
            service=service,
            fields={"priority": service.rule.priority + 1},
            expected_revision=service.revision,
        )
        v2 = publish(stack, "priority of one rule moved")
        deployment = request_deployment(stack, v2)
        done, seconds = timed_deployment(
            deployment,
            lambda: approve(deployment),
        )
        deploy.detail += [f"v2 {seconds:.2f} s", *deployment_detail(done)]
        if done.status != RunStatus.SUCCEEDED:
            raise BenchError(f"deploying v2 did not succeed: {done.error}")
        deploy.seconds = max(deploy.seconds, seconds)

        rollback = figures["rollback"]
        started = time.monotonic()
        deployment = fleet.rollback_to_previous(actor=user("operator"), stack=stack, note="bench")
        approve(deployment)  # four eyes on the way back too
        done = finished(deployment.pk, timeout=180)
        rollback.seconds = time.monotonic() - started
        rollback.detail += deployment_detail(done)
        if done.status != RunStatus.SUCCEEDED:
            raise BenchError(f"the rollback did not succeed: {done.error}")

        # Drift: scheduled verification every 10 s; an edit refreshed into PAGENT.
        drift = figures["drift"]
        deployed_text = v1.text
        drifted = weakened(deployed_text)
        last = stack.verifications.order_by("-pk").values_list("pk", flat=True).first() or 0
        scheduled = stack.verifications.filter(deployment=None, pk__gt=last)
        LparConnection.objects.filter(lpar=stack.lpar).update(
            verification_interval=DRIFT_INTERVAL, enabled=True, last_verified_at=None
        )
        first = wait_for(
            lambda: scheduled.filter(status=RunStatus.SUCCEEDED).first(),
            timeout=60,
            what="the first scheduled verification",
        )
        say(f"scheduled verification running (first run {first.pk})")
        rng = random.Random(5)
        latencies = []
        for round_ in range(1, RUNS + 1):
            time.sleep(rng.uniform(0, DRIFT_INTERVAL))  # a random moment of the cycle
            before = set(
                DriftEvent.objects.filter(stack=stack, kind=DriftKind.POLICY).values_list(
                    "pk", flat=True
                )
            )
            started = time.monotonic()
            sim.admin(
                "/lpars/BIG1/faults/drift", {"stack": "TCPIP", "text": drifted, "refresh": True}
            )
            event = wait_for(
                lambda before=before: (
                    DriftEvent.objects.filter(stack=stack, kind=DriftKind.POLICY, resolved_at=None)
                    .exclude(pk__in=before)
                    .first()
                ),
                timeout=90,
                what="a policy drift event",
            )
            latencies.append(time.monotonic() - started)
            run = event.opened_by_run
            drift.detail.append(
                f"round {round_}: {latencies[-1]:.2f} s (run {run.pk} queued"
                f" {(run.started_at - run.created_at).total_seconds():.2f} s, ran"
                f" {(run.finished_at - run.started_at).total_seconds():.2f} s)"
            )
            # Put the deployed text back; the next verification resolves the event.
            sim.admin(
                "/lpars/BIG1/faults/drift",
                {"stack": "TCPIP", "text": deployed_text, "refresh": True},
            )
            wait_for(
                lambda pk=event.pk: DriftEvent.objects.filter(
                    pk=pk, resolved_at__isnull=False
                ).exists(),
                timeout=90,
                what="the drift event to resolve after the restore",
            )
        drift.seconds = max(latencies)

        # Refused clients: TLS 1.0/1.1 clients of one service start; AT-TLS refuses them.
        refused = figures["refused"]
        service = stack.services.get(name=refusing_service)
        key = f"refused:{service.name}"
        population = f"/lpars/BIG1/populations/{fleet_scenarios.REFUSED_POPULATION}"
        latencies = []
        for round_ in range(1, RUNS + 1):
            time.sleep(rng.uniform(0, DRIFT_INTERVAL))  # a random moment of the cycle
            before = set(Incident.objects.filter(stack=stack, key=key).values_list("pk", flat=True))
            started = time.monotonic()
            sim.admin(population, {"clients": REFUSED_CLIENTS})
            incident = wait_for(
                lambda before=before: (
                    Incident.objects.filter(stack=stack, key=key, resolved_at=None)
                    .exclude(pk__in=before)
                    .first()
                ),
                timeout=90,
                what=f"a refused-clients incident for {service.name}",
            )
            latencies.append(time.monotonic() - started)
            judged = incident.details.get("judgement") or {}
            refused.detail.append(
                f"round {round_}: {latencies[-1]:.2f} s ({judged.get('refused')} refused,"
                f" {judged.get('per_minute')} a minute; codes {sorted(incident.details['codes'])})"
            )
            sim.admin(population, {"clients": 0})
            wait_for(
                lambda pk=incident.pk: Incident.objects.filter(
                    pk=pk, resolved_at__isnull=False
                ).exists(),
                timeout=90,
                what="the refused-clients incident to resolve once the clients stopped",
            )
        refused.seconds = max(latencies)
        starts = list(
            scheduled.filter(started_at__isnull=False)
            .order_by("started_at")
            .values_list("started_at", flat=True)
        )
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
        if gaps:
            drift.detail.append(
                f"scheduled runs started every {min(gaps):.1f}-{max(gaps):.1f} s"
                f" (interval {DRIFT_INTERVAL} s, beat every"
                f" {os.environ.get('FLEET_SCHEDULER_SECONDS', '5')} s)"
            )
        LparConnection.objects.filter(lpar=stack.lpar).update(enabled=False)
        wait_for(
            lambda: (
                not stack.verifications.filter(
                    status__in=(RunStatus.PENDING, RunStatus.RUNNING)
                ).exists()
            ),
            timeout=60,
            what="the last scheduled verification to finish",
        )


def failure_lines(rules: list[str], count: int) -> str:
    """`count` EZD1286I records as syslogd writes them for stack TCPIP of BIG1: the rules in
    turn, from 250 peers, with the codes a rollout meets (protocol, cipher, cleartext, closed)."""
    codes = (412, 412, 5003, 402, 406)
    stamp = time.strftime("%b %e %H:%M:%S")
    return "".join(
        f"{stamp} BIG1 TCPIP: EZD1286I TTLS Error GRPID: 00000001 ENVID: 00000002"
        f" CONNID: {0x100000 + n:08X} LOCAL: 127.0.0.1..{8000 + n % 30}"
        f" REMOTE: ::FFFF:10.20.{n % 250 // 100}.{n % 100}..{20000 + n % 40000}"
        f" JOBNAME: JOB{n % 30:05d} USERID: USER{n % 30:04d} RULE: {rules[n % len(rules)]}"
        f" RC: {codes[n % len(codes)]:4d} Initial Handshake\n"
        for n in range(count)
    )


def weakened(text: str) -> str:
    """The deployed policy with TLS 1.0 and 1.1 switched On: an edit made by hand on the LPAR.

    Not lparsim's default drift (TLSv1 alone On): with TLS 1.1 still Off that leaves a hole,
    and OpenSSL, which lparsim's data plane uses, then disables every version above the
    hole, so each handshake on the stack fails (RC 402) and the probe returns at once: an
    outage rather than a weakening, which would make the detecting run unrealistically short.
    """
    lines = []
    for line in text.splitlines(keepends=True):
        words = line.split()
        if len(words) == 2 and words[0] in ("TLSv1", "TLSv1.1") and words[1] == "Off":
            line = line.replace("Off", "On")
        lines.append(line)
    result = "".join(lines)
    if result == text:
        raise BenchError("the deployed policy has no TLSv1/TLSv1.1 Off to switch On")
    return result


def bench_fleet(work: Path, figure: Figure) -> None:
    from django.db import transaction

    from fleet.models import RunStatus
    from fleet.tasks import verification_request
    from policies.models import Stack

    data = fleet_scenarios.fleet(work / "work", lpars=FLEET_LPARS)
    say(f"lparsim: {FLEET_LPARS} LPARs")
    with running(Sim(work, data)) as sim:
        say(f"lparsim listening in {sim.started_in:.2f} s")
        live = sim.wait_sessions(None, timeout=90)
        say(f"{live} live sessions (application TLS)")
        seed_and_connect(sim)
        stacks = list(
            Stack.objects.filter(lpar__name__startswith="FLT").select_related("lpar").order_by("id")
        )
        if len(stacks) != FLEET_LPARS:
            raise BenchError(f"expected {FLEET_LPARS} stacks, found {len(stacks)}")

        # Each LPAR gets its policy (two deployments at a time: one per worker process).
        started = time.monotonic()
        deployments = [
            request_deployment(s, publish(s, "AT-TLS for every service")) for s in stacks
        ]
        for deployment in deployments:
            approve(deployment)
        failed = []
        for deployment in deployments:
            done = finished(deployment.pk, timeout=600)
            if done.status != RunStatus.SUCCEEDED:
                failed.append(f"{deployment.pk}: {done.error}")
        if failed:
            raise BenchError("deployments to the fleet failed: " + "; ".join(failed))
        figure.detail.append(
            f"setup: {FLEET_LPARS} deployments finished in {time.monotonic() - started:.1f} s"
        )
        for name in sim.simulator.lpars:
            sim.admin(f"/lpars/{name}/faults/drop")
        live = sim.wait_sessions("at-tls", timeout=120)
        say(f"{live} live sessions secured by AT-TLS")

        started = time.monotonic()
        with transaction.atomic():  # enqueued together, when the transaction commits
            runs = [verification_request(stack_id=s.id) for s in stacks]
        done = [verified(run.pk, timeout=600) for run in runs]
        figure.seconds = time.monotonic() - started
        slowest = max(done, key=lambda r: (r.finished_at - r.started_at).total_seconds())
        durations = sorted((r.finished_at - r.started_at).total_seconds() for r in done)
        figure.detail.append(
            f"per run {durations[0]:.2f}-{durations[-1]:.2f} s (sum {sum(durations):.1f} s"
            f" over 2 processes); slowest " + run_breakdown(slowest)
        )


def profile_verification(stack: Any) -> list[str]:
    """One verification in this process under cProfile (lparsim shares this process)."""
    import cProfile
    import pstats
    import warnings

    from django.utils import timezone

    from fleet import verify
    from fleet.connectors.factory import connector_for
    from fleet.models import RunStatus, VerificationRun

    run = VerificationRun.objects.create(
        stack=stack, status=RunStatus.RUNNING, started_at=timezone.now()
    )
    warnings.filterwarnings("ignore", module="sslyze")  # its trust store's old certificates
    profiler = cProfile.Profile()
    stack = type(stack).objects.select_related("lpar__connection").get(pk=stack.pk)
    with connector_for(stack.lpar.connection) as connector:
        profiler.enable()
        verify.verify(run, connector)
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
    return ["cProfile of one verification in this process:", *out.getvalue().splitlines()]


# --- main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true", help="cProfile one verification")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    options = parser.parse_args()

    def terminate(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds through every cleanup below

    signal.signal(signal.SIGTERM, terminate)
    figures = {
        "verify": Figure(
            f"one verification, {BIG_SERVICES} services, {BIG_CLIENTS} connections", VERIFY_TARGET
        ),
        "fleet": Figure(f"{FLEET_LPARS} LPARs verified, 2 worker processes", FLEET_TARGET),
        "deploy": Figure("deploy to verified, one stack", DEPLOY_TARGET),
        "rollback": Figure("rollback to verified, one stack", ROLLBACK_TARGET),
        "drift": Figure(f"drift detection latency, {DRIFT_INTERVAL} s interval", DRIFT_TARGET),
        "syslog": Figure(
            f"verification with {SYSLOG_LINES:,} syslog lines since the last run", SYSLOG_TARGET
        ),
        "refused": Figure(
            f"refused-client incident latency, {DRIFT_INTERVAL} s interval", REFUSED_TARGET
        ),
    }
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    print(f"fleet bench: work directory {work}; {raise_file_limit()}", flush=True)
    worker: harness.Worker | None = None
    failures: list[str] = []
    try:
        with harness.redis_url(REDIS_DB) as redis_url:
            env = configure_django(work, redis_url)
            worker = harness.Worker(env, work / "worker.log", name="bench", concurrency=2)
            worker.start()
            say(f"worker pid {worker.pid}, Redis {redis_url}")
            try:
                for phase in (
                    lambda: bench_big_stack(work / "big", figures, options.profile),
                    lambda: bench_fleet(work / "fleet", figures["fleet"]),
                ):
                    try:
                        phase()
                    except BenchError as error:  # the other phase is still measured
                        failures.append(str(error))
            finally:
                worker.stop()
    except (BenchError, harness.HarnessError, RuntimeError) as error:
        failures.append(str(error))
    except Exception:
        failures.append(traceback.format_exc())
    finally:
        if worker is not None:
            worker.stop()
    failure = "\n".join(failures)
    print()
    for figure in figures.values():
        if failure and figure.seconds is None:
            figure.error = "not measured"
        print(figure.line())
        for line in figure.detail:
            print(f"    {line}")
    if failure:
        print(f"\nFAILED: {failure}")
        log = work / "worker.log"
        if log.is_file():
            print(f"worker log ({log}), last lines:\n{log.read_text()[-3000:]}")
    if options.keep or failure:
        print(f"work directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if not failure and all(f.ok for f in figures.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
