"""Change impact in the portal, without lparsim: the history a prediction reads, the failure
paths (no data, a candidate that does not parse, a stack without history), the approval
that needs an acknowledgement, who sees which peers, and the pages and endpoints.

The must-hold scenario against lparsim is tests/integration/test_impact.py.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from attls.policy import parse_policy, render_policy
from attls.reports.syslog import RuleFailures, parse_failure_line
from fleet import selectors
from fleet.impact import compare, history
from fleet.impact.models import ImpactAcknowledgement, ImpactPrediction, PeerRefusalDaily
from fleet.impact.predict import Candidate, prediction_record
from fleet.models import (
    Deployment,
    Incident,
    IncidentKind,
    RunStatus,
    TargetStatus,
    VerificationRun,
    ZertDaily,
)
from fleet.services import (
    DeploymentImpactUnacknowledged,
    deployment_approve,
    deployment_request,
)
from policies.models import ChangeRecord, PolicyVersion, Service
from tests.fleet.ui_estate import FleetEstate, build_fleet, withdraw_pending

pytestmark = pytest.mark.django_db

CLIENT = "10.1.1.1"


@pytest.fixture
def fleet(make_user) -> FleetEstate:
    estate = build_fleet(make_user, observations=1, hours=1)
    withdraw_pending(estate)  # one pending request per stack: these tests make their own
    return estate


def seen(
    service: Service,
    peer: str,
    protection: str = "none",
    protocol: str = "",
    cipher: str = "",
    *,
    days_ago: int = 0,
    connections: int = 30,
) -> None:
    ZertDaily.objects.create(
        day=timezone.now().date() - timedelta(days=days_ago),
        stack=service.stack,
        service=service,
        service_key=service.id,
        peer=peer,
        protection=protection,
        protocol=protocol,
        cipher=cipher,
        connections=connections,
        records=connections,
    )


def as_page(fleet: FleetEstate, who: str) -> Client:
    client = Client()
    client.force_login(fleet.people[who])
    return client


def as_api(fleet: FleetEstate, who: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(fleet.people[who])
    return client


def runs_without_service_a(fleet: FleetEstate) -> None:
    """SYSA runs v2 without service A's rule (a remove-rule deployment): v2 adds it back."""
    target = selectors.deployed_target(fleet.sysa)
    assert target is not None and target.version == fleet.v2
    policy = parse_policy(fleet.v2.text)
    del policy.rules[fleet.service_a.name]
    text = render_policy(policy)
    target.text, target.removed_rule = text, fleet.service_a.name
    target.sha256 = hashlib.sha256(text.encode()).hexdigest()
    target.save(update_fields=["text", "removed_rule", "sha256"])


def request_change(fleet: FleetEstate) -> Deployment:
    """A change of service A's rule: SYSA runs v2 without it, this asks for v2."""
    runs_without_service_a(fleet)
    return request_again(fleet)


def request_again(fleet: FleetEstate) -> Deployment:
    """v2 again on SYSA, which runs v2: no rule changes."""
    return deployment_request(
        actor=fleet.people["operator"], targets=[(fleet.sysa, fleet.v2)], note="again"
    )


def peers_of(deployment: Deployment) -> dict[tuple[str, str], dict]:
    prediction = ImpactPrediction.objects.get(target__deployment=deployment)
    return {(p["service"], p["remote_address"]): p for p in prediction.peers}


# --- the failure paths ---------------------------------------------------------------------------


def test_a_stack_without_history_lists_its_rules_with_no_peer(fleet):
    record = prediction_record(fleet.sysb, Candidate(fleet.v1.text, "v1"))
    assert record["error"] == ""
    assert record["peers"] == []
    assert record["services"], "every rule of the candidate is listed"
    assert all(not s["counts"] for s in record["services"])
    assert record["counts"]["will-break"] == 0 and record["per_day"]["affected"] == 0


def test_a_candidate_that_does_not_parse_gives_no_prediction_but_says_why(fleet):
    seen(fleet.service_a, CLIENT)
    record = prediction_record(fleet.sysa, Candidate("TTLSRule broken {", "the draft"))
    assert "the draft does not parse" in record["error"]
    assert record["peers"] == [] and record["counts"] == {}


