"""The alerts' REST API under /api/alerts/: channels for admins (the secret is write-only),
deliveries for the estate roles, retry for operators and admins."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import capability_permission
from accounts.roles import Capability
from fleet.alerts import selectors
from fleet.alerts.kinds import KINDS
from fleet.alerts.models import AlertChannel, AlertDelivery
from fleet.alerts.services import alert_delivery_retry, channel_config_problems, channel_save
from policies.models import Service, Stack

Admins = capability_permission(read=(Capability.MANAGE_USERS,), write=(Capability.MANAGE_USERS,))
ReadEstateRetryOperate = capability_permission(
    read=(Capability.VIEW_ESTATE,), write=(Capability.OPERATE, Capability.MANAGE_USERS)
)


class ChannelSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    secret = serializers.CharField(write_only=True, required=False, allow_blank=True)
    has_secret = serializers.BooleanField(read_only=True)
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=list(KINDS)), required=False
    )
    stacks = serializers.SlugRelatedField(
        slug_field="uuid", many=True, queryset=Stack.objects.all(), required=False
    )
    services = serializers.SlugRelatedField(
        slug_field="uuid", many=True, queryset=Service.objects.all(), required=False
    )

    class Meta:
        model = AlertChannel
        fields = [
            "uuid", "name", "kind", "enabled", "min_severity", "kinds", "stacks", "services",
            "config", "max_attempts", "secret", "has_secret",
        ]  # fmt: skip
        read_only_fields = ["uuid"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs.get("kind", getattr(self.instance, "kind", ""))
        config = attrs.get("config", getattr(self.instance, "config", {}))
        problems = channel_config_problems(kind, config)
        has_secret = bool(attrs.get("secret")) or bool(getattr(self.instance, "has_secret", False))
        if kind == "webhook" and not has_secret:
            problems.append("A webhook needs a secret to sign with.")
        if problems:
            raise serializers.ValidationError({"config": problems})
        return attrs

    def save(self, **kwargs: Any) -> AlertChannel:
        data = dict(self.validated_data)
        secret = data.pop("secret", None)
        stacks = data.pop("stacks", None)
        services = data.pop("services", None)
        channel = self.instance or AlertChannel()
        for name, value in data.items():
            setattr(channel, name, value)
        self.instance = channel_save(
            channel=channel,
            actor=self.context["request"].user,
            secret=secret or None,
            stacks=list(
                stacks if stacks is not None else channel.stacks.all() if channel.pk else []
            ),
            services=list(
                services if services is not None else channel.services.all() if channel.pk else []
            ),
        )
        return self.instance


class DeliverySerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    event = serializers.SerializerMethodField()
    channel = serializers.CharField(source="channel.name")

    class Meta:
        model = AlertDelivery
        fields = [
            "uuid", "event", "channel", "status", "attempts", "last_error",
            "next_attempt_at", "delivered_at",
        ]  # fmt: skip

    def get_event(self, delivery: AlertDelivery) -> dict[str, Any]:
        return delivery.event.as_record()


class ChannelViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,  # type: ignore[type-arg]
):
    permission_classes = [Admins]
    serializer_class = ChannelSerializer
    lookup_field = "uuid"

    def get_queryset(self) -> QuerySet[AlertChannel]:
        return selectors.channel_list_for(user=self.request.user)


class DeliveryViewSet(viewsets.ReadOnlyModelViewSet):  # type: ignore[type-arg]
    permission_classes = [ReadEstateRetryOperate]
    serializer_class = DeliverySerializer
    lookup_field = "uuid"

    def get_queryset(self) -> QuerySet[AlertDelivery]:
        return selectors.delivery_list_for(
            user=self.request.user, status=self.request.query_params.get("status", "")
        )

    @extend_schema(request=None, responses=DeliverySerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, uuid: str | None = None) -> Response:
        delivery = self.get_object()
        alert_delivery_retry(delivery=delivery, actor=request.user)
        delivery.refresh_from_db()
        return Response(DeliverySerializer(delivery).data)
