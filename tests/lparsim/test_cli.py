"""`python -m lparsim run` as a process: ready lines, faults from the CLI, a clean SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.lparsim.support import base_config, write_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_run_prints_one_ready_line_per_lpar_takes_faults_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    path = write_config(tmp_path, base_config())
    process = subprocess.Popen(
        [sys.executable, "-m", "lparsim", "run", str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(2)]
        assert lines[0].startswith("lparsim: SYSA ready: zosmf=https://127.0.0.1:")
        assert "LPAR(s) ready in" in lines[1]
        state = json.loads((tmp_path / "work" / "lparsim-state.json").read_text())
        assert state["pid"] == process.pid

        fault = subprocess.run(
            [
                sys.executable,
                "-m",
                "lparsim",
                "fault",
                str(path),
                "SYSA",
                "zosmf",
                "--status",
                "503",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert fault.returncode == 0, fault.stderr
        assert json.loads(fault.stdout)["zosmf_status"] == 503
        for words, check in (
            (
                ["request", "--method", "PUT", "--path", "/zosmf/restconsoles/", "--count", "3"],
                lambda faults: (
                    faults["request_fail"]
                    == {
                        "method": "PUT",
                        "path": "/zosmf/restconsoles/",
                        "status": 500,
                        "remaining": 3,
                    }
                ),
            ),
            (
                ["lose-session", "--command", "pasearch"],
                lambda faults: (
                    (faults["lose_command"], faults["lose_remaining"]) == ("pasearch", 1)
                ),
            ),
        ):
            added = subprocess.run(
                [sys.executable, "-m", "lparsim", "fault", str(path), "SYSA", *words],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert added.returncode == 0, added.stderr
            assert check(json.loads(added.stdout)), added.stdout
        unknown = subprocess.run(
            [sys.executable, "-m", "lparsim", "fault", str(path), "SYSZ", "clear"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert unknown.returncode == 1 and "no LPAR SYSZ" in unknown.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    assert process.returncode == 0
    assert not (tmp_path / "work" / "lparsim-state.json").exists()


def test_run_refuses_a_bad_configuration_with_its_problems(tmp_path: Path) -> None:
    data = base_config()
    data["lpars"][0]["name"] = "TOOLONGNAME"
    path = write_config(tmp_path, data)
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "lparsim", "run", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "lpars[0].name: 'TOOLONGNAME' is not a z/OS name" in result.stderr
    assert time.monotonic() - began < 30
