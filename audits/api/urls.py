"""The audits API, included by audits/urls.py under /audits/api/ (names `audits:api-...`)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from audits.api import views

router = SimpleRouter()
router.register("packs", views.EvidencePackViewSet, basename="api-pack")

urlpatterns = [
    *router.urls,
    path("verify/", views.VerifyView.as_view(), name="api-verify"),
]
