"""Checks of NIST SP 800-52r2 §3.3: cipher suites, groups, FIPS."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import pairwise

from attls import ciphers, tlsgroups
from attls.ciphers import CipherSuite, NistStatus, Protocol
from audits.assessment.checks.common import (
    _ciphers_where,
    _cite_observations,
    _design_check,
    _disagreements,
    _groups,
    _le12,
    _merge,
    _named,
    _negotiable,
    _signature_where,
    _tls13_codes,
)
from audits.assessment.checks.registry import check
from audits.assessment.facts import (
    APPROVED_TLS13,
    FAIL,
    NA,
    NIST_CURVES,
    NON_FIPS_GROUPS,
    P256_P384,
    PASS,
    WARN,
    Context,
    ServiceFacts,
    Verdict,
)
from audits.catalog import Control

# --- §3.3 cipher suites, groups, FIPS -------------------------------------------------------


def _suites_items(ctx: Context, s: ServiceFacts) -> list[tuple[str, str]]:
    assert s.eff is not None
    if not _le12(s.eff):
        return [(NA, f"{s.label} offers no version below TLS 1.3")]
    bad = [
        code
        for code, suite in _negotiable(s.eff)
        if suite is None or suite.nist_800_52r2 is NistStatus.NOT_LISTED
    ]
    items: list[tuple[str, str]] = []
    if bad:
        items.append(
            (
                FAIL,
                f"{s.label} offers suites outside the SP 800-52r2 lists: {_named(bad)}"
                f" ({_ciphers_where(s.eff)})",
            )
        )
    else:
        items.append(
            (PASS, f"{s.label} offers only listed suites below TLS 1.3 ({_ciphers_where(s.eff)})")
        )
    items += _observed_suites(s)
    return items


def _observed_ciphers(s: ServiceFacts) -> dict[str, int]:
    """Connections per suite: zERT's records where the stack has them, else netstat's samples
    (which hold only the codes a control may care about: audits.assessment.gather)."""
    return s.zert.ciphers if s.zert is not None else s.hours.ciphers


def _negotiated(s: ServiceFacts, code: str, n: int) -> str:
    if s.zert is not None:
        return f"zERT recorded {n} connection(s) of {s.name} that negotiated {_named([code])}"
    return f"{n} session(s) of {s.name} negotiated {_named([code])}"


def _unlisted(code: str) -> bool:
    suite = ciphers.get(code)
    return suite is None or (suite.nist_800_52r2 is NistStatus.NOT_LISTED and not suite.tls13_only)


def _transition(code: str) -> bool:
    suite = ciphers.get(code)
    return suite is not None and suite.nist_800_52r2 is NistStatus.TRANSITION


def _unlisted_tls13(code: str) -> bool:
    suite = ciphers.get(code)
    return suite is not None and suite.tls13_only and code not in APPROVED_TLS13


def _cite(ctx: Context, verdict: Verdict, keys: Callable[[str], bool]) -> Verdict:
    """The suites' observations cited, with netstat's and zERT's disagreements on `keys`."""
    return _cite_observations(
        ctx,
        verdict,
        _disagreements(
            ctx.services,
            keys,
            "suite",
            lambda s: s.hours.ciphers,
            lambda s: s.zert.at_tls_ciphers if s.zert else {},
        ),
    )


def _observed_suites(s: ServiceFacts) -> list[tuple[str, str]]:
    seen = {code: n for code, n in _observed_ciphers(s).items() if _unlisted(code)}
    return [(FAIL, _negotiated(s, code, n)) for code, n in sorted(seen.items())]


def _rsa_kt_items(ctx: Context, s: ServiceFacts) -> list[tuple[str, str]]:
    assert s.eff is not None
    outcome = FAIL if ctx.rsa_kt_disallowed else WARN
    after = ctx.params["rsa_key_transport_disallowed_after"]
    rule = f"allowed only until {after}" if ctx.rsa_kt_disallowed else f"allowed until {after}"
    offered = [
        code
        for code, suite in _negotiable(s.eff)
        if suite is not None and suite.nist_800_52r2 is NistStatus.TRANSITION
    ]
    items: list[tuple[str, str]] = []
    if offered:
        items.append(
            (
                outcome,
                f"{s.label} offers RSA key transport (no forward secrecy), {rule}:"
                f" {_named(offered)} ({_ciphers_where(s.eff)})",
            )
        )
    elif _le12(s.eff):
        items.append((PASS, f"{s.label} offers no RSA key-transport suite"))
    for code, n in sorted(_observed_ciphers(s).items()):
        if _transition(code):
            items.append((outcome, _negotiated(s, code, n)))
    return items


