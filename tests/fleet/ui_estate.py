"""A running estate for the fleet page, API and selector tests, made with the models and services.

SYSA/TCPIP is "after": v1 then v2 deployed, verified, with live connections, hourly roll-ups,
drift, certificates and an incident. SYSB/TCPIP is "before": never deployed, verified once,
every connection uncovered, the applications' own TLS seen by the probe. No lparsim: the
deployment and verification rows are written as the worker would leave them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from accounts.roles import Role
from fleet.impact.models import ImpactPrediction
from fleet.models import (
    Certificate,
    ConnectionObservation,
    Deployment,
    DeploymentStep,
    DeploymentTarget,
    DriftEvent,
    Incident,
    LparConnection,
    RunStatus,
    ServiceHour,
    StackBaseline,
    TargetStatus,
    VerificationRun,
)
from fleet.services import deployment_request, lpar_connection_save
from policies.models import PolicyVersion, Service, Stack
from tests.e2e.estate import Estate, build_estate

SECRET_PASSWORD = "Zebra-4491-never-shown"
SECRET_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ-secret-key-material-9f8e7d\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBdemoCAcertificate\n-----END CERTIFICATE-----"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoHostKeyPinned"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class FleetEstate:
    design: Estate
    people: dict[str, User]
    sysa: Stack
    sysb: Stack
    v1: PolicyVersion
    v2: PolicyVersion
    deployed: Deployment  # v2 to SYSA, succeeded
    pending: Deployment  # v2 to SYSA again, waiting for approval
    run_after: VerificationRun  # SYSA
    run_before: VerificationRun  # SYSB
    connections: dict[str, LparConnection] = field(default_factory=dict)

    @property
    def service_a(self) -> Service:  # owned by owen
        return self.design.services["CICSWEB1"]

    @property
    def service_b(self) -> Service:  # owned by nobody in particular (Messaging)
        return self.design.services["MQCHIN"]


def people(make_user: Any) -> dict[str, User]:
    return {
        "architect": make_user("ada", Role.ARCHITECT),
        "operator": make_user("olivia", Role.OPERATOR),
        "operator2": make_user("otto", Role.OPERATOR),
        "auditor": make_user("audrey", Role.AUDITOR),
        "owner_a": make_user("owen", Role.APP_OWNER),
        "owner_b": make_user("bea", Role.APP_OWNER),
        "admin": make_user("adam", Role.ADMIN),
        "nobody": make_user("nemo"),
    }


def _succeed(deployment: Deployment, approver: User, at: datetime) -> Deployment:
    """What the worker leaves behind after a deployment that went well."""
    Deployment.objects.filter(pk=deployment.pk).update(
        status=RunStatus.SUCCEEDED,
        approved_by=approver,
        approved_at=at,
        started_at=at,
        finished_at=at + timedelta(seconds=3),
        heartbeat_at=at + timedelta(seconds=3),
        claimed_by="worker-1:4242",
        attempts=1,
    )
    for target in deployment.targets.all():
        DeploymentTarget.objects.filter(pk=target.pk).update(
            status=TargetStatus.SUCCEEDED,
            started_at=at,
            finished_at=at + timedelta(seconds=3),
            uploaded=True,
            last_known_good="",
            last_known_good_sha256=sha(""),
        )
        for name, output in (
            ("keep last-known-good", f"{target.stack.policy_file}: 0 bytes"),
            ("upload", f"{target.stack.policy_file}: {len(target.text)} bytes"),
            ("refresh PAGENT", "EZZ8771I PAGENT CONFIG POLICY PROCESSING COMPLETE FOR TCPIP"),
            ("compare loaded policy", "8 rule(s) loaded, as published"),
            ("verify", "verification: 40 connection(s), coverage 0.975"),
        ):
            DeploymentStep.objects.create(
                deployment=deployment, target=target, name=name, output=output, seconds=0.2
            )
    deployment.refresh_from_db()
    return deployment


def _entry(
    service: Service,
    *,
    in_scope: bool,
    protocols: dict[str, int],
    probe: list[str],
    ciphers: dict[str, int] | None = None,
    unexpected: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    connections = sum(protocols.values())
    secured = connections - protocols.get("cleartext", 0)
    return {
        "service": str(service.uuid),
        "in_scope": in_scope,
        "connections": connections,
        "secured": secured,
        "coverage": round(secured / connections, 4) if connections else None,
        "cleartext": connections - secured,
        "cleartext_in_scope": (connections - secured) if in_scope else 0,
        "protocols": protocols,
        "ciphers": ciphers or {},
        "unexpected_rule": unexpected or [],
        "probe_protocols": probe,
        "probe_deprecated": [p for p in probe if p in ("TLSv1", "TLSv1.1")],
        "probe_tls": bool(probe) if service.direction == "Inbound" else None,
    }


def _results(entries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    connections = sum(e["connections"] for e in entries.values())
    secured = sum(e["secured"] for e in entries.values())
    protocols: dict[str, int] = {}
    for entry in entries.values():
        for protocol, n in entry["protocols"].items():
            protocols[protocol] = protocols.get(protocol, 0) + n
    return {
        "connections": connections,
        "secured": secured,
        "coverage": round(secured / connections, 4) if connections else None,
        "protocols": dict(sorted(protocols.items())),
        "services": entries,
        "loaded_rules": 8,
        "drift_opened": [],
    }


PASEARCH = """TCP/IP pasearch CS V3R1                  Image Name: TCPIP
  Date: 06/02/2025        Time: 10:15:02
  TTLS Instance Id: 1748859302
 policyRule:             CICSWEB1
  Rule Type:             TTLS
