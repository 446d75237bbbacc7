"""Reads of the audit log for its browser: filtered entries, and the chain's status.

Checking the chain reads every entry (about a second per 100,000), so its result is kept
for a minute per chain tail: a page view does not re-read an unchanged log each time, and a
new entry (a new tail) is checked at once. A row changed in place is found at the latest a
minute later here, and at once by `manage.py audit_verify`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone

from audits.log import ChainCheck, verify_chain
from audits.models import AuditEntry

CHAIN_CACHE_SECONDS = 60


@dataclass(frozen=True)
class LogFilters:
    actor: str = ""
    action: str = ""
    since: date | None = None
    until: date | None = None
    # One object's history: its type as the log names it ("Service") and its id (a uuid).
    object_type: str = ""
    object_id: str = ""

    @classmethod
    def from_form(cls, data: dict[str, Any]) -> LogFilters:
        return cls(
            actor=(data.get("actor") or "").strip(),
            action=data.get("action") or "",
            since=data.get("since"),
            until=data.get("until"),
            object_type=data.get("object_type") or "",
            object_id=data.get("object_id") or "",
        )

    def apply(self, entries: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        if self.object_type:
            entries = entries.filter(object_type=self.object_type)
        if self.object_id:
            entries = entries.filter(object_id=self.object_id)
        if self.actor:
            entries = entries.filter(actor__iexact=self.actor)
        if self.action:
            entries = entries.filter(action=self.action)
        if self.since:
            entries = entries.filter(at__gte=datetime.combine(self.since, time.min, tzinfo=UTC))
        if self.until:
            entries = entries.filter(at__lte=datetime.combine(self.until, time.max, tzinfo=UTC))
        return entries


def audit_entries(filters: LogFilters) -> QuerySet[AuditEntry]:
    """Newest first, as a reader browses; the chain's order is `sequence`."""
    return filters.apply(AuditEntry.objects.all()).order_by("-sequence")


def actions() -> list[str]:
    # order_by() drops the model's ordering by sequence, which DISTINCT would otherwise
    # select too: every entry's action, once per entry, in the filter's list.
    return list(AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct())


@dataclass(frozen=True)
class ChainStatus:
    check: ChainCheck
    checked_at: datetime
    tail: int


def chain_status(*, fresh: bool = False) -> ChainStatus:
    last = AuditEntry.objects.order_by("-sequence").values_list("sequence", "hash").first()
    tail, tail_hash = last if last else (0, "")
    key = f"audits:chain:{tail}:{tail_hash}"
    cached: ChainStatus | None = None if fresh else cache.get(key)
    if cached is None:
        cached = ChainStatus(check=verify_chain(), checked_at=timezone.now(), tail=tail)
        cache.set(key, cached, CHAIN_CACHE_SECONDS)
    return cached
