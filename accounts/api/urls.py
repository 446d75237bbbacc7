"""API tokens and the directory-group mapping under /api/ (the design's API shares the prefix:
policies/api/urls.py)."""

from django.urls import path

from accounts.api import views

app_name = "accounts-api"

urlpatterns = [
    path("token/", views.TokenView.as_view(), name="token"),
    path("tokens/", views.TokenListView.as_view(), name="token-list"),
    path("tokens/<uuid:uuid>/", views.TokenDetailView.as_view(), name="token-detail"),
    path("directory-groups/", views.DirectoryGroupListView.as_view(), name="group-mapping-list"),
    path(
        "directory-groups/<uuid:uuid>/",
        views.DirectoryGroupDetailView.as_view(),
        name="group-mapping-detail",
    ),
]
