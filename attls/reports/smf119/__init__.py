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

# The `name as name` imports re-export, beyond the public API (`__all__`), what the simulator
# and the tests read as `smf119.<name>`: the flag bits and version codes they build records
# with, section lengths, the packed-date codec.
from attls.reports.smf119.decode import parse_record
from attls.reports.smf119.layout import ST11_FILTER_LEN as ST11_FILTER_LEN
from attls.reports.smf119.layout import ST11_IPSEC_LEN as ST11_IPSEC_LEN
from attls.reports.smf119.layout import ST11_SSH_LEN as ST11_SSH_LEN
from attls.reports.smf119.layout import ST12_IPSEC_LEN as ST12_IPSEC_LEN
from attls.reports.smf119.layout import ST12_SSH_LEN as ST12_SSH_LEN
from attls.reports.smf119.layout import _pack_date as _pack_date
from attls.reports.smf119.layout import _packed_date as _packed_date
from attls.reports.smf119.model import (
    EVENT_NAMES,
    SUMMARY_EVENT_NAMES,
    TLS_VERSIONS,
    CertificateFacts,
    ConnectionRecord,
    DistinguishedName,
    Identification,
    RawSection,
    Smf119Error,
    Smf119Warning,
    SmfHeader,
    SummaryCounts,
    SummaryRecord,
    TlsAttributes,
    UnknownSection,
    ZertRecord,
    protection_name,
)
from attls.reports.smf119.model import FLAG_IPV6 as FLAG_IPV6
from attls.reports.smf119.model import SUMMARY_FLAG_CLIENT as SUMMARY_FLAG_CLIENT
from attls.reports.smf119.model import SUMMARY_FLAG_SERVER as SUMMARY_FLAG_SERVER
from attls.reports.smf119.model import TLS_VERSION_CODES as TLS_VERSION_CODES
from attls.reports.smf119.reader import ZertReader, read_dump
from attls.reports.smf119.render import render_dump, render_record, write_dump
from attls.reports.smf119.view import ZertTally, format_record

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
