"""The fleet pages: who may use each, what forbidden writes leave alone, htmx partials and
polling, the "before" state, secrets that never show, and list pages whose query count does
not grow with their rows."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from attls.policy import parse_policy
from fleet.models import (
    Certificate,
    Deployment,
    DeploymentKind,
    DeploymentTarget,
    DriftEvent,
    Incident,
    LparConnection,
    RunStatus,
    TargetStatus,
    VerificationRun,
)
from fleet.services import deployment_request
from policies import services as design
from policies.models import ChangeRecord, Lpar, PolicyVersion, Service, Stack
from tests.fleet.ui_estate import (
    SECRET_KEY,
    SECRET_PASSWORD,
    FleetEstate,
    build_fleet,
    withdraw_pending,
)

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}

ESTATE = ("architect", "operator", "auditor", "admin")
OWNERS = ("owner_a", "owner_b")
EVERYONE = (*ESTATE, *OWNERS, "nobody")


@pytest.fixture
def fleet(make_user) -> FleetEstate:
    return build_fleet(make_user)


def client_for(fleet: FleetEstate, who: str) -> Client:
    client = Client()
    client.force_login(fleet.people[who])
    return client


def pages(fleet: FleetEstate) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Every GET page of the fleet with the personas who may open it."""
    sysa = ("SYSA", "TCPIP")
    operators = ("operator", "operator2")
    estate = (*ESTATE, "operator2")
    return {
        "dashboard": (reverse("dashboard"), (*EVERYONE, "operator2")),
        "deployments": (reverse("fleet:deployments"), estate),
        "deployment-new": (reverse("fleet:deployment-new"), operators),
        "deployment": (reverse("fleet:deployment", args=[fleet.deployed.uuid]), estate),
        "stack": (reverse("fleet:stack", args=sysa), estate),
        "rollback": (reverse("fleet:stack-rollback", args=sysa), operators),
        "remove-rule": (reverse("fleet:stack-remove-rule", args=sysa), operators),
        "verification": (reverse("fleet:verification", args=[fleet.run_after.uuid]), estate),
        "output": (
            reverse("fleet:verification-output", args=[fleet.run_after.uuid, "pasearch"]),
            estate,
        ),
        "drift": (reverse("fleet:drift"), estate),
        "certificates": (reverse("fleet:certificates"), estate),
        "incidents": (reverse("fleet:incidents"), (*estate, *OWNERS)),
        "connections": (reverse("fleet:connections"), operators),
        "connection-edit": (reverse("fleet:connection-edit", args=["SYSA"]), operators),
        "my-services": (reverse("fleet:my-services"), (*estate, *OWNERS)),
    }


# --- who may open what ----------------------------------------------------------------------------


def test_each_page_opens_for_the_roles_allowed_and_is_403_for_the_others(fleet) -> None:
    failures = []
    for name, (url, allowed) in pages(fleet).items():
        for who in (*EVERYONE, "operator2"):
            status = client_for(fleet, who).get(url).status_code
            expected = 200 if who in allowed else 403
            if status != expected:
                failures.append(f"{name} as {who}: {status}, expected {expected}")
    assert not failures, "\n".join(failures)


def test_an_anonymous_visitor_is_sent_to_the_login_page(fleet) -> None:
    for name, (url, _) in pages(fleet).items():
        response = Client().get(url)
        assert response.status_code == 302, name
        assert response.url.startswith(reverse("login")), name


def _state() -> tuple[int, ...]:
    return (
        Deployment.objects.count(),
        Deployment.objects.filter(status=RunStatus.PENDING).count(),
        VerificationRun.objects.count(),
        ChangeRecord.objects.count(),
        hash(tuple(LparConnection.objects.values_list("host", "password_encrypted"))),
    )


def test_forbidden_posts_answer_403_and_change_nothing(fleet) -> None:
    sysa = ("SYSA", "TCPIP")
    writes = {
        reverse("fleet:deployment-new"): {
            f"include-{fleet.sysa.uuid}": "on",
            f"order-{fleet.sysa.uuid}": "1",
            f"version-{fleet.sysa.uuid}": "2",
        },
        reverse("fleet:deployment-approve", args=[fleet.pending.uuid]): {},
        reverse("fleet:stack-rollback", args=sysa): {"note": "x"},
        reverse("fleet:stack-remove-rule", args=sysa): {"rule": "CICSWEB1"},
        reverse("fleet:stack-verify", args=sysa): {},
        reverse("fleet:connection-edit", args=["SYSA"]): {"host": "evil.example"},
    }
    before = _state()
    for url, data in writes.items():
        for who in ("architect", "auditor", "admin", "owner_a", "nobody"):
            response = client_for(fleet, who).post(url, data, headers=HTMX)
            assert response.status_code == 403, (url, who)
    assert _state() == before


