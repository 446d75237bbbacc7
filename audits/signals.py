"""What goes into the audit log: every change record, every sign-in, and every change to an
account (users, roles, passwords, API tokens, sign-in lock-outs: accounts.events).

Signals are the one place the conventions allow them: the change log. The lower layers
(policies, fleet) write ChangeRecords through their services; this app, above them,
chains each one as it is written.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.client import Client, client_of
from accounts.events import account_event
from audits.log import append
from policies.models import ChangeRecord


@receiver(post_save, sender=ChangeRecord, dispatch_uid="audit-change-record")
def chain_change_record(sender: Any, instance: ChangeRecord, created: bool, **kwargs: Any) -> None:
    if not created:
        return
    append(
        actor=instance.actor.get_username() if instance.actor else "system",
        action=instance.action,
        object_type=instance.object_type,
        object_id=str(instance.object_uuid or ""),
        summary=f"{instance.action} {instance.object_type} {instance.object_name}",
        data={
            "change_record": instance.pk,
            "before": instance.before,
            "after": instance.after,
            "note": instance.note,
        },
        at=instance.at,
        # Where the change came from, as the change record holds it (policies.changes).
        client=(
            Client(address=instance.client_address or "", user_agent=instance.user_agent)
            if instance.client_address or instance.user_agent
            else None
        ),
    )


@receiver(user_logged_in, dispatch_uid="audit-login")
def chain_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    # The request's client is recorded by append (accounts.client); sign-ins through a
    # directory (LDAP, OIDC) reach here as local ones do, through django.contrib.auth.login.
    append(
        actor=user.get_username(),
        action="login",
        object_type="User",
        object_id=str(user.pk),
        summary=f"{user.get_username()} signed in",
        data={"backend": getattr(user, "backend", "")},
        client=client_of(request) if request is not None else None,
    )


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def chain_failed_login(
    sender: Any, credentials: dict[str, Any], request: Any, **kwargs: Any
) -> None:
    append(
        actor=str(credentials.get("username", ""))[:150],
        action="login failed",
        object_type="User",
        summary=f"sign-in refused for {credentials.get('username', '?')!r}",
        client=client_of(request) if request is not None else None,
    )


@receiver(account_event, dispatch_uid="audit-account-event")
def chain_account_event(
    sender: Any,
    actor: str,
    action: str,
    username: str,
    user_id: str,
    summary: str,
    data: dict[str, Any],
    **kwargs: Any,
) -> None:
    append(
        actor=actor,
        action=action,
        object_type="User",
        object_id=user_id,
        summary=summary,
        data={"username": username, **data},
    )
