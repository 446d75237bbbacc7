"""The AT-TLS defaults of the parameters the effective settings do not carry, from attls.

`attls.effective` resolves protocols, ciphers and signature lists; the other environment
parameters a control judges (EMS, SCSV, OCSP stapling, PeerMin*, session lifetimes) take the
defaults of the one table attls keeps for the `pasearch -t` report
(`attls.reports.from_policy`, observed z/OS 3.1 output, shared reference attls.md §1.7 and
§1.12). Here they are only converted to the types of the policy model's fields, so a change
to that table flows through to the controls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal

from attls.reports.from_policy import (
    ENVIRONMENT_ADVANCED_DEFAULTS,
    GSK_DEFAULTS,
    HTTP_CDP_DEFAULTS,
    OCSP_DEFAULTS_AFTER_SIGALG,
    OCSP_DEFAULTS_BEFORE_SIGALG,
)

__all__ = ["ADVANCED", "GSK", "HTTP_CDP", "KEYWORDS", "LDAP", "OCSP"]

Kind = Literal["switch", "word", "number"]

# Model field -> (pasearch keyword, how the model types it). Fields with no row in the attls
# table (OcspUrl, RevocationSecurityLevel, GSK_LDAP_SERVER) have no default: unset is None.
_FIELDS: Mapping[str, tuple[str, Kind]] = {
    "server_extended_master_secret": ("ServerExtendedMasterSecret", "word"),
    "client_extended_master_secret": ("ClientExtendedMasterSecret", "word"),
    "server_scsv": ("ServerScsv", "switch"),
    "truncated_hmac": ("TruncatedHMAC", "switch"),
    "server_handshake_sni": ("ServerHandshakeSNI", "word"),
    "client_handshake_sni": ("ClientHandshakeSNI", "word"),
    "renegotiation_indicator": ("RenegotiationIndicator", "word"),
    "server_max_ssl_fragment": ("ServerMaxSSLFragment", "word"),
    "client_max_ssl_fragment": ("ClientMaxSSLFragment", "word"),
    "server_edh_group_size": ("ServerEDHGroupSize", "word"),
    "peer_min_cert_version": ("PeerMinCertVersion", "word"),
    "peer_min_rsa_key_size": ("PeerMinRsaKeySize", "number"),
    "peer_min_dh_key_size": ("PeerMinDHKeySize", "number"),
    "peer_min_dsa_key_size": ("PeerMinDsaKeySize", "number"),
    "peer_min_ecc_key_size": ("PeerMinECCKeySize", "number"),
    "gsk_v3_session_timeout": ("GSK_V3_SESSION_TIMEOUT", "number"),
    "gsk_session_ticket_server_enable": ("GSK_SESSION_TICKET_SERVER_ENABLE", "switch"),
    "gsk_session_ticket_server_timeout": ("GSK_SESSION_TICKET_SERVER_TIMEOUT", "number"),
    "revocation_security_level": ("RevocationSecurityLevel", "word"),
    "ocsp_aia_enable": ("OcspAiaEnable", "switch"),
    "ocsp_url": ("OcspUrl", "word"),
    "ocsp_server_stapling": ("OcspServerStapling", "switch"),
    "http_cdp_enable": ("HttpCdpEnable", "switch"),
    "gsk_ldap_server": ("GSK_LDAP_SERVER", "word"),
}

# The keyword each field is written as, for the rationale.
KEYWORDS: Mapping[str, str] = MappingProxyType({name: kw for name, (kw, _) in _FIELDS.items()})


def _typed(raw: str, kind: Kind) -> Any:
    if kind == "switch":
        return raw == "On"
    if kind == "number":
        return int(raw)
    return raw


def _defaults(table: Iterable[tuple[str, str]], names: Iterable[str]) -> Mapping[str, Any]:
    printed = dict(table)
    values: dict[str, Any] = {}
    for name in names:
        keyword, kind = _FIELDS[name]
        raw = printed.get(keyword)
        values[name] = _typed(raw, kind) if raw is not None else None
    return MappingProxyType(values)


# One mapping per statement, as the engine resolves them (field -> default value).
ADVANCED = _defaults(
    ENVIRONMENT_ADVANCED_DEFAULTS,
    (
        "server_extended_master_secret",
        "client_extended_master_secret",
        "server_scsv",
        "truncated_hmac",
        "server_handshake_sni",
        "client_handshake_sni",
        "renegotiation_indicator",
        "server_max_ssl_fragment",
        "client_max_ssl_fragment",
        "server_edh_group_size",
        "peer_min_cert_version",
        "peer_min_rsa_key_size",
        "peer_min_dh_key_size",
        "peer_min_dsa_key_size",
        "peer_min_ecc_key_size",
    ),
)
GSK = _defaults(
    GSK_DEFAULTS,
    (
        "gsk_v3_session_timeout",
        "gsk_session_ticket_server_enable",
        "gsk_session_ticket_server_timeout",
        "revocation_security_level",
    ),
)
OCSP = _defaults(
    OCSP_DEFAULTS_BEFORE_SIGALG + OCSP_DEFAULTS_AFTER_SIGALG,
    ("ocsp_aia_enable", "ocsp_url", "ocsp_server_stapling"),
)
HTTP_CDP = _defaults(HTTP_CDP_DEFAULTS, ("http_cdp_enable",))
LDAP = _defaults((), ("gsk_ldap_server",))
