"""Streaming a dump: RDW or length-prefixed framing, spanned segments joined, damage skipped
with a warning naming its offset, and reading resumed at the next record."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from typing import BinaryIO, Literal

from attls.reports.smf119.decode import _parse_at
from attls.reports.smf119.layout import _DESCRIPTOR, _LENGTH_PREFIX
from attls.reports.smf119.model import (
    MAX_LOGICAL,
    SMF_TYPE,
    SUBTYPE_CONNECTION,
    SUBTYPE_SUMMARY,
    Smf119Error,
    Smf119Warning,
    ZertRecord,
)

Framing = Literal["auto", "rdw", "length-prefixed"]

# --- streaming a dump -----------------------------------------------------------------------------


class ZertReader:
    """Streams the zERT records of a dump; `warnings` lists what was skipped, with offsets.

    Records of other SMF types or other 119 subtypes are skipped silently and counted in
    `other_records` (a dump job may select more than zERT).
    """

    def __init__(
        self, stream: BinaryIO, *, framing: Framing = "auto", chunk_size: int = 1 << 22
    ) -> None:
        if framing not in ("auto", "rdw", "length-prefixed"):
            raise ValueError(f"unknown framing {framing!r}")
        self.stream = stream
        self.framing: Framing = framing
        self.chunk_size = max(chunk_size, 1 << 16)
        self.warnings: list[Smf119Warning] = []
        self.other_records = 0
        self.records = 0
        self.bytes_read = 0
        self.truncated = False

    def _warn(self, offset: int, message: str) -> None:
        self.warnings.append(Smf119Warning(offset, message))

    def __iter__(self) -> Iterator[ZertRecord]:
        read = self.stream.read
        buf = b""
        pos = 0  # in buf
        consumed = 0  # input offset of buf[0]
        eof = False
        framing = self.framing
        parse_at = _parse_at
        pending: list[bytes] = []  # spanned segments of the record being joined
        pending_at = 0
        while True:
            if not eof and len(buf) - pos < MAX_LOGICAL + 8:
                chunk = read(self.chunk_size)
                if not chunk:
                    eof = True
                else:
                    self.bytes_read += len(chunk)
                    consumed += pos
                    buf = buf[pos:] + chunk
                    pos = 0
                    continue
            avail = len(buf) - pos
            if avail == 0:
                break
            if framing == "auto":
                if avail < 4:
                    self._warn(consumed + pos, f"{avail} byte(s) at the end are not a record")
                    break
                framing = "length-prefixed" if buf[pos] == 0 and buf[pos + 1] == 0 else "rdw"
                self.framing = framing
            offset = consumed + pos
            if avail < 4:
                self._warn(offset, f"{avail} byte(s) at the end are not a record")
                self.truncated = True
                break
            if framing == "length-prefixed":
                (length,) = _LENGTH_PREFIX.unpack_from(buf, pos)
                if length < 24 or length > MAX_LOGICAL:
                    self._warn(offset, f"record length {length} is impossible; reading stops")
                    break
                if avail < 4 + length:
                    self._warn(
                        offset, f"the record is cut short: {length} bytes needed, {avail - 4} left"
                    )
                    self.truncated = True
                    break
                start = pos + 4
                end = start + length
                pos = end
                # With its RDW the record's own length leads, and the type is at +5;
                # without it the type is at +1 and offsets still count the RDW [inferred].
                if buf[start + 5] == SMF_TYPE and (buf[start] << 8 | buf[start + 1]) == length:
                    base = start
                else:
                    base = start - 4
                yield from self._one(buf, base, end, offset)
                continue
            # RDW / SDW framing.
            length, control, _ = _DESCRIPTOR.unpack_from(buf, pos)
            if length < 4 or control > 3:
                skip = self._resync(buf, pos + 1)
                self._warn(
                    offset,
                    f"descriptor X'{bytes(buf[pos : pos + 4]).hex().upper()}' is not a record "
                    f"descriptor word; {skip - pos} byte(s) skipped",
                )
                pending = []
                pos = skip
                continue
            if avail < length:
                self._warn(offset, f"the record is cut short: {length} bytes needed, {avail} left")
                self.truncated = True
                break
            end = pos + length
            if control == 0:
                if pending:
                    self._warn(pending_at, "a spanned record has no last segment; skipped")
                    pending = []
                start = pos
                pos = end
                # The common case, inline: one record with its RDW.
                try:
                    result = parse_at(buf, start, end, offset)
                except Smf119Error as error:
                    self._warn(offset, f"damaged record skipped: {error.message}")
                    continue
                if isinstance(result, int):
                    self.other_records += 1
                    continue
                self.records += 1
                yield result
                continue
            data = bytes(buf[pos + 4 : end])
            pos = end
            if control == 1:  # first segment
                if pending:
                    self._warn(pending_at, "a spanned record has no last segment; skipped")
                pending, pending_at = [data], offset
                continue
            if not pending:
                self._warn(offset, "a middle or last segment without its first one; skipped")
                continue
            pending.append(data)
            if sum(len(p) for p in pending) + 4 > MAX_LOGICAL:
                self._warn(pending_at, "a spanned record grows past 32,767 bytes; skipped")
                pending = []
                continue
            if control == 2:  # last segment
                body = b"".join(pending)
                joined = struct.pack(">HH", len(body) + 4, 0) + body
                pending = []
                yield from self._one(joined, 0, len(joined), pending_at)
        if pending:
            self._warn(pending_at, "the dump ends inside a spanned record; skipped")
            self.truncated = True

    def _one(self, buf: bytes, base: int, end: int, offset: int) -> Iterator[ZertRecord]:
        try:
            result = _parse_at(buf, base, end, offset)
        except Smf119Error as error:
            self._warn(offset, f"damaged record skipped: {error.message}")
            return
        if isinstance(result, int):
            self.other_records += 1
            return
        self.records += 1
        yield result

    @staticmethod
    def _resync(buf: bytes, pos: int) -> int:
        """The next position that looks like an SMF 119 zERT record's descriptor word."""
        limit = len(buf) - 24
        find = buf.find
        while pos < limit:
            hit = find(b"\x77", pos + 5)
            if hit < 0 or hit - 5 >= limit:
                return len(buf)
            candidate = hit - 5
            length = buf[candidate] << 8 | buf[candidate + 1]
            if (
                length >= 28
                and buf[candidate + 2] in (0, 1)
                and buf[candidate + 3] == 0
                and buf[candidate + 22] == 0
                and buf[candidate + 23] in (SUBTYPE_CONNECTION, SUBTYPE_SUMMARY)
            ):
                return candidate
            pos = candidate + 1
        return len(buf)


def read_dump(
    data: bytes, *, framing: Framing = "auto"
) -> tuple[list[ZertRecord], list[Smf119Warning]]:
    """Every zERT record of a dump held in memory, and what was skipped."""
    reader = ZertReader(io.BytesIO(data), framing=framing)
    records = list(reader)
    return records, reader.warnings
