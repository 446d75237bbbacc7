"""The traffic inventory page (/fleet/inventory/) and its CSV export."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.decorators import requires
from accounts.roles import Capability
from fleet.selectors import sees_estate
from fleet.zert import inventory
from policies.models import Stack


class _Echo:
    def write(self, value: str) -> str:
        return value


@requires(Capability.VIEW_OWN_SERVICES, Capability.VIEW_ESTATE)
@require_GET
def inventory_page(request: HttpRequest) -> HttpResponse:
    filters = inventory.InventoryFilters.parse(request.GET)
    totals = inventory.totals_for(user=request.user, filters=filters)
    found = inventory.peer_page_for(
        user=request.user, filters=filters, number=request.GET.get("page")
    )
    rows = found.rows
    mixes = inventory.mix_for_peers(
        user=request.user,
        filters=filters,
        keys=[(row["service_key"], row["peer"]) for row in rows],
    )
    for row in rows:
        row["mix"] = mixes.get((row["service_key"], row["peer"]), "")
    estate = sees_estate(request.user)
    context: dict[str, Any] = {
        "section": "inventory",
        "filters": filters,
        "totals": totals,
        "page": found.page,
        "rows": rows,
        "peers": found.peers,
        "cleartext_peers": found.cleartext_peers,
        "query": filters.query,
        "estate": estate,
        "crosscheck": inventory.crosscheck_for(user=request.user) if estate else None,
        "intervals": inventory.intervals_for(user=request.user, filters=filters),
        "stacks": Stack.objects.select_related("lpar").order_by("lpar__name", "name")
        if estate
        else [],
        "protections": inventory.ZertProtection.choices,
    }
    return render(request, "fleet/inventory.html", context)


@requires(Capability.VIEW_OWN_SERVICES, Capability.VIEW_ESTATE)
@require_GET
def inventory_csv(request: HttpRequest) -> StreamingHttpResponse:
    filters = inventory.InventoryFilters.parse(request.GET)
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        for row in inventory.csv_rows(user=request.user, filters=filters):
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="zert-traffic-inventory.csv"'
    return response
