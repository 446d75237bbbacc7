"""What the return code of an AT-TLS handshake failure (EZD1286I / EZD1287I `RC:`) means.

Codes below 5000 come from System SSL; 5001-5999 are AT-TLS codes a user can correct;
6001-6999 are AT-TLS internal errors. The meanings are short, in our words, from IBM's
System SSL and AT-TLS return-code lists. `confirmed` is False where the wording is only
seen in public notes, not in IBM's documentation: shown to readers as "(unconfirmed)".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReturnCode:
    code: int
    meaning: str
    confirmed: bool = True


_CODES = (
    ReturnCode(7, "no certificate available"),
    ReturnCode(8, "certificate not trusted"),
    ReturnCode(109, "no certification authority certificates"),
    ReturnCode(202, "key ring cannot be opened"),
    ReturnCode(401, "certificate expired or not yet valid"),
    ReturnCode(402, "no cipher suite in common"),
    ReturnCode(403, "no certificate received from the partner"),
    ReturnCode(405, "certificate format not supported"),
    ReturnCode(406, "I/O error on the socket", confirmed=False),
    ReturnCode(407, "key label does not exist"),
    ReturnCode(412, "no protocol version in common"),
    ReturnCode(414, "partner's certificate not valid", confirmed=False),
    ReturnCode(416, "permission denied"),
    ReturnCode(422, "cipher specification not valid"),
    ReturnCode(428, "key entry has no private key"),
    ReturnCode(431, "certificate revoked"),
    ReturnCode(432, "renegotiation not allowed"),
    ReturnCode(434, "certificate key does not suit the cipher suite"),
    ReturnCode(435, "certification authority unknown"),
    ReturnCode(438, "internal error reported by the partner", confirmed=False),
    ReturnCode(439, "unknown alert from the partner", confirmed=False),
    ReturnCode(440, "incorrect key usage"),
    ReturnCode(5001, "client sent no certificate where one is required"),
    ReturnCode(5002, "client certificate not defined to SAF"),
    ReturnCode(5003, "cleartext received where TLS was expected"),
    ReturnCode(5004, "handshake timed out without secure data from the partner"),
    ReturnCode(5006, "TLS environment failed to initialise", confirmed=False),
)
RETURN_CODES: dict[int, ReturnCode] = {rc.code: rc for rc in _CODES}


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
