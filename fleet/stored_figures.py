"""The stack-wide figures of a finished verification run, derived once from its results.

A run's `results` hold every service's figures (hundreds of entries on a large stack); the
dashboard, /metrics and the stack API want a dozen numbers per stack from them. Decoding the
whole of `results` for every stack on every page view was most of the dashboard's time, and a
run never changes once it has finished. So when a run finishes its worker stores these
figures (`figures_store`, a VerificationFigures row), and readers load only them.

`run_figures` is the one computation of each figure; readers never re-derive them from
`results` with rules of their own. A run stored without figures (before they existed, or by
code that writes runs directly) gets them from `figures_for`, computed on the fly from its
results in one query for all such runs. FIGURES_VERSION changes whenever a figure's rule does:
stored figures of another version are computed again in the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fleet import presenters
from fleet.models import VerificationFigures, VerificationRun

FIGURES_VERSION = 1


def run_figures(results: Mapping[str, Any]) -> dict[str, Any]:
    """The figures readers need from a finished run's `results` (JSON-ready)."""
    services: Mapping[str, Mapping[str, Any]] = results.get("services") or {}
    if "refused" in results:
        refused = int(results["refused"] or 0)
    else:  # a run stored before the stack-wide figure existed: the services' failures
        refused = sum(sum((e.get("handshake_failures") or {}).values()) for e in services.values())
    ports = presenters.port_summary(services)
    return {
        "version": FIGURES_VERSION,
        "connections": results.get("connections"),
        "secured": results.get("secured"),
        "coverage": results.get("coverage"),
        "refused": refused,
        "services_refusing": sorted(
            n for n, e in services.items() if any((e.get("handshake_failures") or {}).values())
        ),
        "protocols": dict(results.get("protocols") or {}),
        "ports": {
            "probed": ports.probed,
            "cleartext": ports.cleartext,
            "app_tls": ports.app_tls,
            "deprecated": ports.deprecated,
            "weakest": ports.weakest,
        },
        "in_scope": sum(1 for e in services.values() if e.get("in_scope")),
    }


def figures_store(run: VerificationRun) -> VerificationFigures:
    """Stores the figures of `run`, which has just finished (safe to call twice)."""
    stored, _ = VerificationFigures.objects.update_or_create(
        run=run, defaults={"figures": run_figures(run.results or {})}
    )
    return stored


def figures_for(run_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Each run's figures by id: stored ones as they are, the others computed from their
    results (read in one query for all of them)."""
    wanted = set(run_ids)
    found: dict[int, dict[str, Any]] = {
        run_id: figures
        for run_id, figures in VerificationFigures.objects.filter(run_id__in=wanted).values_list(
            "run_id", "figures"
        )
        if isinstance(figures, dict) and figures.get("version") == FIGURES_VERSION
    }
    missing = wanted - set(found)
    if missing:
        for run_id, results in VerificationRun.objects.filter(pk__in=missing).values_list(
            "pk", "results"
        ):
            found[run_id] = run_figures(results or {})
    return found
