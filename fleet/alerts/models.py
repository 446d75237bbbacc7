"""Alert events, the channels they go to, and one delivery row per event and channel.

Imported by fleet/models.py, so the tables belong to the fleet app (and its migrations).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models

from fleet.alerts.kinds import KINDS, Severity
from policies.models import Service, Stack

SEVERITY_CHOICES = [(s.value, s.label) for s in Severity]


class AlertEvent(models.Model):
    """Something the SOC must hear about. `sequence` counts per stack from 1, so a receiver
    can tell a gap or a repeat; events without a stack count among themselves."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=40, choices=[(k, v.title) for k, v in KINDS.items()])
    severity = models.PositiveSmallIntegerField(choices=SEVERITY_CHOICES)
    stack = models.ForeignKey(
        Stack, null=True, blank=True, on_delete=models.PROTECT, related_name="alert_events"
    )
    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="alert_events"
    )
    summary = models.CharField(max_length=500)
    details = models.JSONField(default=dict, blank=True)
    sequence = models.PositiveIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["stack", "sequence"], name="alert_event_stack_sequence")
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.sequence}: {self.summary}"

    @property
    def severity_label(self) -> str:
        return Severity(self.severity).label

    def as_record(self) -> dict[str, Any]:
        """The event as every channel writes it (JSON values only)."""
        return {
            "id": str(self.uuid),
            "kind": self.kind,
            "title": KINDS[self.kind].title if self.kind in KINDS else self.kind,
            "severity": self.severity,
            "severity_label": self.severity_label,
            "stack": self.stack.label if self.stack_id else None,
            "service": self.service.name if self.service_id else None,
            "sequence": self.sequence,
            "summary": self.summary,
            "details": self.details,
            "created_at": self.created_at.isoformat(),
        }


class ChannelKind(models.TextChoices):
    EMAIL = "email", "E-mail"
    SYSLOG = "syslog", "Syslog (RFC 5424)"
    WEBHOOK = "webhook", "Webhook (HMAC-SHA256 signed)"


class AlertChannel(models.Model):
    """Where alerts go, configured by an admin. Empty scope lists mean "all".

    `config` by kind — email: recipients (list), to_alert_recipients (FLEET_ALERT_RECIPIENTS),
    to_owners (the owners of the services concerned); syslog: host, port, transport
    (udp/tcp/tls), format (cef/json), facility, ca_file (TLS); webhook: url.
    The webhook secret is encrypted at rest (fleet/secrets.py) and never rendered back.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=ChannelKind.choices)
    enabled = models.BooleanField(default=True)
    min_severity = models.PositiveSmallIntegerField(
        choices=SEVERITY_CHOICES,
        default=Severity.INFORMATIONAL,
        help_text="Events at least this severe are sent.",
    )
    kinds = models.JSONField(default=list, blank=True, help_text="Event kinds; empty for all.")
    stacks = models.ManyToManyField(Stack, blank=True, related_name="+")
    services = models.ManyToManyField(Service, blank=True, related_name="+")
    config = models.JSONField(default=dict, blank=True)
    secret_encrypted = models.TextField(blank=True, default="")
    max_attempts = models.PositiveSmallIntegerField(
        default=8, help_text="Failed attempts after which a delivery is dead-lettered."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_secret(self) -> bool:
        return bool(self.secret_encrypted)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    SKIPPED = "skipped", "Nothing to send"
    DEAD = "dead", "Dead-lettered"


# A delivery in one of these states no longer holds back the later events of its stack.
DONE = (DeliveryStatus.DELIVERED, DeliveryStatus.SKIPPED, DeliveryStatus.DEAD)


class AlertDelivery(models.Model):
    """One event to one channel. Claimed with a conditional update before it is sent, so it
    is sent by one worker; a stack's deliveries to a channel go in sequence order."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.ForeignKey(AlertEvent, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    # Copied from the event so the next delivery of a stack is found with one index.
    stack = models.ForeignKey(
        Stack, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sequence = models.PositiveIntegerField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "channel"], name="alert_delivery_once")
        ]
        indexes = [models.Index(fields=["channel", "stack", "status", "sequence"])]

    def __str__(self) -> str:
        return f"{self.event} → {self.channel}: {self.status}"
