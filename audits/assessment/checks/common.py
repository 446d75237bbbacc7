"""Helpers the checks of several control families share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from attls import ciphers, tlsgroups
from attls.ciphers import CipherSuite, Protocol
from attls.effective import EffectiveSettings
from audits.assessment.facts import (
    LE12,
    NA,
    PASS,
    RANK,
    UNKNOWN,
    Context,
    Finding,
    ServiceFacts,
    Verdict,
)

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
    found: list[tuple[str, CipherSuite | None]] = []
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


def _judge(
    subjects: Iterable[ServiceFacts], judge: Callable[[ServiceFacts], list[tuple[str, str]]]
) -> Verdict:
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


# --- what was observed: zERT where the stack has records, else netstat samples ----------------


def _observed_from(ctx: Context) -> str:
    """Where a check's observed sessions come from, in one sentence (evidence and rationale)."""
    zert = ctx.zert
    stacks = [entry["stack"] for entry in zert.get("stacks", [])]
    if not stacks:
        return (
            "netstat samples (the verifications' hourly roll-ups): no zERT records for the"
            " scope's stacks in the period"
        )
    dumps = len(zert.get("dumps", []))
    days = zert.get("days", {})
    text = (
        f"{zert.get('records', 0):,} zERT records of {', '.join(stacks)}"
        f" ({dumps} dump file{'s' if dumps != 1 else ''}, named with their SHA-256 in the"
        f" evidence; UTC days {days.get('first')} to {days.get('last')}), which record every"
        " connection and so decide over netstat samples"
    )
    without = zert.get("without_zert") or []
    if without:
        text += f"; netstat samples for {', '.join(without)} (no zERT records in the period)"
    return text


def _cite_observations(ctx: Context, verdict: Verdict, disagreements: list[str]) -> Verdict:
    """Names the observations' source in the evidence and the rationale, with every
    disagreement between zERT and netstat."""
    verdict.evidence["observed_from"] = _observed_from(ctx)
    if ctx.zert.get("dumps"):
        verdict.evidence["zert_dumps"] = ctx.zert["dumps"]
    verdict.notes.append(f"Observed from {verdict.evidence['observed_from']}.")
    verdict.notes += disagreements
    return verdict


def _disagreements(
    services: Iterable[ServiceFacts],
    keys: Callable[[str], bool],
    what: str,
    sampled: Callable[[ServiceFacts], dict[str, int]],
    recorded: Callable[[ServiceFacts], dict[str, int]],
) -> list[str]:
    """Where netstat's samples and zERT's AT-TLS records disagree on whether a protocol or suite
    (`keys` says which matter) was negotiated: stated, and zERT decides. Only AT-TLS counts on
    zERT's side: that is all netstat -x sees."""
    notes = []
    for s in services:
        if s.zert is None or not s.hours.rows:
            continue
        netstat, zert = sampled(s), recorded(s)
        for key in sorted(k for k in set(netstat) | set(zert) if keys(k)):
            seen, kept = netstat.get(key, 0), zert.get(key, 0)
            if bool(seen) == bool(kept):
                continue
            notes.append(
                f"zERT and netstat disagree on {s.name} ({s.stack.label}): netstat samples saw"
                f" {seen} AT-TLS {what} {key} session(s), zERT recorded {kept} AT-TLS"
                f" connection(s) with it; zERT, which records every connection, decides."
            )
    return notes


def _protocol_disagreements(services: Iterable[ServiceFacts], names: set[str]) -> list[str]:
    """`_disagreements` on the protocol versions `names`."""
    return _disagreements(
        services,
        names.__contains__,
        "protocol",
        lambda s: s.hours.protocols,
        lambda s: s.zert.at_tls_protocols if s.zert else {},
    )
