"""Each section of the file (users, certificates, key rings, populations, services, stacks,
LPARs, partners): the keys it allows and how it is read."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from attls.ciphers import Protocol
from lparsim.config.model import (
    KEY_TYPES,
    MAX_CLIENTS_PER_POPULATION,
    AppTlsConfig,
    CertificateConfig,
    KeyRingConfig,
    LparConfig,
    PartnerConfig,
    PartnerTlsConfig,
    PopulationConfig,
    ServiceConfig,
    StackConfig,
    UserConfig,
)
from lparsim.config.reader import _items, _Reader, _unique

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
        if direction == "Outbound" and isinstance(item, dict) and "source_address" in item:
            # Silently ignoring it would leave the author believing the sessions use it.
            reader.problem(
                f"{item_path}.source_address",
                "an Outbound service's sessions come from the LPAR's address (sim.address); "
                "source_address is for the clients of an Inbound service",
            )
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
    address = reader.address(sim, "address", sim_path, defaults["address"])
    _check_source_families(reader, services, address)
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
        address=address,
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


def _check_source_families(reader: _Reader, services: list[ServiceConfig], address: str) -> None:
    """A client cannot connect from ::1 to 127.0.0.1 (or the other way round): say so here
    rather than let every session of the population fail to connect."""
    family = ipaddress.ip_address(address).version
    for service in services:
        if service.direction != "Inbound":
            continue
        for index, population in enumerate(service.populations):
            if ipaddress.ip_address(population.source_address).version != family:
                reader.problem(
                    f"{service.path}.sim.populations[{index}].source_address",
                    f"{population.source_address} cannot reach the LPAR's address {address} "
                    f"(IPv{family}); give an IPv{family} loopback address",
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
