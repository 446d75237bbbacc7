"""The campaign pages under /campaigns/: the list, and a campaign with its timeline, gates,
figures, next action and the action forms.

The live part of a campaign's page (`campaign-live`) is polled while a step runs or bakes; it
carries the state the action forms were drawn for, and when that state moved on (a step
passed, a gate failed, someone approved) the poll answers HX-Refresh so the forms are drawn
again for the new state. A refused action re-renders the actions panel with why (403, 409)
or the field error (400), keeping what was typed; nothing was changed.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import requires
from accounts.identity import same_person
from accounts.roles import Capability
from fleet.services import DeploymentNeedsConfirmation, DeploymentRefused, breaking_peers
from policies.choices import Phase
from policies.models import Service
from portal.htmx import after_post, refusal_sentence, render_page
from rollouts import charts, figures, presenters, replay, selectors, services
from rollouts.models import (
    Campaign,
    CampaignStatus,
    Check,
    CohortKind,
    LabReplay,
    Step,
    StepKind,
    StepStatus,
)
from rollouts.steps import current_step

ESTATE = Capability.VIEW_ESTATE
POLL_SECONDS = 3
RUNNING = (StepStatus.PENDING, StepStatus.REQUESTED, StepStatus.DEPLOYING, StepStatus.BAKING)
PLANNING = frozenset({"baseline", "design-complete"})


def _campaign(request: HttpRequest, uuid: Any) -> Campaign:
    try:
        return selectors.campaign_for(user=request.user, uuid=uuid)
    except Campaign.DoesNotExist:
        raise Http404("No such campaign") from None


@requires(ESTATE)
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    campaigns = list(selectors.campaign_list_for(user=request.user).prefetch_related("steps"))
    rows = []
    for campaign in campaigns:
        found = sorted(campaign.steps.all(), key=lambda s: s.position)
        rows.append({"campaign": campaign, "step": found[-1] if found else None})
    context = {"rows": rows, "can_plan": selectors.plans(request.user)}
    return render_page(request, "rollouts/campaign_list.html", context)


# --- the campaign page ---------------------------------------------------------------------


def state_key(campaign: Campaign, step: Step | None, skip: Any) -> str:
    """What the action forms depend on; the poll refreshes the page when it changes."""
    return ":".join(
        [
            campaign.status,
            campaign.phase,
            str(step.position if step else "-"),
            step.status if step else "-",
            str(skip.uuid if skip else "-"),
            str(campaign.held_back.count()),
        ]
    )


def _step_state(step: Step | None, campaign: Campaign) -> tuple[str, str, float | None]:
    if step is None:
        return "future", "not started", None
    if step.status == StepStatus.PASSED:
        return (
            ("skipped" if step.gate_skipped else "done"),
            ("gate skipped (four eyes)" if step.gate_skipped else "gate passed"),
            None,
        )
    if step.status in (StepStatus.FAILED,) or campaign.status == CampaignStatus.HELD:
        return "held", step.get_status_display(), None
    if step.status in (StepStatus.ABORTED, StepStatus.RESTORED):
        return "aborted", step.get_status_display(), None
    progress = None
    note = step.get_status_display()
    if step.status == StepStatus.BAKING and step.bake_started_at and step.bake_ends_at:
        total = (step.bake_ends_at - step.bake_started_at).total_seconds() or 1.0
        progress = (timezone.now() - step.bake_started_at).total_seconds() / total
        note = f"baking {min(100, round(100 * progress))} %"
    return "current", note, progress


def timeline_boxes(campaign: Campaign, steps: list[Step]) -> list[charts.Box]:
    phases = [Phase.INVENTORY, Phase.DESIGN]
    reached = list(Phase.values).index(campaign.phase)
    boxes = []
    for phase in phases:
        at = list(Phase.values).index(phase)
        state = "done" if reached > at else "current"
        if reached < at:
            state = "future"
        note = {
            Phase.INVENTORY: "baseline frozen" if campaign.baseline_at else "measuring",
            Phase.DESIGN: "lint and compliance clean" if reached > at else "drafting",
        }[phase]
        boxes.append(charts.Box(Phase(phase).label, state, note))
    latest: dict[int, Step] = {}
    for step in steps:
        if step.kind == StepKind.COHORT and step.cohort_id is not None:
            latest[step.cohort_id] = step
    for cohort in campaign.cohorts.all():
        state, note, progress = _step_state(latest.get(cohort.id), campaign)
        if cohort.kind == CohortKind.LAB and not campaign.lab_stack_id:
            state, note = "future", "no lab stack"
        boxes.append(charts.Box(cohort.name, state, note, progress))
    restore = next((s for s in reversed(steps) if s.kind == StepKind.ABORT), None)
    if campaign.status == CampaignStatus.ABORTED or restore is not None:
        boxes.append(
            charts.Box(
                "Abort",
                "aborted" if campaign.status == CampaignStatus.ABORTED else "current",
                restore.get_status_display() if restore else "aborted",
            )
        )
    else:
        done = campaign.status == CampaignStatus.DONE
        boxes.append(
            charts.Box("Done", "done" if done else "future", "end state frozen" if done else "")
        )
    return boxes


CHECK_TITLES = {
    Check.COVERAGE: "Coverage %",
    Check.REFUSALS: "Refused attempts",
    Check.UNPREDICTED: "Unpredicted refusals",
    Check.DRIFT: "Open drift events",
    Check.INCIDENTS: "Open incidents",
    Check.LATENCY: "Added handshake ms",
    Check.LAB_REPLAY: "Unpredicted lab refusals",
}


def gate_charts(campaign: Campaign, step: Step) -> list[dict[str, Any]]:
    """Per check: the chart of its values over the bake, and the latest verdict."""
    if step.bake_started_at is None or step.bake_ends_at is None:
        return []
    evaluations = list(step.evaluations.all())
    latest = (step.verdict or {}).get("checks") or {}
    found = []
    for check in Check:
        if check == Check.LAB_REPLAY and not replay.is_lab_step(step):
            continue  # judged on the lab step only
        points = [
            charts.Point(
                at=e.at,
                value=(e.checks.get(check) or {}).get("value"),
                verdict=(e.checks.get(check) or {}).get("verdict", "waiting"),
            )
            for e in evaluations
        ]
        threshold = float(campaign.gate(check)["threshold"])
        found.append(
            {
                "check": check,
                "label": check.label,
                "latest": latest.get(check),
                "threshold": threshold,
                "failures": int((step.failures or {}).get(check, 0)),
                "failure_limit": int(campaign.gate(check)["failure_limit"]),
                "svg": charts.check_chart(
                    title=CHECK_TITLES[check],
                    points=points,
                    threshold=threshold,
                    start=step.bake_started_at,
                    end=step.bake_ends_at,
                ),
            }
        )
    return found


def lab_replay_view(steps: list[Step]) -> dict[str, Any] | None:
    """The lab step's replay of the production peers, for the page's lab section."""
    lab = next((s for s in reversed(steps) if replay.is_lab_step(s)), None)
    if lab is None:
        return None
    found = LabReplay.objects.filter(step=lab).first()
    if found is None:
        return None
    return {"step": lab, "replay": found, **replay.summary(found)}


FIGURE_ROWS = [
    ("coverage", "AT-TLS coverage", "%", "coverage"),
    ("tls13_share", "TLS 1.3 share", "%", None),
    ("deprecated_share", "Deprecated protocols (TLS 1.0/1.1, SSL)", "%", None),
    ("drift_per_month", "Drift events a month", "", None),
    ("refused", "Refused attempts (latest verifications)", "", "refusals"),
    ("added_ms", "Added handshake (median, ms)", "ms", "latency"),
]


def figure_rows(campaign: Campaign) -> list[dict[str, Any]]:
    """Before (the frozen baseline), now (measured from stored runs, or the end state when
    done) and the target, in the account's terms."""
    if campaign.end_state:
        now_measured = campaign.end_state
    else:
        now_measured = figures.measure(
            Service.objects.filter(id__in=campaign.services.values("id"))
        )
    before = (campaign.baseline or {}).get("totals") or {}
    now = dict(now_measured.get("totals") or {})
    added = figures.added_latency(now_measured, campaign.baseline or {})
    now["added_ms"] = round(statistics.median(added.values()), 1) if added else None
    before = {**before, "added_ms": 0.0 if before else None}
    targets = {
        "coverage": f"{campaign.gate(Check.COVERAGE)['threshold']:g} %",
        "tls13_share": "as the peers allow (not gated)",
        "deprecated_share": "0 %",
        "drift_per_month": "0",
        "refused": f"≤ {campaign.gate(Check.REFUSALS)['threshold']:g} a verification",
        "added_ms": f"≤ {campaign.gate(Check.LATENCY)['threshold']:g} ms",
    }
    # Before AT-TLS the verifications see no protocol (the applications' own TLS is theirs):
    # what zERT recorded of it is shown beside the "before" figures it explains.
    notes: dict[str, str] = {}
    if before.get("zert_connections"):
        notes["coverage"] = (
            f"zERT: {before.get('zert_cleartext_share')} % of"
            f" {before['zert_connections']} connections cleartext"
        )
        notes["deprecated_share"] = (
            f"zERT: {before.get('zert_deprecated_share')} % on TLS 1.0/1.1 (the applications'"
            " own TLS)"
        )
    return [
        {
            "key": key,
            "label": label,
            "unit": unit,
            "before": before.get(key),
            "before_note": notes.get(key, ""),
            "now": now.get(key),
            "target": targets[key],
        }
        for key, label, unit, _check in FIGURE_ROWS
    ]


