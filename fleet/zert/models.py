"""The zERT collector's tables: the connection records (subtype 11), their daily roll-ups and
per-peer totals, which days a run stored, and the summary intervals (subtype 12).

Imported by fleet/models.py, so the tables belong to the fleet app (and its migrations).
"""

from __future__ import annotations

from django.db import models

from policies.models import Service, Stack


class ZertRunDay(models.Model):
    """How many records a zERT run stored first, per stack and day of their connections' start.

    It says which dumps fed a period's figures: the daily roll-ups do not name their runs, and
    the raw rows that do are pruned. Written once, when the run ends (fleet/zert/collect.py).
    """

    run = models.ForeignKey("fleet.ZertRun", on_delete=models.CASCADE, related_name="days")
    stack = models.ForeignKey(
        Stack, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    day = models.DateField()  # UTC, as ZertDaily.day
    records = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "stack", "day"], name="zert_run_day_identity")
        ]
        indexes = [models.Index(fields=["stack", "day"])]

    def __str__(self) -> str:
        return f"{self.day} {self.records}"


class ZertInterval(models.Model):
    """One zERT summary interval of a stack (SMF 119 subtype 12), its records summed.

    A summary record carries one session's counts at the interval's start and end; the
    connections counts are for the session's life, so an interval's new connections are the
    differences. `recorded_at` is the SMF header time, the LPAR's LOCAL time (labelled UTC,
    as ZertRun.cursor): the summary records carry no UTC time of their own. The identity is
    (stack, SMF date and time): an interval read again from an overlapping dump is stored once.
    """

    stack = models.ForeignKey(
        Stack, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    run = models.ForeignKey(
        "fleet.ZertRun",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    smf_date = models.DateField()
    smf_time = models.PositiveIntegerField()  # 1/100 s since LOCAL midnight
    recorded_at = models.DateTimeField()
    seconds = models.FloatField()  # the interval's length (SMF119SS_SAIntervalDuration)
    summaries = models.PositiveIntegerField(default=0)  # subtype 12 records summed
    connections = models.PositiveIntegerField(default=0)  # new in the interval
    short_connections = models.PositiveIntegerField(default=0)
    active = models.PositiveIntegerField(default=0)  # at the interval's end
    tls = models.PositiveIntegerField(default=0)  # new connections of TLS sessions
    cleartext = models.PositiveIntegerField(default=0)  # of unprotected sessions
    other = models.PositiveIntegerField(default=0)  # SSH, IPsec

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stack", "smf_date", "smf_time"], name="zert_interval_identity"
            )
        ]
        indexes = [models.Index(fields=["-recorded_at"], name="zert_interval_latest")]
        ordering = ["-recorded_at"]

    def __str__(self) -> str:
        return f"zERT interval {self.recorded_at:%Y-%m-%d %H:%M} ({self.connections})"


class ZertProtection(models.TextChoices):
    NONE = "none", "None (cleartext)"
    APP_TLS = "app-tls", "Application TLS"
    AT_TLS = "at-tls", "AT-TLS"
    SSH = "ssh", "SSH"
    IPSEC = "ipsec", "IPsec"
    SEVERAL = "several", "Several protocols"


class ZertRecord(models.Model):
    """One zERT connection detail record (SMF 119 subtype 11), as stored.

    The natural key is the record's own: stack, connection id, start time, event and the SMF
    header's time, so a record read twice (a dump overlapping the previous one) is stored
    once. On PostgreSQL the table is partitioned by month of `started_at` (migration
    0010); raw rows are pruned after settings.ZERT_RETENTION_DAYS, their daily roll-ups
    (ZertDaily) stay.
    """

    # No database constraints or single-column indexes on the zERT tables' foreign keys: a
    # million-row load should not queue a constraint check per row per key, nor keep indexes
    # no query uses (the ORM still cascades and nulls when a stack, service or run goes).
    stack = models.ForeignKey(
        Stack, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    service = models.ForeignKey(
        Service,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    run = models.ForeignKey(
        "fleet.ZertRun",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    connection_id = models.BigIntegerField()
    event = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    smf_date = models.DateField()
    smf_time = models.PositiveIntegerField()  # 1/100 s since LOCAL midnight
    protection = models.CharField(max_length=8, choices=ZertProtection.choices)
    protocol = models.CharField(max_length=16, blank=True)  # TLSv1.2, X'0305', or blank
    cipher = models.CharField(max_length=8, blank=True)  # 4-hex code as recorded
    jobname = models.CharField(max_length=8, blank=True)
    userid = models.CharField(max_length=8, blank=True)
    local_address = models.CharField(max_length=45)
    local_port = models.PositiveIntegerField()
    remote_address = models.CharField(max_length=45)
    remote_port = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stack", "connection_id", "started_at", "event", "smf_date", "smf_time"],
                name="zert_record_identity",
            )
        ]

    def __str__(self) -> str:
        return f"zERT {self.event} {self.connection_id:08X} {self.protection}"


class ZertDaily(models.Model):
    """Daily roll-up per stack, service and peer of the connections zERT recorded.

    A connection counts once, on the day and with the protection of its first record (the
    Init record after 10 s, or the Short Term record of a shorter one); `changed` counts
    the Change records (protection that changed after the first record), `records` every
    subtype 11 record behind the row. `service_key` is the service's id or 0 (no service).
    """

    day = models.DateField()
    stack = models.ForeignKey(
        Stack, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    service = models.ForeignKey(
        Service,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    service_key = models.BigIntegerField(default=0)
    peer = models.CharField(max_length=45)
    protection = models.CharField(max_length=8, choices=ZertProtection.choices)
    protocol = models.CharField(max_length=16, blank=True)
    cipher = models.CharField(max_length=8, blank=True)
    connections = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    records = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "stack", "service_key", "peer", "protection", "protocol", "cipher"],
                name="zert_daily_identity",
            )
        ]
        indexes = [models.Index(fields=["stack", "service_key", "peer"])]

    def __str__(self) -> str:
        return f"{self.day} {self.peer} {self.protection} {self.connections}"


class ZertPeer(models.Model):
    """Every connection zERT recorded per stack, service and peer, since the first record:
    the traffic inventory's rows, kept up to date by the same statement that adds the daily
    roll-ups (so a page over 100,000 peers reads one row per peer, not every day's rows).
    Counted like ZertDaily; `service_key` is the service's id or 0."""

    stack = models.ForeignKey(
        Stack, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    service = models.ForeignKey(
        Service,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    service_key = models.BigIntegerField(default=0)
    peer = models.CharField(max_length=45)
    connections = models.PositiveIntegerField(default=0)
    cleartext = models.PositiveIntegerField(default=0)
    app_tls = models.PositiveIntegerField(default=0)
    at_tls = models.PositiveIntegerField(default=0)
    other = models.PositiveIntegerField(default=0)  # SSH, IPsec, several
    deprecated = models.PositiveIntegerField(default=0)  # SSLv2/3, TLS 1.0/1.1
    records = models.PositiveIntegerField(default=0)
    first_day = models.DateField()
    last_day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stack", "service_key", "peer"], name="zert_peer_identity"
            )
        ]
        # No index on the count: every upsert changes it, and a top-50 sort of 100,000 rows
        # costs the page less than that index costs a million-row load.

    def __str__(self) -> str:
        return f"{self.peer} ({self.connections})"
