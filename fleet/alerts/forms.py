"""The admin's channel form. The configuration is asked field by field per kind and kept in
`AlertChannel.config`; the webhook secret is write-only."""

from __future__ import annotations

from typing import Any

from django import forms

from fleet.alerts.kinds import KINDS
from fleet.alerts.models import AlertChannel, ChannelKind

TRANSPORTS = [("udp", "UDP"), ("tcp", "TCP"), ("tls", "TLS (RFC 5425)")]
FORMATS = [("cef", "CEF"), ("json", "JSON")]


class ChannelForm(forms.ModelForm):  # type: ignore[type-arg]
    kinds = forms.MultipleChoiceField(
        choices=[(k, v.title) for k, v in KINDS.items()],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every kind.",
    )
    # webhook
    url = forms.URLField(required=False, label="Webhook URL", assume_scheme="https")
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="HMAC-SHA256 key. Left blank, the stored secret is kept; it is never shown.",
    )
    # syslog
    host = forms.CharField(required=False, label="Syslog host")
    port = forms.IntegerField(required=False, min_value=1, max_value=65535, label="Syslog port")
    transport = forms.ChoiceField(choices=TRANSPORTS, required=False)
    format = forms.ChoiceField(choices=FORMATS, required=False, label="Message body")
    facility = forms.IntegerField(required=False, min_value=0, max_value=23, initial=13)
    ca_file = forms.CharField(required=False, label="CA file (TLS)")
    # e-mail
    recipients = forms.CharField(
        required=False, help_text="Addresses, comma-separated.", label="E-mail recipients"
    )
    to_alert_recipients = forms.BooleanField(
        required=False, initial=True, label="Also FLEET_ALERT_RECIPIENTS"
    )
    to_owners = forms.BooleanField(
        required=False, initial=True, label="Also the owners of the services concerned"
    )

    CONFIG = {
        ChannelKind.WEBHOOK: ("url",),
        ChannelKind.SYSLOG: ("host", "port", "transport", "format", "facility", "ca_file"),
        ChannelKind.EMAIL: ("recipients", "to_alert_recipients", "to_owners"),
    }

    class Meta:
        model = AlertChannel
        fields = ["name", "kind", "enabled", "min_severity", "max_attempts", "stacks", "services"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = self.instance.config or {}
        self.fields["kinds"].initial = self.instance.kinds
        for names in self.CONFIG.values():
            for name in names:
                if name in config:
                    value = config[name]
                    self.fields[name].initial = ", ".join(value) if name == "recipients" else value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("kind")
        required = {
            ChannelKind.WEBHOOK: ("url",),
            ChannelKind.SYSLOG: ("host", "port", "transport", "format"),
        }.get(kind, ())  # type: ignore[call-overload]
        for name in required:
            if data.get(name) in (None, ""):
                self.add_error(name, "Required for this kind of channel.")
        if kind == ChannelKind.WEBHOOK and not data.get("secret") and not self.instance.has_secret:
            self.add_error("secret", "A webhook needs a secret to sign with.")
        return data

    def config(self) -> dict[str, Any]:
        data = self.cleaned_data
        config: dict[str, Any] = {}
        for name in self.CONFIG.get(data["kind"], ()):
            value = data.get(name)
            if name == "recipients":
                value = [a.strip() for a in (value or "").split(",") if a.strip()]
            if name == "facility" and value is None:
                value = 13
            config[name] = value
        return config
