"""The typed model of an AT-TLS policy file, and the schema that reads and writes it.

Every statement is a dataclass. Each field that stands for a policy parameter carries a
`Param` in its metadata: the keyword in IBM's casing, how its value is read and written,
and whether it repeats, is an inline block, or names another statement. The parser and
the renderer walk these fields, so a statement's schema is written once, here.

Field order is the canonical order in which the renderer writes parameters.
Names are case-sensitive; keywords are matched case-insensitively.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from attls.errors import Problem
from attls.policy import values as v
from attls.policy.values import Address, Ports

ParamKind = Literal["value", "list", "ref", "refs", "block", "blocks"]


@dataclass(frozen=True, slots=True)
class Param:
    """How one field of a statement appears in a policy file.

    kind:
      value  - `Keyword value`, at most once
      list   - `Keyword value`, repeatable; each occurrence extends a tuple
      ref    - `KeywordRef name` of a statement in `target`, at most once
      refs   - repeatable `KeywordRef name`
      block  - an inline statement `Keyword [name] { ... }`, at most once
      blocks - repeatable inline statements
    """

    keyword: str
    kind: ParamKind = "value"
    read: v.Reader | None = None
    write: v.Writer | None = None
    block: type[Statement] | None = None
    target: str | None = None
    # Other keywords that fill the same field, each with its own reader.
    aliases: tuple[tuple[str, v.Reader], ...] = ()
    # For a `value` IBM documents as concatenating when repeated (V2CipherSuites): the
    # separator put between the pieces. None: a repeat replaces the value, with a warning.
    concatenate_with: str | None = None
    # True when that concatenation is our reading, not IBM's word: a repeat is then warned.
    concatenation_inferred: bool = False


def _param(keyword: str, read: v.Reader, write: v.Writer = str, **kw: Any) -> Any:
    default: Any = () if kw.get("kind") in ("list", "refs", "blocks") else None
    return field(default=default, metadata={"param": Param(keyword, read=read, write=write, **kw)})


def on_off(keyword: str) -> Any:
    return _param(keyword, v.read_on_off, v.write_on_off)


def integer(keyword: str, minimum: int, maximum: int) -> Any:
    return _param(keyword, v.int_reader(minimum, maximum), v.write_int)


def choice(keyword: str, *choices: str) -> Any:
    return _param(keyword, v.choice_reader(*choices), v.write_text)


def text(keyword: str, max_length: int = 1023) -> Any:
    return _param(keyword, v.text_reader(max_length), v.write_text)


def words(keyword: str, **kw: Any) -> Any:
    """A parameter whose value set is not confirmed: kept as written."""
    return _param(keyword, v.read_words, v.write_text, **kw)


def label(keyword: str) -> Any:
    return _param(keyword, v.label_reader(32), v.write_label)


def codes(keyword: str, read: v.Reader) -> Any:
    return _param(keyword, read, v.write_codes, kind="list")


def ref(keyword: str, target: str) -> Any:
    return field(default=None, metadata={"param": Param(keyword, kind="ref", target=target)})


def refs(keyword: str, target: str) -> Any:
    return field(default=(), metadata={"param": Param(keyword, kind="refs", target=target)})


def block(keyword: str, statement: type[Statement]) -> Any:
    return field(default=None, metadata={"param": Param(keyword, kind="block", block=statement)})


def blocks(keyword: str, statement: type[Statement]) -> Any:
    return field(default=(), metadata={"param": Param(keyword, kind="blocks", block=statement)})


def job_pattern(keyword: str) -> Any:
    return _param(keyword, v.read_job_pattern, v.write_text)


ALWAYS_LIST_VALUE_KINDS = ("list", "refs", "blocks")


@dataclass(frozen=True, slots=True)
class Statement:
    """Base of every statement. `name` is None only for an unnamed inline block."""

    STATEMENT: ClassVar[str] = ""
    name: str | None = None

    @classmethod
    def params(cls) -> tuple[tuple[str, Param], ...]:
        """(field name, Param) for each parameter, in canonical order."""
        cached = _PARAMS.get(cls)
        if cached is None:
            cached = tuple(
                (f.name, f.metadata["param"])
                for f in dataclasses.fields(cls)
                if "param" in f.metadata
            )
            _PARAMS[cls] = cached
        return cached


# Statement class -> its parameters; dataclasses.fields() is too slow to call per statement.
_PARAMS: dict[type[Statement], tuple[tuple[str, Param], ...]] = {}


# --- parameter blocks ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TTLSKeyringParms(Statement):
    STATEMENT: ClassVar[str] = "TTLSKeyringParms"
    keyring: str | None = text("Keyring", 1023)
    keyring_pw: str | None = text("KeyringPw", 128)
    keyring_stash_file: str | None = text("KeyringStashFile", 1023)


@dataclass(frozen=True, slots=True)
class TTLSCipherParms(Statement):
    STATEMENT: ClassVar[str] = "TTLSCipherParms"
    # Repeated lines concatenate (IBM-Cipher: "specified more than once ... concatenated").
    v2_cipher_suites: str | None = words("V2CipherSuites", concatenate_with="")
    # Both spellings fill one ordered list of 4-character codes. It is written back one
    # suite per line by constant name, the form IBM documents as concatenating.
    v3_cipher_suites: tuple[str, ...] = _param(
        "V3CipherSuites",
        v.read_v3_ciphers,
        v.write_v3_cipher,
        kind="list",
        aliases=(("V3CipherSuites4Char", v.read_v3_ciphers_4char),),
    )


@dataclass(frozen=True, slots=True)
class TTLSSignatureParms(Statement):
    STATEMENT: ClassVar[str] = "TTLSSignatureParms"
    client_ecurves: tuple[str, ...] = codes("ClientECurves", v.read_group_codes_or_any)
    client_key_share_groups: tuple[str, ...] = codes("ClientKeyShareGroups", v.read_group_codes)
    server_key_share_groups: tuple[str, ...] = codes("ServerKeyShareGroups", v.read_group_codes)
    server_kex_ecurves: tuple[str, ...] = codes("ServerKexECurves", v.read_group_codes)
    signature_pairs: tuple[str, ...] = codes("SignaturePairs", v.read_sigalg_codes)
    signature_pairs_cert: tuple[str, ...] = codes("SignaturePairsCert", v.read_sigalg_codes)


@dataclass(frozen=True, slots=True)
class TTLSGroupAdvancedParms(Statement):
    STATEMENT: ClassVar[str] = "TTLSGroupAdvancedParms"
    envfile: str | None = text("Envfile", 1023)
    syslog_facility: str | None = choice("SyslogFacility", "Daemon", "Auth")
    secondary_map: bool | None = on_off("SecondaryMap")


@dataclass(frozen=True, slots=True)
class TTLSEnvironmentAdvancedParms(Statement):
    STATEMENT: ClassVar[str] = "TTLSEnvironmentAdvancedParms"
    sslv2: bool | None = on_off("SSLv2")
    sslv3: bool | None = on_off("SSLv3")
    tlsv1: bool | None = on_off("TLSv1")
    tlsv1_1: bool | None = on_off("TLSv1.1")
    tlsv1_2: bool | None = on_off("TLSv1.2")
    tlsv1_3: bool | None = on_off("TLSv1.3")
    middle_box_compat_mode: bool | None = on_off("MiddleBoxCompatMode")
    application_controlled: bool | None = on_off("ApplicationControlled")
    handshake_timeout: int | None = integer("HandshakeTimeout", 0, 86400)
    reset_cipher_timer: int | None = integer("ResetCipherTimer", 0, 1440)
    client_auth_type: str | None = choice(
        "ClientAuthType", "PassThru", "Full", "Required", "SAFCheck"
    )
    cert_validation_mode: str | None = choice(
        "CertValidationMode", "Any", "RFC2459", "RFC3280", "RFC5280"
    )
    # Value sets below are those of IBM's syntax diagram (IP Configuration Reference,
    # TTLSEnvironmentAdvancedParms statement, z/OS 2.5 and 3.1 editions).
    renegotiation: str | None = choice("Renegotiation", "Default", "Disabled", "All", "Abbreviated")
    renegotiation_indicator: str | None = choice(
        "RenegotiationIndicator", "Optional", "Client", "Server", "Both"
    )
    renegotiation_cert_check: bool | None = on_off("RenegotiationCertCheck")
    truncated_hmac: str | None = choice("TruncatedHMAC", "Required", "Optional", "Off")
    server_max_ssl_fragment: str | None = choice(
        "ServerMaxSSLFragment", "Required", "Optional", "Off"
    )
    client_max_ssl_fragment: str | None = choice(
        "ClientMaxSSLFragment", "Required", "Optional", "Off"
    )
    client_max_ssl_fragment_length: str | None = choice(
        "ClientMaxSSLFragmentLength", "512", "1024", "2048", "4096"
    )
    server_handshake_sni: str | None = choice("ServerHandshakeSNI", "Off", "Optional", "Required")
    server_handshake_sni_match: str | None = choice(
        "ServerHandshakeSNIMatch", "Required", "Optional"
    )
    server_handshake_sni_list: str | None = words("ServerHandshakeSNIList")
    client_handshake_sni: str | None = choice("ClientHandshakeSNI", "Off", "Optional", "Required")
    client_handshake_sni_match: str | None = choice(
        "ClientHandshakeSNIMatch", "Required", "Optional"
    )
    client_handshake_sni_list: str | None = words("ClientHandshakeSNIList")
    client_extended_master_secret: str | None = choice(
        "ClientExtendedMasterSecret", "On", "Off", "Required"
    )
    server_extended_master_secret: str | None = choice(
        "ServerExtendedMasterSecret", "On", "Off", "Required"
    )
    triple_des_key_check: bool | None = on_off("3DesKeyCheck")
    client_edh_group_size: str | None = choice("ClientEDHGroupSize", "Legacy", "2048")
    server_edh_group_size: str | None = choice("ServerEDHGroupSize", "Legacy", "2048", "Match")
    peer_min_cert_version: str | None = choice("PeerMinCertVersion", "Any", "3")
    peer_min_dh_key_size: int | None = integer("PeerMinDHKeySize", 0, 16384)
    peer_min_dsa_key_size: int | None = integer("PeerMinDsaKeySize", 0, 16384)
    peer_min_ecc_key_size: int | None = integer("PeerMinECCKeySize", 0, 1024)
    peer_min_rsa_key_size: int | None = integer("PeerMinRsaKeySize", 0, 16384)
    server_scsv: bool | None = on_off("ServerScsv")
    host_reference_id_dns: str | None = words("HostReferenceIdDNS")
    host_reference_id_cn: str | None = words("HostReferenceIdCN")
    host_ref_wildcard_validation: str | None = words("HostRefWildcardValidation")
    secondary_map: bool | None = on_off("SecondaryMap")
    certificate_label: str | None = label("CertificateLabel")
    server_certificate_label: str | None = label("ServerCertificateLabel")


@dataclass(frozen=True, slots=True)
class TTLSConnectionAdvancedParms(Statement):
    # IBM's syntax diagram (TTLSConnectionAdvancedParms statement, z/OS 2.1 onwards) has SSLv2,
    # TruncatedHMAC and the MaxSSLFragment parameters here too.
    STATEMENT: ClassVar[str] = "TTLSConnectionAdvancedParms"
    sslv2: bool | None = on_off("SSLv2")
    sslv3: bool | None = on_off("SSLv3")
    tlsv1: bool | None = on_off("TLSv1")
    tlsv1_1: bool | None = on_off("TLSv1.1")
    tlsv1_2: bool | None = on_off("TLSv1.2")
    tlsv1_3: bool | None = on_off("TLSv1.3")
    application_controlled: bool | None = on_off("ApplicationControlled")
    handshake_timeout: int | None = integer("HandshakeTimeout", 0, 86400)
    reset_cipher_timer: int | None = integer("ResetCipherTimer", 0, 1440)
    secondary_map: bool | None = on_off("SecondaryMap")
    certificate_label: str | None = label("CertificateLabel")
    server_certificate_label: str | None = label("ServerCertificateLabel")
    truncated_hmac: str | None = choice("TruncatedHMAC", "Required", "Optional", "Off")
    server_max_ssl_fragment: str | None = choice(
        "ServerMaxSSLFragment", "Required", "Optional", "Off"
    )
    client_max_ssl_fragment: str | None = choice(
        "ClientMaxSSLFragment", "Required", "Optional", "Off"
    )
    client_max_ssl_fragment_length: str | None = choice(
        "ClientMaxSSLFragmentLength", "512", "1024", "2048", "4096"
    )


@dataclass(frozen=True, slots=True)
class TTLSGskLdapParms(Statement):
    # Parameter names here are unconfirmed (reference §1.12); kept as written.
    STATEMENT: ClassVar[str] = "TTLSGskLdapParms"
    # One or more blank-separated servers (System SSL GSK_LDAP_SERVER); repeated lines are
    # read as one list (inferred, with a warning).
    gsk_ldap_server: str | None = words(
        "GSK_LDAP_SERVER", concatenate_with=" ", concatenation_inferred=True
    )
    gsk_ldap_server_port: int | None = integer("GSK_LDAP_SERVER_PORT", 1, 65535)
    gsk_ldap_user: str | None = words("GSK_LDAP_USER")
    gsk_ldap_user_pw: str | None = words("GSK_LDAP_USER_PW")
    gsk_crl_cache_timeout: int | None = integer("GSK_CRL_CACHE_TIMEOUT", 0, 720)
    gsk_crl_security_level: str | None = choice("GSK_CRL_SECURITY_LEVEL", "Low", "Medium", "High")


@dataclass(frozen=True, slots=True)
class TTLSGskOcspParms(Statement):
    STATEMENT: ClassVar[str] = "TTLSGskOcspParms"
    ocsp_aia_enable: bool | None = on_off("OcspAiaEnable")
    ocsp_url: str | None = text("OcspUrl")
    ocsp_url_priority: bool | None = on_off("OcspUrlPriority")
    ocsp_proxy_server_name: str | None = text("OcspProxyServerName")
    ocsp_proxy_server_port: int | None = integer("OcspProxyServerPort", 1, 65535)
    ocsp_retrieve_via_get: bool | None = on_off("OcspRetrieveViaGet")
    ocsp_request_sigalg: tuple[str, ...] = codes("OcspRequestSigalg", v.read_sigalg_codes)
    ocsp_client_cache_size: int | None = integer("OcspClientCacheSize", 0, 32000)
    ocsp_cli_cache_entry_maxsize: int | None = integer("OcspCliCacheEntryMaxsize", 0, 2147483647)
    ocsp_nonce_gen_enable: bool | None = on_off("OcspNonceGenEnable")
    ocsp_nonce_check_enable: bool | None = on_off("OcspNonceCheckEnable")
    ocsp_nonce_size: int | None = integer("OcspNonceSize", 8, 256)
    ocsp_response_timeout: int | None = integer("OcspResponseTimeout", 0, 43200)
    ocsp_max_response_size: int | None = integer("OcspMaxResponseSize", 0, 2147483647)
    ocsp_server_stapling: bool | None = on_off("OcspServerStapling")


@dataclass(frozen=True, slots=True)
class TTLSGskHttpCdpParms(Statement):
    STATEMENT: ClassVar[str] = "TTLSGskHttpCdpParms"
    http_cdp_enable: bool | None = on_off("HttpCdpEnable")
    http_cdp_proxy_server_name: str | None = text("HttpCdpProxyServerName")
    http_cdp_proxy_server_port: int | None = integer("HttpCdpProxyServerPort", 1, 65535)
    http_cdp_response_timeout: int | None = integer("HttpCdpResponseTimeout", 0, 43200)
    http_cdp_max_response_size: int | None = integer("HttpCdpMaxResponseSize", 0, 2147483647)
    http_cdp_cache_size: int | None = integer("HttpCdpCacheSize", 0, 32000)
    http_cdp_cache_entry_maxsize: int | None = integer("HttpCdpCacheEntryMaxsize", 0, 2147483647)


@dataclass(frozen=True, slots=True)
class TTLSGskAdvancedParms(Statement):
    STATEMENT: ClassVar[str] = "TTLSGskAdvancedParms"
    gsk_sysplex_sidcache: bool | None = on_off("GSK_SYSPLEX_SIDCACHE")
    gsk_v2_session_timeout: int | None = integer("GSK_V2_SESSION_TIMEOUT", 0, 100)
    gsk_v2_sidcache_size: int | None = integer("GSK_V2_SIDCACHE_SIZE", 0, 32000)
    gsk_v3_session_timeout: int | None = integer("GSK_V3_SESSION_TIMEOUT", 0, 86400)
    gsk_v3_sidcache_size: int | None = integer("GSK_V3_SIDCACHE_SIZE", 0, 64000)
    gsk_session_ticket_client_enable: bool | None = on_off("GSK_SESSION_TICKET_CLIENT_ENABLE")
    gsk_session_ticket_client_maxsize: int | None = integer(
        "GSK_SESSION_TICKET_CLIENT_MAXSIZE", 0, 65535
    )
    gsk_session_ticket_server_enable: bool | None = on_off("GSK_SESSION_TICKET_SERVER_ENABLE")
    gsk_session_ticket_server_algorithm: str | None = choice(
        "GSK_SESSION_TICKET_SERVER_ALGORITHM", "AESCBC128", "AESCBC256"
    )
    gsk_session_ticket_server_count: int | None = integer(
        "GSK_SESSION_TICKET_SERVER_COUNT", 1, 65535
    )
    gsk_session_ticket_server_key_refresh: int | None = integer(
        "GSK_SESSION_TICKET_SERVER_KEY_REFRESH", 0, 86400
    )
    gsk_session_ticket_server_timeout: int | None = integer(
        "GSK_SESSION_TICKET_SERVER_TIMEOUT", 0, 86400
    )
    aia_cdp_priority: bool | None = on_off("AIACDPPriority")
    max_src_rev_ext_loc_values: int | None = integer("MaxSrcRevExtLocValues", 0, 256)
    max_valid_rev_ext_loc_values: int | None = integer("MaxValidRevExtLocValues", 0, 256)
    revocation_security_level: str | None = choice(
        "RevocationSecurityLevel", "Low", "Medium", "High"
    )
    gsk_ldap: TTLSGskLdapParms | None = block("TTLSGskLdapParms", TTLSGskLdapParms)
    gsk_ldap_ref: str | None = ref("TTLSGskLdapParmsRef", "gsk_ldap_parms")
    gsk_ocsp: TTLSGskOcspParms | None = block("TTLSGskOcspParms", TTLSGskOcspParms)
    gsk_ocsp_ref: str | None = ref("TTLSGskOcspParmsRef", "gsk_ocsp_parms")
    gsk_http_cdp: TTLSGskHttpCdpParms | None = block("TTLSGskHttpCdpParms", TTLSGskHttpCdpParms)
    gsk_http_cdp_ref: str | None = ref("TTLSGskHttpCdpParmsRef", "gsk_http_cdp_parms")


# --- actions ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TTLSGroupAction(Statement):
    STATEMENT: ClassVar[str] = "TTLSGroupAction"
    ttls_enabled: bool | None = on_off("TTLSEnabled")
    ctrace_clear_text: bool | None = on_off("CtraceClearText")
    trace: int | None = integer("Trace", 0, 255)
    fips140: bool | None = on_off("FIPS140")
    group_user_instance: int | None = integer("GroupUserInstance", 0, 2147483647)
    advanced: TTLSGroupAdvancedParms | None = block(
        "TTLSGroupAdvancedParms", TTLSGroupAdvancedParms
    )
    advanced_ref: str | None = ref("TTLSGroupAdvancedParmsRef", "group_advanced_parms")


@dataclass(frozen=True, slots=True)
class TTLSEnvironmentAction(Statement):
    STATEMENT: ClassVar[str] = "TTLSEnvironmentAction"
    handshake_role: str | None = choice("HandshakeRole", "Client", "Server", "ServerWithClientAuth")
    environment_user_instance: int | None = integer("EnvironmentUserInstance", 0, 2147483647)
    suite_b_profile: str | None = choice(
        "SuiteBProfile", "Off", "128", "128Min", "192", "192Min", "All"
    )
    ctrace_clear_text: bool | None = on_off("CtraceClearText")
    trace: int | None = integer("Trace", 0, 255)
    keyring: TTLSKeyringParms | None = block("TTLSKeyringParms", TTLSKeyringParms)
    keyring_ref: str | None = ref("TTLSKeyringParmsRef", "keyring_parms")
    advanced: TTLSEnvironmentAdvancedParms | None = block(
        "TTLSEnvironmentAdvancedParms", TTLSEnvironmentAdvancedParms
    )
    advanced_ref: str | None = ref("TTLSEnvironmentAdvancedParmsRef", "environment_advanced_parms")
    cipher: TTLSCipherParms | None = block("TTLSCipherParms", TTLSCipherParms)
    cipher_ref: str | None = ref("TTLSCipherParmsRef", "cipher_parms")
    signature: TTLSSignatureParms | None = block("TTLSSignatureParms", TTLSSignatureParms)
    signature_ref: str | None = ref("TTLSSignatureParmsRef", "signature_parms")
    gsk_advanced: TTLSGskAdvancedParms | None = block("TTLSGskAdvancedParms", TTLSGskAdvancedParms)
    gsk_advanced_ref: str | None = ref("TTLSGskAdvancedParmsRef", "gsk_advanced_parms")


@dataclass(frozen=True, slots=True)
class TTLSConnectionAction(Statement):
    STATEMENT: ClassVar[str] = "TTLSConnectionAction"
    handshake_role: str | None = choice("HandshakeRole", "Client", "Server", "ServerWithClientAuth")
    connection_user_instance: int | None = integer("ConnectionUserInstance", 0, 2147483647)
    ctrace_clear_text: bool | None = on_off("CtraceClearText")
    trace: int | None = integer("Trace", 0, 255)
    advanced: TTLSConnectionAdvancedParms | None = block(
        "TTLSConnectionAdvancedParms", TTLSConnectionAdvancedParms
    )
    advanced_ref: str | None = ref("TTLSConnectionAdvancedParmsRef", "connection_advanced_parms")
    cipher: TTLSCipherParms | None = block("TTLSCipherParms", TTLSCipherParms)
    cipher_ref: str | None = ref("TTLSCipherParmsRef", "cipher_parms")
    signature: TTLSSignatureParms | None = block("TTLSSignatureParms", TTLSSignatureParms)
    signature_ref: str | None = ref("TTLSSignatureParmsRef", "signature_parms")


# --- conditions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IpAddr(Statement):
    STATEMENT: ClassVar[str] = "IpAddr"
    addr: Address | None = _param("Addr", v.read_address, v.write_address)


@dataclass(frozen=True, slots=True)
class IpAddrSet(Statement):
    # The keyword set of IpAddrSet is unconfirmed (reference §1.13).
    STATEMENT: ClassVar[str] = "IpAddrSet"
    prefixes: tuple[Address, ...] = _param("Prefix", v.read_prefix, v.write_address, kind="list")
    ranges: tuple[Address, ...] = _param("Range", v.read_range, v.write_address, kind="list")
    addrs: tuple[Address, ...] = _param("Addr", v.read_single_address, v.write_address, kind="list")


@dataclass(frozen=True, slots=True)
class IpAddrGroup(Statement):
    STATEMENT: ClassVar[str] = "IpAddrGroup"
    ip_addrs: tuple[IpAddr, ...] = blocks("IpAddr", IpAddr)
    ip_addr_sets: tuple[IpAddrSet, ...] = blocks("IpAddrSet", IpAddrSet)
    ip_addr_refs: tuple[str, ...] = refs("IpAddrRef", "ip_addrs")
    ip_addr_set_refs: tuple[str, ...] = refs("IpAddrSetRef", "ip_addr_sets")


@dataclass(frozen=True, slots=True)
class PortRange(Statement):
    STATEMENT: ClassVar[str] = "PortRange"
    port: Ports | None = _param("Port", v.read_port_range, v.write_port_range)


@dataclass(frozen=True, slots=True)
class PortGroup(Statement):
    STATEMENT: ClassVar[str] = "PortGroup"
    port_ranges: tuple[PortRange, ...] = blocks("PortRange", PortRange)
    port_range_refs: tuple[str, ...] = refs("PortRangeRef", "port_ranges")


@dataclass(frozen=True, slots=True)
class IpTimeCondition(Statement):
    # Carried and written back; its parameter set is unconfirmed (reference §1.4), and rule
    # matching treats a rule with a time condition as always in force.
    STATEMENT: ClassVar[str] = "IpTimeCondition"
    condition_time_range: str | None = words("ConditionTimeRange")
    time_of_day_range: str | None = words("TimeOfDayRange")
    day_of_week_mask: str | None = words("DayOfWeekMask")
    day_of_month_mask: str | None = words("DayOfMonthMask")
    month_of_year_mask: str | None = words("MonthOfYearMask")
    time_zone: str | None = choice("TimeZone", "Local", "UTC")


# --- rules ------------------------------------------------------------------------------------

PRIORITY_MIN = 1
PRIORITY_MAX = 2_000_000_000

# What is known of the order of rules of equal priority, and what is assumed: said wherever
# a winner among equal-priority rules is stated (explain, lint).
TIE_ORDER_NOTE = (
    "PAGENT orders equal-priority rules alphabetically (IBM); this tool assumes EBCDIC collation"
)


def collation_dependent(first: str, second: str) -> bool:
    """True when which of two names sorts first depends on the collation.

    The orders compared: EBCDIC bytes (our assumption: lower case before upper, letters before
    digits), ASCII bytes (upper before lower, digits first) and case-blind. `_` and `~` also
    move between them. IBM says only "alphabetical order".
    """
    orders = {
        first.encode("cp037") < second.encode("cp037"),
        first.encode("ascii", "replace") < second.encode("ascii", "replace"),
    }
    if first.upper() != second.upper():
        orders.add(first.upper() < second.upper())
    return len(orders) > 1


@dataclass(frozen=True, slots=True)
class TTLSRule(Statement):
    STATEMENT: ClassVar[str] = "TTLSRule"
    local_addr: Address | None = _param("LocalAddr", v.read_address, v.write_address)
    local_addr_ref: str | None = ref("LocalAddrRef", "ip_addrs")
    local_addr_set_ref: str | None = ref("LocalAddrSetRef", "ip_addr_sets")
    local_addr_group_ref: str | None = ref("LocalAddrGroupRef", "ip_addr_groups")
    remote_addr: Address | None = _param("RemoteAddr", v.read_address, v.write_address)
    remote_addr_ref: str | None = ref("RemoteAddrRef", "ip_addrs")
    remote_addr_set_ref: str | None = ref("RemoteAddrSetRef", "ip_addr_sets")
    remote_addr_group_ref: str | None = ref("RemoteAddrGroupRef", "ip_addr_groups")
    local_port_range: Ports | None = _param("LocalPortRange", v.read_port_range, v.write_port_range)
    local_port_range_ref: str | None = ref("LocalPortRangeRef", "port_ranges")
    local_port_group_ref: str | None = ref("LocalPortGroupRef", "port_groups")
    remote_port_range: Ports | None = _param(
        "RemotePortRange", v.read_port_range, v.write_port_range
    )
    remote_port_range_ref: str | None = ref("RemotePortRangeRef", "port_ranges")
    remote_port_group_ref: str | None = ref("RemotePortGroupRef", "port_groups")
    jobname: str | None = job_pattern("Jobname")
    userid: str | None = job_pattern("Userid")
    direction: str | None = choice("Direction", "Inbound", "Outbound", "Both")
    priority: int | None = integer("Priority", PRIORITY_MIN, PRIORITY_MAX)
    ip_time_condition: IpTimeCondition | None = block("IpTimeCondition", IpTimeCondition)
    ip_time_condition_ref: str | None = ref("IpTimeConditionRef", "ip_time_conditions")
    group_action_ref: str | None = ref("TTLSGroupActionRef", "group_actions")
    environment_action_ref: str | None = ref("TTLSEnvironmentActionRef", "environment_actions")
    connection_action_ref: str | None = ref("TTLSConnectionActionRef", "connection_actions")

    @property
    def effective_priority(self) -> int:
        """A rule without Priority is installed with priority 1 (as pasearch shows)."""
        return self.priority if self.priority is not None else PRIORITY_MIN

    @property
    def search_key(self) -> tuple[int, bytes]:
        """Sorts rules in the order Policy Agent searches them; the first match wins.

        Priority first, highest first. Within a priority IBM says only that rules are
        ordered "in alphabetical order". Policy Agent compares names on z/OS, in EBCDIC,
        where lower case sorts before upper case and letters before digits; we sort by
        the EBCDIC bytes of the name to match (code page 037, which agrees with IBM-1047 on
        every character a name may hold). That collation is our inference,
        not documented; lint warns about every equal-priority overlap, so no design
        should depend on it.
        """
        return (-self.effective_priority, (self.name or "").encode("cp037"))


# --- the whole file ---------------------------------------------------------------------------

# Top-level statements: collection attribute on Policy -> statement class, in the order the
# renderer writes them.
COLLECTIONS: dict[str, type[Statement]] = {
    "rules": TTLSRule,
    "group_actions": TTLSGroupAction,
    "environment_actions": TTLSEnvironmentAction,
    "connection_actions": TTLSConnectionAction,
    "group_advanced_parms": TTLSGroupAdvancedParms,
    "environment_advanced_parms": TTLSEnvironmentAdvancedParms,
    "connection_advanced_parms": TTLSConnectionAdvancedParms,
    "keyring_parms": TTLSKeyringParms,
    "cipher_parms": TTLSCipherParms,
    "signature_parms": TTLSSignatureParms,
    "gsk_advanced_parms": TTLSGskAdvancedParms,
    "gsk_ldap_parms": TTLSGskLdapParms,
    "gsk_ocsp_parms": TTLSGskOcspParms,
    "gsk_http_cdp_parms": TTLSGskHttpCdpParms,
    "ip_addrs": IpAddr,
    "ip_addr_sets": IpAddrSet,
    "ip_addr_groups": IpAddrGroup,
    "port_ranges": PortRange,
    "port_groups": PortGroup,
    "ip_time_conditions": IpTimeCondition,
}


@dataclass(frozen=True, slots=True)
class Location:
    line: int
    column: int


@dataclass
class Policy:
    """An AT-TLS policy: every named top-level statement, by name, per statement type.

    `locations` maps (collection, name) to where the statement was defined when the policy
    came from a file; it takes no part in equality.
    """

    rules: dict[str, TTLSRule] = field(default_factory=dict)
    group_actions: dict[str, TTLSGroupAction] = field(default_factory=dict)
    environment_actions: dict[str, TTLSEnvironmentAction] = field(default_factory=dict)
    connection_actions: dict[str, TTLSConnectionAction] = field(default_factory=dict)
    group_advanced_parms: dict[str, TTLSGroupAdvancedParms] = field(default_factory=dict)
    environment_advanced_parms: dict[str, TTLSEnvironmentAdvancedParms] = field(
        default_factory=dict
    )
    connection_advanced_parms: dict[str, TTLSConnectionAdvancedParms] = field(default_factory=dict)
    keyring_parms: dict[str, TTLSKeyringParms] = field(default_factory=dict)
    cipher_parms: dict[str, TTLSCipherParms] = field(default_factory=dict)
    signature_parms: dict[str, TTLSSignatureParms] = field(default_factory=dict)
    gsk_advanced_parms: dict[str, TTLSGskAdvancedParms] = field(default_factory=dict)
    gsk_ldap_parms: dict[str, TTLSGskLdapParms] = field(default_factory=dict)
    gsk_ocsp_parms: dict[str, TTLSGskOcspParms] = field(default_factory=dict)
    gsk_http_cdp_parms: dict[str, TTLSGskHttpCdpParms] = field(default_factory=dict)
    ip_addrs: dict[str, IpAddr] = field(default_factory=dict)
    ip_addr_sets: dict[str, IpAddrSet] = field(default_factory=dict)
    ip_addr_groups: dict[str, IpAddrGroup] = field(default_factory=dict)
    port_ranges: dict[str, PortRange] = field(default_factory=dict)
    port_groups: dict[str, PortGroup] = field(default_factory=dict)
    ip_time_conditions: dict[str, IpTimeCondition] = field(default_factory=dict)
    locations: dict[tuple[str, str], Location] = field(
        default_factory=dict, compare=False, repr=False
    )
    # What Policy Agent accepts in the file but a person should fix (see parser.read_policy).
    warnings: list[Problem] = field(default_factory=list, compare=False, repr=False)
    # Comments of the file, as written: the lines just before a statement or parameter and a
    # comment at the end of its line. Keys: (collection, name) for a top-level statement,
    # then (keyword in lower case, occurrence) per step into its parameters and blocks.
    comments: dict[tuple[Any, ...], str] = field(default_factory=dict, compare=False, repr=False)

    def collection(self, name: str) -> dict[str, Statement]:
        """The dict of one statement type, by its attribute name in COLLECTIONS."""
        result: dict[str, Statement] = getattr(self, name)
        return result

    def add(self, statement: Statement) -> None:
        """Adds a named top-level statement; a statement of the same type and name is replaced."""
        if statement.name is None:
            raise ValueError(f"a top-level {statement.STATEMENT} needs a name")
        self.collection(COLLECTION_OF[type(statement)])[statement.name] = statement

    def statements(self) -> Iterator[tuple[str, Statement]]:
        """(collection, statement) for every top-level statement, in collection order."""
        for collection in COLLECTIONS:
            for statement in self.collection(collection).values():
                yield collection, statement


COLLECTION_OF: dict[type[Statement], str] = {cls: name for name, cls in COLLECTIONS.items()}
