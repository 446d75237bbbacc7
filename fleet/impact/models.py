"""The tables change impact adds: what no other table holds already.

- PeerRefusalDaily: refused handshakes per day, stack, service, peer and return code (the
  verification's syslog read keeps only per-run totals and the top peers per service);
- ImpactPrediction: a prediction as computed, stored with the deployment target it was
  made for (or standalone, for a designer preview nobody deploys: not stored);
- ImpactAcknowledgement: who approved a deployment despite will-break peers, and why;
- PortalHandshakes: the source sockets of handshakes the portal made to a stack's ports on
  purpose outside a verification (the lab replay), so the stack's verification counts the
  refusals they cause as the portal's own, as it does its probe's.

Versions and suites negotiated, connections a day and first/last seen are NOT repeated
here: they are ZertDaily's and ConnectionObservation's (fleet/impact/history.py reads them).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from policies.models import Service, Stack


class PeerRefusalDaily(models.Model):
    """Refused handshakes (EZD1286I) of one peer of one service on one day, per return code.

    `service_name` is the rule the syslog line names (a service's policy name); `service`
    the portal's service by that name when there is one. Kept for the audit period, like
    the zERT roll-ups; `first_at`/`last_at` are the syslog reads that saw them.
    """

    day = models.DateField()
    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey(
        Service, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    service_name = models.CharField(max_length=64)
    peer = models.CharField(max_length=45)
    rc = models.CharField(max_length=8)
    family = models.CharField(max_length=24)
    refused = models.PositiveIntegerField(default=0)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    # Where the syslog stretch of the latest read that added to the row began (the previous
    # read): refusals "after a change" are those of stretches that began after it.
    last_window_from = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "stack", "service_name", "peer", "rc"],
                name="peer_refusal_daily_identity",
            )
        ]
        indexes = [models.Index(fields=["stack", "last_window_from"])]

    def __str__(self) -> str:
        return f"{self.day} {self.service_name} {self.peer} RC {self.rc} x{self.refused}"


class ImpactPrediction(models.Model):
    """One stack's prediction for one candidate, as attls.impact gave it, with pre-checks.

    `peers` holds every peer's verdict, reasons and observations in brief (JSON, as
    fleet.impact.predict.as_record writes it); `counts` and `per_day` the summary by
    verdict; `services` the summary per service. `error` says why no prediction could be
    made (then the lists are empty).
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    target = models.OneToOneField(
        "fleet.DeploymentTarget",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="prediction",
    )
    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="+")
    candidate = models.CharField(max_length=300)
    current = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    window_days = models.PositiveIntegerField(default=30)
    counts = models.JSONField(default=dict)
    per_day = models.JSONField(default=dict)
    services = models.JSONField(default=list)
    peers = models.JSONField(default=list)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"prediction for {self.stack} ({self.candidate})"

    @property
    def will_break(self) -> int:
        return int(self.counts.get("will-break", 0)) + int(self.counts.get("precheck-refused", 0))


class ImpactAcknowledgement(models.Model):
    """An approver accepted a deployment's predicted breakage, saying why."""

    deployment = models.OneToOneField(
        "fleet.Deployment", on_delete=models.CASCADE, related_name="impact_acknowledgement"
    )
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    reason = models.TextField()
    # What was accepted: the peers that will break, as the prediction listed them.
    peers = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"impact acknowledged by {self.by} at {self.at:%Y-%m-%d %H:%M}"


class PortalHandshakes(models.Model):
    """Connections the portal opened to a stack's service ports on purpose, outside its
    verifications (the lab replay offers what a rule refuses, as the probe does).

    `sockets` lists [address, port, z/OS port] of each connection's source socket, as AT-TLS
    writes the REMOTE of an EZD1286I line: fleet/verify/handshakes.py reads them with the
    probes', so a deliberate refusal is not counted as a client's (nor opens an incident).
    """

    stack = models.ForeignKey(Stack, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=64)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    sockets = models.JSONField(default=list)

    class Meta:
        indexes = [models.Index(fields=["stack", "finished_at"])]

    def __str__(self) -> str:
        return f"{self.purpose}: {len(self.sockets)} connection(s) to {self.stack}"
