"""Cipher suite registry: System SSL 4-character codes, IANA names and OpenSSL names.

AT-TLS policies and `pasearch` name a TLS cipher suite by its IANA code point written as four
upper-case hex digits (0x13,0x01 is `1301`); the older `V3CipherSuites` string form keeps only
the low byte of the `00xx` suites (`35` is `0035`). This module maps those codes to the IANA
names (which System SSL also uses as its cipher constant names) and to OpenSSL's names, says
which protocol versions can negotiate each suite, and records whether NIST SP 800-52 Rev. 2
lists it.

Where the data comes from:

* Code points and names: the IANA "TLS Cipher Suites" registry
  (https://www.iana.org/assignments/tls-parameters). Key exchange, authentication, bulk cipher
  and MAC are derived from the IANA name itself, so they cannot drift from it.
* Protocol versions: the RFCs that define each suite (SHA-256/384, GCM, CCM and ChaCha20 suites
  need TLS 1.2; ECC suites need TLS 1.0 or later; DES and export suites were withdrawn by
  TLS 1.2 and TLS 1.1; TLS 1.3 has its own five suites and uses no others).
* SP 800-52r2 status: the general-use lists of its §3.3.1.1 (TLS 1.2 and earlier) and §3.3.1.2
  (TLS 1.3), and the RSA key-transport suites its appendix allows only for a transition period,
  as transcribed in the project's NIST catalog (`shared/reference/nist-catalog.yaml`).
* Which suites are present: everything in z/OS System SSL's published cipher table that we
  know of, every suite on the SP 800-52r2 lists (CCM and CCM_8 included, although System SSL
  is not known to implement them), and the ChaCha20-Poly1305 suites.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from attls.errors import AttlsError

__all__ = [
    "SYSTEM_SSL_DEFAULT_V3_CIPHERS",
    "SYSTEM_SSL_DEFAULT_V3_CIPHERS_FIPS",
    "CipherSuite",
    "CipherValueError",
    "NistStatus",
    "Protocol",
    "UnknownCipherError",
    "all_suites",
    "approved_800_52r2",
    "by_code",
    "by_name",
    "by_openssl_name",
    "effective_order",
    "get",
    "is_tls13_only",
    "parse_v3_cipher_suites",
    "parse_v3_cipher_suites_4char",
    "suites_for",
]


class Protocol(StrEnum):
    """A protocol version, valued with its AT-TLS keyword spelling (`TLSv1.2`, ...)."""

    SSLV2 = "SSLv2"
    SSLV3 = "SSLv3"
    TLSV1 = "TLSv1"
    TLSV1_1 = "TLSv1.1"
    TLSV1_2 = "TLSv1.2"
    TLSV1_3 = "TLSv1.3"

    @property
    def label(self) -> str:
        """How a reader names it: `TLS 1.0`, `TLS 1.3`, `SSL 3.0` (the value is the keyword).

        The members are declared oldest first, so iterating `Protocol` gives that order."""
        family, _, number = self.value.partition("v")
        return f"{family} {number if '.' in number else number + '.0'}"


class NistStatus(StrEnum):
    """Where NIST SP 800-52 Rev. 2 puts a suite."""

    APPROVED = "approved"  # on the general-use lists of §3.3.1.1 / §3.3.1.2
    TRANSITION = "transition"  # RSA key transport, allowed only for a transition period (App. D)
    NOT_LISTED = "not_listed"


class UnknownCipherError(AttlsError, KeyError):
    """A cipher code or name that is not in the registry."""

    def __init__(self, key: str, message: str | None = None) -> None:
        self.key = key
        self.message = message or f"unknown cipher suite {key!r}"
        super().__init__(self.message)

    def __str__(self) -> str:
        # KeyError would print the repr of its argument, quotes and all.
        return self.message


class CipherValueError(AttlsError, ValueError):
    """A `V3CipherSuites` / `V3CipherSuites4Char` value that cannot be accepted."""

    def __init__(self, parameter: str, value: str, message: str) -> None:
        self.parameter = parameter
        self.value = value
        self.message = message
        super().__init__(message)


_HASH_NAMES: Final = {"SHA": "SHA1", "SHA256": "SHA256", "SHA384": "SHA384", "MD5": "MD5"}
_EPHEMERAL: Final = frozenset({"ECDHE", "DHE", "any"})


@dataclass(frozen=True, slots=True)
class CipherSuite:
    """One TLS cipher suite.

    `authentication` names the signature algorithm of the server certificate, as the IANA name
    does: for static DH/ECDH suites (`TLS_ECDH_RSA_...`) that is the algorithm the CA signed the
    DH certificate with. `mac` is the HMAC hash (`SHA1`, `SHA256`, `SHA384`, `MD5`), `AEAD` for
    GCM/CCM/ChaCha20-Poly1305 suites, or `NULL`.
    """

    code: str
    iana_name: str
    openssl_name: str | None  # None: OpenSSL never implemented it (TLS_NULL_WITH_NULL_NULL)
    protocols: frozenset[Protocol]
    key_exchange: str
    authentication: str
    bulk_cipher: str
    mac: str
    aead: bool
    forward_secrecy: bool
    nist_800_52r2: NistStatus

    @property
    def two_char(self) -> str | None:
        """The `V3CipherSuites` 2-character code, or None when the suite needs four."""
        return self.code[2:] if self.code.startswith("00") else None

    @property
    def tls13_only(self) -> bool:
        return self.protocols == _TLS13


_SSL3_TO_TLS12: Final = frozenset(
    {Protocol.SSLV3, Protocol.TLSV1, Protocol.TLSV1_1, Protocol.TLSV1_2}
)
# DES suites were dropped from TLS 1.2 (RFC 5246 §1.2).
_SSL3_TO_TLS11: Final = frozenset({Protocol.SSLV3, Protocol.TLSV1, Protocol.TLSV1_1})
# Export suites must not be negotiated from TLS 1.1 on (RFC 4346 §A.5).
_SSL3_TO_TLS10: Final = frozenset({Protocol.SSLV3, Protocol.TLSV1})
# ECC suites (RFC 4492 / 8422) exist for TLS 1.0 and later, never for SSLv3.
_TLS10_TO_TLS12: Final = frozenset({Protocol.TLSV1, Protocol.TLSV1_1, Protocol.TLSV1_2})
_TLS12: Final = frozenset({Protocol.TLSV1_2})
_TLS13: Final = frozenset({Protocol.TLSV1_3})
# TLS_NULL_WITH_NULL_NULL is only the state before the first handshake; it is never negotiated.
_NEVER: Final[frozenset[Protocol]] = frozenset()

# (code, IANA name, OpenSSL name, protocols). OpenSSL names are the current ones where OpenSSL
# still has the suite, otherwise the last name it used (1.0.2 for DES and static DH suites).
_ROWS: Final[tuple[tuple[str, str, str | None, frozenset[Protocol]], ...]] = (
    ("0000", "TLS_NULL_WITH_NULL_NULL", None, _NEVER),
    ("0001", "TLS_RSA_WITH_NULL_MD5", "NULL-MD5", _SSL3_TO_TLS12),
    ("0002", "TLS_RSA_WITH_NULL_SHA", "NULL-SHA", _SSL3_TO_TLS12),
    ("0003", "TLS_RSA_EXPORT_WITH_RC4_40_MD5", "EXP-RC4-MD5", _SSL3_TO_TLS10),
    ("0004", "TLS_RSA_WITH_RC4_128_MD5", "RC4-MD5", _SSL3_TO_TLS12),
    ("0005", "TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA", _SSL3_TO_TLS12),
    ("0006", "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5", "EXP-RC2-CBC-MD5", _SSL3_TO_TLS10),
    ("0009", "TLS_RSA_WITH_DES_CBC_SHA", "DES-CBC-SHA", _SSL3_TO_TLS11),
    ("000A", "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA", _SSL3_TO_TLS12),
    ("000C", "TLS_DH_DSS_WITH_DES_CBC_SHA", "DH-DSS-DES-CBC-SHA", _SSL3_TO_TLS11),
    ("000D", "TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA", "DH-DSS-DES-CBC3-SHA", _SSL3_TO_TLS12),
    ("000F", "TLS_DH_RSA_WITH_DES_CBC_SHA", "DH-RSA-DES-CBC-SHA", _SSL3_TO_TLS11),
    ("0010", "TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA", "DH-RSA-DES-CBC3-SHA", _SSL3_TO_TLS12),
    ("0012", "TLS_DHE_DSS_WITH_DES_CBC_SHA", "EDH-DSS-DES-CBC-SHA", _SSL3_TO_TLS11),
    ("0013", "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA", "DHE-DSS-DES-CBC3-SHA", _SSL3_TO_TLS12),
    ("0015", "TLS_DHE_RSA_WITH_DES_CBC_SHA", "EDH-RSA-DES-CBC-SHA", _SSL3_TO_TLS11),
    ("0016", "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA", "DHE-RSA-DES-CBC3-SHA", _SSL3_TO_TLS12),
    ("002F", "TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA", _SSL3_TO_TLS12),
    ("0030", "TLS_DH_DSS_WITH_AES_128_CBC_SHA", "DH-DSS-AES128-SHA", _SSL3_TO_TLS12),
    ("0031", "TLS_DH_RSA_WITH_AES_128_CBC_SHA", "DH-RSA-AES128-SHA", _SSL3_TO_TLS12),
    ("0032", "TLS_DHE_DSS_WITH_AES_128_CBC_SHA", "DHE-DSS-AES128-SHA", _SSL3_TO_TLS12),
    ("0033", "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "DHE-RSA-AES128-SHA", _SSL3_TO_TLS12),
    ("0035", "TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA", _SSL3_TO_TLS12),
    ("0036", "TLS_DH_DSS_WITH_AES_256_CBC_SHA", "DH-DSS-AES256-SHA", _SSL3_TO_TLS12),
    ("0037", "TLS_DH_RSA_WITH_AES_256_CBC_SHA", "DH-RSA-AES256-SHA", _SSL3_TO_TLS12),
    ("0038", "TLS_DHE_DSS_WITH_AES_256_CBC_SHA", "DHE-DSS-AES256-SHA", _SSL3_TO_TLS12),
    ("0039", "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "DHE-RSA-AES256-SHA", _SSL3_TO_TLS12),
    ("003B", "TLS_RSA_WITH_NULL_SHA256", "NULL-SHA256", _TLS12),
    ("003C", "TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256", _TLS12),
    ("003D", "TLS_RSA_WITH_AES_256_CBC_SHA256", "AES256-SHA256", _TLS12),
    ("003E", "TLS_DH_DSS_WITH_AES_128_CBC_SHA256", "DH-DSS-AES128-SHA256", _TLS12),
    ("003F", "TLS_DH_RSA_WITH_AES_128_CBC_SHA256", "DH-RSA-AES128-SHA256", _TLS12),
    ("0040", "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256", "DHE-DSS-AES128-SHA256", _TLS12),
    ("0067", "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", "DHE-RSA-AES128-SHA256", _TLS12),
    ("0068", "TLS_DH_DSS_WITH_AES_256_CBC_SHA256", "DH-DSS-AES256-SHA256", _TLS12),
    ("0069", "TLS_DH_RSA_WITH_AES_256_CBC_SHA256", "DH-RSA-AES256-SHA256", _TLS12),
    ("006A", "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256", "DHE-DSS-AES256-SHA256", _TLS12),
    ("006B", "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", "DHE-RSA-AES256-SHA256", _TLS12),
    ("009C", "TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256", _TLS12),
    ("009D", "TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384", _TLS12),
    ("009E", "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE-RSA-AES128-GCM-SHA256", _TLS12),
    ("009F", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "DHE-RSA-AES256-GCM-SHA384", _TLS12),
    ("00A0", "TLS_DH_RSA_WITH_AES_128_GCM_SHA256", "DH-RSA-AES128-GCM-SHA256", _TLS12),
    ("00A1", "TLS_DH_RSA_WITH_AES_256_GCM_SHA384", "DH-RSA-AES256-GCM-SHA384", _TLS12),
    ("00A2", "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256", "DHE-DSS-AES128-GCM-SHA256", _TLS12),
    ("00A3", "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384", "DHE-DSS-AES256-GCM-SHA384", _TLS12),
    ("00A4", "TLS_DH_DSS_WITH_AES_128_GCM_SHA256", "DH-DSS-AES128-GCM-SHA256", _TLS12),
    ("00A5", "TLS_DH_DSS_WITH_AES_256_GCM_SHA384", "DH-DSS-AES256-GCM-SHA384", _TLS12),
    # TLS 1.3: OpenSSL uses the IANA names.
    ("1301", "TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256", _TLS13),
    ("1302", "TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384", _TLS13),
    ("1303", "TLS_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256", _TLS13),
    ("1304", "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_SHA256", _TLS13),
    ("1305", "TLS_AES_128_CCM_8_SHA256", "TLS_AES_128_CCM_8_SHA256", _TLS13),
    ("C001", "TLS_ECDH_ECDSA_WITH_NULL_SHA", "ECDH-ECDSA-NULL-SHA", _TLS10_TO_TLS12),
    ("C002", "TLS_ECDH_ECDSA_WITH_RC4_128_SHA", "ECDH-ECDSA-RC4-SHA", _TLS10_TO_TLS12),
    ("C003", "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA", "ECDH-ECDSA-DES-CBC3-SHA", _TLS10_TO_TLS12),
    ("C004", "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA", "ECDH-ECDSA-AES128-SHA", _TLS10_TO_TLS12),
    ("C005", "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA", "ECDH-ECDSA-AES256-SHA", _TLS10_TO_TLS12),
    ("C006", "TLS_ECDHE_ECDSA_WITH_NULL_SHA", "ECDHE-ECDSA-NULL-SHA", _TLS10_TO_TLS12),
    ("C007", "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA", _TLS10_TO_TLS12),
    ("C008", "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-ECDSA-DES-CBC3-SHA", _TLS10_TO_TLS12),
    ("C009", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA", _TLS10_TO_TLS12),
    ("C00A", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA", _TLS10_TO_TLS12),
    ("C00B", "TLS_ECDH_RSA_WITH_NULL_SHA", "ECDH-RSA-NULL-SHA", _TLS10_TO_TLS12),
    ("C00C", "TLS_ECDH_RSA_WITH_RC4_128_SHA", "ECDH-RSA-RC4-SHA", _TLS10_TO_TLS12),
    ("C00D", "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA", "ECDH-RSA-DES-CBC3-SHA", _TLS10_TO_TLS12),
    ("C00E", "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA", "ECDH-RSA-AES128-SHA", _TLS10_TO_TLS12),
    ("C00F", "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA", "ECDH-RSA-AES256-SHA", _TLS10_TO_TLS12),
    ("C010", "TLS_ECDHE_RSA_WITH_NULL_SHA", "ECDHE-RSA-NULL-SHA", _TLS10_TO_TLS12),
    ("C011", "TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA", _TLS10_TO_TLS12),
    ("C012", "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA", _TLS10_TO_TLS12),
    ("C013", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA", _TLS10_TO_TLS12),
    ("C014", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA", _TLS10_TO_TLS12),
    ("C023", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256", _TLS12),
    ("C024", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "ECDHE-ECDSA-AES256-SHA384", _TLS12),
    ("C025", "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256", "ECDH-ECDSA-AES128-SHA256", _TLS12),
    ("C026", "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384", "ECDH-ECDSA-AES256-SHA384", _TLS12),
    ("C027", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256", _TLS12),
    ("C028", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "ECDHE-RSA-AES256-SHA384", _TLS12),
    ("C029", "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256", "ECDH-RSA-AES128-SHA256", _TLS12),
    ("C02A", "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384", "ECDH-RSA-AES256-SHA384", _TLS12),
    ("C02B", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256", _TLS12),
    ("C02C", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384", _TLS12),
    ("C02D", "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256", "ECDH-ECDSA-AES128-GCM-SHA256", _TLS12),
    ("C02E", "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384", "ECDH-ECDSA-AES256-GCM-SHA384", _TLS12),
    ("C02F", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256", _TLS12),
    ("C030", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384", _TLS12),
    ("C031", "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256", "ECDH-RSA-AES128-GCM-SHA256", _TLS12),
    ("C032", "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384", "ECDH-RSA-AES256-GCM-SHA384", _TLS12),
    ("C09C", "TLS_RSA_WITH_AES_128_CCM", "AES128-CCM", _TLS12),
    ("C09D", "TLS_RSA_WITH_AES_256_CCM", "AES256-CCM", _TLS12),
    ("C09E", "TLS_DHE_RSA_WITH_AES_128_CCM", "DHE-RSA-AES128-CCM", _TLS12),
    ("C09F", "TLS_DHE_RSA_WITH_AES_256_CCM", "DHE-RSA-AES256-CCM", _TLS12),
    ("C0A0", "TLS_RSA_WITH_AES_128_CCM_8", "AES128-CCM8", _TLS12),
    ("C0A1", "TLS_RSA_WITH_AES_256_CCM_8", "AES256-CCM8", _TLS12),
    ("C0A2", "TLS_DHE_RSA_WITH_AES_128_CCM_8", "DHE-RSA-AES128-CCM8", _TLS12),
    ("C0A3", "TLS_DHE_RSA_WITH_AES_256_CCM_8", "DHE-RSA-AES256-CCM8", _TLS12),
    ("C0AC", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", "ECDHE-ECDSA-AES128-CCM", _TLS12),
    ("C0AD", "TLS_ECDHE_ECDSA_WITH_AES_256_CCM", "ECDHE-ECDSA-AES256-CCM", _TLS12),
    ("C0AE", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", "ECDHE-ECDSA-AES128-CCM8", _TLS12),
    ("C0AF", "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8", "ECDHE-ECDSA-AES256-CCM8", _TLS12),
    (
        "CCA8",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-RSA-CHACHA20-POLY1305",
        _TLS12,
    ),
    (
        "CCA9",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        _TLS12,
    ),
    ("CCAA", "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "DHE-RSA-CHACHA20-POLY1305", _TLS12),
)

# SP 800-52r2 §3.3.1.1 (56 suites for TLS 1.2 and earlier) and §3.3.1.2 (four TLS 1.3 suites;
# TLS_CHACHA20_POLY1305_SHA256 is deliberately absent from that list).
_NIST_APPROVED: Final = frozenset(
    {
        # ECDSA certificate
        "C02B", "C02C", "C0AC", "C0AD", "C0AE", "C0AF", "C023", "C024", "C009", "C00A",
        # RSA certificate
        "C02F", "C030", "009E", "009F", "C09E", "C09F", "C0A2", "C0A3",
        "C027", "C028", "0067", "006B", "C013", "C014", "0033", "0039",
        # DSA certificate
        "00A2", "00A3", "0040", "006A", "0032", "0038",
        # DSA-signed DH certificate
        "00A4", "00A5", "003E", "0068", "0030", "0036",
        # RSA-signed DH certificate
        "00A0", "00A1", "003F", "0069", "0031", "0037",
        # ECDSA-signed ECDH certificate
        "C02D", "C02E", "C025", "C026", "C004", "C005",
        # RSA-signed ECDH certificate
        "C031", "C032", "C029", "C02A", "C00E", "C00F",
        # TLS 1.3
        "1301", "1302", "1304", "1305",
    }
)  # fmt: skip
# SP 800-52r2 appendix on RSA key transport: allowed only during a transition period.
_NIST_TRANSITION: Final = frozenset(
    {"009C", "009D", "C09C", "C09D", "C0A0", "C0A1", "003C", "003D", "002F", "0035"}
)


def _nist_status(code: str) -> NistStatus:
    if code in _NIST_APPROVED:
        return NistStatus.APPROVED
    if code in _NIST_TRANSITION:
        return NistStatus.TRANSITION
    return NistStatus.NOT_LISTED


def _split_bulk_and_mac(tail: str) -> tuple[str, str]:
    """`AES_128_GCM_SHA256` -> (`AES_128_GCM`, `AEAD`); `RC4_128_MD5` -> (`RC4_128`, `MD5`)."""
    if tail.endswith(("_CCM", "_CCM_8")):
        return tail, "AEAD"  # CCM suite names carry no hash at all
    bulk, _, hash_token = tail.rpartition("_")
    if bulk.endswith("_GCM") or bulk == "CHACHA20_POLY1305" or bulk.endswith(("_CCM", "_CCM_8")):
        return bulk, "AEAD"  # the trailing hash is the PRF hash, not a MAC
    return bulk, _HASH_NAMES[hash_token]


def _build(
    code: str, iana: str, openssl: str | None, protocols: frozenset[Protocol]
) -> CipherSuite:
    """Derive the algorithm fields from the IANA name, so they always agree with it."""
    body = iana.removeprefix("TLS_")
    if iana == "TLS_NULL_WITH_NULL_NULL":
        kx = auth = bulk = mac = "NULL"
    elif "_WITH_" not in body:  # TLS 1.3: TLS_<AEAD>_<HKDF hash>, key exchange negotiated apart
        kx = auth = "any"
        bulk, _ = body.rsplit("_", 1)
        mac = "AEAD"
    else:
        head, tail = body.split("_WITH_", 1)
        if head == "RSA":
            kx, auth = "RSA", "RSA"
        elif head == "RSA_EXPORT":
            kx, auth = "RSA_EXPORT", "RSA"
        else:
            kx, auth = head.split("_", 1)
        bulk, mac = _split_bulk_and_mac(tail)
    return CipherSuite(
        code=code,
        iana_name=iana,
        openssl_name=openssl,
        protocols=protocols,
        key_exchange=kx,
        authentication=auth,
        bulk_cipher=bulk,
        mac=mac,
        aead=mac == "AEAD",
        forward_secrecy=kx in _EPHEMERAL,
        nist_800_52r2=_nist_status(code),
    )


_SUITES: Final = tuple(sorted((_build(*row) for row in _ROWS), key=lambda s: int(s.code, 16)))
_BY_CODE: Final = {s.code: s for s in _SUITES}
# Name lookups ignore case, so both tables are keyed by the upper-case name.
_BY_NAME: Final = {s.iana_name.upper(): s for s in _SUITES}
_BY_OPENSSL: Final = {s.openssl_name.upper(): s for s in _SUITES if s.openssl_name is not None}

# System SSL cipher constant names that differ from the IANA name. The constants we have seen
# in IBM's TTLSCipherParms tables, Configuration Assistant output and pasearch reports are all
# spelled exactly as IANA spells them, so none is known; add an entry here, with its source,
# if one turns up.
_SYSTEM_SSL_NAME_ALIASES: Final[dict[str, str]] = {}

# Older OpenSSL releases (before 1.1.0) spelled the DHE 3DES suites with "EDH".
_OPENSSL_ALIASES: Final = {
    "EDH-DSS-DES-CBC3-SHA": "0013",
    "EDH-RSA-DES-CBC3-SHA": "0016",
}

# System SSL's default V3 cipher list, used when an AT-TLS policy sets no TTLSCipherParms
# (AT-TLS passes no ciphers of its own, so System SSL's default applies).
#
# Source for the order: z/OS V2R1 System SSL Programming, "SSL/TLS protocol",
# https://www-01.ibm.com/docs/SSLTBW_2.1.0/com.ibm.zos.v2r1.gska100/gsk2aa00_SSL_TLS_protocol.htm
# which gives the non-FIPS 4-character default as 0005 0004 0035 0036 0037 0038 0039 002F 0030
# 0031 0032 0033 000A 0016 0013 0010 000D 0009 0015 0012 000F 000C 0003 0006 0002 0001 0000.
# z/OS V2R2 then dropped the NULL-encryption, RSA-export and RC4 suites from the default:
# https://www-01.ibm.com/support/knowledgecenter/SSLTBW_2.2.0/com.ibm.zos.v2r2.e0zm100/SSL_V2R2_ModifyConfigs_before_IPL.htm
# The list below is that V2R1 list less those suites. UNCONFIRMED for z/OS 2.3 and later: we
# found no statement of the default for those releases, and in particular none saying whether
# any ECDHE, GCM or TLS 1.3 suite joined it. Verify on a real system before relying on it.
_ZOS_V2R1_DEFAULT_V3_CIPHERS: Final = (
    "0005", "0004", "0035", "0036", "0037", "0038", "0039", "002F", "0030", "0031", "0032",
    "0033", "000A", "0016", "0013", "0010", "000D", "0009", "0015", "0012", "000F", "000C",
    "0003", "0006", "0002", "0001", "0000",
)  # fmt: skip
_DROPPED_FROM_DEFAULT_IN_V2R2: Final = frozenset(
    {"0000", "0001", "0002", "0003", "0004", "0005", "0006"}
)
SYSTEM_SSL_DEFAULT_V3_CIPHERS: Final[tuple[str, ...]] = tuple(
    code for code in _ZOS_V2R1_DEFAULT_V3_CIPHERS if code not in _DROPPED_FROM_DEFAULT_IN_V2R2
)
# The FIPS-mode default from the same V2R1 page (it never held RC4, NULL or export suites).
# Same caveat: unconfirmed for z/OS 2.3 and later.
SYSTEM_SSL_DEFAULT_V3_CIPHERS_FIPS: Final[tuple[str, ...]] = (
    "0035", "0036", "0037", "0038", "0039", "002F", "0030", "0031", "0032", "0033",
    "000A", "0016", "0013", "0010", "000D",
)  # fmt: skip


def all_suites() -> tuple[CipherSuite, ...]:
    """Every suite in the registry, in ascending code order."""
    return _SUITES


def get(code: str) -> CipherSuite | None:
    """The suite with this 4-character code (any case), or None."""
    return _BY_CODE.get(code.strip().upper())


def by_code(code: str) -> CipherSuite:
    """The suite with this 4-character code (any case); raises `UnknownCipherError`."""
    normalized = code.strip().upper()
    suite = _BY_CODE.get(normalized)
    if suite is not None:
        return suite
    if not re.fullmatch(r"[0-9A-F]{4}", normalized):
        raise UnknownCipherError(
            code, f"{code!r} is not a cipher code: write 4 hex digits, such as C02F"
        )
    raise UnknownCipherError(code, f"cipher code {normalized} is not in the registry")


def by_name(name: str) -> CipherSuite:
    """The suite with this IANA name or System SSL cipher constant (any case)."""
    normalized = name.strip().upper()
    suite = _BY_NAME.get(_SYSTEM_SSL_NAME_ALIASES.get(normalized, normalized))
    if suite is None:
        raise UnknownCipherError(name, f"cipher name {name!r} is not in the registry")
    return suite


def by_openssl_name(name: str) -> CipherSuite:
    """The suite with this OpenSSL name (any case; the pre-1.1.0 `EDH-` spellings too)."""
    normalized = name.strip().upper()
    suite = _BY_OPENSSL.get(normalized)
    if suite is None and normalized in _OPENSSL_ALIASES:
        suite = _BY_CODE[_OPENSSL_ALIASES[normalized]]
    if suite is None:
        raise UnknownCipherError(name, f"OpenSSL cipher name {name!r} is not in the registry")
    return suite


def is_tls13_only(code: str) -> bool:
    """True when the suite can be negotiated under TLS 1.3 and nothing else."""
    return by_code(code).tls13_only


def approved_800_52r2(code: str) -> bool:
    """True when SP 800-52r2 lists the suite for general use (§3.3.1.1 / §3.3.1.2)."""
    return by_code(code).nist_800_52r2 is NistStatus.APPROVED


def suites_for(protocols: Iterable[Protocol | str]) -> tuple[CipherSuite, ...]:
    """Suites that at least one of these protocol versions can negotiate, in code order.

    Protocols may be given as `Protocol` members or as their AT-TLS spelling (`"TLSv1.2"`).
    """
    wanted = frozenset(Protocol(p) for p in protocols)
    return tuple(s for s in _SUITES if s.protocols & wanted)


def effective_order(codes: Iterable[str]) -> list[str]:
    """Drop repeated codes, keeping the first, as AT-TLS does with a concatenated list."""
    return list(dict.fromkeys(codes))


_HEX: Final = re.compile(r"[0-9A-Fa-f]+")
_SEPARATOR: Final = re.compile(r"[^0-9A-Za-z_]")


def _text_of(parameter: str, value: str) -> str:
    """The value without surrounding blanks; refuses empty values and inner blanks."""
    text = value.strip()
    if not text:
        raise CipherValueError(parameter, value, f"{parameter} value is empty: give one cipher")
    if any(ch.isspace() for ch in text):
        raise CipherValueError(
            parameter,
            value,
            f"{parameter} value {text!r} contains blanks: write the codes run together, "
            "with nothing between them",
        )
    return text


def _refuse_separators(parameter: str, text: str) -> None:
    separator = _SEPARATOR.search(text)
    if separator is not None:
        raise CipherValueError(
            parameter,
            text,
            f"{parameter} value {text!r} contains {separator.group()!r}: write the codes run "
            "together, with nothing between them",
        )


def _chunks(parameter: str, text: str, width: int) -> list[str]:
    remainder = len(text) % width
    if remainder:
        last = text[len(text) - remainder :]
        if width == 2:
            problem = (
                f"has an odd number of characters ({len(text)}): 2-character codes come in "
                "pairs of hex digits"
            )
        else:
            problem = f"has {len(text)} characters, not a multiple of {width}"
        raise CipherValueError(
            parameter,
            text,
            f"{parameter} value {text!r} {problem}, and the last chunk {last!r} is incomplete",
        )
    return [text[i : i + width] for i in range(0, len(text), width)]


def _known_code(parameter: str, text: str, index: int, chunk: str, code: str) -> str:
    if not _HEX.fullmatch(chunk):
        raise CipherValueError(
            parameter, text, f"{parameter} chunk {index} ({chunk!r}) is not hexadecimal"
        )
    if code not in _BY_CODE:
        shown = repr(chunk) if chunk.upper() == code else f"{chunk!r}, that is {code}"
        raise CipherValueError(
            parameter,
            text,
            f"{parameter} chunk {index} ({shown}) is not a cipher suite known to the registry",
        )
    return code


def _lookup_name(name: str) -> CipherSuite | None:
    try:
        return by_name(name)
    except UnknownCipherError:
        return None


def parse_v3_cipher_suites(value: str) -> list[str]:
    """Turn a `V3CipherSuites` value into 4-character codes, in the order written.

    The value is either 2-character hex codes run together (`0A2F35` gives 000A, 002F, 0035)
    or one cipher constant name (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`). Repeats are kept;
    see `effective_order`. Raises `CipherValueError` naming the chunk that is wrong and why.
    """
    parameter = "V3CipherSuites"
    text = _text_of(parameter, value)
    if _HEX.fullmatch(text):
        return [
            _known_code(parameter, text, index, chunk, "00" + chunk.upper())
            for index, chunk in enumerate(_chunks(parameter, text, 2), start=1)
        ]
    suite = _lookup_name(text)
    if suite is not None:
        return [suite.code]
    _refuse_separators(parameter, text)
    if "_" not in text:
        # Letters and digits only: a hex string with a typo rather than a constant name.
        for index, chunk in enumerate(_chunks(parameter, text, 2), start=1):
            _known_code(parameter, text, index, chunk, "00" + chunk.upper())
    raise CipherValueError(
        parameter,
        text,
        f"{parameter} value {text!r} is neither 2-character hex codes nor a known cipher "
        "constant name",
    )


def parse_v3_cipher_suites_4char(value: str) -> list[str]:
    """Turn a `V3CipherSuites4Char` value (4-character hex codes run together) into codes.

    A cipher constant name is refused: IBM support found that `V3CipherSuites4Char TLS_...`
    is not valid and the suites it meant were silently not used. Repeats are kept; see
    `effective_order`. Raises `CipherValueError` naming the chunk that is wrong and why.
    """
    parameter = "V3CipherSuites4Char"
    text = _text_of(parameter, value)
    suite = _lookup_name(text)
    if suite is not None or "_" in text:
        hint = (
            f"; write V3CipherSuites {suite.iana_name} or V3CipherSuites4Char {suite.code}"
            if suite is not None
            else ""
        )
        raise CipherValueError(
            parameter,
            text,
            f"{parameter} takes only 4-character hex codes, not a cipher constant name such as "
            f"{text!r}: AT-TLS treats that value as invalid and silently leaves the suite "
            f"out{hint}",
        )
    _refuse_separators(parameter, text)
    return [
        _known_code(parameter, text, index, chunk, chunk.upper())
        for index, chunk in enumerate(_chunks(parameter, text, 4), start=1)
    ]
