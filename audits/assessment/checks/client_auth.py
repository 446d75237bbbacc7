"""Checks of NIST SP 800-52r2 §3.5 (client authentication) and §3.2.2 (revocation)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from audits.assessment.checks.common import _empty_for, _judge
from audits.assessment.checks.registry import check
from audits.assessment.defaults import KEYWORDS
from audits.assessment.facts import (
    FAIL,
    NA,
    PASS,
    UNKNOWN,
    WARN,
    Advanced,
    Context,
    ServiceFacts,
    Verdict,
)
from audits.catalog import Control

# --- §3.5 client authentication, §3.2.2 revocation -----------------------------------------


def _client_auth_items(s: ServiceFacts) -> list[tuple[str, str]]:
    assert s.eff is not None
    kind = s.eff.client_auth_type
    where = (
        f"environment {s.eff.environment_action}"
        if s.eff.sources.get("client_auth_type") == "environment"
        else "AT-TLS default"
    )
    said = f"HandshakeRole ServerWithClientAuth with ClientAuthType {kind} ({where})"
    if kind == "PassThru":
        return [(FAIL, f"{s.label} has {said}: client certificates are not validated")]
    if kind == "Full":
        return [(WARN, f"{s.label} has {said}: a client may connect without a certificate")]
    return [(PASS, f"{s.label} has {said}")]


def _path_items(s: ServiceFacts) -> list[tuple[str, str]]:
    assert s.eff is not None
    mode = s.eff.cert_validation_mode
    where = (
        f"environment {s.eff.environment_action}"
        if s.eff.sources.get("cert_validation_mode") == "environment"
        else "AT-TLS default"
    )
    outcome = PASS if mode == "RFC5280" else WARN
    return [(outcome, f"{s.label} has CertValidationMode {mode} ({where})")]


def _key_size_items(ctx: Context, s: ServiceFacts, whose: str) -> list[tuple[str, str]]:
    assert s.adv is not None
    rsa, ecc = ctx.params["min_rsa_bits"], ctx.params["min_ecc_bits"]
    weak = [
        name
        for name, minimum in (
            ("peer_min_rsa_key_size", rsa),
            ("peer_min_dh_key_size", rsa),
            ("peer_min_dsa_key_size", rsa),
            ("peer_min_ecc_key_size", ecc),
        )
        if int(s.adv[name]) < minimum
    ]
    items: list[tuple[str, str]] = []
    if weak:
        items.append(
            (
                FAIL,
                f"{s.label} accepts {whose} keys below 112-bit strength"
                f" ({rsa}-bit RSA/DH/DSA, {ecc}-bit EC): {_said_many(s.adv, weak)}",
            )
        )
    if str(s.adv["peer_min_cert_version"]) != "3":
        items.append((WARN, f"{s.label} has {s.adv.said('peer_min_cert_version')}"))
    if not items:
        items.append((PASS, f"{s.label} refuses {whose} keys below 112-bit strength"))
    return items


def _said_many(adv: Advanced, names: list[str]) -> str:
    """`PeerMinRsaKeySize 1024, PeerMinDHKeySize 1024 (z/OS default: ...)`, grouped by origin."""
    by_origin: dict[str, list[str]] = defaultdict(list)
    for name in names:
        by_origin[adv.origin[name]].append(f"{KEYWORDS[name]} {adv[name]}")
    return "; ".join(f"{', '.join(values)} ({origin})" for origin, values in by_origin.items())


def _revocation_items(s: ServiceFacts, whose: str) -> list[tuple[str, str]]:
    assert s.adv is not None
    sources = [
        s.adv.said(name)
        for name in ("ocsp_aia_enable", "ocsp_url", "http_cdp_enable", "gsk_ldap_server")
        if s.adv[name]
    ]
    if not sources:
        return [
            (
                FAIL,
                f"{s.label} has no revocation source for {whose} certificates"
                f" ({s.adv.said('ocsp_aia_enable')}, {s.adv.said('http_cdp_enable')},"
                " no OcspUrl, no LDAP CRL server)",
            )
        ]
    if s.adv["revocation_security_level"] == "Low":
        return [(WARN, f"{s.label} has {s.adv.said('revocation_security_level')} (soft fail)")]
    return [(PASS, f"{s.label} checks revocation: {', '.join(sources)}")]


def _client_auth_check(
    ctx: Context, judge: Callable[[ServiceFacts], list[tuple[str, str]]]
) -> Verdict:
    verdict = _judge([s for s in ctx.with_rules("server") if s.client_auth], judge)
    verdict.empty = (
        NA,
        "no rule in scope asks for client certificates (HandshakeRole ServerWithClientAuth)",
    )
    if not ctx.any_rule:
        verdict.empty = _empty_for(ctx, "server")
    return verdict


@check("client_authentication")
def check_client_authentication(ctx: Context, control: Control) -> Verdict:
    return _client_auth_check(ctx, _client_auth_items)


@check("client_path_validation")
def check_client_path_validation(ctx: Context, control: Control) -> Verdict:
    return _client_auth_check(ctx, _path_items)


@check("client_key_size")
def check_client_key_size(ctx: Context, control: Control) -> Verdict:
    return _client_auth_check(ctx, lambda s: _key_size_items(ctx, s, "client"))


@check("client_cert_revocation")
def check_client_cert_revocation(ctx: Context, control: Control) -> Verdict:
    return _client_auth_check(ctx, lambda s: _revocation_items(s, "client"))


@check("not_evaluable_with_client_auth")
def check_not_evaluable_with_client_auth(ctx: Context, control: Control) -> Verdict:
    return _client_auth_check(
        ctx,
        lambda s: [(UNKNOWN, f"{s.label} authenticates clients; the evidence is not collected")],
    )


@check("not_evaluable")
def check_not_evaluable(ctx: Context, control: Control) -> Verdict:
    verdict = Verdict()
    verdict.empty = (UNKNOWN, "the portal does not collect the evidence this control needs")
    return verdict
