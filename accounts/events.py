"""What happened to an account, told to whoever keeps the audit log.

accounts is below audits in the layers (README), so it cannot append to the audit log
itself. Every write in accounts.services, and every sign-in lock-out, sends `account_event`
inside the writer's transaction; audits/signals.py chains it into the hash-chained log. A
write that rolls back takes its entry with it.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

# Sent with keyword arguments:
#   actor: str        who did it ("system" for the portal itself, "sso:<source>" for a sync)
#   action: str       e.g. "user create", "user roles", "sign-in lock-out"
#   username: str     whose account it is about
#   user_id: str      its primary key, or "" when no such user exists (a lock-out of a guess)
#   summary: str      one line for a person
#   data: dict        the details (before/after, address, ...), JSON-ready
account_event = Signal()


def account_event_send(
    *,
    actor: str,
    action: str,
    username: str,
    user_id: object = "",
    summary: str,
    data: dict[str, Any] | None = None,
) -> None:
    account_event.send(
        sender="accounts",
        actor=actor,
        action=action,
        username=username,
        user_id="" if user_id in (None, "") else str(user_id),
        summary=summary,
        data=data or {},
    )
