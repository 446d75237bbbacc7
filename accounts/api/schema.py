"""The OpenAPI security scheme of API tokens.

drf-spectacular names knox's scheme `knoxApiToken`; the portal's schema has always called it
`tokenAuth`, and clients generated from the schema refer to it by that name, so it stays.
"""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "knox.auth.TokenAuthentication"
    name = "tokenAuth"
    priority = 1  # over drf-spectacular's own knox extension

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'An API token with the prefix "Token": `Token attls_...`',
        }
