"""The evidence pack's PDF: what an auditor reads and signs off, rendered by WeasyPrint.

The pack is a view of the assessment: `pack_context` lays out the control results and the
report the assessment computed and stored with them (audits/report.py: figures, tables, the
per-service appendix, with the parameters used) and reads nothing from the database, so the
signed PDF cannot contradict the results it signs. The one thing the pack does itself is
`manifest_of`: the raw outputs of the runs the report names are hashed again when the pack is
generated, and the PDF says whether each still matches the hash recorded when it was received.

`render_pdf` renders `templates/audits/pdf/pack.html` with its print stylesheet. The
sections: a cover (scope, period, who generated it and when, portal and catalog versions), an
executive summary (coverage, protocol mix, drift, incidents, start and end of the period), the
controls grouped by framework, a per-service appendix, the change history with its approvers,
the certificate inventory, and the manifest of the SHA-256 of every raw output the evidence
rests on.

WeasyPrint fetches nothing remote: its URL fetcher accepts `file:` URLs under the template
directory and Debian's DejaVu fonts, and refuses everything else. Charts are inline SVG.
"""

from __future__ import annotations

import atexit
import csv
import gc
import hashlib
import io
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from audits import charts, pack_print
from audits.evidence_text import (
    EVIDENCE_ITEMS,
    FRAMEWORKS,
    OUTCOME_LABELS,
    OUTCOME_ORDER,
    as_items,
    campaign_figures,
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
    when,
)
from audits.log import Head
from audits.models import Assessment, ControlResult, Outcome
from audits.report import REPORT_VERSION
from fleet.models import VerificationRun
from fleet.selectors import output_text

__all__ = [
    "ATTACH_OVER",
    "CERTIFICATE_LIST_ITEMS",
    "describe",
    "fetcher",
    "manifest_listing",
    "manifest_of",
    "pack_context",
    "pack_html",
    "print_pdf",
    "render_pdf",
]

BASE_DIR = Path(settings.BASE_DIR)
TEMPLATE = "audits/pdf/pack.html"
STYLESHEET = BASE_DIR / "templates" / "audits" / "pdf" / "pack.css"
USER_AGENT = STYLESHEET.with_name("pack-ua.css")
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


@cache
def _print_setup() -> tuple[Any, Any, Any]:
    """The font configuration, the parsed print stylesheet and the pack's own user-agent
    stylesheet, shared by every pack this process renders: fonts are loaded and stylesheets
    parsed once, not per pack. The stylesheet is read through the pack's fetcher, which
    refuses anything but our files."""
    from weasyprint import CSS, HTML
    from weasyprint.html import UA_COUNTER_STYLE
    from weasyprint.text.fonts import FontConfiguration

    user_agent = CSS(filename=str(USER_AGENT), counter_style=UA_COUNTER_STYLE)

    class PackHTML(HTML):  # type: ignore[misc]
        """HTML with pack-ua.css for WeasyPrint's HTML5 user-agent stylesheet (see it).

        `_ua_stylesheets` is WeasyPrint's own hook, not a documented one: should a later
        version drop it, its full sheet applies again, which prints the same pack, slower.
        """

        def _ua_stylesheets(self, forms: bool = False) -> list[Any]:
            return [user_agent]

    fonts = FontConfiguration()
    # Parsed without the font configuration, as the pack always was: its text is set in the
    # system's DejaVu fonts (fonts-dejavu-core), embedded under their own names.
    stylesheet = CSS(filename=str(STYLESHEET), url_fetcher=fetcher())
    # Fontconfig is released before the interpreter tears the bindings down.
    atexit.register(_print_setup.cache_clear)
    return PackHTML, fonts, stylesheet


# The template's line breaks and indentation between two tags: WeasyPrint makes a box of each
# such run of white space before it collapses it (a tenth of its time on the reference pack).
# A run on one line is kept: between inline elements it is a word space.
BETWEEN_TAGS = re.compile(r">\s*\n\s*<")


def pack_html(context: dict[str, Any]) -> str:
    """The pack's HTML (`templates/audits/pdf/pack.html`) for a context (see `pack_context`)."""
    return BETWEEN_TAGS.sub("><", render_to_string(TEMPLATE, context))


@contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """The objects the process holds before a print (Django, the templates, the report:
    hundreds of thousands) are left out of the garbage collector's scans while WeasyPrint
    builds and drops its boxes; their full collections otherwise cost a fifth of its CPU time
    (bench/audits_bench.py). What the print makes is collected as always. A process that froze
    its objects itself (gc.freeze before forking) is left as it is."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def print_pdf(
    html: str,
    *,
    pack_uuid: Any,
    attachments: Iterable[Attached] = (),
    url_fetcher: LocalOnlyFetcher | None = None,
    parallel: bool = True,
) -> bytes:
    """The pack's HTML printed by WeasyPrint with the print stylesheet, `attachments` embedded:
    in two halves at once, assembled into one PDF (audits/pack_print.py; `parallel=False`
    prints the second half after the first, in this process)."""
    from weasyprint import CSS, Attachment

    pack_html_class, fonts, stylesheet = _print_setup()

    def render(text: str, *, extra_css: str) -> Any:
        return pack_html_class(
            string=text,
            base_url=STYLESHEET.parent.as_uri() + "/",
            url_fetcher=url_fetcher or fetcher(),
        ).render(stylesheets=[stylesheet, CSS(string=extra_css)], font_config=fonts)

    def write(document: Any) -> bytes:
        pdf: bytes = document.write_pdf(
            pdf_identifier=str(pack_uuid).encode(),
            custom_metadata=False,
            attachments=[
                Attachment(string=item.data, name=item.name, description=item.description)
                for item in attachments
            ],
        )
        return pdf

    with _older_objects_frozen():
        return pack_print.print_halves(html, render=render, write=write, parallel=parallel)


def render_pdf(context: dict[str, Any], *, url_fetcher: LocalOnlyFetcher | None = None) -> bytes:
    """The PDF of a pack context (see `pack_context`), with its attachments embedded."""
    return print_pdf(
        pack_html(context),
        pack_uuid=context["pack_uuid"],
        attachments=context.get("attachments", []),
        url_fetcher=url_fetcher,
    )


# --- long appendices as attachments ------------------------------------------------------------

# An appendix table longer than this many rows is embedded in the PDF as a CSV file (covered
# by the signature like every other byte) instead of being laid out page after page: on a
# 1,000-service pack those tables were three quarters of WeasyPrint's time, and a table of
# that length is read in a spreadsheet anyway. The PDF names the file, its rows and SHA-256.
ATTACH_OVER = 250
# A certificate serves every rule of its stack's key ring: on a stack of 50 services its rules
# and ports were two thirds of appendix D's text, wrapped line after line in a narrow cell. When
# a certificate has more rules or ports than this, appendix D prints the first ones of each and
# attaches certificates.csv with every certificate's full lists, as the controls shorten their
# evidence lists (EVIDENCE_ITEMS) with the OSCAL file holding all.
CERTIFICATE_LIST_ITEMS = EVIDENCE_ITEMS


@dataclass(frozen=True)
class Attached:
    name: str
    description: str
    data: bytes
    rows: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _csv(name: str, description: str, header: list[str], rows: list[list[Any]]) -> Attached:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return Attached(name, description, text.getvalue().encode(), len(rows))


def _services_csv(appendix: list[dict[str, Any]]) -> Attached:
    header = [
        "stack",
        "service",
        "jobname",
        "owner_team",
        "direction",
        "port",
        "priority",
        "tier",
        "phase",
        "designed",
        "in_loaded_policy",
        "connections",
        "coverage",
        "negotiated",
        "probe_accepts",
        "deprecated_accepted",
        "drift_events",
        "not_passed",
        "unknown",
    ]
    rows = [
        [
            group["stack"],
            row["name"],
            row["jobname"],
            row["owner_team"],
            row["direction"],
            row["port"],
            row["priority"],
            row["tier"],
            row["phase"],
            row["design"],
            row["in_policy"],
            row["observed"],
            percent(row["coverage"]),
            row["protocols"],
            row["probe"],
            row["deprecated"],
            row["drift"],
            "; ".join(f"{f['label']}: {f['controls']}" for f in row["findings"]),
            row["unknown"],
        ]
        for group in appendix
        for row in group["rows"]
    ]
    return _csv("services.csv", "Appendix A: every service in scope", header, rows)


def _stack_summary(appendix: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Appendix A in a few lines when its rows are attached: per stack, services and findings."""
    summary = []
    for group in appendix:
        rows = group["rows"]
        outcomes = Counter(f["outcome"] for row in rows for f in row["findings"])
        summary.append(
            {
                "stack": group["stack"],
                "services": len(rows),
                "connections": sum(row["observed"] or 0 for row in rows),
                "drift": sum(row["drift"] for row in rows),
                "fail": outcomes.get(Outcome.FAIL.value, 0),
                "exception": outcomes.get(Outcome.EXCEPTION.value, 0),
                "warn": outcomes.get(Outcome.WARN.value, 0),
                "not_in_policy": sum(1 for row in rows if row["in_policy"] is False),
            }
        )
    return summary


