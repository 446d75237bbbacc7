"""Appending to the hash-chained audit log, and checking the chain.

Each entry's hash is SHA-256 over the previous entry's hash, a newline, and the entry's
canonical form in its chain version; the first entry's predecessor is 64 zeros.

- Version 2 (every entry written since the re-anchor): the JSON array
  `[2, sequence, at, actor, action, object_type, object_id, summary, data]`, `at` in ISO 8601
  UTC with microseconds, keys of `data` sorted, no blanks, non-ASCII characters as they are.
  Every field is a JSON string or number with its quotes escaped, so no text can move from
  one field to another without changing the form.
- Version 1 (entries written before): `sequence|at|actor|action|object_type|object_id|
  summary|data`, joined by an unescaped "|": text could move between two fields without
  changing it. Those entries keep verifying as they were written.

The re-anchor (migration 0004, `reanchor`) appended one version-2 entry after the last
version-1 entry. It records the old head and a SHA-256 over the version-2 forms (with the
version number 1) of every version-1 entry, so a field moved in an old entry since then breaks
that digest; after it the chain never goes back to version 1.

Entries deleted from the end leave a shorter chain that is intact. So the head (sequence and
hash) is also kept outside the chain: in an AuditCheckpoint row written on a beat schedule
(AUDIT_CHECKPOINT_SECONDS) and with every evidence pack. `verify_chain` checks that the log
still holds the head the highest checkpoint and the highest pack recorded, with its hash.
Anyone can recompute the chain from an export with these rules.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models.sql.constants import MULTI
from django.utils import timezone

from accounts.client import Client, current_client
from audits.models import AuditCheckpoint, AuditEntry, EvidencePack
from audits.models.log import CLIENT, SYSTEM

GENESIS = "0" * 64
CHAIN_VERSION = 2
REANCHOR_ACTION = "re-anchor"
# Between the first and the last number of a range: "entries 99,981 to 100,000" with an en dash.
DASH = "\N{EN DASH}"


def _moment(at: datetime) -> str:
    if at.tzinfo is None:  # as `_rows` reads it from the database: UTC without its zone
        return at.isoformat(timespec="microseconds") + "+00:00"
    return at.astimezone(UTC).isoformat(timespec="microseconds")


# One encoder for every entry: json.dumps with options builds a new one per call.
_JSON = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
).encode


def _payload(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def canonical_v1(
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
    """Version 1: the fields joined by "|" (ambiguous; kept for entries written so)."""
    return "|".join(
        (str(sequence), _moment(at), actor, action, object_type, object_id, summary, _payload(data))
    )


def json_form(
    version: int,
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
    """The entry as one canonical JSON array led by `version`."""
    return _JSON(
        [version, sequence, _moment(at), actor, action, object_type, object_id, summary, data]
    )


def canonical(*, version: int = CHAIN_VERSION, **fields: Any) -> str:
    """The form an entry of `version` is hashed in."""
    if version == 1:
        return canonical_v1(**fields)
    if version == 2:
        return json_form(2, **fields)
    raise ValueError(f"unknown audit chain version {version}")


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
    client: Client | None = None,
) -> AuditEntry:
    """Appends one entry. Concurrent appenders are serialised by the unique sequence.

    The entry records where it came from (`data["client"]`, inside the hash): `client`, else
    the client of the request being served (accounts.client), else the system.
    """
    source = client or current_client()
    data = {**(data or {}), CLIENT: source.as_data() if source is not None else SYSTEM}
    data = json.loads(json.dumps(data, default=str))  # what is stored is what is hashed
    moment = (at or timezone.now()).astimezone(UTC)
    for _ in range(20):
        try:
            with transaction.atomic():
                last = AuditEntry.objects.order_by("-sequence").only("sequence", "hash").first()
                sequence = (last.sequence + 1) if last else 1
                prev_hash = last.hash if last else GENESIS
                fields: dict[str, Any] = {
                    "sequence": sequence,
                    "at": moment,
                    "actor": actor,
                    "action": action,
                    "object_type": object_type,
                    "object_id": object_id,
                    "summary": summary[:500],
                    "data": data,
                }
                return AuditEntry.objects.create(
                    **fields,
                    version=CHAIN_VERSION,
                    prev_hash=prev_hash,
                    hash=entry_hash(prev_hash, canonical(version=CHAIN_VERSION, **fields)),
                )
        except IntegrityError:
            continue  # another appender took this sequence number; read the new tail
    raise RuntimeError("could not append to the audit log: too many concurrent appenders")


# --- the head, kept outside the chain -----------------------------------------------------------


@dataclass(frozen=True)
class Head:
    sequence: int
    hash: str


def chain_head() -> Head | None:
    """The last entry's sequence and hash; None while the log is empty."""
    last = AuditEntry.objects.order_by("-sequence").values_list("sequence", "hash").first()
    return Head(*last) if last else None


