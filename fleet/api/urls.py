"""The fleet API under /api/fleet/ (its schema is part of /api/schema/)."""

from rest_framework.routers import SimpleRouter

from fleet.api import impact, views

app_name = "fleet-api"

router = SimpleRouter()
router.register("stacks", views.StackStatusViewSet, basename="stack")
router.register("deployments", views.DeploymentViewSet, basename="deployment")
router.register("verifications", views.VerificationViewSet, basename="verification")
router.register("drift-events", views.DriftEventViewSet, basename="drift-event")
router.register("certificates", views.CertificateViewSet, basename="certificate")
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("connections", views.LparConnectionViewSet, basename="connection")
router.register("impact/predictions", impact.PredictionViewSet, basename="impact-prediction")
router.register("impact/predict", impact.PredictViewSet, basename="impact-predict")
router.register("my-services", views.MyServicesViewSet, basename="my-service")

urlpatterns = router.urls