def _certificates_csv(certificates: list[dict[str, Any]]) -> Attached:
    header = [
        "subject",
        "issuer",
        "stack",
        "rules",
        "ports",
        "not_after",
        "days",
        "state",
        "fingerprint_sha256",
        "serial",
    ]
    rows = [
        [
            c["subject"],
            c["issuer"],
            c["stack"],
            " ".join(c["rules"]),
            " ".join(c["ports"]),
            c["not_after"],
            c["days"],
            c["state"],
            c["fingerprint"],
            c["serial"],
        ]
        for c in certificates
    ]
    return _csv(
        "certificates.csv",
        "Appendix D: every certificate with all its rules and ports",
        header,
        rows,
    )


def _certificate_rows(
    certificates: list[dict[str, Any]], limit: int | None
) -> list[dict[str, Any]]:
    """The certificates as appendix D prints them: with the CSV attached, each one's rules and
    ports shortened to their first `limit` (the file holds them all)."""
    return [
        c
        | {
            "rules_shown": c["rules"][:limit],
            "rules_more": len(c["rules"][limit:]) if limit is not None else 0,
            "ports_shown": c["ports"][:limit],
            "ports_more": len(c["ports"][limit:]) if limit is not None else 0,
        }
        for c in certificates
    ]


def _changes_csv(changes: dict[str, Any]) -> Attached:
    header = ["at", "actor", "action", "object_type", "object_name", "note"]
    rows = [
        [c["at"], c["actor"], c["action"], c["object_type"], c["object_name"], c["note"]]
        for c in changes["rows"]
    ]
    return _csv("changes.csv", "Appendix B: design changes in the period", header, rows)


def _attachments(
    report: dict[str, Any], attach_over: int, certificate_list_items: int
) -> dict[str, Any]:
    """Which appendices go into attached files, the files, and what the PDF prints instead."""
    services = sum(len(group["rows"]) for group in report["appendix"])
    found: dict[str, Any] = {
        "services_csv": None,
        "changes_csv": None,
        "certificates_csv": None,
        "stack_summary": [],
    }
    if services > attach_over:
        found["services_csv"] = _services_csv(report["appendix"])
        found["stack_summary"] = _stack_summary(report["appendix"])
    if len(report["changes"]["rows"]) > attach_over:
        found["changes_csv"] = _changes_csv(report["changes"])
    certificates = report["certificates"]
    long_lists = any(
        len(c["rules"]) > certificate_list_items or len(c["ports"]) > certificate_list_items
        for c in certificates
    )
    if long_lists:
        found["certificates_csv"] = _certificates_csv(certificates)
    found["certificate_rows"] = _certificate_rows(
        certificates, limit=certificate_list_items if long_lists else None
    )
    found["attachments"] = [
        a for a in (found["services_csv"], found["changes_csv"], found["certificates_csv"]) if a
    ]
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


