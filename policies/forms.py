"""Forms of the designer. They parse and check input; the services decide and save.

Model forms are used where they save restating the model's limits: their validation runs
the model's own validators (the attls checks) on an unsaved instance, so a bad value is a
field error before the service is called, and the service checks it again in its
transaction.
"""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from attls import ciphers
from attls.policy.model import PRIORITY_MAX, PRIORITY_MIN
from attls.textcodec import decode_text
from policies import choices
from policies.kinds import kind_named
from policies.models import (
    CipherSet,
    ConnectionAction,
    EnvironmentAction,
    GroupAction,
    Keyring,
    PolicyVersion,
    Service,
    Stack,
)
from policies.selectors import ServiceFilters
from policies.validators import port_order_errors

MAX_IMPORT_BYTES = 2 * 1024 * 1024
PORT_ATTRS = {"min": 0, "max": 65535, "class": "port"}


def attach_errors(form: forms.BaseForm, error: ValidationError) -> None:
    """Puts a service's ValidationError on the form: on the field it names, else on top."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


class NoColonMixin:
    """Labels without Django's trailing colon: they sit above their fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class RelatedByKeyMixin:
    """Selects the stored related object in a ModelChoiceField keyed by name or UUID.

    model_to_dict gives a foreign key's primary key as the initial value, which matches no
    option when the field's options are keyed by `to_field_name`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance = self.instance  # type: ignore[attr-defined]
        if instance.pk is None or self.is_bound:  # type: ignore[attr-defined]
            return
        for name, field in self.fields.items():  # type: ignore[attr-defined]
            if (
                isinstance(field, forms.ModelChoiceField)
                and not isinstance(field, forms.ModelMultipleChoiceField)
                and field.to_field_name
                and name in self._meta.fields  # type: ignore[attr-defined]
            ):
                related = getattr(instance, name)
                self.initial[name] = (  # type: ignore[attr-defined]
                    getattr(related, field.to_field_name) if related is not None else None
                )


def _stacks() -> QuerySet[Stack]:
    return Stack.objects.select_related("lpar")


class StackChoiceField(forms.ModelChoiceField):
    """A stack by UUID in the form, shown as SYSA/TCPIP."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(queryset=_stacks(), to_field_name="uuid", **kwargs)

    def label_from_instance(self, obj: Stack) -> str:  # type: ignore[override]
        return obj.label


def _by_name(model: type, **kwargs: Any) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(queryset=model.objects.all(), to_field_name="name", **kwargs)


# --- service list ------------------------------------------------------------------------------


