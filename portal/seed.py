"""The reference data center as design rows, read from the scenario file lparsim also reads.

`scenario/reference-datacenter.yaml` describes the estate (LPARs, stacks, key rings,
services, partners); lparsim simulates it and this module models it in the portal, so the
two never disagree on a name, a port or a job. Keys under `sim:` are the simulator's and
are ignored here.

The shared objects are the account's policy model: one group action as the master switch,
one environment action for TLS 1.2 and 1.3 with AEAD ECDHE suites (P-256 and P-384 only,
strong signature pairs, minimum peer key sizes, OCSP stapling and revocation checking), one
connection action that switches outbound rules to the client role. Every service starts in
the inventory phase with its rule designed but nothing published: the "before" estate.

Seeding is idempotent: an object that exists (by name) is left as it is, so running the
seed again never undoes an architect's edits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth.models import User
from django.db import transaction

from policies import services
from policies.models import (
    CipherSet,
    ConnectionAction,
    EnvironmentAction,
    GroupAction,
    Keyring,
    Lpar,
    Service,
    Stack,
)

SCENARIO = Path(__file__).resolve().parent.parent / "scenario" / "reference-datacenter.yaml"

GROUP = "gAct_MASTER"
ENVIRONMENT = "eAct_TLS12_13"
CONNECTION = "cAct_CLIENT"
CIPHERS = "cph_AEAD_ECDHE"
KEYRING = "ring_ATTLS"
# TLS 1.3, then TLS 1.2 ECDHE with AES-GCM: AEAD only, forward secrecy only.
AEAD_ECDHE_SUITES = ["1301", "1302", "C02B", "C02C", "C02F", "C030"]
# What the account's environment sets beyond protocols and suites (SP 800-52r2): NIST curves
# of 128 bits and more instead of the z/OS defaults (which include secp192r1 and, for TLS 1.3
# key shares, X25519 and X448), SHA-256-or-stronger signature pairs, peer keys of 112-bit
# strength, OCSP stapling as a server and OCSP via the certificates' AIA as a client.
NIST_GROUPS = ["0023", "0024"]  # secp256r1, secp384r1
HARDENING = {
    "server_kex_ecurves": NIST_GROUPS,
    "server_key_share_groups": NIST_GROUPS,
    "client_ecurves": NIST_GROUPS,
    "client_key_share_groups": NIST_GROUPS,
    "signature_pairs": ["0601", "0603", "0501", "0503", "0401", "0403"],
    "peer_min_cert_version": "3",
    "peer_min_rsa_key_size": 2048,
    "peer_min_dh_key_size": 2048,
    "peer_min_dsa_key_size": 2048,
    "peer_min_ecc_key_size": 256,
    "ocsp_server_stapling": True,
    "ocsp_aia_enable": True,
}
TIERS = {"low": "low", "medium": "medium", "high": "high"}
# Priorities leave gaps for later rules, as IBM advises; higher tiers are searched first.
TIER_PRIORITY = {"high": 300, "medium": 200, "low": 100}


@dataclass
class SeedResult:
    created: dict[str, int]
    app_owner_team: str | None


def load_scenario(path: Path = SCENARIO) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    return data


def _attls_ring(scenario: dict[str, Any]) -> tuple[str, list[str]]:
    """The ring AT-TLS uses (by convention owned by ATTLS) and its labels on every LPAR."""
    ring_name = "ATTLS/SharedRing"
    labels: list[str] = []
    for lpar in scenario["lpars"]:
        for ring in lpar.get("key_rings", []) or []:
            if str(ring["name"]).upper().startswith("ATTLS/"):
                ring_name = str(ring["name"])
                labels += [str(c["label"]) for c in ring.get("certificates", []) or []]
    return ring_name, labels


def policy_name(name: str) -> str:
    """A service's display name made a valid statement name: blanks and others become `_`."""
    return re.sub(r"[^A-Za-z0-9_.~@$-]", "_", name.strip())[:32]


