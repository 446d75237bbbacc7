"""Sign-in with a directory password: LDAP or Active Directory (django-auth-ldap), when
LDAP_SERVER_URI is set.

The login form's username and password are tried against local accounts first (break-glass),
then against the directory: django-auth-ldap binds as the user (found by LDAP_USER_FILTER under
LDAP_USER_BASE) and reads their groups. The lock-out (django-axes, first in
AUTHENTICATION_BACKENDS) counts a wrong directory password like a wrong local one, and
refuses a locked-out name or address before the directory is asked.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.conf import settings
from django_auth_ldap.backend import LDAPBackend

from accounts import services
from accounts.identity import DirectoryAccount
from accounts.models import IdentitySource

logger = logging.getLogger(__name__)


def _first(attrs: Any, name: str) -> Any:
    """The first value of attribute `name` (compared without regard to case, as LDAP does)."""
    if not attrs or not name:
        return None
    wanted = name.casefold()
    for key, values in attrs.items():
        if key.casefold() == wanted and values:
            return values[0]
    return None


def unique_id(value: Any) -> str:
    """The entry's unique id as text: entryUUID (RFC 4530) is a UUID string already; Active
    Directory's objectGUID is 16 bytes in the little-endian layout Microsoft documents for
    GUIDs, shown as AD tools show it. django-auth-ldap decodes every value as UTF-8 where it
    can, so 16 bytes that happen to be valid UTF-8 arrive as text and are turned back."""
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            value = value.encode("utf-8")
    if isinstance(value, bytes) and len(value) == 16:
        return str(uuid.UUID(bytes_le=value))
    if isinstance(value, bytes):
        return value.hex()
    return ""


class LdapBackend(LDAPBackend):  # type: ignore[misc]
    """A person the directory accepts signs in as the portal user of their directory entry
    (found by its entryUUID / objectGUID, never by name), with roles and services from the
    directory-group mapping of the group DNs the directory lists for them."""

    def get_or_build_user(self, username: str, ldap_user: Any) -> tuple[Any, bool]:
        attrs = ldap_user.attrs
        subject = unique_id(_first(attrs, settings.LDAP_UNIQUE_ID_ATTRIBUTE))
        if not subject:
            raise ldap_user.AuthenticationFailed(
                f"{ldap_user.dn} has no {settings.LDAP_UNIQUE_ID_ATTRIBUTE}: cannot tell who it is"
            )
        account = DirectoryAccount(
            source=IdentitySource.LDAP,
            issuer=settings.LDAP_IDENTITY_ISSUER,
            subject=subject,
            username=username,
            email=str(_first(attrs, "mail") or ""),
            first_name=str(_first(attrs, "givenName") or ""),
            last_name=str(_first(attrs, "sn") or ""),
            groups=tuple(sorted(ldap_user.group_dns)),
            person_link=str(_first(attrs, settings.SSO_PERSON_LINK_LDAP_ATTRIBUTE) or ""),
        )
        try:
            user = services.directory_user_sign_in(account=account)
        except services.AccountRefused as refused:
            # django-auth-ldap turns this into a refused sign-in (and axes counts it).
            raise ldap_user.AuthenticationFailed(str(refused)) from refused
        return user, False

    def get_user(self, user_id: Any) -> Any:
        # A user deactivated in the portal is signed out at their next request, as
        # Django's ModelBackend does for local accounts.
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None
