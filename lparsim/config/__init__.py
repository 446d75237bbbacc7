"""lparsim's YAML configuration: reading, validation with paths, host port allocation.

The file describes an estate (LPARs, stacks, key rings, services, partners) and how to
simulate it. Everything only the simulator needs sits under a `sim:` key (top level, per
LPAR, per stack, per service, per partner), so the portal's seed command can read the same
file for the estate and ignore the simulation.

`load_config(path)` returns a `Config` or raises `ConfigError` listing every problem, each
with the path to the key (`lpars[0].services[3].sim.app_tls.versions[1]`) and what was
expected. Host ports given as `auto` are allocated from `sim.base_port` in file order (admin,
then per LPAR z/OSMF, SSH and each inbound service, then partners); with base port 0 every
`auto` port is left to the operating system (port 0).

The package: `model` (the dataclasses and limits), `reader` (paths and problems), `sections`
(each section's keys and reading), `load` (the whole file, ports). Import from `lparsim.config`.
"""

from __future__ import annotations

from lparsim.config.load import load_config, parse_config
from lparsim.config.model import (
    AUTO,
    CLEARTEXT,
    KEY_TYPES,
    MAX_CLIENTS_PER_POPULATION,
    MVS_NAME,
    SPEAKABLE,
    TLS_PROFILES,
    AppTlsConfig,
    CertificateConfig,
    Config,
    ConfigError,
    ConfigProblem,
    KeyRingConfig,
    LparConfig,
    PartnerConfig,
    PartnerTlsConfig,
    PopulationConfig,
    ServiceConfig,
    StackConfig,
    UserConfig,
)

__all__ = [
    "AUTO",
    "CLEARTEXT",
    "KEY_TYPES",
    "MAX_CLIENTS_PER_POPULATION",
    "MVS_NAME",
    "SPEAKABLE",
    "TLS_PROFILES",
    "AppTlsConfig",
    "CertificateConfig",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "KeyRingConfig",
    "LparConfig",
    "PartnerConfig",
    "PartnerTlsConfig",
    "PopulationConfig",
    "ServiceConfig",
    "StackConfig",
    "UserConfig",
    "load_config",
    "parse_config",
]