# Appendix E prints each run's outputs as a listing, one line per raw output in a monospaced
# font: its SHA-256 first, as sha256sum prints it, then the check, the size and the output's
# name and command. A table row of cells per output made the manifest of a 1,000-service pack
# (200 outputs) a quarter of WeasyPrint's work; the same figures as lines of text cost half.
MANIFEST_MARK = {True: "\N{CHECK MARK}", False: "MISMATCH"}


def manifest_listing(outputs: list[dict[str, Any]]) -> str:
    """A run's outputs as appendix E prints them: a line per output, its mismatch flagged."""
    lines = [
        format_html(
            '{}  <span class="{}">{}</span>  {}  {}: {}',
            output["sha256"] or "(no hash recorded)".ljust(64),
            "ok" if output["matches"] else "flag",
            MANIFEST_MARK[bool(output["matches"])].ljust(8),
            f"{output['bytes']:>11,}",
            output["name"],
            output["command"],
        )
        for output in outputs
    ]
    return mark_safe("\n".join(lines))


def manifest_of(run_uuids: Iterable[str]) -> list[dict[str, Any]]:
    """The manifest rows of a pack: the runs its assessment's report names, hashed again."""
    return _manifest(set(run_uuids), set())


def _valid_uuids(values: Iterable[str]) -> list[str]:
    import uuid

    valid = []
    for value in values:
        try:
            valid.append(str(uuid.UUID(str(value))))
        except ValueError:
            continue
    return valid


def _bars(before: dict[str, Any], after: dict[str, Any]) -> list[charts.Bar]:
    bars = []
    for title, figures in (("Start", before), ("End", after)):
        if figures["runs"]:
            bars.append(
                charts.Bar(
                    f"{title} · {figures['at'][:10]}" if figures["at"] else title,
                    figures["protocols"],
                    f"coverage {percent(_share(figures['secured'], figures['connections']))}",
                )
            )
    return bars


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _tls13(figures: dict[str, Any]) -> float | None:
    protocols = figures["protocols"]
    secured = sum(n for p, n in protocols.items() if p != "cleartext")
    return _share(protocols.get("TLSv1.3", 0), secured)


def _trend_chart(days: list[dict[str, Any]]) -> str:
    trend = [(row["day"][5:10], _share(row["secured"], row["connections"])) for row in days]
    if len(trend) < 2:
        return ""
    lowest = min((v for _, v in trend if v is not None), default=1.0)
    floor = 0.0 if lowest < 0.5 else (0.5 if lowest < 0.9 else 0.8)
    return charts.line_chart(trend, title="Encrypted share of connections per day", floor=floor)


