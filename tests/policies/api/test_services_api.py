import pytest

from accounts.roles import Role
from policies import services
from policies.models import ChangeRecord, Rule, Service
from tests.policies.api.conftest import service_url


def new_service(**changes) -> dict:
    body = {
        "stack": "SYSA/TCPIP",
        "name": "CICSWEB",
        "jobname": "CICSA",
        "local_port_low": 8443,
        "local_port_high": 8443,
        "owners": ["olive"],
        "rule": {
            "priority": 200,
            "group_action": "grpMaster",
            "environment_action": "envTls12_13",
        },
    }
    for key, value in changes.items():
        if key.startswith("rule."):
            body["rule"][key.removeprefix("rule.")] = value
        else:
            body[key] = value
    return body


def test_an_architect_creates_a_service_with_its_rule_by_names(estate, as_architect):
    response = as_architect.post("/api/services/", new_service())

    assert response.status_code == 201, response.data
    service = Service.objects.get(name="CICSWEB")
    assert response["Location"].endswith(service_url(service))
    assert response.data["stack"] == "SYSA/TCPIP"
    assert response.data["owners"] == ["olive"]
    assert response.data["local_ports"] == "8443"
    assert response.data["rule"]["group_action"] == "grpMaster"
    assert response.data["rule"]["environment_action"] == "envTls12_13"
    assert service.rule.priority == 200
    assert ChangeRecord.objects.filter(object_type="Service", action="create").count() == 4


@pytest.mark.parametrize(
    ("field", "value", "error_key"),
    [
        ("local_port_low", 70000, "local_port_low"),
        ("local_port_high", -1, "local_port_high"),
        ("jobname", "TOOLONGJB", "jobname"),
        ("jobname", "TN#270", "jobname"),
        ("userid", "A B", "userid"),
        ("name", "N" * 33, "name"),
        ("name", "has blank", "name"),
        ("remote_address", "999.1.1.1", "remote_address"),
        ("direction", "Sideways", "direction"),
        ("stack", "SYSZ/TCPIP", "stack"),
        ("owners", ["nobody"], "owners"),
        ("rule.priority", 0, "rule.priority"),
        ("rule.priority", 2_000_000_001, "rule.priority"),
        ("rule.group_action", "grpMissing", "rule.group_action"),
        ("rule.override_tlsv1_2", "Maybe", "rule.override_tlsv1_2"),
    ],
)
def test_a_service_with_an_invalid_value_is_refused_with_a_field_error_and_nothing_is_saved(
    estate, as_architect, field, value, error_key
):
    services_before = Service.objects.count()
    records_before = ChangeRecord.objects.count()

    response = as_architect.post("/api/services/", new_service(**{field: value}))

    assert response.status_code == 400
    errors = response.data
    for part in error_key.split("."):
        errors = errors[part]
    assert errors, response.data
    assert Service.objects.count() == services_before
    assert Rule.objects.count() == services_before
    assert ChangeRecord.objects.count() == records_before


def test_all_field_errors_of_a_service_and_its_rule_come_together(estate, as_architect):
    response = as_architect.post(
        "/api/services/",
        new_service(
            name="x" * 33, jobname="TOOLONGJOB", local_port_low=70000, **{"rule.priority": 0}
        ),
    )

    assert response.status_code == 400
    assert set(response.data) >= {"name", "jobname", "local_port_low", "rule"}
    assert "priority" in response.data["rule"]


def test_a_low_port_above_the_high_port_is_a_field_error(estate, as_architect):
    response = as_architect.post(
        "/api/services/", new_service(local_port_low=9000, local_port_high=8000)
    )

    assert response.status_code == 400
    assert "below its first port" in response.data["local_port_high"][0]


def test_a_second_service_of_the_same_name_on_a_stack_is_refused(estate, as_architect):
    response = as_architect.post("/api/services/", new_service(name="TN3270A"))

    assert response.status_code == 400
    assert "already has a service of that name" in str(response.data)


def test_an_update_changes_the_service_and_its_rule_and_bumps_the_revision(estate, as_architect):
    service = estate["A"]

    response = as_architect.patch(
        service_url(service),
        {"revision": service.revision, "tier": "low", "rule": {"priority": 300}},
    )

    assert response.status_code == 200, response.data
    service.refresh_from_db()
    assert service.tier == "low"
    assert service.rule.priority == 300
    assert service.rule.environment_action.name == "envTls12_13"
    assert response.data["revision"] == service.revision == 2


def test_an_update_without_a_revision_is_refused_with_a_field_error(estate, as_architect):
    response = as_architect.patch(service_url(estate["A"]), {"tier": "low"})

    assert response.status_code == 400
    assert "revision" in response.data
    assert Service.objects.get(pk=estate["A"].pk).tier == "high"


