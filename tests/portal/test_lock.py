"""requirements.lock is what scripts/bootstrap.sh installs (`pip install --require-hashes`):
it must be compiled from pyproject.toml's current dependency lists and pin every one of them
with hashes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"


def pinned() -> dict[str, str]:
    versions = {}
    for line in LOCK.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^ \\]+)", line)
        if match:
            versions[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return versions


def run(command: str) -> str:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "pyproject_deps.py"), command],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_the_lock_was_compiled_from_pyprojects_current_dependencies() -> None:
    header = re.search(r"^# pyproject-dependencies-sha256: ([0-9a-f]{64})$", LOCK.read_text(), re.M)
    assert header, "requirements.lock has no fingerprint line: run `make lock`"
    assert header[1] == run("fingerprint").strip(), (
        "pyproject.toml's dependencies changed since requirements.lock was generated: "
        "run `make lock` and commit requirements.lock"
    )


def test_every_dependency_is_pinned_with_hashes_within_pyprojects_range() -> None:
    versions = pinned()
    for line in run("requirements").splitlines():
        requirement = Requirement(line)
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in versions, f"{requirement.name} is not in requirements.lock"
        assert requirement.specifier.contains(versions[name], prereleases=True), (
            f"{requirement.name}=={versions[name]} is outside {requirement.specifier}"
        )
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text())
    for block in blocks:
        if "==" in block.split("\n", 1)[0]:
            assert "--hash=sha256:" in block, f"no hash for {block.split()[0]}"
