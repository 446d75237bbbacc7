"""The pack is a view of the assessment: rendering reads nothing from the database, and a pack
prints what the assessment stored even after the estate's records changed."""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import re
import subprocess
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audits import evidence
from audits.assessing import assessment_execute, assessment_report_ensure
from audits.models import Assessment, ScopeKind
from audits.report import REPORT_VERSION
from audits.services import assessment_create
from fleet.models import Certificate, DriftEvent
from tests.audits.estate import build_assessed
from tests.audits.test_evidence import pdf_text, squash


def _stored(pk: int) -> tuple[Assessment, list, list]:
    assessment = Assessment.objects.select_related("created_by").get(pk=pk)
    results = list(assessment.results.select_related("exception__owner"))
    assessment = assessment_report_ensure(assessment=assessment, results=results)
    return assessment, results, evidence.manifest_of(assessment.report["manifest_runs"])


def test_rendering_a_stored_assessment_issues_no_query(make_user) -> None:
    assessed = build_assessed(make_user)
    assessment, results, manifest = _stored(assessed.assessment.pk)
    assert assessment.report["version"] == REPORT_VERSION  # computed once, stored
    assert Assessment.objects.get(pk=assessment.pk).report == assessment.report
    assert manifest, "the report names the runs whose raw outputs the manifest lists"

    with CaptureQueriesContext(connection) as queries:
        context = evidence.pack_context(
            assessment=assessment,
            results=results,
            pack_uuid=uuid.uuid4(),
            generated_by=assessed.people["auditor"],
            generated_at=timezone.now(),
            manifest=manifest,
        )
        pdf = evidence.render_pdf(context)

    assert pdf.startswith(b"%PDF")
    assert [q["sql"] for q in queries.captured_queries] == []


def test_the_engine_stores_the_report_and_a_later_pack_prints_it_unchanged(make_user) -> None:
    assessed = build_assessed(make_user)
    now = timezone.now()
    pending = assessment_create(
        actor=assessed.people["auditor"],
        scope_kind=ScopeKind.ESTATE,
        scope={},
        period_start=now - timedelta(days=3),
        period_end=now,
    )
    done = assessment_execute(assessment=pending)
    stored = Assessment.objects.get(pk=done.pk).report
    assert stored["version"] == REPORT_VERSION
    assert stored["parameters"]["cert_expiry_warning_days"] == 30
    assert len(stored["certificates"]) == done.summary["certificates"]["count"] > 0
    assert stored["drift"]["total"] == done.summary["drift"]["events"]
    assert stored["deployments"]["count"] == done.summary["deployments"]
    assert sum(len(g["rows"]) for g in stored["appendix"]) == done.summary["scope"]["services"]

    # The estate changes after the assessment: the pack still prints what was judged.
    Certificate.objects.all().delete()
    DriftEvent.objects.all().delete()
    assessment, results, manifest = _stored(done.pk)
    context = evidence.pack_context(
        assessment=assessment,
        results=results,
        pack_uuid=uuid.uuid4(),
        generated_by=assessed.people["auditor"],
        generated_at=timezone.now(),
        manifest=manifest,
    )
    assert context["certificates"] == stored["certificates"]
    assert context["drift"] == stored["drift"]


def test_a_context_of_an_assessment_without_its_report_is_refused(make_user) -> None:
    assessed = build_assessed(make_user)
    assessment = Assessment.objects.select_related("created_by").get(pk=assessed.assessment.pk)
    assert assessment.report == {}
    with pytest.raises(ValueError, match="no stored pack report"):
        evidence.pack_context(
            assessment=assessment,
            results=[],
            pack_uuid=uuid.uuid4(),
            generated_by=assessed.people["auditor"],
            generated_at=timezone.now(),
            manifest=[],
        )


