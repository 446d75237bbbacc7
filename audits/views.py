"""The audits pages, under /audits/: assessments and evidence packs, verification, the log.

Who sees what: auditors and architects (Capability.AUDIT) everything; app owners the
assessments and packs of their own services, and may generate those; anyone signed in may
verify a PDF. The audit log is for auditors and architects. Anything else is 403, and a
refused request changes nothing.
"""

from __future__ import annotations

import hashlib
import io
import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import requires
from accounts.roles import Capability, has_capability
from audits import browse, pack_job, selectors, services, signing
from audits.forms import LogFilterForm, PackForm, VerifyForm
from audits.models import EvidencePack, RunState

AUDIT = Capability.AUDIT
OWNERS = Capability.VIEW_OWN_SERVICES
PAGE_SIZE = 25
LOG_PAGE_SIZE = 50


def _page(request: HttpRequest, items: Any, size: int = PAGE_SIZE) -> Page:
    return Paginator(items, size).get_page(request.GET.get("page"))


def _partial(
    request: HttpRequest, template: str, context: dict[str, Any], names: tuple[str, ...]
) -> HttpResponse:
    htmx = getattr(request, "htmx", None)
    name = template
    if htmx and not htmx.boosted and htmx.target in names:
        name = f"{template}#{htmx.target}"
    response = render(request, name, context)
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    htmx = getattr(request, "htmx", None)
    if htmx:
        response = HttpResponse(status=204)
        response["HX-Location"] = url
        return response
    return redirect(url)


# --- index: assessments, packs, and the form for a new one -------------------------------------


@requires(AUDIT, OWNERS)
@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    form = PackForm(request.POST or None, user=request.user)
    refused = ""
    if request.method == "POST" and form.is_valid():
        try:
            pack = services.evidence_pack_request(actor=request.user, new=form.request())
        except services.PackRefused as error:
            refused = str(error)
        else:
            return _redirect(request, reverse("audits:pack", args=[pack.uuid]))
    context = {
        "section": "audits",
        "form": form,
        "refused": refused,
        "packs": _page(request, selectors.pack_list_for(user=request.user)),
        "assessments": selectors.assessment_list_for(user=request.user)[:PAGE_SIZE],
        "can_audit": has_capability(request.user, Capability.AUDIT),
    }
    status = 422 if request.method == "POST" else 200
    response = _partial(request, "audits/index.html", context, ("pack-form", "pack-list"))
    response.status_code = status
    return response


@requires(AUDIT, OWNERS)
@require_POST
def assessment_pack(request: HttpRequest, assessment: str) -> HttpResponse:
    """A new pack of an assessment that already ran."""
    found = selectors.assessment_for(user=request.user, uuid=assessment)
    try:
        pack = services.evidence_pack_request(actor=request.user, assessment=found)
    except services.PackRefused as error:
        messages.error(request, str(error))
        return _redirect(request, reverse("audits:index"))
    return _redirect(request, reverse("audits:pack", args=[pack.uuid]))


# --- one pack: progress, downloads ---------------------------------------------------------------


@requires(AUDIT, OWNERS)
@require_GET
def pack_detail(request: HttpRequest, pack: str) -> HttpResponse:
    found = selectors.pack_for(user=request.user, uuid=pack)
    done = {entry.get("step") for entry in found.progress}
    context = {
        "section": "audits",
        "pack": found,
        "assessment": found.assessment,
        "steps": [
            {"key": step, "title": pack_job.STEP_TITLES[step], "done": step in done}
            for step in pack_job.STEPS
        ],
        "polling": found.status in (RunState.PENDING, RunState.RUNNING),
        "percent": round(100 * sum(1 for s in pack_job.STEPS if s in done) / len(pack_job.STEPS)),
    }
    return _partial(request, "audits/pack_detail.html", context, ("pack-progress",))


def _safe_filename(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "evidence-pack"


def file_response(pack: EvidencePack, kind: str) -> HttpResponse:
    """The stored PDF or OSCAL file of a pack, only while it has the ledger's SHA-256."""
    if pack.status != RunState.SUCCEEDED or kind not in ("pdf", "oscal"):
        raise Http404("Not available")
    path = selectors.pack_file(pack, kind)
    if not path.is_file():
        raise Http404("The file is missing from the evidence store")
    data = path.read_bytes()
    expected = pack.pdf_sha256 if kind == "pdf" else pack.oscal_sha256
    if hashlib.sha256(data).hexdigest() != expected:
        return HttpResponse(
            "The stored file no longer matches the SHA-256 recorded when it was signed."
            " It is not served; report this to the portal's administrators.",
            status=409,
            content_type="text/plain; charset=utf-8",
        )
    stem = _safe_filename(f"evidence-pack-{pack.created_at:%Y%m%d}-{str(pack.uuid)[:8]}")
    name = f"{stem}.pdf" if kind == "pdf" else f"{stem}.oscal.json"
    content_type = "application/pdf" if kind == "pdf" else "application/json"
    response = FileResponse(
        io.BytesIO(data), as_attachment=True, filename=name, content_type=content_type
    )
    response["Content-Length"] = str(len(data))
    return response


@requires(AUDIT, OWNERS)
@require_GET
def pack_download(request: HttpRequest, pack: str, kind: str) -> HttpResponse:
    return file_response(selectors.pack_for(user=request.user, uuid=pack), kind)


# --- verification ------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    form = VerifyForm(request.POST or None, request.FILES or None)
    result = None
    uploaded = ""
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        uploaded = upload.name
        result = signing.verify_pack(upload.read())
    context: dict[str, Any] = {
        "section": "verify",
        "form": form,
        "result": result,
        "uploaded": uploaded,
    }
    if result is not None:
        # The ledger entry named only to those who may see that pack.
        context["ledger"] = selectors.ledger_answer_for(user=request.user, result=result)
    response = _partial(request, "audits/verify.html", context, ("verify-result",))
    if request.method == "POST" and not form.is_valid():
        response.status_code = 422
    return response


# --- the audit log -----------------------------------------------------------------------------


@requires(AUDIT)
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    form = LogFilterForm(request.GET or None, actions=browse.actions())
    entries = browse.audit_entries(
        browse.LogFilters.from_form(form.cleaned_data if form.is_valid() else {})
    )
    if form.is_bound and not form.is_valid():
        # A filter that cannot be read shows its error and no entries: never the whole log
        # as if it were, say, one object's history.
        entries = entries.none()
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "section": "log",
        "form": form,
        "page": _page(request, entries, LOG_PAGE_SIZE),
        "query": query.urlencode(),
    }
    return _partial(request, "audits/log.html", context, ("log-table",))


@requires(AUDIT)
@require_GET
def audit_log_chain(request: HttpRequest) -> HttpResponse:
    """The chain's status, as a fragment the log page loads after it has shown."""
    status = browse.chain_status(fresh=request.GET.get("fresh") == "1")
    return render(request, "audits/log.html#chain-status", {"chain": status})
