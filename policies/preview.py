"""The live preview of an unsaved shared object: each stack's policy built in memory with the
edited object substituted for the stored one, so an architect sees what PAGENT would receive
(diff, lint, changed effective settings) before saving. It reuses the generation code rather
than restating it; a per-process cache keeps each stack's unchanged base."""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Model, Sum

from attls.effective import PROTOCOLS, EffectiveSettings, effective_all
from attls.lint import Finding
from attls.policy import (
    Policy,
    TTLSCipherParms,
    TTLSKeyringParms,
)
from policies.diffs import (
    DiffLine,
    Listing,
    diff_rows,
    diff_stats,
    listing,
    truncated,
)
from policies.generation import build_policy, stack_rules
from policies.kinds import SHARED_OBJECT_KINDS
from policies.lint import design_lint
from policies.models import (
    ChangeRecord,
    CipherSet,
    ConnectionAction,
    EnvironmentAction,
    GroupAction,
    Keyring,
    Rule,
    Service,
    Stack,
)
from policies.presenters import (
    FindingRow,
    _statement_text,
    _written,
    finding_rows,
    plural,
    severity_counts,
)
from policies.selectors import shared_object_usage
from policies.services import policy_header


@dataclass(frozen=True)
class RuleChange:
    rule: str
    service_uuid: str | None
    changes: list[str]


@dataclass(frozen=True)
class ChangeGroup:
    changes: list[str]
    rules: list[RuleChange]

    # Rule names shown per group; the rest are counted.
    SHOWN = 40

    @property
    def shown(self) -> list[RuleChange]:
        return self.rules[: self.SHOWN]

    @property
    def hidden(self) -> int:
        return max(0, len(self.rules) - self.SHOWN)


@dataclass
class StackPreview:
    stack: Stack
    text: str
    diff: list[DiffLine]
    findings: list[FindingRow]
    counts: dict[str, int]
    counts_before: dict[str, int]
    changed_rules: list[RuleChange]
    omitted: int = 0  # diff rows left out (see MAX_DIFF_ROWS)
    services: dict[str, str] = field(default_factory=dict)  # rule name -> service UUID

    @property
    def change_groups(self) -> list[ChangeGroup]:
        """Rules with the same change together: one row for the 3,000 rules a shared edit hits."""
        groups: dict[tuple[str, ...], list[RuleChange]] = {}
        for change in self.changed_rules:
            groups.setdefault(tuple(change.changes), []).append(change)
        return [ChangeGroup(list(changes), rules) for changes, rules in groups.items()]

    @property
    def listing(self) -> Listing:
        return listing(self.text)

    @property
    def added(self) -> int:
        return diff_stats(self.diff)[0]

    @property
    def removed(self) -> int:
        return diff_stats(self.diff)[1]


@dataclass
class ObjectPreview:
    rules: int
    stacks: list[StackPreview] = field(default_factory=list)
    statement: str = ""

    @property
    def changed_rules(self) -> int:
        return sum(len(s.changed_rules) for s in self.stacks)

    @property
    def counts(self) -> dict[str, int]:
        total = {"error": 0, "warning": 0, "info": 0}
        for stack in self.stacks:
            for key, value in stack.counts.items():
                total[key] = total.get(key, 0) + value
        return total

    @property
    def summary(self) -> str:
        return f"used by {plural(self.rules, 'rule')} on {plural(len(self.stacks), 'stack')}"


class _RuleWith:
    """A stored rule seen with one of its actions replaced by an unsaved object.

    Cheaper than copying thousands of model instances at every keystroke, and the
    stored rule (cached, shared between requests) is never touched.
    """

    __slots__ = ("_attribute", "_rule", "_value")

    def __init__(self, rule: Rule, attribute: str, value: Model) -> None:
        self._rule = rule
        self._attribute = attribute
        self._value = value

    def __getattr__(self, name: str) -> Any:
        if name == self._attribute:
            return self._value
        return getattr(self._rule, name)


