"""The dashboard's estate overview is rendered once per state of the estate and kept briefly
(portal/dashboard.py): a repeated view reuses it; anything it shows that changes (a run that
finishes, drift resolved) is shown at the next view; the clock's step ends it; an app owner
never gets the estate's."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from fleet.models import DriftEvent, RunStatus, VerificationRun
from fleet.stored_figures import figures_store
from portal import dashboard
from tests.fleet.ui_estate import FleetEstate, build_fleet


@pytest.fixture
def fleet(make_user: Any, settings: Any) -> FleetEstate:
    settings.DASHBOARD_CACHE_SECONDS = 600  # only a change may end it within a test
    return build_fleet(make_user)


def view(fleet: FleetEstate, who: str = "auditor") -> Any:
    client = Client()
    client.force_login(fleet.people[who])
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    return response


def computed(response: Any) -> bool:
    """The overview was computed for this view (not taken from the kept rendering)."""
    return "stacks" in response.context


def test_a_second_view_of_an_unchanged_estate_reuses_the_rendering(fleet: FleetEstate) -> None:
    first = view(fleet)
    second = view(fleet, "architect")

    assert computed(first) and not computed(second)
    assert first.content.count(b'data-stack="') == second.content.count(b'data-stack="') == 2
    summary = first.content.split(b'id="fleet-summary"')[1]
    assert summary == second.content.split(b'id="fleet-summary"')[1]


def test_a_run_that_finishes_shows_at_the_next_view(fleet: FleetEstate) -> None:
    now = timezone.now()
    run = VerificationRun.objects.create(
        stack=fleet.sysb, status=RunStatus.RUNNING, started_at=now - timedelta(seconds=3)
    )
    before = view(fleet)
    assert b"0 of 20 connections" in before.content
    assert not computed(view(fleet))  # kept while the run runs
    results = {
        **fleet.run_before.results,
        "connections": 40,
        "secured": 30,
        "coverage": 0.75,
        "protocols": {"TLSv1.3": 30, "cleartext": 10},
    }
    # As the worker ends it (fleet.verify.run): same row, now finished, and its figures.
    VerificationRun.objects.filter(pk=run.pk).update(
        status=RunStatus.SUCCEEDED, finished_at=timezone.now(), results=results
    )
    run.refresh_from_db()
    figures_store(run)

    after = view(fleet)

    assert computed(after)
    assert b"30 of 40 connections" in after.content
    assert b"0 of 20 connections" not in after.content


def test_resolved_drift_shows_at_the_next_view(fleet: FleetEstate) -> None:
    DriftEvent.objects.create(
        stack=fleet.sysb,
        kind="file",
        key="cache-test",
        detail="edited outside the portal",
        opened_at=timezone.now(),
        last_seen_at=timezone.now(),
    )
    open_drift = view(fleet).context["totals"].open_drift
    assert open_drift >= 1
    assert not computed(view(fleet))

    DriftEvent.objects.filter(key="cache-test").update(resolved_at=timezone.now())

    after = view(fleet)
    assert computed(after) and after.context["totals"].open_drift == open_drift - 1


def test_the_clocks_step_ends_a_kept_rendering(fleet: FleetEstate, settings: Any) -> None:
    settings.DASHBOARD_CACHE_SECONDS = 1
    view(fleet)
    time.sleep(1.05)  # the next step of the clock, whatever the moment the first view fell in

    assert computed(view(fleet))


def test_an_app_owner_never_gets_the_estates_overview(fleet: FleetEstate) -> None:
    estate = view(fleet)
    assert b'data-stack="' in estate.content

    owner = view(fleet, "owner_a")

    assert b'data-stack="' not in owner.content
    assert b"Your services" in owner.content


def test_an_aged_rendering_is_served_while_another_view_renders_it_again(
    fleet: FleetEstate,
) -> None:
    first = view(fleet)
    store = caches["process"]
    fingerprint, html, born = store.get(dashboard._KEY)
    store.set(dashboard._KEY, (fingerprint, html, born - 601), None)  # older than the step

    with dashboard._rendering:  # as if another thread of this process were rendering it
        during = view(fleet)
    after = view(fleet)

    assert not computed(during)
    assert (
        during.content.split(b'id="fleet-summary"')[1]
        == (first.content.split(b'id="fleet-summary"')[1])
    )
    assert computed(after)  # the first view once the lock is free renders it again
