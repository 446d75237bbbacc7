"""What pyproject.toml asks to install, for `make lock` and scripts/bootstrap.sh.

  python scripts/pyproject_deps.py requirements   the runtime and dev dependency lines
  python scripts/pyproject_deps.py fingerprint    SHA-256 of those lists (canonical JSON)

requirements.lock records the fingerprint of the lists it was compiled from; the bootstrap
compares it with pyproject.toml's, so a dependency added to pyproject.toml without
`make lock` is named at once rather than silently not installed. Only the dependency lists
count: editing ruff's or pytest's settings in pyproject.toml does not stale the lock.
Standard library only (tomllib): it runs before the virtualenv exists.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def dependency_lists() -> dict[str, list[str]]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    return {
        "dependencies": list(project["dependencies"]),
        "dev": list(project["optional-dependencies"]["dev"]),
    }


def requirements() -> str:
    lists = dependency_lists()
    return "\n".join(lists["dependencies"] + lists["dev"]) + "\n"


def fingerprint() -> str:
    canonical = json.dumps(dependency_lists(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


if __name__ == "__main__":
    commands = {"requirements": requirements, "fingerprint": lambda: fingerprint() + "\n"}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    sys.stdout.write(commands[sys.argv[1]]())
