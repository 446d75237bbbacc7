"""A synthetic assessed estate for the evidence-pack benchmarks (issue 6).

`build(services=N)` writes, in bulk, what a quarter of running the portal leaves behind for
N services: LPARs of 50 services (one TCPIP stack each), shared actions, a rule per service,
a published and deployed version per stack, verification runs at the start and the end of
the period with raw outputs of realistic size, a week of hourly roll-ups per service, drift,
certificates, change records, and an assessment of the 63 controls of the reference catalog
with evidence naming services, versions and runs, as the engine records them.

Call it after django.setup() on an empty, migrated database. Deterministic for a given N.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

CATALOG = Path(__file__).resolve().parents[2] / "shared" / "reference" / "nist-catalog.yaml"
PER_LPAR = 50
HOURS = 7 * 24
OUTCOMES = ["PASS"] * 8 + ["WARN", "FAIL", "NOT_APPLICABLE", "UNKNOWN"]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Built:
    assessment: Any
    auditor: Any
    services: int
    stacks: int


def _controls() -> list[dict[str, Any]]:
    """The reference catalog's controls when shared/ is there; 63 look-alikes otherwise."""
    if CATALOG.exists():
        data = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
        return [
            {
                "id": c["id"],
                "framework": "SP800-207" if c["source"] == "SP800-207" else "SP800-52r2",
                "title": c["title"],
                "sp800_53": c.get("related_800_53", []),
            }
            for c in data["controls"]
        ]
    return [
        {
            "id": f"NIST-800-52r2-3.{n}-control",
            "framework": "SP800-52r2" if n < 52 else "SP800-207",
            "title": f"Control {n}",
            "sp800_53": ["SC-8"],
        }
        for n in range(63)
    ]


def _netstat(stack: str, services: list[Any], per_service: int) -> str:
    lines = [f"MVS TCP/IP NETSTAT CS V3R1       TCPIP Name: {stack}           10:15:02"]
    n = 0
    for service in services:
        for client in range(per_service):
            n += 1
            lines += [
                f"ConnID: {n:08X}",
                f"  JobName:      {service.jobname[:8]}",
                f"  LocalSocket:  10.1.1.10..{service.local_port_low}",
                f"  RemoteSocket: 10.20.{client % 250}.{n % 250}..{50000 + client}",
                "  SecLevel:     TLSv1.3",
                "  Cipher:       1301 TLS_AES_128_GCM_SHA256",
                f"  PolicyRule:   {service.name}",
            ]
    return "\n".join(lines) + "\n"


