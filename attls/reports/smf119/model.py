"""The zERT record model: the code tables, the errors, and the typed records and sections.

Codes stay the raw numbers a record holds; the tables here name only the values the sources list.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, NamedTuple

from attls.ciphers import Protocol
from attls.errors import AttlsError
from attls.reports.smf119.layout import _ebcdic

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


# What a section holds for no certificate: every code 0 (the decoder and the renderer share it).
_EMPTY_CERT: Final = CertificateFacts(0, 0, 0, 0, 0)


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