def test_a_long_appendix_is_attached_as_csv_and_the_pdf_names_it(make_user, tmp_path) -> None:
    assessed = build_assessed(make_user)
    assessment, results, manifest = _stored(assessed.assessment.pk)
    services = [row for group in assessment.report["appendix"] for row in group["rows"]]
    context = evidence.pack_context(
        assessment=assessment,
        results=results,
        pack_uuid=uuid.uuid4(),
        generated_by=assessed.people["auditor"],
        generated_at=timezone.now(),
        manifest=manifest,
        attach_over=len(services) - 1,  # one row too many for the page
    )
    attached = context["services_csv"]
    assert attached is not None and attached.rows == len(services)
    changes = context["changes_csv"]  # 29 design changes: over the limit too
    assert changes is not None and changes.rows == len(assessment.report["changes"]["rows"]) > 11
    pdf = tmp_path / "pack.pdf"
    pdf.write_bytes(evidence.render_pdf(context))

    # Read back as an auditor would: the file is in the PDF, the text names it and its hash.
    listed = subprocess.run(
        ["pdfdetach", "-list", str(pdf)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "services.csv" in listed and "changes.csv" in listed
    subprocess.run(["pdfdetach", "-saveall", "-o", str(tmp_path), str(pdf)], check=True, timeout=60)
    data = (tmp_path / "services.csv").read_bytes()
    assert hashlib.sha256(data).hexdigest() == attached.sha256
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert sorted(row["service"] for row in rows) == sorted(row["name"] for row in services)
    assert {row["stack"] for row in rows} == {g["stack"] for g in assessment.report["appendix"]}
    text = squash(pdf_text(pdf))
    appendix = text.split("A Services in scope")[-1].split("B Change history")[0]
    assert f"The {len(services)} rows of this appendix are in the file services.csv" in appendix
    assert attached.sha256 in appendix.replace(" ", "")
    # the per-stack lines instead of the rows: no service is named there
    assert not any(row["name"] in appendix for row in services)


def test_printing_leaves_the_garbage_collector_as_it_found_it() -> None:
    # print_pdf keeps the process's older objects out of the collector's scans while it
    # prints (gc.freeze), then gives them back; a process that froze its own stays frozen.
    assert gc.get_freeze_count() == 0
    assert evidence.print_pdf("<p>x</p>", pack_uuid="gc").startswith(b"%PDF")
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        evidence.print_pdf("<p>x</p>", pack_uuid="gc")
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def _chapter(text: str, opening: str, following: str) -> str:
    """A chapter's text from its opening words to the next chapter's title (the titles are
    also in the contents and the running headers, so they alone do not mark it)."""
    start = text.index(opening)
    return text[start : text.index(following, start)]


def _context(assessed, **options):  # type: ignore[no-untyped-def]
    assessment, results, manifest = _stored(assessed.assessment.pk)
    return assessment, evidence.pack_context(
        assessment=assessment,
        results=results,
        pack_uuid=uuid.uuid4(),
        generated_by=assessed.people["auditor"],
        generated_at=timezone.now(),
        manifest=manifest,
        **options,
    )


def test_long_certificate_lists_are_shortened_and_attached_whole(make_user, tmp_path) -> None:
    assessed = build_assessed(make_user)
    assessment, context = _context(assessed, certificate_list_items=1)
    stored = assessment.report["certificates"]
    longest = max(stored, key=lambda c: len(c["rules"]) + len(c["ports"]))
    assert len(longest["rules"]) > 1 or len(longest["ports"]) > 1
    attached = context["certificates_csv"]
    assert attached is not None and attached.rows == len(stored)
    assert context["certificates"] == stored  # the stored report is untouched
    pdf = tmp_path / "pack.pdf"
    pdf.write_bytes(evidence.render_pdf(context))

    subprocess.run(["pdfdetach", "-saveall", "-o", str(tmp_path), str(pdf)], check=True, timeout=60)
    data = (tmp_path / "certificates.csv").read_bytes()
    assert hashlib.sha256(data).hexdigest() == attached.sha256
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert [(r["fingerprint_sha256"], r["rules"].split(), r["ports"].split()) for r in rows] == [
        (c["fingerprint"], c["rules"], c["ports"]) for c in stored
    ]
    text = squash(pdf_text(pdf))
    appendix = _chapter(text, "Server certificates the active probe saw", "E Manifest of raw")
    assert "the file certificates.csv attached to this PDF" in appendix
    assert attached.sha256 in appendix.replace(" ", "")
    rules = longest["rules"]
    if len(rules) > 1:
        assert rules[0] in appendix and rules[-1] not in appendix
        assert f"and {len(rules) - 1} more" in appendix


def test_short_certificate_lists_are_printed_whole_without_a_file(make_user, tmp_path) -> None:
    assessed = build_assessed(make_user)
    assessment, context = _context(assessed)
    assert context["certificates_csv"] is None
    assert all(a.name != "certificates.csv" for a in context["attachments"])
    pdf = tmp_path / "pack.pdf"
    pdf.write_bytes(evidence.render_pdf(context))
    text = squash(pdf_text(pdf))
    appendix = _chapter(text, "Server certificates the active probe saw", "E Manifest of raw")
    assert "certificates.csv" not in appendix
    for certificate in assessment.report["certificates"]:
        for rule in certificate["rules"]:
            assert rule in appendix


def test_the_manifest_lists_each_output_with_its_hash_check_size_and_command(
    make_user, tmp_path
) -> None:
    assessed = build_assessed(make_user)
    _, context = _context(assessed)
    first = context["manifest"][0]["outputs"][0]
    first["matches"] = False  # as if the stored output had changed since it was received
    manifest = [
        row | {"listing": evidence.manifest_listing(row["outputs"])} for row in context["manifest"]
    ]
    context["manifest"] = manifest
    pdf = tmp_path / "pack.pdf"
    pdf.write_bytes(evidence.render_pdf(context))
    text = pdf_text(pdf, layout=True)  # a line of the listing is a line of text
    appendix = _chapter(text, "The raw output of every verification run", "F About this document")
    lines = [squash(line) for line in appendix.splitlines()]
    outputs = [output for row in manifest for output in row["outputs"]]
    for output in outputs:
        mark = "✓" if output["matches"] else "MISMATCH"
        line = (
            f"{output['sha256']} {mark} {output['bytes']:,} {output['name']}: {output['command']}"
        )
        assert line in lines, line
    flagged = [line for line in lines if re.match(r"[0-9a-f]{64} MISMATCH ", line)]
    assert flagged == [
        f"{first['sha256']} MISMATCH {first['bytes']:,} {first['name']}: {first['command']}"
    ]
    for row in manifest:
        assert str(row["run"].uuid) in squash(appendix)
