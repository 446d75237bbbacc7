"""The configuration as lparsim uses it: the dataclasses `load_config` returns, the limits and
names it checks against, and the error listing every problem."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from attls.ciphers import Protocol

T = TypeVar("T")

AUTO = "auto"
MAX_CLIENTS_PER_POPULATION = 5000
TLS_PROFILES: dict[str, tuple[Protocol, ...]] = {
    "legacy": (Protocol.TLSV1, Protocol.TLSV1_1),
    "tls1.0": (Protocol.TLSV1,),
    "tls1.1": (Protocol.TLSV1_1,),
    "tls1.2": (Protocol.TLSV1_2,),
    "modern": (Protocol.TLSV1_2, Protocol.TLSV1_3),
    "tls1.3": (Protocol.TLSV1_3,),
}
CLEARTEXT = "cleartext"
# Protocols Python's ssl can speak with OpenSSL 3 (SSLv2/SSLv3 are compiled out).
SPEAKABLE = (Protocol.TLSV1, Protocol.TLSV1_1, Protocol.TLSV1_2, Protocol.TLSV1_3)
KEY_TYPES = ("ec-p256", "ec-p384", "rsa-2048", "rsa-3072")
MVS_NAME = re.compile(r"^[A-Za-z$#@][A-Za-z0-9$#@]{0,7}$")


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(top)'}: {self.message}"


class ConfigError(Exception):
    """A configuration that cannot be used; `problems` lists every problem found."""

    def __init__(self, problems: list[ConfigProblem], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        where = f"{source}: " if source else ""
        lines = "\n".join(f"  {problem}" for problem in problems)
        count = len(problems)
        super().__init__(
            f"{where}{count} problem{'s' if count != 1 else ''} in the configuration\n{lines}"
        )


# --- the model -------------------------------------------------------------------------------


@dataclass
class UserConfig:
    name: str
    password: str | None = None
    authorized_keys: list[str] = field(default_factory=list)
    generate_key: bool = False


@dataclass
class CertificateConfig:
    label: str
    common_name: str
    not_after_days: float = 365.0
    key_type: str = "ec-p256"
    default: bool = False


@dataclass
class KeyRingConfig:
    name: str
    certificates: list[CertificateConfig] = field(default_factory=list)

    def default_certificate(self) -> CertificateConfig | None:
        return next((c for c in self.certificates if c.default), None)


@dataclass
class PopulationConfig:
    """Clients (inbound) or sessions the job opens (outbound), held and renewed over time."""

    name: str
    clients: int
    protocols: tuple[Protocol, ...]  # empty: cleartext
    session_seconds: float = 60.0
    reconnect_seconds: float = 2.0
    ping_seconds: float = 15.0
    source_address: str = "127.0.0.1"
    verify: bool = True
    client_certificate: bool = False
    max_sessions: int = 1_000_000
    run_seconds: float | None = None
    ramp_seconds: float = 2.0

    @property
    def cleartext(self) -> bool:
        return not self.protocols


@dataclass
class AppTlsConfig:
    """The application's own TLS, as services had it before AT-TLS ("before" estate)."""

    protocols: tuple[Protocol, ...]
    keyring: str | None = None
    label: str | None = None


@dataclass
class ServiceConfig:
    name: str
    jobname: str
    port: int  # z/OS port: the local port (inbound) or the partner's port (outbound)
    direction: str  # Inbound | Outbound
    criticality: str
    owner: str
    stack: str
    userid: str
    kind: str | None = None
    description: str | None = None
    host_port: int = 0  # inbound listener on the host; 0 until allocated/bound
    app_tls: AppTlsConfig | None = None
    partner: str | None = None
    populations: list[PopulationConfig] = field(default_factory=list)
    path: str = ""


@dataclass
class StackConfig:
    name: str
    image_file: str
    policy_file: str
    refresh_seconds: int = 1800
    seed_policy: str = ""  # the text written on first start


@dataclass
class LparConfig:
    name: str
    sysplex: str | None
    role: str
    release: str
    address: str
    zosmf_port: int
    ssh_port: int
    pagent_conf: str
    pagent_log: str
    syslog: str
    console_log: str
    pagent_procname: str
    stacks: list[StackConfig]
    key_rings: list[KeyRingConfig]
    services: list[ServiceConfig]

    def stack(self, name: str | None) -> StackConfig | None:
        if name is None:
            return self.stacks[0]
        wanted = name.upper()
        return next((s for s in self.stacks if s.name.upper() == wanted), None)

    def key_ring(self, name: str) -> KeyRingConfig | None:
        return next((ring for ring in self.key_rings if ring.name == name), None)


@dataclass
class PartnerTlsConfig:
    protocols: tuple[Protocol, ...]
    rejects_tls13_offer: bool = False
    client_auth: bool = False


@dataclass
class PartnerConfig:
    name: str
    port: int  # the port z/OS connects to
    description: str | None
    address: str
    host_port: int
    tls: PartnerTlsConfig | None  # None: cleartext
    common_name: str
    not_after_days: float


@dataclass
class Config:
    source: Path
    workdir: Path
    base_port: int
    ca_cert: Path | None
    ca_key: Path | None
    admin_port: int
    users: list[UserConfig]
    lpars: list[LparConfig]
    partners: list[PartnerConfig]

    def lpar(self, name: str) -> LparConfig | None:
        wanted = name.upper()
        return next((lpar for lpar in self.lpars if lpar.name.upper() == wanted), None)

    def partner(self, name: str) -> PartnerConfig | None:
        return next((p for p in self.partners if p.name == name), None)

    def user(self, name: str) -> UserConfig | None:
        wanted = name.upper()
        return next((u for u in self.users if u.name.upper() == wanted), None)
