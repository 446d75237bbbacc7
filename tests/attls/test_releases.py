"""One row per z/OS release: its defaults and the suites it implements, each with a source."""

import pytest

from attls.ciphers import Protocol
from attls.effective import effective_settings
from attls.lint import lint
from attls.policy import parse_policy
from attls.releases import RELEASES, get_release, release_from_header

EMPTY_ENVIRONMENT = """\
TTLSRule r
{
  LocalPortRange 443
  Direction Inbound
  TTLSGroupActionRef g
  TTLSEnvironmentActionRef e
}
TTLSGroupAction g
{
  TTLSEnabled On
}
TTLSEnvironmentAction e
{
  HandshakeRole Server
  TTLSKeyringParmsRef k
}
TTLSKeyringParms k
{
  Keyring RING
}
"""


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_an_empty_environment_gets_the_protocols_and_ciphers_of_its_release(name: str):
    row = RELEASES[name]
    settings = effective_settings(parse_policy(EMPTY_ENVIRONMENT), "r", release=name)

    assert settings.release == name
    assert dict(settings.protocols) == dict(row.protocols)
    assert settings.v3_cipher_suites == row.v3_ciphers
    assert settings.ciphers_from == "system-ssl-default"
    for source in (row.protocols_source, row.ciphers_source, row.groups_source):
        assert len(source) > 40  # a sentence naming where the fact comes from
    assert row.not_implemented_source


def test_zos_3_2_turns_only_tls_1_2_on_and_defaults_to_four_ecdhe_gcm_suites():
    settings = effective_settings(parse_policy(EMPTY_ENVIRONMENT), "r", release="3.2")
    assert settings.enabled_protocols == (Protocol.TLSV1_2,)
    assert settings.v3_cipher_suites == ("C030", "C02C", "C02F", "C02B")
    older = effective_settings(parse_policy(EMPTY_ENVIRONMENT), "r", release="3.1")
    assert older.enabled_protocols == (Protocol.TLSV1, Protocol.TLSV1_1)


def test_a_suite_the_release_does_not_implement_is_dropped_and_is_a_lint_error_naming_it():
    text = EMPTY_ENVIRONMENT.replace(
        "  TTLSKeyringParmsRef k\n",
        "  TTLSKeyringParmsRef k\n  TTLSCipherParms\n  {\n"
        "    V3CipherSuites TLS_CHACHA20_POLY1305_SHA256\n"
        "    V3CipherSuites TLS_AES_128_GCM_SHA256\n  }\n",
    )
    policy = parse_policy(text)
    settings = effective_settings(policy, "r", release="3.1")
    assert settings.v3_cipher_suites == ("1301",)
    assert settings.not_implemented_suites == ("1303",)
    [finding] = [f for f in lint(policy, release="3.1") if f.code == "suite-not-implemented"]
    assert finding.severity == "error"
    assert "z/OS 3.1" in finding.message and "handshake" in finding.message


def test_the_release_is_read_from_a_report_header_in_either_spelling():
    assert release_from_header("TCP/IP pasearch CS 3.1    Image Name: TCPIP") == "3.1"
    assert release_from_header("EZZ2350I MVS TCP/IP NETSTAT CS V2R4  TCPIP Name: TCPIP") == "2.4"
    assert release_from_header("no release here") is None
    assert get_release(None).name == "3.1"
    with pytest.raises(KeyError):
        get_release("1.13")


TWO_RULES = """\
TTLSRule {first}
{{
  LocalPortRange 443
  Direction Inbound
  TTLSGroupActionRef g
  TTLSEnvironmentActionRef e
}}
TTLSRule {second}
{{
  LocalPortRange 443
  Direction Inbound
  TTLSGroupActionRef g
  TTLSEnvironmentActionRef e2
}}
TTLSGroupAction g
{{
  TTLSEnabled On
}}
TTLSEnvironmentAction e
{{
  HandshakeRole Server
  TTLSKeyringParmsRef k
}}
TTLSEnvironmentAction e2
{{
  HandshakeRole ServerWithClientAuth
  TTLSKeyringParmsRef k
}}
TTLSKeyringParms k
{{
  Keyring RING
}}
"""


