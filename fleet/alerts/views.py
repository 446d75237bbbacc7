"""The alert pages: the deliveries (with "retry" for a dead-lettered one) and the admin's
channels."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseLocation

from accounts.decorators import requires
from accounts.roles import Capability, has_capability
from fleet.alerts import selectors
from fleet.alerts.forms import ChannelForm
from fleet.alerts.models import AlertChannel, AlertDelivery, DeliveryStatus
from fleet.alerts.services import alert_delivery_retry, channel_save

PAGE_SIZE = 50
RETRY = (Capability.OPERATE, Capability.MANAGE_USERS)


def _done(request: HttpRequest, url: str) -> HttpResponse:
    if getattr(request, "htmx", None):
        return HttpResponseLocation(url)
    return HttpResponseRedirect(url)


@requires(Capability.VIEW_ESTATE)
@require_GET
def delivery_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in DeliveryStatus.values:
        status = ""
    rows = selectors.delivery_list_for(user=request.user, status=status)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context: dict[str, Any] = {
        "page": page,
        "status": status,
        "statuses": DeliveryStatus.choices,
        "can_retry": any(has_capability(request.user, c) for c in RETRY),
        "can_configure": has_capability(request.user, Capability.MANAGE_USERS),
        "query": f"status={status}" if status else "",
    }
    return render(request, "alerts/delivery_list.html", context)


@requires(*RETRY)
@require_POST
def delivery_retry(request: HttpRequest, delivery: Any) -> HttpResponse:
    try:
        found = selectors.delivery_list_for(user=request.user).get(uuid=delivery)
    except AlertDelivery.DoesNotExist:
        raise Http404("No such delivery") from None
    alert_delivery_retry(delivery=found, actor=request.user)  # type: ignore[arg-type]
    return _done(request, reverse("alerts:deliveries") + "?status=pending")


@requires(Capability.MANAGE_USERS)
@require_GET
def channel_list(request: HttpRequest) -> HttpResponse:
    channels = selectors.channel_list_for(user=request.user)
    return render(request, "alerts/channel_list.html", {"channels": channels})


@requires(Capability.MANAGE_USERS)
@require_http_methods(["GET", "POST"])
def channel_edit(request: HttpRequest, channel: Any = None) -> HttpResponse:
    instance = AlertChannel()
    if channel is not None:
        try:
            instance = selectors.channel_list_for(user=request.user).get(uuid=channel)
        except AlertChannel.DoesNotExist:
            raise Http404("No such channel") from None
    form = ChannelForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        saved = form.save(commit=False)
        saved.kinds = form.cleaned_data["kinds"]
        saved.config = form.config()
        try:
            channel_save(
                channel=saved,
                actor=request.user,  # type: ignore[arg-type]
                secret=form.cleaned_data.get("secret") or None,
                stacks=list(form.cleaned_data["stacks"]),
                services=list(form.cleaned_data["services"]),
            )
        except ValidationError as refused:
            for message in refused.messages:
                form.add_error(None, message)
        else:
            return _done(request, reverse("alerts:channels"))
    return render(
        request,
        "alerts/channel_form.html",
        {"form": form, "channel": instance if instance.pk else None},
        status=400 if request.method == "POST" else 200,
    )
