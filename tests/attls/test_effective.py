"""Effective settings: defaults, and connection over environment over group overrides."""

from __future__ import annotations

from typing import Any

import pytest

from attls import ciphers, tlsgroups
from attls.ciphers import Protocol
from attls.effective import (
    DEFAULT_PROTOCOLS,
    effective_all,
    effective_for_rule,
    effective_settings,
)
from attls.policy import (
    Policy,
    TTLSCipherParms,
    TTLSConnectionAction,
    TTLSEnvironmentAction,
    TTLSGroupAction,
    TTLSKeyringParms,
    TTLSRule,
    parse_policy,
)
from attls.policy.values import Ports

V1, V11, V12, V13 = Protocol.TLSV1, Protocol.TLSV1_1, Protocol.TLSV1_2, Protocol.TLSV1_3

BASE = """
TTLSGroupAction grp
{
  TTLSEnabled On
}
TTLSKeyringParms ring
{
  Keyring TCPIP/SharedRing
}
"""


def policy_of(text: str) -> Policy:
    return parse_policy(BASE + text)


def rule(name: str = "App", env: str = "env", conn: str | None = None, group: str = "grp") -> str:
    conn_line = f"  TTLSConnectionActionRef {conn}\n" if conn else ""
    return f"""
TTLSRule {name}
{{
  LocalPortRange 8443
  Direction Inbound
  Priority 100
  TTLSGroupActionRef {group}
  TTLSEnvironmentActionRef {env}
{conn_line}}}
"""


PLAIN_ENV = """
TTLSEnvironmentAction env
{
  HandshakeRole Server
  TTLSKeyringParmsRef ring
}
"""


@pytest.fixture
def sysa(fixture_text: Any) -> Policy:
    return parse_policy(fixture_text("sysa-tcpip.policy"))


def test_an_environment_that_sets_nothing_gets_tls_1_0_and_1_1_but_not_1_2_or_1_3() -> None:
    settings = effective_settings(policy_of(PLAIN_ENV + rule()), "App")

    assert dict(settings.protocols) == {
        Protocol.SSLV2: False,
        Protocol.SSLV3: False,
        V1: True,
        V11: True,
        V12: False,
        V13: False,
    }
    assert settings.enabled_protocols == (V1, V11)
    assert set(settings.protocol_sources.values()) == {"default"}
    assert DEFAULT_PROTOCOLS[V12] is False


def test_the_documented_defaults_fill_every_field_nobody_sets() -> None:
    settings = effective_settings(policy_of(PLAIN_ENV + rule()), "App")

    assert (
        settings.client_auth_type,
        settings.handshake_timeout,
        settings.trace,
        settings.application_controlled,
        settings.fips140,
        settings.secondary_map,
        settings.suite_b_profile,
        settings.renegotiation,
        settings.cert_validation_mode,
        settings.certificate_label,
    ) == ("Required", 10, 2, False, False, False, "Off", "Default", "Any", None)
    assert settings.sources["client_auth_type"] == "default"
    assert settings.sources["trace"] == "default"


def test_without_cipher_parms_the_system_ssl_default_list_applies_and_says_so() -> None:
    settings = effective_settings(policy_of(PLAIN_ENV + rule()), "App")

    assert settings.ciphers_from == "system-ssl-default"
    assert settings.v3_cipher_suites == ciphers.SYSTEM_SSL_DEFAULT_V3_CIPHERS
    assert settings.sources["v3_cipher_suites"] == "default"


def test_with_fips140_on_the_system_ssl_fips_default_list_applies() -> None:
    policy = policy_of(
        PLAIN_ENV
        + rule(group="fips")
        + """
TTLSGroupAction fips
{
  TTLSEnabled On
  FIPS140 On
}
"""
    )

    settings = effective_settings(policy, "App")

    assert settings.fips140 is True
    assert settings.sources["fips140"] == "group"
    assert settings.v3_cipher_suites == ciphers.SYSTEM_SSL_DEFAULT_V3_CIPHERS_FIPS


def test_the_signature_lists_default_to_what_z_os_3_1_shows() -> None:
    settings = effective_settings(policy_of(PLAIN_ENV + rule()), "App")

    assert settings.client_ecurves == tlsgroups.DEFAULT_CLIENT_ECURVES
    assert settings.server_key_share_groups == ("0023", "0024", "0025", "0029", "0030")
    assert settings.signature_pairs == tlsgroups.DEFAULT_SIGNATURE_PAIRS
    assert settings.signature_pairs_cert == ()


