import hmac
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.decorators import requires
from accounts.roles import Capability, has_capability
from fleet import service_status
from portal import exports, health, metrics, search
from portal.dashboard import estate_summary
from portal.htmx import render_page


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The fleet overview for those who see the estate; an app owner's services otherwise."""
    context: dict[str, Any] = {"sees_estate": has_capability(request.user, Capability.VIEW_ESTATE)}
    if context["sees_estate"]:
        # The same for everyone who sees the estate: rendered once per state of the estate.
        summary = estate_summary(user=request.user)
        context["estate"] = summary.html
        context.update(summary.context or {})  # the statuses, when computed for this view
    elif has_capability(request.user, Capability.VIEW_OWN_SERVICES):
        services = service_status.service_statuses(
            service_status.visible_services(user=request.user), details=False
        )
        context["my_services"] = services
    return render_page(request, "portal/dashboard.html", context, partials=("fleet-summary",))


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """For the load balancer: 200 when this host can serve and the back end works, else 503.
    No sign-in (a balancer has none); the answer names checks, never hosts or secrets."""
    healthy, body = health.health()
    return JsonResponse(body, status=200 if healthy else 503)


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics for a scraper holding OPS_METRICS_TOKEN; off (404) without one."""
    expected: str = settings.OPS_METRICS_TOKEN
    if not expected:
        raise Http404("metrics are off: OPS_METRICS_TOKEN is not set")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        response = HttpResponse("a bearer token is required\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        return HttpResponse("this token may not read the metrics\n", status=403)
    return HttpResponse(metrics.render_metrics(), content_type=metrics.CONTENT_TYPE)


def _exports_for(user: Any) -> list[exports.Export]:
    return [
        export
        for export in exports.EXPORTS.values()
        if any(has_capability(user, c) for c in export.capabilities)
    ]


@login_required
@require_GET
def export_index(request: HttpRequest) -> HttpResponse:
    """The exports the user may download, each in CSV and JSON."""
    available = _exports_for(request.user)
    if not available:
        raise PermissionDenied
    return render(
        request,
        "portal/exports.html",
        {"exports": available, "section": "exports", "max_days": settings.OPS_EXPORT_MAX_DAYS},
    )


@login_required
@require_GET
def export_download(request: HttpRequest, fmt: str, name: str) -> HttpResponse:
    """One export, streamed; rows cut to the caller by the export's selector."""
    export = exports.EXPORTS.get(name)
    if export is None or fmt not in exports.FORMATS:
        raise Http404("no such export")
    if export not in _exports_for(request.user):
        raise PermissionDenied
    try:
        rows = exports.export_rows(export=export, user=request.user, params=request.GET)
    except exports.ExportRefused as refused:
        return HttpResponse(f"{refused}\n", status=400, content_type="text/plain; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    if fmt == "csv":
        body, content_type = exports.stream_csv(export, rows), "text/csv; charset=utf-8"
    else:
        body, content_type = exports.stream_json(export, rows), "application/json"
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="attls-{name}-{stamp}.{fmt}"'
    return response


@requires(Capability.VIEW_ESTATE, Capability.VIEW_OWN_SERVICES)
@require_GET
def search_view(request: HttpRequest) -> HttpResponse:
    """One box over services, rules, shared objects, LPARs, peers and certificates."""
    results = search.search_for(user=request.user, query=request.GET.get("q", ""))
    return render(
        request,
        "portal/search.html",
        {"results": results, "min_length": search.MIN_LENGTH, "limit": search.LIMIT},
    )
