"""Long-term monitoring and adverse-event reports on the chart and the session page."""

from __future__ import annotations

from typing import Any

from django import template

from ketaclinic.treatment import chart
from ketaclinic.treatment.longterm import monitoring_for_patient
from ketaclinic.treatment.models import AdverseEventReport

register = template.Library()


@register.inclusion_tag("treatment/_longterm.html")
def treatment_longterm(patient: Any) -> dict[str, Any]:
    """Liver tests due and urinary questions for the patient's running courses."""
    return {"monitoring": monitoring_for_patient(patient)}


@register.simple_tag
def event_reports(session: Any) -> dict[int, list[AdverseEventReport]]:
    """The session's adverse-event reports by event id (treatment.chart: one query)."""
    return chart.event_reports(session)


@register.filter
def reports_of(mapping: dict[int, list[AdverseEventReport]], event_id: int) -> list[Any]:
    return mapping.get(event_id, [])
