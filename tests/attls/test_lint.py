"""Lint: one test per finding code, with its exact message and location, plus properties."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attls.ciphers import Protocol
from attls.lint import Finding, Profile, lint, rule_order
from attls.policy import (
    Location,
    Policy,
    TTLSGroupAction,
    TTLSRule,
    parse_policy,
)
from attls.policy.values import Ports
from tests.attls.test_matching import (
    connections,
    naive_candidates,
    small_policies,
)

# Lines 1-25: a group, a keyring, a TLS 1.2/1.3 environment and a cipher list, shared below.
SHARED = """TTLSGroupAction grp
{
  TTLSEnabled On
}
TTLSKeyringParms ring
{
  Keyring TCPIP/SharedRing
}
TTLSEnvironmentAction env
{
  HandshakeRole Server
  TTLSKeyringParmsRef ring
  TTLSEnvironmentAdvancedParmsRef modern
}
TTLSEnvironmentAdvancedParms modern
{
  TLSv1 Off
  TLSv1.1 Off
  TLSv1.2 On
  TLSv1.3 On
}
TTLSCipherParms aead
{
  V3CipherSuites4Char 13011302C02FC030
}
"""


def rule_text(
    name: str,
    *conditions: str,
    direction: str = "Inbound",
    priority: int | None = 100,
    group: str = "grp",
    env: str | None = "env",
    conn: str | None = None,
) -> str:
    lines = [f"TTLSRule {name}", "{", *(f"  {c}" for c in conditions)]
    lines.append(f"  Direction {direction}")
    if priority is not None:
        lines.append(f"  Priority {priority}")
    lines.append(f"  TTLSGroupActionRef {group}")
    if env:
        lines.append(f"  TTLSEnvironmentActionRef {env}")
    if conn:
        lines.append(f"  TTLSConnectionActionRef {conn}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def findings_of(policy: Policy, code: str, profile: Profile | None = None) -> list[Finding]:
    return [f for f in lint(policy, profile) if f.code == code]


def test_the_sysa_policy_is_clean_apart_from_its_cleartext_rule(fixture_text: Any) -> None:
    policy = parse_policy(fixture_text("sysa-tcpip.policy"))

    assert lint(policy, Profile.nist_800_52r2()) == [
        Finding(
            "warning",
            "cleartext-rule",
            "TTLSRule 'LegacyFtp' is cleartext because TTLSGroupAction 'grpOff' has TTLSEnabled"
            " Off",
            ("rules", "LegacyFtp"),
            Location(107, 1),
        )
    ]


def test_a_rule_covered_by_an_earlier_rule_is_reported_as_shadowed() -> None:
    policy = parse_policy(
        SHARED
        + "TTLSCipherParms unused2\n{\n  V3CipherSuites4Char C02F\n}\n"  # lines 26-29
        + rule_text("Wide", "LocalPortRange 8000-8999", "Jobname CICS*", priority=200)  # 30-38
        + rule_text("Narrow", "LocalPortRange 8443", "Jobname CICSA", "RemoteAddr 10.0.0.0/8")
    )

    assert findings_of(policy, "shadowed-rule") == [
        Finding(
            "warning",
            "shadowed-rule",
            "TTLSRule 'Narrow' can never match: TTLSRule 'Wide' is searched first (priority 200"
            " is higher than 100) and matches every connection that 'Narrow' would",
            ("rules", "Narrow"),
            Location(39, 1),
        )
    ]


def test_at_equal_priority_the_rule_whose_name_sorts_first_shadows_the_other() -> None:
    policy = parse_policy(
        SHARED + rule_text("beta", "LocalPortRange 443") + rule_text("Alpha", "LocalPortRange 443")
    )

    (finding,) = findings_of(policy, "shadowed-rule")
    # Names compare in EBCDIC, where lower case sorts before upper case.
    assert finding.message == (
        "TTLSRule 'Alpha' can never match: TTLSRule 'beta' is searched first (same priority 100,"
        " and 'beta' sorts first: PAGENT orders equal-priority rules alphabetically (IBM);"
        " this tool assumes EBCDIC collation) and matches every connection that 'Alpha' would"
    )
    assert finding.location == Location(34, 1)


def test_a_rule_is_not_claimed_shadowed_when_the_earlier_rule_leaves_a_gap() -> None:
    policy = parse_policy(
        SHARED
        + rule_text("Specific", "LocalPortRange 443", "Jobname APP1", priority=200)
        + rule_text("General", "LocalPortRange 443", "Jobname APP*")
        + rule_text("OtherSide", "LocalPortRange 443", direction="Outbound", priority=300)
        + rule_text("ZBothWays", "LocalPortRange 443", direction="Both")
    )

    assert findings_of(policy, "shadowed-rule") == []


def test_a_time_condition_on_the_earlier_rule_prevents_a_shadowing_claim() -> None:
    policy = parse_policy(
        SHARED + "TTLSRule Night\n{\n  LocalPortRange 443\n  Direction Inbound\n  Priority 200\n"
        "  TTLSGroupActionRef grp\n  TTLSEnvironmentActionRef env\n  IpTimeCondition\n  {\n"
        "    TimeOfDayRange 22:00-06:00\n  }\n}\n" + rule_text("Day", "LocalPortRange 443")
    )

    assert findings_of(policy, "shadowed-rule") == []


def test_overlapping_rules_at_equal_priority_with_different_actions_are_reported() -> None:
    policy = parse_policy(
        SHARED
        + "TTLSEnvironmentAction legacy\n{\n  HandshakeRole Server\n  TTLSKeyringParmsRef ring\n}\n"
        + rule_text("Apps", "LocalPortRange 8000-8999", "Jobname CICS*")  # line 31
        + rule_text("Cics", "LocalPortRange 8443", env="legacy")  # line 40
        + rule_text("Db2", "LocalPortRange 8000-8999", "Jobname DB2*", env="legacy")
    )

    assert findings_of(policy, "equal-priority-overlap") == [
        Finding(
            "warning",
            "equal-priority-overlap",
            "TTLSRule 'Cics' and TTLSRule 'Apps' have the same priority 100 and can match the"
            " same connections but use different actions; 'Apps' wins only because its name"
            " sorts first (PAGENT orders equal-priority rules alphabetically (IBM); this tool"
            " assumes EBCDIC collation)",
            ("rules", "Cics"),
            Location(40, 1),
        )
    ]


def test_a_clash_with_a_shadowed_rule_is_not_reported_because_that_rule_never_wins() -> None:
    # Found by the property below. In EBCDIC 'z' sorts before 'Y', both match inbound
    # connections to port 443 and their actions differ; but 'a' shadows 'z', so every
    # connection the two share goes to 'a', whose actions are those of 'Y': name order
    # decides nothing.
    legacy = (
        "TTLSEnvironmentAction legacy\n{\n  HandshakeRole Server\n  TTLSKeyringParmsRef ring\n}\n"
    )
    clash = rule_text("z", "LocalPortRange 443", env="legacy") + rule_text(
        "Y", "LocalPortRange 443", direction="Both"
    )
    policy = parse_policy(SHARED + legacy + rule_text("a", "LocalPortRange 443") + clash)

    assert [f.message for f in findings_of(policy, "shadowed-rule")] == [
        "TTLSRule 'z' can never match: TTLSRule 'a' is searched first (same priority 100, and"
        " 'a' sorts first: PAGENT orders equal-priority rules alphabetically (IBM); this tool"
        " assumes EBCDIC collation) and matches every connection that 'z' would"
    ]
    assert findings_of(policy, "equal-priority-overlap") == []
    # Without 'a', 'z' wins the inbound connections 'Y' would take only by name order.
    (finding,) = findings_of(parse_policy(SHARED + legacy + clash), "equal-priority-overlap")
    assert finding.statement == ("rules", "Y")
    assert finding.message.startswith("TTLSRule 'Y' and TTLSRule 'z' have the same priority")


def test_rules_at_equal_priority_that_cannot_meet_are_not_reported() -> None:
    policy = parse_policy(
        SHARED
        + "TTLSEnvironmentAction legacy\n{\n  HandshakeRole Server\n  TTLSKeyringParmsRef ring\n}\n"
        + rule_text("A1", "LocalPortRange 8443", "Jobname CICS*")
        + rule_text("A2", "LocalPortRange 8443", "Jobname DB2*", env="legacy")
        + rule_text("A3", "LocalPortRange 8444", env="legacy")
        + rule_text(
            "A4", "LocalPortRange 8443", "Jobname CICS*", direction="Outbound", env="legacy"
        )
    )

    assert findings_of(policy, "equal-priority-overlap") == []


def test_a_rule_whose_group_is_off_is_reported_as_cleartext() -> None:
    policy = parse_policy(
        SHARED
        + "TTLSGroupAction master\n{\n  TTLSEnabled Off\n}\n"
        + rule_text("Tn3270", "LocalPortRange 992", group="master")
    )

    assert findings_of(policy, "cleartext-rule") == [
        Finding(
            "warning",
            "cleartext-rule",
            "TTLSRule 'Tn3270' is cleartext because TTLSGroupAction 'master' has TTLSEnabled Off",
            ("rules", "Tn3270"),
            Location(30, 1),
        )
    ]


def test_a_reference_to_a_missing_statement_in_a_policy_built_in_code_is_an_error() -> None:
    policy = Policy()
    policy.add(TTLSGroupAction("grp", ttls_enabled=False))
    policy.add(
        TTLSRule(
            "Partner",
            remote_port_range=Ports(6514, 6514),
            remote_addr_group_ref="siemHosts",
            direction="Outbound",
            group_action_ref="grp",
        )
    )

    assert findings_of(policy, "dangling-reference") == [
        Finding(
            "error",
            "dangling-reference",
            "TTLSRule 'Partner' names IpAddrGroup 'siemHosts', which is not defined",
            ("rules", "Partner"),
            None,
        )
    ]


def test_an_enabled_rule_built_in_code_without_an_environment_is_an_error() -> None:
    policy = Policy()
    policy.add(TTLSGroupAction("grp", ttls_enabled=True))
    policy.add(
        TTLSRule(
            "Draft", local_port_range=Ports(443, 443), direction="Inbound", group_action_ref="grp"
        )
    )

    assert [(f.code, f.message) for f in lint(policy)] == [
        (
            "missing-environment",
            "TTLSRule 'Draft' uses TTLSGroupAction 'grp', which has TTLSEnabled On, but names no"
            " TTLSEnvironmentAction",
        )
    ]


def test_statements_no_rule_uses_are_reported_as_unused() -> None:
    policy = parse_policy(
        SHARED
        + "TTLSKeyringParms oldRing\n{\n  Keyring TCPIP/OldRing\n}\n"  # line 26
        + "TTLSEnvironmentAction oldEnv\n{\n  HandshakeRole Server\n"  # line 30
        "  TTLSKeyringParmsRef oldRing\n}\n"
        + "PortRange mqPorts\n{\n  Port 1414-1415\n}\n"  # line 35
        + rule_text("App", "LocalPortRange 443")
    )

    assert findings_of(policy, "unused-object") == [
        Finding(
            "warning",
            "unused-object",
            "TTLSCipherParms 'aead' is not used by any rule: nothing refers to it",
            ("cipher_parms", "aead"),
            Location(22, 1),
        ),
        Finding(
            "warning",
            "unused-object",
            "TTLSKeyringParms 'oldRing' is not used by any rule: only unused statements refer"
            " to it",
            ("keyring_parms", "oldRing"),
            Location(26, 1),
        ),
        Finding(
            "warning",
            "unused-object",
            "TTLSEnvironmentAction 'oldEnv' is not used by any rule: nothing refers to it",
            ("environment_actions", "oldEnv"),
            Location(30, 1),
        ),
        Finding(
            "warning",
            "unused-object",
            "PortRange 'mqPorts' is not used by any rule: nothing refers to it",
            ("port_ranges", "mqPorts"),
            Location(35, 1),
        ),
    ]


def env_text(name: str, *advanced: str, cipher: str | None = None, role: str = "Server") -> str:
    lines = [f"TTLSEnvironmentAction {name}", "{", f"  HandshakeRole {role}"]
    lines.append("  TTLSKeyringParmsRef ring")
    if advanced:
        lines += ["  TTLSEnvironmentAdvancedParms", "  {", *(f"    {a}" for a in advanced), "  }"]
    if cipher:
        lines += ["  TTLSCipherParms", "  {", f"    V3CipherSuites4Char {cipher}", "  }"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def settings_findings(env: str, code: str, profile: Profile | None = None) -> list[Finding]:
    """Findings of one code for a rule `App` (at line 26) that uses environment `e`."""
    policy = parse_policy(SHARED + rule_text("App", "LocalPortRange 443", env="e") + env)
    found = findings_of(policy, code, profile)
    assert all(f.location == Location(26, 1) for f in found)
    return found


def test_every_protocol_off_is_an_error() -> None:
    env = env_text("e", "TLSv1 Off", "TLSv1.1 Off", cipher="C02F")

    assert [f.message for f in settings_findings(env, "no-protocol")] == [
        "TTLSRule 'App' has every protocol Off, so no handshake can succeed"
    ]


def test_tls_1_2_and_1_3_off_leaves_only_tls_1_0_and_1_1() -> None:
    env = env_text("e", cipher="C013C014")

    assert [f.message for f in settings_findings(env, "no-modern-protocol")] == [
        "TTLSRule 'App' has TLSv1.2 and TLSv1.3 Off, so only TLSv1 and TLSv1.1 can be negotiated"
    ]


def test_a_tls_1_3_only_cipher_list_with_tls_1_3_off_is_an_error() -> None:
    env = env_text("e", "TLSv1 Off", "TLSv1.1 Off", "TLSv1.2 On", cipher="13011302")

    assert [(f.severity, f.message) for f in settings_findings(env, "no-usable-cipher")] == [
        (
            "error",
            "TTLSRule 'App' lists only TLS 1.3 cipher suites (1301, 1302) but TLSv1.3 is Off,"
            " so no handshake can succeed",
        )
    ]


def test_a_cipher_list_no_enabled_protocol_can_use_is_an_error() -> None:
    env = env_text("e", "TLSv1 Off", "TLSv1.1 Off", "TLSv1.3 On", cipher="C02FC030")

    assert [f.message for f in settings_findings(env, "no-usable-cipher")] == [
        "TTLSRule 'App' lists no cipher suite usable with TLSv1.3, so no handshake can succeed"
    ]


def test_tls_1_3_on_with_the_system_ssl_default_list_cannot_be_negotiated() -> None:
    env = env_text("e", "TLSv1 Off", "TLSv1.1 Off", "TLSv1.2 On", "TLSv1.3 On")

    assert [(f.severity, f.message) for f in settings_findings(env, "protocol-without-cipher")] == [
        (
            "warning",
            "TTLSRule 'App' has TLSv1.3 On but uses the System SSL default cipher list, which has"
            " no cipher suite usable with it, so TLSv1.3 cannot be negotiated",
        )
    ]


def test_a_protocol_the_profile_does_not_allow_is_reported_with_the_protocols() -> None:
    env = env_text("e", "TLSv1.2 On", cipher="C02FC030")

    found = settings_findings(env, "profile-protocol", Profile.nist_800_52r2())

    assert [(f.severity, f.message) for f in found] == [
        (
            "error",
            "TTLSRule 'App' enables TLSv1 and TLSv1.1, which profile 'NIST SP 800-52r2' does not"
            " allow",
        )
    ]


def test_a_cipher_suite_the_profile_does_not_allow_is_reported_by_code_and_name() -> None:
    env = env_text("e", "TLSv1 Off", "TLSv1.1 Off", "TLSv1.2 On", cipher="C02F009CC027")

    nist = settings_findings(env, "profile-cipher", Profile.nist_800_52r2())
    strict = settings_findings(env, "profile-cipher", Profile.tls12_13_aead_ecdhe())

    assert [f.message for f in nist] == [
        "TTLSRule 'App' lists cipher suites that profile 'NIST SP 800-52r2' does not allow:"
        " 009C TLS_RSA_WITH_AES_128_GCM_SHA256"
    ]
    assert [f.message for f in strict] == [
        "TTLSRule 'App' lists cipher suites that profile 'TLS 1.2/1.3 AEAD with ECDHE' does not"
        " allow: 009C TLS_RSA_WITH_AES_128_GCM_SHA256, C027 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"
    ]


def test_the_profiles_allow_what_the_scenario_shared_environment_uses() -> None:
    nist, strict = Profile.nist_800_52r2(), Profile.tls12_13_aead_ecdhe()
    scenario = {"1301", "1302", "C02B", "C02C", "C02F", "C030"}

    assert (
        nist.allowed_protocols == strict.allowed_protocols == {Protocol.TLSV1_2, Protocol.TLSV1_3}
    )
    assert scenario <= nist.allowed_ciphers and scenario <= strict.allowed_ciphers
    assert "1303" not in nist.allowed_ciphers  # ChaCha20 is not on the SP 800-52r2 lists
    assert "C013" in nist.allowed_ciphers and "C013" not in strict.allowed_ciphers  # CBC
    assert "009E" in nist.allowed_ciphers and "009E" not in strict.allowed_ciphers  # DHE


def test_a_server_role_on_an_outbound_rule_is_reported() -> None:
    policy = parse_policy(
        SHARED
        + rule_text("Siem", "RemotePortRange 6514", direction="Outbound")  # line 26
        + "TTLSConnectionAction serverConn\n{\n  HandshakeRole Server\n}\n"
        + rule_text("Partner", "RemotePortRange 1414", direction="Outbound", conn="serverConn")
    )

    assert findings_of(policy, "handshake-role-direction") == [
        Finding(
            "warning",
            "handshake-role-direction",
            "TTLSRule 'Siem' is Outbound but gets HandshakeRole Server from TTLSEnvironmentAction"
            " 'env'; add a TTLSConnectionAction with HandshakeRole Client",
            ("rules", "Siem"),
            Location(26, 1),
        ),
        Finding(
            "warning",
            "handshake-role-direction",
            "TTLSRule 'Partner' is Outbound but gets HandshakeRole Server from"
            " TTLSConnectionAction 'serverConn'; set HandshakeRole Client there",
            ("rules", "Partner"),
            Location(38, 1),
        ),
    ]


def test_a_client_role_on_an_inbound_rule_is_reported_and_a_client_connection_action_is_not() -> (
    None
):
    policy = parse_policy(
        SHARED
        + "TTLSConnectionAction client\n{\n  HandshakeRole Client\n}\n"
        + rule_text("Inbound", "LocalPortRange 443", conn="client")  # line 30
        + rule_text("Outbound", "RemotePortRange 443", direction="Outbound", conn="client")
    )

    assert findings_of(policy, "handshake-role-direction") == [
        Finding(
            "warning",
            "handshake-role-direction",
            "TTLSRule 'Inbound' is Inbound but gets HandshakeRole Client from TTLSConnectionAction"
            " 'client'; an inbound connection normally needs Server or ServerWithClientAuth",
            ("rules", "Inbound"),
            Location(30, 1),
        )
    ]


def test_when_the_search_is_bounded_lint_says_which_rules_it_did_not_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rule_order, "MAX_CANDIDATES", 1)
    policy = parse_policy(
        SHARED
        + rule_text("R1", "LocalPortRange 443", "RemotePortRange 5000-9000")
        + rule_text("R2", "LocalPortRange 443", "RemotePortRange 3000-9000")
        + rule_text("R3", "LocalPortRange 443", "RemotePortRange 1000-4000")
    )

    assert findings_of(policy, "check-bounded") == [
        Finding(
            "info",
            "check-bounded",
            "Shadowing and overlaps were not checked for TTLSRule 'R3': each has more than 1"
            " earlier rules to compare with",
        )
    ]


# --- properties ----------------------------------------------------------------------------------


@st.composite
def policies_with_varied_actions(draw: Any) -> Policy:
    policy: Policy = draw(small_policies())
    policy.add(TTLSGroupAction("g2", ttls_enabled=False))
    for name, rule in list(policy.rules.items()):
        group = draw(st.sampled_from(["g", "g2"]))
        policy.rules[name] = dataclasses.replace(rule, group_action_ref=group)
    return policy


@settings(max_examples=300, deadline=None)
@given(policy=policies_with_varied_actions(), conns=st.lists(connections, min_size=1, max_size=10))
def test_a_rule_reported_as_shadowed_never_wins_and_every_equal_priority_clash_is_reported(
    policy: Policy, conns: list[Any]
) -> None:
    findings = lint(policy)
    shadowed = {f.statement[1] for f in findings if f.code == "shadowed-rule" and f.statement}
    overlapping = {
        f.statement[1] for f in findings if f.code == "equal-priority-overlap" and f.statement
    }
    for conn in conns:
        matching = naive_candidates(policy, conn)
        assert not matching or matching[0] not in shadowed, (matching, shadowed)
        for i, earlier in enumerate(matching):
            for later in matching[i + 1 :]:
                a, b = policy.rules[earlier], policy.rules[later]
                # A shadowed rule never wins, so neither rule of a pair with one is decided
                # by name order: the connection goes to the earlier rule that covers it.
                if (
                    a.effective_priority == b.effective_priority
                    and a.group_action_ref != b.group_action_ref
                    and earlier not in shadowed
                    and later not in shadowed
                ):
                    assert later in overlapping, (earlier, later)
