"""The REST API of the design: thin views over policies.services and policies.selectors.

Each view authorises (by capability), parses with a serializer, calls a service or a
selector, and answers. The services' refusals become HTTP answers in one place
(`DesignErrors`): a stale revision or an object still in use is 409, a publication
refused by lint is 422, a model validation error is 400 with field errors.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, OuterRef, Prefetch, ProtectedError, Q, QuerySet, Subquery
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404
from django_htmx.http import HttpResponseClientRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from accounts.permissions import capability_permission
from accounts.roles import Capability
from policies import selectors, services
from policies.api import serializers as api
from policies.models import (
    CipherSet,
    ConnectionAction,
    EnvironmentAction,
    GroupAction,
    Keyring,
    PolicyVersion,
    Rule,
    Service,
    Stack,
)

ReadEstateWriteDesign = capability_permission(
    read=(Capability.VIEW_ESTATE,), write=(Capability.EDIT_DESIGN,)
)
ReadServicesWriteDesign = capability_permission(
    read=(Capability.VIEW_ESTATE, Capability.VIEW_OWN_SERVICES), write=(Capability.EDIT_DESIGN,)
)
Publishers = capability_permission(read=(Capability.PUBLISH,), write=(Capability.PUBLISH,))

# A stack in a URL: its uuid, or `LPAR/STACK` (names are at most 8 characters, so the
# two forms cannot be confused and nothing after the stack is swallowed by it).
STACK_REF = r"[0-9a-fA-F-]{36}|[^/]{1,8}/[^/]{1,8}"

STACK_PARAMETER = OpenApiParameter(
    "stack",
    str,
    OpenApiParameter.PATH,
    description="The stack as `LPAR/STACK` (e.g. `SYSA/TCPIP`; the slash may be sent as "
    "`%2F`) or its uuid",
)
NUMBER_PARAMETER = OpenApiParameter(
    "number", int, OpenApiParameter.PATH, description="Version number within the stack"
)
SHARED_REF_PARAMETER = OpenApiParameter(
    "name_or_uuid", str, OpenApiParameter.PATH, description="The object's name or uuid"
)

FORBIDDEN = OpenApiResponse(api.ErrorSerializer, description="Your role does not allow this")
NOT_FOUND = OpenApiResponse(api.ErrorSerializer, description="No such object (or not yours)")
INVALID = OpenApiResponse(
    OpenApiTypes.OBJECT, description="Field errors: {field: [messages]}; nothing was saved"
)
CONFLICT = OpenApiResponse(
    api.ConflictSerializer,
    description="Someone saved the object since the revision you sent, or it is still in use",
)


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class DesignErrors:
    # Answers the services' refusals; mixed into every view of this module. (A comment,
    # not a docstring: the schema would show a docstring as every operation's description.)

    # Validation errors of these fields are reported nested under the given key, the
    # way the client sent them (a service's rule fields under "rule").
    nested_error_fields: dict[str, Sequence[str]] = {}

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, services.StaleEdit):
            return Response(
                {"detail": str(exc), "revision": exc.current}, status=status.HTTP_409_CONFLICT
            )
        if isinstance(exc, ProtectedError):
            return Response(
                {"detail": f"It is still used by {users_of(exc)}; change those first."},
                status=status.HTTP_409_CONFLICT,
            )
        if isinstance(exc, services.PublishRefused):
            return Response(
                {
                    "detail": str(exc),
                    "findings": [services.finding_to_dict(f) for f in exc.findings],
                },
                status=status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        if isinstance(exc, DjangoValidationError):
            exc = serializers.ValidationError(self._field_errors(exc))
        return super().handle_exception(exc)  # type: ignore[misc]

    def _field_errors(self, error: DjangoValidationError) -> dict[str, Any]:
        if not hasattr(error, "error_dict"):
            return {"non_field_errors": error.messages}
        errors: dict[str, Any] = {}
        for field, messages in error.message_dict.items():
            key = "non_field_errors" if field == NON_FIELD_ERRORS else field
            for outer, fields in self.nested_error_fields.items():
                if field in fields:
                    errors.setdefault(outer, {})[field] = messages
                    break
            else:
                errors[key] = messages
        return errors


def users_of(error: ProtectedError, shown: int = 5) -> str:
    """`2 rules (TN3270A, TN3270B) and 1 environment action (envLegacy)`, a few names each."""
    names: dict[str, list[str]] = defaultdict(list)
    for obj in error.protected_objects:
        names[str(type(obj)._meta.verbose_name)].append(str(obj))
    parts = []
    for noun, objects in sorted(names.items()):
        listed = ", ".join(sorted(objects)[:shown])
        more = f" and {len(objects) - shown} more" if len(objects) > shown else ""
        parts.append(f"{len(objects)} {noun}{'s' if len(objects) != 1 else ''} ({listed}{more})")
    return " and ".join(parts)


def shared_objects_usage(objects: Sequence[Model]) -> dict[int, dict[str, Any]]:
    """`selectors.shared_object_usage` for many objects of one type, in one query.

    Same reach as the selector (included rules; a cipher set through environments,
    connection actions and overrides; a key ring through environments), so that a
    list of shared objects costs one query however long the page is. A test holds the
    two to the same answers.
    """
    if not objects:
        return {}
    paths = USAGE_PATHS[type(objects[0])]
    ids = {obj.pk for obj in objects}
    reaches = Q()
    for path in paths:
        reaches |= Q(**{f"{path}__in": ids})
    rows = (
        Rule.objects.filter(service__included=True)
        .filter(reaches)
        .values_list("pk", "service__stack__lpar__name", "service__stack__name", *paths)
    )
    rules: dict[int, set[int]] = defaultdict(set)
    stacks: dict[int, set[str]] = defaultdict(set)
    for rule_id, lpar_name, stack_name, *references in rows:
        for reference in ids.intersection(references):
            rules[reference].add(rule_id)
            stacks[reference].add(f"{lpar_name}/{stack_name}")
    return {pk: {"rules": len(rules[pk]), "stacks": sorted(stacks[pk])} for pk in ids}


USAGE_PATHS: dict[type[Model], tuple[str, ...]] = {
    GroupAction: ("group_action",),
    EnvironmentAction: ("environment_action",),
    ConnectionAction: ("connection_action",),
    CipherSet: (
        "environment_action__cipher_set",
        "connection_action__cipher_set",
        "override_cipher_set",
    ),
    Keyring: ("environment_action__keyring",),
}


# --- LPARs and stacks ----------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="LPARs and the names of their stacks"),
    retrieve=extend_schema(
        summary="One LPAR, by name",
        parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH, description="e.g. SYSA")],
        responses={200: api.LparSerializer, 404: NOT_FOUND},
    ),
    create=extend_schema(
        summary="Add an LPAR (architects)",
        responses={201: api.LparSerializer, 400: INVALID, 403: FORBIDDEN},
    ),
)
class LparViewSet(
    DesignErrors,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """The LPARs of the estate, named by system name (e.g. `SYSA`)."""

    serializer_class = api.LparSerializer
    permission_classes = [ReadEstateWriteDesign]
    pagination_class = Pagination
    lookup_field = "name"
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet:
        return selectors.lpars().prefetch_related("stacks")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lpar = services.lpar_create(actor=request.user, **serializer.validated_data)
        return Response(
            self.get_serializer(self.get_queryset().get(pk=lpar.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class PlainTextRenderer(BaseRenderer):
    """The policy text endpoint answers text/plain, its errors too (as a sentence)."""

    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> bytes:
        if isinstance(data, dict) and "detail" in data:
            data = data["detail"]
        if not isinstance(data, str):
            data = json.dumps(data)
        return data.encode(self.charset)


@extend_schema_view(
    list=extend_schema(summary="Stacks with their service count and last version"),
    retrieve=extend_schema(
        summary="One stack", parameters=[STACK_PARAMETER], responses={200: api.StackSerializer}
    ),
    create=extend_schema(
        summary="Add a stack to an LPAR (architects)",
        responses={201: api.StackSerializer, 400: INVALID, 403: FORBIDDEN},
    ),
)
class StackViewSet(
    DesignErrors,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """TCP/IP stacks, named `LPAR/STACK`: their draft policy, versions and publication."""

    serializer_class = api.StackSerializer
    permission_classes = [ReadEstateWriteDesign]
    pagination_class = Pagination
    lookup_url_kwarg = "stack"
    lookup_value_regex = STACK_REF

    def get_queryset(self) -> QuerySet:
        latest = PolicyVersion.objects.filter(stack=OuterRef("pk")).order_by("-number")
        # Meta.ordering does not apply to an aggregating query; pages need an order.
        return (
            selectors.stacks_with_counts()
            .annotate(latest_version=Subquery(latest.values("number")[:1]))
            .order_by("lpar__name", "name")
        )

    def get_object(self) -> Stack:
        stack = get_object_or_404(self.get_queryset(), **api.stack_lookup(self.kwargs["stack"]))
        self.check_object_permissions(self.request, stack)
        return stack

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        stack = services.stack_create(actor=request.user, **serializer.validated_data)
        return Response(
            self.get_serializer(self.get_queryset().get(pk=stack.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="The stack's draft policy: text, hash, lint, diff from the last version",
        parameters=[STACK_PARAMETER],
        responses={200: api.DraftSerializer, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["get"])
    def draft(self, request: Request, stack: str) -> Response:
        draft = services.stack_draft(stack=self.get_object())
        published = draft.published
        return Response(
            api.DraftSerializer(
                {
                    "stack": draft.stack.label,
                    "text": draft.text,
                    "sha256": draft.sha256,
                    "findings": [services.finding_to_dict(f) for f in draft.findings],
                    "changed": draft.changed,
                    "published": (
                        {"number": published.number, "sha256": published.sha256}
                        if published is not None
                        else None
                    ),
                    "diff": draft.diff(),
                }
            ).data
        )

    @extend_schema(
        summary="Publish the draft as the stack's next version (architects)",
        description="Refused with 422 and the lint findings when the draft has errors, has "
        "warnings and `acknowledge_warnings` is false, or equals the last version.",
        parameters=[STACK_PARAMETER],
        request=api.PublishSerializer,
        responses={
            201: api.VersionDetailSerializer,
            400: INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
            422: OpenApiResponse(api.PublishRefusedSerializer, description="Refused"),
        },
    )
    @action(detail=True, methods=["post"], permission_classes=[Publishers])
    def publish(self, request: Request, stack: str) -> Response:
        target = self.get_object()
        serializer = api.PublishSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = services.policy_version_publish(
            stack=target, actor=request.user, **serializer.validated_data
        )
        version = selectors.versions_of(stack=target).select_related("parent").get(pk=version.pk)
        location = reverse(
            "policies-api:stack-version",
            kwargs={"stack": target.label, "number": version.number},
            request=request,
        )
        return Response(
            api.VersionDetailSerializer(version).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": location},
        )

    @extend_schema(
        summary="Declare the z/OS release the stack runs (architects)",
        description=(
            "Defaults, the cipher suites System SSL implements, and lint follow the release;"
            " a verification warns when the stack's pasearch reports another one."
        ),
        parameters=[STACK_PARAMETER],
        request=api.StackReleaseSerializer,
        responses={200: api.StackSerializer, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"])
    def release(self, request: Request, stack: str) -> Response:
        target = self.get_object()
        serializer = api.StackReleaseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.stack_release_set(
            actor=request.user, stack=target, zos_release=serializer.validated_data["zos_release"]
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=target.pk)).data)

    def _versions(self, stack: Stack) -> QuerySet[PolicyVersion]:
        return selectors.versions_of(stack=stack).select_related("parent", "stack__lpar")

    @extend_schema(
        summary="Published versions of the stack, newest first",
        parameters=[STACK_PARAMETER],
        responses={200: api.VersionSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], pagination_class=Pagination)
    def versions(self, request: Request, stack: str) -> Response:
        page = self.paginate_queryset(self._versions(self.get_object()))
        return self.get_paginated_response(api.VersionSerializer(page, many=True).data)

    @extend_schema(
        summary="One published version with its structured model",
        parameters=[STACK_PARAMETER, NUMBER_PARAMETER],
        responses={200: api.VersionDetailSerializer, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["get"], url_path=r"versions/(?P<number>[0-9]+)")
    def version(self, request: Request, stack: str, number: str) -> Response:
        version = get_object_or_404(self._versions(self.get_object()), number=int(number))
        return Response(api.VersionDetailSerializer(version).data)

    @extend_schema(
        summary="The policy file of a published version, as text",
        parameters=[STACK_PARAMETER, NUMBER_PARAMETER],
        responses={(200, "text/plain"): OpenApiTypes.STR, (404, "text/plain"): OpenApiTypes.STR},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"versions/(?P<number>[0-9]+)/text",
        renderer_classes=[PlainTextRenderer],
    )
    def version_text(self, request: Request, stack: str, number: str) -> HttpResponse:
        target = self.get_object()
        version = get_object_or_404(self._versions(target), number=int(number))
        filename = f"{target.lpar.name}-{target.name}-v{version.number}.policy"
        return HttpResponse(
            version.text,
            content_type="text/plain; charset=utf-8",
            headers={
                "Content-Disposition": f'inline; filename="{filename}"',
                "X-Policy-SHA256": version.sha256,
            },
        )


# --- services and rules --------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Services you may see (app owners: the ones they own), with their rules",
        parameters=[api.ServiceFiltersSerializer],
        responses={200: api.ServiceSerializer(many=True), 400: INVALID},
    ),
    retrieve=extend_schema(
        summary="One service and its rule", responses={200: api.ServiceSerializer, 404: NOT_FOUND}
    ),
    create=extend_schema(
        summary="Add a service and its rule (architects)",
        request=api.ServiceSerializer,
        responses={201: api.ServiceSerializer, 400: INVALID, 403: FORBIDDEN},
    ),
    update=extend_schema(
        summary="Replace a service and its rule (architects)",
        request=api.ServiceUpdateSerializer,
        responses={
            200: api.ServiceSerializer,
            400: INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: CONFLICT,
        },
    ),
    partial_update=extend_schema(
        summary="Change some fields of a service or its rule (architects)",
        request=api.ServiceUpdateSerializer,
        responses={
            200: api.ServiceSerializer,
            400: INVALID,
            403: FORBIDDEN,
            404: NOT_FOUND,
            409: CONFLICT,
        },
    ),
    destroy=extend_schema(
        summary="Remove a service and its rule (architects)",
        responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND},
    ),
)
class ServiceViewSet(DesignErrors, viewsets.ModelViewSet):
    """Services and their rules. Writes send the rule nested under `rule`.

    App owners see only the services they own. Updates carry the `revision` the
    client read; a save over someone else's answers 409.
    """

    serializer_class = api.ServiceSerializer
    permission_classes = [ReadServicesWriteDesign]
    pagination_class = Pagination
    lookup_field = "uuid"
    lookup_value_regex = "[0-9a-fA-F-]{36}"
    nested_error_fields = {"rule": services.RULE_FIELDS}

    def get_queryset(self) -> QuerySet[Service]:
        return (
            selectors.service_list_for(user=self.request.user)
            .select_related("rule__override_cipher_set")
            .prefetch_related(Prefetch("owners", User.objects.only("pk", "username")))
        )

    def filter_queryset(self, queryset: QuerySet[Service]) -> QuerySet[Service]:
        if self.action != "list":
            return queryset
        query = api.ServiceFiltersSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        filters = dict(query.validated_data)
        stack = filters.pop("stack", "")
        queryset = selectors.ServiceFilters(**filters).apply(queryset)
        if stack:
            queryset = queryset.filter(**api.stack_lookup(stack, prefix="stack__"))
        return queryset

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action in ("update", "partial_update"):
            return api.ServiceUpdateSerializer
        return api.ServiceSerializer

    def _answer(self, service: Service, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=service.pk)
        return Response(api.ServiceSerializer(fresh).data, status=status_code)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        service = services.service_create(
            actor=request.user, fields=service_fields(serializer.validated_data)
        )
        response = self._answer(service, status.HTTP_201_CREATED)
        response["Location"] = reverse(
            "policies-api:service-detail", kwargs={"uuid": service.uuid}, request=request
        )
        return response

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        service = self.get_object()
        serializer = self.get_serializer(
            service, data=request.data, partial=kwargs.get("partial", False)
        )
        serializer.is_valid(raise_exception=True)
        fields = service_fields(serializer.validated_data)
        revision = fields.pop("revision")
        service = services.service_update(
            actor=request.user, service=service, fields=fields, expected_revision=revision
        )
        return self._answer(service)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.service_delete(actor=request.user, service=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


def service_fields(validated: dict[str, Any]) -> dict[str, Any]:
    """The API's nested shape (`rule: {...}`) as the flat fields the services take."""
    fields = dict(validated)
    fields.update(fields.pop("rule", None) or {})
    return fields


