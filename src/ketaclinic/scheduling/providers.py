"""What scheduling tells the apps below it (registered in SchedulingConfig.ready)."""

from __future__ import annotations

from django.db.models import Case, Value, When

from ketaclinic.scheduling.models import TreatmentCourse


def course_prescriber(clinic_id: int, patient_id: int) -> list[int]:
    """The prescriber of the patient's course: a current one before a finished one, then
    the newest (measures tells them of an urgent alert first)."""
    current = Case(
        When(status__in=["active", "paused", "planned"], then=Value(0)), default=Value(1)
    )
    prescriber = (
        TreatmentCourse.objects.filter(clinic_id=clinic_id, patient_id=patient_id)
        .order_by(current, "-created_at", "-pk")
        .values_list("prescriber_id", flat=True)
        .first()
    )
    return [prescriber] if prescriber is not None else []


def register() -> None:
    from ketaclinic.measures import hooks as measures_hooks

    measures_hooks.register_physicians(10, course_prescriber)
