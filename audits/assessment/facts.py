"""What the engine works on: the facts gathered for a period, findings and results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from attls.ciphers import Protocol
from attls.effective import EffectiveResolver, EffectiveSettings
from attls.policy import (
    Policy,
    TTLSRule,
)
from audits import period
from audits.assessment.defaults import KEYWORDS
from audits.catalog import Catalog
from audits.models import Outcome, RiskException
from fleet.models import (
    Certificate,
    Deployment,
    DeploymentTarget,
    DriftEvent,
    Incident,
    LparConnection,
)
from policies.models import Stack

PASS, WARN, FAIL = Outcome.PASS.value, Outcome.WARN.value, Outcome.FAIL.value
NA, UNKNOWN, EXCEPTION = (
    Outcome.NOT_APPLICABLE.value,
    Outcome.UNKNOWN.value,
    Outcome.EXCEPTION.value,
)
# Which outcome wins when findings are combined. An exception outranks UNKNOWN so that an
# accepted risk is never hidden, and nothing turns an exception into PASS.
RANK = {NA: 0, PASS: 1, UNKNOWN: 2, EXCEPTION: 3, WARN: 4, FAIL: 5}
LABEL = {NA: "NOT APPLICABLE", PASS: "PASS", UNKNOWN: "UNKNOWN", EXCEPTION: "EXCEPTION"}
LABEL |= {WARN: "WARN", FAIL: "FAIL"}
LISTED = 20  # findings per outcome written into a rationale
EVIDENCE_FINDINGS = 2000  # findings kept in a result's evidence (with the total)

LE12 = tuple(p for p in Protocol if p is not Protocol.TLSV1_3)  # oldest first
PROTOCOL_KEYS = period.PROTOCOL_KEYS
DEPRECATED = tuple(p.value for p in LE12 if p is not Protocol.TLSV1_2)
NIST_CURVES = frozenset({"0023", "0024", "0025"})
P256_P384 = frozenset({"0023", "0024"})
NON_FIPS_GROUPS = frozenset({"0029", "0030"})  # X25519, X448
APPROVED_TLS13 = frozenset({"1301", "1302", "1304", "1305"})


# --- AT-TLS parameters the effective settings do not carry ----------------------------------


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@dataclass(frozen=True)
class Advanced:
    """Values of one environment action (or the defaults), each with where it came from."""

    values: Mapping[str, Any]
    origin: Mapping[str, str]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def said(self, name: str) -> str:
        """`ServerScsv Off (z/OS default: no action sets it)`."""
        value = self.values[name]
        shown = {True: "On", False: "Off", None: "not set"}.get(value, value)
        return f"{KEYWORDS[name]} {shown} ({self.origin[name]})"


# --- what was gathered ----------------------------------------------------------------------


@dataclass
class Hours:
    """A service's hourly roll-ups over the period, summed."""

    rows: int = 0
    connections: int = 0
    secured: int = 0
    cleartext: int = 0
    protocols: dict[str, int] = field(default_factory=dict)
    last_hour: dict[str, dt.datetime] = field(default_factory=dict)  # deprecated protocols
    ciphers: dict[str, int] = field(default_factory=dict)  # only codes of interest
    cleartext_hours: list[tuple[dt.datetime, int]] = field(default_factory=list)


@dataclass
class ZertFacts:
    """A service's zERT daily roll-ups over the period, summed: every connection the stack
    recorded, whoever protected it. A connection whose protection changed counts under each
    protocol and suite it had (its Change records); `connections` counts it once."""

    records: int = 0
    connections: int = 0
    protections: dict[str, int] = field(default_factory=dict)  # ZertProtection values
    protocols: dict[str, int] = field(default_factory=dict)  # TLS versions; cleartext
    ciphers: dict[str, int] = field(default_factory=dict)  # 4-hex codes of TLS connections
    at_tls_protocols: dict[str, int] = field(default_factory=dict)  # what netstat -x sees
    at_tls_ciphers: dict[str, int] = field(default_factory=dict)
    by_protocol: dict[str, dict[str, int]] = field(default_factory=dict)  # protocol -> protection
    last_day: dict[str, dt.date] = field(default_factory=dict)  # per protocol


@dataclass
class StackFacts:
    id: int
    uuid: str
    label: str
    lpar: str
    lpar_id: int
    model: Stack
    target: DeploymentTarget | None = None
    policy: Policy | None = None
    parse_error: str = ""
    resolver: EffectiveResolver | None = None
    connection: LparConnection | None = None
    latest_run: dict[str, Any] | None = None
    runs: int = 0
    runs_failed: int = 0
    runs_parse_failed: int = 0
    run_hours: int = 0
    services: list[ServiceFacts] = field(default_factory=list)
    # zERT of the period: {"records", "first", "last"} (all the stack's records), or None
    zert: dict[str, Any] | None = None
    advanced_cache: dict[str | None, Advanced] = field(default_factory=dict)

    @property
    def version_label(self) -> str:
        return f"v{self.target.version.number}" if self.target is not None else "nothing"

    def version_evidence(self) -> dict[str, Any]:
        target = self.target
        return {
            "stack": self.label,
            "stack_uuid": self.uuid,
            "number": target.version.number if target else None,
            "version_uuid": str(target.version.uuid) if target else None,
            "sha256": target.sha256 if target else None,
            "version_sha256": target.version.sha256 if target else None,
            "removed_rule": (target.removed_rule or None) if target else None,
            "deployment": str(target.deployment.uuid) if target else None,
            "deployed_at": _iso(target.finished_at) if target else None,
            "parse_error": self.parse_error or None,
        }


