import re

from attls.effective import effective_settings
from attls.lint import lint
from attls.policy import Ports, parse_policy, render_policy
from policies import services
from policies.generation import stack_policy


def test_each_included_service_becomes_a_rule_referencing_the_shared_objects(stack, make_service):
    make_service("TN3270A", 992)
    make_service("TN3270B", 993, included=False)

    policy = stack_policy(stack)

    assert sorted(policy.rules) == ["TN3270A"]
    rule = policy.rules["TN3270A"]
    assert rule.local_port_range == Ports(992, 992)
    assert rule.jobname == "TN3270*"
    assert rule.group_action_ref == "grpMaster"
    assert rule.environment_action_ref == "envTls12_13"
    environment = policy.environment_actions["envTls12_13"]
    assert environment.keyring_ref == "ringShared"
    assert environment.cipher_ref == "ciphersAead"
    assert environment.advanced is not None
    assert (environment.advanced.tlsv1, environment.advanced.tlsv1_1) == (False, False)
    assert (environment.advanced.tlsv1_2, environment.advanced.tlsv1_3) == (True, True)
    assert policy.keyring_parms["ringShared"].keyring == "TCPIP/SharedRing"
    assert policy.cipher_parms["ciphersAead"].v3_cipher_suites == ("1301", "1302", "C02B", "C02F")


def test_the_generated_policy_is_a_valid_policy_file(stack, make_service):
    make_service("TN3270A", 992)
    make_service("FTPD", 21, jobname="FTPD*", remote_address="10.0.0.0/8")

    text = render_policy(stack_policy(stack))

    assert parse_policy(text) == stack_policy(stack)


def test_rule_overrides_become_a_connection_action_named_after_the_rule(
    stack, make_service, shared, architect
):
    service = make_service("MQPARTNER", 1414, direction="Outbound", jobname="CSQ1CHIN")
    services.service_update(
        actor=architect,
        service=service,
        fields={"override_tlsv1_3": "Off"},
        expected_revision=service.revision,
    )

    policy = stack_policy(stack)

    assert policy.rules["MQPARTNER"].connection_action_ref == "MQPARTNER"
    connection = policy.connection_actions["MQPARTNER"]
    assert connection.advanced is not None and connection.advanced.tlsv1_3 is False


def test_query_count_does_not_grow_with_the_number_of_services(
    stack, make_service, django_assert_max_num_queries
):
    for index in range(30):
        make_service(f"SVC{index:02d}", 2000 + index)

    with django_assert_max_num_queries(4):
        policy = stack_policy(stack)
    assert len(policy.rules) == 30


HARDENED = {
    "server_kex_ecurves": ["0023", "0024"],
    "server_key_share_groups": ["0023", "0024"],
    "client_ecurves": ["0023", "0024"],
    "client_key_share_groups": ["0023", "0024"],
    "signature_pairs": ["0601", "0603", "0501", "0503", "0401", "0403"],
    "peer_min_cert_version": "3",
    "peer_min_rsa_key_size": 2048,
    "peer_min_ecc_key_size": 256,
    "peer_min_dh_key_size": 2048,
    "peer_min_dsa_key_size": 2048,
    "revocation_security_level": "Medium",
    "ocsp_aia_enable": True,
    "ocsp_url": "http://ocsp.example.com/ocsp",
    "ocsp_server_stapling": True,
}


def harden(shared, architect, **fields):
    environment = shared["environment"]
    return services.shared_object_update(
        actor=architect,
        obj=environment,
        fields=HARDENED | fields,
        expected_revision=environment.revision,
    )


def test_an_environment_that_sets_no_signature_or_revocation_parameter_writes_none(
    stack, make_service
):
    make_service("TN3270A", 992)

    environment = stack_policy(stack).environment_actions["envTls12_13"]

    assert environment.signature is None and environment.gsk_advanced is None
    assert environment.advanced is not None
    assert environment.advanced.peer_min_rsa_key_size is None
    text = render_policy(stack_policy(stack))
    assert "TTLSSignatureParms" not in text and "PeerMin" not in text


def test_signature_key_size_and_ocsp_settings_become_inline_blocks_of_the_environment(
    stack, make_service, shared, architect
):
    harden(shared, architect)
    make_service("TN3270A", 992)

    environment = stack_policy(stack).environment_actions["envTls12_13"]

    assert environment.signature is not None
    assert environment.signature.server_kex_ecurves == ("0023", "0024")
    assert environment.signature.client_ecurves == ("0023", "0024")
    assert environment.signature.signature_pairs[:2] == ("0601", "0603")
    assert environment.advanced is not None
    assert environment.advanced.peer_min_rsa_key_size == 2048
    assert environment.advanced.peer_min_ecc_key_size == 256
    assert environment.advanced.peer_min_cert_version == "3"
    gsk = environment.gsk_advanced
    assert gsk is not None and gsk.revocation_security_level == "Medium"
    assert gsk.gsk_ocsp is not None
    assert gsk.gsk_ocsp.ocsp_server_stapling is True
    assert gsk.gsk_ocsp.ocsp_aia_enable is True
    assert gsk.gsk_ocsp.ocsp_url == "http://ocsp.example.com/ocsp"


def test_the_hardened_policy_renders_lints_and_parses_back_to_the_same_effective_settings(
    stack, make_service, shared, architect
):
    harden(shared, architect)
    make_service("TN3270A", 992)
    make_service("MQOUT", 0, direction="Outbound", local_port_low=0, local_port_high=0)
    policy = stack_policy(stack)

    text = render_policy(policy)
    parsed = parse_policy(text)

    assert parsed == policy
    assert "ServerKexECurves" in text, text
    assert re.search(r"OcspServerStapling\s+On\n", text)
    assert not [f for f in lint(parsed) if f.severity == "error"]
    for name in policy.rules:
        assert effective_settings(parsed, name) == effective_settings(policy, name)
    settings = effective_settings(parsed, "TN3270A")
    assert settings.server_kex_ecurves == ("0023", "0024")
    assert settings.server_key_share_groups == ("0023", "0024")
    assert settings.client_ecurves == ("0023", "0024")
    assert settings.sources["server_kex_ecurves"] == "environment"