@extend_schema_view(
    list=extend_schema(
        summary="Rules of the services you may see",
        parameters=[
            OpenApiParameter("stack", str, description="Only this stack (LPAR/STACK or uuid)")
        ],
    ),
    retrieve=extend_schema(
        summary="The rule of one service",
        parameters=[
            OpenApiParameter(
                "service", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Service uuid"
            )
        ],
        responses={200: api.RuleSerializer, 404: NOT_FOUND},
    ),
)
class RuleViewSet(DesignErrors, viewsets.ReadOnlyModelViewSet):
    """Rules are written through their service; here they are read on their own."""

    serializer_class = api.RuleSerializer
    permission_classes = [ReadServicesWriteDesign]
    pagination_class = Pagination
    lookup_field = "service__uuid"
    lookup_url_kwarg = "service"
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    def get_queryset(self) -> QuerySet[Rule]:
        visible = selectors.service_list_for(user=self.request.user)
        rules = (
            Rule.objects.filter(service__in=visible.values("pk"))
            .select_related(
                "service__stack__lpar",
                "group_action",
                "environment_action",
                "connection_action",
                "override_cipher_set",
            )
            .order_by("service__stack__lpar__name", "service__stack__name", "service__name")
        )
        stack = self.request.query_params.get("stack", "")
        if self.action == "list" and stack:
            rules = rules.filter(**api.stack_lookup(stack, prefix="service__stack__"))
        return rules


