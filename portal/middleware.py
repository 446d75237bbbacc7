"""Headers on every answer: Content-Security-Policy, and no-store for signed-in users.

Content-Security-Policy: the browser runs only scripts and styles served by us.

Django 5.2 has no built-in CSP. htmx and our CSS are vendored under static/, so
'self' is all a page needs; no inline script or style, no eval (base.html turns
off htmx's inline indicator styles and eval for the same reason).
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Django's DEBUG error pages are built from inline styles and scripts;
        # leave them readable on a developer's machine.
        if settings.DEBUG and response.status_code >= 400:
            return response
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response


class NoStoreForSignedInMiddleware:
    """`Cache-Control: no-store` on every answer to a signed-in user.

    Pages, API answers and downloads show designs, credentials' states and evidence: neither a
    shared proxy nor the browser's disk (nor its back button after logging out) may keep
    them. `private` says the same to caches that predate no-store. A signed-in user is one
    the session or an API token authenticated (DRF sets the user on the Django request too).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            patch_cache_control(response, no_store=True, private=True)
        return response
