from attls.policy import parse_policy
from attls.policy.serialize import policy_to_dict


def test_a_policy_becomes_plain_data_in_policy_file_spelling(fixture_text):
    data = policy_to_dict(parse_policy(fixture_text("sysa-tcpip.policy")))

    assert [rule["name"] for rule in data["rules"]] == [
        "MQToPartner",
        "TN3270",
        "MQChannelsIn",
        "LegacyFtp",
    ]
    assert data["rules"][1] == {
        "statement": "TTLSRule",
        "name": "TN3270",
        "LocalPortRange": "992",
        "Jobname": "TN3270*",
        "Direction": "Inbound",
        "Priority": "250",
        "TTLSGroupActionRef": "grpMaster",
        "TTLSEnvironmentActionRef": "envServer",
    }
    environment = data["environment_actions"][0]
    assert environment["TTLSEnvironmentAdvancedParms"]["TLSv1.2"] == "On"
    assert data["cipher_parms"][0]["V3CipherSuites"][0] == "TLS_AES_128_GCM_SHA256"
    assert "ip_time_conditions" not in data
