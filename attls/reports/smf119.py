"""SMF type 119 zERT records: subtype 11 (connection detail) and 12 (summary), read and written.

zERT (z/OS Encryption Readiness Technology) records the cryptographic protection of every TCP
connection that ends on a stack: TLS by the application itself or by AT-TLS, SSH, IPsec, or
none. This module reads the records from bytes, as

* a dump data set downloaded in binary with its record descriptor words (`framing="rdw"`): each
  record (or, for a variable-blocked-spanned data set, each segment) starts with a 4-byte
  descriptor; spanned segments are joined;
* the z/OSMF "record" download (`X-IBM-Data-Type: record`, `framing="length-prefixed"`): each
  logical record preceded by a 4-byte length;
* one record at a time, as the real-time SYSTCPER service delivers them (`parse_record`).

`framing="auto"` tells the two apart from the first bytes. `ZertReader` streams: it holds one
chunk of the file and the record being read, never the whole dump, so a million records cost
the memory of one chunk. A damaged record is skipped with a `Smf119Warning` naming its byte
offset in the input, and reading goes on; `parse_record` raises `Smf119Error` instead.

Every section is located only through the self-defining section's triplets (offset, length,
number), never at a fixed offset, and triplets beyond those this module knows are kept as
`UnknownSection`s (z/OS 2.5 writes 8 for subtype 11, whose 8th section is not documented
publicly). Codes are kept as the raw numbers the record holds; names are offered only for the
values the sources list, and an unlisted code stays a number, never a guess.

Where each fact comes from (see `shared/reference/zert-smf119.md` for the full tables):

* [doc] IBM, z/OS Communications Server IP Programmer's Guide: the standard SMF header, the
  self-defining section up to SMF119S1Off, the TCP/IP identification section, the event list
  of subtype 11 (7 events, TRN = 8 from z/OS 2.5), subtype 11/12 being written with subcomponent
  STACK and reason X'08' (event), packed dates 0cyydddF, times in 1/100 s, SYSTCPER delivering
  complete subtype 11 records.
* [code] the zERT section layouts (common, IP filter, TLS, SSH, IPsec, DN sections of subtype
  11; common, TLS, SSH, IPsec, DN sections of subtype 12) and their code values: a public
  transcription of IBM's tables (pacsys.com's copy, scraped into JSON in
  patrykblicharski/HLASM-Mainframe-SMF-to-JSON-Engine), checked only for consistency.
* [inferred] TLS 1.3 as X'0304' (the wire-version pattern of the listed values), event codes 5
  and 6 (IBM's numbered list order), IPv4 addresses in the first 4 bytes of the 16-byte fields
  (as the transcription says), the certificate "not after" text encoding.
"""

from __future__ import annotations

import datetime as dt
import io
import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final, Literal, NamedTuple

from attls.ciphers import Protocol
from attls.errors import AttlsError

__all__ = [
    "EVENT_NAMES",
    "SUMMARY_EVENT_NAMES",
    "TLS_VERSIONS",
    "CertificateFacts",
    "ConnectionRecord",
    "DistinguishedName",
    "Identification",
    "RawSection",
    "Smf119Error",
    "Smf119Warning",
    "SmfHeader",
    "SummaryCounts",
    "SummaryRecord",
    "TlsAttributes",
    "UnknownSection",
    "ZertReader",
    "ZertRecord",
    "ZertTally",
    "format_record",
    "parse_record",
    "protection_name",
    "read_dump",
    "render_dump",
    "render_record",
    "write_dump",
]

Framing = Literal["auto", "rdw", "length-prefixed"]

SMF_TYPE: Final = 119  # [doc] SMF119RTY
SUBTYPE_CONNECTION: Final = 11  # [doc] zERT connection detail
SUBTYPE_SUMMARY: Final = 12  # [doc] zERT summary
MAX_RECORD: Final = 32760  # [doc] DFSMS: a variable logical record is at most 32,760 bytes
# SMF records are at most 32,767 bytes including the RDW, so a joined spanned record beyond
# this is damage, not data [doc SMF: record length is a halfword].
MAX_LOGICAL: Final = 32767