def test_pages_that_only_read_refuse_posts(fleet) -> None:
    client = client_for(fleet, "operator")
    for url in (reverse("fleet:deployments"), reverse("fleet:drift"), reverse("fleet:my-services")):
        assert client.post(url).status_code == 405


# --- the overview ---------------------------------------------------------------------------------


def test_dashboard_shows_each_stack_with_coverage_deployed_version_drift_and_certificates(
    fleet,
) -> None:
    page = client_for(fleet, "auditor").get(reverse("dashboard")).content.decode()

    assert 'data-stack="SYSA/TCPIP"' in page
    assert "v2 deployed" in page
    assert "97%" in page  # 28 of 29 connections secured on SYSA
    assert "28 of 29 connections" in page
    assert "TLS 1.3" in page
    assert "1 expired" in page and "1 within 30 d" in page
    assert f"{reverse('fleet:drift')}?stack=SYSA/TCPIP" in page.replace("%2F", "/")


def test_dashboard_reads_the_before_state_clearly_when_nothing_is_deployed(fleet) -> None:
    page = client_for(fleet, "operator").get(reverse("dashboard")).content.decode()
    sysb = page[page.index('data-stack="SYSB/TCPIP"') :]
    sysb = sysb[: sysb.index("</tr>")]

    assert "no AT-TLS policy deployed" in sysb
    assert "0%" in sysb and "0 of 20 connections" in sysb
    assert "Applications' own TLS" in sysb
    assert "Probe of 3 ports: 2 speak TLS themselves" in sysb  # the fourth is outbound
    assert "2 accept TLS 1.0/1.1" in sysb and "1 cleartext" in sysb
    assert "no connection covered by AT-TLS" in sysb


def test_dashboard_with_no_stacks_says_there_are_no_lpars_yet(client, make_user) -> None:
    client.force_login(make_user("ada", Role.ARCHITECT))
    assert "No LPARs yet" in client.get(reverse("dashboard")).content.decode()


def test_dashboard_shows_an_app_owner_only_their_services(fleet) -> None:
    page = client_for(fleet, "owner_b").get(reverse("dashboard")).content.decode()

    assert "MQCHIN" in page
    assert "CICSWEB1" not in page and "SYSB/TCPIP" not in page
    assert 'data-testid="fleet-table"' not in page


