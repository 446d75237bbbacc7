"""Effective settings of a rule: what AT-TLS applies once defaults and overrides are resolved.

A rule names a group action, usually an environment action and sometimes a connection
action. A value set on a more specific action wins: connection over environment over group,
and a value set nowhere takes the default of the stack's z/OS release (attls.releases;
reference §1.5-§1.8). Beware the protocol defaults: up to z/OS 3.1 TLSv1 and TLSv1.1 are On
and TLSv1.2 and TLSv1.3 are **Off** unless set; on 3.2 only TLSv1.2 is On. Listed suites the
release does not implement are left out, as Policy Agent leaves them out
(`not_implemented_suites` says which).

Each result records, per field, where its value came from (`sources`), so a user interface
can explain it. Inline blocks and `...Ref` forms are resolved alike; a reference to a
statement that does not exist is treated as absent (lint and `validate_policy` report it).

Many rules share a few actions, so the action-dependent part is computed once per
(group, environment, connection) triple and shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal, TypeVar

from attls import ciphers
from attls.ciphers import Protocol
from attls.policy.model import (
    Policy,
    TTLSCipherParms,
    TTLSConnectionAction,
    TTLSConnectionAdvancedParms,
    TTLSEnvironmentAction,
    TTLSEnvironmentAdvancedParms,
    TTLSGroupAction,
    TTLSGroupAdvancedParms,
    TTLSKeyringParms,
    TTLSRule,
    TTLSSignatureParms,
)
from attls.releases import DEFAULT_RELEASE, Release, get_release

__all__ = [
    "DEFAULT_PROTOCOLS",
    "PROTOCOLS",
    "CipherSource",
    "EffectiveResolver",
    "EffectiveSettings",
    "Source",
    "effective_all",
    "effective_for_rule",
    "effective_settings",
]

Source = Literal["default", "group", "environment", "connection"]
CipherSource = Literal["connection", "environment", "system-ssl-default"]

PROTOCOLS: Final[tuple[Protocol, ...]] = (
    Protocol.SSLV2,
    Protocol.SSLV3,
    Protocol.TLSV1,
    Protocol.TLSV1_1,
    Protocol.TLSV1_2,
    Protocol.TLSV1_3,
)
# The defaults of the release assumed when a stack declares none (z/OS 3.1, reference §1.7:
# IBM's syntax diagram and real z/OS 3.1 pasearch output). Per-release defaults are in
# attls.releases; read them from there when the release is known.
DEFAULT_PROTOCOLS: Final[Mapping[Protocol, bool]] = get_release(DEFAULT_RELEASE).protocols
# Model field of each protocol switch.
_PROTOCOL_FIELDS: Final = {
    Protocol.SSLV2: "sslv2",
    Protocol.SSLV3: "sslv3",
    Protocol.TLSV1: "tlsv1",
    Protocol.TLSV1_1: "tlsv1_1",
    Protocol.TLSV1_2: "tlsv1_2",
    Protocol.TLSV1_3: "tlsv1_3",
}

DEFAULT_TRACE: Final = 2
DEFAULT_HANDSHAKE_TIMEOUT: Final = 10
DEFAULT_CLIENT_AUTH_TYPE: Final = "Required"
DEFAULT_SUITE_B_PROFILE: Final = "Off"
DEFAULT_RENEGOTIATION: Final = "Default"
DEFAULT_CERT_VALIDATION_MODE: Final = "Any"

_CIPHER_SOURCE: Final[Mapping[CipherSource, Source]] = MappingProxyType(
    {"connection": "connection", "environment": "environment", "system-ssl-default": "default"}
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class EffectiveSettings:
    """What AT-TLS applies to connections that map to one rule.

    When the group has TTLSEnabled Off the connections are in the clear (`ttls_enabled` is
    False); the TLS fields are still resolved from whatever environment the rule names, so a
    designer can preview them. `sources` maps each field name to where its value came from;
    `protocol_sources` does the same per protocol. `handshake_role` and `keyring` are None
    when no environment (or connection action) sets them.
    """

    rule: str
    priority: int
    direction: str | None
    group_action: str | None
    environment_action: str | None
    connection_action: str | None
    ttls_enabled: bool
    handshake_role: str | None
    protocols: Mapping[Protocol, bool]
    v3_cipher_suites: tuple[str, ...]
    ciphers_from: CipherSource
    client_auth_type: str
    keyring: str | None
    certificate_label: str | None
    server_certificate_label: str | None
    handshake_timeout: int
    application_controlled: bool
    fips140: bool
    trace: int
    ctrace_clear_text: bool
    secondary_map: bool
    suite_b_profile: str
    renegotiation: str
    cert_validation_mode: str
    client_ecurves: tuple[str, ...]
    client_key_share_groups: tuple[str, ...]
    server_key_share_groups: tuple[str, ...]
    server_kex_ecurves: tuple[str, ...]
    signature_pairs: tuple[str, ...]
    signature_pairs_cert: tuple[str, ...]
    sources: Mapping[str, Source]
    protocol_sources: Mapping[Protocol, Source]
    # The z/OS release whose defaults and cipher implementation were applied.
    release: str = DEFAULT_RELEASE
    # Listed suites System SSL on that release does not implement: left out of
    # v3_cipher_suites, as Policy Agent leaves them out (see attls.releases).
    not_implemented_suites: tuple[str, ...] = ()

    @property
    def enabled_protocols(self) -> tuple[Protocol, ...]:
        """The protocols switched On, oldest first."""
        return tuple(p for p in PROTOCOLS if self.protocols[p])


def resolve_block(inline: T | None, ref: str | None, collection: Mapping[str, T]) -> T | None:
    """An inline block, else the statement its `...Ref` names (None when it names nothing)."""
    if inline is not None:
        return inline
    if ref is None:
        return None
    return collection.get(ref)


def _first(default: T, *candidates: tuple[Source, T | None]) -> tuple[T, Source]:
    """The first value that is set, most specific first, with where it came from."""
    for source, value in candidates:
        if value is not None:
            return value, source
    return default, "default"


class EffectiveResolver:
    """Resolves effective settings for the rules of one policy, caching per action triple.

    The policy must not change while a resolver is in use.
    """

    def __init__(self, policy: Policy, *, release: str | None = None) -> None:
        self.policy = policy
        self.release: Release = get_release(release)
        self._cache: dict[tuple[str | None, str | None, str | None], dict[str, Any]] = {}

    def for_rule(self, rule: TTLSRule) -> EffectiveSettings:
        key = (rule.group_action_ref, rule.environment_action_ref, rule.connection_action_ref)
        shared = self._cache.get(key)
        if shared is None:
            shared = self._cache[key] = self._actions(*key)
        return EffectiveSettings(
            rule=rule.name or "",
            priority=rule.effective_priority,
            direction=rule.direction,
            release=self.release.name,
            **shared,
        )

    def _actions(
        self, group_name: str | None, environment_name: str | None, connection_name: str | None
    ) -> dict[str, Any]:
        """Every field that depends only on the three actions."""
        p = self.policy
        group = p.group_actions.get(group_name) if group_name is not None else None
        env = p.environment_actions.get(environment_name) if environment_name is not None else None
        conn = p.connection_actions.get(connection_name) if connection_name is not None else None

        group_adv: TTLSGroupAdvancedParms | None = None
        if group is not None:
            group_adv = resolve_block(group.advanced, group.advanced_ref, p.group_advanced_parms)
        env_adv: TTLSEnvironmentAdvancedParms | None = None
        env_cipher: TTLSCipherParms | None = None
        env_sig: TTLSSignatureParms | None = None
        keyring_parms: TTLSKeyringParms | None = None
        if env is not None:
            env_adv = resolve_block(env.advanced, env.advanced_ref, p.environment_advanced_parms)
            env_cipher = resolve_block(env.cipher, env.cipher_ref, p.cipher_parms)
            env_sig = resolve_block(env.signature, env.signature_ref, p.signature_parms)
            keyring_parms = resolve_block(env.keyring, env.keyring_ref, p.keyring_parms)
        conn_adv: TTLSConnectionAdvancedParms | None = None
        conn_cipher: TTLSCipherParms | None = None
        conn_sig: TTLSSignatureParms | None = None
        if conn is not None:
            conn_adv = resolve_block(conn.advanced, conn.advanced_ref, p.connection_advanced_parms)
            conn_cipher = resolve_block(conn.cipher, conn.cipher_ref, p.cipher_parms)
            conn_sig = resolve_block(conn.signature, conn.signature_ref, p.signature_parms)

        values: dict[str, Any] = {
            "group_action": group_name,
            "environment_action": environment_name,
            "connection_action": connection_name,
        }
        sources: dict[str, Source] = {}

        def put(name: str, resolved: tuple[Any, Source]) -> None:
            values[name], sources[name] = resolved

        put("ttls_enabled", _first(False, ("group", _attr(group, "ttls_enabled"))))
        put("fips140", _first(False, ("group", _attr(group, "fips140"))))
        put("trace", _cascade(DEFAULT_TRACE, "trace", group, env, conn))
        put("ctrace_clear_text", _cascade(False, "ctrace_clear_text", group, env, conn))
        put(
            "handshake_role",
            _first(
                None,
                ("connection", _attr(conn, "handshake_role")),
                ("environment", _attr(env, "handshake_role")),
            ),
        )
        put(
            "keyring",
            _first(None, ("environment", _attr(keyring_parms, "keyring"))),
        )
        put("suite_b_profile", _env(DEFAULT_SUITE_B_PROFILE, env, "suite_b_profile"))
        put("client_auth_type", _env(DEFAULT_CLIENT_AUTH_TYPE, env_adv, "client_auth_type"))
        put("renegotiation", _env(DEFAULT_RENEGOTIATION, env_adv, "renegotiation"))
        put(
            "cert_validation_mode",
            _env(DEFAULT_CERT_VALIDATION_MODE, env_adv, "cert_validation_mode"),
        )
        for name, default in (
            ("handshake_timeout", DEFAULT_HANDSHAKE_TIMEOUT),
            ("application_controlled", False),
            ("certificate_label", None),
            ("server_certificate_label", None),
        ):
            put(
                name,
                _first(
                    default,
                    ("connection", _attr(conn_adv, name)),
                    ("environment", _attr(env_adv, name)),
                ),
            )
        put(
            "secondary_map",
            _first(
                False,
                ("connection", _attr(conn_adv, "secondary_map")),
                ("environment", _attr(env_adv, "secondary_map")),
                ("group", _attr(group_adv, "secondary_map")),
            ),
        )

        protocols: dict[Protocol, bool] = {}
        protocol_sources: dict[Protocol, Source] = {}
        release = self.release
        for protocol in PROTOCOLS:
            field_name = _PROTOCOL_FIELDS[protocol]
            protocols[protocol], protocol_sources[protocol] = _first(
                release.protocols[protocol],
                ("connection", _attr(conn_adv, field_name)),
                ("environment", _attr(env_adv, field_name)),
            )

        suites, ciphers_from = _cipher_list(
            conn_cipher, env_cipher, bool(values["fips140"]), release
        )
        values["not_implemented_suites"] = tuple(c for c in suites if not release.implements(c))
        if values["not_implemented_suites"]:
            suites = tuple(c for c in suites if release.implements(c))
        values["v3_cipher_suites"] = suites
        values["ciphers_from"] = ciphers_from
        sources["v3_cipher_suites"] = _CIPHER_SOURCE[ciphers_from]

        for name, default_codes in _signature_defaults(release).items():
            put(
                name,
                _first(
                    default_codes,
                    ("connection", _attr(conn_sig, name) or None),
                    ("environment", _attr(env_sig, name) or None),
                ),
            )

        values["protocols"] = MappingProxyType(protocols)
        values["protocol_sources"] = MappingProxyType(protocol_sources)
        values["sources"] = MappingProxyType(sources)
        return values


def _attr(statement: object | None, name: str) -> Any:
    return None if statement is None else getattr(statement, name)


def _cascade(
    default: T,
    name: str,
    group: TTLSGroupAction | None,
    env: TTLSEnvironmentAction | None,
    conn: TTLSConnectionAction | None,
) -> tuple[T, Source]:
    """A parameter all three actions accept (Trace, CtraceClearText)."""
    return _first(
        default,
        ("connection", _attr(conn, name)),
        ("environment", _attr(env, name)),
        ("group", _attr(group, name)),
    )


def _env(default: T, statement: object | None, name: str) -> tuple[T, Source]:
    """A parameter only the environment action (or its advanced parms) accepts."""
    return _first(default, ("environment", _attr(statement, name)))


def _signature_defaults(release: Release) -> Mapping[str, tuple[str, ...]]:
    return {
        "client_ecurves": release.client_ecurves,
        "client_key_share_groups": release.client_key_share_groups,
        "server_key_share_groups": release.server_key_share_groups,
        "server_kex_ecurves": release.server_kex_ecurves,
        "signature_pairs": release.signature_pairs,
        "signature_pairs_cert": (),
    }


def _cipher_list(
    conn_cipher: TTLSCipherParms | None,
    env_cipher: TTLSCipherParms | None,
    fips140: bool,
    release: Release,
) -> tuple[tuple[str, ...], CipherSource]:
    """The connection's V3 list replaces the environment's; with neither, System SSL's default.

    A TTLSCipherParms that sets no V3 suites (only V2CipherSuites) does not replace anything.
    Repeated codes keep their first place, as AT-TLS concatenates repeated lines.
    """
    if conn_cipher is not None and conn_cipher.v3_cipher_suites:
        return tuple(ciphers.effective_order(conn_cipher.v3_cipher_suites)), "connection"
    if env_cipher is not None and env_cipher.v3_cipher_suites:
        return tuple(ciphers.effective_order(env_cipher.v3_cipher_suites)), "environment"
    default = release.v3_ciphers_fips if fips140 else release.v3_ciphers
    return tuple(default), "system-ssl-default"


def effective_for_rule(
    policy: Policy, rule: TTLSRule, *, release: str | None = None
) -> EffectiveSettings:
    """The effective settings of one rule (which need not be in `policy.rules`)."""
    return EffectiveResolver(policy, release=release).for_rule(rule)


def effective_settings(
    policy: Policy, rule_name: str, *, release: str | None = None
) -> EffectiveSettings:
    """The effective settings of the rule with this name; KeyError when there is none."""
    return effective_for_rule(policy, policy.rules[rule_name], release=release)


def effective_all(policy: Policy, *, release: str | None = None) -> dict[str, EffectiveSettings]:
    """Effective settings of every rule, by rule name, on a z/OS release (default 3.1)."""
    resolver = EffectiveResolver(policy, release=release)
    return {name: resolver.for_rule(rule) for name, rule in policy.rules.items()}
