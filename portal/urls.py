from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    # Django's LogoutView accepts POST only (GET answers 405), so a link or an
    # <img> elsewhere cannot log a user out.
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("design/", include("policies.urls")),
    path("fleet/", include("fleet.urls")),
    path("api/fleet/", include("fleet.api.urls")),
    path("alerts/", include("fleet.alerts.urls")),
    path("api/alerts/", include("fleet.alerts.api_urls")),
    path("audits/", include("audits.urls")),
    path("accounts/", include("accounts.urls")),
    # API tokens first: the design's API shares the /api/ prefix.
    path("api/", include("accounts.api.urls")),
    path("api/", include("policies.api.urls")),
]