def test_dashboard_summary_partial_refreshes_itself_alone(fleet) -> None:
    response = client_for(fleet, "operator").get(
        reverse("dashboard"), headers={**HTMX, "HX-Target": "fleet-summary"}
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="fleet-summary"')
    assert "<html" not in body and 'hx-trigger="every 30s"' in body


# --- deployments ----------------------------------------------------------------------------------


def test_deployment_page_shows_targets_steps_and_status(fleet) -> None:
    page = (
        client_for(fleet, "auditor")
        .get(reverse("fleet:deployment", args=[fleet.deployed.uuid]))
        .content.decode()
    )
    assert 'data-testid="deployment-status">Succeeded' in page
    assert "refresh PAGENT" in page and "EZZ8771I" in page
    assert "SYSA/TCPIP" in page and "v2" in page
    assert 'hx-trigger="every 1s"' not in page  # finished: no polling
    assert "Approve and run" not in page


def test_polling_returns_only_the_progress_partial_and_polls_while_running(fleet) -> None:
    Deployment.objects.filter(pk=fleet.pending.pk).update(status=RunStatus.RUNNING)
    DeploymentTarget.objects.filter(deployment=fleet.pending).update(status=TargetStatus.RUNNING)
    url = reverse("fleet:deployment", args=[fleet.pending.uuid])
    client = client_for(fleet, "operator")

    body = client.get(url, headers={**HTMX, "HX-Target": "deployment-progress"}).content.decode()

    assert body.lstrip().startswith('<div id="deployment-progress"')
    assert "<html" not in body and "fleet-nav" not in body
    assert 'hx-trigger="every 1s"' in body
    assert 'data-testid="target-status">Running' in body

    Deployment.objects.filter(pk=fleet.pending.pk).update(status=RunStatus.SUCCEEDED)
    finished = client.get(url, headers={**HTMX, "HX-Target": "deployment-progress"})
    assert 'hx-trigger="every 1s"' not in finished.content.decode()


def test_a_boosted_navigation_gets_the_whole_page(fleet) -> None:
    response = client_for(fleet, "operator").get(
        reverse("fleet:deployment", args=[fleet.pending.uuid]),
        headers={**HTMX, "HX-Boosted": "true", "HX-Target": "deployment-progress"},
    )
    assert "<html" in response.content.decode()


def test_approve_by_another_operator_answers_with_hx_location(fleet) -> None:
    url = reverse("fleet:deployment-approve", args=[fleet.pending.uuid])

    response = client_for(fleet, "operator2").post(url, headers=HTMX)

    assert response.status_code == 200
    assert reverse("fleet:deployment", args=[fleet.pending.uuid]) in response["HX-Location"]
    fleet.pending.refresh_from_db()
    assert fleet.pending.status == RunStatus.APPROVED
    assert fleet.pending.approved_by == fleet.people["operator2"]


def test_approve_of_ones_own_version_is_forbidden_with_the_four_eyes_reason(
    fleet, make_user
) -> None:
    withdraw_pending(fleet)
    both = make_user("pat", Role.ARCHITECT, Role.OPERATOR)
    v3 = PolicyVersion.objects.create(
        stack=fleet.sysa,
        number=3,
        text=fleet.v2.text,
        sha256=fleet.v2.sha256,
        model=fleet.v2.model,
        author=both,
        note="pat's version",
        parent=fleet.v2,
    )
    deployment = deployment_request(actor=fleet.people["operator"], targets=[(fleet.sysa, v3)])
    client = Client()
    client.force_login(both)

    response = client.post(
        reverse("fleet:deployment-approve", args=[deployment.uuid]),
        headers={**HTMX, "HX-Target": "approve-panel"},
    )

    assert response.status_code == 403
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="approve-panel"')
    assert "You published SYSA/TCPIP v3 yourself; another operator must approve" in body
    deployment.refresh_from_db()
    assert deployment.status == RunStatus.PENDING


def test_new_deployment_offers_latest_versions_and_requests_in_the_chosen_order(fleet) -> None:
    withdraw_pending(fleet)
    sysb_v1 = design.policy_version_publish(
        stack=fleet.sysb,
        actor=fleet.people["architect"],
        note="SYSB first cut",
        acknowledge_warnings=True,
    )
    client = client_for(fleet, "operator")
    page = client.get(reverse("fleet:deployment-new")).content.decode()
    assert "v2" in page and "SYSB/TCPIP" in page

    response = client.post(
        reverse("fleet:deployment-new"),
        {
            f"include-{fleet.sysa.uuid}": "on",
            f"order-{fleet.sysa.uuid}": "2",
            f"version-{fleet.sysa.uuid}": "2",
            f"include-{fleet.sysb.uuid}": "on",
            f"order-{fleet.sysb.uuid}": "1",
            f"version-{fleet.sysb.uuid}": "1",
            "note": "CHG-1: both stacks",
        },
        headers=HTMX,
    )

    assert response.status_code == 200
    deployment = Deployment.objects.order_by("-id").first()
    assert reverse("fleet:deployment", args=[deployment.uuid]) in response["HX-Location"]
    targets = list(deployment.targets.order_by("position").values_list("stack_id", "version_id"))
    assert targets == [(fleet.sysb.id, sysb_v1.id), (fleet.sysa.id, fleet.v2.id)]
    assert deployment.status == RunStatus.PENDING and deployment.note == "CHG-1: both stacks"


def test_new_deployment_refuses_a_version_that_is_no_longer_the_latest(fleet) -> None:
    count = Deployment.objects.count()
    response = client_for(fleet, "operator").post(
        reverse("fleet:deployment-new"),
        {f"include-{fleet.sysa.uuid}": "on", f"version-{fleet.sysa.uuid}": "1"},
    )
    assert response.status_code == 422
    assert "was published after this page offered v1" in response.content.decode()
    assert Deployment.objects.count() == count


def test_a_second_pending_request_for_a_stack_is_refused_naming_the_first(fleet) -> None:
    count = Deployment.objects.count()
    response = client_for(fleet, "operator2").post(
        reverse("fleet:deployment-new"),
        {f"include-{fleet.sysa.uuid}": "on", f"version-{fleet.sysa.uuid}": "2"},
    )
    assert response.status_code == 422
    assert (
        f"SYSA/TCPIP already has a pending deployment request: {str(fleet.pending.uuid)[:8]}"
        " (v2, requested by olivia" in response.content.decode()
    )
    assert Deployment.objects.count() == count


def test_new_deployment_with_nothing_chosen_says_so(fleet) -> None:
    response = client_for(fleet, "operator").post(
        reverse("fleet:deployment-new"), {f"version-{fleet.sysa.uuid}": "2"}
    )
    assert response.status_code == 422
    assert "Choose at least one stack" in response.content.decode()


# --- rollback and remove rule ---------------------------------------------------------------------


def test_rollback_asks_for_confirmation_naming_both_versions(fleet) -> None:
    page = (
        client_for(fleet, "operator")
        .get(reverse("fleet:stack-rollback", args=["SYSA", "TCPIP"]))
        .content.decode()
    )
    assert 'Roll back <span class="mono">SYSA/TCPIP</span> from' in page
    assert '<span class="mono">v2</span> to <span class="mono">v1</span>?' in page


def test_confirmed_rollback_deploys_the_previous_version(fleet) -> None:
    withdraw_pending(fleet)
    response = client_for(fleet, "operator").post(
        reverse("fleet:stack-rollback", args=["SYSA", "TCPIP"]), {"note": ""}, headers=HTMX
    )

    rollback = Deployment.objects.get(kind=DeploymentKind.ROLLBACK)
    assert reverse("fleet:deployment", args=[rollback.uuid]) in response["HX-Location"]
    # Four eyes on the way back too: it waits for another operator, not its requester.
    assert rollback.status == RunStatus.PENDING
    approve = reverse("fleet:deployment-approve", args=[rollback.uuid])
    assert client_for(fleet, "operator").post(approve).status_code == 403
    assert Deployment.objects.get(pk=rollback.pk).status == RunStatus.PENDING
    client_for(fleet, "operator2").post(approve)
    rollback.refresh_from_db()
    assert rollback.status == RunStatus.APPROVED and rollback.approved_by.username == "otto"
    assert rollback.rollback_of == fleet.deployed
    assert list(rollback.targets.values_list("version__number", flat=True)) == [1]
    assert rollback.note == "roll back SYSA/TCPIP from v2 to v1"


def test_rollback_of_a_stack_with_nothing_deployed_is_refused_and_creates_nothing(fleet) -> None:
    client = client_for(fleet, "operator")
    url = reverse("fleet:stack-rollback", args=["SYSB", "TCPIP"])
    assert "Nothing has been deployed to SYSB/TCPIP yet" in client.get(url).content.decode()
    count = Deployment.objects.count()

    response = client.post(url, {"note": ""})

    assert response.status_code == 409
    assert Deployment.objects.count() == count


def test_remove_rule_offers_the_rules_of_the_deployed_version_then_confirms(fleet) -> None:
    withdraw_pending(fleet)
    client = client_for(fleet, "operator")
    url = reverse("fleet:stack-remove-rule", args=["SYSA", "TCPIP"])

    chooser = client.get(url).content.decode()
    assert '<option value="CICSWEB1">' in chooser and '<option value="ZOSMF">' in chooser
    confirm = client.get(url, {"rule": "CICSWEB1"}).content.decode()
    assert 'Remove rule <span class="mono">CICSWEB1</span> from' in confirm

    response = client.post(url, {"rule": "CICSWEB1", "note": "partner breaks"}, headers=HTMX)

    removal = Deployment.objects.get(kind=DeploymentKind.REMOVE_RULE)
    assert reverse("fleet:deployment", args=[removal.uuid]) in response["HX-Location"]
    assert removal.status == RunStatus.PENDING and removal.approved_by is None
    target = removal.targets.get()
    assert target.removed_rule == "CICSWEB1"
    rules = set(parse_policy(target.text).rules)
    assert "CICSWEB1" not in rules and {"ZOSMF", "CICSWEB2"} <= rules


def test_remove_rule_refuses_a_rule_the_deployed_policy_does_not_have(fleet) -> None:
    count = Deployment.objects.count()
    response = client_for(fleet, "operator").post(
        reverse("fleet:stack-remove-rule", args=["SYSA", "TCPIP"]), {"rule": "NOPE"}
    )
    assert response.status_code == 422
    assert Deployment.objects.count() == count


# --- verification ---------------------------------------------------------------------------------


def test_verify_now_creates_a_pending_run_and_sends_the_operator_to_it(fleet) -> None:
    response = client_for(fleet, "operator").post(
        reverse("fleet:stack-verify", args=["SYSB", "TCPIP"]), headers=HTMX
    )
    run = VerificationRun.objects.filter(stack=fleet.sysb).order_by("-id").first()
    assert run.status == RunStatus.PENDING
    assert reverse("fleet:verification", args=[run.uuid]) in response["HX-Location"]


def test_verification_page_shows_figures_and_each_raw_output_with_its_hash(fleet) -> None:
    run = fleet.run_after
    page = (
        client_for(fleet, "auditor")
        .get(reverse("fleet:verification", args=[run.uuid]))
        .content.decode()
    )
    for name in ("pasearch", "netstat_conn", "netstat_allconn", "probe", "syslog"):
        assert run.outputs[name]["sha256"] in page
        assert reverse("fleet:verification-output", args=[run.uuid, name]) in page
    assert "CICSWEB1" in page and "MQCHIN" in page
    assert 'data-testid="parse-failed"' in page
    assert "NOT PARSED" in page
    assert "line 2: expected the netstat header, found &#x27;@@@&#x27;" in page
    assert page.count("✓ matches") == 5
    assert "RC 8 \N{MULTIPLICATION SIGN}3" in page  # MQPARTNER's failed handshakes


def test_a_long_output_shows_its_beginning_and_downloads_whole(fleet) -> None:
    run = fleet.run_after
    lines = [f"EZD1286I line {n:06d} RULE: MQPARTNER RC:    8" for n in range(8000)]
    text = "\n".join(lines)
    run.outputs["syslog"].update(text=text, sha256=hashlib.sha256(text.encode()).hexdigest())
    VerificationRun.objects.filter(pk=run.pk).update(outputs=run.outputs)
    client = client_for(fleet, "auditor")

    page = client.get(reverse("fleet:verification", args=[run.uuid])).content.decode()
    download = client.get(reverse("fleet:verification-output", args=[run.uuid, "syslog"]))

    assert 'data-testid="truncated"' in page
    assert lines[0] in page and lines[-1] not in page
    assert download.content.decode() == text


def test_a_pending_verification_polls_until_it_finishes(fleet) -> None:
    run = VerificationRun.objects.create(stack=fleet.sysb)
    url = reverse("fleet:verification", args=[run.uuid])
    client = client_for(fleet, "operator")
    body = client.get(url, headers={**HTMX, "HX-Target": "verification-body"}).content.decode()
    assert body.lstrip().startswith('<div id="verification-body"')
    assert 'hx-trigger="every 1s"' in body
    VerificationRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="timeout")
    body = client.get(url, headers={**HTMX, "HX-Target": "verification-body"}).content.decode()
    assert 'hx-trigger="every 1s"' not in body and "timeout" in body


