"""The campaign pages, under /campaigns/; one URL name per action, so that the role walk
declares who may take each."""

from django.urls import path

from rollouts import planning_views, views

app_name = "rollouts"

urlpatterns = [
    path("", views.campaign_list, name="campaigns"),
    path("new/", planning_views.campaign_new, name="campaign-new"),
    path("<uuid:campaign>/gates/", planning_views.campaign_gates, name="campaign-gates"),
    path("<uuid:campaign>/cohorts/", planning_views.campaign_cohorts, name="campaign-cohorts"),
    *(
        path(
            f"<uuid:campaign>/cohorts/{action}/",
            planning_views.cohort_action,
            {"action": action},
            name=f"cohort-{action}",
        )
        for action in planning_views.COHORT_ACTIONS
    ),
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
