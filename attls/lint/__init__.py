"""Findings about a policy that parses but may not do what its designer meant.

`lint(policy, profile)` returns findings, each with a stable `code`, a sentence that names
the statements involved, and where the statement is defined when the policy came from a
file. Codes, by what they look at:

rules and their order
  shadowed-rule             a rule can never match: an earlier rule matches all it would
  equal-priority-overlap    rules at one priority can match the same connection but use
                            different actions; the winner is decided only by name order
  cleartext-rule            the rule's group has TTLSEnabled Off: its connections are clear
  missing-environment       the rule's group has TTLSEnabled On but it names no environment
the file
  pagent-tolerated          something Policy Agent accepts (the file loads) that is still
                            wrong or unusual: a repeated parameter, a block given inline and
                            by reference, a number for an address, bytes that are not UTF-8...;
                            the message says what Policy Agent makes of it
statements
  dangling-reference        a `...Ref` names a statement that does not exist
  unused-object             a statement no rule uses, directly or through other statements
effective settings (rules whose group has TTLSEnabled On)
  no-protocol               every protocol is Off
  no-modern-protocol        TLSv1.2 and TLSv1.3 are Off: only older versions can be negotiated
  no-usable-cipher          no listed suite can be negotiated with any protocol that is On
  protocol-without-cipher   TLSv1.2 or TLSv1.3 is On but no listed suite works with it
  suite-not-implemented     a listed suite System SSL on the stack's z/OS release does not
                            implement (attls.releases); Policy Agent drops it
  handshake-role-direction  a Server role on an Outbound rule, or Client on an Inbound one
  profile-protocol          (with a profile) a protocol On that the profile does not allow
  profile-cipher            (with a profile) a listed suite the profile does not allow
  check-bounded             the shadowing/overlap search gave up on some rules (too many
                            candidates); nothing is claimed about them

The checks live by family: `references`, `rule_order` (with the condition index that keeps it
fast), `effective_settings`; `findings` holds `Finding` and `Profile`.
"""

from __future__ import annotations

from attls.lint.effective_settings import _settings
from attls.lint.findings import Finding, Profile, Severity
from attls.lint.references import _references
from attls.lint.rule_order import _rule_order_cached
from attls.policy.model import Location, Policy

__all__ = ["Finding", "Profile", "Severity", "lint"]


def lint(
    policy: Policy, profile: Profile | None = None, *, release: str | None = None
) -> list[Finding]:
    """Every finding about the policy on a z/OS release (default 3.1), in file order."""
    findings: list[Finding] = [
        Finding("warning", "pagent-tolerated", w.message, None, Location(w.line, w.column))
        for w in policy.warnings
    ]
    findings.extend(_references(policy))
    findings.extend(_rule_order_cached(policy))
    findings.extend(_settings(policy, profile, release))
    return sorted(findings, key=_sort_key)


def _sort_key(finding: Finding) -> tuple[int, int, int, str, str, str]:
    where = finding.location
    statement = finding.statement or ("", "")
    if where is None:
        return (1, 0, 0, statement[0], statement[1], finding.code)
    return (0, where.line, where.column, finding.code, finding.message, "")
