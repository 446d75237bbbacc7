"""The one writer of ChangeRecord: every app records a change to what it owns through it.

Modelled on NetBox's ObjectChange: one row per change to an object, naming the object by its
type, uuid and a short text, with its data before and after, the actor (None for the system:
a worker, a collector) and a note. The audit log chains each record as it is written
(audits.signals), so whatever writes through here is in the hash chain too. The lowest app
that owns ChangeRecord holds the writer, so policies, fleet and audits all reach it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from accounts.client import current_client
from policies.models import ChangeRecord

__all__ = ["change_record"]

NAME_LENGTH = 100  # ChangeRecord.object_name
ACTION_LENGTH = 64  # ChangeRecord.action: checked here, since SQLite would store a longer one


def change_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    obj: Any,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str = "",
    object_type: str | None = None,
) -> ChangeRecord:
    """Records `action` on `obj` by `actor` (None, or an anonymous user: the system).

    The object is named by its class (or `object_type`), its `uuid` when it has one and its
    text cut to the column's length. The client of the request being served (or of the one
    that started the task: accounts.client) is recorded as where the change came from.
    """
    if len(action) > ACTION_LENGTH:
        raise ValueError(
            f"a change record's action is at most {ACTION_LENGTH} characters: {action!r}"
        )
    client = current_client()
    return ChangeRecord.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        object_type=object_type or type(obj).__name__,
        object_uuid=getattr(obj, "uuid", None),
        object_name=str(obj)[:NAME_LENGTH],
        before=before,
        after=after,
        note=note,
        client_address=(client.address or None) if client is not None else None,
        user_agent=client.user_agent if client is not None else "",
    )
