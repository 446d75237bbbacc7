"""Decoding one zERT record: the sections located through the triplets, checked, and read
into the model (caching what repeats from record to record)."""

from __future__ import annotations

import struct
from typing import Any, Final

from attls.reports.smf119.layout import (
    _AF_INET,
    _AF_INET6,
    _DN_HEAD,
    _IDENT,
    _ST11_COMMON,
    _ST11_TLS,
    _ST12_COMMON,
    _ST12_TLS,
    ST11_COMMON_LEN,
    ST11_IDENT_LEN,
    ST11_TLS_LEN,
    ST12_COMMON_LEN,
    ST12_TLS_LEN,
    _address,
    _BadField,
    _ebcdic,
    _head_struct,
    _inet_ntop,
    _packed_date,
)
from attls.reports.smf119.model import (
    _EMPTY_CERT,
    FLAG_IPV6,
    SMF_TYPE,
    SUBTYPE_CONNECTION,
    SUBTYPE_SUMMARY,
    CertificateFacts,
    ConnectionRecord,
    DistinguishedName,
    Identification,
    RawSection,
    Smf119Error,
    SmfHeader,
    SummaryCounts,
    SummaryRecord,
    TlsAttributes,
    UnknownSection,
    ZertRecord,
)

_ident_cache: dict[bytes, Identification] = {}


def _identification(raw: bytes) -> Identification:
    ident = _ident_cache.get(raw)
    if ident is None:
        fields = _IDENT.unpack(raw)
        ident = Identification(
            _ebcdic(fields[0]),
            _ebcdic(fields[1]),
            _ebcdic(fields[2]),
            _ebcdic(fields[3]),
            _ebcdic(fields[4]),
            _ebcdic(fields[5]),
            _ebcdic(fields[6]),
            fields[8],
            fields[9],
            fields[10],
        )
        if len(_ident_cache) < 1024:
            _ident_cache[raw] = ident
    return ident


# --- parsing one record ---------------------------------------------------------------------------

# The triplets of a record as three tuples: offsets (from the record start), lengths, numbers.
_Triplets = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def _sections(
    buf: bytes, base: int, end: int, offset: int, dn_index: int
) -> tuple[tuple[Any, ...], _Triplets, bytes]:
    """The header fields and the triplets of the record at buf[base:end], checked.

    Fixed-size sections must fit Num x Len; the certificate DN section (`dn_index`) holds
    entries of their own lengths, so only its first Len bytes are checked here. Records of
    one shape (the same triplet table) are checked once: the table's bytes key a cache of
    the triplets and how far into the record they reach. Returns the header fields, the
    triplets and that key.
    """
    size = end - base
    count = buf[base + 24] << 8 | buf[base + 25]
    table_end = 28 + 8 * count
    if count < 2 or table_end > size:
        raise Smf119Error(offset, f"{count} triplets do not fit in a record of {size} bytes")
    values = _head_struct(count).unpack_from(buf, base)
    key = buf[base + 24 : base + table_end]
    shape = _shape_cache.get(key)
    if shape is None or shape[3] > size:
        shape = _shape(values, table_end, size, offset, dn_index)
        if len(_shape_cache) < 4096:
            _shape_cache[key] = shape
    return values, shape[:3], key


_Shape = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], int]
_shape_cache: dict[bytes, _Shape] = {}


def _shape(
    values: tuple[Any, ...], table_end: int, size: int, offset: int, dn_index: int
) -> _Shape:
    offsets, lengths, numbers = values[10::3], values[11::3], values[12::3]
    extent = table_end
    for index, (start, length, number) in enumerate(zip(offsets, lengths, numbers, strict=True)):
        span = length if index == dn_index else length * number
        if number and (start < table_end or start + span > size):
            raise Smf119Error(
                offset,
                f"triplet {index + 1} points outside the record "
                f"(offset {start}, {number} x {length} bytes, record {size} bytes)",
            )
        if number:
            extent = max(extent, start + span)
    return offsets, lengths, numbers, extent


