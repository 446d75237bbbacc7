"""How the evidence pack words what the assessment stored: dates, shares, people, evidence items,
rationale lines and control order (audits/evidence.py lays the pack out with these).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User

from attls import returncodes
from audits.models import ControlResult, Outcome
from fleet.impact.predict import PRECHECK_REFUSED
from fleet.impact.present import VERDICT_ORDER
from fleet.models import (
    Deployment,
    VerificationRun,
)
from policies.models import Service

# How much of a long list the PDF prints; the OSCAL file and the portal hold all of it.
EVIDENCE_ITEMS = 12
# Keys of the engine's evidence the PDF shows elsewhere: the findings are the rationale's
# lines, section and level head the control. The OSCAL file keeps them all.
EVIDENCE_SHOWN_ELSEWHERE = frozenset({"check", "section", "level", "findings", "findings_total"})
# Versions and runs are listed whole in appendix E, certificates in appendix D; a control
# shows the first few and says where the rest are.
EVIDENCE_ITEMS_BY_KIND = {
    "versions": 3,
    "verification_runs": 3,
    "certificates": 5,
    "zert_dumps": 3,
}
# Findings of one outcome a control shows in the PDF; appendix A and OSCAL have them all.
RATIONALE_LINES = 5
FINDING_LABELS = frozenset({"FAIL", "WARN", "EXCEPTION", "UNKNOWN"})
# Evidence many controls cite whole: listed once at the head of the controls chapter.
SHAREABLE_EVIDENCE = ("versions", "verification_runs", "certificates")
SHARED_NOTE = "those listed under 2.0 Evidence common to the controls"
EVIDENCE_LISTED_IN = {
    "versions": "appendix E",
    "verification_runs": "appendix E",
    "certificates": "appendix D",
    "zert_dumps": "appendix E",
}
TABLE_ROWS = 1000
# A prediction's counts, in the order the pack prints them (worst first, then refused
# pre-checks); stored as pairs, since a JSON object's key order is not kept by every database.
IMPACT_VERDICTS = (*VERDICT_ORDER, PRECHECK_REFUSED)
FRAMEWORKS = {
    "SP800-52r2": "NIST SP 800-52 Rev. 2 — TLS server and client requirements",
    "SP800-207": "NIST SP 800-207 — Zero Trust Architecture tenets",
    "SP800-53": "NIST SP 800-53 Rev. 5 — supporting controls",
}
OUTCOME_ORDER = [
    Outcome.FAIL,
    Outcome.WARN,
    Outcome.EXCEPTION,
    Outcome.UNKNOWN,
    Outcome.PASS,
    Outcome.NOT_APPLICABLE,
]
OUTCOME_LABELS = {
    Outcome.PASS: "PASS",
    Outcome.WARN: "WARN",
    Outcome.FAIL: "FAIL",
    Outcome.NOT_APPLICABLE: "N/A",
    Outcome.UNKNOWN: "UNKNOWN",
    Outcome.EXCEPTION: "EXCEPTION",
}
# Known keys of ControlResult.evidence, in the order the PDF shows them.
EVIDENCE_LABELS = {
    "counts": "Subjects judged",
    "rules": "Rules",
    "services": "Services",
    "versions": "Policy versions",
    "verification_runs": "Verification runs",
    "drift": "Drift events",
    "deployments": "Deployments",
    "certificates": "Certificates",
    "connections": "Connections",
    "exceptions": "Exceptions",
    "observed_from": "Observed from",
    "zert_dumps": "zERT dump files",
}

# What a table shows for a missing value: an en dash.
NONE_SHOWN = "\u2013"
# The sign before a count: "TLS 1.3 (times) 9" is nine connections on TLS 1.3.
TIMES = "\N{MULTIPLICATION SIGN}"


# --- small helpers -----------------------------------------------------------------------------


def when(moment: datetime | None, *, seconds: bool = False) -> str:
    if moment is None:
        return NONE_SHOWN
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


# A campaign's figures (rollouts.figures.totals), in the account's terms and order: the key,
# the label, the unit. Shares are stored as percentages already.
CAMPAIGN_FIGURES = (
    ("coverage", "Coverage", " %"),
    ("tls13_share", "TLS 1.3 share", " %"),
    ("deprecated_share", "Deprecated protocols share", " %"),
    ("zert_deprecated_share", "zERT deprecated share", " %"),
    ("zert_cleartext_share", "zERT cleartext share", " %"),
    ("drift_per_month", "Drift events a month", ""),
    ("refused", "Refused attempts", ""),
    ("connections", "Connections seen", ""),
)


def campaign_figures(
    baseline: dict[str, Any] | None, end: dict[str, Any] | None
) -> list[dict[str, str]]:
    """Baseline and end state side by side, each value as stored (an en dash for none)."""

    def shown(figures: dict[str, Any] | None, key: str, unit: str) -> str:
        value = (figures or {}).get(key)
        return NONE_SHOWN if value is None else f"{value}{unit}"

    return [
        {"label": label, "baseline": shown(baseline, key, unit), "end": shown(end, key, unit)}
        for key, label, unit in CAMPAIGN_FIGURES
    ]


def percent(value: float | None) -> str:
    if value is None:
        return NONE_SHOWN
    share = 100.0 * value
    if share >= 99.95 and value < 1:
        return "99.9 %"
    return f"{share:.1f} %" if share != 100 else "100 %"


def person(user: User | None) -> str:
    if user is None:
        return "system"
    name = user.get_full_name()
    return f"{name} ({user.get_username()})" if name else user.get_username()


def as_items(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, dict):
        return [value]
    return [value]


def _short_time(value: Any) -> str:
    text = str(value or "")
    return text[:16].replace("T", " ") if text else NONE_SHOWN


def _describe_known(kind: str, item: dict[str, Any], labels: dict[str, str]) -> str | None:
    """The evidence shapes the assessment engine writes, each as a line a reader follows."""
    short = str(item.get("uuid") or "")[:8]
    if kind == "verification_runs":
        coverage = item.get("coverage")
        shown = f" · coverage {percent(coverage)}" if isinstance(coverage, int | float) else ""
        count = item.get("runs_in_period")
        runs = f" · {count} run{'s' if count != 1 else ''} in the period" if count else ""
        return f"{item.get('stack', '?')} · {_short_time(item.get('at'))}{shown}{runs} · {short}"
    if kind == "versions":
        if item.get("number") is None:
            return f"{item.get('stack', '?')}: no version deployed by the portal"
        text = f"{item.get('stack')} v{item['number']}"
        if item.get("removed_rule"):
            text += f" without {item['removed_rule']}"
        return text + (f" · SHA-256 {item['sha256']}" if item.get("sha256") else "")
    if kind == "deployments":
        targets = ", ".join(
            f"{t.get('stack')} v{t.get('version')}" for t in item.get("targets") or []
        )
        approved = item.get("approved_by") or "not approved"
        return (
            f"{item.get('kind', 'deploy')} {targets} · {item.get('status', '')} · requested by"
            f" {item.get('requested_by', '?')}, approved by {approved} · {short}"
        )
    if kind == "drift":
        resolved = item.get("resolved_at")
        state = f"resolved {_short_time(resolved)}" if resolved else "open"
        return (
            f"{item.get('stack', '?')} · {item.get('kind', '')} · opened"
            f" {_short_time(item.get('opened_at'))}, {state}"
            f" · {item.get('summary') or item.get('key')}"
        )
    if kind == "certificates":
        # The key and signature the probe read, when it read them (assessments from 1.1.0).
        read = [str(item[k]) for k in ("key", "signature") if item.get(k)]
        return (
            f"{item.get('subject', '?')} · until {str(item.get('not_after') or NONE_SHOWN)[:10]}"
            f" · serial {item.get('serial', '?')}" + "".join(f" · {r}" for r in read)
        )
    if kind == "exceptions":
        state = "active" if item.get("active") else "NOT active (expired or revoked)"
        return (
            f"{item.get('target', item.get('control_id', ''))} · owner {item.get('owner', '?')}"
            f" · until {str(item.get('expires_at') or NONE_SHOWN)[:10]} · {state}"
        )
    if kind == "zert_dumps":
        return (
            f"{item.get('lpar', '?')} · {_short_time(item.get('finished_at'))}"
            f" · {item.get('records') or 0:,} records · SHA-256 {item.get('sha256') or '?'}"
        )
    if kind == "incidents":
        return f"{item.get('stack', '?')} · {item.get('kind', '')} · {item.get('summary', '')}"
    return None


def handshake_failure_lines(value: Any) -> list[str]:
    """{stack: {rule: {rc: count}}} as a line per stack, each return code with its meaning."""
    if not isinstance(value, dict):
        return as_items(value)
    lines = []
    for stack, rules in value.items():
        if not rules:
            lines.append(f"{stack}: none logged")
            continue
        parts = []
        for rule, codes in sorted(rules.items()):
            counted = ", ".join(
                f"{returncodes.describe(code)} {TIMES}{count}"
                for code, count in sorted(codes.items(), key=lambda kv: str(kv[0]))
            )
            parts.append(f"{rule}: {counted}")
        lines.append(f"{stack}: " + "; ".join(parts))
    return lines


def period_length(start: datetime, end: datetime) -> str:
    """'92 days', '1 day', '5 h 12 min', '26 s': the period as long as it really is."""
    seconds = max(0, int((end - start).total_seconds()))
    days, rest = divmod(seconds, 86400)
    if days >= 1:
        days += rest >= 43200  # to the nearest day
        return f"{days} day{'s' if days != 1 else ''}"
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def describe(item: Any, labels: dict[str, str] | None = None, kind: str = "") -> str:
    """One evidence item as a line of text; known uuids become names (`labels`)."""
    labels = labels or {}
    if not isinstance(item, dict):
        return labels.get(str(item), str(item))
    known = _describe_known(kind, item, labels)
    if known is not None:
        return known
    if item.get("uuid") and str(item["uuid"]) in labels:
        return labels[str(item["uuid"])]
    if {"stack", "number"} <= item.keys():
        text = f"{item['stack']} v{item['number']}"
        return text + (f" · SHA-256 {item['sha256']}" if item.get("sha256") else "")
    parts = []
    shown = ("name", "stack", "service", "rule", "uuid", "subject", "kind", "status")
    for key in shown:
        if item.get(key) not in (None, "", []):
            parts.append(labels.get(str(item[key]), str(item[key])))
    for key, value in item.items():
        if key in shown or value in (None, "", [], {}):
            continue
        if isinstance(value, dict | list):
            value = json.dumps(value, sort_keys=True, separators=(",", ":"))
            value = value if len(value) <= 80 else value[:77] + "…"
        parts.append(f"{key}: {value}")
    return " · ".join(parts) if parts else json.dumps(item, sort_keys=True)


def uuid_labels(results: Iterable[Any]) -> dict[str, str]:
    """Names for the uuids the evidence of `results` (stored or as the engine returns them)
    holds: services, verification runs, deployments. Read when the assessment is stored
    (audits/report.py), so the pack only looks them up."""
    import uuid

    found: set[str] = set()

    def collect(value: Any) -> None:
        if isinstance(value, dict):
            for inner in value.values():
                collect(inner)
        elif isinstance(value, list):
            for inner in value:
                collect(inner)
        elif isinstance(value, str) and len(value) == 36:
            with contextlib.suppress(ValueError):
                found.add(str(uuid.UUID(value)))

    for result in results:
        collect(result.evidence or {})
    if not found:
        return {}
    labels: dict[str, str] = {}
    for service in Service.objects.filter(uuid__in=found).select_related("stack__lpar"):
        labels[str(service.uuid)] = f"{service.name} ({service.stack.label})"
    for run in (
        VerificationRun.objects.filter(uuid__in=found)
        .select_related("stack__lpar")
        .only("uuid", "created_at", "stack__name", "stack__lpar__name")
    ):
        labels[str(run.uuid)] = (
            f"{run.stack.label} · {run.created_at:%Y-%m-%d %H:%M:%S} · {str(run.uuid)[:8]}"
        )
    for deployment in Deployment.objects.filter(uuid__in=found):
        labels[str(deployment.uuid)] = (
            f"deployment {str(deployment.uuid)[:8]} · {deployment.created_at:%Y-%m-%d %H:%M}"
            f" · {deployment.get_status_display().lower()}"
        )
    return labels


def shared_evidence(results: Iterable[ControlResult]) -> dict[str, Any]:
    """The policy versions and the verification runs most controls cite, if several do.

    The PDF lists them once at the head of the controls chapter, and a control citing
    exactly the same set refers to that list instead of repeating it.
    """
    shared: dict[str, Any] = {}
    for key in SHAREABLE_EVIDENCE:
        seen: Counter[str] = Counter()
        values: dict[str, Any] = {}
        for result in results:
            value = (result.evidence or {}).get(key)
            if value:
                text = json.dumps(value, sort_keys=True)
                seen[text] += 1
                values[text] = value
        if seen:
            text, times = seen.most_common(1)[0]
            if times >= 2:
                shared[key] = values[text]
    return shared


def evidence_rows(
    evidence: dict[str, Any],
    labels: dict[str, str] | None = None,
    shared: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The evidence of one control for the PDF: each kind, its count, its first items.

    Short items (rule names, services) are run together on one line; longer ones get a line
    each. A kind whose items are exactly the `shared` ones refers to them.
    """
    rows = []
    shared = shared or {}
    keys = [k for k in EVIDENCE_LABELS if k in evidence] + sorted(
        k for k in evidence if k not in EVIDENCE_LABELS and k not in EVIDENCE_SHOWN_ELSEWHERE
    )
    for key in keys:
        value = evidence[key]
        if isinstance(value, dict | list) and not value:
            continue
        if key in shared and value == shared[key]:
            rows.append(
                {
                    "label": evidence_label(key),
                    "count": len(as_items(value)),
                    "items": [SHARED_NOTE],
                    "more": 0,
                    "inline": True,
                    "shared": True,
                }
            )
            continue
        if key == "counts" and isinstance(value, dict):
            text = " · ".join(
                f"{OUTCOME_LABELS.get(o, o)} {n}"
                for o, n in sorted(value.items(), key=lambda kv: _outcome_rank(kv[0]))
            )
            rows.append(
                {
                    "label": "Subjects judged",
                    "items": [text],
                    "more": 0,
                    "count": None,
                    "inline": True,
                }
            )
            continue
        if isinstance(value, dict) and key not in EVIDENCE_LABELS and key != "handshake_failures":
            text = ", ".join(
                f"{k.replace('_', ' ')} {v}" for k, v in value.items() if v not in (None, "")
            )
            rows.append(
                {
                    "label": evidence_label(key),
                    "items": [text],
                    "more": 0,
                    "count": None,
                    "inline": True,
                }
            )
            continue
        if isinstance(value, str | int | float | bool):
            rows.append(
                {
                    "label": evidence_label(key),
                    "items": [str(value)],
                    "more": 0,
                    "count": None,
                    "inline": True,
                }
            )
            continue
        items = handshake_failure_lines(value) if key == "handshake_failures" else as_items(value)
        limit = EVIDENCE_ITEMS_BY_KIND.get(key, EVIDENCE_ITEMS)
        shown = [describe(item, labels, key) for item in items[:limit]]
        rows.append(
            {
                "label": evidence_label(key),
                "count": len(items),
                "items": shown,
                "inline": all(len(text) <= 40 for text in shown),
                "more": max(0, len(items) - limit),
                "elsewhere": EVIDENCE_LISTED_IN.get(key, ""),
            }
        )
    return rows


