"""What an evidence pack prints beyond the control results, computed once with the assessment.

`assessment_report` reads the scope and period through the same rules the engine does
(audits/scope.py and audits/period.py) and returns a JSON-ready dict that is stored on the
assessment (`Assessment.report`, with the parameters it used): the figures at the start and
the end of the period, the protocol mix and trend, the policy in force, deployments with
their change impact (prediction, acknowledgement, comparison after the change), rollout
campaigns with their steps and gates (audits/campaigns.py), design changes,
drift, incidents, the certificate inventory, the per-service appendix and the
verification runs whose raw outputs the manifest lists. The pack (audits/evidence.py) only
presents it, so a PDF rendered years later prints what the assessment judged, not what the
database holds by then.

Instants are stored as ISO 8601 in UTC (the portal's time zone); the template shows them
with the `iso_*` filters.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from django.db.models import Count, IntegerField, Max, Min, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from audits import charts, period
from audits.campaigns import campaign_evidence
from audits.evidence_text import (
    IMPACT_VERDICTS,
    OUTCOME_LABELS,
    OUTCOME_ORDER,
    TABLE_ROWS,
    TIMES,
    as_items,
    short_control,
    uuid_labels,
)
from audits.models import Assessment, Outcome, ScopeKind
from audits.scope import Scope, ScopeError, resolve, scoped_targets
from fleet.impact import compare
from fleet.models import Deployment, RunStatus, VerificationRun
from policies.models import Service, Stack

# Bumped when the stored shape changes: a pack of an assessment stored with another version
# has its report computed again (audits.assessing.assessment_report_ensure).
REPORT_VERSION = 3
# Peers of a comparison the report names (the rest are counted): unpredicted refusals first.
IMPACT_PEERS = 50


class Judged(Protocol):
    """A control result as the engine returns it or as it is stored: what the report reads."""

    control_id: str
    outcome: str
    evidence: dict[str, Any]


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat() if moment is not None else None


def _user(user: Any) -> str:
    return str(user.get_username()) if user is not None else ""


# --- scope -----------------------------------------------------------------------------------


def resolve_scope(assessment: Assessment) -> Scope:
    """The assessment's scope, with the design rules the appendix shows; one that no longer
    resolves (its services were deleted) holds nothing."""
    try:
        scope = resolve(
            assessment.scope_kind,
            assessment.scope or {},
            related=(
                "rule__group_action",
                "rule__environment_action",
                "rule__connection_action",
            ),
            empty_stacks=True,
        )
    except ScopeError:
        scope = Scope(kind=assessment.scope_kind, services=[], stacks=[], outside={})
    scope.label = scope_label(assessment, scope.services, scope.stacks)
    return scope


def scope_label(assessment: Assessment, services: list[Service], stacks: list[Stack]) -> str:
    lpars = sorted({stack.lpar.name for stack in stacks})
    count = f"{len(services)} service{'s' if len(services) != 1 else ''}"
    if assessment.scope_kind == ScopeKind.ESTATE:
        return f"Whole estate: {len(lpars)} LPARs, {len(stacks)} stacks, {count}"
    if assessment.scope_kind == ScopeKind.LPAR:
        return f"LPAR {', '.join(lpars)}: {len(stacks)} stack(s), {count}"
    if len(services) == 1:
        service = services[0]
        return f"Service {service.name} on {service.stack.label}"
    return f"{count} on {', '.join(stack.label for stack in stacks)}"


# --- figures ---------------------------------------------------------------------------------


def _add(figures: dict[str, Any], connections: Any, secured: Any, protocols: Any) -> None:
    figures["connections"] += int(connections or 0)
    figures["secured"] += int(secured or 0)
    for name, count in (protocols or {}).items():
        figures["protocols"][name] = figures["protocols"].get(name, 0) + int(count or 0)


def _empty_figures() -> dict[str, Any]:
    return {"connections": 0, "secured": 0, "protocols": {}, "runs": 0, "at": None}


def runs_of_period(scope: Scope, start: dt.datetime, end: dt.datetime) -> dict[int, dict[str, Any]]:
    """Per stack: the first and the last successful verification of the period, and a count."""
    spans = (
        VerificationRun.objects.filter(
            stack_id__in=scope.stack_ids,
            status=RunStatus.SUCCEEDED,
            created_at__gte=start,
            created_at__lte=end,
        )
        .values("stack_id")
        .annotate(first=Min("id"), last=Max("id"), runs=Count("id"))
    )
    by_stack = {row["stack_id"]: row for row in spans}
    ids = {row["first"] for row in by_stack.values()} | {row["last"] for row in by_stack.values()}
    runs = {
        row["pk"]: row
        for row in VerificationRun.objects.filter(pk__in=ids)
        .values("pk", "uuid", "created_at", "results")
        .order_by()
    }
    for row in by_stack.values():
        row["first_run"] = runs[row["first"]]
        row["last_run"] = runs[row["last"]]
    return by_stack


def _run_figures(scope: Scope, spans: dict[int, dict[str, Any]], which: str) -> dict[str, Any]:
    figures = _empty_figures()
    names_by_stack: dict[int, list[str]] = defaultdict(list)
    for service in scope.services:
        names_by_stack[service.stack_id].append(service.name)
    moments: list[dt.datetime] = []
    for stack_id, row in spans.items():
        run = row[which]
        figures["runs"] += 1
        moments.append(run["created_at"])
        per_service = (run["results"] or {}).get("services", {})
        for name in names_by_stack.get(stack_id, []):
            entry = per_service.get(name)
            if entry:
                _add(figures, entry.get("connections"), entry.get("secured"), entry["protocols"])
    if moments:
        figures["at"] = _iso(min(moments) if which == "first_run" else max(moments))
    return figures


def _period_figures(
    summary: Mapping[str, Any], scope: Scope, start: dt.datetime, end: dt.datetime
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The protocol mix of the whole period and coverage per day: as the engine summed the
    roll-ups; for an assessment stored without them, summed under the same rules."""
    figures = _empty_figures()
    if "days" in summary:
        coverage = summary.get("coverage") or {}
        _add(
            figures,
            coverage.get("connections"),
            coverage.get("secured"),
            summary.get("protocols") or {},
        )
        return figures, list(summary["days"])
    sums = {
        f"p{index}": Sum(Cast(KT(f"protocols__{name}"), IntegerField()))
        for index, name in enumerate(period.PROTOCOL_KEYS)
    }
    totals = period.service_hours(scope.service_ids, start, end).aggregate(
        connections=Sum("connections"), secured=Sum("secured"), **sums
    )
    protocols = {
        name: totals[f"p{index}"]
        for index, name in enumerate(period.PROTOCOL_KEYS)
        if totals[f"p{index}"]
    }
    _add(figures, totals["connections"], totals["secured"], protocols)
    return figures, period.coverage_by_day(scope.service_ids, start, end)


