"""The `pasearch -t` report PAGENT would print for a policy it has installed.

Real pasearch prints what the stack holds, not what the file said: every rule with its
condition summary, then each of its actions in full, repeated under every rule that uses
it. Environment actions show every advanced, signature and GSK parameter with its
effective value (defaults included); group actions show their switches; connection
actions show only what they set. That is what the real z/OS 3.1 report shows (reference
§3.2); where it leaves the layout open (an environment's own cipher list, address sets
and groups, port groups) the choice made here is noted at the spot.

lparsim renders its `pasearch -t` with this; the fleet compares such reports with the
published policy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping

from attls import ciphers, tlsgroups
from attls.effective import resolve_block
from attls.policy.model import (
    Policy,
    TTLSConnectionAction,
    TTLSEnvironmentAction,
    TTLSGroupAction,
    TTLSRule,
)
from attls.policy.render import statements_in_order
from attls.policy.serialize import statement_to_dict
from attls.policy.values import Address, Ports
from attls.releases import RELEASES, Release, get_release, release_from_header
from attls.reports.pasearch import (
    ActionRef,
    AddrPair,
    ConditionSummary,
    Field,
    ListField,
    ListItem,
    Node,
    PasearchReport,
    PasearchRule,
    Section,
    TtlsAction,
)

# Effective defaults in the order z/OS 3.1 prints them [observed: the sample report].
ENVIRONMENT_ADVANCED_DEFAULTS: tuple[tuple[str, str], ...] = (
    ("SSLv2", "Off"),
    ("SSLv3", "Off"),
    ("TLSv1", "On"),
    ("TLSv1.1", "On"),
    ("TLSv1.2", "Off"),
    ("TLSv1.3", "Off"),
    ("MiddleBoxCompatMode", "Off"),
    ("ApplicationControlled", "Off"),
    ("HandshakeTimeout", "10"),
    ("ClientAuthType", "Required"),
    ("ResetCipherTimer", "0"),
    ("TruncatedHMAC", "Off"),
    ("CertValidationMode", "Any"),
    ("ServerMaxSSLFragment", "Off"),
    ("ClientMaxSSLFragment", "Off"),
    ("ServerHandshakeSNI", "Off"),
    ("ClientHandshakeSNI", "Off"),
    ("ClientExtendedMasterSecret", "On"),
    ("ServerExtendedMasterSecret", "On"),
    ("Renegotiation", "Default"),
    ("RenegotiationIndicator", "Optional"),
    ("RenegotiationCertCheck", "Off"),
    ("3DesKeyCheck", "Off"),
    ("ClientEDHGroupSize", "Legacy"),
    ("ServerEDHGroupSize", "Legacy"),
    ("PeerMinCertVersion", "Any"),
    ("PeerMinDHKeySize", "1024"),
    ("PeerMinDsaKeySize", "1024"),
    ("PeerMinECCKeySize", "192"),
    ("PeerMinRsaKeySize", "1024"),
    ("ServerScsv", "Off"),
)

GSK_DEFAULTS: tuple[tuple[str, str], ...] = (
    ("GSK_V3_SESSION_TIMEOUT", "86400"),
    ("GSK_V3_SIDCACHE_SIZE", "512"),
    ("GSK_SESSION_TICKET_CLIENT_ENABLE", "On"),
    ("GSK_SESSION_TICKET_CLIENT_MAXSIZE", "8192"),
    ("GSK_SESSION_TICKET_SERVER_ENABLE", "On"),
    ("GSK_SESSION_TICKET_SERVER_ALGORITHM", "AESCBC128"),
    ("GSK_SESSION_TICKET_SERVER_COUNT", "2"),
    ("GSK_SESSION_TICKET_SERVER_KEY_REFRESH", "300"),
    ("GSK_SESSION_TICKET_SERVER_TIMEOUT", "300"),
)

HTTP_CDP_DEFAULTS: tuple[tuple[str, str], ...] = (
    ("HttpCdpEnable", "Off"),
    ("HttpCdpProxyServerPort", "80"),
    ("HttpCdpResponseTimeout", "15"),
    ("HttpCdpMaxResponseSize", "204800"),
    ("HttpCdpCacheSize", "32"),
    ("HttpCdpCacheEntryMaxsize", "0"),
)

OCSP_DEFAULTS_BEFORE_SIGALG: tuple[tuple[str, str], ...] = (
    ("OcspAiaEnable", "Off"),
    ("OcspProxyServerPort", "80"),
    ("OcspRetrieveViaGet", "Off"),
    ("OcspUrlPriority", "On"),
)
OCSP_DEFAULTS_AFTER_SIGALG: tuple[tuple[str, str], ...] = (
    ("OcspClientCacheSize", "256"),
    ("OcspCliCacheEntryMaxsize", "0"),
    ("OcspNonceGenEnable", "Off"),
    ("OcspNonceCheckEnable", "Off"),
    ("OcspNonceSize", "8"),
    ("OcspResponseTimeout", "15"),
    ("OcspMaxResponseSize", "20480"),
    ("OcspServerStapling", "Off"),
)

Timestamps = Callable[[str, str], tuple[dt.datetime, dt.datetime]]


def ctime(moment: dt.datetime) -> str:
    """`Mon Dec 23 04:52:19 2024`, as pasearch prints policy times.

    This is C's ctime() layout, which pads a one-digit day with a blank (`Dec  3`); the
    real sample only has two-digit days, so that detail follows C, not an observation.
    """
    return f"{moment:%a %b} {moment.day:2d} {moment:%H:%M:%S %Y}"


def pasearch_report(
    policy: Policy,
    *,
    image: str,
    instance_id: int,
    installed_at: dt.datetime,
    reported_at: dt.datetime | None = None,
    release: str = "3.1",
    timestamps: Timestamps | None = None,
) -> PasearchReport:
    """The report for `policy` as installed in stack `image`.

    `timestamps(kind, name)` gives (created, updated) of a rule ("rule") or an action
    ("action"); without it every statement was created and updated at `installed_at`.
    """
    reported_at = reported_at or installed_at
    # What the release installs: its protocol defaults, and only the suites it implements
    # (Policy Agent leaves the others out; observed for 1303 on z/OS 3.1).
    row = RELEASES.get(release_from_header(f"CS {release}") or "", get_release(None))

    def times(kind: str, name: str) -> tuple[str, str]:
        if timestamps is None:
            return ctime(installed_at), ctime(installed_at)
        created, updated = timestamps(kind, name)
        return ctime(created), ctime(updated)

    actions: dict[tuple[str, str], TtlsAction] = {}

    def action(scope: str, name: str) -> TtlsAction | None:
        key = (scope, name)
        if key not in actions:
            built = _action(policy, scope, name, times("action", name), row)
            if built is None:
                return None
            actions[key] = built
        return actions[key]

    rules: list[PasearchRule] = []
    for statement in statements_in_order(policy, "rules"):
        assert isinstance(statement, TTLSRule) and statement.name is not None
        refs: list[ActionRef] = []
        details: list[TtlsAction] = []
        for scope, name in (
            ("Group", statement.group_action_ref),
            ("Environment", statement.environment_action_ref),
            ("Connection", statement.connection_action_ref),
        ):
            if name is None:
                continue
            detail = action(scope, name)
            if detail is None:
                continue
            refs.append(ActionRef(name, f"TTLS {scope}", 0))
            details.append(detail)
        created, updated = times("rule", statement.name)
        rules.append(
            PasearchRule(
                name=statement.name,
                priority=statement.effective_priority,
                weight=statement.effective_priority,
                actions=refs,
                time_periods=list(ALWAYS_IN_FORCE),
                condition=_condition(policy, statement),
                created=created,
                updated=updated,
                action_details=details,
            )
        )
    return PasearchReport(
        release=release,
        image=image,
        date=reported_at.strftime("%m/%d/%Y"),
        time=reported_at.strftime("%H:%M:%S"),
        instance_id=instance_id,
        rules=rules,
        no_policies=not rules,
    )


# The time periods of a rule with no IpTimeCondition [observed: every rule of the sample].
ALWAYS_IN_FORCE: tuple[tuple[str, str], ...] = (
    ("Day of Month Mask", ""),
    ("First to Last", "1" * 31),
    ("Last to First", "1" * 31),
    ("Month of Yr Mask", "1" * 12),
    ("Day of Week Mask", "1111111  (Sunday - Saturday)"),
    ("Start Date Time", "None"),
    ("End Date Time", "None"),
    ("Fr TimeOfDay", "00:00"),
    ("To TimeOfDay", "24:00"),
    ("Fr TimeOfDay UTC", "00:00"),
    ("To TimeOfDay UTC", "00:00"),
    ("TimeZone", "Local"),
)


# --- conditions -----------------------------------------------------------------------------


def _addresses(policy: Policy, rule: TTLSRule, side: str) -> list[Address]:
    literal: Address | None = getattr(rule, f"{side}_addr")
    if literal is not None:
        return [literal]
    ref = getattr(rule, f"{side}_addr_ref")
    if ref is not None and ref in policy.ip_addrs:
        address = policy.ip_addrs[ref].addr
        return [address] if address is not None else []
    set_ref = getattr(rule, f"{side}_addr_set_ref")
    if set_ref is not None and set_ref in policy.ip_addr_sets:
        return _set_members(policy, set_ref)
    group_ref = getattr(rule, f"{side}_addr_group_ref")
    if group_ref is not None and group_ref in policy.ip_addr_groups:
        group = policy.ip_addr_groups[group_ref]
        inline = [ip.addr for ip in group.ip_addrs]
        named = [policy.ip_addrs[n].addr for n in group.ip_addr_refs if n in policy.ip_addrs]
        members = [address for address in (*inline, *named) if address is not None]
        for inline_set in group.ip_addr_sets:
            members += [*inline_set.prefixes, *inline_set.ranges, *inline_set.addrs]
        for name in group.ip_addr_set_refs:
            members += _set_members(policy, name)
        return members
    return []


def _set_members(policy: Policy, name: str) -> list[Address]:
    members = policy.ip_addr_sets.get(name)
    if members is None:
        return []
    return [*members.prefixes, *members.ranges, *members.addrs]


def _pair(addresses: list[Address]) -> AddrPair:
    """An address condition as FromAddr/ToAddr.

    A rule with several addresses (an address set or group) is one CNF level with several
    entries in the real report; its exact layout is unconfirmed, so the first entry is
    shown. Prefixes and ranges print as their first and last address.
    """
    if not addresses or addresses[0].is_all:
        return AddrPair()
    first = addresses[0]
    return AddrPair(from_addr=str(first.low), to_addr=str(first.high))


def _ports(policy: Policy, rule: TTLSRule, side: str) -> Ports | None:
    literal: Ports | None = getattr(rule, f"{side}_port_range")
    if literal is not None:
        return literal
    ref = getattr(rule, f"{side}_port_range_ref")
    if ref is not None and ref in policy.port_ranges:
        return policy.port_ranges[ref].port
    group_ref = getattr(rule, f"{side}_port_group_ref")
    if group_ref is not None and group_ref in policy.port_groups:
        group = policy.port_groups[group_ref]
        # Several ranges are one CNF level; the first is shown (layout unconfirmed).
        ranges = [r.port for r in group.port_ranges if r.port is not None] + [
            policy.port_ranges[name].port
            for name in group.port_range_refs
            if name in policy.port_ranges and policy.port_ranges[name].port is not None
        ]
        return ranges[0] if ranges else None
    return None


def _condition(policy: Policy, rule: TTLSRule) -> ConditionSummary:
    local_ports = _ports(policy, rule, "local")
    remote_ports = _ports(policy, rule, "remote")
    return ConditionSummary(
        local_addr=_pair(_addresses(policy, rule, "local")),
        remote_addr=_pair(_addresses(policy, rule, "remote")),
        local_port_from=local_ports.low if local_ports else 0,
        local_port_to=local_ports.high if local_ports else 0,
        remote_port_from=remote_ports.low if remote_ports else 0,
        remote_port_to=remote_ports.high if remote_ports else 0,
        job_name=rule.jobname or "",
        user_id=rule.userid or "",
        direction=rule.direction or "Both",
    )


# --- actions --------------------------------------------------------------------------------


def _action(
    policy: Policy, scope: str, name: str, times: tuple[str, str], row: Release
) -> TtlsAction | None:
    if scope == "Group":
        group = policy.group_actions.get(name)
        fields = _group_fields(policy, group) if group else None
    elif scope == "Environment":
        environment = policy.environment_actions.get(name)
        fields = _environment_fields(policy, environment, row) if environment else None
    else:
        connection = policy.connection_actions.get(name)
        fields = _connection_fields(policy, connection, row) if connection else None
    if fields is None:
        return None
    return TtlsAction(
        name=name,
        version=3,
        status="Active",
        scope=scope,
        fields=fields,
        created=times[0],
        updated=times[1],
    )


def _on_off(value: bool | None, default: bool) -> str:
    return "On" if (default if value is None else value) else "Off"


def _written(statement: object | None) -> dict[str, object]:
    """Keyword -> value as written, for the parameters a block sets."""
    if statement is None:
        return {}
    data = statement_to_dict(statement)  # type: ignore[arg-type]
    data.pop("statement", None)
    data.pop("name", None)
    return data


def _with_defaults(
    defaults: Iterable[tuple[str, str]], written: Mapping[str, object]
) -> list[Node]:
    """Every default parameter with its effective value, then the other ones that were set."""
    nodes: list[Node] = []
    known = set()
    for keyword, default in defaults:
        known.add(keyword)
        value = written.get(keyword, default)
        nodes.append(Field(keyword, str(value)))
    for keyword, value in written.items():
        if keyword not in known and isinstance(value, str):
            nodes.append(Field(keyword, value))
    return nodes


def _group_fields(policy: Policy, group: TTLSGroupAction) -> tuple[Node, ...]:
    advanced = resolve_block(group.advanced, group.advanced_ref, policy.group_advanced_parms)
    written = _written(advanced)
    advanced_nodes: list[Node] = [
        Field("SecondaryMap", str(written.get("SecondaryMap", "Off"))),
        Field("SyslogFacility", str(written.get("SyslogFacility", "Daemon"))),
    ]
    if "Envfile" in written:
        advanced_nodes.append(Field("Envfile", str(written["Envfile"])))
    return (
        Field("TTLSEnabled", _on_off(group.ttls_enabled, False)),
        Field("CtraceClearText", _on_off(group.ctrace_clear_text, False)),
        Field("Trace", str(group.trace if group.trace is not None else 2)),
        Field("FIPS140", _on_off(group.fips140, False)),
        Section("TTLSGroupAdvancedParms", tuple(advanced_nodes)),
    )


def _implemented(codes: Iterable[str], row: Release) -> tuple[str, ...]:
    return tuple(code for code in codes if row.implements(code))


def _cipher_list(codes: Iterable[str]) -> ListField:
    items = []
    for code in codes:
        suite = ciphers.get(code)
        items.append(ListItem(code, suite.iana_name if suite else ""))
    return ListField("v3CipherSuites", tuple(items))


def _code_list(label: str, codes: Iterable[str], name_of: Callable[[str], str]) -> ListField:
    codes = tuple(codes)
    if codes == ("Any",):
        return ListField(label, keyword="Any")
    return ListField(label, tuple(ListItem(code, _safe(name_of, code)) for code in codes))


def _safe(name_of: Callable[[str], str], code: str) -> str:
    try:
        return name_of(code)
    except KeyError:
        return ""


def _signature_nodes(signature: object | None, *, defaults: bool) -> list[Node]:
    """TTLSSignatureParms lists; with `defaults`, unset lists show z/OS 3.1's defaults."""
    lists: list[tuple[str, str, tuple[str, ...], Callable[[str], str]]] = [
        ("ClientECurves", "client_ecurves", tlsgroups.DEFAULT_CLIENT_ECURVES, tlsgroups.group_name),
        (
            "ClientKeyShareGroups",
            "client_key_share_groups",
            tlsgroups.DEFAULT_CLIENT_KEY_SHARE_GROUPS,
            tlsgroups.group_name,
        ),
        (
            "ServerKeyShareGroups",
            "server_key_share_groups",
            tlsgroups.DEFAULT_SERVER_KEY_SHARE_GROUPS,
            tlsgroups.group_name,
        ),
        (
            "ServerKexECurves",
            "server_kex_ecurves",
            tlsgroups.DEFAULT_SERVER_KEX_ECURVES,
            tlsgroups.group_name,
        ),
        (
            "SignaturePairs",
            "signature_pairs",
            tlsgroups.DEFAULT_SIGNATURE_PAIRS,
            tlsgroups.sigalg_name,
        ),
        ("SignaturePairsCert", "signature_pairs_cert", (), tlsgroups.sigalg_name),
    ]
    nodes: list[Node] = []
    curves_any = False
    for label, attribute, default, name_of in lists:
        written: tuple[str, ...] = getattr(signature, attribute, ()) if signature else ()
        if label == "ClientECurves":
            curves_any = written == ("Any",)
        if not written and label == "ClientKeyShareGroups" and curves_any:
            continue  # the sample prints no key-share list when ClientECurves is Any
        codes = written or (default if defaults else ())
        if codes:
            nodes.append(_code_list(label, codes, name_of))
    return nodes


