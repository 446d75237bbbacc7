"""Filters of the audits templates: numbers with thousands separators, outcome labels."""

from __future__ import annotations

from typing import Any

from django import template

from audits.evidence_text import percent
from audits.models import Outcome
from fleet.impact.compare import OUTCOME_LABELS as IMPACT_OUTCOMES
from fleet.impact.predict import PRECHECK_REFUSED

register = template.Library()

LABELS = {
    Outcome.PASS: "PASS",
    Outcome.WARN: "WARN",
    Outcome.FAIL: "FAIL",
    Outcome.NOT_APPLICABLE: "N/A",
    Outcome.UNKNOWN: "UNKNOWN",
    Outcome.EXCEPTION: "EXCEPTION",
}

# A prediction's verdicts print as their words (will-break, at-risk, untested, safe, no-data);
# a comparison's outcomes as fleet.impact names them.
IMPACT_LABELS = {**IMPACT_OUTCOMES, PRECHECK_REFUSED: "pre-check refused"}

# What a table shows for a missing value: an en dash.
NONE_SHOWN = "\u2013"


@register.filter
def thousands(value: Any) -> str:
    """1234567 -> "1,234,567"; anything that is not a number is shown as it is."""
    if value is None or value == "":
        return NONE_SHOWN
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def outcome_label(value: Any) -> str:
    return LABELS.get(value, str(value))


@register.filter
def impact_label(value: Any) -> str:
    return IMPACT_LABELS.get(value, str(value))


# The pack's report stores instants as ISO 8601 in UTC (audits/report.py); these show them as
# the pack always has, without parsing each one again.


@register.filter
def iso_minute(value: Any) -> str:
    """ "2026-01-05T10:07:31+00:00" -> "2026-01-05 10:07"."""
    return str(value)[:16].replace("T", " ") if value else ""


@register.filter
def iso_second(value: Any) -> str:
    return str(value)[:19].replace("T", " ") if value else ""


@register.filter
def iso_day(value: Any) -> str:
    return str(value)[:10] if value else ""


@register.filter(name="percent")
def percent_filter(value: Any) -> str:
    return percent(value)
