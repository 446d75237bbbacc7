"""Bytes of a policy file or report, as text: EBCDIC from z/OS, UTF-8, or UTF-8 with stray bytes.

Files copied off z/OS arrive in one of three states:

* still EBCDIC (a binary transfer of a z/OS UNIX file or data-set member). Policy Agent reads
  its files in IBM-1047 unless pagent.conf names another `Codepage` ("IBM-1047 is the default
  code page", IBM's sample pagent.conf, Communications Server configuration guide), and
  IBM-037 is the other code page such files are commonly written in;
* converted to ASCII/UTF-8 (a text transfer);
* converted, but with a few bytes that are not UTF-8: a character outside the code page
  (the real PAGENTTN file carries a single 0xB8, a copyright sign that became Latin-1 0xB8).

`decode_text(data)` tells these apart and never fails: bytes that are not UTF-8 are read as
Latin-1, each reported as a warning with its line, column and byte value.

IBM-1047 and IBM-037 differ in six code points only (brackets, caret, not sign, Y acute,
diaeresis); Python ships cp037, so IBM-1047 is cp037 with those six swapped (IBM's code page
tables CPGID 00037 and 01047). Neither table matters for a policy file's keywords, braces or
`#`, which sit on the same code points in both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from attls.errors import Problem

Encoding = Literal["UTF-8", "IBM-1047", "IBM-037", "UTF-8+Latin-1"]

# cp037 character -> IBM-1047 character, for the six code points where the two differ.
_SWAPS: Final = (
    ("\u00ac", "^"),  # 0x5F
    ("\u00dd", "["),  # 0xAD
    ("^", "\u00ac"),  # 0xB0
    ("[", "\u00dd"),  # 0xBA
    ("]", "\u00a8"),  # 0xBB
    ("\u00a8", "]"),  # 0xBD
)
_CP037_TO_1047: Final = {ord(a): b for a, b in _SWAPS}
_1047_TO_CP037: Final = {ord(b): a for a, b in _SWAPS}
# EBCDIC new line (NL, 0x15) decodes to U+0085; z/OS UNIX text files end lines with it.
_EBCDIC_NL: Final = "\u0085"

# How many bytes are looked at to tell EBCDIC from ASCII-based text.
_SAMPLE: Final = 65536
# Stray-byte warnings listed one by one before the rest are summed up.
MAX_BYTE_WARNINGS: Final = 20

_SURROGATE: Final = re.compile("[\udc80-\udcff]")
# Where EBCDIC puts letters and digits.
_HIGH: Final = bytes(range(0x81, 0xFA))
_ASCII_ALNUM: Final = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class DecodedText:
    text: str
    encoding: Encoding
    warnings: tuple[Problem, ...] = ()


def looks_like_ebcdic(data: bytes) -> bool:
    """True when the bytes read as EBCDIC text rather than ASCII-based text.

    In EBCDIC every letter and digit is at 0x81 or above; in ASCII-based text they are below
    0x80. A policy file is mostly letters, so it is EBCDIC when such high bytes outnumber the
    bytes of ASCII letters and digits and the bytes are not UTF-8 (EBCDIC letters are UTF-8
    continuation bytes with no lead byte, so EBCDIC text is never valid UTF-8).
    """
    sample = data[:_SAMPLE]
    if not sample:
        return False
    high = len(sample) - len(sample.translate(None, _HIGH))
    ascii_alnum = len(sample) - len(sample.translate(None, _ASCII_ALNUM))
    if high <= ascii_alnum:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start < len(sample) - 3  # not merely a character cut by the sample
    return False


def decode_ebcdic(data: bytes, encoding: Literal["IBM-1047", "IBM-037"] = "IBM-1047") -> str:
    text = data.decode("cp037")
    if encoding == "IBM-1047":
        text = text.translate(_CP037_TO_1047)
    return text.replace("\r\n", "\n").replace(_EBCDIC_NL, "\n")


def encode_ebcdic(text: str, encoding: Literal["IBM-1047", "IBM-037"] = "IBM-1047") -> bytes:
    """Text as z/OS would store it, lines ended with EBCDIC NL (0x15)."""
    if encoding == "IBM-1047":
        text = text.translate(_1047_TO_CP037)
    return text.replace("\n", _EBCDIC_NL).encode("cp037")


def decode_text(data: bytes, *, encoding: Encoding | None = None) -> DecodedText:
    """The text of a file in whatever form it arrived; never raises for the bytes' sake."""
    if encoding in ("IBM-1047", "IBM-037") or (encoding is None and looks_like_ebcdic(data)):
        chosen: Literal["IBM-1047", "IBM-037"] = "IBM-037" if encoding == "IBM-037" else "IBM-1047"
        return DecodedText(decode_ebcdic(data, chosen), chosen)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text = data.decode("utf-8", errors="surrogateescape")
    if not _SURROGATE.search(text):
        return DecodedText(text, "UTF-8")
    return _latin1_fallback(text)


def _latin1_fallback(text: str) -> DecodedText:
    """Each byte that is not UTF-8 becomes the Latin-1 character of that byte, with a warning."""
    warnings: list[Problem] = []
    count = 0
    line = 1
    line_start = 0
    scanned = 0
    for match in _SURROGATE.finditer(text):
        count += 1
        if count > MAX_BYTE_WARNINGS:
            continue
        position = match.start()
        newlines = text.count("\n", scanned, position)
        if newlines:
            line += newlines
            line_start = text.rfind("\n", scanned, position) + 1
        scanned = position
        byte = ord(match.group()) - 0xDC00
        warnings.append(
            Problem(
                line,
                position - line_start + 1,
                f"byte 0x{byte:02X} is not UTF-8; read as Latin-1 {chr(byte)!r}"
                " (the file was probably converted from EBCDIC with a character outside"
                " the code page)",
            )
        )
    if count > MAX_BYTE_WARNINGS:
        last = warnings[-1]
        warnings.append(
            Problem(
                last.line,
                last.column,
                f"{count - MAX_BYTE_WARNINGS} more byte(s) that are not UTF-8 were read as Latin-1",
            )
        )
    fixed = _SURROGATE.sub(lambda m: chr(ord(m.group()) - 0xDC00), text)
    return DecodedText(fixed, "UTF-8+Latin-1", tuple(warnings))
