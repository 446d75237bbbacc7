"""Template helpers of the designer: capabilities, badges and small formatting."""

from typing import Any

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


@register.filter
def error_lines(form: Any) -> list[tuple[str, str]]:
    """(label, message) of every error of a bound form, field by field, then the form's own.

    The label is left out when the message already begins with it ("Name 'x y' has ..."),
    so a list of errors never reads "Name: Name ...".
    """
    lines: list[tuple[str, str]] = []
    for field in form:
        label = str(field.label or field.name)
        for message in field.errors:
            repeats = str(message).lower().startswith(label.lower())
            lines.append(("" if repeats else label, str(message)))
    lines.extend(("", str(message)) for message in form.non_field_errors())
    return lines