# [doc] SMF119SC_SAEvent_Type (subtype 11). 5 and 6 [inferred] from IBM's numbered list order.
EVENT_NAMES: Final[dict[int, str]] = {
    1: "ConnInit",
    2: "Change",
    3: "ConnTerm",
    4: "ShortTerm",
    5: "Enabled",
    6: "Disabled",
    7: "Enforce",
}
# [code] SMF119SS_SAEvent_Type (subtype 12).
SUMMARY_EVENT_NAMES: Final[dict[int, str]] = {1: "Summary", 2: "AggrEnabled", 3: "AggrDisabled"}

# [code] SMF119SC_SASecProtos / SMF119SS_SASecProtos bits, in the order the record lists them.
PROTECTION_BITS: Final[tuple[tuple[int, str], ...]] = (
    (0x80, "TLS"),
    (0x40, "SSH"),
    (0x20, "IPsec"),
)
# [code] SMF119SC_SAFlags / SMF119SS_SAFlags X'80': the connection is IPv6.
FLAG_IPV6: Final = 0x80
# [code] SMF119SS_SAFlags X'40': the local socket is the server; X'20': the client.
SUMMARY_FLAG_SERVER: Final = 0x40
SUMMARY_FLAG_CLIENT: Final = 0x20

# [code] SMF119SC_TLS_Prot_Ver: the wire version. X'0304' (TLS 1.3) [inferred]: the source's
# list stops at TLS 1.2, the value follows the wire encoding the other values use.
TLS_VERSIONS: Final[dict[int, Protocol]] = {
    0x0200: Protocol.SSLV2,
    0x0300: Protocol.SSLV3,
    0x0301: Protocol.TLSV1,
    0x0302: Protocol.TLSV1_1,
    0x0303: Protocol.TLSV1_2,
    0x0304: Protocol.TLSV1_3,
}
TLS_VERSION_CODES: Final[dict[Protocol, int]] = {p: c for c, p in TLS_VERSIONS.items()}

# [code] SMF119SC_TLS_CS_Kex_Alg, the values the transcription lists in full (X'000A' and up
# were cut off there, so they stay numbers).
KEY_EXCHANGE_NAMES: Final[dict[int, str]] = {
    0x0000: "unknown",
    0x0001: "none",
    0x0002: "RSA",
    0x0003: "RSA_EXPORT",
    0x0004: "RSA_PSK",
    0x0005: "DH_RSA",
    0x0006: "DH_RSA_EXPORT",
    0x0007: "DH_DSS",
    0x0008: "DH_anon",
    0x0009: "DH_anon_EXPORT",
}
# [code] SMF119SC_TLS_SCert_Key_Type (and CCert, SSH, IPsec).
KEY_TYPE_NAMES: Final[dict[int, str]] = {
    0: "unknown",
    1: "none",
    2: "RSA",
    3: "DSA",
    4: "DH",
    5: "ECC",
}
# [code] SMF119SC_TLS_Handshake_Role.
HANDSHAKE_ROLE_NAMES: Final[dict[int, str]] = {
    0: "unknown",
    1: "client",
    2: "server",
    3: "server with client authentication",
}


class Smf119Error(AttlsError):
    """A record that cannot be read, at a byte offset of the input."""

    def __init__(self, offset: int, message: str) -> None:
        self.offset = offset
        self.message = message
        super().__init__(f"offset {offset}: {message}")


@dataclass(frozen=True, slots=True)
class Smf119Warning:
    """Something skipped while reading a dump: a damaged record, a cut tail, garbage."""

    offset: int
    message: str

    def __str__(self) -> str:
        return f"offset {self.offset}: {self.message}"


# --- the model ------------------------------------------------------------------------------------


class SmfHeader(NamedTuple):
    """The standard SMF header [doc]: time and date are LOCAL, when SMF buffered the record."""

    flags: int  # SMF119FLG [doc]
    time: int  # SMF119TME, 1/100 s since local midnight [doc]
    date: dt.date | None  # SMF119DTE, packed 0cyydddF [doc]
    system_id: str  # SMF119SID [doc]
    subsystem_id: str  # SMF119SSI [doc] (its value for TCP/IP is not established)


