"""The evidence pack's PDF: what an auditor reads and signs off, rendered by WeasyPrint.

`pack_context` gathers everything from the assessment and the estate's records in its scope
and period; `render_pdf` renders `templates/audits/pdf/pack.html` with its print stylesheet.
The sections: a cover (scope, period, who generated it and when, portal and catalog
versions), an executive summary (coverage, protocol mix, drift, incidents, start and end of
the period), the controls grouped by framework, a per-service appendix, the change history
with its approvers, the certificate inventory, and a manifest of the SHA-256 of every raw
output the evidence rests on.

WeasyPrint fetches nothing remote: its URL fetcher accepts `file:` URLs under the template
directory and Debian's DejaVu fonts, and refuses everything else. Charts are inline SVG.
Queries are bounded for a 1,000-service estate: sums over hourly roll-ups are done by the
database, and raw outputs are read in chunks and dropped once hashed.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Count, IntegerField, Max, Min, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from audits import charts, period
from audits.evidence_text import (
    EVIDENCE_ITEMS,
    FRAMEWORKS,
    NONE_SHOWN,
    OUTCOME_LABELS,
    OUTCOME_ORDER,
    TABLE_ROWS,
    TIMES,
    as_items,
    describe,
    evidence_label,
    evidence_rows,
    headline,
    ordered_counts,
    percent,
    period_length,
    person,
    rationale_lines,
    result_order,
    shared_evidence,
    short_control,
    uuid_labels,
    when,
)
from audits.log import Head
from audits.models import Assessment, ControlResult, Outcome, ScopeKind
from audits.scope import Scope, ScopeError, resolve
from fleet.models import (
    Deployment,
    DriftEvent,
    RunStatus,
    VerificationRun,
)
from fleet.selectors import output_text
from policies.models import Service, Stack

BASE_DIR = Path(settings.BASE_DIR)
TEMPLATE = "audits/pdf/pack.html"
STYLESHEET = BASE_DIR / "templates" / "audits" / "pdf" / "pack.css"
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


@cache
def portal_version() -> str:
    with (BASE_DIR / "pyproject.toml").open("rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


# --- fetching nothing remote -------------------------------------------------------------------


class LocalOnlyFetcher:
    """WeasyPrint's URL fetcher for the pack: `file:` URLs under `roots`, nothing else.

    Every refused URL is kept in `refused`, so a test (or a log line) can name it.
    """

    def __init__(self, roots: Iterable[Path]) -> None:
        from weasyprint.urls import URLFetcher

        self.roots = [root.resolve() for root in roots]
        self.refused: list[str] = []
        self._files = URLFetcher(allowed_protocols=("file",), allow_redirects=False)
        self._fail_on_errors = False  # WeasyPrint reads this off the fetcher

    def __call__(self, url: str) -> Any:
        return self.fetch(url)

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> Any:
        parsed = urlparse(url)
        if parsed.scheme != "file":
            self.refused.append(url)
            raise ValueError(f"the evidence pack fetches nothing remote: refused {url}")
        path = Path(url2pathname(parsed.path)).resolve()
        if not any(path.is_relative_to(root) for root in self.roots):
            self.refused.append(url)
            raise ValueError(f"the evidence pack reads only its own files: refused {url}")
        return self._files.fetch(url, headers)


def fetcher() -> LocalOnlyFetcher:
    return LocalOnlyFetcher([STYLESHEET.parent, FONT_DIR])


def render_pdf(context: dict[str, Any], *, url_fetcher: LocalOnlyFetcher | None = None) -> bytes:
    """The PDF of a pack context (see `pack_context`)."""
    from weasyprint import CSS, HTML

    html = render_to_string(TEMPLATE, context)
    url_fetcher = url_fetcher or fetcher()
    document = HTML(string=html, base_url=STYLESHEET.parent.as_uri() + "/", url_fetcher=url_fetcher)
    stylesheet = CSS(filename=str(STYLESHEET), url_fetcher=url_fetcher)
    pdf: bytes = document.write_pdf(
        stylesheets=[stylesheet],
        pdf_identifier=str(context["pack_uuid"]).encode(),
        custom_metadata=False,
    )
    return pdf


# --- scope ---------------------------------------------------------------------------------------


def resolve_scope(assessment: Assessment) -> Scope:
    """The assessment's scope (audits/scope.py): every fact the pack shows is read through it.

    A scope that no longer resolves (its services were deleted) holds nothing.
    """
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


# --- the sections --------------------------------------------------------------------------------


@dataclass
class Figures:
    connections: int = 0
    secured: int = 0
    protocols: dict[str, int] = field(default_factory=dict)
    runs: int = 0
    at: datetime | None = None

    @property
    def coverage(self) -> float | None:
        return self.secured / self.connections if self.connections else None

    @property
    def tls13(self) -> float | None:
        secured = sum(n for p, n in self.protocols.items() if p != "cleartext")
        return self.protocols.get("TLSv1.3", 0) / secured if secured else None

    def add(self, connections: int, secured: int, protocols: dict[str, int]) -> None:
        self.connections += int(connections or 0)
        self.secured += int(secured or 0)
        for name, count in (protocols or {}).items():
            self.protocols[name] = self.protocols.get(name, 0) + int(count or 0)


def runs_of_period(scope: Scope, start: datetime, end: datetime) -> dict[int, dict[str, Any]]:
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
        run.pk: run
        for run in VerificationRun.objects.filter(pk__in=ids).defer("outputs").order_by()
    }
    for row in by_stack.values():
        row["first_run"] = runs[row["first"]]
        row["last_run"] = runs[row["last"]]
    return by_stack


def _figures(scope: Scope, spans: dict[int, dict[str, Any]], which: str) -> Figures:
    figures = Figures()
    names_by_stack: dict[int, list[str]] = defaultdict(list)
    for service in scope.services:
        names_by_stack[service.stack_id].append(service.name)
    for stack_id, row in spans.items():
        run: VerificationRun = row[which]
        results = run.results or {}
        figures.runs += 1
        pick = min if which == "first_run" else max
        figures.at = pick(figures.at, run.created_at) if figures.at else run.created_at
        per_service = results.get("services", {})
        for name in names_by_stack.get(stack_id, []):
            entry = per_service.get(name)
            if entry:
                figures.add(
                    entry.get("connections", 0), entry.get("secured", 0), entry["protocols"]
                )
    return figures


def _period_hours(
    assessment: Assessment, scope: Scope, start: datetime, end: datetime
) -> tuple[Figures, list[dict[str, Any]]]:
    """Protocol mix over the whole period and coverage per day: as the assessment stored them
    (the engine summed the roll-ups); for an assessment stored without them, summed again
    under the same rules (audits.period)."""
    summary = assessment.summary or {}
    figures = Figures()
    if "days" in summary:
        coverage = summary.get("coverage") or {}
        figures.add(
            coverage.get("connections") or 0,
            coverage.get("secured") or 0,
            dict(summary.get("protocols") or {}),
        )
        return figures, list(summary["days"])
    hours = period.service_hours(scope.service_ids, start, end)
    sums = {
        f"p{index}": Sum(Cast(KT(f"protocols__{name}"), IntegerField()))
        for index, name in enumerate(period.PROTOCOL_KEYS)
    }
    totals = hours.aggregate(connections=Sum("connections"), secured=Sum("secured"), **sums)
    figures.add(
        totals["connections"] or 0,
        totals["secured"] or 0,
        {
            name: totals[f"p{index}"]
            for index, name in enumerate(period.PROTOCOL_KEYS)
            if totals[f"p{index}"]
        },
    )
    return figures, period.coverage_by_day(scope.service_ids, start, end)


def _deployments(scope: Scope, start: datetime, end: datetime) -> list[Deployment]:
    return scope.deployments(period.deployments_in(start, end), limit=TABLE_ROWS)


def _policy_in_force(scope: Scope, at: datetime) -> list[dict[str, Any]]:
    """Per stack: the version deployed there at the evaluation instant."""
    rows = []
    targets = period.in_force(scope.stacks, at)
    for stack in scope.stacks:
        target = targets.get(stack.pk)
        if target is not None:
            target.removed_rule = scope.rule_name(stack.pk, target.removed_rule)
        rows.append({"stack": stack, "target": target})
    return rows


def _certificates(
    scope: Scope, start: datetime, end: datetime, at: datetime, warning_days: int
) -> list[dict[str, Any]]:
    """The period's certificates, judged at the evaluation instant as the engine judged them."""
    rows = []
    found = scope.certificates(start=start, end=end)
    for certificate in sorted(found, key=lambda c: (c.not_after, c.stack.label)):
        state, days = period.certificate_state(certificate.not_after, at, warning_days)
        rows.append({"certificate": certificate, "days": days, "state": state})
    return rows


