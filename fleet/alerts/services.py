"""Writes of the alerts: emit an event, deliver a stack's events to a channel in order,
retry a dead-lettered delivery, save a channel."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from fleet.alerts import transports
from fleet.alerts.kinds import KINDS, Severity
from fleet.alerts.models import (
    DONE,
    AlertChannel,
    AlertDelivery,
    AlertEvent,
    DeliveryStatus,
)
from fleet.secrets import encrypt
from policies.changes import change_record
from policies.models import Service, Stack

log = logging.getLogger(__name__)


def _wants(channel: AlertChannel, event: AlertEvent) -> bool:
    if event.severity > channel.min_severity:
        return False
    if channel.kinds and event.kind not in channel.kinds:
        return False
    stacks = {s.pk for s in channel.stacks.all()}
    if stacks and event.stack_id not in stacks:
        return False
    services = {s.pk for s in channel.services.all()}
    return not services or event.service_id in services


def alert_emit(
    *,
    kind: str,
    summary: str,
    stack: Stack | None = None,
    service: Service | None = None,
    details: dict[str, Any] | None = None,
    severity: Severity | None = None,
) -> AlertEvent:
    """Records the event, one pending delivery per channel that wants it, and enqueues the
    dispatcher after commit. `details["services"]` names the services concerned (their
    owners get the e-mail); `details["text"]` is the e-mail body."""
    if kind not in KINDS:
        raise ValueError(f"unknown alert kind {kind!r}; add it to fleet/alerts/kinds.py")
    level = severity if severity is not None else KINDS[kind].severity
    with transaction.atomic():
        for attempt in range(5):
            # The per-stack sequence: the unique constraint settles a race, the loser recounts.
            sequence = (
                AlertEvent.objects.filter(stack=stack).aggregate(m=Max("sequence"))["m"] or 0
            ) + 1
            try:
                with transaction.atomic():
                    event = AlertEvent.objects.create(
                        kind=kind,
                        severity=int(level),
                        stack=stack,
                        service=service,
                        summary=summary[:500],
                        details=details or {},
                        sequence=sequence,
                        created_at=timezone.now(),
                    )
                break
            except IntegrityError:
                if attempt == 4:
                    raise
        channels = [
            channel
            for channel in AlertChannel.objects.filter(enabled=True).prefetch_related(
                "stacks", "services"
            )
            if _wants(channel, event)
        ]
        AlertDelivery.objects.bulk_create(
            AlertDelivery(event=event, channel=c, stack=stack, sequence=sequence) for c in channels
        )
        stack_id = stack.pk if stack is not None else None
        for channel in channels:
            transaction.on_commit(lambda c=channel.pk: enqueue_delivery(c, stack_id))
    return event


DELIVER_TASK = "fleet.alerts.tasks.deliver_alerts"


def enqueue_delivery(channel_id: int, stack_id: int | None, countdown: float = 0) -> None:
    """Enqueues the dispatcher for one channel and stack. A broker down loses nothing: the
    deliveries stay pending and `resume_alert_deliveries` (beat) enqueues them again."""
    # By name, not by import: the task module calls this one (no import cycle).
    deliver = current_app.signature(DELIVER_TASK)
    try:
        deliver.apply_async((channel_id, stack_id), countdown=countdown)
    except Exception:
        log.warning("alerts: enqueue for channel %s failed; beat resumes it", channel_id)


def backoff_seconds(attempts: int) -> float:
    """Exponential: base, 2 x base, 4 x base … capped."""
    base = settings.ALERTS_RETRY_BASE_MS / 1000
    return float(min(base * 2 ** max(attempts - 1, 0), settings.ALERTS_RETRY_MAX_SECONDS))


def _claim(head: AlertDelivery, now: datetime) -> bool:
    rows = AlertDelivery.objects.filter(pk=head.pk, status=head.status, attempts=head.attempts)
    if head.status == DeliveryStatus.SENDING:
        rows = rows.filter(claimed_at=head.claimed_at)  # taking over a stale claim
    return bool(rows.update(status=DeliveryStatus.SENDING, claimed_at=now))


# Deliveries claimed together behind the head: one query and one claim for many sends.
BATCH = 50


def alert_deliveries_drain(
    *, channel_id: int, stack_id: int | None, limit: int = 10_000
) -> float | None:
    """Sends a stack's pending deliveries to one channel, oldest first, one at a time.

    Returns None when nothing is left to do here (all sent, or another worker holds the
    head), or the seconds until the head's next attempt: the later events wait behind a
    retrying one, so a receiver gets the stack's events in order; a dead-lettered one no
    longer holds them back. A claim older than ALERTS_CLAIM_STALE_SECONDS is taken over.
    The head and the pending deliveries right behind it are claimed together (conditional
    updates); those not sent when one fails are released at once, still in order.
    """
    channel = AlertChannel.objects.get(pk=channel_id)
    if not channel.enabled:
        return None
    stale = timedelta(seconds=settings.ALERTS_CLAIM_STALE_SECONDS)
    sent = 0
    while sent < limit:
        now = timezone.now()
        rows = list(
            AlertDelivery.objects.filter(channel_id=channel_id, stack_id=stack_id)
            .exclude(status__in=DONE)
            .select_related("event__stack__lpar", "event__service")
            .order_by("sequence", "id")[:BATCH]
        )
        if not rows:
            return None
        head = rows[0]
        if (
            head.status == DeliveryStatus.SENDING
            and head.claimed_at
            and head.claimed_at > now - stale
        ):
            return None  # another worker is sending it; it goes on with the next ones
        if head.next_attempt_at is not None and head.next_attempt_at > now:
            return (head.next_attempt_at - now).total_seconds()
        if not _claim(head, now):
            return None
        batch = [head, *_claim_followers(rows[1:], now)]
        for index, delivery in enumerate(batch):
            sent += 1
            wait = _send_one(channel, delivery)
            if wait is not None:
                _release([d.pk for d in batch[index + 1 :]], now)
                return wait
    return 0.0  # more than `limit` in one go: the caller enqueues again at once


def _claim_followers(rows: list[AlertDelivery], now: datetime) -> list[AlertDelivery]:
    """The pending deliveries right behind the head, claimed in one conditional update;
    none when another worker took any of them."""
    followers: list[AlertDelivery] = []
    for row in rows:
        if row.status != DeliveryStatus.PENDING or row.next_attempt_at is not None:
            break
        followers.append(row)
    if not followers:
        return []
    ids = [row.pk for row in followers]
    claimed = AlertDelivery.objects.filter(pk__in=ids, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.SENDING, claimed_at=now
    )
    if claimed != len(ids):
        _release(ids, now)
        return []
    return followers


def _release(ids: list[int], now: datetime) -> None:
    AlertDelivery.objects.filter(pk__in=ids, status=DeliveryStatus.SENDING, claimed_at=now).update(
        status=DeliveryStatus.PENDING, claimed_at=None
    )


def _send_one(channel: AlertChannel, delivery: AlertDelivery) -> float | None:
    """Sends one claimed delivery and records the outcome; the backoff when it will be
    retried, else None (delivered, skipped or dead-lettered: `delivery.status` says which)."""
    attempts = delivery.attempts + 1
    try:
        transports.send(channel, delivery.event)
    except transports.NothingToSend as why:
        _end(delivery, DeliveryStatus.SKIPPED, attempts, str(why))
    except transports.Permanent as error:
        _end(delivery, DeliveryStatus.DEAD, attempts, str(error))
    except Exception as error:  # transient, or unforeseen: retried, bounded by max_attempts
        reason = str(error) if isinstance(error, transports.Transient) else repr(error)
        if attempts >= channel.max_attempts:
            _end(delivery, DeliveryStatus.DEAD, attempts, f"{reason} (after {attempts} attempts)")
            return None
        delay = backoff_seconds(attempts)
        AlertDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.RETRYING,
            attempts=attempts,
            last_error=reason,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
            claimed_at=None,
        )
        return delay
    else:
        _end(delivery, DeliveryStatus.DELIVERED, attempts, "")
    return None


def _end(delivery: AlertDelivery, status: str, attempts: int, error: str) -> None:
    delivery.status = status
    AlertDelivery.objects.filter(pk=delivery.pk).update(
        status=status,
        attempts=attempts,
        last_error=error,
        claimed_at=None,
        next_attempt_at=None,
        delivered_at=timezone.now() if status == DeliveryStatus.DELIVERED else None,
    )


def alert_delivery_retry(*, delivery: AlertDelivery, actor: User) -> None:
    """Puts a dead-lettered (or retrying) delivery back at once. It goes out in its place in
    the stack's order: before any later event still waiting on that channel."""
    updated = AlertDelivery.objects.filter(
        pk=delivery.pk, status__in=(DeliveryStatus.DEAD, DeliveryStatus.RETRYING)
    ).update(status=DeliveryStatus.PENDING, next_attempt_at=None, attempts=0)
    if updated:
        _record(actor, "retry", delivery.event, {"channel": delivery.channel.name})
        transaction.on_commit(lambda: enqueue_delivery(delivery.channel_id, delivery.stack_id))