class Identification(NamedTuple):
    """The TCP/IP identification section [doc]: the stack that wrote the record."""

    system: str  # SMF119TI_SYSName [doc]
    sysplex: str  # SMF119TI_SysplexName [doc]
    stack: str  # SMF119TI_Stack [doc]
    release: str  # SMF119TI_ReleaseID [doc] (its string form is not established)
    component: str  # SMF119TI_Comp [doc]: 'STACK' for zERT
    address_space: str  # SMF119TI_ASName [doc]: the writer (the stack), not the application
    userid: str  # SMF119TI_UserID [doc]
    asid: int  # SMF119TI_ASID [doc]
    reason: int  # SMF119TI_Reason [doc]: X'08' event; subtype 12 intervals X'C0'/X'80'
    record_id: int  # SMF119TI_RecordID [code] (IBM's table shows reserved bytes here)


class CertificateFacts(NamedTuple):
    """What a zERT section says about one certificate [code]. Codes stay raw numbers."""

    signature_method: int  # SMF119SC_TLS_SCert_Signature_Method [code], values from X'0009' cut
    encryption_method: int  # SMF119SC_TLS_SCert_Enc_Method [code]
    digest: int  # SMF119SC_TLS_SCert_Digest_Alg [code]
    key_type: int  # SMF119SC_TLS_SCert_Key_Type [code] (KEY_TYPE_NAMES)
    key_length: int  # SMF119SC_TLS_SCert_Key_Len [code], bits
    # Subtype 11 only (subtype 12 has no serial or time): empty when not recorded.
    serial: bytes = b""  # SMF119SC_TLS_SCert_Serial(_Len) [code]
    not_after_type: int = 0  # SMF119SC_TLS_SCert_Time_Type [code]: 1 UTCTime, 2 GeneralizedTime
    # SMF119SC_TLS_SCert_Time [code], as recorded, trailing X'00' removed; EBCDIC or ASCII is
    # not established, so it stays bytes (`not_after_text` reads either).
    not_after: bytes = b""

    @property
    def key_type_name(self) -> str | None:
        return KEY_TYPE_NAMES.get(self.key_type)

    @property
    def not_after_text(self) -> str | None:
        """The "not after" time as text, when its bytes are EBCDIC or ASCII digits and 'Z'."""
        for codec in ("cp037", "ascii"):
            try:
                text = self.not_after.decode(codec)
            except UnicodeDecodeError:
                continue
            if text and text[:-1].isdigit() and text.endswith("Z"):
                return text
        return None


class TlsAttributes(NamedTuple):
    """The TLS protocol attributes section (subtype 11 S3 / subtype 12 S2) [code]."""

    version_code: int  # SMF119SC_TLS_Prot_Ver [code], raw (TLS_VERSIONS)
    # SMF119SC_TLS_Neg_Cipher [code]: EBCDIC hex text of the IANA code, 'C02F' (SSLv2's
    # 6-character form [inferred]); kept as recorded, blanks trimmed.
    cipher: str
    key_exchange: int  # SMF119SC_TLS_CS_Kex_Alg [code], raw; values from X'000A' cut
    encryption: int  # SMF119SC_TLS_CS_Enc_Alg [code], raw; values from X'000B' cut
    message_auth: int  # SMF119SC_TLS_CS_Msg_Auth [code], raw; values from X'0006' cut
    source: int  # SMF119SC_TLS_Source [code]: 1 stream observation, 2 protocol provider
    crypto_flags: int  # SMF119SC_TLS_CryptoFlags [code]: X'80' encrypt-then-MAC
    server_certificate: CertificateFacts | None  # SMF119SC_TLS_SCert_* [code]
    client_certificate: CertificateFacts | None  # SMF119SC_TLS_CCert_* [code]
    # Subtype 11 only.
    handshake_type: int = 0  # SMF119SC_TLS_Handshake_Type [code]: 1 full, 2 abbreviated
    handshake_role: int = 0  # SMF119SC_TLS_Handshake_Role [code] (HANDSHAKE_ROLE_NAMES)
    fips_mode: int = 0  # SMF119SC_TLS_FIPS_Mode [code]
    session_id: bytes = b""  # SMF119SC_TLS_Session_ID(_Len) [code]
    # SMF119SC_TLS_Protocol_Provider [code]: 'IBM System SSL', 'Observation', ...
    provider: str = ""

    @property
    def protocol(self) -> Protocol | None:
        """The negotiated version, or None for an unknown or unlisted code."""
        return TLS_VERSIONS.get(self.version_code)

    @property
    def version_name(self) -> str:
        """`TLSv1.2`, or the raw code (`X'0305'`) when it is not a listed version."""
        protocol = TLS_VERSIONS.get(self.version_code)
        return protocol.value if protocol is not None else f"X'{self.version_code:04X}'"

    @property
    def key_exchange_name(self) -> str | None:
        return KEY_EXCHANGE_NAMES.get(self.key_exchange)