def test_outputs_download_as_the_exact_text_their_hash_is_of(fleet) -> None:
    client = client_for(fleet, "auditor")
    for name in ("pasearch", "netstat_allconn", "probe"):
        response = client.get(
            reverse("fleet:verification-output", args=[fleet.run_after.uuid, name])
        )
        assert response.status_code == 200
        assert "attachment" in response["Content-Disposition"]
        digest = hashlib.sha256(response.content).hexdigest()
        assert digest == fleet.run_after.outputs[name]["sha256"] == response["X-Content-SHA256"]
    missing = reverse("fleet:verification-output", args=[fleet.run_after.uuid, "dmesg"])
    assert client.get(missing).status_code == 404


# --- drift, certificates, incidents ---------------------------------------------------------------


def test_drift_lists_open_events_by_default_and_filters_by_status_and_stack(fleet) -> None:
    client = client_for(fleet, "auditor")
    open_page = client.get(reverse("fleet:drift")).content.decode()
    assert "rule CICSWEB1: TLSv1.3 On -&gt; Off" in open_page
    assert "secured by rule TN3270S" not in open_page

    resolved = client.get(reverse("fleet:drift"), {"status": "resolved"}).content.decode()
    assert "secured by rule TN3270S" in resolved and "TLSv1.3 On" not in resolved

    other = client.get(reverse("fleet:drift"), {"status": "all", "stack": "SYSB/TCPIP"})
    assert "No drift on SYSB/TCPIP" in other.content.decode()


