"""Change impact's REST endpoints under /api/fleet/impact/ (same permissions as the fleet API).

- `predictions/`: the predictions stored with deployment targets (`?deployment=`, `?stack=`);
  an app owner sees the predictions of stacks that run one of their services, with only
  their services' peers;
- `predictions/<uuid>/comparison/`: the refusals after the deployment against it, per peer;
- `predict/` (POST): a fresh prediction for a published version, or one rule removed, on its
  stack (estate viewers; the active pre-check only for operators);
- `scores/`: precision and recall over every deployment.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import capability_permission
from accounts.roles import Capability, has_capability
from fleet import selectors
from fleet.impact import compare
from fleet.impact.models import ImpactPrediction
from fleet.impact.predict import Candidate, prediction_record
from fleet.impact.present import NoSuchRule, without
from policies.api.serializers import StackField
from policies.models import PolicyVersion
from policies.selectors import service_list_for

ServiceViewers = capability_permission(read=(Capability.VIEW_ESTATE, Capability.VIEW_OWN_SERVICES))
EstateViewers = capability_permission(
    read=(Capability.VIEW_ESTATE,), write=(Capability.VIEW_ESTATE,)
)


class PredictionSerializer(serializers.ModelSerializer):
    deployment = serializers.SerializerMethodField()
    stack = serializers.SerializerMethodField()
    peers = serializers.SerializerMethodField()

    class Meta:
        model = ImpactPrediction
        fields = [
            "uuid",
            "deployment",
            "stack",
            "candidate",
            "current",
            "created_at",
            "window_days",
            "counts",
            "per_day",
            "services",
            "peers",
            "error",
        ]
        read_only_fields = fields

    def get_deployment(self, obj: ImpactPrediction) -> str | None:
        target = obj.target
        return str(target.deployment.uuid) if target is not None else None

    def get_stack(self, obj: ImpactPrediction) -> str:
        return obj.stack.label

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_peers(self, obj: ImpactPrediction) -> list[dict[str, Any]]:
        visible = self.context.get("services")
        if visible is None:
            return list(obj.peers)
        return [p for p in obj.peers if p["service"] in visible]


class PredictRequestSerializer(serializers.Serializer):
    stack = StackField(help_text="`LPAR/STACK` or the stack's uuid")
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="Default: the latest published version"
    )
    without_rule = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Predict the version without it"
    )
    precheck = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Run the pre-check of untested partners (operators)",
    )


def _outcome(peer: compare.PeerOutcome) -> dict[str, Any]:
    return {
        "service": peer.service,
        "peer": peer.peer,
        "outcome": peer.outcome,
        "verdict": peer.verdict,
        "refused": peer.refused,
        "families": peer.families,
        "reason": peer.reason,
    }


@extend_schema_view(
    list=extend_schema(summary="Predictions stored with deployment targets", tags=["impact"]),
    retrieve=extend_schema(summary="One stored prediction", tags=["impact"]),
)
class PredictionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Predictions stored with deployments, and how they compared with what happened."""

    serializer_class = PredictionSerializer
    permission_classes = [ServiceViewers]
    lookup_field = "uuid"
    lookup_url_kwarg = "prediction"
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    def _services(self) -> set[str] | None:
        """The service names the user may see peers of; None for the whole estate."""
        if selectors.sees_estate(self.request.user):
            return None
        return set(service_list_for(user=self.request.user).values_list("name", flat=True))

    def get_queryset(self) -> QuerySet[ImpactPrediction]:
        found = ImpactPrediction.objects.filter(target__isnull=False).select_related(
            "stack__lpar", "target__deployment"
        )
        if not selectors.sees_estate(self.request.user):
            stacks = service_list_for(user=self.request.user).values("stack_id")
            found = found.filter(stack_id__in=stacks)
        params = self.request.query_params
        if params.get("deployment"):
            found = found.filter(target__deployment__uuid=params["deployment"])
        if params.get("stack") and "/" in params["stack"]:
            lpar, _, name = params["stack"].partition("/")
            found = found.filter(stack__lpar__name=lpar, stack__name=name)
        return found.order_by("-created_at")

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "services": self._services()}

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, tags=["impact"])
    @action(detail=True, methods=["get"])
    def comparison(self, request: Request, prediction: str) -> Response:
        found = self.get_object()
        assert found.target is not None
        result = compare.compare_target(found.target)
        visible = self._services()
        peers = [_outcome(p) for p in result.peers if visible is None or p.service in visible]
        return Response(
            {
                "prediction": str(found.uuid),
                "deployment": str(found.target.deployment.uuid),
                "stack": found.stack.label,
                "compared": result.compared,
                "since": result.since,
                "until": result.until,
                "counts": result.counts,
                "peers": peers,
            }
        )

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, tags=["impact"])
    @action(detail=False, methods=["get"])
    def scores(self, request: Request) -> Response:
        if not selectors.sees_estate(request.user):
            # Fleet-wide figures are the estate's: refused as the scores page refuses them.
            raise PermissionDenied("fleet-wide impact scores are the estate's")
        scores = compare.fleet_scores()
        return Response(
            {
                "precision": scores.precision,
                "recall": scores.recall,
                "targets": scores.targets,
                "predicted_refused": scores.predicted_refused,
                "predicted_fine": scores.predicted_fine,
                "warned_refused": scores.warned_refused,
                "unpredicted": scores.unpredicted,
            }
        )


class PredictViewSet(viewsets.GenericViewSet):
    """A fresh prediction for a candidate: a published version, or one rule removed."""

    permission_classes = [EstateViewers]
    serializer_class = PredictRequestSerializer

    @extend_schema(
        request=PredictRequestSerializer, responses={200: OpenApiTypes.OBJECT}, tags=["impact"]
    )
    def create(self, request: Request) -> Response:
        body = PredictRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        stack = data["stack"]
        versions = PolicyVersion.objects.filter(stack=stack)
        version = (
            versions.filter(number=data["version"]).first()
            if data.get("version")
            else versions.order_by("-number").first()
        )
        if version is None:
            raise serializers.ValidationError({"version": [f"{stack.label} has no such version."]})
        if data["precheck"] and not has_capability(request.user, Capability.OPERATE):
            return Response(
                {"detail": "Only an operator may run the pre-check (it opens handshakes)."},
                status=status.HTTP_403_FORBIDDEN,
            )
        try:
            candidate = (
                without(version, data["without_rule"])
                if data["without_rule"]
                else Candidate(version.text, f"v{version.number}")
            )
        except NoSuchRule as missing:
            raise serializers.ValidationError({"without_rule": [str(missing)]}) from None
        record = prediction_record(stack, candidate, precheck=data["precheck"])
        return Response(record, status=status.HTTP_200_OK)
