"""Template tags for the measures parts of other pages, each with a fixed number of queries."""

from __future__ import annotations

import re
from typing import Any

from django import template

from ketaclinic.measures import chart
from ketaclinic.measures.models import Alert
from ketaclinic.measures.registry import instruments

register = template.Library()

SEVERITY_LEVELS = {
    # How a severity code reads as a badge level (colour + word; the label is the word).
    "minimal": "ok",
    "none": "ok",
    "normal": "ok",
    "mild": "info",
    "low": "info",
    "moderate": "caution",
    "moderately_severe": "high",
    "severe": "high",
    "high": "urgent",
    "very_severe": "high",
}


_ABBREVIATION = re.compile(r"\(([^()]+)\)\s*$")


@register.filter
def short_title(title: str) -> str:
    """The abbreviation in a title's closing parentheses ("... (PHQ-9)" -> "PHQ-9")."""
    match = _ABBREVIATION.search(title or "")
    return match.group(1) if match else title


@register.filter
def instrument_names(codes: list[str]) -> str:
    """Instrument codes as their short names ("phq9, gad7" -> "PHQ-9, GAD-7")."""
    loaded = instruments()
    return ", ".join(short_title(loaded[c].title) if c in loaded else c for c in codes)


@register.filter
def alert_name(code: str) -> str:
    """An alert code as words ("suicidality_unanswered" -> "Suicidality unanswered")."""
    return (code or "").replace("_", " ").capitalize()


@register.filter
def severity_level(code: str) -> str:
    """The badge level class for a severity or risk code ("caution" for unknown codes)."""
    return SEVERITY_LEVELS.get(code or "", "info")


@register.simple_tag(takes_context=True)
def open_alert_count(context: dict[str, Any]) -> int:
    """Open alerts in the current clinic (measures.chart: one query), for the nav link."""
    membership = context.get("membership")
    if membership is None:
        return 0
    return chart.open_alert_count(membership.clinic_id)


@register.simple_tag
def patient_open_alerts(patient: Any) -> list[Alert]:
    """The patient's open alerts, most urgent first (measures.chart: one query, cached)."""
    return chart.open_alerts(patient)


@register.inclusion_tag("measures/_section.html", takes_context=True)
def measures_chart_section(context: dict[str, Any], section: dict[str, Any]) -> dict[str, Any]:
    """Lay out the chart's measures section read by the chart view (measures.chart)."""
    return {
        **section,
        "allowed": context.get("allowed", frozenset()),
        "csrf_token": context.get("csrf_token"),
    }
