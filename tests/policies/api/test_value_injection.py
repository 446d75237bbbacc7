"""The policy-text injection through the API, and names that reach URLs and files."""

import pytest

from attls.policy import parse_policy
from policies.models import ChangeRecord, EnvironmentAction, Keyring, Lpar, PolicyVersion, Stack

# A key ring value that, written as it is, closes its block and adds a rule of its own:
# priority 2,000,000, every port, TTLSEnabled Off (cleartext), invisible to the design.
HIDDEN_RULE = (
    "TCPIP/SharedRing\n}\n\nTTLSRule hidden\n{\n  LocalPortRange 1-65535\n  Direction Both\n"
    "  Priority 2000000\n  TTLSGroupActionRef grpOff\n}\n\nTTLSGroupAction grpOff\n{\n"
    "  TTLSEnabled Off\n}\n\nTTLSKeyringParms ringTail\n{\n  Keyring TCPIP/Tail"
)


def _state() -> tuple:
    return (
        list(Keyring.objects.values_list("name", "ring", "revision")),
        ChangeRecord.objects.count(),
        PolicyVersion.objects.count(),
    )


def test_the_hidden_rule_injection_through_patch_is_refused_naming_the_field(estate, as_architect):
    keyring = estate["keyring"]
    before = _state()

    response = as_architect.patch(
        "/api/keyrings/ringShared/",
        {"revision": keyring.revision, "ring": HIDDEN_RULE},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.data) == ["ring"]
    assert "The key ring contains a line break" in response.data["ring"][0]
    assert _state() == before
    # Nothing can be published from it either: the design still holds the sound ring.
    publish = as_architect.post(
        "/api/stacks/SYSA/TCPIP/publish/", {"note": "after the attempt"}, format="json"
    )
    assert publish.status_code == 201, publish.data
    version = PolicyVersion.objects.get(number=publish.data["number"])
    assert set(parse_policy(version.text).rules) == {"FTPSB", "TN3270A", "TN3270V1"}


@pytest.mark.parametrize(
    ("endpoint", "body", "field", "reason"),
    [
        ("keyrings", {"ring": "TCPIP/Ring #x"}, "ring", "blank"),
        ("keyrings", {"ring": "TCPIP/Ring{"}, "ring", "'{'"),
        ("keyrings", {"certificate_labels": ["SRV\nX"]}, "certificate_labels", "line break"),
        ("environment-actions", {"certificate_label": "SRV}"}, "certificate_label", "'}'"),
        ("environment-actions", {"ocsp_url": "http://o.example/#x\n}"}, "ocsp_url", "'#'"),
        ("connection-actions", {"certificate_label": "A\u202eB"}, "certificate_label", "U+202E"),
    ],
)
def test_every_field_that_reaches_policy_text_refuses_syntax_characters(
    estate, as_architect, architect, endpoint, body, field, reason
):
    from policies import services
    from policies.models import ConnectionAction

    if endpoint == "connection-actions":
        services.shared_object_create(
            actor=architect, model=ConnectionAction, fields={"name": "connClient"}
        )
    name = {
        "keyrings": "ringShared",
        "environment-actions": "envTls12_13",
        "connection-actions": "connClient",
    }[endpoint]
    revision = as_architect.get(f"/api/{endpoint}/{name}/").data["revision"]
    before = list(EnvironmentAction.objects.values()), list(Keyring.objects.values())

    response = as_architect.patch(
        f"/api/{endpoint}/{name}/", {"revision": revision, **body}, format="json"
    )

    assert response.status_code == 400, response.data
    assert field in response.data
    assert reason in str(response.data[field])
    assert (list(EnvironmentAction.objects.values()), list(Keyring.objects.values())) == before


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("A/B", "'/'"),
        ("..", "'.'"),
        ("SYS\nA", "line break"),
        ("SYS\u202eA", "U+202E"),
        ("1SYS", "starts with '1'"),
        ("sysa", "capitals"),
    ],
)
def test_an_lpar_name_follows_the_zos_system_name_rule(db, as_architect, name, reason):
    response = as_architect.post("/api/lpars/", {"name": name}, format="json")

    assert response.status_code == 400
    assert reason in str(response.data["name"])
    assert not Lpar.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"name": "TCP/IP"}, "name", "'/'"),
        ({"name": "TCP\nIP"}, "name", "line break"),
        ({"name": "9TCPIP"}, "name", "starts with '9'"),
        ({"policy_file": "/etc/pagent/../pagent.conf"}, "policy_file", "'..'"),
        ({"policy_file": "/etc/pagent/x.policy\nF PAGENT"}, "policy_file", "line break"),
        ({"policy_file": "pagent.policy"}, "policy_file", "absolute"),
    ],
)
def test_a_stack_name_and_policy_file_are_refused_when_they_could_escape(
    estate, as_architect, body, field, reason
):
    values = {"lpar": "SYSA", "name": "TCPIPB", "policy_file": "/etc/pagent/B.policy", **body}

    response = as_architect.post("/api/stacks/", values, format="json")

    assert response.status_code == 400
    assert reason in str(response.data[field])
    assert Stack.objects.count() == 1
