"""Hypothesis strategies for zERT records: every value the SMF 119 layout can hold.

The constraints are the layout's own: text is EBCDIC, blank padded (so it cannot end in a
blank), a certificate with every field zero is "no certificate", an address is IPv6 exactly
when the record's IPv6 flag is set, subtype 12 has no serials, times or session IDs.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import string

from hypothesis import strategies as st

from attls.reports import smf119 as z

TEXT = string.ascii_uppercase + string.digits + "@#$*."


def text(width: int, *, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(TEXT + " ", min_size=min_size, max_size=width).map(str.rstrip)


u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)
dates = st.none() | st.dates(dt.date(1900, 1, 1), dt.date(2099, 12, 31))


def _normal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    return socket.inet_ntop(family, address.packed)


def addresses(ipv6: bool) -> st.SearchStrategy[str]:
    return st.ip_addresses(v=6 if ipv6 else 4).map(_normal)


headers = st.builds(z.SmfHeader, u8, u32, dates, text(4), text(4))
idents = st.builds(
    z.Identification, text(8), text(8), text(8), text(8), text(8), text(8), text(8), u16, u8, u8
)
ciphers = st.sampled_from(["", "C02F", "1301", "0035", "C030", "FFFF", "ABCDEF", "0A"])


@st.composite
def certificates_11(draw: st.DrawFn) -> z.CertificateFacts:
    return z.CertificateFacts(
        draw(u16),
        draw(u16),
        draw(u16),
        draw(u16),
        draw(st.integers(1, 0xFFFF)),  # all zero would mean "no certificate"
        draw(st.binary(max_size=20)),
        draw(u8),
        draw(st.binary(max_size=15).map(lambda b: b.rstrip(b"\x00"))),
    )


# st.tuples, not st.builds: builds would also draw the fields subtype 12 does not have.
certificates_12 = st.tuples(u16, u16, u16, u16, st.integers(1, 0xFFFF)).map(
    lambda values: z.CertificateFacts(*values)
)

tls_11 = st.builds(
    z.TlsAttributes,
    u16,
    ciphers,
    u16,
    u16,
    u16,
    u8,
    u8,
    st.none() | certificates_11(),
    st.none() | certificates_11(),
    u8,
    u8,
    u8,
    st.binary(max_size=32),
    text(16),
)
tls_12 = st.tuples(
    u16,
    ciphers,
    u16,
    u16,
    u16,
    u8,
    u8,
    st.none() | certificates_12,
    st.none() | certificates_12,
).map(lambda values: z.TlsAttributes(*values))
dns = st.lists(st.builds(z.DistinguishedName, u16, text(60)), max_size=3).map(tuple)


def raw(size: int) -> st.SearchStrategy[z.RawSection | None]:
    return st.none() | st.binary(min_size=size, max_size=size).map(z.RawSection)


@st.composite
def unknown_sections(draw: st.DrawFn, known: int) -> tuple[tuple[z.UnknownSection, ...], int]:
    """Sections behind triplets past the known ones (z/OS 2.5's 8th and any later)."""
    extra = draw(st.integers(0, 3))
    sections = []
    for index in range(known + 1, known + extra + 1):
        if draw(st.booleans()):
            number = draw(st.integers(1, 3))
            length = draw(st.integers(1, 40))
            data = draw(st.binary(min_size=number * length, max_size=number * length))
            sections.append(z.UnknownSection(index, data, number, length))
    return tuple(sections), known + extra


@st.composite
def connection_records(draw: st.DrawFn) -> z.ConnectionRecord:
    flags = draw(u8)
    ipv6 = bool(flags & z.FLAG_IPV6)
    unknown, triplets = draw(unknown_sections(7))
    return z.ConnectionRecord(
        draw(headers),
        draw(idents),
        draw(u8),
        draw(u8),
        flags,
        draw(u8),
        draw(u8),
        draw(text(8)),
        draw(text(8)),
        draw(text(8)),
        draw(u32),
        draw(dates),
        draw(u32),
        draw(dates),
        draw(addresses(ipv6)),
        draw(addresses(ipv6)),
        draw(u16),
        draw(u16),
        draw(u32),
        draw(u64),
        draw(u64),
        draw(u64),
        draw(u64),
        draw(st.none() | tls_11),
        draw(raw(z.ST11_SSH_LEN)),
        draw(raw(z.ST11_IPSEC_LEN)),
        draw(raw(z.ST11_FILTER_LEN)),
        draw(dns),
        unknown,
        triplets,
    )


counts = st.builds(z.SummaryCounts, u32, u32, u32, u32, u64, u64, u64, u64)


@st.composite
def summary_records(draw: st.DrawFn) -> z.SummaryRecord:
    flags = draw(u8)
    ipv6 = bool(flags & z.FLAG_IPV6)
    unknown, triplets = draw(unknown_sections(6))
    return z.SummaryRecord(
        draw(headers),
        draw(idents),
        draw(u64),
        draw(u8),
        flags,
        draw(u8),
        draw(text(8)),
        draw(text(8)),
        draw(u8),
        draw(addresses(ipv6)),
        draw(addresses(ipv6)),
        draw(u16),
        draw(u16),
        draw(text(42)),
        draw(counts),
        draw(counts),
        draw(st.none() | tls_12),
        draw(raw(z.ST12_SSH_LEN)),
        draw(raw(z.ST12_IPSEC_LEN)),
        draw(dns),
        unknown,
        triplets,
    )


records = connection_records() | summary_records()
