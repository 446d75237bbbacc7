"""The audits API under /audits/api/: evidence packs (request, status, files) and verification.

Packs: auditors and architects see and request any; app owners those of their own services.
Verification: anyone signed in uploads a PDF and learns whether its signature is intact and
trusted, who signed it, and whether it is a pack of the ledger. A refused request changes
nothing; an invalid one answers 400 with the reason.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import capability_permission
from accounts.roles import Capability
from audits import selectors, services, signing
from audits import views as pages
from audits.api import serializers as api
from audits.forms import pack_upload_problem
from audits.models import EvidencePack

PackUsers = capability_permission(
    read=(Capability.AUDIT, Capability.VIEW_OWN_SERVICES),
    write=(Capability.AUDIT, Capability.VIEW_OWN_SERVICES),
)
FORBIDDEN = OpenApiResponse(api.AuditsErrorSerializer, description="Your role does not allow this")
NOT_FOUND = OpenApiResponse(
    api.AuditsErrorSerializer, description="No such pack, or not yours to see"
)
INVALID = OpenApiResponse(
    api.AuditsErrorSerializer, description="Not a valid request; nothing done"
)


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


@extend_schema_view(
    list=extend_schema(summary="Evidence packs you may see, newest first", tags=["evidence"]),
    retrieve=extend_schema(
        summary="One pack: its status and progress steps (poll it while it runs)",
        responses={200: api.EvidencePackSerializer, 404: NOT_FOUND},
        tags=["evidence"],
    ),
)
class EvidencePackViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = api.EvidencePackSerializer
    permission_classes = [PackUsers]
    pagination_class = Pagination
    lookup_field = "uuid"
    lookup_value_regex = "[0-9a-fA-F-]{36}"

    def get_queryset(self) -> QuerySet[EvidencePack]:
        return selectors.pack_list_for(user=self.request.user)

    @extend_schema(
        summary="Generate a pack: of an evaluated assessment, or of a new scope and period",
        description="Answers 202 at once; the pack is made by a worker. Poll the pack until"
        " its status is `succeeded` (or `failed`), then fetch `pdf_url` and `oscal_url`."
        " App owners may ask only for services they own.",
        request=api.PackRequestSerializer,
        responses={202: api.EvidencePackSerializer, 400: INVALID, 403: FORBIDDEN},
        tags=["evidence"],
    )
    def create(self, request: Request) -> Response:
        body = api.PackRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            if "assessment" in data:
                assessment = selectors.assessment_for(user=request.user, uuid=data["assessment"])
                pack = services.evidence_pack_request(actor=request.user, assessment=assessment)
            else:
                scope: dict[str, Any] = {}
                if data.get("lpar"):
                    scope["lpar"] = data["lpar"]
                if data.get("services"):
                    scope["services"] = [str(u) for u in data["services"]]
                pack = services.evidence_pack_request(
                    actor=request.user,
                    new=services.PackRequest(
                        scope_kind=data["scope_kind"],
                        scope=scope,
                        period_start=data["period_start"],
                        period_end=data["period_end"],
                    ),
                )
        except services.PackRefused as error:
            return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
        except PermissionDenied:
            return Response(
                {"detail": "Your role does not allow a pack of this scope."},
                status=status.HTTP_403_FORBIDDEN,
            )
        pack = self.get_queryset().get(pk=pack.pk)
        return Response(self.get_serializer(pack).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="The signed PDF",
        responses={
            (200, "application/pdf"): OpenApiTypes.BINARY,
            404: NOT_FOUND,
            409: OpenApiResponse(description="The stored file no longer matches the ledger"),
        },
        tags=["evidence"],
    )
    @action(detail=True, methods=["get"])
    def pdf(self, request: Request, uuid: str) -> Any:
        return pages.file_response(selectors.pack_for(user=request.user, uuid=uuid), "pdf")

    @extend_schema(
        summary="The OSCAL assessment results (JSON)",
        responses={
            (200, "application/json"): OpenApiTypes.BINARY,
            404: NOT_FOUND,
            409: OpenApiResponse(description="The stored file no longer matches the ledger"),
        },
        tags=["evidence"],
    )
    @action(detail=True, methods=["get"])
    def oscal(self, request: Request, uuid: str) -> Any:
        return pages.file_response(selectors.pack_for(user=request.user, uuid=uuid), "oscal")


class VerifyView(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Verify a PDF: signature intact and trusted, signer, and its ledger entry",
        request={"multipart/form-data": api.VerifyRequestSerializer},
        responses={200: api.VerificationResultSerializer, 400: INVALID},
        tags=["evidence"],
    )
    def post(self, request: Request) -> Response:
        body = api.VerifyRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        problem = pack_upload_problem(upload)
        if problem:
            return Response({"file": [problem]}, status=400)
        result = signing.verify_pack(upload.read())
        ledger = selectors.ledger_answer_for(user=request.user, result=result)
        data = {
            "ok": result.ok,
            "intact": result.intact,
            "trusted": result.trusted,
            "signer": result.signer,
            "signed_at": result.signed_at,
            "level": result.level,
            "timestamped": result.timestamped,
            "sha256": result.sha256,
            "in_ledger": ledger.in_ledger,
            "ledger": ledger.said,
            "matches_ledger": ledger.entry(),
            "problems": result.problems,
        }
        return Response(api.VerificationResultSerializer(data).data)