# --- tables ----------------------------------------------------------------------------------


def _in_force(scope: Scope, at: dt.datetime) -> list[dict[str, Any]]:
    """Per stack: the version deployed there at the evaluation instant."""
    rows = []
    targets = period.in_force(scope.stacks, at)
    for stack in scope.stacks:
        target = targets.get(stack.pk)
        shown = None
        if target is not None:
            deployment = target.deployment
            shown = {
                "number": target.version.number,
                "removed_rule": scope.rule_name(stack.pk, target.removed_rule),
                "author": _user(target.version.author),
                "published_at": _iso(target.version.created_at),
                "finished_at": _iso(target.finished_at),
                "requested_by": _user(deployment.requested_by),
                "approved_by": _user(deployment.approved_by),
                "sha256": target.sha256,
            }
        rows.append({"stack": stack.label, "target": shown})
    return rows


def _deployments(found: list[Deployment]) -> dict[str, Any]:
    rows = [
        {
            "uuid": str(d.uuid),
            "created_at": _iso(d.created_at),
            "kind": d.get_kind_display(),
            "note": d.note,
            "targets": [
                {
                    "stack": t.stack.label,
                    "number": t.version.number,
                    "removed_rule": t.removed_rule,
                    "author": _user(t.version.author),
                    "sha256": t.sha256,
                }
                for t in scoped_targets(d)
            ],
            "requested_by": _user(d.requested_by),
            "approved_by": _user(d.approved_by),
            "approved_at": _iso(d.approved_at),
            "status": d.status,
            "status_label": d.get_status_display(),
            "finished_at": _iso(d.finished_at),
        }
        for d in found[:TABLE_ROWS]
    ]
    return {
        "count": len(found),
        "succeeded": sum(1 for d in found if d.status == RunStatus.SUCCEEDED),
        "rollbacks": sum(1 for d in found if d.kind != "deploy"),
        "rows": rows,
    }


