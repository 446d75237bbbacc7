"""Forms of the campaign pages. They parse and check what was typed, field by field; the
writing, and every rule of the campaign, are rollouts.services' and rollouts.cohorts' (the
same functions the API calls), whose refusals come back onto the fields they name.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from accounts.roles import ROLE_GROUPS, Role
from fleet.forms import NoColonMixin
from policies.choices import LparKind
from policies.models import Service, Stack
from rollouts.durations import DurationRefused, format_duration, parse_duration
from rollouts.models import (
    AT_LEAST,
    DEFAULT_GATES,
    FAILURE_LIMIT_MAX,
    THRESHOLD_MAX,
    WEEK_SECONDS,
    Campaign,
    Check,
)


def planners() -> QuerySet[Any]:
    """Who may own a campaign: active architects and operators."""
    groups = [ROLE_GROUPS[Role.ARCHITECT], ROLE_GROUPS[Role.OPERATOR]]
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=groups)
        .distinct()
        .order_by("username")
    )


def scope_services() -> QuerySet[Service]:
    """The services a campaign can migrate: included in their stack's policy, with a rule."""
    return Service.objects.filter(included=True, rule__isnull=False).select_related("stack__lpar")


class StacksField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Stack) -> str:
        return obj.label


class StackField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Stack) -> str:
        return obj.label


class ServicesField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Service) -> str:
        return f"{obj.stack.label} {obj.name} ({obj.get_tier_display().lower()} tier)"


class OwnerField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.get_username())


class GateFieldsMixin:
    """The bake time and, per check, its threshold and failure limit, with the bounds
    rollouts.models.validate_gates holds them to."""

    fields: dict[str, forms.Field]
    cleaned_data: dict[str, Any]

    def add_gate_fields(self, gates: dict[str, dict[str, float]], bake_seconds: int) -> None:
        self.fields["bake"] = forms.CharField(
            label="Bake time",
            initial=format_duration(bake_seconds),
            max_length=32,
            help_text="How long each cohort's step bakes behind its gate: 7d, 12h, 2m, 30s, 1h30m.",
            widget=forms.TextInput(attrs={"class": "mono", "size": 10}),
        )
        for check in Check:
            entry = gates.get(check) or DEFAULT_GATES[check]
            self.fields[f"{check.value}_threshold"] = forms.FloatField(
                label=check.label,
                min_value=0,
                max_value=THRESHOLD_MAX.get(check),
                initial=entry["threshold"],
                widget=forms.NumberInput(attrs={"step": "any", "class": "num"}),
                help_text=f"Passes at or {'above' if check in AT_LEAST else 'below'} it.",
            )
            self.fields[f"{check.value}_failure_limit"] = forms.IntegerField(
                label=f"{check.label}: failures tolerated",
                min_value=0,
                max_value=FAILURE_LIMIT_MAX,
                initial=int(entry["failure_limit"]),
                # The table shows the check's name once, labelling its threshold.
                widget=forms.NumberInput(
                    attrs={"class": "num", "aria-label": f"{check.label}: failures tolerated"}
                ),
                help_text="Failed evaluations during a bake before the gate fails (0: the first"
                " fails it).",
            )

    def clean_bake(self) -> int:
        try:
            return parse_duration(self.cleaned_data["bake"])
        except DurationRefused as refusal:
            raise forms.ValidationError(str(refusal)) from None

    def gate_rows(self) -> list[tuple[Check, Any, Any]]:
        form: Any = self
        return [
            (check, form[f"{check.value}_threshold"], form[f"{check.value}_failure_limit"])
            for check in Check
        ]

    def gates(self) -> dict[str, dict[str, float]]:
        data = self.cleaned_data
        return {
            check.value: {
                "threshold": data[f"{check.value}_threshold"],
                "failure_limit": data[f"{check.value}_failure_limit"],
            }
            for check in Check
        }


class CampaignForm(NoColonMixin, GateFieldsMixin, forms.Form):
    """A new campaign, as rollouts.services.campaign_create takes it."""

    name = forms.CharField(max_length=Campaign._meta.get_field("name").max_length)
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=4000
    )
    stacks = StacksField(
        queryset=Stack.objects.exclude(lpar__kind=LparKind.LAB)
        .select_related("lpar")
        .order_by("lpar__name", "name"),
        to_field_name="uuid",
        widget=forms.CheckboxSelectMultiple,
        help_text="The production stacks the campaign migrates (a lab stack is chosen on its own).",
        error_messages={"required": "Choose at least one stack."},
    )
    services = ServicesField(
        queryset=scope_services().order_by("stack__lpar__name", "stack__name", "name"),
        to_field_name="uuid",
        widget=forms.CheckboxSelectMultiple,
        help_text="Included services with a rule on the chosen stacks; each goes to the cohort"
        " of its criticality tier.",
        error_messages={"required": "Choose at least one service to migrate."},
    )
    owner = OwnerField(
        queryset=planners(),
        to_field_name="username",
        help_text="Plans the campaign and requests its automatic steps: an architect or an"
        " operator.",
    )
    lab_stack = StackField(
        queryset=Stack.objects.filter(lpar__kind=LparKind.LAB)
        .select_related("lpar")
        .order_by("lpar__name", "name"),
        to_field_name="uuid",
        required=False,
        label="Lab stack",
        empty_label="None: the lab phase is skipped",
        help_text="The candidate is validated here first, on copies of the production rules.",
    )
    auto_promote = forms.BooleanField(
        required=False,
        label="Auto-promote on a passed gate",
        help_text="Allowed only by an operator who is not the owner; you then approve the"
        " deployments it requests (four eyes).",
    )

    def __init__(self, *args: Any, actor: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Querysets are evaluated per form: a user or stack added since start-up is offered.
        for name in ("stacks", "services", "owner", "lab_stack"):
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField) and field.queryset is not None
            field.queryset = field.queryset.all()
        self.fields["owner"].initial = actor.get_username()
        self.add_gate_fields(DEFAULT_GATES, WEEK_SECONDS)
        self.order_fields(["name", "description", "stacks", "services", "owner", "lab_stack"])


class GatesForm(NoColonMixin, GateFieldsMixin, forms.Form):
    """A campaign's bake time and gate settings (rollouts.services.campaign_settings_update)."""

    def __init__(self, *args: Any, campaign: Campaign, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_gate_fields(campaign.gates or {}, campaign.bake_seconds)


# --- the cohorts' editor: one small form per action -------------------------------------------


class CohortNameForm(NoColonMixin, forms.Form):
    name = forms.CharField(max_length=200, error_messages={"required": "Give the cohort a name."})


class CohortPositionForm(NoColonMixin, forms.Form):
    position = forms.IntegerField(min_value=0)


class CohortRenameForm(CohortPositionForm):
    name = forms.CharField(max_length=200, error_messages={"required": "Give the cohort a name."})


class CohortMoveForm(CohortPositionForm):
    to = forms.IntegerField(min_value=0)


class ServiceMoveForm(NoColonMixin, forms.Form):
    service = forms.UUIDField(error_messages={"required": "Choose a service."})
    to = forms.IntegerField(min_value=0, error_messages={"required": "Choose a cohort."})