class ServiceFilterForm(NoColonMixin, forms.Form):
    q = forms.CharField(
        required=False,
        label="Search",
        widget=forms.TextInput(
            attrs={"placeholder": "name, job, description, team", "type": "search"}
        ),
    )
    lpar = forms.ChoiceField(required=False, label="LPAR")
    tier = forms.ChoiceField(required=False, choices=[("", "Any tier"), *choices.Tier.choices])
    phase = forms.ChoiceField(required=False, choices=[("", "Any phase"), *choices.Phase.choices])
    owner = forms.ChoiceField(required=False, label="Owner team")

    def __init__(self, *args: Any, lpars: list[str], teams: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["lpar"].choices = [("", "Any LPAR"), *((name, name) for name in lpars)]
        self.fields["owner"].choices = [("", "Any team"), *((team, team) for team in teams)]

    def filters(self) -> ServiceFilters:
        """The valid filters; an unknown value (a stale link) is ignored, not an error page."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return ServiceFilters(
            search=data.get("q", "").strip(),
            lpar=data.get("lpar", ""),
            tier=data.get("tier", ""),
            phase=data.get("phase", ""),
            owner=data.get("owner", ""),
        )


class BulkAssignForm(NoColonMixin, forms.Form):
    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.none(),
        to_field_name="uuid",
        error_messages={"required": "Select the services to change first."},
    )
    group_action = _by_name(GroupAction, required=False, empty_label="— keep —")
    environment_action = _by_name(EnvironmentAction, required=False, empty_label="— keep —")
    connection_action = _by_name(ConnectionAction, required=False, empty_label="— keep —")
    clear_connection_action = forms.BooleanField(
        required=False, label="Remove the connection action"
    )

    def __init__(self, *args: Any, services: QuerySet[Service], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["services"].queryset = services  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        chosen = [data.get(k) for k in ("group_action", "environment_action", "connection_action")]
        if not any(chosen) and not data.get("clear_connection_action"):
            raise ValidationError("Choose at least one action to assign.")
        if data.get("connection_action") and data.get("clear_connection_action"):
            raise ValidationError("Assign a connection action or remove it, not both.")
        return data


# --- service and its rule ----------------------------------------------------------------------

SERVICE_FIELDS = [
    "name",
    "stack",
    "description",
    "owner_team",
    "owners",
    "jobname",
    "userid",
    "local_port_low",
    "local_port_high",
    "remote_address",
    "remote_port_low",
    "remote_port_high",
    "direction",
    "tier",
    "phase",
    "included",
]
RULE_FIELDS = [
    "priority",
    "group_action",
    "environment_action",
    "connection_action",
    "override_tlsv1_2",
    "override_tlsv1_3",
    "override_cipher_set",
]


class UsernameChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_username()


class ServiceForm(NoColonMixin, RelatedByKeyMixin, forms.ModelForm):
    """A service and its rule in one form; `revision` guards against overwriting."""

    revision = forms.IntegerField(widget=forms.HiddenInput, required=False)
    stack = StackChoiceField()
    owners = UsernameChoiceField(
        queryset=get_user_model().objects.order_by("username"),
        to_field_name="username",
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 4}),
    )
    priority = forms.IntegerField(
        min_value=PRIORITY_MIN,
        max_value=PRIORITY_MAX,
        initial=100,
        help_text=f"{PRIORITY_MIN} to {PRIORITY_MAX}; the highest is searched first",
    )
    group_action = _by_name(GroupAction)
    environment_action = _by_name(EnvironmentAction, required=False, empty_label="— none —")
    connection_action = _by_name(ConnectionAction, required=False, empty_label="— none —")
    override_tlsv1_2 = forms.ChoiceField(
        label="TLSv1.2", choices=choices.TriState.choices, required=False
    )
    override_tlsv1_3 = forms.ChoiceField(
        label="TLSv1.3", choices=choices.TriState.choices, required=False
    )
    override_cipher_set = _by_name(
        CipherSet, required=False, empty_label="— inherit —", label="Cipher set"
    )

    class Meta:
        model = Service
        fields = SERVICE_FIELDS
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}
        labels = {
            "jobname": "Job name",
            "userid": "User ID",
            "local_port_low": "Local ports",
            "local_port_high": "to",
            "remote_port_low": "Remote ports",
            "remote_port_high": "to",
            "included": "Included in the policy",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("local_port_low", "local_port_high", "remote_port_low", "remote_port_high"):
            self.fields[name].widget.attrs.update(PORT_ATTRS)
        for name in ("jobname", "userid"):
            self.fields[name].widget.attrs.update({"class": "mono", "placeholder": "*"})
        self.fields["name"].widget.attrs.update({"class": "mono"})
        self.fields["remote_address"].widget.attrs.update({"class": "mono"})
        if self.instance.pk is not None:
            self.fields["revision"].required = True
            if not self.is_bound:
                rule = self.instance.rule
                self.initial.update(
                    {
                        "revision": self.instance.revision,
                        "priority": rule.priority,
                        "group_action": rule.group_action.name,
                        "environment_action": getattr(rule.environment_action, "name", ""),
                        "connection_action": getattr(rule.connection_action, "name", ""),
                        "override_tlsv1_2": rule.override_tlsv1_2,
                        "override_tlsv1_3": rule.override_tlsv1_3,
                        "override_cipher_set": getattr(rule.override_cipher_set, "name", ""),
                    }
                )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # On the field, in words, before the model's table constraint names itself instead.
        for name, message in port_order_errors(data).items():
            self.add_error(name, message)
        return data

    def service_fields(self) -> dict[str, Any]:
        """What service_create / service_update take: service and rule fields together."""
        data = dict(self.cleaned_data)
        data.pop("revision", None)
        for name in ("override_tlsv1_2", "override_tlsv1_3"):
            data[name] = data.get(name) or ""
        return data


# --- shared objects -------------------------------------------------------------------------------


class LinesField(forms.CharField):
    """A list of strings, one per line of a textarea."""

    widget = forms.Textarea(attrs={"rows": 3, "class": "mono"})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [line.strip() for line in str(text).splitlines() if line.strip()]


class OrderedSuitesWidget(forms.CheckboxSelectMultiple):
    """Ticked suites, ordered by the number typed next to each (`<name>-pos-<code>`).

    A ticked suite with no number goes last, in the order of the table. The template
    renders the table itself (see cipher_rows), so this widget only reads.
    """

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        codes = [code.strip().upper() for code in data.getlist(name)]

        def position(item: tuple[int, str]) -> tuple[float, int]:
            index, code = item
            try:
                return float(data.get(f"{name}-pos-{code}", "")), index
            except ValueError:
                return math.inf, index

        ordered = [code for _, code in sorted(enumerate(codes), key=position)]
        return list(dict.fromkeys(ordered))


def _suite_choices() -> list[tuple[str, str]]:
    return [(s.code, s.iana_name) for s in ciphers.all_suites() if s.protocols]


class CodesField(forms.CharField):
    """An ordered list of 4-character codes typed in one line: `0023 0024` (or `0023,0024`).

    The model's validator checks each code against the attls registry, so the form refuses
    exactly what the policy parser would.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        # What a JSONField hands its form field; a line of codes needs neither.
        kwargs.pop("encoder", None)
        kwargs.pop("decoder", None)
        super().__init__(**kwargs)
        self.widget.attrs.update({"class": "mono", "placeholder": "not set: z/OS default"})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return " ".join(value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        codes = str(text).replace(",", " ").split()
        return [code if code.lower() != "any" else "Any" for code in (c.upper() for c in codes)]


class NotSetOnOffSelect(forms.NullBooleanSelect):
    """Not set / On / Off: "not set" leaves the parameter to z/OS (whose default is Off)."""

    def __init__(self, attrs: Any = None) -> None:
        super().__init__(attrs)
        self.choices = [
            ("unknown", "Not set (z/OS default: Off)"),
            ("true", "On"),
            ("false", "Off"),
        ]


class SharedObjectForm(NoColonMixin, RelatedByKeyMixin, forms.ModelForm):
    """Common to every shared object form: the revision the editor started from."""

    revision = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update({"class": "mono"})
        if "description" in self.fields:
            self.fields["description"].widget = forms.Textarea(attrs={"rows": 2})
        if self.instance.pk is not None:
            self.fields["revision"].required = True
            if not self.is_bound:
                self.initial["revision"] = self.instance.revision

    def object_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("revision", None)
        return data


class KeyringForm(SharedObjectForm):
    certificate_labels = LinesField(required=False, help_text="One label per line")

    class Meta:
        model = Keyring
        fields = ["name", "description", "ring", "certificate_labels"]
        widgets = {"ring": forms.TextInput(attrs={"class": "mono"})}


class CipherSetForm(SharedObjectForm):
    suites = forms.MultipleChoiceField(
        choices=_suite_choices,
        widget=OrderedSuitesWidget,
        error_messages={
            "invalid_choice": "%(value)s is not a cipher suite in the registry.",
            "required": "Choose at least one suite.",
        },
    )

    class Meta:
        model = CipherSet
        fields = ["name", "description", "suites"]


class GroupActionForm(SharedObjectForm):
    class Meta:
        model = GroupAction
        fields = ["name", "description", "ttls_enabled", "trace", "fips140"]
        labels = {"ttls_enabled": "TTLSEnabled", "fips140": "FIPS140", "trace": "Trace"}


# The environment's parameter groups, as the model declares them; the page shows each apart.
SIGNATURE_FIELDS = EnvironmentAction.SIGNATURE_FIELDS
PEER_MIN_FIELDS = EnvironmentAction.PEER_MIN_FIELDS
REVOCATION_FIELDS = EnvironmentAction.REVOCATION_FIELDS


class EnvironmentActionForm(SharedObjectForm):
    keyring = _by_name(Keyring)
    cipher_set = _by_name(
        CipherSet, required=False, empty_label="— System SSL default —", label="Cipher set"
    )

    class Meta:
        model = EnvironmentAction
        fields = [
            "name",
            "description",
            "handshake_role",
            "keyring",
            "cipher_set",
            "sslv3",
            "tlsv1",
            "tlsv1_1",
            "tlsv1_2",
            "tlsv1_3",
            "client_auth_type",
            "cert_validation_mode",
            "renegotiation",
            "handshake_timeout",
            "middle_box_compat_mode",
            "certificate_label",
            "environment_user_instance",
            *SIGNATURE_FIELDS,
            *PEER_MIN_FIELDS,
            *REVOCATION_FIELDS,
        ]
        labels = {"middle_box_compat_mode": "MiddleBoxCompatMode"}
        field_classes = {name: CodesField for name in SIGNATURE_FIELDS}
        widgets = {
            "ocsp_aia_enable": NotSetOnOffSelect,
            "ocsp_server_stapling": NotSetOnOffSelect,
            "ocsp_url": forms.TextInput(attrs={"class": "mono"}),
        }


class ConnectionActionForm(SharedObjectForm):
    cipher_set = _by_name(CipherSet, required=False, empty_label="— inherit —")

    class Meta:
        model = ConnectionAction
        fields = [
            "name",
            "description",
            "handshake_role",
            "cipher_set",
            "tlsv1_2",
            "tlsv1_3",
            "certificate_label",
        ]


SHARED_OBJECT_FORMS: tuple[type[SharedObjectForm], ...] = (
    KeyringForm,
    CipherSetForm,
    GroupActionForm,
    EnvironmentActionForm,
    ConnectionActionForm,
)


def shared_object_form(slug: str) -> type[SharedObjectForm]:
    """The form of a kind of shared object (policies.kinds): the one made for its model."""
    model = kind_named(slug).model
    return next(form for form in SHARED_OBJECT_FORMS if form._meta.model is model)


# Fields shown side by side as switches rather than one per row.
PROTOCOL_FIELDS = ("sslv3", "tlsv1", "tlsv1_1", "tlsv1_2", "tlsv1_3")
# Fields of an environment action that go into its TTLSEnvironmentAdvancedParms.
ADVANCED_FIELDS = (
    "client_auth_type",
    "cert_validation_mode",
    "renegotiation",
    "handshake_timeout",
    "middle_box_compat_mode",
    "certificate_label",
    "environment_user_instance",
    *PEER_MIN_FIELDS,
)


# --- stacks: publish, versions, tester ------------------------------------------------------------


class PublishForm(NoColonMixin, forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "What this version changes and why (required)"}
        ),
        error_messages={"required": "Say in the note what this version changes and why."},
    )
    acknowledge_warnings = forms.BooleanField(required=False)


