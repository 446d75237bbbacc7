"""Fixtures that start lparsim for a test or a module and stop it afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lparsim.config import Config, load_config
from lparsim.runner import SimulatorThread
from tests.lparsim.support import Sim, base_config, write_config


def pytest_configure(config: pytest.Config) -> None:
    # Registered here because the marker is lparsim's; pyproject.toml may list it later.
    config.addinivalue_line("markers", "slow: lparsim tests that take several seconds")


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Sim]]:
    """start(data=None, populations=False) -> a running Sim, stopped after the test."""
    running: list[SimulatorThread] = []

    def starter(data: dict[str, Any] | None = None, *, populations: bool = False) -> Sim:
        path = write_config(tmp_path, data or base_config())
        config: Config = load_config(path)
        thread = SimulatorThread(config, populations=populations).start()
        running.append(thread)
        return Sim(thread)

    yield starter
    for thread in running:
        thread.stop()


@pytest.fixture(scope="module")
def shared_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    """One simulator for a module's read-mostly tests."""
    directory = tmp_path_factory.mktemp("lparsim")
    config = load_config(write_config(directory, base_config()))
    thread = SimulatorThread(config, populations=False).start()
    try:
        yield Sim(thread)
    finally:
        thread.stop()
