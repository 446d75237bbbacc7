"""The verdict for one peer: what it was seen doing against what the candidate rule does."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Final

from attls import ciphers
from attls.ciphers import Protocol
from attls.effective import EffectiveSettings
from attls.impact.model import CLEARTEXT, VERSION_WORDS, Verdict

_TLS13: Final = Protocol.TLSV1_3.value
# Roles as AT-TLS names them; the server side waits for a ClientHello.
_SERVER_ROLES: Final = frozenset({"Server", "ServerWithClientAuth"})
# ClientAuthType (reference §1.7, IBM attls_handshake_roles.htm): Required and SAFCheck demand a
# certificate; Full validates one when sent; PassThru neither demands nor validates.
_CERT_REQUIRED: Final = frozenset({"Required", "SAFCheck"})
_CERT_VALIDATED: Final = frozenset({"Full", "Required", "SAFCheck"})

# The issuer of the server certificate a rule would present, where the caller knows key rings.
IssuerOf = Callable[[EffectiveSettings], "str | None"]


@dataclass(frozen=True, slots=True)
class Finding:
    verdict: Verdict
    reason: str


# What names or explains a rule's settings rather than what AT-TLS does on the connection:
# the rule's name and priority and its Direction condition (which rule matched is settled
# before the settings are read), the actions' names (their values are resolved into the
# other fields), and where each value came from. Two rules differing only in these do the
# same to a connection, e.g. the same rule at another place in the evaluation order.
_NAMING_FIELDS: Final = frozenset(
    {
        "rule",
        "priority",
        "direction",
        "group_action",
        "environment_action",
        "connection_action",
        "ciphers_from",
        "sources",
        "protocol_sources",
    }
)
_EFFECT_FIELDS: Final = tuple(
    f.name for f in fields(EffectiveSettings) if f.name not in _NAMING_FIELDS
)


def same_effect(old: EffectiveSettings, new: EffectiveSettings) -> bool:
    """Whether two rules' effective settings do the same to a connection (names aside)."""
    return all(getattr(old, name) == getattr(new, name) for name in _EFFECT_FIELDS)


def _words(items: Iterable[str]) -> str:
    ordered = sorted(items, key=_version_rank)
    return ", ".join(ordered) if ordered else "none"


def _version_rank(word: str) -> tuple[int, str]:
    try:
        return VERSION_WORDS.index(word), word
    except ValueError:
        return len(VERSION_WORDS), word


def _enabled(settings: EffectiveSettings) -> frozenset[str]:
    return frozenset(p.value for p in settings.enabled_protocols)


def _suite_versions(code: str) -> frozenset[str]:
    suite = ciphers.get(code)
    return frozenset(p.value for p in suite.protocols) if suite is not None else frozenset()


def _role(settings: EffectiveSettings, direction: str) -> tuple[str, bool]:
    """The handshake role, and whether it was inferred from the direction (no role set)."""
    if settings.handshake_role:
        return settings.handshake_role, False
    return ("Client" if direction == "Outbound" else "Server"), True


def _secures(settings: EffectiveSettings | None) -> bool:
    return settings is not None and settings.ttls_enabled


