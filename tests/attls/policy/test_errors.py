"""Each class of bad input is reported at its exact line and column, and all of them at once."""

import time

import pytest

from attls.errors import PolicySyntaxError
from attls.policy import parse_policy

GROUP = "TTLSGroupAction g\n{\n  TTLSEnabled Off\n}\n"


def problems(text: str) -> list[tuple[int, int, str]]:
    with pytest.raises(PolicySyntaxError) as caught:
        parse_policy(text)
    return [(p.line, p.column, p.message) for p in caught.value.problems]


def test_an_unknown_statement_is_named_at_its_first_column():
    assert problems("TTLSRuel r\n{\n}\n") == [(1, 1, "unknown statement 'TTLSRuel'")]


def test_an_unknown_parameter_names_the_statement_it_is_in():
    text = GROUP.replace("  TTLSEnabled Off\n", "  TTLSEnabled Off\n  Trase 2\n")
    assert problems(text) == [(4, 3, "unknown parameter 'Trase' in TTLSGroupAction")]


def test_a_bad_value_points_at_the_value():
    text = "TTLSGroupAction g\n{\n  TTLSEnabled Maybe\n}\n"
    assert problems(text) == [(3, 15, "TTLSEnabled: expected On or Off, got 'Maybe'")]


def test_a_port_out_of_range_points_at_the_port():
    text = GROUP + "TTLSRule r\n{\n  LocalPortRange   70000\n  Direction Inbound\n"
    text += "  TTLSGroupActionRef g\n}\n"
    assert problems(text) == [(7, 20, "LocalPortRange: port 70000 is out of range 0-65535")]


def test_a_priority_out_of_range_is_refused():
    text = GROUP + "TTLSRule r\n{\n  LocalPortRange 23\n  Priority 2000000001\n"
    text += "  Direction Inbound\n  TTLSGroupActionRef g\n}\n"
    assert problems(text) == [
        (8, 12, "Priority: 2000000001 is out of range 1-2000000000"),
    ]


def test_a_name_over_32_characters_is_refused_at_the_name():
    long_name = "g" * 33
    text = f"TTLSGroupAction {long_name}\n{{\n  TTLSEnabled Off\n}}\n"
    assert problems(text) == [
        (1, 17, f"name '{long_name}' is 33 characters long; the limit is 32"),
    ]


def test_a_job_name_over_8_characters_is_refused():
    text = GROUP + "TTLSRule r\n{\n  Jobname TOOLONGJOB\n  Direction Inbound\n"
    text += "  TTLSGroupActionRef g\n}\n"
    assert problems(text) == [(7, 11, "Jobname: 'TOOLONGJOB' is longer than 8 characters")]


def test_a_dangling_reference_points_at_the_name_it_uses():
    text = "TTLSRule r\n{\n  LocalPortRange 23\n  Direction Inbound\n"
    text += "  TTLSGroupActionRef   nowhere\n}\n"
    assert problems(text) == [
        (5, 24, "TTLSGroupActionRef names TTLSGroupAction 'nowhere', which is not defined"),
    ]


def test_a_duplicate_name_points_at_the_second_definition():
    assert problems(GROUP + GROUP) == [
        (5, 17, "TTLSGroupAction 'g' is defined twice (first on line 1)"),
    ]


def test_the_same_name_for_different_statement_types_is_allowed():
    text = GROUP + "TTLSKeyringParms g\n{\n  Keyring R\n}\n"
    assert parse_policy(text).keyring_parms["g"].keyring == "R"


def test_missing_required_parameters_are_named():
    text = GROUP + "TTLSRule r\n{\n  LocalPortRange 23\n}\n"
    assert problems(text) == [
        (5, 1, "TTLSRule 'r' is missing Direction"),
        (5, 1, "TTLSRule 'r' is missing TTLSGroupActionRef"),
    ]


