"""The bodies of the token API and of the directory-group mapping API."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from accounts.forms import services_queryset
from accounts.models import ApiToken, IdentitySource
from accounts.roles import Role


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        write_only=True, trim_whitespace=False, style={"input_type": "password"}
    )
    name = serializers.CharField(
        max_length=64, required=False, default="API", help_text="What the token is for"
    )
    days = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=settings.API_TOKEN_MAX_DAYS,
        help_text="How many days the token is valid (default and most: API_TOKEN_MAX_DAYS)",
    )


class TokenSerializer(serializers.ModelSerializer):
    """A token as its owner sees it in a list: never the secret, never its digest."""

    starts_with = serializers.SerializerMethodField(
        help_text="The first characters of the token, to recognise it"
    )

    class Meta:
        model = ApiToken
        fields = ["uuid", "name", "created", "expiry", "starts_with"]
        read_only_fields = fields

    def get_starts_with(self, token: ApiToken) -> str:
        return token.token_key[:10]


class NewTokenSerializer(TokenSerializer):
    """A token just created: the one time its secret is shown."""

    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`")

    class Meta(TokenSerializer.Meta):
        fields = ["token", *TokenSerializer.Meta.fields]
        read_only_fields = fields


class DirectoryGroupMappingSerializer(serializers.Serializer):
    """One row of the directory-group mapping. `source` is fixed once the row exists."""

    uuid = serializers.UUIDField(read_only=True)
    source = serializers.ChoiceField(choices=IdentitySource.choices)
    group = serializers.CharField(
        max_length=512,
        help_text="OIDC: a groups claim value (exact). LDAP: the group's DN (any case).",
    )
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=[role.value for role in Role]),
        required=False,
        default=list,
        help_text="Roles members get at their next sign-in",
    )
    services = serializers.SlugRelatedField(
        many=True,
        slug_field="uuid",
        queryset=services_queryset(),
        required=False,
        default=list,
        help_text="Uuids of the services members own from their next sign-in",
    )
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
