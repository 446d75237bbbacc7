"""Checks of NIST SP 800-52r2 §4: z/OS as a TLS client."""

from __future__ import annotations

from attls.ciphers import Protocol
from audits.assessment.checks.client_auth import _key_size_items, _path_items, _revocation_items
from audits.assessment.checks.common import (
    _cite_observations,
    _design_check,
    _empty_for,
    _judge,
    _protocol_disagreements,
    _said,
    _uncovered_note,
)
from audits.assessment.checks.extensions import _ems_items
from audits.assessment.checks.protocols import _observed_version
from audits.assessment.checks.registry import check
from audits.assessment.checks.suites import (
    _cite,
    _fips_items,
    _rsa_kt_items,
    _suites_items,
    _tls13_suite_items,
    _transition,
    _unlisted,
    _unlisted_tls13,
)
from audits.assessment.facts import FAIL, PASS, WARN, Context, ServiceFacts, Verdict
from audits.catalog import Control

# --- §4 z/OS as client ----------------------------------------------------------------------


@check("client_protocol_versions")
def check_client_protocol_versions(ctx: Context, control: Control) -> Verdict:
    old_outcome = FAIL if ctx.government else WARN
    missing13 = FAIL if ctx.tls13_mandatory else WARN

    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        items: list[tuple[str, str]] = []
        if s.secured:
            assert s.eff is not None
            eff = s.eff
            for protocol in (Protocol.SSLV2, Protocol.SSLV3):
                if eff.protocols[protocol]:
                    items.append((FAIL, f"{s.label} has {_said(eff, protocol)}"))
            if not eff.protocols[Protocol.TLSV1_2] and not eff.protocols[Protocol.TLSV1_3]:
                items.append((FAIL, f"{s.label} has TLSv1.2 and TLSv1.3 Off"))
            if not eff.protocols[Protocol.TLSV1_3]:
                items.append(
                    (
                        missing13,
                        f"{s.label} has {_said(eff, Protocol.TLSV1_3)}; TLS 1.3 is required from"
                        f" {ctx.params['tls13_mandatory_from']}",
                    )
                )
            for protocol in (Protocol.TLSV1, Protocol.TLSV1_1):
                if eff.protocols[protocol]:
                    items.append((old_outcome, f"{s.label} has {_said(eff, protocol)}"))
            if not items:
                items.append(
                    (
                        PASS,
                        f"{s.label} offers {', '.join(p.value for p in eff.enabled_protocols)}",
                    )
                )
        for protocol in (Protocol.SSLV2, Protocol.SSLV3):
            items += _observed_version(ctx, s, protocol.value, FAIL)
        for protocol in (Protocol.TLSV1, Protocol.TLSV1_1):
            items += _observed_version(ctx, s, protocol.value, old_outcome)
        return items

    clients = [s for s in ctx.services if s.role == "client"]
    verdict = _judge(clients, judge)
    verdict.notes += _uncovered_note(ctx, "client")
    verdict.empty = _empty_for(ctx, "client")
    old = {p.value for p in (Protocol.SSLV2, Protocol.SSLV3, Protocol.TLSV1, Protocol.TLSV1_1)}
    return _cite_observations(ctx, verdict, _protocol_disagreements(clients, old))


@check("client_suites")
def check_client_suites(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        return (
            _suites_items(ctx, s)
            + _rsa_kt_items(ctx, s)
            + _tls13_suite_items(ctx, s)
            + _fips_items(ctx, s)
        )

    return _cite(
        ctx,
        _design_check(ctx, "client", judge),
        lambda code: _unlisted(code) or _transition(code) or _unlisted_tls13(code),
    )


@check("client_extensions")
def check_client_extensions(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.adv is not None
        items = _ems_items(s)
        if items and items[0][0] == PASS:
            items = [(PASS, f"{items[0][1]}, {s.adv.said('client_handshake_sni')}")]
        return items

    return _design_check(ctx, "client", judge)


@check("client_server_authentication")
def check_client_server_authentication(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        return _key_size_items(ctx, s, "server") + _revocation_items(s, "server") + _path_items(s)

    return _design_check(ctx, "client", judge)
