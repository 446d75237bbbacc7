"""The designer pages: who sees what, what bad input does, htmx partials, previews, publishing."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.roles import Role
from policies import services
from policies.models import (
    ChangeRecord,
    CipherSet,
    ConnectionAction,
    EnvironmentAction,
    Keyring,
    PolicyVersion,
    Rule,
    Service,
)

HTMX = {"HX-Request": "true"}


def htmx(target: str) -> dict[str, str]:
    return {**HTMX, "HX-Target": target}


@pytest.fixture
def people(make_user, architect):
    return {
        "architect": architect,
        "operator": make_user("olivia", Role.OPERATOR),
        "auditor": make_user("audrey", Role.AUDITOR),
        "owner_a": make_user("owen", Role.APP_OWNER),
        "owner_b": make_user("bea", Role.APP_OWNER),
        "admin": make_user("adam", Role.ADMIN),
    }


@pytest.fixture
def design(make_service, people, shared, architect):
    """Service A owned by owen, service B by bea, both on SYSA/TCPIP."""
    service_a = make_service(
        "CICSWEB1", 8443, jobname="CICSPRD1", owner_team="Payments", tier="high"
    )
    service_b = make_service(
        "MQCHIN", 1414, jobname="MQPRCHIN", owner_team="Messaging", phase="pilot"
    )
    service_a.owners.set([people["owner_a"]])
    service_b.owners.set([people["owner_b"]])
    return {"a": service_a, "b": service_b, **shared}


def as_user(client, user):
    client.force_login(user)
    return client


def service_post_data(service: Service, **changes) -> dict:
    rule = service.rule
    data = {
        "revision": service.revision,
        "name": service.name,
        "stack": str(service.stack.uuid),
        "description": service.description,
        "owner_team": service.owner_team,
        "jobname": service.jobname,
        "userid": service.userid,
        "local_port_low": service.local_port_low,
        "local_port_high": service.local_port_high,
        "remote_address": service.remote_address,
        "remote_port_low": service.remote_port_low,
        "remote_port_high": service.remote_port_high,
        "direction": service.direction,
        "tier": service.tier,
        "phase": service.phase,
        "included": "on" if service.included else "",
        "priority": rule.priority,
        "group_action": rule.group_action.name,
        "environment_action": rule.environment_action.name if rule.environment_action else "",
        "connection_action": rule.connection_action.name if rule.connection_action else "",
        "override_tlsv1_2": rule.override_tlsv1_2,
        "override_tlsv1_3": rule.override_tlsv1_3,
        "override_cipher_set": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def environment_post_data(environment: EnvironmentAction, **changes) -> dict:
    data = {
        "revision": environment.revision,
        "name": environment.name,
        "description": environment.description,
        "handshake_role": environment.handshake_role,
        "keyring": environment.keyring.name,
        "cipher_set": environment.cipher_set.name if environment.cipher_set else "",
        "tlsv1_2": "on" if environment.tlsv1_2 else None,
        "tlsv1_3": "on" if environment.tlsv1_3 else None,
        "client_auth_type": environment.client_auth_type,
        "cert_validation_mode": environment.cert_validation_mode,
        "renegotiation": environment.renegotiation,
        "handshake_timeout": environment.handshake_timeout,
        "certificate_label": environment.certificate_label,
        "environment_user_instance": environment.environment_user_instance,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def design_state() -> tuple:
    """Everything a forbidden or refused request must leave alone."""
    return (
        ChangeRecord.objects.count(),
        PolicyVersion.objects.count(),
        list(Service.objects.order_by("pk").values_list("revision", flat=True)),
        list(EnvironmentAction.objects.order_by("pk").values_list("revision", flat=True)),
        list(CipherSet.objects.order_by("pk").values_list("revision", "suites")),
    )


# --- service list -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["architect", "operator", "auditor", "admin"])
def test_everyone_who_sees_the_estate_sees_every_service(client, people, design, role):
    page = as_user(client, people[role]).get(reverse("policies:service-list"))

    assert page.status_code == 200
    assert "CICSWEB1" in page.text
    assert "MQCHIN" in page.text


def test_an_app_owner_sees_only_their_own_services_and_no_edit_controls(client, people, design):
    page = as_user(client, people["owner_a"]).get(reverse("policies:service-list"))

    assert "CICSWEB1" in page.text
    assert "MQCHIN" not in page.text
    assert "Messaging" not in page.text  # not even another team's name in the filter
    assert "Edit" not in page.text
    assert "assign-form" not in page.text


def test_only_an_architect_gets_the_bulk_assignment_and_edit_links(client, people, design):
    architect_page = as_user(client, people["architect"]).get(reverse("policies:service-list"))
    auditor_page = as_user(client, people["auditor"]).get(reverse("policies:service-list"))

    assert 'id="assign-form"' in architect_page.text
    assert reverse("policies:service-edit", args=[design["a"].uuid]) in architect_page.text
    assert 'id="assign-form"' not in auditor_page.text
    assert "/edit/" not in auditor_page.text


def test_filters_narrow_the_list_and_an_htmx_request_gets_only_the_table(client, people, design):
    as_user(client, people["auditor"])

    response = client.get(
        reverse("policies:service-list"), {"tier": "high"}, headers=htmx("service-table")
    )

    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="service-table"')
    assert "<html" not in response.text
    assert "CICSWEB1" in response.text
    assert "MQCHIN" not in response.text
    assert "HX-Target" in response["Vary"]


def test_a_boosted_navigation_gets_the_whole_page(client, people, design):
    as_user(client, people["auditor"])

    response = client.get(
        reverse("policies:service-list"), headers={**htmx("service-table"), "HX-Boosted": "true"}
    )

    assert "<html" in response.text


def test_search_matches_names_jobs_and_teams(client, people, design):
    as_user(client, people["operator"])

    response = client.get(reverse("policies:service-list"), {"q": "payments"})

    assert "CICSWEB1" in response.text
    assert "MQCHIN" not in response.text


def test_the_list_is_paginated_by_fifty(client, people, make_service):
    for index in range(55):
        make_service(f"SVC{index:03d}", 2000 + index)
    as_user(client, people["auditor"])

    first = client.get(reverse("policies:service-list"))
    second = client.get(reverse("policies:service-list"), {"page": 2})

    assert first.text.count('class="mono"><a href="/design/services/') == 50
    assert second.text.count('class="mono"><a href="/design/services/') == 5
    assert "51–55 of 55" in second.text  # noqa: RUF001 (the pager writes a range with an en dash)


def _list_queries(client, count: int, make_service, start: int) -> int:
    for index in range(count):
        make_service(f"Q{start + index:04d}", 3000 + start + index)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("policies:service-list"))
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_the_list_needs_the_same_queries_for_five_services_as_for_fifty(
    client, people, make_service, django_assert_max_num_queries
):
    as_user(client, people["architect"])
    with_five = _list_queries(client, 5, make_service, 0)
    with_fifty = _list_queries(client, 45, make_service, 100)

    assert with_fifty == with_five
    with django_assert_max_num_queries(with_five):
        client.get(reverse("policies:service-list"))


def test_bulk_assignment_points_the_selected_rules_at_the_chosen_actions(
    client, people, design, architect
):
    other = services.shared_object_create(
        actor=architect,
        model=ConnectionAction,
        fields={"name": "connClient", "handshake_role": "Client"},
    )
    as_user(client, people["architect"])

    response = client.post(
        reverse("policies:service-assign"),
        {
            "services": [str(design["a"].uuid), str(design["b"].uuid)],
            "connection_action": "connClient",
        },
        headers=htmx("service-table"),
    )

    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="service-table"')
    assert 'id="assign-result"' in response.text and 'hx-swap-oob="true"' in response.text
    assert "Assigned to 2 service(s)" in response.text
    assert set(Rule.objects.values_list("connection_action", flat=True)) == {other.pk}


def test_bulk_assignment_without_htmx_redirects_to_the_filtered_list(client, people, design):
    as_user(client, people["architect"])

    response = client.post(
        reverse("policies:service-assign"),
        {"services": [str(design["a"].uuid)], "group_action": "grpMaster", "tier": "high"},
    )

    assert response.status_code == 302
    assert response.url == f"{reverse('policies:service-list')}?tier=high"


def test_bulk_assignment_without_an_action_is_refused_and_changes_nothing(client, people, design):
    as_user(client, people["architect"])
    before = design_state()

    response = client.post(
        reverse("policies:service-assign"),
        {"services": [str(design["a"].uuid)]},
        headers=htmx("service-table"),
    )

    assert response.status_code == 422
    assert "Choose at least one action" in response.text
    assert design_state() == before


@pytest.mark.parametrize("role", ["operator", "auditor", "owner_a", "admin"])
def test_bulk_assignment_is_forbidden_to_everyone_but_architects(client, people, design, role):
    before = design_state()

    response = as_user(client, people[role]).post(
        reverse("policies:service-assign"),
        {"services": [str(design["a"].uuid)], "group_action": "grpMaster"},
    )

    assert response.status_code == 403
    assert design_state() == before


# --- service detail and edit ----------------------------------------------------------------------


def test_a_service_page_shows_its_rule_as_written_and_its_effective_settings(
    client, people, design
):
    page = as_user(client, people["owner_a"]).get(
        reverse("policies:service-detail", args=[design["a"].uuid])
    )

    assert page.status_code == 200
    assert re.search(r"TTLSRule\s+CICSWEB1", page.text)
    assert "TTLSEnabled On" in page.text
    assert "TLSv1.3" in page.text
    assert "/edit/" not in page.text


def test_an_app_owner_gets_403_on_another_teams_service_and_404_on_none(client, people, design):
    as_user(client, people["owner_a"])

    theirs = client.get(reverse("policies:service-detail", args=[design["b"].uuid]))
    nobody = client.get(
        reverse("policies:service-detail", args=["00000000-0000-0000-0000-000000000000"])
    )

    assert theirs.status_code == 403
    assert nobody.status_code == 404


def test_saving_a_service_answers_htmx_with_hx_location_and_records_the_change(
    client, people, design
):
    service = design["a"]
    as_user(client, people["architect"])

    response = client.post(
        reverse("policies:service-edit", args=[service.uuid]),
        service_post_data(service, priority=300, override_tlsv1_3="Off"),
        headers={**HTMX, "HX-Boosted": "true"},
    )

    assert response.status_code == 200
    assert response["HX-Location"].endswith(f'/design/services/{service.uuid}/"}}') or (
        f"/design/services/{service.uuid}/" in response["HX-Location"]
    )
    service.refresh_from_db()
    assert service.revision == 2
    assert service.rule.priority == 300
    assert service.rule.override_tlsv1_3 == "Off"


def test_saving_a_service_without_htmx_redirects(client, people, design):
    service = design["a"]
    response = as_user(client, people["architect"]).post(
        reverse("policies:service-edit", args=[service.uuid]), service_post_data(service)
    )

    assert response.status_code == 302


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("local_port_low", 70000, "less than or equal to 65535"),
        ("local_port_high", 70000, "less than or equal to 65535"),
        ("remote_port_low", -1, "greater than or equal to 0"),
        ("jobname", "TOOLONGJOB", "at most 9 characters"),
        ("jobname", "TOOLONGJ9", "The job name is 9 characters long; the limit is 8"),
        ("userid", "BAD USER", ""),
        ("name", "N" * 33, "at most 32 characters"),
        ("priority", 0, "greater than or equal to 1"),
        ("priority", 2000000001, "less than or equal to 2000000000"),
        ("remote_address", "10.1.1", ""),
        ("group_action", "noSuchGroup", "Select a valid choice"),
    ],
)
def test_a_bad_service_value_is_a_field_error_and_nothing_is_saved(
    client, people, design, field, value, message
):
    service = design["a"]
    as_user(client, people["architect"])
    before = design_state()

    response = client.post(
        reverse("policies:service-edit", args=[service.uuid]),
        service_post_data(service, **{field: value}),
    )

    assert response.status_code == 422
    errors = response.context["form"].errors
    assert field in errors
    assert message in " ".join(errors[field])
    assert "Not saved" in response.text
    assert design_state() == before


def test_ports_out_of_order_are_refused(client, people, design):
    service = design["a"]
    as_user(client, people["architect"])

    response = client.post(
        reverse("policies:service-edit", args=[service.uuid]),
        service_post_data(service, local_port_low=900, local_port_high=800),
    )

    assert response.status_code == 422
    assert Service.objects.get(pk=service.pk).local_port_low == 8443


def test_a_stale_service_save_is_refused_with_a_clear_message_and_keeps_the_input(
    client, people, design, architect
):
    service = design["a"]
    loaded = service_post_data(service)
    services.service_update(
        actor=architect,
        service=service,
        fields={"description": "changed by a colleague"},
        expected_revision=service.revision,
    )
    as_user(client, people["architect"])

    response = client.post(
        reverse("policies:service-edit", args=[service.uuid]),
        {**loaded, "local_port_low": 9443, "local_port_high": 9443},
    )

    assert response.status_code == 409
    assert "changed by someone else" in response.text
    assert 'value="9443"' in response.text  # the user's input is still in the form
    assert "changed by a colleague" in response.text  # what the colleague saved is shown
    service.refresh_from_db()
    assert service.local_port_low == 8443
    assert service.revision == 2


def test_creating_a_service_makes_its_rule(client, people, design, stack):
    as_user(client, people["architect"])
    data = service_post_data(design["a"], name="FTPSRV", local_port_low=21, local_port_high=21)
    data.pop("revision")

    response = client.post(reverse("policies:service-create"), data)

    assert response.status_code == 302
    created = Service.objects.get(name="FTPSRV")
    assert created.rule.group_action.name == "grpMaster"


@pytest.mark.parametrize("role", ["operator", "auditor", "owner_a", "admin"])
def test_no_one_but_an_architect_reaches_a_service_form(client, people, design, role):
    as_user(client, people[role])
    before = design_state()

    edit_get = client.get(reverse("policies:service-edit", args=[design["a"].uuid]))
    edit_post = client.post(
        reverse("policies:service-edit", args=[design["a"].uuid]),
        service_post_data(design["a"], priority=999),
    )
    create_get = client.get(reverse("policies:service-create"))

    assert (edit_get.status_code, edit_post.status_code, create_get.status_code) == (403,) * 3
    assert design_state() == before


# --- shared objects -------------------------------------------------------------------------------


def test_the_shared_object_list_says_what_uses_each_object(client, people, design):
    page = as_user(client, people["auditor"]).get(reverse("policies:object-list"))

    assert page.status_code == 200
    assert re.search(r"used by <strong>2</strong> rules on <strong>1</strong> stack", page.text)
    assert "/edit/" not in page.text


def test_an_object_page_lists_the_rules_using_it_by_stack(client, people, design):
    environment = design["environment"]
    page = as_user(client, people["operator"]).get(
        reverse("policies:object-detail", args=["environment-action", environment.uuid])
    )

    assert "used by 2 rules on 1 stack" in page.text
    assert "CICSWEB1" in page.text and "MQCHIN" in page.text
    assert re.search(r"TTLSEnvironmentAction\s+envTls12_13", page.text)


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("keyring", "keyring"),
        ("cipher-set", "ciphers"),
        ("group-action", "group"),
        ("environment-action", "environment"),
    ],
)
def test_every_kind_of_object_has_a_page_an_edit_form_and_a_create_form(
    client, people, design, kind, key
):
    obj = design[key]
    as_user(client, people["architect"])

    detail = client.get(reverse("policies:object-detail", args=[kind, obj.uuid]))
    edit = client.get(reverse("policies:object-edit", args=[kind, obj.uuid]))
    create = client.get(reverse("policies:object-create", args=[kind]))

    assert (detail.status_code, edit.status_code, create.status_code) == (200, 200, 200)
    assert "used by 2 rules on 1 stack" in detail.text
    assert 'id="preview"' in edit.text and "used by 2 rules on 1 stack" in edit.text
    assert f'name="revision" value="{obj.revision}"' in edit.text


def test_the_cipher_set_form_lists_the_registry_with_its_facts(client, people, design):
    ciphers = design["ciphers"]
    page = as_user(client, people["architect"]).get(
        reverse("policies:object-edit", args=["cipher-set", ciphers.uuid])
    )

    assert re.search(r'name="suites-pos-1301" value="1"', page.text)
    assert "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" in page.text
    assert "nist-approved" in page.text and "nist-not-listed" in page.text
    assert ">AEAD<" in page.text and ">PFS<" in page.text


def test_an_unknown_object_type_is_404(client, people, design):
    response = as_user(client, people["architect"]).get(
        reverse("policies:object-detail", args=["widget", design["environment"].uuid])
    )

    assert response.status_code == 404


def test_the_preview_shows_the_unsaved_change_in_every_affected_stack_and_saves_nothing(
    client, people, design
):
    environment = design["environment"]
    as_user(client, people["architect"])
    before = design_state()

    response = client.post(
        reverse("policies:object-preview", args=["environment-action", environment.uuid]),
        environment_post_data(environment, tlsv1_2=None),
        headers=htmx("preview"),
    )

    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="preview"')
    assert re.search(r"TLSv1\.2\s+Off", response.text)
    assert "used by 2 rules on 1 stack" in response.text
    assert "TLSv1.2 On → Off" in response.text
    assert 'id="impact" hx-swap-oob="true"' in response.text
    assert "2 rules change" in response.text
    assert design_state() == before
    assert EnvironmentAction.objects.get(pk=environment.pk).tlsv1_2 is True


def test_the_preview_shows_new_lint_findings(client, people, design):
    environment = design["environment"]
    as_user(client, people["architect"])

    response = client.post(
        reverse("policies:object-preview", args=["environment-action", environment.uuid]),
        environment_post_data(environment, tlsv1_2=None, tlsv1_3=None),
    )

    assert "no-protocol" in response.text
    assert "badge-new" in response.text


def test_the_preview_of_a_renamed_cipher_set_renames_its_references(client, people, design):
    ciphers = design["ciphers"]
    as_user(client, people["architect"])
    data = {"revision": ciphers.revision, "name": "ciphersModern", "suites": ciphers.suites}

    response = client.post(
        reverse("policies:object-preview", args=["cipher-set", ciphers.uuid]), data
    )

    assert re.search(r"TTLSCipherParms\s+ciphersModern", response.text)
    assert re.search(r"TTLSCipherParmsRef\s+ciphersModern", response.text)
    assert "lint clean" in response.text  # no dangling reference
    assert CipherSet.objects.get(pk=ciphers.pk).name == "ciphersAead"


def test_the_preview_of_invalid_input_lists_the_errors_instead(client, people, design):
    environment = design["environment"]
    as_user(client, people["architect"])

    response = client.post(
        reverse("policies:object-preview", args=["environment-action", environment.uuid]),
        environment_post_data(environment, handshake_timeout=-5),
    )

    assert response.status_code == 200  # swapped in, so the user sees why
    assert "The preview waits for valid input" in response.text


@pytest.mark.parametrize("role", ["operator", "auditor", "owner_a", "admin"])
def test_the_preview_is_for_architects_only(client, people, design, role):
    environment = design["environment"]
    response = as_user(client, people[role]).post(
        reverse("policies:object-preview", args=["environment-action", environment.uuid]),
        environment_post_data(environment),
    )

    assert response.status_code == 403


def test_saving_a_shared_object_checks_the_revision_and_bumps_it(client, people, design):
    environment = design["environment"]
    as_user(client, people["architect"])

    response = client.post(
        reverse("policies:object-edit", args=["environment-action", environment.uuid]),
        environment_post_data(environment, tlsv1_2=None),
        headers={**HTMX, "HX-Boosted": "true"},
    )

    assert response.status_code == 200
    assert "HX-Location" in response
    environment.refresh_from_db()
    assert environment.tlsv1_2 is False
    assert environment.revision == 2


def test_a_second_architect_saving_a_stale_object_is_refused_not_merged(
    client, people, design, make_user
):
    environment = design["environment"]
    stale_form = environment_post_data(environment, handshake_timeout=30)
    grace = make_user("grace", Role.ARCHITECT)
    as_user(client, people["architect"]).post(
        reverse("policies:object-edit", args=["environment-action", environment.uuid]),
        environment_post_data(environment, tlsv1_2=None),
    )

    response = as_user(client, grace).post(
        reverse("policies:object-edit", args=["environment-action", environment.uuid]),
        stale_form,
    )

    assert response.status_code == 409
    assert "changed by someone else" in response.text
    assert 'value="30"' in response.text
    environment.refresh_from_db()
    assert (environment.tlsv1_2, environment.handshake_timeout, environment.revision) == (
        False,
        10,
        2,
    )


def test_a_cipher_not_in_the_registry_is_a_field_error_and_nothing_is_saved(client, people, design):
    ciphers = design["ciphers"]
    as_user(client, people["architect"])
    before = design_state()

    response = client.post(
        reverse("policies:object-edit", args=["cipher-set", ciphers.uuid]),
        {"revision": ciphers.revision, "name": ciphers.name, "suites": ["1301", "ZZZZ"]},
    )

    assert response.status_code == 422
    assert "ZZZZ is not a cipher suite in the registry" in response.text
    assert design_state() == before


def test_a_cipher_set_is_ordered_by_the_numbers_beside_its_suites(client, people, design):
    ciphers = design["ciphers"]
    as_user(client, people["architect"])

    client.post(
        reverse("policies:object-edit", args=["cipher-set", ciphers.uuid]),
        {
            "revision": ciphers.revision,
            "name": ciphers.name,
            "suites": ["1301", "1302", "C02F", "C030"],
            "suites-pos-1301": "3",
            "suites-pos-1302": "1",
            "suites-pos-C02F": "",
            "suites-pos-C030": "2",
        },
    )

    assert CipherSet.objects.get(pk=ciphers.pk).suites == ["1302", "C030", "1301", "C02F"]


def test_an_object_name_over_32_characters_is_refused(client, people, design):
    environment = design["environment"]
    as_user(client, people["architect"])

    response = client.post(
        reverse("policies:object-edit", args=["environment-action", environment.uuid]),
        environment_post_data(environment, name="e" * 33),
    )

    assert response.status_code == 422
    assert "name" in response.context["form"].errors
    assert EnvironmentAction.objects.get(pk=environment.pk).name == "envTls12_13"


def test_creating_a_key_ring(client, people, design):
    as_user(client, people["architect"])

    response = client.post(
        reverse("policies:object-create", args=["keyring"]),
        {"name": "ringLab", "ring": "TCPIP/LabRing", "certificate_labels": "LAB1\nLAB2\n"},
    )

    assert response.status_code == 302
    assert Keyring.objects.get(name="ringLab").certificate_labels == ["LAB1", "LAB2"]


@pytest.mark.parametrize("role", ["operator", "auditor", "admin"])
def test_object_forms_are_403_for_everyone_but_architects(client, people, design, role):
    environment = design["environment"]
    as_user(client, people[role])
    before = design_state()

    responses = [
        client.get(reverse("policies:object-edit", args=["environment-action", environment.uuid])),
        client.post(
            reverse("policies:object-edit", args=["environment-action", environment.uuid]),
            environment_post_data(environment, tlsv1_2=None),
        ),
        client.get(reverse("policies:object-create", args=["keyring"])),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403]
    assert design_state() == before


# --- stack policy, publication, versions ----------------------------------------------------------


def stack_url(name: str, stack, *args) -> str:
    return reverse(f"policies:{name}", args=[stack.lpar.name, stack.name, *args])


def test_the_stack_page_shows_the_draft_against_the_last_version_and_its_lint(
    client, people, design, stack
):
    page = as_user(client, people["auditor"]).get(stack_url("stack-detail", stack))

    assert page.status_code == 200
    assert "Draft vs nothing published" in page.text
    assert 'class="line add"' in page.text
    assert "Publishing needs the architect role" in page.text
    assert '<form method="post" action="/design/stacks/' not in page.text


def test_publishing_freezes_a_version_and_answers_htmx_with_its_page(client, people, design, stack):
    as_user(client, people["architect"])

    response = client.post(
        stack_url("stack-publish", stack), {"note": "first cut"}, headers=htmx("publish")
    )

    assert response.status_code == 200
    assert stack_url("version-detail", stack, 1) in response["HX-Location"]
    version = PolicyVersion.objects.get(stack=stack)
    assert (version.number, version.note, version.author) == (1, "first cut", people["architect"])


def test_publishing_a_draft_with_lint_errors_is_refused_with_the_list(
    client, people, design, stack, architect
):
    services.service_update(
        actor=architect,
        service=design["b"],
        fields={"environment_action": None},
        expected_revision=design["b"].revision,
    )
    as_user(client, people["architect"])
    before = design_state()

    response = client.post(
        stack_url("stack-publish", stack),
        {"note": "try", "acknowledge_warnings": "on"},
        headers=htmx("publish"),
    )

    assert response.status_code == 422
    assert response.text.lstrip().startswith('<section id="publish"')
    assert "Not published" in response.text
    assert "missing-environment" in response.text
    # The finding names the rule, linked to its service.
    assert f'href="/design/services/{design["b"].uuid}/">MQCHIN</a>' in response.text
    assert design_state() == before


def test_warnings_must_be_acknowledged_to_publish(client, people, design, stack, make_service):
    make_service("MQOUT", 1415, direction="Outbound")  # a Server role on an outbound rule
    as_user(client, people["architect"])

    refused = client.post(stack_url("stack-publish", stack), {"note": "try"})
    accepted = client.post(
        stack_url("stack-publish", stack), {"note": "try", "acknowledge_warnings": "on"}
    )

    assert refused.status_code == 422
    assert "acknowledge" in refused.text
    assert "handshake-role-direction" in refused.text
    assert accepted.status_code == 302
    assert PolicyVersion.objects.get(stack=stack).lint[0]["code"] == "handshake-role-direction"


def test_publishing_without_a_note_is_refused(client, people, design, stack):
    response = as_user(client, people["architect"]).post(
        stack_url("stack-publish", stack), {"note": "  "}
    )

    assert response.status_code == 422
    assert not PolicyVersion.objects.exists()


@pytest.mark.parametrize("role", ["operator", "auditor", "owner_a", "admin"])
def test_publishing_is_forbidden_to_everyone_but_architects(client, people, design, stack, role):
    response = as_user(client, people[role]).post(
        stack_url("stack-publish", stack), {"note": "sneaky", "acknowledge_warnings": "on"}
    )

    assert response.status_code == 403
    assert not PolicyVersion.objects.exists()


@pytest.fixture
def two_versions(design, stack, architect):
    services.policy_version_publish(stack=stack, actor=architect, note="first")
    environment = design["environment"]
    services.shared_object_update(
        actor=architect, obj=environment, fields={"tlsv1_2": False}, expected_revision=1
    )
    services.policy_version_publish(stack=stack, actor=architect, note="drop TLS 1.2")
    return stack


def test_the_version_page_shows_the_diff_to_its_parent(client, people, two_versions):
    page = as_user(client, people["auditor"]).get(stack_url("version-detail", two_versions, 2))

    assert page.status_code == 200
    assert "drop TLS 1.2" in page.text
    assert re.search(r'class="line del">.*TLSv1\.2\s+On', page.text)
    assert re.search(r'class="line add">.*TLSv1\.2\s+Off', page.text)


def test_any_two_versions_can_be_compared_and_htmx_gets_the_diff_only(client, people, two_versions):
    as_user(client, people["operator"])

    response = client.get(
        stack_url("version-list", two_versions),
        {"older": 2, "newer": 1},
        headers=htmx("version-diff"),
    )

    assert response.text.lstrip().startswith('<div id="version-diff"')
    assert re.search(r'class="line add">.*TLSv1\.2\s+On', response.text)


def test_a_version_downloads_as_a_policy_file(client, people, two_versions):
    response = as_user(client, people["auditor"]).get(
        stack_url("version-download", two_versions, 2)
    )

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="SYSA-TCPIP-v2.policy"'
    assert response.content.decode() == PolicyVersion.objects.get(number=2).text


def test_an_unknown_version_is_404(client, people, two_versions):
    response = as_user(client, people["auditor"]).get(stack_url("version-detail", two_versions, 9))

    assert response.status_code == 404


def test_an_app_owner_cannot_see_stack_policies(client, people, design, stack):
    as_user(client, people["owner_a"])

    assert client.get(stack_url("stack-detail", stack)).status_code == 403
    assert client.get(stack_url("version-list", stack)).status_code == 403


# --- tester ---------------------------------------------------------------------------------------


def test_the_tester_names_the_winning_rule_its_reasons_and_settings(
    client, people, design, stack, make_service
):
    make_service("CATCHALL", 8443, jobname="", priority=50)
    as_user(client, people["operator"])

    response = client.get(
        stack_url("stack-tester", stack),
        {
            "direction": "Inbound",
            "local_port": 8443,
            "jobname": "CICSPRD1",
            "remote_address": "192.0.2.10",
            "remote_port": 50000,
            "policy": "draft",
        },
        headers=htmx("tester-result"),
    )

    assert response.text.lstrip().startswith('<div id="tester-result"')
    assert re.search(r"Wins: <a[^>]*>CICSWEB1</a>", response.text)
    others = response.text[response.text.index("Other rules that match") :]
    assert re.search(r'<td class="mono">CATCHALL</td>.*lower priority than CICSWEB1', others)
    assert "LocalPortRange 8443 contains local port 8443" in response.text
    assert "TLSv1.3" in response.text
    assert "TLS_AES_128_GCM_SHA256" in response.text


def test_the_tester_says_when_no_rule_matches_and_which_rules_nearly_do(
    client, people, design, stack
):
    response = as_user(client, people["operator"]).get(
        stack_url("stack-tester", stack),
        {
            "direction": "Inbound",
            "local_port": 8443,
            "jobname": "CICSTEST",
            "remote_address": "192.0.2.1",
            "remote_port": 1,
        },
    )

    assert "No rule matches" in response.text
    misses = response.text[response.text.index("Closest rules") :]
    assert re.search(r"CICSWEB1</a>.*Jobname CICSPRD1 does not match job CICSTEST", misses)


def test_the_tester_can_use_a_published_version(client, people, two_versions):
    response = as_user(client, people["operator"]).get(
        stack_url("stack-tester", two_versions),
        {
            "direction": "Inbound",
            "local_port": 8443,
            "jobname": "CICSPRD1",
            "remote_address": "192.0.2.10",
            "remote_port": 50000,
            "policy": "v1",
        },
    )

    protocols = {p.protocol: p.enabled for p in response.context["result"].protocols}
    assert protocols["TLSv1.2"] is True  # v1 still had TLS 1.2; the draft does not


def test_the_tester_reports_a_bad_connection(client, people, design, stack):
    response = as_user(client, people["operator"]).get(
        stack_url("stack-tester", stack),
        {"direction": "Inbound", "local_port": 99999, "remote_address": "x", "remote_port": 1},
    )

    assert "Correct the connection" in response.text


# --- import ---------------------------------------------------------------------------------------


def test_an_import_with_syntax_errors_shows_each_line_and_column_and_saves_nothing(
    client, people, design, stack
):
    text = "TTLSRule bad\n{\n  LocalPortRange 99999\n  Bogus 1\n}\n"
    as_user(client, people["architect"])
    before = design_state()

    response = client.post(reverse("policies:import"), {"stack": str(stack.uuid), "text": text})

    assert response.status_code == 422
    problems = response.context["syntax_error"].problems
    assert {p.line for p in problems} >= {3, 4}
    for problem in problems:
        assert f'href="#L{problem.line}">{problem.line}</a>' in response.text
        assert f'<td class="num mono">{problem.column}</td>' in response.text
    assert 'class="line problem" id="L3"' in response.text
    assert 'class="line caret"' in response.text
    assert design_state() == before


IMPORTED = """\
TTLSRule                      TN3270
{
  LocalPortRange              992
  Jobname                     TN3270*
  Direction                   Inbound
  Priority                    250
  TTLSGroupActionRef          grpOn
  TTLSEnvironmentActionRef    envServer
}

