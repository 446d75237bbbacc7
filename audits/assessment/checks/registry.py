"""The registry of checks: a control names its check function by this name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from audits.assessment.facts import Context, Verdict
from audits.catalog import Control

__all__ = ["CHECKS", "Check", "check"]

Check = Callable[[Context, Control], Verdict]
# check name (as controls.yaml names it) -> function; filled as the family modules load
CHECKS: dict[str, Check] = {}


def check(name: str) -> Callable[[Callable[[Context, Control], Verdict]], Any]:
    def register(function: Callable[[Context, Control], Verdict]) -> Any:
        CHECKS[name] = function
        return function

    return register