def _outcome_rank(outcome: str) -> int:
    order = [o.value for o in OUTCOME_ORDER]
    return order.index(outcome) if outcome in order else len(order)


def evidence_label(key: str) -> str:
    return EVIDENCE_LABELS.get(key, key.replace("_", " ").capitalize())


def ordered_counts(counts: Counter[str]) -> list[tuple[str, int]]:
    return [(o.value, counts[o.value]) for o in OUTCOME_ORDER if counts.get(o.value)]


def result_order(result: ControlResult) -> tuple[Any, ...]:
    """Frameworks in the catalog's order, controls as the engine wrote them (catalog order)."""
    frameworks = list(FRAMEWORKS)
    rank = frameworks.index(result.framework) if result.framework in frameworks else len(frameworks)
    return (rank, result.framework, result.pk or 0, _control_sort_key(result.control_id))


def _control_sort_key(control_id: str) -> tuple[Any, ...]:
    parts = []
    for token in control_id.replace("-", ".").split("."):
        parts.append((0, int(token), "") if token.isdigit() else (1, 0, token))
    return tuple(parts)


def short_control(control_id: str) -> str:
    """`NIST-800-52r2-3.1-tls10` -> `52r2-3.1-tls10`: the catalog's ids without the prefix."""
    return control_id.removeprefix("NIST-800-")


