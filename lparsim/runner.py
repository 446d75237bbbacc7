"""Starts and stops a whole simulated estate in one asyncio loop.

`Simulator(config)` owns the CA, the partners, the LPARs and the admin API. `start()` brings
everything up and returns when every listener is bound; client populations start after
that, in the background. `SimulatorThread` runs a simulator on its own loop in a thread, for
tests and benchmarks that drive it from synchronous code.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import asyncssh

from lparsim import pki
from lparsim.admin import AdminFront
from lparsim.config import Config
from lparsim.dataplane import PartnerServer
from lparsim.lpar import Lpar

STATE_FILE = "lparsim-state.json"


class Simulator:
    def __init__(self, config: Config, *, populations: bool = True) -> None:
        self.config = config
        self.run_populations = populations
        self.lpars: dict[str, Lpar] = {}
        self.partners: dict[str, PartnerServer] = {}
        self.admin = AdminFront(self)
        self.ca: pki.Issued | None = None
        self.ca_file: Path = config.workdir / "pki" / "ca-cert.pem"
        self.started_at = 0.0
        self.ready_seconds = 0.0

    # --- preparation -----------------------------------------------------------------------------

    def _prepare(self) -> None:
        workdir = self.config.workdir
        workdir.mkdir(parents=True, exist_ok=True)
        ca = pki.load_or_create_ca(
            self.config.ca_cert, self.config.ca_key, workdir / "pki" / "ca.pem"
        )
        self.ca = ca
        self.ca_file.parent.mkdir(parents=True, exist_ok=True)
        if not self.ca_file.is_file() or self.ca_file.read_bytes() != ca.cert_pem:
            self.ca_file.write_bytes(ca.cert_pem)
        for user in self.config.users:
            if user.generate_key:
                user.authorized_keys.append(self._user_key(user.name))

    def user_key_path(self, name: str) -> Path:
        return self.config.workdir / "keys" / f"{name.lower()}_ed25519"

    def _user_key(self, name: str) -> str:
        path = self.user_key_path(name)
        if path.is_file():
            key = asyncssh.read_private_key(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            key = asyncssh.generate_private_key("ssh-ed25519", comment=f"{name}@lparsim")
            key.write_private_key(str(path))
            path.chmod(0o600)
            key.write_public_key(str(path) + ".pub")
        return key.export_public_key().decode().strip()

    def _partner_cert(self, name: str, common_name: str, days: float) -> Path:
        path = self.config.workdir / "partners" / f"{name}.pem"
        if path.is_file():
            issued = pki.Issued.read(path)
            if issued.certificate.issuer == self.ca.certificate.subject:  # type: ignore[union-attr]
                return path
        assert self.ca is not None
        pki.issue(
            self.ca,
            common_name=common_name,
            not_after=pki.days_from_now(days),
            dns_names=(common_name,),
        ).write(path)
        return path

    # --- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self.started_at = time.monotonic()
        if self.run_populations:
            check_source_addresses(self.config)
        self._prepare()
        assert self.ca is not None
        for partner in self.config.partners:
            cert = self._partner_cert(partner.name, partner.common_name, partner.not_after_days)
            server = PartnerServer(partner, str(cert), str(self.ca_file))
            await server.start()
            self.partners[partner.name] = server
        for lpar_config in self.config.lpars:
            self.lpars[lpar_config.name] = Lpar(lpar_config, self.config, self.ca, self.ca_file)
        await asyncio.gather(*(lpar.start() for lpar in self.lpars.values()))
        address = self.config.lpars[0].address if self.config.lpars else "127.0.0.1"
        await self.admin.start(address, self.config.admin_port)
        self.ready_seconds = time.monotonic() - self.started_at
        self.write_state()
        if self.run_populations:
            for lpar in self.lpars.values():
                lpar.start_populations()

    async def stop(self) -> None:
        await self.admin.stop()
        await asyncio.gather(*(lpar.stop() for lpar in self.lpars.values()), return_exceptions=True)
        await asyncio.gather(
            *(partner.stop() for partner in self.partners.values()), return_exceptions=True
        )
        with contextlib.suppress(OSError):
            (self.config.workdir / STATE_FILE).unlink()

    # --- what others need to find it -------------------------------------------------------------

    def admin_url(self) -> str:
        address = self.config.lpars[0].address if self.config.lpars else "127.0.0.1"
        return f"http://{address}:{self.admin.port}"

    def ports(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "admin": self.admin_url(),
            "ca_file": str(self.ca_file),
            "user_keys": {
                user.name: str(self.user_key_path(user.name))
                for user in self.config.users
                if user.generate_key
            },
            "lpars": {name: lpar.ports() for name, lpar in self.lpars.items()},
            "partners": {
                name: {
                    "address": server.config.address,
                    "port": server.config.port,
                    "host_port": server.config.host_port,
                }
                for name, server in self.partners.items()
            },
        }

    def write_state(self) -> None:
        path = self.config.workdir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.ports(), indent=2))
        tmp.replace(path)

    def ready_lines(self) -> list[str]:
        lines = []
        for lpar in self.lpars.values():
            inbound = [s for s in lpar.config.services if s.direction == "Inbound"]
            ports = sorted(s.host_port for s in inbound)
            span = f" ({ports[0]}-{ports[-1]})" if ports else ""
            lines.append(
                f"lparsim: {lpar.name} ready: zosmf=https://{lpar.config.address}:"
                f"{lpar.config.zosmf_port} ssh={lpar.config.address}:{lpar.config.ssh_port} "
                f"services={len(lpar.config.services)}{span}"
            )
        lines.append(
            f"lparsim: admin {self.admin_url()}; {len(self.lpars)} LPAR(s) ready in "
            f"{self.ready_seconds:.2f} s"
        )
        return lines


def check_source_addresses(config: Config) -> None:
    """Raises OSError naming the first population whose source address this host cannot
    bind. Linux answers the whole 127.0.0.0/8 on lo; macOS only the addresses aliased on
    lo0 - without this, every session of such a population would fail to connect, quietly."""
    checked: set[str] = set()
    for lpar in config.lpars:
        for service in lpar.services:
            if service.direction != "Inbound":
                continue
            for population in service.populations:
                address = population.source_address
                if address in checked:
                    continue
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                with socket.socket(family, socket.SOCK_STREAM) as probe:
                    try:
                        probe.bind((address, 0))
                    except OSError as error:
                        raise OSError(
                            error.errno,
                            f"{lpar.name} {service.name}/{population.name}: cannot bind the "
                            f"source address {address} ({error.strerror}); add it to the "
                            "loopback interface or give another source_address",
                        ) from None
                checked.add(address)


class SimulatorThread:
    """A simulator on its own event loop in a daemon thread.

    with SimulatorThread(config) as sim:
        sim.simulator.lpars["SYSA"].config.zosmf_port
    """

    def __init__(self, config: Config, *, populations: bool = True, timeout: float = 30) -> None:
        self.simulator = Simulator(config, populations=populations)
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="lparsim", daemon=True)
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())
        self.loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.simulator.start()
        except BaseException as error:  # reported to the thread that starts us
            self._error = error
            self._ready.set()
            with contextlib.suppress(Exception):
                await self.simulator.stop()
            return
        self._ready.set()
        await self._stop.wait()
        await self.simulator.stop()

    def start(self) -> SimulatorThread:
        self._thread.start()
        if not self._ready.wait(self.timeout):
            raise TimeoutError("lparsim did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def call(self, coroutine: Any, timeout: float = 30) -> Any:
        """Runs a coroutine on the simulator's loop and returns its result."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(self.timeout)

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
