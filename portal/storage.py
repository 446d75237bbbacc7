"""Static files storage for production: WhiteNoise's compressed, hashed-name storage, without
rewriting source-map comments.

The vendored Swagger UI (static/vendor/swagger-ui/) names source maps it does not ship;
Django's manifest storage would refuse to collect a file that points at a missing one. Only
a browser's developer tools read source maps, so those comments are left as they are (a
404 in the developer tools), and every url() and @import is still hashed and checked.
"""

from __future__ import annotations

from typing import Any

from whitenoise.storage import CompressedManifestStaticFilesStorage


def _pattern_text(pattern: Any) -> str:
    return pattern if isinstance(pattern, str) else str(pattern[0])


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    patterns = tuple(
        (glob, tuple(p for p in rules if "sourceMappingURL" not in _pattern_text(p)))
        for glob, rules in CompressedManifestStaticFilesStorage.patterns
    )