def test_a_peer_seen_only_before_the_window_is_no_data(fleet):
    seen(fleet.service_a, CLIENT, days_ago=45)
    record = prediction_record(fleet.sysa, Candidate(fleet.v2.text, "v2"))
    (peer,) = [p for p in record["peers"] if p["remote_address"] == CLIENT]
    assert peer["verdict"] == "no-data"
    assert "30 day" in peer["reason"]


def test_unknown_protocols_and_unmapped_rows_are_left_out_of_the_observations(fleet):
    seen(fleet.service_a, CLIENT, "app-tls", "X'7F1C'")  # a draft TLS 1.3, no word for it
    ZertDaily.objects.create(
        day=timezone.now().date(), stack=fleet.sysa, peer="10.9.9.9", protection="none"
    )
    since, until = history.window()
    found = list(history.observations(fleet.sysa, since=since, until=until))
    assert not [o for o in found if o.remote_address in (CLIENT, "10.9.9.9")]
    # What netstat showed of AT-TLS connections is there (the estate's observations).
    assert found and all(o.without_attls == frozenset() for o in found)
    assert history.unmapped_peers(fleet.sysa) == 1


# --- the prediction and the approval ------------------------------------------------------------


def test_a_cleartext_client_of_a_secured_port_will_break_and_a_tls12_client_is_safe(fleet):
    seen(fleet.service_a, CLIENT)
    seen(fleet.service_a, "10.1.1.2", "app-tls", "TLSv1.2", "C02F")
    peers = peers_of(request_change(fleet))
    broken = peers[(fleet.service_a.name, CLIENT)]
    assert broken["verdict"] == "will-break"
    assert "cleartext" in broken["reason"] and "RC 5003" in broken["reason"]
    assert broken["connections_per_day"] == 1.0  # 30 connections over 30 days
    assert peers[(fleet.service_a.name, "10.1.1.2")]["verdict"] == "safe"


def test_approving_with_will_break_peers_needs_an_acknowledgement_on_the_page(fleet):
    seen(fleet.service_a, CLIENT)
    deployment = request_change(fleet)
    page = as_page(fleet, "operator2")
    shown = page.get(reverse("fleet:deployment", args=[deployment.uuid])).content.decode()
    assert 'data-testid="acknowledge-impact"' in shown
    answer = page.post(reverse("fleet:deployment-approve", args=[deployment.uuid]))
    assert answer.status_code == 400
    assert "will break" in answer.content.decode()
    assert Deployment.objects.get(pk=deployment.pk).status == RunStatus.PENDING
    assert not ImpactAcknowledgement.objects.exists()
    assert not ChangeRecord.objects.filter(object_uuid=deployment.uuid, action="approve")

    answer = page.post(
        reverse("fleet:deployment-approve", args=[deployment.uuid]),
        {"acknowledge_impact": "The web team retires the cleartext client today."},
    )
    assert answer.status_code in (200, 302)
    assert Deployment.objects.get(pk=deployment.pk).status == RunStatus.APPROVED
    ack = ImpactAcknowledgement.objects.get(deployment=deployment)
    assert ack.by == fleet.people["operator2"]
    assert [p["remote_address"] for p in ack.peers] == [CLIENT]
    record = ChangeRecord.objects.get(object_uuid=deployment.uuid, action="approve")
    assert record.after["impact_acknowledged"]["will_break"] == 1


def test_an_acknowledgement_of_only_blanks_is_refused_saying_so_and_changes_nothing(
    fleet, django_capture_on_commit_callbacks
):
    seen(fleet.service_a, CLIENT)
    deployment = request_change(fleet)
    page = as_page(fleet, "operator2")
    shown = page.get(reverse("fleet:deployment", args=[deployment.uuid])).content.decode()
    assert re.search(r'<textarea id="acknowledge-impact"[^>]* required[ >]', shown)
    with django_capture_on_commit_callbacks() as enqueued:
        answer = page.post(
            reverse("fleet:deployment-approve", args=[deployment.uuid]),
            {"acknowledge_impact": " \n\t "},
            HTTP_HX_REQUEST="true",
        )
    assert answer.status_code == 400
    refused = answer.content.decode()
    assert 'data-testid="approve-refused"' in refused
    assert "1 peer(s) will break" in refused
    assert "the acknowledgement given was blank" in refused
    assert not enqueued, "nothing is queued"
    found = Deployment.objects.get(pk=deployment.pk)
    assert (found.status, found.approved_by, found.approved_at) == (RunStatus.PENDING, None, None)
    assert not ImpactAcknowledgement.objects.exists()
    assert not ChangeRecord.objects.filter(object_uuid=deployment.uuid, action="approve")