def judge(
    direction: str,
    seen: frozenset[str],
    suites: frozenset[str],
    client_cert: bool,
    offered: frozenset[str],
    issuers: frozenset[str],
    without_attls: frozenset[str],
    new: EffectiveSettings | None,
    old: EffectiveSettings | None,
    issuer_of: IssuerOf | None,
) -> list[Finding]:
    """Every finding for a peer with these observations, under the new and old rule."""
    tls_seen = seen - {CLEARTEXT}
    if not _secures(new):
        return _judge_unsecured(seen, tls_seen, without_attls, new, old)
    assert new is not None
    role, inferred = _role(new, direction)
    enabled = _enabled(new)
    rule = f"rule {new.rule}"
    findings: list[Finding] = []
    if role not in _SERVER_ROLES and role != "Client":
        return [Finding(Verdict.AT_RISK, f"{rule} has HandshakeRole {role}, not predicted")]
    partner_is_server = direction == "Outbound"
    if role in _SERVER_ROLES and partner_is_server:
        findings.append(
            Finding(
                Verdict.WILL_BREAK,
                f"{rule} takes the server role ({role}) on a connection z/OS starts: both"
                " sides wait for a ClientHello and the handshake times out (RC 5004)",
            )
        )
        return findings
    if role == "Client" and not partner_is_server:
        findings.append(
            Finding(
                Verdict.AT_RISK,
                f"{rule} takes the client role on a connection the peer starts: it works only"
                " if the peer's application acts as the TLS server (not observable here)",
            )
        )
    role_note = " (role inferred from the direction: the rule sets no HandshakeRole)"
    role_note = role_note if inferred else ""

    if seen == {CLEARTEXT}:
        if role in _SERVER_ROLES:
            why = (
                f"only seen in cleartext; {rule} makes the port TLS and AT-TLS refuses a"
                f" cleartext client (RC 5003){role_note}"
            )
        else:
            why = (
                f"only seen in cleartext; {rule} starts a TLS handshake the partner has never"
                f" answered{role_note}"
            )
        return [*findings, Finding(Verdict.WILL_BREAK, why)]
    if CLEARTEXT in seen:
        findings.append(
            Finding(
                Verdict.AT_RISK,
                f"also seen in cleartext; its cleartext connections will be refused by {rule}"
                " (RC 5003), its TLS connections judged below",
            )
        )

    kept = tls_seen & enabled
    if not kept:
        why = (
            f"only seen on {_words(tls_seen)}; the effective settings of {rule} switch them"
            f" off (On: {_words(enabled)}), a protocol mismatch (RC 412)"
        )
        return [*findings, Finding(Verdict.WILL_BREAK, why)]

    if role == "Client":
        findings += _judge_as_client(rule, tls_seen, kept, enabled, suites, offered, new, old)
    else:
        findings += _judge_as_server(rule, kept, suites, client_cert, issuers, new, old, issuer_of)
    if not any(f.verdict is not Verdict.SAFE for f in findings):
        kept_suites = sorted(suites & set(new.v3_cipher_suites))
        findings.append(
            Finding(
                Verdict.SAFE,
                f"seen succeeding with {_words(kept)}"
                + (f" and {' '.join(kept_suites)}" if kept_suites else "")
                + f", which {rule} keeps",
            )
        )
    return findings


def _judge_unsecured(
    seen: frozenset[str],
    tls_seen: frozenset[str],
    without_attls: frozenset[str],
    new: EffectiveSettings | None,
    old: EffectiveSettings | None,
) -> list[Finding]:
    """The candidate leaves the connection to the application (no rule, or TTLSEnabled Off)."""
    what = (
        f"rule {new.rule} has TTLSEnabled Off" if new is not None else "no rule of the candidate"
    ) + " maps it"
    if _secures(old) and tls_seen:
        assert old is not None
        if without_attls:
            return [
                Finding(
                    Verdict.SAFE,
                    f"{what}: AT-TLS no longer secures it (rule {old.rule} does today), and the"
                    f" peer was seen succeeding without AT-TLS ({_words(without_attls)}: the"
                    " application's own behaviour)",
                )
            ]
        return [
            Finding(
                Verdict.AT_RISK,
                f"{what}: AT-TLS no longer secures it (rule {old.rule} does today); the peer"
                f" was seen on {_words(tls_seen)} and will get whatever the application does"
                " itself (its own TLS or cleartext)",
            )
        ]
    return [
        Finding(
            Verdict.SAFE,
            f"{what}: the application's own behaviour continues as seen ({_words(seen)})",
        )
    ]


