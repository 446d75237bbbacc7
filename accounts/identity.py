"""Who is the same person, whatever account they signed in with.

Four eyes (fleet.services: a deployment's approver is neither its requester nor the author of
a version it deploys) is about people, not user rows. One person may hold several portal
accounts: a local break-glass account and a directory account, or an OpenID Connect identity
and an LDAP one (accounts.models.DirectoryIdentity). Two accounts are one person when:

- they are the same row; or
- a directory identity of each carries the same person link: the normalised value of the
  attribute both directories share (SSO_PERSON_LINK_OIDC_CLAIM / SSO_PERSON_LINK_LDAP_ATTRIBUTE,
  e.g. the employee number; by default the e-mail address); or
- with SSO_PERSON_LINK_BY_EMAIL on (the default), they carry the same e-mail address, or one
  account's e-mail address is the other's person link. This is what ties a local account, which
  has no directory identity, to its holder's directory accounts: an admin gives the break-glass
  account its holder's directory e-mail address.

Linking errs on the side of four eyes: two people who share an e-mail address (a team mailbox
on two accounts) are taken for one and cannot approve each other's changes; give each person
their own address. Splitting one person into two needs an admin to change an e-mail address,
which the audit log records.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from accounts.models import DirectoryIdentity

Account = AbstractBaseUser | AnonymousUser | None


def normalise_person_link(value: object) -> str:
    """The form in which person links are compared: trimmed, case folded (directories compare
    mail and most string attributes without regard to case); bytes decoded as UTF-8."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return str(value).strip().casefold()[:255]


def person_keys(user: Account) -> frozenset[str]:
    """What identifies the person behind `user`: any key two accounts share makes them one
    person. Empty for no user or an anonymous one."""
    if user is None or not user.is_authenticated or user.pk is None:
        return frozenset()
    keys = {f"user:{user.pk}"}
    links = DirectoryIdentity.objects.filter(user_id=user.pk).exclude(person_link="")
    keys.update(f"link:{link}" for link in links.values_list("person_link", flat=True))
    email = getattr(user, "email", "")
    if email and settings.SSO_PERSON_LINK_BY_EMAIL:
        keys.add(f"link:{normalise_person_link(email)}")
    return frozenset(keys)


def same_person(a: Account, b: Account) -> bool:
    """True when the accounts `a` and `b` belong to one person (see the module's docstring)."""
    if a is None or b is None or a.pk is None or b.pk is None:
        return False
    if a.pk == b.pk:
        return True
    return bool(person_keys(a) & person_keys(b))


@dataclass(frozen=True)
class DirectoryAccount:
    """What a directory said, at a sign-in it accepted, about the person who signed in: the
    identity (source, issuer, subject), details for the portal's user, the groups (OIDC groups
    claim values, or LDAP group DNs) and the person link (see the module's docstring)."""

    source: str  # accounts.models.IdentitySource
    issuer: str
    subject: str
    username: str  # the name the directory prefers; the portal's may differ when it is taken
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    groups: tuple[str, ...] = ()
    person_link: str = ""
