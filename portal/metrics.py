"""Prometheus metrics of the estate, for the monitoring the operations team already runs.

Every per-stack figure is the dashboard's own: `fleet.overview.estate_stack_statuses`, the
computation behind `stack_status_list` (coverage, connections, refused attempts, open drift,
certificates due and expired come from each stack's latest succeeded verification exactly as
the dashboard shows them). Nothing here recomputes coverage by a rule of its own.

The figures come from stored rows with a handful of grouped queries, so a scrape costs the
same whether the estate has 20 or 2,000 stacks' worth of history; nothing talks to an LPAR.
Queue depths are read from the broker when it is Redis (LLEN of each Celery queue's list,
one pipelined round trip); with RabbitMQ, use its own Prometheus plugin.

Names follow Prometheus' conventions: `attls_` prefix, base units (seconds, ratios), labels
`lpar` and `stack` for per-stack series.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.utils import timezone
from prometheus_client.core import (
    CollectorRegistry,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from fleet.models import Certificate, Deployment, Incident, RunStatus, VerificationRun
from fleet.overview import StackStatus, estate_stack_statuses

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Verification runs are many (one per stack a minute): outcomes and durations cover a window.
VERIFICATION_WINDOW = timedelta(hours=1)
STACK_LABELS = ["lpar", "stack"]
# Celery's Redis transport keeps a queue's messages of priority p > 0 in "<queue>\x06\x16<p>"
# (kombu.transport.redis, priority_steps [0, 3, 6, 9]); priority 0 in "<queue>" itself.
REDIS_PRIORITY_SEPARATOR = "\x06\x16"
REDIS_PRIORITY_STEPS = (0, 3, 6, 9)


def _labels(status: StackStatus) -> list[str]:
    return [status.stack.lpar.name, status.stack.name]


def _seconds(value: timedelta | None) -> float:
    return value.total_seconds() if value is not None else 0.0


def _duration() -> ExpressionWrapper:
    return ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())


def _next_expiry_days(statuses: list[StackStatus]) -> dict[int, float]:
    """Days until the soonest expiry among the certificates each stack's last probe still
    saw (negative once expired): the dashboard's rule in `fleet.selectors._count_certificates`
    (a certificate last seen before the latest run was replaced since), in one grouped query."""
    seen = Q()
    for status in statuses:
        if status.run is not None:
            seen |= Q(stack_id=status.stack.id, last_seen__gte=status.run.created_at)
        else:
            seen |= Q(stack_id=status.stack.id)
    if not statuses:
        return {}
    now = timezone.now()
    return {
        row["stack_id"]: (row["soonest"] - now).total_seconds() / 86400
        for row in Certificate.objects.filter(seen)
        .values("stack_id")
        .annotate(soonest=Min("not_after"))
    }


def _queue_depths() -> dict[str, int] | None:
    broker_url: str = settings.CELERY_BROKER_URL
    if not broker_url.startswith(("redis://", "rediss://")):
        return None
    import redis

    client = redis.Redis.from_url(broker_url, socket_timeout=1, socket_connect_timeout=1)
    queues = [queue.name for queue in settings.CELERY_TASK_QUEUES]
    with client.pipeline(transaction=False) as pipe:
        for name in queues:
            for step in REDIS_PRIORITY_STEPS:
                pipe.llen(name if step == 0 else f"{name}{REDIS_PRIORITY_SEPARATOR}{step}")
        lengths = pipe.execute()
    width = len(REDIS_PRIORITY_STEPS)
    return {
        name: sum(lengths[index * width : (index + 1) * width]) for index, name in enumerate(queues)
    }


class EstateCollector(Collector):
    """Collects on every scrape, from the database and the broker."""

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        statuses = estate_stack_statuses()
        yield from self._stacks(statuses)
        yield from self._deployments()
        yield from self._verifications()
        yield from self._queues()
        scrape = GaugeMetricFamily(
            "attls_metrics_collect_seconds", "Time the portal took to collect these metrics"
        )
        scrape.add_metric([], time.perf_counter() - started)
        yield scrape

    def _stacks(self, statuses: list[StackStatus]) -> Iterator[Metric]:
        def family(name: str, text: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, text, labels=STACK_LABELS)

        coverage = family(
            "attls_stack_coverage_ratio",
            "Share of the stack's connections secured by AT-TLS at its latest succeeded "
            "verification (the dashboard's coverage); absent before the first one",
        )
        connections = family(
            "attls_stack_connections", "Connections seen at the latest succeeded verification"
        )
        secured = family(
            "attls_stack_secured_connections",
            "Connections AT-TLS secured at the latest succeeded verification",
        )
        refused = family(
            "attls_stack_refused_attempts",
            "Connection attempts AT-TLS refused (EZD1286I) between the stack's two latest "
            "succeeded verifications",
        )
        drift = family("attls_stack_open_drift", "Open drift events")
        incidents = family("attls_stack_open_incidents", "Open incidents")
        due = family(
            "attls_stack_certificates_due",
            "Certificates the last probe saw that expire within 30 days, still valid",
        )
        expired = family(
            "attls_stack_certificates_expired", "Certificates the last probe saw that expired"
        )
        expiry = family(
            "attls_stack_certificate_expiry_days",
            "Days until the soonest expiry among the certificates the last probe saw "
            "(negative: expired)",
        )
        deployed = family(
            "attls_stack_deployed_version", "Number of the policy version deployed (0: none)"
        )
        behind = family(
            "attls_stack_behind", "1 when a newer version is published than the one deployed"
        )
        stale = family("attls_stack_stale", "1 when no verification succeeded for three intervals")
        failed = family(
            "attls_stack_last_verification_failed", "1 when the latest verification failed"
        )
        last_time = family(
            "attls_stack_last_verification_timestamp_seconds",
            "When the latest verification of any outcome finished (Unix time)",
        )
        last_duration = family(
            "attls_stack_last_verification_duration_seconds",
            "How long the latest finished verification took",
        )
        open_incidents = dict(
            Incident.objects.filter(resolved_at=None)
            .values_list("stack_id")
            .annotate(n=Count("id"))
            .values_list("stack_id", "n")
        )
        expiry_days = _next_expiry_days(statuses)
        for status in statuses:
            labels = _labels(status)
            if status.coverage is not None:
                coverage.add_metric(labels, float(status.coverage))
            if status.run is not None:
                connections.add_metric(labels, status.connections or 0)
                secured.add_metric(labels, status.secured or 0)
                refused.add_metric(labels, status.refused)
            drift.add_metric(labels, status.open_drift)
            incidents.add_metric(labels, open_incidents.get(status.stack.id, 0))
            due.add_metric(labels, status.certificates_due)
            expired.add_metric(labels, status.certificates_expired)
            if status.stack.id in expiry_days:
                expiry.add_metric(labels, expiry_days[status.stack.id])
            deployed.add_metric(labels, status.deployed.version.number if status.deployed else 0)
            behind.add_metric(labels, int(status.behind))
            stale.add_metric(labels, int(status.stale))
            failed.add_metric(labels, int(status.last_failed))
            last = status.last_run
            if last is not None and last.finished_at is not None:
                last_time.add_metric(labels, last.finished_at.timestamp())
                if last.started_at is not None:
                    last_duration.add_metric(
                        labels, (last.finished_at - last.started_at).total_seconds()
                    )
        yield from (
            coverage,
            connections,
            secured,
            refused,
            drift,
            incidents,
            due,
            expired,
            expiry,
            deployed,
            behind,
            stale,
            failed,
            last_time,
            last_duration,
        )

    def _deployments(self) -> Iterator[Metric]:
        # Deployments are few (people approve each): all of them, by outcome.
        by_status = GaugeMetricFamily(
            "attls_deployments", "Deployments by status, ever", labels=["status"]
        )
        counts = dict(
            Deployment.objects.values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        for status in RunStatus.values:
            by_status.add_metric([status], counts.get(status, 0))
        yield by_status
        yield self._durations(
            "attls_deployment_duration_seconds",
            "Time from start to end of finished deployments, by outcome",
            Deployment.objects.all(),
        )

    def _verifications(self) -> Iterator[Metric]:
        since = timezone.now() - VERIFICATION_WINDOW
        recent = VerificationRun.objects.filter(created_at__gte=since)
        by_status = GaugeMetricFamily(
            "attls_verification_runs_last_hour",
            "Verification runs created in the last hour, by status",
            labels=["status"],
        )
        counts = dict(
            recent.values_list("status").annotate(n=Count("id")).values_list("status", "n")
        )
        for status in (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.SUCCEEDED, RunStatus.FAILED):
            by_status.add_metric([status], counts.get(status, 0))
        yield by_status
        yield self._durations(
            "attls_verification_duration_seconds_last_hour",
            "Time from start to end of the verification runs of the last hour, by outcome",
            recent,
        )

    def _durations(self, name: str, text: str, rows: Any) -> SummaryMetricFamily:
        summary = SummaryMetricFamily(name, text, labels=["status"])
        for row in (
            rows.exclude(started_at=None)
            .exclude(finished_at=None)
            .values("status")
            .annotate(n=Count("id"), total=Sum(_duration()))
            .order_by("status")
        ):
            summary.add_metric(
                [row["status"]], count_value=row["n"], sum_value=_seconds(row["total"])
            )
        return summary

    def _queues(self) -> Iterator[Metric]:
        try:
            depths = _queue_depths()
        except Exception:  # the broker being down is the health check's news, not ours
            depths = None
            up = 0
        else:
            up = 1 if depths is not None else 0
        readable = GaugeMetricFamily(
            "attls_queue_depth_readable",
            "1 when the queue depths below were read from the broker (Redis only)",
        )
        readable.add_metric([], up)
        yield readable
        if depths:
            depth = GaugeMetricFamily(
                "attls_queue_depth", "Messages waiting in each Celery queue", labels=["queue"]
            )
            for queue, length in depths.items():
                depth.add_metric([queue], length)
            yield depth


def render_metrics() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EstateCollector())
    return generate_latest(registry)
