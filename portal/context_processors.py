from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.roles import roles_of


def roles(request: HttpRequest) -> dict[str, object]:
    """`user_roles` for the header of every page; queried only when a template uses it."""
    return {"user_roles": SimpleLazyObject(lambda: roles_of(request.user))}