def referenced_run_ids(results: Iterable[ControlResult]) -> set[str]:
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


def _manifest(run_uuids: set[str], run_pks: set[int]) -> list[dict[str, Any]]:
    """Every raw output of the runs the evidence rests on, with its stored and recomputed hash."""
    runs = (
        VerificationRun.objects.filter(Q(uuid__in=_valid_uuids(run_uuids)) | Q(pk__in=run_pks))
        .select_related("stack__lpar")
        .order_by("stack__lpar__name", "stack__name", "created_at")
    )
    rows = []
    for run in runs.iterator(chunk_size=50):
        outputs = []
        for name, entry in sorted((run.outputs or {}).items()):
            if not isinstance(entry, dict):
                continue
            raw = output_text(entry).encode()
            recomputed = hashlib.sha256(raw).hexdigest()
            outputs.append(
                {
                    "name": name,
                    "command": entry.get("command", ""),
                    "bytes": len(raw),
                    "sha256": entry.get("sha256", ""),
                    "matches": recomputed == entry.get("sha256"),
                    "parsed": entry.get("parsed", True),
                }
            )
        rows.append({"run": run, "outputs": outputs})
        run.outputs = {}  # the texts are hashed; let them go
    return rows


def manifest_of(results: Iterable[ControlResult], spans: dict[int, dict[str, Any]]) -> list[Any]:
    """The manifest rows of a pack: runs its evidence names, and the runs its figures use."""
    run_pks = {row["first"] for row in spans.values()} | {row["last"] for row in spans.values()}
    return _manifest(referenced_run_ids(results), run_pks)