def _header(values: tuple[Any, ...]) -> SmfHeader:
    ids = _ids_cache.get(values[6])
    if ids is None:
        ids = _ids_cache[values[6]] = (_ebcdic(values[6][:4]), _ebcdic(values[6][4:]))
    return _make_header((values[2], values[4], _packed_date(values[5]), *ids))


_ids_cache: dict[bytes, tuple[str, str]] = {}


_tuple_new: Final = tuple.__new__


def _make_header(fields: tuple[Any, ...]) -> SmfHeader:
    header: SmfHeader = _tuple_new(SmfHeader, fields)
    return header


def _check_length(offset: int, name: str, triplets: _Triplets, index: int, minimum: int) -> bool:
    """Whether section `index` is present; raises when it is shorter than its layout."""
    if not triplets[2][index]:
        return False
    if triplets[1][index] < minimum:
        raise Smf119Error(
            offset, f"{name} section of {triplets[1][index]} bytes, {minimum} expected"
        )
    return True


_NO_CERT_11: Final = (0, 0, 0, 0, 0, bytes(20), 0, bytes(15), 0, 0)
_tls_cache: dict[bytes, TlsAttributes] = {}


def _certificate_11(values: tuple[Any, ...], offset: int) -> CertificateFacts | None:
    if values == _NO_CERT_11:
        return None
    sig, enc, digest, _, serial_len, serial, time_type, time_raw, key_type, key_len = values
    if serial_len > 20:
        raise Smf119Error(offset, f"certificate serial length {serial_len} exceeds 20")
    return CertificateFacts(
        sig,
        enc,
        digest,
        key_type,
        key_len,
        serial[:serial_len],
        time_type,
        time_raw.rstrip(b"\x00"),
    )


def _tls_11(buf: bytes, start: int, offset: int) -> TlsAttributes:
    # Sections that differ only in their session ID (each full handshake has its own) share
    # one decoded form: the cache is keyed on everything but the ID, which is put in after.
    session_len = buf[start + 7]
    if session_len > 32:
        raise Smf119Error(offset, f"TLS session ID length {session_len} exceeds 32")
    key = buf[start : start + 7] + buf[start + 40 : start + ST11_TLS_LEN]
    cached = _tls_cache.get(key)
    if cached is not None:
        if not session_len:
            return cached
        fields = (*cached[:12], buf[start + 8 : start + 8 + session_len], cached[13])
        tls: TlsAttributes = _tuple_new(TlsAttributes, fields)
        return tls
    v = _ST11_TLS.unpack_from(buf, start)
    tls = TlsAttributes(
        v[0],
        _ebcdic(v[8]),
        v[11],
        v[9],
        v[10],
        v[1],
        v[13],
        _certificate_11(v[15:25], offset),
        _certificate_11(v[25:35], offset),
        v[2],
        v[3],
        v[12],
        v[6][:session_len],
        _ebcdic(v[7]),
    )
    if len(_tls_cache) < 4096:
        _tls_cache[key] = tls._replace(session_id=b"")
    return tls


def _tls_12(buf: bytes, start: int) -> TlsAttributes:
    v = _ST12_TLS.unpack_from(buf, start)
    server = CertificateFacts(v[7], v[8], v[9], v[10], v[11])
    client = CertificateFacts(v[12], v[13], v[14], v[15], v[16])
    return TlsAttributes(
        v[2],
        _ebcdic(v[3]),
        v[6],
        v[4],
        v[5],
        v[0],
        v[1],
        None if server == _EMPTY_CERT else server,
        None if client == _EMPTY_CERT else client,
    )


def _dns(
    buf: bytes, base: int, triplets: _Triplets, index: int, end: int, offset: int
) -> tuple[DistinguishedName, ...]:
    """The DN section: `num` entries, each with its own length [code; Len semantics inferred].

    Entries are read one after another from the section's offset, each as long as its
    DN_Len says, which holds whether the triplet's Len is the total or one entry's.
    """
    number = triplets[2][index]
    if not number:
        return ()
    names = []
    at = base + triplets[0][index]
    for _ in range(number):
        if at + 4 > end:
            raise Smf119Error(offset, "the certificate DN section runs past the record's end")
        length, dn_type = _DN_HEAD.unpack_from(buf, at)
        if length < 4 or at + length > end:
            raise Smf119Error(offset, f"a certificate DN entry of {length} bytes is damaged")
        names.append(DistinguishedName(dn_type, _ebcdic(bytes(buf[at + 4 : at + length]))))
        at += length
    return tuple(names)


