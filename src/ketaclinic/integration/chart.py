"""The integration section of the patient chart: goals next to the outcome numbers, and the
course's planned integration with missed sessions flagged (a fixed number of queries).

Registered with patients/chart.py in IntegrationConfig.ready; the template tag
`integration_chart` only lays the result out.
"""

from __future__ import annotations

from typing import Any

from ketaclinic.accounts.access import Actor
from ketaclinic.integration import planning, plans
from ketaclinic.integration.models import TreatmentPlan
from ketaclinic.patients.models import Patient

SHOWN = 8


def chart_section(actor: Actor, patient: Patient, allowed: frozenset[str]) -> dict[str, Any] | None:
    if "integration.view" not in allowed:
        return None
    plan = TreatmentPlan.objects.filter(clinic_id=patient.clinic_id, patient=patient).first()
    rows = planning.planned_rows(
        planning.planned_for(patient.clinic).filter(patient=patient).order_by("-closes")[:30]
    )
    missed = sum(1 for r in rows if r.status == "missed")
    return {
        "patient": patient,
        "plan": plan,
        "progress": plans.goal_progress(plan),
        "planned": sorted(rows, key=lambda r: r.item.opens)[-SHOWN:],
        "missed": missed,
    }
