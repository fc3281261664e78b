"""Inclusion tags for the patient header flags and the chart section (constant queries)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import template
from django.utils import timezone

from ketaclinic.screening import services
from ketaclinic.screening.models import FAMILY_CHOICES, Consent

register = template.Library()


def _latest_consents(patient: Any) -> list[Consent]:
    """The newest consent per family (one query), in the families' order."""
    seen: dict[str, Consent] = {}
    for consent in services.consents_for(patient):
        seen.setdefault(consent.family, consent)
    order = [f for f, _ in FAMILY_CHOICES]
    return sorted(seen.values(), key=lambda c: order.index(c.family))


def _clinic_today(context: Any, patient: Any) -> date:
    """Today in the patient's clinic (the page's clinic when it is the same: no query)."""
    clinic = context.get("current_clinic")
    if clinic is None or clinic.pk != patient.clinic_id:
        clinic = patient.clinic
    return clinic.today()


@register.inclusion_tag("screening/_consent_flags.html", takes_context=True)
def consent_flags(context: Any, patient: Any) -> dict[str, Any]:
    """Consent state per family for the patient header: valid / expired / withdrawn / none."""
    today = _clinic_today(context, patient)
    return {"consents": [(c, c.state_on(today)) for c in _latest_consents(patient)]}


@register.inclusion_tag("screening/_chart_panel.html", takes_context=True)
def screening_chart(context: Any, section: dict[str, Any]) -> dict[str, Any]:
    """Lay out the chart's screening section read by the chart view (screening.chart)."""
    return {
        **section,
        "allowed": context.get("allowed", frozenset()),
        "families": FAMILY_CHOICES,
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("screening/_send_forms_panel.html", takes_context=True)
def send_forms(context: Any, patient: Any) -> dict[str, Any]:
    """The intake and consent links alone, for a role that sends them but does not chart."""
    return {
        "patient": patient,
        "families": FAMILY_CHOICES,
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def iso_local(value: str, fmt: str = "Y-m-d") -> str:
    """Format a stored ISO timestamp in the active (clinic) time zone."""
    from datetime import datetime

    from django.utils.dateformat import format as date_format

    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return ""
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return date_format(moment, fmt)