def _judge_as_client(
    rule: str,
    tls_seen: frozenset[str],
    kept: frozenset[str],
    enabled: frozenset[str],
    suites: frozenset[str],
    offered: frozenset[str],
    new: EffectiveSettings,
    old: EffectiveSettings | None,
) -> list[Finding]:
    """z/OS offers; the partner chooses."""
    findings: list[Finding] = []
    offered_before = offered | tls_seen
    if _secures(old):
        assert old is not None
        offered_before |= _enabled(old)
    never_offered = enabled - offered_before
    if never_offered:
        highest = max(never_offered, key=_version_rank)
        findings.append(
            Finding(
                Verdict.UNTESTED,
                f"{rule} will offer {_words(never_offered)}, which the partner has never been"
                f" offered (only seen on {_words(tls_seen)}); a partner that aborts on an"
                f" unknown version refuses the whole ClientHello — run the pre-check"
                + (" (a TLS 1.3 offer)" if highest == _TLS13 else ""),
            )
        )
    usable = {c for c in new.v3_cipher_suites if _suite_versions(c) & kept}
    seen_usable = {c for c in suites if _suite_versions(c) & kept}
    if seen_usable and not seen_usable & usable:
        findings.append(
            Finding(
                Verdict.AT_RISK,
                f"the partner chose {_words(sorted(seen_usable))}, which {rule} no longer"
                " offers; it may accept another of the offered suites (not observed)",
            )
        )
    return findings


def _judge_as_server(
    rule: str,
    kept: frozenset[str],
    suites: frozenset[str],
    client_cert: bool,
    issuers: frozenset[str],
    new: EffectiveSettings,
    old: EffectiveSettings | None,
    issuer_of: IssuerOf | None,
) -> list[Finding]:
    """The peer offers; z/OS (System SSL, server preference) chooses."""
    findings: list[Finding] = []
    auth = new.client_auth_type
    with_auth = new.handshake_role == "ServerWithClientAuth"
    if with_auth and auth in _CERT_REQUIRED and not client_cert:
        findings.append(
            Finding(
                Verdict.WILL_BREAK,
                f"never presented a client certificate; {rule} has ServerWithClientAuth with"
                f" ClientAuthType {auth}, which requires one (RC 5001)",
            )
        )
    elif with_auth and auth in _CERT_VALIDATED and client_cert:
        old_checks = (
            old is not None
            and _secures(old)
            and old.handshake_role == "ServerWithClientAuth"
            and old.client_auth_type == auth
        )
        if not old_checks:
            extra = " and must map to a SAF user ID (RC 5002)" if auth == "SAFCheck" else ""
            findings.append(
                Finding(
                    Verdict.AT_RISK,
                    f"its client certificate will be validated against the key ring by {rule}"
                    f" (ClientAuthType {auth}){extra}; it was not validated so before",
                )
            )

    usable = [c for c in new.v3_cipher_suites if _suite_versions(c) & kept]
    seen_usable = {c for c in suites if _suite_versions(c) & kept}
    if seen_usable and not seen_usable & set(usable):
        findings.append(_dropped_suites(rule, seen_usable, usable, old))

    if issuer_of is not None:
        issuer = issuer_of(new)
        if issuer is not None and issuers and issuer not in issuers:
            findings.append(
                Finding(
                    Verdict.AT_RISK,
                    f"{rule} presents a server certificate issued by {issuer}; the peer was only"
                    f" seen accepting certificates from {', '.join(sorted(issuers))}",
                )
            )
    return findings


def _dropped_suites(
    rule: str, seen_usable: set[str], usable: list[str], old: EffectiveSettings | None
) -> Finding:
    """The suites the peer used are gone; did we learn its whole offer when we chose?

    Under the old rule System SSL chose from the peer's offer in the old list's order, so
    every old suite ahead of the chosen one was not in the offer. If each suite the candidate
    keeps is one of those, the peer cannot agree on any (RC 402); otherwise it may.
    """
    used = _words(sorted(seen_usable))
    if old is not None and _secures(old):
        order = {code: at for at, code in enumerate(old.v3_cipher_suites)}
        first_chosen = min((order[c] for c in seen_usable if c in order), default=None)
        if first_chosen is not None and all(order.get(c, math.inf) < first_chosen for c in usable):
            return Finding(
                Verdict.WILL_BREAK,
                f"only used {used}, which {rule} drops; rule {old.rule} chose from its offer and"
                f" passed over {_words(usable)}, so it offers none of the suites kept (RC 402)",
            )
    return Finding(
        Verdict.AT_RISK,
        f"only used {used}, which {rule} drops; it may offer one of {_words(usable)}"
        " (its full offer was not observed)",
    )
