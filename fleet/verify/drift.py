"""Drift: the conditions a run finds against what was deployed (the loaded policy, the policy
file, the rules securing connections), opened once, resolved when they clear, mailed."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q

from attls.effective import effective_for_rule
from attls.errors import AttlsError
from attls.policy import parse_policy
from attls.releases import DEFAULT_RELEASE
from attls.reports.compare import compare_policies, compare_report
from fleet import selectors
from fleet.alerts.producers import alert_drift
from fleet.baselines import stack_baseline_capture
from fleet.connectors.base import Connector, ConnectorError, FileMissing
from fleet.models import (
    DeploymentTarget,
    DriftEvent,
    DriftKind,
    TargetStatus,
    VerificationRun,
)
from fleet.verify.outputs import sha256, storable
from fleet.verify.snapshot import Views
from policies.models import Stack

# --- drift ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    kind: str
    key: str
    detail: str
    # Every service the cause affects (one cause, one event).
    services: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileCheck:
    """The policy file as this run read it, against the text it should hold."""

    path: str
    sha256: str | None  # None: not readable this run (file drift not judged)
    expected_sha256: str | None  # None: nothing to compare with (first contact)
    expected_label: str = ""
    error: str = ""
    # When it drifted: the rules whose facts differ between the expected text and the file
    # (by attls.reports.compare), and why they could not be told when a text does not parse.
    changed_rules: tuple[str, ...] = ()
    rules_unknown: str = ""

    @property
    def judged(self) -> bool:
        return self.sha256 is not None and self.expected_sha256 is not None

    @property
    def drifted(self) -> bool:
        return self.judged and self.sha256 != self.expected_sha256


def _read_policy_file(
    run: VerificationRun, connector: Connector, expected: DeploymentTarget | None
) -> tuple[FileCheck, dict[str, Any]]:
    """Reads the stack's policy file (before any other view: a file edited but not yet
    refreshed is found by this run) and compares its hash with what it should hold: what
    the deployment under verification wrote, else last-known-good. The first contact with
    a stack on which nothing was deployed stores the file as the stack's baseline."""
    stack = run.stack
    path = stack.policy_file
    started = time.perf_counter()
    try:
        try:
            text, existed = connector.get_file(path), True
        except FileMissing:
            text, existed = "", False
    except ConnectorError as error:
        entry = {
            "command": f"read {path}",
            "sha256": None,
            "error": str(error)[:500],
            "parsed": False,
            "seconds": round(time.perf_counter() - started, 3),
        }
        return FileCheck(path, None, None, error=str(error)), entry
    found = sha256(text)
    if expected is not None:
        good_sha, label = expected.sha256, f"v{expected.version.number} being deployed"
        good_text = expected.text
    else:
        good = selectors.last_known_good(stack)
        if good is None:
            baseline = stack_baseline_capture(
                stack=stack,
                path=path,
                text=text,
                existed=existed,
                captured_by=f"verification {str(run.uuid)[:8]}",
            )
            good = selectors.LastKnownGood.of_baseline(baseline)
        good_sha, label, good_text = good.sha256, good.label, good.text
    changed: tuple[str, ...] = ()
    unknown = ""
    if found != good_sha:
        changed, unknown = changed_rules(stack, good_text, text)
    entry = {
        "command": f"read {path}",
        "sha256": found,
        "exists": existed,
        "expected_sha256": good_sha,
        "expected": label,
        # The text itself only when it is not the expected one: the evidence of the drift.
        "text": storable(text) if found != good_sha else "",
        "parsed": True,
        "error": "",
        "seconds": round(time.perf_counter() - started, 3),
    }
    return FileCheck(path, found, good_sha, label, "", changed, unknown), entry


def changed_rules(stack: Stack, expected: str, found: str) -> tuple[tuple[str, ...], str]:
    """The rules that differ between the expected policy text and the one found, and, when
    either does not parse, why they cannot be told (then no rule is named)."""
    try:
        differences = compare_policies(
            parse_policy(expected),
            parse_policy(found),
            image=stack.name,
            release=stack.zos_release or DEFAULT_RELEASE,
        )
    except AttlsError as error:
        return (), f"the rules changed cannot be told: {error}"
    return tuple(sorted({d.rule for d in differences})), ""


def in_flux(stack: Stack, since: datetime, until: datetime) -> DeploymentTarget | None:
    """A deployment target that may have changed the stack's file or loaded policy between
    `since` and `until` (a run's snapshot): such a run cannot tell drift from deployment."""
    return (
        DeploymentTarget.objects.filter(stack=stack, started_at__lte=until)
        .filter(Q(finished_at__isnull=True) | Q(finished_at__gte=since))
        .filter(Q(uploaded=True) | Q(status=TargetStatus.RUNNING))
        .select_related("deployment", "version")
        .order_by("-started_at")
        .first()
    )