def _valid_uuids(values: Iterable[str]) -> list[str]:
    import uuid

    valid = []
    for value in values:
        try:
            valid.append(str(uuid.UUID(str(value))))
        except ValueError:
            continue
    return valid


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
    results: list[ControlResult], scope: Scope, summary: dict[str, Any] | None = None
) -> dict[int, list[tuple[str, str]]]:
    """Per service: (outcome, control id) of the controls that did not pass for it."""
    by_key: dict[str, int] = {}
    for service in scope.services:
        by_key[str(service.uuid)] = service.pk
        by_key.setdefault(service.name, service.pk)
        by_key[f"{service.stack.label}/{service.name}"] = service.pk
    findings: dict[int, list[tuple[str, str]]] = defaultdict(list)
    engine = [row for row in (summary or {}).get("services") or [] if isinstance(row, dict)]
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


def _appendix(
    scope: Scope,
    spans: dict[int, dict[str, Any]],
    findings: dict[int, list[tuple[str, str]]],
    drift: list[DriftEvent],
) -> list[dict[str, Any]]:
    drift_count = Counter(event.service_id for event in drift if event.service_id)
    groups: dict[int, dict[str, Any]] = {}
    for service in scope.services:
        group = groups.setdefault(service.stack_id, {"stack": service.stack, "rows": []})
        span = spans.get(service.stack_id)
        entry = {}
        if span is not None:
            entry = (span["last_run"].results or {}).get("services", {}).get(service.name) or {}
        protocols = entry.get("protocols") or {}
        group["rows"].append(
            {
                "service": service,
                "port": (
                    f"→{service.remote_port_low}"
                    if service.direction == "Outbound" and service.remote_port_low
                    else service.local_ports
                ),
                "priority": getattr(getattr(service, "rule", None), "priority", None),
                "design": _design_protocols(service),
                "observed": entry.get("connections"),
                "coverage": percent(entry.get("coverage")) if entry else NONE_SHOWN,
                "protocols": ", ".join(
                    f"{charts.protocol_label(p)} {TIMES}{n}"
                    for p, n in charts.ordered_protocols(protocols)
                ),
                "probe": ", ".join(
                    charts.protocol_label(p) for p in entry.get("probe_protocols") or []
                ),
                "deprecated": bool(entry.get("probe_deprecated")),
                "in_policy": entry.get("in_scope"),
                "drift": drift_count.get(service.pk, 0),
                # FAIL, then accepted risks, then WARN, by name; UNKNOWN only counted.
                # FAIL, then accepted risks, then WARN: short control ids run together.
                "findings": [
                    {
                        "outcome": outcome.value,
                        "label": OUTCOME_LABELS[outcome],
                        "controls": ", ".join(
                            sorted(
                                short_control(control)
                                for o, control in findings.get(service.pk, [])
                                if o == outcome.value
                            )
                        ),
                    }
                    for outcome in (Outcome.FAIL, Outcome.EXCEPTION, Outcome.WARN)
                    if any(o == outcome.value for o, _ in findings.get(service.pk, []))
                ],
                "unknown": sum(
                    1 for outcome, _ in findings.get(service.pk, []) if outcome == Outcome.UNKNOWN
                ),
            }
        )
    return list(groups.values())


