"""The assessment engine: the control catalog judged against design, observations and history.

    results = evaluate(scope_kind="estate", scope={}, period_start=..., period_end=...,
                       parameters={}, catalog=load_catalog())

Everything is read once, in a fixed number of queries whatever the number of services:

- design: the policy version deployed to each stack at the evaluation instant (the last
  successful deployment target, as `fleet.verify.deployed_target` picks it), parsed, and the
  effective settings of every rule (`attls.effective`), plus the few AT-TLS parameters the
  effective settings do not carry (EMS, SCSV, OCSP stapling, PeerMin*, session lifetimes),
  resolved here with their observed z/OS defaults;
- observations: the hourly roll-ups of the period (`ServiceHour`, summed in the database),
  the latest successful verification run of each stack in the period, and run counts;
- history: deployments with their approvers, drift events, certificates and incidents of the
  period, and risk exceptions.

Each control names a check function (registered in CHECKS). A check returns findings, one
per subject (a service, a stack, or the estate), each with an outcome and a sentence that
names the rule or service and where the offending value comes from. The engine applies
active exceptions (a FAIL or WARN becomes EXCEPTION, never PASS), takes the worst outcome,
writes the rationale and attaches the evidence: policy versions with SHA-256, verification
runs with their output hashes, drift event keys, deployments with approvers, certificates.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from django.db.models import Count, IntegerField, Max, Q, QuerySet, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, TruncHour
from django.utils import timezone

from attls import ciphers, tlsgroups
from attls.ciphers import CipherSuite, NistStatus, Protocol
from attls.effective import EffectiveResolver, EffectiveSettings
from attls.errors import AttlsError
from attls.policy import (
    Policy,
    TTLSEnvironmentAdvancedParms,
    TTLSGskAdvancedParms,
    TTLSGskHttpCdpParms,
    TTLSGskLdapParms,
    TTLSGskOcspParms,
    TTLSRule,
    parse_policy,
)
from audits.catalog import Catalog, Control
from audits.models import Outcome, RiskException
from audits.scope import Scope, ScopeError, scope_services, scoped_targets
from audits.scope import resolve as resolve_scope
from fleet.models import (
    Certificate,
    Deployment,
    DeploymentKind,
    DeploymentTarget,
    DriftEvent,
    DriftKind,
    Incident,
    LparConnection,
    RunStatus,
    ServiceHour,
    TargetStatus,
    VerificationRun,
)
from policies.models import Service

__all__ = [
    "CHECKS",
    "Evaluation",
    "ResultData",
    "ScopeError",
    "assess",
    "evaluate",
    "scope_services",
]

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

LE12 = (Protocol.SSLV2, Protocol.SSLV3, Protocol.TLSV1, Protocol.TLSV1_1, Protocol.TLSV1_2)
PROTOCOL_KEYS = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", "cleartext")
DEPRECATED = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1")
NIST_CURVES = frozenset({"0023", "0024", "0025"})
P256_P384 = frozenset({"0023", "0024"})
NON_FIPS_GROUPS = frozenset({"0029", "0030"})  # X25519, X448
APPROVED_TLS13 = frozenset({"1301", "1302", "1304", "1305"})


# --- AT-TLS parameters the effective settings do not carry ----------------------------------

# Observed z/OS 3.1 defaults for an environment that sets none of these (shared reference
# attls.md §1.7 and §1.12: pasearch -t output of an environment with no advanced parameters).
ADVANCED_DEFAULTS: Mapping[str, Any] = {
    "server_extended_master_secret": "On",
    "client_extended_master_secret": "On",
    "server_scsv": False,
    "truncated_hmac": False,
    "server_handshake_sni": "Off",
    "client_handshake_sni": "Off",
    "renegotiation_indicator": "Optional",
    "server_max_ssl_fragment": None,
    "client_max_ssl_fragment": None,
    "server_edh_group_size": "Legacy",
    "peer_min_cert_version": "Any",
    "peer_min_rsa_key_size": 1024,
    "peer_min_dh_key_size": 1024,
    "peer_min_dsa_key_size": 1024,
    "peer_min_ecc_key_size": 192,
}
GSK_DEFAULTS: Mapping[str, Any] = {
    "gsk_v3_session_timeout": 86400,
    "gsk_session_ticket_server_enable": True,
    "gsk_session_ticket_server_timeout": 300,
    "revocation_security_level": None,
}
OCSP_DEFAULTS: Mapping[str, Any] = {
    "ocsp_aia_enable": False,
    "ocsp_url": None,
    "ocsp_server_stapling": False,
}
KEYWORDS = {
    "server_extended_master_secret": "ServerExtendedMasterSecret",
    "client_extended_master_secret": "ClientExtendedMasterSecret",
    "server_scsv": "ServerScsv",
    "truncated_hmac": "TruncatedHMAC",
    "server_handshake_sni": "ServerHandshakeSNI",
    "client_handshake_sni": "ClientHandshakeSNI",
    "renegotiation_indicator": "RenegotiationIndicator",
    "server_max_ssl_fragment": "ServerMaxSSLFragment",
    "client_max_ssl_fragment": "ClientMaxSSLFragment",
    "server_edh_group_size": "ServerEDHGroupSize",
    "peer_min_cert_version": "PeerMinCertVersion",
    "peer_min_rsa_key_size": "PeerMinRsaKeySize",
    "peer_min_dh_key_size": "PeerMinDHKeySize",
    "peer_min_dsa_key_size": "PeerMinDsaKeySize",
    "peer_min_ecc_key_size": "PeerMinECCKeySize",
    "gsk_v3_session_timeout": "GSK_V3_SESSION_TIMEOUT",
    "gsk_session_ticket_server_enable": "GSK_SESSION_TICKET_SERVER_ENABLE",
    "gsk_session_ticket_server_timeout": "GSK_SESSION_TICKET_SERVER_TIMEOUT",
    "revocation_security_level": "RevocationSecurityLevel",
    "ocsp_aia_enable": "OcspAiaEnable",
    "ocsp_url": "OcspUrl",
    "ocsp_server_stapling": "OcspServerStapling",
    "http_cdp_enable": "HttpCdpEnable",
    "gsk_ldap_server": "GSK_LDAP_SERVER",
}


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


def _resolve(inline: Any, ref: str | None, collection: Mapping[str, Any]) -> Any:
    if inline is not None:
        return inline
    return collection.get(ref) if ref is not None else None


def _advanced(policy: Policy, environment_name: str | None) -> Advanced:
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    env = policy.environment_actions.get(environment_name) if environment_name else None
    adv: TTLSEnvironmentAdvancedParms | None = None
    gsk: TTLSGskAdvancedParms | None = None
    ocsp: TTLSGskOcspParms | None = None
    cdp: TTLSGskHttpCdpParms | None = None
    ldap: TTLSGskLdapParms | None = None
    if env is not None:
        adv = _resolve(env.advanced, env.advanced_ref, policy.environment_advanced_parms)
        gsk = _resolve(env.gsk_advanced, env.gsk_advanced_ref, policy.gsk_advanced_parms)
    if gsk is not None:
        ocsp = _resolve(gsk.gsk_ocsp, gsk.gsk_ocsp_ref, policy.gsk_ocsp_parms)
        cdp = _resolve(gsk.gsk_http_cdp, gsk.gsk_http_cdp_ref, policy.gsk_http_cdp_parms)
        ldap = _resolve(gsk.gsk_ldap, gsk.gsk_ldap_ref, policy.gsk_ldap_parms)
    here = f"environment {environment_name}"
    for statement, defaults in (
        (adv, ADVANCED_DEFAULTS),
        (gsk, GSK_DEFAULTS),
        (ocsp, OCSP_DEFAULTS),
        (cdp, {"http_cdp_enable": False}),
        (ldap, {"gsk_ldap_server": None}),
    ):
        for name, default in defaults.items():
            value = getattr(statement, name) if statement is not None else None
            if value is None:
                values[name], origin[name] = default, "z/OS default: no action sets it"
            else:
                values[name], origin[name] = value, here
    return Advanced(values, origin)


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
class StackFacts:
    id: int
    uuid: str
    label: str
    lpar: str
    lpar_id: int
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
    queries: dict[str, float] = field(default_factory=dict)

    @property
    def government(self) -> bool:
        return self.params["deployment_class"] == "government_only"

    @property
    def tls13_mandatory(self) -> bool:
        return self.eval_at.date() >= self.params["tls13_mandatory_from"]

    @property
    def rsa_kt_disallowed(self) -> bool:
        return self.eval_at.date() > self.params["rsa_key_transport_disallowed_after"]

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


# --- scope ----------------------------------------------------------------------------------


# --- gathering ------------------------------------------------------------------------------


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _gather(
    *,
    catalog: Catalog,
    params: dict[str, Any],
    eval_at: dt.datetime,
    scope_kind: str,
    scope: dict[str, Any],
    period_start: dt.datetime,
    period_end: dt.datetime,
) -> Context:
    clock: dict[str, float] = {}
    started = time.perf_counter()
    # Every fact below is read through the scope, which cuts it to the scope's services.
    in_scope = resolve_scope(scope_kind, scope)
    stacks: dict[int, StackFacts] = {}
    services: list[ServiceFacts] = []
    for service in in_scope.services:
        stack = stacks.get(service.stack_id)
        if stack is None:
            stack = stacks[service.stack_id] = StackFacts(
                id=service.stack_id,
                uuid=str(service.stack.uuid),
                label=service.stack.label,
                lpar=service.stack.lpar.name,
                lpar_id=service.stack.lpar_id,
            )
        facts = ServiceFacts(
            id=service.pk,
            uuid=str(service.uuid),
            name=service.name,
            stack=stack,
            direction=service.direction,
            jobname=service.jobname,
            userid=service.userid,
            included=service.included,
            tier=service.tier,
            port=service.local_port_low,
            owner_team=service.owner_team,
        )
        stack.services.append(facts)
        services.append(facts)
    clock["scope"] = time.perf_counter() - started

    started = time.perf_counter()
    _design(stacks, eval_at, period_start, in_scope)
    clock["design"] = time.perf_counter() - started

    started = time.perf_counter()
    runs_evidence = _runs(stacks, period_start, period_end, in_scope)
    for connection in LparConnection.objects.filter(
        lpar_id__in={s.lpar_id for s in stacks.values()}
    ):
        for stack in stacks.values():
            if stack.lpar_id == connection.lpar_id:
                stack.connection = connection
    clock["runs"] = time.perf_counter() - started

    started = time.perf_counter()
    assert in_scope.query is not None
    _hours(services, in_scope.query, period_start, period_end)
    clock["hours"] = time.perf_counter() - started

    started = time.perf_counter()
    in_scope_ids = {s.id for s in services}
    drift = in_scope.drift(period_start, period_end)
    deployments = in_scope.deployments(
        Q(approved_at__range=(period_start, period_end))
        | Q(started_at__range=(period_start, period_end))
        | Q(finished_at__range=(period_start, period_end))
    )
    certificates = in_scope.certificates(start=period_start, end=period_end)
    by_rule: dict[tuple[int, str], list[Certificate]] = defaultdict(list)
    for certificate in certificates:
        for rule in certificate.rules:
            by_rule[(certificate.stack_id, rule)].append(certificate)
    for service_facts in services:
        service_facts.certificates = by_rule.get((service_facts.stack.id, service_facts.name), [])
    incidents = in_scope.incidents(period_start, period_end)
    stack_set = set(stacks)
    exceptions = [
        exception
        for exception in RiskException.objects.filter(created_at__lte=eval_at)
        .select_related("owner", "service__stack__lpar", "stack__lpar")
        .order_by("created_at", "id")
        if (exception.service_id is None or exception.service_id in in_scope_ids)
        and (exception.stack_id is None or exception.stack_id in stack_set)
    ]
    clock["history"] = time.perf_counter() - started
    return Context(
        catalog=catalog,
        params=params,
        eval_at=eval_at,
        period_start=period_start,
        period_end=period_end,
        scope_kind=scope_kind,
        scope=scope,
        services=services,
        stacks=list(stacks.values()),
        drift=drift,
        deployments=deployments,
        certificates=certificates,
        incidents=incidents,
        exceptions=exceptions,
        runs_evidence=runs_evidence,
        queries=clock,
    )


def _design(
    stacks: dict[int, StackFacts], eval_at: dt.datetime, period_start: dt.datetime, scope: Scope
) -> None:
    """The version deployed to each stack at `eval_at`, parsed, and when each rule came in.

    The last successful target by finish time is what `fleet.verify.deployed_target` returns
    for "now"; bounding it by the evaluation instant keeps a past period's design honest.
    """
    history: dict[int, list[DeploymentTarget]] = defaultdict(list)
    for target in (
        DeploymentTarget.objects.filter(
            stack_id__in=list(stacks), status=TargetStatus.SUCCEEDED, finished_at__lte=eval_at
        )
        .select_related("version", "deployment")
        .defer("text", "last_known_good", "version__text", "version__model", "version__lint")
        .order_by("stack_id", "finished_at", "id")
    ):
        history[target.stack_id].append(target)
    # Only the last target before the period and those inside it decide since when a rule
    # has been in force; their texts are the only ones read and parsed (once per hash).
    relevant: dict[int, list[DeploymentTarget]] = {}
    for stack_id, targets in history.items():
        before = [t for t in targets if t.finished_at < period_start]
        start = len(before) - 1 if before else 0
        relevant[stack_id] = targets[start:]
    ids = [t.pk for targets in relevant.values() for t in targets]
    texts = dict(DeploymentTarget.objects.filter(pk__in=ids).values_list("pk", "text"))
    parsed: dict[str, Policy | str] = {}
    for targets in relevant.values():
        for target in targets:
            if target.sha256 not in parsed:
                try:
                    parsed[target.sha256] = parse_policy(texts[target.pk])
                except AttlsError as error:
                    parsed[target.sha256] = f"the deployed text does not parse: {error}"
    for stack_id, stack in stacks.items():
        targets = relevant.get(stack_id, [])
        if not targets:
            continue
        stack.target = targets[-1]
        # A removed rule of a service outside the scope is not named.
        stack.target.removed_rule = scope.rule_name(stack_id, stack.target.removed_rule)
        current = parsed[stack.target.sha256]
        if isinstance(current, str):
            stack.parse_error = current
            continue
        stack.policy = current
        stack.resolver = EffectiveResolver(current)
        for service in stack.services:
            rule = current.rules.get(service.name)
            if rule is None:
                continue
            service.rule = rule
            service.eff = stack.resolver.for_rule(rule)
            environment = service.eff.environment_action
            if environment not in stack.advanced_cache:
                stack.advanced_cache[environment] = _advanced(current, environment)
            service.adv = stack.advanced_cache[environment]
            since: dt.datetime | None = None
            for target in targets:
                policy = parsed[target.sha256]
                present = not isinstance(policy, str) and service.name in policy.rules
                if present and since is None:
                    since = target.finished_at
                elif not present:
                    since = None
            service.in_scope_since = since


OUTPUT_NAMES = ("pasearch", "netstat_conn", "netstat_allconn", "probe", "syslog")


def _runs(
    stacks: dict[int, StackFacts],
    period_start: dt.datetime,
    period_end: dt.datetime,
    scope: Scope,
) -> list[dict[str, Any]]:
    """Run counts per stack in the period and the latest successful run's figures, cut to
    the scope's services."""
    window = VerificationRun.objects.filter(
        stack_id__in=list(stacks), created_at__gte=period_start, created_at__lte=period_end
    )
    succeeded = Q(status=RunStatus.SUCCEEDED)
    latest: dict[int, dt.datetime] = {}
    for row in window.values("stack_id").annotate(
        runs=Count("id", filter=succeeded),
        failed=Count("id", filter=Q(status=RunStatus.FAILED)),
        parse_failed=Count("id", filter=succeeded & Q(parse_failed=True)),
        hours=Count(TruncHour("created_at"), filter=succeeded, distinct=True),
        last=Max("created_at", filter=succeeded),
    ):
        stack = stacks[row["stack_id"]]
        stack.runs, stack.runs_failed = row["runs"], row["failed"]
        stack.runs_parse_failed, stack.run_hours = row["parse_failed"], row["hours"]
        if row["last"] is not None:
            latest[row["stack_id"]] = row["last"]
    if latest:
        # Only the figures, the probe's JSON and the outputs' hashes: not the raw texts.
        rows = window.filter(
            status=RunStatus.SUCCEEDED,
            stack_id__in=list(latest),
            created_at__in=list(set(latest.values())),
        ).values(
            "uuid",
            "stack_id",
            "created_at",
            "results",
            "expected_version__number",
            "outputs__probe__json",
            *(f"outputs__{name}__sha256" for name in OUTPUT_NAMES),
        )
        for row in sorted(rows, key=lambda r: (r["stack_id"], r["created_at"])):
            if latest.get(row["stack_id"]) != row["created_at"]:
                continue
            stack = stacks[row["stack_id"]]
            stack.latest_run = {
                "uuid": str(row["uuid"]),
                "at": row["created_at"],
                "results": scope.run_results(row["stack_id"], row["results"] or {}),
                "expected_version": row["expected_version__number"],
                "probe": scope.probe_results(row["stack_id"], row["outputs__probe__json"] or {}),
                "output_sha256": {
                    name: row[f"outputs__{name}__sha256"]
                    for name in OUTPUT_NAMES
                    if row[f"outputs__{name}__sha256"]
                },
            }
            figures = stack.latest_run["results"].get("services") or {}
            for service in stack.services:
                service.live = figures.get(service.name)
                service.probe = stack.latest_run["probe"].get(service.name)
    evidence = []
    for stack in stacks.values():
        run = stack.latest_run
        results = run["results"] if run is not None else {}
        evidence.append(
            {
                "uuid": run["uuid"] if run is not None else None,
                "stack": stack.label,
                "at": _iso(run["at"]) if run is not None else None,
                "expected_version": run["expected_version"] if run is not None else None,
                "connections": results.get("connections"),
                "secured": results.get("secured"),
                "coverage": results.get("coverage"),
                "protocols": results.get("protocols"),
                "output_sha256": run["output_sha256"] if run is not None else {},
                "runs_in_period": stack.runs,
                "failed_runs": stack.runs_failed,
                "runs_with_unparsed_output": stack.runs_parse_failed,
                "hours_with_a_run": stack.run_hours,
            }
        )
    return evidence