def test_the_api_refuses_the_approval_without_acknowledgement_and_lists_the_peers(fleet):
    seen(fleet.service_a, CLIENT)
    deployment = request_change(fleet)
    api = as_api(fleet, "operator2")
    url = f"/api/fleet/deployments/{deployment.uuid}/approve/"
    answer = api.post(url, {"acknowledge_impact": "   "}, format="json")
    assert answer.status_code == 400
    assert answer.json()["will_break"][0]["remote_address"] == CLIENT
    assert Deployment.objects.get(pk=deployment.pk).status == RunStatus.PENDING
    with pytest.raises(DeploymentImpactUnacknowledged):
        deployment_approve(deployment=deployment, actor=fleet.people["operator2"])
    answer = api.post(url, {"acknowledge_impact": "accepted"}, format="json")
    assert answer.status_code == 202, answer.content


def test_a_deployment_nothing_breaks_is_approved_without_acknowledgement(fleet):
    seen(fleet.service_a, "10.1.1.2", "app-tls", "TLSv1.2", "C02F")
    deployment = request_change(fleet)
    deployment_approve(deployment=deployment, actor=fleet.people["operator2"])
    assert Deployment.objects.get(pk=deployment.pk).status == RunStatus.APPROVED
    assert not ImpactAcknowledgement.objects.exists()


def test_excluding_the_breaking_services_publishes_a_version_without_them(fleet):
    seen(fleet.service_a, CLIENT)
    deployment = request_change(fleet)
    answer = as_page(fleet, "architect").post(
        reverse("fleet:deployment-exclude-breaking", args=[deployment.uuid])
    )
    assert answer.status_code in (200, 302)
    service = Service.objects.get(pk=fleet.service_a.pk)
    assert not service.included
    latest = fleet.sysa.versions.order_by("-number").first()
    assert latest.number == 3 and service.name not in latest.text
    # The architect is no operator: the original waits, an operator requests the new one.
    assert Deployment.objects.get(pk=deployment.pk).status == RunStatus.PENDING
    # An operator without the architect role may not exclude (it publishes).
    refused = as_page(fleet, "operator2").post(
        reverse("fleet:deployment-exclude-breaking", args=[deployment.uuid])
    )
    assert refused.status_code == 403


# --- after the change: refusals per peer --------------------------------------------------------

LINE = (
    "Dec  7 10:00:00 SYSA TCPIP: EZD1286I TTLS Error GRPID: 00000001 ENVID: 00000002"
    " CONNID: 0000010A LOCAL: 10.0.0.1..8443 REMOTE: {peer}..40312 JOBNAME: CICSPRD1"
    " USERID: CICSPRD1 RULE: {rule} RC: {rc} Initial Handshake"
)


def refused(rule: str, *peers: tuple[str, str]) -> dict[str, RuleFailures]:
    found = RuleFailures()
    for peer, rc in peers:
        line = LINE.format(peer=peer, rule=rule, rc=rc)
        found.add(parse_failure_line(line), line)
    return {rule: found}


def test_refusals_are_kept_per_peer_and_code_and_show_in_the_peer_history(fleet):
    now = timezone.now()
    name = fleet.service_a.name
    history.record_refusals(
        fleet.sysa,
        refused(name, (CLIENT, "5003"), (CLIENT, "5003"), ("10.1.1.3", "412")),
        window_from=now - timedelta(minutes=1),
        read_at=now,
    )
    history.record_refusals(
        fleet.sysa, refused(name, (CLIENT, "5003")), window_from=now, read_at=now
    )
    row = PeerRefusalDaily.objects.get(peer=CLIENT)
    assert (row.refused, row.family, row.service_id) == (3, "cleartext", fleet.service_a.pk)
    assert row.last_window_from == now
    rows = {r.peer: r for r in history.peer_history(fleet.sysa)}
    assert rows[CLIENT].refusals == {"cleartext": 3}
    assert rows["10.1.1.3"].refusals == {"protocol": 1}