def _environment_defaults(row: Release) -> tuple[tuple[str, str], ...]:
    """The defaults printed for an environment, with the release's protocol defaults."""
    protocols = {p.value: ("On" if on else "Off") for p, on in row.protocols.items()}
    return tuple(
        (label, protocols.get(label, value)) for label, value in ENVIRONMENT_ADVANCED_DEFAULTS
    )


def _environment_fields(
    policy: Policy, environment: TTLSEnvironmentAction, row: Release
) -> tuple[Node, ...]:
    keyring = resolve_block(environment.keyring, environment.keyring_ref, policy.keyring_parms)
    advanced = resolve_block(
        environment.advanced, environment.advanced_ref, policy.environment_advanced_parms
    )
    cipher = resolve_block(environment.cipher, environment.cipher_ref, policy.cipher_parms)
    signature = resolve_block(
        environment.signature, environment.signature_ref, policy.signature_parms
    )
    gsk = resolve_block(
        environment.gsk_advanced, environment.gsk_advanced_ref, policy.gsk_advanced_parms
    )
    nodes: list[Node] = [Field("HandshakeRole", environment.handshake_role or "Server")]
    if environment.trace is not None:
        nodes.append(Field("Trace", str(environment.trace)))
    if environment.ctrace_clear_text is not None:
        nodes.append(Field("CtraceClearText", _on_off(environment.ctrace_clear_text, False)))
    nodes.append(Field("SuiteBProfile", environment.suite_b_profile or "Off"))
    keyring_fields = [Field(k, str(v)) for k, v in _written(keyring).items() if k != "KeyringPw"]
    nodes.append(Section("TTLSKeyringParms", tuple(keyring_fields)))
    nodes.append(
        Section(
            "TTLSEnvironmentAdvancedParms",
            tuple(_with_defaults(_environment_defaults(row), _written(advanced))),
        )
    )
    nodes.append(Section("TTLSSignatureParms", tuple(_signature_nodes(signature, defaults=True))))
    # Where an environment's own cipher list prints is not shown by the sample (none of its
    # environments has one); it is placed like a connection action's, after the signatures.
    codes = _implemented(getattr(cipher, "v3_cipher_suites", ()), row)
    if codes:
        nodes.append(Section("TTLSCipherParms", (_cipher_list(codes),)))
    nodes.append(Section("TTLSGskAdvancedParms", tuple(_gsk_nodes(policy, gsk))))
    if environment.environment_user_instance is not None:
        nodes.append(Field("EnvironmentUserInstance", str(environment.environment_user_instance)))
    return tuple(nodes)


