"""The treatment section of the patient chart, and the treatment facts other pages show.

`chart_section` is registered with patients/chart.py in TreatmentConfig.ready and called
by the chart view: long-term monitoring (liver tests due, urinary questions) and the
latest sessions. The template tags only lay these out; the header flag and a session's
adverse-event reports are read here too (one query each).
"""

from __future__ import annotations

from typing import Any

from ketaclinic.accounts.access import Actor
from ketaclinic.patients.models import Patient
from ketaclinic.treatment.longterm import monitoring_for_patient
from ketaclinic.treatment.models import ACTIVE_STATES, AdverseEventReport, TreatmentSession

SHOWN = 10


def chart_section(actor: Actor, patient: Patient, allowed: frozenset[str]) -> dict[str, Any] | None:
    if "clinical.view" not in allowed:
        return None
    sessions = list(
        TreatmentSession.objects.filter(clinic_id=patient.clinic_id, patient=patient)
        .select_related("administration")
        .order_by("-started_at")[:SHOWN]
    )
    return {"sessions": sessions, "monitoring": monitoring_for_patient(patient)}


def active_session(patient: Patient) -> TreatmentSession | None:
    """The patient's session in progress, if any (the header's in-treatment flag)."""
    return (
        TreatmentSession.objects.filter(
            clinic_id=patient.clinic_id, patient=patient, state__in=ACTIVE_STATES
        )
        .only("pk", "state")
        .first()
    )


def event_reports(session: TreatmentSession) -> dict[int, list[AdverseEventReport]]:
    """The session's adverse-event reports by event id (one query)."""
    found: dict[int, list[AdverseEventReport]] = {}
    for report in AdverseEventReport.objects.filter(
        clinic_id=session.clinic_id, event__session=session
    ).order_by("kind"):
        found.setdefault(report.event_id, []).append(report)
    return found