def test_two_upserts_of_one_key_add_up_and_keep_the_earliest_and_latest_read(fleet):
    now = timezone.now()
    row = {
        "day": now.date(), "stack": fleet.sysa.pk, "service": None, "service_name": "X",
        "peer": CLIENT, "rc": "5003", "family": "cleartext", "refused": 2,
        "first_at": now, "last_at": now, "last_window_from": now - timedelta(minutes=1),
    }  # fmt: skip
    history.add_refusal_rows([row])
    # An older read committed after the newer one (two runs of the stack overlapping): its
    # count is added, but the row's last read stays the newer one, first_at goes back.
    older = now - timedelta(minutes=5)
    history.add_refusal_rows(
        [row | {"refused": 3, "first_at": older, "last_at": older, "last_window_from": older}]
    )
    stored = PeerRefusalDaily.objects.get()
    assert stored.refused == 5
    assert (stored.first_at, stored.last_at) == (older, now)
    assert stored.last_window_from == now - timedelta(minutes=1)
    history.add_refusal_rows([row | {"refused": 1, "last_at": now, "last_window_from": now}])
    stored.refresh_from_db()
    assert (stored.refused, stored.last_window_from) == (6, now)


def test_a_stretch_of_many_peers_is_written_in_batches_each_row_counted_once(fleet, monkeypatch):
    monkeypatch.setattr(history, "REFUSAL_ROWS_A_STATEMENT", 3)  # 7 rows: 3 statements
    now = timezone.now()
    web, mq = fleet.service_a.name, fleet.service_b.name
    peers = [(f"10.1.2.{n}", "5003") for n in range(5)]
    first = refused(web, *peers, peers[0]) | refused(mq, ("10.2.2.2", "412"), ("10.2.2.2", "8"))
    assert history.record_refusals(fleet.sysa, first, window_from=now, read_at=now) == 7
    later = now + timedelta(minutes=1)
    second = refused(web, peers[0], ("10.1.2.9", "5003")) | refused(mq, ("10.2.2.2", "8"))
    assert history.record_refusals(fleet.sysa, second, window_from=now, read_at=later) == 3
    rows = {(r.service_name, r.peer, r.rc): r for r in PeerRefusalDaily.objects.all()}
    assert {k: r.refused for k, r in rows.items()} == {
        (web, "10.1.2.0", "5003"): 3,
        **{(web, f"10.1.2.{n}", "5003"): 1 for n in range(1, 5)},
        (web, "10.1.2.9", "5003"): 1,
        (mq, "10.2.2.2", "412"): 1,
        (mq, "10.2.2.2", "8"): 2,
    }
    assert rows[(web, "10.1.2.0", "5003")].last_at == later
    assert rows[(web, "10.1.2.1", "5003")].last_at == now
    assert rows[(mq, "10.2.2.2", "8")].service_id == fleet.service_b.pk
    assert (
        history.record_refusals(fleet.sysa, {web: RuleFailures()}, window_from=now, read_at=now)
        == 0
    )


def test_no_unpredicted_refusal_incident_without_a_prediction_to_hold_it_to(fleet):
    ImpactPrediction.objects.all().delete()
    run = VerificationRun.objects.filter(stack=fleet.sysa).first()
    now = timezone.now()
    assert compare.open_unpredicted(run, refused("CICSWEB1", (CLIENT, "5003")), now, now) == []


def unpredicted(fleet: FleetEstate) -> dict[str, Incident]:
    found = Incident.objects.filter(
        stack=fleet.sysa, kind=IncidentKind.UNPREDICTED_REFUSAL, resolved_at=None
    )
    return {i.details["service"]: i for i in found}


