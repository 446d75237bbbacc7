"""Typed readers for the environment variables that configure the portal.

Each reader fails with ImproperlyConfigured, naming the variable, when a value is
present but malformed: a typo in production must stop the process at start-up,
not quietly fall back to a default. An empty value counts as unset.
"""

import os
from typing import Final

from django.core.exceptions import ImproperlyConfigured


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = _Required()

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def _raw(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _missing(name: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{name} must be set (see .env.example)")


def env_str(name: str, default: str | _Required = REQUIRED) -> str:
    value = _raw(name)
    if value is not None:
        return value
    if isinstance(default, _Required):
        raise _missing(name)
    return default


def env_bool(name: str, default: bool | _Required = REQUIRED) -> bool:
    value = _raw(name)
    if value is None:
        if isinstance(default, _Required):
            raise _missing(name)
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean; use one of {sorted(_TRUE | _FALSE)}"
    )


def env_int(name: str, default: int | _Required = REQUIRED, *, min_value: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        if isinstance(default, _Required):
            raise _missing(name)
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None
    if min_value is not None and number < min_value:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {min_value}")
    return number


def env_list(name: str, default: list[str] | _Required = REQUIRED) -> list[str]:
    """A comma-separated list; surrounding spaces are dropped, empty items refused."""
    value = _raw(name)
    if value is None:
        if isinstance(default, _Required):
            raise _missing(name)
        return list(default)
    items = [item.strip() for item in value.split(",")]
    if not all(items):
        raise ImproperlyConfigured(f"{name}={value!r} has an empty item between commas")
    return items