def _raw(buf: bytes, base: int, triplets: _Triplets, index: int) -> RawSection | None:
    if not triplets[2][index]:
        return None
    start = base + triplets[0][index]
    return RawSection(bytes(buf[start : start + triplets[1][index]]))


def _unknown(buf: bytes, base: int, triplets: _Triplets, known: int) -> tuple[UnknownSection, ...]:
    extra = []
    offsets, lengths, numbers = triplets
    for index in range(known, len(offsets)):
        if numbers[index]:
            start = base + offsets[index]
            data = bytes(buf[start : start + lengths[index] * numbers[index]])
            extra.append(UnknownSection(index + 1, data, numbers[index], lengths[index]))
    return tuple(extra)


def _connection_shape(triplets: _Triplets, offset: int) -> tuple[bool, bool]:
    """Checks the sections a subtype 11 record must have; whether it has a TLS section and
    sections behind unknown triplets."""
    if len(triplets[0]) < 7:
        raise Smf119Error(
            offset, f"a subtype 11 record with {len(triplets[0])} triplets, 7 expected"
        )
    if not (
        _check_length(offset, "identification", triplets, 0, ST11_IDENT_LEN)
        and _check_length(offset, "common", triplets, 1, ST11_COMMON_LEN)
    ):
        raise Smf119Error(offset, "the identification or common section is missing")
    has_tls = _check_length(offset, "TLS", triplets, 3, ST11_TLS_LEN)
    return has_tls, any(triplets[2][7:])


_connection_shapes: dict[bytes, tuple[bool, bool]] = {}
_names_cache: dict[bytes, tuple[str, str, str]] = {}


def _connection(buf: bytes, base: int, end: int, offset: int) -> ConnectionRecord:
    values, triplets, key = _sections(buf, base, end, offset, 6)
    offsets, _, numbers = triplets
    known = _connection_shapes.get(key)
    if known is None:
        known = _connection_shape(triplets, offset)
        if len(_connection_shapes) < 4096:
            _connection_shapes[key] = known
    has_tls, has_unknown = known
    start = base + offsets[0]
    ident = _identification(buf[start : start + ST11_IDENT_LEN])
    (
        event,
        protocols,
        flags,
        security_flags,
        ip_protocol,
        _,
        names,
        start_time,
        start_date,
        end_time,
        end_date,
        remote,
        local,
        remote_port,
        local_port,
        connection_id,
        in_bytes,
        out_bytes,
        in_segments,
        out_segments,
        _,
    ) = _ST11_COMMON.unpack_from(buf, base + offsets[1])
    try:
        header = _header(values)
        dates = _packed_date(start_date), _packed_date(end_date)
    except _BadField as error:
        raise Smf119Error(offset, str(error)) from None
    if flags & FLAG_IPV6:
        remote, local = _inet_ntop(_AF_INET6, remote), _inet_ntop(_AF_INET6, local)
    else:
        remote, local = _inet_ntop(_AF_INET, remote[:4]), _inet_ntop(_AF_INET, local[:4])
    job = _names_cache.get(names)
    if job is None:
        job = (_ebcdic(names[:8]), _ebcdic(names[8:16]), _ebcdic(names[16:]))
        if len(_names_cache) < 65536:
            _names_cache[names] = job
    # tuple.__new__ straight away: NamedTuple's own __new__ is a Python call of 30 arguments.
    record: ConnectionRecord = _tuple_new(
        ConnectionRecord,
        (
            header,
            ident,
            event,
            protocols,
            flags,
            security_flags,
            ip_protocol,
            *job,
            start_time,
            dates[0],
            end_time,
            dates[1],
            remote,
            local,
            remote_port,
            local_port,
            connection_id,
            in_bytes,
            out_bytes,
            in_segments,
            out_segments,
            _tls_11(buf, base + offsets[3], offset) if has_tls else None,
            _raw(buf, base, triplets, 4) if numbers[4] else None,
            _raw(buf, base, triplets, 5) if numbers[5] else None,
            _raw(buf, base, triplets, 2) if numbers[2] else None,
            _dns(buf, base, triplets, 6, end, offset) if numbers[6] else (),
            _unknown(buf, base, triplets, 7) if has_unknown else (),
            len(offsets),
        ),
    )
    return record


