"""The fleet API: reads by role, writes by operators only (403 and nothing changed otherwise),
the services' refusals as 409, and no LPAR secret in any answer."""

from __future__ import annotations

import hashlib

import pytest
from rest_framework.test import APIClient

from accounts.roles import Role
from fleet.models import (
    Deployment,
    DeploymentKind,
    LparConnection,
    RunStatus,
    VerificationRun,
)
from policies.models import ChangeRecord, PolicyVersion
from tests.fleet.ui_estate import (
    SECRET_KEY,
    SECRET_PASSWORD,
    FleetEstate,
    build_fleet,
    withdraw_pending,
)

pytestmark = pytest.mark.django_db

API = "/api/fleet"


@pytest.fixture
def fleet(make_user) -> FleetEstate:
    return build_fleet(make_user)


def api_for(fleet: FleetEstate, who: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(fleet.people[who])
    return client


def reads(fleet: FleetEstate) -> dict[str, str]:
    return {
        "stacks": f"{API}/stacks/",
        "stack": f"{API}/stacks/SYSA/TCPIP/",
        "deployments": f"{API}/deployments/",
        "deployment": f"{API}/deployments/{fleet.deployed.uuid}/",
        "verifications": f"{API}/verifications/",
        "verification": f"{API}/verifications/{fleet.run_after.uuid}/",
        "drift": f"{API}/drift-events/",
        "certificates": f"{API}/certificates/",
        # Incidents: an app owner reads those of their services (tests/fleet/test_views.py).
    }


def test_estate_reads_answer_the_estate_roles_and_refuse_app_owners(fleet) -> None:
    for name, url in reads(fleet).items():
        for who in ("architect", "operator", "auditor", "admin"):
            assert api_for(fleet, who).get(url).status_code == 200, (name, who)
        for who in ("owner_a", "nobody"):
            assert api_for(fleet, who).get(url).status_code == 403, (name, who)
        assert APIClient().get(url).status_code == 401, name


def test_connections_are_for_operators_and_carry_no_secret(fleet) -> None:
    url = f"{API}/connections/"
    for who in ("architect", "auditor", "owner_a"):
        assert api_for(fleet, who).get(url).status_code == 403
    response = api_for(fleet, "operator").get(url)
    assert response.status_code == 200
    sysa = next(c for c in response.json()["results"] if c["lpar"] == "SYSA")
    assert sysa["password_set"] is True and sysa["ssh_key_set"] is True
    assert not {key for key in sysa if "encrypted" in key or key in ("password", "ssh_key")}
    assert sysa["stacks"] == ["SYSA/TCPIP"]
    one = api_for(fleet, "operator").get(f"{url}SYSA/")
    assert one.json()["zosmf_port"] == 21001


def test_no_answer_carries_an_lpar_secret(fleet) -> None:
    stored = LparConnection.objects.get(lpar__name="SYSA")
    secrets = (
        SECRET_PASSWORD,
        SECRET_KEY.splitlines()[1],
        stored.password_encrypted,
        stored.ssh_key_encrypted,
    )
    urls = [
        *reads(fleet).values(),
        f"{API}/connections/",
        f"{API}/connections/SYSA/",
        f"{API}/my-services/",
        "/api/schema/",
    ]
    for url in urls:
        body = api_for(fleet, "operator").get(url).content.decode()
        for secret in secrets:
            assert secret not in body, url


def test_stack_state_reads_the_before_and_after(fleet) -> None:
    stacks = {s["stack"]: s for s in api_for(fleet, "auditor").get(f"{API}/stacks/").json()}
    sysa, sysb = stacks["SYSA/TCPIP"], stacks["SYSB/TCPIP"]
    assert sysa["attls_deployed"] is True and sysa["deployed"]["version"] == 2
    assert (sysa["connections"], sysa["secured"]) == (29, 28)
    assert sysa["open_drift"] == 1
    assert (sysa["certificates_due"], sysa["certificates_expired"]) == (1, 1)
    assert sysb["attls_deployed"] is False and sysb["deployed"] is None
    assert sysb["coverage"] == 0.0
    assert sysb["ports"] == {
        "probed": 3,
        "cleartext": 1,
        "app_tls": 2,
        "deprecated": 2,
        "weakest": {"TLSv1": 2},
    }


def test_a_deployment_reads_with_its_targets_and_steps(fleet) -> None:
    body = api_for(fleet, "auditor").get(f"{API}/deployments/{fleet.deployed.uuid}/").json()
    assert body["status"] == "succeeded" and body["approved_by"] == "otto"
    assert body["targets"][0]["stack"] == "SYSA/TCPIP" and body["targets"][0]["version"] == 2
    assert [s["name"] for s in body["steps"]][:3] == [
        "keep last-known-good",
        "upload",
        "refresh PAGENT",
    ]
    listed = api_for(fleet, "auditor").get(f"{API}/deployments/", {"status": "pending"}).json()
    assert [d["uuid"] for d in listed["results"]] == [str(fleet.pending.uuid)]


def test_verification_detail_has_each_raw_output_with_the_hash_of_its_text(fleet) -> None:
    body = api_for(fleet, "auditor").get(f"{API}/verifications/{fleet.run_after.uuid}/").json()
    assert set(body["outputs"]) == {
        "pasearch",
        "netstat_conn",
        "netstat_allconn",
        "probe",
        "syslog",
    }
    for output in body["outputs"].values():
        assert hashlib.sha256(output["text"].encode()).hexdigest() == output["sha256"]
    assert body["outputs"]["netstat_allconn"]["parsed"] is False
    assert body["outputs"]["netstat_allconn"]["error"].startswith("line 2")
    assert body["parse_failed"] is True
    assert body["results"]["services"]["CICSWEB1"]["secured"] == 2
    listed = api_for(fleet, "auditor").get(f"{API}/verifications/", {"stack": "SYSB/TCPIP"})
    assert [r["uuid"] for r in listed.json()["results"]] == [str(fleet.run_before.uuid)]
    assert "outputs" not in listed.json()["results"][0]


def test_drift_certificates_and_incidents_filter(fleet) -> None:
    client = api_for(fleet, "auditor")
    open_drift = client.get(f"{API}/drift-events/").json()["results"]
    assert [e["key"] for e in open_drift] == ["policy"]
    everything = client.get(f"{API}/drift-events/", {"status": "all"}).json()["results"]
    assert len(everything) == 2
    due = client.get(f"{API}/certificates/", {"status": "open"}).json()["results"]
    assert [(c["band"], c["rules"]) for c in due] == [
        ("expired", ["FTPSRV"]),
        ("≤ 30 days", ["MQCHIN"]),
    ]
    incidents = client.get(f"{API}/incidents/").json()["results"]
    assert incidents[0]["kind"] == "certificate-expired"
    assert incidents[0]["certificate"] == "bb" * 32


def test_my_services_answers_an_app_owner_with_only_their_services(fleet) -> None:
    mine = api_for(fleet, "owner_a").get(f"{API}/my-services/").json()["results"]
    assert sorted(s["name"] for s in mine) == ["CICSWEB1", "CICSWEB2", "CICSWEBB"]
    web1 = next(s for s in mine if s["name"] == "CICSWEB1")
    assert web1["status"] == "partly" and web1["connections"] == 3
    assert len(web1["live_connections"]) == 3 and len(web1["hours"]) == 24
    theirs = api_for(fleet, "owner_b").get(f"{API}/my-services/").json()["results"]
    assert [s["name"] for s in theirs] == ["MQCHIN"]
    everyone = api_for(fleet, "auditor").get(f"{API}/my-services/").json()
    assert everyone["count"] == 12
    assert api_for(fleet, "nobody").get(f"{API}/my-services/").status_code == 403
    bad = api_for(fleet, "owner_a").get(f"{API}/my-services/", {"window": "1y"})
    assert bad.status_code == 400


# --- writes ---------------------------------------------------------------------------------------


def _state() -> tuple[int, ...]:
    return (
        Deployment.objects.count(),
        Deployment.objects.filter(status=RunStatus.PENDING).count(),
        VerificationRun.objects.count(),
        ChangeRecord.objects.count(),
    )


def test_writes_by_anyone_but_an_operator_are_403_and_change_nothing(fleet) -> None:
    writes = {
        f"{API}/deployments/": {"targets": [{"stack": "SYSA/TCPIP"}]},
        f"{API}/deployments/{fleet.pending.uuid}/approve/": {},
        f"{API}/stacks/SYSA/TCPIP/rollback/": {},
        f"{API}/stacks/SYSA/TCPIP/remove-rule/": {"rule": "CICSWEB1"},
        f"{API}/stacks/SYSA/TCPIP/verify/": {},
    }
    before = _state()
    for url, body in writes.items():
        for who in ("architect", "auditor", "admin", "owner_a", "nobody"):
            assert api_for(fleet, who).post(url, body).status_code == 403, (url, who)
        assert APIClient().post(url, body).status_code == 401
    assert _state() == before


def test_an_operator_requests_a_deployment_of_the_latest_or_a_named_version(fleet) -> None:
    withdraw_pending(fleet)
    response = api_for(fleet, "operator").post(
        f"{API}/deployments/",
        {"targets": [{"stack": "SYSA/TCPIP"}], "note": "CHG-7"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending" and body["targets"][0]["version"] == 2
    assert body["requested_by"] == "olivia" and body["note"] == "CHG-7"

    # One pending request per stack: a second is refused, naming the first; nothing is saved.
    count = Deployment.objects.count()
    second = api_for(fleet, "operator2").post(
        f"{API}/deployments/", {"targets": [{"stack": fleet.sysa.uuid, "version": 1}]}
    )
    assert second.status_code == 409
    assert (
        f"SYSA/TCPIP already has a pending deployment request: {body['uuid'][:8]} (v2,"
        " requested by olivia" in second.json()["detail"]
    )
    assert Deployment.objects.count() == count
    api_for(fleet, "operator").post(f"{API}/deployments/{body['uuid']}/cancel/")

    named = api_for(fleet, "operator").post(
        f"{API}/deployments/", {"targets": [{"stack": fleet.sysa.uuid, "version": 1}]}
    )
    assert named.status_code == 201 and named.json()["targets"][0]["version"] == 1


def test_a_deployment_request_for_a_stack_without_versions_is_400(fleet) -> None:
    count = Deployment.objects.count()
    response = api_for(fleet, "operator").post(
        f"{API}/deployments/", {"targets": [{"stack": "SYSB/TCPIP"}]}
    )
    assert response.status_code == 400
    assert "SYSB/TCPIP has no published version." in response.content.decode()
    assert Deployment.objects.count() == count
    unknown = api_for(fleet, "operator").post(
        f"{API}/deployments/", {"targets": [{"stack": "X/Y"}]}
    )
    assert unknown.status_code == 400


def test_approve_by_another_operator_then_four_eyes_refuses_the_publisher(fleet, make_user) -> None:
    response = api_for(fleet, "operator2").post(f"{API}/deployments/{fleet.pending.uuid}/approve/")
    assert response.status_code == 202 and response.json()["status"] == "approved"
    again = api_for(fleet, "operator2").post(f"{API}/deployments/{fleet.pending.uuid}/approve/")
    assert again.status_code == 409 and "approved" in again.json()["detail"]

    both = make_user("pat", Role.ARCHITECT, Role.OPERATOR)
    v3 = PolicyVersion.objects.create(
        stack=fleet.sysa,
        number=3,
        text=fleet.v2.text,
        sha256=fleet.v2.sha256,
        model=fleet.v2.model,
        author=both,
        note="pat's",
        parent=fleet.v2,
    )
    created = (
        api_for(fleet, "operator")
        .post(f"{API}/deployments/", {"targets": [{"stack": "SYSA/TCPIP", "version": v3.number}]})
        .json()
    )
    client = APIClient()
    client.force_authenticate(both)
    refused = client.post(f"{API}/deployments/{created['uuid']}/approve/")
    assert refused.status_code == 403
    assert "you published SYSA/TCPIP v3 yourself" in refused.json()["detail"]
    assert Deployment.objects.get(uuid=created["uuid"]).status == RunStatus.PENDING


def test_rollback_and_remove_rule_through_the_api(fleet) -> None:
    withdraw_pending(fleet)
    client = api_for(fleet, "operator")
    rollback = client.post(f"{API}/stacks/SYSA/TCPIP/rollback/", {"note": "partner"})
    assert rollback.status_code == 202
    assert rollback.json()["kind"] == DeploymentKind.ROLLBACK
    assert rollback.json()["targets"][0]["version"] == 1

    assert rollback.json()["status"] == "pending"  # another operator approves it
    client.post(f"{API}/deployments/{rollback.json()['uuid']}/cancel/")

    removal = client.post(f"{API}/stacks/SYSA/TCPIP/remove-rule/", {"rule": "MQCHIN"})
    assert removal.status_code == 202
    assert removal.json()["targets"][0]["removed_rule"] == "MQCHIN"
    assert removal.json()["status"] == "pending"
    client.post(f"{API}/deployments/{removal.json()['uuid']}/cancel/")

    count = Deployment.objects.count()
    assert client.post(f"{API}/stacks/SYSB/TCPIP/rollback/").status_code == 409
    bad = client.post(f"{API}/stacks/SYSA/TCPIP/remove-rule/", {"rule": "NOPE"})
    assert bad.status_code == 409 and "no rule NOPE" in bad.json()["detail"]
    assert Deployment.objects.count() == count


def test_verify_now_through_the_api_creates_a_pending_run(fleet) -> None:
    response = api_for(fleet, "operator").post(f"{API}/stacks/SYSB/TCPIP/verify/")
    assert response.status_code == 202
    run = VerificationRun.objects.get(uuid=response.json()["uuid"])
    assert run.status == RunStatus.PENDING and run.stack == fleet.sysb
