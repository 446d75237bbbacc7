"""A finished run's stack-wide figures, stored once (fleet/stored_figures.py): the dashboard and
/metrics read them instead of decoding every service's results on each view; a new finished
run changes what they show; runs stored without them (or under an older rule) still show the
figures their results give."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from fleet.models import RunStatus, VerificationFigures, VerificationRun
from fleet.stored_figures import FIGURES_VERSION, figures_store, run_figures
from tests.fleet.ui_estate import FleetEstate, build_fleet


@pytest.fixture
def fleet(make_user: Any) -> FleetEstate:
    return build_fleet(make_user)


def dashboard(fleet: FleetEstate) -> Any:
    client = Client()
    client.force_login(fleet.people["auditor"])
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    return response


def by_lpar(response: Any) -> dict[str, Any]:
    return {s.stack.lpar.name: s for s in response.context["stacks"]}


def test_runs_stored_without_figures_show_what_their_results_give(fleet: FleetEstate) -> None:
    # build_fleet writes its runs directly, without figures, as runs from before them were.
    assert not VerificationFigures.objects.exists()

    shown = by_lpar(dashboard(fleet))

    for lpar, run in (("SYSA", fleet.run_after), ("SYSB", fleet.run_before)):
        assert shown[lpar].figures == run_figures(run.results)
    assert shown["SYSA"].connections == fleet.run_after.results["connections"]
    assert shown["SYSA"].ports.probed > 0 and shown["SYSA"].in_scope > 0


def test_a_new_finished_run_changes_the_dashboard(fleet: FleetEstate) -> None:
    first = dashboard(fleet)
    before = by_lpar(first)["SYSB"]
    assert before.coverage == 0 and b"0 of 20 connections" in first.content
    results = {
        **fleet.run_before.results,
        "connections": 40,
        "secured": 30,
        "coverage": 0.75,
        "protocols": {"TLSv1.3": 30, "cleartext": 10},
        "refused": 3,
    }
    now = timezone.now()
    run = VerificationRun.objects.create(
        stack=fleet.sysb,
        status=RunStatus.SUCCEEDED,
        started_at=now - timedelta(seconds=2),
        finished_at=now,
        results=results,
    )
    figures_store(run)  # as the worker does when the run ends (fleet.verify.run)

    second = dashboard(fleet)

    after = by_lpar(second)["SYSB"]
    assert (after.connections, after.secured, after.coverage, after.refused) == (40, 30, 0.75, 3)
    assert b"30 of 40 connections" in second.content
    assert VerificationFigures.objects.get(run=run).figures == run_figures(results)
    assert second.context["totals"].refused == by_lpar(second)["SYSA"].refused + 3


def test_figures_stored_under_another_rule_are_computed_again(fleet: FleetEstate) -> None:
    # Say the rule for a figure changed since these were stored: what they say is not shown.
    wrong = {**run_figures(fleet.run_before.results), "connections": 999, "version": 0}
    VerificationFigures.objects.create(run=fleet.run_before, figures=wrong)

    shown = by_lpar(dashboard(fleet))["SYSB"]

    assert shown.connections == fleet.run_before.results["connections"] != 999
    assert shown.figures["version"] == FIGURES_VERSION


def test_the_dashboard_reads_stored_figures_not_the_results(fleet: FleetEstate) -> None:
    """Stored figures are what is shown: the dashboard does not decode results for them."""
    for run in (fleet.run_after, fleet.run_before):
        figures = {**run_figures(run.results), "connections": 77}  # marked, to be seen
        VerificationFigures.objects.create(run=run, figures=figures)

    shown = by_lpar(dashboard(fleet))

    assert shown["SYSA"].connections == shown["SYSB"].connections == 77


def test_refused_attempts_from_runs_before_the_stack_wide_figure_count_service_failures() -> None:
    results = {
        "services": {
            "A": {"handshake_failures": {"401": 2, "5003": 1}},
            "B": {"handshake_failures": {}},
            "C": {"handshake_failures": {"412": 4}},
        }
    }

    figures = run_figures(results)

    assert figures["refused"] == 7
    assert figures["services_refusing"] == ["A", "C"]
    assert run_figures({**results, "refused": 2})["refused"] == 2  # the stack-wide figure wins
