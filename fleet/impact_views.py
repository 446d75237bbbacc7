"""Change impact where people decide and after the change.

- the prediction panel of a candidate: the designer's draft (its policy page, under lint)
  and a published version (its page), served here as htmx partials because the designer
  (policies/) sits below the fleet and may not import it: its templates load these URLs;
- a stack's peer history; the fleet's precision and recall over all deployments;
- excluding the services whose peers will break (a version without their rules, through
  the normal publish and request flow).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import requires
from accounts.roles import Capability
from fleet import selectors
from fleet.impact import compare, history
from fleet.impact.predict import Candidate, prediction_record
from fleet.impact.present import NoSuchRule, present, without
from fleet.models import Deployment, RunStatus
from fleet.services import ExclusionRefused, deployment_exclude_breaking
from policies.models import PolicyVersion, Stack
from policies.selectors import service_list_for
from policies.services import stack_draft
from portal.htmx import after_post, render_page

ESTATE = Capability.VIEW_ESTATE


def _stack(request: HttpRequest, lpar: str, stack: str) -> Stack:
    try:
        return selectors.stack_for(user=request.user, lpar=lpar, stack=stack)
    except Stack.DoesNotExist:
        raise Http404(f"No stack {lpar}/{stack}") from None


def _panel(request: HttpRequest, stack: Stack, candidate: Candidate, url: str) -> HttpResponse:
    precheck = request.GET.get("precheck") == "1"
    record = prediction_record(stack, candidate, precheck=precheck)
    context = {"impact": present(record), "stack": stack, "prechecked": precheck, "url": url}
    return render(request, "fleet/impact/panel.html", context)


@requires(ESTATE)
@require_GET
def draft_panel(request: HttpRequest, lpar: str, stack: str) -> HttpResponse:
    """The designer's draft against what runs on the stack now (the pre-check on demand)."""
    found = _stack(request, lpar, stack)
    draft = stack_draft(stack=found)
    if draft.unwritable:
        return render(
            request,
            "fleet/impact/panel.html",
            {"impact": None, "stack": found, "unwritable": draft.unwritable},
        )
    url = reverse("fleet:impact-draft", args=[lpar, stack])
    return _panel(request, found, Candidate(draft.text, "the draft"), url)


@requires(ESTATE)
@require_GET
def version_panel(request: HttpRequest, lpar: str, stack: str, number: int) -> HttpResponse:
    found = _stack(request, lpar, stack)
    version = PolicyVersion.objects.filter(stack=found, number=number).first()
    if version is None:
        raise Http404(f"{found.label} has no v{number}")
    rule = request.GET.get("without", "")
    candidate = Candidate(version.text, f"v{version.number}")
    if rule:
        try:
            candidate = without(version, rule)
        except NoSuchRule as missing:
            raise Http404(str(missing)) from None
    url = reverse("fleet:impact-version", args=[lpar, stack, number])
    return _panel(request, found, candidate, url)


@requires(Capability.PUBLISH)
@require_POST
def deployment_exclude_view(request: HttpRequest, deployment: Any) -> HttpResponse:
    """Publish a version without the services whose peers will break (and, for an
    operator, request its deployment in place of this one)."""
    try:
        found = selectors.deployment_for(user=request.user, uuid=deployment)
    except Deployment.DoesNotExist:
        raise Http404("No such deployment") from None
    if found.status != RunStatus.PENDING:
        raise PermissionDenied("only a pending deployment can have services excluded")
    try:
        versions, replacement = deployment_exclude_breaking(
            deployment=found, actor=request.user, note=request.POST.get("note", "")
        )
    except ExclusionRefused as refusal:
        messages.error(request, str(refusal))
        return after_post(request, reverse("fleet:deployment", args=[found.uuid]))
    published = ", ".join(f"{v.stack.label} v{v.number}" for v in versions)
    if replacement is not None:
        messages.success(request, f"Published {published} and requested its deployment.")
        return after_post(request, reverse("fleet:deployment", args=[replacement.uuid]))
    messages.success(request, f"Published {published}; an operator requests its deployment.")
    return after_post(request, reverse("fleet:deployment", args=[found.uuid]))


@requires(ESTATE, Capability.VIEW_OWN_SERVICES)
@require_GET
def peer_history_page(request: HttpRequest, lpar: str, stack: str) -> HttpResponse:
    try:
        found = Stack.objects.select_related("lpar").get(lpar__name=lpar, name=stack)
    except Stack.DoesNotExist:
        raise Http404(f"No stack {lpar}/{stack}") from None
    visible = set(service_list_for(user=request.user).filter(stack=found).values_list("name"))
    names = {name for (name,) in visible}
    if not names and not selectors.sees_estate(request.user):
        raise Http404(f"No stack {lpar}/{stack}")
    rows = [r for r in history.peer_history(found) if r.service in names]
    context = {
        "section": "inventory",
        "stack": found,
        "rows": rows,
        "window_days": history.DEFAULT_WINDOW_DAYS,
        "unmapped": history.unmapped_peers(found),
    }
    return render_page(request, "fleet/impact/history.html", context)


@requires(ESTATE)
@require_GET
def scores_page(request: HttpRequest) -> HttpResponse:
    scores = compare.fleet_scores()
    context = {"section": "impact", "scores": scores, "labels": compare.OUTCOME_LABELS}
    return render_page(request, "fleet/impact/scores.html", context)
