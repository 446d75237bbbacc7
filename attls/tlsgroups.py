"""Named groups and signature algorithm pairs, as TTLSSignatureParms and `pasearch` write them.

Both kinds of code are four characters:

* A named group (elliptic curve or key-share group) is the IANA TLS NamedGroup number written
  in decimal and zero-padded: secp256r1 is NamedGroup 23, so `0023`; X25519 is 29, so `0029`.
  It is used by ClientECurves, ClientKeyShareGroups, ServerKeyShareGroups and ServerKexECurves.
* A signature pair is the TLS 1.2 hash byte followed by the signature byte, in hex: `0401` is
  SHA-256 with RSA. The RSASSA-PSS pairs use the TLS 1.3 SignatureScheme value (`0804`). It is
  used by SignaturePairs, SignaturePairsCert and OcspRequestSigalg.

Names are the ones `pasearch -t` prints on z/OS 3.1 (`secp256r1`, `X25519`,
`TLS_SIGALG_SHA256_WITH_RSA`), taken from a real report. Only codes seen in that report are
listed: IBM documents that only NIST curves may be named in ClientECurves (Brainpool curves
need `ClientECurves Any`), and we found no source for the codes or display names System SSL
would use for the ffdhe groups or for other signature schemes, so none is invented here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from attls.errors import AttlsError

__all__ = [
    "DEFAULT_CLIENT_ECURVES",
    "DEFAULT_CLIENT_KEY_SHARE_GROUPS",
    "DEFAULT_OCSP_REQUEST_SIGALG",
    "DEFAULT_SERVER_KEX_ECURVES",
    "DEFAULT_SERVER_KEY_SHARE_GROUPS",
    "DEFAULT_SIGNATURE_PAIRS",
    "GroupCodeError",
    "NamedGroup",
    "SigalgCodeError",
    "SignatureAlgorithm",
    "SignatureParmsError",
    "UnknownGroupError",
    "UnknownSigalgError",
    "all_groups",
    "all_sigalgs",
    "get_group",
    "get_sigalg",
    "group_name",
    "parse_group_codes",
    "parse_sigalg_codes",
    "sigalg_name",
]


class SignatureParmsError(AttlsError, ValueError):
    """A TTLSSignatureParms value that cannot be accepted."""

    def __init__(self, parameter: str, value: str, message: str) -> None:
        self.parameter = parameter
        self.value = value
        self.message = message
        super().__init__(message)


class GroupCodeError(SignatureParmsError):
    """A bad list of named-group codes (ClientECurves, ...KeyShareGroups, ServerKexECurves)."""


class SigalgCodeError(SignatureParmsError):
    """A bad list of signature pair codes (SignaturePairs, SignaturePairsCert, ...)."""


class _UnknownCodeError(AttlsError, KeyError):
    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        # KeyError would print the repr of its argument, quotes and all.
        return self.message


class UnknownGroupError(_UnknownCodeError):
    """A named-group code that is not in the registry."""


class UnknownSigalgError(_UnknownCodeError):
    """A signature pair code that is not in the registry."""


@dataclass(frozen=True, slots=True)
class NamedGroup:
    """A key-exchange group. `security_bits` is the NIST comparable strength."""

    code: str
    name: str  # as pasearch prints it
    iana_id: int
    security_bits: int
    tls13: bool  # RFC 8446 allows it in TLS 1.3 (secp192r1 and secp224r1 are not)


@dataclass(frozen=True, slots=True)
class SignatureAlgorithm:
    """A hash and signature algorithm pair."""

    code: str
    name: str  # as pasearch prints it
    hash_algorithm: str
    signature_algorithm: str


_GROUPS: Final = (
    NamedGroup("0019", "secp192r1", 19, 96, tls13=False),
    NamedGroup("0021", "secp224r1", 21, 112, tls13=False),
    NamedGroup("0023", "secp256r1", 23, 128, tls13=True),
    NamedGroup("0024", "secp384r1", 24, 192, tls13=True),
    NamedGroup("0025", "secp521r1", 25, 256, tls13=True),
    NamedGroup("0029", "X25519", 29, 128, tls13=True),
    NamedGroup("0030", "X448", 30, 224, tls13=True),
)

_SIGALGS: Final = (
    SignatureAlgorithm("0201", "TLS_SIGALG_SHA1_WITH_RSA", "SHA1", "RSA"),
    SignatureAlgorithm("0202", "TLS_SIGALG_SHA1_WITH_DSA", "SHA1", "DSA"),
    SignatureAlgorithm("0203", "TLS_SIGALG_SHA1_WITH_ECDSA", "SHA1", "ECDSA"),
    SignatureAlgorithm("0301", "TLS_SIGALG_SHA224_WITH_RSA", "SHA224", "RSA"),
    SignatureAlgorithm("0302", "TLS_SIGALG_SHA224_WITH_DSA", "SHA224", "DSA"),
    SignatureAlgorithm("0303", "TLS_SIGALG_SHA224_WITH_ECDSA", "SHA224", "ECDSA"),
    SignatureAlgorithm("0401", "TLS_SIGALG_SHA256_WITH_RSA", "SHA256", "RSA"),
    SignatureAlgorithm("0402", "TLS_SIGALG_SHA256_WITH_DSA", "SHA256", "DSA"),
    SignatureAlgorithm("0403", "TLS_SIGALG_SHA256_WITH_ECDSA", "SHA256", "ECDSA"),
    SignatureAlgorithm("0501", "TLS_SIGALG_SHA384_WITH_RSA", "SHA384", "RSA"),
    SignatureAlgorithm("0503", "TLS_SIGALG_SHA384_WITH_ECDSA", "SHA384", "ECDSA"),
    SignatureAlgorithm("0601", "TLS_SIGALG_SHA512_WITH_RSA", "SHA512", "RSA"),
    SignatureAlgorithm("0603", "TLS_SIGALG_SHA512_WITH_ECDSA", "SHA512", "ECDSA"),
    # rsa_pss_rsae_sha256/384/512 (RFC 8446); names as printed in the z/OS 3.1 sample report.
    SignatureAlgorithm("0804", "TLS_SIGALG_SHA256_WITH_RSASSA_PSS", "SHA256", "RSASSA_PSS"),
    SignatureAlgorithm("0805", "TLS_SIGALG_SHA384_WITH_RSASSA_PSS", "SHA384", "RSASSA_PSS"),
    SignatureAlgorithm("0806", "TLS_SIGALG_SHA512_WITH_RSASSA_PSS", "SHA512", "RSASSA_PSS"),
)

_GROUP_BY_CODE: Final = {g.code: g for g in _GROUPS}
_SIGALG_BY_CODE: Final = {a.code: a for a in _SIGALGS}

# The defaults of z/OS 3.1, as `pasearch -t` shows them for actions that set no
# TTLSSignatureParms (shared/reference/samples/pasearch-t-zos31.report, attls.md §1.11).
DEFAULT_CLIENT_ECURVES: Final[tuple[str, ...]] = ("0021", "0023", "0024", "0025", "0019")
DEFAULT_CLIENT_KEY_SHARE_GROUPS: Final[tuple[str, ...]] = ("0023",)
# IBM's z/OS 2.5 syntax diagram gives 0021 0023 0024 0025 0019 0029 0030 as this default, but
# pasearch on z/OS 3.1 shows only the groups TLS 1.3 allows; we follow what pasearch prints.
DEFAULT_SERVER_KEY_SHARE_GROUPS: Final[tuple[str, ...]] = ("0023", "0024", "0025", "0029", "0030")
# The z/OS 2.5 syntax diagram gives the same default.
DEFAULT_SERVER_KEX_ECURVES: Final[tuple[str, ...]] = ("0023", "0024", "0025", "0021", "0019")
DEFAULT_SIGNATURE_PAIRS: Final[tuple[str, ...]] = (
    "0601", "0603", "0501", "0503", "0401", "0403", "0402",
    "0301", "0303", "0302", "0201", "0203", "0202",
)  # fmt: skip
DEFAULT_OCSP_REQUEST_SIGALG: Final = "0401"


def all_groups() -> tuple[NamedGroup, ...]:
    """Every named group in the registry, in ascending code order."""
    return _GROUPS


def all_sigalgs() -> tuple[SignatureAlgorithm, ...]:
    """Every signature pair in the registry, in ascending code order."""
    return _SIGALGS


def get_group(code: str) -> NamedGroup | None:
    return _GROUP_BY_CODE.get(code.strip())


def get_sigalg(code: str) -> SignatureAlgorithm | None:
    return _SIGALG_BY_CODE.get(code.strip().upper())


def group_name(code: str) -> str:
    """The pasearch name of a named-group code (`0023` -> `secp256r1`)."""
    group = get_group(code)
    if group is None:
        raise UnknownGroupError(code, f"named group code {code!r} is not in the registry")
    return group.name


def sigalg_name(code: str) -> str:
    """The pasearch name of a signature pair code (`0401` -> `TLS_SIGALG_SHA256_WITH_RSA`)."""
    sigalg = get_sigalg(code)
    if sigalg is None:
        raise UnknownSigalgError(code, f"signature pair code {code!r} is not in the registry")
    return sigalg.name


_DIGITS: Final = re.compile(r"[0-9]{4}")
_HEX: Final = re.compile(r"[0-9A-Fa-f]{4}")


def _chunks(error: type[SignatureParmsError], parameter: str, value: str) -> list[str]:
    text = value.strip()
    if not text:
        raise error(parameter, value, f"{parameter} value is empty: give at least one code")
    if text.upper() == "ANY":
        raise error(
            parameter,
            value,
            f"{parameter} value 'Any' is a keyword, not a list of codes; handle it before "
            "parsing codes",
        )
    if any(ch.isspace() for ch in text):
        raise error(
            parameter,
            value,
            f"{parameter} value {text!r} contains blanks: write the 4-character codes run "
            "together, with nothing between them",
        )
    remainder = len(text) % 4
    if remainder:
        raise error(
            parameter,
            value,
            f"{parameter} value {text!r} has {len(text)} characters, not a multiple of 4, "
            f"and the last chunk {text[-remainder:]!r} is incomplete",
        )
    return [text[i : i + 4] for i in range(0, len(text), 4)]


def parse_group_codes(value: str, *, parameter: str = "ClientECurves") -> list[str]:
    """Turn concatenated 4-digit named-group codes (`00230024`) into a list of codes.

    `parameter` names the statement parameter in error messages. Raises `GroupCodeError`
    naming the chunk that is wrong and why.
    """
    codes = []
    for index, chunk in enumerate(_chunks(GroupCodeError, parameter, value), start=1):
        if not _DIGITS.fullmatch(chunk):
            raise GroupCodeError(
                parameter,
                value,
                f"{parameter} chunk {index} ({chunk!r}) is not a 4-digit named group code",
            )
        if chunk not in _GROUP_BY_CODE:
            known = ", ".join(g.code for g in _GROUPS)
            raise GroupCodeError(
                parameter,
                value,
                f"{parameter} chunk {index} ({chunk!r}) is not a named group known to the "
                f"registry (known: {known})",
            )
        codes.append(chunk)
    return codes


def parse_sigalg_codes(value: str, *, parameter: str = "SignaturePairs") -> list[str]:
    """Turn concatenated 4-character signature pair codes (`04010403`) into a list of codes.

    `parameter` names the statement parameter in error messages. Raises `SigalgCodeError`
    naming the chunk that is wrong and why.
    """
    codes = []
    for index, chunk in enumerate(_chunks(SigalgCodeError, parameter, value), start=1):
        if not _HEX.fullmatch(chunk):
            raise SigalgCodeError(
                parameter,
                value,
                f"{parameter} chunk {index} ({chunk!r}) is not a 4-character hex signature "
                "pair code",
            )
        code = chunk.upper()
        if code not in _SIGALG_BY_CODE:
            known = ", ".join(a.code for a in _SIGALGS)
            raise SigalgCodeError(
                parameter,
                value,
                f"{parameter} chunk {index} ({chunk!r}) is not a signature pair known to the "
                f"registry (known: {known})",
            )
        codes.append(code)
    return codes
