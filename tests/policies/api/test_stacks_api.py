import hashlib

import pytest
from django.core.exceptions import ValidationError

from policies import services
from policies.models import ChangeRecord, EnvironmentAction, Lpar, PolicyVersion, Stack


def test_lpars_list_their_stacks_by_name(estate, as_architect):
    response = as_architect.get("/api/lpars/")

    assert response.status_code == 200
    assert response.data["results"] == [
        {
            "uuid": str(Lpar.objects.get().uuid),
            "name": "SYSA",
            "kind": "production",
            "description": "",
            "stacks": ["TCPIP"],
        }
    ]
    assert as_architect.get("/api/lpars/SYSA/").data["name"] == "SYSA"


def test_an_architect_adds_an_lpar_and_a_stack_on_it(db, as_architect):
    lpar = as_architect.post("/api/lpars/", {"name": "SYSB", "kind": "production"})
    stack = as_architect.post(
        "/api/stacks/",
        {"lpar": "SYSB", "name": "TCPIPB", "policy_file": "/etc/pagent/TCPIPB.policy"},
    )

    assert lpar.status_code == 201, lpar.data
    assert stack.status_code == 201, stack.data
    assert stack.data["label"] == "SYSB/TCPIPB"
    assert stack.data["service_count"] == 0
    assert stack.data["latest_version"] is None
    assert ChangeRecord.objects.filter(action="create", object_type="Stack").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lpar": "SYSA", "name": "TCPIP", "policy_file": "/etc/x"}, "non_field_errors"),
        ({"lpar": "SYSZ", "name": "TCPIPZ", "policy_file": "/etc/x"}, "lpar"),
        ({"lpar": "SYSA", "name": "TOOLONGNAME", "policy_file": "/etc/x"}, "name"),
        ({"lpar": "SYSA", "name": "TCPIPC"}, "policy_file"),
    ],
)
def test_a_stack_with_an_invalid_value_is_refused_and_nothing_is_saved(
    estate, as_architect, body, field
):
    response = as_architect.post("/api/stacks/", body)

    assert response.status_code == 400
    assert field in response.data, response.data
    assert Stack.objects.count() == 1


def test_an_lpar_name_over_8_characters_is_refused(db, as_architect):
    response = as_architect.post("/api/lpars/", {"name": "SYSTEMNINE"})

    assert response.status_code == 400
    assert "name" in response.data
    assert not Lpar.objects.exists()


@pytest.mark.parametrize("form", ["SYSA/TCPIP", "SYSA%2FTCPIP", "uuid"])
def test_a_stack_is_found_by_its_label_or_its_uuid(estate, as_architect, form):
    stack = estate["stack"]
    ref = str(stack.uuid) if form == "uuid" else form

    response = as_architect.get(f"/api/stacks/{ref}/")

    assert response.status_code == 200
    assert response.data["label"] == "SYSA/TCPIP"
    assert response.data["service_count"] == 3
    assert response.data["latest_version"] == 1


def test_an_unknown_stack_is_404(estate, as_architect):
    assert as_architect.get("/api/stacks/SYSA/NOPE/").status_code == 404
    assert as_architect.get("/api/stacks/SYSA/NOPE/draft/").status_code == 404


def test_the_draft_shows_text_hash_findings_and_the_diff_from_the_last_version(
    estate, as_architect
):
    response = as_architect.get("/api/stacks/SYSA/TCPIP/draft/")

    assert response.status_code == 200
    draft = response.data
    assert draft["stack"] == "SYSA/TCPIP"
    assert draft["text"].startswith("# AT-TLS policy for SYSA/TCPIP")
    assert draft["sha256"] == hashlib.sha256(draft["text"].encode()).hexdigest()
    assert draft["changed"] is True
    assert draft["published"]["number"] == 1
    assert draft["diff"].startswith("--- SYSA/TCPIP v1\n+++ SYSA/TCPIP draft\n")
    assert "+TTLSRule                          TN3270A" in draft["diff"]
    assert isinstance(draft["findings"], list)