def test_certificates_show_days_left_and_the_30_7_and_expired_badges(fleet) -> None:
    page = client_for(fleet, "auditor").get(reverse("fleet:certificates")).content.decode()
    assert "CN=mqp1chin.sysa.bank.example" in page
    assert "≤ 30 days" in page and "expired" in page and "valid" in page
    Certificate.objects.filter(fingerprint="aa" * 32).update(
        not_after=timezone.now() + timedelta(days=5)
    )
    due = client_for(fleet, "auditor").get(reverse("fleet:certificates"), {"status": "open"})
    assert "≤ 7 days" in due.content.decode()
    assert "CN=sysa.bank.example<" not in due.content.decode()


def test_incidents_show_the_failing_handshakes(fleet) -> None:
    page = client_for(fleet, "auditor").get(reverse("fleet:incidents")).content.decode()
    assert "certificate-expired" in page and "EZD1286I" in page


def test_an_owner_sees_the_incidents_of_their_own_services_and_only_those(fleet) -> None:
    now = timezone.now()
    mine, theirs = (
        Incident.objects.create(
            stack=fleet.sysa,
            service=service,
            kind="refused-clients",
            key=f"refused:{service.name}",
            summary=f"AT-TLS refused clients of {service.name}",
            opened_at=now,
        )
        for service in (fleet.service_a, fleet.service_b)
    )
    owen = client_for(fleet, "owner_a")

    listed = owen.get(reverse("fleet:incidents"))
    detail = owen.get(reverse("fleet:incident", args=[mine.uuid]))
    other = owen.get(reverse("fleet:incident", args=[theirs.uuid]))
    api = owen.get("/api/fleet/incidents/")

    assert listed.status_code == 200
    page = listed.content.decode()
    assert str(mine.uuid) in page and str(theirs.uuid) not in page
    assert "certificate-expired" not in page  # of no service: the estate's, not owen's
    assert detail.status_code == 200 and other.status_code == 404
    assert [i["uuid"] for i in api.json()["results"]] == [str(mine.uuid)]
    assert client_for(fleet, "nobody").get(reverse("fleet:incidents")).status_code == 403


