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
    # .all(), not values_list: a list of users with prefetched groups costs no query per user.
    names = {group.name for group in user.groups.all()}
    return [role for role in Role if ROLE_GROUPS[role] in names]


class Capability(StrEnum):
    """What a view or endpoint needs. Roles grant capabilities; views ask for capabilities."""

    VIEW_ESTATE = "view estate"  # every LPAR, stack, service and shared object
    VIEW_OWN_SERVICES = "view own services"  # only services the user owns
    EDIT_DESIGN = "edit design"  # services, rules, shared objects, imports
    PUBLISH = "publish"  # freeze a stack's draft as a policy version
    OPERATE = "operate"  # LPAR connections, approve and run deployments, roll back
    AUDIT = "audit"  # audit log, evidence packs
    MANAGE_USERS = "manage users"


CAPABILITIES: dict[Role, frozenset[Capability]] = {
    Role.ARCHITECT: frozenset(
        {Capability.VIEW_ESTATE, Capability.EDIT_DESIGN, Capability.PUBLISH, Capability.AUDIT}
    ),
    Role.OPERATOR: frozenset({Capability.VIEW_ESTATE, Capability.OPERATE}),
    Role.AUDITOR: frozenset({Capability.VIEW_ESTATE, Capability.AUDIT}),
    Role.APP_OWNER: frozenset({Capability.VIEW_OWN_SERVICES}),
    Role.ADMIN: frozenset({Capability.VIEW_ESTATE, Capability.MANAGE_USERS}),
}


def request_roles(user: User | AnonymousUser) -> list[Role]:
    """roles_of, kept on the user object for the rest of the request: every page's header
    and its permission checks both ask (one query, not one each)."""
    cached: list[Role] | None = getattr(user, "_attls_roles", None)
    if cached is None:
        cached = roles_of(user)
        if user.is_authenticated:
            user._attls_roles = cached  # type: ignore[union-attr]
    return cached


def capabilities_of(user: User | AnonymousUser) -> frozenset[Capability]:
    """Everything the user's roles grant; cached on the user object for the request."""
    cached: frozenset[Capability] | None = getattr(user, "_attls_capabilities", None)
    if cached is None:
        cached = frozenset(
            capability for role in request_roles(user) for capability in CAPABILITIES[role]
        )
        if user.is_authenticated:
            user._attls_capabilities = cached  # type: ignore[union-attr]
    return cached


def has_capability(user: User | AnonymousUser, capability: Capability) -> bool:
    return capability in capabilities_of(user)
