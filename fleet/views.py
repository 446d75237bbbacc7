"""The fleet pages under /fleet/: deployments, verifications, findings, connections, my services.

Views authorise (by capability), parse, call a service or a selector, and render. Each page is
one template; an htmx request that targets one of its named partials (the id in HX-Target)
gets that partial only. A successful htmx POST answers with HX-Location; a refused one
re-renders what it came from with the reason (409) or the form errors (422).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import requires
from accounts.roles import Capability, has_capability
from fleet import overview, presenters, selectors, service_status
from fleet.forms import (
    CancelForm,
    DeploymentRequestForm,
    LparConnectionForm,
    RejectForm,
    RemoveRuleForm,
    RollbackForm,
    attach_errors,
)
from fleet.impact.present import impact_context
from fleet.models import (
    NUL_SHOWN_AS,
    Deployment,
    DeploymentTarget,
    RunStatus,
    TargetStatus,
    VerificationRun,
)
from fleet.services import (
    DeploymentForbidden,
    DeploymentNeedsConfirmation,
    DeploymentRefused,
    deployment_acknowledge_overwrite,
    deployment_approve,
    deployment_cancel,
    deployment_reject,
    deployment_request,
    lpar_connection_save,
    remove_rule,
    rollback_to_previous,
)
from fleet.tasks import verification_request
from fleet.zert.inventory import zert_runs_of, zert_state_of
from policies.models import Lpar, Stack
from portal.htmx import after_post, refusal_sentence, render_page

PAGE_SIZE = 50
# Raw outputs longer than this show their beginning; the download has all of it.
SHOWN_CHARACTERS = 200_000
ESTATE = Capability.VIEW_ESTATE
OPERATE = Capability.OPERATE


def _can_operate(request: HttpRequest) -> bool:
    return has_capability(request.user, OPERATE)


def _stack(request: HttpRequest, lpar: str, stack: str) -> Stack:
    try:
        return selectors.stack_for(user=request.user, lpar=lpar, stack=stack)
    except Stack.DoesNotExist:
        raise Http404(f"No stack {lpar}/{stack}") from None


def _page(request: HttpRequest, rows: Any) -> Any:
    return Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


# --- deployments ----------------------------------------------------------------------------------

DEPLOYMENT_FILTERS = {
    "": "All",
    "active": "Waiting or running",
    RunStatus.SUCCEEDED: "Succeeded",
    "failed": "Failed or rolled back",
    "closed": "Rejected or cancelled",
}
DEPLOYMENT_STATUSES = {
    "active": (RunStatus.PENDING, RunStatus.APPROVED, RunStatus.RUNNING),
    "failed": (RunStatus.FAILED, RunStatus.ROLLED_BACK),
    "closed": (RunStatus.REJECTED, RunStatus.CANCELLED),
    RunStatus.SUCCEEDED: (RunStatus.SUCCEEDED,),
}


@requires(ESTATE)
@require_GET
def deployment_list(request: HttpRequest) -> HttpResponse:
    deployments = selectors.deployment_list_for(user=request.user)
    status = request.GET.get("status", "")
    if status in DEPLOYMENT_STATUSES:
        deployments = deployments.filter(status__in=DEPLOYMENT_STATUSES[status])
    context = {
        "section": "deployments",
        "page": _page(request, deployments),
        "query": _query_without_page(request),
        "status": status,
        "filters": DEPLOYMENT_FILTERS,
        "can_operate": _can_operate(request),
    }
    return render_page(
        request, "fleet/deployment_list.html", context, partials=("deployment-table",)
    )


@requires(OPERATE)
@require_http_methods(["GET", "POST"])
def deployment_new(request: HttpRequest) -> HttpResponse:
    choices = overview.deploy_choices(user=request.user)
    form = DeploymentRequestForm(request.POST or None, choices=choices)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                deployment = deployment_request(
                    actor=request.user, targets=form.targets, note=form.cleaned_data["note"]
                )
            except DeploymentRefused as refusal:
                form.add_error(None, str(refusal))
            else:
                messages.success(
                    request,
                    "Deployment requested. Another operator approves or rejects it here;"
                    " you may cancel it.",
                )
                return after_post(request, reverse("fleet:deployment", args=[deployment.uuid]))
        status = 422
    diffs = [
        presenters.live_diff(
            c.stack,
            selectors.live_policy_text(c.stack),
            c.version.text,
            to_label=f"{c.stack.label} v{c.version.number}",
        )
        for c in choices
    ]
    context = {
        "section": "deployments",
        "form": form,
        "choices": choices,
        "me": request.user,
        "diffs": diffs,
        # The stacks a prediction is shown for: reachable, and not running this version already.
        "predicted": sum(1 for c in choices if c.has_connection and not c.is_current),
    }
    return render_page(request, "fleet/deployment_new.html", context, status=status)


def _deployment(request: HttpRequest, uuid: Any) -> Deployment:
    try:
        return selectors.deployment_for(user=request.user, uuid=uuid)
    except Deployment.DoesNotExist:
        raise Http404("No such deployment") from None


def _deployment_context(request: HttpRequest, deployment: Deployment) -> dict[str, Any]:
    targets = list(deployment.targets.all())
    steps = list(deployment.steps.all())
    authors = {t.version.author_id for t in targets}
    pending = deployment.status == RunStatus.PENDING
    staleness = selectors.deployment_staleness(deployment) if pending else []
    drifted = [t for t in targets if t.file_drift_sha256 and t.status == TargetStatus.FAILED]
    diffs = []
    if pending:
        # The heavy text is deferred in lists; the diff needs it, for pending ones only.
        texts = dict(deployment.targets.values_list("id", "text"))
        diffs = [
            presenters.live_diff(
                t.stack,
                selectors.live_policy_text(t.stack),
                texts[t.id],
                to_label=f"{t.stack.label} {t.what} (this deployment)",
            )
            for t in targets
        ]
    return {
        "section": "deployments",
        "deployment": deployment,
        "targets": targets,
        "steps": steps,
        "verifications": list(deployment.verifications.all()),
        "polling": deployment.status in (RunStatus.APPROVED, RunStatus.RUNNING),
        "elapsed": presenters.duration(
            deployment.started_at, deployment.finished_at or timezone.now()
        ),
        "can_operate": _can_operate(request),
        "published_by_me": request.user.pk in authors,
        "requested_by_me": request.user.pk == deployment.requested_by_id,
        "stacks": list({t.stack_id: t.stack for t in targets}.values()),
        "staleness": staleness,
        "diffs": diffs,
        "reject_form": RejectForm(),
        "cancel_form": CancelForm(),
        # Targets stopped on file drift, which an operator may acknowledge overwriting.
        "drifted_targets": drifted,
        "drift_diffs": _drift_diffs(deployment, drifted),
        **impact_context(deployment, targets),
    }


def _drift_diffs(
    deployment: Deployment, drifted: list[DeploymentTarget]
) -> list[presenters.FileDriftDiff]:
    """Expected (last-known-good) against found, for each target stopped on file drift."""
    if not drifted:
        return []
    # The texts are deferred in lists; loaded here for the stopped targets only.
    texts = {
        pk: (good, found)
        for pk, good, found in deployment.targets.filter(
            pk__in=[t.pk for t in drifted]
        ).values_list("pk", "last_known_good", "file_drift_text")
    }
    return [
        presenters.file_drift_diff(
            t.stack,
            expected=texts[t.pk][0],
            expected_label=t.last_known_good_source or "last-known-good",
            expected_sha256=t.last_known_good_sha256,
            found=texts[t.pk][1],
            found_sha256=t.file_drift_sha256,
        )
        for t in drifted
    ]


@requires(ESTATE)
@require_GET
def deployment_detail(request: HttpRequest, deployment: Any) -> HttpResponse:
    context = _deployment_context(request, _deployment(request, deployment))
    return render_page(
        request,
        "fleet/deployment_detail.html",
        context,
        partials=("deployment-progress", "approve-panel", "overwrite-panel"),
    )


def _review_refused(
    request: HttpRequest,
    deployment: Deployment,
    reason: str,
    status: int,
    **extra: Any,
) -> HttpResponse:
    """The review panel again, with why the action was not taken (nothing was changed)."""
    context = _deployment_context(request, deployment)
    context["refused"] = reason
    context.update(extra)
    return render_page(
        request,
        "fleet/deployment_detail.html",
        context,
        partials=("approve-panel",),
        status=status,
    )


@requires(OPERATE)
@require_POST
def deployment_approve_view(request: HttpRequest, deployment: Any) -> HttpResponse:
    found = _deployment(request, deployment)
    try:
        deployment_approve(
            deployment=found,
            actor=request.user,
            confirm_stale=request.POST.get("confirm", ""),
            acknowledge_impact=request.POST.get("acknowledge_impact", ""),
        )
    except DeploymentNeedsConfirmation as stale:
        return _review_refused(
            request, found, "", 409, needs_confirmation=stale.token, staleness=stale.staleness
        )
    except DeploymentForbidden as forbidden:
        return _review_refused(request, found, refusal_sentence(forbidden), 403)
    except PermissionError as error:
        raise PermissionDenied(str(error)) from error
    except DeploymentRefused as refusal:
        return _review_refused(request, found, refusal_sentence(refusal), refusal.http_status)
    messages.success(request, "Approved: the deployment is queued and runs now.")
    return after_post(request, reverse("fleet:deployment", args=[found.uuid]))


def _close(
    request: HttpRequest,
    deployment: Any,
    form_class: type[RejectForm] | type[CancelForm],
    close: Callable[..., Deployment],
    done: str,
) -> HttpResponse:
    """Reject or cancel a pending deployment: one flow, the form and service differ."""
    found = _deployment(request, deployment)
    form = form_class(request.POST)
    form_key = f"{form_class.prefix}_form"
    if not form.is_valid():
        return _review_refused(request, found, "", 422, **{form_key: form})
    try:
        close(deployment=found, actor=request.user, reason=form.cleaned_data["reason"])
    except DeploymentForbidden as forbidden:
        return _review_refused(request, found, refusal_sentence(forbidden), 403, **{form_key: form})
    except DeploymentRefused as refusal:
        return _review_refused(request, found, refusal_sentence(refusal), 409, **{form_key: form})
    messages.success(request, done)
    return after_post(request, reverse("fleet:deployment", args=[found.uuid]))


@requires(OPERATE)
@require_POST
def deployment_reject_view(request: HttpRequest, deployment: Any) -> HttpResponse:
    done = "Rejected: the deployment will not run."
    return _close(request, deployment, RejectForm, deployment_reject, done)


@requires(OPERATE)
@require_POST
def deployment_cancel_view(request: HttpRequest, deployment: Any) -> HttpResponse:
    return _close(
        request,
        deployment,
        CancelForm,
        deployment_cancel,
        "Cancelled: the deployment will not run.",
    )


@requires(OPERATE)
@require_POST
def deployment_acknowledge_overwrite_view(request: HttpRequest, deployment: Any) -> HttpResponse:
    """The operator accepts overwriting a drifted policy file; the deployment runs again."""
    found = _deployment(request, deployment)
    try:
        deployment_acknowledge_overwrite(
            deployment=found, actor=request.user, comment=request.POST.get("comment", "")
        )
    except PermissionError as error:
        raise PermissionDenied(str(error)) from error
    except DeploymentRefused as refusal:
        context = _deployment_context(request, found)
        context["overwrite_refused"] = str(refusal)
        context["overwrite_comment"] = request.POST.get("comment", "")
        return render_page(
            request,
            "fleet/deployment_detail.html",
            context,
            partials=("overwrite-panel",),
            status=409,
        )
    messages.success(request, "Overwrite acknowledged: the deployment is queued and runs now.")
    return after_post(request, reverse("fleet:deployment", args=[found.uuid]))


# --- stacks: status, verify now, rollback, remove a rule ------------------------------------------


@requires(ESTATE)
@require_GET
def stack_detail(request: HttpRequest, lpar: str, stack: str) -> HttpResponse:
    found = _stack(request, lpar, stack)
    status = overview.stack_status_list(
        user=request.user, stacks=Stack.objects.filter(pk=found.pk)
    )[0]
    context = {
        "section": "fleet",
        "stack": found,
        "status": status,
        "services": presenters.service_rows(
            status.results.get("services") or {}, policy_deployed=status.deployed is not None
        ),
        "runs": selectors.verification_list_for(user=request.user).filter(stack=found)[:15],
        "deployments": selectors.deployment_list_for(user=request.user)
        .filter(targets__stack=found)
        .distinct()[:10],
        "drift": selectors.drift_list_for(
            user=request.user, filters=selectors.FindingFilters(stack=found.label)
        )[:20],
        "can_operate": _can_operate(request),
        "last_known_good": selectors.last_known_good(found),
        "baseline": selectors.baseline_of(stack=found),
    }
    return render_page(request, "fleet/stack_detail.html", context)


@requires(ESTATE)
@require_GET
def stack_baseline(request: HttpRequest, lpar: str, stack: str) -> HttpResponse:
    """The stack's policy file as the portal first found it (the pre-portal state)."""
    found = _stack(request, lpar, stack)
    baseline = selectors.baseline_of(stack=found)
    if baseline is None:
        raise Http404(f"No baseline of {found.label} yet: the portal has not read its file")
    filename = f"{found.lpar.name}-{found.name}-baseline.policy"
    return HttpResponse(
        baseline.text,
        content_type="text/plain; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-SHA256": baseline.sha256,
        },
    )


