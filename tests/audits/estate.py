"""An assessed estate for the evidence-pack tests: the fleet's UI estate plus assessment rows.

The assessment engine (audits/assessment/) writes Assessment and ControlResult rows; these
tests build the same rows with the ORM, shaped as the engine stores them, so the pack can be
tested on its own: the PDF, the signature, the OSCAL file, the task and the pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from audits.models import Assessment, ControlResult, Outcome, RiskException, RunState, ScopeKind
from tests.fleet.ui_estate import FleetEstate, build_fleet

CATALOG_VERSION = "0.1.0"
CATALOG_SHA256 = "5e1f0c2a9d3b4e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"


@dataclass
class Assessed:
    fleet: FleetEstate
    assessment: Assessment
    exception: RiskException

    @property
    def people(self) -> dict[str, User]:
        return self.fleet.people


def _runs(fleet: FleetEstate) -> list[str]:
    return [str(fleet.run_after.uuid), str(fleet.run_before.uuid)]


def control_rows(fleet: FleetEstate, exception: RiskException) -> list[dict[str, Any]]:
    """A dozen controls, each outcome at least once, with evidence the engine would record."""
    services = fleet.design.services
    v2 = {"stack": "SYSA/TCPIP", "number": 2, "sha256": fleet.v2.sha256}
    runs = _runs(fleet)
    sysa = [s.name for s in services.values() if s.stack_id == fleet.sysa.pk]
    return [
        {
            "control_id": "NIST-800-52r2-3.1-tls12-support",
            "framework": "SP800-52r2",
            "title": "Server supports TLS 1.2",
            "outcome": Outcome.PASS,
            "rationale": "Every in-scope rule enables TLSv1.2 (environment envTls12_13); the probe"
            " saw TLS 1.2 accepted on every inbound port of SYSA/TCPIP.",
            "evidence": {"rules": sysa, "versions": [v2], "verification_runs": runs},
            "sp800_53": ["SC-8", "SC-8(1)", "SC-13", "CM-6"],
        },
        {
            "control_id": "NIST-800-52r2-3.1-tls13-support",
            "framework": "SP800-52r2",
            "title": "Server supports TLS 1.3",
            "outcome": Outcome.PASS,
            "rationale": "TLSv1.3 is On for every in-scope rule and its cipher set lists 1301"
            " and 1302; 78.6 % of encrypted connections negotiated TLS 1.3.",
            "evidence": {"rules": sysa, "versions": [v2], "verification_runs": runs[:1]},
            "sp800_53": ["SC-8(1)", "SC-13", "CM-6"],
        },
        {
            "control_id": "NIST-800-52r2-3.1-no-ssl",
            "framework": "SP800-52r2",
            "title": "SSL 2.0 and SSL 3.0 disabled",
            "outcome": Outcome.PASS,
            "rationale": "SSLv3 is Off in every environment action; no probe accepted SSL.",
            "evidence": {"versions": [v2], "verification_runs": runs},
            "sp800_53": ["SC-8(1)", "SC-13", "CM-6", "CM-7"],
        },
        {
            "control_id": "NIST-800-52r2-3.1-tls10",
            "framework": "SP800-52r2",
            "title": "TLS 1.0 disabled (or justified for public-facing services)",
            "outcome": Outcome.FAIL,
            "rationale": "The probe of MQCHIN (SYSA/TCPIP port 1414) completed a TLS 1.0"
            " handshake: the port accepts TLSv1, which a government-only server shall not.",
            "evidence": {
                "services": [str(services["MQCHIN"].uuid)],
                "rules": ["MQCHIN"],
                "verification_runs": runs[:1],
            },
            "sp800_53": ["SC-8(1)", "SC-13", "CM-6", "CM-7"],
        },
        {
            "control_id": "NIST-800-52r2-3.2.1-validity",
            "framework": "SP800-52r2",
            "title": "Server certificate validity of 3 years or less, and not expired",
            "outcome": Outcome.FAIL,
            "rationale": "CN=ftpd.sysa.bank.example (used by FTPSRV) expired; failing handshakes"
            " were logged for its rule.",
            "evidence": {
                "certificates": [{"subject": "CN=ftpd.sysa.bank.example", "serial": "0C1D"}],
                "services": [str(services["FTPSRV"].uuid)],
            },
            "sp800_53": ["SC-17", "IA-5(2)"],
        },
        {
            "control_id": "NIST-800-52r2-3.3.1-approved-suites",
            "framework": "SP800-52r2",
            "title": "Only approved cipher suites",
            "outcome": Outcome.EXCEPTION,
            "rationale": "BATCHXFR's override cipher set lists 009C (TLS_RSA_WITH_AES_128_GCM"
            "_SHA256, static RSA key transport), for a partner that cannot do TLS 1.3.",
            "evidence": {"rules": ["BATCHXFR"], "services": [str(services["BATCHXFR"].uuid)]},
            "sp800_53": ["SC-13", "SC-8(1)"],
            "exception": exception,
        },
        {
            "control_id": "NIST-800-52r2-3.5-client-auth-enforced",
            "framework": "SP800-52r2",
            "title": "Client authentication enforced where required",
            "outcome": Outcome.WARN,
            "rationale": "ClientAuthType is Full, not Required: a client without a certificate"
            " is still served on CICSWEB1 and CICSWEB2.",
            "evidence": {
                "services": [str(services["CICSWEB1"].uuid), str(services["CICSWEB2"].uuid)]
            },
            "sp800_53": ["IA-2", "IA-3", "SC-8"],
        },
        {
            "control_id": "NIST-800-52r2-3.4.1-extended-master-secret",
            "framework": "SP800-52r2",
            "title": "Extended master secret supported",
            "outcome": Outcome.UNKNOWN,
            "rationale": "Neither pasearch nor the probe reports the extension; no evidence.",
            "evidence": {},
            "sp800_53": ["SC-8(1)"],
        },
        {
            "control_id": "NIST-800-52r2-4.1-client-versions",
            "framework": "SP800-52r2",
            "title": "Client role: TLS versions",
            "outcome": Outcome.NOT_APPLICABLE,
            "rationale": "Checked for the outbound services only; MQPARTNER negotiates TLS 1.2.",
            "evidence": {"services": [str(services["MQPARTNER"].uuid)]},
            "sp800_53": ["SC-8(1)"],
        },
        {
            "control_id": "NIST-800-207-2.1-T2-secure-all-communication",
            "framework": "SP800-207",
            "title": "All service-to-service traffic encrypted and source-authenticated",
            "outcome": Outcome.FAIL,
            "rationale": "1 of 30 connections on SYSA/TCPIP was cleartext (CICSWEB1), and all"
            " 20 connections on SYSB/TCPIP: coverage 96.7 % and 0 %.",
            "evidence": {
                "services": [str(services["CICSWEB1"].uuid)],
                "verification_runs": runs,
                "connections": {"SYSA/TCPIP": {"total": 30, "secured": 29}},
            },
            "sp800_53": ["SC-8", "SC-8(1)", "AC-17(2)", "IA-9", "SC-7"],
        },
        {
            "control_id": "NIST-800-207-2.1-T7-collect-improve",
            "framework": "SP800-207",
            "title": "Collect information and improve security posture",
            "outcome": Outcome.WARN,
            "rationale": "Drift was found and resolved: the policy loaded on SYSA/TCPIP differs"
            " from v2 (open for 10 minutes at the end of the period).",
            "evidence": {
                "drift": [{"stack": "SYSA/TCPIP", "kind": "policy", "status": "open"}],
                "deployments": [str(fleet.deployed.uuid)],
            },
            "sp800_53": ["CA-7", "SI-4"],
        },
    ]


def assess(
    fleet: FleetEstate,
    *,
    scope_kind: str = ScopeKind.ESTATE,
    scope: dict[str, Any] | None = None,
    actor: User | None = None,
    days: int = 3,
) -> Assessment:
    now = timezone.now()
    architect = fleet.people["architect"]
    exception = RiskException.objects.filter(
        control_id="NIST-800-52r2-3.3.1-approved-suites"
    ).first()
    if exception is None:
        exception = RiskException.objects.create(
            control_id="NIST-800-52r2-3.3.1-approved-suites",
            service=fleet.design.services["BATCHXFR"],
            justification="The partner's gateway offers only TLS_RSA_WITH_AES_128_GCM_SHA256"
            " until its upgrade in Q3; traffic stays on the private link.",
            owner=architect,
            created_by=architect,
            expires_at=now + timedelta(days=60),
        )
    assessment = Assessment.objects.create(
        scope_kind=scope_kind,
        scope=scope or {},
        period_start=now - timedelta(days=days),
        period_end=now,
        catalog_version=CATALOG_VERSION,
        catalog_sha256=CATALOG_SHA256,
        parameters={"deployment_class": "government_only", "evaluation_date": f"{now:%Y-%m-%d}"},
        created_by=actor or fleet.people["auditor"],
        status=RunState.SUCCEEDED,
        summary={},
    )
    ControlResult.objects.bulk_create(
        ControlResult(assessment=assessment, **row) for row in control_rows(fleet, exception)
    )
    return assessment


def build_assessed(make_user: Any, **kwargs: Any) -> Assessed:
    fleet = build_fleet(make_user)
    assessment = assess(fleet, **kwargs)
    exception = RiskException.objects.get(control_id="NIST-800-52r2-3.3.1-approved-suites")
    return Assessed(fleet=fleet, assessment=assessment, exception=exception)


def audits_walk_kwargs(design: Any, make_user: Any, directory: Any) -> dict[str, dict[str, Any]]:
    """For tests/portal/test_role_walk.py: the path kwargs of every audits URL that has any.

    One assessment of the service owen owns (CICSWEB1), and one finished pack of it whose
    files are in `directory` (EVIDENCE_DIR), so its owner, auditors and architects may open
    and download it, and others are refused.
    """
    import hashlib
    from pathlib import Path

    from accounts.roles import Role
    from audits.models import EvidencePack

    auditor = make_user("walk-auditor", Role.AUDITOR)
    now = timezone.now()
    assessment = Assessment.objects.create(
        scope_kind=ScopeKind.SERVICE,
        scope={"services": [str(design.services["CICSWEB1"].uuid)]},
        period_start=now - timedelta(days=1),
        period_end=now,
        catalog_version=CATALOG_VERSION,
        catalog_sha256=CATALOG_SHA256,
        created_by=auditor,
        status=RunState.SUCCEEDED,
    )
    pdf, oscal = b"%PDF-1.7 walk\n", b'{"assessment-results": {}}\n'
    pack = EvidencePack.objects.create(assessment=assessment, created_by=auditor)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{pack.uuid}.pdf").write_bytes(pdf)
    (folder / f"{pack.uuid}.oscal.json").write_bytes(oscal)
    EvidencePack.objects.filter(pk=pack.pk).update(
        status=RunState.SUCCEEDED,
        pdf_path=f"{pack.uuid}.pdf",
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
        oscal_path=f"{pack.uuid}.oscal.json",
        oscal_sha256=hashlib.sha256(oscal).hexdigest(),
    )
    return {
        "audits:assessment-pack": {"assessment": assessment.uuid},
        "audits:pack": {"pack": pack.uuid},
        "audits:pack-download": {"pack": pack.uuid, "kind": "pdf"},
        "audits:api-pack-detail": {"uuid": pack.uuid},
        "audits:api-pack-pdf": {"uuid": pack.uuid},
        "audits:api-pack-oscal": {"uuid": pack.uuid},
    }
