"""The period's facts, read once: design, observations and history of the scope."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import defaultdict
from typing import Any

from django.db.models import Count, F, Func, IntegerField, Max, Q, QuerySet, Sum, TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, TruncHour

from attls import ciphers
from attls.ciphers import NistStatus
from attls.effective import EffectiveResolver, resolve_block
from attls.errors import AttlsError
from attls.policy import (
    Policy,
    TTLSEnvironmentAdvancedParms,
    TTLSGskAdvancedParms,
    TTLSGskHttpCdpParms,
    TTLSGskLdapParms,
    TTLSGskOcspParms,
    parse_policy,
)
from audits import period
from audits.assessment import defaults
from audits.assessment.facts import (
    DEPRECATED,
    PROTOCOL_KEYS,
    Advanced,
    Context,
    ServiceFacts,
    StackFacts,
    ZertFacts,
    _iso,
)
from audits.campaigns import campaign_evidence
from audits.catalog import Catalog
from audits.models import RiskException
from audits.scope import Scope
from audits.scope import resolve as resolve_scope
from fleet.models import (
    Certificate,
    DeploymentTarget,
    LparConnection,
    RunStatus,
    TargetStatus,
    VerificationRun,
)
from fleet.selectors import deployed_target
from fleet.zert.models import ZertProtection
from policies.models import Service


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
        adv = resolve_block(env.advanced, env.advanced_ref, policy.environment_advanced_parms)
        gsk = resolve_block(env.gsk_advanced, env.gsk_advanced_ref, policy.gsk_advanced_parms)
    if gsk is not None:
        ocsp = resolve_block(gsk.gsk_ocsp, gsk.gsk_ocsp_ref, policy.gsk_ocsp_parms)
        cdp = resolve_block(gsk.gsk_http_cdp, gsk.gsk_http_cdp_ref, policy.gsk_http_cdp_parms)
        ldap = resolve_block(gsk.gsk_ldap, gsk.gsk_ldap_ref, policy.gsk_ldap_parms)
    here = f"environment {environment_name}"
    for statement, table in (
        (adv, defaults.ADVANCED),
        (gsk, defaults.GSK),
        (ocsp, defaults.OCSP),
        (cdp, defaults.HTTP_CDP),
        (ldap, defaults.LDAP),
    ):
        for name, default in table.items():
            value = getattr(statement, name) if statement is not None else None
            if value is None:
                values[name], origin[name] = default, "z/OS default: no action sets it"
            else:
                values[name], origin[name] = value, here
    return Advanced(values, origin)


# --- gathering ------------------------------------------------------------------------------


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
                model=service.stack,
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

    # zERT before the roll-ups: the suites zERT saw are among those the roll-ups sum.
    started = time.perf_counter()
    zert = _zert(stacks, services, period_start, period_end)
    clock["zert"] = time.perf_counter() - started

    started = time.perf_counter()
    assert in_scope.query is not None
    _hours(services, in_scope.query, period_start, period_end)
    days = period.coverage_by_day(in_scope.query.values("id"), period_start, period_end)
    clock["hours"] = time.perf_counter() - started

    started = time.perf_counter()
    in_scope_ids = {s.id for s in services}
    drift = in_scope.drift(period_start, period_end)
    deployments = in_scope.deployments(period.deployments_in(period_start, period_end))
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
    campaigns = campaign_evidence(in_scope, period_start, period_end)
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
        days=days,
        queries=clock,
        zert=zert,
        campaigns=campaigns,
    )


def _design(
    stacks: dict[int, StackFacts], eval_at: dt.datetime, period_start: dt.datetime, scope: Scope
) -> None:
    """The version deployed to each stack at `eval_at`, parsed, and when each rule came in.

    The current target is `fleet.selectors.deployed_target` at the evaluation instant (the
    last successful target by finish time), which keeps a past period's design honest; the
    history read here only says since when each rule has been in force.
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
        # a succeeded target has finished (finished_at is set with its status)
        before = [t for t in targets if t.finished_at is not None and t.finished_at < period_start]
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
        # What is deployed there at the evaluation instant: the one definition of it
        # (fleet.selectors.deployed_target), the last of the history read above.
        stack.target = deployed_target(stack.model, at=eval_at)
        assert stack.target is not None  # the history above holds it
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


