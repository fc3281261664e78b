"""The patient's sessions on the chart and the in-treatment flag in the header, laid out
from treatment.chart's reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

from ketaclinic.treatment import chart

register = template.Library()


@register.filter
def as_recorded(value: str) -> str:
    """An amended value for reading: a stored ISO time in the clinic's zone, anything else as is."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value
    if timezone.is_naive(moment):
        return value
    return date_format(timezone.localtime(moment), "H:i, j M Y")


@register.inclusion_tag("treatment/_chart_panel.html", takes_context=True)
def treatment_chart(context: Any, section: dict[str, Any]) -> dict[str, Any]:
    """Lay out the chart's sessions read by the chart view (treatment.chart)."""
    return {"sessions": section["sessions"], "allowed": context.get("allowed", frozenset())}


@register.inclusion_tag("treatment/_flags.html")
def treatment_flags(patient: Any) -> dict[str, Any]:
    return {"active": chart.active_session(patient)}
