"""Assessed estates for the evidence-pack benchmarks (issue 6), built with the portal's code.

    reference()          the reference data center (scenario/reference-datacenter.yaml)
    build(services=N)    N synthetic services on LPARs of 50 (one TCPIP stack each)

Either way the design goes through the portal: `portal.seed.seed_datacenter` creates the
LPARs, stacks, shared actions and services (a synthetic estate is a scenario of the same
shape), and `policies.services.policy_version_publish` generates, lints and freezes each
stack's policy, so every version's text is what the designer would publish. Then a week of
running the portal is written in bulk, as the fleet's worker and verifier leave it:

- one approved deployment of v1 per stack, a day into the week (before it, no policy);
- a verification run every `run_every` hours, with raw outputs rendered by `attls.reports`
  (pasearch -t of the deployed policy, netstat -x CONN, netstat -a -X NOTTLSPOLICY, probe),
  each with its SHA-256, and the per-service figures `fleet.verify` records;
- hourly roll-ups per service, the AT-TLS certificate of each LPAR (from the scenario's key
  rings), a resolved drift event on some stacks, an LPAR connection per LPAR.

No assessment is written: a pack asks the engine for one (`audits.services`).
Call after django.setup() on an empty, migrated database. The same estate for the same input,
but for uuids and the dates (the week ends now).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import hashes

from fleet import certificates
from lparsim import pki

PER_LPAR = 50
DAYS = 7
CONNECTIONS = 10  # concurrent connections of a synthetic service (the reference's scale)
TLS12_SHARE = 0.2  # of the secured connections once AT-TLS is in force; the rest is TLS 1.3
PROBED = ["TLSv1.2", "TLSv1.3"]
SUITES = {"TLSv1.3": ("1301", "TLS_AES_128_GCM_SHA256"), "TLSv1.2": ("C02F", "ECDHE-RSA-AES128")}
# Synthetic services: (display name, job name, first port, direction), in turn.
KINDS = (
    ("TN3270 Secure", "TN3270", 992, "Inbound"),
    ("CICS API", "CICSAP", 8443, "Inbound"),
    ("MQ Listener", "MQCHIN", 1414, "Inbound"),
    ("Db2 DDF", "DB2DIST", 446, "Inbound"),
    ("MQ Channel", "MQCHOUT", 1500, "Outbound"),
)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Built:
    auditor: Any
    services: int
    stacks: int
    runs: int
    start: datetime
    end: datetime


def synthetic_scenario(services: int) -> dict[str, Any]:
    """A scenario of `services` services on LPARs of 50, shaped as the reference file."""
    lpars = []
    for index in range(-(-services // PER_LPAR)):
        name = f"SYS{index:03d}"
        rows = []
        for n in range(index * PER_LPAR, min(services, (index + 1) * PER_LPAR)):
            title, job, port, direction = KINDS[n % len(KINDS)]
            rows.append(
                {
                    "name": f"{title} {n:04d}",
                    "jobname": f"{job}{n % 10}"[:8],
                    "port": port + (n % PER_LPAR) // len(KINDS),
                    "direction": direction,
                    "criticality": ("high", "medium", "low")[n % 3],
                    "owner": f"team-{n % 17}",
                }
            )
        certificate = {
            "label": f"{name}.ATTLS.SERVER",
            "common_name": f"{name.lower()}.bank.example",
            "not_after_days": (12, 40, 200, 365)[index % 4],
        }
        lpars.append(
            {
                "name": name,
                "role": "production",
                "stacks": [{"name": "TCPIP"}],
                "key_rings": [{"name": "ATTLS/SharedRing", "certificates": [certificate]}],
                "services": rows,
            }
        )
    return {"version": 1, "lpars": lpars}


def _people() -> dict[str, Any]:
    from django.contrib.auth.models import User

    from accounts.roles import Role, ensure_role_groups

    groups = ensure_role_groups()
    people = {}
    for key, username, first, last, role in (
        ("architect", "ada", "Ada", "Archer", Role.ARCHITECT),
        ("operator", "olivia", "Olivia", "Ops", Role.OPERATOR),
        ("approver", "otto", "Otto", "Second", Role.OPERATOR),
        ("auditor", "audrey", "Audrey", "Hale", Role.AUDITOR),
    ):
        user = User.objects.create_user(
            username, password="bench", first_name=first, last_name=last
        )
        user.groups.set([groups[role]])
        people[key] = user
    return people


def reference(*, run_every: int = 6, seed: int = 6) -> Built:
    """The reference data center, run for a week."""
    from portal.seed import load_scenario

    scenario = load_scenario()
    clients = {
        (lpar["name"], service["name"]): sum(
            p.get("clients", 0) for p in (service.get("sim") or {}).get("populations") or []
        )
        for lpar in scenario["lpars"]
        for service in lpar.get("services") or []
    }
    return _build(scenario, clients=clients, run_every=run_every, seed=seed)


def build(*, services: int, run_every: int = 6, seed: int = 6) -> Built:
    """`services` synthetic services on LPARs of 50, run for a week."""
    return _build(synthetic_scenario(services), clients={}, run_every=run_every, seed=seed)


def _build(
    scenario: dict[str, Any], *, clients: dict[tuple[str, str], int], run_every: int, seed: int
) -> Built:
    from django.utils import timezone

    from policies.models import Service, Stack
    from policies.services import policy_version_publish
    from portal.seed import policy_name, seed_datacenter

    people = _people()
    seed_datacenter(scenario=scenario)
    connections = {
        (lpar, policy_name(name)): count or CONNECTIONS for (lpar, name), count in clients.items()
    }
    end = timezone.now().replace(microsecond=0)
    start = end - timedelta(days=DAYS)
    rng = random.Random(seed)
    runs = 0
    by_name = {lpar["name"]: lpar for lpar in scenario["lpars"]}
    for stack in Stack.objects.select_related("lpar").order_by("lpar__name", "name"):
        services = list(Service.objects.filter(stack=stack).order_by("name"))
        if not services:
            continue
        version = policy_version_publish(
            stack=stack, actor=people["architect"], note="First cut.", acknowledge_warnings=True
        )
        load = {s.pk: connections.get((stack.lpar.name, s.name), CONNECTIONS) for s in services}
        runs += _operate(
            stack,
            version,
            services,
            load,
            people=people,
            lpar=by_name[stack.lpar.name],
            start=start,
            end=end,
            run_every=run_every,
            rng=rng,
        )
    return Built(
        auditor=people["auditor"],
        services=Service.objects.count(),
        stacks=Stack.objects.filter(services__isnull=False).distinct().count(),
        runs=runs,
        start=start,
        end=end,
    )


@cache
def _issuing_ca() -> Any:
    """The estate's issuing CA (lparsim's PKI): one per benchmark process."""
    return pki.create_ca("Bank Issuing CA", key_type="rsa-2048")


def _operate(
    stack: Any,
    version: Any,
    services: list[Any],
    load: dict[int, int],
    *,
    people: dict[str, Any],
    lpar: dict[str, Any],
    start: datetime,
    end: datetime,
    run_every: int,
    rng: random.Random,
) -> int:
    """A week of one stack: deployment, verification runs, roll-ups, certificate, drift."""
    from attls.policy import parse_policy
    from fleet.models import (
        Certificate,
        Deployment,
        DeploymentTarget,
        DriftEvent,
        LparConnection,
        RunStatus,
        ServiceHour,
        TargetStatus,
        VerificationFigures,
        VerificationRun,
    )
    from fleet.stored_figures import run_figures

    LparConnection.objects.get_or_create(
        lpar=stack.lpar,
        defaults={
            "username": "ATTLSADM",
            "ca_bundle": "-----BEGIN CERTIFICATE-----\nMIIBdemo\n-----END CERTIFICATE-----",
            "ssh_host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoHostKeyPinned",
        },
    )
    deployed_at = start + timedelta(days=1)
    deployment = Deployment.objects.create(
        requested_by=people["operator"],
        approved_by=people["approver"],
        approved_at=deployed_at - timedelta(minutes=30),
        status=RunStatus.SUCCEEDED,
        started_at=deployed_at - timedelta(seconds=20),
        finished_at=deployed_at,
        note="rollout of v1",
    )
    # Requested within the period (created_at is stamped "now" on create).
    Deployment.objects.filter(pk=deployment.pk).update(created_at=deployed_at - timedelta(hours=1))
    DeploymentTarget.objects.create(
        deployment=deployment,
        position=0,
        stack=stack,
        version=version,
        text=version.text,
        sha256=version.sha256,
        status=TargetStatus.SUCCEEDED,
        started_at=deployed_at - timedelta(seconds=20),
        finished_at=deployed_at,
        uploaded=True,
    )
    policy = parse_policy(version.text)  # what pasearch reports once PAGENT loaded it
    traffic = Traffic(stack, services, load, policy)
    runs = []
    moment = start + timedelta(minutes=5)
    while moment <= end:
        enforced = moment >= deployed_at
        outputs, results = traffic.run(moment, deployed_at if enforced else None)
        runs.append(
            VerificationRun(
                stack=stack,
                expected_version=version if enforced else None,
                status=RunStatus.SUCCEEDED,
                started_at=moment,
                finished_at=moment + timedelta(seconds=4),
                outputs=outputs,
                results=results,
            )
        )
        moment += timedelta(hours=run_every)
    made = VerificationRun.objects.bulk_create(runs, batch_size=20)
    # As the worker stores them when a run ends (fleet.stored_figures.figures_store).
    VerificationFigures.objects.bulk_create(
        VerificationFigures(run=run, figures=run_figures(run.results)) for run in made
    )
    for run in made:  # created_at is auto_now_add: set it to when the run happened
        VerificationRun.objects.filter(pk=run.pk).update(created_at=run.started_at)
    hours = []
    for service in services:
        for h in range(DAYS * 24):
            hour = start.replace(minute=0, second=0) + timedelta(hours=h)
            protocols, ciphers = traffic.mix(load[service.pk], enforced=hour >= deployed_at)
            cleartext = protocols.get("cleartext", 0)
            hours.append(
                ServiceHour(
                    service=service,
                    hour=hour,
                    connections=load[service.pk],
                    secured=load[service.pk] - cleartext,
                    cleartext=cleartext,
                    protocols=protocols,
                    ciphers=ciphers,
                )
            )
    ServiceHour.objects.bulk_create(hours, batch_size=2000)
    for ring in lpar.get("key_rings") or []:
        if not str(ring["name"]).upper().startswith("ATTLS/"):
            continue
        for certificate in ring.get("certificates") or []:
            # A real certificate, as lparsim issues it, read the way the probe reads one.
            issued = pki.issue(
                _issuing_ca(),
                common_name=certificate["common_name"],
                not_after=end + timedelta(days=certificate.get("not_after_days", 365)),
                not_before=start - timedelta(days=30),
                dns_names=(certificate["common_name"],),
                key_type="rsa-2048",
            )
            leaf = issued.certificate
            Certificate.objects.create(
                stack=stack,
                ring=ring["name"],
                label=certificate["label"],
                subject=leaf.subject.rfc4514_string(),
                issuer=leaf.issuer.rfc4514_string(),
                serial=format(leaf.serial_number, "X"),
                not_after=leaf.not_valid_after_utc,
                fingerprint=leaf.fingerprint(hashes.SHA256()).hex(),
                details=certificates.facts([leaf, _issuing_ca().certificate]),
                rules=[s.name for s in services],
                ports=sorted({s.local_port_low for s in services if s.local_port_low}),
                first_seen=start,
                last_seen=end,
            )
    if rng.random() < 0.3:
        opened = deployed_at + timedelta(days=2)
        DriftEvent.objects.create(
            stack=stack,
            kind="policy",
            key="policy",
            detail=f"The loaded policy differs from v{version.number} deployed",
            opened_at=opened,
            last_seen_at=opened + timedelta(hours=1),
            resolved_at=opened + timedelta(hours=2),
        )
    return len(made)


class Traffic:
    """What a stack's verification sees: the raw outputs and the figures `fleet.verify` keeps.

    Before the policy is deployed nothing is mapped to AT-TLS (every connection is listed by
    `netstat -a -X NOTTLSPOLICY`); once it is, every connection is protected, TLS 1.3 for most.
    """

    def __init__(self, stack: Any, services: list[Any], load: dict[int, int], policy: Any) -> None:
        self.stack = stack
        self.services = services
        self.load = load
        self.policy = policy

    @staticmethod
    def mix(connections: int, *, enforced: bool) -> tuple[dict[str, int], dict[str, int]]:
        if not enforced:
            return {"cleartext": connections}, {}
        tls12 = round(connections * TLS12_SHARE)
        protocols = {"TLSv1.2": tls12, "TLSv1.3": connections - tls12}
        protocols = {p: n for p, n in protocols.items() if n}
        return protocols, {SUITES[p][0]: n for p, n in protocols.items()}

    def _connections(self, enforced: bool) -> list[tuple[Any, int, str | None]]:
        found = []
        for service in self.services:
            protocols, _ = self.mix(self.load[service.pk], enforced=enforced)
            client = 0
            for protocol, count in sorted(protocols.items()):
                for _ in range(count):
                    found.append((service, client, None if protocol == "cleartext" else protocol))
                    client += 1
        return found

    def run(
        self, moment: datetime, deployed_at: datetime | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        from attls.reports.from_policy import pasearch_report
        from attls.reports.netstat import (
            AllConnRow,
            NetstatAllConnReport,
            NetstatTtlsReport,
            SocketAddr,
            TtlsConnection,
            render_netstat_allconn,
            render_netstat_ttls,
        )
        from attls.reports.pasearch import NO_POLICIES, render_pasearch

        local = moment.astimezone()
        clock = f"{local:%H:%M:%S}"
        name = self.stack.name
        if deployed_at is None:
            pasearch = NO_POLICIES + "\n"
        else:
            report = pasearch_report(
                self.policy,
                image=name,
                instance_id=1,
                installed_at=deployed_at.astimezone(),
                reported_at=local,
            )
            pasearch = render_pasearch(report)
        mapped, uncovered = [], []
        for n, (service, client, protocol) in enumerate(self._connections(deployed_at is not None)):
            conn_id = f"{0x1000 + n:08X}"
            inbound = service.direction == "Inbound"
            here = SocketAddr("10.1.1.10", service.local_port_low if inbound else 40000 + n)
            there = SocketAddr(
                f"10.20.{client % 250}.{n % 250}",
                50000 + client if inbound else service.remote_port_low,
            )
            if protocol is None:
                uncovered.append(AllConnRow(service.jobname, conn_id, "Establsh", here, there))
                continue
            rule = self.policy.rules[service.name]
            mapped.append(
                TtlsConnection(
                    conn_id=conn_id,
                    job_name=service.jobname,
                    local_socket=here,
                    remote_socket=there,
                    sec_level=f"TLS Version {protocol.removeprefix('TLSv')}",
                    cipher_code=SUITES[protocol][0],
                    cipher_name=SUITES[protocol][1],
                    map_type="Primary",
                    fips140="Off",
                    rule=service.name,
                    group_action=rule.group_action_ref,
                    env_action=rule.environment_action_ref,
                    conn_action=rule.connection_action_ref,
                )
            )
        netstat = render_netstat_ttls(NetstatTtlsReport("V3R1", name, clock, mapped))
        allconn = render_netstat_allconn(
            NetstatAllConnReport("V3R1", name, clock, uncovered, filter="NOTTLSPOLICY")
        )
        probe = {
            s.name: {
                "zos_port": s.local_port_low,
                "tls": deployed_at is not None,
                "protocols": PROBED if deployed_at is not None else [],
                "deprecated": [],
                "ciphers": {},
                "certificate": None,
                "error": "",
            }
            for s in self.services
            if s.direction == "Inbound"
        }
        outputs: dict[str, Any] = {
            key: {
                "command": command,
                "text": text,
                "stderr": "",
                "exit_status": 0,
                "sha256": sha(text),
                "parsed": True,
                "error": "",
            }
            for key, command, text in (
                ("pasearch", f"pasearch -t -p {name}", pasearch),
                ("netstat_conn", f"netstat -x CONN -p {name}", netstat),
                ("netstat_allconn", f"netstat -a -X NOTTLSPOLICY -p {name}", allconn),
                (
                    "syslog",
                    f"cat /var/log/syslog (EZD1286I lines of {name}: the newest 0 of 0)",
                    "",
                ),
            )
        }
        outputs["probe"] = {
            "command": f"sslyze probe of {len(probe)} port(s)",
            "json": probe,
            "sha256": sha(json.dumps(probe, sort_keys=True, separators=(",", ":"))),
            "parsed": True,
            "error": "",
        }
        return outputs, self._figures(deployed_at is not None, probe, len(mapped) + len(uncovered))

    def _figures(self, enforced: bool, probe: dict[str, Any], total: int) -> dict[str, Any]:
        per_service = {}
        mix: dict[str, int] = {}
        for service in self.services:
            protocols, ciphers = self.mix(self.load[service.pk], enforced=enforced)
            connections = sum(protocols.values())
            cleartext = protocols.get("cleartext", 0)
            for protocol, count in protocols.items():
                mix[protocol] = mix.get(protocol, 0) + count
            seen = probe.get(service.name, {})
            per_service[service.name] = {
                "service": str(service.uuid),
                "in_scope": enforced,
                "connections": connections,
                "handshakes_pending": 0,
                "secured": connections - cleartext,
                "coverage": round((connections - cleartext) / connections, 4)
                if connections
                else None,
                "cleartext": cleartext,
                "cleartext_in_scope": cleartext if enforced else 0,
                "protocols": dict(sorted(protocols.items())),
                "ciphers": dict(sorted(ciphers.items())),
                "unexpected_rule": [],
                "probe_protocols": seen.get("protocols", []),
                "probe_deprecated": [],
                "probe_tls": seen.get("tls"),
                "handshake_failures": {},
            }
        secured = total - mix.get("cleartext", 0)
        return {
            "connections": total,
            "handshakes_pending": 0,
            "secured": secured,
            "coverage": round(secured / total, 4) if total else None,
            "protocols": dict(sorted(mix.items())),
            "services": per_service,
            "loaded_rules": len(self.policy.rules) if enforced else 0,
            "handshake_failures_total": {},
        }