def _frameworks(
    results: list[ControlResult], labels: dict[str, str], shared: dict[str, Any]
) -> list[dict[str, Any]]:
    frameworks: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        evidence = result.evidence or {}
        frameworks.setdefault(result.framework, []).append(
            {
                "result": result,
                "badge": OUTCOME_LABELS.get(result.outcome, result.outcome),
                "evidence": evidence_rows(evidence, labels, shared),
                "rationale": rationale_lines(result.rationale),
                "sp800_53": [str(x).upper() for x in (result.sp800_53 or [])],
                "section": evidence.get("section", ""),
                "level": evidence.get("level", ""),
            }
        )
    return [
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


def pack_context(
    *,
    assessment: Assessment,
    results: list[ControlResult],
    pack_uuid: Any,
    generated_by: User,
    generated_at: datetime,
    manifest: list[dict[str, Any]],
    signer: str = "",
    signature_level: str = "",
    oscal_name: str = "",
    oscal_sha256: str = "",
    verify_url: str = "",
    chain_head: Head | None = None,
    attach_over: int = ATTACH_OVER,
    certificate_list_items: int = CERTIFICATE_LIST_ITEMS,
) -> dict[str, Any]:
    """Everything the PDF template shows: the assessment's stored report (audits/report.py)
    and control results, laid out; it reads nothing from the database.

    `assessment` comes with `created_by`, `results` with `exception__owner`, the `manifest`
    (`manifest_of`) with each run's stack; `assessment.report` must be stored
    (audits.assessing.assessment_report_ensure). Appendix tables longer than `attach_over`
    rows are attached as CSV files (see ATTACH_OVER); so are the certificates when one has more
    than `certificate_list_items` rules or ports (see CERTIFICATE_LIST_ITEMS).
    """
    report = assessment.report
    if (report or {}).get("version") != REPORT_VERSION:
        raise ValueError(f"assessment {assessment.uuid} has no stored pack report")
    start, end = assessment.period_start, assessment.period_end
    results = sorted(results, key=result_order)
    labels = report["labels"]
    shared = shared_evidence(results)
    attention = [
        {"result": r, "headline": headline(r.rationale)}
        for r in results
        if r.outcome in (Outcome.FAIL, Outcome.WARN, Outcome.EXCEPTION)
    ]
    attention.sort(
        key=lambda a: (OUTCOME_ORDER.index(Outcome(a["result"].outcome)), a["result"].control_id)
    )
    before, after, whole = report["before"], report["after"], report["period"]
    mix = whole if whole["connections"] else after
    bars = _bars(before, after)
    versions: dict[str, dict[str, Any]] = {}
    for result in results:
        for item in as_items((result.evidence or {}).get("versions")):
            if isinstance(item, dict) and item.get("sha256"):
                versions[f"{item.get('stack')} v{item.get('number')}"] = item
    deployments = report["deployments"]
    counts = Counter(result.outcome for result in results)
    return {
        "assessment": assessment,
        "report": report,
        "pack_uuid": pack_uuid,
        "scope_label": report["scope_label"],
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
        "outcome_tiles": [
            {"outcome": o.value, "label": OUTCOME_LABELS[o], "count": counts.get(o.value, 0)}
            for o in OUTCOME_ORDER
        ],
        "controls_total": len(results),
        "frameworks": _frameworks(results, labels, shared),
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
        "period_from_hours": whole["from_hours"],
        "coverage_end": percent(_share(after["secured"], after["connections"])),
        "coverage_start": percent(_share(before["secured"], before["connections"])),
        "tls13_end": percent(_tls13(after)),
        "tls13_start": percent(_tls13(before)),
        "protocol_rows": charts.protocol_table(mix["protocols"]),
        "mix_chart": mark_safe(
            charts.stacked_bars(
                [
                    charts.Bar(
                        "Whole period", mix["protocols"], f"{mix['connections']:,} connections"
                    )
                ]
            )
        )
        if mix["connections"]
        else "",
        "before_after_chart": mark_safe(charts.stacked_bars(bars)) if bars else "",
        "trend_chart": mark_safe(_trend_chart(report["days"])),
        "verification_runs": report["verification_runs"],
        "stacks_verified": report["stacks_verified"],
        "drift": report["drift"],
        "incidents": report["incidents"],
        "deployments": deployments,
        # prediction, acknowledgement and comparison per deployment, as the report stored them
        "impact": report["impact"],
        # rollout campaigns with their steps and gates, as the report stored them
        "campaigns": [
            c | {"figures": campaign_figures(c["baseline"], c["end_state"])}
            for c in report["campaigns"]
        ],
        "changes": report["changes"],
        "table_rows": report["parameters"]["table_rows"],
        "in_force": report["in_force"],
        "certificates": report["certificates"],
        "certificate_list_items": certificate_list_items,
        "warning_days": report["parameters"]["cert_expiry_warning_days"],
        "evaluated_at": when(datetime.fromisoformat(report["parameters"]["evaluated_at"])),
        "appendix": report["appendix"],
        "manifest": [row | {"listing": manifest_listing(row["outputs"])} for row in manifest],
        # zERT's figures and dump files, as the engine stored them in its summary
        "zert": (assessment.summary or {}).get("zert") or {},
        "manifest_outputs": sum(len(row["outputs"]) for row in manifest),
        "manifest_mismatches": sum(
            1 for row in manifest for output in row["outputs"] if not output["matches"]
        ),
        "versions": sorted(versions.values(), key=lambda v: (str(v.get("stack")), v.get("number"))),
        "evidence_items": EVIDENCE_ITEMS,
        "chain_head": chain_head,
        **_attachments(report, attach_over, certificate_list_items),
    }
