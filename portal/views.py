from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from accounts.roles import Capability, has_capability
from fleet import selectors
from fleet.zert import inventory


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The fleet overview for those who see the estate; an app owner's services otherwise."""
    stacks = selectors.stack_status_list(user=request.user)
    context = {
        "stacks": stacks,
        "totals": selectors.fleet_totals(user=request.user, statuses=stacks),
        "sees_estate": has_capability(request.user, Capability.VIEW_ESTATE),
    }
    # Measured from every connection where zERT records exist (the last 30 days), beside the
    # netstat samples: the page names which source each figure comes from.
    zert = inventory.totals_for(user=request.user, filters=inventory.InventoryFilters(days=30))
    context["zert"] = zert if zert.records else None
    if not context["sees_estate"] and has_capability(request.user, Capability.VIEW_OWN_SERVICES):
        services = selectors.service_statuses(
            selectors.visible_services(user=request.user), details=False
        )
        context["my_services"] = services
    name = "portal/dashboard.html"
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.boosted and htmx.target == "fleet-summary":
        name += "#fleet-summary"
    response = render(request, name, context)
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response