@pytest.mark.parametrize(
    ("first", "second", "dependent"),
    [
        ("webA", "WEBB", True),  # case: EBCDIC puts lower case first, ASCII upper
        ("web1", "webA", True),  # digits after letters in EBCDIC, before them in ASCII
        ("web_x", "webx", True),
        ("webA", "webB", False),  # the same order under every collation
    ],
)
def test_an_equal_priority_tie_whose_winner_depends_on_the_collation_is_flagged(
    first: str, second: str, dependent: bool
):
    findings = lint(parse_policy(TWO_RULES.format(first=first, second=second)))
    codes = {f.code for f in findings}

    assert "shadowed-rule" in codes or "equal-priority-overlap" in codes
    assert ("collation-dependent-order" in codes) is dependent
    stated = [f for f in findings if f.code in ("shadowed-rule", "equal-priority-overlap")]
    assert all("this tool assumes EBCDIC collation" in f.message for f in stated)


def test_an_address_group_with_an_inline_address_set_is_read_and_matched():
    from attls.matching import Connection, RuleMatcher

    text = EMPTY_ENVIRONMENT.replace(
        "  LocalPortRange 443\n",
        "  LocalPortRange 443\n  RemoteAddrGroupRef partners\n",
    ) + (
        "IpAddrGroup partners\n{\n  IpAddrSet\n  {\n    Prefix 192.0.2.0/24\n  }\n"
        "  IpAddr\n  {\n    Addr 198.51.100.7\n  }\n}\n"
    )
    matcher = RuleMatcher(parse_policy(text))

    def hit(remote: str) -> bool:
        connection = Connection(
            local_addr="10.1.1.2",
            local_port=443,
            remote_addr=remote,
            remote_port=50000,
            jobname=None,
            userid=None,
            direction="Inbound",
        )
        return matcher.match(connection) is not None

    assert hit("192.0.2.77") and hit("198.51.100.7")
    assert not hit("203.0.113.1")


def test_a_label_with_a_blank_is_read_whole_with_a_warning_and_written_quoted():
    from attls.policy import render_policy

    text = EMPTY_ENVIRONMENT.replace(
        "  TTLSKeyringParmsRef k\n",
        "  TTLSKeyringParmsRef k\n  TTLSEnvironmentAdvancedParms\n  {\n"
        '    CertificateLabel Zowe Server\n    ServerCertificateLabel "Zowe Server"\n  }\n',
    )
    policy = parse_policy(text)
    advanced = policy.environment_actions["e"].advanced
    assert advanced is not None
    assert advanced.certificate_label == advanced.server_certificate_label == "Zowe Server"
    assert [w.line for w in policy.warnings] == [18, 19]
    assert all("inferred" in w.message for w in policy.warnings)
    assert '"Zowe Server"' in render_policy(policy)
    assert parse_policy(render_policy(policy)) == policy


def test_an_ipv4_mapped_address_is_refused_with_the_ipv4_form_to_write():
    from attls.errors import PolicySyntaxError

    text = EMPTY_ENVIRONMENT.replace(
        "  LocalPortRange 443\n", "  LocalPortRange 443\n  RemoteAddr ::ffff:10.1.1.1\n"
    )
    with pytest.raises(PolicySyntaxError) as caught:
        parse_policy(text)
    assert "IPv4-mapped" in caught.value.message and "write 10.1.1.1" in caught.value.message


@pytest.mark.parametrize(("spelled", "tlsv1"), [("V2R5", "On"), ("3.1", "On"), ("3.2", "Off")])
def test_the_pasearch_a_policy_gives_shows_the_defaults_of_the_release_however_spelled(
    spelled: str, tlsv1: str
):
    import datetime as dt

    from attls.reports.from_policy import pasearch_report

    report = pasearch_report(
        parse_policy(EMPTY_ENVIRONMENT),
        image="TCPIP",
        instance_id=1,
        installed_at=dt.datetime(2026, 1, 1),
        release=spelled,
    )
    environment = report.rules[0].detail("Environment")
    assert environment is not None
    assert environment.get("TTLSEnvironmentAdvancedParms", "TLSv1") == tlsv1
