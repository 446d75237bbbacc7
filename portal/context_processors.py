from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.roles import Capability, capabilities_of, has_capability, request_roles


def roles(request: HttpRequest) -> dict[str, object]:
    """`user_roles` for the header of every page, and `can_audit` for the links into the audit
    log (an object's history); each queried only when a template uses it. `capability_key`
    names what the user may do, for the navigation's kept renderings (base.html): the links a
    page shows depend on that and on the page, never on who the user is."""
    return {
        "capability_key": SimpleLazyObject(lambda: ",".join(sorted(capabilities_of(request.user)))),
        "user_roles": SimpleLazyObject(lambda: request_roles(request.user)),
        "can_audit": SimpleLazyObject(lambda: has_capability(request.user, Capability.AUDIT)),
    }
