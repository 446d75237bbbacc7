"""Forms of the fleet pages. They parse and validate; fleet.services does the writing.

LPAR secrets are write-only: the password and key fields never render a value, not even
the one just typed into a form that came back with errors. Blank means "unchanged".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from attls.values import ValueRefused
from fleet import zert_jcl as jcl
from fleet.models import LparConnection, Transport, ZertSource, default_policy_path_prefixes
from fleet.overview import DeployChoice
from fleet.selectors import RuleChoice
from policies.models import PolicyVersion, Stack


class NoColonMixin:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def attach_errors(form: forms.BaseForm, error: ValidationError) -> None:
    """A service's ValidationError onto the form: on the field it names, else on top."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


# --- a new deployment -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployRow:
    choice: DeployChoice
    include: forms.BoundField
    order: forms.BoundField
    version: forms.BoundField


class DeploymentRequestForm(NoColonMixin, forms.Form):
    """Stacks to deploy, in order, each with its latest published version, and a note.

    The page shows the version number it offers; if a newer one is published before the
    form is sent, the form is refused rather than deploying something nobody looked at.
    """

    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=2000,
        help_text="Why, and anything the approving operator should know (change ticket).",
    )

    def __init__(self, *args: Any, choices: Sequence[DeployChoice], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.choices = list(choices)
        for position, choice in enumerate(self.choices, start=1):
            key = choice.key
            self.fields[f"include-{key}"] = forms.BooleanField(
                required=False, label=f"Deploy to {choice.stack.label}"
            )
            self.fields[f"order-{key}"] = forms.IntegerField(
                required=False,
                min_value=1,
                max_value=999,
                initial=position,
                label=f"Order of {choice.stack.label}",
                widget=forms.NumberInput(attrs={"class": "order", "min": 1}),
            )
            self.fields[f"version-{key}"] = forms.IntegerField(
                widget=forms.HiddenInput, initial=choice.version.number
            )

    def rows(self) -> Iterator[DeployRow]:
        for choice in self.choices:
            yield DeployRow(
                choice,
                self[f"include-{choice.key}"],
                self[f"order-{choice.key}"],
                self[f"version-{choice.key}"],
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        chosen: list[tuple[int, str, DeployChoice]] = []
        for position, choice in enumerate(self.choices, start=1):
            if not cleaned.get(f"include-{choice.key}"):
                continue
            offered = cleaned.get(f"version-{choice.key}")
            if offered != choice.version.number:
                self.add_error(
                    None,
                    f"{choice.stack.label}: v{choice.version.number} was published after this"
                    f" page offered v{offered}. Check it and send the form again.",
                )
            if not choice.has_connection:
                self.add_error(
                    None,
                    f"{choice.stack.lpar.name} has no LPAR connection; add one under"
                    " Connections first.",
                )
            order = cleaned.get(f"order-{choice.key}") or position
            chosen.append((order, choice.stack.label, choice))
        if not chosen and not self.errors:
            self.add_error(None, "Choose at least one stack to deploy to.")
        cleaned["targets"] = [
            (choice.stack, choice.version) for _, _, choice in sorted(chosen, key=lambda c: c[:2])
        ]
        return cleaned

    @property
    def targets(self) -> list[tuple[Stack, PolicyVersion]]:
        return self.cleaned_data["targets"]


# --- rollback and remove rule ---------------------------------------------------------------------


class RollbackForm(NoColonMixin, forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=2000,
        help_text="Why (left blank: “roll back … from vN to vM”).",
    )


class RejectForm(NoColonMixin, forms.Form):
    prefix = "reject"  # one page holds both forms: their fields need ids of their own
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        label="Reason for rejecting",
        help_text="The requester reads this; it is kept in the audit log.",
        error_messages={"required": "Say why the deployment is rejected."},
    )


class CancelForm(NoColonMixin, forms.Form):
    prefix = "cancel"
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=2000,
        label="Reason for cancelling",
        help_text="Optional; kept in the audit log.",
    )


