"""API tokens: get one with a password, list yours, revoke one (any of yours, or the one in use).
And the directory-group mapping of single sign-on, for admins (the pages' twin).

A token request is a sign-in: the lock-out (django-axes) counts its failures as it counts the
login form's, and it is throttled per client address (the "token" rate, counted in the
shared cache). Tokens are django-rest-knox tokens (accounts.models.ApiToken): only a digest
is stored and each expires.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api import schema as _schema  # noqa: F401 - registers the tokenAuth scheme
from accounts.api import serializers as api
from accounts.client import ClientScopedRateThrottle, client_address
from accounts.lockout import lockout_minutes
from accounts.models import ApiToken, DirectoryGroupMapping
from accounts.permissions import capability_permission
from accounts.roles import Capability, Role

ERROR = OpenApiResponse(OpenApiTypes.OBJECT, description="`{detail: ...}`")


class TokenView(APIView):
    """POST: a new token for a username and password. DELETE: revoke the token of this request."""

    throttle_classes = [ClientScopedRateThrottle]
    throttle_scope = "token"

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method == "POST":
            return [AllowAny()]
        return [IsAuthenticated()]

    def get_throttles(self) -> list[Any]:
        # Only the password exchange is limited; revoking is not guessing.
        return super().get_throttles() if self.request.method == "POST" else []

    @extend_schema(
        summary="Get a new API token",
        request=api.TokenRequestSerializer,
        responses={
            201: api.NewTokenSerializer,
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Wrong username or password"),
            409: OpenApiResponse(OpenApiTypes.OBJECT, description="Too many live tokens"),
            429: OpenApiResponse(
                OpenApiTypes.OBJECT, description="Too many attempts, or signing in is locked"
            ),
        },
        auth=[],
        tags=["token"],
    )
    def post(self, request: Request) -> Response:
        body = api.TokenRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        user = authenticate(request=request, username=data["username"], password=data["password"])
        if getattr(request, "axes_locked_out", False):
            minutes = lockout_minutes()
            return Response(
                {
                    "detail": "Too many failed sign-ins for this username or from this address:"
                    f" signing in is locked for {minutes} minutes after the last attempt."
                },
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(minutes * 60)},
            )
        if user is None:
            return Response(
                {"non_field_errors": ["Unable to log in with provided credentials."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            token, secret = services.api_token_create(
                user=user,
                name=data["name"],
                days=data.get("days"),
                address=client_address(request),
            )
        except services.TokenLimitReached as refused:
            return Response({"detail": str(refused)}, status=status.HTTP_409_CONFLICT)
        except DjangoValidationError as error:
            return Response(error.message_dict, status=status.HTTP_400_BAD_REQUEST)
        # NewTokenSerializer describes this answer in the schema; the secret is not an
        # attribute of the row (only its digest is), so it is put in here.
        answer = {"token": secret, **api.TokenSerializer(token).data}
        return Response(answer, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Revoke the token this request is signed with",
        responses={204: None, 400: ERROR},
        tags=["token"],
    )
    def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, ApiToken):
            return Response(
                {"detail": "This request is not signed with a token; revoke one by its uuid."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        services.api_token_revoke(actor=request.user, token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Your live API tokens",
        responses={200: api.TokenSerializer(many=True)},
        tags=["token"],
    )
    def get(self, request: Request) -> Response:
        tokens = selectors.api_token_list_for(user=request.user)
        return Response(api.TokenSerializer(tokens, many=True).data)


class TokenDetailView(APIView):
    """One of your tokens; anyone else's answers 404 (its existence is not told)."""

    permission_classes = [IsAuthenticated]

    def _token(self, request: Request, uuid: str) -> ApiToken:
        return get_object_or_404(selectors.api_token_list_for(user=request.user), uuid=uuid)

    @extend_schema(
        summary="One of your API tokens", responses={200: api.TokenSerializer}, tags=["token"]
    )
    def get(self, request: Request, uuid: str) -> Response:
        return Response(api.TokenSerializer(self._token(request, uuid)).data)

    @extend_schema(summary="Revoke one of your API tokens", responses={204: None}, tags=["token"])
    def delete(self, request: Request, uuid: str) -> Response:
        services.api_token_revoke(actor=request.user, token=self._token(request, uuid))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- the directory-group mapping (admins) ---------------------------------------------------------