@requires(OPERATE)
@require_POST
def stack_verify(request: HttpRequest, lpar: str, stack: str) -> HttpResponse:
    found = _stack(request, lpar, stack)
    if selectors.connection_of(found.lpar) is None:
        messages.error(request, f"{found.lpar.name} has no LPAR connection to verify through.")
        return after_post(request, reverse("fleet:connections"))
    run = verification_request(stack_id=found.id)
    return after_post(request, reverse("fleet:verification", args=[run.uuid]))


@requires(OPERATE)
@require_http_methods(["GET", "POST"])
def stack_rollback(request: HttpRequest, lpar: str, stack: str) -> HttpResponse:
    found = _stack(request, lpar, stack)
    plan = selectors.rollback_plan(stack=found)
    form = RollbackForm(request.POST or None)
    status = 200
    refused = ""
    if request.method == "POST":
        if plan.refusal:
            refused, status = plan.refusal, 409
        elif form.is_valid():
            try:
                deployment = rollback_to_previous(
                    actor=request.user, stack=found, note=form.cleaned_data["note"]
                )
            except DeploymentForbidden as forbidden:
                refused, status = refusal_sentence(forbidden), 403
            except DeploymentRefused as refusal:
                refused, status = str(refusal), 409
            else:
                messages.success(
                    request,
                    f"Rollback of {found.label} requested: another operator approves it.",
                )
                return after_post(request, reverse("fleet:deployment", args=[deployment.uuid]))
        else:
            status = 422
    context = {
        "section": "deployments",
        "stack": found,
        "plan": plan,
        "form": form,
        "refused": refused,
    }
    return render_page(request, "fleet/stack_rollback.html", context, status=status)


