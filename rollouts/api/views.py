"""The campaigns API under /api/campaigns/: thin views over rollouts.selectors and services.

Reads need the estate. Planning (create, settings, cohorts, freeze the baseline, leave the
design) needs an architect or an operator; every action on the estate's steps an operator.
The role is checked before anything runs; four eyes are the services' (a forbidden action is
403 and nothing changed); a state that does not allow the action is 409 with the reason.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import capability_permission
from accounts.roles import Capability
from fleet.api.serializers import StalenessSerializer
from fleet.services import (
    DeploymentImpactUnacknowledged,
    DeploymentNeedsConfirmation,
    DeploymentRefused,
)
from policies.models import Service
from rollouts import cohorts, presenters, selectors, services
from rollouts.api import serializers as api
from rollouts.models import ActionRequest, Campaign, Cohort, Step
from rollouts.report import campaign_report
from rollouts.steps import current_step

ReadEstateWritePlan = capability_permission(
    read=(Capability.VIEW_ESTATE,), write=(Capability.PUBLISH, Capability.OPERATE)
)
ReadEstateWriteOperate = capability_permission(
    read=(Capability.VIEW_ESTATE,), write=(Capability.OPERATE,)
)
UUID = "[0-9a-fA-F-]{36}"

FORBIDDEN = OpenApiResponse(api.ErrorSerializer, description="Your role, or four eyes, forbids it")
NOT_FOUND = OpenApiResponse(api.ErrorSerializer, description="No such campaign")
REFUSED = OpenApiResponse(api.ErrorSerializer, description="The campaign's state refuses it now")
INVALID = OpenApiResponse(OpenApiTypes.OBJECT, description="Field errors; nothing was done")
ACTION_RESPONSES = {
    200: api.CampaignDetailSerializer,
    400: INVALID,
    403: FORBIDDEN,
    404: NOT_FOUND,
    409: REFUSED,
}
TAGS = ["campaigns"]


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class CampaignErrors:
    # The services' refusals as answers, as fleet's API gives them.

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, DeploymentNeedsConfirmation):
            body = {
                "detail": str(exc),
                "stale": StalenessSerializer(exc.staleness, many=True).data,
                "confirm": exc.token,
            }
            return Response(body, status=status.HTTP_409_CONFLICT)
        if isinstance(exc, DeploymentImpactUnacknowledged):
            # A missing field of the request (the acknowledgement), as fleet's API answers.
            body = {
                "detail": str(exc),
                "will_break": [
                    {k: p.get(k) for k in ("stack", "service", "remote_address", "reason")}
                    for p in exc.peers
                ],
            }
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        if isinstance(exc, services.CampaignRefused | DeploymentRefused):
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        if isinstance(exc, PermissionError):
            return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
        if isinstance(exc, DjangoValidationError):
            exc = serializers.ValidationError(
                exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            )
        return super().handle_exception(exc)  # type: ignore[misc]


def _operator_only(request: Request) -> None:
    # Planning endpoints let architects in; the actions on steps are an operator's alone.
    if not selectors.operates(request.user):
        raise services.CampaignForbidden("only an operator may act on a campaign's steps")


@extend_schema_view(
    list=extend_schema(summary="Campaigns, newest first", tags=TAGS),
    retrieve=extend_schema(
        summary="A campaign: cohorts, steps, baseline and end state",
        responses={200: api.CampaignDetailSerializer, 404: NOT_FOUND},
        tags=TAGS,
    ),
)
class CampaignViewSet(CampaignErrors, viewsets.ReadOnlyModelViewSet):
    """Rollout campaigns: the five-phase, gated migration, and every action on one."""

    permission_classes: list[type[BasePermission]] = [ReadEstateWritePlan]
    pagination_class = Pagination
    lookup_field = "uuid"
    lookup_url_kwarg = "campaign"
    lookup_value_regex = UUID

    def get_queryset(self) -> QuerySet[Campaign]:
        found = selectors.campaign_list_for(user=self.request.user)
        if self.action != "list":
            found = found.prefetch_related(
                Prefetch(
                    "cohorts",
                    queryset=Cohort.objects.prefetch_related("services__stack__lpar"),
                ),
                Prefetch(
                    "steps",
                    queryset=Step.objects.select_related(
                        "campaign", "cohort", "deployment", "requested_by", "incident"
                    ),
                ),
                "held_back",
            ).select_related("lab_stack__lpar")
        return found

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action == "list":
            return api.CampaignSerializer
        return api.CampaignDetailSerializer

    def _input(
        self,
        request: Request,
        serializer: type[serializers.Serializer],
        *,
        operators_only: bool = False,
    ) -> tuple[Campaign, dict[str, Any]]:
        """The campaign (404 first), the operator check when asked (403), then the valid body
        (400). Without the check, the role is the permission class's (architects and
        operators)."""
        found = self.get_object()
        if operators_only:
            _operator_only(request)
        body = serializer(data=request.data)
        body.is_valid(raise_exception=True)
        return found, dict(body.validated_data)

    def _answer(self, campaign: Campaign, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=campaign.pk)
        body = api.CampaignDetailSerializer(fresh).data
        body["next_action"] = api.NextActionSerializer(
            presenters.next_action(fresh, self.request.user)
        ).data
        return Response(body, status=code)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._answer(self.get_object())

    @extend_schema(
        summary="The campaign's report: baseline and end state, every step with its versions,"
        " deployment and gate verdict, skipped gates flagged, rules rolled back",
        responses={200: OpenApiTypes.OBJECT, 404: NOT_FOUND},
        tags=TAGS,
    )
    @action(detail=True, methods=["get"])
    def report(self, request: Request, campaign: str) -> Response:
        return Response(campaign_report(self.get_object()))

    @extend_schema(
        summary="Plan a campaign in its inventory phase (architects and operators)",
        request=api.CampaignCreateSerializer,
        responses={201: api.CampaignDetailSerializer, 400: INVALID, 403: FORBIDDEN},
        tags=TAGS,
    )
    def create(self, request: Request) -> Response:
        body = api.CampaignCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        campaign = services.campaign_create(
            actor=request.user,
            name=data["name"],
            description=data["description"],
            stacks=data["stacks"],
            lab_stack=data["lab_stack"],
            services=data.get("services"),
            bake_seconds=data.get("bake_seconds"),
            gates=data.get("gates"),
            owner=data["owner"],
            auto_promote=data["auto_promote"],
        )
        return self._answer(campaign, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change the bake time and the gates' thresholds and failure limits",
        request=api.CampaignSettingsSerializer,
        responses=ACTION_RESPONSES,
        tags=TAGS,
    )
    @action(detail=True, methods=["post"], url_path="settings")
    def settings_update(self, request: Request, campaign: str) -> Response:
        found = self.get_object()
        body = api.CampaignSettingsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.campaign_settings_update(actor=request.user, campaign=found, **body.validated_data)
        return self._answer(found)

    @extend_schema(
        summary="Set a cohort's services before its step started (moved out of other cohorts)",
        request=api.CohortServicesSerializer,
        responses=ACTION_RESPONSES,
        tags=TAGS,
    )
    @action(detail=True, methods=["post"])
    def cohort(self, request: Request, campaign: str) -> Response:
        found, body = self._input(request, api.CohortServicesSerializer)
        cohort = cohorts.cohort_at(found, body["position"])
        chosen = [_service(found, ref) for ref in body["services"]]
        cohorts.cohort_services_set(actor=request.user, cohort=cohort, services=chosen)
        return self._answer(found)

    @extend_schema(
        summary="Add an empty cohort after the last one",
        request=api.CohortAddSerializer,
        responses=ACTION_RESPONSES,
        tags=TAGS,
    )
    @action(detail=True, methods=["post"], url_path="cohort-add")
    def cohort_add(self, request: Request, campaign: str) -> Response:
        found, body = self._input(request, api.CohortAddSerializer)
        cohorts.cohort_add(actor=request.user, campaign=found, name=body["name"])
        return self._answer(found)

    @extend_schema(
        summary="Rename a cohort before its step started",
        request=api.CohortRenameSerializer,
        responses=ACTION_RESPONSES,
        tags=TAGS,
    )
    @action(detail=True, methods=["post"], url_path="cohort-rename")
    def cohort_rename(self, request: Request, campaign: str) -> Response:
        found, body = self._input(request, api.CohortRenameSerializer)
        cohort = cohorts.cohort_at(found, body["position"])
        cohorts.cohort_rename(actor=request.user, cohort=cohort, name=body["name"])
        return self._answer(found)

    @extend_schema(
        summary="Remove an empty cohort before its step started (the later ones move up)",
        request=api.CohortPositionSerializer,
        responses=ACTION_RESPONSES,
        tags=TAGS,
    )
    @action(detail=True, methods=["post"], url_path="cohort-remove")
    def cohort_remove(self, request: Request, campaign: str) -> Response:
        found, body = self._input(request, api.CohortPositionSerializer)
        cohorts.cohort_remove(actor=request.user, cohort=cohorts.cohort_at(found, body["position"]))
        return self._answer(found)

    @extend_schema(
        summary="Move a cohort not started to another position among those not started",
        request=api.CohortMoveSerializer,
        responses=ACTION_RESPONSES,
        tags=TAGS,
    )
    @action(detail=True, methods=["post"], url_path="cohort-move")
    def cohort_move(self, request: Request, campaign: str) -> Response:
        found, body = self._input(request, api.CohortMoveSerializer)
        cohort = cohorts.cohort_at(found, body["position"])
        cohorts.cohort_move(actor=request.user, cohort=cohort, position=body["to"])
        return self._answer(found)

    @extend_schema(
        summary="Freeze the baseline and leave the inventory phase",
        request=None,
        responses=ACTION_RESPONSES,
        tags=TAGS,
    )
    @action(detail=True, methods=["post"])
    def baseline(self, request: Request, campaign: str) -> Response:
        found = self.get_object()
        services.campaign_baseline_freeze(actor=request.user, campaign=found)
        return self._answer(found)

    @extend_schema(
        summary="Leave the design phase (the target is lint and compliance clean)",
        request=None,
        responses=ACTION_RESPONSES,
        tags=TAGS,
    )
    @action(detail=True, methods=["post"], url_path="design-complete")
    def design_complete(self, request: Request, campaign: str) -> Response:
        found = self.get_object()
        services.campaign_design_complete(actor=request.user, campaign=found)
        return self._answer(found)

    @extend_schema(
        summary="Promote: start the next cohort's step, or finish after the last (operators)",
        request=None,
        responses=ACTION_RESPONSES,
        tags=TAGS,
    )
    @action(detail=True, methods=["post"])
    def promote(self, request: Request, campaign: str) -> Response:
        found = self.get_object()
        _operator_only(request)
        services.campaign_promote(actor=request.user, campaign=found)
        return self._answer(found)

    @extend_schema(
        summary="Approve the current step's deployment (an operator other than its requester"
        " and its versions' publisher)",
        description="Four eyes: 403 for the requester and the publisher, nothing changed. A"
        " stale deployment answers 409 with a `confirm` token to send back. When the step's"
        " prediction says peers will break, 400 with them (`will_break`) unless"
        " `acknowledge_impact` says why they may. An abort's restore is approved the same way.",
        request=api.ApproveSerializer,
        responses=ACTION_RESPONSES,
        tags=TAGS,
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, campaign: str) -> Response:
        found, body = self._input(request, api.ApproveSerializer, operators_only=True)
        step = current_step(found)
        if step is None:
            raise services.CampaignRefused("the campaign has no step to approve")
        services.step_approve(
            actor=request.user,
            step=step,
            confirm_stale=body["confirm"],
            acknowledge_impact=body["acknowledge_impact"],
        )
        return self._answer(found)

    @extend_schema(
        summary="Pause: no promotion; gates are still judged (operators)",
        request=api.ReasonSerializer,
        responses=ACTION_RESPONSES,
        tags=TAGS,
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, campaign: str) -> Response:
        found, body = self._input(request, api.ReasonSerializer, operators_only=True)
        services.campaign_pause(actor=request.user, campaign=found, **body)
        return self._answer(found)

    @extend_schema(
        summary="Resume a paused campaign, or a held one saying what was done (operators)",
        request=api.ReasonSerializer,
        responses=ACTION_RESPONSES,
        tags=TAGS,
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, campaign: str) -> Response:
        found, body = self._input(request, api.ReasonSerializer, operators_only=True)
        services.campaign_resume(actor=request.user, campaign=found, **body)
        return self._answer(found)

    @extend_schema(
        summary="Ask to skip the current step's gate, with a reason (a second operator"
        " approves it)",
        request=api.ReasonSerializer,
        responses={201: api.ActionRequestSerializer, **ACTION_RESPONSES},
        tags=TAGS,
    )
    @action(detail=True, methods=["post"], url_path="skip-gate")
    def skip_gate(self, request: Request, campaign: str) -> Response:
        found, body = self._input(request, api.ReasonSerializer, operators_only=True)
        step = current_step(found)
        if step is None:
            raise services.CampaignRefused("the campaign has no step whose gate to skip")
        asked = services.gate_skip_request(actor=request.user, step=step, reason=body["reason"])
        return Response(api.ActionRequestSerializer(asked).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Abort: the current cohort rolled back to the previous step's versions",
        description="The restore is requested as a rollback; another operator approves it"
        " (POST approve while it is the current step: four eyes), then it is deployed and"
        " the campaign ends aborted. A step whose own request still waits is cancelled.",
        request=api.ReasonSerializer,
        responses=ACTION_RESPONSES,
        tags=TAGS,
    )
    @action(detail=True, methods=["post"])
    def abort(self, request: Request, campaign: str) -> Response:
        found, body = self._input(request, api.ReasonSerializer, operators_only=True)
        services.campaign_abort(actor=request.user, campaign=found, **body)
        return self._answer(found)

    @extend_schema(
        summary="Request a held campaign's failed step again from the design as it is now",
        description="New versions of the cohorts so far (held-back rules left out), e.g. after"
        " EnvironmentUserInstance was raised so that AT-TLS reads a renewed certificate;"
        " another operator approves them (POST approve: four eyes), then the step bakes anew.",
        request=api.ReasonSerializer,
        responses=ACTION_RESPONSES,
        tags=TAGS,
    )
    @action(detail=True, methods=["post"], url_path="request-again")
    def request_again(self, request: Request, campaign: str) -> Response:
        found, body = self._input(request, api.ReasonSerializer, operators_only=True)
        services.step_request_again(actor=request.user, campaign=found, **body)
        return self._answer(found)

    @extend_schema(
        summary="Roll one service's rule back (its removal requested; another operator"
        " approves it) and hold it back from later steps",
        request=api.RuleRollbackSerializer,
        responses=ACTION_RESPONSES,
        tags=TAGS,
    )
    @action(detail=True, methods=["post"], url_path="rule-rollback")
    def rule_rollback(self, request: Request, campaign: str) -> Response:
        found, body = self._input(request, api.RuleRollbackSerializer, operators_only=True)
        services.service_rule_rollback(
            actor=request.user,
            campaign=found,
            service=_service(found, body["service"]),
            reason=body["reason"],
        )
        return self._answer(found)

    @extend_schema(
        summary="Allow (or stop) auto-promotion: a second operator, not the owner",
        request=api.AutoPromoteSerializer,
        responses=ACTION_RESPONSES,
        tags=TAGS,
    )
    @action(detail=True, methods=["post"], url_path="auto-promote")
    def auto_promote(self, request: Request, campaign: str) -> Response:
        found, body = self._input(request, api.AutoPromoteSerializer, operators_only=True)
        services.campaign_auto_promote_set(
            actor=request.user, campaign=found, enabled=body["enabled"]
        )
        return self._answer(found)


def _service(campaign: Campaign, ref: str) -> Service:
    """A service of the campaign (or its lab cohort) by uuid, `LPAR/STACK/NAME` or a name that
    only one of its stacks has."""
    candidates = Service.objects.filter(
        stack__in=list(campaign.stacks.all()) + ([campaign.lab_stack] if campaign.lab_stack else [])
    ).select_related("stack__lpar")
    try:
        found = list(candidates.filter(uuid=uuid.UUID(ref)))
    except ValueError:
        lpar, stack, name = (["", "", *ref.split("/")])[-3:]
        found = list(candidates.filter(name=name))
        if lpar:
            found = [s for s in found if s.stack.lpar.name == lpar and s.stack.name == stack]
    if len(found) != 1:
        problem = (
            "is on several of the campaign's stacks: name it LPAR/STACK/NAME"
            if found
            else ("is no service of the campaign's stacks")
        )
        raise serializers.ValidationError({"service": f"{ref} {problem}."})
    return found[0]


@extend_schema_view(
    list=extend_schema(summary="Steps of every campaign, newest first", tags=TAGS),
    retrieve=extend_schema(
        summary="A step with its gate's evaluations (every check's value and evidence)",
        responses={200: api.StepDetailSerializer, 404: NOT_FOUND},
        tags=TAGS,
    ),
)
class StepViewSet(CampaignErrors, viewsets.ReadOnlyModelViewSet):
    """The steps of campaigns: versions, deployment, bake and gate."""

    permission_classes = [ReadEstateWriteOperate]
    pagination_class = Pagination
    lookup_field = "uuid"
    lookup_url_kwarg = "step"
    lookup_value_regex = UUID

    def get_queryset(self) -> QuerySet[Step]:
        found = selectors.step_list_for(user=self.request.user).order_by("-created_at", "-id")
        wanted = self.request.query_params.get("campaign")
        if self.action == "list" and wanted:
            try:
                found = found.filter(campaign__uuid=uuid.UUID(wanted))
            except ValueError:
                raise Http404 from None
        if self.action == "retrieve":
            found = found.prefetch_related("evaluations")
        return found

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return api.StepDetailSerializer if self.action == "retrieve" else api.StepSerializer


@extend_schema_view(
    list=extend_schema(summary="Requests that need a second person (gate skips)", tags=TAGS),
    retrieve=extend_schema(summary="One request", tags=TAGS),
)
class ActionRequestViewSet(
    CampaignErrors, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Four-eyes requests of campaigns: a gate skip asked by one operator, approved by another."""

    serializer_class = api.ActionRequestSerializer
    permission_classes = [ReadEstateWriteOperate]
    pagination_class = Pagination
    lookup_field = "uuid"
    lookup_url_kwarg = "request_id"
    lookup_value_regex = UUID

    def get_queryset(self) -> QuerySet[ActionRequest]:
        return selectors.action_list_for(user=self.request.user)

    @extend_schema(
        summary="Approve a gate skip (an operator other than the one who asked)",
        request=None,
        responses={200: api.StepSerializer, 403: FORBIDDEN, 404: NOT_FOUND, 409: REFUSED},
        tags=TAGS,
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, request_id: str) -> Response:
        found = self.get_object()
        step = services.gate_skip_approve(actor=request.user, action=found)
        return Response(api.StepSerializer(step).data)