def test_unpredicted_refusals_open_one_incident_per_service_listing_its_peers(fleet):
    run = fleet.run_after
    now = timezone.now()
    web, mq = fleet.service_a.name, fleet.service_b.name
    stretch = refused(web, (CLIENT, "5003"), (CLIENT, "5003"), ("10.1.1.3", "412"))
    stretch |= refused(mq, ("10.2.2.2", "412"))
    opened = compare.open_unpredicted(run, stretch, now, now)
    assert {i.key for i in opened} == {f"unpredicted:{mq}", f"unpredicted:{web}"}
    incidents = unpredicted(fleet)
    web_incident = incidents[web]
    assert web_incident.summary.startswith(
        f"Unpredicted refusal: AT-TLS refused 2 peer(s) of {web}"
    )
    assert f"{CLIENT} \N{MULTIPLICATION SIGN}2 (unknown peer)" in web_incident.summary
    assert web_incident.service == fleet.service_a
    assert web_incident.preceded_by == fleet.deployed
    peers = web_incident.details["peers"]
    assert [(p["address"], p["refused"], p["codes"], p["predicted"]) for p in peers] == [
        (CLIENT, 2, {"5003": 2}, "unknown peer"),
        ("10.1.1.3", 1, {"412": 1}, "unknown peer"),
    ]
    assert web_incident.details["refused"] == 3
    assert web_incident.details["codes"]["5003"]["count"] == 2
    assert [p["address"] for p in incidents[mq].details["peers"]] == ["10.2.2.2"]
    page = as_page(fleet, "operator").get(reverse("fleet:incident", args=[web_incident.uuid]))
    table = page.content.decode().split('data-testid="incident-peers"')[1].split("</table>")[0]
    assert CLIENT in table and "10.1.1.3" in table and "5003 \N{MULTIPLICATION SIGN}2" in table
    assert "unknown peer" in table

    # A later stretch: a known peer again and a new one, both added to the open incident.
    later = now + timedelta(minutes=1)
    again = refused(web, (CLIENT, "5003"), ("10.1.1.4", "5003")) | refused(mq, ("10.2.2.2", "412"))
    assert compare.open_unpredicted(run, again, later, later) == []
    incidents = unpredicted(fleet)
    assert incidents[web].pk == web_incident.pk
    peers = {p["address"]: p["refused"] for p in incidents[web].details["peers"]}
    assert peers == {CLIENT: 3, "10.1.1.3": 1, "10.1.1.4": 1}
    assert incidents[web].details["refused"] == 5
    assert incidents[web].details["codes"]["5003"]["count"] == 4
    assert "refused 3 peer(s)" in incidents[web].summary
    assert incidents[web].last_seen_at == later


def test_an_unpredicted_refusal_incident_resolves_once_its_service_refuses_no_unpredicted_peer(
    fleet,
):
    run = fleet.run_after
    now = timezone.now()
    web, mq = fleet.service_a.name, fleet.service_b.name
    compare.open_unpredicted(
        run, refused(web, (CLIENT, "5003")) | refused(mq, ("10.2.2.2", "412")), now, now
    )
    assert set(unpredicted(fleet)) == {web, mq}
    # Only the MQ peer refused since: the web service's incident resolves, MQ's stays open.
    compare.open_unpredicted(run, refused(mq, ("10.2.2.2", "412")), now, now)
    assert set(unpredicted(fleet)) == {mq}
    resolved = Incident.objects.get(key=f"unpredicted:{web}")
    assert "No unpredicted refusal" in resolved.resolution
    # A stretch that cannot be judged (it began before the change) resolves only what
    # nothing refused: MQ was refused, its incident stays.
    before = fleet.deployed.targets.get().finished_at - timedelta(minutes=5)
    assert compare.open_unpredicted(run, refused(mq, ("10.9.9.9", "412")), before, now) == []
    assert set(unpredicted(fleet)) == {mq}
    # No refusal at all: resolved.
    compare.open_unpredicted(run, {}, now, now)
    assert unpredicted(fleet) == {}


def test_a_newer_deployment_supersedes_the_open_unpredicted_refusal_incident(fleet):
    run = fleet.run_after
    now = timezone.now()
    web = fleet.service_a.name
    compare.open_unpredicted(run, refused(web, (CLIENT, "5003")), now, now)
    first = unpredicted(fleet)[web]
    newer = request_again(fleet)
    newer.targets.update(status=TargetStatus.SUCCEEDED, finished_at=now)
    later = now + timedelta(minutes=1)
    (opened,) = compare.open_unpredicted(run, refused(web, ("10.1.1.5", "5003")), later, later)
    assert opened.preceded_by_id == newer.pk
    assert [p["address"] for p in opened.details["peers"]] == ["10.1.1.5"]
    first.refresh_from_db()
    assert not first.is_open and first.resolution.startswith("Superseded")


