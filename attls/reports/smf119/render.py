"""Rendering zERT records as z/OS writes them, and writing them to a dump (the simulator's
recordings, and the tests' round trips)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import BinaryIO, Literal

from attls.reports.smf119.layout import (
    _DESCRIPTOR,
    _DN_HEAD,
    _HEADER,
    _IDENT,
    _LENGTH_PREFIX,
    _ST11_COMMON,
    _ST11_TLS,
    _ST12_COMMON,
    _ST12_TLS,
    _TRIPLET,
    _TRN,
    ST11_COMMON_LEN,
    ST11_IDENT_LEN,
    ST11_TLS_LEN,
    ST12_COMMON_LEN,
    ST12_TLS_LEN,
    _address_bytes,
    _pack_date,
)
from attls.reports.smf119.model import (
    _EMPTY_CERT,
    MAX_LOGICAL,
    SMF_TYPE,
    CertificateFacts,
    ConnectionRecord,
    DistinguishedName,
    Identification,
    RawSection,
    TlsAttributes,
    ZertRecord,
)

# --- rendering ------------------------------------------------------------------------------------


def _ebcdic_field(text: str, width: int) -> bytes:
    raw = text.encode("cp037")
    if len(raw) > width:
        raise ValueError(f"{text!r} is longer than {width} characters")
    return raw + b"\x40" * (width - len(raw))


def _render_ident(ident: Identification) -> bytes:
    return _IDENT.pack(
        _ebcdic_field(ident.system, 8),
        _ebcdic_field(ident.sysplex, 8),
        _ebcdic_field(ident.stack, 8),
        _ebcdic_field(ident.release, 8),
        _ebcdic_field(ident.component, 8),
        _ebcdic_field(ident.address_space, 8),
        _ebcdic_field(ident.userid, 8),
        b"\x00\x00",
        ident.asid,
        ident.reason,
        ident.record_id,
        b"\x00\x00",
    )


def _cert_11(cert: CertificateFacts | None) -> tuple[object, ...]:
    c = cert or _EMPTY_CERT
    if len(c.serial) > 20 or len(c.not_after) > 15:
        raise ValueError("a certificate serial is at most 20 bytes, its time 15")
    return (
        c.signature_method,
        c.encryption_method,
        c.digest,
        0,
        len(c.serial),
        c.serial,
        c.not_after_type,
        c.not_after,
        c.key_type,
        c.key_length,
    )


def _render_tls_11(tls: TlsAttributes) -> bytes:
    if len(tls.session_id) > 32:
        raise ValueError("a TLS session ID is at most 32 bytes")
    return _ST11_TLS.pack(
        tls.version_code,
        tls.source,
        tls.handshake_type,
        tls.handshake_role,
        b"\x00\x00",
        len(tls.session_id),
        tls.session_id,
        _ebcdic_field(tls.provider, 16),
        _ebcdic_field(tls.cipher, 6),
        tls.encryption,
        tls.message_auth,
        tls.key_exchange,
        tls.fips_mode,
        tls.crypto_flags,
        b"\x00\x00",
        *_cert_11(tls.server_certificate),
        *_cert_11(tls.client_certificate),
    )


def _render_tls_12(tls: TlsAttributes) -> bytes:
    server = tls.server_certificate or _EMPTY_CERT
    client = tls.client_certificate or _EMPTY_CERT
    return _ST12_TLS.pack(
        tls.source,
        tls.crypto_flags,
        tls.version_code,
        _ebcdic_field(tls.cipher, 6),
        tls.encryption,
        tls.message_auth,
        tls.key_exchange,
        *server[:5],
        *client[:5],
    )


def _render_dns(names: tuple[DistinguishedName, ...]) -> tuple[bytes, int]:
    """The DN section and the triplet Len it is written with: the section's whole length
    [inferred: IBM's Len semantics for this section are not established; the reader walks the
    entries by their own lengths either way]."""
    entries = []
    for name in names:
        text = name.name.encode("cp037")
        if len(text) > 1024:
            raise ValueError("a certificate DN is at most 1024 bytes")
        entries.append(_DN_HEAD.pack(len(text) + 4, name.dn_type) + text)
    section = b"".join(entries)
    return section, len(section)


def render_record(record: ZertRecord) -> bytes:
    """The record as z/OS writes it: RDW, SMF header, self-defining section, sections.

    Sections follow one another in triplet order; absent sections have (0, 0, 0) triplets.
    Raises ValueError for values the layout cannot hold.
    """
    ident = _render_ident(record.ident)
    if isinstance(record, ConnectionRecord):
        ipv6 = record.ipv6
        common = _ST11_COMMON.pack(
            record.event,
            record.security_protocols,
            record.flags,
            record.security_flags,
            record.ip_protocol,
            b"\x00" * 3,
            _ebcdic_field(record.jobname, 8)
            + _ebcdic_field(record.jobid, 8)
            + _ebcdic_field(record.userid, 8),
            record.start_time,
            _pack_date(record.start_date),
            record.end_time,
            _pack_date(record.end_date),
            _address_bytes(record.remote_address, ipv6),
            _address_bytes(record.local_address, ipv6),
            record.remote_port,
            record.local_port,
            record.connection_id,
            record.in_bytes,
            record.out_bytes,
            record.in_segments,
            record.out_segments,
            b"\x00" * 8,
        )
        dns, dn_len = _render_dns(record.distinguished_names)
        sections: list[tuple[bytes, int, int]] = [
            (ident, ST11_IDENT_LEN, 1),
            (common, ST11_COMMON_LEN, 1),
            _optional(record.ip_filter),
            (_render_tls_11(record.tls), ST11_TLS_LEN, 1) if record.tls else (b"", 0, 0),
            _optional(record.ssh),
            _optional(record.ipsec),
            (dns, dn_len, len(record.distinguished_names)),
        ]
        known = 7
    else:
        ipv6 = record.ipv6
        common = _ST12_COMMON.pack(
            record.interval,
            record.event,
            record.flags,
            record.security_protocols,
            _ebcdic_field(record.jobname, 8),
            _ebcdic_field(record.userid, 8),
            record.ip_protocol,
            _address_bytes(record.server_address, ipv6),
            _address_bytes(record.client_address, ipv6),
            record.server_port_start,
            record.server_port_end,
            _ebcdic_field(record.session_id, 42),
            b"\x00\x00",
            *record.initial,
            *record.final,
        )
        dns, dn_len = _render_dns(record.distinguished_names)
        sections = [
            (ident, ST11_IDENT_LEN, 1),
            (common, ST12_COMMON_LEN, 1),
            (_render_tls_12(record.tls), ST12_TLS_LEN, 1) if record.tls else (b"", 0, 0),
            _optional(record.ssh),
            _optional(record.ipsec),
            (dns, dn_len, len(record.distinguished_names)),
        ]
        known = 6
    if record.triplets < known:
        raise ValueError(f"a subtype {record.subtype} record has at least {known} triplets")
    extra = {section.triplet: section for section in record.unknown_sections}
    for index in range(known + 1, record.triplets + 1):
        section = extra.pop(index, None)
        if section is None:
            sections.append((b"", 0, 0))
        else:
            sections.append((section.data, section.length, section.number))
    if extra:
        raise ValueError(f"unknown sections beyond the record's {record.triplets} triplets")
    offset = 28 + 8 * len(sections)
    table = []
    body = []
    for data, length, number in sections:
        table.append(_TRIPLET.pack(offset if number else 0, length, number))
        body.append(data)
        offset += len(data)
    total = offset
    if total > MAX_LOGICAL:
        raise ValueError(f"a record of {total} bytes is longer than SMF allows")
    header = record.header
    head = _HEADER.pack(
        total,
        0,
        header.flags,
        SMF_TYPE,
        header.time,
        _pack_date(header.date),
        _ebcdic_field(header.system_id, 4),
        _ebcdic_field(header.subsystem_id, 4),
        record.subtype,
    )
    return b"".join([head, _TRN.pack(len(sections), 0), *table, *body])


def _optional(section: RawSection | None) -> tuple[bytes, int, int]:
    if section is None:
        return (b"", 0, 0)
    return (section.data, len(section.data), 1)


def _segments(record: bytes, segment_size: int | None) -> Iterator[bytes]:
    """The record with its RDW, or as spanned segments (SDW + part) no longer than the size."""
    if segment_size is None or len(record) <= segment_size:
        yield record
        return
    if segment_size < 8:
        raise ValueError("a segment holds at least its 4-byte descriptor and some data")
    body = record[4:]
    room = segment_size - 4
    parts = [body[i : i + room] for i in range(0, len(body), room)]
    for index, part in enumerate(parts):
        control = 1 if index == 0 else 2 if index == len(parts) - 1 else 3
        yield _DESCRIPTOR.pack(len(part) + 4, control, 0) + part


def write_dump(
    stream: BinaryIO,
    records: Iterable[ZertRecord | bytes],
    *,
    framing: Literal["rdw", "length-prefixed"] = "rdw",
    segment_size: int | None = None,
) -> int:
    """Appends records to a dump (rendered, or already rendered bytes); returns bytes written.

    `rdw`: each record with its RDW, spanned into segments longer than `segment_size`;
    `length-prefixed`: z/OSMF's record download, a 4-byte length before each record.
    """
    written = 0
    for record in records:
        data = record if isinstance(record, bytes) else render_record(record)
        if framing == "length-prefixed":
            chunk = _LENGTH_PREFIX.pack(len(data)) + data
            stream.write(chunk)
            written += len(chunk)
            continue
        for part in _segments(data, segment_size):
            stream.write(part)
            written += len(part)
    return written


def render_dump(
    records: Iterable[ZertRecord | bytes],
    *,
    framing: Literal["rdw", "length-prefixed"] = "rdw",
    segment_size: int | None = None,
) -> bytes:
    out = io.BytesIO()
    write_dump(out, records, framing=framing, segment_size=segment_size)
    return out.getvalue()
