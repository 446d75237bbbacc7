"""The alert pages, under /alerts/: deliveries by anyone of the estate, channels by admins."""

from django.urls import path

from fleet.alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.delivery_list, name="deliveries"),
    path("deliveries/<uuid:delivery>/retry/", views.delivery_retry, name="delivery-retry"),
    path("channels/", views.channel_list, name="channels"),
    path("channels/new/", views.channel_edit, name="channel-new"),
    path("channels/<uuid:channel>/", views.channel_edit, name="channel"),
]
