from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.views import SignInView
from portal import exports, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    # Operations (issue 17): the balancer's probe, Prometheus' scrape, exports.
    path("healthz/", views.healthz, name="healthz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("search/", views.search_view, name="search"),
    path("exports/", views.export_index, name="export-index"),
    # One name per export, so that tests/portal/test_role_walk.py declares who may use each.
    *(
        path(
            f"exports/{name}.<str:fmt>",
            views.export_download,
            {"name": name},
            name=f"export-{name}",
        )
        for name in exports.EXPORTS
    ),
    # Local accounts and directory passwords; "Sign in with <provider>" when OIDC is on.
    path("login/", SignInView.as_view(), name="login"),
    # Single sign-on with OpenID Connect (accounts/sso/): start and the provider's callback.
    path("oidc/", include("accounts.sso.urls")),
    # Django's LogoutView accepts POST only (GET answers 405), so a link or an
    # <img> elsewhere cannot log a user out.
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("design/", include("policies.urls")),
    path("fleet/", include("fleet.urls")),
    path("api/fleet/", include("fleet.api.urls")),
    path("campaigns/", include("rollouts.urls")),
    path("api/campaigns/", include("rollouts.api.urls")),
    path("alerts/", include("fleet.alerts.urls")),
    path("api/alerts/", include("fleet.alerts.api_urls")),
    path("audits/", include("audits.urls")),
    path("accounts/", include("accounts.urls")),
    # API tokens first: the design's API shares the /api/ prefix.
    path("api/", include("accounts.api.urls")),
    path("api/", include("policies.api.urls")),
]