def rationale_lines(rationale: str, per_outcome: int = RATIONALE_LINES) -> list[str]:
    """A rationale as the PDF shows it: at most `per_outcome` findings of each outcome.

    The engine writes up to 20 findings per outcome and then "and N more, listed in the
    evidence"; the PDF keeps the first few and one line counting the rest. Summary lines
    ("PASS for 28 services, ...") and the notes ("Note:", "Not evaluated:", "Caveat:") are
    kept whole. Every finding of every service is in appendix A and the OSCAL file.
    """
    shown: list[str] = []
    hidden: Counter[str] = Counter()
    listed: Counter[str] = Counter()
    last: dict[str, int] = {}
    for line in (line.strip() for line in rationale.splitlines()):
        label, colon, rest = line.partition(": ")
        if not colon or label not in FINDING_LABELS:
            shown.append(line)
            continue
        more = re.fullmatch(r"and (\d+) more, listed in the evidence", rest)
        if more:
            hidden[label] += int(more.group(1))
        elif listed[label] < per_outcome:
            listed[label] += 1
            shown.append(line)
            last[label] = len(shown) - 1
        else:
            hidden[label] += 1
    # After each outcome's last shown finding, from the end so the positions hold.
    for label, index in sorted(last.items(), key=lambda item: -item[1]):
        if hidden[label]:
            shown.insert(
                index + 1,
                f"{label}: and {hidden[label]} more (every service's findings are in appendix A,"
                " every line in the OSCAL file)",
            )
    return shown


def headline(rationale: str, lines: int = 2, width: int = 170) -> list[str]:
    """The first lines of a rationale, each cut to `width`, and how many lines it has."""
    text = [line.strip() for line in rationale.splitlines() if line.strip()]
    shown = [line if len(line) <= width else line[: width - 1] + "…" for line in text[:lines]]
    if len(text) > lines:
        shown.append(f"… {len(text) - lines} more line{'s' if len(text) - lines != 1 else ''}")
    return shown
