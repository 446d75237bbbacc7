from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.roles import Capability, has_capability, roles_of


def roles(request: HttpRequest) -> dict[str, object]:
    """`user_roles` for the header of every page, and `can_audit` for the links into the audit
    log (an object's history); each queried only when a template uses it."""
    return {
        "user_roles": SimpleLazyObject(lambda: roles_of(request.user)),
        "can_audit": SimpleLazyObject(lambda: has_capability(request.user, Capability.AUDIT)),
    }
