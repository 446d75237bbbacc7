"""The campaign pages, under /campaigns/; one URL name per action, so that the role walk
declares who may take each."""

from django.urls import path

from rollouts import views

app_name = "rollouts"

urlpatterns = [
    path("", views.campaign_list, name="campaigns"),
    path("<uuid:campaign>/", views.campaign_detail, name="campaign"),
    *(
        path(
            f"<uuid:campaign>/{action}/",
            views.campaign_action,
            {"action": action},
            name=f"campaign-{action}",
        )
        for action in views.ACTIONS
    ),
]