def test_publishing_answers_201_with_the_new_version(estate, as_architect, architect):
    response = as_architect.post(
        "/api/stacks/SYSA/TCPIP/publish/", {"note": "A and B", "acknowledge_warnings": True}
    )

    assert response.status_code == 201, response.data
    version = PolicyVersion.objects.get(stack=estate["stack"], number=2)
    assert response["Location"].endswith("/api/stacks/SYSA/TCPIP/versions/2/")
    assert response.data["number"] == 2
    assert response.data["parent"] == 1
    assert response.data["author"] == architect.username
    assert response.data["note"] == "A and B"
    assert response.data["sha256"] == version.sha256
    assert response.data["model"]["rules"]


def test_publishing_a_draft_with_lint_errors_is_refused_with_the_findings(
    estate, as_architect, architect
):
    environment = estate["environment"]
    services.shared_object_update(
        actor=architect,
        obj=environment,
        fields={"tlsv1_2": False, "tlsv1_3": False},
        expected_revision=environment.revision,
    )

    response = as_architect.post(
        "/api/stacks/SYSA/TCPIP/publish/", {"note": "broken", "acknowledge_warnings": True}
    )

    assert response.status_code == 422
    assert "lint error" in response.data["detail"]
    assert response.data["findings"]
    assert {f["severity"] for f in response.data["findings"]} == {"error"}
    assert {"severity", "code", "message", "statement"} <= set(response.data["findings"][0])
    assert PolicyVersion.objects.count() == 1


def test_publishing_with_warnings_needs_an_acknowledgement(estate, as_architect, make_service):
    make_service("TN3270C", 992)  # same port and priority as TN3270A: an overlap warning

    refused = as_architect.post("/api/stacks/SYSA/TCPIP/publish/", {"note": "overlap"})
    accepted = as_architect.post(
        "/api/stacks/SYSA/TCPIP/publish/", {"note": "overlap", "acknowledge_warnings": True}
    )

    assert refused.status_code == 422
    assert "acknowledge" in refused.data["detail"]
    assert {f["severity"] for f in refused.data["findings"]} == {"warning"}
    assert accepted.status_code == 201
    assert any(f["severity"] == "warning" for f in accepted.data["lint"])


def test_publishing_needs_a_note(estate, as_architect):
    response = as_architect.post("/api/stacks/SYSA/TCPIP/publish/", {"note": ""})

    assert response.status_code == 400
    assert "note" in response.data
    assert PolicyVersion.objects.count() == 1


def test_publishing_an_unchanged_draft_is_refused(estate, as_architect):
    body = {"note": "again", "acknowledge_warnings": True}
    as_architect.post("/api/stacks/SYSA/TCPIP/publish/", body)

    response = as_architect.post("/api/stacks/SYSA/TCPIP/publish/", body)

    assert response.status_code == 422
    assert "Nothing changed since v2" in response.data["detail"]
    assert response.data["findings"] == []


def test_versions_are_listed_newest_first_without_their_text(estate, as_architect):
    as_architect.post(
        "/api/stacks/SYSA/TCPIP/publish/", {"note": "second", "acknowledge_warnings": True}
    )

    response = as_architect.get("/api/stacks/SYSA/TCPIP/versions/")

    assert response.status_code == 200
    versions = response.data["results"]
    assert [v["number"] for v in versions] == [2, 1]
    assert [v["parent"] for v in versions] == [1, None]
    assert versions[1]["note"] == "first cut"
    assert "text" not in versions[0]
    assert "model" not in versions[0]


def test_a_version_carries_its_structured_model(estate, as_architect):
    response = as_architect.get("/api/stacks/SYSA/TCPIP/versions/1/")

    assert response.status_code == 200
    assert response.data["number"] == 1
    assert [rule["name"] for rule in response.data["model"]["rules"]] == ["TN3270V1"]
    assert as_architect.get("/api/stacks/SYSA/TCPIP/versions/9/").status_code == 404


