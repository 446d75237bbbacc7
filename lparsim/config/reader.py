"""Walking the YAML tree with the path of each key, so every problem names where it is."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from attls.ciphers import Protocol
from lparsim.config.model import (
    AUTO,
    CLEARTEXT,
    MVS_NAME,
    SPEAKABLE,
    TLS_PROFILES,
    ConfigProblem,
    T,
)


class _Reader:
    """Walks the YAML tree, collecting problems with the path of each key."""

    def __init__(self, base: Path) -> None:
        self.problems: list[ConfigProblem] = []
        self.base = base
        self.population_defaults: dict[str, Any] = {}

    def problem(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(path, message))

    def mapping(
        self, value: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.problem(path, f"expected a mapping (key: value), got {_kind(value)}")
            return {}
        for key in value:
            if not isinstance(key, str):
                self.problem(path, f"keys must be text, got {key!r}")
            elif key not in allowed:
                self.problem(_join(path, key), f"unknown key; expected one of {', '.join(allowed)}")
        for key in required:
            if key not in value:
                self.problem(_join(path, key), "is required")
        return value

    def sequence(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, f"expected a list, got {_kind(value)}")
            return []
        return value

    def text(
        self, data: dict[str, Any], key: str, path: str, default: str | None = None
    ) -> str | None:
        value = data.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.problem(_join(path, key), f"expected text, got {_kind(value)}")
            return default
        return str(value)

    def name(self, data: dict[str, Any], key: str, path: str, *, mvs: bool = False) -> str:
        value = self.text(data, key, path)
        if value is None or not value.strip():
            if key in data:
                self.problem(_join(path, key), "must not be empty")
            return ""
        if mvs and not MVS_NAME.match(value):
            self.problem(
                _join(path, key),
                f"'{value}' is not a z/OS name (1-8 letters, digits, $ # @; not starting "
                "with a digit)",
            )
        return value

    def boolean(self, data: dict[str, Any], key: str, path: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.problem(_join(path, key), f"expected true or false, got {value!r}")
            return default
        return value

    def number(
        self,
        data: dict[str, Any],
        key: str,
        path: str,
        default: float | None,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        integer: bool = False,
    ) -> Any:
        value = data.get(key, default)
        if value is None:
            return None
        kind = "a whole number" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(_join(path, key), f"expected {kind}, got {value!r}")
            return default
        if integer and not isinstance(value, int):
            self.problem(_join(path, key), f"expected {kind}, got {value!r}")
            return default
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            low = "" if minimum is None else f"{minimum:g}"
            high = "" if maximum is None else f"{maximum:g}"
            self.problem(_join(path, key), f"{value} is out of range {low}..{high}")
            return default
        return value

    def port(self, data: dict[str, Any], key: str, path: str, *, auto: bool) -> int | None:
        """A port 1-65535, or None for `auto` (when allowed)."""
        value = data.get(key, AUTO if auto else None)
        if auto and value == AUTO:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            expected = "a port 1-65535 or 'auto'" if auto else "a port 1-65535"
            self.problem(_join(path, key), f"expected {expected}, got {value!r}")
            return 0 if not auto else None
        return value

    def choice(
        self, data: dict[str, Any], key: str, path: str, choices: tuple[str, ...], default: str
    ) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or value.lower() not in {c.lower() for c in choices}:
            self.problem(_join(path, key), f"expected one of {', '.join(choices)}, got {value!r}")
            return default
        return next(c for c in choices if c.lower() == value.lower())

    def address(self, data: dict[str, Any], key: str, path: str, default: str) -> str:
        value = self.text(data, key, path, default) or default
        try:
            parsed = ipaddress.ip_address(value)
        except ValueError:
            self.problem(_join(path, key), f"'{value}' is not an IP address")
            return default
        if not parsed.is_loopback:
            self.problem(_join(path, key), f"{value} is not a loopback address (127.0.0.0/8, ::1)")
            return default
        return value

    def path(self, value: str) -> Path:
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else (self.base / candidate).resolve()

    def zos_path(self, data: dict[str, Any], key: str, path: str, default: str) -> str:
        value = self.text(data, key, path, default) or default
        if not value.startswith("/"):
            self.problem(_join(path, key), f"expected an absolute z/OS UNIX path, got '{value}'")
            return default
        return value

    def protocols(self, value: Any, path: str, *, allow_cleartext: bool) -> tuple[Protocol, ...]:
        """A TLS profile name, `cleartext`, or a list of protocol keywords."""
        if isinstance(value, str):
            lowered = value.lower()
            if allow_cleartext and lowered == CLEARTEXT:
                return ()
            if lowered in TLS_PROFILES:
                return TLS_PROFILES[lowered]
            names = ", ".join([*TLS_PROFILES, *([CLEARTEXT] if allow_cleartext else [])])
            self.problem(path, f"expected one of {names} or a list such as [TLSv1.2, TLSv1.3]")
            return TLS_PROFILES["tls1.2"]
        before = len(self.problems)
        items = self.sequence(value, path)
        found: list[Protocol] = []
        for index, item in enumerate(items):
            match = next((p for p in SPEAKABLE if str(item).lower() == p.value.lower()), None)
            if match is None:
                self.problem(
                    f"{path}[{index}]",
                    f"expected one of {', '.join(p.value for p in SPEAKABLE)}, got {item!r}",
                )
            elif match not in found:
                found.append(match)
        if not found and len(self.problems) == before:
            self.problem(path, "needs at least one protocol version")
        return tuple(sorted(found, key=SPEAKABLE.index))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "a mapping", list: "a list", str: "text", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _items(reader: _Reader, value: Any, path: str) -> Iterator[tuple[int, str, Any]]:
    for index, item in enumerate(reader.sequence(value, path)):
        yield index, f"{path}[{index}]", item


def _unique(reader: _Reader, items: list[T], key: Callable[[T], str], path: str, what: str) -> None:
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        name = key(item)
        if not name:
            continue
        folded = name.upper()
        if folded in seen:
            reader.problem(f"{path}[{index}]", f"{what} '{name}' is given twice")
        else:
            seen[folded] = index
