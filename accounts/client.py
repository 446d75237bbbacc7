"""Who is on the other end: the client's address and user agent, as every limit and the audit
log count them.

The address. The TCP peer (REMOTE_ADDR) is the client, unless the peer is one of our own
proxies, listed in TRUSTED_PROXIES (addresses or networks): then the client is the address
that proxy appended to X-Forwarded-For, the rightmost one. Behind a chain of our proxies the
walk goes on leftwards while the address reached is one of them. An address any client could
have written (everything left of where the walk stops) is never read, so a forged header from
an untrusted peer changes nothing; an entry that is not an IP address stops the walk at the
last trusted hop. The sign-in lock-out (django-axes), the API throttles and the audit log all
ask here, so that they always agree on who the client is.

The request context. ClientContextMiddleware keeps the client of the request being served in a
context variable, so the audit log's writers (policies.changes.change_record and
audits.log.append) record it without each view passing it down. A Celery task started while
serving a request carries it in a message header (portal/celery.py) and runs with it; a task
from beat, a command or the shell runs with none: the system.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework.throttling import ScopedRateThrottle

USER_AGENT_LENGTH = 300  # ChangeRecord.user_agent
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def trusted_proxy_networks(entries: list[str] | tuple[str, ...]) -> tuple[Network, ...]:
    """The networks of TRUSTED_PROXIES; settings call it at start-up so a bad entry fails there."""
    return _networks(tuple(entries))


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client reaching an IPv6 socket arrives as ::ffff:a.b.c.d; count it as a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_address(request: Any) -> str:
    """The client's address for a Django or DRF request (see the module's docstring); "" for a
    request made in code, with no valid peer."""
    meta = request.META
    peer = _address(str(meta.get("REMOTE_ADDR") or ""))
    if peer is None:
        return ""
    trusted = trusted_proxy_networks(settings.TRUSTED_PROXIES)
    hops = str(meta.get("HTTP_X_FORWARDED_FOR") or "").split(",")
    client = peer
    while hops and any(client in network for network in trusted):
        previous = _address(hops.pop())
        if previous is None:
            break  # not an address: no proxy of ours wrote it; the last trusted hop stands
        client = previous
    return str(client)


class ClientScopedRateThrottle(ScopedRateThrottle):
    """DRF's scoped throttle, counting clients by the one rule above."""

    def get_ident(self, request: Any) -> str:
        return client_address(request)


# --- the request context ----------------------------------------------------------------------


@dataclass(frozen=True)
class Client:
    address: str
    user_agent: str

    def as_data(self) -> dict[str, str]:
        return {"address": self.address, "user_agent": self.user_agent}

    @classmethod
    def from_data(cls, data: Any) -> Client | None:
        """A Client from `as_data`'s form (a task's message header); None for anything else."""
        if not isinstance(data, dict):
            return None
        address = _address(str(data.get("address") or ""))
        return cls(
            address=str(address) if address is not None else "",
            user_agent=clean_user_agent(str(data.get("user_agent") or "")),
        )


def clean_user_agent(text: str) -> str:
    # A header is the client's own word: keep it one printable line of bounded length.
    return _CONTROL.sub(" ", text).strip()[:USER_AGENT_LENGTH]


def client_of(request: HttpRequest) -> Client:
    return Client(
        address=client_address(request),
        user_agent=clean_user_agent(str(request.META.get("HTTP_USER_AGENT") or "")),
    )


_current: ContextVar[Client | None] = ContextVar("portal_client", default=None)


def current_client() -> Client | None:
    """The client of the request (or of the request that started the task) being served;
    None when the system acts on its own."""
    return _current.get()


@contextmanager
def client_context(client: Client | None) -> Iterator[None]:
    token = _current.set(client)
    try:
        yield
    finally:
        _current.reset(token)


class ClientContextMiddleware:
    """Serves each request with its client as the current one (see the module's docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with client_context(client_of(request)):
            return self.get_response(request)
