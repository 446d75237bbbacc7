"""A real lparsim for the fleet tests, and the LparConnection `connect_lparsim` makes for it.

The simulator runs in-process on its own loop (lparsim.runner.SimulatorThread), one per
test module, with every port from the system; the portal reaches it only over sockets and
through the files it writes (its state file, CA, keys).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.management import call_command

from fleet.connectors.base import Timeouts
from fleet.models import LparConnection
from lparsim.config import load_config
from lparsim.runner import STATE_FILE, SimulatorThread
from policies.models import Lpar, Stack
from tests.lparsim.support import PASSWORD, USER, base_config, write_config

# Short enough to keep the suite fast, long enough for a loaded CI machine.
FAST = Timeouts(connect=3.0, read=5.0, command=5.0, console_polls=3, console_poll_interval=0.1)


class Lab:
    """A running simulator, the files it wrote, and its fault API."""

    user = USER
    password = PASSWORD

    def __init__(self, thread: SimulatorThread, config_path: Path) -> None:
        self.thread = thread
        self.simulator = thread.simulator
        self.config_path = config_path
        self.workdir = self.simulator.config.workdir
        self.state_file = self.workdir / STATE_FILE
        self.key_text = self.simulator.user_key_path(USER).read_text()

    def lpar(self, name: str = "SYSA") -> Any:
        return self.simulator.lpars[name]

    def admin(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        response = httpx.post(self.simulator.admin_url() + path, json=body or {}, timeout=10)
        response.raise_for_status()
        return response

    def fault(self, kind: str, lpar: str = "SYSA", **body: Any) -> None:
        self.admin(f"/lpars/{lpar}/faults/{kind}", body)

    def clear(self, lpar: str = "SYSA") -> None:
        self.admin(f"/lpars/{lpar}/faults/clear")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    directory = tmp_path_factory.mktemp("lparsim")
    config_path = write_config(directory, base_config())
    thread = SimulatorThread(load_config(config_path), populations=False).start()
    try:
        yield Lab(thread, config_path)
    finally:
        thread.stop()


@pytest.fixture
def connection(db: None, lab: Lab) -> LparConnection:
    """SYSA in the design and its connection, made by `manage.py connect_lparsim`."""
    lpar = Lpar.objects.create(name="SYSA")
    Stack.objects.create(lpar=lpar, name="TCPIP")
    call_command(
        "connect_lparsim",
        str(lab.state_file),
        "--config",
        str(lab.config_path),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    return LparConnection.objects.get(lpar=lpar)
