"""Sign-in lock-outs (django-axes): into the audit log, and the page a locked-out person sees.

The lock-out itself is axes' (settings: AXES_*, from AUTH_LOCKOUT_FAILURES and
AUTH_LOCKOUT_MINUTES): failures are counted per username and client address together, and
per address alone (accounts.client), in the database, so every web process and host counts
the same failures. A pair is locked at AUTH_LOCKOUT_FAILURES, an address at the higher
AUTH_LOCKOUT_ADDRESS_FAILURES (LockoutHandler).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.client import client_address
from accounts.events import account_event_send


class LockoutHandler(AxesDatabaseHandler):  # type: ignore[misc]
    """axes' database handler with a limit per lock-out parameter.

    axes compares the largest count of its parameters with one limit (AXES_FAILURE_LIMIT).
    Here the (username, address) pair is held to that limit and the address alone to
    AUTH_LOCKOUT_ADDRESS_FAILURES: the count axes sees is the pair's, raised to the limit
    once the address has reached its own.
    """

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        pair, address = (
            attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        if address >= settings.AUTH_LOCKOUT_ADDRESS_FAILURES:
            return max(int(pair), settings.AXES_FAILURE_LIMIT)
        return int(pair)


def lockout_minutes() -> int:
    cool_off = get_cool_off()
    return int(cool_off.total_seconds() // 60) if cool_off else 0


def record_lockout(sender: Any, request: Any, username: str | None, **kwargs: Any) -> None:
    """axes' user_locked_out: one audit entry when a lock-out starts.

    axes also sends the signal for each attempt refused while the lock-out lasts; those are
    already in the log as refused sign-ins. A lock-out starts on the failure that reaches
    the limit, the only time axes has just counted the failures (axes_failures_since_start).
    """
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None:
        return
    name = (username or "")[:150]
    address = client_address(request)
    until = timezone.now() + (get_cool_off() or timedelta(0))
    user = User.objects.filter(username=name).only("pk").first() if name else None
    account_event_send(
        actor=name or "anonymous",
        action="sign-in lock-out",
        username=name,
        user_id=user.pk if user else "",
        summary=(
            f"sign-in locked for {name!r} and address {address} after {failures} failed"
            f" attempts, until {until:%Y-%m-%d %H:%M} UTC"
        ),
        data={
            "address": address,
            "failures": failures,
            "limit": settings.AXES_FAILURE_LIMIT,
            "until": until.isoformat(),
            "path": getattr(request, "path", ""),
        },
    )


def locked_out(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: what the login form answers while a lock-out lasts (429)."""
    response = render(
        request,
        "registration/locked_out.html",
        {"minutes": lockout_minutes(), "failures": settings.AXES_FAILURE_LIMIT},
        status=429,
    )
    response["Retry-After"] = str(lockout_minutes() * 60)
    return response
