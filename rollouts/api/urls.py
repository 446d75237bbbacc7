"""The campaigns API under /api/campaigns/ (its schema is part of /api/schema/)."""

from rest_framework.routers import SimpleRouter

from rollouts.api import views

app_name = "rollouts-api"

router = SimpleRouter()
router.register("steps", views.StepViewSet, basename="step")
router.register("requests", views.ActionRequestViewSet, basename="request")
router.register("", views.CampaignViewSet, basename="campaign")

urlpatterns = router.urls
