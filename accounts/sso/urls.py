"""Single sign-on with OpenID Connect: /oidc/start/ and /oidc/callback/ (the redirect URI to
register with the provider). Both send to the login page, with a message, when OIDC is off."""

from django.urls import path

from accounts.sso import oidc

app_name = "sso"

urlpatterns = [
    path("start/", oidc.oidc_start, name="oidc-start"),
    path("callback/", oidc.oidc_callback, name="oidc-callback"),
]
