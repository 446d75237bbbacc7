"""Code listings and diffs for the designer: numbered listings, side-by-side diff rows of two
policy texts (versions, a draft), and what another editor changed in a form before a refused
save."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django import forms

from policies.models import (
    PolicyVersion,
)

# --- code listings and diffs -------------------------------------------------------------------


@dataclass(frozen=True)
class CodeLine:
    number: int
    text: str
    mark: str = ""  # "problem" for a line a syntax error points at


def numbered(text: str) -> list[CodeLine]:
    return [CodeLine(number, line) for number, line in enumerate(text.splitlines(), start=1)]


def listing(text: str) -> Listing:
    """A whole policy for a page: with line numbers, unless it is too long to be read there."""
    count = text.count("\n") + (0 if text.endswith("\n") else 1)
    return Listing(numbered(text) if count <= FULL_LISTING_MAX_LINES else None, count)


@dataclass(frozen=True)
class Listing:
    lines: list[CodeLine] | None  # None: too long to show
    count: int


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "del", "ctx", "hunk", "meta"
    old: int | None
    new: int | None
    text: str


class _KnownOpcodes(difflib.SequenceMatcher):
    """A SequenceMatcher that groups opcodes computed elsewhere (see diff_rows)."""

    def __init__(self, opcodes: list[tuple[str, int, int, int, int]]) -> None:
        super().__init__(None, [], [])
        self._known = opcodes

    def get_opcodes(self) -> list[tuple[str, int, int, int, int]]:  # type: ignore[override]
        return self._known


# Rows of a diff shown at once; a policy of thousands of rules published for the first time
# would otherwise send tens of thousands of lines to the browser.
MAX_DIFF_ROWS = 4000


def diff_rows(
    before: str, after: str, *, from_label: str, to_label: str, context: int = 3
) -> list[DiffLine]:
    """The unified diff of two texts as rows with old and new line numbers.

    The common head and tail are set aside before difflib looks at the rest: a shared
    object edit changes a few lines of a 30,000-line policy, and matching only the middle
    keeps the live preview fast. The result is that of difflib.unified_diff.
    """
    a, b = before.splitlines(), after.splitlines()
    head = 0
    limit = min(len(a), len(b))
    while head < limit and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < limit - head and a[len(a) - 1 - tail] == b[len(b) - 1 - tail]:
        tail += 1
    if head == len(a) == len(b):
        return []
    middle = difflib.SequenceMatcher(
        None, a[head : len(a) - tail], b[head : len(b) - tail], autojunk=False
    ).get_opcodes()
    opcodes = [("equal", 0, head, 0, head)] if head else []
    for tag, i1, i2, j1, j2 in middle:
        opcodes.append((tag, i1 + head, i2 + head, j1 + head, j2 + head))
    if tail:
        opcodes.append(("equal", len(a) - tail, len(a), len(b) - tail, len(b)))
    rows = [
        DiffLine("meta", None, None, f"--- {from_label}"),
        DiffLine("meta", None, None, f"+++ {to_label}"),
    ]
    for group in _KnownOpcodes(opcodes).get_grouped_opcodes(context):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        rows.append(DiffLine("hunk", None, None, f"@@ -{_range(i1, i2)} +{_range(j1, j2)} @@"))
        for tag, k1, k2, m1, m2 in group:
            if tag == "equal":
                rows.extend(
                    DiffLine("ctx", k + 1, m1 + n + 1, a[k]) for n, k in enumerate(range(k1, k2))
                )
                continue
            rows.extend(DiffLine("del", k + 1, None, a[k]) for k in range(k1, k2))
            rows.extend(DiffLine("add", None, m + 1, b[m]) for m in range(m1, m2))
    return rows


def _range(start: int, stop: int) -> str:
    """A hunk range as unified diffs write it: `first,count`, 1-based."""
    length = stop - start
    first = start + 1
    if length == 1:
        return str(first)
    if length == 0:
        first -= 1
    return f"{first},{length}"


def truncated(rows: list[DiffLine]) -> tuple[list[DiffLine], int]:
    """At most MAX_DIFF_ROWS rows, and how many were left out."""
    if len(rows) <= MAX_DIFF_ROWS:
        return rows, 0
    return rows[:MAX_DIFF_ROWS], len(rows) - MAX_DIFF_ROWS


def diff_stats(rows: Sequence[DiffLine]) -> tuple[int, int]:
    return (
        sum(1 for row in rows if row.kind == "add"),
        sum(1 for row in rows if row.kind == "del"),
    )


# A preview is sent on every pause in typing: past this, only the diff is shown.
FULL_LISTING_MAX_LINES = 3000


def versions_diff(older: PolicyVersion | None, newer: PolicyVersion) -> list[DiffLine]:
    label = newer.stack.label
    return diff_rows(
        older.text if older is not None else "",
        newer.text,
        from_label=f"{label} v{older.number}" if older is not None else f"{label} (nothing)",
        to_label=f"{label} v{newer.number}",
    )


def draft_diff(draft: Any) -> list[DiffLine]:
    """The draft against the last published version (services.Draft.diff, as rows)."""
    published = draft.published
    label = draft.stack.label
    return diff_rows(
        published.text if published is not None else "",
        draft.text,
        from_label=f"{label} v{published.number}"
        if published is not None
        else f"{label} (nothing)",
        to_label=f"{label} draft",
    )


# --- a refused save: what the other editor changed ------------------------------------------------


@dataclass(frozen=True)
class Difference:
    label: str
    theirs: str
    yours: str


def _display(value: Any) -> str:
    if isinstance(value, bool):
        return "On" if value else "Off"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    if value in (None, ""):
        return "—"
    return str(value)


def _comparable(field: Any, value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    if isinstance(field.field, forms.NullBooleanField):
        return field.field.to_python(value)
    if isinstance(field.field, forms.BooleanField):
        return bool(value) and value not in ("false", "False", "0", "off")
    return "" if value is None else str(value)


def form_differences(yours: forms.BaseForm, theirs: forms.BaseForm) -> list[Difference]:
    """Fields where the stored object (an unbound form of it) differs from the user's input."""
    out = []
    for name in yours.fields:
        if name == "revision":
            continue
        mine, stored = yours[name], theirs[name]
        mine_value, stored_value = (
            _comparable(mine, mine.value()),
            _comparable(stored, stored.value()),
        )
        if mine_value != stored_value:
            out.append(Difference(str(mine.label), _display(stored_value), _display(mine_value)))
    return out
