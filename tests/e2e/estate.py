"""A small but realistic design for browser tests and screenshots: two production LPARs,
the shared objects of the reference account, a dozen services and one published version.
Built through the services, like the seed command will be; independent of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User

from policies import services
from policies.models import (
    CipherSet,
    ConnectionAction,
    EnvironmentAction,
    GroupAction,
    Keyring,
    Service,
    Stack,
)

# name, stack, job, port, direction, tier, phase, team, connection action?
SERVICES = [
    ("TN3270S", "SYSA", "TN3270*", 992, "Inbound", "high", "pilot", "Terminal services", False),
    ("CICSWEB1", "SYSA", "CICSPRD1", 8443, "Inbound", "high", "rollout", "Payments", False),
    ("CICSWEB2", "SYSA", "CICSPRD2", 8444, "Inbound", "medium", "rollout", "Payments", False),
    ("MQCHIN", "SYSA", "MQPRCHIN", 1414, "Inbound", "high", "design", "Messaging", False),
    ("MQPARTNER", "SYSA", "MQPRCHIN", 1415, "Outbound", "medium", "design", "Messaging", True),
    ("DB2DDF", "SYSA", "DB2PDIST", 446, "Inbound", "high", "lab", "Data", False),
    ("FTPSRV", "SYSA", "FTPD*", 21, "Inbound", "low", "done", "File transfer", False),
    ("ZOSMF", "SYSA", "IZUSVR1", 443, "Inbound", "medium", "pilot", "Systems", False),
    ("TN3270B", "SYSB", "TN3270*", 992, "Inbound", "high", "pilot", "Terminal services", False),
    ("BATCHXFR", "SYSB", "XFRBATCH", 6400, "Outbound", "low", "inventory", "File transfer", True),
    ("CICSWEBB", "SYSB", "CICSPRDB", 8443, "Inbound", "medium", "lab", "Payments", False),
    ("DB2DDFB", "SYSB", "DB2QDIST", 446, "Inbound", "low", "done", "Data", False),
]


@dataclass
class Estate:
    architect: User
    stacks: dict[str, Stack]
    objects: dict[str, Any]
    services: dict[str, Service] = field(default_factory=dict)


def build_estate(architect: User, *, owner: User | None = None, publish: bool = True) -> Estate:
    sysa = services.lpar_create(actor=architect, name="SYSA", description="Production A")
    sysb = services.lpar_create(actor=architect, name="SYSB", description="Production B")
    services.lpar_create(actor=architect, name="LAB1", kind="lab", description="Lab")
    stacks = {
        "SYSA": services.stack_create(
            actor=architect, lpar=sysa, name="TCPIP", policy_file="/etc/pagent/TCPIP.policy"
        ),
        "SYSB": services.stack_create(
            actor=architect, lpar=sysb, name="TCPIP", policy_file="/etc/pagent/TCPIP.policy"
        ),
    }
    create = services.shared_object_create
    ring = create(
        actor=architect,
        model=Keyring,
        fields={
            "name": "ringShared",
            "ring": "TCPIP/SharedRing",
            "certificate_labels": ["SYSA-SERVER-2025", "SYSB-SERVER-2025"],
            "description": "The server certificates of both production stacks",
        },
    )
    aead = create(
        actor=architect,
        model=CipherSet,
        fields={
            "name": "ciphersAead",
            # No TLS_CHACHA20_POLY1305_SHA256 (1303): System SSL on z/OS 3.1 does not
            # implement it, and lint refuses a draft that lists it (suite-not-implemented).
            "suites": ["1301", "1302", "C02B", "C02C", "C02F", "C030"],
            "description": "TLS 1.3 suites, then ECDHE with AES-GCM for TLS 1.2",
        },
    )
    legacy = create(
        actor=architect,
        model=CipherSet,
        fields={
            "name": "ciphersPartner12",
            "suites": ["C02F", "C030", "009C"],
            "description": "For the partner that cannot do TLS 1.3 yet",
        },
    )
    group = create(
        actor=architect,
        model=GroupAction,
        fields={"name": "grpMaster", "ttls_enabled": True, "description": "The master switch"},
    )
    environment = create(
        actor=architect,
        model=EnvironmentAction,
        fields={
            "name": "envTls12_13",
            "keyring": ring,
            "cipher_set": aead,
            "handshake_role": "Server",
            "tlsv1_2": True,
            "tlsv1_3": True,
            "client_auth_type": "Full",
            "description": "TLS 1.2 and 1.3 only, AEAD ciphers, ECDHE key exchange",
        },
    )
    client = create(
        actor=architect,
        model=ConnectionAction,
        fields={
            "name": "connClient",
            "handshake_role": "Client",
            "description": "Outbound services: z/OS is the TLS client",
        },
    )
    estate = Estate(
        architect=architect,
        stacks=stacks,
        objects={
            "keyring": ring,
            "ciphers": aead,
            "legacy": legacy,
            "group": group,
            "environment": environment,
            "client": client,
        },
    )
    for name, lpar, job, port, direction, tier, phase, team, outbound in SERVICES:
        service = services.service_create(
            actor=architect,
            fields={
                "stack": stacks[lpar],
                "name": name,
                "description": f"{team}: {name.lower()} on {lpar}",
                "owner_team": team,
                "jobname": job,
                "local_port_low": port,
                "local_port_high": port,
                "direction": direction,
                "tier": tier,
                "phase": phase,
                "priority": 200 if tier == "high" else 100,
                "group_action": group,
                "environment_action": environment,
                "connection_action": client if outbound else None,
                "owners": [owner] if owner is not None and team == "Payments" else [],
                # The partner that rejects a TLS 1.3 offer stays on TLS 1.2, by override.
                **(
                    {"override_tlsv1_3": "Off", "override_cipher_set": legacy}
                    if name == "BATCHXFR"
                    else {}
                ),
            },
        )
        estate.services[name] = service
    if publish:
        services.policy_version_publish(
            stack=stacks["SYSA"],
            actor=architect,
            note="First cut: every SYSA service under the shared TLS 1.2/1.3 environment.",
            acknowledge_warnings=True,
        )
    return estate