def pack_context(
    *,
    assessment: Assessment,
    pack_uuid: Any,
    generated_by: User,
    generated_at: datetime,
    signer: str = "",
    signature_level: str = "",
    oscal_name: str = "",
    oscal_sha256: str = "",
    verify_url: str = "",
    scope: Scope | None = None,
    results: list[ControlResult] | None = None,
    spans: dict[int, dict[str, Any]] | None = None,
    manifest: list[dict[str, Any]] | None = None,
    chain_head: Head | None = None,
) -> dict[str, Any]:
    """Everything the PDF template shows, gathered with a bounded number of queries.

    `scope`, `results`, `spans` and `manifest` may be passed in when the caller (the pack
    task) has them already for the OSCAL file, so the raw outputs are read once.
    """
    start, end = assessment.period_start, assessment.period_end
    scope = scope or resolve_scope(assessment)
    results = sorted(
        results if results is not None else assessment.results.select_related("exception__owner"),
        key=result_order,
    )
    counts = Counter(result.outcome for result in results)
    outcome_tiles = [
        {"outcome": o.value, "label": OUTCOME_LABELS[o], "count": counts.get(o.value, 0)}
        for o in OUTCOME_ORDER
    ]
    labels = uuid_labels(results)
    shared = shared_evidence(results)
    frameworks: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        frameworks.setdefault(result.framework, []).append(
            {
                "result": result,
                "badge": OUTCOME_LABELS.get(result.outcome, result.outcome),
                "evidence": evidence_rows(result.evidence or {}, labels, shared),
                "rationale": rationale_lines(result.rationale),
                "sp800_53": [str(x).upper() for x in (result.sp800_53 or [])],
                "section": (result.evidence or {}).get("section", ""),
                "level": (result.evidence or {}).get("level", ""),
            }
        )
    framework_sections = [
        {
            "key": key,
            "anchor": "fw-" + "".join(ch for ch in key.lower() if ch.isalnum()),
            "title": FRAMEWORKS.get(key, key),
            "controls": controls,
            "counts": ordered_counts(Counter(c["result"].outcome for c in controls)),
        }
        for key, controls in sorted(
            frameworks.items(),
            key=lambda item: list(FRAMEWORKS).index(item[0]) if item[0] in FRAMEWORKS else 99,
        )
    ]
    attention = [
        {"result": r, "headline": headline(r.rationale)}
        for r in results
        if r.outcome in (Outcome.FAIL, Outcome.WARN, Outcome.EXCEPTION)
    ]
    attention.sort(
        key=lambda a: (OUTCOME_ORDER.index(Outcome(a["result"].outcome)), a["result"].control_id)
    )

    spans = spans if spans is not None else runs_of_period(scope, start, end)
    before = _figures(scope, spans, "first_run")
    after = _figures(scope, spans, "last_run")
    evaluated = period.evaluated_at(assessment.summary, end)
    warning_days = period.warning_days(assessment.parameters)
    whole, days = _period_hours(assessment, scope, start, end)
    mix = whole if whole.connections else after
    drift = scope.drift(start, end)
    incidents = scope.incidents(start, end)
    deployments = _deployments(scope, start, end)
    changes, change_total = scope.change_records(start, end, deployments, limit=TABLE_ROWS)
    findings = _service_findings(results, scope, assessment.summary)
    manifest = manifest if manifest is not None else manifest_of(results, spans)
    versions: dict[str, dict[str, Any]] = {}
    for result in results:
        for item in as_items((result.evidence or {}).get("versions")):
            if isinstance(item, dict) and item.get("sha256"):
                versions[f"{item.get('stack')} v{item.get('number')}"] = item
    in_force = _policy_in_force(scope, evaluated)

    bars = []
    if before.runs:
        bars.append(
            charts.Bar(
                f"Start · {before.at:%Y-%m-%d}" if before.at else "Start",
                before.protocols,
                f"coverage {percent(before.coverage)}",
            )
        )
    if after.runs:
        bars.append(
            charts.Bar(
                f"End · {after.at:%Y-%m-%d}" if after.at else "End",
                after.protocols,
                f"coverage {percent(after.coverage)}",
            )
        )
    trend = [
        (
            row["day"][5:10],
            (row["secured"] / row["connections"]) if row["connections"] else None,
        )
        for row in days
    ]
    lowest = min((v for _, v in trend if v is not None), default=1.0)
    floor = 0.0 if lowest < 0.5 else (0.5 if lowest < 0.9 else 0.8)
    drift_opened = [e for e in drift if e.opened_at >= start]
    drift_open_at_end = [e for e in drift if e.resolved_at is None or e.resolved_at > end]
    rollbacks = [d for d in deployments if d.kind != "deploy"]
    manifest_outputs = sum(len(row["outputs"]) for row in manifest)
    manifest_mismatches = sum(
        1 for row in manifest for output in row["outputs"] if not output["matches"]
    )
    return {
        "assessment": assessment,
        "pack_uuid": pack_uuid,
        "scope": scope,
        "period_start": when(start),
        "period_end": when(end),
        "period_length": period_length(start, end),
        "generated_at": when(generated_at, seconds=True),
        "generated_by": person(generated_by),
        "assessed_by": person(assessment.created_by),
        "assessed_at": when(assessment.created_at, seconds=True),
        "portal_version": portal_version(),
        "signer": signer,
        "signature_level": signature_level,
        "oscal_name": oscal_name,
        "oscal_sha256": oscal_sha256,
        "verify_url": verify_url,
        "parameters": sorted((assessment.parameters or {}).items()),
        "outcome_tiles": outcome_tiles,
        "controls_total": len(results),
        "frameworks": framework_sections,
        "shared_evidence": [
            {
                "label": evidence_label(key),
                "items": [describe(item, labels, key) for item in as_items(value)],
            }
            for key, value in shared.items()
        ],
        "attention": attention,
        "before": before,
        "after": after,
        "period_figures": mix,
        "period_from_hours": bool(whole.connections),
        "coverage_end": percent(after.coverage),
        "coverage_start": percent(before.coverage),
        "tls13_end": percent(after.tls13),
        "tls13_start": percent(before.tls13),
        "protocol_rows": charts.protocol_table(mix.protocols),
        "mix_chart": mark_safe(
            charts.stacked_bars(
                [charts.Bar("Whole period", mix.protocols, f"{mix.connections:,} connections")]
            )
        )
        if mix.connections
        else "",
        "before_after_chart": mark_safe(charts.stacked_bars(bars)) if bars else "",
        "trend_chart": mark_safe(
            charts.line_chart(trend, title="Encrypted share of connections per day", floor=floor)
        )
        if len(trend) >= 2
        else "",
        "verification_runs": sum(row["runs"] for row in spans.values()),
        "stacks_verified": len(spans),
        "drift": drift[:TABLE_ROWS],
        "drift_total": len(drift),
        "drift_opened": len(drift_opened),
        "drift_open_at_end": len(drift_open_at_end),
        "incidents": incidents,
        "deployments": deployments,
        "deployments_succeeded": sum(1 for d in deployments if d.status == RunStatus.SUCCEEDED),
        "rollbacks": len(rollbacks),
        "changes": changes,
        "change_total": change_total,
        "table_rows": TABLE_ROWS,
        "in_force": in_force,
        "certificates": _certificates(scope, start, end, evaluated, warning_days),
        "warning_days": warning_days,
        "evaluated_at": when(evaluated),
        "appendix": _appendix(scope, spans, findings, drift),
        "manifest": manifest,
        # zERT's figures and dump files, as the assessment stored them (the engine's summary)
        "zert": (assessment.summary or {}).get("zert") or {},
        "manifest_outputs": manifest_outputs,
        "manifest_mismatches": manifest_mismatches,
        "versions": sorted(versions.values(), key=lambda v: (str(v.get("stack")), v.get("number"))),
        "evidence_items": EVIDENCE_ITEMS,
        "chain_head": chain_head,
    }
