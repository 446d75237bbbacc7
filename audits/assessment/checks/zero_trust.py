"""Checks of NIST SP 800-207: zero-trust tenets."""

from __future__ import annotations

import math
import time
from typing import Any

from audits.assessment.checks.client_auth import (
    _client_auth_items,
    _key_size_items,
    _path_items,
    _revocation_items,
)
from audits.assessment.checks.common import _day, _design_check
from audits.assessment.checks.registry import check
from audits.assessment.facts import (
    FAIL,
    NA,
    PASS,
    UNKNOWN,
    WARN,
    Context,
    Finding,
    ServiceFacts,
    Verdict,
)
from audits.catalog import Control
from fleet.models import (
    DriftKind,
)

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
            elif live_after and live_clear > tolerance and run is not None:
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
            unsecured = hours.cleartext or live.get("cleartext")
            verdict.findings.append(
                Finding(
                    FAIL,
                    f"service {s.name} ({s.stack.label}) has no AT-TLS rule: {unsecured}"
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
