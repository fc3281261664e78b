"""The patient's sessions on the chart and the in-treatment flag in the header (one query each)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

from ketaclinic.treatment.models import ACTIVE_STATES, TreatmentSession

register = template.Library()
SHOWN = 10


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
def treatment_chart(context: Any, patient: Any) -> dict[str, Any]:
    sessions = list(
        TreatmentSession.objects.filter(clinic_id=patient.clinic_id, patient=patient)
        .select_related("administration")
        .order_by("-started_at")[:SHOWN]
    )
    return {"sessions": sessions, "allowed": context.get("allowed", frozenset())}


@register.inclusion_tag("treatment/_flags.html")
def treatment_flags(patient: Any) -> dict[str, Any]:
    active = (
        TreatmentSession.objects.filter(
            clinic_id=patient.clinic_id, patient=patient, state__in=ACTIVE_STATES
        )
        .only("pk", "state")
        .first()
    )
    return {"active": active}
