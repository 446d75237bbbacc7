"""View guards: sign-in required, then a capability; anything else is 403, nothing done."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from accounts.roles import Capability, has_capability

View = Callable[..., HttpResponse]


def requires(*capabilities: Capability) -> Callable[[View], View]:
    """The user must be signed in and hold any one of `capabilities`."""

    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not any(has_capability(request.user, c) for c in capabilities):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        guarded.required_capabilities = capabilities  # type: ignore[attr-defined]
        return login_required(guarded)

    return decorate
