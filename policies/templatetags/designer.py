"""Template helpers of the designer: capabilities, badges and small formatting."""

from django import template

from accounts.roles import Capability, has_capability

register = template.Library()


@register.filter
def can(user: object, capability: str) -> bool:
    """`{% if user|can:"edit design" %}`: whether the user's roles grant the capability."""
    return has_capability(user, Capability(capability))  # type: ignore[arg-type]


@register.filter
def on_off(value: object) -> str:
    return "On" if value else "Off"


@register.filter
def short_sha(value: str) -> str:
    return value[:12]


@register.filter
def get_item(mapping: dict[str, object], key: str) -> object:
    return mapping.get(key)
