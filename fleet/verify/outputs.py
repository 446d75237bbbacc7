"""The raw outputs of a verification as stored: text as received (NUL shown), hashed."""

from __future__ import annotations

import hashlib
from typing import Any

from fleet.models import NUL_SHOWN_AS


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def storable(text: str) -> str:
    """The text as received, but with NUL shown as U+2400 (PostgreSQL's JSON cannot hold NUL).

    The SHA-256 kept beside it is always that of the text as received; an output's entry
    counts the NULs so shown (`nul_shown`), and selectors.output_text() restores them.
    """
    return text.replace("\x00", NUL_SHOWN_AS)


def _json(data: Any) -> str:
    import json

    return json.dumps(data, sort_keys=True, separators=(",", ":"))