def audit_checkpoint_write(*, at: datetime | None = None) -> AuditCheckpoint | None:
    """Records the chain's head as a checkpoint; None when the log is empty or the head is the
    one the newest checkpoint already holds."""
    head = chain_head()
    if head is None:
        return None
    newest = AuditCheckpoint.objects.order_by("-at", "-id").first()
    if newest is not None and (newest.sequence, newest.hash) == (head.sequence, head.hash):
        return None
    return AuditCheckpoint.objects.create(
        at=at or timezone.now(), sequence=head.sequence, hash=head.hash
    )


@dataclass(frozen=True)
class Anchor:
    """A head recorded outside the chain, and who recorded it (for the message)."""

    sequence: int
    hash: str
    said: str  # "checkpoint 2026-12-07 01:00", "evidence pack 1a2b3c4d of 2026-12-07 01:00"


def anchors() -> list[Anchor]:
    """The highest head a checkpoint recorded and the highest one a pack recorded.

    The highest, not the newest: a checkpoint written after entries were deleted from the end
    records the shortened head, while an older one still holds the real one.
    """
    found = []
    checkpoint = AuditCheckpoint.objects.order_by("-sequence", "-at").first()
    if checkpoint is not None:
        found.append(
            Anchor(
                checkpoint.sequence,
                checkpoint.hash,
                f"checkpoint {checkpoint.at.astimezone(UTC):%Y-%m-%d %H:%M}",
            )
        )
    pack = (
        EvidencePack.objects.filter(chain_sequence__isnull=False)
        .exclude(chain_hash="")
        .order_by("-chain_sequence", "-created_at")
        .only("uuid", "chain_sequence", "chain_hash", "created_at")
        .first()
    )
    if pack is not None and pack.chain_sequence is not None:
        found.append(
            Anchor(
                pack.chain_sequence,
                pack.chain_hash,
                f"evidence pack {str(pack.uuid)[:8]} of"
                f" {pack.created_at.astimezone(UTC):%Y-%m-%d %H:%M}",
            )
        )
    return found


# --- the re-anchor from version 1 -------------------------------------------------------------


def reanchor(entries: Any = AuditEntry, *, at: datetime | None = None) -> Any:
    """Appends the version-2 entry that closes a chain of version-1 entries; None when the
    chain is empty or already version 2. `entries` is the AuditEntry model (a migration
    passes its historical one)."""
    last = entries.objects.order_by("-sequence").first()
    if last is None or last.version >= CHAIN_VERSION:
        return None
    digest = hashlib.sha256()
    count = 0
    for row in _rows(entries):
        if row[10] != 1:
            raise ValueError(f"entry #{row[0]} is version {row[10]} before the re-anchor")
        digest.update((json_form(1, **_fields(row)) + "\n").encode())
        count += 1
    moment = (at or timezone.now()).astimezone(UTC)
    fields: dict[str, Any] = {
        "sequence": last.sequence + 1,
        "at": moment,
        "actor": "system",
        "action": REANCHOR_ACTION,
        "object_type": "AuditLog",
        "object_id": "",
        "summary": (
            f"audit chain re-anchored: entries #1{DASH}#{last.sequence:,} keep version 1 (fields"
            f" joined by '|'); entries from #{last.sequence + 1:,} are version"
            f" {CHAIN_VERSION} (canonical JSON)"
        ),
        "data": {
            "from_version": 1,
            "to_version": CHAIN_VERSION,
            "old_head": {"sequence": last.sequence, "hash": last.hash},
            "version_1_entries": count,
            "version_1_sha256": digest.hexdigest(),
        },
    }
    return entries.objects.create(
        **fields,
        version=CHAIN_VERSION,
        prev_hash=last.hash,
        hash=entry_hash(last.hash, canonical(version=CHAIN_VERSION, **fields)),
    )


# --- checking the chain -----------------------------------------------------------------------


@dataclass(frozen=True)
class ChainCheck:
    entries: int
    broken_at: int | None  # the sequence of the first entry that does not verify (or is missing)
    reason: str
    head: Head | None = None
    # The heads recorded outside the chain that the log was found to hold.
    anchors_held: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return self.broken_at is None


FIELDS = ("sequence", "at", "actor", "action", "object_type", "object_id", "summary", "data")


