"""The designer, under /design/. Services and shared objects by UUID, stacks by their names."""

from django.urls import path

from policies import views

app_name = "policies"

stack = "stacks/<str:lpar>/<str:stack>/"

urlpatterns = [
    path("", views.index, name="index"),
    path("services/", views.service_list, name="service-list"),
    path("services/assign/", views.service_assign, name="service-assign"),
    path("services/new/", views.service_create, name="service-create"),
    path("services/<uuid:uuid>/", views.service_detail, name="service-detail"),
    path("services/<uuid:uuid>/edit/", views.service_edit, name="service-edit"),
    path("objects/", views.object_list, name="object-list"),
    path("objects/<str:kind>/new/", views.object_create, name="object-create"),
    path("objects/<str:kind>/<uuid:uuid>/", views.object_detail, name="object-detail"),
    path("objects/<str:kind>/<uuid:uuid>/edit/", views.object_edit, name="object-edit"),
    path("objects/<str:kind>/<uuid:uuid>/preview/", views.object_preview, name="object-preview"),
    path("stacks/", views.stack_list, name="stack-list"),
    path(stack, views.stack_detail, name="stack-detail"),
    path(f"{stack}publish/", views.stack_publish, name="stack-publish"),
    path(f"{stack}tester/", views.stack_tester, name="stack-tester"),
    path(f"{stack}versions/", views.version_list, name="version-list"),
    path(f"{stack}versions/<int:number>/", views.version_detail, name="version-detail"),
    path(
        f"{stack}versions/<int:number>/download/",
        views.version_download,
        name="version-download",
    ),
    path("import/", views.import_policy, name="import"),
    path("import/apply/", views.import_confirm, name="import-apply"),
]