def test_a_versions_text_is_served_as_plain_text_matching_its_hash(estate, as_architect):
    version = PolicyVersion.objects.get(number=1)

    response = as_architect.get("/api/stacks/SYSA/TCPIP/versions/1/text/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert 'filename="SYSA-TCPIP-v1.policy"' in response["Content-Disposition"]
    assert response.content.decode() == version.text
    assert hashlib.sha256(response.content).hexdigest() == version.sha256


def test_a_missing_versions_text_is_a_plain_text_404(estate, as_architect):
    response = as_architect.get("/api/stacks/SYSA/TCPIP/versions/9/text/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"No PolicyVersion matches the given query."


def test_the_stack_list_costs_the_same_queries_for_1_or_10_stacks(
    estate, as_architect, architect, django_assert_max_num_queries
):
    lpar = Lpar.objects.get()
    for number in range(9):
        services.stack_create(
            actor=architect, lpar=lpar, name=f"TCPIP{number}", policy_file=f"/etc/pagent/{number}.p"
        )

    # session, user, roles, count, stacks with counts and last version
    with django_assert_max_num_queries(5):
        response = as_architect.get("/api/stacks/")

    assert response.data["count"] == 10


def test_a_draft_with_an_edited_shared_object_shows_the_change(estate, as_architect):
    environment = EnvironmentAction.objects.get(name="envTls12_13")
    as_architect.patch(
        "/api/environment-actions/envTls12_13/",
        {"revision": environment.revision, "tlsv1_2": False},
    )

    diff = as_architect.get("/api/stacks/SYSA/TCPIP/draft/").data["diff"]

    assert "TLSv1.2" in diff


def test_an_architect_declares_the_stacks_z_os_release_and_its_lint_follows(estate, as_architect):
    before = as_architect.get("/api/stacks/SYSA/TCPIP/")
    changed = as_architect.post("/api/stacks/SYSA/TCPIP/release/", {"zos_release": "3.2"})
    refused = as_architect.post("/api/stacks/SYSA/TCPIP/release/", {"zos_release": "1.13"})

    assert before.data["zos_release"] == "3.1"
    assert changed.status_code == 200, changed.data
    assert changed.data["zos_release"] == "3.2"
    assert refused.status_code == 400
    record = ChangeRecord.objects.filter(action="update", object_type="Stack").get()
    assert (record.before["zos_release"], record.after["zos_release"]) == ("3.1", "3.2")


def test_an_operator_cannot_change_a_stacks_release(estate, client_for, personas):
    as_operator = client_for(personas["operator"])
    response = as_operator.post("/api/stacks/SYSA/TCPIP/release/", {"zos_release": "3.2"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/u/prod/TCPIPD.policy", "is not under a directory allowed for it (/etc/pagent/)"),
        ("/etc/pagent/", "names a directory, not a file"),
    ],
)
def test_a_stack_whose_policy_file_is_outside_the_fence_is_refused_by_api_and_service(
    estate, as_architect, architect, path, reason
):
    body = {"lpar": "SYSA", "name": "TCPIPD", "policy_file": path}

    response = as_architect.post("/api/stacks/", body)

    assert response.status_code == 400
    assert reason in str(response.data["policy_file"])
    with pytest.raises(ValidationError, match=r"not under|directory"):
        services.stack_create(
            actor=architect, lpar=Lpar.objects.get(), name="TCPIPD", policy_file=path
        )
    assert Stack.objects.count() == 1


def test_the_fence_is_the_lpar_connections_allowed_directories_when_it_has_one(
    estate, as_architect, architect
):
    from fleet.models import LparConnection

    LparConnection.objects.create(
        lpar=Lpar.objects.get(), host="127.0.0.1", policy_path_prefixes=["/u/prod/"]
    )
    body = {"lpar": "SYSA", "name": "TCPIPD", "policy_file": "/u/prod/TCPIPD.policy"}

    assert as_architect.post("/api/stacks/", body).status_code == 201
    body = {"lpar": "SYSA", "name": "TCPIPE", "policy_file": "/etc/pagent/TCPIPE.policy"}
    refused = as_architect.post("/api/stacks/", body)
    assert refused.status_code == 400 and "(/u/prod/)" in str(refused.data["policy_file"])