def build(*, services: int, connections_per_service: int = 40, seed: int = 6) -> Built:
    from django.contrib.auth.models import User

    from accounts.roles import Role, ensure_role_groups
    from audits.models import Assessment, ControlResult, RunState, ScopeKind
    from fleet.models import (
        Certificate,
        Deployment,
        DeploymentTarget,
        DriftEvent,
        RunStatus,
        ServiceHour,
        TargetStatus,
        VerificationRun,
    )
    from policies.models import (
        ChangeRecord,
        CipherSet,
        EnvironmentAction,
        GroupAction,
        Keyring,
        Lpar,
        PolicyVersion,
        Rule,
        Service,
        Stack,
    )

    rng = random.Random(seed)
    groups = ensure_role_groups()
    architect = User.objects.create_user(
        "ada", password="bench", first_name="Ada", last_name="Archer"
    )
    architect.groups.set([groups[Role.ARCHITECT]])
    operator = User.objects.create_user("olivia", password="bench")
    operator.groups.set([groups[Role.OPERATOR]])
    approver = User.objects.create_user("otto", password="bench")
    approver.groups.set([groups[Role.OPERATOR]])
    auditor = User.objects.create_user(
        "audrey", password="bench", first_name="Audrey", last_name="Hale"
    )
    auditor.groups.set([groups[Role.AUDITOR]])

    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=7)
    ring = Keyring.objects.create(name="ringShared", ring="ATTLS/SharedRing")
    ciphers = CipherSet.objects.create(name="cph_AEAD", suites=["1301", "1302", "C02F", "C030"])
    group = GroupAction.objects.create(name="gAct_MASTER", ttls_enabled=True)
    environment = EnvironmentAction.objects.create(
        name="eAct_TLS12_13", keyring=ring, cipher_set=ciphers, tlsv1_2=True, tlsv1_3=True
    )

    lpar_count = max(1, -(-services // PER_LPAR))
    stacks: list[Stack] = []
    for index in range(lpar_count):
        lpar = Lpar.objects.create(name=f"SYS{index:03d}"[:8])
        stacks.append(Stack.objects.create(lpar=lpar, name="TCPIP"))
    kinds = [("TN3270", 992), ("CICSAP", 8443), ("MQCHIN", 1414), ("DB2DIS", 446), ("FTPD", 990)]
    rows = []
    for n in range(services):
        stack = stacks[n // PER_LPAR]
        job, port = kinds[n % len(kinds)]
        rows.append(
            Service(
                stack=stack,
                name=f"SVC{n:05d}",
                description=f"{job} service {n}",
                owner_team=f"team-{n % 17}",
                jobname=f"{job}{n % 10}",
                local_port_low=port + n // len(kinds),
                local_port_high=port + n // len(kinds),
                tier=("low", "medium", "high")[n % 3],
                phase="done",
            )
        )
    Service.objects.bulk_create(rows, batch_size=500)
    all_services = list(Service.objects.select_related("stack__lpar").order_by("pk"))
    Rule.objects.bulk_create(
        [
            Rule(
                service=s,
                priority=100 + (i % 3) * 100,
                group_action=group,
                environment_action=environment,
            )
            for i, s in enumerate(all_services)
        ],
        batch_size=500,
    )
    ChangeRecord.objects.bulk_create(
        [
            ChangeRecord(
                actor=architect,
                action="create",
                object_type="Service",
                object_uuid=s.uuid,
                object_name=s.name,
                after={"name": s.name},
            )
            for s in all_services
        ],
        batch_size=500,
    )
    by_stack: dict[int, list[Any]] = {}
    for service in all_services:
        by_stack.setdefault(service.stack_id, []).append(service)

    versions = []
    runs: list[VerificationRun] = []
    for stack in stacks:
        text = "\n".join(
            f"TTLSRule {s.name}\n{{\n  LocalPortRange {s.local_port_low}\n}}"
            for s in by_stack[stack.pk]
        )
        version = PolicyVersion.objects.create(
            stack=stack,
            number=1,
            text=text,
            sha256=sha(text),
            model={},
            author=architect,
            note="first cut",
        )
        versions.append(version)
        deployment = Deployment.objects.create(
            requested_by=operator,
            approved_by=approver,
            approved_at=start + timedelta(hours=1),
            status=RunStatus.SUCCEEDED,
            started_at=start + timedelta(hours=1),
            finished_at=start + timedelta(hours=1, seconds=20),
            note="staged rollout",
        )
        DeploymentTarget.objects.create(
            deployment=deployment,
            position=0,
            stack=stack,
            version=version,
            text=text,
            sha256=version.sha256,
            status=TargetStatus.SUCCEEDED,
            started_at=start + timedelta(hours=1),
            finished_at=start + timedelta(hours=1, seconds=20),
        )
        mine = by_stack[stack.pk]
        for moment, secured_share in (
            (start + timedelta(minutes=5), 0.7),
            (end - timedelta(minutes=1), 1.0),
        ):
            netstat = _netstat(stack.name, mine, connections_per_service)
            per_service = {}
            for service in mine:
                secured = round(connections_per_service * secured_share)
                protocols = {"TLSv1.3": secured - secured // 5, "TLSv1.2": secured // 5}
                if connections_per_service - secured:
                    protocols["cleartext"] = connections_per_service - secured
                per_service[service.name] = {
                    "service": str(service.uuid),
                    "in_scope": True,
                    "connections": connections_per_service,
                    "secured": secured,
                    "coverage": round(secured / connections_per_service, 4),
                    "protocols": protocols,
                    "probe_protocols": ["TLSv1.2", "TLSv1.3"],
                    "probe_deprecated": [],
                }
            total = connections_per_service * len(mine)
            secured_total = sum(e["secured"] for e in per_service.values())
            mix: dict[str, int] = {}
            for entry in per_service.values():
                for p, c in entry["protocols"].items():
                    mix[p] = mix.get(p, 0) + c
            outputs = {
                name: {"command": command, "text": body, "sha256": sha(body), "parsed": True}
                for name, command, body in (
                    ("pasearch", "pasearch -t -p TCPIP", text),
                    ("netstat_conn", "netstat -x CONN -p TCPIP", netstat),
                    (
                        "netstat_allconn",
                        "netstat -a -X NOTTLSPOLICY -p TCPIP",
                        "MVS TCP/IP NETSTAT\n",
                    ),
                    ("syslog", "cat /var/log/syslog (EZD1286I lines of TCPIP)", ""),
                )
            }
            probe = {s.name: {"protocols": ["TLSv1.2", "TLSv1.3"]} for s in mine}
            outputs["probe"] = {
                "command": f"sslyze probe of {len(mine)} port(s)",
                "json": probe,
                "sha256": sha(json.dumps(probe, sort_keys=True, separators=(",", ":"))),
                "parsed": True,
            }
            run = VerificationRun.objects.create(
                stack=stack,
                expected_version=version,
                status=RunStatus.SUCCEEDED,
                started_at=moment,
                finished_at=moment + timedelta(seconds=4),
                outputs=outputs,
                results={
                    "connections": total,
                    "secured": secured_total,
                    "coverage": round(secured_total / total, 4),
                    "protocols": mix,
                    "services": per_service,
                },
            )
            VerificationRun.objects.filter(pk=run.pk).update(created_at=moment)
            run.created_at = moment
            runs.append(run)
        Certificate.objects.create(
            stack=stack,
            ring="ATTLS/SharedRing",
            label=f"{stack.lpar.name}.ATTLS.SERVER",
            subject=f"CN={stack.lpar.name.lower()}.bank.example",
            issuer="CN=Bank Issuing CA",
            serial=f"{stack.pk:04X}",
            not_after=end + timedelta(days=rng.choice([5, 40, 200, 365])),
            fingerprint=sha(stack.lpar.name),
            rules=[s.name for s in mine[:5]],
            ports=[s.local_port_low for s in mine[:5]],
            first_seen=start,
            last_seen=end,
        )
        if rng.random() < 0.3:
            DriftEvent.objects.create(
                stack=stack,
                kind="policy",
                key="policy",
                detail="The loaded policy differs from v1 deployed",
                opened_at=start + timedelta(days=2),
                last_seen_at=start + timedelta(days=2, hours=1),
                resolved_at=start + timedelta(days=2, hours=2),
            )
    hours = []
    for service in all_services:
        for h in range(HOURS):
            secured = 10 if h > 24 else 7
            hours.append(
                ServiceHour(
                    service=service,
                    hour=start + timedelta(hours=h),
                    connections=10,
                    secured=secured,
                    cleartext=10 - secured,
                    protocols={
                        "TLSv1.3": secured - 2,
                        "TLSv1.2": 2,
                        **({"cleartext": 10 - secured} if secured < 10 else {}),
                    },
                )
            )
        if len(hours) >= 20000:
            ServiceHour.objects.bulk_create(hours, batch_size=5000)
            hours = []
    ServiceHour.objects.bulk_create(hours, batch_size=5000)

    assessment = Assessment.objects.create(
        scope_kind=ScopeKind.ESTATE,
        scope={},
        period_start=start,
        period_end=end,
        catalog_version="0.1.0",
        catalog_sha256=sha("catalog"),
        parameters={"deployment_class": "government_only"},
        created_by=auditor,
        status=RunState.SUCCEEDED,
    )
    uuids = [str(s.uuid) for s in all_services]
    run_uuids = [str(r.uuid) for r in runs if r.created_at > end - timedelta(hours=1)]
    version_refs = [
        {"stack": v.stack.label, "number": v.number, "sha256": v.sha256} for v in versions
    ]
    results = []
    for index, control in enumerate(_controls()):
        outcome = OUTCOMES[index % len(OUTCOMES)]
        failing = rng.sample(uuids, k=min(len(uuids), 3)) if outcome in ("FAIL", "WARN") else uuids
        results.append(
            ControlResult(
                assessment=assessment,
                control_id=control["id"],
                framework=control["framework"],
                title=control["title"],
                outcome=outcome,
                rationale=(
                    f"{len(failing)} service(s) do not meet the requirement; see the evidence."
                    if outcome in ("FAIL", "WARN")
                    else f"Evaluated on {len(uuids)} services and {len(run_uuids)} runs."
                ),
                evidence={
                    "services": failing,
                    "versions": version_refs,
                    "verification_runs": run_uuids,
                },
                sp800_53=control["sp800_53"],
            )
        )
    ControlResult.objects.bulk_create(results)
    return Built(assessment=assessment, auditor=auditor, services=services, stacks=len(stacks))
