"""The validators of attls/values.py, the renderer's last-line refusal and the re-read check."""

import pytest

from attls import values
from attls.policy import (
    Policy,
    Ports,
    TTLSEnvironmentAction,
    TTLSEnvironmentAdvancedParms,
    TTLSGroupAction,
    TTLSKeyringParms,
    TTLSRule,
    render_policy,
)
from attls.policy.render_check import stored_text_problem, text_model_differences
from attls.policy.serialize import policy_to_dict

RTL_OVERRIDE = "\u202e"

ACCEPTED = [
    ("statement_name", "cipher1~AT-TLS__Gold"),
    ("statement_name", "TLSv1.2zOS1.13"),
    ("system_name", "SYSA"),
    ("system_name", "#SYS$@1"),
    ("job_name", "TCPIP"),
    ("job_name_pattern", "TN3270*"),
    ("job_name_pattern", "*"),
    ("user_id_pattern", "IZUSVR"),
    ("keyring", "TCPIP/SharedRing"),
    ("keyring", "start1/TN3270"),
    ("keyring", "dbgmgr.racf"),
    ("keyring", "*AUTH*/*"),
    ("keyring", "*TOKEN*/ATTLS.TOKEN"),
    ("keyring", "/etc/keys/server.kdb"),
    ("certificate_label", "SYSA.ATTLS.SERVER"),
    ("unix_path", "/etc/pagent/TCPIP.policy"),
    ("unix_directory", "/etc/pagent/"),
    ("ocsp_url", "http://ocsp.example.com/ocsp?x=1"),
    ("ocsp_url", "http://[2001:db8::1]:8080/"),
    ("host_name", "proxy.example.com"),
    ("host_name", "10.1.1.1"),
    ("ldap_servers", "ldap1.example.com ldap2.example.com:636"),
]

