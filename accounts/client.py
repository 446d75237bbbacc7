"""The address a request comes from, as every limit and the audit log count it.

One rule, DRF's: with `NUM_PROXIES` = 0 (the default) it is the peer of the TCP connection
(REMOTE_ADDR) and X-Forwarded-For is ignored, since any client can send that header. Behind
N proxies of our own it is the N-th address from the right of X-Forwarded-For: each proxy
appends the address it received the request from, so addresses a client put on the left
cannot move it. The sign-in lock-out (django-axes), the API throttles and the audit log all
ask here, so that they always agree on who the client is.
"""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import BaseThrottle


def client_address(request: Any) -> str:
    """The client's address for a Django or DRF request (see the module's docstring)."""
    # BaseThrottle.get_ident reads REST_FRAMEWORK["NUM_PROXIES"], which settings set from
    # the one NUM_PROXIES value; it needs nothing of a throttle but the request.
    address = BaseThrottle().get_ident(request)
    return "" if address is None else str(address)  # None: a request made in code, no peer
