"""No module of the project is over 800 lines (migrations and tests apart): past that, a
one-line change means opening a file nobody reads whole, so a module that grows is split by role.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

MAX_LINES = 800
ROOT = Path(settings.BASE_DIR)
SKIPPED_DIRS = {"tests", "migrations", "node_modules", "var", "static", "templates", "__pycache__"}


def _modules() -> list[Path]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if any(part.startswith(".") or part in SKIPPED_DIRS for part in parts[:-1]):
            continue
        found.append(path)
    return found


def _lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def test_it_sees_the_project() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in _modules()}
    assert {"manage.py", "fleet/views.py", "lparsim/lpar.py", "attls/lint/__init__.py"} <= names
    assert not any(name.startswith((".venv/", "tests/")) for name in names)
    assert not any("/migrations/" in name for name in names)


def test_no_module_is_over_800_lines() -> None:
    over = {
        path.relative_to(ROOT).as_posix(): _lines(path)
        for path in _modules()
        if _lines(path) > MAX_LINES
    }
    assert not over, f"over {MAX_LINES} lines, split by role: {over}"
