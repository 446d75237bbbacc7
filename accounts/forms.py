"""Forms of the user-management pages (and the directory-group mapping) and the token page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import password_validators_help_texts
from django.db.models import Model, QuerySet

from accounts.models import IdentitySource
from accounts.roles import ROLE_GROUPS, Role


def services_queryset() -> QuerySet[Model]:
    """Every service, for the ownership field. accounts is below policies in the layers, so
    it reaches the Service model through the relation policies declares on User
    (`owned_services`), not by importing it."""
    model: Any = User._meta.get_field("owned_services").related_model
    return model.objects.select_related("stack__lpar").order_by(
        "stack__lpar__name", "stack__name", "name"
    )


class ServiceChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.stack}/{obj.name}"


ROLE_HELP = {
    Role.ARCHITECT: "models services, publishes policy versions",
    Role.OPERATOR: "manages LPAR connections, approves and runs deployments",
    Role.AUDITOR: "reads everything, evidence packs, the audit log",
    Role.APP_OWNER: "sees only the services they own (below)",
    Role.ADMIN: "manages users and roles",
}


def _roles_field() -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label="Roles",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[(role.value, f"{ROLE_GROUPS[role]} — {ROLE_HELP[role]}") for role in Role],
    )


def _services_field() -> ServiceChoiceField:
    return ServiceChoiceField(
        label="Owns services",
        queryset=services_queryset(),
        required=False,
        to_field_name="uuid",
        widget=forms.SelectMultiple(attrs={"size": 10}),
        help_text="An app owner sees the status, connections and evidence of these services only.",
    )


class _Roles:
    cleaned_data: dict[str, Any]

    def roles(self) -> list[Role]:
        return [Role(value) for value in self.cleaned_data.get("roles") or []]


class UserEditForm(_Roles, forms.Form):
    first_name = forms.CharField(label="First name", max_length=150, required=False)
    last_name = forms.CharField(label="Last name", max_length=150, required=False)
    email = forms.EmailField(label="E-mail", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["roles"] = _roles_field()
        self.fields["services"] = _services_field()


class PasswordPairMixin:
    """Two password fields that must match; validated against AUTH_PASSWORD_VALIDATORS by
    the service (so that the same rules hold for any caller)."""

    def clean_passwords(self: Any) -> None:
        first = self.cleaned_data.get("password1")
        second = self.cleaned_data.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")


def _password_fields() -> tuple[forms.CharField, forms.CharField]:
    return (
        forms.CharField(
            label="Password",
            strip=False,
            widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
            help_text=" ".join(password_validators_help_texts()),
        ),
        forms.CharField(
            label="Password again",
            strip=False,
            widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        ),
    )


class UserCreateForm(PasswordPairMixin, UserEditForm):
    username = forms.CharField(
        label="Username",
        max_length=150,
        help_text="Letters, digits and @ . + - _ only; what the user signs in with.",
    )

    field_order = ["username", "first_name", "last_name", "email", "password1", "password2"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password1"], self.fields["password2"] = _password_fields()
        self.order_fields(self.field_order)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self.clean_passwords()
        return data


class PasswordSetForm(PasswordPairMixin, forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["password1"], self.fields["password2"] = _password_fields()
        self.fields["password1"].label = "New password"
        self.fields["password2"].label = "New password again"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self.clean_passwords()
        return data


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=64,
        help_text="What will use the token, e.g. 'CI pipeline' or 'inventory script'.",
    )
    days = forms.IntegerField(
        label="Valid for (days)",
        min_value=1,
        max_value=settings.API_TOKEN_MAX_DAYS,
        initial=settings.API_TOKEN_MAX_DAYS,
        help_text=f"At most {settings.API_TOKEN_MAX_DAYS} days.",
    )


class DirectoryGroupMappingForm(_Roles, forms.Form):
    """One row of the directory-group mapping. The source is chosen when the row is made and
    stays: a group of one directory is not a group of another."""

    source = forms.ChoiceField(label="Directory", choices=IdentitySource.choices)
    group = forms.CharField(
        label="Group",
        max_length=512,
        help_text=(
            "OpenID Connect: a value of the groups claim, exactly as the provider sends it."
            " LDAP / Active Directory: the group's DN, e.g. cn=zos-operators,ou=groups,o=bank"
            " (compared without regard to case)."
        ),
    )
    note = forms.CharField(label="Note", max_length=200, required=False)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["roles"] = _roles_field()
        self.fields["roles"].help_text = "Members get these roles at their next sign-in."
        self.fields["services"] = _services_field()
        self.fields["services"].help_text = "Members own these services from their next sign-in."
        if editing:
            self.fields["source"].disabled = True
