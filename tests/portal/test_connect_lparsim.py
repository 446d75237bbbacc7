"""`manage.py connect_lparsim`: the portal wired to a running lparsim from its state file."""

from __future__ import annotations

import asyncio
import copy
import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest
from django.core.management import CommandError, call_command

from fleet.connectors.factory import connector_for, probe_address
from fleet.models import LparConnection
from fleet.secrets import decrypt
from lparsim.config import load_config
from lparsim.runner import STATE_FILE, SimulatorThread
from policies.models import Lpar
from tests.lparsim.support import PASSWORD, USER, base_config, write_config


class Running:
    def __init__(self, thread: SimulatorThread, config_path: Path) -> None:
        self.simulator = thread.simulator
        self.config_path = config_path
        self.state_file = self.simulator.config.workdir / STATE_FILE


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """SYSA (in the design) and SYSZ (not in it), one user with a password and a key."""
    data = base_config()
    extra = copy.deepcopy(data["lpars"][0])
    extra.update(name="SYSZ", services=[], key_rings=[])
    data["lpars"].append(extra)
    directory = tmp_path_factory.mktemp("lparsim")
    config_path = write_config(directory, data)
    thread = SimulatorThread(load_config(config_path), populations=False).start()
    try:
        yield Running(thread, config_path)
    finally:
        thread.stop()


def connect(running: Running, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "connect_lparsim",
        str(running.state_file),
        "--config",
        str(running.config_path),
        *args,
        stdout=out,
        stderr=err,
    )
    return out.getvalue(), err.getvalue()


async def presented_host_key(port: int) -> str:
    key = await asyncssh.get_server_host_key("127.0.0.1", port)
    assert key is not None
    return key.export_public_key().decode().strip()


def test_creates_a_connection_for_each_designed_lpar(db: None, running: Running) -> None:
    Lpar.objects.create(name="SYSA")
    Lpar.objects.create(name="SYSB")  # in the design, not simulated: left alone

    output, _ = connect(running)

    assert "SYSA: created connection" in output
    assert "SYSZ: skipped, not an LPAR of the design" in output
    assert list(LparConnection.objects.values_list("lpar__name", flat=True)) == ["SYSA"]
    connection = LparConnection.objects.get()
    lpar = running.simulator.lpars["SYSA"].config
    assert (connection.host, connection.zosmf_port, connection.ssh_port) == (
        "127.0.0.1",
        lpar.zosmf_port,
        lpar.ssh_port,
    )
    assert connection.transport == "zosmf"
    assert connection.username == USER
    assert decrypt(connection.password_encrypted) == PASSWORD
    key_file = running.simulator.user_key_path(USER)
    assert decrypt(connection.ssh_key_encrypted) == key_file.read_text()
    assert connection.ca_bundle == running.simulator.ca_file.read_text()
    assert connection.pagent_procname == "PAGENT"
    # The pinned key is the one the simulator really presents.
    presented = asyncio.run(presented_host_key(lpar.ssh_port))
    assert connection.ssh_host_key.split()[:2] == presented.split()[:2]
    # z/OS port -> host port for the inbound services; the outbound one has none.
    ports = {s.port: s.host_port for s in lpar.services if s.direction == "Inbound"}
    # and where the TLS pre-check reaches each partner, as z/OS names it (address:port).
    partners = {
        f"{p.config.address}:{p.config.port}": p.config.host_port
        for p in running.simulator.partners.values()
    }
    expected = {"TCPIP": {str(p): h for p, h in ports.items()}}
    assert connection.probe_ports == ({**expected, "partners": partners} if partners else expected)
    assert probe_address(connection, "TCPIP", 992) == ("127.0.0.1", ports[992])


def test_the_connection_it_makes_works(db: None, running: Running) -> None:
    Lpar.objects.create(name="SYSA")
    connect(running)
    with connector_for(LparConnection.objects.get()) as lpar:
        assert lpar.zosmf.info()["lparsim"]["system"] == "SYSA"
        assert lpar.run("whoami").stdout.strip().upper() == USER


def test_running_it_again_updates_and_keeps_the_transport(db: None, running: Running) -> None:
    Lpar.objects.create(name="SYSA")
    connect(running, "--transport", "ssh")
    connection = LparConnection.objects.get()
    connection.zosmf_port = 1
    connection.save()

    output, _ = connect(running)

    assert "SYSA: updated connection (files via ssh" in output
    connection.refresh_from_db()
    assert connection.transport == "ssh"
    assert connection.zosmf_port == running.simulator.lpars["SYSA"].config.zosmf_port
    assert LparConnection.objects.count() == 1


def test_secrets_are_stored_encrypted_and_never_printed(db: None, running: Running) -> None:
    Lpar.objects.create(name="SYSA")
    output, errors = connect(running)
    connection = LparConnection.objects.get()
    key_text = running.simulator.user_key_path(USER).read_text()
    key_lines = [line for line in key_text.splitlines() if "-----" not in line]

    assert PASSWORD not in connection.password_encrypted
    assert "OPENSSH PRIVATE KEY" not in connection.ssh_key_encrypted
    for text in (output, errors):
        assert PASSWORD not in text
        assert all(line not in text for line in key_lines)
    assert "with password and key" in output
    assert "ssh-ed25519 SHA256:" in output


def test_a_stale_state_file_is_refused(db: None, running: Running, tmp_path: Path) -> None:
    process = subprocess.Popen(["true"])
    process.wait()  # reaped: the pid names no process now
    state = json.loads(running.state_file.read_text())
    state["pid"] = process.pid
    stale = tmp_path / STATE_FILE
    stale.write_text(json.dumps(state))
    with pytest.raises(CommandError, match="not running"):
        call_command("connect_lparsim", str(stale), "--config", str(running.config_path))


def test_a_missing_state_file_is_refused(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="is lparsim running"):
        call_command("connect_lparsim", str(tmp_path))


def test_no_password_in_the_config_is_a_warning(db: None, running: Running, tmp_path: Path) -> None:
    Lpar.objects.create(name="SYSA")
    config = tmp_path / "other.yaml"
    config.write_text(
        "version: 1\nsim:\n  users: [{name: ATTLSADM, generate_key: true}]\nlpars: []\n"
    )
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "connect_lparsim", str(running.state_file), "--config", str(config), stdout=out, stderr=err
    )
    assert "has no password for ATTLSADM" in err.getvalue()
    assert "with key;" in out.getvalue()
    assert decrypt(LparConnection.objects.get().password_encrypted) == ""


def test_zert_collection_is_switched_on_only_when_asked(db: None, running: Running) -> None:
    Lpar.objects.create(name="SYSA")
    out, _ = connect(running)
    assert not LparConnection.objects.get(lpar__name="SYSA").zert_enabled
    assert "zERT collection off" in out

    out, _ = connect(running, "--zert")

    assert LparConnection.objects.get(lpar__name="SYSA").zert_enabled
    assert "zERT collection on" in out
