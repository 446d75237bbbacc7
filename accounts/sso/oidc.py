"""Sign-in through an OpenID Connect provider (mozilla-django-oidc), when OIDC_ISSUER is set.

The authorization code flow: /oidc/start/ sends the browser to the provider with a state and
a nonce; the provider sends it back to /oidc/callback/ with a code, which the backend trades
at the token endpoint for an ID token (RS256, verified against the provider's JWKS) and an
access token for the userinfo endpoint. The endpoints come from the provider's discovery
document (OpenID Connect Discovery 1.0) unless set one by one.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from accounts import services
from accounts.events import account_event_send
from accounts.identity import DirectoryAccount
from accounts.models import IdentitySource

logger = logging.getLogger(__name__)

# mozilla-django-oidc's setting -> the discovery document's member (Discovery 1.0, section 3).
_DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}


class ProviderUnavailable(Exception):
    """The provider's discovery document could not be had, or names another issuer."""


@functools.lru_cache(maxsize=8)
def _discover(issuer: str) -> dict[str, Any]:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT, verify=settings.OIDC_VERIFY_SSL)
        response.raise_for_status()
        metadata: dict[str, Any] = response.json()
    except (requests.RequestException, ValueError) as error:
        raise ProviderUnavailable(f"discovery at {url} failed: {error}") from error
    # Discovery 1.0, section 4.3: the issuer in the document must be the one asked for, or
    # a document served elsewhere could redirect sign-in to another provider.
    if metadata.get("issuer") != issuer:
        raise ProviderUnavailable(
            f"discovery at {url} names issuer {metadata.get('issuer')!r}, not {issuer!r}"
        )
    return metadata


def oidc_setting(name: str, *default: Any) -> Any:
    """mozilla-django-oidc's settings, with the provider's endpoints from discovery unless
    OIDC_OP_* set them. Looked up when used, so a provider down at start-up does not stop
    the portal (local sign-in still works) and the next attempt tries again (a failed
    discovery is not cached; a good one is kept for the life of the process: the JWKS, where
    keys rotate, is fetched at every sign-in)."""
    if name in _DISCOVERED and not getattr(settings, name, ""):
        return _discover(settings.OIDC_ISSUER)[_DISCOVERED[name]]
    return import_from_settings(name, *default)


def _groups(value: Any) -> tuple[str, ...]:
    """The groups claim: a JSON array of strings (or one string); anything else gives none."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str))
    return ()


class _LazyEndpoints:
    """mozilla-django-oidc reads its settings in __init__; these read them when used."""

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:
        return str(oidc_setting("OIDC_OP_TOKEN_ENDPOINT"))

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str:
        return str(oidc_setting("OIDC_OP_USER_ENDPOINT"))

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:
        return str(oidc_setting("OIDC_OP_JWKS_ENDPOINT"))

    @property
    def OIDC_OP_AUTH_ENDPOINT(self) -> str:
        return str(oidc_setting("OIDC_OP_AUTHORIZATION_ENDPOINT"))


class OidcBackend(_LazyEndpoints, OIDCAuthenticationBackend):  # type: ignore[misc]
    """A person the provider vouches for signs in as the portal user of their identity (the
    issuer and `sub`), with roles and services from the directory-group mapping."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Django builds a backend for every request of a signed-in user (get_user): nothing
        # here may reach the provider.
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.UserModel = get_user_model()

    def retrieve_matching_jwk(self, token: str) -> Any:
        # OpenID Connect Core 1.0, 10.1: the `kid` header is required only when the JWKS holds
        # several keys; mozilla-django-oidc fails (KeyError) on a token without one. Then the
        # key is the JWKS's one signing key for the token's algorithm, or the token is refused.
        header = jwt.get_unverified_header(token)
        if "kid" in header:
            return super().retrieve_matching_jwk(token)
        response = requests.get(
            self.OIDC_OP_JWKS_ENDPOINT,
            timeout=settings.OIDC_TIMEOUT,
            verify=settings.OIDC_VERIFY_SSL,
        )
        response.raise_for_status()
        keys = [
            key
            for key in response.json().get("keys", [])
            if key.get("use", "sig") == "sig"
            and key.get("alg", header.get("alg")) == header.get("alg")
        ]
        if len(keys) != 1:
            raise SuspiciousOperation(
                "the ID token names no key (kid) and the provider's JWKS does not hold exactly"
                " one signing key for its algorithm"
            )
        return jwt.PyJWK(keys[0])

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        payload: dict[str, Any] = super().verify_token(token, **kwargs)
        # mozilla-django-oidc checks the signature, the expiry and the nonce; OpenID Connect
        # Core 1.0, 3.1.3.7, also wants the issuer to be the provider's and the audience to
        # hold this client, or an ID token issued to another application would be accepted.
        if payload.get("iss") != settings.OIDC_ISSUER:
            raise SuspiciousOperation(f"ID token issued by {payload.get('iss')!r}")
        audience = payload.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token not issued to this portal (aud)")
        return payload

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict[str, Any]) -> Any:
        claims = self.get_userinfo(access_token, id_token, payload)
        # Core 1.0, 5.3.2: the userinfo `sub` must be the ID token's, else it is not about
        # the person who signed in.
        if claims.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("userinfo is about another subject than the ID token")
        merged = {**payload, **claims}
        email = str(merged.get("email") or "")
        username = str(
            merged.get(settings.OIDC_USERNAME_CLAIM) or email.partition("@")[0] or payload["sub"]
        )
        account = DirectoryAccount(
            source=IdentitySource.OIDC,
            issuer=str(payload["iss"]),
            subject=str(payload["sub"]),
            username=username,
            email=email,
            first_name=str(merged.get("given_name") or ""),
            last_name=str(merged.get("family_name") or ""),
            groups=_groups(merged.get(settings.OIDC_GROUPS_CLAIM)),
            person_link=str(merged.get(settings.SSO_PERSON_LINK_OIDC_CLAIM) or ""),
        )
        try:
            return services.directory_user_sign_in(account=account)
        except services.AccountRefused as refused:
            logger.warning("OpenID Connect sign-in of %s refused: %s", account.subject, refused)
            return None

    def get_user(self, user_id: Any) -> Any:
        # A user deactivated in the portal is signed out at their next request, as
        # Django's ModelBackend does for local accounts.
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None