"""
NETSTAT_CONN = """MVS TCP/IP NETSTAT CS V3R1       TCPIP Name: TCPIP           10:15:02
ConnID: 0000004B
  JobName:      CICSPRD1
  LocalSocket:  10.1.1.10..8443
  RemoteSocket: 10.20.0.7..50122
  SecLevel:     TLSv1.3
  Cipher:       1301 TLS_AES_128_GCM_SHA256
  PolicyRule:   CICSWEB1
"""
SYSLOG = (
    "Jun  2 10:14:58 SYSA TCPIP: EZD1286I TTLS Error GRPID: 00000002 ENVID: 00000004"
    " CONNID: 0000005A LOCAL: 10.1.1.10..1025 REMOTE: 192.0.2.8..1415 JOBNAME: MQPRCHIN"
    " USERID: MQPRCHIN RULE: MQPARTNER RC:    8 Initial Handshake"
)
NETSTAT_GARBLED = "EZZ0000I NETSTAT OUTPUT TRUNCATED BY THE CONSOLE\n@@@ garbled @@@\n"


def _outputs(*, parsed_allconn: bool) -> dict[str, Any]:
    probe = {
        "CICSWEB1": {
            "zos_port": 8443,
            "address": "127.0.0.1:21010",
            "tls": True,
            "protocols": ["TLSv1.2", "TLSv1.3"],
            "deprecated": [],
            "ciphers": {"TLSv1.3": ["1301"]},
            "certificate": None,
            "error": "",
        }
    }
    probe_text = json.dumps(probe, sort_keys=True, separators=(",", ":"))
    allconn = NETSTAT_GARBLED if not parsed_allconn else "MVS TCP/IP NETSTAT CS V3R1\n"
    return {
        "pasearch": {
            "command": "pasearch -t -p TCPIP",
            "text": PASEARCH,
            "stderr": "",
            "exit_status": 0,
            "sha256": sha(PASEARCH),
            "seconds": 0.05,
            "parsed": True,
            "error": "",
        },
        "netstat_conn": {
            "command": "netstat -x CONN -p TCPIP",
            "text": NETSTAT_CONN,
            "stderr": "",
            "exit_status": 0,
            "sha256": sha(NETSTAT_CONN),
            "seconds": 0.04,
            "parsed": True,
            "error": "",
        },
        "netstat_allconn": {
            "command": "netstat -a -X NOTTLSPOLICY -p TCPIP",
            "text": allconn,
            "stderr": "",
            "exit_status": 0,
            "sha256": sha(allconn),
            "seconds": 0.03,
            "parsed": parsed_allconn,
            "error": "" if parsed_allconn else "line 2: expected the netstat header, found '@@@'",
        },
        "syslog": {
            "command": "cat /var/log/syslog (EZD1286I lines of TCPIP)",
            "text": SYSLOG,
            "sha256": sha(SYSLOG),
            "exit_status": 0,
            "seconds": 0.02,
            "parsed": True,
            "error": "",
        },
        "probe": {
            "command": "sslyze probe of 1 port(s)",
            "json": probe,
            "sha256": sha(probe_text),
            "seconds": 0.9,
            "parsed": True,
            "error": "",
        },
    }


def build_fleet(make_user: Any, *, observations: int = 3, hours: int = 24) -> FleetEstate:
    who = people(make_user)
    design = build_estate(who["architect"], owner=who["owner_a"])
    design.services["MQCHIN"].owners.set([who["owner_b"]])
    sysa, sysb = design.stacks["SYSA"], design.stacks["SYSB"]
    v1 = PolicyVersion.objects.get(stack=sysa, number=1)
    v2 = PolicyVersion.objects.create(
        stack=sysa,
        number=2,
        text=v1.text,
        sha256=v1.sha256,
        model=v1.model,
        author=who["architect"],
        note="Second cut: MQ channel initiator moves to TLS 1.3.",
        parent=v1,
    )
    connections = {}
    for lpar_name, port in (("SYSA", 21001), ("SYSB", 21101)):
        lpar = (sysa if lpar_name == "SYSA" else sysb).lpar
        connections[lpar_name] = lpar_connection_save(
            actor=who["operator"],
            lpar=lpar,
            fields={
                "transport": "zosmf",
                "host": "127.0.0.1",
                "zosmf_port": port,
                "ssh_port": port + 1,
                "username": "ATTLSADM",
                "ca_bundle": CA_PEM,
                "ssh_host_key": HOST_KEY,
                "pagent_procname": "PAGENT",
                "verification_interval": 60,
            },
            password=SECRET_PASSWORD,
            ssh_key=SECRET_KEY,
        )
    now = timezone.now()
    first = deployment_request(actor=who["operator"], targets=[(sysa, v1)], note="pilot")
    _succeed(first, who["operator2"], now - timedelta(days=2))
    deployed = deployment_request(actor=who["operator"], targets=[(sysa, v2)], note="TLS 1.3")
    deployed = _succeed(deployed, who["operator2"], now - timedelta(hours=3))
    pending = deployment_request(
        actor=who["operator"], targets=[(sysa, v2)], note="redeploy after drift"
    )

    services = design.services
    after_entries = {
        name: _entry(
            services[name],
            in_scope=True,
            protocols={"TLSv1.3": 3, "TLSv1.2": 1},
            probe=["TLSv1.2", "TLSv1.3"],
            ciphers={"1301": 3, "C02F": 1},
        )
        for name in ("TN3270S", "CICSWEB2", "DB2DDF", "FTPSRV", "ZOSMF", "MQPARTNER")
    }
    # The partner that rejects a TLS 1.3 offer: AT-TLS logged failed handshakes for its rule.
    after_entries["MQPARTNER"]["handshake_failures"] = {"8": 3}
    after_entries["CICSWEB1"] = _entry(
        services["CICSWEB1"],
        in_scope=True,
        protocols={"TLSv1.3": 2, "cleartext": 1},
        probe=["TLSv1.2", "TLSv1.3"],
        ciphers={"1301": 2},
    )
    after_entries["MQCHIN"] = _entry(
        services["MQCHIN"],
        in_scope=True,
        protocols={"TLSv1.2": 2},
        probe=["TLSv1", "TLSv1.2"],
        unexpected=[{"conn_id": "0000004C", "rule": "TN3270S"}],
    )
    run_after = VerificationRun.objects.create(
        stack=sysa,
        deployment=None,
        expected_version=v2,
        status=RunStatus.SUCCEEDED,
        started_at=now - timedelta(seconds=30),
        finished_at=now - timedelta(seconds=28),
        outputs=_outputs(parsed_allconn=False),
        results=_results(after_entries),
        parse_failed=True,
    )
    before_entries = {
        name: _entry(
            services[name],
            in_scope=False,
            protocols={"cleartext": 5},
            probe=["TLSv1", "TLSv1.2"] if name in ("TN3270B", "CICSWEBB") else [],
        )
        for name in ("TN3270B", "BATCHXFR", "CICSWEBB", "DB2DDFB")
    }
    run_before = VerificationRun.objects.create(
        stack=sysb,
        status=RunStatus.SUCCEEDED,
        started_at=now - timedelta(seconds=40),
        finished_at=now - timedelta(seconds=38),
        outputs=_outputs(parsed_allconn=True),
        results=_results(before_entries),
    )
    # As a worker leaves them: created before the observations of the run are written.
    VerificationRun.objects.filter(pk=run_after.pk).update(created_at=now - timedelta(seconds=30))
    VerificationRun.objects.filter(pk=run_before.pk).update(created_at=now - timedelta(seconds=40))
    run_after.refresh_from_db()
    run_before.refresh_from_db()
    # Observations the latest SYSA run saw, for service A, and an old one it no longer sees.
    rows = []
    for n in range(observations):
        rows.append(
            ConnectionObservation(
                stack=sysa,
                service=services["CICSWEB1"],
                conn_id=f"{0x100 + n:08X}",
                local_socket="10.1.1.10..8443",
                remote_socket=f"10.20.0.{n % 250 + 1}..{50000 + n}",
                jobname="CICSPRD1",
                protocol="TLSv1.3" if n else "",
                cipher="1301" if n else "",
                rule="CICSWEB1" if n else "",
                secured=bool(n),
                first_seen=now - timedelta(minutes=5),
                last_seen=now - timedelta(seconds=29),
            )
        )
    rows.append(
        ConnectionObservation(
            stack=sysa,
            service=services["CICSWEB1"],
            conn_id="000000FF",
            local_socket="10.1.1.10..8443",
            remote_socket="10.99.0.1..40000",
            jobname="CICSPRD1",
            protocol="TLSv1.2",
            cipher="C02F",
            rule="CICSWEB1",
            secured=True,
            first_seen=now - timedelta(hours=2),
            last_seen=now - timedelta(hours=1),
        )
    )
    rows.append(
        ConnectionObservation(
            stack=sysa,
            service=services["MQCHIN"],
            conn_id="0000004C",
            local_socket="10.1.1.10..1414",
            remote_socket="10.30.0.9..51515",
            jobname="MQPRCHIN",
            protocol="TLSv1.2",
            cipher="C02F",
            rule="TN3270S",
            secured=True,
            first_seen=now - timedelta(minutes=3),
            last_seen=now - timedelta(seconds=29),
        )
    )
    ConnectionObservation.objects.bulk_create(rows)
    top = now.replace(minute=0, second=0, microsecond=0)
    ServiceHour.objects.bulk_create(
        ServiceHour(
            service=service,
            hour=top - timedelta(hours=h),
            connections=10,
            secured=10 - (h % 3 == 0),
            cleartext=int(h % 3 == 0),
            protocols=(
                {"TLSv1.3": 7, "TLSv1.2": 2, "cleartext": 1}
                if h % 3 == 0
                else {"TLSv1.3": 8, "TLSv1.2": 2}
            ),
        )
        for service in (services["CICSWEB1"], services["MQCHIN"])
        for h in range(hours)
    )
    DriftEvent.objects.create(
        stack=sysa,
        kind="policy",
        key="policy",
        detail="The loaded policy differs from v2 deployed:\nrule CICSWEB1: TLSv1.3 On -> Off",
        opened_at=now - timedelta(minutes=10),
        last_seen_at=now - timedelta(seconds=29),
        opened_by_run=run_after,
    )
    DriftEvent.objects.create(
        stack=sysa,
        service=services["MQCHIN"],
        kind="unexpected-rule",
        key="unexpected-rule:MQCHIN:TN3270S",
        detail="1 connection(s) of MQCHIN are secured by rule TN3270S, not by MQCHIN",
        opened_at=now - timedelta(days=1),
        last_seen_at=now - timedelta(hours=20),
        resolved_at=now - timedelta(hours=20),
    )
    seen = now - timedelta(seconds=29)
    soon = Certificate.objects.create(
        stack=sysa,
        subject="CN=mqp1chin.sysa.bank.example",
        issuer="CN=Bank Issuing CA",
        serial="0A1B",
        not_after=now + timedelta(days=12),
        fingerprint="aa" * 32,
        rules=["MQCHIN"],
        ports=[1414],
        first_seen=seen,
        last_seen=seen,
    )
    expired = Certificate.objects.create(
        stack=sysa,
        subject="CN=ftpd.sysa.bank.example",
        issuer="CN=Bank Issuing CA",
        serial="0C1D",
        not_after=now - timedelta(days=1),
        fingerprint="bb" * 32,
        rules=["FTPSRV"],
        ports=[21],
        first_seen=seen,
        last_seen=seen,
    )
    Certificate.objects.create(
        stack=sysa,
        subject="CN=sysa.bank.example",
        issuer="CN=Bank Issuing CA",
        serial="0E1F",
        not_after=now + timedelta(days=300),
        fingerprint="cc" * 32,
        rules=["CICSWEB1", "CICSWEB2"],
        ports=[8443, 8444],
        first_seen=seen,
        last_seen=seen,
    )
    Incident.objects.create(
        stack=sysa,
        certificate=expired,
        kind="certificate-expired",
        summary=f"The certificate {expired.subject} used by FTPSRV on SYSA/TCPIP expired.",
        failing_handshakes=["EZD1286I TTLS Error GRPID: 00000002 ENVID: 00000003 RC:  401"],
        opened_at=now - timedelta(hours=23),
    )
    assert soon.pk
    return FleetEstate(
        design=design,
        people=who,
        sysa=sysa,
        sysb=sysb,
        v1=v1,
        v2=v2,
        deployed=deployed,
        pending=pending,
        run_after=run_after,
        run_before=run_before,
        connections=connections,
    )


def fleet_walk_kwargs(design: Estate, make_user: Any) -> dict[str, dict[str, Any]]:
    """For tests/portal/test_role_walk.py: the path kwargs of every fleet URL that has any.

    Makes one of each thing those URLs name on SYSA (a connection, a pending deployment of
    v1, a verification run with outputs, an open drift event, an incident).
    """
    operator = make_user("walk-operator", Role.OPERATOR)
    sysa = design.stacks["SYSA"]
    lpar_connection_save(
        actor=operator,
        lpar=sysa.lpar,
        fields={"host": "127.0.0.1", "username": "ATTLSADM", "ca_bundle": CA_PEM},
        password=SECRET_PASSWORD,
    )
    deployment = deployment_request(
        actor=operator, targets=[(sysa, PolicyVersion.objects.get(stack=sysa, number=1))]
    )
    now = timezone.now()
    run = VerificationRun.objects.create(
        stack=sysa,
        status=RunStatus.SUCCEEDED,
        outputs=_outputs(parsed_allconn=True),
        results=_results({}),
    )
    event = DriftEvent.objects.create(
        stack=sysa, kind="policy", key="policy", detail="d", opened_at=now, last_seen_at=now
    )
    incident = Incident.objects.create(
        stack=sysa, kind="certificate-expired", summary="s", opened_at=now
    )
    StackBaseline.objects.create(
        stack=sysa,
        path=sysa.policy_file,
        text="",
        sha256=sha(""),
        captured_at=now,
        captured_by="walk",
    )
    page_stack = {"lpar": "SYSA", "stack": "TCPIP"}
    api_stack = {"stack": "SYSA/TCPIP"}
    prediction = {"prediction": ImpactPrediction.objects.get(target__deployment=deployment).uuid}
    return {
        "fleet:deployment-exclude-breaking": {"deployment": deployment.uuid},
        "fleet:impact-draft": page_stack,
        "fleet:impact-version": {**page_stack, "number": 1},
        "fleet:stack-peers": page_stack,
        "fleet-api:impact-prediction-detail": prediction,
        "fleet-api:impact-prediction-comparison": prediction,
        "fleet:deployment": {"deployment": deployment.uuid},
        "fleet:deployment-approve": {"deployment": deployment.uuid},
        "fleet:deployment-reject": {"deployment": deployment.uuid},
        "fleet:deployment-cancel": {"deployment": deployment.uuid},
        "fleet:deployment-acknowledge-overwrite": {"deployment": deployment.uuid},
        "fleet:stack": page_stack,
        "fleet:stack-baseline": page_stack,
        "fleet:drift-acknowledge": {"event": event.uuid},
        "fleet:stack-verify": page_stack,
        "fleet:stack-rollback": page_stack,
        "fleet:stack-remove-rule": page_stack,
        "fleet:incident": {"incident": incident.uuid},
        "fleet:incident-remove-rule": {"incident": incident.uuid},
        "fleet:verification": {"run": run.uuid},
        "fleet:verification-output": {"run": run.uuid, "output": "pasearch"},
        "fleet:connection-edit": {"lpar": "SYSA"},
        "fleet-api:stack-detail": api_stack,
        "fleet-api:stack-verify": api_stack,
        "fleet-api:stack-rollback": api_stack,
        "fleet-api:stack-remove-rule": api_stack,
        "fleet-api:deployment-detail": {"deployment": deployment.uuid},
        "fleet-api:deployment-approve": {"deployment": deployment.uuid},
        "fleet-api:deployment-reject": {"deployment": deployment.uuid},
        "fleet-api:deployment-cancel": {"deployment": deployment.uuid},
        "fleet-api:verification-detail": {"run": run.uuid},
        "fleet-api:drift-event-detail": {"event": event.uuid},
        "fleet-api:drift-event-acknowledge": {"event": event.uuid},
        "fleet-api:deployment-acknowledge-overwrite": {"deployment": deployment.uuid},
        "fleet-api:incident-detail": {"incident": incident.uuid},
        "fleet-api:connection-detail": {"lpar": "SYSA"},
    }


def withdraw_pending(fleet: FleetEstate) -> None:
    """Cancels the estate's pending request on SYSA: a stack takes one pending request at a
    time (fleet.services), and a test about another request needs the stack free."""
    Deployment.objects.filter(pk=fleet.pending.pk).update(status=RunStatus.CANCELLED)


def reinstate_pending(fleet: FleetEstate) -> None:
    """Undoes withdraw_pending, for a test of what a pending request sees change around it."""
    Deployment.objects.filter(pk=fleet.pending.pk).update(status=RunStatus.PENDING)