def test_a_peer_the_prediction_warned_about_opens_no_unpredicted_incident(fleet):
    run = fleet.run_after
    now = timezone.now()
    prediction = ImpactPrediction.objects.get(target__deployment=fleet.deployed)
    warned = {**prediction.peers[0]} if prediction.peers else {}
    warned.update(
        service=fleet.service_a.name, remote_address=CLIENT, verdict="will-break", reason="x"
    )
    ImpactPrediction.objects.filter(pk=prediction.pk).update(peers=[warned])
    assert (
        compare.open_unpredicted(run, refused(fleet.service_a.name, (CLIENT, "5003")), now, now)
        == []
    )
    assert unpredicted(fleet) == {}


def test_a_one_per_peer_incident_left_from_before_is_resolved(fleet):
    now = timezone.now()
    legacy = Incident.objects.create(
        stack=fleet.sysa,
        kind=IncidentKind.UNPREDICTED_REFUSAL,
        key=f"unpredicted:CICSWEB1:{CLIENT}",
        summary="Unpredicted refusal: ...",
        details={"service": "CICSWEB1", "peer": CLIENT},
        opened_at=now,
    )
    compare.open_unpredicted(fleet.run_after, refused("CICSWEB1", (CLIENT, "5003")), now, now)
    legacy.refresh_from_db()
    assert (
        not legacy.is_open and "one unpredicted-refusal incident per service" in legacy.resolution
    )
    assert set(unpredicted(fleet)) == {"CICSWEB1"}


def test_a_target_that_did_not_reach_its_stack_is_not_compared(fleet):
    target = request_change(fleet).targets.get()
    assert not compare.compare_target(target).compared
    assert compare.fleet_scores().precision is None


# --- who sees what: pages and endpoints ----------------------------------------------------------


def test_an_app_owner_sees_only_their_services_peers(fleet):
    seen(fleet.service_a, CLIENT)
    seen(fleet.service_b, "10.2.2.2")
    deployment = request_change(fleet)
    answer = as_api(fleet, "owner_b").get(
        f"/api/fleet/impact/predictions/?deployment={deployment.uuid}"
    )
    assert answer.status_code == 200
    (prediction,) = answer.json()["results"] if "results" in answer.json() else answer.json()
    assert {p["service"] for p in prediction["peers"]} == {fleet.service_b.name}
    page = as_page(fleet, "owner_b").get(reverse("fleet:stack-peers", args=["SYSA", "TCPIP"]))
    assert page.status_code == 200
    assert "10.2.2.2" in page.content.decode() and CLIENT not in page.content.decode()
    assert as_api(fleet, "nobody").get("/api/fleet/impact/predictions/").status_code == 403


