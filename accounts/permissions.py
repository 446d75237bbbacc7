"""The DRF side of the same capability checks."""

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.roles import Capability, has_capability

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def capability_permission(
    *, read: tuple[Capability, ...], write: tuple[Capability, ...] = ()
) -> type[BasePermission]:
    """A permission class: reads need any of `read`, writes any of `write` (none: no writes)."""

    class HasCapability(BasePermission):
        message = "Your role does not allow this."

        def has_permission(self, request: Request, view: Any) -> bool:
            wanted = read if request.method in SAFE_METHODS else write
            return bool(request.user and request.user.is_authenticated) and any(
                has_capability(request.user, c) for c in wanted
            )

    HasCapability.__name__ = f"HasCapability({'/'.join(read)};{'/'.join(write)})"
    return HasCapability