class RawSection(NamedTuple):
    """A section kept as its bytes (SSH, IPsec, IP filter): a few facts decoded on demand."""

    data: bytes

    def byte(self, offset: int) -> int:
        return self.data[offset] if offset < len(self.data) else 0

    def text(self, offset: int, length: int) -> str:
        return _ebcdic(self.data[offset : offset + length])


class DistinguishedName(NamedTuple):
    """One entry of the certificate DN section [code]; types 1-12 [doc, OMEGAMON help]."""

    dn_type: int  # SMF119SC_DN_Type [code 1-5; doc OMEGAMON 1-12]
    name: str  # SMF119SC_DN [code], EBCDIC


class UnknownSection(NamedTuple):
    """A section behind a triplet this module does not know (z/OS 2.5's 8th), kept raw."""

    triplet: int  # 1-based position in the self-defining section
    data: bytes  # all its sections, as one block
    number: int  # the triplet's Num
    length: int  # the triplet's Len


class ConnectionRecord(NamedTuple):
    """A zERT connection detail record (SMF 119 subtype 11)."""

    header: SmfHeader
    ident: Identification
    event: int  # SMF119SC_SAEvent_Type: 1-4 [code, doc], 7 [doc], 5-6 [inferred] (EVENT_NAMES)
    security_protocols: int  # SMF119SC_SASecProtos [code]: X'80' TLS, X'40' SSH, X'20' IPsec
    flags: int  # SMF119SC_SAFlags [code]: X'80' IPv6, X'40' AT-TLS bypassed; lower bits cut
    security_flags: int  # SMF119SC_SASecFlags [code]
    ip_protocol: int  # SMF119SC_SAIPProto [code]: 6 TCP, 17 UDP (Enterprise Extender)
    jobname: str  # SMF119SC_SAJobname [code]: the application's job
    jobid: str  # SMF119SC_SAJobID [code]
    userid: str  # SMF119SC_SAUserID [code]
    start_time: int  # SMF119SC_SASTime [code]: 1/100 s since UTC midnight [doc: UTC times]
    start_date: dt.date | None  # SMF119SC_SASDate [code], packed [doc]
    end_time: int  # SMF119SC_SAETime [code]
    # SMF119SC_SAEDate [code]: set for termination records; None for 0 or X'0000000F' (which
    # one z/OS writes otherwise is not established).
    end_date: dt.date | None
    remote_address: str  # SMF119SC_SARIP [code]: IPv4 in the first 4 bytes unless IPv6
    local_address: str  # SMF119SC_SALIP [code]
    remote_port: int  # SMF119SC_SARPort [code]
    local_port: int  # SMF119SC_SALPort [code]
    connection_id: int  # SMF119SC_SAConnID [code]: netstat's connection id
    in_bytes: int  # SMF119SC_SAInBytes [code]
    out_bytes: int  # SMF119SC_SAOutBytes [code]
    in_segments: int  # SMF119SC_SAInSegDG [code]
    out_segments: int  # SMF119SC_SAOutSegDG [code]
    tls: TlsAttributes | None = None  # the S3 section [code]
    ssh: RawSection | None = None  # the S4 section [code], 284 bytes, kept raw
    ipsec: RawSection | None = None  # the S5 section [code], 236 bytes, kept raw
    ip_filter: RawSection | None = None  # the S2 section [code], 100 bytes, kept raw
    distinguished_names: tuple[DistinguishedName, ...] = ()  # the S6 section [code]
    unknown_sections: tuple[UnknownSection, ...] = ()  # triplets 8+ [doc: TRN 8 from 2.5]
    triplets: int = 7  # SMF119SD_TRN as written [doc]: 7 up to z/OS 2.4, 8 from 2.5

    @property
    def subtype(self) -> int:
        return SUBTYPE_CONNECTION

    @property
    def event_name(self) -> str:
        return EVENT_NAMES.get(self.event, f"event {self.event}")

    @property
    def protection(self) -> str:
        return protection_name(self.security_protocols)

    @property
    def ipv6(self) -> bool:
        return bool(self.flags & FLAG_IPV6)

    @property
    def started_at(self) -> dt.datetime | None:
        return _timestamp(self.start_date, self.start_time)

    @property
    def ended_at(self) -> dt.datetime | None:
        return _timestamp(self.end_date, self.end_time)


