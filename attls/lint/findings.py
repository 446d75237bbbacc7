"""What a lint finding is, and the compliance profiles the settings checks compare against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from attls import ciphers
from attls.ciphers import NistStatus, Protocol
from attls.policy.model import COLLECTIONS, Location, Policy

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding. `statement` is (collection, name) of the statement it is about."""

    severity: Severity
    code: str
    message: str
    statement: tuple[str, str] | None = None
    location: Location | None = None


_MODERN: Final = frozenset({Protocol.TLSV1_2, Protocol.TLSV1_3})


@dataclass(frozen=True, slots=True)
class Profile:
    """What a compliance profile allows: protocol versions and cipher suites (4-char codes)."""

    name: str
    allowed_protocols: frozenset[Protocol]
    allowed_ciphers: frozenset[str]

    @classmethod
    def nist_800_52r2(cls) -> Profile:
        """TLS 1.2 and 1.3 with the suites SP 800-52r2 lists for general use (§3.3.1)."""
        return cls(
            name="NIST SP 800-52r2",
            allowed_protocols=_MODERN,
            allowed_ciphers=frozenset(
                s.code
                for s in ciphers.all_suites()
                if s.nist_800_52r2 is NistStatus.APPROVED and s.protocols & _MODERN
            ),
        )

    @classmethod
    def tls12_13_aead_ecdhe(cls) -> Profile:
        """The scenario's shared environment: TLS 1.2 and 1.3, AEAD only, ECDHE for TLS 1.2.

        TLS 1.3 suites are all AEAD and take their (EC)DHE group from the key-share
        settings, not from the suite, so all of them are allowed.
        """
        return cls(
            name="TLS 1.2/1.3 AEAD with ECDHE",
            allowed_protocols=_MODERN,
            allowed_ciphers=frozenset(
                s.code
                for s in ciphers.all_suites()
                if s.tls13_only
                or (Protocol.TLSV1_2 in s.protocols and s.aead and s.key_exchange == "ECDHE")
            ),
        )


def _rule_finding(
    policy: Policy, severity: Severity, code: str, rule: str, message: str
) -> Finding:
    return Finding(severity, code, message, ("rules", rule), policy.locations.get(("rules", rule)))


def _label(collection: str, name: str) -> str:
    return f"{COLLECTIONS[collection].STATEMENT} '{name}'"