class IncidentRemoveRuleForm(NoColonMixin, forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=2000,
        help_text="Why (left blank: the incident's reference).",
    )


class RemoveRuleForm(NoColonMixin, forms.Form):
    rule = forms.ChoiceField(label="Rule to remove")
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=2000,
        help_text="Why (left blank: “remove rule … from …”).",
    )

    def __init__(self, *args: Any, rules: Sequence[RuleChoice], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = []
        for rule in rules:
            owner = (
                f" ({rule.service.owner_team})" if rule.service and rule.service.owner_team else ""
            )
            choices.append((rule.name, f"{rule.name}{owner}"))
        self.fields["rule"].choices = [("", "— choose a rule —"), *choices]


# --- LPAR connections -----------------------------------------------------------------------------


class SecretTextarea(forms.Textarea):
    """A textarea that never renders a value: a private key goes in, nothing comes out."""

    def format_value(self, value: Any) -> None:
        return None


CONNECTION_FIELDS = (
    "transport",
    "host",
    "zosmf_port",
    "ssh_port",
    "username",
    "ca_bundle",
    "ssh_host_key",
    "pagent_procname",
    "syslog_path",
    "policy_path_prefixes",
    "verification_interval",
    "enabled",
    "zert_enabled",
    "zert_source",
    "zert_jcl",
    "zert_dump_dsn",
    "zert_dump_path",
    "zert_interval",
)


class DirectoriesField(forms.CharField):
    """A list of directories, one per line of a textarea; left empty, the default list."""

    widget = forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "class": "mono"})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return lines or default_policy_path_prefixes()


