"""Reads of the alerts. Deliveries are read by the estate roles (operator, auditor,
architect, admin); channels only by admins (they hold endpoints and configuration)."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from accounts.roles import Capability, has_capability
from fleet.alerts.models import AlertChannel, AlertDelivery


def delivery_list_for(*, user: User | AnonymousUser, status: str = "") -> QuerySet[AlertDelivery]:
    if not has_capability(user, Capability.VIEW_ESTATE):
        return AlertDelivery.objects.none()
    rows = AlertDelivery.objects.select_related("event__stack__lpar", "event__service", "channel")
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("-event__created_at", "-id")


def channel_list_for(*, user: User | AnonymousUser) -> QuerySet[AlertChannel]:
    if not has_capability(user, Capability.MANAGE_USERS):
        return AlertChannel.objects.none()
    return AlertChannel.objects.prefetch_related("stacks__lpar", "services")
