"""Serializers of the audits API: packs (with their progress), requests, verification results."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from audits.models import EvidencePack, ScopeKind


class ProgressStepSerializer(serializers.Serializer):
    at = serializers.CharField()
    step = serializers.CharField()
    detail = serializers.CharField()


class AssessmentBriefSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    scope_kind = serializers.CharField()
    scope = serializers.JSONField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    catalog_version = serializers.CharField()
    catalog_sha256 = serializers.CharField()
    status = serializers.CharField()


class EvidencePackSerializer(serializers.ModelSerializer):
    status = serializers.CharField(
        read_only=True, help_text="pending, running, succeeded or failed"
    )
    assessment = AssessmentBriefSerializer(read_only=True)
    progress = ProgressStepSerializer(many=True, read_only=True)
    created_by = serializers.CharField(source="created_by.get_username", read_only=True)
    pdf_url = serializers.SerializerMethodField()
    oscal_url = serializers.SerializerMethodField()

    class Meta:
        model = EvidencePack
        fields = [
            "uuid",
            "status",
            "assessment",
            "progress",
            "created_by",
            "created_at",
            "finished_at",
            "error",
            "pdf_sha256",
            "oscal_sha256",
            "signer",
            "timestamped",
            "pdf_url",
            "oscal_url",
        ]
        read_only_fields = fields

    def _url(self, pack: EvidencePack, kind: str) -> str | None:
        if pack.status != "succeeded":
            return None
        request = self.context.get("request")
        path = f"/audits/api/packs/{pack.uuid}/{kind}/"
        return request.build_absolute_uri(path) if request is not None else path

    def get_pdf_url(self, pack: EvidencePack) -> str | None:
        return self._url(pack, "pdf")

    def get_oscal_url(self, pack: EvidencePack) -> str | None:
        return self._url(pack, "oscal")


class PackRequestSerializer(serializers.Serializer):
    """Either `assessment` (an evaluated assessment's uuid), or a scope and a period."""

    assessment = serializers.UUIDField(required=False)
    scope_kind = serializers.ChoiceField(choices=ScopeKind.choices, required=False)
    lpar = serializers.CharField(required=False, help_text="For scope_kind lpar: its name")
    services = serializers.ListField(
        child=serializers.UUIDField(), required=False, help_text="For service(s) scopes"
    )
    period_start = serializers.DateTimeField(required=False)
    period_end = serializers.DateTimeField(required=False)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if "assessment" in data:
            if set(data) - {"assessment"}:
                raise serializers.ValidationError(
                    "give either an assessment or a scope and period, not both"
                )
            return data
        missing = [f for f in ("scope_kind", "period_start", "period_end") if f not in data]
        if missing:
            raise serializers.ValidationError({f: ["This field is required."] for f in missing})
        return data


class VerifyRequestSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The PDF to check")


class LedgerEntrySerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField()
    assessment = serializers.UUIDField()


class VerificationResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="Intact, trusted and in the ledger")
    intact = serializers.BooleanField()
    trusted = serializers.BooleanField()
    signer = serializers.CharField()
    signed_at = serializers.DateTimeField(allow_null=True)
    level = serializers.CharField()
    timestamped = serializers.BooleanField()
    sha256 = serializers.CharField()
    in_ledger = serializers.BooleanField(help_text="A pack this portal generated has this SHA-256")
    ledger = serializers.CharField(
        help_text="The ledger entry in words; for a pack you may not see, only that it is one"
    )
    matches_ledger = LedgerEntrySerializer(
        allow_null=True, help_text="The pack with this SHA-256, only if you may see it"
    )
    problems = serializers.ListField(child=serializers.CharField())


class AuditsErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