def _gsk_nodes(policy: Policy, gsk: object | None) -> list[Node]:
    written = _written(gsk)
    for nested in ("TTLSGskHttpCdpParms", "TTLSGskOcspParms", "TTLSGskLdapParms"):
        written.pop(nested, None)
    nodes = _with_defaults(GSK_DEFAULTS, written)
    http_cdp = resolve_block(
        getattr(gsk, "gsk_http_cdp", None),
        getattr(gsk, "gsk_http_cdp_ref", None),
        policy.gsk_http_cdp_parms,
    )
    nodes.append(
        Section("TTLSGskHttpCdpParms", tuple(_with_defaults(HTTP_CDP_DEFAULTS, _written(http_cdp))))
    )
    ocsp = resolve_block(
        getattr(gsk, "gsk_ocsp", None), getattr(gsk, "gsk_ocsp_ref", None), policy.gsk_ocsp_parms
    )
    ocsp_written = _written(ocsp)
    sigalgs = tuple(
        getattr(ocsp, "ocsp_request_sigalg", ()) or (tlsgroups.DEFAULT_OCSP_REQUEST_SIGALG,)
    )
    ocsp_written.pop("OcspRequestSigalg", None)
    ocsp_nodes = _with_defaults(OCSP_DEFAULTS_BEFORE_SIGALG, ocsp_written)
    ocsp_nodes.append(_code_list("OcspRequestSigalg", sigalgs, tlsgroups.sigalg_name))
    after = _with_defaults(
        OCSP_DEFAULTS_AFTER_SIGALG,
        {k: v for k, v in ocsp_written.items() if k not in dict(OCSP_DEFAULTS_BEFORE_SIGALG)},
    )
    ocsp_nodes.extend(after)
    nodes.append(Section("TTLSGskOcspParms", tuple(ocsp_nodes)))
    return nodes


