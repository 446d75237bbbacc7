"""The portal's roles and the Django groups that carry them.

A user's roles are the groups they belong to. What each role may do is declared
by the views and API endpoints that need it, never inferred from the name here.
"""

from enum import StrEnum

from django.contrib.auth.models import AnonymousUser, Group, User
from django.db import DEFAULT_DB_ALIAS


class Role(StrEnum):
    ARCHITECT = "architect"
    OPERATOR = "operator"
    AUDITOR = "auditor"
    APP_OWNER = "app owner"
    ADMIN = "admin"


# The Django group carrying each role. Group names are what admins see and what
# a directory sync would map onto, so they are spelled out rather than derived.
ROLE_GROUPS: dict[Role, str] = {
    Role.ARCHITECT: "architect",
    Role.OPERATOR: "operator",
    Role.AUDITOR: "auditor",
    Role.APP_OWNER: "app owner",
    Role.ADMIN: "admin",
}


def ensure_role_groups(*, using: str = DEFAULT_DB_ALIAS) -> dict[Role, Group]:
    """Create any missing role group; safe to call any number of times."""
    return {
        role: Group.objects.using(using).get_or_create(name=name)[0]
        for role, name in ROLE_GROUPS.items()
    }


def roles_of(user: User | AnonymousUser) -> list[Role]:
    """The user's roles in declaration order; none for an anonymous user."""
    if not user.is_authenticated:
        return []
    names = set(user.groups.values_list("name", flat=True))
    return [role for role in Role if ROLE_GROUPS[role] in names]