def test_a_rule_needs_a_condition():
    text = GROUP + "TTLSRule r\n{\n  Direction Inbound\n  TTLSGroupActionRef g\n}\n"
    assert problems(text) == [
        (
            5,
            1,
            "TTLSRule 'r' needs at least one condition: an address, a port, Jobname or Userid",
        ),
    ]


def test_a_group_with_ttls_enabled_needs_an_environment_on_the_rule():
    text = "TTLSGroupAction g\n{\n  TTLSEnabled On\n}\n"
    text += "TTLSRule r\n{\n  LocalPortRange 23\n  Direction Inbound\n  TTLSGroupActionRef g\n}\n"
    assert problems(text) == [
        (
            5,
            1,
            "TTLSRule 'r' uses TTLSGroupAction 'g', which has TTLSEnabled On, so it needs a"
            " TTLSEnvironmentActionRef",
        ),
    ]


def warnings(text: str) -> list[tuple[int, int, str]]:
    return [(p.line, p.column, p.message) for p in parse_policy(text).warnings]


def test_a_parameter_given_twice_is_a_warning_and_the_later_value_is_used():
    text = "TTLSGroupAction g\n{\n  TTLSEnabled On\n  TTLSEnabled Off\n}\n"
    [(line, column, message)] = warnings(text)
    assert (line, column) == (4, 3)
    assert message.startswith("TTLSEnabled is given again in TTLSGroupAction (first on line 3)")
    assert "inferred" in message
    assert parse_policy(text).group_actions["g"].ttls_enabled is False


def test_inline_and_reference_forms_together_warn_and_the_inline_block_wins():
    text = (
        "TTLSKeyringParms k\n{\n  Keyring R\n}\n"
        "TTLSEnvironmentAction e\n{\n  HandshakeRole Server\n  TTLSKeyringParmsRef k\n"
        "  TTLSKeyringParms\n  {\n    Keyring S\n  }\n}\n"
    )
    [(line, column, message)] = warnings(text)
    assert (line, column) == (5, 1)
    assert "uses the inline TTLSKeyringParms and ignores TTLSKeyringParmsRef k" in message
    assert "observed" in message


def test_a_reference_given_alongside_an_inline_block_must_still_exist():
    text = (
        "TTLSEnvironmentAction e\n{\n  HandshakeRole Server\n  TTLSKeyringParmsRef nope\n"
        "  TTLSKeyringParms\n  {\n    Keyring S\n  }\n}\n"
    )
    assert [line for line, _, _ in problems(text)] == [4]


def test_unbalanced_braces_are_reported_where_they_are():
    assert problems("}\n") == [(1, 1, "'}' has no matching '{'")]
    assert problems("TTLSGroupAction g\n{\n  TTLSEnabled Off\n") == [
        (1, 1, "'TTLSGroupAction' block is never closed"),
    ]


def test_a_cipher_constant_given_to_the_4char_form_is_ignored_with_a_warning():
    text = "TTLSCipherParms c\n{\n  V3CipherSuites4Char TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n}\n"
    [(line, column, message)] = warnings(text)
    assert (line, column) == (3, 23)
    assert message.startswith("V3CipherSuites4Char takes only 4-character hex codes")
    assert "Policy Agent ignores the line" in message
    assert parse_policy(text).cipher_parms["c"].v3_cipher_suites == ()


def test_a_4char_value_that_is_not_hex_codes_is_still_an_error():
    text = "TTLSCipherParms c\n{\n  V3CipherSuites4Char ZZZZ\n}\n"
    [(line, column, _)] = problems(text)
    assert (line, column) == (3, 23)


def test_every_problem_in_a_file_is_reported_not_only_the_first():
    text = (
        "TTLSGroupAction g\n{\n  TTLSEnabled Maybe\n}\n"  # bad value, line 3
        "Bogus x\n"  # unknown statement, line 5
        "TTLSRule r\n{\n  LocalPortRange 23\n  Direction Sideways\n"  # bad value, line 9
        "  TTLSGroupActionRef missing\n}\n"  # dangling, line 10
    )
    lines = [line for line, _, _ in problems(text)]
    assert lines == [3, 5, 9, 10]


