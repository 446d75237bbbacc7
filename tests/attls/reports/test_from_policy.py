"""The pasearch report of a loaded policy, and the comparison with the published one."""

import dataclasses
import datetime as dt

from attls.policy import parse_policy
from attls.reports.compare import Difference, compare_report
from attls.reports.from_policy import pasearch_report
from attls.reports.pasearch import parse_pasearch, render_pasearch

INSTALLED = dt.datetime(2026, 11, 24, 4, 52, 19)


def report_for(policy):
    return pasearch_report(policy, image="TCPIP", instance_id=1795496339, installed_at=INSTALLED)


def test_the_report_of_a_policy_parses_back_to_the_same_report(fixture_text):
    report = report_for(parse_policy(fixture_text("sysa-tcpip.policy")))

    text = render_pasearch(report)
    parsed = parse_pasearch(text)

    assert parsed == report
    assert parsed.warnings == []
    assert "  TTLS Instance Id:     1795496339" in text.splitlines()
    assert "  Policy created: Tue Nov 24 04:52:19 2026" in text.splitlines()


def test_rules_come_in_search_order_with_their_conditions_and_actions(fixture_text):
    report = report_for(parse_policy(fixture_text("sysa-tcpip.policy")))

    assert [rule.name for rule in report.rules] == [
        "MQToPartner",
        "TN3270",
        "MQChannelsIn",
        "LegacyFtp",
    ]
    partner = report.rules[0]
    assert partner.priority == partner.weight == 300
    assert partner.condition.remote_port_from == partner.condition.remote_port_to == 1414
    assert partner.condition.job_name == "CSQ1CHIN"
    assert partner.condition.direction == "Outbound"
    assert [a.name for a in partner.actions] == ["grpMaster", "envServer", "connClient"]
    mq_in = report.rules[2]
    assert (mq_in.condition.local_port_from, mq_in.condition.local_port_to) == (1414, 1415)
    legacy = report.rules[3]
    assert legacy.priority == 1
    assert legacy.condition.local_addr.from_addr == "10.1.0.0"
    assert legacy.condition.local_addr.to_addr == "10.1.255.255"
    assert [a.name for a in legacy.actions] == ["grpOff"]


def test_an_environment_prints_every_default_and_a_connection_only_what_it_sets(fixture_text):
    report = report_for(parse_policy(fixture_text("sysa-tcpip.policy")))
    partner = report.rules[0]

    environment = partner.detail("Environment")
    assert environment is not None
    assert environment.get("TTLSEnvironmentAdvancedParms", "TLSv1.3") == "On"
    assert environment.get("TTLSEnvironmentAdvancedParms", "SSLv2") == "Off"
    assert environment.get("TTLSEnvironmentAdvancedParms", "PeerMinRsaKeySize") == "1024"
    assert environment.get("TTLSEnvironmentAdvancedParms", "ClientAuthType") == "Full"
    assert environment.list("TTLSCipherParms", "v3CipherSuites") == [
        "1301",
        "1302",
        "C02B",
        "C02F",
        "C030",
    ]
    assert environment.list("TTLSSignatureParms", "SignaturePairs")[0] == "0601"
    assert environment.get("TTLSGskAdvancedParms", "GSK_V3_SESSION_TIMEOUT") == "86400"
    connection = partner.detail("Connection")
    assert connection is not None
    assert [node.label for node in connection.fields] == [
        "HandshakeRole",
        "TTLSConnectionAdvancedParms",
    ]
    assert connection.get("TTLSConnectionAdvancedParms", "TLSv1.3") == "Off"


def test_a_stack_with_no_rules_reports_no_policies():
    report = report_for(parse_policy(""))

    assert report.no_policies
    assert report.rules == []


def test_the_same_policy_loaded_again_shows_no_difference(fixture_text):
    policy = parse_policy(fixture_text("sysa-tcpip.policy"))
    loaded = parse_pasearch(
        render_pasearch(
            pasearch_report(
                policy,
                image="TCPIP",
                instance_id=1,
                installed_at=dt.datetime(2030, 1, 1),
            )
        )
    )

    assert compare_report(policy, loaded, image="TCPIP") == []


def test_a_protocol_switched_on_out_of_band_is_a_difference(fixture_text):
    published = parse_policy(fixture_text("sysa-tcpip.policy"))
    drifted_text = fixture_text("sysa-tcpip.policy").replace(
        "    TLSv1                     Off", "    TLSv1                     On"
    )
    loaded = report_for(parse_policy(drifted_text))

    differences = compare_report(published, loaded, image="TCPIP")

    assert Difference("TN3270", "protocols On", "TLSv1.2 TLSv1.3", "TLSv1 TLSv1.2 TLSv1.3") in (
        differences
    )
    assert {d.rule for d in differences} == {"TN3270", "MQChannelsIn", "MQToPartner"}


def test_missing_and_extra_rules_are_differences(fixture_text):
    published = parse_policy(fixture_text("sysa-tcpip.policy"))
    loaded = report_for(published)
    renamed = dataclasses.replace(loaded.rules[1], name="Intruder")
    loaded = dataclasses.replace(loaded, rules=[loaded.rules[0], renamed, *loaded.rules[2:]])

    differences = compare_report(published, loaded, image="TCPIP")

    assert Difference("TN3270", "rule", "present", "not loaded") in differences
    assert Difference("Intruder", "rule", "absent", "loaded") in differences
    assert str(Difference("TN3270", "rule", "present", "not loaded")) == (
        "TN3270: rule is 'not loaded', published 'present'"
    )