def _tls13_suite_items(ctx: Context, s: ServiceFacts) -> list[tuple[str, str]]:
    assert s.eff is not None
    if not s.eff.protocols[Protocol.TLSV1_3]:
        return [(NA, f"{s.label} has TLSv1.3 Off")]
    outcome = FAIL if ctx.params["fips_required"] else WARN
    bad = [c for c in _tls13_codes(s.eff) if c not in APPROVED_TLS13]
    items: list[tuple[str, str]] = []
    if bad:
        items.append(
            (
                outcome,
                f"{s.label} offers TLS 1.3 suites not on the SP 800-52r2 list: {_named(bad)}"
                f" ({_ciphers_where(s.eff)})",
            )
        )
    else:
        items.append((PASS, f"{s.label} offers only listed TLS 1.3 suites"))
    for code, n in sorted(_observed_ciphers(s).items()):
        if _unlisted_tls13(code):
            items.append((outcome, _negotiated(s, code, n)))
    return items


def _fips_items(ctx: Context, s: ServiceFacts) -> list[tuple[str, str]]:
    assert s.eff is not None
    if not ctx.params["fips_required"]:
        return [(NA, "the parameters declare FIPS 140 mode not required (fips_required false)")]
    group = s.eff.group_action
    if not s.eff.fips140:
        return [(FAIL, f"{s.label}: group {group} has FIPS140 Off")]
    items: list[tuple[str, str]] = []
    if s.eff.protocols[Protocol.TLSV1_3]:
        chacha = [c for c in _tls13_codes(s.eff) if c == "1303"]
        if chacha:
            items.append((FAIL, f"{s.label} runs FIPS140 On but offers {_named(chacha)}"))
        shares = s.eff.server_key_share_groups if s.role == "server" else ()
        odd = [g for g in shares if g in NON_FIPS_GROUPS]
        if odd:
            items.append(
                (
                    WARN,
                    f"{s.label} runs FIPS140 On but offers key shares {_groups(odd)}"
                    " (outside SP 800-56A; System SSL's FIPS behaviour unconfirmed)",
                )
            )
    items.append((PASS, f"{s.label}: group {group} has FIPS140 On"))
    return items


@check("approved_suites")
def check_approved_suites(ctx: Context, control: Control) -> Verdict:
    verdict = _design_check(ctx, "server", lambda s: _suites_items(ctx, s))
    # Sessions of services without a rule (the applications' own TLS) count as well.
    for s in ctx.services:
        if not s.secured and s.role == "server":
            finding = _merge(s, _observed_suites(s))
            if finding is not None:
                verdict.findings.append(finding)
    return _cite(ctx, verdict, _unlisted)


@check("rsa_key_transport")
def check_rsa_key_transport(ctx: Context, control: Control) -> Verdict:
    verdict = _design_check(ctx, None, lambda s: _rsa_kt_items(ctx, s))
    verdict.evidence["disallowed_after"] = str(ctx.params["rsa_key_transport_disallowed_after"])
    return _cite(ctx, verdict, _transition)


@check("tls13_suites")
def check_tls13_suites(ctx: Context, control: Control) -> Verdict:
    verdict = _design_check(ctx, None, lambda s: _tls13_suite_items(ctx, s))
    verdict.evidence["fips_required"] = ctx.params["fips_required"]
    return _cite(ctx, verdict, _unlisted_tls13)


@check("fips_mode")
def check_fips_mode(ctx: Context, control: Control) -> Verdict:
    verdict = _design_check(ctx, None, lambda s: _fips_items(ctx, s))
    verdict.evidence["fips_required"] = ctx.params["fips_required"]
    return verdict


def _tier(suite: CipherSuite) -> int:
    """1 ephemeral AEAD, 2 ephemeral CCM_8, 3 ephemeral CBC, 4 static AEAD, 5 static CBC."""
    ccm8 = suite.bulk_cipher.endswith("CCM_8")
    if suite.forward_secrecy:
        return 2 if ccm8 else (1 if suite.aead else 3)
    return 4 if suite.aead else 5


TIER_NAMES = {
    1: "ephemeral AEAD",
    2: "ephemeral CCM_8",
    3: "ephemeral CBC",
    4: "static (no forward secrecy) AEAD",
    5: "static (no forward secrecy) CBC",
}


