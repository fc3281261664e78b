"""The patients behind a number, and the audit of looking at them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import (
    F,
    Q,
    QuerySet,
)
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic
from ketaclinic.audit.services import record
from ketaclinic.patients.models import Patient
from ketaclinic.treatment.models import AdverseEvent, RemsForm, SessionAlert

from .filters import (
    OUTCOME_MEASURES,
    Filters,
    cohorts,
    dropout_q,
    outcomes,
)
from .safety import (
    appointments_in,
    sessions_in,
)

# --------------------------------------------------------------------------- drill-down

SAFETY_FIGURES = {
    "sessions": "Sessions with a dose",
    "adverse_events": "Adverse events",
    "bp_excursions": "Blood-pressure excursions",
    "discharge_overrides": "Discharge overrides",
    "rems_late": "REMS forms submitted late or overdue",
    "no_shows": "No-shows",
    "integration_attended": "Integration sessions attended",
}


def patients_behind(
    clinic: Clinic,
    filters: Filters,
    *,
    measure: str,
    key: str | None = None,
    ae_type: str | None = None,
    severity: str | None = None,
    now: datetime | None = None,
) -> QuerySet[Patient]:
    """The patients a dashboard number counts (ValidationError naming `measure` if unknown)."""
    now = now or timezone.now()
    if measure in OUTCOME_MEASURES:
        ids = _outcome_patient_ids(clinic, filters, measure, key, now)
    elif measure in SAFETY_FIGURES:
        ids = _safety_patient_ids(clinic, filters, measure, ae_type, severity, now)
    else:
        raise ValidationError({"measure": "Unknown figure."})
    return Patient.objects.filter(clinic=clinic, pk__in=ids).order_by(
        "family_key", "given_key", "pk"
    )


def _outcome_patient_ids(
    clinic: Clinic, filters: Filters, measure: str, key: str | None, now: datetime
) -> QuerySet[Any]:
    """The patient ids behind a cohort or outcome count, in the group `key` if given."""
    if measure in ("patients", "treated", "dropouts"):
        found = cohorts(clinic, filters)
        if key and key != "all":
            found = found.filter(key=key)
        if measure == "treated":
            found = found.filter(treated=True)
        elif measure == "dropouts":
            found = found.filter(dropout_q(now))
        return found.values("patient_id")
    scored = outcomes(clinic, filters)
    if key and key != "all":
        scored = scored.filter(key=key)
    scored = scored.filter(
        **{
            "with_baseline": {"baseline_before_treatment": True},
            "with_followup": {"baseline_before_treatment": True, "has_follow_up": True},
            "responders": {"response": True},
            "remitters": {"remission": True},
        }[measure]
    )
    return scored.values("patient_id")


def _safety_patient_ids(
    clinic: Clinic,
    filters: Filters,
    measure: str,
    ae_type: str | None,
    severity: str | None,
    now: datetime,
) -> QuerySet[Any]:
    """The patient ids behind a safety or operations figure."""
    sessions = sessions_in(clinic, filters)
    if measure == "sessions":
        return sessions.values("patient_id")
    if measure == "adverse_events":
        events = AdverseEvent.objects.filter(session__in=sessions)
        if ae_type:
            events = events.filter(type=ae_type)
        if severity:
            events = events.filter(severity=severity)
        return events.values("session__patient_id")
    if measure == "bp_excursions":
        return SessionAlert.objects.filter(session__in=sessions, code="hypertension").values(
            "session__patient_id"
        )
    if measure == "discharge_overrides":
        return sessions.filter(discharge_override_by__isnull=False).values("patient_id")
    if measure == "rems_late":
        today = clinic.date_of(now)
        return RemsForm.objects.filter(
            Q(submitted_on__gt=F("due_on")) | Q(submitted_on__isnull=True, due_on__lt=today),
            session__in=sessions,
        ).values("session__patient_id")
    if measure == "no_shows":
        return appointments_in(clinic, filters, now).filter(status="no_show").values("patient_id")
    return (
        appointments_in(clinic, filters, now)
        .filter(kind="integration", status="completed")
        .values("patient_id")
    )


def record_drilldown(
    *, actor: Actor, measure: str, patient_ids: list[int], query: dict[str, str]
) -> None:
    """Audit that the actor saw the list of patients behind a figure (ids only)."""
    record(
        actor,
        "outcomes_drilldown",
        object_type="outcomes.figure",
        object_id=measure,
        detail={"shown": patient_ids, "query": query},
    )