@transaction.atomic
def seed_datacenter(*, scenario: dict[str, Any], app_owner: User | None = None) -> SeedResult:
    created = {"lpars": 0, "stacks": 0, "shared objects": 0, "services": 0}

    def shared(model: type, name: str, fields: dict[str, Any]) -> Any:
        existing = model.objects.filter(name=name).first()  # type: ignore[attr-defined]
        if existing is not None:
            return existing
        created["shared objects"] += 1
        return services.shared_object_create(
            actor=None, model=model, fields={"name": name, **fields}
        )

    ring, labels = _attls_ring(scenario)
    keyring = shared(
        Keyring,
        KEYRING,
        {
            "ring": ring,
            "description": "The AT-TLS key ring of every stack: each LPAR's server certificate",
            "certificate_labels": labels,
        },
    )
    ciphers = shared(
        CipherSet,
        CIPHERS,
        {"suites": AEAD_ECDHE_SUITES, "description": "TLS 1.3 and TLS 1.2 ECDHE AES-GCM"},
    )
    group = shared(
        GroupAction,
        GROUP,
        {"ttls_enabled": True, "trace": 6, "description": "Master switch of every rule"},
    )
    environment = shared(
        EnvironmentAction,
        ENVIRONMENT,
        {
            "handshake_role": "Server",
            "keyring": keyring,
            "cipher_set": ciphers,
            "tlsv1": False,
            "tlsv1_1": False,
            "tlsv1_2": True,
            "tlsv1_3": True,
            "client_auth_type": "PassThru",
            "cert_validation_mode": "RFC5280",
            **HARDENING,
            "description": "TLS 1.2 and 1.3 only, AEAD ciphers, ECDHE key exchange on P-256"
            " and P-384, OCSP stapling and revocation checking",
        },
    )
    connection = shared(
        ConnectionAction,
        CONNECTION,
        {"handshake_role": "Client", "description": "Client role for outbound connections"},
    )

    first_team: str | None = None
    for lpar_data in scenario["lpars"]:
        lpar = Lpar.objects.filter(name=lpar_data["name"]).first()
        if lpar is None:
            lpar = services.lpar_create(
                actor=None,
                name=lpar_data["name"],
                kind="lab" if lpar_data.get("role") == "lab" else "production",
                description=lpar_data.get("description", ""),
            )
            created["lpars"] += 1
        stacks: dict[str, Stack] = {}
        for stack_data in lpar_data.get("stacks", []):
            stack = Stack.objects.filter(lpar=lpar, name=stack_data["name"]).first()
            if stack is None:
                stack = services.stack_create(
                    actor=None,
                    lpar=lpar,
                    name=stack_data["name"],
                    policy_file=(stack_data.get("sim") or {}).get(
                        "policy_file", f"/etc/pagent/{stack_data['name']}.policy"
                    ),
                )
                created["stacks"] += 1
            stacks[stack.name] = stack
        for service_data in lpar_data.get("services", []) or []:
            stack_name = service_data.get("stack") or next(iter(stacks))
            stack = stacks[stack_name]
            team = str(service_data.get("owner", ""))
            first_team = first_team or team
            service = Service.objects.filter(
                stack=stack, name=policy_name(service_data["name"])
            ).first()
            if service is None:
                service = services.service_create(
                    actor=None,
                    fields=_service_fields(service_data, stack)
                    | {
                        "group_action": group,
                        "environment_action": environment,
                        "connection_action": (
                            connection if service_data["direction"] == "Outbound" else None
                        ),
                    },
                )
                created["services"] += 1
            if app_owner is not None and team == first_team:
                service.owners.add(app_owner)
    return SeedResult(created=created, app_owner_team=first_team)


def _service_fields(data: dict[str, Any], stack: Stack) -> dict[str, Any]:
    tier = TIERS.get(str(data.get("criticality", "medium")), "medium")
    port = int(data["port"])
    outbound = data["direction"] == "Outbound"
    return {
        "stack": stack,
        "name": policy_name(data["name"]),
        "description": data.get("description") or data["name"],
        "owner_team": str(data.get("owner", "")),
        "jobname": data["jobname"],
        "userid": "",
        "local_port_low": 0 if outbound else port,
        "local_port_high": 0 if outbound else port,
        "remote_address": "All",
        "remote_port_low": port if outbound else 0,
        "remote_port_high": port if outbound else 0,
        "direction": data["direction"],
        "tier": tier,
        "phase": "inventory",
        "included": True,
        "priority": TIER_PRIORITY[tier],
    }


DEMO_CAMPAIGN = "SYSA and SYSB: AT-TLS everywhere"
DEMO_BAKE_SECONDS = 120


def seed_demo_campaign(*, owner: User) -> tuple[Any, bool]:
    """The demo's rollout campaign over SYSA and SYSB in its inventory phase, with a 2-minute
    bake (the account's week, shortened for a demo) and LAB1 as its lab stack (the candidate
    is validated there first, production's peers replayed against it); (campaign, created).
    Left as it is when it exists, whatever happened to it since."""
    from rollouts.models import Campaign, Check, default_gates
    from rollouts.services import campaign_create

    existing = Campaign.objects.filter(name=DEMO_CAMPAIGN).first()
    if existing is not None:
        return existing, False
    stacks = list(Stack.objects.filter(lpar__name__in=["SYSA", "SYSB"]).order_by("lpar__name"))
    lab = Stack.objects.filter(lpar__name="LAB1").first()
    gates = default_gates()
    # lparsim's sessions last about two minutes: the verifications of the first minutes after
    # a refresh still see sessions opened before it.
    gates[Check.COVERAGE]["failure_limit"] = 10
    # lparsim's TLS is Python on this machine's loopback, not System SSL: its handshakes cost
    # far more than the account's +3 ms, and vary with the machine's load.
    gates[Check.LATENCY]["threshold"] = 100.0
    campaign = campaign_create(
        actor=owner,
        name=DEMO_CAMPAIGN,
        description=(
            "The account's migration: the inventory's baseline, the design lint-clean, the"
            " candidate validated on LAB1 with production's peers replayed, a pilot"
            " on the low-criticality services, then the medium and high tiers, each cohort"
            " gated on its verifications during the bake."
        ),
        stacks=stacks,
        bake_seconds=DEMO_BAKE_SECONDS,
        gates=gates,
        lab_stack=lab,
    )
    return campaign, True