def test_an_update_over_someone_elses_save_answers_409_and_keeps_their_save(
    estate, as_architect, architect
):
    service = estate["A"]
    loaded = service.revision
    services.service_update(
        actor=architect, service=service, fields={"tier": "low"}, expected_revision=loaded
    )

    response = as_architect.patch(service_url(service), {"revision": loaded, "tier": "medium"})

    assert response.status_code == 409
    assert "changed by someone else" in response.data["detail"]
    assert response.data["revision"] == loaded + 1
    assert Service.objects.get(pk=service.pk).tier == "low"


def test_an_update_with_one_bad_value_saves_none_of_the_others(estate, as_architect):
    service = estate["A"]

    response = as_architect.patch(
        service_url(service),
        {"revision": service.revision, "tier": "low", "rule": {"priority": 0}},
    )

    assert response.status_code == 400
    assert "priority" in response.data["rule"]
    fresh = Service.objects.get(pk=service.pk)
    assert (fresh.tier, fresh.revision, fresh.rule.priority) == ("high", 1, 100)


def test_an_architect_deletes_a_service_and_its_rule(estate, as_architect):
    response = as_architect.delete(service_url(estate["B"]))

    assert response.status_code == 204
    assert not Service.objects.filter(pk=estate["B"].pk).exists()
    assert not Rule.objects.filter(service_id=estate["B"].pk).exists()


def test_an_app_owner_sees_only_the_services_they_own(estate, client_for, personas):
    response = client_for(personas["owner of A"]).get("/api/services/")

    assert response.status_code == 200
    assert [s["name"] for s in response.data["results"]] == ["TN3270A"]


def test_an_app_owner_gets_404_for_a_service_they_do_not_own(estate, client_for, personas):
    owner_of_b = client_for(personas["owner of B"])

    assert owner_of_b.get(service_url(estate["A"])).status_code == 404
    assert owner_of_b.get(f"/api/rules/{estate['A'].uuid}/").status_code == 404
    assert owner_of_b.get(f"/api/rules/{estate['B'].uuid}/").status_code == 200


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", ["FTPSB", "TN3270A", "TN3270V1"]),
        ("?tier=high", ["TN3270A"]),
        ("?search=ftpd", ["FTPSB"]),
        ("?lpar=SYSA", ["FTPSB", "TN3270A", "TN3270V1"]),
        ("?lpar=SYSB", []),
        ("?stack=SYSA/TCPIP&phase=inventory", ["FTPSB", "TN3270A", "TN3270V1"]),
        ("?owner=nobody", []),
    ],
)
def test_the_service_list_filters_by_lpar_stack_tier_phase_owner_and_search(
    estate, as_architect, query, names
):
    response = as_architect.get(f"/api/services/{query}")

    assert response.status_code == 200
    assert [s["name"] for s in response.data["results"]] == names


def test_an_unknown_filter_value_is_a_field_error(estate, as_architect):
    response = as_architect.get("/api/services/?tier=extreme")

    assert response.status_code == 400
    assert "tier" in response.data


def test_the_service_list_is_paginated(stack, make_service, as_architect):
    for port in range(1, 8):
        make_service(f"SVC{port}", port)

    first = as_architect.get("/api/services/?page_size=3").data
    last = as_architect.get("/api/services/?page_size=3&page=3").data

    assert first["count"] == 7
    assert [s["name"] for s in first["results"]] == ["SVC1", "SVC2", "SVC3"]
    assert first["next"].endswith("page=2&page_size=3")
    assert [s["name"] for s in last["results"]] == ["SVC7"]


@pytest.mark.parametrize("count", [5, 50])
def test_the_service_list_costs_the_same_queries_for_5_or_50_services(
    stack, make_service, client_for, make_user, count, django_assert_max_num_queries
):
    owner = make_user("olive")
    for port in range(1, count + 1):
        make_service(f"SVC{port}", port, owners=[owner])
    client = client_for(make_user("viewer", Role.OPERATOR))

    # session, user, roles, count, services with stack, rule and actions, owners
    with django_assert_max_num_queries(6):
        response = client.get("/api/services/?page_size=100")

    assert response.status_code == 200
    assert len(response.data["results"]) == count
    assert all(s["owners"] == ["olive"] for s in response.data["results"])


@pytest.mark.parametrize("count", [5, 50])
def test_the_rule_list_costs_the_same_queries_for_5_or_50_services(
    stack, make_service, as_architect, count, django_assert_max_num_queries
):
    for port in range(1, count + 1):
        make_service(f"SVC{port}", port)

    with django_assert_max_num_queries(5):
        response = as_architect.get("/api/rules/?page_size=100")

    assert len(response.data["results"]) == count
