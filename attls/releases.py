"""What AT-TLS and System SSL do by default, and implement, on each z/OS release.

One row per release; every fact in a row names where it comes from. Effective settings, lint,
`explain`, the designer and the assessment read the row of the stack's release, so a finding
is right for the system it is about. Where IBM is silent the source says "inferred" and why.

The release a stack runs is printed in the header of every `pasearch` report
("TCP/IP pasearch CS 3.1", or "CS V2R4" on older releases); `release_from_header` reads it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from attls import ciphers, tlsgroups
from attls.ciphers import Protocol

__all__ = [
    "DEFAULT_RELEASE",
    "RELEASES",
    "Release",
    "get_release",
    "release_choices",
    "release_from_header",
]


@dataclass(frozen=True, slots=True)
class Release:
    name: str  # "3.1"
    protocols: Mapping[Protocol, bool]
    protocols_source: str
    v3_ciphers: tuple[str, ...]
    v3_ciphers_fips: tuple[str, ...]
    ciphers_source: str
    client_ecurves: tuple[str, ...]
    client_key_share_groups: tuple[str, ...]
    server_key_share_groups: tuple[str, ...]
    server_kex_ecurves: tuple[str, ...]
    signature_pairs: tuple[str, ...]
    groups_source: str
    # Suites that System SSL on this release does not implement: a policy may list them and
    # Policy Agent installs the policy, but they are dropped from the list, so a peer that
    # offers only these fails the handshake.
    not_implemented: frozenset[str]
    not_implemented_source: str

    @property
    def label(self) -> str:
        return f"z/OS {self.name}"

    def implements(self, code: str) -> bool:
        return code.upper() not in self.not_implemented


def _protocols(*on: Protocol) -> Mapping[Protocol, bool]:
    return MappingProxyType({p: p in on for p in Protocol})


_DIAGRAM_DEFAULTS = _protocols(Protocol.TLSV1, Protocol.TLSV1_1)
_DIAGRAM_SOURCE = (
    "IBM IP Configuration Reference, TTLSEnvironmentAdvancedParms syntax diagram (2.5 and 3.1"
    " editions: TLSv1 On, TLSv1.1 On, TLSv1.2 Off, TLSv1.3 Off); for 3.1 also the real"
    " pasearch report, rule DEFAULTRULE12 (environment DEFAULTTNEA sets no protocol)"
)
_V2R1_CIPHERS_SOURCE = (
    "System SSL's default V3 list as IBM documents it for z/OS V2R1, less the RC4, NULL and"
    " export suites dropped in V2R2 (see attls.ciphers); that no ECDHE, GCM or TLS 1.3 suite"
    " joined it by this release is inferred: no IBM statement of a later default was found"
)
_GROUPS_SOURCE = (
    "observed in the real z/OS 3.1 pasearch report (an environment with no TTLSSignatureParms);"
    " for releases other than 3.1 inferred to be the same"
)
# TLS_AES_128_CCM_SHA256, TLS_AES_128_CCM_8_SHA256 and the TLS 1.2 CCM suites.
_CCM: Final = frozenset(s.code for s in ciphers.all_suites() if "_CCM" in s.iana_name)
_CHACHA: Final = frozenset(s.code for s in ciphers.all_suites() if "CHACHA20" in s.iana_name)
_NOT_IMPLEMENTED_SOURCE_31 = (
    "observed: the real z/OS 3.1 pasearch report drops TLS_CHACHA20_POLY1305_SHA256 (1303) from"
    " every list that named it (TNCA, AZFConnAction1); CCM and the other ChaCha20 suites are"
    " inferred absent: System SSL's cipher tables list no CCM or ChaCha20 suite"
)
_NOT_IMPLEMENTED_SOURCE_OTHER = (
    "inferred from z/OS 3.1, where 1303 is observed dropped; no IBM statement that an earlier"
    " or later release implements CCM or ChaCha20 suites was found"
)

RELEASES: Final[Mapping[str, Release]] = MappingProxyType(
    {
        release.name: release
        for release in (
            Release(
                name="2.4",
                protocols=_DIAGRAM_DEFAULTS,
                protocols_source=(
                    "inferred: the 2.1 and 2.5 syntax diagrams agree (TLSv1 and TLSv1.1 On,"
                    " TLSv1.2 Off); TLSv1.3 arrived in 2.4, Off unless set"
                ),
                v3_ciphers=ciphers.SYSTEM_SSL_DEFAULT_V3_CIPHERS,
                v3_ciphers_fips=ciphers.SYSTEM_SSL_DEFAULT_V3_CIPHERS_FIPS,
                ciphers_source=_V2R1_CIPHERS_SOURCE,
                client_ecurves=tlsgroups.DEFAULT_CLIENT_ECURVES,
                client_key_share_groups=tlsgroups.DEFAULT_CLIENT_KEY_SHARE_GROUPS,
                server_key_share_groups=tlsgroups.DEFAULT_SERVER_KEY_SHARE_GROUPS,
                server_kex_ecurves=tlsgroups.DEFAULT_SERVER_KEX_ECURVES,
                signature_pairs=tlsgroups.DEFAULT_SIGNATURE_PAIRS,
                groups_source=_GROUPS_SOURCE,
                not_implemented=_CCM | _CHACHA,
                not_implemented_source=_NOT_IMPLEMENTED_SOURCE_OTHER,
            ),
            Release(
                name="2.5",
                protocols=_DIAGRAM_DEFAULTS,
                protocols_source=_DIAGRAM_SOURCE,
                v3_ciphers=ciphers.SYSTEM_SSL_DEFAULT_V3_CIPHERS,
                v3_ciphers_fips=ciphers.SYSTEM_SSL_DEFAULT_V3_CIPHERS_FIPS,
                ciphers_source=_V2R1_CIPHERS_SOURCE,
                client_ecurves=tlsgroups.DEFAULT_CLIENT_ECURVES,
                client_key_share_groups=tlsgroups.DEFAULT_CLIENT_KEY_SHARE_GROUPS,
                server_key_share_groups=tlsgroups.DEFAULT_SERVER_KEY_SHARE_GROUPS,
                server_kex_ecurves=tlsgroups.DEFAULT_SERVER_KEX_ECURVES,
                signature_pairs=tlsgroups.DEFAULT_SIGNATURE_PAIRS,
                groups_source=_GROUPS_SOURCE,
                not_implemented=_CCM | _CHACHA,
                not_implemented_source=_NOT_IMPLEMENTED_SOURCE_OTHER,
            ),
            Release(
                name="3.1",
                protocols=_DIAGRAM_DEFAULTS,
                protocols_source=_DIAGRAM_SOURCE,
                v3_ciphers=ciphers.SYSTEM_SSL_DEFAULT_V3_CIPHERS,
                v3_ciphers_fips=ciphers.SYSTEM_SSL_DEFAULT_V3_CIPHERS_FIPS,
                ciphers_source=_V2R1_CIPHERS_SOURCE,
                client_ecurves=tlsgroups.DEFAULT_CLIENT_ECURVES,
                client_key_share_groups=tlsgroups.DEFAULT_CLIENT_KEY_SHARE_GROUPS,
                server_key_share_groups=tlsgroups.DEFAULT_SERVER_KEY_SHARE_GROUPS,
                server_kex_ecurves=tlsgroups.DEFAULT_SERVER_KEX_ECURVES,
                signature_pairs=tlsgroups.DEFAULT_SIGNATURE_PAIRS,
                groups_source=(
                    "observed in the real z/OS 3.1 pasearch report (an environment with no"
                    " TTLSSignatureParms)"
                ),
                not_implemented=_CCM | _CHACHA,
                not_implemented_source=_NOT_IMPLEMENTED_SOURCE_31,
            ),
            Release(
                name="3.2",
                protocols=_protocols(Protocol.TLSV1_2),
                protocols_source=(
                    "z/OS 3.2 changed the AT-TLS protocol defaults so that only TLSv1.2 is On"
                    " (IBM z/OS 3.2 IP Configuration Reference, TTLSEnvironmentAdvancedParms, as"
                    " summarised in issue 11; not checked against a real 3.2 report)"
                ),
                v3_ciphers=("C030", "C02C", "C02F", "C02B"),
                v3_ciphers_fips=("C030", "C02C", "C02F", "C02B"),
                ciphers_source=(
                    "z/OS 3.2 default V3 list C030 C02C C02F C02B (IBM z/OS 3.2 TTLSCipherParms,"
                    " as summarised in issue 11; the FIPS list is inferred to be the same, all"
                    " four suites being FIPS-approved)"
                ),
                client_ecurves=tlsgroups.DEFAULT_CLIENT_ECURVES,
                client_key_share_groups=tlsgroups.DEFAULT_CLIENT_KEY_SHARE_GROUPS,
                server_key_share_groups=tlsgroups.DEFAULT_SERVER_KEY_SHARE_GROUPS,
                server_kex_ecurves=tlsgroups.DEFAULT_SERVER_KEX_ECURVES,
                signature_pairs=tlsgroups.DEFAULT_SIGNATURE_PAIRS,
                groups_source=_GROUPS_SOURCE,
                not_implemented=_CCM | _CHACHA,
                not_implemented_source=_NOT_IMPLEMENTED_SOURCE_OTHER,
            ),
        )
    }
)

# The release assumed when none is known: the one the real reference report comes from.
DEFAULT_RELEASE: Final = "3.1"


def get_release(name: str | None) -> Release:
    """The row of a release ("3.1"); the default release for None. KeyError when unknown."""
    return RELEASES[name or DEFAULT_RELEASE]


def release_choices() -> list[tuple[str, str]]:
    """(value, label) of every release, oldest first, for forms."""
    return [(name, release.label) for name, release in RELEASES.items()]


_HEADER_RELEASE = re.compile(r"\bCS\s+(?:V(\d+)R(\d+)|(\d+)\.(\d+))\b")


def release_from_header(text: str) -> str | None:
    """The z/OS release in a report header ("CS 3.1", "CS V2R4"), or None when there is none."""
    match = _HEADER_RELEASE.search(text)
    if match is None:
        return None
    major, minor = (match.group(1), match.group(2)) if match.group(1) else match.groups()[2:]
    return f"{int(major)}.{int(minor)}"