def _prediction(comparison: compare.Comparison) -> dict[str, Any] | None:
    found = comparison.prediction
    if found is None:
        return None
    return {
        "uuid": str(found.uuid),
        "created_at": _iso(found.created_at),
        "candidate": found.candidate,
        "current": found.current,
        "window_days": found.window_days,
        "error": found.error,
        "counts": [[verdict, int(found.counts.get(verdict, 0))] for verdict in IMPACT_VERDICTS],
        "will_break": found.will_break,
        "affected_per_day": (found.per_day or {}).get("affected", 0),
    }


def _comparison(comparison: compare.Comparison) -> dict[str, Any] | None:
    if not comparison.compared:
        return None
    refused = [p for p in comparison.peers if p.outcome != compare.PREDICTED_FINE]
    return {
        "since": _iso(comparison.since),
        "until": _iso(comparison.until),
        "counts": [[outcome, n] for outcome, n in comparison.counts.items()],
        "refused": len(refused),
        "peers": [
            {
                "service": p.service,
                "peer": p.peer,
                "outcome": p.outcome,
                "label": p.label,
                "verdict": p.verdict,
                "refused": p.refused,
            }
            for p in refused[:IMPACT_PEERS]
        ],
    }


def _impact(found: list[Deployment], end: dt.datetime) -> dict[str, Any]:
    """Per deployment (the first TABLE_ROWS): the acknowledgement and, per target, the stored
    prediction and the comparison after the change; precision and recall over every compared
    target of the period, as fleet.impact.compare scores them."""
    scores = compare.Scores()
    rows = []
    for index, deployment in enumerate(found):
        acknowledgement, comparisons = period.change_impact(
            deployment, scoped_targets(deployment), end
        )
        for comparison in comparisons:
            if comparison.compared:
                scores.add(comparison)
        if index >= TABLE_ROWS:
            continue
        rows.append(
            {
                "uuid": str(deployment.uuid),
                "started": deployment.started_at is not None,
                "acknowledgement": None
                if acknowledgement is None
                else {
                    "by": _user(acknowledgement.by),
                    "at": _iso(acknowledgement.at),
                    "reason": acknowledgement.reason,
                    "peers": len(acknowledgement.peers or []),
                },
                "targets": [
                    {
                        "stack": c.target.stack.label,
                        "number": c.target.version.number,
                        "removed_rule": c.target.removed_rule,
                        "prediction": _prediction(c),
                        "comparison": _comparison(c),
                    }
                    for c in comparisons
                ],
            }
        )
    return {
        "deployments": rows,
        "compared": scores.targets,
        "counts": [
            [compare.PREDICTED_REFUSED, scores.predicted_refused],
            [compare.PREDICTED_FINE, scores.predicted_fine],
            [compare.WARNED_REFUSED, scores.warned_refused],
            [compare.UNPREDICTED, scores.unpredicted],
        ],
        "precision": scores.precision,
        "recall": scores.recall,
    }


def _changes(
    scope: Scope, start: dt.datetime, end: dt.datetime, deployments: list[Deployment]
) -> dict[str, Any]:
    records, total = scope.change_records(start, end, deployments, limit=TABLE_ROWS)
    return {
        "total": total,
        "rows": [
            {
                "at": _iso(c.at),
                "actor": _user(c.actor) or "system",
                "action": c.action,
                "object_type": c.object_type,
                "object_name": c.object_name,
                "note": c.note,
            }
            for c in records
        ],
    }


def _drift(
    scope: Scope, start: dt.datetime, end: dt.datetime
) -> tuple[dict[str, Any], Counter[int]]:
    events = scope.drift(start, end)
    per_service = Counter(e.service_id for e in events if e.service_id)
    return {
        "total": len(events),
        "opened": sum(1 for e in events if e.opened_at >= start),
        "open_at_end": sum(1 for e in events if e.resolved_at is None or e.resolved_at > end),
        "rows": [
            {
                "opened_at": _iso(e.opened_at),
                "stack": e.stack.label,
                "service": e.service.name if e.service is not None else "",
                "kind": e.get_kind_display(),
                "detail": e.detail,
                "resolved_at": _iso(e.resolved_at),
            }
            for e in events[:TABLE_ROWS]
        ],
    }, per_service


