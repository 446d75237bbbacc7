"""Pages under /accounts/: your API tokens (anyone signed in), and user management with the
directory-group mapping (admins); the login page.

User management needs Capability.MANAGE_USERS (the admin role); anyone else is answered 403
and nothing changes. Every write goes through accounts.services, which records it in the
audit log.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.contrib.auth.views import LoginView
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services
from accounts.client import client_address
from accounts.decorators import requires
from accounts.forms import (
    DirectoryGroupMappingForm,
    PasswordSetForm,
    TokenCreateForm,
    UserCreateForm,
    UserEditForm,
)
from accounts.lockout import lockout_minutes
from accounts.models import DirectoryGroupMapping
from accounts.roles import Capability, roles_of

MANAGE = Capability.MANAGE_USERS


def _form_errors(form: Any, error: ValidationError) -> None:
    """A service's ValidationError onto the form: on the field it names, else on the form."""
    if hasattr(error, "error_dict"):
        for field, messages_ in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages_)
    else:
        form.add_error(None, error.messages)


# --- your API tokens ---------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """List, create and revoke your own tokens. A new token's secret is shown on this answer
    only: the portal keeps a digest of it."""
    form = TokenCreateForm(request.POST if request.POST.get("action") == "create" else None)
    created = None
    status = 200
    if request.method == "POST" and request.POST.get("action") == "revoke":
        token = selectors.api_token_list_for(user=request.user).filter(
            uuid=_uuid_or_none(request.POST.get("token", ""))
        )
        found = token.first()
        if found is None:
            messages.error(request, "No such token of yours (it may have expired or been revoked).")
            status = 404
        else:
            services.api_token_revoke(actor=request.user, token=found)
            messages.success(request, f"Token {found.name!r} revoked: it no longer works.")
            return redirect("accounts:tokens")
    elif request.method == "POST":
        if form.is_valid():
            try:
                token_row, secret = services.api_token_create(
                    user=request.user,  # type: ignore[arg-type]
                    name=form.cleaned_data["name"],
                    days=form.cleaned_data["days"],
                    address=client_address(request),
                )
            except services.AccountRefused as refused:
                form.add_error(None, str(refused))
            except ValidationError as error:
                _form_errors(form, error)
            else:
                created = {"token": token_row, "secret": secret}
                form = TokenCreateForm()
        if created is None:
            status = 422
    context = {
        "section": "tokens",
        "form": form,
        "tokens": selectors.api_token_list_for(user=request.user),
        "created": created,
    }
    return render(request, "accounts/tokens.html", context, status=status)


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


# --- user management (admins) ------------------------------------------------------------------


@requires(MANAGE)
@require_http_methods(["GET"])
def user_list(request: HttpRequest) -> HttpResponse:
    users = selectors.user_list_for(user=request.user)
    rows = [(user, roles_of(user)) for user in users]
    context = {
        "section": "users",
        "rows": rows,
        "lockouts": selectors.sign_in_lockouts(),
        "lockout_minutes": lockout_minutes(),
        "failures": settings.AXES_FAILURE_LIMIT,
        "address_failures": settings.AUTH_LOCKOUT_ADDRESS_FAILURES,
    }
    return render(request, "accounts/user_list.html", context)


@requires(MANAGE)
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.user_create(
                actor=request.user,
                username=data["username"],
                password=data["password1"],
                email=data["email"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                roles=form.roles(),
                services=data["services"],
            )
        except ValidationError as error:
            _form_errors(form, _password_errors_on_field(error))
        else:
            messages.success(request, f"User {user.username} created.")
            return redirect("accounts:user", username=user.username)
    status = 422 if request.method == "POST" else 200
    return render(
        request, "accounts/user_form.html", {"section": "users", "form": form}, status=status
    )


def _password_errors_on_field(error: ValidationError) -> ValidationError:
    # validate_password raises a list, not a dict: those messages are about the password.
    if hasattr(error, "error_dict"):
        return error
    return ValidationError({"password1": error.messages})


def _user_page(
    request: HttpRequest,
    user: User,
    *,
    form: UserEditForm | None = None,
    password_form: PasswordSetForm | None = None,
    status: int = 200,
) -> HttpResponse:
    if form is None:
        form = UserEditForm(
            initial={
                "first_name": user.first_name,
                "last_name": user.last_name,
                "email": user.email,
                "roles": [role.value for role in roles_of(user)],
                "services": list(
                    user.owned_services.values_list("uuid", flat=True)  # type: ignore[attr-defined]
                ),
            }
        )
    lockouts = [
        lockout for lockout in selectors.sign_in_lockouts() if lockout.username == user.username
    ]
    context = {
        "section": "users",
        "subject": user,
        "roles": roles_of(user),
        "form": form,
        "password_form": password_form or PasswordSetForm(),
        "lockouts": lockouts,
        "token_count": selectors.api_token_list_for(user=user).count(),
        "is_self": user.pk == request.user.pk,
        "identities": selectors.directory_identity_list_for(user=request.user, subject=user),
    }
    return render(request, "accounts/user_detail.html", context, status=status)


@requires(MANAGE)
@require_http_methods(["GET", "POST"])
def user_detail(request: HttpRequest, username: str) -> HttpResponse:
    """The user's details, roles and services (one form); password, activity and lock-out
    have forms of their own on the page."""
    user = selectors.user_for(user=request.user, username=username)
    if request.method == "GET":
        return _user_page(request, user)
    form = UserEditForm(request.POST)
    if not form.is_valid():
        return _user_page(request, user, form=form, status=422)
    data = form.cleaned_data
    try:
        changed = services.user_change(
            actor=request.user,
            user=user,
            email=data["email"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            roles=form.roles(),
            services=data["services"],
        )
    except services.AccountRefused as refused:
        form.add_error("roles", str(refused))
        return _user_page(request, user, form=form, status=422)
    except ValidationError as error:
        _form_errors(form, error)
        return _user_page(request, user, form=form, status=422)
    messages.success(request, f"{user.username} saved." if changed else "Nothing changed.")
    return redirect("accounts:user", username=user.username)


@requires(MANAGE)
@require_POST
def user_password(request: HttpRequest, username: str) -> HttpResponse:
    user = selectors.user_for(user=request.user, username=username)
    form = PasswordSetForm(request.POST)
    if form.is_valid():
        try:
            services.user_password_set(
                actor=request.user, user=user, password=form.cleaned_data["password1"]
            )
        except ValidationError as error:
            form.add_error("password1", error.messages)
        else:
            messages.success(
                request,
                f"Password of {user.username} set; their sessions ended and their API tokens"
                " were revoked. Give them the new password by a channel you trust.",
            )
            return redirect("accounts:user", username=user.username)
    return _user_page(request, user, password_form=form, status=422)


@requires(MANAGE)
@require_POST
def user_active(request: HttpRequest, username: str) -> HttpResponse:
    """POST active=false deactivates, active=true reactivates."""
    user = selectors.user_for(user=request.user, username=username)
    wanted = request.POST.get("active")
    try:
        if wanted == "false":
            services.user_deactivate(actor=request.user, user=user)
            messages.success(request, f"{user.username} deactivated; their API tokens revoked.")
        elif wanted == "true":
            services.user_reactivate(actor=request.user, user=user)
            messages.success(request, f"{user.username} reactivated.")
        else:
            messages.error(request, "Say active=true or active=false.")
            return _user_page(request, user, status=422)
    except services.AccountRefused as refused:
        messages.error(request, str(refused))
        return _user_page(request, user, status=422)
    return redirect("accounts:user", username=user.username)


@requires(MANAGE)
@require_POST
def lockout_lift(request: HttpRequest) -> HttpResponse:
    """Lifts a sign-in lock-out of a username or of an address, before its time."""
    username = request.POST.get("username", "").strip()
    address = request.POST.get("address", "").strip()
    try:
        removed = services.sign_in_lockout_lift(
            actor=request.user, username=username, address=address
        )
    except services.AccountRefused as refused:
        messages.error(request, str(refused))
        return redirect("accounts:users")
    what = f"user {username}" if username else f"address {address}"
    messages.success(
        request,
        f"Sign-in lock-out of {what} lifted ({removed} failure record(s) cleared)."
        if removed
        else f"{what} was not locked out.",
    )
    # Back to the user's page when the lift was asked from there, else to the list.
    if username and request.POST.get("next") == "user":
        return redirect("accounts:user", username=username)
    return redirect("accounts:users")


# --- directory-group mapping (admins) ----------------------------------------------------------


def _mapping_initial(mapping: DirectoryGroupMapping) -> dict[str, Any]:
    return {
        "source": mapping.source,
        "group": mapping.group,
        "roles": list(mapping.roles),
        "services": [service.uuid for service in mapping.services.all()],  # type: ignore[attr-defined]
        "note": mapping.note,
    }


def _mapping_list_page(
    request: HttpRequest, form: DirectoryGroupMappingForm, status: int = 200
) -> HttpResponse:
    context = {
        "section": "users",
        "mappings": selectors.directory_group_mapping_list_for(user=request.user),
        "form": form,
        "oidc_enabled": settings.OIDC_ENABLED,
        "ldap_enabled": settings.LDAP_ENABLED,
    }
    return render(request, "accounts/group_mappings.html", context, status=status)


@requires(MANAGE)
@require_http_methods(["GET", "POST"])
def group_mappings(request: HttpRequest) -> HttpResponse:
    """The directory-group mapping: what each directory group gives its members; a form to
    map another group."""
    form = DirectoryGroupMappingForm(request.POST or None)
    if request.method == "GET":
        return _mapping_list_page(request, form)
    if form.is_valid():
        data = form.cleaned_data
        try:
            mapping = services.directory_group_mapping_create(
                actor=request.user,
                source=data["source"],
                group=data["group"],
                roles=form.roles(),
                services=data["services"],
                note=data["note"],
            )
        except ValidationError as error:
            _form_errors(form, error)
        else:
            messages.success(request, f"{mapping} mapped; members get it at their next sign-in.")
            return redirect("accounts:group-mappings")
    return _mapping_list_page(request, form, status=422)


@requires(MANAGE)
@require_http_methods(["GET", "POST"])
def group_mapping(request: HttpRequest, uuid: str) -> HttpResponse:
    mapping = selectors.directory_group_mapping_for(user=request.user, uuid=uuid)
    form = DirectoryGroupMappingForm(
        request.POST or None, initial=_mapping_initial(mapping), editing=True
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                changed = services.directory_group_mapping_update(
                    actor=request.user,
                    mapping=mapping,
                    group=data["group"],
                    roles=form.roles(),
                    services=data["services"],
                    note=data["note"],
                )
            except ValidationError as error:
                _form_errors(form, error)
            else:
                messages.success(request, f"{mapping} saved." if changed else "Nothing changed.")
                return redirect("accounts:group-mappings")
        status = 422
    context = {"section": "users", "mapping": mapping, "form": form}
    return render(request, "accounts/group_mapping.html", context, status=status)


@requires(MANAGE)
@require_POST
def group_mapping_delete(request: HttpRequest, uuid: str) -> HttpResponse:
    mapping = selectors.directory_group_mapping_for(user=request.user, uuid=uuid)
    services.directory_group_mapping_delete(actor=request.user, mapping=mapping)
    messages.success(request, f"{mapping} no longer mapped; members lose it at their next sign-in.")
    return redirect("accounts:group-mappings")


# --- sign-in ------------------------------------------------------------------------------------


class SignInView(LoginView):
    """Django's login form (local accounts, and directory passwords when LDAP is on), with
    "Sign in with <provider>" when OpenID Connect is on."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            oidc_enabled=settings.OIDC_ENABLED,
            oidc_provider_name=settings.OIDC_PROVIDER_NAME,
            ldap_enabled=settings.LDAP_ENABLED,
        )
        return context