def campaign_context(request: HttpRequest, campaign: Campaign, **extra: Any) -> dict[str, Any]:
    steps = list(
        campaign.steps.select_related("cohort", "deployment", "requested_by", "incident")
        .prefetch_related("evaluations")
        .order_by("position")
    )
    step = steps[-1] if steps else None
    skip = presenters.pending_skip(step)
    user = request.user
    key = state_key(campaign, step, skip)
    running = campaign.status in (
        CampaignStatus.ACTIVE,
        CampaignStatus.PAUSED,
        CampaignStatus.HELD,
    ) and (step is not None and step.status in RUNNING)
    step_view = None
    if step is not None:
        authors = presenters.versions_authors(step)
        step_view = {
            "step": step,
            "requested_by_me": same_person(step.requested_by, user),  # type: ignore[arg-type]
            "published_by_me": any(same_person(a, user) for a in authors),  # type: ignore[arg-type]
            "gates": gate_charts(campaign, step),
            "will_break": (
                len(breaking_peers(step.deployment))
                if step.status == StepStatus.REQUESTED and step.deployment is not None
                else 0
            ),
        }
    return {
        "campaign": campaign,
        "steps": steps,
        "current": step_view,
        "skip": skip,
        "skip_mine": skip is not None and same_person(skip.requested_by, user),  # type: ignore[arg-type]
        "next": presenters.next_action(campaign, user),
        "can_operate": selectors.operates(user),
        "can_plan": selectors.plans(user),
        "timeline": charts.timeline(timeline_boxes(campaign, steps)),
        "figure_rows": figure_rows(campaign),
        "cohorts": list(campaign.cohorts.prefetch_related("services__stack__lpar")),
        "rollback_services": list(
            services.rule_rollback_candidates(campaign)
            .exclude(id__in=campaign.held_back.values("id"))
            .order_by("stack__lpar__name", "name")
        ),
        "held_back": list(campaign.held_back.select_related("stack__lpar")),
        "lab_replay": lab_replay_view(steps),
        "state_key": key,
        "polling": running,
        "poll_seconds": POLL_SECONDS,
        "finished": campaign.status in (CampaignStatus.DONE, CampaignStatus.ABORTED),
        **extra,
    }