class _KeyText(Func):
    """The value of a JSON object's string key, as text. Django's KT reads a key of digits
    (cipher code "0005") as an array index, which finds nothing in an object."""

    output_field = TextField()

    def __init__(self, column: str, key: str) -> None:
        super().__init__(F(column))
        self.key = key

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} ->> %s)", [*params, self.key]

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"JSON_EXTRACT({sql}, %s)", [*params, "$." + json.dumps(self.key)]


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
    window = period.service_hours(scoped.values("id"), period_start, period_end)
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
        if service.zert is not None:
            interesting.update(service.zert.at_tls_ciphers)
    interesting = {
        code
        for code in interesting
        if (suite := ciphers.get(code)) is None or suite.nist_800_52r2 is not NistStatus.APPROVED
    }
    if not interesting:
        return
    codes = sorted(interesting)[:200]
    cipher_sums = {f"c{i}": _int_sum(_KeyText("ciphers", code)) for i, code in enumerate(codes)}
    for row in window.values("service_id").annotate(**cipher_sums):
        found = {code: row[f"c{i}"] for i, code in enumerate(codes) if row[f"c{i}"]}
        by_id[row["service_id"]].hours.ciphers = found


def _zert(
    stacks: dict[int, StackFacts],
    services: list[ServiceFacts],
    period_start: dt.datetime,
    period_end: dt.datetime,
) -> dict[str, Any]:
    """zERT's figures of the period (audits.period), where the stack has zERT records.

    A service of such a stack gets its figures even when zERT recorded none of its connections:
    zERT records every connection that ends on the stack, so none recorded is a figure too.
    Returns the scope's totals and the dumps behind them, JSON-ready, for the summary.
    """
    present = period.zert_stacks(stacks, period_start, period_end)
    by_id: dict[int, ServiceFacts] = {}
    for stack_id, facts in present.items():
        stack = stacks[stack_id]
        stack.zert = facts
        for service in stack.services:
            service.zert = ZertFacts()
            by_id[service.id] = service
    totals = ZertFacts()
    if by_id:
        rows = (
            period.zert_daily(list(by_id), period_start, period_end)
            .values("service_id", "protection", "protocol", "cipher")
            .annotate(
                connections=Sum("connections"),
                changed=Sum("changed"),
                records=Sum("records"),
                last=Max("day"),
            )
            .order_by()
        )
        for row in rows:
            for figures in (by_id[row["service_id"]].zert, totals):
                assert figures is not None
                _add_zert(figures, row)
    first, last = period.zert_days(period_start, period_end)
    encrypted = sum(n for kind, n in totals.protections.items() if kind != ZertProtection.NONE)
    return {
        "records": totals.records,
        "connections": totals.connections,
        "encrypted": encrypted,
        "encrypted_share": (
            round(encrypted / totals.connections, 4) if totals.connections else None
        ),
        "by_protection": dict(sorted(totals.protections.items())),
        "protocols": dict(sorted(totals.protocols.items())),
        "days": {"first": first.isoformat(), "last": last.isoformat()},
        "services": len(by_id),
        "stacks": [
            {
                "stack": stacks[stack_id].label,
                "records": facts["records"],
                "first": facts["first"].isoformat(),
                "last": facts["last"].isoformat(),
            }
            for stack_id, facts in sorted(present.items(), key=lambda i: stacks[i[0]].label)
        ],
        "without_zert": sorted(s.label for s in stacks.values() if s.zert is None),
        "dumps": period.zert_dumps(present, period_start, period_end) if present else [],
    }


def _add_zert(figures: ZertFacts, row: dict[str, Any]) -> None:
    connections, records = row["connections"] or 0, row["records"] or 0
    seen = connections + (row["changed"] or 0)  # each protection a connection had
    protection, protocol, cipher = row["protection"], row["protocol"], row["cipher"]
    figures.records += records
    figures.connections += connections
    figures.protections[protection] = figures.protections.get(protection, 0) + connections
    if protection == ZertProtection.NONE:
        protocol = period.CLEARTEXT
    if not protocol or not seen:
        return  # SSH or IPsec (no TLS version), or records of connections counted elsewhere
    figures.protocols[protocol] = figures.protocols.get(protocol, 0) + seen
    kinds = figures.by_protocol.setdefault(protocol, {})
    kinds[protection] = kinds.get(protection, 0) + seen
    last = figures.last_day.get(protocol)
    figures.last_day[protocol] = row["last"] if last is None else max(last, row["last"])
    if cipher:
        figures.ciphers[cipher] = figures.ciphers.get(cipher, 0) + seen
    if protection == ZertProtection.AT_TLS:
        figures.at_tls_protocols[protocol] = figures.at_tls_protocols.get(protocol, 0) + seen
        if cipher:
            figures.at_tls_ciphers[cipher] = figures.at_tls_ciphers.get(cipher, 0) + seen
