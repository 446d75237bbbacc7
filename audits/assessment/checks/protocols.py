"""Checks of NIST SP 800-52r2 §3.1: protocol versions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from attls.ciphers import Protocol
from audits.assessment.checks.common import (
    _ciphers_where,
    _cite_observations,
    _day,
    _empty_for,
    _judge,
    _protocol_disagreements,
    _said,
    _tls13_codes,
    _uncovered_note,
)
from audits.assessment.checks.registry import check
from audits.assessment.facts import FAIL, PASS, WARN, Context, ServiceFacts, Verdict
from audits.catalog import Control
from fleet.zert.models import ZertProtection

ZERT_PROTECTION = {str(kind): str(kind.label) for kind in ZertProtection}

# --- §3.1 protocol versions -----------------------------------------------------------------


def _observed_version(
    ctx: Context, s: ServiceFacts, protocol: str, outcome: str
) -> list[tuple[str, str]]:
    """Connections of a version seen in the period (zERT's records where the stack has them,
    else netstat's samples), and the probe accepting it."""
    items = []
    count = s.hours.protocols.get(protocol, 0) if s.zert is None else 0
    if s.zert is not None and s.zert.protocols.get(protocol):
        protections = ", ".join(
            f"{n} {ZERT_PROTECTION.get(kind, kind)}"
            for kind, n in sorted(s.zert.by_protocol.get(protocol, {}).items())
        )
        items.append(
            (
                outcome,
                f"zERT recorded {s.zert.protocols[protocol]} {protocol} connection(s) of"
                f" {s.name} in the period ({protections}), the last on"
                f" {s.zert.last_day[protocol]}",
            )
        )
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
    names = {p.value for p in protocols}
    return _cite_observations(ctx, verdict, _protocol_disagreements(subjects, names))


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
    recorded = [s.zert for s in ctx.services if s.zert is not None]
    if recorded:
        tls = sum(n for z in recorded for p, n in z.protocols.items() if p != "cleartext")
        tls13 = sum(z.protocols.get("TLSv1.3", 0) for z in recorded)
        verdict.evidence["observed_by_zert"] = {
            "tls13_connections": tls13,
            "tls_connections": tls,
            "tls13_share": round(tls13 / tls, 4) if tls else None,
        }
    return _cite_observations(ctx, verdict, [])
