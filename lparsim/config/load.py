"""Reading the whole file: `parse_config` on parsed YAML, `load_config` on a path, and the host
port allocation of `auto` ports."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from lparsim.config.model import AUTO, Config, ConfigError, ConfigProblem
from lparsim.config.reader import _items, _Reader, _unique
from lparsim.config.sections import _POPULATION_DEFAULTS, _SIM, _TOP, _lpar, _partner, _user


def parse_config(
    data: Any, *, source: Path, workdir: Path | None = None, base_port: int | None = None
) -> Config:
    """Validates a loaded YAML document. Raises ConfigError listing every problem.

    `workdir` and `base_port` override the file's `sim.workdir` and `sim.base_port` (so
    tests and benchmarks can run the same file side by side, with ports from the system).
    """
    if base_port == 0:
        # Ports from the system: explicit host ports in the file give way too, so that
        # several copies of one file can run at once.
        data = _without_explicit_ports(data)
    reader = _Reader(source.parent)
    top = reader.mapping(data, "", _TOP, required=("sim", "lpars"))
    if "version" in top and top["version"] != 1:
        reader.problem("version", f"only version 1 is understood, got {top['version']!r}")
    sim = reader.mapping(top.get("sim"), "sim", _SIM, required=("workdir",))
    workdir_text = reader.text(sim, "workdir", "sim")
    file_workdir = reader.path(workdir_text) if workdir_text else source.parent
    workdir = workdir.resolve() if workdir is not None else file_workdir
    file_base = reader.number(sim, "base_port", "sim", 0, minimum=0, maximum=65000, integer=True)
    if base_port is None:
        base_port = file_base
    defaults = {
        "address": reader.address(sim, "address", "sim", "127.0.0.1"),
        "release": reader.text(sim, "release", "sim", "2.5") or "2.5",
    }
    reader.population_defaults = reader.mapping(
        sim.get("population_defaults"), "sim.population_defaults", _POPULATION_DEFAULTS
    )
    ca = reader.mapping(sim.get("ca"), "sim.ca", ("cert", "key"))
    ca_cert = ca_key = None
    if ca:
        if "cert" not in ca or "key" not in ca:
            reader.problem("sim.ca", "give both cert and key (PEM files), or leave ca out")
        else:
            ca_cert = reader.path(reader.text(ca, "cert", "sim.ca") or "")
            ca_key = reader.path(reader.text(ca, "key", "sim.ca") or "")
            for key, file in (("cert", ca_cert), ("key", ca_key)):
                if not file.is_file():
                    reader.problem(f"sim.ca.{key}", f"no such file: {file}")
    admin = reader.mapping(sim.get("admin"), "sim.admin", ("port",))
    admin_port = reader.port(admin, "port", "sim.admin", auto=True) or 0
    users = [
        _user(reader, item, item_path)
        for _, item_path, item in _items(reader, sim.get("users"), "sim.users")
    ]
    _unique(reader, users, lambda u: u.name, "sim.users", "user")
    lpars = [
        _lpar(reader, item, item_path, defaults)
        for _, item_path, item in _items(reader, top.get("lpars"), "lpars")
    ]
    if "lpars" in top and not lpars:
        reader.problem("lpars", "needs at least one LPAR")
    _unique(reader, lpars, lambda lpar: lpar.name, "lpars", "LPAR")
    partners = [
        _partner(reader, item, item_path, defaults["address"])
        for _, item_path, item in _items(reader, top.get("partners"), "partners")
    ]
    _unique(reader, partners, lambda p: p.name, "partners", "partner")
    by_name = {p.name: p for p in partners}
    for lpar in lpars:
        for service in lpar.services:
            if service.partner is None:
                continue
            partner = by_name.get(service.partner)
            if partner is None:
                reader.problem(
                    f"{service.path}.sim.partner",
                    f"no partner '{service.partner}' under partners "
                    f"({', '.join(sorted(by_name)) or 'none defined'})",
                )
            elif partner.port and service.port and partner.port != service.port:
                reader.problem(
                    f"{service.path}.port",
                    f"an Outbound service's port is the port of its partner: {partner.name} "
                    f"listens on {partner.port}, not {service.port}",
                )
    config = Config(
        source=source,
        workdir=workdir,
        base_port=base_port,
        ca_cert=ca_cert,
        ca_key=ca_key,
        admin_port=admin_port,
        users=users,
        lpars=lpars,
        partners=partners,
    )
    if not reader.problems:
        _allocate_ports(reader, config)
    if reader.problems:
        raise ConfigError(reader.problems, str(source))
    return config


def _allocate_ports(reader: _Reader, config: Config) -> None:
    """Gives every `auto` port (0) a host port from base_port, skipping explicit ones."""
    slots: list[tuple[str, Callable[[int], None], int]] = []

    def slot(path: str, current: int, assign: Callable[[int], None]) -> None:
        slots.append((path, assign, current))

    slot("sim.admin.port", config.admin_port, lambda p: setattr(config, "admin_port", p))
    for index, lpar in enumerate(config.lpars):
        path = f"lpars[{index}].sim"
        slot(f"{path}.zosmf_port", lpar.zosmf_port, lambda p, o=lpar: setattr(o, "zosmf_port", p))
        slot(f"{path}.ssh_port", lpar.ssh_port, lambda p, o=lpar: setattr(o, "ssh_port", p))
        for service in lpar.services:
            if service.direction == "Inbound":
                slot(
                    f"{service.path}.sim.host_port",
                    service.host_port,
                    lambda p, o=service: setattr(o, "host_port", p),
                )
    for index, partner in enumerate(config.partners):
        slot(
            f"partners[{index}].sim.host_port",
            partner.host_port,
            lambda p, o=partner: setattr(o, "host_port", p),
        )
    taken: dict[int, str] = {}
    for path, _, current in slots:
        if current:
            if current in taken:
                reader.problem(path, f"host port {current} is also given at {taken[current]}")
            taken[current] = path
    if config.base_port == 0:
        return
    next_port = config.base_port
    for path, assign, current in slots:
        if current:
            continue
        while next_port in taken:
            next_port += 1
        if next_port > 65535:
            reader.problem(path, "ran out of host ports above sim.base_port")
            return
        taken[next_port] = path
        assign(next_port)
        next_port += 1


def _without_explicit_ports(data: Any) -> Any:
    """A copy of the document with every host port set to auto (base port 0)."""
    data = copy.deepcopy(data)
    if not isinstance(data, dict):
        return data
    sim = data.get("sim")
    if isinstance(sim, dict) and isinstance(sim.get("admin"), dict):
        sim["admin"]["port"] = AUTO
    for lpar in data.get("lpars") or []:
        if not isinstance(lpar, dict):
            continue
        lpar_sim = lpar.get("sim")
        if isinstance(lpar_sim, dict):
            for key in ("zosmf_port", "ssh_port"):
                if key in lpar_sim:
                    lpar_sim[key] = AUTO
        for service in lpar.get("services") or []:
            _auto_host_port(service)
    for partner in data.get("partners") or []:
        _auto_host_port(partner)
    return data


def _auto_host_port(item: Any) -> None:
    if isinstance(item, dict) and isinstance(item.get("sim"), dict) and "host_port" in item["sim"]:
        item["sim"]["host_port"] = AUTO


def load_config(
    path: str | Path, *, workdir: Path | None = None, base_port: int | None = None
) -> Config:
    """Reads and validates a configuration file. Raises ConfigError (or OSError)."""
    source = Path(path).resolve()
    text = source.read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(
            [ConfigProblem(where, f"not valid YAML: {problem}")], str(source)
        ) from None
    return parse_config(data, source=source, workdir=workdir, base_port=base_port)