@dataclass
class ServiceFacts:
    id: int
    uuid: str
    name: str
    stack: StackFacts
    direction: str
    jobname: str
    userid: str
    included: bool
    tier: str
    port: int
    owner_team: str = ""
    rule: TTLSRule | None = None
    eff: EffectiveSettings | None = None
    adv: Advanced | None = None
    in_scope_since: dt.datetime | None = None
    hours: Hours = field(default_factory=Hours)
    live: dict[str, Any] | None = None  # the latest run's figures of this service
    probe: dict[str, Any] | None = None  # the latest run's probe result of this port
    certificates: list[Certificate] = field(default_factory=list)
    # zERT's figures when the stack has zERT records in the period (then they decide), else None
    zert: ZertFacts | None = None

    @property
    def label(self) -> str:
        return f"rule {self.name} ({self.stack.label})"

    @property
    def secured(self) -> bool:
        return self.eff is not None and self.eff.ttls_enabled

    @property
    def role(self) -> str:
        """server or client: from the rule's HandshakeRole, else from the direction."""
        handshake = self.eff.handshake_role if self.eff is not None else None
        if handshake is None:
            outbound = (self.rule.direction if self.rule else self.direction) == "Outbound"
            return "client" if outbound else "server"
        return "client" if handshake == "Client" else "server"

    @property
    def client_auth(self) -> bool:
        return self.eff is not None and self.eff.handshake_role == "ServerWithClientAuth"

    @property
    def probed(self) -> bool:
        return self.live is not None and self.live.get("probe_tls") is not None

    @property
    def probe_protocols(self) -> list[str]:
        return list((self.live or {}).get("probe_protocols") or [])


@dataclass
class Context:
    catalog: Catalog
    params: dict[str, Any]
    eval_at: dt.datetime
    period_start: dt.datetime
    period_end: dt.datetime
    scope_kind: str
    scope: dict[str, Any]
    services: list[ServiceFacts]
    stacks: list[StackFacts]
    drift: list[DriftEvent]
    deployments: list[Deployment]
    certificates: list[Certificate]
    incidents: list[Incident]
    exceptions: list[RiskException]  # recorded by the evaluation instant, active or not
    runs_evidence: list[dict[str, Any]]
    # connections and encrypted connections per day of the period (the pack's trend chart)
    days: list[dict[str, Any]] = field(default_factory=list)
    queries: dict[str, float] = field(default_factory=dict)
    # the scope's zERT figures and the dumps behind them, JSON-ready (the summary's "zert")
    zert: dict[str, Any] = field(default_factory=dict)
    # rollout campaigns of the period about the scope, as the report stores them
    # (audits/campaigns.py)
    campaigns: list[dict[str, Any]] = field(default_factory=list)

    @property
    def government(self) -> bool:
        return bool(self.params["deployment_class"] == "government_only")

    @property
    def tls13_mandatory(self) -> bool:
        return bool(self.eval_at.date() >= self.params["tls13_mandatory_from"])

    @property
    def rsa_kt_disallowed(self) -> bool:
        return bool(self.eval_at.date() > self.params["rsa_key_transport_disallowed_after"])

    @property
    def observed_until(self) -> dt.datetime:
        return min(self.period_end, self.eval_at, timezone.now())

    def with_rules(self, role: str | None = None) -> list[ServiceFacts]:
        return [s for s in self.services if s.secured and (role is None or s.role == role)]

    @property
    def any_rule(self) -> bool:
        return any(s.secured for s in self.services)


# --- results --------------------------------------------------------------------------------


@dataclass
class Finding:
    outcome: str
    text: str
    service: ServiceFacts | None = None
    stack: StackFacts | None = None
    exception: RiskException | None = None
    original: str | None = None  # the outcome before an exception applied

    @property
    def subject(self) -> str:
        if self.service is not None:
            return f"{self.service.stack.label}/{self.service.name}"
        if self.stack is not None:
            return self.stack.label
        return "estate"


@dataclass
class Verdict:
    findings: list[Finding] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    empty: tuple[str, str] = (NA, "nothing in scope to judge")


@dataclass(frozen=True)
class ResultData:
    """One control's result, ready to be stored as a ControlResult."""

    control_id: str
    framework: str
    section: str
    title: str
    outcome: str
    rationale: str
    evidence: dict[str, Any]
    sp800_53: list[str]  # labels; the catalog maps each to its OSCAL id
    exception: RiskException | None
    # service uuid -> this control's outcome for it, where a finding named it (appendix)
    per_service: dict[str, str]


@dataclass
class Evaluation:
    results: list[ResultData]
    summary: dict[str, Any]
    parameters: dict[str, Any]  # as used, JSON-ready
    context: Context
