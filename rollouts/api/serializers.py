"""What the campaigns API reads and writes; names of people, labels of stacks, uuids."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

# ErrorSerializer: the API's one error body ({"detail": ...}), one schema component with the
# policies API's.
from policies.api.serializers import ErrorSerializer, StackField, UsernameField  # noqa: F401
from policies.models import Service
from rollouts.durations import MAX_SECONDS, DurationRefused, parse_duration
from rollouts.models import ActionRequest, Campaign, Cohort, GateEvaluation, Step


def _name(user: Any) -> str | None:
    return user.get_username() if user is not None else None


class CohortSerializer(serializers.ModelSerializer):
    services = serializers.SerializerMethodField()

    class Meta:
        model = Cohort
        fields = ["position", "name", "kind", "tier", "services"]

    def get_services(self, cohort: Cohort) -> list[str]:
        return sorted(f"{s.stack.label}/{s.name}" for s in cohort.services.all())


class GateEvaluationSerializer(serializers.ModelSerializer):
    class Meta:
        model = GateEvaluation
        fields = ["at", "verdict", "checks", "runs"]


class StepSerializer(serializers.ModelSerializer):
    campaign = serializers.UUIDField(source="campaign.uuid", read_only=True)
    cohort = serializers.CharField(source="cohort.name", default=None, read_only=True)
    requested_by = serializers.SerializerMethodField()
    deployment = serializers.UUIDField(source="deployment.uuid", default=None, read_only=True)
    incident = serializers.UUIDField(source="incident.uuid", default=None, read_only=True)

    class Meta:
        model = Step
        fields = [
            "uuid",
            "campaign",
            "position",
            "kind",
            "cohort",
            "status",
            "requested_by",
            "created_at",
            "versions",
            "previous_versions",
            "deployment",
            "attempts",
            "bake_started_at",
            "bake_ends_at",
            "failures",
            "verdict",
            "gate_skipped",
            "incident",
            "finished_at",
            "error",
        ]

    def get_requested_by(self, step: Step) -> str | None:
        return _name(step.requested_by)


class StepDetailSerializer(StepSerializer):
    evaluations = GateEvaluationSerializer(many=True, read_only=True)

    class Meta(StepSerializer.Meta):
        fields = [*StepSerializer.Meta.fields, "evaluations"]


class ActionRequestSerializer(serializers.ModelSerializer):
    campaign = serializers.UUIDField(source="step.campaign.uuid", read_only=True)
    step = serializers.UUIDField(source="step.uuid", read_only=True)
    requested_by = serializers.SerializerMethodField()
    approved_by = serializers.SerializerMethodField()

    class Meta:
        model = ActionRequest
        fields = [
            "uuid",
            "campaign",
            "step",
            "kind",
            "status",
            "reason",
            "requested_by",
            "requested_at",
            "approved_by",
            "approved_at",
        ]

    def get_requested_by(self, action: ActionRequest) -> str | None:
        return _name(action.requested_by)

    def get_approved_by(self, action: ActionRequest) -> str | None:
        return _name(action.approved_by)


class CampaignSerializer(serializers.ModelSerializer):
    owner = serializers.SerializerMethodField()
    stacks = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "uuid",
            "name",
            "phase",
            "status",
            "status_reason",
            "owner",
            "stacks",
            "bake_seconds",
            "created_at",
            "finished_at",
        ]

    def get_owner(self, campaign: Campaign) -> str | None:
        return _name(campaign.owner)

    def get_stacks(self, campaign: Campaign) -> list[str]:
        return sorted(s.label for s in campaign.stacks.all())


class NextActionSerializer(serializers.Serializer):
    action = serializers.CharField()
    text = serializers.CharField()
    who = serializers.CharField()
    yours = serializers.BooleanField()
    also = serializers.ListField(child=serializers.CharField())


class CampaignDetailSerializer(CampaignSerializer):
    lab_stack = serializers.CharField(source="lab_stack.label", default=None, read_only=True)
    cohorts = CohortSerializer(many=True, read_only=True)
    steps = StepSerializer(many=True, read_only=True)
    held_back = serializers.SerializerMethodField()
    baseline = serializers.SerializerMethodField()
    end_state = serializers.SerializerMethodField()

    class Meta(CampaignSerializer.Meta):
        fields = [
            *CampaignSerializer.Meta.fields,
            "description",
            "lab_stack",
            "gates",
            "auto_promote",
            "cohorts",
            "steps",
            "held_back",
            "baseline_at",
            "baseline",
            "end_state",
        ]

    def get_held_back(self, campaign: Campaign) -> list[str]:
        return sorted(s.name for s in campaign.held_back.all())

    def get_baseline(self, campaign: Campaign) -> dict[str, Any] | None:
        return campaign.baseline.get("totals") if campaign.baseline else None

    def get_end_state(self, campaign: Campaign) -> dict[str, Any] | None:
        return campaign.end_state.get("totals") if campaign.end_state else None


@extend_schema_field(OpenApiTypes.STR)
class DurationField(serializers.Field):
    """Seconds, given as a whole number (120) or a duration as the campaign form reads it
    ("7d", "2m", "30s", "1h30m": rollouts.durations)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int | str):
            raise serializers.ValidationError("A number of seconds, or a duration such as 7d.")
        if isinstance(data, int):
            if not 1 <= data <= MAX_SECONDS:
                raise serializers.ValidationError(f"From 1 to {MAX_SECONDS} seconds.")
            return data
        try:
            return parse_duration(data)
        except DurationRefused as refusal:
            raise serializers.ValidationError(str(refusal)) from None

    def to_representation(self, value: int) -> int:
        return value


