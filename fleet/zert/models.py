"""The zERT collector's own small tables: which days a run stored, and subtype 12 intervals.

Imported by fleet/models.py, so the tables belong to the fleet app (and its migrations).
"""

from __future__ import annotations

from django.db import models

from policies.models import Stack


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