def _substituted(rules: list[Rule], original: Model, edited: Model) -> list[Rule]:
    """The rules with the unsaved object in place of the stored one."""
    attribute = {
        GroupAction: "group_action",
        EnvironmentAction: "environment_action",
        ConnectionAction: "connection_action",
    }.get(type(original))
    if attribute is None:
        return rules
    id_attribute = f"{attribute}_id"
    return [
        _RuleWith(rule, attribute, edited)  # type: ignore[misc]
        if getattr(rule, id_attribute) == original.pk
        else rule
        for rule in rules
    ]


def _patch_leaf(policy: Policy, original: Model, edited: Model) -> None:
    """Key rings and cipher sets are loaded by id during generation: swap the statement."""
    if isinstance(original, CipherSet):
        assert isinstance(edited, CipherSet)
        if original.name not in policy.cipher_parms:
            return
        del policy.cipher_parms[original.name]
        policy.add(TTLSCipherParms(name=edited.name, v3_cipher_suites=tuple(edited.suites)))
        attribute = "cipher_ref"
        collections: tuple[dict[str, Any], ...] = (
            policy.environment_actions,
            policy.connection_actions,
        )
    elif isinstance(original, Keyring):
        assert isinstance(edited, Keyring)
        if original.name not in policy.keyring_parms:
            return
        del policy.keyring_parms[original.name]
        policy.add(TTLSKeyringParms(name=edited.name, keyring=edited.ring))
        attribute = "keyring_ref"
        collections = (policy.environment_actions,)
    else:
        return
    if edited.name == original.name:
        return
    for collection in collections:
        for name, statement in list(collection.items()):
            if getattr(statement, attribute) == original.name:
                collection[name] = dataclasses.replace(statement, **{attribute: edited.name})


def _on_off(value: bool) -> str:
    return "On" if value else "Off"


def effective_changes(before: EffectiveSettings, after: EffectiveSettings) -> list[str]:
    """What a person would notice changing in a rule's effective settings."""
    out: list[str] = []
    if before.ttls_enabled != after.ttls_enabled:
        out.append(f"TTLSEnabled {_on_off(before.ttls_enabled)} → {_on_off(after.ttls_enabled)}")
    for protocol in PROTOCOLS:
        old, new = before.protocols[protocol], after.protocols[protocol]
        if old != new:
            out.append(f"{protocol.value} {_on_off(old)} → {_on_off(new)}")
    if before.v3_cipher_suites != after.v3_cipher_suites:
        removed = [c for c in before.v3_cipher_suites if c not in after.v3_cipher_suites]
        added = [c for c in after.v3_cipher_suites if c not in before.v3_cipher_suites]
        parts = []
        if added:
            parts.append("+" + " +".join(added))
        if removed:
            parts.append("-" + " -".join(removed))
        out.append("ciphers " + (" ".join(parts) if parts else "reordered"))
    for attribute, label in (
        ("handshake_role", "HandshakeRole"),
        ("client_auth_type", "ClientAuthType"),
        ("keyring", "Keyring"),
        ("certificate_label", "CertificateLabel"),
        ("handshake_timeout", "HandshakeTimeout"),
        ("renegotiation", "Renegotiation"),
        ("cert_validation_mode", "CertValidationMode"),
        ("fips140", "FIPS140"),
        ("trace", "Trace"),
    ):
        old, new = getattr(before, attribute), getattr(after, attribute)
        if old != new:
            out.append(f"{label} {old} → {new}")
    return out


def _rule_changes(
    before: Policy,
    effective_before: dict[str, EffectiveSettings],
    after: Policy,
    services_by_name: dict[str, str],
    release: str,
) -> list[RuleChange]:
    effective_after = effective_all(after, release=release)
    changes: list[RuleChange] = []
    for name in sorted(effective_after):
        old = effective_before.get(name)
        if old is None:
            continue
        described = effective_changes(old, effective_after[name])
        if not described and before.rules[name] != after.rules[name]:
            described = ["references renamed"]
        if described:
            changes.append(RuleChange(name, services_by_name.get(name), described))
    return changes