# --- shared objects -------------------------------------------------------------------------


class SharedObjectViewSet(DesignErrors, viewsets.ModelViewSet):
    """Keyrings, cipher sets and actions: the statements many rules share.

    Updates carry the revision the client read; a save over someone else's answers 409.
    Every object says how far an edit reaches (`usage`: rules and stacks).
    """

    model: type[Model]
    update_serializer_class: type[serializers.BaseSerializer]
    related: tuple[str, ...] = ()
    permission_classes = [ReadEstateWriteDesign]
    pagination_class = Pagination
    lookup_url_kwarg = "name_or_uuid"
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet:
        return self.model.objects.select_related(*self.related).order_by("name")

    def get_object(self) -> Model:
        ref = self.kwargs["name_or_uuid"]
        try:
            lookup: dict[str, Any] = {"uuid": uuid.UUID(ref)}
        except ValueError:
            lookup = {"name": ref}  # a name is at most 32 characters, a uuid 36
        obj = get_object_or_404(self.get_queryset(), **lookup)
        self.check_object_permissions(self.request, obj)
        return obj

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action in ("update", "partial_update"):
            return self.update_serializer_class
        return self.serializer_class

    def _output(self, objects: Sequence[Model]) -> list[dict[str, Any]]:
        context = {**self.get_serializer_context(), "usage": shared_objects_usage(objects)}
        return self.serializer_class(objects, many=True, context=context).data

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self._output(page))

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self._output([self.get_object()])[0])

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        obj = services.shared_object_create(
            actor=request.user, model=self.model, fields=dict(serializer.validated_data)
        )
        return Response(self._output([obj])[0], status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        obj = self.get_object()
        serializer = self.get_serializer(
            obj, data=request.data, partial=kwargs.get("partial", False)
        )
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        revision = fields.pop("revision")
        obj = services.shared_object_update(
            actor=request.user, obj=obj, fields=fields, expected_revision=revision
        )
        return Response(self._output([obj])[0])

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.shared_object_delete(actor=request.user, obj=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


def shared_object_schema(noun: str, read: type, update: type) -> Any:
    """The documentation of one shared-object endpoint family."""
    write_errors = {400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND, 409: CONFLICT}
    return extend_schema_view(
        list=extend_schema(summary=f"{noun.capitalize()}s, each with its usage"),
        retrieve=extend_schema(
            summary=f"One {noun}", parameters=[SHARED_REF_PARAMETER], responses={200: read}
        ),
        create=extend_schema(
            summary=f"Add a {noun} (architects)",
            responses={201: read, 400: INVALID, 403: FORBIDDEN},
        ),
        update=extend_schema(
            summary=f"Replace a {noun} (architects; send the revision you read)",
            parameters=[SHARED_REF_PARAMETER],
            request=update,
            responses={200: read, **write_errors},
        ),
        partial_update=extend_schema(
            summary=f"Change some fields of a {noun} (architects; send the revision you read)",
            parameters=[SHARED_REF_PARAMETER],
            request=update,
            responses={200: read, **write_errors},
        ),
        destroy=extend_schema(
            summary=f"Remove a {noun} no rule or other object uses (architects)",
            parameters=[SHARED_REF_PARAMETER],
            responses={
                204: None,
                403: FORBIDDEN,
                404: NOT_FOUND,
                409: OpenApiResponse(api.ErrorSerializer, description="Still in use"),
            },
        ),
    )


@shared_object_schema("key ring", api.KeyringSerializer, api.KeyringUpdateSerializer)
class KeyringViewSet(SharedObjectViewSet):
    model = Keyring
    serializer_class = api.KeyringSerializer
    update_serializer_class = api.KeyringUpdateSerializer


@shared_object_schema("cipher set", api.CipherSetSerializer, api.CipherSetUpdateSerializer)
class CipherSetViewSet(SharedObjectViewSet):
    model = CipherSet
    serializer_class = api.CipherSetSerializer
    update_serializer_class = api.CipherSetUpdateSerializer


@shared_object_schema("group action", api.GroupActionSerializer, api.GroupActionUpdateSerializer)
class GroupActionViewSet(SharedObjectViewSet):
    model = GroupAction
    serializer_class = api.GroupActionSerializer
    update_serializer_class = api.GroupActionUpdateSerializer


@shared_object_schema(
    "environment action", api.EnvironmentActionSerializer, api.EnvironmentActionUpdateSerializer
)
class EnvironmentActionViewSet(SharedObjectViewSet):
    model = EnvironmentAction
    serializer_class = api.EnvironmentActionSerializer
    update_serializer_class = api.EnvironmentActionUpdateSerializer
    related = ("keyring", "cipher_set")


@shared_object_schema(
    "connection action", api.ConnectionActionSerializer, api.ConnectionActionUpdateSerializer
)
class ConnectionActionViewSet(SharedObjectViewSet):
    model = ConnectionAction
    serializer_class = api.ConnectionActionSerializer
    update_serializer_class = api.ConnectionActionUpdateSerializer
    related = ("cipher_set",)


# --- documentation (API tokens: accounts/api/views.py) -----------------------------------------


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI from static/vendor/swagger-ui/, its start-up script served by this view.

    The split view serves that script from this URL (`?script`) instead of inlining it,
    and the template carries no inline style, so the page runs under our CSP unchanged.
    """

    template_name = "api/docs.html"

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # A boosted htmx navigation (a portal link, or the login form sending the user
        # on here) would swap this page's body in without running its scripts: load it
        # as a full page instead.
        if request.headers.get("HX-Request") and "script" not in request.query_params:
            return HttpResponseClientRedirect(request.get_full_path())
        return super().get(request, *args, **kwargs)