TTLSGroupAction               grpOn
{
  TTLSEnabled                 On
}

TTLSEnvironmentAction         envServer
{
  HandshakeRole               Server
  TTLSKeyringParmsRef         ringTn
  TTLSEnvironmentAdvancedParms
  {
    TLSv1.2                   On
    TLSv1.3                   On
    ApplicationControlled     Off
  }
}

TTLSKeyringParms              ringTn
{
  Keyring                     TCPIP/TN3270Ring
}
"""


def test_importing_previews_first_then_creates_on_confirmation(client, people, stack):
    as_user(client, people["architect"])

    preview = client.post(reverse("policies:import"), {"stack": str(stack.uuid), "text": IMPORTED})

    assert preview.status_code == 200
    report = preview.context["report"]
    assert report.can_apply
    assert {item.name for item in report.items} == {"TN3270", "grpOn", "envServer", "ringTn"}
    assert "TTLSEnvironmentAdvancedParms.ApplicationControlled" in preview.text  # lost
    assert not Service.objects.exists()

    applied = client.post(
        reverse("policies:import-apply"),
        {"stack": str(stack.uuid), "text": IMPORTED, "sha256": report.sha256},
        headers={**HTMX, "HX-Boosted": "true"},
    )

    assert applied.status_code == 200
    assert stack_url("stack-detail", stack) in applied["HX-Location"]
    assert Service.objects.get(stack=stack).name == "TN3270"


def test_an_import_whose_names_clash_cannot_be_applied(client, people, design, stack):
    clashing = IMPORTED.replace("grpOn", "grpMaster").replace(
        "TTLSEnabled                 On", "TTLSEnabled Off"
    )
    as_user(client, people["architect"])

    preview = client.post(reverse("policies:import"), {"stack": str(stack.uuid), "text": clashing})

    assert "clash" in preview.text
    assert "cannot be applied" in preview.text
    assert 'action="/design/import/apply/"' not in preview.text


def test_an_import_of_text_other_than_the_previewed_one_is_refused(client, people, stack):
    as_user(client, people["architect"])
    before = design_state()

    response = client.post(
        reverse("policies:import-apply"),
        {"stack": str(stack.uuid), "text": IMPORTED, "sha256": "0" * 64},
    )

    assert response.status_code == 409
    assert "not the one that was previewed" in response.text
    assert design_state() == before


def test_an_uploaded_file_is_previewed_like_pasted_text(client, people, stack):
    upload = SimpleUploadedFile("sysa.policy", IMPORTED.replace("\n", "\r\n").encode())

    response = as_user(client, people["architect"]).post(
        reverse("policies:import"), {"stack": str(stack.uuid), "upload": upload}
    )

    assert response.status_code == 200
    report = response.context["report"]
    assert report.can_apply
    assert report.sha256 == hashlib.sha256(IMPORTED.encode()).hexdigest()  # CRLF read as LF


@pytest.mark.parametrize("role", ["operator", "auditor", "owner_a", "admin"])
def test_import_is_for_architects_only(client, people, stack, role):
    as_user(client, people[role])

    assert client.get(reverse("policies:import")).status_code == 403
    assert (
        client.post(
            reverse("policies:import"), {"stack": str(stack.uuid), "text": IMPORTED}
        ).status_code
        == 403
    )
    assert not Service.objects.exists()


# --- navigation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        ("architect", ["Services", "Shared objects", "Stacks", "Import"], []),
        ("auditor", ["Services", "Shared objects", "Stacks"], ["Import"]),
        ("operator", ["Services", "Shared objects", "Stacks"], ["Import"]),
        ("owner_a", ["Services"], ["Shared objects", "Stacks", "Import"]),
    ],
)
def test_the_navigation_shows_what_the_role_may_open(client, people, role, shown, hidden):
    page = as_user(client, people[role]).get(reverse("dashboard")).text
    nav = page[page.index('<nav class="nav"') : page.index("</nav>")]

    for label in shown:
        assert f">{label}</a>" in nav
    for label in hidden:
        assert f">{label}</a>" not in nav


HARDENING_POST = {
    "server_kex_ecurves": "0023 0024",
    "server_key_share_groups": "0023,0024",
    "client_ecurves": "0023 0024",
    "signature_pairs": "0601 0603 0401 0403",
    "peer_min_rsa_key_size": "2048",
    "peer_min_ecc_key_size": "256",
    "ocsp_server_stapling": "true",
    "ocsp_aia_enable": "true",
}


def test_the_environment_form_offers_curves_stapling_and_key_sizes_with_their_defaults(
    client, people, design
):
    environment = design["environment"]
    page = as_user(client, people["architect"]).get(
        reverse("policies:object-edit", args=["environment-action", environment.uuid])
    )

    assert "TTLSSignatureParms" in page.text and "TTLSGskOcspParms" in page.text
    for label in ("ServerKexECurves", "ServerKeyShareGroups", "SignaturePairs", "OcspUrl"):
        assert label in page.text
    assert "PeerMinRsaKeySize" in page.text and "z/OS default: 1024" in page.text
    assert "Not set (z/OS default: Off)" in page.text


def test_saving_curves_stapling_and_key_sizes_stores_them_as_the_policy_will_write_them(
    client, people, design
):
    environment = design["environment"]
    as_user(client, people["architect"])

    response = client.post(
        reverse("policies:object-edit", args=["environment-action", environment.uuid]),
        environment_post_data(environment, **HARDENING_POST),
        headers=HTMX,
    )

    assert response.status_code == 200, response.text[:2000]
    environment.refresh_from_db()
    assert environment.server_kex_ecurves == ["0023", "0024"]
    assert environment.server_key_share_groups == ["0023", "0024"]
    assert environment.client_key_share_groups == []  # left to z/OS
    assert environment.signature_pairs == ["0601", "0603", "0401", "0403"]
    assert (environment.peer_min_rsa_key_size, environment.peer_min_ecc_key_size) == (2048, 256)
    assert environment.peer_min_dh_key_size is None
    assert (environment.ocsp_server_stapling, environment.ocsp_aia_enable) == (True, True)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("server_kex_ecurves", "0023 0017", "&#x27;0017&#x27; is not a named"),
        ("client_key_share_groups", "0023 0023", "0023 is listed twice"),
        ("signature_pairs", "0401 9999", "&#x27;9999&#x27; is not a signature"),
        ("peer_min_ecc_key_size", "4096", "less than or equal to 1024"),
        ("ocsp_url", "ldap://ocsp", "must be an http:// URL"),
    ],
)
def test_a_bad_code_or_size_is_a_field_error_and_nothing_is_saved(
    client, people, design, field, value, message
):
    environment = design["environment"]
    as_user(client, people["architect"])
    before = design_state()

    response = client.post(
        reverse("policies:object-edit", args=["environment-action", environment.uuid]),
        environment_post_data(environment, **{field: value}),
    )

    assert response.status_code == 422
    assert message in response.text
    assert design_state() == before
    environment.refresh_from_db()
    assert environment.revision == 1 and getattr(environment, field) in ([], None, "")


def test_the_preview_shows_the_signature_and_ocsp_blocks_the_change_writes(client, people, design):
    environment = design["environment"]
    as_user(client, people["architect"])

    response = client.post(
        reverse("policies:object-preview", args=["environment-action", environment.uuid]),
        environment_post_data(environment, **HARDENING_POST),
        headers=htmx("preview"),
    )

    assert response.status_code == 200
    assert re.search(r"ServerKexECurves\s+0023", response.text)
    assert re.search(r"OcspServerStapling\s+On", response.text)
    assert re.search(r"PeerMinRsaKeySize\s+2048", response.text)
    assert EnvironmentAction.objects.get(pk=environment.pk).server_kex_ecurves == []
