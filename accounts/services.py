"""Writes to accounts: users, their roles and services, passwords, sign-in lock-outs, API tokens.

The user-management pages, the token page and the token API call these; so will a single
sign-on backend (`user_sync_from_identity_provider` creates or updates a user and sets their
roles from the identity provider's groups). Each write validates first, runs in one
transaction and tells the audit log what changed (accounts.events), before and after.

Guards that hold whoever calls: nobody deactivates themselves, and the last active admin can
neither be deactivated nor lose the admin role, so the portal always has someone who can
manage users.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from accounts.events import account_event_send
from accounts.models import ApiToken
from accounts.roles import ROLE_GROUPS, Role, ensure_role_groups, roles_of

Actor = AbstractBaseUser | AnonymousUser | None


class AccountRefused(Exception):
    """A write that would leave accounts in a state the portal does not allow; says why."""


def actor_name(actor: Actor) -> str:
    if actor is None or not actor.is_authenticated:
        return "system"
    return str(actor.get_username())


def _is_self(actor: Actor, user: User) -> bool:
    return actor is not None and actor.is_authenticated and actor.pk == user.pk


def _details(user: User) -> dict[str, Any]:
    return {
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "is_active": user.is_active,
    }


def _services(user: User) -> list[dict[str, str]]:
    # Service ownership is the designer's (policies) relation; accounts reaches it only
    # through the reverse accessor on User, so the layers stay as they are.
    owned = user.owned_services.select_related("stack__lpar").order_by(  # type: ignore[attr-defined]
        "stack__lpar__name", "stack__name", "name"
    )
    return [{"uuid": str(s.uuid), "service": f"{s.stack}/{s.name}"} for s in owned]


def _other_active_admins(user: User) -> bool:
    return (
        User.objects.filter(is_active=True, groups__name=ROLE_GROUPS[Role.ADMIN])
        .exclude(pk=user.pk)
        .exists()
    )


def _record(
    *, actor: str, action: str, user: User | None, username: str, summary: str, **data: Any
) -> None:
    account_event_send(
        actor=actor,
        action=action,
        username=username,
        user_id=user.pk if user is not None else "",
        summary=summary,
        data=data,
    )


# --- users --------------------------------------------------------------------------------


@transaction.atomic
def user_create(
    *,
    actor: Actor,
    username: str,
    password: str | None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    roles: Iterable[Role] = (),
    services: Iterable[models.Model] = (),
    source: str = "",
) -> User:
    """A new active user. `password` None gives one that cannot sign in with a password
    (a user of single sign-on). Refuses a taken or malformed username and a weak password."""
    user = User(username=username, email=email, first_name=first_name, last_name=last_name)
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as error:
        raise ValidationError(error.message_dict) from error
    if password is None:
        user.set_unusable_password()
    else:
        validate_password(password, user)
        user.set_password(password)
    user.save()
    groups = ensure_role_groups()
    wanted = sorted(set(roles), key=list(Role).index)
    user.groups.set([groups[role] for role in wanted])
    user.owned_services.set(list(services))  # type: ignore[attr-defined]
    by = actor_name(actor) if not source else f"sso:{source}"
    _record(
        actor=by,
        action="user create",
        user=user,
        username=username,
        summary=f"user {username} created with roles {', '.join(wanted) or 'none'}",
        after={
            **_details(user),
            "roles": [str(r) for r in wanted],
            "services": _services(user),
            "password": "set" if password is not None else "none (single sign-on)",
        },
    )
    return user


@transaction.atomic
def user_update(*, actor: Actor, user: User, email: str, first_name: str, last_name: str) -> bool:
    """Name and e-mail; True when something changed."""
    current = User.objects.select_for_update().get(pk=user.pk)
    before = _details(current)
    current.email, current.first_name, current.last_name = email, first_name, last_name
    current.full_clean(exclude=["password"])
    after = _details(current)
    if after == before:
        return False
    current.save(update_fields=["email", "first_name", "last_name"])
    _record(
        actor=actor_name(actor),
        action="user update",
        user=current,
        username=current.username,
        summary=f"details of {current.username} changed",
        before=before,
        after=after,
    )
    return True


@transaction.atomic
def user_roles_set(*, actor: Actor, user: User, roles: Iterable[Role], source: str = "") -> bool:
    """The user's roles become exactly `roles`; True when they changed.

    This is what a single sign-on backend calls to sync a user's groups (with `source`
    naming the identity provider, recorded as the actor)."""
    current = User.objects.select_for_update().get(pk=user.pk)
    before = roles_of(current)
    wanted = sorted(set(roles), key=list(Role).index)
    if wanted == before:
        return False
    if (
        Role.ADMIN in before
        and Role.ADMIN not in wanted
        and current.is_active
        and not _other_active_admins(current)
    ):
        raise AccountRefused(
            f"{current.username} is the last active admin: give another user the admin role first."
        )
    groups = ensure_role_groups()
    current.groups.set([groups[role] for role in wanted])
    current.__dict__.pop("_attls_capabilities", None)
    by = actor_name(actor) if not source else f"sso:{source}"
    _record(
        actor=by,
        action="user roles",
        user=current,
        username=current.username,
        summary=(
            f"roles of {current.username}: {', '.join(before) or 'none'}"
            f" -> {', '.join(wanted) or 'none'}"
        ),
        before=[str(r) for r in before],
        after=[str(r) for r in wanted],
    )
    return True


@transaction.atomic
def user_services_set(*, actor: Actor, user: User, services: Iterable[models.Model]) -> bool:
    """The services the user owns (what an app owner sees) become exactly `services`."""
    current = User.objects.select_for_update().get(pk=user.pk)
    before = _services(current)
    current.owned_services.set(list(services))  # type: ignore[attr-defined]
    after = _services(current)
    if after == before:
        return False
    _record(
        actor=actor_name(actor),
        action="user services",
        user=current,
        username=current.username,
        summary=f"services owned by {current.username}: {len(before)} -> {len(after)}",
        before=before,
        after=after,
    )
    return True


@transaction.atomic
def user_change(
    *,
    actor: Actor,
    user: User,
    email: str,
    first_name: str,
    last_name: str,
    roles: Iterable[Role],
    services: Iterable[models.Model],
) -> bool:
    """The user page's one form: details, roles and services, all saved or none (a refused
    role change leaves the details as they were). True when anything changed."""
    changed = [
        user_update(
            actor=actor, user=user, email=email, first_name=first_name, last_name=last_name
        ),
        user_roles_set(actor=actor, user=user, roles=roles),
        user_services_set(actor=actor, user=user, services=services),
    ]
    return any(changed)


@transaction.atomic
def user_deactivate(*, actor: Actor, user: User) -> None:
    """The user can no longer sign in; their sessions end and their API tokens are revoked."""
    current = User.objects.select_for_update().get(pk=user.pk)
    if not current.is_active:
        return
    if _is_self(actor, current):
        raise AccountRefused("You cannot deactivate your own account.")
    if Role.ADMIN in roles_of(current) and not _other_active_admins(current):
        raise AccountRefused(
            f"{current.username} is the last active admin: give another user the admin role first."
        )
    current.is_active = False
    current.save(update_fields=["is_active"])
    # An inactive user's session no longer authenticates (ModelBackend refuses inactive users
    # on every request), and neither would a token (knox checks is_active); the tokens are
    # deleted as well so that reactivation does not bring them back.
    revoked = _tokens_delete(current)
    _record(
        actor=actor_name(actor),
        action="user deactivate",
        user=current,
        username=current.username,
        summary=f"{current.username} deactivated; {revoked} API token(s) revoked",
        tokens_revoked=revoked,
    )


@transaction.atomic
def user_reactivate(*, actor: Actor, user: User) -> None:
    current = User.objects.select_for_update().get(pk=user.pk)
    if current.is_active:
        return
    current.is_active = True
    current.save(update_fields=["is_active"])
    _record(
        actor=actor_name(actor),
        action="user reactivate",
        user=current,
        username=current.username,
        summary=f"{current.username} reactivated",
    )


@transaction.atomic
def user_password_set(*, actor: Actor, user: User, password: str) -> None:
    """A new password set by an admin: the user's sessions end (Django ties each session to
    the password), their API tokens are revoked and any sign-in lock-out of the name lifted."""
    current = User.objects.select_for_update().get(pk=user.pk)
    validate_password(password, current)
    current.set_password(password)
    current.save(update_fields=["password"])
    revoked = _tokens_delete(current)
    lifted = axes_reset(username=current.username)
    _record(
        actor=actor_name(actor),
        action="user password reset",
        user=current,
        username=current.username,
        summary=(
            f"password of {current.username} reset; {revoked} API token(s) revoked,"
            f" {lifted} failed sign-in record(s) cleared"
        ),
        tokens_revoked=revoked,
        failures_cleared=lifted,
    )


@transaction.atomic
def user_sync_from_identity_provider(
    *,
    source: str,
    username: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    roles: Iterable[Role],
) -> User:
    """The plug for single sign-on: the identity provider `source` says who signed in and
    which roles their directory groups map to; the portal's user follows. A new user gets no
    password (they sign in only through the provider). Every change is in the audit log with
    `sso:<source>` as the actor."""
    user = User.objects.filter(username=username).first()
    if user is None:
        return user_create(
            actor=None,
            source=source,
            username=username,
            password=None,
            email=email,
            first_name=first_name,
            last_name=last_name,
            roles=roles,
        )
    current = User.objects.select_for_update().get(pk=user.pk)
    if (current.email, current.first_name, current.last_name) != (email, first_name, last_name):
        before = _details(current)
        current.email, current.first_name, current.last_name = email, first_name, last_name
        current.save(update_fields=["email", "first_name", "last_name"])
        _record(
            actor=f"sso:{source}",
            action="user update",
            user=current,
            username=current.username,
            summary=f"details of {current.username} changed by {source}",
            before=before,
            after=_details(current),
        )
    user_roles_set(actor=None, user=current, roles=roles, source=source)
    return current


# --- sign-in lock-outs (django-axes) -------------------------------------------------------


@transaction.atomic
def sign_in_lockout_lift(*, actor: Actor, username: str = "", address: str = "") -> int:
    """Forgets the failed sign-ins of a username or of an address (exactly one of the two),
    which lifts its lock-out at once. Returns how many failure records were removed."""
    if bool(username) == bool(address):
        raise AccountRefused("Name either a username or an address.")
    removed = axes_reset(username=username) if username else axes_reset(ip=address)
    user = User.objects.filter(username=username).first() if username else None
    _record(
        actor=actor_name(actor),
        action="sign-in lock-out lifted",
        user=user,
        username=username,
        summary=(
            f"sign-in lock-out lifted for {'user ' + username if username else address}"
            f" ({removed} failure record(s) cleared)"
        ),
        address=address,
        failures_cleared=removed,
    )
    return removed


# --- API tokens (django-rest-knox) -----------------------------------------------------------


def _tokens_delete(user: User) -> int:
    count, _ = ApiToken.objects.filter(user=user).delete()
    return count


class TokenLimitReached(AccountRefused):
    pass


@transaction.atomic
def api_token_create(
    *, user: User, name: str, days: int | None = None, address: str = ""
) -> tuple[ApiToken, str]:
    """A new token for `user`, valid `days` (at most API_TOKEN_MAX_DAYS, the default).

    Returns the row and the secret: only its digest is stored, so the secret is shown once.
    Refuses when the user already holds API_TOKEN_LIMIT_PER_USER live tokens."""
    max_days: int = settings.API_TOKEN_MAX_DAYS
    days = max_days if days is None else days
    if not 1 <= days <= max_days:
        raise ValidationError({"days": [f"A token is valid for 1 to {max_days} days."]})
    name = name.strip()
    if not name:
        raise ValidationError({"name": ["Name the token after what uses it."]})
    now = timezone.now()
    ApiToken.objects.filter(user=user, expiry__lte=now).delete()
    if ApiToken.objects.filter(user=user).count() >= settings.API_TOKEN_LIMIT_PER_USER:
        raise TokenLimitReached(
            f"You hold {settings.API_TOKEN_LIMIT_PER_USER} live tokens, the most allowed:"
            " revoke one you no longer use first."
        )
    token, secret = ApiToken.objects.create(user=user, expiry=timedelta(days=days), name=name)
    _record(
        actor=user.get_username(),
        action="api token create",
        user=user,
        username=user.get_username(),
        summary=f"API token {name!r} created for {user.get_username()}, valid {days} day(s)",
        token=str(token.uuid),
        expiry=token.expiry.isoformat() if token.expiry else None,
        address=address,
    )
    return token, secret


@transaction.atomic
def api_token_revoke(*, actor: Actor, token: ApiToken) -> None:
    username = token.user.get_username()
    deleted, _ = ApiToken.objects.filter(pk=token.pk).delete()
    if not deleted:
        return  # revoked meanwhile (a double click): nothing more to record
    _record(
        actor=actor_name(actor),
        action="api token revoke",
        user=token.user,
        username=username,
        summary=f"API token {token.name!r} of {username} revoked",
        token=str(token.uuid),
    )
