"""The estate part of the dashboard, rendered once per state of the estate and kept briefly.

Everyone who sees the estate sees the same overview: every stack's status, the estate's
totals, the zERT figures. Computing and rendering it took ~30 ms of CPU a view; fifty screens
polling it (the page refreshes itself every 30 s) would spend two cores on it. So the rendered
fragment is kept in this process's memory (the "process" cache: no broker needed) under a key
that changes when the estate does:

- a fingerprint of the estate, read in one query of indexed or small-table aggregates: a new
  or finished verification run (its figures), a deployment requested, approved, started,
  finished or closed, a target deployed, a version published, drift or an incident opened or
  resolved, a certificate seen for the first time, a zERT collection, an LPAR, stack or
  connection added or switched on or off;
- its age, at most DASHBOARD_CACHE_SECONDS: what depends on the clock alone ("5 minutes ago",
  stale figures, certificates entering the 30-day window) and the rare changes the
  fingerprint does not see (a renamed stack, a connection's host edited) show within that
  (plus the time one rendering takes: while one view renders an aged overview again, the
  process's other views are served the aged one rather than all rendering it at once).

A changed estate is always rendered before it is shown, once per process: the first view
renders it and the views arriving meanwhile wait for that rendering.

DASHBOARD_CACHE_SECONDS = 0 turns the keeping off. The figures are the ones the uncached page
computes (fleet.overview, fleet.zert.inventory): this module only decides when to compute.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import caches
from django.db import connection
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from fleet import overview
from fleet.models import (
    Certificate,
    Deployment,
    DeploymentTarget,
    DriftEvent,
    Incident,
    LparConnection,
    VerificationRun,
    ZertDaily,
    ZertRun,
)
from fleet.zert import inventory
from policies.models import Lpar, PolicyVersion, Stack

TEMPLATE = "portal/dashboard.html#estate-summary"

# The kept rendering, (fingerprint, html, time.monotonic() when rendered), under one key: a
# new state of the estate replaces it rather than leaving the old one beside it.
_KEY = "dashboard:estate"
# One rendering at a time in this process. At the end of a clock step every thread of every
# process used to render at once (each took ~200 ms of CPU on the 3,000-service estate): the
# requests that arrived then waited seconds behind one another.
_rendering = threading.Lock()

# (model, aggregate expressions over its columns): each is cheap on a large table (a primary
# key, an indexed column) or over a small one (deployments, versions, LPARs, connections).
_FINGERPRINT: tuple[tuple[Any, tuple[str, ...]], ...] = (
    (VerificationRun, ("MAX(id)", "MAX(finished_at)")),
    (Deployment, ("MAX(id)", "MAX(approved_at)", "MAX(started_at)", "MAX(finished_at)")),
    (Deployment, ("MAX(closed_at)",)),
    (DeploymentTarget, ("MAX(finished_at)",)),
    (PolicyVersion, ("MAX(id)",)),
    (DriftEvent, ("MAX(id)", "MAX(resolved_at)")),
    (Incident, ("MAX(id)", "MAX(resolved_at)")),
    (Certificate, ("MAX(id)",)),
    (ZertRun, ("MAX(finished_at)",)),
    (ZertDaily, ("MAX(id)",)),
    (Lpar, ("MAX(id)", "COUNT(*)")),
    (Stack, ("MAX(id)", "COUNT(*)")),
    (
        LparConnection,
        (
            "MAX(id)",
            "COUNT(*)",
            "SUM(CASE WHEN enabled THEN 1 ELSE 0 END)",
            "SUM(verification_interval)",
        ),
    ),
)


def estate_fingerprint() -> str:
    """A digest that changes when anything the overview shows changes (see the docstring)."""
    quote = connection.ops.quote_name
    parts = [
        f"(SELECT {expression} FROM {quote(model._meta.db_table)})"
        for model, expressions in _FINGERPRINT
        for expression in expressions
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts))
        row = cursor.fetchone()
    return hashlib.sha256(repr(tuple(str(value) for value in row)).encode()).hexdigest()


@dataclass(frozen=True)
class EstateSummary:
    html: SafeString
    # What was computed for it, when it was (None when the fragment came from the cache): the
    # page does not need it; tests and the stack page read the statuses themselves.
    context: dict[str, Any] | None


def _compute(user: AbstractBaseUser | AnonymousUser) -> dict[str, Any]:
    stacks = overview.stack_status_list(user=user)
    # Measured from every connection where zERT records exist (the last 30 days), beside the
    # netstat samples: the page names which source each figure comes from.
    zert = inventory.totals_for(user=user, filters=inventory.InventoryFilters(days=30))
    return {
        "stacks": stacks,
        "totals": overview.fleet_totals(user=user, statuses=stacks),
        "zert": zert if zert.records else None,
    }


def estate_summary(*, user: AbstractBaseUser | AnonymousUser) -> EstateSummary:
    """The rendered overview for `user`, who sees the estate (fleet.selectors.sees_estate:
    every such user sees the same one, so one rendering serves them all)."""
    seconds: int = settings.DASHBOARD_CACHE_SECONDS
    if seconds <= 0:
        context = _compute(user)
        return EstateSummary(mark_safe(render_to_string(TEMPLATE, context)), context)
    fingerprint = estate_fingerprint()
    store = caches["process"]
    kept = store.get(_KEY)
    if kept is not None and kept[0] == fingerprint:
        if time.monotonic() - kept[2] < seconds:
            return EstateSummary(mark_safe(kept[1]), None)
        # Only the clock's step ended it: one thread of this process renders it again while the
        # others are served the kept one, older than the step by at most that rendering.
        if not _rendering.acquire(blocking=False):
            return EstateSummary(mark_safe(kept[1]), None)
        try:
            return _render_and_keep(user, fingerprint, seconds)
        finally:
            _rendering.release()
    # The estate changed (or nothing is kept): every view waits for the new state, but it is
    # rendered once in this process, by the first view; the others take that rendering.
    with _rendering:
        kept = store.get(_KEY)
        if kept is not None and kept[0] == fingerprint:
            return EstateSummary(mark_safe(kept[1]), None)
        return _render_and_keep(user, fingerprint, seconds)


def _render_and_keep(
    user: AbstractBaseUser | AnonymousUser, fingerprint: str, seconds: int
) -> EstateSummary:
    context = _compute(user)
    html = render_to_string(TEMPLATE, context)
    caches["process"].set(_KEY, (fingerprint, html, time.monotonic()), None)
    return EstateSummary(mark_safe(html), context)
