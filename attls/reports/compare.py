"""Is the loaded policy the published one? Compare a `pasearch -t` report with a Policy.

The published policy is turned into the report PAGENT would print for it
(`from_policy.pasearch_report`), then both reports are reduced to the same facts per
rule — its conditions, its actions, and what they switch on — and compared. Timestamps,
instance ids and layout play no part, so a refresh that loaded the same policy again
shows no difference, while a rule that is missing, extra or negotiates differently does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from attls.policy.model import Policy
from attls.releases import DEFAULT_RELEASE, RELEASES, release_from_header
from attls.reports.from_policy import pasearch_report
from attls.reports.pasearch import (
    PasearchReport,
    PasearchRule,
    effective_ciphers,
    effective_protocols,
)


@dataclass(frozen=True, slots=True)
class Difference:
    """One fact of one rule that differs. `expected` is the published side."""

    rule: str
    fact: str
    expected: str
    loaded: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.fact} is {self.loaded!r}, published {self.expected!r}"


def _ports(low: int, high: int) -> str:
    return "any" if low == 0 and high == 0 else f"{low}-{high}"


def rule_facts(rule: PasearchRule) -> dict[str, str]:
    """What a rule does, in words both sides can be compared on."""
    condition = rule.condition
    group = rule.detail("Group")
    environment = rule.detail("Environment")
    connection = rule.detail("Connection")
    role = (connection.get("HandshakeRole") if connection else None) or (
        environment.get("HandshakeRole") if environment else None
    )
    ciphers = effective_ciphers(rule)
    return {
        "priority": str(rule.priority),
        "direction": condition.direction,
        "local address": f"{condition.local_addr.from_addr}-{condition.local_addr.to_addr}",
        "remote address": f"{condition.remote_addr.from_addr}-{condition.remote_addr.to_addr}",
        "local ports": _ports(condition.local_port_from, condition.local_port_to),
        "remote ports": _ports(condition.remote_port_from, condition.remote_port_to),
        "job name": condition.job_name,
        "user ID": condition.user_id,
        "group action": rule.action_named("Group") or "",
        "environment action": rule.action_named("Environment") or "",
        "connection action": rule.action_named("Connection") or "",
        "TTLSEnabled": (group.get("TTLSEnabled") if group else None) or "",
        "HandshakeRole": role or "",
        "protocols On": " ".join(effective_protocols(rule)),
        "v3CipherSuites": "(System SSL default)" if ciphers is None else " ".join(ciphers),
        "Keyring": (environment.get("TTLSKeyringParms", "Keyring") if environment else None) or "",
        "ClientAuthType": (
            environment.get("TTLSEnvironmentAdvancedParms", "ClientAuthType")
            if environment
            else None
        )
        or "",
    }


def compare_report(
    published: Policy, loaded: PasearchReport, *, image: str, release: str | None = None
) -> list[Difference]:
    """Every difference between the published policy and what the stack reports, by rule.

    The published policy is installed, in thought, on `release` (by default the z/OS release
    the report's header prints): its defaults, and only the suites it implements.
    """
    if release is None and loaded.release:
        release = release_from_header(f"CS {loaded.release}")
    expected = pasearch_report(
        published,
        image=image,
        instance_id=0,
        installed_at=dt.datetime(2000, 1, 1),
        release=release if release is not None and release in RELEASES else DEFAULT_RELEASE,
    )
    expected_rules = {rule.name: rule for rule in expected.rules}
    loaded_rules = {rule.name: rule for rule in loaded.rules}
    differences: list[Difference] = []
    for name, rule in expected_rules.items():
        other = loaded_rules.get(name)
        if other is None:
            differences.append(Difference(name, "rule", "present", "not loaded"))
            continue
        mine, theirs = rule_facts(rule), rule_facts(other)
        differences.extend(
            Difference(name, fact, value, theirs[fact])
            for fact, value in mine.items()
            if theirs[fact] != value
        )
    differences.extend(
        Difference(name, "rule", "absent", "loaded")
        for name in loaded_rules
        if name not in expected_rules
    )
    return differences


def compare_policies(
    expected: Policy, found: Policy, *, image: str, release: str = DEFAULT_RELEASE
) -> list[Difference]:
    """Every difference, by rule, between two policy texts' models: `found` compared as if
    PAGENT had loaded it, so the facts are those `compare_report` weighs (a reordered or
    re-cased file shows none). Used for a policy file changed out of band but not loaded."""
    loaded = pasearch_report(
        found,
        image=image,
        instance_id=0,
        installed_at=dt.datetime(2000, 1, 1),
        release=release if release in RELEASES else DEFAULT_RELEASE,
    )
    return compare_report(expected, loaded, image=image, release=release)
