"""The container image's definition, checked statically: no container runtime here, so the
image is never built (deploy/README.md says so). What can be checked without one is: what it
copies exists and reaches the build, it installs from the lock with hashes, its entrypoint
exists and parses, and the settings its build step runs with load."""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.portal.test_security import run_manage

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "deploy" / "Containerfile"
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in CONTAINERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        keyword, _, arguments = text.partition(" ")
        found.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Containerfile ends inside a continued line"
    return found


def ignore_file() -> Path:
    # What podman (buildah) reads, in its order; docker reads the second.
    for name in (".containerignore", ".dockerignore"):
        if (ROOT / name).is_file():
            return ROOT / name
    raise AssertionError("no .containerignore or .dockerignore: the build gets everything")


def ignored(path: str) -> bool:
    """Whether the ignore file leaves `path` (relative to the context) out of the build."""
    patterns = [
        line.strip().rstrip("/")
        for line in ignore_file().read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = Path(path).parts
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    return any(
        fnmatch.fnmatch(prefix, pattern) or fnmatch.fnmatch(prefix, pattern.removeprefix("**/"))
        for pattern in patterns
        for prefix in prefixes
    )


def copies() -> list[tuple[list[str], str]]:
    found = []
    for keyword, arguments in instructions():
        if keyword == "COPY":
            words = [w for w in shlex.split(arguments) if not w.startswith("--")]
            assert "--from" not in arguments, "a multi-stage COPY: extend this test"
            found.append((words[:-1], words[-1]))
    return found


def test_every_file_the_image_copies_exists_and_reaches_the_build() -> None:
    sources = [source for sources, _ in copies() for source in sources]

    assert "requirements.lock" in sources and "deploy/entrypoint.sh" in sources
    for source in sources:
        if source == ".":
            continue
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
        assert not ignored(source), f"COPY {source}: the ignore file leaves it out"


def test_the_context_keeps_local_state_and_secrets_out() -> None:
    for path in (".venv/bin/python", "var/portal.sqlite3", ".env", ".git/config"):
        assert ignored(path), f"{path} would be sent into the image"
    for path in ("manage.py", "portal/settings.py", "deploy/gunicorn.conf.py", "static"):
        assert not ignored(path), f"{path} is needed in the image"


def test_it_installs_from_the_lock_with_hashes_and_refuses_a_stale_lock() -> None:
    runs = [arguments for keyword, arguments in instructions() if keyword == "RUN"]
    install = next(run for run in runs if "pip install" in run)

    assert "--require-hashes" in install and "--requirement requirements.lock" in install
    assert "pyproject_deps.py fingerprint" in install  # the bootstrap's staleness check
    assert ("scripts/pyproject_deps.py", "scripts/") in [
        (sources[0], target) for sources, target in copies() if len(sources) == 1
    ]
    lock = (ROOT / "requirements.lock").read_text()
    pinned = [line for line in lock.splitlines() if re.match(r"^[A-Za-z0-9_.\-\[\],]+==", line)]
    assert pinned, "requirements.lock pins nothing"
    # Every pinned package has its hashes on the continuation lines that follow it.
    blocks = re.split(r"\n(?=[A-Za-z0-9_.\-\[\],]+==)", lock)
    assert all("--hash=sha256:" in block for block in blocks if "==" in block.split("\n")[0])


def test_the_python_of_the_image_is_the_one_the_project_requires() -> None:
    base = next(arguments for keyword, arguments in instructions() if keyword == "FROM")
    requires = re.search(
        r'requires-python = ">=3\.(\d+),<3\.(\d+)"', (ROOT / "pyproject.toml").read_text()
    )

    assert requires is not None
    minor = re.search(r"python:3\.(\d+)", base)
    assert minor is not None and int(requires[1]) <= int(minor[1]) < int(requires[2])


def test_the_entrypoint_exists_is_executable_and_parses_as_posix_sh() -> None:
    entrypoint = next(arguments for keyword, arguments in instructions() if keyword == "ENTRYPOINT")
    command = shlex.split(entrypoint.strip("[]").replace(",", " "))[0]
    targets = {target for sources, target in copies() if sources == ["deploy/entrypoint.sh"]}

    assert targets == {f"/usr/local/bin/{command}"}  # on the image's PATH under that name
    assert ENTRYPOINT.stat().st_mode & stat.S_IXUSR
    assert ENTRYPOINT.read_text().startswith("#!/bin/sh\n")
    shell = shutil.which("dash") or shutil.which("sh")
    if shell is None:
        pytest.skip("no POSIX shell to parse the entrypoint with")
    parsed = subprocess.run([shell, "-n", str(ENTRYPOINT)], capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stderr


def test_what_the_entrypoint_runs_is_in_the_image_where_it_looks() -> None:
    workdir = next(arguments for keyword, arguments in instructions() if keyword == "WORKDIR")
    script = ENTRYPOINT.read_text()

    assert f"cd {workdir}\n" in script
    for path in re.findall(r"(?:--config |python )(\S+\.py)", script):
        assert (ROOT / path).is_file(), f"the entrypoint runs {path}, which does not exist"
    assert {"web)", "worker)", "beat)", "migrate)"} <= set(re.findall(r"^(\w+\))", script, re.M))


def test_the_settings_of_the_build_step_that_collects_static_files_load(tmp_path: Path) -> None:
    step = next(arguments for keyword, arguments in instructions() if "collectstatic" in arguments)
    assignments = dict(re.findall(r"\b([A-Z_]+)=(\S+)", step.split("python manage.py")[0]))
    assignments["DATABASE_URL"] = f"sqlite:///{tmp_path / 'collectstatic.sqlite3'}"

    result = run_manage("check", **assignments, DJANGO_STATIC_ROOT=str(tmp_path / "static"))

    assert {"DJANGO_DEBUG", "DJANGO_SECRET_KEY", "FLEET_SECRETS_KEY"} <= set(assignments)
    assert result.returncode == 0, result.stderr
