"""The API under /api/: the design's resources, the OpenAPI schema and its docs (tokens:
accounts/api/urls.py)."""

from django.contrib.auth.decorators import login_required
from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from policies.api import views

app_name = "policies-api"

router = SimpleRouter()
router.register("lpars", views.LparViewSet, basename="lpar")
router.register("stacks", views.StackViewSet, basename="stack")
router.register("services", views.ServiceViewSet, basename="service")
router.register("rules", views.RuleViewSet, basename="rule")
router.register("keyrings", views.KeyringViewSet, basename="keyring")
router.register("cipher-sets", views.CipherSetViewSet, basename="cipher-set")
router.register("group-actions", views.GroupActionViewSet, basename="group-action")
router.register(
    "environment-actions", views.EnvironmentActionViewSet, basename="environment-action"
)
router.register("connection-actions", views.ConnectionActionViewSet, basename="connection-action")

urlpatterns = [
    *router.urls,
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # A person reads the docs in a browser: send them to the login page, not a 403.
    path(
        "docs/",
        login_required(views.DocsView.as_view(url_name="policies-api:schema")),
        name="docs",
    ),
]
