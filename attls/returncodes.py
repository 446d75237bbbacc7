"""What the return code of an AT-TLS handshake failure (EZD1286I / EZD1287I `RC:`) means.

Codes below 5000 come from System SSL; 5001-5999 are AT-TLS codes a user can correct;
6001-6999 are AT-TLS internal errors (IBM, z/OS Communications Server IP Diagnosis Guide,
"AT-TLS return codes", comtls.htm). The meanings are short, in our words, from IBM's
System SSL function return codes (z/OS Cryptographic Services System SSL Programming,
"Function return codes", sfrc) and the AT-TLS list. `confirmed` is False where the wording
is only seen in public notes, not in IBM's documentation: shown as "(unconfirmed)".

Each code also belongs to a *family*: what an engineer does about a refused client.
- protocol: no protocol version in common. 412 (System SSL: "SSL protocol or certificate
  type is not supported ... no enabled SSL protocol shared by both the client and the
  server", quoted in IBM support's answer on TN3270 RCODE 6002 PARM1 19C).
- cipher: no cipher suite in common. 402 (IBM-ATTLS-RC table: "An SSL cipher suite could
  not be agreed upon between the client and server"; IBM support, "Why am I getting message
  EZD1286I with return code 402"), 422 (cipher specification not valid).
- certificate: the certificate was expired, untrusted, missing or unusable.
- cleartext: a cleartext client on a port whose rule has TTLSEnabled On. 5003 (IBM-ATTLS-RC).
- peer-closed: the peer closed the connection or sent nothing secure before the handshake
  timeout (5004, IBM-ATTLS-RC). 406 belongs here by inference: IBM's table does not explain
  406 beyond an I/O error, and public notes see it with 5004 when the partner drops.
- configuration: the z/OS side cannot run the handshake (key ring, key label, private key,
  environment).
`family_inferred` is True where the grouping is ours rather than IBM's wording; the UI
says "inferred" beside such a family.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Family(StrEnum):
    PROTOCOL = "protocol"
    CIPHER = "cipher"
    CERTIFICATE = "certificate"
    CLEARTEXT = "cleartext"
    PEER_CLOSED = "peer-closed"
    CONFIGURATION = "configuration"
    OTHER = "other"


FAMILY_LABELS: dict[Family, str] = {
    Family.PROTOCOL: "protocol version mismatch",
    Family.CIPHER: "no common cipher suite",
    Family.CERTIFICATE: "certificate expired or untrusted",
    Family.CLEARTEXT: "cleartext client on a TLS rule",
    Family.PEER_CLOSED: "peer closed or sent nothing secure",
    Family.CONFIGURATION: "z/OS key ring or environment setup",
    Family.OTHER: "other handshake error",
}


@dataclass(frozen=True)
class ReturnCode:
    code: int
    meaning: str
    family: Family = Family.OTHER
    confirmed: bool = True
    family_inferred: bool = False


_P, _C, _X = Family.PROTOCOL, Family.CIPHER, Family.CERTIFICATE
_CLEAR, _CLOSED, _CONF = Family.CLEARTEXT, Family.PEER_CLOSED, Family.CONFIGURATION

_CODES = (
    ReturnCode(7, "no certificate available", _CONF),
    ReturnCode(8, "certificate not trusted", _X),
    ReturnCode(109, "no certification authority certificates", _CONF),
    ReturnCode(202, "key ring cannot be opened", _CONF),
    ReturnCode(401, "certificate expired or not yet valid", _X),
    ReturnCode(402, "no cipher suite in common", _C),
    ReturnCode(403, "no certificate received from the partner", _X),
    ReturnCode(405, "certificate format not supported", _X),
    ReturnCode(406, "I/O error on the socket", _CLOSED, confirmed=False, family_inferred=True),
    ReturnCode(407, "key label does not exist", _CONF),
    ReturnCode(412, "no protocol version in common", _P),
    ReturnCode(414, "partner's certificate not valid", _X, confirmed=False),
    ReturnCode(416, "permission denied", _CONF),
    ReturnCode(422, "cipher specification not valid", _C),
    ReturnCode(428, "key entry has no private key", _CONF),
    ReturnCode(431, "certificate revoked", _X),
    ReturnCode(432, "renegotiation not allowed"),
    ReturnCode(434, "certificate key does not suit the cipher suite", _X, family_inferred=True),
    ReturnCode(435, "certification authority unknown", _X),
    ReturnCode(438, "internal error reported by the partner", confirmed=False),
    ReturnCode(439, "unknown alert from the partner", confirmed=False),
    ReturnCode(440, "incorrect key usage", _X),
    ReturnCode(5001, "client sent no certificate where one is required", _X),
    ReturnCode(5002, "client certificate not defined to SAF", _X),
    ReturnCode(5003, "cleartext received where TLS was expected", _CLEAR),
    ReturnCode(
        5004,
        "handshake timed out without secure data from the partner",
        _CLOSED,
        family_inferred=True,
    ),
    ReturnCode(5006, "TLS environment failed to initialise", _CONF, confirmed=False),
)
RETURN_CODES: dict[int, ReturnCode] = {rc.code: rc for rc in _CODES}


def lookup(code: int | str) -> ReturnCode | None:
    try:
        return RETURN_CODES.get(int(code))
    except (TypeError, ValueError):
        return None


def describe(code: int | str) -> str:
    """'412 no protocol version in common'; an unknown or unreadable code as it was logged."""
    try:
        number = int(code)
    except (TypeError, ValueError):
        return str(code)
    known = RETURN_CODES.get(number)
    if known is None:
        kind = "System SSL" if number < 5000 else "AT-TLS"
        return f"{number} ({kind} code)"
    return f"{number} {known.meaning}" + ("" if known.confirmed else " (unconfirmed)")


def family_of(code: int | str) -> Family:
    """The family of a code; unknown codes are `other` (AT-TLS internal ones included)."""
    known = lookup(code)
    return known.family if known is not None else Family.OTHER


def family_label(family: Family | str, *, code: int | str | None = None) -> str:
    """'protocol version mismatch', with '(inferred)' when the code's grouping is ours."""
    label = FAMILY_LABELS.get(Family(family), str(family))
    known = lookup(code) if code is not None else None
    return f"{label} (inferred)" if known is not None and known.family_inferred else label