def test_the_error_message_names_the_file_and_the_first_problem():
    with pytest.raises(PolicySyntaxError) as caught:
        parse_policy("Bogus x\nAlsoBogus y\n", source="/etc/pagent/TCPIP.policy")
    assert str(caught.value) == (
        "/etc/pagent/TCPIP.policy: line 1, column 1: unknown statement 'Bogus' (and 1 more)"
    )


def test_pagent_statements_in_a_policy_file_are_explained():
    assert problems("TTLSConfig /etc/x.policy\n") == [
        (
            1,
            1,
            "TTLSConfig belongs in pagent.conf or the image file, not in the AT-TLS policy file",
        ),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "{" * 16_000,  # took 69 s when columns were found by rescanning the line
        "{" * 2_000_000,
        "}{\n" * 600_000,
        '"{' * 1_000_000,
        "x\n" * 1_000_000,
        "TTLSRule " + "a " * 1_000_000,
        "TTLSGroupAction g\n{\n" + "TTLSEnabled On\n" * 133_000 + "}\n",
    ],
    ids=[
        "16k braces",
        "2M braces",
        "lines of }{",
        "quotes",
        "unknown lines",
        "long line",
        "133k parameter lines",
    ],
)
def test_hostile_files_are_refused_in_linear_time_with_problems_that_point_somewhere(text):
    started = time.process_time()
    with pytest.raises(PolicySyntaxError) as caught:
        parse_policy(text)
    # CPU time, so a busy machine does not fail it; the bench holds wall time to 1 s.
    # 3 s of CPU: two test processes share the cores, and the quadratic reading took 69 s.
    assert time.process_time() - started < 3.0
    assert 1 <= len(caught.value.problems) <= 1001
    assert all(p.line >= 1 and p.column >= 1 for p in caught.value.problems)


def test_a_quoted_value_is_read_without_its_quotes_and_warned_as_an_inference():
    text = 'TTLSKeyringParms k\n{\n  Keyring "RING1"\n}\n'
    [(line, column, message)] = warnings(text)
    assert (line, column) == (3, 11)
    assert "inferred" in message
    assert parse_policy(text).keyring_parms["k"].keyring == "RING1"


def test_a_number_where_an_address_belongs_is_installed_as_policy_agent_installs_it():
    text = (
        "TTLSRule r\n{\n  RemoteAddr 6793\n  Direction Outbound\n"
        "  TTLSGroupActionRef g\n}\nTTLSGroupAction g\n{\n  TTLSEnabled Off\n}\n"
    )
    [(line, column, message)] = warnings(text)
    assert (line, column) == (3, 14)
    assert "0.0.26.137" in message
    assert str(parse_policy(text).rules["r"].remote_addr) == "0.0.26.137"


def test_repeated_v2_cipher_suites_concatenate_as_ibm_documents():
    text = "TTLSCipherParms c\n{\n  V2CipherSuites 12\n  V2CipherSuites 3\n}\n"
    assert warnings(text) == []
    assert parse_policy(text).cipher_parms["c"].v2_cipher_suites == "123"


def test_repeated_ldap_servers_are_joined_with_a_warning_that_this_is_inferred():
    text = (
        "TTLSGskLdapParms l\n{\n  GSK_LDAP_SERVER ldap1.example.com\n"
        "  GSK_LDAP_SERVER ldap2.example.com\n  GSK_CRL_SECURITY_LEVEL High\n}\n"
    )
    [(line, _, message)] = warnings(text)
    assert line == 4 and "inferred" in message
    ldap = parse_policy(text).gsk_ldap_parms["l"]
    assert ldap.gsk_ldap_server == "ldap1.example.com ldap2.example.com"
    assert ldap.gsk_crl_security_level == "High"
