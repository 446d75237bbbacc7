"""The planning pages of campaigns: a new campaign, its cohorts' editor, its gates and bake time.

Architects and operators plan (the API's rule): anyone else gets 403 and nothing changes. Each
form goes through the function the API calls (rollouts.services.campaign_create,
campaign_settings_update; rollouts.cohorts for the cohorts' services and shape), so
a rule holds the same way through either; its refusals come back onto the field they name
(422), or above the form: 403 for a role or four eyes, 409 for the campaign's state, nothing
changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.decorators import requires
from accounts.roles import Capability
from fleet.forms import attach_errors
from policies.models import Stack
from policies.services import stack_draft
from portal.htmx import after_post, refusal_sentence, render_page
from rollouts import cohorts, services
from rollouts.durations import format_duration
from rollouts.forms import (
    CampaignForm,
    CohortMoveForm,
    CohortNameForm,
    CohortPositionForm,
    CohortRenameForm,
    GatesForm,
    ServiceMoveForm,
    scope_services,
)
from rollouts.models import Campaign, CohortKind
from rollouts.views import _campaign, _is_uuid

PLAN = (Capability.PUBLISH, Capability.OPERATE)


# --- a new campaign ----------------------------------------------------------------------------


def scope_rows(data: QueryDict) -> list[dict[str, Any]]:
    """Per stack ticked: its target design (the stack's draft, as the designer shows it) and
    its services that can be migrated. A stack's services are all ticked when it is first
    shown; after that, as the person left them (`shown_stacks` says which were shown)."""
    keys = [k for k in data.getlist("stacks") if _is_uuid(k)]
    stacks = list(
        Stack.objects.filter(uuid__in=keys).select_related("lpar").order_by("lpar__name", "name")
    )
    shown = set(data.getlist("shown_stacks"))
    ticked = set(data.getlist("services"))
    found = list(scope_services().filter(stack__in=stacks).order_by("name"))
    rows = []
    for stack in stacks:
        draft = stack_draft(stack=stack)
        fresh = str(stack.uuid) not in shown
        rows.append(
            {
                "stack": stack,
                "rules": len(draft.policy.rules),
                "errors": len(draft.errors),
                "warnings": len(draft.warnings),
                "sha256": draft.sha256,
                "published": draft.published,
                "changed": draft.changed,
                "unwritable": draft.unwritable,
                "services": [
                    (service, fresh or str(service.uuid) in ticked)
                    for service in found
                    if service.stack_id == stack.id
                ],
            }
        )
    return rows


@requires(*PLAN)
@require_http_methods(["GET", "POST"])
def campaign_new(request: HttpRequest) -> HttpResponse:
    status = 200
    data = request.POST if request.method == "POST" else request.GET
    if request.method == "POST":
        form = CampaignForm(request.POST, actor=request.user)
        if form.is_valid():
            cleaned = form.cleaned_data
            try:
                campaign = services.campaign_create(
                    actor=request.user,
                    name=cleaned["name"],
                    description=cleaned["description"],
                    stacks=list(cleaned["stacks"]),
                    services=list(cleaned["services"]),
                    owner=cleaned["owner"],
                    lab_stack=cleaned["lab_stack"],
                    bake_seconds=cleaned["bake"],
                    gates=form.gates(),
                    auto_promote=cleaned["auto_promote"],
                )
            except ValidationError as error:
                attach_errors(form, error)
            else:
                messages.success(
                    request,
                    f"Campaign {campaign.name} planned: {campaign.cohorts.count()} cohorts,"
                    f" bake time {format_duration(campaign.bake_seconds)}. Next: freeze the"
                    " baseline.",
                )
                return after_post(request, reverse("rollouts:campaign", args=[campaign.uuid]))
        status = 422
    else:
        form = CampaignForm(actor=request.user)
    context = {"form": form, "scope": scope_rows(data), "section": "campaigns"}
    return render_page(
        request,
        "rollouts/campaign_new.html",
        context,
        partials=("campaign-scope",),
        status=status,
    )


# --- gates and bake time -----------------------------------------------------------------------


@requires(*PLAN)
@require_http_methods(["GET", "POST"])
def campaign_gates(request: HttpRequest, campaign: Any) -> HttpResponse:
    found = _campaign(request, campaign)
    form = GatesForm(request.POST or None, campaign=found)
    status, refused = 200, ""
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                services.campaign_settings_update(
                    actor=request.user,
                    campaign=found,
                    bake_seconds=form.cleaned_data["bake"],
                    gates=form.gates(),
                )
            except services.CampaignRefused as refusal:
                status, refused = 409, refusal_sentence(refusal)
            except PermissionError as forbidden:
                status, refused = 403, refusal_sentence(forbidden)
            except ValidationError as error:
                attach_errors(form, error)
            else:
                messages.success(
                    request,
                    "Gates and bake time saved: they apply from the next evaluation.",
                )
                return after_post(request, reverse("rollouts:campaign", args=[found.uuid]))
    context = {"campaign": found, "form": form, "refused": refused, "section": "campaigns"}
    return render_page(request, "rollouts/campaign_gates.html", context, status=status)


# --- the cohorts' editor -----------------------------------------------------------------------


def layout_key(campaign: Campaign) -> str:
    """Which cohort is at which position: a form drawn for another layout is refused (its
    positions would name other cohorts)."""
    rows = campaign.cohorts.order_by("position").values_list("position", "pk")
    return hashlib.sha256(repr(list(rows)).encode()).hexdigest()[:16]


def editor_context(campaign: Campaign, **extra: Any) -> dict[str, Any]:
    listed = list(campaign.cohorts.prefetch_related("services__stack__lpar").order_by("position"))
    upto = cohorts.started_upto(campaign)
    finished = campaign.status in ("done", "aborted")
    open_ones = [
        c for c in listed if c.position > upto and c.kind != CohortKind.LAB and not finished
    ]
    rows = []
    for index, cohort in enumerate(listed):
        editable = cohort in open_ones
        rows.append(
            {
                "cohort": cohort,
                "started": cohort.position <= upto,
                "editable": editable,
                "lab": cohort.kind == CohortKind.LAB,
                "up": editable and index > 0 and listed[index - 1] in open_ones,
                "down": editable and index + 1 < len(listed),
                "targets": [c for c in open_ones if c.pk != cohort.pk],
                "services": sorted(
                    cohort.services.all(), key=lambda s: (s.stack.lpar.name, s.stack.name, s.name)
                ),
            }
        )
    return {
        "campaign": campaign,
        "rows": rows,
        "finished": finished,
        "layout": layout_key(campaign),
        "section": "campaigns",
        **extra,
    }


def _editor(request: HttpRequest, campaign: Campaign, status: int, **extra: Any) -> HttpResponse:
    return render_page(
        request, "rollouts/campaign_cohorts.html", editor_context(campaign, **extra), status=status
    )


@requires(*PLAN)
@require_http_methods(["GET"])
def campaign_cohorts(request: HttpRequest, campaign: Any) -> HttpResponse:
    return _editor(request, _campaign(request, campaign), 200)


def _move_service(request: HttpRequest, campaign: Campaign, data: dict[str, Any]) -> str:
    service = campaign.services.filter(uuid=data["service"]).select_related("stack__lpar").first()
    if service is None:
        raise ValidationError({"service": "Choose a service of the campaign's scope."})
    target = cohorts.cohort_at(campaign, data["to"], "to")
    if target.kind == CohortKind.LAB:
        raise services.CampaignRefused(
            "the lab cohort holds the lab stack's copies of the rules, set when the design"
            " phase ends"
        )
    members = list(target.services.all())
    if service in members:
        raise ValidationError({"to": f"{service.name} is in {target.name} already."})
    cohorts.cohort_services_set(actor=request.user, cohort=target, services=[*members, service])
    return f"{service.stack.label} {service.name} moved to {target.name}."


def _add(request: HttpRequest, campaign: Campaign, data: dict[str, Any]) -> str:
    added = cohorts.cohort_add(actor=request.user, campaign=campaign, name=data["name"])
    return f"Cohort {added.name} added at position {added.position}; move services into it."


def _rename(request: HttpRequest, campaign: Campaign, data: dict[str, Any]) -> str:
    cohort = cohorts.cohort_at(campaign, data["position"])
    renamed = cohorts.cohort_rename(actor=request.user, cohort=cohort, name=data["name"])
    return f"{cohort.name} is now {renamed.name}."


def _remove(request: HttpRequest, campaign: Campaign, data: dict[str, Any]) -> str:
    cohort = cohorts.cohort_at(campaign, data["position"])
    cohorts.cohort_remove(actor=request.user, cohort=cohort)
    return f"Cohort {cohort.name} removed."


def _move(request: HttpRequest, campaign: Campaign, data: dict[str, Any]) -> str:
    cohort = cohorts.cohort_at(campaign, data["position"])
    moved = cohorts.cohort_move(actor=request.user, cohort=cohort, position=data["to"])
    return f"{moved.name} is now at position {moved.position}."


CohortAction = Callable[[HttpRequest, Campaign, dict[str, Any]], str]
COHORT_ACTIONS: dict[str, tuple[type[forms.Form], CohortAction]] = {
    "move-service": (ServiceMoveForm, _move_service),
    "add": (CohortNameForm, _add),
    "rename": (CohortRenameForm, _rename),
    "remove": (CohortPositionForm, _remove),
    "move": (CohortMoveForm, _move),
}


@requires(*PLAN)
@require_POST
def cohort_action(request: HttpRequest, campaign: Any, action: str) -> HttpResponse:
    found = _campaign(request, campaign)
    form_class, run = COHORT_ACTIONS[action]
    form = form_class(request.POST)
    failed = {"failed_action": action, "failed_form": form, "posted": request.POST}
    if request.POST.get("layout") != layout_key(found):
        return _editor(
            request,
            found,
            409,
            refused="The cohorts changed since this page was drawn (someone else edited them):"
            " here they are now. Nothing was changed; do it again if it still applies.",
        )
    if not form.is_valid():
        return _editor(request, found, 422, **failed)
    try:
        done = run(request, found, form.cleaned_data)
    except PermissionError as forbidden:
        return _editor(request, found, 403, refused=refusal_sentence(forbidden), **failed)
    except services.CampaignRefused as refusal:
        return _editor(request, found, 409, refused=refusal_sentence(refusal), **failed)
    except ValidationError as error:
        attach_errors(form, error)
        return _editor(request, found, 422, **failed)
    messages.success(request, done)
    return after_post(request, reverse("rollouts:campaign-cohorts", args=[found.uuid]))
