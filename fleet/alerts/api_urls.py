"""The alerts API under /api/alerts/."""

from rest_framework.routers import SimpleRouter

from fleet.alerts import api

app_name = "alerts-api"

router = SimpleRouter()
router.register("channels", api.ChannelViewSet, basename="channel")
router.register("deliveries", api.DeliveryViewSet, basename="delivery")

urlpatterns = router.urls
