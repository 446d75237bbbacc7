"""Acknowledging an overwrite of a drifted file, acknowledging drift, the baseline download,
last-known-good, and "not probed" on the pages."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from attls.policy import parse_policy
from fleet import presenters
from fleet.deploy import FileDrift, Runner, sha256
from fleet.models import (
    Deployment,
    DeploymentTarget,
    DriftEvent,
    RunStatus,
    StackBaseline,
    TargetStatus,
)
from fleet.selectors import last_known_good
from fleet.services import DeploymentRefused, deployment_acknowledge_overwrite
from fleet.verify import Views, _conditions
from policies.models import ChangeRecord, PolicyVersion
from tests.fleet.ui_estate import FleetEstate, build_fleet

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
DRIFTED = hashlib.sha256(b"edited by hand").hexdigest()


@pytest.fixture
def fleet(make_user) -> FleetEstate:
    return build_fleet(make_user)


def client_for(fleet: FleetEstate, who: str) -> Client:
    client = Client()
    client.force_login(fleet.people[who])
    return client


def stopped_on_file_drift(fleet: FleetEstate) -> Deployment:
    """A deployment as the runner leaves it when the live file was not last-known-good."""
    deployment = fleet.pending
    Deployment.objects.filter(pk=deployment.pk).update(
        status=RunStatus.FAILED, error="SYSA/TCPIP: file drift: ...", finished_at=timezone.now()
    )
    target = deployment.targets.get()
    DeploymentTarget.objects.filter(pk=target.pk).update(
        status=TargetStatus.FAILED,
        error="file drift: ...",
        file_drift_sha256=DRIFTED,
        last_known_good_sha256="a" * 64,
        last_known_good_source="v1 (deployment 12345678)",
        finished_at=timezone.now(),
    )
    deployment.refresh_from_db()
    return deployment


def test_the_deployment_page_offers_operators_to_acknowledge_the_overwrite(fleet) -> None:
    deployment = stopped_on_file_drift(fleet)
    url = reverse("fleet:deployment", args=[deployment.uuid])

    operator = client_for(fleet, "operator2").get(url).content.decode()
    requester = client_for(fleet, "operator").get(url).content.decode()
    auditor = client_for(fleet, "auditor").get(url).content.decode()

    assert 'data-testid="overwrite-panel"' in operator and DRIFTED[:16] in operator
    assert reverse("fleet:deployment-acknowledge-overwrite", args=[deployment.uuid]) in operator
    assert 'data-testid="ack-not-yours"' in requester
    assert reverse("fleet:deployment-acknowledge-overwrite", args=[deployment.uuid]) not in (
        requester
    )
    assert 'data-testid="overwrite-panel"' in auditor
    assert "fleet:deployment-acknowledge-overwrite" not in auditor
    assert reverse("fleet:deployment-acknowledge-overwrite", args=[deployment.uuid]) not in auditor


def test_acknowledging_needs_a_comment_and_changes_nothing_without_one(fleet) -> None:
    deployment = stopped_on_file_drift(fleet)
    url = reverse("fleet:deployment-acknowledge-overwrite", args=[deployment.uuid])

    response = client_for(fleet, "operator").post(
        url, {"comment": "  "}, headers={**HTMX, "HX-Target": "overwrite-panel"}
    )

    assert response.status_code == 409
    assert "say why the live file may be overwritten" in response.content.decode()
    deployment.refresh_from_db()
    assert deployment.status == RunStatus.FAILED
    assert deployment.targets.get().overwrite_acknowledged_sha256 == ""


def test_acknowledging_requeues_the_deployment_for_exactly_the_text_found(fleet) -> None:
    deployment = stopped_on_file_drift(fleet)
    url = reverse("fleet:deployment-acknowledge-overwrite", args=[deployment.uuid])

    response = client_for(fleet, "operator2").post(
        url, {"comment": "hand edit CHG0042 is superseded"}, headers=HTMX
    )

    assert response.status_code == 200 and response["HX-Location"]
    deployment.refresh_from_db()
    target = deployment.targets.get()
    assert deployment.status == RunStatus.APPROVED and deployment.finished_at is None
    assert target.status == TargetStatus.WAITING and target.error == ""
    assert target.overwrite_acknowledged_sha256 == DRIFTED
    assert target.overwrite_acknowledged_by == fleet.people["operator2"]
    record = ChangeRecord.objects.get(action="ack-overwrite", object_uuid=deployment.uuid)
    assert record.note == "hand edit CHG0042 is superseded"
    assert record.after["overwrite"][0]["live_sha256"] == DRIFTED


def test_the_requester_may_not_acknowledge_the_overwrite_through_any_identity(
    fleet, make_user
) -> None:
    """Four eyes: the operator who requested the deployment, or the same person through a
    second account (accounts.identity.same_person), may not."""
    deployment = stopped_on_file_drift(fleet)
    # Her directory account: one person with her local one by the e-mail address they share.
    olivia_sso = make_user("olivia.sso", Role.OPERATOR)
    for account in (olivia_sso, fleet.people["operator"]):
        account.email = "olivia@bank.example"
        account.save(update_fields=["email"])
    url = reverse("fleet:deployment-acknowledge-overwrite", args=[deployment.uuid])

    for who in (fleet.people["operator"], olivia_sso):
        client = Client()
        client.force_login(who)
        assert client.post(url, {"comment": "mine"}).status_code == 403
    deployment.refresh_from_db()
    assert deployment.status == RunStatus.FAILED
    assert deployment.targets.get().overwrite_acknowledged_sha256 == ""


def test_only_a_deployment_stopped_on_file_drift_can_be_acknowledged(fleet) -> None:
    with pytest.raises(DeploymentRefused, match="did not stop on file drift"):
        deployment_acknowledge_overwrite(
            deployment=fleet.pending, actor=fleet.people["operator"], comment="why not"
        )
    with pytest.raises(PermissionError):
        deployment_acknowledge_overwrite(
            deployment=stopped_on_file_drift(fleet),
            actor=fleet.people["architect"],
            comment="not mine to say",
        )


def test_drift_is_acknowledged_with_a_comment_and_stays_open(fleet) -> None:
    now = timezone.now()
    event = DriftEvent.objects.create(
        stack=fleet.sysa,
        kind="probe",
        key="probe:accepts:TLSv1",
        detail="TN3270_Secure: port 992 accepts TLSv1, which the policy has Off",
        services=["TN3270_Secure", "CICS_Web"],
        opened_at=now,
        last_seen_at=now,
    )
    page = client_for(fleet, "operator").get(reverse("fleet:drift")).content.decode()
    assert "TN3270_Secure, CICS_Web" in page
    assert reverse("fleet:drift-acknowledge", args=[event.uuid]) in page
    url = reverse("fleet:drift-acknowledge", args=[event.uuid])

    assert client_for(fleet, "auditor").post(url, {"comment": "x"}).status_code == 403
    client_for(fleet, "operator").post(url, {"comment": ""})
    event.refresh_from_db()
    assert event.acknowledged_at is None
    client_for(fleet, "operator").post(url, {"comment": "known: CHG0042"})
    event.refresh_from_db()

    assert event.acknowledged_by == fleet.people["operator"]
    assert event.acknowledgement == "known: CHG0042" and event.is_open
    assert ChangeRecord.objects.filter(action="acknowledge", object_uuid=event.uuid).count() == 1
    page = client_for(fleet, "auditor").get(reverse("fleet:drift")).content.decode()
    assert "known: CHG0042" in page


def test_the_baseline_downloads_and_last_known_good_falls_back_to_it(fleet) -> None:
    stack = fleet.sysb  # never deployed
    assert last_known_good(stack) is None
    url = reverse("fleet:stack-baseline", args=[stack.lpar.name, stack.name])
    assert client_for(fleet, "auditor").get(url).status_code == 404
    text = "TTLSRule r\n{\n}\n"
    StackBaseline.objects.create(
        stack=stack,
        path=stack.policy_file,
        text=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        captured_at=timezone.now(),
        captured_by="verification 1234abcd",
    )

    response = client_for(fleet, "auditor").get(url)

    assert response.status_code == 200 and response.content.decode() == text
    assert response["X-Content-SHA256"] == hashlib.sha256(text.encode()).hexdigest()
    good = last_known_good(stack)
    assert good is not None and good.source == "baseline" and good.text == text
    assert "baseline" in good.label and "verification 1234abcd" in good.label


def test_last_known_good_is_the_last_target_verified_as_loaded(fleet) -> None:
    stack = fleet.sysa
    deployed = fleet.deployed.targets.get()
    good = last_known_good(stack)
    assert good is not None and good.source == "version"
    assert good.target == deployed and good.sha256 == deployed.sha256
    assert good.label.startswith(f"v{deployed.version.number} (deployment")
    page = client_for(fleet, "auditor").get(
        reverse("fleet:stack", args=[stack.lpar.name, stack.name])
    )
    assert good.label in page.content.decode()
    assert PolicyVersion.objects.filter(pk=deployed.version_id).exists()


def test_probe_contradictions_without_a_policy_change_are_one_event_per_cause(fleet) -> None:
    """Three services accepting TLSv1 under a policy that has it Off is one cause, one
    condition listing the three; a port that was not probed contradicts nothing."""
    target = fleet.deployed.targets.get()
    policy = parse_policy(target.text)
    secured = sorted(policy.rules)[:4]
    accepting, unprobed = secured[:3], secured[3]
    figures = {
        "services": {
            name: {"in_scope": True, "unexpected_rule": [], "probe_protocols": ["TLSv1", "TLSv1.2"]}
            for name in accepting
        }
        | {unprobed: {"in_scope": True, "unexpected_rule": [], "probe_protocols": []}}
    }
    views = Views(
        probe={name: {"tls": True, "zos_port": 992} for name in accepting}
        | {unprobed: {"tls": None, "zos_port": 7554, "not_probed": "no probe port"}}
    )

    conditions, judged = _conditions(fleet.sysa, views, figures, target)

    assert "probe" in judged
    by_key = {c.key: c for c in conditions}
    assert set(by_key) == {"probe:accepts:TLSv1"}, [c.detail for c in conditions]
    assert by_key["probe:accepts:TLSv1"].services == tuple(sorted(accepting))


def test_the_api_acknowledges_an_overwrite_and_a_drift_event(fleet) -> None:
    deployment = stopped_on_file_drift(fleet)
    now = timezone.now()
    event = DriftEvent.objects.create(
        stack=fleet.sysb,
        kind="file",
        key="policy",
        detail="The policy file changed without a deployment",
        opened_at=now,
        last_seen_at=now,
    )
    operator = client_for(fleet, "operator")

    def post(client: Client, url: str, comment: str) -> Any:
        return client.post(url, {"comment": comment}, content_type="application/json")

    overwrite = f"/api/fleet/deployments/{deployment.uuid}/acknowledge-overwrite/"
    drift = f"/api/fleet/drift-events/{event.uuid}/acknowledge/"

    assert post(operator, overwrite, "").status_code == 409
    assert post(operator, overwrite, "mine").status_code == 403  # olivia requested it
    answer = post(client_for(fleet, "operator2"), overwrite, "superseded")
    assert answer.status_code == 202 and answer.json()["status"] == RunStatus.APPROVED
    assert post(client_for(fleet, "auditor"), drift, "x").status_code == 403
    answer = post(operator, drift, "CHG0042")
    assert answer.status_code == 200
    assert answer.json()["acknowledgement"] == "CHG0042"
    assert answer.json()["acknowledged_by"] == fleet.people["operator"].username
    assert post(operator, drift, "again").status_code == 409


def test_a_service_not_probed_and_without_connections_is_never_shown_secured() -> None:
    unprobed = {"in_scope": True, "connections": 0, "secured": 0, "probe_tls": None}
    reason = "no probe port is mapped for TCPIP port 7554"
    badge = presenters.service_badge(unprobed | {"not_probed": reason})
    assert badge.key == "partly" and reason in badge.why
    seen = presenters.service_badge(unprobed | {"connections": 2, "secured": 2})
    assert seen.key == "secured"  # its own connections say it is secured


def test_the_verification_page_says_whether_the_policy_file_is_last_known_good(fleet) -> None:
    run = fleet.run_after
    run.outputs = dict(run.outputs) | {
        "policy_file": {
            "command": "read /etc/pagent/TCPIP.policy",
            "sha256": DRIFTED,
            "expected_sha256": "b" * 64,
            "expected": "v2 (deployment 12345678)",
            "text": "edited by hand",
            "parsed": True,
            "error": "",
        }
    }
    run.results = dict(run.results) | {"drift_not_judged": "deployment 1234abcd was changing it"}
    run.save()

    page = client_for(fleet, "auditor").get(reverse("fleet:verification", args=[run.uuid]))

    body = page.content.decode()
    assert "is not v2 (deployment 12345678)" in body and DRIFTED[:16] in body
    assert "Drift not judged by this run: deployment 1234abcd was changing it" in body


def test_a_file_drift_stop_shows_expected_against_found_as_a_diff_with_both_hashes(
    fleet,
) -> None:
    expected = "TTLSRule A\n{\n  LocalPortRange 992\n}\n"
    found = "TTLSRule A\n{\n  LocalPortRange 993\n}\n"
    deployment = fleet.pending
    Deployment.objects.filter(pk=deployment.pk).update(status=RunStatus.RUNNING)
    target = deployment.targets.select_related("stack__lpar", "version").get()
    DeploymentTarget.objects.filter(pk=target.pk).update(
        last_known_good=expected,
        last_known_good_sha256=sha256(expected),
        last_known_good_source="v1 (deployment 12345678)",
    )
    target.refresh_from_db()
    runner = Runner(deployment, connector_for=None, verify=None)  # type: ignore[arg-type]

    with pytest.raises(FileDrift):
        runner.check_live(target, target.stack.policy_file, found)
    runner.end_target(target, TargetStatus.FAILED, "file drift")
    runner.finish(True)

    page = client_for(fleet, "auditor").get(reverse("fleet:deployment", args=[deployment.uuid]))
    diff = page.content.decode().split('data-testid="drift-diff"')[1]
    assert f"expected: v1 (deployment 12345678) (sha256 {sha256(expected)})" in diff
    assert f"(sha256 {sha256(found)})" in diff
    assert '<span class="sign">-</span>  LocalPortRange 992' in diff
    assert '<span class="sign">+</span>  LocalPortRange 993' in diff