# --- connections ----------------------------------------------------------------------------------


def test_connection_form_shows_only_whether_secrets_are_set(fleet) -> None:
    page = (
        client_for(fleet, "operator")
        .get(reverse("fleet:connection-edit", args=["SYSA"]))
        .content.decode()
    )
    assert 'data-testid="password-state">set (stored encrypted)' in page
    assert 'value="21001"' in page and 'value="ATTLSADM"' in page
    stored = LparConnection.objects.get(lpar__name="SYSA")
    for secret in (SECRET_PASSWORD, "secret-key-material", stored.password_encrypted[:40]):
        assert secret not in page


def _connection_post(**changes: str) -> dict[str, str]:
    data = {
        "transport": "zosmf",
        "host": "sysa.bank.example",
        "zosmf_port": "443",
        "ssh_port": "22",
        "username": "attlsadm",
        "password": "",
        "ssh_key": "",
        "ca_bundle": "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----",
        "ssh_host_key": "ssh-ed25519 AAAA",
        "pagent_procname": "pagent",
        "syslog_path": "/var/log/syslog",
        "verification_interval": "30",
        "enabled": "on",
    }
    data.update(changes)
    return data


def test_saving_a_connection_with_blank_secrets_keeps_them(fleet) -> None:
    before = LparConnection.objects.get(lpar__name="SYSA")
    response = client_for(fleet, "operator").post(
        reverse("fleet:connection-edit", args=["SYSA"]), _connection_post(), headers=HTMX
    )
    assert reverse("fleet:connections") in response["HX-Location"]
    after = LparConnection.objects.get(lpar__name="SYSA")
    assert after.host == "sysa.bank.example" and after.username == "ATTLSADM"
    assert after.password_encrypted == before.password_encrypted
    assert after.ssh_key_encrypted == before.ssh_key_encrypted


