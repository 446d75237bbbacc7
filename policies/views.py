"""The designer: services, shared objects, stack policies and versions, tester, import.

Views authorise, parse, call a service or selector and render. Each page is one template;
an htmx request that targets one of its named partials (by the id in HX-Target) gets
that partial only, anything else (a boosted navigation, a history restore, a plain
browser) the whole page. A successful htmx POST answers with HX-Location.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import requires
from accounts.roles import Capability, has_capability
from attls.errors import PolicySyntaxError
from attls.matching import Connection
from policies import diffs, presenters, selectors, services, tester
from policies.forms import (
    ADVANCED_FIELDS,
    PROTOCOL_FIELDS,
    REVOCATION_FIELDS,
    SIGNATURE_FIELDS,
    BulkAssignForm,
    ConnectionTestForm,
    ImportApplyForm,
    ImportForm,
    PublishForm,
    ServiceFilterForm,
    ServiceForm,
    SharedObjectForm,
    VersionDiffForm,
    attach_errors,
    shared_object_form,
)
from policies.importing import ImportRefused, import_apply, import_preview
from policies.kinds import kind_named
from policies.models import ChangeRecord, PolicyVersion, Service, Stack
from policies.preview import ObjectPreview, shared_object_preview
from portal.htmx import after_post, render_page

PAGE_SIZE = 50
VIEWERS = (Capability.VIEW_ESTATE, Capability.VIEW_OWN_SERVICES)


def _can(request: HttpRequest, capability: Capability) -> bool:
    return has_capability(request.user, capability)


@requires(*VIEWERS)
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return redirect("policies:service-list")


# --- services ----------------------------------------------------------------------------------


def _service_table_context(request: HttpRequest, params: Any) -> dict[str, Any]:
    visible = selectors.service_list_for(user=request.user)
    lpars, teams = presenters.filter_choices(visible)
    filter_form = ServiceFilterForm(params, lpars=lpars, teams=teams)
    filtered = filter_form.filters().apply(visible)
    page = Paginator(filtered, PAGE_SIZE).get_page(params.get("page"))
    query = params.copy()
    query.pop("page", None)
    for key in ("services", "group_action", "environment_action", "connection_action"):
        query.pop(key, None)
    query.pop("clear_connection_action", None)
    query.pop("csrfmiddlewaretoken", None)
    return {
        "section": "services",
        "filter_form": filter_form,
        "page": page,
        "query": query.urlencode(),
        "filtered": any(filter_form.filters().__dict__.values()),
        "can_edit": _can(request, Capability.EDIT_DESIGN),
        "can_see_estate": _can(request, Capability.VIEW_ESTATE),
    }


@requires(*VIEWERS)
@require_GET
def service_list(request: HttpRequest) -> HttpResponse:
    context = _service_table_context(request, request.GET)
    if context["can_edit"]:
        context["assign_form"] = BulkAssignForm(
            services=selectors.service_list_for(user=request.user)
        )
    return render_page(request, "policies/service_list.html", context, partials=("service-table",))


@requires(Capability.EDIT_DESIGN)
@require_POST
def service_assign(request: HttpRequest) -> HttpResponse:
    form = BulkAssignForm(request.POST, services=selectors.service_list_for(user=request.user))
    status = 200
    if form.is_valid():
        count = services.services_assign(
            actor=request.user,
            services=form.cleaned_data["services"],
            group_action=form.cleaned_data["group_action"],
            environment_action=form.cleaned_data["environment_action"],
            connection_action=form.cleaned_data["connection_action"],
            clear_connection_action=form.cleaned_data["clear_connection_action"],
        )
        result = ("ok", f"Assigned to {count} service(s).")
    else:
        status = 422
        errors = [e for field_errors in form.errors.values() for e in field_errors]
        result = ("fail", " ".join(errors))
    context = _service_table_context(request, request.POST)
    if not request.htmx:
        (messages.success if status == 200 else messages.error)(request, result[1])
        return redirect(f"{reverse('policies:service-list')}?{context['query']}")
    context["assign_result"] = result
    return render(request, "policies/service_list.html#service-table", context, status=status)


@requires(*VIEWERS)
@require_GET
def service_detail(request: HttpRequest, uuid: str) -> HttpResponse:
    service = presenters.visible_service(user=request.user, uuid=uuid)
    context = {
        "section": "services",
        "service": service,
        "rule": service.rule,
        "owners": list(service.owners.order_by("username")),
        "policy": presenters.service_policy(service),
        "changes": ChangeRecord.objects.filter(object_uuid=service.uuid).select_related("actor")[
            :10
        ],
        "can_edit": _can(request, Capability.EDIT_DESIGN),
        "can_see_estate": _can(request, Capability.VIEW_ESTATE),
    }
    return render_page(request, "policies/service_detail.html", context)


def _service_form_page(
    request: HttpRequest,
    form: ServiceForm,
    *,
    service: Service | None,
    status: int = 200,
    conflict: services.StaleEdit | None = None,
    differences: list[diffs.Difference] | None = None,
) -> HttpResponse:
    context = {
        "section": "services",
        "form": form,
        "service": service,
        "conflict": conflict,
        "differences": differences or [],
    }
    return render_page(request, "policies/service_form.html", context, status=status)


@requires(Capability.EDIT_DESIGN)
@require_http_methods(["GET", "POST"])
def service_create(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _service_form_page(request, ServiceForm(), service=None)
    form = ServiceForm(request.POST)
    if form.is_valid():
        try:
            service = services.service_create(actor=request.user, fields=form.service_fields())
        except ValidationError as error:
            attach_errors(form, error)
        else:
            messages.success(request, f"Service {service.name} created.")
            return after_post(request, reverse("policies:service-detail", args=[service.uuid]))
    return _service_form_page(request, form, service=None, status=422)


@requires(Capability.EDIT_DESIGN)
@require_http_methods(["GET", "POST"])
def service_edit(request: HttpRequest, uuid: str) -> HttpResponse:
    service = get_object_or_404(Service.objects.select_related("rule", "stack__lpar"), uuid=uuid)
    if request.method != "POST":
        return _service_form_page(request, ServiceForm(instance=service), service=service)
    form = ServiceForm(request.POST, instance=service)
    if form.is_valid():
        try:
            saved = services.service_update(
                actor=request.user,
                service=service,
                fields=form.service_fields(),
                expected_revision=form.cleaned_data["revision"],
            )
        except services.StaleEdit as stale:
            current = Service.objects.select_related("rule").get(pk=service.pk)
            return _service_form_page(
                request,
                form,
                service=current,
                status=409,
                conflict=stale,
                differences=diffs.form_differences(form, ServiceForm(instance=current)),
            )
        except ValidationError as error:
            attach_errors(form, error)
        else:
            messages.success(request, f"Service {saved.name} saved (revision {saved.revision}).")
            return after_post(request, reverse("policies:service-detail", args=[saved.uuid]))
    return _service_form_page(request, form, service=service, status=422)


# --- shared objects -------------------------------------------------------------------------------


def _shared_object(kind: str, uuid: str) -> Model:
    model = kind_named(kind).model
    return get_object_or_404(model, uuid=uuid)


@requires(Capability.VIEW_ESTATE)
@require_GET
def object_list(request: HttpRequest) -> HttpResponse:
    context = {
        "section": "objects",
        "groups": presenters.shared_object_groups(),
        "can_edit": _can(request, Capability.EDIT_DESIGN),
    }
    return render_page(request, "policies/object_list.html", context)


@requires(Capability.VIEW_ESTATE)
@require_GET
def object_detail(request: HttpRequest, kind: str, uuid: str) -> HttpResponse:
    obj = _shared_object(kind, uuid)
    form = shared_object_form(kind)(instance=obj)
    context = {
        "section": "objects",
        "kind": kind,
        "kind_label": kind_named(kind).label,
        "statement_type": kind_named(kind).statement,
        "obj": obj,
        # As the audit log names it (policies.changes): the model's name.
        "object_type": type(obj).__name__,
        "attributes": presenters.object_attributes(form),
        "suites": presenters.cipher_rows(obj.suites) if kind == "cipher-set" else None,
        "usage": presenters.rules_using(obj),
        "statement": presenters.object_statement(obj),
        "changes": ChangeRecord.objects.filter(object_uuid=obj.uuid).select_related("actor")[:10],
        "can_edit": _can(request, Capability.EDIT_DESIGN),
    }
    return render_page(request, "policies/object_detail.html", context)


def _object_form_page(
    request: HttpRequest,
    kind: str,
    form: SharedObjectForm,
    *,
    obj: Model | None,
    preview: ObjectPreview | None,
    status: int = 200,
    conflict: services.StaleEdit | None = None,
    differences: list[diffs.Difference] | None = None,
) -> HttpResponse:
    suites = presenters.cipher_rows(form["suites"].value() or []) if kind == "cipher-set" else []
    context = {
        "section": "objects",
        "kind": kind,
        "kind_label": kind_named(kind).label,
        "statement_type": kind_named(kind).statement,
        "obj": obj,
        "form": form,
        "main_fields": [
            form[name]
            for name in form.fields
            if name
            not in (
                *PROTOCOL_FIELDS,
                *ADVANCED_FIELDS,
                *SIGNATURE_FIELDS,
                *REVOCATION_FIELDS,
                "revision",
                "suites",
            )
        ],
        "protocol_fields": [form[name] for name in PROTOCOL_FIELDS if name in form.fields],
        "advanced_fields": [form[name] for name in ADVANCED_FIELDS if name in form.fields],
        "signature_fields": [form[name] for name in SIGNATURE_FIELDS if name in form.fields],
        "revocation_fields": [form[name] for name in REVOCATION_FIELDS if name in form.fields],
        "suites": suites,
        "suites_selected": [row for row in suites if row.selected],
        "suites_available": [row for row in suites if not row.selected],
        "preview": preview,
        "conflict": conflict,
        "differences": differences or [],
    }
    return render_page(request, "policies/object_form.html", context, status=status)


@requires(Capability.EDIT_DESIGN)
@require_http_methods(["GET", "POST"])
def object_create(request: HttpRequest, kind: str) -> HttpResponse:
    model = kind_named(kind).model
    form_class = shared_object_form(kind)
    if request.method != "POST":
        return _object_form_page(request, kind, form_class(), obj=None, preview=None)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            obj = services.shared_object_create(
                actor=request.user, model=model, fields=form.object_fields()
            )
        except ValidationError as error:
            attach_errors(form, error)
        else:
            messages.success(request, f"{kind_named(kind).statement} {obj} created.")
            return after_post(request, reverse("policies:object-detail", args=[kind, obj.uuid]))
    return _object_form_page(request, kind, form, obj=None, preview=None, status=422)


@requires(Capability.EDIT_DESIGN)
@require_http_methods(["GET", "POST"])
def object_edit(request: HttpRequest, kind: str, uuid: str) -> HttpResponse:
    obj = _shared_object(kind, uuid)
    form_class = shared_object_form(kind)
    if request.method != "POST":
        preview = shared_object_preview(original=obj, edited=obj)
        return _object_form_page(request, kind, form_class(instance=obj), obj=obj, preview=preview)
    # The form works on a copy, so `obj` stays as stored for the preview and the conflict.
    form = form_class(request.POST, instance=type(obj).objects.get(pk=obj.pk))
    if form.is_valid():
        try:
            saved = services.shared_object_update(
                actor=request.user,
                obj=obj,
                fields=form.object_fields(),
                expected_revision=form.cleaned_data["revision"],
            )
        except services.StaleEdit as stale:
            current = type(obj).objects.get(pk=obj.pk)
            return _object_form_page(
                request,
                kind,
                form,
                obj=current,
                preview=None,
                status=409,
                conflict=stale,
                differences=diffs.form_differences(form, form_class(instance=current)),
            )
        except ValidationError as error:
            attach_errors(form, error)
        else:
            messages.success(request, f"{saved} saved (revision {saved.revision}).")
            return after_post(request, reverse("policies:object-detail", args=[kind, saved.uuid]))
    return _object_form_page(request, kind, form, obj=obj, preview=None, status=422)


@requires(Capability.EDIT_DESIGN)
@require_POST
def object_preview(request: HttpRequest, kind: str, uuid: str) -> HttpResponse:
    """The policy of the stacks using the object, with the unsaved form applied. Saves nothing."""
    obj = _shared_object(kind, uuid)
    form = shared_object_form(kind)(request.POST, instance=type(obj).objects.get(pk=obj.pk))
    preview = None
    if form.is_valid():
        preview = shared_object_preview(original=obj, edited=form.instance)
    context = {"kind": kind, "obj": obj, "form": form, "preview": preview, "oob": True}
    return render(request, "policies/object_form.html#preview", context)


# --- stacks, versions, publication ----------------------------------------------------------------


def _stack(lpar: str, stack: str) -> Stack:
    return get_object_or_404(Stack.objects.select_related("lpar"), lpar__name=lpar, name=stack)


def _version(stack: Stack, number: int) -> PolicyVersion:
    return get_object_or_404(
        PolicyVersion.objects.select_related("author", "stack__lpar", "parent"),
        stack=stack,
        number=number,
    )


@requires(Capability.VIEW_ESTATE)
@require_GET
def stack_list(request: HttpRequest) -> HttpResponse:
    context = {"section": "stacks", "stacks": presenters.stack_rows()}
    return render_page(request, "policies/stack_list.html", context)


def _stack_page(
    request: HttpRequest,
    stack: Stack,
    *,
    form: PublishForm | None = None,
    refused: services.PublishRefused | None = None,
    status: int = 200,
) -> HttpResponse:
    draft = services.stack_draft(stack=stack)
    diff, omitted = diffs.truncated(diffs.draft_diff(draft))
    context = {
        "section": "stacks",
        "stack": stack,
        "draft": draft,
        "diff": diff,
        "omitted": omitted,
        "stats": diffs.diff_stats(diff),
        "listing": diffs.listing(draft.text),
        "services": presenters.service_uuids(stack),
        "findings": presenters.finding_rows(draft.findings),
        "counts": presenters.severity_counts(draft.findings),
        "versions": list(selectors.versions_of(stack=stack)[:5]),
        "can_publish": _can(request, Capability.PUBLISH),
        "publish_form": form or PublishForm(),
        "refused": refused,
        "refused_findings": presenters.finding_rows(refused.findings) if refused else [],
    }
    return render_page(
        request, "policies/stack_detail.html", context, partials=("publish",), status=status
    )


@requires(Capability.VIEW_ESTATE)
@require_GET
def stack_detail(request: HttpRequest, lpar: str, stack: str) -> HttpResponse:
    return _stack_page(request, _stack(lpar, stack))


@requires(Capability.PUBLISH)
@require_POST
def stack_publish(request: HttpRequest, lpar: str, stack: str) -> HttpResponse:
    the_stack = _stack(lpar, stack)
    form = PublishForm(request.POST)
    if not form.is_valid():
        return _stack_page(request, the_stack, form=form, status=422)
    try:
        version = services.policy_version_publish(
            stack=the_stack,
            actor=request.user,
            note=form.cleaned_data["note"],
            acknowledge_warnings=form.cleaned_data["acknowledge_warnings"],
        )
    except services.PublishRefused as refused:
        return _stack_page(request, the_stack, form=form, refused=refused, status=422)
    messages.success(request, f"Published {the_stack.label} v{version.number}.")
    return after_post(
        request,
        reverse("policies:version-detail", args=[lpar, stack, version.number]),
    )


@requires(Capability.VIEW_ESTATE)
@require_GET
def version_list(request: HttpRequest, lpar: str, stack: str) -> HttpResponse:
    the_stack = _stack(lpar, stack)
    versions = list(selectors.versions_of(stack=the_stack))
    numbers = [v.number for v in versions]
    by_number = {v.number: v for v in versions}
    form = VersionDiffForm(request.GET or None, numbers=numbers)
    older = newer = None
    if form.is_bound and form.is_valid():
        older = by_number[form.cleaned_data["older"]]
        newer = by_number[form.cleaned_data["newer"]]
    elif versions:
        newer = versions[0]
        older = by_number.get(newer.number - 1)
        form = VersionDiffForm(
            initial={"older": older.number if older else newer.number, "newer": newer.number},
            numbers=numbers,
        )
    diff = diffs.versions_diff(older, newer) if newer is not None else []
    if older is not None and newer is not None and older.number == newer.number:
        diff = []
    diff, omitted = diffs.truncated(diff)
    context = {
        "section": "stacks",
        "stack": the_stack,
        "versions": versions,
        "form": form,
        "older": older,
        "newer": newer,
        "diff": diff,
        "omitted": omitted,
    }
    return render_page(request, "policies/version_list.html", context, partials=("version-diff",))


@requires(Capability.VIEW_ESTATE)
@require_GET
def version_detail(request: HttpRequest, lpar: str, stack: str, number: int) -> HttpResponse:
    the_stack = _stack(lpar, stack)
    version = _version(the_stack, number)
    diff, omitted = diffs.truncated(diffs.versions_diff(version.parent, version))
    context = {
        "section": "stacks",
        "stack": the_stack,
        "version": version,
        "diff": diff,
        "omitted": omitted,
        "listing": diffs.listing(version.text),
        "services": presenters.service_uuids(the_stack),
        "lint": version.lint,
        "is_latest": not the_stack.versions.filter(number__gt=number).exists(),
    }
    return render_page(request, "policies/version_detail.html", context)


@requires(Capability.VIEW_ESTATE)
@require_GET
def version_download(request: HttpRequest, lpar: str, stack: str, number: int) -> HttpResponse:
    version = _version(_stack(lpar, stack), number)
    response = HttpResponse(version.text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{presenters.version_filename(version)}"'
    )
    response["X-Policy-SHA256"] = version.sha256
    return response


# --- which rule would this connection hit? --------------------------------------------------------


@requires(Capability.VIEW_ESTATE)
@require_GET
def stack_tester(request: HttpRequest, lpar: str, stack: str) -> HttpResponse:
    the_stack = _stack(lpar, stack)
    versions = list(selectors.versions_of(stack=the_stack))
    form = ConnectionTestForm(request.GET or None, versions=versions)
    result = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        choice = data["policy"] or "draft"
        if choice == "draft":
            policy = services.stack_draft(stack=the_stack).policy
            source = "the draft"
        else:
            version = next(v for v in versions if f"v{v.number}" == choice)
            policy = tester.version_policy(version)
            source = f"published v{version.number}"
        connection = Connection(
            local_addr=data["local_address"] or "0.0.0.0",
            local_port=data["local_port"],
            remote_addr=data["remote_address"],
            remote_port=data["remote_port"],
            jobname=data["jobname"] or None,
            userid=data["userid"] or None,
            direction=data["direction"],
        )
        result = tester.connection_test(policy, connection, source=source)
    context = {
        "section": "stacks",
        "stack": the_stack,
        "form": form,
        "result": result,
        "services": presenters.service_uuids(the_stack),
    }
    return render_page(request, "policies/tester.html", context, partials=("tester-result",))


# --- import ---------------------------------------------------------------------------------------


def _import_page(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    context = {"section": "import", **context}
    report = context.get("report")
    if report is not None:
        context["findings"] = presenters.finding_rows(report.findings)
        context["counts"] = presenters.severity_counts(report.findings)
    return render_page(request, "policies/import.html", context, status=status)


@requires(Capability.EDIT_DESIGN)
@require_http_methods(["GET", "POST"])
def import_policy(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _import_page(request, {"form": ImportForm()})
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _import_page(request, {"form": form}, status=422)
    stack, text = form.cleaned_data["stack"], form.cleaned_data["text"]
    try:
        report = import_preview(stack=stack, text=text)
    except PolicySyntaxError as error:
        return _import_page(
            request,
            {
                "form": form,
                "syntax_error": error,
                "listing": presenters.syntax_listing(text, error.problems),
            },
            status=422,
        )
    apply_form = ImportApplyForm(
        initial={"stack": stack.uuid, "text": text, "sha256": report.sha256}
    )
    return _import_page(request, {"form": form, "report": report, "apply_form": apply_form})


@requires(Capability.EDIT_DESIGN)
@require_POST
def import_confirm(request: HttpRequest) -> HttpResponse:
    form = ImportApplyForm(request.POST)
    if not form.is_valid():
        # What was previewed stays in the form, to preview it again.
        previewed = ImportForm(
            initial={"stack": request.POST.get("stack"), "text": request.POST.get("text", "")}
        )
        return _import_page(request, {"form": previewed, "apply_errors": form.errors}, status=422)
    stack, text = form.cleaned_data["stack"], form.cleaned_data["text"]
    try:
        report = import_apply(
            actor=request.user, stack=stack, text=text, sha256=form.cleaned_data["sha256"]
        )
    except ImportRefused as refused:
        context = {
            "form": ImportForm(initial={"stack": stack.uuid, "text": text}),
            "refused": refused,
            "report": refused.report,
        }
        return _import_page(request, context, status=409)
    except PolicySyntaxError as error:
        context = {
            "form": ImportForm(initial={"stack": stack.uuid, "text": text}),
            "syntax_error": error,
            "listing": presenters.syntax_listing(text, error.problems),
        }
        return _import_page(request, context, status=422)
    created = sum(1 for item in report.items if item.status == "new")
    messages.success(request, f"Imported into {stack.label}: {created} new object(s) and rule(s).")
    return after_post(request, reverse("policies:stack-detail", args=[stack.lpar.name, stack.name]))
