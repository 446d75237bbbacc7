"""The designer's lint: `attls` lint with the NIST SP 800-52r2 profile, as the command line runs it.

`python -m attls lint --profile nist` and every page of the designer (the live preview, the
publish page, the import preview) check against one profile, `attls.lint.Profile.nist_800_52r2`:
"lint clean" in the designer means clean against it. The command line reports the profile's
findings as errors (a gate for scripts); the designer shows them as warnings naming the
SP 800-52r2 controls they break, so a design with TLS 1.1 On is still publishable once its
publisher acknowledges them (publishing already needs every warning acknowledged), the way an
exception is recorded rather than hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Final

from attls import ciphers
from attls.ciphers import NistStatus, Protocol
from attls.effective import EffectiveResolver
from attls.lint import Finding, Profile, lint
from attls.policy import Policy

__all__ = ["ControlledFinding", "design_lint", "nist_profile"]

# The control ids of audits/catalog/controls.yaml, so a finding here and a verdict in an
# evidence pack name the same control (tests/policies/test_lint.py holds them to the catalog).
PROTOCOL_CONTROLS: Final = {
    Protocol.SSLV2: "NIST-800-52r2-3.1-no-ssl",
    Protocol.SSLV3: "NIST-800-52r2-3.1-no-ssl",
    Protocol.TLSV1: "NIST-800-52r2-3.1-tls10",
    Protocol.TLSV1_1: "NIST-800-52r2-3.1-tls11",
}
SUITES_CONTROL: Final = "NIST-800-52r2-3.3.1-approved-suites"
RSA_KEY_TRANSPORT_CONTROL: Final = "NIST-800-52r2-AppD-rsa-key-transport"
# A profile finding this module does not know how to place (a check the profile gains later).
WHOLE_PROFILE: Final = "NIST SP 800-52r2"


@dataclass(frozen=True, slots=True)
class ControlledFinding(Finding):
    """A profile finding with the SP 800-52r2 controls it breaks."""

    controls: tuple[str, ...] = ()


@cache
def nist_profile() -> Profile:
    """The profile `attls lint --profile nist` uses (built once; it is immutable)."""
    return Profile.nist_800_52r2()


def design_lint(policy: Policy, *, release: str | None = None) -> list[Finding]:
    """Every lint finding about the policy on a z/OS release (attls.releases; default 3.1),
    the NIST SP 800-52r2 profile's as warnings."""
    profile = nist_profile()
    resolver: EffectiveResolver | None = None
    findings: list[Finding] = []
    for finding in lint(policy, profile, release=release):
        if not finding.code.startswith("profile-"):
            findings.append(finding)
            continue
        if resolver is None:
            resolver = EffectiveResolver(policy, release=release)
        findings.append(
            ControlledFinding(
                severity="warning",
                code=finding.code,
                message=finding.message,
                statement=finding.statement,
                location=finding.location,
                controls=_controls(finding, policy, resolver, profile),
            )
        )
    return findings


def _controls(
    finding: Finding, policy: Policy, resolver: EffectiveResolver, profile: Profile
) -> tuple[str, ...]:
    """The controls the rule's effective settings break, in the order they are listed."""
    collection, name = finding.statement or ("", "")
    rule = policy.rules.get(name) if collection == "rules" else None
    if rule is None:
        return (WHOLE_PROFILE,)
    settings = resolver.for_rule(rule)
    found: list[str] = []
    if finding.code == "profile-protocol":
        found = [
            PROTOCOL_CONTROLS.get(protocol, WHOLE_PROFILE)
            for protocol in settings.enabled_protocols
            if protocol not in profile.allowed_protocols
        ]
    elif finding.code == "profile-cipher":
        for code in settings.v3_cipher_suites:
            if code in profile.allowed_ciphers:
                continue
            suite = ciphers.get(code)
            transition = suite is not None and suite.nist_800_52r2 is NistStatus.TRANSITION
            found.append(RSA_KEY_TRANSPORT_CONTROL if transition else SUITES_CONTROL)
    return tuple(dict.fromkeys(found)) or (WHOLE_PROFILE,)