class SummaryCounts(NamedTuple):
    """The SMF119SS_SAInit* or SMF119SS_SAEnd* statistics of a summary record [code]."""

    connections: int  # SMF119SS_SA{Init,End}LifeConnCnt [code]
    partial_connections: int  # ...LifePartialConnCnt [code]
    short_connections: int  # ...LifeShortConnCnt [code]: connections of under 10 s
    active_connections: int  # ...ActiveConnCnt [code]
    in_bytes: int  # ...LifeInBytes [code]
    out_bytes: int  # ...LifeOutBytes [code]
    in_segments: int  # ...LifeInSegDG [code]
    out_segments: int  # ...LifeOutSegDG [code]


class SummaryRecord(NamedTuple):
    """A zERT summary record (SMF 119 subtype 12): one security session over an interval."""

    header: SmfHeader
    ident: Identification
    interval: int  # SMF119SS_SAIntervalDuration [code]: TOD units, bit 51 = 1 us [doc]
    event: int  # SMF119SS_SAEvent_Type [code] (SUMMARY_EVENT_NAMES)
    flags: int  # SMF119SS_SAFlags [code]: X'80' IPv6, X'40' local server, X'20' local client
    security_protocols: int  # SMF119SS_SASecProtos [code]: exactly one bit, or none
    jobname: str  # SMF119SS_SAJobname [code]
    userid: str  # SMF119SS_SAUserID [code]
    ip_protocol: int  # SMF119SS_SAIPProto [code]
    server_address: str  # SMF119SS_SASrvIP [code]
    client_address: str  # SMF119SS_SACltIP [code]
    server_port_start: int  # SMF119SS_SASrvPortStart [code]
    server_port_end: int  # SMF119SS_SASrvPortEnd [code]
    session_id: str  # SMF119SS_SASessionID [code] (its grammar is not established)
    initial: SummaryCounts  # at the interval's start [code]
    final: SummaryCounts  # at its end [code]
    tls: TlsAttributes | None = None  # the S2 section [code]
    ssh: RawSection | None = None  # the S3 section [code], 46 bytes, kept raw
    ipsec: RawSection | None = None  # the S4 section [code], 74 bytes, kept raw
    distinguished_names: tuple[DistinguishedName, ...] = ()  # the S5 section [code]
    unknown_sections: tuple[UnknownSection, ...] = ()  # triplets past the 6th
    triplets: int = 6  # SMF119SD_TRN as written (pacsys says 7 but lists 6 [code])

    @property
    def subtype(self) -> int:
        return SUBTYPE_SUMMARY

    @property
    def event_name(self) -> str:
        return SUMMARY_EVENT_NAMES.get(self.event, f"event {self.event}")

    @property
    def protection(self) -> str:
        return protection_name(self.security_protocols)

    @property
    def interval_seconds(self) -> float:
        return (self.interval >> 12) / 1_000_000

    @property
    def ipv6(self) -> bool:
        return bool(self.flags & FLAG_IPV6)


ZertRecord = ConnectionRecord | SummaryRecord


def protection_name(bits: int) -> str:
    """`none`, `TLS`, `SSH`, `IPsec`, or several joined with `+`; unlisted bits as hex."""
    names = [name for bit, name in PROTECTION_BITS if bits & bit]
    rest = bits & ~0xE0
    if rest:
        names.append(f"X'{rest:02X}'")
    return "+".join(names) if names else "none"


def _timestamp(date: dt.date | None, hundredths: int) -> dt.datetime | None:
    if date is None:
        return None
    return dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC) + dt.timedelta(
        milliseconds=hundredths * 10
    )


# --- decoding helpers -----------------------------------------------------------------------------