BAKE_HELP = "The bake time: seconds (604800) or a duration (7d, 12h, 2m, 30s, 1h30m)"


class CampaignCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    stacks = serializers.ListField(child=StackField(), min_length=1)
    lab_stack = StackField(required=False, allow_null=True, default=None)
    services = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Only these services (by name) of the stacks; default: every included"
        " service with a rule",
    )
    bake_seconds = DurationField(required=False, help_text=BAKE_HELP)
    gates = serializers.JSONField(required=False)
    owner = UsernameField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Username of the owner (an architect or operator); default: you",
    )
    auto_promote = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Allow auto-promotion now: only an operator who is not the owner",
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        names = data.get("services")
        if names is not None:
            found = list(Service.objects.filter(stack__in=data["stacks"], name__in=names))
            missing = sorted(set(names) - {s.name for s in found})
            if missing:
                raise serializers.ValidationError(
                    {"services": f"Not on the campaign's stacks: {', '.join(missing)}"}
                )
            data["services"] = found
        return data


class CampaignSettingsSerializer(serializers.Serializer):
    bake_seconds = DurationField(required=False, help_text=BAKE_HELP)
    gates = serializers.JSONField(required=False)


class CohortServicesSerializer(serializers.Serializer):
    position = serializers.IntegerField(min_value=0)
    services = serializers.ListField(child=serializers.CharField(), min_length=0)


class CohortAddSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)


class CohortRenameSerializer(serializers.Serializer):
    position = serializers.IntegerField(min_value=0)
    name = serializers.CharField(max_length=200)


class CohortPositionSerializer(serializers.Serializer):
    position = serializers.IntegerField(min_value=0)


class CohortMoveSerializer(serializers.Serializer):
    position = serializers.IntegerField(min_value=0, help_text="The cohort's position now")
    to = serializers.IntegerField(min_value=0, help_text="Its position after the move")


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")


class ApproveSerializer(serializers.Serializer):
    confirm = serializers.CharField(required=False, allow_blank=True, default="")
    acknowledge_impact = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text="Why peers the step's prediction says will break may break (required when"
        " there are any; stored with the deployment and in the change log)",
    )


class RuleRollbackSerializer(serializers.Serializer):
    service = serializers.CharField(help_text="The service's name (or uuid) in the campaign")
    reason = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")


class AutoPromoteSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