def _int_sum(expression: Any, **extra: Any) -> Coalesce:
    return Coalesce(Sum(Cast(expression, IntegerField()), **extra), 0)


def _hours(
    services: list[ServiceFacts],
    scoped: QuerySet[Service],
    period_start: dt.datetime,
    period_end: dt.datetime,
) -> None:
    """Sums of the period's hourly roll-ups per service, computed by the database.

    The protocol keys are a fixed set; cipher keys are not, so only the codes that matter to
    a control (those not approved by SP 800-52r2, from the designs and the latest runs) are
    summed: AT-TLS can only negotiate what a loaded policy lists.
    """
    by_id = {s.id: s for s in services}
    window = ServiceHour.objects.filter(
        service__in=scoped.values("id"), hour__gte=_floor_hour(period_start), hour__lt=period_end
    )
    protocol_sums = {f"p{i}": _int_sum(KT(f"protocols__{k}")) for i, k in enumerate(PROTOCOL_KEYS)}
    last_hours = {
        f"l{i}": Max("hour", filter=Q(**{"protocols__has_key": k}))
        for i, k in enumerate(DEPRECATED)
    }
    for row in window.values("service_id").annotate(
        rows=Count("id"),
        connections=Coalesce(Sum("connections"), 0),
        secured=Coalesce(Sum("secured"), 0),
        cleartext=Coalesce(Sum("cleartext"), 0),
        **protocol_sums,
        **last_hours,
    ):
        hours = by_id[row["service_id"]].hours
        hours.rows = row["rows"]
        hours.connections, hours.secured = row["connections"], row["secured"]
        hours.cleartext = row["cleartext"]
        hours.protocols = {
            k: row[f"p{i}"] for i, k in enumerate(PROTOCOL_KEYS) if row[f"p{i}"] is not None
        }
        hours.protocols = {k: v for k, v in hours.protocols.items() if v}
        hours.last_hour = {
            k: row[f"l{i}"] for i, k in enumerate(DEPRECATED) if row[f"l{i}"] is not None
        }
    for service_id, hour, cleartext in window.filter(cleartext__gt=0).values_list(
        "service_id", "hour", "cleartext"
    ):
        by_id[service_id].hours.cleartext_hours.append((hour, cleartext))
    interesting: set[str] = set()
    for service in services:
        if service.eff is not None:
            interesting.update(service.eff.v3_cipher_suites)
        if service.stack.policy is not None:
            for parms in service.stack.policy.cipher_parms.values():
                interesting.update(parms.v3_cipher_suites)
        interesting.update((service.live or {}).get("ciphers") or {})
    interesting = {
        code
        for code in interesting
        if (suite := ciphers.get(code)) is None or suite.nist_800_52r2 is not NistStatus.APPROVED
    }
    if not interesting:
        return
    codes = sorted(interesting)[:200]
    cipher_sums = {f"c{i}": _int_sum(KT(f"ciphers__{code}")) for i, code in enumerate(codes)}
    for row in window.values("service_id").annotate(**cipher_sums):
        found = {code: row[f"c{i}"] for i, code in enumerate(codes) if row[f"c{i}"]}
        by_id[row["service_id"]].hours.ciphers = found


# --- small helpers for the checks -----------------------------------------------------------


def _protocol_where(eff: EffectiveSettings, protocol: Protocol) -> str:
    source = eff.protocol_sources[protocol]
    if source == "environment":
        return f"environment {eff.environment_action}"
    if source == "connection":
        return f"connection action {eff.connection_action}"
    return "AT-TLS default: no action sets it"


def _said(eff: EffectiveSettings, protocol: Protocol) -> str:
    state = "On" if eff.protocols[protocol] else "Off"
    return f"{protocol.value} {state} ({_protocol_where(eff, protocol)})"


def _ciphers_where(eff: EffectiveSettings) -> str:
    if eff.ciphers_from == "connection":
        return f"cipher list of connection action {eff.connection_action}"
    if eff.ciphers_from == "environment":
        return f"cipher list of environment {eff.environment_action}"
    return "System SSL default list: the policy sets no V3CipherSuites"


def _signature_where(eff: EffectiveSettings, name: str) -> str:
    source = eff.sources.get(name, "default")
    if source == "environment":
        return f"environment {eff.environment_action}"
    if source == "connection":
        return f"connection action {eff.connection_action}"
    return "z/OS default: the policy sets no TTLSSignatureParms for it"


def _le12(eff: EffectiveSettings) -> frozenset[Protocol]:
    return frozenset(p for p in LE12 if eff.protocols[p])


def _negotiable(eff: EffectiveSettings) -> list[tuple[str, CipherSuite | None]]:
    """Suites of the list that an enabled version below TLS 1.3 can negotiate (or unknown)."""
    enabled = _le12(eff)
    found = []
    for code in eff.v3_cipher_suites:
        suite = ciphers.get(code)
        if suite is None:
            found.append((code, None))
        elif not suite.tls13_only and suite.protocols & enabled:
            found.append((code, suite))
    return found


def _tls13_codes(eff: EffectiveSettings) -> list[str]:
    return [c for c in eff.v3_cipher_suites if (s := ciphers.get(c)) is not None and s.tls13_only]


def _named(codes: Iterable[str]) -> str:
    parts = []
    for code in codes:
        suite = ciphers.get(code)
        parts.append(f"{code} {suite.iana_name}" if suite is not None else f"{code} (unknown)")
    return ", ".join(parts)


def _groups(codes: Iterable[str]) -> str:
    return ", ".join(f"{c} {tlsgroups.group_name(c)}" for c in codes)