_text_cache: dict[bytes, str] = {}
_date_cache: dict[int, dt.date | None] = {}


def _ebcdic(raw: bytes) -> str:
    """EBCDIC (CP037; IBM-1047 agrees on every character these fields hold), blanks trimmed."""
    text = _text_cache.get(raw)
    if text is None:
        text = raw.decode("cp037").rstrip(" \x00")
        if len(_text_cache) < 65536:
            _text_cache[raw] = text
    return text


class _BadField(ValueError):
    pass


def _packed_date(value: int) -> dt.date | None:
    """`0cyydddF` -> a date; 0 or X'0000000F' (no data) -> None. [doc]"""
    try:
        return _date_cache[value]
    except KeyError:
        pass
    if value in (0, 0x0000000F):
        result: dt.date | None = None
    else:
        digits = f"{value:08X}"
        if digits[-1] != "F" or not digits[:-1].isdigit():
            raise _BadField(f"packed date X'{digits}' is not 0cyydddF")
        century, year, day = int(digits[1]), int(digits[2:4]), int(digits[4:7])
        if century > 1 or not 1 <= day <= 366:
            raise _BadField(f"packed date X'{digits}' is out of range")
        try:
            result = dt.date(1900 + 100 * century + year, 1, 1) + dt.timedelta(days=day - 1)
        except (ValueError, OverflowError) as error:  # pragma: no cover - guarded above
            raise _BadField(f"packed date X'{digits}': {error}") from None
        if result.year != 1900 + 100 * century + year:
            raise _BadField(f"packed date X'{digits}': day {day} is past the year's end")
    if len(_date_cache) < 4096:
        _date_cache[value] = result
    return result


def _pack_date(date: dt.date | None) -> int:
    if date is None:
        return 0x0000000F  # [doc] the "no data" date
    century = (date.year - 1900) // 100
    if not 0 <= century <= 1:
        raise ValueError(f"{date} cannot be written as a packed 0cyydddF date")
    yday = date.timetuple().tm_yday
    return int(f"0{century}{date.year % 100:02d}{yday:03d}", 16) << 4 | 0xF


_inet_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6


def _address(raw: bytes, ipv6: bool) -> str:
    # [code] IPv4 in the FIRST 4 bytes of the 16-byte field unless the IPv6 flag is set.
    if ipv6:
        return _inet_ntop(_AF_INET6, raw)
    return _inet_ntop(_AF_INET, raw[:4])


def _address_bytes(text: str, ipv6: bool) -> bytes:
    if ipv6:
        return socket.inet_pton(socket.AF_INET6, text)
    return socket.inet_pton(socket.AF_INET, text) + bytes(12)


# --- layouts (big-endian, no padding) -------------------------------------------------------------

_HEADER = struct.Struct(">HHBBII4s4sH")  # [doc] 24 bytes, RDW included
_TRN = struct.Struct(">HH")  # [doc] SMF119SD_TRN + reserved
_TRIPLET = struct.Struct(">IHH")  # [doc] offset (from the record start, RDW included), len, num
_IDENT = struct.Struct(">8s8s8s8s8s8s8s2sHBB2s")  # [doc] 64
# Job name, job ID and user ID as one 24-byte field: one cached decode for the three.
_ST11_COMMON = struct.Struct(">BBBBB3s24sIIII16s16sHHIQQQQ8s")  # [code] 128
_ST11_TLS = struct.Struct(">HBBB2sB32s16s6sHHHBB2sHHHBB20sB15sHHHHHBB20sB15sHH")  # [code] 168
_ST12_COMMON = struct.Struct(">QBBB8s8sB16s16sHH42s2sIIIIQQQQIIIIQQQQ")  # [code] 204
_ST12_TLS = struct.Struct(">BBH6s13H")  # [code] 36
_DN_HEAD = struct.Struct(">HH")  # [code] DN entry: length (incl. these 4 bytes), type
_DESCRIPTOR = struct.Struct(">HBB")  # [doc] RDW/SDW: length, segment control, reserved
_LENGTH_PREFIX = struct.Struct(">I")  # [doc z/OSMF] "record" mode: 4-byte record length
_U32 = struct.Struct(">I")