def _summary(buf: bytes, base: int, end: int, offset: int) -> SummaryRecord:
    values, triplets, _ = _sections(buf, base, end, offset, 5)
    offsets = triplets[0]
    if len(offsets) < 6:
        raise Smf119Error(offset, f"a subtype 12 record with {len(offsets)} triplets, 6 expected")
    if not (
        _check_length(offset, "identification", triplets, 0, ST11_IDENT_LEN)
        and _check_length(offset, "summary common", triplets, 1, ST12_COMMON_LEN)
    ):
        raise Smf119Error(offset, "the identification or common section is missing")
    start = base + offsets[0]
    ident = _identification(buf[start : start + ST11_IDENT_LEN])
    c = _ST12_COMMON.unpack_from(buf, base + offsets[1])
    ipv6 = bool(c[2] & FLAG_IPV6)
    try:
        header = _header(values)
    except _BadField as error:
        raise Smf119Error(offset, str(error)) from None
    has_tls = _check_length(offset, "TLS", triplets, 2, ST12_TLS_LEN)
    return SummaryRecord(
        header,
        ident,
        c[0],
        c[1],
        c[2],
        c[3],
        _ebcdic(c[4]),
        _ebcdic(c[5]),
        c[6],
        _address(c[7], ipv6),
        _address(c[8], ipv6),
        c[9],
        c[10],
        _ebcdic(c[11]),
        SummaryCounts(*c[13:21]),
        SummaryCounts(*c[21:29]),
        _tls_12(buf, base + offsets[2]) if has_tls else None,
        _raw(buf, base, triplets, 3),
        _raw(buf, base, triplets, 4),
        _dns(buf, base, triplets, 5, end, offset),
        _unknown(buf, base, triplets, 6),
        len(offsets),
    )


def _parse_at(buf: bytes, base: int, end: int, offset: int) -> ZertRecord | int:
    """The record at buf[base:end] (base = where its RDW is), or its type and subtype if it
    is not zERT (as type << 16 | subtype)."""
    if end - base < 28:
        raise Smf119Error(offset, f"a record of {end - base} bytes is shorter than its header")
    rtype = buf[base + 5]
    subtype = (buf[base + 22] << 8) | buf[base + 23]
    if rtype != SMF_TYPE or subtype not in (SUBTYPE_CONNECTION, SUBTYPE_SUMMARY):
        return (rtype << 16) | subtype
    try:
        if subtype == SUBTYPE_CONNECTION:
            return _connection(buf, base, end, offset)
        return _summary(buf, base, end, offset)
    except struct.error as error:
        raise Smf119Error(offset, f"a section runs past the record's end ({error})") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise Smf119Error(offset, f"a field cannot be decoded ({error})") from None


def parse_record(data: bytes, *, offset: int = 0) -> ZertRecord:
    """One complete SMF 119 subtype 11 or 12 record, RDW first (as SYSTCPER delivers it).

    Raises `Smf119Error` for anything else, damaged or not zERT.
    """
    data = bytes(data)
    if len(data) < 28:
        raise Smf119Error(offset, f"a record of {len(data)} bytes is shorter than its header")
    (length,) = struct.unpack_from(">H", data, 0)
    if length != len(data):
        raise Smf119Error(offset, f"the RDW says {length} bytes, the record has {len(data)}")
    result = _parse_at(data, 0, len(data), offset)
    if isinstance(result, int):
        raise Smf119Error(
            offset, f"SMF record type {result >> 16} subtype {result & 0xFFFF} is not zERT"
        )
    return result