def _conditions(
    stack: Stack,
    views: Views,
    figures: dict[str, Any],
    deployed: DeploymentTarget | None,
    file: FileCheck | None = None,
) -> tuple[list[Condition], set[str]]:
    """The drift conditions present now, one per cause, and the kinds this run could judge.

    A policy changed out of band (the file, what is loaded, or both) is one cause: one
    condition keyed "policy" that lists every service it affects, including those whose
    connections or probe results contradict the deployed policy. Without it, the probe's
    contradictions are grouped by what they are (a protocol accepted that the policy has
    Off, a secured port that speaks no TLS) and connections secured by another service's
    rule by that rule, each one condition listing its services.
    """
    conditions: list[Condition] = []
    judged: set[str] = set()
    deployed_policy = parse_policy(deployed.text) if deployed is not None else None
    policy_lines: list[str] = []
    policy_services: set[str] = set()
    loaded_drift = False
    if file is not None and file.judged:
        judged.add(DriftKind.FILE)
        if file.drifted:
            policy_lines.append(
                f"The policy file {file.path} changed without a deployment: sha256"
                f" {(file.sha256 or '')[:12]}, expected {file.expected_label}"
                f" (sha256 {(file.expected_sha256 or '')[:12]})."
                + (
                    f" Rules that differ in the file: {', '.join(file.changed_rules)}."
                    if file.changed_rules
                    else ""
                )
                + (f" ({file.rules_unknown})" if file.rules_unknown else "")
            )
            policy_services |= set(file.changed_rules)
    if deployed_policy is not None and deployed is not None and views.pasearch is not None:
        judged.add(DriftKind.POLICY)
        differences = compare_report(deployed_policy, views.pasearch, image=stack.name)
        if differences:
            loaded_drift = True
            lines = "\n".join(str(d) for d in differences[:50])
            more = f"\n(and {len(differences) - 50} more)" if len(differences) > 50 else ""
            policy_lines.append(
                f"The loaded policy differs from v{deployed.version.number} deployed"
                f" ({deployed.sha256[:12]}):\n{lines}{more}"
            )
            policy_services |= {d.rule for d in differences}
    consequences: list[tuple[str, str, str]] = []  # (group key, service, line)
    if views.connections is not None and deployed_policy is not None:
        judged.add(DriftKind.UNEXPECTED_RULE)
        for name, entry in figures["services"].items():
            if not entry["in_scope"]:
                continue
            for rule in sorted({u["rule"] for u in entry["unexpected_rule"]}):
                count = sum(1 for u in entry["unexpected_rule"] if u["rule"] == rule)
                consequences.append(
                    (
                        f"unexpected-rule:{rule}",
                        name,
                        f"{count} connection(s) of {name} are secured by rule {rule},"
                        f" not by {name}",
                    )
                )
    if deployed_policy is not None and views.probe:
        judged.add(DriftKind.PROBE)
        for name, entry in figures["services"].items():
            rule = deployed_policy.rules.get(name)
            result = views.probe.get(name)
            if rule is None or result is None or result.get("tls") is None:
                continue  # not in scope, or not probed: nothing to contradict
            effective = effective_for_rule(deployed_policy, rule, release=stack.zos_release)
            if not effective.ttls_enabled:
                continue
            allowed = {p.value for p in effective.enabled_protocols}
            if not result.get("tls"):
                consequences.append(
                    (
                        "probe:no-tls",
                        name,
                        f"{name}: the policy secures this port, but it does not speak TLS",
                    )
                )
            for protocol in sorted(set(entry["probe_protocols"]) - allowed):
                consequences.append(
                    (
                        f"probe:accepts:{protocol}",
                        name,
                        f"{name}: port {result['zos_port']} accepts {protocol},"
                        " which the policy has Off",
                    )
                )
    if policy_lines:
        for _, name, line in consequences:
            policy_services.add(name)
            policy_lines.append(line)
        names = tuple(sorted(policy_services))
        conditions.append(
            Condition(
                DriftKind.POLICY if loaded_drift else DriftKind.FILE,
                "policy",
                "\n".join(policy_lines)
                + (f"\nServices affected: {', '.join(names)}" if names else ""),
                names,
            )
        )
        return conditions, judged
    grouped: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key, name, line in consequences:
        grouped[key].append((name, line))
    for key, entries in grouped.items():
        names = tuple(sorted({name for name, _ in entries}))
        kind = DriftKind.UNEXPECTED_RULE if key.startswith("unexpected-rule:") else DriftKind.PROBE
        conditions.append(
            Condition(
                kind,
                key,
                "\n".join(line for _, line in entries) + f"\nServices affected: {', '.join(names)}",
                names,
            )
        )
    return conditions, judged


def _apply_drift(
    run: VerificationRun, conditions: list[Condition], judged: set[str], now: datetime
) -> list[DriftEvent]:
    """Opens events for new conditions (once), resolves open ones whose condition cleared."""
    stack = run.stack
    opened: list[DriftEvent] = []
    keys = {c.key for c in conditions}
    open_events = {e.key: e for e in DriftEvent.objects.filter(stack=stack, resolved_at=None)}
    services = {s.name: s for s in stack.services.all()}
    for condition in conditions:
        single = services.get(condition.services[0]) if len(condition.services) == 1 else None
        event = open_events.get(condition.key)
        if event is not None:
            DriftEvent.objects.filter(pk=event.pk).update(
                last_seen_at=now,
                detail=condition.detail,
                kind=condition.kind,
                services=list(condition.services),
                service=single,
            )
            continue
        event = DriftEvent.objects.create(
            stack=stack,
            service=single,
            services=list(condition.services),
            kind=condition.kind,
            key=condition.key,
            detail=condition.detail,
            opened_at=now,
            last_seen_at=now,
            opened_by_run=run,
        )
        opened.append(event)
        alert_drift(event, condition)
    for key, event in open_events.items():
        if key not in keys and event.kind in judged:
            DriftEvent.objects.filter(pk=event.pk).update(resolved_at=now)
    return opened
