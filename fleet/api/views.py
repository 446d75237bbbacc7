"""The fleet's REST API under /api/fleet/: thin views over fleet.selectors and fleet.services.

Reads need the estate (or, for `my-services`, owning services); LPAR connections and every
write need an operator. The permission is checked before anything runs, so a refused write
changes nothing. The services' refusals become answers here: a deployment that may not be
requested or approved is 409 with the reason, a model validation error 400.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import capability_permission
from accounts.roles import Capability
from fleet import overview, presenters, selectors, service_status
from fleet.api import serializers as api
from fleet.models import Deployment, LparConnection, RunStatus
from fleet.services import (
    DeploymentImpactUnacknowledged,
    DeploymentNeedsConfirmation,
    DeploymentRefused,
    deployment_acknowledge_overwrite,
    deployment_approve,
    deployment_cancel,
    deployment_reject,
    deployment_request,
    drift_event_acknowledge,
    remove_rule,
    rollback_to_previous,
)
from fleet.tasks import verification_request
from policies.api.serializers import stack_lookup
from policies.models import PolicyVersion, Stack

ReadEstateWriteOperate = capability_permission(
    read=(Capability.VIEW_ESTATE,), write=(Capability.OPERATE,)
)
Operators = capability_permission(read=(Capability.OPERATE,), write=(Capability.OPERATE,))
ServiceViewers = capability_permission(read=(Capability.VIEW_ESTATE, Capability.VIEW_OWN_SERVICES))

UUID = "[0-9a-fA-F-]{36}"
# A stack in a URL: its uuid, or `LPAR/STACK` (as in the design API).
STACK_REF = r"[0-9a-fA-F-]{36}|[^/]{1,8}/[^/]{1,8}"
STACK_PARAMETER = OpenApiParameter(
    "stack",
    str,
    OpenApiParameter.PATH,
    description="The stack as `LPAR/STACK` (e.g. `SYSA/TCPIP`) or its uuid",
)
STACK_FILTER = OpenApiParameter(
    "stack", str, OpenApiParameter.QUERY, description="Only this stack, as `LPAR/STACK`"
)
FINDING_STATUS = OpenApiParameter(
    "status",
    str,
    OpenApiParameter.QUERY,
    enum=["open", "resolved", "all"],
    description="open (default for drift), resolved, or all",
)

FORBIDDEN = OpenApiResponse(api.FleetErrorSerializer, description="Your role does not allow this")
NOT_FOUND = OpenApiResponse(api.FleetErrorSerializer, description="No such object")
REFUSED = OpenApiResponse(
    api.FleetErrorSerializer,
    description="Refused, with the reason: e.g. nothing deployed yet, not pending any more",
)
INVALID = OpenApiResponse(OpenApiTypes.OBJECT, description="Field errors; nothing was done")

# What every operator action that creates a deployment answers.
DEPLOYMENT_WRITE_RESPONSES = {
    202: api.DeploymentDetailSerializer,
    400: INVALID,
    403: FORBIDDEN,
    404: NOT_FOUND,
    409: REFUSED,
}


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class FleetErrors:
    # The services' refusals as answers; mixed into every view here. (A comment, not a
    # docstring: the schema would show a docstring as each operation's description.)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, DeploymentNeedsConfirmation):
            body = {
                "detail": str(exc),
                "stale": api.StalenessSerializer(exc.staleness, many=True).data,
                "confirm": exc.token,
            }
            return Response(body, status=status.HTTP_409_CONFLICT)
        if isinstance(exc, DeploymentImpactUnacknowledged):
            # A missing field of the request (the acknowledgement), not a state conflict.
            body = {
                "detail": str(exc),
                "will_break": [
                    {k: p.get(k) for k in ("stack", "service", "remote_address", "reason")}
                    for p in exc.peers
                ],
            }
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        if isinstance(exc, DeploymentRefused):
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        if isinstance(exc, PermissionError):
            # Four eyes and roles: the action is not this person's to take; nothing changed.
            return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
        if isinstance(exc, DjangoValidationError):
            exc = serializers.ValidationError(
                exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            )
        return super().handle_exception(exc)  # type: ignore[misc]


def _finding_filters(request: Request, default_status: str) -> selectors.FindingFilters:
    return selectors.FindingFilters.parse(request.query_params, default_status=default_status)


# --- stacks: the fleet overview and the operator's actions ----------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Every stack's state: deployed version, AT-TLS coverage, protocol mix, findings",
        tags=["fleet"],
    ),
    retrieve=extend_schema(
        summary="One stack's state",
        parameters=[STACK_PARAMETER],
        responses={200: api.StackStatusSerializer, 404: NOT_FOUND},
        tags=["fleet"],
    ),
)
class StackStatusViewSet(FleetErrors, viewsets.GenericViewSet):
    """The state of each stack, and the operator's actions on one: verify, roll back, remove a
    rule."""

    serializer_class = api.StackStatusSerializer
    permission_classes = [ReadEstateWriteOperate]
    lookup_url_kwarg = "stack"
    lookup_value_regex = STACK_REF
    pagination_class = None

    def get_queryset(self) -> QuerySet[Stack]:
        return Stack.objects.all()

    def _stack(self) -> Stack:
        stack = (
            self.get_queryset()
            .select_related("lpar")
            .filter(**stack_lookup(self.kwargs["stack"]))
            .first()
        )
        if stack is None or not selectors.sees_estate(self.request.user):
            raise Http404
        return stack

    def list(self, request: Request) -> Response:
        statuses = overview.stack_status_list(user=request.user)
        return Response(self.get_serializer(statuses, many=True).data)

    def retrieve(self, request: Request, stack: str) -> Response:
        found = self._stack()
        statuses = overview.stack_status_list(
            user=request.user, stacks=Stack.objects.filter(pk=found.pk)
        )
        return Response(self.get_serializer(statuses[0]).data)

    @extend_schema(
        summary="Verify the stack now (operators)",
        request=None,
        parameters=[STACK_PARAMETER],
        responses={
            202: api.VerificationSerializer,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: REFUSED,
        },
        tags=["fleet"],
    )
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, stack: str) -> Response:
        found = self._stack()
        if selectors.connection_of(found.lpar) is None:
            raise DeploymentRefused(f"{found.lpar.name} has no LPAR connection")
        run = verification_request(stack_id=found.id)
        run = selectors.verification_list_for(user=request.user).get(pk=run.pk)
        return Response(api.VerificationSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Roll the stack back to the version before the deployed one (operators)",
        description="Requests a redeployment of the version deployed before (or of the stack's"
        " baseline); another operator approves it (four eyes).",
        request=api.RollbackRequestSerializer,
        parameters=[STACK_PARAMETER],
        responses=DEPLOYMENT_WRITE_RESPONSES,
        tags=["deployments"],
    )
    @action(detail=True, methods=["post"])
    def rollback(self, request: Request, stack: str) -> Response:
        found = self._stack()
        body = api.RollbackRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        deployment = rollback_to_previous(
            actor=request.user, stack=found, note=body.validated_data["note"]
        )
        return _deployment_answer(request, deployment, status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Deploy the current version without one rule (operators)",
        description="The quick way back for one service: its rule leaves the deployed policy"
        " and PAGENT is refreshed. Another operator approves it (four eyes).",
        request=api.RemoveRuleRequestSerializer,
        parameters=[STACK_PARAMETER],
        responses=DEPLOYMENT_WRITE_RESPONSES,
        tags=["deployments"],
    )
    @action(detail=True, methods=["post"], url_path="remove-rule")
    def remove_rule(self, request: Request, stack: str) -> Response:
        found = self._stack()
        body = api.RemoveRuleRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        deployment = remove_rule(
            actor=request.user,
            stack=found,
            rule=body.validated_data["rule"],
            note=body.validated_data["note"],
        )
        return _deployment_answer(request, deployment, status.HTTP_202_ACCEPTED)


def _deployment_answer(request: Request, deployment: Deployment, code: int) -> Response:
    found = selectors.deployment_for(user=request.user, uuid=deployment.uuid)
    return Response(api.DeploymentDetailSerializer(found).data, status=code)


# --- deployments ----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Deployments, newest first",
        parameters=[
            OpenApiParameter(
                "status",
                str,
                OpenApiParameter.QUERY,
                enum=[choice for choice, _ in RunStatus.choices],
                description="Only deployments in this state",
            )
        ],
        tags=["deployments"],
    ),
    retrieve=extend_schema(
        summary="One deployment with its targets, step log and verifications",
        responses={200: api.DeploymentDetailSerializer, 404: NOT_FOUND},
        tags=["deployments"],
    ),
    create=extend_schema(
        summary="Request a deployment (operators)",
        description="Stacks in order, each with a published version (the latest when left"
        " out). The deployment waits for an operator's approval.",
        request=api.DeploymentRequestSerializer,
        responses={
            201: api.DeploymentDetailSerializer,
            400: INVALID,
            403: FORBIDDEN,
            409: REFUSED,
        },
        tags=["deployments"],
    ),
)
class DeploymentViewSet(
    FleetErrors,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Deployments of policy versions to stacks: request, approve (four eyes), follow."""

    serializer_class = api.DeploymentSerializer
    permission_classes = [ReadEstateWriteOperate]
    pagination_class = Pagination
    lookup_field = "uuid"
    lookup_url_kwarg = "deployment"
    lookup_value_regex = UUID

    def get_queryset(self) -> QuerySet[Deployment]:
        deployments = selectors.deployment_list_for(user=self.request.user)
        wanted = self.request.query_params.get("status")
        if self.action == "list" and wanted:
            deployments = deployments.filter(status=wanted)
        return deployments

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action == "retrieve":
            return api.DeploymentDetailSerializer
        return api.DeploymentSerializer

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            found = selectors.deployment_for(user=request.user, uuid=kwargs["deployment"])
        except Deployment.DoesNotExist:
            raise Http404 from None
        return Response(api.DeploymentDetailSerializer(found).data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = api.DeploymentRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        targets = []
        for position, item in enumerate(body.validated_data["targets"]):
            stack = item["stack"]
            versions = PolicyVersion.objects.filter(stack=stack)
            number = item.get("version")
            version = (
                versions.filter(number=number).first()
                if number
                else versions.order_by("-number").first()
            )
            if version is None:
                wanted = f"v{number}" if number else "published version"
                raise serializers.ValidationError(
                    {"targets": {position: {"version": [f"{stack.label} has no {wanted}."]}}}
                )
            targets.append((stack, version))
        deployment = deployment_request(
            actor=request.user, targets=targets, note=body.validated_data["note"]
        )
        return _deployment_answer(request, deployment, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Approve a pending deployment (operators; neither its requester nor the"
        " publisher of its versions)",
        description="Four eyes: 403 for the requester and for the publisher of a version it"
        " deploys, nothing changed. A deployment that went stale since its request (a newer"
        " version published, another deployment live on its stack) answers 409 with the"
        " warnings and a `confirm` token; send the token back to approve anyway. When the"
        " deployment's prediction names peers that will break, 400 lists them until"
        " `acknowledge_impact` says why they may.",
        request=api.DeploymentApproveSerializer,
        responses={
            202: api.DeploymentDetailSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Peers will break: acknowledge with a reason; nothing changed",
            ),
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: OpenApiResponse(
                api.StaleErrorSerializer,
                description="Not pending any more, or stale: confirm with the token",
            ),
        },
        tags=["deployments"],
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, deployment: str) -> Response:
        found = self.get_object()
        body = api.DeploymentApproveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        deployment_approve(
            deployment=found,
            actor=request.user,
            confirm_stale=body.validated_data["confirm"],
            acknowledge_impact=body.validated_data["acknowledge_impact"],
        )
        return _deployment_answer(request, found, status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Reject a pending deployment, saying why (operators other than its requester)",
        request=api.DeploymentRejectSerializer,
        responses={
            200: api.DeploymentDetailSerializer,
            400: INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: REFUSED,
        },
        tags=["deployments"],
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, deployment: str) -> Response:
        found = self.get_object()
        body = api.DeploymentRejectSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reason = body.validated_data["reason"]
        deployment_reject(deployment=found, actor=request.user, reason=reason)
        return _deployment_answer(request, found, status.HTTP_200_OK)

    @extend_schema(
        summary="Cancel a pending deployment (its requester or an operator)",
        request=api.DeploymentCancelSerializer,
        responses={
            200: api.DeploymentDetailSerializer,
            400: INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: REFUSED,
        },
        tags=["deployments"],
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, deployment: str) -> Response:
        found = self.get_object()
        body = api.DeploymentCancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reason = body.validated_data["reason"]
        deployment_cancel(deployment=found, actor=request.user, reason=reason)
        return _deployment_answer(request, found, status.HTTP_200_OK)

    @extend_schema(
        summary="Acknowledge overwriting a drifted policy file and run again (operators)",
        description="For a deployment that stopped on file drift (the live file was not the"
        " text the portal last verified): the acknowledgement is for exactly the text found,"
        " by its SHA-256, with a reason; the deployment is queued again.",
        request=api.AcknowledgementSerializer,
        responses={
            202: api.DeploymentDetailSerializer,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: REFUSED,
        },
        tags=["deployments"],
    )
    @action(detail=True, methods=["post"], url_path="acknowledge-overwrite")
    def acknowledge_overwrite(self, request: Request, deployment: str) -> Response:
        found = self.get_object()
        body = api.AcknowledgementSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        deployment_acknowledge_overwrite(
            deployment=found, actor=request.user, comment=body.validated_data["comment"]
        )
        return _deployment_answer(request, found, status.HTTP_202_ACCEPTED)


# --- verifications --------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Verification runs, newest first (figures only; outputs in the detail)",
        parameters=[STACK_FILTER],
        tags=["verifications"],
    ),
    retrieve=extend_schema(
        summary="One verification with its per-service figures and raw outputs",
        responses={200: api.VerificationDetailSerializer, 404: NOT_FOUND},
        tags=["verifications"],
    ),
)
class VerificationViewSet(FleetErrors, viewsets.ReadOnlyModelViewSet):
    """Verifications: pasearch, netstat and probe outputs, each with its SHA-256 and parse
    status, and the figures computed from them."""

    permission_classes = [ReadEstateWriteOperate]
    pagination_class = Pagination
    lookup_field = "uuid"
    lookup_url_kwarg = "run"
    lookup_value_regex = UUID

    def get_queryset(self) -> QuerySet:
        runs = selectors.verification_list_for(user=self.request.user)
        ref = self.request.query_params.get("stack")
        if self.action == "list" and ref:
            runs = runs.filter(**stack_lookup(ref, prefix="stack__"))
        if self.action == "retrieve":
            runs = runs.defer(None)
        return runs

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action == "retrieve":
            return api.VerificationDetailSerializer
        return api.VerificationSerializer