@requires(OPERATE)
@require_http_methods(["GET", "POST"])
def stack_remove_rule(request: HttpRequest, lpar: str, stack: str) -> HttpResponse:
    found = _stack(request, lpar, stack)
    current, rules = selectors.deployed_rules(stack=found)
    data = (
        request.POST
        if request.method == "POST"
        else (request.GET if "rule" in request.GET else None)
    )
    form = RemoveRuleForm(data, rules=rules)
    chosen = form.cleaned_data["rule"] if form.is_valid() else ""
    status, refused = 200, ""
    if request.method == "POST":
        if current is None:
            refused, status = f"Nothing has been deployed to {found.label} yet.", 409
        elif not chosen:
            status = 422
        else:
            try:
                deployment = remove_rule(
                    actor=request.user, stack=found, rule=chosen, note=form.cleaned_data["note"]
                )
            except DeploymentRefused as refusal:
                refused, status = str(refusal), 409
            else:
                messages.success(
                    request,
                    f"Removal of rule {chosen} from {found.label} requested: another operator"
                    " approves it.",
                )
                return after_post(request, reverse("fleet:deployment", args=[deployment.uuid]))
    service = next((r.service for r in rules if r.name == chosen), None)
    context = {
        "section": "deployments",
        "stack": found,
        "current": current,
        "rules": rules,
        "form": form,
        "chosen": chosen,
        "chosen_service": service,
        "refused": refused,
    }
    return render_page(request, "fleet/stack_remove_rule.html", context, status=status)