def test_a_new_password_replaces_the_stored_one_and_remove_clears_it(fleet) -> None:
    from fleet.secrets import decrypt

    client = client_for(fleet, "operator")
    url = reverse("fleet:connection-edit", args=["SYSA"])
    client.post(url, _connection_post(password="n3w-Pass!"))
    assert decrypt(LparConnection.objects.get(lpar__name="SYSA").password_encrypted) == "n3w-Pass!"
    client.post(url, _connection_post(clear_password="on", clear_ssh_key="on"))
    cleared = LparConnection.objects.get(lpar__name="SYSA")
    assert cleared.password_encrypted == "" and cleared.ssh_key_encrypted == ""


def test_a_form_with_errors_does_not_echo_the_secrets_just_typed(fleet) -> None:
    response = client_for(fleet, "operator").post(
        reverse("fleet:connection-edit", args=["SYSA"]),
        _connection_post(zosmf_port="0", password="typed-Secret-77", ssh_key="typed-key-88"),
    )
    body = response.content.decode()
    assert response.status_code == 422
    assert "typed-Secret-77" not in body and "typed-key-88" not in body


def test_an_lpar_without_a_connection_can_be_configured(fleet) -> None:
    client = client_for(fleet, "operator")
    assert "not configured" in client.get(reverse("fleet:connections")).content.decode()
    client.post(
        reverse("fleet:connection-edit", args=["LAB1"]), _connection_post(password="lab-pw")
    )
    assert LparConnection.objects.filter(lpar__name="LAB1").exists()


# --- my services ----------------------------------------------------------------------------------


def test_an_app_owner_sees_only_their_own_services(fleet) -> None:
    page = client_for(fleet, "owner_a").get(reverse("fleet:my-services")).content.decode()
    assert 'data-service="CICSWEB1"' in page and 'data-service="CICSWEBB"' in page
    assert 'data-service="MQCHIN"' not in page and 'data-service="TN3270S"' not in page

    other = client_for(fleet, "owner_b").get(reverse("fleet:my-services")).content.decode()
    assert 'data-service="MQCHIN"' in other and 'data-service="CICSWEB1"' not in other
    assert "10.20.0." not in other  # no live connection of someone else's service


def test_my_services_shows_badges_live_connections_and_the_mix_over_time(fleet) -> None:
    page = client_for(fleet, "owner_a").get(reverse("fleet:my-services")).content.decode()
    card = page[page.index('data-service="CICSWEB1"') :]
    card = card[: card.index("</article>")]
    assert 'data-testid="service-status">partly secured' in card
    assert "10.20.0.1..50000" in card  # seen by the latest run
    assert "10.99.0.1" not in card  # gone for an hour: not live
    assert card.count("<g><title>") == 24  # one column per hour of the last 24
    sysb = page[page.index('data-service="CICSWEBB"') :]
    assert "No AT-TLS policy is deployed to its stack yet." in sysb[: sysb.index("</article>")]

    week = client_for(fleet, "owner_a").get(reverse("fleet:my-services"), {"window": "7d"})
    assert "Protocol mix, last 7 days" in week.content.decode()


# --- secrets --------------------------------------------------------------------------------------


def test_no_page_shows_an_lpar_secret(fleet) -> None:
    stored = LparConnection.objects.get(lpar__name="SYSA")
    secrets = (
        SECRET_PASSWORD,
        SECRET_KEY.splitlines()[1],
        stored.password_encrypted,
        stored.ssh_key_encrypted,
    )
    for name, (url, allowed) in pages(fleet).items():
        for who in allowed:
            body = client_for(fleet, who).get(url).content.decode()
            for secret in secrets:
                assert secret not in body, f"{name} as {who} shows a secret"


