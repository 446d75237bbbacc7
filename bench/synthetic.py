"""A seeded synthetic estate for the benchmarks: many rules sharing a few actions.

Deterministic for a given seed, so two runs measure the same input.
"""

from __future__ import annotations

import ipaddress
import random

from attls.policy import (
    Address,
    Policy,
    Ports,
    TTLSCipherParms,
    TTLSConnectionAction,
    TTLSEnvironmentAction,
    TTLSEnvironmentAdvancedParms,
    TTLSGroupAction,
    TTLSKeyringParms,
    TTLSRule,
)

_CIPHER_LISTS = (
    ("1301", "1302", "C02B", "C02C", "C02F", "C030"),
    ("1301", "1302", "C02F", "C030"),
    ("C02F", "C030", "C027", "C028"),
    ("1302", "1301"),
)


def synthetic_policy(*, rules: int, actions: int, seed: int = 52) -> Policy:
    """`rules` TTLSRules sharing `actions` actions (groups, environments, connections)."""
    rng = random.Random(seed)
    policy = Policy()
    groups = max(1, actions // 10)
    connections = max(1, actions // 5)
    environments = max(1, actions - groups - connections)
    for index in range(groups):
        policy.add(
            TTLSGroupAction(name=f"grp{index:02d}", ttls_enabled=index != groups - 1, trace=2)
        )
    for index in range(environments):
        policy.add(
            TTLSEnvironmentAction(
                name=f"env{index:02d}",
                handshake_role="Server",
                keyring_ref=f"ring{index % 5}",
                advanced=TTLSEnvironmentAdvancedParms(
                    tlsv1=False, tlsv1_1=False, tlsv1_2=True, tlsv1_3=index % 3 != 0
                ),
                cipher_ref=f"ciphers{index % len(_CIPHER_LISTS)}",
            )
        )
    for index in range(connections):
        policy.add(TTLSConnectionAction(name=f"conn{index:02d}", handshake_role="Client"))
    for index in range(5):
        policy.add(TTLSKeyringParms(name=f"ring{index}", keyring=f"TCPIP/Ring{index}"))
    for index, codes in enumerate(_CIPHER_LISTS):
        policy.add(TTLSCipherParms(name=f"ciphers{index}", v3_cipher_suites=codes))
    for index in range(rules):
        inbound = rng.random() < 0.7
        port = rng.randrange(1, 65535)
        width = rng.choice((0, 0, 0, 1, 9))
        policy.add(
            TTLSRule(
                name=f"rule{index:05d}",
                local_port_range=Ports(port, min(65535, port + width)) if inbound else None,
                remote_port_range=None if inbound else Ports(port, port),
                remote_addr=(
                    None
                    if inbound
                    else Address(
                        "prefix",
                        ipaddress.ip_address(f"10.{index % 250}.0.0"),
                        ipaddress.ip_address(f"10.{index % 250}.255.255"),
                        16,
                    )
                ),
                jobname=rng.choice(("TN3270*", "CICS*", "CSQ1CHIN", "FTPD*", None, None)),
                direction="Inbound" if inbound else "Outbound",
                priority=rng.randrange(1, 1000),
                group_action_ref=f"grp{rng.randrange(groups):02d}",
                environment_action_ref=f"env{rng.randrange(environments):02d}",
                connection_action_ref=None if inbound else f"conn{rng.randrange(connections):02d}",
            )
        )
    return policy