ST11_IDENT_LEN: Final = _IDENT.size
ST11_COMMON_LEN: Final = _ST11_COMMON.size
ST11_TLS_LEN: Final = _ST11_TLS.size
ST11_SSH_LEN: Final = 284  # [code]
ST11_IPSEC_LEN: Final = 236  # [code]
ST11_FILTER_LEN: Final = 100  # [code]
ST12_COMMON_LEN: Final = _ST12_COMMON.size
ST12_TLS_LEN: Final = _ST12_TLS.size
ST12_SSH_LEN: Final = 46  # [code]
ST12_IPSEC_LEN: Final = 74  # [code]

_head_structs: dict[int, struct.Struct] = {}


def _head_struct(count: int) -> struct.Struct:
    """Header, TRN and `count` triplets in one layout: one unpack per record."""
    layout = _head_structs.get(count)
    if layout is None:
        # SMF119SID and SMF119SSI as one 8-byte field: one cached decode for both.
        layout = _head_structs[count] = struct.Struct(">HHBBII8sHHH" + "IHH" * count)
    return layout


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


_EMPTY_CERT: Final = CertificateFacts(0, 0, 0, 0, 0)
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


# --- the one-line view (`python -m attls zert`) ---------------------------------------------------


def _socket_text(address: str, port: int | None) -> str:
    # netstat's form (reference §5): address..port.
    return f"{address}..{port}" if port is not None else address


def format_record(record: ZertRecord) -> str:
    """One line: event, job, user, local and remote socket, protection, TLS version, cipher."""
    if isinstance(record, ConnectionRecord):
        local = _socket_text(record.local_address, record.local_port)
        remote = _socket_text(record.remote_address, record.remote_port)
        userid = record.userid
    else:
        server = _socket_text(record.server_address, record.server_port_start)
        if record.server_port_end != record.server_port_start:
            server += f"-{record.server_port_end}"
        client = record.client_address
        local, remote = (client, server) if record.flags & SUMMARY_FLAG_CLIENT else (server, client)
        userid = record.userid
    tls = record.tls
    version = tls.version_name if tls is not None else "-"
    cipher = (tls.cipher or "-") if tls is not None else "-"
    return (
        f"{record.event_name:<11} {record.jobname or '-':<8} {userid or '-':<8} "
        f"{local:<24} {remote:<24} {record.protection:<6} {version:<8} {cipher}"
    )


@dataclass
class ZertTally:
    """Counts behind the summary `python -m attls zert` prints after the records."""

    detail: int = 0
    summary: int = 0
    events: dict[str, int] = field(default_factory=dict)
    # Connections that ended (ConnTerm and ShortTerm records: one per connection).
    ended_by_protection: dict[str, int] = field(default_factory=dict)
    ended_tls_versions: dict[str, int] = field(default_factory=dict)

    def add(self, record: ZertRecord) -> None:
        self.events[record.event_name] = self.events.get(record.event_name, 0) + 1
        if isinstance(record, SummaryRecord):
            self.summary += 1
            return
        self.detail += 1
        if record.event not in (3, 4):
            return
        protection = self.ended_by_protection
        protection[record.protection] = protection.get(record.protection, 0) + 1
        if record.tls is not None:
            name = record.tls.version_name
            self.ended_tls_versions[name] = self.ended_tls_versions.get(name, 0) + 1

    def lines(self, *, skipped: int, other: int) -> list[str]:
        events = ", ".join(f"{name} {count:,}" for name, count in sorted(self.events.items()))
        lines = [
            f"{self.detail + self.summary:,} zERT record(s): {self.detail:,} connection detail,"
            f" {self.summary:,} summary ({events or 'none'}); {skipped:,} skipped as damaged,"
            f" {other:,} other SMF record(s) ignored"
        ]
        ended = self.ended_by_protection
        if ended:
            total = sum(ended.values())
            mix = ", ".join(f"{name} {count:,}" for name, count in sorted(ended.items()))
            lines.append(f"{total:,} connection(s) ended (ConnTerm, ShortTerm): {mix}")
            versions = self.ended_tls_versions
            if versions:
                order = {p.value: i for i, p in enumerate(Protocol)}
                ranked = sorted(versions.items(), key=lambda item: order.get(item[0], 99))
                lines.append(
                    "  TLS versions: " + ", ".join(f"{name} {count:,}" for name, count in ranked)
                )
        return lines