def _rows(entries: Any = AuditEntry) -> Iterator[tuple[Any, ...]]:
    """Every entry in chain order: the FIELDS, prev_hash, hash, version.

    The rows are read without Django's per-value converters, which take most of the time of a
    check over 100,000 entries; `at` and `data` are decoded here, whichever form the database
    driver returns them in (SQLite: text; PostgreSQL: a datetime, and JSON as text or value).
    """
    query = (
        entries.objects.order_by("sequence")
        .values_list(*FIELDS, "prev_hash", "hash", "version")
        .query
    )
    compiler = query.get_compiler(using=entries.objects.db)
    for chunk in compiler.execute_sql(MULTI, chunked_fetch=True, chunk_size=5000):
        for row in chunk:
            sequence, at, actor, action, object_type, object_id, summary, data, *rest = row
            if not isinstance(at, datetime):
                at = datetime.fromisoformat(str(at))  # naive: UTC (USE_TZ), see `_moment`
            if isinstance(data, bytes | str):
                data = json.loads(data)
            yield (
                int(sequence),
                at,
                actor,
                action,
                object_type,
                object_id,
                summary,
                data,
                *rest,
            )


def _fields(row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(FIELDS, row[:8], strict=True))


def _missing(first: int, last: int) -> str:
    if first == last:
        return f"entry #{first:,} is missing"
    return f"entries {first:,}{DASH}{last:,} are missing"


def _reanchor_problem(data: Any, sequence: int, previous: str, digest: str, count: int) -> str:
    """Why the first version-2 entry after version-1 ones is not a valid re-anchor, or ""."""
    data = data if isinstance(data, dict) else {}
    old = data.get("old_head") or {}
    if old.get("sequence") != sequence - 1 or old.get("hash") != previous:
        return (
            f"entry #{sequence:,} follows version-1 entries but is not the re-anchor that"
            f" records their head #{sequence - 1:,}"
        )
    if data.get("version_1_entries") != count or data.get("version_1_sha256") != digest:
        return (
            f"a version-1 entry among #1{DASH}#{sequence - 1:,} was changed after the re-anchor"
            f" (entry #{sequence:,}) recorded their digest: fields moved, or rows replaced"
        )
    return ""


def verify_chain() -> ChainCheck:
    """Recomputes every hash in order; names the first entry that is wrong and why, then
    checks the log still holds the heads recorded outside it (entries deleted from the end)."""
    recorded = anchors()
    wanted = {anchor.sequence for anchor in recorded}
    held: dict[int, str] = {}
    previous = GENESIS
    expected = 1
    count = 0
    last_version = 0
    old_digest = hashlib.sha256()
    for row in _rows():
        (
            sequence,
            at,
            actor,
            action,
            object_type,
            object_id,
            summary,
            data,
            prev,
            stored,
            version,
        ) = row
        count += 1
        if sequence != expected:
            return ChainCheck(
                count, sequence, f"{_missing(expected, sequence - 1)} (next is #{sequence:,})"
            )
        if prev != previous:
            return ChainCheck(
                count, sequence, f"entry #{sequence} does not point at the hash of its predecessor"
            )
        if version == 2:
            if last_version == 1:
                problem = _reanchor_problem(
                    data, sequence, previous, old_digest.hexdigest(), count - 1
                )
                if problem:
                    return ChainCheck(count, sequence, problem)
            text = json_form(
                2,
                sequence=sequence,
                at=at,
                actor=actor,
                action=action,
                object_type=object_type,
                object_id=object_id,
                summary=summary,
                data=data,
            )
        elif version == 1 and last_version < 2:
            fields = _fields(row)
            text = canonical_v1(**fields)
            old_digest.update((json_form(1, **fields) + "\n").encode())
        else:
            return ChainCheck(
                count,
                sequence,
                f"entry #{sequence} claims chain version {version} after version {last_version}",
            )
        if entry_hash(prev, text) != stored:
            return ChainCheck(
                count, sequence, f"entry #{sequence} was changed after it was written"
            )
        if sequence in wanted:
            held[sequence] = stored
        previous = stored
        expected += 1
        last_version = version
    last = expected - 1
    head = Head(last, previous) if count else None
    for anchor in sorted(recorded, key=lambda a: -a.sequence):
        if anchor.sequence > last:
            return ChainCheck(
                count,
                last + 1,
                f"{_missing(last + 1, anchor.sequence)}: {anchor.said} recorded head"
                f" #{anchor.sequence:,} {anchor.hash}",
                head,
            )
        if held.get(anchor.sequence) != anchor.hash:
            return ChainCheck(
                count,
                anchor.sequence,
                f"entry #{anchor.sequence:,} is not the one {anchor.said} recorded as head"
                f" ({anchor.hash}): the log was cut back and written again",
                head,
            )
    return ChainCheck(count, None, "", head, [anchor.said for anchor in recorded])