# --- drift, certificates, incidents ---------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Drift events (open ones by default)",
        parameters=[FINDING_STATUS, STACK_FILTER],
        tags=["drift"],
    ),
    retrieve=extend_schema(
        summary="One drift event",
        responses={200: api.DriftEventSerializer, 404: NOT_FOUND},
        tags=["drift"],
    ),
)
class DriftEventViewSet(FleetErrors, viewsets.ReadOnlyModelViewSet):
    """Conditions that should not be: a policy file changed without a deployment, a loaded
    policy that differs from the deployed version, connections secured by an unexpected rule,
    probes that contradict the policy. One cause is one event listing its services."""

    serializer_class = api.DriftEventSerializer
    permission_classes = [ReadEstateWriteOperate]
    pagination_class = Pagination
    lookup_field = "uuid"
    lookup_url_kwarg = "event"
    lookup_value_regex = UUID

    def get_queryset(self) -> QuerySet:
        default = "open" if self.action == "list" else "all"
        return selectors.drift_list_for(
            user=self.request.user,
            filters=_finding_filters(self.request, default)
            if self.action == "list"
            else selectors.FindingFilters(status="all"),
        )

    @extend_schema(
        summary="Acknowledge a drift event with a comment (operators); it stays open",
        request=api.AcknowledgementSerializer,
        responses={
            200: api.DriftEventSerializer,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: REFUSED,
        },
        tags=["drift"],
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, event: str) -> Response:
        found = self.get_object()
        body = api.AcknowledgementSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        acknowledged = drift_event_acknowledge(
            event=found, actor=request.user, comment=body.validated_data["comment"]
        )
        return Response(api.DriftEventSerializer(acknowledged).data)


