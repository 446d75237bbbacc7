import pytest

from policies import selectors, services
from policies.api.views import shared_objects_usage
from policies.models import (
    ChangeRecord,
    CipherSet,
    ConnectionAction,
    EnvironmentAction,
    GroupAction,
    Keyring,
)

ENDPOINTS = {
    "keyrings": Keyring,
    "cipher-sets": CipherSet,
    "group-actions": GroupAction,
    "environment-actions": EnvironmentAction,
    "connection-actions": ConnectionAction,
}


def test_an_architect_creates_a_cipher_set_from_registry_codes(estate, as_architect):
    response = as_architect.post(
        "/api/cipher-sets/", {"name": "ciphersTls13", "suites": ["1301", "1302", "1303"]}
    )

    assert response.status_code == 201, response.data
    assert response.data["suites"] == ["1301", "1302", "1303"]
    assert response.data["suite_names"][0] == "TLS_AES_128_GCM_SHA256"
    assert response.data["revision"] == 1
    assert response.data["usage"] == {"rules": 0, "stacks": []}
    assert CipherSet.objects.get(name="ciphersTls13").suites == ["1301", "1302", "1303"]


def test_a_cipher_code_not_in_the_registry_is_a_field_error_and_nothing_is_saved(
    estate, as_architect
):
    records = ChangeRecord.objects.count()

    response = as_architect.post(
        "/api/cipher-sets/", {"name": "ciphersOdd", "suites": ["1301", "ZZZZ"]}
    )

    assert response.status_code == 400
    assert "ZZZZ" in response.data["suites"][0]
    assert not CipherSet.objects.filter(name="ciphersOdd").exists()
    assert ChangeRecord.objects.count() == records


def test_an_update_of_a_cipher_set_with_an_unknown_code_changes_nothing(estate, as_architect):
    ciphers = estate["ciphers"]

    response = as_architect.patch(
        "/api/cipher-sets/ciphersAead/", {"revision": ciphers.revision, "suites": ["00FF"]}
    )

    assert response.status_code == 400
    assert "suites" in response.data
    fresh = CipherSet.objects.get(pk=ciphers.pk)
    assert (fresh.suites, fresh.revision) == (ciphers.suites, ciphers.revision)


@pytest.mark.parametrize(
    ("endpoint", "body", "field"),
    [
        ("keyrings", {"name": "r" * 33, "ring": "TCPIP/Ring"}, "name"),
        ("keyrings", {"name": "ringLong", "ring": "X/Y", "certificate_labels": ["L" * 33]}, None),
        ("group-actions", {"name": "grp Two"}, "name"),
        ("group-actions", {"name": "grpTrace", "trace": 256}, "trace"),
        ("environment-actions", {"name": "envNoRing", "keyring": "ringMissing"}, "keyring"),
        (
            "environment-actions",
            {"name": "envRole", "keyring": "ringShared", "handshake_role": "Peer"},
            "handshake_role",
        ),
        ("connection-actions", {"name": "conn12", "tlsv1_2": "Yes"}, "tlsv1_2"),
        ("group-actions", {"name": "grpMaster"}, "name"),
    ],
)
def test_a_shared_object_with_an_invalid_value_is_refused_with_a_field_error(
    estate, as_architect, endpoint, body, field
):
    model = ENDPOINTS[endpoint]
    before = model.objects.count()

    response = as_architect.post(f"/api/{endpoint}/", body)

    assert response.status_code == 400
    if field is not None:
        assert field in response.data, response.data
    else:
        assert response.data
    assert model.objects.count() == before


def test_a_shared_object_is_found_by_its_name_or_its_uuid(estate, as_architect):
    environment = estate["environment"]

    by_name = as_architect.get("/api/environment-actions/envTls12_13/")
    by_uuid = as_architect.get(f"/api/environment-actions/{environment.uuid}/")

    assert by_name.status_code == by_uuid.status_code == 200
    assert by_name.data == by_uuid.data
    assert by_name.data["keyring"] == "ringShared"
    assert by_name.data["cipher_set"] == "ciphersAead"
    assert as_architect.get("/api/environment-actions/envMissing/").status_code == 404


def test_an_update_over_someone_elses_save_answers_409_with_a_clear_message(
    estate, as_architect, architect
):
    environment = estate["environment"]
    loaded = environment.revision
    services.shared_object_update(
        actor=architect, obj=environment, fields={"tlsv1_2": False}, expected_revision=loaded
    )

    response = as_architect.patch(
        "/api/environment-actions/envTls12_13/", {"revision": loaded, "handshake_timeout": 30}
    )

    assert response.status_code == 409
    assert "changed by someone else" in response.data["detail"]
    assert "revision 2" in response.data["detail"]
    assert response.data["revision"] == 2
    fresh = EnvironmentAction.objects.get(pk=environment.pk)
    assert (fresh.tlsv1_2, fresh.handshake_timeout, fresh.revision) == (False, 10, 2)


def test_an_update_with_the_current_revision_saves_and_answers_the_next(estate, as_architect):
    response = as_architect.put(
        "/api/group-actions/grpMaster/",
        {"revision": 1, "name": "grpMaster", "ttls_enabled": True, "trace": 6},
    )

    assert response.status_code == 200, response.data
    assert response.data["revision"] == 2
    assert response.data["trace"] == 6
    assert GroupAction.objects.get(name="grpMaster").trace == 6