REFUSED = [
    ("statement_name", "r" * 33, "the limit is 32"),
    ("statement_name", "..", "only of dots"),
    ("statement_name", "ring" + RTL_OVERRIDE, "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("system_name", "A/B", "'/'"),
    ("system_name", "..", "starts with '.'"),
    ("system_name", "1SYS", "starts with '1'"),
    ("system_name", "SYSA\n", "line break"),
    ("system_name", "SYSTEMNINE", "the limit is 8"),
    ("system_name", "sysa", "capitals"),
    ("job_name", "TCP IP", "blank"),
    ("job_name_pattern", "TN#270*", "'#'"),
    ("job_name_pattern", "T*N", "last character"),
    ("job_name_pattern", "tn3270*", "capitals"),
    ("user_id_pattern", "9USER", "starts with '9'"),
    ("keyring", "TCPIP/Ring\n}\nTTLSRule hidden", "line break"),
    ("keyring", "TCPIP/Ring{", "'{'"),
    ("keyring", "TCPIP/Ring#x", "'#'"),
    ("keyring", "TCPIP/Ring x", "blank"),
    ("keyring", "TOOLONGUSER/Ring", "not a user ID"),
    ("keyring", "/etc/../pagent.conf", "'..'"),
    ("keyring", "A/" + "r" * 1030, "the limit is 1023"),
    ("certificate_label", "My Label", "blank"),
    ("certificate_label", "L" * 33, "the limit is 32"),
    ("certificate_label", 'say"hi', "'\"'"),
    ("unix_path", "etc/pagent/x", "absolute"),
    ("unix_path", "/etc/pagent/../pagent.conf", "'..'"),
    ("unix_path", "/etc//pagent.conf", "'//'"),
    ("unix_path", "/etc/pagent/x\x00", "U+0000"),
    ("unix_path", "/etc/pagent/a;rm", "';'"),
    ("keyring", "/etc/keys/", "names a directory"),
    ("unix_directory", "/etc/pagent", "must end with '/'"),
    ("ocsp_url", "https://ocsp.example.com", "http://"),
    ("ocsp_url", "http://ocsp.example.com/#frag", "'#'"),
    ("ocsp_url", "http://ocsp.example.com:99999/", "port 99999"),
    ("ocsp_url", "http://bad_host/", "not a host name"),
    ("host_name", "-bad.example.com", "not a host name"),
    ("ldap_servers", "a.example.com  b.example.com", "two blanks"),
]


@pytest.mark.parametrize(("kind", "value"), ACCEPTED)
def test_each_kind_accepts_what_policy_agent_accepts(kind, value):
    assert values.VALIDATORS[kind](value) == value


@pytest.mark.parametrize(("kind", "value", "reason"), REFUSED)
def test_each_kind_refuses_with_a_reason_a_person_can_act_on(kind, value, reason):
    with pytest.raises(values.ValueRefused) as refused:
        values.VALIDATORS[kind](value)

    assert reason in str(refused.value)
    assert "\n" not in str(refused.value)  # the message never carries the injected text


def test_job_names_and_lpar_names_take_the_same_national_characters() -> None:
    """IBM's JCL rule: 1-8 of A-Z 0-9 @ # $, the first not a digit. LPAR names are held to
    it by inference (the message says so); a Jobname in a policy file may not hold '#',
    which the file reads as a comment: refused with the reason, marked inferred."""
    for name in ("#TCPIP", "$TCP#1", "@SYS"):
        assert values.job_name(name) == name
        assert values.system_name(name) == name
        assert values.job_name_pattern(name.replace("#", "X")) == name.replace("#", "X")
    with pytest.raises(values.ValueRefused) as lpar:
        values.system_name("SYS%1")
    assert "A-Z, 0-9 and @ # $ (inferred: the JCL name rule)" in str(lpar.value)
    with pytest.raises(values.ValueRefused) as job:
        values.job_name("TCP%IP")
    assert "@ # $" in str(job.value) and "inferred" not in str(job.value)  # IBM says so
    with pytest.raises(values.ValueRefused) as pattern:
        values.job_name_pattern("TN#270*")
    reason = str(pattern.value)
    assert "z/OS allows it in job names" in reason and "'#' starts a comment" in reason
    assert "(inferred: IBM does not say whether '#' inside a value starts a comment)" in reason


def test_a_policy_file_outside_the_allowed_directories_is_refused():
    allowed = ["/etc/pagent/", "/u/attls/"]
    assert values.policy_file_path("/u/attls/SYSA.policy", allowed_prefixes=allowed)

    for path, reason in [
        ("/etc/pagent.conf", "not under a directory allowed"),
        ("/etc/pagent/", "names a directory"),
        ("/etc/pagent/../pagent.conf", "'..'"),
        ("/etc/pagent/x\ny", "line break"),
    ]:
        with pytest.raises(values.ValueRefused, match=reason):
            values.policy_file_path(path, allowed_prefixes=allowed)


def _policy(keyring: str = "TCPIP/Ring", label: str | None = None) -> Policy:
    policy = Policy()
    policy.add(
        TTLSRule(
            name="TN3270",
            local_port_range=Ports(992, 992),
            direction="Inbound",
            priority=100,
            group_action_ref="grp",
            environment_action_ref="env",
        )
    )
    policy.add(TTLSGroupAction(name="grp", ttls_enabled=True))
    policy.add(
        TTLSEnvironmentAction(
            name="env",
            handshake_role="Server",
            keyring_ref="ring",
            advanced=TTLSEnvironmentAdvancedParms(certificate_label=label),
        )
    )
    policy.add(TTLSKeyringParms(name="ring", keyring=keyring))
    return policy


INJECTION = (
    "TCPIP/Ring\n}\nTTLSRule hidden\n{\n  LocalPortRange 1-65535\n  Direction Both\n"
    "  Priority 2000000\n  TTLSGroupActionRef off\n}\nTTLSGroupAction off\n{\n"
    "  TTLSEnabled Off\n}\nTTLSKeyringParms x\n{\n  Keyring y"
)


def test_the_renderer_refuses_a_value_that_would_smuggle_in_a_rule():
    with pytest.raises(values.ValueRefused) as refused:
        render_policy(_policy(keyring=INJECTION))

    assert "TTLSKeyringParms ring: Keyring contains a line break" in str(refused.value)


@pytest.mark.parametrize(
    ("label", "reason"),
    [
        ("SRV#2", "'#', which starts a comment"),
        ("SRV}", "'}', which closes a block"),
        ("SRV\u2028X", "U+2028"),
        (f"SRV{RTL_OVERRIDE}", "not a printable character"),
        ("", "is empty"),
    ],
)
def test_the_renderer_refuses_every_character_that_changes_what_is_read(label, reason):
    with pytest.raises(values.ValueRefused) as refused:
        render_policy(_policy(label=label))

    assert "TTLSEnvironmentAdvancedParms: CertificateLabel" in str(refused.value)
    assert reason in str(refused.value)


def test_a_text_that_reads_back_as_its_model_has_no_differences():
    policy = _policy()
    text = render_policy(policy, header="test")

    assert text_model_differences(text, policy_to_dict(policy)) == []
    assert stored_text_problem(text, policy_to_dict(policy)) is None


def test_a_hidden_rule_in_the_text_is_named_as_a_difference_from_the_model():
    policy = _policy()
    text = render_policy(policy).replace(
        "TTLSKeyringParms                  ring",
        "TTLSRule hidden\n{\n  LocalPortRange 1-65535\n  Direction Both\n  Priority 2000000\n"
        "  TTLSGroupActionRef grp\n  TTLSEnvironmentActionRef env\n}\n\nTTLSKeyringParms ring",
    )

    differences = text_model_differences(text, policy_to_dict(policy))

    assert differences == ["TTLSRule hidden is in the text but not in the design"]
    problem = stored_text_problem(text, policy_to_dict(policy))
    assert problem is not None and "reads as a policy other than its model" in problem


def test_a_value_changed_in_the_text_is_named_with_both_values():
    policy = _policy()
    text = render_policy(policy).replace("TCPIP/Ring", "TCPIP/Other")

    assert text_model_differences(text, policy_to_dict(policy)) == [
        'TTLSKeyringParms ring: Keyring is "TCPIP/Ring" in the design but "TCPIP/Other" in the text'
    ]


def test_a_text_that_does_not_parse_is_named_as_such():
    policy = _policy()
    text = render_policy(policy).replace("Keyring                         TCPIP/Ring", "Keyring")

    problem = stored_text_problem(text, policy_to_dict(policy))

    assert problem is not None and problem.startswith("Its text does not parse: line ")