def test_the_sysa_tn3270_rule_gets_tls_1_2_and_1_3_from_its_environment(sysa: Policy) -> None:
    settings = effective_settings(sysa, "TN3270")

    assert settings.enabled_protocols == (V12, V13)
    assert settings.protocol_sources[V12] == "environment"
    assert settings.handshake_role == "Server"
    assert settings.keyring == "TCPIP/SharedRing"
    assert settings.client_auth_type == "Full"
    assert settings.v3_cipher_suites == ("1301", "1302", "C02B", "C02F", "C030")
    assert settings.ciphers_from == "environment"
    assert settings.trace == 6
    assert settings.sources["trace"] == "group"
    assert (settings.rule, settings.priority, settings.direction) == ("TN3270", 250, "Inbound")
    assert (settings.group_action, settings.environment_action, settings.connection_action) == (
        "grpMaster",
        "envServer",
        None,
    )


def test_a_connection_action_overrides_the_role_and_protocols_of_the_environment(
    sysa: Policy,
) -> None:
    settings = effective_settings(sysa, "MQToPartner")

    assert settings.handshake_role == "Client"
    assert settings.sources["handshake_role"] == "connection"
    assert settings.enabled_protocols == (V12,)
    assert settings.protocol_sources[V13] == "connection"
    assert settings.protocol_sources[V12] == "environment"


def test_a_connection_cipher_list_replaces_the_environment_list() -> None:
    policy = policy_of(
        """
TTLSEnvironmentAction env
{
  HandshakeRole Server
  TTLSKeyringParmsRef ring
  TTLSCipherParms
  {
    V3CipherSuites4Char 13011302C02F
  }
}
TTLSConnectionAction conn
{
  HandshakeRole Client
  TTLSCipherParmsRef partnerOnly
}
TTLSCipherParms partnerOnly
{
  V3CipherSuites4Char C030C030C02F
}
"""
        + rule(conn="conn")
    )

    settings = effective_settings(policy, "App")

    assert settings.v3_cipher_suites == ("C030", "C02F")  # a repeated code keeps its first place
    assert settings.ciphers_from == "connection"


def test_trace_comes_from_the_most_specific_action_that_sets_it() -> None:
    policy = policy_of(
        """
TTLSGroupAction traced
{
  TTLSEnabled On
  Trace 3
}
TTLSEnvironmentAction env
{
  HandshakeRole Server
  TTLSKeyringParmsRef ring
  Trace 7
}
TTLSEnvironmentAction quiet
{
  HandshakeRole Server
  TTLSKeyringParmsRef ring
}
TTLSConnectionAction conn
{
  Trace 255
}
"""
        + rule("ByConnection", conn="conn", group="traced")
        + rule("ByEnvironment", group="traced")
        + rule("ByGroup", env="quiet", group="traced")
    )

    got = {name: (s.trace, s.sources["trace"]) for name, s in effective_all(policy).items()}

    assert got == {
        "ByConnection": (255, "connection"),
        "ByEnvironment": (7, "environment"),
        "ByGroup": (3, "group"),
    }


def test_advanced_parms_resolve_alike_inline_and_by_reference() -> None:
    policy = policy_of(
        """
TTLSGroupAction grpMapped
{
  TTLSEnabled On
  TTLSGroupAdvancedParmsRef mapped
}
TTLSGroupAdvancedParms mapped
{
  SecondaryMap On
}
TTLSEnvironmentAction env
{
  HandshakeRole ServerWithClientAuth
  TTLSKeyringParms
  {
    Keyring ATTLSID/ATTLSRING
  }
  TTLSEnvironmentAdvancedParmsRef adv
  SuiteBProfile 128
}
TTLSEnvironmentAdvancedParms adv
{
  TLSv1.2 On
  HandshakeTimeout 30
  ApplicationControlled On
  CertificateLabel envCert
  ServerCertificateLabel envServerCert
  Renegotiation Disabled
  CertValidationMode RFC5280
  ClientAuthType SAFCheck
}
TTLSConnectionAction conn
{
  TTLSConnectionAdvancedParms
  {
    HandshakeTimeout 5
    CertificateLabel partnerCert
  }
}
"""
        + rule(conn="conn", group="grpMapped")
    )

    s = effective_settings(policy, "App")

    assert (s.keyring, s.handshake_role, s.suite_b_profile) == (
        "ATTLSID/ATTLSRING",
        "ServerWithClientAuth",
        "128",
    )
    assert (s.handshake_timeout, s.sources["handshake_timeout"]) == (5, "connection")
    assert (s.certificate_label, s.sources["certificate_label"]) == ("partnerCert", "connection")
    assert (s.server_certificate_label, s.sources["server_certificate_label"]) == (
        "envServerCert",
        "environment",
    )
    assert (s.application_controlled, s.renegotiation, s.cert_validation_mode) == (
        True,
        "Disabled",
        "RFC5280",
    )
    assert s.client_auth_type == "SAFCheck"
    assert (s.secondary_map, s.sources["secondary_map"]) == (True, "group")
    assert s.enabled_protocols == (V1, V11, V12)