class LparConnectionForm(NoColonMixin, forms.Form):
    transport = forms.ChoiceField(choices=Transport.choices)
    host = forms.CharField(max_length=255, help_text="Host name or address of the LPAR")
    zosmf_port = forms.IntegerField(label="z/OSMF port", min_value=1, max_value=65535, initial=443)
    ssh_port = forms.IntegerField(
        label="SSH port",
        min_value=1,
        max_value=65535,
        required=False,
        help_text="Commands such as pasearch run over SSH; needed for z/OSMF too.",
    )
    username = forms.CharField(
        label="z/OS user", max_length=8, widget=forms.TextInput(attrs={"class": "mono"})
    )
    password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave blank to keep the stored password.",
    )
    clear_password = forms.BooleanField(label="Remove the stored password", required=False)
    ssh_key = forms.CharField(
        label="SSH private key",
        required=False,
        strip=False,
        widget=SecretTextarea(
            attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false", "class": "mono"}
        ),
        help_text="Write-only, OpenSSH format. Leave blank to keep the stored key.",
    )
    clear_ssh_key = forms.BooleanField(label="Remove the stored key", required=False)
    ca_bundle = forms.CharField(
        label="CA bundle (PEM)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "mono"}),
        help_text="The CA that issued the z/OSMF certificate; TLS is verified against it.",
    )
    ssh_host_key = forms.CharField(
        label="Pinned SSH host key",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "class": "mono"}),
        help_text="The host's public key, OpenSSH format (ssh-ed25519 AAAA…).",
    )
    pagent_procname = forms.CharField(
        label="PAGENT procedure",
        max_length=8,
        initial="PAGENT",
        widget=forms.TextInput(attrs={"class": "mono"}),
    )
    syslog_path = forms.CharField(
        label="AT-TLS syslog",
        max_length=255,
        initial="/var/log/syslog",
        help_text="Where EZD1286I handshake failures are logged",
    )
    policy_path_prefixes = DirectoriesField(
        label="Policy files only under",
        required=False,
        initial=default_policy_path_prefixes,
        help_text="One directory per line, ending in /; empty means /etc/pagent/. A deployment"
        " is refused when a stack's policy file lies elsewhere.",
    )
    verification_interval = forms.IntegerField(label="Verify every (s)", min_value=5, initial=60)
    enabled = forms.BooleanField(label="Verify on schedule", required=False, initial=True)
    zert_enabled = forms.BooleanField(
        label="Collect zERT records",
        required=False,
        help_text="SMF 119 subtype 11: the protection every connection negotiated.",
    )
    # Left out of a post (a form from before zERT): the defaults, zERT off.
    zert_source = forms.ChoiceField(
        label="Read the records by", choices=ZertSource.choices, required=False
    )
    zert_jcl = forms.CharField(
        label="Dump job (JCL template)",
        required=False,
        strip=False,  # stored exactly as the site typed it
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false", "class": "mono"}),
        help_text="IFASMFDL job; the collector fills {dsn}, {date_from}, {date_to} (yyyyddd),"
        " {start}, {end} (hhmm). Empty: the default template.",
    )
    zert_dump_dsn = forms.CharField(
        label="Dump data set",
        max_length=44,
        required=False,
        initial="ATTLSADM.ZERT.DUMP",
        widget=forms.TextInput(attrs={"class": "mono"}),
        help_text="Deleted before each job and written anew (DISP=NEW).",
    )
    zert_dump_path = forms.CharField(
        label="Dump file (SFTP)",
        max_length=255,
        required=False,
        initial="/var/smf/zert.smf",
        help_text="Read over SSH when the records are read by SFTP.",
    )
    zert_interval = forms.IntegerField(
        label="Read zERT every (s)", min_value=5, initial=900, required=False
    )

    def __init__(
        self, data: Any = None, *, connection: LparConnection | None = None, **kwargs: Any
    ) -> None:
        if connection is not None:
            kwargs["initial"] = {name: getattr(connection, name) for name in CONNECTION_FIELDS}
        super().__init__(data, **kwargs)
        self.connection = connection
        self.password_set = bool(connection and connection.password_encrypted)
        self.ssh_key_set = bool(connection and connection.ssh_key_encrypted)

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().upper()

    def _model_default(self, name: str) -> Any:
        if self.connection is not None:
            return getattr(self.connection, name)
        return LparConnection._meta.get_field(name).get_default()

    def clean_zert_source(self) -> str:
        return self.cleaned_data["zert_source"] or self._model_default("zert_source")

    def clean_zert_dump_dsn(self) -> str:
        value = self.cleaned_data["zert_dump_dsn"].strip().upper()
        return value or self._model_default("zert_dump_dsn")

    def clean_zert_dump_path(self) -> str:
        return self.cleaned_data["zert_dump_path"].strip() or self._model_default("zert_dump_path")

    def clean_zert_interval(self) -> int:
        value = self.cleaned_data["zert_interval"]
        return value if value is not None else self._model_default("zert_interval")

    def clean_zert_jcl(self) -> str:
        text = self.cleaned_data["zert_jcl"].replace("\r\n", "\n")
        if not text.strip():
            return jcl.DEFAULT_JCL
        try:
            return jcl.validate_template(text)
        except ValueRefused as refusal:
            raise forms.ValidationError(str(refusal)) from None

    def clean_pagent_procname(self) -> str:
        return self.cleaned_data["pagent_procname"].strip().upper()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("clear_password") and cleaned.get("password"):
            self.add_error("password", "Either type a new password or remove it, not both.")
        if cleaned.get("clear_ssh_key") and cleaned.get("ssh_key"):
            self.add_error("ssh_key", "Either paste a new key or remove it, not both.")
        return cleaned

    def connection_fields(self) -> dict[str, Any]:
        fields = {name: self.cleaned_data[name] for name in CONNECTION_FIELDS}
        for name in ("ca_bundle", "ssh_host_key"):
            fields[name] = fields[name].strip()
        return fields

    def new_password(self) -> str | None:
        """None: unchanged; "": remove it; otherwise the new password."""
        if self.cleaned_data.get("clear_password"):
            return ""
        return self.cleaned_data.get("password") or None

    def new_ssh_key(self) -> str | None:
        if self.cleaned_data.get("clear_ssh_key"):
            return ""
        key = (self.cleaned_data.get("ssh_key") or "").strip()
        return key + "\n" if key else None
