"""The screening section of the patient chart: intake version, latest screening per family
with its decision, consents (three queries).

Registered with patients/chart.py in ScreeningConfig.ready; the template tags
`screening_chart` and `send_forms` only lay the result out.
"""

from __future__ import annotations

from typing import Any

from ketaclinic.accounts.access import Actor
from ketaclinic.patients.models import Patient
from ketaclinic.screening import services


def chart_section(actor: Actor, patient: Patient, allowed: frozenset[str]) -> dict[str, Any] | None:
    if "clinical.view" not in allowed:
        # A role that sends the intake and consent links but does not chart sees only those.
        return {"patient": patient, "send_only": True} if "forms.send" in allowed else None
    today = actor.clinic.today()
    return {
        "patient": patient,
        "send_only": False,
        "intake": services.latest_intake(patient),
        "screenings": services.latest_screenings(patient),
        "consents": [(c, c.state_on(today)) for c in services.consents_for(patient)[:10]],
    }
