"""The integration panel on the patient's chart: goals next to the outcome numbers, and the
course's planned integration with missed sessions flagged (fixed number of queries)."""

from __future__ import annotations

from typing import Any

from django import template

from ketaclinic.integration import planning, plans
from ketaclinic.integration.models import TreatmentPlan

register = template.Library()
SHOWN = 8


@register.inclusion_tag("integration/_chart_panel.html", takes_context=True)
def integration_chart(context: Any, patient: Any) -> dict[str, Any]:
    plan = TreatmentPlan.objects.filter(clinic_id=patient.clinic_id, patient=patient).first()
    rows = planning.planned_rows(
        planning.planned_for(patient.clinic).filter(patient=patient).order_by("-closes")[:30]
    )
    missed = sum(1 for r in rows if r.status == "missed")
    return {
        "patient": patient,
        "allowed": context.get("allowed", frozenset()),
        "plan": plan,
        "progress": plans.goal_progress(plan),
        "planned": sorted(rows, key=lambda r: r.item.opens)[-SHOWN:],
        "missed": missed,
    }
