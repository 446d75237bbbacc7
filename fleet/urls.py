"""The fleet pages, under /fleet/. Deployments and runs by UUID, stacks and LPARs by name."""

from django.urls import path

from fleet import findings_views, impact_views, views
from fleet.zert import views as zert_views

app_name = "fleet"

stack = "stacks/<str:lpar>/<str:stack>/"

urlpatterns = [
    path("deployments/", views.deployment_list, name="deployments"),
    path("deployments/new/", views.deployment_new, name="deployment-new"),
    path("deployments/<uuid:deployment>/", views.deployment_detail, name="deployment"),
    path(
        "deployments/<uuid:deployment>/approve/",
        views.deployment_approve_view,
        name="deployment-approve",
    ),
    path(
        "deployments/<uuid:deployment>/reject/",
        views.deployment_reject_view,
        name="deployment-reject",
    ),
    path(
        "deployments/<uuid:deployment>/cancel/",
        views.deployment_cancel_view,
        name="deployment-cancel",
    ),
    path(
        "deployments/<uuid:deployment>/acknowledge-overwrite/",
        views.deployment_acknowledge_overwrite_view,
        name="deployment-acknowledge-overwrite",
    ),
    path(
        "deployments/<uuid:deployment>/exclude-breaking/",
        impact_views.deployment_exclude_view,
        name="deployment-exclude-breaking",
    ),
    path("impact/", impact_views.scores_page, name="impact-scores"),
    path(f"impact/{stack}draft/", impact_views.draft_panel, name="impact-draft"),
    path(
        f"impact/{stack}versions/<int:number>/",
        impact_views.version_panel,
        name="impact-version",
    ),
    path(f"{stack}peers/", impact_views.peer_history_page, name="stack-peers"),
    path(stack, views.stack_detail, name="stack"),
    path(f"{stack}baseline/", views.stack_baseline, name="stack-baseline"),
    path(f"{stack}verify/", views.stack_verify, name="stack-verify"),
    path(f"{stack}rollback/", views.stack_rollback, name="stack-rollback"),
    path(f"{stack}remove-rule/", views.stack_remove_rule, name="stack-remove-rule"),
    path("verifications/<uuid:run>/", views.verification_detail, name="verification"),
    path(
        "verifications/<uuid:run>/outputs/<str:output>/",
        views.verification_output,
        name="verification-output",
    ),
    path("drift/", findings_views.drift_list, name="drift"),
    path(
        "drift/<uuid:event>/acknowledge/",
        findings_views.drift_acknowledge,
        name="drift-acknowledge",
    ),
    path("certificates/", findings_views.certificate_list, name="certificates"),
    path("incidents/", findings_views.incident_list, name="incidents"),
    path("incidents/<uuid:incident>/", findings_views.incident_detail, name="incident"),
    path(
        "incidents/<uuid:incident>/remove-rule/",
        findings_views.incident_remove_rule_view,
        name="incident-remove-rule",
    ),
    path("inventory/", zert_views.inventory_page, name="inventory"),
    path("inventory.csv", zert_views.inventory_csv, name="inventory-csv"),
    path("connections/", views.connection_list, name="connections"),
    path("connections/<str:lpar>/", views.connection_edit, name="connection-edit"),
    path("my-services/", views.my_services, name="my-services"),
]
