"""Lint of each rule's effective settings (its group, environment and connection actions
applied): cleartext rules, missing environments, protocols and cipher suites that cannot work
or that a profile does not allow, and a handshake role against the rule's direction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from attls import ciphers
from attls.ciphers import Protocol
from attls.effective import EffectiveSettings, effective_all
from attls.lint.findings import _MODERN, Finding, Profile, Severity, _rule_finding
from attls.policy.model import Policy

# --- effective settings --------------------------------------------------------------------------

_SERVER_ROLES: Final = frozenset({"Server", "ServerWithClientAuth"})


def _joined(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _suite_label(code: str) -> str:
    suite = ciphers.get(code)
    return f"{code} {suite.iana_name}" if suite is not None else code


def _protocols_of(code: str) -> frozenset[Protocol]:
    suite = ciphers.get(code)
    return suite.protocols if suite is not None else frozenset()


def _settings(policy: Policy, profile: Profile | None, release: str | None) -> list[Finding]:
    """Checks of each rule's effective settings; the work is shared per action triple."""
    findings: list[Finding] = []
    per_actions: dict[tuple[str | None, str | None, str | None], list[_Problem]] = {}
    for name, settings in effective_all(policy, release=release).items():
        if settings.group_action is None or settings.group_action not in policy.group_actions:
            continue  # no group (validate_policy says so) or an undefined one (dangling)
        if not settings.ttls_enabled:
            findings.append(
                _rule_finding(
                    policy,
                    "warning",
                    "cleartext-rule",
                    name,
                    f"TTLSRule '{name}' is cleartext because TTLSGroupAction"
                    f" '{settings.group_action}' has TTLSEnabled Off",
                )
            )
            continue
        if settings.environment_action is None:
            findings.append(
                _rule_finding(
                    policy,
                    "error",
                    "missing-environment",
                    name,
                    f"TTLSRule '{name}' uses TTLSGroupAction '{settings.group_action}', which has"
                    " TTLSEnabled On, but names no TTLSEnvironmentAction",
                )
            )
            continue
        if settings.environment_action not in policy.environment_actions:
            continue  # dangling-reference says so; defaults would only mislead
        key = (settings.group_action, settings.environment_action, settings.connection_action)
        problems = per_actions.get(key)
        if problems is None:
            problems = per_actions[key] = _action_problems(settings, profile)
        for severity, code, detail in problems:
            findings.append(
                _rule_finding(policy, severity, code, name, f"TTLSRule '{name}' {detail}")
            )
        role_problem = _role_problem(settings)
        if role_problem is not None:
            findings.append(
                _rule_finding(
                    policy,
                    "warning",
                    "handshake-role-direction",
                    name,
                    f"TTLSRule '{name}' {role_problem}",
                )
            )
    return findings


# (severity, code, the sentence after "TTLSRule 'name' ")
_Problem = tuple[Severity, str, str]


def _action_problems(settings: EffectiveSettings, profile: Profile | None) -> list[_Problem]:
    """Problems of the settings that depend only on the rule's actions."""
    out: list[_Problem] = []
    for code in settings.not_implemented_suites:
        out.append(
            (
                "error",
                "suite-not-implemented",
                f"lists {_suite_label(code)}, which System SSL on z/OS {settings.release} does not"
                " implement: Policy Agent leaves it out of the list, so a partner that offers"
                " only this suite fails the handshake (return code 402, no cipher suite in"
                " common)",
            )
        )
    enabled = settings.enabled_protocols
    suites = settings.v3_cipher_suites
    default_list = settings.ciphers_from == "system-ssl-default"
    # "... {listing} no cipher suite usable with X": where the list comes from matters.
    listing = "uses the System SSL default cipher list, which has" if default_list else "lists"
    if not enabled:
        out.append(("error", "no-protocol", "has every protocol Off, so no handshake can succeed"))
    else:
        if not _MODERN & set(enabled):
            out.append(
                (
                    "error",
                    "no-modern-protocol",
                    "has TLSv1.2 and TLSv1.3 Off, so only"
                    f" {_joined([p.value for p in enabled])} can be negotiated",
                )
            )
        usable = {p for code in suites for p in _protocols_of(code)}
        if not usable & set(enabled):
            if suites and all(_protocols_of(code) == {Protocol.TLSV1_3} for code in suites):
                out.append(
                    (
                        "error",
                        "no-usable-cipher",
                        f"lists only TLS 1.3 cipher suites ({', '.join(suites)}) but TLSv1.3 is"
                        " Off, so no handshake can succeed",
                    )
                )
            else:
                out.append(
                    (
                        "error",
                        "no-usable-cipher",
                        f"{listing} no cipher suite usable with"
                        f" {_joined([p.value for p in enabled])}, so no handshake can succeed",
                    )
                )
        else:
            for protocol in (Protocol.TLSV1_2, Protocol.TLSV1_3):
                if protocol in enabled and protocol not in usable:
                    out.append(
                        (
                            "warning",
                            "protocol-without-cipher",
                            f"has {protocol.value} On but {listing} no cipher suite usable with"
                            f" it, so {protocol.value} cannot be negotiated",
                        )
                    )
    if profile is not None:
        banned = [p.value for p in enabled if p not in profile.allowed_protocols]
        if banned:
            out.append(
                (
                    "error",
                    "profile-protocol",
                    f"enables {_joined(banned)}, which profile '{profile.name}' does not allow",
                )
            )
        bad_suites = [_suite_label(code) for code in suites if code not in profile.allowed_ciphers]
        if bad_suites:
            out.append(
                (
                    "error",
                    "profile-cipher",
                    f"{listing} cipher suites that profile '{profile.name}' does not allow:"
                    f" {', '.join(bad_suites)}",
                )
            )
    return out


def _role_problem(settings: EffectiveSettings) -> str | None:
    role = settings.handshake_role
    if role is None:
        return None
    source = settings.sources["handshake_role"]
    if source == "connection":
        origin = f"TTLSConnectionAction '{settings.connection_action}'"
    else:
        origin = f"TTLSEnvironmentAction '{settings.environment_action}'"
    if settings.direction == "Outbound" and role in _SERVER_ROLES:
        fix = (
            "set HandshakeRole Client there"
            if source == "connection"
            else "add a TTLSConnectionAction with HandshakeRole Client"
        )
        return f"is Outbound but gets HandshakeRole {role} from {origin}; {fix}"
    if settings.direction == "Inbound" and role == "Client":
        return (
            f"is Inbound but gets HandshakeRole Client from {origin}; an inbound connection"
            " normally needs Server or ServerWithClientAuth"
        )
    return None