@dataclass(frozen=True)
class _StackBase:
    """A stack's draft as stored: what every preview of an unsaved edit is compared with."""

    fingerprint: tuple[Any, ...]
    rules: list[Rule]
    policy: Policy
    text: str
    findings: list[Finding]
    effective: dict[str, EffectiveSettings]
    services_by_name: dict[str, str]


# A preview is asked for at every pause in typing, and the stored draft it is compared with
# does not change meanwhile: keep the last few, keyed by stack and checked against a
# fingerprint of the design, so only the edited side is generated each time.
_BASES: OrderedDict[str, _StackBase] = OrderedDict()
_BASES_LOCK = threading.Lock()
_BASES_KEPT = 16


def _objects_fingerprint() -> tuple[Any, ...]:
    """Changes anywhere in the design: the change log, and shared objects' last saves."""
    return (
        ChangeRecord.objects.order_by("-id").values_list("id", flat=True).first(),
        *(
            tuple(
                kind.model._default_manager.aggregate(n=Count("id"), at=Max("updated_at")).values()
            )
            for kind in SHARED_OBJECT_KINDS.values()
        ),
    )


def _stack_fingerprint(stack: Stack, objects: tuple[Any, ...]) -> tuple[Any, ...]:
    services = Service.objects.filter(stack=stack).aggregate(
        n=Count("id"), revisions=Sum("revision"), at=Max("updated_at")
    )
    # The release decides defaults and lint, so a change of release is a change of base.
    return (objects, stack.zos_release, *services.values())


def _stack_base(stack: Stack, objects: tuple[Any, ...]) -> _StackBase:
    fingerprint = _stack_fingerprint(stack, objects)
    key = str(stack.uuid)
    with _BASES_LOCK:
        base = _BASES.get(key)
        if base is not None and base.fingerprint == fingerprint:
            _BASES.move_to_end(key)
            return base
    rules = stack_rules(stack)
    policy = build_policy(rules)
    base = _StackBase(
        fingerprint=fingerprint,
        rules=rules,
        policy=policy,
        text=_written(policy, header=policy_header(stack)),
        findings=design_lint(policy, release=stack.zos_release),
        effective=effective_all(policy, release=stack.zos_release),
        services_by_name={rule.service.name: str(rule.service.uuid) for rule in rules},
    )
    with _BASES_LOCK:
        _BASES[key] = base
        _BASES.move_to_end(key)
        while len(_BASES) > _BASES_KEPT:
            _BASES.popitem(last=False)
    return base


def shared_object_preview(*, original: Model, edited: Model) -> ObjectPreview:
    """The policy of every stack that uses `original`, as it would be with `edited` saved.

    `edited` is an unsaved instance carrying the form's values; nothing is written.
    """
    usage = shared_object_usage(original)
    preview = ObjectPreview(rules=usage.rules)
    objects = _objects_fingerprint() if usage.stacks else ()
    for stack in usage.stacks:
        base = _stack_base(stack, objects)
        after = build_policy(_substituted(base.rules, original, edited))
        _patch_leaf(after, original, edited)
        after_text = _written(after, header=policy_header(stack))
        after_findings = design_lint(after, release=stack.zos_release)
        diff, omitted = truncated(
            diff_rows(
                base.text,
                after_text,
                from_label=f"{stack.label} draft",
                to_label=f"{stack.label} draft with your change",
            )
        )
        preview.stacks.append(
            StackPreview(
                stack=stack,
                text=after_text,
                diff=diff,
                omitted=omitted,
                findings=finding_rows(after_findings, before=base.findings),
                counts=severity_counts(after_findings),
                counts_before=severity_counts(base.findings),
                changed_rules=_rule_changes(
                    base.policy, base.effective, after, base.services_by_name, stack.zos_release
                ),
                services=base.services_by_name,
            )
        )
        if not preview.statement:
            preview.statement = _statement_text(after, edited)
    return preview
