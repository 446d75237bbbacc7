import ipaddress

from attls.policy import (
    Address,
    Ports,
    TTLSEnvironmentAdvancedParms,
    parse_policy,
    render_policy,
)


def test_a_hand_written_policy_is_read_into_the_typed_model(fixture_text):
    policy = parse_policy(fixture_text("sysa-tcpip.policy"))

    assert sorted(policy.rules) == ["LegacyFtp", "MQChannelsIn", "MQToPartner", "TN3270"]
    tn3270 = policy.rules["TN3270"]
    assert tn3270.local_port_range == Ports(992, 992)
    assert tn3270.jobname == "TN3270*"
    assert tn3270.direction == "Inbound"
    assert tn3270.priority == 250
    assert tn3270.group_action_ref == "grpMaster"
    assert tn3270.environment_action_ref == "envServer"
    assert tn3270.connection_action_ref is None

    assert policy.rules["MQChannelsIn"].local_port_range_ref == "mqPorts"
    assert policy.port_ranges["mqPorts"].port == Ports(1414, 1415)
    assert policy.rules["LegacyFtp"].priority is None
    assert policy.rules["LegacyFtp"].effective_priority == 1
    assert policy.rules["LegacyFtp"].local_addr == Address(
        "prefix",
        ipaddress.ip_address("10.1.0.0"),
        ipaddress.ip_address("10.1.255.255"),
        16,
    )


def test_keywords_and_keyword_values_are_read_in_any_case_and_kept_in_ibm_casing(fixture_text):
    policy = parse_policy(fixture_text("sysa-tcpip.policy"))

    environment = policy.environment_actions["envServer"]
    assert environment.handshake_role == "Server"
    assert environment.keyring_ref == "ringShared"
    assert environment.advanced == TTLSEnvironmentAdvancedParms(
        tlsv1=False, tlsv1_1=False, tlsv1_2=True, tlsv1_3=True, client_auth_type="Full"
    )


def test_cipher_lines_of_every_form_concatenate_in_order(fixture_text):
    policy = parse_policy(fixture_text("sysa-tcpip.policy"))

    assert policy.cipher_parms["ciphersModern"].v3_cipher_suites == (
        "1301",
        "1302",
        "C02B",
        "C02F",
        "C030",
    )


def test_address_groups_hold_inline_addresses_and_references(fixture_text):
    policy = parse_policy(fixture_text("sysa-tcpip.policy"))

    group = policy.ip_addr_groups["partnerHosts"]
    assert [str(ip.addr) for ip in group.ip_addrs] == ["192.0.2.10", "192.0.2.11"]
    assert group.ip_addr_set_refs == ("partnerNets",)
    address_set = policy.ip_addr_sets["partnerNets"]
    assert [str(a) for a in address_set.prefixes] == ["198.51.100.0/24"]
    assert [str(a) for a in address_set.ranges] == ["203.0.113.5-203.0.113.9"]


def test_where_each_statement_was_defined_is_kept_beside_the_model(fixture_text):
    policy = parse_policy(fixture_text("sysa-tcpip.policy"))

    assert policy.locations[("group_actions", "grpMaster")].line == 4
    assert policy.locations[("group_actions", "grpMaster")].column == 1
    assert policy.locations[("rules", "TN3270")].line == 75


def test_references_may_point_forward_and_names_are_case_sensitive():
    text = """
TTLSRule r1
{
  LocalPortRange 23
  Direction Inbound
  TTLSGroupActionRef Grp
}
TTLSGroupAction Grp
{
  TTLSEnabled Off
}
TTLSGroupAction grp
{
  TTLSEnabled Off
}
"""
    policy = parse_policy(text)
    assert set(policy.group_actions) == {"Grp", "grp"}


def test_braces_on_the_same_line_are_read_too():
    text = (
        "IpAddr one { Addr 10.0.0.1 }\n"
        "TTLSGroupAction g { TTLSEnabled Off }\n"
        "TTLSRule r { RemoteAddrRef one\n Direction Outbound\n TTLSGroupActionRef g }\n"
    )
    policy = parse_policy(text)
    assert policy.rules["r"].remote_addr_ref == "one"


def test_the_canonical_text_of_a_parsed_file_parses_back_to_the_same_model(fixture_text):
    policy = parse_policy(fixture_text("sysa-tcpip.policy"))

    text = render_policy(policy)

    assert parse_policy(text) == policy
    assert render_policy(parse_policy(text)) == text


def test_the_canonical_text_puts_braces_alone_and_one_parameter_per_line(fixture_text):
    text = render_policy(parse_policy(fixture_text("sysa-tcpip.policy")))
    lines = text.splitlines()

    assert "{" in lines and "}" in lines
    for line in lines:
        stripped = line.strip()
        if stripped in ("{", "}", ""):
            continue
        assert "{" not in stripped and "}" not in stripped
        assert len(stripped.split()) <= 2, line
    # Rules come in the order Policy Agent searches them: priority first.
    rule_lines = [line.split()[1] for line in lines if line.startswith("TTLSRule")]
    assert rule_lines == ["MQToPartner", "TN3270", "MQChannelsIn", "LegacyFtp"]
    assert "  V3CipherSuites                  TLS_AES_128_GCM_SHA256" in lines
    assert "    TLSv1.2                       On" in lines
