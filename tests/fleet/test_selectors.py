"""Fleet reads: who sees what, where each figure comes from, and the presenters that draw them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from fleet import overview, presenters, selectors, service_status
from fleet.models import (
    Certificate,
    ConnectionObservation,
    DeploymentTarget,
    RunStatus,
    TargetStatus,
    VerificationRun,
)
from fleet.services import deployment_request
from tests.fleet.ui_estate import FleetEstate, build_fleet, withdraw_pending


@pytest.fixture
def fleet(make_user) -> FleetEstate:
    return build_fleet(make_user)


def by_label(statuses: list[overview.StackStatus]) -> dict[str, overview.StackStatus]:
    return {s.stack.label: s for s in statuses}


# --- the overview ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_only_those_who_see_the_estate_get_stack_statuses(fleet) -> None:
    assert len(overview.stack_status_list(user=fleet.people["auditor"])) == 2
    for who in ("owner_a", "nobody"):
        assert overview.stack_status_list(user=fleet.people[who]) == []
        assert overview.fleet_totals(user=fleet.people[who], statuses=[]) is None


@pytest.mark.django_db
def test_figures_come_from_the_latest_successful_run_and_a_later_failure_shows(fleet) -> None:
    VerificationRun.objects.create(stack=fleet.sysa, status=RunStatus.FAILED, error="503")
    sysa = by_label(overview.stack_status_list(user=fleet.people["operator"]))["SYSA/TCPIP"]

    assert sysa.run == fleet.run_after
    assert sysa.last_failed and sysa.last_run.error == "503"
    assert sysa.coverage_text == "97%"
    assert [s.protocol for s in sysa.protocol_bar.segments] == ["TLSv1.3", "TLSv1.2", "cleartext"]


@pytest.mark.django_db
def test_the_deployed_version_is_the_last_target_that_succeeded_and_a_newer_one_shows(
    fleet,
) -> None:
    withdraw_pending(fleet)
    sysa = by_label(overview.stack_status_list(user=fleet.people["operator"]))["SYSA/TCPIP"]
    assert sysa.deployed.version == fleet.v2 and not sysa.behind
    assert sysa.latest_version == fleet.v2

    failed = deployment_request(actor=fleet.people["operator"], targets=[(fleet.sysa, fleet.v1)])
    DeploymentTarget.objects.filter(deployment=failed).update(
        status=TargetStatus.ROLLED_BACK, finished_at=timezone.now()
    )
    sysa = by_label(overview.stack_status_list(user=fleet.people["operator"]))["SYSA/TCPIP"]
    assert sysa.deployed.version == fleet.v2

    sysb = by_label(overview.stack_status_list(user=fleet.people["operator"]))["SYSB/TCPIP"]
    assert sysb.deployed is None and sysb.latest_version is None


@pytest.mark.django_db
def test_open_drift_and_certificates_due_are_counted_per_stack(fleet) -> None:
    statuses = by_label(overview.stack_status_list(user=fleet.people["operator"]))
    sysa = statuses["SYSA/TCPIP"]
    assert sysa.open_drift == 1  # the resolved event is not counted
    assert (sysa.certificates_due, sysa.certificates_expired) == (1, 1)
    assert statuses["SYSB/TCPIP"].certificates_due == 0


@pytest.mark.django_db
def test_a_certificate_the_last_probe_no_longer_saw_is_not_counted(fleet) -> None:
    Certificate.objects.filter(fingerprint="aa" * 32).update(
        last_seen=fleet.run_after.created_at - timedelta(minutes=5)
    )
    sysa = by_label(overview.stack_status_list(user=fleet.people["operator"]))["SYSA/TCPIP"]
    assert sysa.certificates_due == 0 and sysa.certificates_expired == 1


@pytest.mark.django_db
def test_totals_add_up_the_stacks(fleet) -> None:
    statuses = overview.stack_status_list(user=fleet.people["auditor"])
    totals = overview.fleet_totals(user=fleet.people["auditor"], statuses=statuses)
    assert (totals.stacks, totals.deployed) == (2, 1)
    assert (totals.connections, totals.secured) == (49, 28)
    assert (totals.open_drift, totals.open_incidents, totals.active_deployments) == (1, 1, 0)


@pytest.mark.django_db
def test_the_before_state_of_a_stack_is_read_from_its_probe(fleet) -> None:
    sysb = by_label(overview.stack_status_list(user=fleet.people["auditor"]))["SYSB/TCPIP"]
    ports = sysb.ports
    assert (ports.probed, ports.app_tls, ports.cleartext, ports.deprecated) == (3, 2, 1, 2)
    assert [s.protocol for s in ports.bar.segments] == ["TLSv1", "no-tls"]


# --- deployments ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rollback_plan_names_the_current_and_previous_versions_or_why_not(fleet) -> None:
    plan = selectors.rollback_plan(stack=fleet.sysa)
    assert (plan.current.version, plan.previous, plan.refusal) == (fleet.v2, fleet.v1, "")
    assert "Nothing has been deployed" in selectors.rollback_plan(stack=fleet.sysb).refusal


@pytest.mark.django_db
def test_deployed_rules_are_those_of_the_deployed_text_with_their_services(fleet) -> None:
    current, rules = selectors.deployed_rules(stack=fleet.sysa)
    assert current.version == fleet.v2
    names = [rule.name for rule in rules]
    assert "CICSWEB1" in names and names == sorted(names)
    web1 = next(rule for rule in rules if rule.name == "CICSWEB1")
    assert web1.service == fleet.service_a
    assert selectors.deployed_rules(stack=fleet.sysb) == (None, [])


@pytest.mark.django_db
def test_deploy_choices_are_for_operators_with_each_stacks_latest_version(fleet) -> None:
    assert overview.deploy_choices(user=fleet.people["auditor"]) == []
    choices = overview.deploy_choices(user=fleet.people["operator"])
    assert [(c.stack, c.version, c.is_current) for c in choices] == [(fleet.sysa, fleet.v2, True)]


# --- services -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_app_owners_see_only_their_services(fleet) -> None:
    mine = service_status.visible_services(user=fleet.people["owner_a"])
    assert sorted(s.name for s in mine) == ["CICSWEB1", "CICSWEB2", "CICSWEBB"]
    assert [s.name for s in service_status.visible_services(user=fleet.people["owner_b"])] == [
        "MQCHIN"
    ]
    assert service_status.visible_services(user=fleet.people["auditor"]).count() == 12
    assert not service_status.visible_services(user=fleet.people["nobody"]).exists()


@pytest.mark.django_db
def test_live_connections_are_those_the_latest_run_saw_unsecured_first(fleet, settings) -> None:
    statuses = service_status.service_statuses(
        service_status.visible_services(user=fleet.people["owner_a"])
    )
    web1 = next(s for s in statuses if s.service.name == "CICSWEB1")
    assert [c.secured for c in web1.live] == [False, True, True]
    assert "10.99.0.1..40000" not in [c.remote_socket for c in web1.live]
    assert web1.badge.key == "partly"
    webb = next(s for s in statuses if s.service.name == "CICSWEBB")
    assert webb.badge.key == "not-deployed" and webb.live == []


@pytest.mark.django_db
def test_live_connections_are_capped_per_service(make_user) -> None:
    fleet = build_fleet(make_user, observations=service_status.LIVE_SHOWN + 5)
    statuses = service_status.service_statuses([fleet.service_a, fleet.service_b])
    assert len(statuses[0].live) == service_status.LIVE_SHOWN
    assert len(statuses[1].live) == 1
    assert ConnectionObservation.objects.filter(service=fleet.service_a).count() > 12


@pytest.mark.django_db
def test_the_mix_over_time_has_a_column_per_hour_or_per_six_hours(fleet) -> None:
    day = service_status.service_statuses([fleet.service_a], window="24h")[0].chart
    assert len(day.columns) == 24 and not day.empty
    week = service_status.service_statuses([fleet.service_a], window="7d")[0].chart
    assert len(week.columns) == 28
    assert sum(c.total for c in week.columns) == 24 * 10


@pytest.mark.django_db
def test_finding_filters_read_status_and_stack(fleet) -> None:
    filters = selectors.FindingFilters.parse({"status": "bogus", "stack": " SYSA/TCPIP "})
    assert filters == selectors.FindingFilters(status="open", stack="SYSA/TCPIP")
    events = selectors.drift_list_for(user=fleet.people["auditor"], filters=filters)
    assert [e.key for e in events] == ["policy"]
    assert not selectors.drift_list_for(user=fleet.people["owner_a"]).exists()
    assert not selectors.lpar_list_for_operators(user=fleet.people["auditor"]).exists()


# --- presenters (no database) ---------------------------------------------------------------------


def test_a_protocol_bar_fills_its_width_strongest_first() -> None:
    bar = presenters.protocol_bar({"cleartext": 1, "TLSv1.2": 1, "TLSv1.3": 2}, width=200)
    assert [s.protocol for s in bar.segments] == ["TLSv1.3", "TLSv1.2", "cleartext"]
    assert [s.share for s in bar.segments] == ["50%", "25%", "25%"]
    assert sum(s.width for s in bar.segments) == pytest.approx(200)
    assert presenters.protocol_bar({}).empty


def test_percent_reads_well_at_the_edges() -> None:
    assert presenters.percent(0, 0) == "\N{EN DASH}"
    assert presenters.percent(999, 1000) == "99.9%"
    assert presenters.percent(9999, 10000) == ">99.9%"
    assert presenters.percent(1, 10000) == "<0.1%"
    assert presenters.percent(1, 3) == "33%"
    assert presenters.percent(1, 20) == "5%"
    assert presenters.percent(1, 40) == "2.5%"
    assert presenters.percent(3, 3) == "100%"


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        (None, "not-verified"),
        ({"in_scope": False, "connections": 3}, "not-deployed"),
        ({"in_scope": True, "connections": 3, "secured": 0}, "cleartext"),
        ({"in_scope": True, "connections": 3, "secured": 2}, "partly"),
        (
            {"in_scope": True, "connections": 3, "secured": 3, "probe_deprecated": ["TLSv1"]},
            "partly",
        ),
        ({"in_scope": True, "connections": 3, "secured": 3, "probe_tls": False}, "partly"),
        ({"in_scope": True, "connections": 0, "secured": 0, "probe_tls": False}, "cleartext"),
        (
            {
                "in_scope": True,
                "connections": 3,
                "secured": 3,
                "probe_tls": True,
                "probe_protocols": ["TLSv1.3"],
            },
            "secured",
        ),
        # A TLS server that completed no handshake the probe offered (AT-TLS refusing every
        # client: an expired certificate, no common suite) is neither cleartext nor secured.
        (
            {"in_scope": True, "connections": 0, "secured": 0, "probe_tls": True},
            "partly",
        ),
        (
            {
                "in_scope": True,
                "connections": 0,
                "secured": 0,
                "probe_tls": True,
                "handshake_failures": {"401": 9},
            },
            "refusing",
        ),
        ({"in_scope": True, "connections": 0, "secured": 0}, "secured"),
        (
            {"in_scope": True, "connections": 1, "secured": 1, "handshake_failures": {"8": 2}},
            "refusing",
        ),
        (
            {"in_scope": True, "connections": 3, "secured": 2, "handshake_failures": {"412": 1}},
            "refusing",
        ),
    ],
)
def test_service_badges(entry, key) -> None:
    badge = presenters.service_badge(entry)
    assert badge.key == key
    assert not badge.why[0].islower() and badge.why.endswith(".")


def test_certificate_expiry_bands() -> None:
    now = datetime(2025, 6, 1, tzinfo=UTC)
    bands = [
        presenters.certificate_expiry(now + timedelta(days=d), now).label
        for d in (-1, 0, 3, 7, 20, 31)
    ]
    assert bands == ["expired", "expired", "≤ 7 days", "≤ 7 days", "≤ 30 days", "valid"]
    assert presenters.certificate_expiry(now + timedelta(days=12, hours=5), now).days == 12


def test_the_mix_chart_stacks_strongest_at_the_bottom_and_ignores_rows_outside_the_window() -> None:
    now = datetime(2025, 6, 1, 12, 30, tzinfo=UTC)
    rows = [
        SimpleNamespace(hour=datetime(2025, 6, 1, 12, tzinfo=UTC), protocols={"TLSv1.3": 3}),
        SimpleNamespace(
            hour=datetime(2025, 6, 1, 11, tzinfo=UTC), protocols={"TLSv1.3": 1, "cleartext": 1}
        ),
        SimpleNamespace(hour=datetime(2025, 5, 1, 11, tzinfo=UTC), protocols={"TLSv1": 9}),
    ]
    chart = presenters.mix_chart(rows, now=now, window="24h", height=100)
    last, before = chart.columns[-1], chart.columns[-2]
    assert last.total == 3 and last.rects == [("p-tls13", 0.0, 100.0, 3)]
    assert before.rects == [("p-tls13", 50.0, 50.0, 1), ("p-none", 0.0, 50.0, 1)]
    assert chart.peak == 3 and chart.protocols == ["TLSv1.3", "cleartext"]
    assert len(chart.ticks) == 4


def test_durations_read_in_the_unit_that_fits() -> None:
    start = datetime(2025, 6, 1, tzinfo=UTC)
    assert presenters.duration(start, start + timedelta(seconds=4.25)) == "4.2 s"
    assert presenters.duration(start, start + timedelta(seconds=192)) == "3 min 12 s"
    assert presenters.duration(start, start + timedelta(hours=2, minutes=5)) == "2 h 05 min"
    assert presenters.duration(None, start) == ""


def test_failed_handshakes_read_per_return_code() -> None:
    assert (
        presenters.failures_text({"8": 3, "401": 1})
        == "RC 401 \N{MULTIPLICATION SIGN}1, RC 8 \N{MULTIPLICATION SIGN}3"
    )
    assert presenters.failures_text(None) == ""
