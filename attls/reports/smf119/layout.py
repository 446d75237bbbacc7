"""Byte-level forms of a zERT record: EBCDIC text, packed dates, addresses, and the
big-endian layouts of the header and of each section."""

from __future__ import annotations

import datetime as dt
import socket
import struct
from typing import Final

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
