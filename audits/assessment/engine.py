"""The engine: runs every check, applies risk exceptions, writes rationale and summary."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from django.utils import timezone

from audits import period
from audits.assessment.checks import CHECKS
from audits.assessment.checks.certificates import _certificate_evidence
from audits.assessment.checks.history import (
    _deployment_evidence,
    _drift_evidence,
    _incident_evidence,
)
from audits.assessment.checks.protocols import _tls13_share
from audits.assessment.facts import (
    EVIDENCE_FINDINGS,
    EXCEPTION,
    FAIL,
    LABEL,
    LISTED,
    NA,
    PASS,
    RANK,
    UNKNOWN,
    WARN,
    Context,
    Evaluation,
    Finding,
    ResultData,
    ServiceFacts,
    Verdict,
    _iso,
)
from audits.assessment.gather import _gather
from audits.catalog import Catalog, Control
from audits.models import RiskException

# --- the engine -----------------------------------------------------------------------------


def _covers(exception: RiskException, finding: Finding) -> bool:
    if exception.service_id is not None:
        return finding.service is not None and finding.service.id == exception.service_id
    if exception.stack_id is not None:
        stack = finding.service.stack if finding.service is not None else finding.stack
        return stack is not None and stack.id == exception.stack_id
    return True


def _active(exception: RiskException, at: dt.datetime) -> bool:
    revoked = exception.revoked_at is not None and exception.revoked_at <= at
    return not revoked and exception.expires_at > at and exception.created_at <= at


def _exception_target(exception: RiskException) -> str:
    if exception.service is not None:
        return f"service {exception.service.name} ({exception.service.stack.label})"
    if exception.stack is not None:
        return f"stack {exception.stack.label}"
    return "the whole estate"


def _exception_evidence(exception: RiskException, at: dt.datetime) -> dict[str, Any]:
    return {
        "uuid": str(exception.uuid),
        "control_id": exception.control_id,
        "target": _exception_target(exception),
        "owner": exception.owner.get_username(),
        "justification": exception.justification,
        "created_at": _iso(exception.created_at),
        "expires_at": _iso(exception.expires_at),
        "revoked_at": _iso(exception.revoked_at),
        "active": _active(exception, at),
    }


def _rationale(
    control: Control, findings: list[Finding], verdict: Verdict, stale: list[RiskException]
) -> str:
    lines: list[str] = []
    for outcome in (FAIL, WARN, EXCEPTION, UNKNOWN):
        group = [f for f in findings if f.outcome == outcome]
        for finding in group[:LISTED]:
            text = finding.text
            exception = finding.exception
            if exception is not None:
                text += (
                    f" (was {finding.original}; accepted risk for {_exception_target(exception)}"
                    f" until {exception.expires_at:%Y-%m-%d}, owner"
                    f" {exception.owner.get_username()}: {exception.justification.strip()})"
                )
            lines.append(f"{LABEL[outcome]}: {text}")
        if len(group) > LISTED:
            more = len(group) - LISTED
            lines.append(f"{LABEL[outcome]}: and {more} more, listed in the evidence")
    for outcome in (PASS, NA):
        group = [f for f in findings if f.outcome == outcome]
        if not group:
            continue
        if len(group) <= 3:
            lines += [f"{LABEL[outcome]}: {f.text}" for f in group]
        else:
            noun = "services" if all(f.service for f in group) else "subjects"
            if all(f.service is None and f.stack is not None for f in group):
                noun = "stacks"
            lines.append(f"{LABEL[outcome]} for {len(group)} {noun}, e.g. {group[0].text}")
    if not findings:
        outcome, text = verdict.empty
        lines.append(f"{LABEL[outcome]}: {text}")
    for exception in stale:
        ended = (
            f"was revoked on {exception.revoked_at:%Y-%m-%d}"
            if exception.revoked_at is not None
            else f"expired on {exception.expires_at:%Y-%m-%d}"
        )
        why = exception.justification.strip()[:120]
        lines.append(
            f"Note: the exception for {_exception_target(exception)} ({why}) {ended} and no"
            " longer applies."
        )
    lines += [f"Note: {note}" for note in verdict.notes]
    if control.needs:
        lines.append(f"Not evaluated: {control.needs}")
    if control.note:
        lines.append(f"Caveat: {control.note}")
    return "\n".join(lines)


def _finding_evidence(finding: Finding) -> dict[str, Any]:
    item: dict[str, Any] = {
        "outcome": finding.outcome,
        "subject": finding.subject,
        "text": finding.text,
    }
    if finding.service is not None:
        item["service"] = finding.service.uuid
        if finding.service.rule is not None:
            item["rule"] = finding.service.name
    if finding.exception is not None:
        item["exception"] = str(finding.exception.uuid)
        item["original_outcome"] = finding.original
    return item


def _judge_control(ctx: Context, control: Control, common: dict[str, Any]) -> ResultData:
    verdict = CHECKS[control.check](ctx, control)
    findings = verdict.findings
    at = ctx.eval_at
    candidates = [e for e in ctx.exceptions if e.control_id == control.id]
    active = [e for e in candidates if _active(e, at)]
    applied: list[RiskException] = []
    for finding in findings:
        if finding.outcome not in (FAIL, WARN):
            continue
        for exception in active:
            if _covers(exception, finding):
                finding.original, finding.outcome = finding.outcome, EXCEPTION
                finding.exception = exception
                if exception not in applied:
                    applied.append(exception)
                break
    # Exceptions that would cover a finding but have lapsed are named, so a reader sees why
    # an accepted risk shows as FAIL again.
    stale = [
        e
        for e in candidates
        if e not in active and any(f.outcome in (FAIL, WARN) and _covers(e, f) for f in findings)
    ]
    if findings:
        outcome = max((f.outcome for f in findings), key=RANK.__getitem__)
    else:
        outcome = verdict.empty[0]
    counts = Counter(f.outcome for f in findings)
    offending = [f for f in findings if f.outcome in (FAIL, WARN, EXCEPTION, UNKNOWN)]
    evidence: dict[str, Any] = {
        "check": control.check,
        "section": control.section,
        "level": control.level,
        "counts": {k: counts[k] for k in RANK if counts.get(k)},
        "findings": [_finding_evidence(f) for f in offending[:EVIDENCE_FINDINGS]],
        "findings_total": len(offending),
        "rules": sorted({f.service.name for f in offending if f.service and f.service.rule}),
        "services": sorted({f.service.name for f in offending if f.service is not None}),
        **verdict.evidence,
    }
    for source, key in (
        ("design", "versions"),
        ("observed", "verification_runs"),
        ("certificates", "certificates"),
    ):
        if source in control.sources:
            evidence[key] = common[key]
    if "history" in control.sources:
        evidence["drift"] = common["drift"]
        evidence["deployments"] = common["deployments"]
    if applied or stale:
        evidence["exceptions"] = [_exception_evidence(e, at) for e in applied + stale]
    per_service: dict[str, str] = {}
    by_stack: dict[int, list[ServiceFacts]] = defaultdict(list)
    for s in ctx.services:
        by_stack[s.stack.id].append(s)
    for finding in findings:
        subjects = (
            [finding.service]
            if finding.service is not None
            else by_stack.get(finding.stack.id, [])
            if finding.stack is not None
            else []
        )
        for subject in subjects:
            before = per_service.get(subject.uuid)
            if before is None or RANK[finding.outcome] > RANK[before]:
                per_service[subject.uuid] = finding.outcome
    return ResultData(
        control_id=control.id,
        framework=control.framework,
        section=control.section,
        title=control.title,
        outcome=outcome,
        rationale=_rationale(control, findings, verdict, stale),
        evidence=evidence,
        sp800_53=[reference.label for reference in control.sp800_53],
        exception=applied[0] if applied else None,
        per_service=per_service,
    )


def _common_evidence(ctx: Context) -> dict[str, Any]:
    stacks = {s.id: s for s in ctx.stacks}
    return {
        "versions": [stack.version_evidence() for stack in ctx.stacks],
        "verification_runs": ctx.runs_evidence,
        "certificates": [_certificate_evidence(c) for c in ctx.certificates],
        "drift": [_drift_evidence(e, stacks) for e in ctx.drift],
        "deployments": [_deployment_evidence(d) for d in ctx.deployments],
    }


def _summary(ctx: Context, results: list[ResultData], seconds: dict[str, float]) -> dict[str, Any]:
    outcomes = Counter(r.outcome for r in results)
    by_framework: dict[str, Counter[str]] = defaultdict(Counter)
    for result in results:
        by_framework[result.framework][result.outcome] += 1
    protocols: Counter[str] = Counter()
    for s in ctx.services:
        protocols.update(s.hours.protocols)
    connections = sum(s.hours.connections for s in ctx.services)
    secured = sum(s.hours.secured for s in ctx.services)
    latest_connections = latest_secured = 0
    latest_protocols: Counter[str] = Counter()
    for s in ctx.services:
        if s.live:
            latest_connections += s.live.get("connections") or 0
            latest_secured += s.live.get("secured") or 0
            latest_protocols.update(s.live.get("protocols") or {})
    covered = [s for s in ctx.services if s.secured]
    at = ctx.eval_at
    warn_days = ctx.params["cert_expiry_warning_days"]
    states = Counter(
        period.certificate_state(c.not_after, at, warn_days)[0] for c in ctx.certificates
    )
    per_service: dict[str, dict[str, str]] = defaultdict(dict)
    for result in results:
        for uuid, outcome in result.per_service.items():
            if outcome in (FAIL, WARN, EXCEPTION, UNKNOWN):
                per_service[uuid][result.control_id] = outcome
    drift_kinds = Counter(e.kind for e in ctx.drift)
    return {
        "catalog": {"version": ctx.catalog.version, "sha256": ctx.catalog.sha256},
        "evaluated_at": _iso(at),
        "controls": len(results),
        "outcomes": {k: outcomes[k] for k in RANK if outcomes.get(k)},
        "by_framework": {fw: dict(c) for fw, c in sorted(by_framework.items())},
        "scope": {
            "kind": ctx.scope_kind,
            "lpars": sorted({s.lpar for s in ctx.stacks}),
            "stacks": len(ctx.stacks),
            "services": len(ctx.services),
        },
        "coverage": {
            "services_in_scope": len(ctx.services),
            "services_covered": len(covered),
            "connections": connections,
            "secured": secured,
            "cleartext": sum(s.hours.cleartext for s in ctx.services),
            "ratio": round(secured / connections, 4) if connections else None,
            "latest": {
                "connections": latest_connections,
                "secured": latest_secured,
                "ratio": (
                    round(latest_secured / latest_connections, 4) if latest_connections else None
                ),
                "protocols": dict(sorted(latest_protocols.items())),
            },
        },
        "protocols": dict(sorted(protocols.items())),
        "tls13": _tls13_share(ctx.services),
        "drift": {
            "events": len(ctx.drift),
            "by_kind": dict(drift_kinds),
            "open_at_end": sum(
                1 for e in ctx.drift if e.resolved_at is None or e.resolved_at > ctx.period_end
            ),
        },
        "incidents": {
            "count": len(ctx.incidents),
            "items": [_incident_evidence(i) for i in ctx.incidents],
        },
        "deployments": len(ctx.deployments),
        "verification_runs": sum(s.runs for s in ctx.stacks),
        "days": ctx.days,
        # zERT's figures of the period and the dump files behind them (the pack's manifest)
        "zert": ctx.zert,
        "certificates": {
            "warning_days": warn_days,
            "count": len(ctx.certificates),
            "expired": states["expired"],
            "expiring": states["expiring"],
        },
        "exceptions_applied": sorted(
            {str(r.exception.uuid) for r in results if r.exception is not None}
        ),
        "services": [
            {
                "uuid": s.uuid,
                "name": s.name,
                "stack": s.stack.label,
                "lpar": s.stack.lpar,
                "tier": s.tier,
                "owner_team": s.owner_team,
                "direction": s.direction,
                "covered": s.secured,
                "rule_since": _iso(s.in_scope_since),
                "connections": s.hours.connections,
                "secured": s.hours.secured,
                "cleartext": s.hours.cleartext,
                "protocols": dict(sorted(s.hours.protocols.items())),
                "findings": dict(sorted(per_service.get(s.uuid, {}).items())),
            }
            for s in ctx.services
        ],
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }


def _instant(value: dt.datetime, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise ValueError(f"{name} must be a date-time")
    if timezone.is_naive(value):
        raise ValueError(f"{name} must carry a time zone")
    return value


def assess(
    *,
    scope_kind: str,
    scope: Mapping[str, Any] | None,
    period_start: dt.datetime,
    period_end: dt.datetime,
    parameters: Mapping[str, Any] | None,
    catalog: Catalog,
) -> Evaluation:
    """Evaluates every control; the results, a summary for the assessment row, the parameters."""
    started = time.perf_counter()
    period_start = _instant(period_start, "period_start")
    period_end = _instant(period_end, "period_end")
    if period_end <= period_start:
        raise ValueError("the period must end after it starts")
    missing = sorted(catalog.checks - set(CHECKS))
    if missing:
        raise ValueError(f"the catalog names checks that do not exist: {', '.join(missing)}")
    params = catalog.resolve_parameters(parameters)
    eval_at = params["evaluation_date"] or period_end
    params["evaluation_date"] = eval_at
    ctx = _gather(
        catalog=catalog,
        params=params,
        eval_at=eval_at,
        scope_kind=scope_kind,
        scope=dict(scope or {}),
        period_start=period_start,
        period_end=period_end,
    )
    gathered = time.perf_counter()
    common = _common_evidence(ctx)
    results = [_judge_control(ctx, control, common) for control in catalog.controls]
    judged = time.perf_counter()
    seconds = dict(ctx.queries) | {
        "gather": gathered - started,
        "judge": judged - gathered,
    }
    summary = _summary(ctx, results, seconds)
    summary["seconds"]["total"] = round(time.perf_counter() - started, 3)
    return Evaluation(
        results=results,
        summary=summary,
        parameters=catalog.parameters_to_json(params),
        context=ctx,
    )


def evaluate(
    *,
    scope_kind: str,
    scope: Mapping[str, Any] | None,
    period_start: dt.datetime,
    period_end: dt.datetime,
    parameters: Mapping[str, Any] | None,
    catalog: Catalog,
) -> list[ResultData]:
    """The result of every control of the catalog for this scope and period."""
    return assess(
        scope_kind=scope_kind,
        scope=scope,
        period_start=period_start,
        period_end=period_end,
        parameters=parameters,
        catalog=catalog,
    ).results