@extend_schema_view(
    list=extend_schema(
        summary="Certificate inventory, soonest expiry first",
        parameters=[
            OpenApiParameter(
                "status",
                str,
                OpenApiParameter.QUERY,
                enum=["open", "all"],
                description="open: only those expiring within 30 days or expired",
            ),
            STACK_FILTER,
        ],
        tags=["certificates"],
    ),
)
class CertificateViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Server certificates the probe saw on each stack, with the rules that use them."""

    serializer_class = api.CertificateSerializer
    permission_classes = [ReadEstateWriteOperate]
    pagination_class = Pagination

    def get_queryset(self) -> QuerySet:
        return selectors.certificate_list_for(
            user=self.request.user, filters=_finding_filters(self.request, "all")
        )


@extend_schema_view(
    list=extend_schema(
        summary="Incidents, newest first",
        parameters=[FINDING_STATUS, STACK_FILTER],
        tags=["incidents"],
    ),
    retrieve=extend_schema(
        summary="One incident",
        responses={200: api.IncidentSerializer, 404: NOT_FOUND},
        tags=["incidents"],
    ),
)
class IncidentViewSet(viewsets.ReadOnlyModelViewSet):
    """Things that broke for users, e.g. an expired certificate failing handshakes."""

    serializer_class = api.IncidentSerializer
    # App owners read those of their own services (selectors.incident_list_for).
    permission_classes = [ServiceViewers]
    pagination_class = Pagination
    lookup_field = "uuid"
    lookup_url_kwarg = "incident"
    lookup_value_regex = UUID

    def get_queryset(self) -> QuerySet:
        filters = (
            _finding_filters(self.request, "all")
            if self.action == "list"
            else selectors.FindingFilters(status="all")
        )
        return selectors.incident_list_for(user=self.request.user, filters=filters)


# --- LPAR connections -----------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="LPAR connections (operators; no secrets)", tags=["connections"]),
    retrieve=extend_schema(
        summary="One LPAR's connection (operators; no secrets)",
        parameters=[OpenApiParameter("lpar", str, OpenApiParameter.PATH, description="e.g. SYSA")],
        responses={200: api.LparConnectionSerializer, 404: NOT_FOUND},
        tags=["connections"],
    ),
)
class LparConnectionViewSet(viewsets.ReadOnlyModelViewSet):
    """How the portal reaches each LPAR. Passwords and keys show only as `*_set` flags."""

    serializer_class = api.LparConnectionSerializer
    permission_classes = [Operators]
    pagination_class = Pagination
    lookup_field = "lpar__name"
    lookup_url_kwarg = "lpar"
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet:
        lpars = selectors.lpar_list_for_operators(user=self.request.user)
        return (
            LparConnection.objects.filter(lpar__in=lpars)
            .select_related("lpar")
            .prefetch_related("lpar__stacks")
            .order_by("lpar__name")
        )


# --- my services ----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Your services: status, latest figures, live connections, hourly protocol mix",
        parameters=[
            OpenApiParameter(
                "window",
                str,
                OpenApiParameter.QUERY,
                enum=list(presenters.WINDOWS),
                description="Hours of history: the last 24 h (default) or 7 days",
            ),
        ],
        responses={200: api.MyServiceSerializer(many=True), 400: INVALID, 403: FORBIDDEN},
        tags=["my-services"],
    )
)
class MyServicesViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Your services: an app owner's own; every service for those who see the estate."""

    serializer_class = api.MyServiceSerializer
    permission_classes = [ServiceViewers]
    pagination_class = Pagination

    def get_queryset(self) -> QuerySet:
        return service_status.visible_services(user=self.request.user)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        window = request.query_params.get("window", "24h")
        if window not in presenters.WINDOWS:
            raise serializers.ValidationError({"window": ["Either 24h or 7d."]})
        page = self.paginate_queryset(self.get_queryset()) or []
        statuses = service_status.service_statuses(page, window=window)
        return self.get_paginated_response(self.get_serializer(statuses, many=True).data)
