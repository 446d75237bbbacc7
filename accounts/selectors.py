"""Reads of accounts that depend on who asks: users, directory identities and the
directory-group mapping (admins only), one's own API tokens, and the sign-in lock-outs in
force."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import ApiToken, DirectoryGroupMapping, DirectoryIdentity
from accounts.roles import Capability, has_capability


def user_list_for(*, user: User | AnonymousUser) -> QuerySet[User]:
    """Every user for an admin (Capability.MANAGE_USERS); nobody for anyone else."""
    if not has_capability(user, Capability.MANAGE_USERS):
        return User.objects.none()
    return User.objects.order_by("username").prefetch_related("groups")


def user_for(*, user: User | AnonymousUser, username: str) -> User:
    found = user_list_for(user=user).filter(username=username).first()
    if found is None:
        raise Http404("No such user.")
    return found


def directory_group_mapping_list_for(
    *, user: User | AnonymousUser
) -> QuerySet[DirectoryGroupMapping]:
    """The directory-group mapping for an admin (Capability.MANAGE_USERS); nothing for others."""
    if not has_capability(user, Capability.MANAGE_USERS):
        return DirectoryGroupMapping.objects.none()
    return DirectoryGroupMapping.objects.prefetch_related("services__stack__lpar")


def directory_group_mapping_for(
    *, user: User | AnonymousUser, uuid: object
) -> DirectoryGroupMapping:
    found = directory_group_mapping_list_for(user=user).filter(uuid=uuid).first()
    if found is None:
        raise Http404("No such directory group mapping.")
    return found


def directory_identity_list_for(
    *, user: User | AnonymousUser, subject: User
) -> list[DirectoryIdentity]:
    """The directory identities that sign in as `subject`, for an admin."""
    if not has_capability(user, Capability.MANAGE_USERS):
        return []
    return list(DirectoryIdentity.objects.filter(user=subject))


def api_token_list_for(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[ApiToken]:
    """The live (unexpired) tokens the user owns; nobody sees anyone else's."""
    if not user.is_authenticated:
        return ApiToken.objects.none()
    return ApiToken.objects.filter(user=user, expiry__gt=timezone.now()).order_by("-created")


@dataclass(frozen=True)
class Lockout:
    """A username or an address that may not sign in now, and until when."""

    username: str
    address: str
    failures: int
    until: datetime


def sign_in_lockouts() -> list[Lockout]:
    """Lock-outs in force as django-axes counts them (accounts.lockout.LockoutHandler): the
    failures recorded within the cool-off time for a username from one address reach
    AXES_FAILURE_LIMIT, or from one address over any usernames reach
    AUTH_LOCKOUT_ADDRESS_FAILURES."""
    cool_off = get_cool_off() or timedelta(0)  # settings always set one (AUTH_LOCKOUT_MINUTES)
    attempts = AccessAttempt.objects.filter(attempt_time__gte=timezone.now() - cool_off)
    by_pair: dict[tuple[str, str], list[AccessAttempt]] = defaultdict(list)
    by_address: dict[tuple[str, str], list[AccessAttempt]] = defaultdict(list)
    for attempt in attempts:
        if attempt.username and attempt.ip_address:
            by_pair[(attempt.username, attempt.ip_address)].append(attempt)
        if attempt.ip_address:
            by_address[("", attempt.ip_address)].append(attempt)
    found = []
    for groups, limit in (
        (by_pair, settings.AXES_FAILURE_LIMIT),
        (by_address, settings.AUTH_LOCKOUT_ADDRESS_FAILURES),
    ):
        for (username, address), rows in groups.items():
            failures = sum(row.failures_since_start for row in rows)
            if failures < limit:
                continue
            last = max(row.attempt_time for row in rows)
            found.append(
                Lockout(
                    username=username, address=address, failures=failures, until=last + cool_off
                )
            )
    return sorted(found, key=lambda lockout: (lockout.username, lockout.address))