# --- verifications --------------------------------------------------------------------------------


def _verification(request: HttpRequest, uuid: Any) -> VerificationRun:
    try:
        return selectors.verification_for(user=request.user, uuid=uuid)
    except VerificationRun.DoesNotExist:
        raise Http404("No such verification") from None


@requires(ESTATE)
@require_GET
def verification_detail(request: HttpRequest, run: Any) -> HttpResponse:
    found = _verification(request, run)
    results = found.results or {}
    outputs = []
    for name, title in selectors.OUTPUTS.items():
        entry = (found.outputs or {}).get(name)
        if entry is None:
            continue
        received = selectors.output_text(entry)
        # Shown with NUL as U+2400 (as stored); the hash is checked on the text as received.
        text = received.replace("\x00", NUL_SHOWN_AS)
        pretty = presenters.pretty_json(entry.get("json")) if name == "probe" else text
        shown = presenters.head(pretty, SHOWN_CHARACTERS)
        outputs.append(
            {
                "name": name,
                "title": title,
                "entry": entry,
                "text": text,
                "shown": shown,
                "truncated": len(shown) < len(pretty),
                "size": len(text),
                "lines": text.count("\n") + (1 if text and not text.endswith("\n") else 0),
                "intact": presenters.sha256(received) == entry.get("sha256"),
            }
        )
    context = {
        "section": "fleet",
        "run": found,
        "stack": found.stack,
        "results": results,
        "bar": presenters.protocol_bar(results.get("protocols") or {}, width=320),
        "services": presenters.service_rows(
            results.get("services") or {}, policy_deployed=found.expected_version_id is not None
        ),
        "outputs": outputs,
        "polling": found.status in (RunStatus.PENDING, RunStatus.RUNNING),
        "elapsed": presenters.duration(found.started_at, found.finished_at),
    }
    return render_page(
        request, "fleet/verification_detail.html", context, partials=("verification-body",)
    )