def _record(actor: User, action: str, obj: Any, after: dict[str, Any]) -> None:
    change_record(actor=actor, action=action, obj=obj, after=after)


SYSLOG_TRANSPORTS = ("udp", "tcp", "tls")
SYSLOG_FORMATS = ("cef", "json")


def channel_config_problems(kind: str, config: dict[str, Any]) -> list[str]:
    """What is wrong with a channel's configuration for its kind; empty when it is usable."""
    problems: list[str] = []
    if kind == "webhook":
        url = str(config.get("url") or "")
        if not url.startswith(("https://", "http://")):
            problems.append("A webhook needs an http:// or https:// URL.")
    elif kind == "syslog":
        if not str(config.get("host") or "").strip():
            problems.append("A syslog channel needs a host.")
        port = config.get("port")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            problems.append("The syslog port is a number from 1 to 65535.")
        if config.get("transport", "udp") not in SYSLOG_TRANSPORTS:
            problems.append(f"The syslog transport is one of {', '.join(SYSLOG_TRANSPORTS)}.")
        if config.get("format", "cef") not in SYSLOG_FORMATS:
            problems.append(f"The message body is one of {', '.join(SYSLOG_FORMATS)}.")
        facility = config.get("facility", 13)
        if not isinstance(facility, int) or not 0 <= facility <= 23:
            problems.append("The syslog facility is a number from 0 to 23 (RFC 5424).")
    elif kind == "email":
        recipients = config.get("recipients", [])
        if not isinstance(recipients, list) or not all(
            isinstance(r, str) and "@" in r for r in recipients
        ):
            problems.append("E-mail recipients are a list of addresses.")
    return problems


def channel_save(
    *,
    channel: AlertChannel,
    actor: User,
    secret: str | None,
    stacks: list[Stack],
    services: list[Service],
) -> AlertChannel:
    """Saves an admin's channel. `secret` None or "" keeps the stored one."""
    problems = channel_config_problems(channel.kind, channel.config)
    if channel.kind == "webhook" and not secret and not channel.secret_encrypted:
        problems.append("A webhook needs a secret to sign with.")
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        if secret:
            channel.secret_encrypted = encrypt(secret)
        channel.full_clean()
        channel.save()
        channel.stacks.set(stacks)
        channel.services.set(services)
        # The secret itself never reaches the change log; only whether one is set.
        _record(
            actor,
            "save",
            channel,
            {
                "kind": channel.kind,
                "enabled": channel.enabled,
                "min_severity": channel.min_severity,
                "kinds": channel.kinds,
                "config": channel.config,
                "secret_set": channel.has_secret,
                "stacks": sorted(s.label for s in stacks),
                "services": sorted(s.name for s in services),
            },
        )
    return channel