ManageUsers = capability_permission(
    read=(Capability.MANAGE_USERS,), write=(Capability.MANAGE_USERS,)
)


def _mapping_body(mapping: DirectoryGroupMapping) -> dict[str, Any]:
    return dict(
        api.DirectoryGroupMappingSerializer(
            {
                "uuid": mapping.uuid,
                "source": mapping.source,
                "group": mapping.group,
                "roles": list(mapping.roles),
                "services": list(mapping.services.all()),
                "note": mapping.note,
            }
        ).data
    )


class DirectoryGroupListView(APIView):
    """The directory-group mapping (the admin role): list it, map another group."""

    permission_classes = [ManageUsers]

    @extend_schema(
        summary="The directory-group mapping",
        responses={200: api.DirectoryGroupMappingSerializer(many=True)},
        tags=["directory-groups"],
    )
    def get(self, request: Request) -> Response:
        mappings = selectors.directory_group_mapping_list_for(user=request.user)
        return Response([_mapping_body(mapping) for mapping in mappings])

    @extend_schema(
        summary="Map a directory group to roles and services",
        request=api.DirectoryGroupMappingSerializer,
        responses={201: api.DirectoryGroupMappingSerializer, 400: ERROR},
        tags=["directory-groups"],
    )
    def post(self, request: Request) -> Response:
        body = api.DirectoryGroupMappingSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            mapping = services.directory_group_mapping_create(
                actor=request.user,
                source=data["source"],
                group=data["group"],
                roles=[Role(value) for value in data["roles"]],
                services=data["services"],
                note=data["note"],
            )
        except DjangoValidationError as error:
            return Response(error.message_dict, status=status.HTTP_400_BAD_REQUEST)
        return Response(_mapping_body(mapping), status=status.HTTP_201_CREATED)


class DirectoryGroupDetailView(APIView):
    permission_classes = [ManageUsers]

    def _mapping(self, request: Request, uuid: str) -> DirectoryGroupMapping:
        return selectors.directory_group_mapping_for(user=request.user, uuid=uuid)

    @extend_schema(
        summary="One mapped directory group",
        responses={200: api.DirectoryGroupMappingSerializer},
        tags=["directory-groups"],
    )
    def get(self, request: Request, uuid: str) -> Response:
        return Response(_mapping_body(self._mapping(request, uuid)))

    @extend_schema(
        summary="Change what a directory group gives (its source stays)",
        request=api.DirectoryGroupMappingSerializer,
        responses={200: api.DirectoryGroupMappingSerializer, 400: ERROR},
        tags=["directory-groups"],
    )
    def put(self, request: Request, uuid: str) -> Response:
        mapping = self._mapping(request, uuid)
        body = api.DirectoryGroupMappingSerializer(data={"source": mapping.source, **request.data})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if data["source"] != mapping.source:
            return Response(
                {"source": ["A mapping's directory cannot change: map the group anew."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            services.directory_group_mapping_update(
                actor=request.user,
                mapping=mapping,
                group=data["group"],
                roles=[Role(value) for value in data["roles"]],
                services=data["services"],
                note=data["note"],
            )
        except DjangoValidationError as error:
            return Response(error.message_dict, status=status.HTTP_400_BAD_REQUEST)
        return Response(_mapping_body(self._mapping(request, uuid)))

    @extend_schema(
        summary="Remove a directory group's mapping",
        responses={204: None},
        tags=["directory-groups"],
    )
    def delete(self, request: Request, uuid: str) -> Response:
        services.directory_group_mapping_delete(
            actor=request.user, mapping=self._mapping(request, uuid)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
