from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse

from accounts.roles import Capability, has_capability
from fleet import overview, service_status
from portal.htmx import render_page


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The fleet overview for those who see the estate; an app owner's services otherwise."""
    stacks = overview.stack_status_list(user=request.user)
    context = {
        "stacks": stacks,
        "totals": overview.fleet_totals(user=request.user, statuses=stacks),
        "sees_estate": has_capability(request.user, Capability.VIEW_ESTATE),
    }
    if not context["sees_estate"] and has_capability(request.user, Capability.VIEW_OWN_SERVICES):
        services = service_status.service_statuses(
            service_status.visible_services(user=request.user), details=False
        )
        context["my_services"] = services
    return render_page(request, "portal/dashboard.html", context, partials=("fleet-summary",))
