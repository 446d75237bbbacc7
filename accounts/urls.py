"""Pages under /accounts/: your API tokens; users, roles, sign-in lock-outs and the
directory-group mapping (admins)."""

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("users/", views.user_list, name="users"),
    path("new-user/", views.user_create, name="user-create"),
    path("lockouts/lift/", views.lockout_lift, name="lockout-lift"),
    path("directory-groups/", views.group_mappings, name="group-mappings"),
    path("directory-groups/<uuid:uuid>/", views.group_mapping, name="group-mapping"),
    path(
        "directory-groups/<uuid:uuid>/delete/",
        views.group_mapping_delete,
        name="group-mapping-delete",
    ),
    path("users/<str:username>/", views.user_detail, name="user"),
    path("users/<str:username>/password/", views.user_password, name="user-password"),
    path("users/<str:username>/active/", views.user_active, name="user-active"),
]
