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
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

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


# --- reading with paths ------------------------------------------------------------------------


class _Reader:
    """Walks the YAML tree, collecting problems with the path of each key."""

    def __init__(self, base: Path) -> None:
        self.problems: list[ConfigProblem] = []
        self.base = base
        self.population_defaults: dict[str, Any] = {}

    def problem(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(path, message))

    def mapping(
        self, value: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.problem(path, f"expected a mapping (key: value), got {_kind(value)}")
            return {}
        for key in value:
            if not isinstance(key, str):
                self.problem(path, f"keys must be text, got {key!r}")
            elif key not in allowed:
                self.problem(_join(path, key), f"unknown key; expected one of {', '.join(allowed)}")
        for key in required:
            if key not in value:
                self.problem(_join(path, key), "is required")
        return value

    def sequence(self, value: Any, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, f"expected a list, got {_kind(value)}")
            return []
        return value

    def text(
        self, data: dict[str, Any], key: str, path: str, default: str | None = None
    ) -> str | None:
        value = data.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.problem(_join(path, key), f"expected text, got {_kind(value)}")
            return default
        return str(value)

    def name(self, data: dict[str, Any], key: str, path: str, *, mvs: bool = False) -> str:
        value = self.text(data, key, path)
        if value is None or not value.strip():
            if key in data:
                self.problem(_join(path, key), "must not be empty")
            return ""
        if mvs and not MVS_NAME.match(value):
            self.problem(
                _join(path, key),
                f"'{value}' is not a z/OS name (1-8 letters, digits, $ # @; not starting "
                "with a digit)",
            )
        return value

    def boolean(self, data: dict[str, Any], key: str, path: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.problem(_join(path, key), f"expected true or false, got {value!r}")
            return default
        return value

    def number(
        self,
        data: dict[str, Any],
        key: str,
        path: str,
        default: float | None,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        integer: bool = False,
    ) -> Any:
        value = data.get(key, default)
        if value is None:
            return None
        kind = "a whole number" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(_join(path, key), f"expected {kind}, got {value!r}")
            return default
        if integer and not isinstance(value, int):
            self.problem(_join(path, key), f"expected {kind}, got {value!r}")
            return default
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            low = "" if minimum is None else f"{minimum:g}"
            high = "" if maximum is None else f"{maximum:g}"
            self.problem(_join(path, key), f"{value} is out of range {low}..{high}")
            return default
        return value

    def port(self, data: dict[str, Any], key: str, path: str, *, auto: bool) -> int | None:
        """A port 1-65535, or None for `auto` (when allowed)."""
        value = data.get(key, AUTO if auto else None)
        if auto and value == AUTO:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            expected = "a port 1-65535 or 'auto'" if auto else "a port 1-65535"
            self.problem(_join(path, key), f"expected {expected}, got {value!r}")
            return 0 if not auto else None
        return value

    def choice(
        self, data: dict[str, Any], key: str, path: str, choices: tuple[str, ...], default: str
    ) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or value.lower() not in {c.lower() for c in choices}:
            self.problem(_join(path, key), f"expected one of {', '.join(choices)}, got {value!r}")
            return default
        return next(c for c in choices if c.lower() == value.lower())

    def address(self, data: dict[str, Any], key: str, path: str, default: str) -> str:
        value = self.text(data, key, path, default) or default
        try:
            parsed = ipaddress.ip_address(value)
        except ValueError:
            self.problem(_join(path, key), f"'{value}' is not an IP address")
            return default
        if not parsed.is_loopback:
            self.problem(_join(path, key), f"{value} is not a loopback address (127.0.0.0/8, ::1)")
            return default
        return value

    def path(self, value: str) -> Path:
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else (self.base / candidate).resolve()

    def zos_path(self, data: dict[str, Any], key: str, path: str, default: str) -> str:
        value = self.text(data, key, path, default) or default
        if not value.startswith("/"):
            self.problem(_join(path, key), f"expected an absolute z/OS UNIX path, got '{value}'")
            return default
        return value

    def protocols(self, value: Any, path: str, *, allow_cleartext: bool) -> tuple[Protocol, ...]:
        """A TLS profile name, `cleartext`, or a list of protocol keywords."""
        if isinstance(value, str):
            lowered = value.lower()
            if allow_cleartext and lowered == CLEARTEXT:
                return ()
            if lowered in TLS_PROFILES:
                return TLS_PROFILES[lowered]
            names = ", ".join([*TLS_PROFILES, *([CLEARTEXT] if allow_cleartext else [])])
            self.problem(path, f"expected one of {names} or a list such as [TLSv1.2, TLSv1.3]")
            return TLS_PROFILES["tls1.2"]
        before = len(self.problems)
        items = self.sequence(value, path)
        found: list[Protocol] = []
        for index, item in enumerate(items):
            match = next((p for p in SPEAKABLE if str(item).lower() == p.value.lower()), None)
            if match is None:
                self.problem(
                    f"{path}[{index}]",
                    f"expected one of {', '.join(p.value for p in SPEAKABLE)}, got {item!r}",
                )
            elif match not in found:
                found.append(match)
        if not found and len(self.problems) == before:
            self.problem(path, "needs at least one protocol version")
        return tuple(sorted(found, key=SPEAKABLE.index))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "a mapping", list: "a list", str: "text", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _items(reader: _Reader, value: Any, path: str) -> Iterator[tuple[int, str, Any]]:
    for index, item in enumerate(reader.sequence(value, path)):
        yield index, f"{path}[{index}]", item


def _unique(reader: _Reader, items: list[T], key: Callable[[T], str], path: str, what: str) -> None:
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        name = key(item)
        if not name:
            continue
        folded = name.upper()
        if folded in seen:
            reader.problem(f"{path}[{index}]", f"{what} '{name}' is given twice")
        else:
            seen[folded] = index


# --- sections ------------------------------------------------------------------------------------

_TOP = ("version", "sim", "lpars", "partners")
_SIM = (
    "workdir",
    "base_port",
    "address",
    "ca",
    "admin",
    "users",
    "release",
    "population_defaults",
)
_POPULATION_DEFAULTS = (
    "session_seconds",
    "reconnect_seconds",
    "ping_seconds",
    "ramp_seconds",
    "max_sessions",
    "run_seconds",
)
_USER = ("name", "password", "authorized_keys", "authorized_keys_file", "generate_key")
_LPAR = ("name", "sysplex", "role", "release", "stacks", "key_rings", "services", "sim")
_LPAR_SIM = (
    "address",
    "zosmf_port",
    "ssh_port",
    "pagent_conf",
    "pagent_log",
    "syslog",
    "console_log",
    "pagent_procname",
)
_STACK = ("name", "sim")
_STACK_SIM = ("image_file", "policy_file", "refresh_seconds", "seed_policy", "seed_policy_text")
_RING = ("name", "certificates")
_CERT = ("label", "common_name", "not_after_days", "key_type", "default")
_SERVICE = (
    "name",
    "jobname",
    "userid",
    "port",
    "direction",
    "criticality",
    "owner",
    "stack",
    "kind",
    "description",
    "sim",
)
_SERVICE_SIM = ("host_port", "app_tls", "partner", "populations")
_APP_TLS = ("versions", "keyring", "label")
_POPULATION = (
    "name",
    "clients",
    "tls",
    "session_seconds",
    "reconnect_seconds",
    "ping_seconds",
    "source_address",
    "verify",
    "client_certificate",
    "max_sessions",
    "run_seconds",
    "ramp_seconds",
)
_PARTNER = ("name", "port", "description", "sim")
_PARTNER_SIM = ("address", "host_port", "tls", "cleartext", "certificate")
_PARTNER_TLS = ("versions", "rejects_tls13_offer", "client_auth")
_PARTNER_CERT = ("common_name", "not_after_days")


def _user(reader: _Reader, data: Any, path: str) -> UserConfig:
    d = reader.mapping(data, path, _USER, required=("name",))
    name = reader.name(d, "name", path, mvs=True).upper()
    keys = [
        str(k).strip() for k in reader.sequence(d.get("authorized_keys"), f"{path}.authorized_keys")
    ]
    keys_file = reader.text(d, "authorized_keys_file", path)
    if keys_file is not None:
        file = reader.path(keys_file)
        try:
            keys.extend(
                line.strip()
                for line in file.read_text().splitlines()
                if line.strip() and not line.startswith("#")
            )
        except OSError as error:
            reader.problem(f"{path}.authorized_keys_file", f"cannot read {file}: {error.strerror}")
    return UserConfig(
        name=name,
        password=reader.text(d, "password", path),
        authorized_keys=keys,
        generate_key=reader.boolean(d, "generate_key", path, False),
    )


def _certificate(reader: _Reader, data: Any, path: str, lpar: str) -> CertificateConfig:
    d = reader.mapping(data, path, _CERT, required=("label",))
    label = reader.name(d, "label", path)
    if len(label) > 32:
        reader.problem(f"{path}.label", "a key ring label is at most 32 characters here")
    return CertificateConfig(
        label=label,
        common_name=reader.text(d, "common_name", path) or f"{lpar.lower()}.lparsim.test",
        not_after_days=reader.number(
            d, "not_after_days", path, 365.0, minimum=-36500, maximum=36500
        ),
        key_type=reader.choice(d, "key_type", path, KEY_TYPES, "ec-p256"),
        default=reader.boolean(d, "default", path, False),
    )


def _key_ring(reader: _Reader, data: Any, path: str, lpar: str) -> KeyRingConfig:
    d = reader.mapping(data, path, _RING, required=("name",))
    ring = KeyRingConfig(name=reader.name(d, "name", path))
    for _, item_path, item in _items(reader, d.get("certificates"), f"{path}.certificates"):
        ring.certificates.append(_certificate(reader, item, item_path, lpar))
    _unique(reader, ring.certificates, lambda c: c.label, f"{path}.certificates", "label")
    if sum(1 for c in ring.certificates if c.default) > 1:
        reader.problem(f"{path}.certificates", "at most one certificate may be the default")
    if ring.certificates and not any(c.default for c in ring.certificates):
        ring.certificates[0].default = True
    return ring


def _population(reader: _Reader, data: Any, path: str) -> PopulationConfig:
    d = reader.mapping(data, path, _POPULATION, required=("name", "clients", "tls"))
    d = {**reader.population_defaults, **d}
    clients = reader.number(
        d, "clients", path, 1, minimum=0, maximum=MAX_CLIENTS_PER_POPULATION, integer=True
    )
    session = reader.number(d, "session_seconds", path, 60.0, minimum=0.05, maximum=86400)
    return PopulationConfig(
        name=reader.name(d, "name", path),
        clients=clients,
        protocols=reader.protocols(d.get("tls", "tls1.2"), f"{path}.tls", allow_cleartext=True),
        session_seconds=session,
        reconnect_seconds=reader.number(d, "reconnect_seconds", path, 2.0, minimum=0, maximum=3600),
        ping_seconds=reader.number(d, "ping_seconds", path, 15.0, minimum=0.05, maximum=3600),
        source_address=reader.address(d, "source_address", path, "127.0.0.1"),
        verify=reader.boolean(d, "verify", path, True),
        client_certificate=reader.boolean(d, "client_certificate", path, False),
        max_sessions=reader.number(
            d, "max_sessions", path, 1_000_000, minimum=1, maximum=100_000_000, integer=True
        ),
        run_seconds=reader.number(d, "run_seconds", path, None, minimum=0.1, maximum=10**7),
        ramp_seconds=reader.number(d, "ramp_seconds", path, 2.0, minimum=0, maximum=3600),
    )


def _service(reader: _Reader, data: Any, path: str, lpar_stacks: list[str]) -> ServiceConfig:
    d = reader.mapping(
        data,
        path,
        _SERVICE,
        required=("name", "jobname", "port", "direction", "criticality", "owner"),
    )
    jobname = reader.name(d, "jobname", path, mvs=True).upper()
    direction = reader.choice(d, "direction", path, ("Inbound", "Outbound"), "Inbound")
    stack = reader.text(d, "stack", path)
    if stack is None:
        stack = lpar_stacks[0] if lpar_stacks else ""
    elif stack.upper() not in {s.upper() for s in lpar_stacks}:
        reader.problem(
            f"{path}.stack", f"no stack '{stack}' on this LPAR ({', '.join(lpar_stacks)})"
        )
    sim_path = f"{path}.sim"
    sim = reader.mapping(d.get("sim"), sim_path, _SERVICE_SIM)
    service = ServiceConfig(
        name=reader.name(d, "name", path),
        jobname=jobname,
        port=reader.port(d, "port", path, auto=False) or 0,
        direction=direction,
        criticality=reader.choice(d, "criticality", path, ("low", "medium", "high"), "low"),
        owner=reader.name(d, "owner", path),
        stack=stack.upper(),
        userid=(reader.text(d, "userid", path) or jobname).upper(),
        kind=reader.text(d, "kind", path),
        description=reader.text(d, "description", path),
        path=path,
    )
    if direction == "Inbound":
        service.host_port = reader.port(sim, "host_port", sim_path, auto=True) or 0
        if "partner" in sim:
            reader.problem(f"{sim_path}.partner", "only an Outbound service has a partner")
    else:
        if "host_port" in sim:
            reader.problem(f"{sim_path}.host_port", "an Outbound service does not listen")
        service.partner = reader.text(sim, "partner", sim_path)
        if service.partner is None:
            reader.problem(f"{sim_path}.partner", "is required for an Outbound service")
    if "app_tls" in sim:
        app_path = f"{sim_path}.app_tls"
        app = reader.mapping(sim["app_tls"], app_path, _APP_TLS, required=("versions",))
        service.app_tls = AppTlsConfig(
            protocols=reader.protocols(
                app.get("versions", []), f"{app_path}.versions", allow_cleartext=False
            ),
            keyring=reader.text(app, "keyring", app_path),
            label=reader.text(app, "label", app_path),
        )
    for _, item_path, item in _items(reader, sim.get("populations"), f"{sim_path}.populations"):
        service.populations.append(_population(reader, item, item_path))
    _unique(reader, service.populations, lambda p: p.name, f"{sim_path}.populations", "population")
    return service


def _stack(reader: _Reader, data: Any, path: str) -> StackConfig:
    d = reader.mapping(data, path, _STACK, required=("name",))
    name = reader.name(d, "name", path, mvs=True).upper()
    sim_path = f"{path}.sim"
    sim = reader.mapping(d.get("sim"), sim_path, _STACK_SIM)
    seed = ""
    if "seed_policy" in sim and "seed_policy_text" in sim:
        reader.problem(sim_path, "give seed_policy (a file) or seed_policy_text, not both")
    if "seed_policy" in sim:
        file = reader.path(reader.text(sim, "seed_policy", sim_path) or "")
        try:
            seed = file.read_text()
        except OSError as error:
            reader.problem(f"{sim_path}.seed_policy", f"cannot read {file}: {error.strerror}")
    elif "seed_policy_text" in sim:
        seed = reader.text(sim, "seed_policy_text", sim_path) or ""
    if not seed:
        seed = (
            f"# AT-TLS policy for stack {name}: empty, so no connection is covered by AT-TLS.\n"
            "# Applications that encrypt do it themselves.\n"
        )
    return StackConfig(
        name=name,
        image_file=reader.zos_path(sim, "image_file", sim_path, f"/etc/pagent/{name}.image"),
        policy_file=reader.zos_path(sim, "policy_file", sim_path, f"/etc/pagent/{name}.policy"),
        refresh_seconds=reader.number(
            sim, "refresh_seconds", sim_path, 1800, minimum=1, maximum=2147483647, integer=True
        ),
        seed_policy=seed,
    )


def _lpar(reader: _Reader, data: Any, path: str, defaults: dict[str, Any]) -> LparConfig:
    d = reader.mapping(data, path, _LPAR, required=("name", "stacks"))
    name = reader.name(d, "name", path, mvs=True).upper()
    stacks = [
        _stack(reader, item, item_path)
        for _, item_path, item in _items(reader, d.get("stacks"), f"{path}.stacks")
    ]
    if "stacks" in d and not stacks:
        reader.problem(f"{path}.stacks", "needs at least one TCP/IP stack")
    _unique(reader, stacks, lambda s: s.name, f"{path}.stacks", "stack")
    rings = [
        _key_ring(reader, item, item_path, name)
        for _, item_path, item in _items(reader, d.get("key_rings"), f"{path}.key_rings")
    ]
    _unique(reader, rings, lambda r: r.name, f"{path}.key_rings", "key ring")
    stack_names = [s.name for s in stacks]
    services = [
        _service(reader, item, item_path, stack_names)
        for _, item_path, item in _items(reader, d.get("services"), f"{path}.services")
    ]
    _unique(reader, services, lambda s: s.name, f"{path}.services", "service")
    listening: dict[tuple[str, int], str] = {}
    for service in services:
        if service.direction != "Inbound" or not service.port:
            continue
        key = (service.stack, service.port)
        if key in listening:
            reader.problem(
                f"{service.path}.port",
                f"port {service.port} on stack {service.stack} is already the port of "
                f"service '{listening[key]}'",
            )
        else:
            listening[key] = service.name
        if service.app_tls is not None:
            _check_ring_ref(reader, rings, service.app_tls, f"{service.path}.sim.app_tls")
    sim_path = f"{path}.sim"
    sim = reader.mapping(d.get("sim"), sim_path, _LPAR_SIM)
    release = reader.text(d, "release", path, defaults["release"]) or defaults["release"]
    if not re.fullmatch(r"[23]\.[0-9]", release):
        reader.problem(
            f"{path}.release", f"expected a z/OS release such as 2.5 or 3.1, got {release!r}"
        )
    return LparConfig(
        name=name,
        sysplex=reader.text(d, "sysplex", path),
        role=reader.choice(d, "role", path, ("production", "lab"), "production"),
        release=release,
        address=reader.address(sim, "address", sim_path, defaults["address"]),
        zosmf_port=reader.port(sim, "zosmf_port", sim_path, auto=True) or 0,
        ssh_port=reader.port(sim, "ssh_port", sim_path, auto=True) or 0,
        pagent_conf=reader.zos_path(sim, "pagent_conf", sim_path, "/etc/pagent.conf"),
        pagent_log=reader.zos_path(sim, "pagent_log", sim_path, "/tmp/pagent.log"),
        syslog=reader.zos_path(sim, "syslog", sim_path, "/var/log/syslog"),
        console_log=reader.zos_path(sim, "console_log", sim_path, "/var/log/console.log"),
        pagent_procname=(
            reader.text(sim, "pagent_procname", sim_path, "PAGENT") or "PAGENT"
        ).upper(),
        stacks=stacks,
        key_rings=rings,
        services=services,
    )


def _check_ring_ref(
    reader: _Reader, rings: list[KeyRingConfig], app: AppTlsConfig, path: str
) -> None:
    if app.keyring is None:
        if not rings:
            reader.problem(path, "the application's TLS needs a key ring; this LPAR has none")
        return
    ring = next((r for r in rings if r.name == app.keyring), None)
    if ring is None:
        reader.problem(f"{path}.keyring", f"no key ring '{app.keyring}' on this LPAR")
    elif app.label is not None and not any(c.label == app.label for c in ring.certificates):
        reader.problem(f"{path}.label", f"no certificate '{app.label}' in key ring {ring.name}")


def _partner(reader: _Reader, data: Any, path: str, address: str) -> PartnerConfig:
    d = reader.mapping(data, path, _PARTNER, required=("name", "port"))
    name = reader.name(d, "name", path)
    sim_path = f"{path}.sim"
    sim = reader.mapping(d.get("sim"), sim_path, _PARTNER_SIM)
    tls: PartnerTlsConfig | None = None
    cleartext = reader.boolean(sim, "cleartext", sim_path, False)
    if cleartext and "tls" in sim:
        reader.problem(sim_path, "a partner speaks TLS or cleartext, not both")
    elif not cleartext:
        tls_path = f"{sim_path}.tls"
        t = reader.mapping(sim.get("tls"), tls_path, _PARTNER_TLS)
        tls = PartnerTlsConfig(
            protocols=reader.protocols(
                t.get("versions", "modern"), f"{tls_path}.versions", allow_cleartext=False
            ),
            rejects_tls13_offer=reader.boolean(t, "rejects_tls13_offer", tls_path, False),
            client_auth=reader.boolean(t, "client_auth", tls_path, False),
        )
        if tls.rejects_tls13_offer and Protocol.TLSV1_3 in tls.protocols:
            reader.problem(
                f"{tls_path}.rejects_tls13_offer",
                "a partner that rejects a TLS 1.3 offer cannot also speak TLSv1.3",
            )
    cert_path = f"{sim_path}.certificate"
    cert = reader.mapping(sim.get("certificate"), cert_path, _PARTNER_CERT)
    return PartnerConfig(
        name=name,
        port=reader.port(d, "port", path, auto=False) or 0,
        description=reader.text(d, "description", path),
        address=reader.address(sim, "address", sim_path, address),
        host_port=reader.port(sim, "host_port", sim_path, auto=True) or 0,
        tls=tls,
        common_name=reader.text(cert, "common_name", cert_path)
        or f"{name.lower()}.partner.lparsim.test",
        not_after_days=reader.number(
            cert, "not_after_days", cert_path, 365.0, minimum=-36500, maximum=36500
        ),
    )


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