def _day(moment: dt.datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "?"


def _merge(service: ServiceFacts, items: list[tuple[str, str]]) -> Finding | None:
    """One finding per service: the worst outcome, and the sentences that explain it."""
    if not items:
        return None
    worst = max(items, key=lambda item: RANK[item[0]])[0]
    texts = [text for outcome, text in items if outcome == worst]
    if worst not in (PASS, NA):
        texts = [text for outcome, text in items if outcome not in (PASS, NA)]
    texts = list(dict.fromkeys(texts))
    # "rule X (S) has A; rule X (S) has B" reads as "rule X (S) has A; has B".
    label = service.label
    shortened = texts[:1] + [
        text.removeprefix(f"{label}: ").removeprefix(f"{label} ") for text in texts[1:]
    ]
    return Finding(worst, "; ".join(shortened), service=service)


def _judge(subjects: Iterable[ServiceFacts], judge: Callable[[ServiceFacts], list]) -> Verdict:
    verdict = Verdict()
    for subject in subjects:
        finding = _merge(subject, judge(subject))
        if finding is not None:
            verdict.findings.append(finding)
    return verdict


def _uncovered_note(ctx: Context, role: str | None = None) -> list[str]:
    missing = [s for s in ctx.services if not s.secured and (role is None or s.role == role)]
    if not missing:
        return []
    names = ", ".join(s.name for s in missing[:10]) + (" ..." if len(missing) > 10 else "")
    return [
        f"{len(missing)} service(s) in scope have no AT-TLS rule in force ({names}); their"
        " design is not judged here, see NIST-800-207-2.1-T1-resources."
    ]


def _empty_for(ctx: Context, role: str) -> tuple[str, str]:
    if ctx.any_rule:
        return NA, f"no {role} rule in scope"
    return UNKNOWN, "no AT-TLS rule is in force for any service in scope: nothing to judge"


def _design_check(
    ctx: Context, role: str | None, judge: Callable[[ServiceFacts], list[tuple[str, str]]]
) -> Verdict:
    verdict = _judge(ctx.with_rules(role), judge)
    verdict.notes += _uncovered_note(ctx, role)
    verdict.empty = _empty_for(ctx, role or "TLS")
    return verdict


CHECKS: dict[str, Callable[[Context, Control], Verdict]] = {}


def check(name: str) -> Callable[[Callable[[Context, Control], Verdict]], Any]:
    def register(function: Callable[[Context, Control], Verdict]) -> Any:
        CHECKS[name] = function
        return function

    return register


# --- §3.1 protocol versions -----------------------------------------------------------------


def _observed_version(
    ctx: Context, s: ServiceFacts, protocol: str, outcome: str
) -> list[tuple[str, str]]:
    """Sessions of a version seen in the period, and the probe accepting it."""
    items = []
    count = s.hours.protocols.get(protocol, 0)
    if count:
        last = s.hours.last_hour.get(protocol)
        items.append(
            (
                outcome,
                f"{count} {protocol} session(s) of {s.name} observed in the period"
                + (f", the last in the hour from {_day(last)}" if last else ""),
            )
        )
    if s.probed and protocol in s.probe_protocols:
        run = s.stack.latest_run or {}
        items.append(
            (
                outcome,
                f"port {s.port} of {s.name} accepts {protocol}"
                f" (probe of run {str(run.get('uuid', '?'))[:8]})",
            )
        )
    return items


def _version_off(
    ctx: Context, protocols: tuple[Protocol, ...], outcome: str, role: str = "server"
) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        items: list[tuple[str, str]] = []
        if s.secured and s.role == role:
            assert s.eff is not None
            for protocol in protocols:
                if s.eff.protocols[protocol]:
                    items.append((outcome, f"{s.label} has {_said(s.eff, protocol)}"))
                else:
                    items.append((PASS, f"{s.label} has {_said(s.eff, protocol)}"))
        for protocol in protocols:
            items += _observed_version(ctx, s, protocol.value, outcome)
        if not items and s.probed and s.live and s.live.get("probe_tls"):
            items.append((PASS, f"port {s.port} of {s.name} accepts none of them (probe)"))
        return items

    subjects = [s for s in ctx.services if s.role == role]
    verdict = _judge(subjects, judge)
    verdict.notes += _uncovered_note(ctx, role)
    verdict.empty = _empty_for(ctx, role)
    return verdict


@check("ssl_disabled")
def check_ssl_disabled(ctx: Context, control: Control) -> Verdict:
    return _version_off(ctx, (Protocol.SSLV2, Protocol.SSLV3), FAIL)


@check("tls10_disabled")
def check_tls10_disabled(ctx: Context, control: Control) -> Verdict:
    verdict = _version_off(ctx, (Protocol.TLSV1,), FAIL if ctx.government else WARN)
    verdict.evidence["deployment_class"] = ctx.params["deployment_class"]
    if not ctx.government:
        verdict.notes.append(
            "Public-facing deployment class: TLS 1.0 may stay where citizens or businesses need"
            " it; record that need (Appendix F) as an exception."
        )
    return verdict


@check("tls11_disabled")
def check_tls11_disabled(ctx: Context, control: Control) -> Verdict:
    verdict = _version_off(ctx, (Protocol.TLSV1_1,), WARN)
    verdict.evidence["deployment_class"] = ctx.params["deployment_class"]
    return verdict


@check("tls12_supported")
def check_tls12_supported(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        items: list[tuple[str, str]] = []
        if s.secured:
            assert s.eff is not None
            on12, on13 = s.eff.protocols[Protocol.TLSV1_2], s.eff.protocols[Protocol.TLSV1_3]
            said = _said(s.eff, Protocol.TLSV1_2)
            if on12:
                items.append((PASS, f"{s.label} has {said}"))
            elif on13:
                items.append(
                    (
                        WARN,
                        f"{s.label} offers TLS 1.3 only ({said}); keep TLS 1.2 unless no peer"
                        " needs it, and record that as an exception",
                    )
                )
            else:
                items.append((FAIL, f"{s.label} has TLSv1.2 and TLSv1.3 Off ({said})"))
        if s.probed and s.live and s.live.get("probe_tls"):
            accepted = s.probe_protocols
            if "TLSv1.2" in accepted:
                items.append((PASS, f"port {s.port} accepts TLSv1.2 (probe)"))
            elif "TLSv1.3" not in accepted:
                items.append(
                    (FAIL, f"port {s.port} of {s.name} accepts neither TLS 1.2 nor 1.3 (probe)")
                )
        return items

    verdict = _judge([s for s in ctx.services if s.role == "server"], judge)
    verdict.notes += _uncovered_note(ctx, "server")
    verdict.empty = _empty_for(ctx, "server")
    return verdict


def _tls13_share(services: Iterable[ServiceFacts]) -> dict[str, Any]:
    tls13 = sum(s.hours.protocols.get("TLSv1.3", 0) for s in services)
    secured = sum(s.hours.secured for s in services)
    return {
        "tls13_sessions": tls13,
        "secured_sessions": secured,
        "tls13_share": round(tls13 / secured, 4) if secured else None,
    }


@check("tls13_supported")
def check_tls13_supported(ctx: Context, control: Control) -> Verdict:
    missing = FAIL if ctx.tls13_mandatory else WARN
    since = ctx.params["tls13_mandatory_from"]
    why = f"required since {since}" if ctx.tls13_mandatory else f"required from {since}"

    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        items: list[tuple[str, str]] = []
        if s.secured:
            assert s.eff is not None
            said = _said(s.eff, Protocol.TLSV1_3)
            if not s.eff.protocols[Protocol.TLSV1_3]:
                items.append((missing, f"{s.label} has {said}; TLS 1.3 is {why}"))
            elif not _tls13_codes(s.eff):
                items.append(
                    (
                        FAIL,
                        f"{s.label} has TLSv1.3 On but no TLS 1.3 suite in its"
                        f" {_ciphers_where(s.eff)}",
                    )
                )
            else:
                items.append((PASS, f"{s.label} has {said}"))
        if s.probed and s.live and s.live.get("probe_tls"):
            if "TLSv1.3" in s.probe_protocols:
                items.append((PASS, f"port {s.port} accepts TLSv1.3 (probe)"))
            else:
                items.append(
                    (missing, f"port {s.port} of {s.name} does not accept TLS 1.3 (probe)")
                )
        return items

    verdict = _judge([s for s in ctx.services if s.role == "server"], judge)
    verdict.notes += _uncovered_note(ctx, "server")
    verdict.empty = _empty_for(ctx, "server")
    verdict.evidence["tls13_mandatory_from"] = str(since)
    verdict.evidence["observed"] = _tls13_share(ctx.services)
    return verdict


# --- §3.3 cipher suites, groups, FIPS -------------------------------------------------------


def _suites_items(ctx: Context, s: ServiceFacts) -> list[tuple[str, str]]:
    assert s.eff is not None
    if not _le12(s.eff):
        return [(NA, f"{s.label} offers no version below TLS 1.3")]
    bad = [
        code
        for code, suite in _negotiable(s.eff)
        if suite is None or suite.nist_800_52r2 is NistStatus.NOT_LISTED
    ]
    items: list[tuple[str, str]] = []
    if bad:
        items.append(
            (
                FAIL,
                f"{s.label} offers suites outside the SP 800-52r2 lists: {_named(bad)}"
                f" ({_ciphers_where(s.eff)})",
            )
        )
    else:
        items.append(
            (PASS, f"{s.label} offers only listed suites below TLS 1.3 ({_ciphers_where(s.eff)})")
        )
    items += _observed_suites(s)
    return items


def _observed_suites(s: ServiceFacts) -> list[tuple[str, str]]:
    seen = {
        code: n
        for code, n in s.hours.ciphers.items()
        if (suite := ciphers.get(code)) is None
        or (suite.nist_800_52r2 is NistStatus.NOT_LISTED and not suite.tls13_only)
    }
    return [
        (FAIL, f"{n} session(s) of {s.name} negotiated {_named([code])}")
        for code, n in sorted(seen.items())
    ]


def _rsa_kt_items(ctx: Context, s: ServiceFacts) -> list[tuple[str, str]]:
    assert s.eff is not None
    outcome = FAIL if ctx.rsa_kt_disallowed else WARN
    after = ctx.params["rsa_key_transport_disallowed_after"]
    rule = f"allowed only until {after}" if ctx.rsa_kt_disallowed else f"allowed until {after}"
    offered = [
        code
        for code, suite in _negotiable(s.eff)
        if suite is not None and suite.nist_800_52r2 is NistStatus.TRANSITION
    ]
    items: list[tuple[str, str]] = []
    if offered:
        items.append(
            (
                outcome,
                f"{s.label} offers RSA key transport (no forward secrecy), {rule}:"
                f" {_named(offered)} ({_ciphers_where(s.eff)})",
            )
        )
    elif _le12(s.eff):
        items.append((PASS, f"{s.label} offers no RSA key-transport suite"))
    for code, n in sorted(s.hours.ciphers.items()):
        suite = ciphers.get(code)
        if suite is not None and suite.nist_800_52r2 is NistStatus.TRANSITION:
            items.append((outcome, f"{n} session(s) of {s.name} negotiated {_named([code])}"))
    return items


def _tls13_suite_items(ctx: Context, s: ServiceFacts) -> list[tuple[str, str]]:
    assert s.eff is not None
    if not s.eff.protocols[Protocol.TLSV1_3]:
        return [(NA, f"{s.label} has TLSv1.3 Off")]
    outcome = FAIL if ctx.params["fips_required"] else WARN
    bad = [c for c in _tls13_codes(s.eff) if c not in APPROVED_TLS13]
    items: list[tuple[str, str]] = []
    if bad:
        items.append(
            (
                outcome,
                f"{s.label} offers TLS 1.3 suites not on the SP 800-52r2 list: {_named(bad)}"
                f" ({_ciphers_where(s.eff)})",
            )
        )
    else:
        items.append((PASS, f"{s.label} offers only listed TLS 1.3 suites"))
    for code, n in sorted(s.hours.ciphers.items()):
        suite = ciphers.get(code)
        if suite is not None and suite.tls13_only and code not in APPROVED_TLS13:
            items.append((outcome, f"{n} session(s) of {s.name} negotiated {_named([code])}"))
    return items


def _fips_items(ctx: Context, s: ServiceFacts) -> list[tuple[str, str]]:
    assert s.eff is not None
    if not ctx.params["fips_required"]:
        return [(NA, "the parameters declare FIPS 140 mode not required (fips_required false)")]
    group = s.eff.group_action
    if not s.eff.fips140:
        return [(FAIL, f"{s.label}: group {group} has FIPS140 Off")]
    items: list[tuple[str, str]] = []
    if s.eff.protocols[Protocol.TLSV1_3]:
        chacha = [c for c in _tls13_codes(s.eff) if c == "1303"]
        if chacha:
            items.append((FAIL, f"{s.label} runs FIPS140 On but offers {_named(chacha)}"))
        shares = s.eff.server_key_share_groups if s.role == "server" else ()
        odd = [g for g in shares if g in NON_FIPS_GROUPS]
        if odd:
            items.append(
                (
                    WARN,
                    f"{s.label} runs FIPS140 On but offers key shares {_groups(odd)}"
                    " (outside SP 800-56A; System SSL's FIPS behaviour unconfirmed)",
                )
            )
    items.append((PASS, f"{s.label}: group {group} has FIPS140 On"))
    return items


@check("approved_suites")
def check_approved_suites(ctx: Context, control: Control) -> Verdict:
    verdict = _design_check(ctx, "server", lambda s: _suites_items(ctx, s))
    # Sessions of services without a rule (the applications' own TLS) count as well.
    for s in ctx.services:
        if not s.secured and s.role == "server":
            finding = _merge(s, _observed_suites(s))
            if finding is not None:
                verdict.findings.append(finding)
    return verdict


@check("rsa_key_transport")
def check_rsa_key_transport(ctx: Context, control: Control) -> Verdict:
    verdict = _design_check(ctx, None, lambda s: _rsa_kt_items(ctx, s))
    verdict.evidence["disallowed_after"] = str(ctx.params["rsa_key_transport_disallowed_after"])
    return verdict


@check("tls13_suites")
def check_tls13_suites(ctx: Context, control: Control) -> Verdict:
    verdict = _design_check(ctx, None, lambda s: _tls13_suite_items(ctx, s))
    verdict.evidence["fips_required"] = ctx.params["fips_required"]
    return verdict


@check("fips_mode")
def check_fips_mode(ctx: Context, control: Control) -> Verdict:
    verdict = _design_check(ctx, None, lambda s: _fips_items(ctx, s))
    verdict.evidence["fips_required"] = ctx.params["fips_required"]
    return verdict


def _tier(suite: CipherSuite) -> int:
    """1 ephemeral AEAD, 2 ephemeral CCM_8, 3 ephemeral CBC, 4 static AEAD, 5 static CBC."""
    ccm8 = suite.bulk_cipher.endswith("CCM_8")
    if suite.forward_secrecy:
        return 2 if ccm8 else (1 if suite.aead else 3)
    return 4 if suite.aead else 5


TIER_NAMES = {
    1: "ephemeral AEAD",
    2: "ephemeral CCM_8",
    3: "ephemeral CBC",
    4: "static (no forward secrecy) AEAD",
    5: "static (no forward secrecy) CBC",
}


@check("cipher_preference_order")
def check_cipher_preference_order(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None
        if not _le12(s.eff):
            return [(NA, f"{s.label} offers no version below TLS 1.3")]
        ranked = [
            (code, _tier(suite))
            for code, suite in _negotiable(s.eff)
            if suite is not None and suite.nist_800_52r2 is not NistStatus.NOT_LISTED
        ]
        where = _ciphers_where(s.eff)
        for (first, first_tier), (later, later_tier) in pairwise(ranked):
            if later_tier < first_tier:
                return [
                    (
                        WARN,
                        f"{s.label} lists {first} ({TIER_NAMES[first_tier]}) before {later}"
                        f" ({TIER_NAMES[later_tier]}) ({where})",
                    )
                ]
        if ranked and s.eff.protocols[Protocol.TLSV1_2] and all(t in (3, 5) for _, t in ranked):
            return [(WARN, f"{s.label} offers only CBC suites with TLS 1.2 ({where})")]
        if ranked and all(t >= 4 for _, t in ranked):
            return [(WARN, f"{s.label} offers no forward-secret suite below TLS 1.3 ({where})")]
        return [(PASS, f"{s.label} orders its suites by forward secrecy and AEAD ({where})")]

    return _design_check(ctx, "server", judge)


def _weak_groups(codes: Iterable[str]) -> list[str]:
    weak = []
    for code in codes:
        group = tlsgroups.get_group(code)
        if group is not None and group.security_bits < 112:
            weak.append(code)
    return weak


def _curve_lists(s: ServiceFacts) -> list[tuple[str, tuple[str, ...], str]]:
    """(keyword, codes, where) of the group lists that apply to the rule's negotiations."""
    assert s.eff is not None
    eff = s.eff
    lists = []
    ecdhe = any(s is not None and s.key_exchange == "ECDHE" for _, s in _negotiable(eff))
    server = s.role == "server"
    if ecdhe:
        name = "server_kex_ecurves" if server else "client_ecurves"
        keyword = "ServerKexECurves" if server else "ClientECurves"
        lists.append((keyword, getattr(eff, name), _signature_where(eff, name)))
    if eff.protocols[Protocol.TLSV1_3]:
        name = "server_key_share_groups" if server else "client_key_share_groups"
        keyword = "ServerKeyShareGroups" if server else "ClientKeyShareGroups"
        lists.append((keyword, getattr(eff, name), _signature_where(eff, name)))
    return lists


WEAK_BULK = ("DES", "RC4", "RC2", "NULL", "IDEA")


@check("min_112_bit")
def check_min_112_bit(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None and s.adv is not None
        items: list[tuple[str, str]] = []
        for keyword, codes, where in _curve_lists(s):
            weak = _weak_groups(codes)
            if weak:
                items.append(
                    (FAIL, f"{s.label} has {keyword} with {_groups(weak)} below 112 bits ({where})")
                )
        negotiable = _negotiable(s.eff)
        weak_suites = [
            code
            for code, suite in negotiable
            if suite is not None
            and (any(w in suite.bulk_cipher for w in WEAK_BULK) or "EXPORT" in suite.key_exchange)
        ]
        if weak_suites:
            items.append(
                (
                    FAIL,
                    f"{s.label} offers ciphers below 112 bits: {_named(weak_suites)}"
                    f" ({_ciphers_where(s.eff)})",
                )
            )
        dhe = [code for code, suite in negotiable if suite and suite.key_exchange == "DHE"]
        if dhe and s.role == "server" and s.adv["server_edh_group_size"] == "Legacy":
            items.append(
                (
                    WARN,
                    f"{s.label} offers DHE suites ({', '.join(dhe)}) with"
                    f" {s.adv.said('server_edh_group_size')}, which may allow 1024-bit groups",
                )
            )
        if not items:
            items.append((PASS, f"{s.label}: every group and cipher it offers gives 112 bits"))
        return items

    return _design_check(ctx, None, judge)


@check("supported_groups")
def check_supported_groups(ctx: Context, control: Control) -> Verdict:
    fips = ctx.params["fips_required"]

    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        lists = _curve_lists(s)
        if not lists:
            return [(NA, f"{s.label} offers no ECDHE suite and not TLS 1.3")]
        items: list[tuple[str, str]] = []
        for keyword, codes, where in lists:
            if not P256_P384 & set(codes):
                items.append((FAIL, f"{s.label} has {keyword} without P-256 or P-384 ({where})"))
            known = [(c, g) for c in codes if (g := tlsgroups.get_group(c)) is not None]
            weak = [c for c, g in known if g.security_bits < 112]
            minimum = [c for c, g in known if g.security_bits == 112]
            odd = [c for c, _ in known if c in NON_FIPS_GROUPS]
            if weak:
                items.append(
                    (FAIL, f"{s.label} has {keyword} with {_groups(weak)} below 112 bits ({where})")
                )
            if odd:
                items.append(
                    (
                        FAIL if fips else WARN,
                        f"{s.label} has {keyword} with {_groups(odd)}, not SP 800-56A groups"
                        f" ({where})",
                    )
                )
            if minimum:
                items.append(
                    (WARN, f"{s.label} has {keyword} with {_groups(minimum)} at the 112-bit floor")
                )
        if not items:
            items.append((PASS, f"{s.label} offers only NIST curves, P-256 or P-384 among them"))
        return items

    return _design_check(ctx, None, judge)


@check("key_share")
def check_key_share(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None
        if not s.eff.protocols[Protocol.TLSV1_3]:
            return [(NA, f"{s.label} has TLSv1.3 Off")]
        server = s.role == "server"
        name = "server_key_share_groups" if server else "client_key_share_groups"
        keyword = "ServerKeyShareGroups" if server else "ClientKeyShareGroups"
        codes = getattr(s.eff, name)
        where = _signature_where(s.eff, name)
        if not NIST_CURVES & set(codes):
            return [(FAIL, f"{s.label} has {keyword} without a NIST curve ({where})")]
        sessions = s.hours.protocols.get("TLSv1.3", 0)
        seen = f"; {sessions} TLS 1.3 session(s) observed" if sessions else ""
        return [(PASS, f"{s.label} has {keyword} {_groups(codes)} ({where}){seen}")]

    return _design_check(ctx, None, judge)


# --- §3.4 extensions ------------------------------------------------------------------------


@check("secure_renegotiation")
def check_secure_renegotiation(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None and s.adv is not None
        if not _le12(s.eff):
            return [(NA, f"{s.label} offers TLS 1.3 only, which has no renegotiation")]
        where = (
            f"environment {s.eff.environment_action}"
            if s.eff.sources.get("renegotiation") == "environment"
            else "AT-TLS default"
        )
        said = f"Renegotiation {s.eff.renegotiation} ({where})"
        if s.eff.renegotiation == "All":
            return [(FAIL, f"{s.label} has {said}, which admits legacy renegotiation")]
        return [(PASS, f"{s.label} has {said}, {s.adv.said('renegotiation_indicator')}")]

    return _design_check(ctx, "server", judge)


@check("server_name_indication")
def check_server_name_indication(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.adv is not None
        said = s.adv.said("server_handshake_sni")
        if s.adv["server_handshake_sni"] == "Off":
            return [(WARN, f"{s.label} has {said}")]
        return [(PASS, f"{s.label} has {said}")]

    return _design_check(ctx, "server", judge)


def _ems_items(s: ServiceFacts) -> list[tuple[str, str]]:
    assert s.eff is not None and s.adv is not None
    if not _le12(s.eff):
        return [(NA, f"{s.label} offers TLS 1.3 only")]
    name = f"{s.role}_extended_master_secret"
    said = s.adv.said(name)
    if s.adv[name] == "Off":
        return [(FAIL, f"{s.label} has {said} while offering TLS 1.2 or earlier")]
    return [(PASS, f"{s.label} has {said}")]


@check("extended_master_secret")
def check_extended_master_secret(ctx: Context, control: Control) -> Verdict:
    return _design_check(ctx, None, _ems_items)


@check("signature_algorithms")
def check_signature_algorithms(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None
        where = _signature_where(s.eff, "signature_pairs")
        weak, strong = [], []
        for code in s.eff.signature_pairs:
            pair = tlsgroups.get_sigalg(code)
            if pair is None:
                continue
            if pair.hash_algorithm in ("SHA1", "SHA224") or pair.signature_algorithm == "DSA":
                weak.append(f"{code} {pair.hash_algorithm}/{pair.signature_algorithm}")
            else:
                strong.append(code)
        items: list[tuple[str, str]] = []
        if not strong:
            items.append((FAIL, f"{s.label} has no SHA-256-or-stronger signature pair ({where})"))
        if weak:
            items.append(
                (
                    WARN,
                    f"{s.label} offers SHA-1, SHA-224 or DSA signature pairs {', '.join(weak)}"
                    f" ({where})",
                )
            )
        if not items:
            items.append((PASS, f"{s.label} offers only SHA-256-or-stronger pairs ({where})"))
        return items

    return _design_check(ctx, None, judge)


@check("ocsp_stapling")
def check_ocsp_stapling(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.adv is not None
        said = s.adv.said("ocsp_server_stapling")
        return [(PASS if s.adv["ocsp_server_stapling"] else FAIL, f"{s.label} has {said}")]

    return _design_check(ctx, "server", judge)


@check("fallback_scsv")
def check_fallback_scsv(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None and s.adv is not None
        old = [p for p in (Protocol.TLSV1, Protocol.TLSV1_1) if s.eff.protocols[p]]
        if not old or s.eff.protocols[Protocol.TLSV1_3]:
            return [(NA, f"{s.label} offers TLS 1.3 or no version before TLS 1.2")]
        said = s.adv.said("server_scsv")
        versions = ", ".join(_said(s.eff, p) for p in old)
        if not s.adv["server_scsv"]:
            return [(FAIL, f"{s.label} has {versions} without TLS 1.3 and {said}")]
        return [(PASS, f"{s.label} has {said}")]

    return _design_check(ctx, "server", judge)


@check("truncated_hmac")
def check_truncated_hmac(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.adv is not None
        said = s.adv.said("truncated_hmac")
        if s.adv["truncated_hmac"]:
            return [(FAIL, f"{s.label} has {said} with no recorded justification")]
        return [(PASS, f"{s.label} has {said}")]

    return _design_check(ctx, None, judge)


@check("encrypt_then_mac")
def check_encrypt_then_mac(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None
        cbc = [
            code
            for code, suite in _negotiable(s.eff)
            if suite is not None and not suite.aead and suite.bulk_cipher != "NULL"
        ]
        if not cbc:
            return [(NA, f"{s.label} can negotiate no CBC suite")]
        return [
            (
                UNKNOWN,
                f"{s.label} can negotiate CBC suites ({', '.join(cbc)}); whether System SSL"
                " offers encrypt_then_mac is not evidenced",
            )
        ]

    return _design_check(ctx, None, judge)


@check("ec_point_formats")
def check_ec_point_formats(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None
        ec = [
            code
            for code, suite in _negotiable(s.eff)
            if suite is not None and suite.key_exchange in ("ECDHE", "ECDH")
        ]
        if not ec:
            return [(NA, f"{s.label} can negotiate no elliptic-curve suite below TLS 1.3")]
        return [
            (
                UNKNOWN,
                f"{s.label} can negotiate elliptic-curve suites below TLS 1.3"
                f" ({', '.join(ec)}); ec_point_formats handling is not evidenced",
            )
        ]

    return _design_check(ctx, None, judge)


@check("tls13_extensions")
def check_tls13_extensions(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None
        if not s.eff.protocols[Protocol.TLSV1_3]:
            return [(NA, f"{s.label} has TLSv1.3 Off")]
        sessions = s.hours.protocols.get("TLSv1.3", 0)
        live = ((s.live or {}).get("protocols") or {}).get("TLSv1.3", 0)
        probed = "TLSv1.3" in s.probe_protocols
        if sessions or live or probed:
            how = (
                f"{sessions} TLS 1.3 session(s) observed in the period"
                if sessions
                else ("TLS 1.3 live at the latest run" if live else "the probe completed TLS 1.3")
            )
            return [
                (
                    PASS,
                    f"{s.label}: {how}; a completed TLS 1.3 handshake uses supported_versions"
                    " and key_share",
                )
            ]
        return [(UNKNOWN, f"{s.label} has TLSv1.3 On but no TLS 1.3 session was observed")]

    return _design_check(ctx, None, judge)


@check("discouraged_extensions")
def check_discouraged_extensions(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.adv is not None
        items: list[tuple[str, str]] = []
        if s.adv["truncated_hmac"]:
            items.append((WARN, f"{s.label} has {s.adv.said('truncated_hmac')}"))
        for name in ("server_max_ssl_fragment", "client_max_ssl_fragment"):
            value = s.adv[name]
            if value is not None and str(value).lower() != "off":
                items.append((WARN, f"{s.label} has {s.adv.said(name)}"))
        if not items:
            items.append(
                (PASS, f"{s.label} enables neither truncated HMAC nor maximum fragment length")
            )
        return items

    return _design_check(ctx, None, judge)


# --- §3.5 client authentication, §3.2.2 revocation -----------------------------------------


def _client_auth_items(s: ServiceFacts) -> list[tuple[str, str]]:
    assert s.eff is not None
    kind = s.eff.client_auth_type
    where = (
        f"environment {s.eff.environment_action}"
        if s.eff.sources.get("client_auth_type") == "environment"
        else "AT-TLS default"
    )
    said = f"HandshakeRole ServerWithClientAuth with ClientAuthType {kind} ({where})"
    if kind == "PassThru":
        return [(FAIL, f"{s.label} has {said}: client certificates are not validated")]
    if kind == "Full":
        return [(WARN, f"{s.label} has {said}: a client may connect without a certificate")]
    return [(PASS, f"{s.label} has {said}")]


def _path_items(s: ServiceFacts) -> list[tuple[str, str]]:
    assert s.eff is not None
    mode = s.eff.cert_validation_mode
    where = (
        f"environment {s.eff.environment_action}"
        if s.eff.sources.get("cert_validation_mode") == "environment"
        else "AT-TLS default"
    )
    outcome = PASS if mode == "RFC5280" else WARN
    return [(outcome, f"{s.label} has CertValidationMode {mode} ({where})")]


def _key_size_items(ctx: Context, s: ServiceFacts, whose: str) -> list[tuple[str, str]]:
    assert s.adv is not None
    rsa, ecc = ctx.params["min_rsa_bits"], ctx.params["min_ecc_bits"]
    weak = [
        name
        for name, minimum in (
            ("peer_min_rsa_key_size", rsa),
            ("peer_min_dh_key_size", rsa),
            ("peer_min_dsa_key_size", rsa),
            ("peer_min_ecc_key_size", ecc),
        )
        if int(s.adv[name]) < minimum
    ]
    items: list[tuple[str, str]] = []
    if weak:
        items.append(
            (
                FAIL,
                f"{s.label} accepts {whose} keys below 112-bit strength"
                f" ({rsa}-bit RSA/DH/DSA, {ecc}-bit EC): {_said_many(s.adv, weak)}",
            )
        )
    if str(s.adv["peer_min_cert_version"]) != "3":
        items.append((WARN, f"{s.label} has {s.adv.said('peer_min_cert_version')}"))
    if not items:
        items.append((PASS, f"{s.label} refuses {whose} keys below 112-bit strength"))
    return items


def _said_many(adv: Advanced, names: list[str]) -> str:
    """`PeerMinRsaKeySize 1024, PeerMinDHKeySize 1024 (z/OS default: ...)`, grouped by origin."""
    by_origin: dict[str, list[str]] = defaultdict(list)
    for name in names:
        by_origin[adv.origin[name]].append(f"{KEYWORDS[name]} {adv[name]}")
    return "; ".join(f"{', '.join(values)} ({origin})" for origin, values in by_origin.items())


def _revocation_items(s: ServiceFacts, whose: str) -> list[tuple[str, str]]:
    assert s.adv is not None
    sources = [
        s.adv.said(name)
        for name in ("ocsp_aia_enable", "ocsp_url", "http_cdp_enable", "gsk_ldap_server")
        if s.adv[name]
    ]
    if not sources:
        return [
            (
                FAIL,
                f"{s.label} has no revocation source for {whose} certificates"
                f" ({s.adv.said('ocsp_aia_enable')}, {s.adv.said('http_cdp_enable')},"
                " no OcspUrl, no LDAP CRL server)",
            )
        ]
    if s.adv["revocation_security_level"] == "Low":
        return [(WARN, f"{s.label} has {s.adv.said('revocation_security_level')} (soft fail)")]
    return [(PASS, f"{s.label} checks revocation: {', '.join(sources)}")]


def _client_auth_check(ctx: Context, judge: Callable[[ServiceFacts], list]) -> Verdict:
    verdict = _judge([s for s in ctx.with_rules("server") if s.client_auth], judge)
    verdict.empty = (
        NA,
        "no rule in scope asks for client certificates (HandshakeRole ServerWithClientAuth)",
    )
    if not ctx.any_rule:
        verdict.empty = _empty_for(ctx, "server")
    return verdict


@check("client_authentication")
def check_client_authentication(ctx: Context, control: Control) -> Verdict:
    return _client_auth_check(ctx, _client_auth_items)


@check("client_path_validation")
def check_client_path_validation(ctx: Context, control: Control) -> Verdict:
    return _client_auth_check(ctx, _path_items)


@check("client_key_size")
def check_client_key_size(ctx: Context, control: Control) -> Verdict:
    return _client_auth_check(ctx, lambda s: _key_size_items(ctx, s, "client"))


@check("client_cert_revocation")
def check_client_cert_revocation(ctx: Context, control: Control) -> Verdict:
    return _client_auth_check(ctx, lambda s: _revocation_items(s, "client"))


@check("not_evaluable_with_client_auth")
def check_not_evaluable_with_client_auth(ctx: Context, control: Control) -> Verdict:
    return _client_auth_check(
        ctx,
        lambda s: [(UNKNOWN, f"{s.label} authenticates clients; the evidence is not collected")],
    )


@check("not_evaluable")
def check_not_evaluable(ctx: Context, control: Control) -> Verdict:
    verdict = Verdict()
    verdict.empty = (UNKNOWN, "the portal does not collect the evidence this control needs")
    return verdict


# --- §3.2 / §3.2.1 certificates -------------------------------------------------------------

PREFERRED_CURVES = frozenset({"secp256r1", "secp384r1"})
WEAK_HASHES = frozenset({"md2", "md4", "md5", "sha1"})
STRONG_HASHES = frozenset(
    {"sha224", "sha256", "sha384", "sha512", "sha512_224", "sha512_256"}
    | {"sha3-224", "sha3-256", "sha3-384", "sha3-512"}
)
# Security strength in bits of the keys whose size is fixed by their type.
FIXED_STRENGTH = {"Ed25519": 128, "Ed448": 224, "X25519": 128, "X448": 224}
# The signature family a certificate of this key type is signed with to be consistent
# (SP 800-52r2 §3.2.1: DH with DSA, ECDH with ECDSA).
CONSISTENT_FAMILY = {"RSA": "RSA", "EC": "ECDSA", "DSA": "DSA", "DH": "DSA"}
# The catalog parameter with the smallest acceptable size of a key of this type.
MINIMUM_BITS = {
    "RSA": "min_rsa_bits",
    "DSA": "min_rsa_bits",
    "DH": "min_rsa_bits",
    "EC": "min_ecc_bits",
}
# CRL distribution point fields the profile forbids: facts key -> RFC 5280 name.
CRL_FIELDS = (
    ("reasons", "reasons"),
    ("crl_issuer", "cRLIssuer"),
    ("relative_name", "nameRelativeToCRLIssuer"),
)
NOT_READ = "was recorded before the probe read certificate details"
SHOWN_NAMES = 5


@dataclass(frozen=True)
class Presented:
    """A service's current certificate with the facts the probe read (fleet/certificates.py)."""

    name: str  # certificate CN=... of rule X (stack)
    row: Certificate
    leaf: Mapping[str, Any]
    issuers: list[Mapping[str, Any]]

    def unreadable(self, *fields: str) -> list[tuple[str, str]]:
        unknown = self.leaf.get("unknown") or {}
        return [
            (UNKNOWN, f"{self.name}: its {field} could not be read ({unknown[field]})")
            for field in fields
            if field in unknown
        ]

    @property
    def signer(self) -> Mapping[str, Any] | None:
        """The presented certificate of the leaf's issuer, if the server sent it."""
        for issuer in self.issuers:
            if issuer.get("subject") == self.leaf.get("issuer"):
                return issuer
        return None


def _current_certificate(s: ServiceFacts) -> Certificate:
    return max(s.certificates, key=lambda c: (c.last_seen, c.not_after))


def _presented(s: ServiceFacts) -> tuple[Presented | None, list[tuple[str, str]]]:
    """The current certificate's facts, or why there are none (an UNKNOWN item)."""
    if not s.certificates:
        missing = [(UNKNOWN, f"no certificate of {s.label} was seen by the probe")]
        return None, missing if s.secured else []
    row = _current_certificate(s)
    name = f"certificate {row.subject} of {s.label}"
    details = row.details or {}
    if not details.get("leaf"):
        return None, [(UNKNOWN, f"{name} {NOT_READ}")]
    return Presented(name, row, details["leaf"], list(details.get("issuers") or [])), []


def _certificate_check(
    ctx: Context, judge: Callable[[Presented], list[tuple[str, str]]], *fields: str
) -> Verdict:
    """`judge` on the current certificate of every server service; UNKNOWN where the facts
    it needs (`fields` of the leaf) were not recorded or could not be read."""

    def items(s: ServiceFacts) -> list[tuple[str, str]]:
        presented, why = _presented(s)
        if presented is None:
            return why
        return presented.unreadable(*fields) or judge(presented)

    return _servers_judged(ctx, items)


def _servers_judged(ctx: Context, judge: Callable[[ServiceFacts], list]) -> Verdict:
    """Every server service, with a rule or not: a port presents a certificate either way."""
    verdict = _judge([s for s in ctx.services if s.role == "server"], judge)
    verdict.empty = _empty_for(ctx, "server")
    return verdict


def _key_said(key: Mapping[str, Any]) -> str:
    """`RSA 2048-bit`, `EC secp256r1 (256-bit)`, `Ed25519`, `unknown (1.2.3)`."""
    kind, bits, curve = key.get("type"), key.get("bits"), key.get("curve")
    if kind == "EC":
        return f"EC {curve} ({bits}-bit)"
    if kind == "unknown":
        return f"unknown ({key.get('oid') or 'no OID'})"
    return f"{kind} {bits}-bit" if bits else str(kind)


def _a(said: str) -> str:
    """`an RSA 2048-bit`, `a DSA 2048-bit`: the article as the initialism is spoken."""
    return f"{'an' if said[:1] in set('AEFHILMNORSXU') else 'a'} {said}"


def _names_said(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN_NAMES])
    return shown + (f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else "")


def _certificate_evidence(certificate: Certificate) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "subject": certificate.subject,
        "issuer": certificate.issuer,
        "serial": certificate.serial,
        "not_after": _iso(certificate.not_after),
        "fingerprint": certificate.fingerprint,
        "rules": list(certificate.rules),
        "ports": list(certificate.ports),
        "first_seen": _iso(certificate.first_seen),
        "last_seen": _iso(certificate.last_seen),
    }
    leaf = (certificate.details or {}).get("leaf")
    if not leaf:
        return evidence | {"details": None}
    aia = leaf.get("authority_info_access") or {}
    return evidence | {
        "version": leaf.get("version"),
        "key": _key_said(leaf["key"]),
        "signature": leaf["signature"].get("algorithm"),
        "not_before": leaf.get("not_before"),
        "key_usage": leaf.get("key_usage"),
        "extended_key_usage": (leaf.get("extended_key_usage") or {}).get("purposes"),
        "subject_alt_name": leaf.get("subject_alt_name"),
        "ocsp": aia.get("ocsp"),
        "ca_issuers": aia.get("ca_issuers"),
        "crl_distribution_points": leaf.get("crl_distribution_points"),
        "issuers": [
            {
                "subject": issuer.get("subject"),
                "key": _key_said(issuer["key"]),
                "signature": issuer["signature"].get("algorithm"),
            }
            for issuer in certificate.details.get("issuers") or []
        ],
        "unreadable": sorted(leaf.get("unknown") or {}),
    }


@check("certificate_key_type")
def check_certificate_key_type(ctx: Context, control: Control) -> Verdict:
    def judge(c: Presented) -> list[tuple[str, str]]:
        key = c.leaf["key"]
        if key["type"] in ("RSA", "EC"):
            return [(PASS, f"{c.name} holds {_a(_key_said(key))} key")]
        if key["type"] == "unknown":
            return [(UNKNOWN, f"{c.name} holds a key of a type the probe does not know")]
        return [(FAIL, f"{c.name} holds {_a(_key_said(key))} key, neither RSA nor ECDSA")]

    return _certificate_check(ctx, judge, "key")


@check("certificate_ocsp")
def check_certificate_ocsp(ctx: Context, control: Control) -> Verdict:
    def judge(c: Presented) -> list[tuple[str, str]]:
        aia = c.leaf["authority_info_access"]
        if aia is None:
            return [(FAIL, f"{c.name} has no Authority Information Access, so no OCSP address")]
        if not aia["ocsp"]:
            return [(FAIL, f"{c.name} names no OCSP responder in its Authority Information Access")]
        return [(PASS, f"{c.name} names the OCSP responder {_names_said(aia['ocsp'])}")]

    return _certificate_check(ctx, judge, "authority_info_access")


def _key_strength(ctx: Context, whose: str, key: Mapping[str, Any]) -> tuple[str, str]:
    kind, bits = key.get("type"), key.get("bits")
    said = _key_said(key)
    if kind in FIXED_STRENGTH:
        return PASS, f"{whose}: {said} key ({FIXED_STRENGTH[kind]}-bit security)"
    parameter = MINIMUM_BITS.get(str(kind))
    if parameter is None or not bits:
        return UNKNOWN, f"{whose}: the strength of its {said} key is not known"
    least = ctx.params[parameter]
    if bits < least:
        return FAIL, f"{whose}: {said} key, below {least} bits ({parameter})"
    if kind == "EC" and key.get("curve") not in PREFERRED_CURVES:
        return WARN, f"{whose}: {said} key; P-256 or P-384 is preferred"
    return PASS, f"{whose}: {said} key"


@check("certificate_strength")
def check_certificate_strength(ctx: Context, control: Control) -> Verdict:
    def judge(c: Presented) -> list[tuple[str, str]]:
        items: list[tuple[str, str]] = []
        version = c.leaf["version"]
        if version != 3:
            items.append((FAIL, f"{c.name} is X.509 v{version}, not v3"))
        items.append(_key_strength(ctx, c.name, c.leaf["key"]))
        if c.signer is None and not c.leaf["self_signed"]:
            items.append(
                (
                    UNKNOWN,
                    f"{c.name} came without its issuer {c.leaf['issuer']}, so the key that"
                    " signed it is not known",
                )
            )
        for issuer in c.issuers:
            items.append(_key_strength(ctx, f"its issuer {issuer['subject']}", issuer["key"]))
        return items

    return _certificate_check(ctx, judge, "version", "key")


def _signed_with(whose: str, facts: Mapping[str, Any]) -> tuple[str, str]:
    signature = facts["signature"]
    algorithm, hashed = signature.get("algorithm") or "an unknown algorithm", signature.get("hash")
    if hashed in WEAK_HASHES:
        return FAIL, f"{whose} is signed with {algorithm} ({hashed})"
    if hashed in STRONG_HASHES:
        return PASS, f"{whose} is signed with {algorithm}"
    return UNKNOWN, f"{whose} is signed with {algorithm}, whose hash is not judged"


@check("certificate_signature_hash")
def check_certificate_signature_hash(ctx: Context, control: Control) -> Verdict:
    def judge(c: Presented) -> list[tuple[str, str]]:
        items = [_signed_with(c.name, c.leaf)]
        for issuer in c.issuers:
            if not issuer["self_signed"]:
                items.append(_signed_with(f"its issuer {issuer['subject']}", issuer))
        return items

    verdict = _certificate_check(ctx, judge, "signature", "signature_hash")
    verdict.notes.append(
        "Judged on the chain the server presents: certificates it leaves out are not seen, and"
        " a self-signed root it sends is a trust anchor whose own signature is not relied on."
    )
    return verdict


@check("certificate_validity")
def check_certificate_validity(ctx: Context, control: Control) -> Verdict:
    warn_days = ctx.params["cert_expiry_warning_days"]
    max_days = ctx.params["cert_max_validity_days"]

    def lifetime(current: Certificate, name: str) -> tuple[str, str]:
        """A sentence, or for PASS the clause the expiry sentence ends with."""
        leaf = (current.details or {}).get("leaf") or {}
        if not leaf.get("not_before"):
            return UNKNOWN, f"the lifetime of {name} is not judged: it {NOT_READ}"
        start = dt.datetime.fromisoformat(leaf["not_before"])
        days = (current.not_after - start).days
        if ctx.eval_at < start:
            return FAIL, f"{name} is not valid before {_day(start)}"
        if days > max_days:
            return (
                WARN,
                f"{name} is valid for {days} days (from {_day(start)}), more than"
                f" {max_days} (cert_max_validity_days)",
            )
        return PASS, f"a lifetime of {days} days (at most {max_days})"

    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        if not s.certificates:
            if s.secured:
                return [(UNKNOWN, f"no certificate of {s.label} was seen by the probe")]
            return []
        current = _current_certificate(s)
        items: list[tuple[str, str]] = []
        left = current.not_after - ctx.eval_at
        name = f"certificate {current.subject} of {s.label}"
        life = lifetime(current, name)
        if left.total_seconds() <= 0:
            items.append((FAIL, f"{name} expired on {_day(current.not_after)}"))
        elif left < dt.timedelta(days=warn_days):
            items.append(
                (WARN, f"{name} expires on {_day(current.not_after)}, in {left.days} day(s)")
            )
        else:
            valid = f"{name} is valid until {_day(current.not_after)} ({left.days} days left)"
            items.append((PASS, valid + (f", {life[1]}" if life[0] == PASS else "")))
        for certificate in s.certificates:
            lapsed = (
                certificate.last_seen > certificate.not_after
                and certificate.not_after >= ctx.period_start
            )
            if lapsed and certificate is not current:
                items.append(
                    (
                        WARN,
                        f"certificate {certificate.subject} of {s.label} was served after it"
                        f" expired on {_day(certificate.not_after)} (last seen"
                        f" {_day(certificate.last_seen)}); it has been replaced",
                    )
                )
        return items + ([life] if life[0] != PASS else [])

    verdict = _servers_judged(ctx, judge)
    verdict.evidence["incidents"] = [
        _incident_evidence(i) for i in ctx.incidents if i.kind == "certificate-expired"
    ]
    return verdict


@check("certificate_server_auth")
def check_certificate_server_auth(ctx: Context, control: Control) -> Verdict:
    def judge(c: Presented) -> list[tuple[str, str]]:
        eku = c.leaf["extended_key_usage"]
        if eku is None:
            return [(FAIL, f"{c.name} has no extendedKeyUsage, so it does not assert serverAuth")]
        purposes = ", ".join(eku["purposes"]) or "none"
        if eku["any"]:
            return [(FAIL, f"{c.name} asserts anyExtendedKeyUsage (purposes: {purposes})")]
        if "serverAuth" not in eku["purposes"]:
            return [(FAIL, f"{c.name} does not assert serverAuth (purposes: {purposes})")]
        return [(PASS, f"{c.name} asserts {purposes}")]

    return _certificate_check(ctx, judge, "extended_key_usage")


def _usage_needed(kind: str, flags: set[str]) -> tuple[str, str] | None:
    """(what the certificate is, the keyUsage bit it needs), None for an unknown key type."""
    if kind in ("RSA", "DSA", "Ed25519", "Ed448"):
        return f"{kind} signature", "digitalSignature"
    if kind == "EC":
        if "keyAgreement" in flags and "digitalSignature" not in flags:
            return "static ECDH", "keyAgreement"
        return "ECDSA signature", "digitalSignature"
    if kind in ("DH", "X25519", "X448"):
        return f"static {kind}", "keyAgreement"
    return None


@check("certificate_key_usage")
def check_certificate_key_usage(ctx: Context, control: Control) -> Verdict:
    def judge(c: Presented) -> list[tuple[str, str]]:
        usage = c.leaf["key_usage"]
        if usage is None:
            return [(FAIL, f"{c.name} has no keyUsage extension")]
        flags = set(usage["flags"])
        said = ", ".join(usage["flags"]) or "no bits"
        needed = _usage_needed(c.leaf["key"]["type"], flags)
        if needed is None:
            return [(UNKNOWN, f"{c.name} has keyUsage {said} for a key of unknown type")]
        what, bit = needed
        items: list[tuple[str, str]] = []
        if bit not in flags:
            items.append((FAIL, f"{c.name} is {_a(what)} certificate without {bit} (has {said})"))
        if not usage["critical"]:
            items.append((FAIL, f"{c.name} has a keyUsage extension not marked critical"))
        return items or [(PASS, f"{c.name} is {_a(what)} certificate with keyUsage {said}")]

    return _certificate_check(ctx, judge, "key", "key_usage")


@check("certificate_subject_alt_name")
def check_certificate_subject_alt_name(ctx: Context, control: Control) -> Verdict:
    def judge(c: Presented) -> list[tuple[str, str]]:
        names = c.leaf["subject_alt_name"]
        if names is None:
            return [(FAIL, f"{c.name} has no subjectAltName extension")]
        if not names["dns"] and not names["ip"]:
            return [(FAIL, f"{c.name} has a subjectAltName with no DNS name or IP address")]
        return [(PASS, f"{c.name} names {_names_said(names['dns'] + names['ip'])}")]

    return _certificate_check(ctx, judge, "subject_alt_name")


def _http(uris: list[str]) -> list[str]:
    return [uri for uri in uris if uri.lower().startswith(("http://", "https://"))]


@check("certificate_access_points")
def check_certificate_access_points(ctx: Context, control: Control) -> Verdict:
    def judge(c: Presented) -> list[tuple[str, str]]:
        aia, points = c.leaf["authority_info_access"], c.leaf["crl_distribution_points"]
        items: list[tuple[str, str]] = []
        if aia is None:
            items.append((FAIL, f"{c.name} has no Authority Information Access extension"))
        else:
            for key, what in (("ca_issuers", "issuing CA's certificate"), ("ocsp", "OCSP")):
                if not _http(aia[key]):
                    items.append((FAIL, f"{c.name} gives no HTTP address for the {what}"))
        if points is not None:
            used = [name for field, name in CRL_FIELDS if points[field]]
            if used:
                items.append(
                    (FAIL, f"{c.name} has a CRL distribution point using {', '.join(used)}")
                )
        if items:
            return items
        crl = f"; CRLs from {_names_said(points['uris'])}" if points and points["uris"] else ""
        return [
            (
                PASS,
                f"{c.name} gives the issuer at {_names_said(_http(aia['ca_issuers']))} and OCSP"
                f" at {_names_said(_http(aia['ocsp']))}{crl}",
            )
        ]

    return _certificate_check(ctx, judge, "authority_info_access", "crl_distribution_points")


@check("legacy_signature_consistency")
def check_legacy_signature_consistency(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None
        old = [p for p in (Protocol.TLSV1, Protocol.TLSV1_1) if s.eff.protocols[p]]
        if not old:
            return [(NA, f"{s.label} offers no version before TLS 1.2")]
        versions = ", ".join(_said(s.eff, p) for p in old)
        c, why = _presented(s)
        if c is None:
            reason = why[0][1] if why else f"no certificate of {s.label} was seen by the probe"
            return [(UNKNOWN, f"{s.label} has {versions}; {reason}")]
        kind, signature = c.leaf["key"]["type"], c.leaf["signature"]
        family, expected = signature.get("family"), CONSISTENT_FAMILY.get(kind)
        key = _a(_key_said(c.leaf["key"]))
        said = f"{c.name} has {key} key signed with {signature['algorithm']}"
        if expected is None or family in (None, "unknown"):
            return [(UNKNOWN, f"{s.label} has {versions}; {said}, not judged")]
        if family != expected:
            return [(WARN, f"{s.label} has {versions}; {said}, not {expected}")]
        return [(PASS, f"{s.label} has {versions}; {said}")]

    return _design_check(ctx, "server", judge)


# --- §3.6 sessions ---------------------------------------------------------------------------


def _lifetime_items(ctx: Context, s: ServiceFacts) -> list[tuple[str, str]]:
    assert s.adv is not None
    limit = ctx.params["session_max_lifetime_seconds"]
    items: list[tuple[str, str]] = []
    if int(s.adv["gsk_v3_session_timeout"]) > limit:
        items.append(
            (WARN, f"{s.label} has {s.adv.said('gsk_v3_session_timeout')}, above {limit} s")
        )
    if s.adv["gsk_session_ticket_server_enable"] and (
        int(s.adv["gsk_session_ticket_server_timeout"]) > limit
    ):
        items.append(
            (
                WARN,
                f"{s.label} has {s.adv.said('gsk_session_ticket_server_timeout')}, above {limit} s",
            )
        )
    if not items:
        items.append(
            (
                PASS,
                f"{s.label} keeps sessions at most {limit} s"
                f" ({s.adv.said('gsk_v3_session_timeout')},"
                f" {s.adv.said('gsk_session_ticket_server_timeout')})",
            )
        )
    return items


@check("session_resumption")
def check_session_resumption(ctx: Context, control: Control) -> Verdict:
    return _design_check(ctx, "server", lambda s: _lifetime_items(ctx, s))


@check("per_session")
def check_per_session(ctx: Context, control: Control) -> Verdict:
    verdict = _design_check(ctx, None, lambda s: _lifetime_items(ctx, s))
    verdict.notes.append(
        "Each connection mapped to a rule gets its own TLS handshake from AT-TLS; what is"
        " judged is how long a resumed session may outlive it."
    )
    return verdict


# --- §4 z/OS as client ----------------------------------------------------------------------


@check("client_protocol_versions")
def check_client_protocol_versions(ctx: Context, control: Control) -> Verdict:
    old_outcome = FAIL if ctx.government else WARN
    missing13 = FAIL if ctx.tls13_mandatory else WARN

    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        items: list[tuple[str, str]] = []
        if s.secured:
            assert s.eff is not None
            eff = s.eff
            for protocol in (Protocol.SSLV2, Protocol.SSLV3):
                if eff.protocols[protocol]:
                    items.append((FAIL, f"{s.label} has {_said(eff, protocol)}"))
            if not eff.protocols[Protocol.TLSV1_2] and not eff.protocols[Protocol.TLSV1_3]:
                items.append((FAIL, f"{s.label} has TLSv1.2 and TLSv1.3 Off"))
            if not eff.protocols[Protocol.TLSV1_3]:
                items.append(
                    (
                        missing13,
                        f"{s.label} has {_said(eff, Protocol.TLSV1_3)}; TLS 1.3 is required from"
                        f" {ctx.params['tls13_mandatory_from']}",
                    )
                )
            for protocol in (Protocol.TLSV1, Protocol.TLSV1_1):
                if eff.protocols[protocol]:
                    items.append((old_outcome, f"{s.label} has {_said(eff, protocol)}"))
            if not items:
                items.append(
                    (
                        PASS,
                        f"{s.label} offers {', '.join(p.value for p in eff.enabled_protocols)}",
                    )
                )
        for protocol in ("SSLv2", "SSLv3"):
            items += _observed_version(ctx, s, protocol, FAIL)
        for protocol in ("TLSv1", "TLSv1.1"):
            items += _observed_version(ctx, s, protocol, old_outcome)
        return items

    verdict = _judge([s for s in ctx.services if s.role == "client"], judge)
    verdict.notes += _uncovered_note(ctx, "client")
    verdict.empty = _empty_for(ctx, "client")
    return verdict


@check("client_suites")
def check_client_suites(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        return (
            _suites_items(ctx, s)
            + _rsa_kt_items(ctx, s)
            + _tls13_suite_items(ctx, s)
            + _fips_items(ctx, s)
        )

    return _design_check(ctx, "client", judge)


@check("client_extensions")
def check_client_extensions(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.adv is not None
        items = _ems_items(s)
        if items and items[0][0] == PASS:
            items = [(PASS, f"{items[0][1]}, {s.adv.said('client_handshake_sni')}")]
        return items

    return _design_check(ctx, "client", judge)


@check("client_server_authentication")
def check_client_server_authentication(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        return _key_size_items(ctx, s, "server") + _revocation_items(s, "server") + _path_items(s)

    return _design_check(ctx, "client", judge)


# --- SP 800-207 -----------------------------------------------------------------------------


def _not_in_force(s: ServiceFacts) -> str:
    stack = s.stack
    if s.eff is not None and not s.eff.ttls_enabled:
        return (
            f"{s.label} has TTLSEnabled Off (group {s.eff.group_action}): its connections are"
            " in cleartext"
        )
    if not s.included:
        return f"service {s.name} ({stack.label}) is excluded from the design: no rule is written"
    if stack.target is None:
        return f"service {s.name}: nothing has been deployed to {stack.label}"
    if stack.parse_error:
        return f"service {s.name}: {stack.version_label} on {stack.label}: {stack.parse_error}"
    return f"service {s.name} has no rule in {stack.version_label} deployed to {stack.label}"


@check("coverage")
def check_coverage(ctx: Context, control: Control) -> Verdict:
    verdict = Verdict()
    for s in ctx.services:
        if s.secured:
            stack = s.stack
            text = f"{s.label} of {stack.version_label} is in force"
            if s.in_scope_since is not None and s.in_scope_since <= ctx.period_start:
                text += " throughout the period"
            elif s.in_scope_since is not None:
                text += f" since {_day(s.in_scope_since)}"
            verdict.findings.append(Finding(PASS, text, service=s))
        else:
            verdict.findings.append(Finding(FAIL, _not_in_force(s), service=s))
    verdict.empty = (NA, "no service in scope")
    covered = sum(1 for s in ctx.services if s.secured)
    verdict.evidence["services_in_scope"] = len(ctx.services)
    verdict.evidence["services_covered"] = covered
    verdict.evidence["share_covered"] = (
        round(covered / len(ctx.services), 4) if ctx.services else None
    )
    return verdict


@check("cleartext")
def check_cleartext(ctx: Context, control: Control) -> Verdict:
    tolerance = ctx.params["unprotected_connection_tolerance"]
    verdict = Verdict()
    for s in ctx.services:
        hours = s.hours
        live = s.live or {}
        if s.secured:
            since = s.in_scope_since or ctx.period_start
            after = [(h, n) for h, n in hours.cleartext_hours if h >= since]
            count = sum(n for _, n in after)
            run = s.stack.latest_run
            live_clear = live.get("cleartext_in_scope") or 0
            live_after = run is not None and run["at"] >= since
            if count > tolerance:
                last = max(h for h, _ in after)
                verdict.findings.append(
                    Finding(
                        FAIL,
                        f"{count} cleartext connection(s) on {s.label} since the rule came into"
                        f" force ({_day(since)}), the last in the hour from {_day(last)}",
                        service=s,
                    )
                )
            elif live_after and live_clear > tolerance:
                verdict.findings.append(
                    Finding(
                        FAIL,
                        f"the latest verification (run {run['uuid'][:8]}) saw {live_clear}"
                        f" cleartext connection(s) on {s.label}",
                        service=s,
                    )
                )
            elif hours.connections:
                verdict.findings.append(
                    Finding(
                        PASS,
                        f"{s.label}: {hours.secured} of {hours.connections} connection(s) in the"
                        f" period secured, none in cleartext since {_day(since)}",
                        service=s,
                    )
                )
            elif live.get("connections"):
                verdict.findings.append(
                    Finding(
                        PASS,
                        f"{s.label}: the latest verification saw {live['connections']}"
                        " connection(s), all secured",
                        service=s,
                    )
                )
            else:
                verdict.findings.append(
                    Finding(PASS, f"{s.label}: no connection observed in the period", service=s)
                )
        elif s.eff is not None:
            verdict.findings.append(Finding(FAIL, _not_in_force(s), service=s))
        elif hours.cleartext or live.get("cleartext"):
            count = hours.cleartext or live.get("cleartext")
            verdict.findings.append(
                Finding(
                    FAIL,
                    f"service {s.name} ({s.stack.label}) has no AT-TLS rule: {count}"
                    " connection(s) not secured by AT-TLS in the period (cleartext or the"
                    " application's own TLS)",
                    service=s,
                )
            )
    verdict.empty = (UNKNOWN, "no connection of any service in scope was observed")
    connections = sum(s.hours.connections for s in ctx.services)
    secured = sum(s.hours.secured for s in ctx.services)
    verdict.evidence["observed"] = {
        "connections": connections,
        "secured": secured,
        "cleartext": sum(s.hours.cleartext for s in ctx.services),
        "coverage": round(secured / connections, 4) if connections else None,
        "tolerance": tolerance,
    }
    return verdict


@check("enforcement_point_only")
def check_enforcement_point_only(ctx: Context, control: Control) -> Verdict:
    verdict = Verdict()
    for s in ctx.services:
        if s.direction == "Outbound":
            continue
        if not s.secured:
            verdict.findings.append(
                Finding(
                    FAIL,
                    f"{_not_in_force(s)}: port {s.port} is reachable without the enforcement point",
                    service=s,
                )
            )
            continue
        probe = s.probe or {}
        run = s.stack.latest_run
        if not s.probed or run is None:
            verdict.findings.append(
                Finding(
                    UNKNOWN, f"port {s.port} of {s.label} was not probed in the period", service=s
                )
            )
        elif s.live and s.live.get("probe_tls"):
            verdict.findings.append(
                Finding(
                    PASS,
                    f"port {s.port} of {s.label} answers TLS only"
                    f" ({', '.join(s.probe_protocols)}; probe of run {run['uuid'][:8]})",
                    service=s,
                )
            )
        elif "cleartext" in str(probe.get("error", "")):
            verdict.findings.append(
                Finding(
                    FAIL,
                    f"port {s.port} of {s.label} answered in cleartext (probe of run"
                    f" {run['uuid'][:8]})",
                    service=s,
                )
            )
        else:
            verdict.findings.append(
                Finding(
                    WARN,
                    f"the probe could not confirm TLS on port {s.port} of {s.label}:"
                    f" {probe.get('error') or 'no answer'}",
                    service=s,
                )
            )
    verdict.empty = (NA, "no inbound service in scope")
    return verdict


@check("dynamic_policy")
def check_dynamic_policy(ctx: Context, control: Control) -> Verdict:
    verdict = Verdict()
    open_policy_drift = {
        e.stack_id: e
        for e in ctx.drift
        if e.kind == DriftKind.POLICY
        and e.opened_at <= ctx.eval_at
        and (e.resolved_at is None or e.resolved_at > ctx.eval_at)
    }
    for stack in ctx.stacks:
        if stack.target is None:
            verdict.findings.append(
                Finding(
                    FAIL,
                    f"nothing has been deployed to {stack.label} by the portal: its policy is"
                    " not managed centrally",
                    stack=stack,
                )
            )
        elif stack.id in open_policy_drift:
            event = open_policy_drift[stack.id]
            verdict.findings.append(
                Finding(
                    FAIL,
                    f"the policy loaded on {stack.label} differs from {stack.version_label} the"
                    f" portal deployed (drift {event.key} open since {_day(event.opened_at)})",
                    stack=stack,
                )
            )
        else:
            verdict.findings.append(
                Finding(
                    PASS,
                    f"{stack.label} runs {stack.version_label} as deployed by the portal"
                    f" ({stack.target.sha256[:12]})",
                    stack=stack,
                )
            )
    for s in ctx.with_rules():
        assert s.rule is not None
        who = [f"Jobname {s.rule.jobname}"] if s.rule.jobname else []
        who += [f"Userid {s.rule.userid}"] if s.rule.userid else []
        if who:
            verdict.findings.append(
                Finding(PASS, f"{s.label} identifies its workload by {', '.join(who)}", service=s)
            )
        else:
            verdict.findings.append(
                Finding(
                    WARN,
                    f"{s.label} matches by address and port only (no Jobname or Userid)",
                    service=s,
                )
            )
    verdict.empty = (NA, "no stack in scope")
    return verdict


def _period_hours(ctx: Context) -> int:
    seconds = (ctx.observed_until - ctx.period_start).total_seconds()
    return max(1, math.ceil(seconds / 3600))


@check("continuous_monitoring")
def check_continuous_monitoring(ctx: Context, control: Control) -> Verdict:
    verdict = Verdict()
    wanted = ctx.params["monitoring_min_hour_coverage"]
    hours = _period_hours(ctx)
    for stack in ctx.stacks:
        if stack.connection is None:
            verdict.findings.append(
                Finding(
                    FAIL, f"{stack.lpar} is not connected to the portal: not monitored", stack=stack
                )
            )
            continue
        if stack.runs == 0:
            verdict.findings.append(
                Finding(
                    FAIL,
                    f"{stack.label} had no successful verification run in the period"
                    f" ({stack.runs_failed} failed)",
                    stack=stack,
                )
            )
            continue
        share = min(1.0, stack.run_hours / hours)
        text = (
            f"{stack.label}: {stack.runs} successful verification run(s) in the period, in"
            f" {stack.run_hours} of its {hours} hour(s) ({share:.0%})"
        )
        if stack.runs_failed:
            text += f"; {stack.runs_failed} run(s) failed"
        if not stack.connection.enabled:
            verdict.findings.append(
                Finding(WARN, f"{text}; verification of {stack.lpar} is disabled", stack=stack)
            )
        elif share < wanted:
            verdict.findings.append(Finding(WARN, f"{text}, below {wanted:.0%}", stack=stack))
        else:
            verdict.findings.append(Finding(PASS, text, stack=stack))
    verdict.empty = (NA, "no stack in scope")
    verdict.evidence["period_hours"] = hours
    return verdict


@check("traffic_metadata")
def check_traffic_metadata(ctx: Context, control: Control) -> Verdict:
    verdict = Verdict()
    for stack in ctx.stacks:
        if stack.runs == 0:
            verdict.findings.append(
                Finding(
                    FAIL,
                    f"no connection metadata of {stack.label} was collected in the period",
                    stack=stack,
                )
            )
        elif stack.runs_parse_failed:
            verdict.findings.append(
                Finding(
                    WARN,
                    f"{stack.runs_parse_failed} of {stack.runs} verification run(s) of"
                    f" {stack.label} kept output that did not parse: their metadata is"
                    " incomplete",
                    stack=stack,
                )
            )
        else:
            verdict.findings.append(
                Finding(
                    PASS,
                    f"{stack.runs} verification run(s) of {stack.label} recorded rule, protocol"
                    " and cipher of every connection (netstat), all parsed",
                    stack=stack,
                )
            )
    verdict.empty = (NA, "no stack in scope")
    return verdict


def _handshake_failures(ctx: Context) -> dict[str, Any]:
    return {
        stack.label: (stack.latest_run["results"].get("handshake_failures_total") or {})
        for stack in ctx.stacks
        if stack.latest_run is not None
    }


@check("strict_authentication")
def check_strict_authentication(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        if not s.client_auth:
            return [
                (
                    WARN,
                    f"{s.label} does not ask for a client certificate: TLS does not"
                    " authenticate the source",
                )
            ]
        return (
            _client_auth_items(s)
            + _path_items(s)
            + _key_size_items(ctx, s, "client")
            + _revocation_items(s, "client")
        )

    verdict = _design_check(ctx, "server", judge)
    verdict.evidence["handshake_failures"] = _handshake_failures(ctx)
    return verdict


@check("telemetry")
def check_telemetry(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None
        if s.eff.trace & 2:
            return [(PASS, f"{s.label} logs AT-TLS errors to syslogd (Trace {s.eff.trace})")]
        return [(WARN, f"{s.label} has Trace {s.eff.trace}: errors are not sent to syslogd")]

    verdict = _design_check(ctx, None, judge)
    for stack in ctx.stacks:
        if stack.runs == 0:
            verdict.findings.append(
                Finding(
                    WARN,
                    f"no verification run collected the AT-TLS messages of {stack.label} in the"
                    " period",
                    stack=stack,
                )
            )
    verdict.evidence["handshake_failures"] = _handshake_failures(ctx)
    return verdict


@check("control_plane")
def check_control_plane(ctx: Context, control: Control) -> Verdict:
    verdict = Verdict()
    for stack in ctx.stacks:
        connection = stack.connection
        if connection is None:
            verdict.findings.append(
                Finding(
                    UNKNOWN,
                    f"{stack.lpar} is not connected to the portal; how its policy is"
                    " distributed is not evidenced",
                    stack=stack,
                )
            )
            continue
        problems = []
        if connection.transport == "zosmf" and not connection.ca_bundle.strip():
            problems.append("z/OSMF TLS is not verified against a configured CA")
        if (connection.transport == "ssh" or connection.ssh_port) and not (
            connection.ssh_host_key.strip()
        ):
            problems.append("the SSH host key is not pinned")
        if problems:
            verdict.findings.append(
                Finding(FAIL, f"{stack.lpar}: {'; '.join(problems)}", stack=stack)
            )
        else:
            how = (
                "z/OSMF over HTTPS verified against the configured CA"
                if connection.transport == "zosmf"
                else "SSH"
            )
            if connection.ssh_port or connection.transport == "ssh":
                how += ", SSH with a pinned host key"
            verdict.findings.append(
                Finding(PASS, f"the portal reaches {stack.lpar} by {how}", stack=stack)
            )
    verdict.empty = (NA, "no stack in scope")
    return verdict


@check("evidence_protection")
def check_evidence_protection(ctx: Context, control: Control) -> Verdict:
    verdict = Verdict()
    if not ctx.params["verify_audit_chain"]:
        verdict.empty = (UNKNOWN, "the audit log was not verified (verify_audit_chain false)")
        return verdict
    from audits.log import verify_chain

    started = time.perf_counter()
    result = verify_chain()
    verdict.evidence["audit_log"] = {
        "entries": result.entries,
        "intact": result.intact,
        "broken_at": result.broken_at,
        "reason": result.reason,
        "head_entry": result.head.sequence if result.head is not None else None,
        "head_sha256": result.head.hash if result.head is not None else None,
        "head_also_recorded_by": "; ".join(result.anchors_held) or None,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if result.intact:
        verdict.findings.append(
            Finding(PASS, f"the audit log's {result.entries} entries verify: the chain is intact")
        )
    else:
        verdict.findings.append(
            Finding(
                FAIL, f"the audit log does not verify at entry #{result.broken_at}: {result.reason}"
            )
        )
    return verdict


# --- SP 800-53 history rules ----------------------------------------------------------------


def _drift_evidence(event: DriftEvent, stacks: Mapping[int, StackFacts]) -> dict[str, Any]:
    detail = event.detail.splitlines()
    return {
        "uuid": str(event.uuid),
        "key": event.key,
        "kind": event.kind,
        "stack": stacks[event.stack_id].label if event.stack_id in stacks else None,
        "service_id": event.service_id,
        "opened_at": _iso(event.opened_at),
        "resolved_at": _iso(event.resolved_at),
        "summary": detail[0] if detail else "",
        "detail_lines": len(detail),
        "opened_by_run": str(event.opened_by_run.uuid) if event.opened_by_run else None,
    }


def _deployment_evidence(deployment: Deployment) -> dict[str, Any]:
    return {
        "uuid": str(deployment.uuid),
        "kind": deployment.kind,
        "status": deployment.status,
        "requested_by": deployment.requested_by.get_username(),
        "approved_by": deployment.approved_by.get_username() if deployment.approved_by else None,
        "approved_at": _iso(deployment.approved_at),
        "started_at": _iso(deployment.started_at),
        "finished_at": _iso(deployment.finished_at),
        "targets": [
            {
                "stack": target.stack.label,
                "version": target.version.number,
                "version_sha256": target.version.sha256,
                "sha256": target.sha256,
                "author": target.version.author.get_username(),
                "removed_rule": target.removed_rule or None,
                "status": target.status,
            }
            for target in scoped_targets(deployment)
        ],
    }


def _incident_evidence(incident: Incident) -> dict[str, Any]:
    return {
        "uuid": str(incident.uuid),
        "kind": incident.kind,
        "stack": incident.stack.label,
        "summary": incident.summary,
        "opened_at": _iso(incident.opened_at),
        "resolved_at": _iso(incident.resolved_at),
        "certificate": incident.certificate.subject if incident.certificate else None,
    }


@check("configuration_drift")
def check_configuration_drift(ctx: Context, control: Control) -> Verdict:
    verdict = Verdict()
    services = {s.id: s for s in ctx.services}
    stacks = {s.id: s for s in ctx.stacks}
    sla = dt.timedelta(minutes=ctx.params["policy_refresh_sla_minutes"])
    troubled: set[int] = set()
    for event in ctx.drift:
        stack = stacks[event.stack_id]
        outcome = WARN if event.kind == DriftKind.UNEXPECTED_RULE else FAIL
        state = f"resolved {_day(event.resolved_at)}" if event.resolved_at else "still open"
        lines = event.detail.splitlines()
        summary = (lines[0].rstrip(":") if lines else event.key) + (
            f" ({len(lines) - 1} line(s) of detail in the event)" if len(lines) > 1 else ""
        )
        text = (
            f"{event.get_kind_display().lower()}: drift event {event.key} on {stack.label}"
            f" opened {_day(event.opened_at)}, {state}. {summary}"
        )
        service = services.get(event.service_id) if event.service_id else None
        verdict.findings.append(Finding(outcome, text, service=service, stack=stack))
        troubled.add(stack.id)
    for deployment in ctx.deployments:
        for target in scoped_targets(deployment):
            stack = stacks.get(target.stack_id)
            if stack is None:
                continue
            if deployment.status in (RunStatus.FAILED, RunStatus.ROLLED_BACK):
                verdict.findings.append(
                    Finding(
                        WARN,
                        f"deployment {str(deployment.uuid)[:8]} of v{target.version.number} to"
                        f" {stack.label} {deployment.get_status_display().lower()}:"
                        f" {(deployment.error or target.error or 'see its step log')[:200]}",
                        stack=stack,
                    )
                )
                troubled.add(stack.id)
            elif deployment.approved_at is not None:
                due = deployment.approved_at + sla
                late = (
                    deployment.finished_at > due
                    if deployment.finished_at
                    else ctx.eval_at > due and not deployment.is_finished
                )
                if late:
                    verdict.findings.append(
                        Finding(
                            WARN,
                            f"deployment {str(deployment.uuid)[:8]} to {stack.label}, approved"
                            f" {_day(deployment.approved_at)}, was not in force within"
                            f" {ctx.params['policy_refresh_sla_minutes']} minutes",
                            stack=stack,
                        )
                    )
                    troubled.add(stack.id)
    for stack in ctx.stacks:
        if stack.id in troubled:
            continue
        if stack.target is None:
            verdict.findings.append(
                Finding(
                    UNKNOWN,
                    f"nothing deployed to {stack.label} by the portal: no approved baseline to"
                    " compare the loaded policy with",
                    stack=stack,
                )
            )
        elif stack.runs == 0:
            verdict.findings.append(
                Finding(
                    UNKNOWN,
                    f"{stack.label} was not verified in the period: drift cannot be excluded",
                    stack=stack,
                )
            )
        else:
            verdict.findings.append(
                Finding(
                    PASS,
                    f"{stack.runs} verification run(s) compared the policy loaded on"
                    f" {stack.label} with {stack.version_label} ({stack.target.sha256[:12]}):"
                    " no drift",
                    stack=stack,
                )
            )
    verdict.empty = (NA, "no stack in scope")
    return verdict


@check("change_approval")
def check_change_approval(ctx: Context, control: Control) -> Verdict:
    verdict = Verdict()
    stacks = {s.id: s for s in ctx.stacks}
    for deployment in ctx.deployments:
        targets = [t for t in scoped_targets(deployment) if t.stack_id in stacks]
        if not targets:
            continue
        short = str(deployment.uuid)[:8]
        versions = ", ".join(
            f"v{t.version.number} of {t.stack.label} by {t.version.author.get_username()}"
            for t in targets
        )
        approver = deployment.approved_by
        requester = deployment.requested_by.get_username()
        authors = {t.version.author_id for t in targets}
        if approver is None:
            if deployment.started_at is None:
                continue  # still waiting for approval: not a change yet
            outcome, text = FAIL, f"deployment {short} ({versions}) ran without an approval"
        elif (
            deployment.kind == DeploymentKind.REMOVE_RULE
            and approver.pk == deployment.requested_by_id
        ):
            outcome, text = (
                WARN,
                f"deployment {short} removed rule"
                f" {', '.join(t.removed_rule for t in targets if t.removed_rule) or '?'}"
                f" by the emergency path, approved by its requester {requester}",
            )
        elif approver.pk in authors:
            outcome, text = (
                FAIL,
                f"deployment {short} ({versions}) was approved by {approver.get_username()},"
                " who published a version it deploys",
            )
        else:
            outcome, text = (
                PASS,
                f"deployment {short} ({versions}), requested by {requester}, approved by"
                f" {approver.get_username()} at {_day(deployment.approved_at)}",
            )
        for target in targets:
            verdict.findings.append(Finding(outcome, text, stack=stacks[target.stack_id]))
    verdict.empty = (NA, "no deployment in the period touched a stack in scope")
    return verdict


# --- the engine -----------------------------------------------------------------------------


def _covers(exception: RiskException, finding: Finding) -> bool:
    if exception.service_id is not None:
        return finding.service is not None and finding.service.id == exception.service_id
    if exception.stack_id is not None:
        stack = finding.service.stack if finding.service is not None else finding.stack
        return stack is not None and stack.id == exception.stack_id
    return True


def _active(exception: RiskException, at: dt.datetime) -> bool:
    revoked = exception.revoked_at is not None and exception.revoked_at <= at
    return not revoked and exception.expires_at > at and exception.created_at <= at


def _exception_target(exception: RiskException) -> str:
    if exception.service is not None:
        return f"service {exception.service.name} ({exception.service.stack.label})"
    if exception.stack is not None:
        return f"stack {exception.stack.label}"
    return "the whole estate"


def _exception_evidence(exception: RiskException, at: dt.datetime) -> dict[str, Any]:
    return {
        "uuid": str(exception.uuid),
        "control_id": exception.control_id,
        "target": _exception_target(exception),
        "owner": exception.owner.get_username(),
        "justification": exception.justification,
        "created_at": _iso(exception.created_at),
        "expires_at": _iso(exception.expires_at),
        "revoked_at": _iso(exception.revoked_at),
        "active": _active(exception, at),
    }


def _rationale(
    control: Control, findings: list[Finding], verdict: Verdict, stale: list[RiskException]
) -> str:
    lines: list[str] = []
    for outcome in (FAIL, WARN, EXCEPTION, UNKNOWN):
        group = [f for f in findings if f.outcome == outcome]
        for finding in group[:LISTED]:
            text = finding.text
            exception = finding.exception
            if exception is not None:
                text += (
                    f" (was {finding.original}; accepted risk for {_exception_target(exception)}"
                    f" until {exception.expires_at:%Y-%m-%d}, owner"
                    f" {exception.owner.get_username()}: {exception.justification.strip()})"
                )
            lines.append(f"{LABEL[outcome]}: {text}")
        if len(group) > LISTED:
            more = len(group) - LISTED
            lines.append(f"{LABEL[outcome]}: and {more} more, listed in the evidence")
    for outcome in (PASS, NA):
        group = [f for f in findings if f.outcome == outcome]
        if not group:
            continue
        if len(group) <= 3:
            lines += [f"{LABEL[outcome]}: {f.text}" for f in group]
        else:
            noun = "services" if all(f.service for f in group) else "subjects"
            if all(f.service is None and f.stack is not None for f in group):
                noun = "stacks"
            lines.append(f"{LABEL[outcome]} for {len(group)} {noun}, e.g. {group[0].text}")
    if not findings:
        outcome, text = verdict.empty
        lines.append(f"{LABEL[outcome]}: {text}")
    for exception in stale:
        ended = (
            f"was revoked on {exception.revoked_at:%Y-%m-%d}"
            if exception.revoked_at is not None
            else f"expired on {exception.expires_at:%Y-%m-%d}"
        )
        why = exception.justification.strip()[:120]
        lines.append(
            f"Note: the exception for {_exception_target(exception)} ({why}) {ended} and no"
            " longer applies."
        )
    lines += [f"Note: {note}" for note in verdict.notes]
    if control.needs:
        lines.append(f"Not evaluated: {control.needs}")
    if control.note:
        lines.append(f"Caveat: {control.note}")
    return "\n".join(lines)


def _finding_evidence(finding: Finding) -> dict[str, Any]:
    item: dict[str, Any] = {
        "outcome": finding.outcome,
        "subject": finding.subject,
        "text": finding.text,
    }
    if finding.service is not None:
        item["service"] = finding.service.uuid
        if finding.service.rule is not None:
            item["rule"] = finding.service.name
    if finding.exception is not None:
        item["exception"] = str(finding.exception.uuid)
        item["original_outcome"] = finding.original
    return item


def _judge_control(ctx: Context, control: Control, common: dict[str, Any]) -> ResultData:
    verdict = CHECKS[control.check](ctx, control)
    findings = verdict.findings
    at = ctx.eval_at
    candidates = [e for e in ctx.exceptions if e.control_id == control.id]
    active = [e for e in candidates if _active(e, at)]
    applied: list[RiskException] = []
    for finding in findings:
        if finding.outcome not in (FAIL, WARN):
            continue
        for exception in active:
            if _covers(exception, finding):
                finding.original, finding.outcome = finding.outcome, EXCEPTION
                finding.exception = exception
                if exception not in applied:
                    applied.append(exception)
                break
    # Exceptions that would cover a finding but have lapsed are named, so a reader sees why
    # an accepted risk shows as FAIL again.
    stale = [
        e
        for e in candidates
        if e not in active and any(f.outcome in (FAIL, WARN) and _covers(e, f) for f in findings)
    ]
    if findings:
        outcome = max((f.outcome for f in findings), key=RANK.__getitem__)
    else:
        outcome = verdict.empty[0]
    counts = Counter(f.outcome for f in findings)
    offending = [f for f in findings if f.outcome in (FAIL, WARN, EXCEPTION, UNKNOWN)]
    evidence: dict[str, Any] = {
        "check": control.check,
        "section": control.section,
        "level": control.level,
        "counts": {k: counts[k] for k in RANK if counts.get(k)},
        "findings": [_finding_evidence(f) for f in offending[:EVIDENCE_FINDINGS]],
        "findings_total": len(offending),
        "rules": sorted({f.service.name for f in offending if f.service and f.service.rule}),
        "services": sorted({f.service.name for f in offending if f.service is not None}),
        **verdict.evidence,
    }
    for source, key in (
        ("design", "versions"),
        ("observed", "verification_runs"),
        ("certificates", "certificates"),
    ):
        if source in control.sources:
            evidence[key] = common[key]
    if "history" in control.sources:
        evidence["drift"] = common["drift"]
        evidence["deployments"] = common["deployments"]
    if applied or stale:
        evidence["exceptions"] = [_exception_evidence(e, at) for e in applied + stale]
    per_service: dict[str, str] = {}
    by_stack: dict[int, list[ServiceFacts]] = defaultdict(list)
    for s in ctx.services:
        by_stack[s.stack.id].append(s)
    for finding in findings:
        subjects = (
            [finding.service]
            if finding.service is not None
            else by_stack.get(finding.stack.id, [])
            if finding.stack is not None
            else []
        )
        for subject in subjects:
            before = per_service.get(subject.uuid)
            if before is None or RANK[finding.outcome] > RANK[before]:
                per_service[subject.uuid] = finding.outcome
    return ResultData(
        control_id=control.id,
        framework=control.framework,
        section=control.section,
        title=control.title,
        outcome=outcome,
        rationale=_rationale(control, findings, verdict, stale),
        evidence=evidence,
        sp800_53=[reference.label for reference in control.sp800_53],
        exception=applied[0] if applied else None,
        per_service=per_service,
    )


def _common_evidence(ctx: Context) -> dict[str, Any]:
    stacks = {s.id: s for s in ctx.stacks}
    return {
        "versions": [stack.version_evidence() for stack in ctx.stacks],
        "verification_runs": ctx.runs_evidence,
        "certificates": [_certificate_evidence(c) for c in ctx.certificates],
        "drift": [_drift_evidence(e, stacks) for e in ctx.drift],
        "deployments": [_deployment_evidence(d) for d in ctx.deployments],
    }


def _summary(ctx: Context, results: list[ResultData], seconds: dict[str, float]) -> dict[str, Any]:
    outcomes = Counter(r.outcome for r in results)
    by_framework: dict[str, Counter[str]] = defaultdict(Counter)
    for result in results:
        by_framework[result.framework][result.outcome] += 1
    protocols: Counter[str] = Counter()
    for s in ctx.services:
        protocols.update(s.hours.protocols)
    connections = sum(s.hours.connections for s in ctx.services)
    secured = sum(s.hours.secured for s in ctx.services)
    latest_connections = latest_secured = 0
    latest_protocols: Counter[str] = Counter()
    for s in ctx.services:
        if s.live:
            latest_connections += s.live.get("connections") or 0
            latest_secured += s.live.get("secured") or 0
            latest_protocols.update(s.live.get("protocols") or {})
    covered = [s for s in ctx.services if s.secured]
    at = ctx.eval_at
    warn_days = dt.timedelta(days=ctx.params["cert_expiry_warning_days"])
    per_service: dict[str, dict[str, str]] = defaultdict(dict)
    for result in results:
        for uuid, outcome in result.per_service.items():
            if outcome in (FAIL, WARN, EXCEPTION, UNKNOWN):
                per_service[uuid][result.control_id] = outcome
    drift_kinds = Counter(e.kind for e in ctx.drift)
    return {
        "catalog": {"version": ctx.catalog.version, "sha256": ctx.catalog.sha256},
        "evaluated_at": _iso(at),
        "controls": len(results),
        "outcomes": {k: outcomes[k] for k in RANK if outcomes.get(k)},
        "by_framework": {fw: dict(c) for fw, c in sorted(by_framework.items())},
        "scope": {
            "kind": ctx.scope_kind,
            "lpars": sorted({s.lpar for s in ctx.stacks}),
            "stacks": len(ctx.stacks),
            "services": len(ctx.services),
        },
        "coverage": {
            "services_in_scope": len(ctx.services),
            "services_covered": len(covered),
            "connections": connections,
            "secured": secured,
            "cleartext": sum(s.hours.cleartext for s in ctx.services),
            "ratio": round(secured / connections, 4) if connections else None,
            "latest": {
                "connections": latest_connections,
                "secured": latest_secured,
                "ratio": (
                    round(latest_secured / latest_connections, 4) if latest_connections else None
                ),
                "protocols": dict(sorted(latest_protocols.items())),
            },
        },
        "protocols": dict(sorted(protocols.items())),
        "tls13": _tls13_share(ctx.services),
        "drift": {
            "events": len(ctx.drift),
            "by_kind": dict(drift_kinds),
            "open_at_end": sum(
                1 for e in ctx.drift if e.resolved_at is None or e.resolved_at > ctx.period_end
            ),
        },
        "incidents": {
            "count": len(ctx.incidents),
            "items": [_incident_evidence(i) for i in ctx.incidents],
        },
        "deployments": len(ctx.deployments),
        "verification_runs": sum(s.runs for s in ctx.stacks),
        "certificates": {
            "count": len(ctx.certificates),
            "expired": sum(1 for c in ctx.certificates if c.not_after <= at),
            "expiring": sum(1 for c in ctx.certificates if at < c.not_after <= at + warn_days),
        },
        "exceptions_applied": sorted(
            {str(r.exception.uuid) for r in results if r.exception is not None}
        ),
        "services": [
            {
                "uuid": s.uuid,
                "name": s.name,
                "stack": s.stack.label,
                "lpar": s.stack.lpar,
                "tier": s.tier,
                "owner_team": s.owner_team,
                "direction": s.direction,
                "covered": s.secured,
                "rule_since": _iso(s.in_scope_since),
                "connections": s.hours.connections,
                "secured": s.hours.secured,
                "cleartext": s.hours.cleartext,
                "protocols": dict(sorted(s.hours.protocols.items())),
                "findings": dict(sorted(per_service.get(s.uuid, {}).items())),
            }
            for s in ctx.services
        ],
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }


def _instant(value: dt.datetime, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise ValueError(f"{name} must be a date-time")
    if timezone.is_naive(value):
        raise ValueError(f"{name} must carry a time zone")
    return value


def assess(
    *,
    scope_kind: str,
    scope: Mapping[str, Any] | None,
    period_start: dt.datetime,
    period_end: dt.datetime,
    parameters: Mapping[str, Any] | None,
    catalog: Catalog,
) -> Evaluation:
    """Evaluates every control; the results, a summary for the assessment row, the parameters."""
    started = time.perf_counter()
    period_start = _instant(period_start, "period_start")
    period_end = _instant(period_end, "period_end")
    if period_end <= period_start:
        raise ValueError("the period must end after it starts")
    missing = sorted(catalog.checks - set(CHECKS))
    if missing:
        raise ValueError(f"the catalog names checks that do not exist: {', '.join(missing)}")
    params = catalog.resolve_parameters(parameters)
    eval_at = params["evaluation_date"] or period_end
    params["evaluation_date"] = eval_at
    ctx = _gather(
        catalog=catalog,
        params=params,
        eval_at=eval_at,
        scope_kind=scope_kind,
        scope=dict(scope or {}),
        period_start=period_start,
        period_end=period_end,
    )
    gathered = time.perf_counter()
    common = _common_evidence(ctx)
    results = [_judge_control(ctx, control, common) for control in catalog.controls]
    judged = time.perf_counter()
    seconds = dict(ctx.queries) | {
        "gather": gathered - started,
        "judge": judged - gathered,
    }
    summary = _summary(ctx, results, seconds)
    summary["seconds"]["total"] = round(time.perf_counter() - started, 3)
    return Evaluation(
        results=results,
        summary=summary,
        parameters=catalog.parameters_to_json(params),
        context=ctx,
    )


def evaluate(
    *,
    scope_kind: str,
    scope: Mapping[str, Any] | None,
    period_start: dt.datetime,
    period_end: dt.datetime,
    parameters: Mapping[str, Any] | None,
    catalog: Catalog,
) -> list[ResultData]:
    """The result of every control of the catalog for this scope and period."""
    return assess(
        scope_kind=scope_kind,
        scope=scope,
        period_start=period_start,
        period_end=period_end,
        parameters=parameters,
        catalog=catalog,
    ).results
