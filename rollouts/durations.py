"""Durations as people type them ("7d", "2m", "30s", "1h30m") and as pages print them.

Plain Python (no Django): the campaign form and the campaigns API read a bake time with the
same parser, so "7d" means the same through either.
"""

from __future__ import annotations

import re

UNITS = {"w": 7 * 24 * 3600, "d": 24 * 3600, "h": 3600, "m": 60, "s": 1}
# Longer than any bake a campaign would want, and well inside a PositiveIntegerField.
MAX_SECONDS = 366 * 24 * 3600
# ASCII digits only: str.isdigit() and \d also take "²", which int() refuses.
_SECONDS = re.compile(r"[0-9]+")
_PART = re.compile(r"([0-9]+)\s*([wdhms])")
_WHOLE = re.compile(r"(?:[0-9]+\s*[wdhms]\s*)+")


class DurationRefused(ValueError):
    """The text is not a duration; the message says what is accepted."""


def parse_duration(text: str) -> int:
    """Seconds in `text`: a whole number of seconds ("90"), or numbers each with a unit, w d h
    m s ("7d", "2m", "1h 30m"), largest first, each unit once. At least 1 s, at most 366 d."""
    given = text.strip().lower()
    if _SECONDS.fullmatch(given):
        seconds = int(given)
    elif _WHOLE.fullmatch(given):
        parts = _PART.findall(given)
        units = [unit for _, unit in parts]
        order = list(UNITS)
        if len(set(units)) != len(units) or units != sorted(units, key=order.index):
            raise DurationRefused(f"“{text.strip()}”: give each unit once, largest first (1h30m)")
        seconds = sum(int(number) * UNITS[unit] for number, unit in parts)
    else:
        raise DurationRefused(
            f"“{text.strip()}” is not a duration: write e.g. 7d, 12h, 2m, 30s or 1h30m"
        )
    if seconds < 1:
        raise DurationRefused("A duration of at least 1 second")
    if seconds > MAX_SECONDS:
        raise DurationRefused("At most 366 days")
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest text parse_duration reads back as `seconds`: 604800 → "7d", 90 → "1m30s"."""
    if seconds <= 0:
        return f"{seconds}s"
    parts = []
    left = seconds
    for unit, size in UNITS.items():
        if unit == "w":
            continue  # "14d" reads better than "2w" for a bake
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
