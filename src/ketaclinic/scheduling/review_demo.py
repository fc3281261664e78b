"""Demo: one IV course whose induction ended last week, its end-of-induction review due.

The six infusions sit on Monday/Wednesday/Friday mornings of the two weeks before last
(completed appointments; the treatment demo charts their sessions). Idempotent.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.utils import timezone

from ketaclinic.accounts.models import Membership
from ketaclinic.measures.models import Response
from ketaclinic.scheduling import services
from ketaclinic.scheduling.models import (
    Appointment,
    CourseStatus,
    DoseOrder,
    Room,
    TreatmentCourse,
)

CODE = "ketamine-iv-mood"


def seed(clinic: Any, patients: list[Any]) -> None:
    """Give one demo patient with questionnaire scores a finished IV induction."""
    physician = (
        Membership.objects.select_related("user").filter(clinic=clinic, role="physician").first()
    )
    chair = Room.objects.filter(clinic=clinic, kind="treatment_chair").order_by("position").first()
    if physician is None or chair is None:
        return
    with_scores = set(
        Response.objects.filter(clinic=clinic, instrument="phq9").values_list(
            "patient_id", flat=True
        )
    )
    candidates = [p for p in patients if p.status == "active" and p.pk in with_scores]
    if not candidates:
        return
    patient = candidates[-1]
    if (
        TreatmentCourse.objects.filter(clinic=clinic, patient=patient, protocol_code=CODE)
        .filter(start_date__lt=clinic.today() - timedelta(days=7))
        .exists()
    ):
        return
    protocol = services.get_protocol(CODE)
    today = clinic.today()
    monday = today - timedelta(days=today.weekday()) - timedelta(days=21)
    course = TreatmentCourse.objects.create(
        clinic=clinic,
        patient=patient,
        protocol_code=protocol.code,
        protocol_version=protocol.version,
        protocol_hash=services.freeze_protocol(protocol),
        family=protocol.family,
        planned_sessions=6,
        start_date=monday,
        status=CourseStatus.ACTIVE,
        prescriber=physician.user,
        signed_at=timezone.now() - timedelta(days=24),
        activated_at=timezone.now() - timedelta(days=23),
    )
    DoseOrder.objects.create(
        clinic=clinic,
        course=course,
        dose_mg_per_kg=protocol.dose.default_mg_per_kg.value,  # type: ignore[union-attr]
        weight_basis=protocol.dose.default_weight_basis,  # type: ignore[union-attr]
        reason="Initial prescription.",
        signed_by=physician.user,
        signed_at=course.signed_at,
    )
    minutes = protocol.total_chair_minutes
    days = [monday + timedelta(days=d) for d in (0, 2, 4, 7, 9, 11)]
    Appointment.objects.bulk_create(
        Appointment(
            clinic=clinic,
            patient=patient,
            kind="treatment",
            room=chair,
            course=course,
            start=datetime.combine(day, time(7, 0), tzinfo=clinic.tz),
            end=datetime.combine(day, time(7, 0), tzinfo=clinic.tz) + timedelta(minutes=minutes),
            status="completed",
        )
        for day in days
    )