@check("cipher_preference_order")
def check_cipher_preference_order(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None
        if not _le12(s.eff):
            return [(NA, f"{s.label} offers no version below TLS 1.3")]
        ranked = [
            (code, _tier(suite))
            for code, suite in _negotiable(s.eff)
            if suite is not None and suite.nist_800_52r2 is not NistStatus.NOT_LISTED
        ]
        where = _ciphers_where(s.eff)
        for (first, first_tier), (later, later_tier) in pairwise(ranked):
            if later_tier < first_tier:
                return [
                    (
                        WARN,
                        f"{s.label} lists {first} ({TIER_NAMES[first_tier]}) before {later}"
                        f" ({TIER_NAMES[later_tier]}) ({where})",
                    )
                ]
        if ranked and s.eff.protocols[Protocol.TLSV1_2] and all(t in (3, 5) for _, t in ranked):
            return [(WARN, f"{s.label} offers only CBC suites with TLS 1.2 ({where})")]
        if ranked and all(t >= 4 for _, t in ranked):
            return [(WARN, f"{s.label} offers no forward-secret suite below TLS 1.3 ({where})")]
        return [(PASS, f"{s.label} orders its suites by forward secrecy and AEAD ({where})")]

    return _design_check(ctx, "server", judge)


def _weak_groups(codes: Iterable[str]) -> list[str]:
    weak = []
    for code in codes:
        group = tlsgroups.get_group(code)
        if group is not None and group.security_bits < 112:
            weak.append(code)
    return weak


def _curve_lists(s: ServiceFacts) -> list[tuple[str, tuple[str, ...], str]]:
    """(keyword, codes, where) of the group lists that apply to the rule's negotiations."""
    assert s.eff is not None
    eff = s.eff
    lists = []
    ecdhe = any(s is not None and s.key_exchange == "ECDHE" for _, s in _negotiable(eff))
    server = s.role == "server"
    if ecdhe:
        name = "server_kex_ecurves" if server else "client_ecurves"
        keyword = "ServerKexECurves" if server else "ClientECurves"
        lists.append((keyword, getattr(eff, name), _signature_where(eff, name)))
    if eff.protocols[Protocol.TLSV1_3]:
        name = "server_key_share_groups" if server else "client_key_share_groups"
        keyword = "ServerKeyShareGroups" if server else "ClientKeyShareGroups"
        lists.append((keyword, getattr(eff, name), _signature_where(eff, name)))
    return lists


WEAK_BULK = ("DES", "RC4", "RC2", "NULL", "IDEA")


@check("min_112_bit")
def check_min_112_bit(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None and s.adv is not None
        items: list[tuple[str, str]] = []
        for keyword, codes, where in _curve_lists(s):
            weak = _weak_groups(codes)
            if weak:
                items.append(
                    (FAIL, f"{s.label} has {keyword} with {_groups(weak)} below 112 bits ({where})")
                )
        negotiable = _negotiable(s.eff)
        weak_suites = [
            code
            for code, suite in negotiable
            if suite is not None
            and (any(w in suite.bulk_cipher for w in WEAK_BULK) or "EXPORT" in suite.key_exchange)
        ]
        if weak_suites:
            items.append(
                (
                    FAIL,
                    f"{s.label} offers ciphers below 112 bits: {_named(weak_suites)}"
                    f" ({_ciphers_where(s.eff)})",
                )
            )
        dhe = [code for code, suite in negotiable if suite and suite.key_exchange == "DHE"]
        if dhe and s.role == "server" and s.adv["server_edh_group_size"] == "Legacy":
            items.append(
                (
                    WARN,
                    f"{s.label} offers DHE suites ({', '.join(dhe)}) with"
                    f" {s.adv.said('server_edh_group_size')}, which may allow 1024-bit groups",
                )
            )
        if not items:
            items.append((PASS, f"{s.label}: every group and cipher it offers gives 112 bits"))
        return items

    return _design_check(ctx, None, judge)


@check("supported_groups")
def check_supported_groups(ctx: Context, control: Control) -> Verdict:
    fips = ctx.params["fips_required"]

    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        lists = _curve_lists(s)
        if not lists:
            return [(NA, f"{s.label} offers no ECDHE suite and not TLS 1.3")]
        items: list[tuple[str, str]] = []
        for keyword, codes, where in lists:
            if not P256_P384 & set(codes):
                items.append((FAIL, f"{s.label} has {keyword} without P-256 or P-384 ({where})"))
            known = [(c, g) for c in codes if (g := tlsgroups.get_group(c)) is not None]
            weak = [c for c, g in known if g.security_bits < 112]
            minimum = [c for c, g in known if g.security_bits == 112]
            odd = [c for c, _ in known if c in NON_FIPS_GROUPS]
            if weak:
                items.append(
                    (FAIL, f"{s.label} has {keyword} with {_groups(weak)} below 112 bits ({where})")
                )
            if odd:
                items.append(
                    (
                        FAIL if fips else WARN,
                        f"{s.label} has {keyword} with {_groups(odd)}, not SP 800-56A groups"
                        f" ({where})",
                    )
                )
            if minimum:
                items.append(
                    (WARN, f"{s.label} has {keyword} with {_groups(minimum)} at the 112-bit floor")
                )
        if not items:
            items.append((PASS, f"{s.label} offers only NIST curves, P-256 or P-384 among them"))
        return items

    return _design_check(ctx, None, judge)


@check("key_share")
def check_key_share(ctx: Context, control: Control) -> Verdict:
    def judge(s: ServiceFacts) -> list[tuple[str, str]]:
        assert s.eff is not None
        if not s.eff.protocols[Protocol.TLSV1_3]:
            return [(NA, f"{s.label} has TLSv1.3 Off")]
        server = s.role == "server"
        name = "server_key_share_groups" if server else "client_key_share_groups"
        keyword = "ServerKeyShareGroups" if server else "ClientKeyShareGroups"
        codes = getattr(s.eff, name)
        where = _signature_where(s.eff, name)
        if not NIST_CURVES & set(codes):
            return [(FAIL, f"{s.label} has {keyword} without a NIST curve ({where})")]
        sessions = s.hours.protocols.get("TLSv1.3", 0)
        seen = f"; {sessions} TLS 1.3 session(s) observed" if sessions else ""
        return [(PASS, f"{s.label} has {keyword} {_groups(codes)} ({where}){seen}")]

    return _design_check(ctx, None, judge)
