"""The findings pages under /fleet/: drift, certificates and incidents (fleet.views holds the
rest). App owners see the incidents of their own services (fleet.selectors.incident_list_for).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import requires
from accounts.roles import Capability, has_capability
from fleet import presenters, selectors
from fleet.forms import IncidentRemoveRuleForm
from fleet.models import DriftEvent, Incident
from fleet.services import DeploymentRefused, drift_event_acknowledge, incident_remove_rule
from fleet.views import ESTATE, OPERATE, _can_operate, _page, _query_without_page
from portal.htmx import after_post, render_page

# --- drift, certificates, incidents ---------------------------------------------------------------


def _findings_context(request: HttpRequest, filters: selectors.FindingFilters) -> dict[str, Any]:
    return {
        "section": "findings",
        "filters": filters,
        "stacks": selectors.stack_labels(),
        "query": _query_without_page(request),
        "now": timezone.now(),
        "drift_statuses": [("open", "open"), ("resolved", "resolved"), ("all", "all")],
        "can_operate": _can_operate(request),
        "certificate_statuses": [("all", "all"), ("open", "expiring within 30 days")],
    }


@requires(ESTATE)
@require_GET
def drift_list(request: HttpRequest) -> HttpResponse:
    filters = selectors.FindingFilters.parse(request.GET)
    context = _findings_context(request, filters)
    context["tab"] = "drift"
    context["page"] = _page(request, selectors.drift_list_for(user=request.user, filters=filters))
    return render_page(request, "fleet/drift_list.html", context, partials=("finding-table",))


@requires(OPERATE)
@require_POST
def drift_acknowledge(request: HttpRequest, event: Any) -> HttpResponse:
    """Records that an operator saw a drift event, with why; it stays open until it clears."""
    try:
        found = selectors.drift_list_for(
            user=request.user, filters=selectors.FindingFilters(status="all")
        ).get(uuid=event)
    except DriftEvent.DoesNotExist:
        raise Http404("No such drift event") from None
    try:
        drift_event_acknowledge(
            event=found, actor=request.user, comment=request.POST.get("comment", "")
        )
    except PermissionError as error:
        raise PermissionDenied(str(error)) from error
    except DeploymentRefused as refusal:
        messages.error(request, f"Not acknowledged: {refusal}")
        return after_post(request, reverse("fleet:drift") + "?status=all")
    messages.success(request, f"Drift on {found.stack.label} acknowledged.")
    return after_post(request, reverse("fleet:drift") + "?status=all")


@requires(ESTATE)
@require_GET
def certificate_list(request: HttpRequest) -> HttpResponse:
    filters = selectors.FindingFilters.parse(request.GET, default_status="all")
    context = _findings_context(request, filters)
    now = context["now"]
    page = _page(request, selectors.certificate_list_for(user=request.user, filters=filters))
    context["tab"] = "certificates"
    context["page"] = page
    latest = selectors.latest_verification_times(c.stack_id for c in page)
    context["rows"] = [
        (
            c,
            presenters.certificate_expiry(c.not_after, now),
            c.stack_id not in latest or c.last_seen >= latest[c.stack_id],
        )
        for c in page
    ]
    return render_page(request, "fleet/certificate_list.html", context, partials=("finding-table",))


@requires(ESTATE, Capability.VIEW_OWN_SERVICES)
@require_GET
def incident_list(request: HttpRequest) -> HttpResponse:
    filters = selectors.FindingFilters.parse(request.GET, default_status="all")
    context = _findings_context(request, filters)
    context["tab"] = "incidents"
    context["stacks"] = selectors.stack_labels(user=request.user)
    context["sees_estate"] = selectors.sees_estate(request.user)
    context["page"] = _page(
        request, selectors.incident_list_for(user=request.user, filters=filters)
    )
    return render_page(request, "fleet/incident_list.html", context, partials=("finding-table",))


def _incident(request: HttpRequest, uuid: Any) -> Incident:
    try:
        return selectors.incident_for(user=request.user, uuid=uuid)
    except Incident.DoesNotExist:
        raise Http404("No such incident") from None


def _incident_context(
    request: HttpRequest, incident: Incident, form: IncidentRemoveRuleForm | None = None
) -> dict[str, Any]:
    return {
        "section": "incidents",
        "tab": "incidents",
        "incident": incident,
        "plan": selectors.remove_rule_plan(incident=incident) if incident.service else None,
        "rollback": selectors.rollback_plan(stack=incident.stack),
        "form": form or IncidentRemoveRuleForm(),
        "can_publish": has_capability(request.user, Capability.PUBLISH),
        "can_operate": _can_operate(request),
        "sees_estate": selectors.sees_estate(request.user),
        "refused": "",
    }


@requires(ESTATE, Capability.VIEW_OWN_SERVICES)
@require_GET
def incident_detail(request: HttpRequest, incident: Any) -> HttpResponse:
    found = _incident(request, incident)
    return render_page(request, "fleet/incident_detail.html", _incident_context(request, found))


@requires(Capability.PUBLISH)
@require_POST
def incident_remove_rule_view(request: HttpRequest, incident: Any) -> HttpResponse:
    found = _incident(request, incident)
    form = IncidentRemoveRuleForm(request.POST)
    context = _incident_context(request, found, form)
    if not form.is_valid():
        return render_page(request, "fleet/incident_detail.html", context, status=422)
    try:
        version, deployment = incident_remove_rule(
            incident=found, actor=request.user, note=form.cleaned_data["note"]
        )
    except DeploymentRefused as refusal:
        context["refused"] = str(refusal)
        return render_page(request, "fleet/incident_detail.html", context, status=409)
    if deployment is not None:
        messages.success(
            request,
            f"Published v{version.number} without the rule and requested its deployment;"
            " another operator must approve it.",
        )
        return after_post(request, reverse("fleet:deployment", args=[deployment.uuid]))
    messages.success(
        request,
        f"Published v{version.number} without the rule; an operator requests its deployment.",
    )
    return after_post(request, reverse("fleet:incident", args=[found.uuid]))