def _connection_fields(
    policy: Policy, connection: TTLSConnectionAction, row: Release
) -> tuple[Node, ...]:
    """A connection action prints only what it sets [observed]."""
    nodes: list[Node] = []
    if connection.handshake_role is not None:
        nodes.append(Field("HandshakeRole", connection.handshake_role))
    if connection.ctrace_clear_text is not None:
        nodes.append(Field("CtraceClearText", _on_off(connection.ctrace_clear_text, False)))
    if connection.trace is not None:
        nodes.append(Field("Trace", str(connection.trace)))
    advanced = resolve_block(
        connection.advanced, connection.advanced_ref, policy.connection_advanced_parms
    )
    written = _written(advanced)
    if written:
        nodes.append(
            Section(
                "TTLSConnectionAdvancedParms",
                tuple(Field(k, str(v)) for k, v in written.items() if isinstance(v, str)),
            )
        )
    signature = resolve_block(
        connection.signature, connection.signature_ref, policy.signature_parms
    )
    signature_nodes = _signature_nodes(signature, defaults=False)
    if signature_nodes:
        nodes.append(Section("TTLSSignatureParms", tuple(signature_nodes)))
    cipher = resolve_block(connection.cipher, connection.cipher_ref, policy.cipher_parms)
    codes = _implemented(getattr(cipher, "v3_cipher_suites", ()), row)
    if codes:
        nodes.append(Section("TTLSCipherParms", (_cipher_list(codes),)))
    if connection.connection_user_instance is not None:
        nodes.append(Field("ConnectionUserInstance", str(connection.connection_user_instance)))
    return tuple(nodes)