@requires(ESTATE)
@require_GET
def verification_output(request: HttpRequest, run: Any, output: str) -> HttpResponse:
    found = _verification(request, run)
    entry = (found.outputs or {}).get(output)
    if output not in selectors.OUTPUTS or entry is None:
        raise Http404("No such output")
    text = selectors.output_text(entry)
    extension = "json" if output == "probe" else "txt"
    filename = (
        f"{found.stack.lpar.name}-{found.stack.name}-{output}-"
        f"{found.created_at:%Y%m%dT%H%M%SZ}.{extension}"
    )
    return HttpResponse(
        text.encode(),
        content_type="application/json" if output == "probe" else "text/plain; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-SHA256": entry.get("sha256", ""),
        },
    )


# --- LPAR connections -----------------------------------------------------------------------------


@requires(OPERATE)
@require_GET
def connection_list(request: HttpRequest) -> HttpResponse:
    lpars = list(selectors.lpar_list_for_operators(user=request.user))
    zert = zert_state_of(lpars)
    rows = []
    for lpar in lpars:
        connection = selectors.connection_of(lpar)
        # Whether a secret is stored is all a page may know of it.
        secrets_set = (
            (bool(connection.password_encrypted), bool(connection.ssh_key_encrypted))
            if connection is not None
            else (False, False)
        )
        rows.append((lpar, connection, *secrets_set, zert[lpar.id]))
    return render_page(
        request, "fleet/connection_list.html", {"section": "connections", "rows": rows}
    )


@requires(OPERATE)
@require_http_methods(["GET", "POST"])
def connection_edit(request: HttpRequest, lpar: str) -> HttpResponse:
    try:
        found = selectors.lpar_for_operators(user=request.user, name=lpar)
    except Lpar.DoesNotExist:
        raise Http404(f"No LPAR {lpar}") from None
    connection = selectors.connection_of(found)
    form = LparConnectionForm(request.POST or None, connection=connection)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                lpar_connection_save(
                    actor=request.user,
                    lpar=found,
                    fields=form.connection_fields(),
                    password=form.new_password(),
                    ssh_key=form.new_ssh_key(),
                )
            except ValidationError as error:
                attach_errors(form, error)
            else:
                messages.success(request, f"Connection to {found.name} saved.")
                return after_post(request, reverse("fleet:connections"))
        status = 422
    context = {
        "section": "connections",
        "lpar": found,
        "connection": connection,
        "form": form,
        "zert_runs": zert_runs_of(connection),
    }
    return render_page(request, "fleet/connection_form.html", context, status=status)


# --- my services ----------------------------------------------------------------------------------


@requires(Capability.VIEW_OWN_SERVICES, ESTATE)
@require_GET
def my_services(request: HttpRequest) -> HttpResponse:
    window = request.GET.get("window", "24h")
    if window not in presenters.WINDOWS:
        window = "24h"
    page = _page(request, service_status.visible_services(user=request.user))
    statuses = service_status.service_statuses(page.object_list, window=window)
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status.badge.key] = counts.get(status.badge.key, 0) + 1
    context = {
        "section": "my-services",
        "page": page,
        "statuses": statuses,
        "window": window,
        "windows": {"24h": "last 24 hours", "7d": "last 7 days"},
        "query": _query_without_page(request),
        "sees_estate": has_capability(request.user, ESTATE),
        "counts": [
            (presenters.SERVICE_BADGES[key], counts[key])
            for key in presenters.SERVICE_BADGES
            if key in counts
        ],
    }
    return render_page(request, "fleet/my_services.html", context, partials=("service-cards",))
