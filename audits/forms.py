"""Forms of the audits pages: a new pack (scope and period), a PDF to verify, log filters."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from accounts.roles import Capability, has_capability
from audits.browse import LogFilters, actions
from audits.catalog import Parameter, load_catalog
from audits.models import ScopeKind
from audits.services import PackRequest
from policies.models import Lpar
from policies.selectors import service_list_for

# A parameter's form field is named after it with this prefix (`p_deployment_class`).
PARAMETER_PREFIX = "p_"


def _parameter_field(parameter: Parameter) -> forms.Field:
    """An optional field for one catalog parameter: left empty, the catalog's default holds."""
    label = parameter.name.replace("_", " ").capitalize()
    default = "the end of the period" if parameter.default is None else str(parameter.default)
    help_text = f"{' '.join(parameter.description.split())} Default: {default}."
    if parameter.type in ("choice", "bool"):
        values = parameter.choices if parameter.type == "choice" else ("true", "false")
        choices = [("", f"catalog default ({default})"), *((v, v) for v in values)]
        return forms.ChoiceField(label=label, choices=choices, required=False, help_text=help_text)
    placeholder = {"placeholder": default}
    if parameter.type == "int":
        return forms.IntegerField(
            label=label,
            required=False,
            help_text=help_text,
            widget=forms.NumberInput(attrs=placeholder),
        )
    if parameter.type == "float":
        return forms.FloatField(
            label=label,
            required=False,
            help_text=help_text,
            widget=forms.NumberInput(attrs={**placeholder, "step": "any"}),
        )
    return forms.DateField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class PackForm(forms.Form):
    """Scope and period of a new assessment and its evidence pack, and the catalog parameters.

    App owners are offered only the services they own, and only service scopes. Every
    parameter is optional: what is left empty takes the catalog's default, and the values
    used are stored on the assessment and printed in the pack.
    """

    scope_kind = forms.ChoiceField(label="Scope", choices=ScopeKind.choices)
    lpar = forms.ChoiceField(label="LPAR", required=False)
    services = forms.MultipleChoiceField(label="Services", required=False)
    period_start = forms.DateField(
        label="From", widget=forms.DateInput(attrs={"type": "date"}), help_text="00:00 UTC"
    )
    period_end = forms.DateField(
        label="To", widget=forms.DateInput(attrs={"type": "date"}), help_text="through 23:59 UTC"
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        today = timezone.now().date()
        kwargs.setdefault(
            "initial",
            {
                "scope_kind": ScopeKind.ESTATE,
                "period_start": today - timedelta(days=90),
                "period_end": today,
            },
        )
        super().__init__(*args, **kwargs)
        self.catalog = load_catalog()
        for parameter in self.catalog.parameters.values():
            self.fields[PARAMETER_PREFIX + parameter.name] = _parameter_field(parameter)
        self.auditor = has_capability(user, Capability.AUDIT)
        services = service_list_for(user=user).order_by("stack__lpar__name", "stack__name", "name")
        self.fields["services"].choices = [
            (str(s.uuid), f"{s.name} ({s.stack.label})") for s in services
        ]
        if self.auditor:
            self.fields["lpar"].choices = [("", "—")] + [
                (name, name) for name in Lpar.objects.values_list("name", flat=True)
            ]
        else:
            self.fields["scope_kind"].choices = [
                (ScopeKind.SERVICES, ScopeKind.SERVICES.label),
                (ScopeKind.SERVICE, ScopeKind.SERVICE.label),
            ]
            self.fields["scope_kind"].initial = ScopeKind.SERVICES
            del self.fields["lpar"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        kind = data.get("scope_kind")
        if kind == ScopeKind.LPAR and not data.get("lpar"):
            self.add_error("lpar", "Choose the LPAR.")
        if kind in (ScopeKind.SERVICE, ScopeKind.SERVICES) and not data.get("services"):
            self.add_error("services", "Choose at least one service.")
        if kind == ScopeKind.SERVICE and len(data.get("services") or []) > 1:
            self.add_error("services", "A one-service scope names exactly one service.")
        start, end = data.get("period_start"), data.get("period_end")
        if start and end and end < start:
            self.add_error("period_end", "The period must end after it starts.")
        if start and start > timezone.now().date():
            self.add_error("period_start", "The period cannot start in the future.")
        return data

    def scope_fields(self) -> list[forms.BoundField]:
        return [field for field in self if not field.name.startswith(PARAMETER_PREFIX)]

    def parameter_fields(self) -> list[forms.BoundField]:
        return [field for field in self if field.name.startswith(PARAMETER_PREFIX)]

    def parameter_errors(self) -> bool:
        """Whether a parameter was refused (the page then shows the parameters open)."""
        return any(field.errors for field in self.parameter_fields())

    def parameters(self) -> dict[str, Any]:
        """The parameters given (not left to their default), as the engine takes them."""
        given: dict[str, Any] = {}
        for name, parameter in self.catalog.parameters.items():
            value = self.cleaned_data.get(PARAMETER_PREFIX + name)
            if value in (None, ""):
                continue
            if parameter.type == "bool":
                value = value == "true"
            elif parameter.type in ("date", "datetime"):
                value = value.isoformat()
            given[name] = value
        return given

    def request(self) -> PackRequest:
        data = self.cleaned_data
        kind = data["scope_kind"]
        scope: dict[str, Any] = {}
        if kind == ScopeKind.LPAR:
            scope = {"lpar": data["lpar"]}
        elif kind in (ScopeKind.SERVICE, ScopeKind.SERVICES):
            scope = {"services": list(data["services"])}
        start = datetime.combine(data["period_start"], time.min, tzinfo=UTC)
        end = min(
            datetime.combine(data["period_end"], time.max, tzinfo=UTC).replace(microsecond=0),
            timezone.now(),
        )
        return PackRequest(
            scope_kind=kind,
            scope=scope,
            period_start=start,
            period_end=end,
            parameters=self.parameters() or None,
        )


def pack_upload_problem(upload: Any) -> str | None:
    """Why an upload cannot be a signed evidence pack, told before pyHanko reads it; None when
    it may be one.

    pyHanko parses a whole file before it can say it is junk: a 49 MB file of nonsense held a
    request for 33 s. Every signed pack is under EVIDENCE_VERIFY_MAX_BYTES (settings: the
    1,000-service pack, with a wide margin), starts with the PDF header `%PDF-` (ISO 32000-1,
    7.5.2), ends with `%%EOF` (7.5.5; a few bytes of line ends may follow) and carries a
    signature dictionary with a `/ByteRange` (12.8.1). The checks read the file once, in
    memory (at most the cap), and leave it at its start for the verification.
    """
    limit: int = settings.EVIDENCE_VERIFY_MAX_BYTES
    if upload.size > limit:
        return (
            f"The file is {upload.size / 1e6:.1f} MB: larger than any evidence pack"
            f" (at most {limit / 1e6:.0f} MB), so it is not one. Nothing was checked."
        )
    upload.seek(0)
    data = upload.read()
    upload.seek(0)
    if not data.startswith(b"%PDF-"):
        return "Not a PDF: the file does not start with the PDF header %PDF-."
    if b"%%EOF" not in data[-1024:]:
        return "Not a complete PDF: it does not end with %%EOF (cut short, or not a PDF)."
    if b"/ByteRange" not in data:
        return "Not a signed PDF: it has no signature (no /ByteRange), so it is not a pack."
    return None


class VerifyForm(forms.Form):
    file = forms.FileField(label="Evidence pack (PDF)")

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        problem = pack_upload_problem(upload)
        if problem:
            raise forms.ValidationError(problem)
        return upload


class LogFilterForm(forms.Form):
    actor = forms.CharField(label="Actor", required=False, max_length=150)
    action = forms.ChoiceField(label="Action", required=False)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    # An object's page links here with both ("history"); as the log names objects: the
    # model's name and its uuid (policies.changes), or a user's number.
    object_type = forms.RegexField(
        label="Object type",
        required=False,
        regex=r"^[A-Za-z][A-Za-z0-9]{0,63}$",
        error_messages={"invalid": "a type as the log names it, such as Service"},
    )
    object_id = forms.RegexField(
        label="Object id",
        required=False,
        regex=r"^[A-Za-z0-9-]{1,64}$",
        error_messages={"invalid": "a uuid or a number, as the log names objects"},
    )

    def __init__(self, *args: Any, actions: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "any action")] + [(a, a) for a in actions]


def log_filters(params: Any) -> LogFilters:
    """The audit log filters in a query (the log page's form, the export's parameters); a
    ValueError naming each refused field, so an export never widens a filter it cannot read."""
    form = LogFilterForm(params, actions=actions())
    if not form.is_valid():
        raise ValueError(
            "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        )
    return LogFilters.from_form(form.cleaned_data)
