"""Appending to the hash-chained audit log, and checking the chain.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's own canonical
form: `sequence|at (ISO 8601, UTC)|actor|action|object_type|object_id|summary|data (JSON,
sorted keys, no blanks)`. The first entry's predecessor is 64 zeros. Anyone can recompute
the chain from an export with those rules; `verify_chain` does it here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from audits.models import AuditEntry

GENESIS = "0" * 64


def canonical(
    *,
    sequence: int,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    summary: str,
    data: dict[str, Any],
) -> str:
    moment = at.astimezone(UTC).isoformat(timespec="microseconds")
    payload = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return "|".join(
        (str(sequence), moment, actor, action, object_type, object_id, summary, payload)
    )


def entry_hash(prev_hash: str, text: str) -> str:
    return hashlib.sha256((prev_hash + "\n" + text).encode()).hexdigest()


def append(
    *,
    actor: str,
    action: str,
    summary: str,
    object_type: str = "",
    object_id: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Appends one entry. Concurrent appenders are serialised by the unique sequence."""
    data = json.loads(json.dumps(data or {}, default=str))  # what is stored is what is hashed
    moment = (at or timezone.now()).astimezone(UTC)
    for _ in range(20):
        try:
            with transaction.atomic():
                last = AuditEntry.objects.order_by("-sequence").only("sequence", "hash").first()
                sequence = (last.sequence + 1) if last else 1
                prev_hash = last.hash if last else GENESIS
                text = canonical(
                    sequence=sequence,
                    at=moment,
                    actor=actor,
                    action=action,
                    object_type=object_type,
                    object_id=object_id,
                    summary=summary[:500],
                    data=data,
                )
                return AuditEntry.objects.create(
                    sequence=sequence,
                    at=moment,
                    actor=actor,
                    action=action,
                    object_type=object_type,
                    object_id=object_id,
                    summary=summary[:500],
                    data=data,
                    prev_hash=prev_hash,
                    hash=entry_hash(prev_hash, text),
                )
        except IntegrityError:
            continue  # another appender took this sequence number; read the new tail
    raise RuntimeError("could not append to the audit log: too many concurrent appenders")


@dataclass(frozen=True)
class ChainCheck:
    entries: int
    broken_at: int | None  # the sequence of the first entry that does not verify
    reason: str

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def _rows() -> Iterator[tuple[Any, ...]]:
    yield from (
        AuditEntry.objects.order_by("sequence")
        .values_list(
            "sequence",
            "at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "summary",
            "data",
            "prev_hash",
            "hash",
        )
        .iterator(chunk_size=5000)
    )


def verify_chain() -> ChainCheck:
    """Recomputes every hash in order; names the first entry that is wrong and why."""
    previous = GENESIS
    expected_sequence = 1
    count = 0
    for sequence, at, actor, action, object_type, object_id, summary, data, prev, stored in _rows():
        count += 1
        if sequence != expected_sequence:
            return ChainCheck(
                count, sequence, f"entry #{expected_sequence} is missing (next is #{sequence})"
            )
        if prev != previous:
            return ChainCheck(
                count, sequence, f"entry #{sequence} does not point at the hash of its predecessor"
            )
        text = canonical(
            sequence=sequence,
            at=at,
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            summary=summary,
            data=data,
        )
        if entry_hash(prev, text) != stored:
            return ChainCheck(
                count, sequence, f"entry #{sequence} was changed after it was written"
            )
        previous = stored
        expected_sequence += 1
    return ChainCheck(count, None, "")
