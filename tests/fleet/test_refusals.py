"""Refused clients: a surge opens one incident per service; it resolves when refusals stop.

The judgement is pure arithmetic (fleet.refusals.judge); the incidents are rows written by
apply_refusals from one run's counts, which fleet/verify takes from the syslog report.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from attls.reports.syslog import count_failures
from fleet.models import (
    Deployment,
    DriftEvent,
    DriftKind,
    Incident,
    IncidentKind,
    RunStatus,
    VerificationRun,
)
from fleet.refusals import Thresholds, apply_refusals, judge
from fleet.services import (
    DeploymentForbidden,
    DeploymentRefused,
    deployment_approve,
    incident_remove_rule,
)
from policies.models import PolicyVersion, Service
from tests.fleet.ui_estate import FleetEstate, build_fleet, withdraw_pending

LIMITS = Thresholds(per_minute=5, share=0.10, factor=2)


def line(rule: str, rc: int, peer: str, n: int) -> str:
    return (
        f"Dec  6 10:12:{n % 60:02d} SYSA TCPIP: EZD1286I TTLS Error GRPID: 00000001"
        f" ENVID: 00000002 CONNID: {n:08X} LOCAL: 10.1.1.1..992 REMOTE: {peer}..{40000 + n}"
        f" JOBNAME: TN3270A USERID: TN3270A RULE: {rule} RC: {rc:4d} Initial Handshake"
    )


# --- the judgement --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("refused", "connections", "seconds", "baseline", "surge"),
    [
        (20, 10, 60, 0.0, True),  # 20 a minute, 67% of attempts, nothing the hour before
        (5, 0, 60, 0.0, False),  # 5 a minute is not more than 5
        (6, 100, 60, 0.0, False),  # 6% of attempts
        (20, 10, 60, 12.0, False),  # no more than twice the hour before
        (20, 10, 60, 9.0, True),  # more than twice the hour before
        (0, 10, 60, 0.0, False),
        (3, 0, 10, 0.0, True),  # 18 a minute over a 10 s stretch: every attempt refused
    ],
)
def test_a_surge_is_above_every_threshold(
    refused: int, connections: int, seconds: float, baseline: float, surge: bool
) -> None:
    found = judge(
        refused=refused,
        connections=connections,
        window_seconds=seconds,
        baseline=baseline,
        limits=LIMITS,
    )
    assert found.surge is surge


# --- incidents ------------------------------------------------------------------------------


@pytest.fixture
def fleet(make_user: Any) -> FleetEstate:
    return build_fleet(make_user, observations=0, hours=0)


def run_of(fleet: FleetEstate, **fields: Any) -> VerificationRun:
    return VerificationRun.objects.create(stack=fleet.design.stacks["SYSA"], **fields)


def figures(**connections: int) -> dict[str, Any]:
    return {
        "services": {name: {"in_scope": True, "connections": n} for name, n in connections.items()}
    }


def refusing(fleet: FleetEstate, lines: list[str], *, seconds: float = 10, **live: int) -> Any:
    run = run_of(fleet, status=RunStatus.RUNNING)
    counted = count_failures(lines).rules
    return apply_refusals(run, figures(**live), counted, seconds, timezone.now())


def test_a_surge_opens_one_incident_naming_service_peers_codes_and_deployment(
    fleet: FleetEstate,
) -> None:
    lines = [line("TN3270S", 5003, "10.2.0.1", n) for n in range(1, 7)] + [
        line("TN3270S", 412, "10.2.0.2", 7)
    ]

    opened = refusing(fleet, lines, TN3270S=3, CICSWEB2=4)

    [incident] = opened
    assert incident.kind == IncidentKind.REFUSED_CLIENTS
    assert incident.service == fleet.design.services["TN3270S"]
    assert incident.preceded_by == fleet.deployed
    assert incident.details["codes"]["5003"]["count"] == 6
    assert incident.details["codes"]["5003"]["family"] == "cleartext client on a TLS rule"
    assert incident.details["codes"]["412"]["meaning"] == "412 no protocol version in common"
    assert incident.details["peers"] == {"10.2.0.1": 6, "10.2.0.2": 1}
    assert "TN3270S" in incident.summary and "5003" in incident.summary
    assert str(fleet.deployed.uuid)[:8] in incident.summary
    assert len(incident.failing_handshakes) == 7

    # The next run: more of the same adds to the open incident, opens no other.
    again = refusing(fleet, [line("TN3270S", 5003, "10.2.0.3", 8)] * 10, TN3270S=3)
    assert again == []
    incident.refresh_from_db()
    assert Incident.objects.filter(kind=IncidentKind.REFUSED_CLIENTS).count() == 1
    assert incident.details["refused"] == 17
    assert incident.details["peers"]["10.2.0.3"] == 10

    # A run with no refusal for the service resolves it.
    refusing(fleet, [], TN3270S=3)
    incident.refresh_from_db()
    assert incident.resolved_at is not None
    assert "No refused attempt" in incident.resolution


def test_a_rate_like_the_hour_before_the_deployment_opens_nothing(fleet: FleetEstate) -> None:
    deployed_at = timezone.now() - timedelta(minutes=10)
    fleet.deployed.targets.update(finished_at=deployed_at)
    for minutes in (50, 30, 5):  # the hour before the deployment: 30 refusals a minute
        run_of(
            fleet,
            status=RunStatus.SUCCEEDED,
            finished_at=deployed_at - timedelta(minutes=minutes),
            results={"refusals": {"window_seconds": 60, "services": {"TN3270S": 30}}},
        )
    lines = [line("TN3270S", 412, "10.2.0.1", n) for n in range(1, 8)]  # 42 a minute

    assert refusing(fleet, lines, TN3270S=1) == []
    assert not Incident.objects.filter(kind=IncidentKind.REFUSED_CLIENTS).exists()

    # Twice as many as the hour before the deployment is a surge.
    lines = [line("TN3270S", 412, "10.2.0.1", n) for n in range(1, 12)]  # 66 a minute
    assert len(refusing(fleet, lines, TN3270S=1)) == 1


def test_a_first_read_of_the_syslog_is_not_judged(fleet: FleetEstate) -> None:
    run = run_of(fleet, status=RunStatus.RUNNING)
    lines = [line("TN3270S", 5003, "10.2.0.1", n) for n in range(1, 50)]

    assert (
        apply_refusals(run, figures(TN3270S=0), count_failures(lines).rules, None, timezone.now())
        == []
    )


def test_a_trickle_below_the_thresholds_opens_nothing(fleet: FleetEstate) -> None:
    assert refusing(fleet, [line("TN3270S", 412, "10.2.0.1", 1)], seconds=60, TN3270S=1) == []


# --- "remove this service's rule" -----------------------------------------------------------


def open_incident(fleet: FleetEstate, name: str = "TN3270S") -> Incident:
    [incident] = refusing(fleet, [line(name, 412, "10.2.0.1", n) for n in range(1, 9)], **{name: 1})
    return incident


def test_removing_the_rule_publishes_the_deployed_version_without_it_for_four_eyes(
    fleet: FleetEstate, make_user: Any
) -> None:
    withdraw_pending(fleet)
    incident = open_incident(fleet)
    # An architect who is also an operator: publishes and requests, may not approve.
    both = make_user("ariadne", Role.ARCHITECT, Role.OPERATOR)

    version, deployment = incident_remove_rule(incident=incident, actor=both, note="cleartext")

    assert version.number == 3 and version.author == both
    assert "TN3270S" not in version.text and "TN3270S" in fleet.v2.text
    assert not Service.objects.get(pk=incident.service_id).included
    assert deployment is not None and deployment.status == RunStatus.PENDING
    assert deployment.requested_by == both
    with pytest.raises(DeploymentForbidden):
        deployment_approve(deployment=deployment, actor=both)
    incident.refresh_from_db()
    assert incident.details["remove_rule"]["version"] == 3


def test_an_architect_alone_publishes_and_leaves_the_request_to_an_operator(
    fleet: FleetEstate,
) -> None:
    incident = open_incident(fleet)
    before = Deployment.objects.count()

    version, deployment = incident_remove_rule(incident=incident, actor=fleet.people["architect"])

    assert deployment is None and Deployment.objects.count() == before
    assert PolicyVersion.objects.filter(pk=version.pk).exists()


def test_removing_the_rule_is_refused_when_it_would_ship_unpublished_changes(
    fleet: FleetEstate,
) -> None:
    incident = open_incident(fleet)
    other = fleet.design.services["CICSWEB2"]
    Service.objects.filter(pk=other.pk).update(included=False)  # an unpublished edit

    with pytest.raises(DeploymentRefused, match="not yet published"):
        incident_remove_rule(incident=incident, actor=fleet.people["architect"])
    assert PolicyVersion.objects.filter(stack=incident.stack).count() == 2


def test_an_operator_alone_may_not_publish_the_version(fleet: FleetEstate) -> None:
    incident = open_incident(fleet)

    with pytest.raises(PermissionError):
        incident_remove_rule(incident=incident, actor=fleet.people["operator"])


def test_the_incident_page_names_codes_peers_and_offers_both_actions(
    fleet: FleetEstate, client: Any
) -> None:
    incident = open_incident(fleet)
    client.force_login(fleet.people["architect"])

    page = client.get(reverse("fleet:incident", args=[incident.uuid])).content.decode()

    assert "no protocol version in common" in page and "10.2.0.1" in page
    assert "Publish v3 without TN3270S" in page
    assert reverse("fleet:incident-remove-rule", args=[incident.uuid]) in page

    response = client.post(reverse("fleet:incident-remove-rule", args=[incident.uuid]), {})
    assert response.status_code == 302
    assert PolicyVersion.objects.filter(stack=incident.stack, number=3).exists()

    # An operator is told which version a rollback redeploys (v3 is published, not deployed).
    client.force_login(fleet.people["operator"])
    page = client.get(reverse("fleet:incident", args=[incident.uuid])).content.decode()
    assert "Redeploys v1, the version deployed before v2" in page


def test_a_surge_after_a_drift_names_the_drift_and_the_deployment_before_it(
    fleet: FleetEstate,
) -> None:
    now = timezone.now()
    DriftEvent.objects.create(
        stack=fleet.design.stacks["SYSA"],
        kind=DriftKind.POLICY,
        key="policy:after-refresh",
        detail="The loaded policy differs from v2 deployed",
        opened_at=now - timedelta(seconds=30),
        last_seen_at=now,
    )
    lines = [line("DB2DDF", 402, f"10.3.0.{n}", n) for n in range(1, 40)]

    [incident] = refusing(fleet, lines, DB2DDF=0)

    assert incident.details["preceded_by"]["drift"][0]["key"] == "policy:after-refresh"
    assert incident.details["codes"]["402"]["family"] == "no common cipher suite"
    assert "open drift event" in incident.summary
    assert incident.preceded_by == fleet.deployed


# --- beside coverage ------------------------------------------------------------------------


def test_the_dashboard_shows_refused_attempts_beside_coverage_never_green(
    fleet: FleetEstate, client: Any
) -> None:
    run = fleet.run_after
    results = dict(run.results)
    services = {name: dict(entry) for name, entry in results["services"].items()}
    for entry in services.values():
        entry["connections"] = entry["secured"] = entry.get("connections") or 1
        entry["handshake_failures"] = {}
    services["TN3270S"]["handshake_failures"] = {"5003": 40, "412": 2}
    total = sum(e["connections"] for e in services.values())
    results.update(services=services, connections=total, secured=total, coverage=1.0, refused=42)
    VerificationRun.objects.filter(pk=run.pk).update(results=results)
    client.force_login(fleet.people["operator"])

    page = client.get(reverse("dashboard")).content.decode()

    assert "100%" in page
    assert 'class="tile good" data-testid="tile-coverage"' not in page
    assert '<span class="v">42</span>' in page  # the refused-attempts tile
    assert "42 refused" in page  # beside the stack's coverage

    stack = client.get(reverse("fleet:stack", args=["SYSA", "TCPIP"])).content.decode()
    assert "refusing clients" in stack
    assert "40 cleartext client on a TLS rule (RC 5003)" in stack


def test_a_deployments_own_verification_names_that_deployment(fleet: FleetEstate) -> None:
    run = run_of(fleet, status=RunStatus.RUNNING, deployment=fleet.pending)
    fleet.pending.targets.update(started_at=timezone.now())  # running: not finished yet
    lines = [line("TN3270S", 5003, "10.2.0.1", n) for n in range(1, 9)]

    [incident] = apply_refusals(
        run, figures(TN3270S=1), count_failures(lines).rules, 10, timezone.now()
    )

    assert incident.preceded_by == fleet.pending
    assert "this verification is its own" in incident.summary


def test_two_runs_opening_the_same_incident_at_once_leave_one_extended(
    fleet: FleetEstate,
) -> None:
    from fleet import refusals

    first = open_incident(fleet)
    run = run_of(fleet, status=RunStatus.RUNNING)
    found = count_failures([line("TN3270S", 412, "10.9.0.9", 99)]).rules["TN3270S"]
    judgement = judge(refused=1, connections=0, window_seconds=1, baseline=0, limits=LIMITS)
    change = refusals.preceding_change(run.stack, before=timezone.now())

    # As a second run would, having read the open incidents before the first one committed.
    again = refusals._open(run, first.service, "TN3270S", found, judgement, change, timezone.now())

    assert again is None
    first.refresh_from_db()
    assert first.details["peers"]["10.9.0.9"] == 1
    assert Incident.objects.filter(key="refused:TN3270S").count() == 1


def test_the_api_gives_refused_attempts_beside_coverage_and_the_incidents_findings(
    fleet: FleetEstate, client: Any
) -> None:
    incident = open_incident(fleet)
    client.force_login(fleet.people["auditor"])

    stacks = client.get(reverse("fleet-api:stack-list")).json()
    rows = stacks["results"] if isinstance(stacks, dict) else stacks
    sysa = next(row for row in rows if row["stack"] == "SYSA/TCPIP")
    assert sysa["refused"] == 3  # MQPARTNER's RC 8 x3 in the estate's latest run

    found = client.get(reverse("fleet-api:incident-detail", args=[incident.uuid])).json()
    assert found["kind"] == "refused-clients" and found["service"] == "TN3270S"
    assert found["preceded_by"] == str(fleet.deployed.uuid)
    assert found["details"]["codes"]["412"]["count"] == 8


def test_an_outbound_service_reads_as_handshakes_to_its_partner_failing(
    fleet: FleetEstate,
) -> None:
    # A partner that aborts on a TLS 1.3 offer: AT-TLS, the client, logs RC 412.
    [incident] = refusing(
        fleet, [line("MQPARTNER", 412, "10.8.0.1", n) for n in range(1, 9)], MQPARTNER=0
    )

    assert "outbound handshake(s) of MQPARTNER" in incident.summary
    assert "to its partner failed" in incident.summary
    assert incident.details["families"] == {"protocol": 8}


def test_refusals_belong_to_the_incident_opened_after_the_latest_change_preceding_them(
    fleet: FleetEstate,
) -> None:
    """The rule: refusals join the service's incident opened after the latest change
    (deployment or drift) before them; refusals after a newer change open a new incident."""
    surge = [line("TN3270S", 412, "10.2.0.1", n) for n in range(1, 9)]
    [first] = refusing(fleet, surge, TN3270S=1)
    assert refusing(fleet, [line("TN3270S", 412, "10.2.0.2", 9)], TN3270S=1) == []  # no change
    first.refresh_from_db()
    assert (first.details["refused"], first.resolved_at) == (9, None)

    # A drift after the incident opened: the refusals since are a new incident's, a trickle too.
    DriftEvent.objects.create(
        stack=fleet.sysa,
        kind=DriftKind.FILE,
        key="policy:hand-edit",
        detail="The policy file changed without a deployment",
        opened_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    [second] = refusing(fleet, [line("TN3270S", 412, "10.2.0.3", 10)], TN3270S=50)
    first.refresh_from_db()
    assert first.details["refused"] == 9 and first.resolved_at is not None
    assert first.resolution.startswith("Superseded:")
    assert second.details["refused"] == 1
    assert second.details["preceded_by"]["drift"][0]["key"] == "policy:hand-edit"

    # A deployment that ends after it: the next refusals open a third one.
    fleet.pending.targets.update(status="succeeded", finished_at=timezone.now())
    [third] = refusing(fleet, [line("TN3270S", 412, "10.2.0.4", 11)], TN3270S=50)
    second.refresh_from_db()
    assert second.resolved_at is not None and second.details["refused"] == 1
    assert third.preceded_by == fleet.pending

    # No newer change: the next refusals join the third.
    assert refusing(fleet, [line("TN3270S", 412, "10.2.0.5", 12)], TN3270S=50) == []
    third.refresh_from_db()
    assert (third.details["refused"], third.resolved_at) == (2, None)