class VersionDiffForm(NoColonMixin, forms.Form):
    older = forms.TypedChoiceField(coerce=int, label="From")
    newer = forms.TypedChoiceField(coerce=int, label="To")

    def __init__(self, *args: Any, numbers: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        options = [(n, f"v{n}") for n in numbers]
        self.fields["older"].choices = options
        self.fields["newer"].choices = options


class ConnectionTestForm(NoColonMixin, forms.Form):
    direction = forms.ChoiceField(
        choices=[
            ("Inbound", "Inbound (z/OS accepted it)"),
            ("Outbound", "Outbound (z/OS started it)"),
        ]
    )
    local_port = forms.IntegerField(
        min_value=0, max_value=65535, widget=forms.NumberInput(attrs=PORT_ATTRS)
    )
    jobname = forms.CharField(
        max_length=8,
        required=False,
        label="Job name",
        widget=forms.TextInput(attrs={"class": "mono"}),
    )
    userid = forms.CharField(
        max_length=8,
        required=False,
        label="User ID",
        widget=forms.TextInput(attrs={"class": "mono"}),
    )
    remote_address = forms.GenericIPAddressField(
        initial="192.0.2.10", widget=forms.TextInput(attrs={"class": "mono"})
    )
    remote_port = forms.IntegerField(
        min_value=0, max_value=65535, initial=50000, widget=forms.NumberInput(attrs=PORT_ATTRS)
    )
    local_address = forms.GenericIPAddressField(
        required=False,
        initial="10.1.1.1",
        help_text="Only rules with a LocalAddr condition look at it",
        widget=forms.TextInput(attrs={"class": "mono"}),
    )
    policy = forms.ChoiceField(label="Policy", initial="draft", required=False)

    def __init__(self, *args: Any, versions: list[PolicyVersion], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["policy"].choices = [
            ("draft", "Draft (the design now)"),
            *(
                (f"v{v.number}", f"v{v.number} — published {v.created_at:%Y-%m-%d}")
                for v in versions
            ),
        ]


# --- import ------------------------------------------------------------------------------------


class ImportForm(NoColonMixin, forms.Form):
    stack = StackChoiceField(empty_label=None)
    text = forms.CharField(
        required=False,
        strip=False,
        label="Policy text",
        widget=forms.Textarea(
            attrs={"rows": 16, "class": "mono", "spellcheck": "false", "wrap": "off"}
        ),
    )
    upload = forms.FileField(required=False, label="…or upload a file")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload = data.get("upload")
        if upload is not None:
            if upload.size > MAX_IMPORT_BYTES:
                raise ValidationError("The file is larger than 2 MB; is it really a policy file?")
            # A file sent from z/OS in binary is EBCDIC; stray bytes after a transfer are
            # read as Latin-1 (attls.textcodec), as `python -m attls` reads them.
            data["text"] = decode_text(upload.read()).text
        # Browsers send form text with CRLF line ends; the digest is of the LF form.
        data["text"] = data.get("text", "").replace("\r\n", "\n")
        if not data["text"].strip():
            raise ValidationError("Paste the policy text or choose a file.")
        if upload is not None:
            # The uploaded text is shown in the text box from now on: after an error (a syntax
            # error, a clash) the person corrects it there instead of choosing the file again.
            self.data = self.data.copy()
            self.data[self.add_prefix("text")] = data["text"]
        return data


class ImportApplyForm(NoColonMixin, forms.Form):
    stack = StackChoiceField()
    text = forms.CharField(strip=False, widget=forms.HiddenInput)
    sha256 = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def clean_text(self) -> str:
        return str(self.cleaned_data["text"]).replace("\r\n", "\n")