def test_the_predict_endpoint_answers_for_a_version_or_one_rule_removed(fleet):
    seen(fleet.service_a, CLIENT)
    runs_without_service_a(fleet)
    api = as_api(fleet, "auditor")
    answer = api.post(
        "/api/fleet/impact/predict/", {"stack": "SYSA/TCPIP", "version": 2}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["counts"]["will-break"] == 1
    without = api.post(
        "/api/fleet/impact/predict/",
        {"stack": "SYSA/TCPIP", "version": 2, "without_rule": fleet.service_a.name},
        format="json",
    )
    assert without.json()["counts"]["will-break"] == 0
    missing = api.post(
        "/api/fleet/impact/predict/",
        {"stack": "SYSA/TCPIP", "without_rule": "NO_SUCH_RULE"},
        format="json",
    )
    assert missing.status_code == 400 and "NO_SUCH_RULE" in missing.content.decode()
    precheck = api.post(
        "/api/fleet/impact/predict/", {"stack": "SYSA/TCPIP", "precheck": True}, format="json"
    )
    assert precheck.status_code == 403


def test_the_panels_and_the_scores_page_render(fleet):
    seen(fleet.service_a, CLIENT)
    page = as_page(fleet, "architect")
    draft = page.get(reverse("fleet:impact-draft", args=["SYSA", "TCPIP"]))
    assert draft.status_code == 200 and 'data-verdict="will-break"' in draft.content.decode()
    designer = page.get(reverse("policies:stack-detail", args=["SYSA", "TCPIP"])).content
    assert reverse("fleet:impact-draft", args=["SYSA", "TCPIP"]) in designer.decode()
    version = reverse("fleet:impact-version", args=["SYSA", "TCPIP", 2])
    assert page.get(version).status_code == 200
    assert page.get(version + "?without=NO_SUCH_RULE").status_code == 404
    scores = page.get(reverse("fleet:impact-scores")).content.decode()
    assert 'data-testid="recall">\N{EN DASH}' in scores
    assert as_page(fleet, "owner_a").get(reverse("fleet:impact-scores")).status_code == 403


def _badge(panel: str, attribute: str, verdict: str) -> str:
    found = re.search(rf'{attribute}="{verdict}">([^<]*)</span>', panel)
    assert found is not None, (attribute, verdict)
    return found.group(1)


def test_the_panel_counts_services_and_peers_apart_each_as_its_table_lists_them(fleet):
    """A mainframe engineer must trace every figure to rows: services without any peer seen
    are no-data services (rows of the services table), never "0 no-data" peers above them."""
    seen(fleet.service_a, CLIENT)  # cleartext on a port v2 secures: one peer will break
    runs_without_service_a(fleet)
    panel = (
        as_page(fleet, "architect")
        .get(reverse("fleet:impact-version", args=["SYSA", "TCPIP", 2]))
        .content.decode()
    )
    services = panel.split('data-testid="impact-services"')[1].split("</table>")[0]
    rows = re.findall(r'<tr data-service-verdict="([a-z-]+)">', services)
    record = prediction_record(fleet.sysa, Candidate(fleet.v2.text, "v2"), precheck=False)
    assert len(rows) == len([s for s in record["services"] if s["verdict"] != "safe"])
    no_data = rows.count("no-data")
    assert no_data > 0, "the estate's other services have no peer in the window"
    plural = "" if no_data == 1 else "s"
    assert _badge(panel, "data-service-verdict", "no-data") == (
        f"{no_data} service{plural} with no data"
    )
    assert _badge(panel, "data-service-verdict", "will-break") == "1 service will break"
    assert rows.count("will-break") == 1
    # The peers: one will break (the row of the peers table); none of them has no data.
    assert _badge(panel, "data-verdict", "will-break") == "1 peer will break"
    assert _badge(panel, "data-verdict", "no-data") == "0 peers with no data"
    peers = panel.split('data-testid="impact-peers"')[1].split("</table>")[0]
    assert re.findall(r'<tr data-peer="[^"]*" data-verdict="([a-z-]+)"', peers) == ["will-break"]
    assert f"no peer seen in {record['window_days']} days" in services


def test_the_impact_is_open_above_the_approve_button_and_loads_with_the_request_page(fleet):
    seen(fleet.service_a, CLIENT)
    deployment = request_change(fleet)
    page = as_page(fleet, "operator2")
    shown = page.get(reverse("fleet:deployment", args=[deployment.uuid])).content.decode()
    approve = shown.index(reverse("fleet:deployment-approve", args=[deployment.uuid]))
    assert shown.index('data-testid="impact"') < approve
    assert shown.index(f'data-peer="{fleet.service_a.name} {CLIENT}"') < approve
    # The peers table's <details> is open: the last one before it opened, none closed since.
    before = shown[: shown.index('data-testid="impact-peers"')]
    assert before.rindex("<details open>") > before.rindex('data-testid="impact-services"')
    assert "</details>" not in before[before.rindex("<details open>") :]
    # The request page: each stack's prediction loads with the page, in no closed <details>.
    PolicyVersion.objects.create(
        stack=fleet.sysa, number=3, text=fleet.v2.text, sha256=fleet.v2.sha256,
        model=fleet.v2.model, author=fleet.people["architect"], parent=fleet.v2,
    )  # fmt: skip
    request = as_page(fleet, "operator").get(reverse("fleet:deployment-new")).content.decode()
    section = request.split('data-testid="impact-preview"')[1].split("</section>")[0]
    version = reverse("fleet:impact-version", args=["SYSA", "TCPIP", 3])
    assert f'hx-get="{version}" hx-trigger="load"' in section
    assert "<details" not in section and "intersect" not in section


# --- peers the change does not affect -----------------------------------------------------------


def test_a_peer_refused_today_and_tomorrow_alike_needs_no_acknowledgement(fleet):
    seen(fleet.service_a, CLIENT)  # cleartext, on a port v2 (running) secures: refused today
    deployment = request_again(fleet)
    peer = peers_of(deployment)[(fleet.service_a.name, CLIENT)]
    assert peer["verdict"] == "will-break" and peer["unchanged"]
    assert peer["reason"].startswith("unchanged by this candidate: only seen in cleartext")
    prediction = ImpactPrediction.objects.get(target__deployment=deployment)
    assert prediction.will_break == 0 and prediction.counts["will-break"] == 0

    page = as_page(fleet, "operator2")
    shown = page.get(reverse("fleet:deployment", args=[deployment.uuid])).content.decode()
    assert 'data-testid="acknowledge-impact"' not in shown
    assert 'data-unchanged="already refused">1 already refused</span>' in shown
    answer = page.post(reverse("fleet:deployment-approve", args=[deployment.uuid]))
    assert answer.status_code in (200, 302)
    assert Deployment.objects.get(pk=deployment.pk).status == RunStatus.APPROVED
    assert not ImpactAcknowledgement.objects.exists()


def test_a_refused_peer_the_change_left_unchanged_is_neither_hit_nor_miss(fleet):
    seen(fleet.service_a, CLIENT)
    target = selectors.deployed_target(fleet.sysa)  # v2, which the stack runs
    record = prediction_record(fleet.sysa, Candidate(fleet.v2.text, "v2"), precheck=False)
    ImpactPrediction.objects.filter(target=target).delete()
    ImpactPrediction.objects.create(
        target=target, stack=fleet.sysa, candidate="v2", current=record["current"],
        counts=record["counts"], services=record["services"], peers=record["peers"],
    )  # fmt: skip
    now = timezone.now()
    name = fleet.service_a.name
    refusals = refused(name, (CLIENT, "5003"))
    history.record_refusals(fleet.sysa, refusals, window_from=now, read_at=now)

    (outcome,) = [p for p in compare.compare_target(target).peers if p.peer == CLIENT]
    assert outcome.outcome == compare.UNCHANGED_REFUSED
    scores = compare.fleet_scores()
    assert scores.unchanged_refused == 1
    assert (scores.refused, scores.unpredicted, scores.recall, scores.precision) == (
        0, 0, None, None,
    )  # fmt: skip
    run = VerificationRun.objects.filter(stack=fleet.sysa).first()
    assert compare.open_unpredicted(run, refusals, now, now) == []
    assert not Incident.objects.filter(kind=IncidentKind.UNPREDICTED_REFUSAL).exists()


def test_a_comparison_cut_at_a_period_end_leaves_out_the_refusals_after_it(fleet):
    """An evidence period that ends before a refusal was seen does not count it (the pack's
    comparison is cut at its period's end, audits.period.change_impact)."""
    seen(fleet.service_a, CLIENT)
    target = selectors.deployed_target(fleet.sysa)
    record = prediction_record(fleet.sysa, Candidate(fleet.v2.text, "v2"), precheck=False)
    ImpactPrediction.objects.filter(target=target).delete()
    ImpactPrediction.objects.create(
        target=target, stack=fleet.sysa, candidate="v2", current=record["current"],
        counts=record["counts"], services=record["services"], peers=record["peers"],
    )  # fmt: skip
    now = timezone.now()
    history.record_refusals(
        fleet.sysa, refused(fleet.service_a.name, (CLIENT, "5003")), window_from=now, read_at=now
    )

    uncut = compare.compare_target(target)
    cut = compare.compare_target(target, until=now - timedelta(seconds=1))

    assert [p.peer for p in uncut.peers] == [CLIENT]
    assert cut.until == now - timedelta(seconds=1) and cut.peers == []


@pytest.mark.parametrize(("untested", "offered"), [(2, True), (0, False)])
def test_the_panel_offers_the_precheck_only_when_a_peer_is_untested(
    untested: int, offered: bool
) -> None:
    impact = {"counts": {"untested": untested, "safe": 3}, "services": [], "window_days": 30}
    panel = render_to_string(
        "fleet/impact/panel.html", {"impact": impact, "url": "/panel", "prechecked": False}
    )
    assert ('data-testid="run-precheck"' in panel) is offered