@requires(ESTATE)
@require_GET
def campaign_detail(request: HttpRequest, campaign: Any) -> HttpResponse:
    found = _campaign(request, campaign)
    context = campaign_context(request, found)
    htmx = getattr(request, "htmx", None)
    if (
        htmx
        and htmx.target == "campaign-live"
        and request.GET.get("state")
        not in (
            None,
            context["state_key"],
        )
    ):
        # The state moved on: the whole page again, so the action forms match it.
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render_page(
        request,
        "rollouts/campaign_detail.html",
        context,
        partials=("campaign-live", "actions-panel"),
    )


# --- the actions ---------------------------------------------------------------------------


def _reason(request: HttpRequest) -> str:
    return request.POST.get("reason", "")


def _step_now(campaign: Campaign) -> Step:
    step = current_step(campaign)
    if step is None:
        raise services.CampaignRefused("the campaign has no step yet")
    return step


def _rule_rollback(request: HttpRequest, campaign: Campaign) -> Any:
    ref = request.POST.get("service", "")
    candidates = services.rule_rollback_candidates(campaign)
    service = candidates.filter(uuid=ref).first() if _is_uuid(ref) else None
    if service is None:
        raise ValidationError({"service": "Choose a service of the campaign."})
    return services.service_rule_rollback(
        actor=request.user, campaign=campaign, service=service, reason=_reason(request)
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _approve_skip(request: HttpRequest, campaign: Campaign) -> Any:
    skip = presenters.pending_skip(current_step(campaign))
    if skip is None:
        raise services.CampaignRefused("no gate skip waits for approval")
    return services.gate_skip_approve(actor=request.user, action=skip)


Action = Callable[[HttpRequest, Campaign], Any]
ACTIONS: dict[str, tuple[str, Action]] = {
    "baseline": (
        "Baseline frozen: the campaign is in its design phase.",
        lambda r, c: services.campaign_baseline_freeze(actor=r.user, campaign=c),
    ),
    "design-complete": (
        "The design is clean: the campaign left its design phase.",
        lambda r, c: services.campaign_design_complete(actor=r.user, campaign=c),
    ),
    "promote": (
        "Promoted.",
        lambda r, c: services.campaign_promote(actor=r.user, campaign=c),
    ),
    "approve": (
        "Approved: the step's deployment runs now.",
        lambda r, c: services.step_approve(
            actor=r.user,
            step=_step_now(c),
            confirm_stale=r.POST.get("confirm", ""),
            acknowledge_impact=r.POST.get("acknowledge_impact", ""),
        ),
    ),
    "pause": (
        "Paused: no promotion until resumed.",
        lambda r, c: services.campaign_pause(actor=r.user, campaign=c, reason=_reason(r)),
    ),
    "resume": (
        "Resumed.",
        lambda r, c: services.campaign_resume(actor=r.user, campaign=c, reason=_reason(r)),
    ),
    "skip-gate": (
        "Asked: another operator approves the skip.",
        lambda r, c: services.gate_skip_request(actor=r.user, step=_step_now(c), reason=_reason(r)),
    ),
    "approve-skip": ("Gate skipped: the step passed, flagged in the evidence.", _approve_skip),
    "abort": (
        "Aborted: the restore of the previous step's versions is requested; another operator"
        " approves it.",
        lambda r, c: services.campaign_abort(actor=r.user, campaign=c, reason=_reason(r)),
    ),
    "request-again": (
        "Requested again from the design as it is now; another operator approves it.",
        lambda r, c: services.step_request_again(actor=r.user, campaign=c, reason=_reason(r)),
    ),
    "rule-rollback": (
        "The rule is held back from later steps; when its stack ran it, its removal from the"
        " deployed policy is requested and another operator approves it.",
        _rule_rollback,
    ),
}


def _refused(
    request: HttpRequest, campaign: Campaign, action: str, reason: str, status: int, **extra: Any
) -> HttpResponse:
    context = campaign_context(
        request, campaign, refused=reason, refused_action=action, posted=request.POST, **extra
    )
    return render_page(
        request,
        "rollouts/campaign_detail.html",
        context,
        partials=("actions-panel",),
        status=status,
    )


@requires(ESTATE)
@require_POST
def campaign_action(request: HttpRequest, campaign: Any, action: str) -> HttpResponse:
    allowed = (
        selectors.plans(request.user) if action in PLANNING else selectors.operates(request.user)
    )
    if not allowed:
        raise PermissionDenied
    found = _campaign(request, campaign)
    done, run = ACTIONS[action]
    try:
        run(request, found)
    except DeploymentNeedsConfirmation as stale:
        return _refused(request, found, action, str(stale), 409, needs_confirmation=stale.token)
    except PermissionError as forbidden:
        return _refused(request, found, action, refusal_sentence(forbidden), 403)
    except (services.CampaignRefused, DeploymentRefused) as refusal:
        # 400 for a missing acknowledgement of predicted breakage, 409 for the state.
        status = getattr(refusal, "http_status", 409)
        return _refused(request, found, action, refusal_sentence(refusal), status)
    except ValidationError as invalid:
        text = (
            "; ".join(m for messages_ in invalid.message_dict.values() for m in messages_)
            if hasattr(invalid, "error_dict")
            else "; ".join(invalid.messages)
        )
        return _refused(request, found, action, text, 400)
    messages.success(request, done)
    return after_post(request, reverse("rollouts:campaign", args=[found.uuid]))
