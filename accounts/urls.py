"""Pages under /accounts/: your API tokens; users, roles and sign-in lock-outs (admins)."""

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("users/", views.user_list, name="users"),
    path("new-user/", views.user_create, name="user-create"),
    path("lockouts/lift/", views.lockout_lift, name="lockout-lift"),
    path("users/<str:username>/", views.user_detail, name="user"),
    path("users/<str:username>/password/", views.user_password, name="user-password"),
    path("users/<str:username>/active/", views.user_active, name="user-active"),
]
