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
