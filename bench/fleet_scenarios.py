"""Generated data centers for bench/fleet_bench.py, in the format of the reference scenario.

Both are plain dicts that lparsim (`lparsim.config.parse_config`) and the portal's seed
(`portal.seed.seed_datacenter`) read, like `scenario/reference-datacenter.yaml`:

- `big_stack()`: one LPAR, one stack, `services` inbound services whose clients hold about
  `clients` concurrent TLS sessions in all (long sessions, so the count is steady while it
  is measured);
- `fleet(lpars)`: `lpars` small LPARs of a few services and a few dozen sessions each, to
  verify side by side.

Every service starts with its own TLS (TLS 1.2 and 1.3, `sim.app_tls`), as the reference
"before" estate does, so the clients are served before any AT-TLS policy is deployed, and
every client offers TLS 1.2 (and 1.3 for most), so they are still served after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

USER = "ATTLSADM"
PASSWORD = "bench-only"
RING = "ATTLS/SharedRing"
APP_TLS = {"versions": ["TLSv1.2", "TLSv1.3"], "keyring": RING}
# Long sessions: the population holds steady while a verification counts it.
SESSION = {"session_seconds": 3600, "reconnect_seconds": 1, "ping_seconds": 30, "ramp_seconds": 4}
KINDS = (  # (name, job prefix, z/OS port base, criticality)
    ("TN3270", "TN3270", 992, "high"),
    ("CICS API", "CICSAP", 8443, "high"),
    ("MQ Listener", "MQCHIN", 1414, "medium"),
    ("DB2 DDF", "DB2DIST", 446, "medium"),
    ("FTP Server", "FTPD", 990, "low"),
)


def _sim(workdir: Path) -> dict[str, Any]:
    return {
        "workdir": str(workdir),
        "base_port": 0,
        "users": [{"name": USER, "password": PASSWORD, "generate_key": True}],
        "population_defaults": dict(SESSION),
    }


def _lpar(name: str, services: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "sysplex": "BENCH",
        "role": "production",
        "release": "3.1",
        "stacks": [{"name": "TCPIP"}],
        "sim": {"address": "127.0.0.1"},
        "key_rings": [
            {
                "name": RING,
                "certificates": [
                    {
                        "label": f"{name}.ATTLS.SERVER",
                        "common_name": f"{name.lower()}.bench.example",
                        "not_after_days": 365,
                        "default": True,
                    }
                ],
            }
        ],
        "services": services,
    }


def _service(
    name: str, jobname: str, port: int, criticality: str, populations: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "name": name,
        "jobname": jobname,
        "port": port,
        "direction": "Inbound",
        "criticality": criticality,
        "owner": f"team-{jobname[:4].lower()}",
        "sim": {"app_tls": dict(APP_TLS), "populations": populations},
    }


REFUSED_POPULATION = "refused"


def big_stack(workdir: Path, *, services: int = 30, clients: int = 1000) -> dict[str, Any]:
    """One LPAR (BIG1) with `services` inbound services and `clients` TLS sessions in all."""
    rows = []
    for index in range(services):
        name, prefix, base, criticality = KINDS[index % len(KINDS)]
        number = index // len(KINDS) + 1
        share = clients // services + (1 if index < clients % services else 0)
        # Mostly TLS 1.3-capable clients, a quarter that stop at TLS 1.2: a protocol mix.
        modern = share - share // 4
        rows.append(
            _service(
                f"{name} {number:02d}",
                f"{prefix[:6]}{number:02d}",
                base + 10 * (number - 1),
                criticality,
                [
                    {"name": "modern", "clients": modern, "tls": "modern"},
                    {"name": "tls12", "clients": share - modern, "tls": "tls1.2"},
                    # TLS 1.0/1.1 clients of the first service, none until the bench starts
                    # some: AT-TLS refuses them (RC 412), the incident latency is measured.
                    *(
                        [{"name": REFUSED_POPULATION, "clients": 0, "tls": "legacy"}]
                        if index == 0
                        else []
                    ),
                ],
            )
        )
    return {"version": 1, "sim": _sim(workdir), "lpars": [_lpar("BIG1", rows)]}


def fleet(workdir: Path, *, lpars: int = 20, services: int = 5, clients: int = 8) -> dict[str, Any]:
    """`lpars` LPARs (FLT01...) of `services` inbound services with `clients` sessions each."""
    result = []
    for number in range(1, lpars + 1):
        rows = [
            _service(
                name,
                prefix,
                port,
                criticality,
                [{"name": "clients", "clients": clients, "tls": "modern"}],
            )
            for name, prefix, port, criticality in KINDS[:services]
        ]
        result.append(_lpar(f"FLT{number:02d}", rows))
    return {"version": 1, "sim": _sim(workdir), "lpars": result}


def campaign(
    workdir: Path, *, lpars: int = 2, services: int = 15, clients: int = 2
) -> dict[str, Any]:
    """`lpars` production LPARs (CMP1, CMP2...) of `services` inbound services each, the five
    kinds in turn (their criticality: 2 high, 2 medium, 1 low), `clients` modern clients each."""
    result = []
    for number in range(1, lpars + 1):
        rows = []
        for index in range(services):
            name, prefix, base, criticality = KINDS[index % len(KINDS)]
            serial = index // len(KINDS) + 1
            rows.append(
                _service(
                    f"{name} {serial:02d}",
                    f"{prefix[:6]}{serial:02d}",
                    base + 10 * (serial - 1),
                    criticality,
                    [{"name": "clients", "clients": clients, "tls": "modern"}],
                )
            )
        result.append(_lpar(f"CMP{number}", rows))
    return {"version": 1, "sim": _sim(workdir), "lpars": result}