def test_signature_lists_come_from_the_connection_then_the_environment_then_defaults() -> None:
    policy = policy_of(
        """
TTLSEnvironmentAction env
{
  HandshakeRole Server
  TTLSKeyringParmsRef ring
  TTLSSignatureParms
  {
    ClientKeyShareGroups 0029
    SignaturePairs 0401
  }
}
TTLSConnectionAction conn
{
  TTLSSignatureParmsRef strict
}
TTLSSignatureParms strict
{
  SignaturePairs 0403
}
"""
        + rule(conn="conn")
    )

    s = effective_settings(policy, "App")

    assert (s.signature_pairs, s.sources["signature_pairs"]) == (("0403",), "connection")
    assert (s.client_key_share_groups, s.sources["client_key_share_groups"]) == (
        ("0029",),
        "environment",
    )
    assert (s.server_kex_ecurves, s.sources["server_kex_ecurves"]) == (
        tlsgroups.DEFAULT_SERVER_KEX_ECURVES,
        "default",
    )


def test_a_cleartext_rule_says_so_and_still_previews_its_environment() -> None:
    policy = policy_of(
        PLAIN_ENV
        + rule(group="off")
        + """
TTLSGroupAction off
{
  TTLSEnabled Off
}
"""
    )

    s = effective_settings(policy, "App")

    assert s.ttls_enabled is False
    assert s.sources["ttls_enabled"] == "group"
    assert s.handshake_role == "Server"
    assert s.keyring == "TCPIP/SharedRing"


def test_a_cleartext_rule_without_environment_has_no_role_or_keyring(sysa: Policy) -> None:
    s = effective_settings(sysa, "LegacyFtp")

    assert (s.ttls_enabled, s.handshake_role, s.keyring, s.environment_action) == (
        False,
        None,
        None,
        None,
    )
    assert s.priority == 1
    assert s.enabled_protocols == (V1, V11)


def test_a_policy_built_in_code_with_a_missing_reference_resolves_as_if_it_were_absent() -> None:
    policy = Policy()
    policy.add(TTLSGroupAction("grp", ttls_enabled=True))
    policy.add(TTLSKeyringParms("ring", keyring="R"))
    policy.add(
        TTLSEnvironmentAction("env", handshake_role="Server", keyring_ref="ring", cipher_ref="gone")
    )
    built = TTLSRule(
        "Built",
        local_port_range=Ports(443, 443),
        direction="Inbound",
        group_action_ref="grp",
        environment_action_ref="env",
    )

    s = effective_for_rule(policy, built)

    assert s.ciphers_from == "system-ssl-default"
    assert s.keyring == "R"


def test_effective_settings_of_an_unknown_rule_raise_key_error(sysa: Policy) -> None:
    with pytest.raises(KeyError):
        effective_settings(sysa, "NoSuchRule")


def test_a_cipher_parms_without_v3_suites_does_not_replace_the_list() -> None:
    policy = Policy()
    policy.add(TTLSGroupAction("grp", ttls_enabled=True))
    policy.add(
        TTLSEnvironmentAction(
            "env",
            handshake_role="Server",
            keyring=TTLSKeyringParms(keyring="R"),
            cipher=TTLSCipherParms(v3_cipher_suites=("C02F",)),
        )
    )
    policy.add(TTLSCipherParms("v2only", v2_cipher_suites="3"))
    policy.add(TTLSConnectionAction("conn", cipher_ref="v2only"))
    policy.add(
        TTLSRule(
            "App",
            local_port_range=Ports(443, 443),
            direction="Inbound",
            group_action_ref="grp",
            environment_action_ref="env",
            connection_action_ref="conn",
        )
    )

    s = effective_settings(policy, "App")

    assert (s.v3_cipher_suites, s.ciphers_from) == (("C02F",), "environment")
