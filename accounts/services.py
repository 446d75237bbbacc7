"""Writes to accounts: users, their roles and services, passwords, sign-in lock-outs, API tokens.

The user-management pages, the token page and the token API call these; so do the single
sign-on backends (accounts/sso/): `directory_user_sign_in` finds the user of a directory
identity, creates it on its first sign-in, and sets its roles and services from the
directory-group mapping (`directory_group_mapping_*` keep that table). Each write validates
first, runs in one transaction and tells the audit log what changed (accounts.events), before
and after.

Guards that hold whoever calls: nobody deactivates themselves, and the last active admin can
neither be deactivated nor lose the admin role, so the portal always has someone who can
manage users.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from ldap import dn as ldap_dn

from accounts.events import account_event_send
from accounts.identity import DirectoryAccount, normalise_person_link
from accounts.models import ApiToken, DirectoryGroupMapping, DirectoryIdentity, IdentitySource
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
    for kept in ("_attls_roles", "_attls_capabilities"):  # accounts.roles.request_roles
        current.__dict__.pop(kept, None)
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
def user_services_set(
    *, actor: Actor, user: User, services: Iterable[models.Model], source: str = ""
) -> bool:
    """The services the user owns (what an app owner sees) become exactly `services`.
    `source` names the identity provider of a directory sync, recorded as the actor."""
    current = User.objects.select_for_update().get(pk=user.pk)
    before = _services(current)
    current.owned_services.set(list(services))  # type: ignore[attr-defined]
    after = _services(current)
    if after == before:
        return False
    _record(
        actor=actor_name(actor) if not source else f"sso:{source}",
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
    services: Iterable[models.Model] | None = None,
    user: User | None = None,
) -> User:
    """The plug for single sign-on: the identity provider `source` says who signed in and
    which roles (and, unless `services` is None, which owned services) their directory groups
    map to; the portal's user follows. `user` is the account to update when the caller knows
    it (directory_user_sign_in finds it by the directory's unique id); without it the user
    is looked up by `username`. A new user gets no password (they sign in only through the
    provider). Every change is in the audit log with `sso:<source>` as the actor."""
    if user is None:
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
            services=services or (),
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
    if services is not None:
        user_services_set(actor=None, user=current, services=services, source=source)
    return current


# --- single sign-on: directory identities and the group mapping -------------------------------

_USERNAME_UNSAFE = re.compile(r"[^\w.@+-]")


def _free_username(account: DirectoryAccount) -> str:
    """A username for a directory account signing in for the first time: the name its
    directory prefers when no portal user has it, else that name with the source appended
    ("alice@oidc"), numbered if need be.

    A directory account never takes over an existing portal user by its name: otherwise a
    directory entry named like the local break-glass admin would sign in as that admin."""
    base = _USERNAME_UNSAFE.sub("-", account.username.strip())[:120].strip("-")
    if not base:
        base = f"{account.source}-{_USERNAME_UNSAFE.sub('-', account.subject)[:40]}"
    candidates = [base, f"{base}@{account.source}"]
    candidates += [f"{base}@{account.source}-{n}" for n in range(2, 100)]
    taken = set(User.objects.filter(username__in=candidates).values_list("username", flat=True))
    for candidate in candidates:
        if candidate not in taken:
            return candidate
    raise AccountRefused(f"no free username for {account.username!r} from {account.source}")


def _group_key(source: str, group: str) -> str:
    # LDAP compares DNs without regard to case (RFC 4514 attribute values of the usual
    # syntaxes); an OIDC groups claim is a JSON string, compared exactly.
    return group.strip().casefold() if source == IdentitySource.LDAP else group.strip()


def directory_grants(
    *, source: str, groups: Iterable[str]
) -> tuple[list[Role], list[models.Model], list[DirectoryGroupMapping]]:
    """What the mapping table gives members of `groups` of a `source` directory: the union of
    the roles and of the services of every mapping of those groups, and the mappings used."""
    wanted = {_group_key(source, group) for group in groups}
    used = [
        mapping
        for mapping in DirectoryGroupMapping.objects.filter(source=source).prefetch_related(
            "services"
        )
        if _group_key(source, mapping.group) in wanted
    ]
    known = {role.value for role in Role}
    roles = {Role(value) for mapping in used for value in mapping.roles if value in known}
    services = {service.pk: service for mapping in used for service in mapping.services.all()}
    return sorted(roles, key=list(Role).index), list(services.values()), used


@transaction.atomic
def directory_user_sign_in(*, account: DirectoryAccount) -> User:
    """A directory accepted a sign-in: the portal user of that identity, created on its first
    sign-in, follows what the directory says now. Its roles and owned services become exactly
    what the mappings of its current groups give, so a person removed from a group loses
    what the group gave at this sign-in. Refused (AccountRefused) for a deactivated user:
    deactivating in the portal outranks the directory.

    The identity is found by the directory's unique id (DirectoryIdentity), never by name."""
    roles, services, used = directory_grants(source=account.source, groups=account.groups)
    link = normalise_person_link(account.person_link) if account.person_link else ""
    identity = (
        DirectoryIdentity.objects.select_for_update()
        .select_related("user")
        .filter(source=account.source, issuer=account.issuer, subject=account.subject)
        .first()
    )
    details = {
        "email": account.email[:254],
        "first_name": account.first_name[:150],
        "last_name": account.last_name[:150],
    }
    if identity is None:
        try:
            # A savepoint: the first sign-ins of one identity in two browsers at once both
            # find no identity; the second to save hits the unique constraint and is refused
            # (try again: it then finds the identity) rather than failing with a 500.
            with transaction.atomic():
                user = user_create(
                    actor=None,
                    source=account.source,
                    username=_free_username(account),
                    password=None,
                    roles=roles,
                    services=services,
                    **details,
                )
                identity = DirectoryIdentity.objects.create(
                    user=user,
                    source=account.source,
                    issuer=account.issuer,
                    subject=account.subject,
                    person_link=link,
                )
        except IntegrityError as error:
            raise AccountRefused(
                f"{account.source} identity {account.subject} was being set up by another"
                " sign-in at the same time; sign in again"
            ) from error
        except ValidationError as error:
            raise AccountRefused(
                f"the {account.source} directory's details for {account.subject} are not"
                f" accepted here: {'; '.join(error.messages)}"
            ) from error
        _record(
            actor=f"sso:{account.source}",
            action="directory identity link",
            user=user,
            username=user.username,
            summary=(
                f"{identity} signs in as {user.username}"
                + (f" (person link {link!r})" if link else "")
            ),
            source=account.source,
            issuer=account.issuer,
            subject=account.subject,
            person_link=link,
            groups=list(account.groups),
            mappings=[str(mapping.uuid) for mapping in used],
        )
        return user
    user = identity.user
    if not user.is_active:
        raise AccountRefused(f"{user.username} is deactivated in the portal")
    if identity.person_link != link:
        _record(
            actor=f"sso:{account.source}",
            action="directory identity link",
            user=user,
            username=user.username,
            summary=f"person link of {identity}: {identity.person_link!r} -> {link!r}",
            before=identity.person_link,
            after=link,
        )
        identity.person_link = link
    identity.last_seen = timezone.now()
    identity.save(update_fields=["person_link", "last_seen"])
    return user_sync_from_identity_provider(
        source=account.source,
        username=user.username,
        roles=roles,
        services=services,
        user=user,
        **details,
    )


def _mapping_snapshot(mapping: DirectoryGroupMapping) -> dict[str, Any]:
    return {
        "source": mapping.source,
        "group": mapping.group,
        "roles": list(mapping.roles),
        "services": [
            {"uuid": str(s.uuid), "service": f"{s.stack}/{s.name}"}  # type: ignore[attr-defined]
            for s in mapping.services.select_related("stack__lpar").order_by("pk")
        ],
        "note": mapping.note,
    }


def _mapping_clean(
    *, source: str, group: str, roles: Iterable[Role], exclude: int | None = None
) -> tuple[str, list[str]]:
    group = group.strip()
    if source not in IdentitySource.values:
        raise ValidationError({"source": [f"Choose one of {', '.join(IdentitySource.values)}."]})
    if not group:
        raise ValidationError({"group": ["Name the directory group."]})
    if len(group) > 512 or any(ord(c) < 32 or ord(c) == 127 for c in group):
        raise ValidationError({"group": ["At most 512 characters, no control characters."]})
    if source == IdentitySource.LDAP and not ldap_dn.is_dn(group):
        raise ValidationError(
            {"group": ["An LDAP group is named by its DN, e.g. cn=zos-operators,ou=groups,o=bank."]}
        )
    taken = [
        mapping
        for mapping in DirectoryGroupMapping.objects.filter(source=source).exclude(pk=exclude)
        if _group_key(source, mapping.group) == _group_key(source, group)
    ]
    if taken:
        raise ValidationError({"group": [f"{taken[0]} is mapped already: change that mapping."]})
    return group, [str(role) for role in sorted(set(roles), key=list(Role).index)]


def _mapping_record(
    *, actor: Actor, action: str, mapping: DirectoryGroupMapping, summary: str, **data: Any
) -> None:
    # The audit log files account events under the user they concern; a mapping concerns
    # no one user, so it is named in the data (mapping uuid) and the summary.
    account_event_send(
        actor=actor_name(actor),
        action=action,
        username="",
        summary=summary,
        data={"mapping": str(mapping.uuid), **data},
    )


@transaction.atomic
def directory_group_mapping_create(
    *,
    actor: Actor,
    source: str,
    group: str,
    roles: Iterable[Role],
    services: Iterable[models.Model] = (),
    note: str = "",
) -> DirectoryGroupMapping:
    """Members of the directory group `group` get `roles` and own `services`, from their next
    sign-in through that directory."""
    group, role_values = _mapping_clean(source=source, group=group, roles=roles)
    mapping = DirectoryGroupMapping.objects.create(
        source=source, group=group, roles=role_values, note=note.strip()[:200]
    )
    mapping.services.set(list(services))
    after = _mapping_snapshot(mapping)
    _mapping_record(
        actor=actor,
        action="directory group mapping create",
        mapping=mapping,
        summary=f"{mapping} mapped to roles {', '.join(role_values) or 'none'}"
        f" and {len(after['services'])} service(s)",
        after=after,
    )
    return mapping


@transaction.atomic
def directory_group_mapping_update(
    *,
    actor: Actor,
    mapping: DirectoryGroupMapping,
    group: str,
    roles: Iterable[Role],
    services: Iterable[models.Model],
    note: str = "",
) -> bool:
    """The mapping gives `roles` and `services` from now on (members' next sign-in); True when
    it changed."""
    current = DirectoryGroupMapping.objects.select_for_update().get(pk=mapping.pk)
    before = _mapping_snapshot(current)
    group, role_values = _mapping_clean(
        source=current.source, group=group, roles=roles, exclude=current.pk
    )
    current.group, current.roles, current.note = group, role_values, note.strip()[:200]
    current.save(update_fields=["group", "roles", "note", "updated"])
    current.services.set(list(services))
    after = _mapping_snapshot(current)
    if after == before:
        return False
    _mapping_record(
        actor=actor,
        action="directory group mapping update",
        mapping=current,
        summary=f"{current} changed: roles {', '.join(before['roles']) or 'none'}"
        f" -> {', '.join(after['roles']) or 'none'}, services {len(before['services'])}"
        f" -> {len(after['services'])}",
        before=before,
        after=after,
    )
    return True


@transaction.atomic
def directory_group_mapping_delete(*, actor: Actor, mapping: DirectoryGroupMapping) -> None:
    """Members of the group no longer get anything for it, from their next sign-in."""
    current = DirectoryGroupMapping.objects.select_for_update().filter(pk=mapping.pk).first()
    if current is None:
        return  # deleted meanwhile (a double click): nothing more to record
    before = _mapping_snapshot(current)
    _mapping_record(
        actor=actor,
        action="directory group mapping delete",
        mapping=current,
        summary=f"{current} no longer mapped (gave roles {', '.join(before['roles']) or 'none'})",
        before=before,
    )
    current.delete()


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