def _incidents(scope: Scope, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    return [
        {
            "opened_at": _iso(i.opened_at),
            "stack": i.stack.label,
            "kind": i.kind,
            "summary": i.summary,
            "failing_handshakes": len(i.failing_handshakes or []),
            "resolved_at": _iso(i.resolved_at),
        }
        for i in scope.incidents(start, end)
    ]


def _certificates(
    scope: Scope, start: dt.datetime, end: dt.datetime, at: dt.datetime, warning_days: int
) -> list[dict[str, Any]]:
    """The period's certificates, judged at the evaluation instant as the engine judged them."""
    rows = []
    found = scope.certificates(start=start, end=end)
    for certificate in sorted(found, key=lambda c: (c.not_after, c.stack.label)):
        state, days = period.certificate_state(certificate.not_after, at, warning_days)
        rows.append(
            {
                "subject": certificate.subject,
                "issuer": certificate.issuer,
                "stack": certificate.stack.label,
                "rules": [str(rule) for rule in certificate.rules or []],
                "ports": [str(port) for port in certificate.ports or []],
                "not_after": _iso(certificate.not_after),
                "days": days,
                "state": state,
                "fingerprint": certificate.fingerprint,
                "serial": certificate.serial,
            }
        )
    return rows


# --- the per-service appendix ----------------------------------------------------------------


def _design_protocols(service: Service) -> str:
    rule = getattr(service, "rule", None)
    if rule is None:
        return "no rule"
    environment = rule.environment_action
    if environment is None:
        return "AT-TLS defaults"
    enabled = {
        "SSLv3": environment.sslv3,
        "TLSv1": environment.tlsv1,
        "TLSv1.1": environment.tlsv1_1,
        "TLSv1.2": environment.tlsv1_2,
        "TLSv1.3": environment.tlsv1_3,
    }
    for layer in (rule.connection_action, rule):
        if layer is None:
            continue
        for name, attribute in (("TLSv1.2", "tlsv1_2"), ("TLSv1.3", "tlsv1_3")):
            value = getattr(layer, f"override_{attribute}", None) or getattr(layer, attribute, "")
            if value in ("On", "Off"):
                enabled[name] = value == "On"
    shown = [charts.protocol_label(name) for name, on in enabled.items() if on]
    text = ", ".join(shown) if shown else "none"
    if rule.group_action is not None and not rule.group_action.ttls_enabled:
        text += " (TTLSEnabled Off)"
    return text


def _service_findings(
    results: Sequence[Judged], scope: Scope, summary: Mapping[str, Any]
) -> dict[int, list[tuple[str, str]]]:
    """Per service: (outcome, control id) of the controls that did not pass for it."""
    by_key: dict[str, int] = {}
    for service in scope.services:
        by_key[str(service.uuid)] = service.pk
        by_key.setdefault(service.name, service.pk)
        by_key[f"{service.stack.label}/{service.name}"] = service.pk
    findings: dict[int, list[tuple[str, str]]] = defaultdict(list)
    engine = [row for row in summary.get("services") or [] if isinstance(row, dict)]
    if engine:
        # The engine's own verdict per service: {control id: worst outcome for it}.
        for row in engine:
            pk = by_key.get(str(row.get("uuid")))
            for control, outcome in (row.get("findings") or {}).items():
                if pk is not None:
                    findings[pk].append((outcome, control))
        return findings
    for result in results:
        if result.outcome in (Outcome.PASS, Outcome.NOT_APPLICABLE):
            continue
        for item in as_items((result.evidence or {}).get("services")):
            keys = (
                [str(item.get(k)) for k in ("uuid", "service", "name") if item.get(k)]
                if isinstance(item, dict)
                else [str(item)]
            )
            for key in keys:
                if key in by_key:
                    finding = (result.outcome, result.control_id)
                    if finding not in findings[by_key[key]]:
                        findings[by_key[key]].append(finding)
                    break
    return findings


def _service_row(
    service: Service, entry: Mapping[str, Any], found: list[tuple[str, str]], drift: int
) -> dict[str, Any]:
    rule = getattr(service, "rule", None)
    return {
        "name": service.name,
        "jobname": service.jobname,
        "owner_team": service.owner_team,
        "direction": service.direction[:3],
        "port": (
            f"→{service.remote_port_low}"
            if service.direction == "Outbound" and service.remote_port_low
            else service.local_ports
        ),
        "priority": rule.priority if rule is not None else None,
        "tier": service.get_tier_display(),
        "phase": service.get_phase_display(),
        "design": _design_protocols(service),
        "in_policy": entry.get("in_scope"),
        "observed": entry.get("connections"),
        "coverage": entry.get("coverage") if entry else None,
        "protocols": ", ".join(
            f"{charts.protocol_label(p)} {TIMES}{n}"
            for p, n in charts.ordered_protocols(entry.get("protocols") or {})
        ),
        "probe": ", ".join(charts.protocol_label(p) for p in entry.get("probe_protocols") or []),
        "deprecated": bool(entry.get("probe_deprecated")),
        "drift": drift,
        # FAIL, then accepted risks, then WARN: short control ids run together; UNKNOWN
        # only counted.
        "findings": [
            {
                "outcome": outcome.value,
                "label": OUTCOME_LABELS[outcome],
                "controls": ", ".join(
                    sorted(short_control(c) for o, c in found if o == outcome.value)
                ),
            }
            for outcome in (Outcome.FAIL, Outcome.EXCEPTION, Outcome.WARN)
            if any(o == outcome.value for o, _ in found)
        ],
        "unknown": sum(1 for o, _ in found if o == Outcome.UNKNOWN),
    }


def _appendix(
    scope: Scope,
    spans: dict[int, dict[str, Any]],
    findings: dict[int, list[tuple[str, str]]],
    drift: Counter[int],
) -> list[dict[str, Any]]:
    groups: dict[int, dict[str, Any]] = {}
    for service in scope.services:
        group = groups.setdefault(service.stack_id, {"stack": service.stack.label, "rows": []})
        span = spans.get(service.stack_id)
        entry: dict[str, Any] = {}
        if span is not None:
            entry = (span["last_run"]["results"] or {}).get("services", {}).get(service.name) or {}
        group["rows"].append(
            _service_row(service, entry, findings.get(service.pk, []), drift.get(service.pk, 0))
        )
    return list(groups.values())


def referenced_run_ids(results: Iterable[Judged]) -> set[str]:
    """The uuids of the verification runs the controls' evidence names."""
    found: set[str] = set()
    for result in results:
        for item in as_items((result.evidence or {}).get("verification_runs")):
            if isinstance(item, dict):
                value = item.get("uuid") or item.get("run") or item.get("id")
            else:
                value = item
            if value:
                found.add(str(value))
    return found


# --- the report ------------------------------------------------------------------------------


def assessment_report(assessment: Assessment, results: Sequence[Judged]) -> dict[str, Any]:
    """Everything the pack prints besides the control results, JSON-ready.

    `assessment` carries its period, the parameters and summary the engine stored (or will
    store with this), `results` its control results.
    """
    start, end = assessment.period_start, assessment.period_end
    summary = assessment.summary or {}
    scope = resolve_scope(assessment)
    spans = runs_of_period(scope, start, end)
    evaluated = period.evaluated_at(summary, end)
    warning_days = period.warning_days(assessment.parameters)
    whole, days = _period_figures(summary, scope, start, end)
    drift, drift_per_service = _drift(scope, start, end)
    deployments = scope.deployments(period.deployments_in(start, end))
    counts = Counter(result.outcome for result in results)
    run_uuids = referenced_run_ids(results)
    for row in spans.values():
        run_uuids |= {str(row["first_run"]["uuid"]), str(row["last_run"]["uuid"])}
    return {
        "version": REPORT_VERSION,
        "parameters": {
            "evaluated_at": _iso(evaluated),
            "cert_expiry_warning_days": warning_days,
            "period_start": _iso(start),
            "period_end": _iso(end),
            "table_rows": TABLE_ROWS,
        },
        "scope_label": scope.label,
        "outcomes": {o.value: counts.get(o.value, 0) for o in OUTCOME_ORDER},
        "before": _run_figures(scope, spans, "first_run"),
        "after": _run_figures(scope, spans, "last_run"),
        "period": whole | {"from_hours": bool(whole["connections"])},
        "days": days,
        "verification_runs": sum(row["runs"] for row in spans.values()),
        "stacks_verified": len(spans),
        "in_force": _in_force(scope, evaluated),
        "deployments": _deployments(deployments),
        "impact": _impact(deployments, end),
        "changes": _changes(scope, start, end, deployments),
        "campaigns": campaign_evidence(scope, start, end),
        "drift": drift,
        "incidents": _incidents(scope, start, end),
        "certificates": _certificates(scope, start, end, evaluated, warning_days),
        "appendix": _appendix(
            scope, spans, _service_findings(results, scope, summary), drift_per_service
        ),
        "manifest_runs": sorted(run_uuids),
        # names of the uuids the control results' evidence holds
        "labels": uuid_labels(results),
    }
