"""Configuration: clear errors with the path to the bad key, and the reference data center."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lparsim.config import ConfigError, load_config
from lparsim.runner import check_source_addresses
from tests.lparsim.support import base_config, write_config

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "scenario" / "reference-datacenter.yaml"


def _problems(tmp_path: Path, data: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, data))
    return [str(problem) for problem in caught.value.problems]


def test_every_problem_is_reported_with_the_path_to_its_key(tmp_path: Path) -> None:
    data = base_config()
    lpar = data["lpars"][0]
    lpar["services"][0]["direction"] = "Sideways"
    lpar["services"][0]["sim"]["app_tls"]["versions"] = ["TLSv1.2", "TLSv9"]
    lpar["services"][1]["colour"] = "blue"
    lpar["services"][2]["sim"]["partner"] = "NOBODY"
    lpar["services"][1]["port"] = "twenty-one"
    problems = _problems(tmp_path, data)
    assert (
        "lpars[0].services[0].direction: expected one of Inbound, Outbound, got 'Sideways'"
        in problems
    )
    assert any(
        p.startswith("lpars[0].services[0].sim.app_tls.versions[1]: expected one of")
        for p in problems
    )
    assert any(p.startswith("lpars[0].services[1].colour: unknown key") for p in problems)
    assert any(
        p.startswith("lpars[0].services[2].sim.partner: no partner 'NOBODY'") for p in problems
    )
    assert any(p.startswith("lpars[0].services[1].port: expected a port 1-65535") for p in problems)


def test_two_services_cannot_share_a_port_on_one_stack(tmp_path: Path) -> None:
    data = base_config()
    data["lpars"][0]["services"][1]["port"] = 992
    problems = _problems(tmp_path, data)
    assert any(
        "port 992 on stack TCPIP is already the port of service 'TN3270 Secure'" in p
        for p in problems
    )


def test_a_source_address_is_a_loopback_of_the_lpars_family_for_inbound_clients_only(
    tmp_path: Path,
) -> None:
    data = base_config()
    services = data["lpars"][0]["services"]
    services[0]["sim"]["populations"] = [
        {"name": "remote", "clients": 1, "tls": "tls1.2", "source_address": "10.1.2.3"},
        {"name": "six", "clients": 1, "tls": "tls1.2", "source_address": "::1"},
        {"name": "fine", "clients": 1, "tls": "tls1.2", "source_address": "127.1.1.3"},
    ]
    services[2]["sim"]["populations"] = [
        {"name": "channels", "clients": 1, "tls": "tls1.2", "source_address": "127.1.3.1"}
    ]
    problems = _problems(tmp_path, data)
    population = "lpars[0].services[0].sim.populations"
    assert problems == [
        f"{population}[0].source_address: 10.1.2.3 is not a loopback address (127.0.0.0/8, ::1)",
        "lpars[0].services[2].sim.populations[0].source_address: an Outbound service's "
        "sessions come from the LPAR's address (sim.address); source_address is for the "
        "clients of an Inbound service",
        f"{population}[1].source_address: ::1 cannot reach the LPAR's address 127.0.0.1 "
        "(IPv4); give an IPv4 loopback address",
    ]


def test_a_source_address_the_host_cannot_bind_stops_the_start_with_its_population(
    tmp_path: Path,
) -> None:
    data = base_config()
    data["lpars"][0]["services"][1]["sim"] = {
        "populations": [{"name": "scripts", "clients": 1, "tls": "cleartext"}]
    }
    config = load_config(write_config(tmp_path, data))
    check_source_addresses(config)  # 127.0.0.1, the default: bindable
    # Past the configuration's check (as a loopback alias missing on macOS would be).
    config.lpars[0].services[1].populations[0].source_address = "192.0.2.7"
    with pytest.raises(
        OSError, match=r"SYSA FTP/scripts: cannot bind the source address 192\.0\.2\.7"
    ):
        check_source_addresses(config)


def test_missing_sections_and_bad_yaml_are_named(tmp_path: Path) -> None:
    assert "lpars: is required" in _problems(tmp_path, {"sim": {"workdir": "w"}})
    path = tmp_path / "broken.yaml"
    path.write_text("sim: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_the_check_command_exits_non_zero_with_the_problems(tmp_path: Path) -> None:
    data = base_config()
    data["partners"][0]["sim"]["tls"]["versions"] = ["TLSv1.2", "TLSv1.3"]
    path = write_config(tmp_path, data)
    result = subprocess.run(
        [sys.executable, "-m", "lparsim", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "partners[0].sim.tls.rejects_tls13_offer" in result.stderr


def test_the_reference_data_center_has_the_estate_the_scenario_describes(tmp_path: Path) -> None:
    config = load_config(REFERENCE, workdir=tmp_path, base_port=0)
    assert [lpar.name for lpar in config.lpars] == ["SYSA", "SYSB", "LAB1"]
    production = [s for lpar in config.lpars[:2] for s in lpar.services]
    assert len(production) == 30
    tiers = [service.criticality for service in production]
    assert {tier: tiers.count(tier) for tier in set(tiers)} == {"low": 10, "medium": 10, "high": 10}
    assert {lpar.stacks[0].name for lpar in config.lpars} == {"TCPIP"}
    kinds = {service.kind for service in production}
    assert {"tn3270", "cics", "mq", "db2", "ftp", "zosmf", "filetransfer"} <= kinds
    assert any(s.direction == "Outbound" and s.partner == "CLEARHOUSE" for s in production)
    clearhouse = config.partner("CLEARHOUSE")
    assert clearhouse is not None and clearhouse.tls is not None
    assert clearhouse.tls.rejects_tls13_offer
    soon = [
        cert.label
        for lpar in config.lpars
        for ring in lpar.key_rings
        for cert in ring.certificates
        if cert.not_after_days < 30
    ]
    assert soon == ["SYSA.MQP1CHIN"]
    # Every client population is a peer of its own to the portal, and none shares the address
    # the portal's probe connects from (the peer history sets the probe's connections apart).
    inbound = [
        (lpar.name, service.name, population)
        for lpar in config.lpars
        for service in lpar.services
        if service.direction == "Inbound"
        for population in service.populations
    ]
    addresses = [population.source_address for _, _, population in inbound]
    assert len(set(addresses)) == len(addresses) == 42
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("127.0.0.0/8") for a in addresses)
    assert not {lpar.address for lpar in config.lpars} & set(addresses)
    sysa_tn3270 = [p for lpar, name, p in inbound if (lpar, name) == ("SYSA", "TN3270 Secure")]
    assert [(p.name, p.source_address) for p in sysa_tn3270] == [
        ("modern", "127.1.1.1"),
        ("legacy", "127.1.1.2"),
    ]
    # With base port 0 every host port comes from the system.
    assert all(s.host_port == 0 for s in production if s.direction == "Inbound")
