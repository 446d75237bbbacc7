"""Checks of NIST SP 800-52r2 §3.4: TLS extensions."""

from __future__ import annotations

from attls import tlsgroups
from attls.ciphers import Protocol
from audits.assessment.checks.common import (
    _design_check,
    _le12,
    _negotiable,
    _said,
    _signature_where,
)
from audits.assessment.checks.registry import check
from audits.assessment.facts import FAIL, NA, PASS, UNKNOWN, WARN, Context, ServiceFacts, Verdict
from audits.catalog import Control

# --- §3.4 extensions ------------------------------------------------------------------------


@check("secure_renegotiation")
def check_secure_renegotiation(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None and s.adv is not None
        if not _le12(s.eff):
            return [(NA, f"{s.label} offers TLS 1.3 only, which has no renegotiation")]
        where = (
            f"environment {s.eff.environment_action}"
            if s.eff.sources.get("renegotiation") == "environment"
            else "AT-TLS default"
        )
        said = f"Renegotiation {s.eff.renegotiation} ({where})"
        if s.eff.renegotiation == "All":
            return [(FAIL, f"{s.label} has {said}, which admits legacy renegotiation")]
        return [(PASS, f"{s.label} has {said}, {s.adv.said('renegotiation_indicator')}")]

    return _design_check(ctx, "server", judge)


@check("server_name_indication")
def check_server_name_indication(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.adv is not None
        said = s.adv.said("server_handshake_sni")
        if s.adv["server_handshake_sni"] == "Off":
            return [(WARN, f"{s.label} has {said}")]
        return [(PASS, f"{s.label} has {said}")]

    return _design_check(ctx, "server", judge)


def _ems_items(s: ServiceFacts) -> list[tuple[str, str]]:
    assert s.eff is not None and s.adv is not None
    if not _le12(s.eff):
        return [(NA, f"{s.label} offers TLS 1.3 only")]
    name = f"{s.role}_extended_master_secret"
    said = s.adv.said(name)
    if s.adv[name] == "Off":
        return [(FAIL, f"{s.label} has {said} while offering TLS 1.2 or earlier")]
    return [(PASS, f"{s.label} has {said}")]


@check("extended_master_secret")
def check_extended_master_secret(ctx: Context, control: Control) -> Verdict:
    return _design_check(ctx, None, _ems_items)


@check("signature_algorithms")
def check_signature_algorithms(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None
        where = _signature_where(s.eff, "signature_pairs")
        weak, strong = [], []
        for code in s.eff.signature_pairs:
            pair = tlsgroups.get_sigalg(code)
            if pair is None:
                continue
            if pair.hash_algorithm in ("SHA1", "SHA224") or pair.signature_algorithm == "DSA":
                weak.append(f"{code} {pair.hash_algorithm}/{pair.signature_algorithm}")
            else:
                strong.append(code)
        items: list[tuple[str, str]] = []
        if not strong:
            items.append((FAIL, f"{s.label} has no SHA-256-or-stronger signature pair ({where})"))
        if weak:
            items.append(
                (
                    WARN,
                    f"{s.label} offers SHA-1, SHA-224 or DSA signature pairs {', '.join(weak)}"
                    f" ({where})",
                )
            )
        if not items:
            items.append((PASS, f"{s.label} offers only SHA-256-or-stronger pairs ({where})"))
        return items

    return _design_check(ctx, None, judge)


@check("ocsp_stapling")
def check_ocsp_stapling(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.adv is not None
        said = s.adv.said("ocsp_server_stapling")
        return [(PASS if s.adv["ocsp_server_stapling"] else FAIL, f"{s.label} has {said}")]

    return _design_check(ctx, "server", judge)


@check("fallback_scsv")
def check_fallback_scsv(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None and s.adv is not None
        old = [p for p in (Protocol.TLSV1, Protocol.TLSV1_1) if s.eff.protocols[p]]
        if not old or s.eff.protocols[Protocol.TLSV1_3]:
            return [(NA, f"{s.label} offers TLS 1.3 or no version before TLS 1.2")]
        said = s.adv.said("server_scsv")
        versions = ", ".join(_said(s.eff, p) for p in old)
        if not s.adv["server_scsv"]:
            return [(FAIL, f"{s.label} has {versions} without TLS 1.3 and {said}")]
        return [(PASS, f"{s.label} has {said}")]

    return _design_check(ctx, "server", judge)


@check("truncated_hmac")
def check_truncated_hmac(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.adv is not None
        said = s.adv.said("truncated_hmac")
        if s.adv["truncated_hmac"]:
            return [(FAIL, f"{s.label} has {said} with no recorded justification")]
        return [(PASS, f"{s.label} has {said}")]

    return _design_check(ctx, None, judge)


@check("encrypt_then_mac")
def check_encrypt_then_mac(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None
        cbc = [
            code
            for code, suite in _negotiable(s.eff)
            if suite is not None and not suite.aead and suite.bulk_cipher != "NULL"
        ]
        if not cbc:
            return [(NA, f"{s.label} can negotiate no CBC suite")]
        return [
            (
                UNKNOWN,
                f"{s.label} can negotiate CBC suites ({', '.join(cbc)}); whether System SSL"
                " offers encrypt_then_mac is not evidenced",
            )
        ]

    return _design_check(ctx, None, judge)


@check("ec_point_formats")
def check_ec_point_formats(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None
        ec = [
            code
            for code, suite in _negotiable(s.eff)
            if suite is not None and suite.key_exchange in ("ECDHE", "ECDH")
        ]
        if not ec:
            return [(NA, f"{s.label} can negotiate no elliptic-curve suite below TLS 1.3")]
        return [
            (
                UNKNOWN,
                f"{s.label} can negotiate elliptic-curve suites below TLS 1.3"
                f" ({', '.join(ec)}); ec_point_formats handling is not evidenced",
            )
        ]

    return _design_check(ctx, None, judge)


@check("tls13_extensions")
def check_tls13_extensions(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None
        if not s.eff.protocols[Protocol.TLSV1_3]:
            return [(NA, f"{s.label} has TLSv1.3 Off")]
        sessions = s.hours.protocols.get("TLSv1.3", 0)
        live = ((s.live or {}).get("protocols") or {}).get("TLSv1.3", 0)
        probed = "TLSv1.3" in s.probe_protocols
        if sessions or live or probed:
            how = (
                f"{sessions} TLS 1.3 session(s) observed in the period"
                if sessions
                else ("TLS 1.3 live at the latest run" if live else "the probe completed TLS 1.3")
            )
            return [
                (
                    PASS,
                    f"{s.label}: {how}; a completed TLS 1.3 handshake uses supported_versions"
                    " and key_share",
                )
            ]
        return [(UNKNOWN, f"{s.label} has TLSv1.3 On but no TLS 1.3 session was observed")]

    return _design_check(ctx, None, judge)


@check("discouraged_extensions")
def check_discouraged_extensions(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.adv is not None
        items: list[tuple[str, str]] = []
        if s.adv["truncated_hmac"]:
            items.append((WARN, f"{s.label} has {s.adv.said('truncated_hmac')}"))
        for name in ("server_max_ssl_fragment", "client_max_ssl_fragment"):
            value = s.adv[name]
            if value is not None and str(value).lower() != "off":
                items.append((WARN, f"{s.label} has {s.adv.said(name)}"))
        if not items:
            items.append(
                (PASS, f"{s.label} enables neither truncated HMAC nor maximum fragment length")
            )
        return items

    return _design_check(ctx, None, judge)