def test_an_update_without_a_revision_is_refused(estate, as_architect):
    response = as_architect.patch("/api/group-actions/grpMaster/", {"trace": 6})

    assert response.status_code == 400
    assert "revision" in response.data
    assert GroupAction.objects.get(name="grpMaster").trace == 2


def test_a_shared_object_still_in_use_cannot_be_deleted(estate, as_architect):
    response = as_architect.delete("/api/environment-actions/envTls12_13/")

    assert response.status_code == 409
    assert response.data["detail"] == (
        "It is still used by 3 rules (FTPSB, TN3270A, TN3270V1); change those first."
    )
    assert EnvironmentAction.objects.filter(name="envTls12_13").exists()


def test_an_unused_shared_object_is_deleted(estate, as_architect):
    as_architect.post(
        "/api/connection-actions/", {"name": "connClient", "handshake_role": "Client"}
    )

    response = as_architect.delete("/api/connection-actions/connClient/")

    assert response.status_code == 204
    assert not ConnectionAction.objects.filter(name="connClient").exists()


def test_each_shared_object_says_which_rules_and_stacks_an_edit_reaches(
    estate, as_architect, architect, make_service
):
    override = services.shared_object_create(
        actor=architect, model=CipherSet, fields={"name": "ciphersLegacy", "suites": ["C030"]}
    )
    services.shared_object_create(
        actor=architect, model=ConnectionAction, fields={"name": "connIdle"}
    )
    make_service("LEGACY", 4000, override_cipher_set=override)
    make_service("PARKED", 4001, included=False)

    usage = {}
    for endpoint in ENDPOINTS:
        for item in as_architect.get(f"/api/{endpoint}/").data["results"]:
            usage[item["name"]] = item["usage"]

    assert usage["envTls12_13"] == {"rules": 4, "stacks": ["SYSA/TCPIP"]}
    assert usage["ciphersAead"] == {"rules": 4, "stacks": ["SYSA/TCPIP"]}
    assert usage["ciphersLegacy"] == {"rules": 1, "stacks": ["SYSA/TCPIP"]}
    assert usage["connIdle"] == {"rules": 0, "stacks": []}


def test_the_api_usage_agrees_with_the_selector_for_every_object(estate, architect, make_service):
    override = services.shared_object_create(
        actor=architect, model=CipherSet, fields={"name": "ciphersLegacy", "suites": ["C030"]}
    )
    connection = services.shared_object_create(
        actor=architect,
        model=ConnectionAction,
        fields={"name": "connCiphers", "cipher_set": override},
    )
    make_service("LEGACY", 4000, override_cipher_set=override, connection_action=connection)
    make_service("PARKED", 4001, included=False)

    for model in ENDPOINTS.values():
        objects = list(model.objects.all())
        bulk = shared_objects_usage(objects)
        for obj in objects:
            expected = selectors.shared_object_usage(obj)
            assert bulk[obj.pk] == {
                "rules": expected.rules,
                "stacks": sorted(s.label for s in expected.stacks),
            }, obj


@pytest.mark.parametrize("count", [2, 20])
def test_a_shared_object_list_costs_the_same_queries_for_2_or_20_objects(
    estate, as_architect, architect, make_service, count, django_assert_max_num_queries
):
    for number in range(count):
        environment = services.shared_object_create(
            actor=architect,
            model=EnvironmentAction,
            fields={
                "name": f"env{number}",
                "keyring": estate["keyring"],
                "cipher_set": estate["ciphers"],
            },
        )
        make_service(f"SVC{number}", 5000 + number, environment_action=environment)

    # session, user, roles, count, objects with key ring and cipher set, usage
    with django_assert_max_num_queries(6):
        response = as_architect.get("/api/environment-actions/")

    assert response.data["count"] == count + 1
    assert all(item["usage"]["rules"] >= 1 for item in response.data["results"])


def test_an_architect_sets_curves_stapling_and_key_sizes_through_the_api(estate, as_architect):
    response = as_architect.patch(
        "/api/environment-actions/envTls12_13/",
        {
            "revision": 1,
            "server_kex_ecurves": ["0023", "0024"],
            "signature_pairs": ["0601", "0401"],
            "peer_min_rsa_key_size": 2048,
            "ocsp_server_stapling": True,
            "ocsp_url": "http://ocsp.example.com",
        },
        format="json",
    )

    assert response.status_code == 200, response.data
    assert response.data["server_kex_ecurves"] == ["0023", "0024"]
    assert response.data["client_ecurves"] == []
    assert response.data["ocsp_server_stapling"] is True
    assert response.data["ocsp_aia_enable"] is None
    environment = EnvironmentAction.objects.get(name="envTls12_13")
    assert environment.signature_pairs == ["0601", "0401"]
    assert environment.peer_min_rsa_key_size == 2048


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("server_kex_ecurves", ["0023", "0017"], "'0017' is not a named group code"),
        ("server_key_share_groups", ["0023", "0023"], "0023 is listed twice"),
        ("signature_pairs", ["0401", "ZZZZ"], "'ZZZZ' is not a signature pair code"),
        ("peer_min_rsa_key_size", 99999, "less than or equal to 16384"),
    ],
)
def test_a_bad_code_through_the_api_is_a_field_error_and_nothing_is_saved(
    estate, as_architect, field, value, message
):
    response = as_architect.patch(
        "/api/environment-actions/envTls12_13/",
        {"revision": 1, field: value},
        format="json",
    )

    assert response.status_code == 400
    assert message in str(response.data[field])
    environment = EnvironmentAction.objects.get(name="envTls12_13")
    assert environment.revision == 1 and getattr(environment, field) in ([], None)