class _StartView(_LazyEndpoints, OIDCAuthenticationRequestView):  # type: ignore[misc]
    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID


def _sign_in_refused(why: str) -> None:
    """A refused OIDC sign-in that Django's user_login_failed does not tell of (that signal is
    sent only when the backend was asked and said no); audits chains it, with the client."""
    account_event_send(
        actor="",
        action="login failed",
        username="",
        summary=f"sign-in with {settings.OIDC_PROVIDER_NAME} refused: {why}"[:500],
        data={"source": IdentitySource.OIDC.value, "reason": why[:200]},
    )


class _CallbackView(OIDCAuthenticationCallbackView):  # type: ignore[misc]
    get_settings = staticmethod(oidc_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            response: HttpResponse = super().get(request)
        except SuspiciousOperation as refused:  # a forged state, a token not for us: a 400
            _sign_in_refused(str(refused))
            raise
        return response

    def login_failure(self) -> HttpResponse:
        if not hasattr(self, "user"):  # the backend was never asked: the provider said no
            error = self.request.GET.get("error")
            _sign_in_refused(
                f"the provider answered {error!r}"
                if error
                else "no sign-in was started from this browser"
            )
        elif self.user is not None:  # the backend accepted a deactivated user
            _sign_in_refused(f"{self.user.get_username()} is deactivated")
        messages.error(
            self.request,
            f"Signing in with {settings.OIDC_PROVIDER_NAME} did not succeed. Try again, or ask"
            " an admin whether your account is deactivated.",
        )
        return redirect("login")


def _unavailable(request: HttpRequest, error: Exception) -> HttpResponse:
    logger.warning("OpenID Connect provider unavailable: %s", error)
    messages.error(
        request,
        f"{settings.OIDC_PROVIDER_NAME} cannot be reached just now; try again later, or sign in"
        " with a local account.",
    )
    return redirect("login")


def _not_configured(request: HttpRequest) -> HttpResponse:
    messages.error(request, "Single sign-on with OpenID Connect is not configured here.")
    return redirect("login")


@require_GET
def oidc_start(request: HttpRequest) -> HttpResponse:
    """Sends the browser to the provider's authorization endpoint."""
    if not settings.OIDC_ENABLED:
        return _not_configured(request)
    try:
        response: HttpResponse = _StartView.as_view()(request)
    except ProviderUnavailable as error:
        return _unavailable(request, error)
    return response


@require_GET
def oidc_callback(request: HttpRequest) -> HttpResponse:
    """Where the provider sends the browser back with a code (or an error)."""
    if not settings.OIDC_ENABLED:
        return _not_configured(request)
    try:
        response: HttpResponse = _CallbackView.as_view()(request)
    except (ProviderUnavailable, requests.RequestException) as error:
        return _unavailable(request, error)
    return response