# --- query counts ---------------------------------------------------------------------------------


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(db_connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def _grow(fleet: FleetEstate) -> None:
    """More of every row the list pages show."""
    now = timezone.now()
    architect = fleet.people["architect"]
    for n in range(3):
        lpar = design.lpar_create(actor=architect, name=f"SYS{n}X")
        stack = design.stack_create(
            actor=architect, lpar=lpar, name="TCPIP", policy_file="/etc/pagent/TCPIP.policy"
        )
        service = design.service_create(
            actor=architect,
            fields={
                "stack": stack,
                "name": f"CICSX{n}",
                "jobname": "CICSX",
                "local_port_low": 9000 + n,
                "local_port_high": 9000 + n,
                "direction": "Inbound",
                "group_action": fleet.design.objects["group"],
                "environment_action": fleet.design.objects["environment"],
                "owners": [fleet.people["owner_a"]],
            },
        )
        VerificationRun.objects.create(
            stack=stack,
            status=RunStatus.SUCCEEDED,
            results={"connections": 1, "secured": 0, "protocols": {"cleartext": 1}},
        )
        LparConnection.objects.create(lpar=lpar, username="U", ca_bundle="x")
        DriftEvent.objects.create(
            stack=stack, kind="policy", key="policy", detail="d", opened_at=now, last_seen_at=now
        )
        Certificate.objects.create(
            stack=stack,
            subject=f"CN={n}",
            issuer="CN=CA",
            serial=str(n),
            not_after=now + timedelta(days=n),
            fingerprint=f"{n:064x}",
            first_seen=now,
            last_seen=now,
        )
        Incident.objects.create(stack=stack, kind="certificate-expired", summary="s", opened_at=now)
        Deployment.objects.create(requested_by=fleet.people["operator"])
        assert Service.objects.filter(pk=service.pk).exists()
    deployment_request(
        actor=fleet.people["operator"], targets=[(fleet.sysa, fleet.v2)], note="more"
    )


def test_list_pages_cost_the_same_queries_with_more_rows(fleet) -> None:
    withdraw_pending(fleet)
    urls = {
        "dashboard": ("operator", reverse("dashboard")),
        "deployments": ("operator", reverse("fleet:deployments")),
        "drift": ("auditor", reverse("fleet:drift") + "?status=all"),
        "certificates": ("auditor", reverse("fleet:certificates")),
        "incidents": ("auditor", reverse("fleet:incidents")),
        "connections": ("operator", reverse("fleet:connections")),
        "my-services (owner)": ("owner_a", reverse("fleet:my-services")),
        "my-services (estate)": ("auditor", reverse("fleet:my-services")),
        "dashboard (owner)": ("owner_a", reverse("dashboard")),
        "deployment-new": ("operator", reverse("fleet:deployment-new")),
    }
    clients = {who: client_for(fleet, who) for who, _ in urls.values()}
    before = {name: _queries(clients[who], url) for name, (who, url) in urls.items()}
    _grow(fleet)
    after = {name: _queries(clients[who], url) for name, (who, url) in urls.items()}
    assert after == before


def test_stacks_appear_in_the_overview_in_lpar_order(fleet) -> None:
    Lpar.objects.create(name="AAA1")
    Stack.objects.create(lpar=Lpar.objects.get(name="AAA1"), name="TCPIP")
    page = client_for(fleet, "operator").get(reverse("dashboard")).content.decode()
    assert page.index('data-stack="AAA1/TCPIP"') < page.index('data-stack="SYSA/TCPIP"')
    assert "Waiting for the first verification" in page


def test_the_connection_page_shows_the_zert_dump_job_and_refuses_a_template_it_cannot_fill(
    fleet,
) -> None:
    client = client_for(fleet, "operator")
    url = reverse("fleet:connection-edit", args=["SYSA"])
    page = client.get(url).content.decode()
    assert "zERT collection" in page and "LSNAME(IFASMF.ZERT,OPTIONS(DUMP))" in page
    refused = client.post(url, _connection_post(zert_enabled="on", zert_jcl="//J JOB\n{volser}"))
    assert refused.status_code == 422
    assert "placeholders the collector does not fill: volser" in refused.content.decode()
    template = "//ZD JOB 1\n//S EXEC PGM=IFASMFDL\n//OUTDD DD DSN={dsn},DISP=(NEW,CATLG)\n"
    client.post(
        url,
        _connection_post(
            zert_enabled="on", zert_source="sftp", zert_jcl=template, zert_interval="60"
        ),
    )
    saved = LparConnection.objects.get(lpar__name="SYSA")
    assert (saved.zert_enabled, saved.zert_source, saved.zert_interval) == (True, "sftp", 60)
    assert saved.zert_jcl == template
