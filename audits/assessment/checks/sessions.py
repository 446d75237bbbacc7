"""Checks of NIST SP 800-52r2 §3.6: sessions."""

from __future__ import annotations

from audits.assessment.checks.common import _design_check
from audits.assessment.checks.registry import check
from audits.assessment.facts import PASS, WARN, Context, ServiceFacts, Verdict
from audits.catalog import Control

# --- §3.6 sessions ---------------------------------------------------------------------------


def _lifetime_items(ctx: Context, s: ServiceFacts) -> list[tuple[str, str]]:
    assert s.adv is not None
    limit = ctx.params["session_max_lifetime_seconds"]
    items: list[tuple[str, str]] = []
    if int(s.adv["gsk_v3_session_timeout"]) > limit:
        items.append(
            (WARN, f"{s.label} has {s.adv.said('gsk_v3_session_timeout')}, above {limit} s")
        )
    if s.adv["gsk_session_ticket_server_enable"] and (
        int(s.adv["gsk_session_ticket_server_timeout"]) > limit
    ):
        items.append(
            (
                WARN,
                f"{s.label} has {s.adv.said('gsk_session_ticket_server_timeout')}, above {limit} s",
            )
        )
    if not items:
        items.append(
            (
                PASS,
                f"{s.label} keeps sessions at most {limit} s"
                f" ({s.adv.said('gsk_v3_session_timeout')},"
                f" {s.adv.said('gsk_session_ticket_server_timeout')})",
            )
        )
    return items


@check("session_resumption")
def check_session_resumption(ctx: Context, control: Control) -> Verdict:
    return _design_check(ctx, "server", lambda s: _lifetime_items(ctx, s))


@check("per_session")
def check_per_session(ctx: Context, control: Control) -> Verdict:
    verdict = _design_check(ctx, None, lambda s: _lifetime_items(ctx, s))
    verdict.notes.append(
        "Each connection mapped to a rule gets its own TLS handshake from AT-TLS; what is"
        " judged is how long a resumed session may outlive it."
    )
    return verdict
