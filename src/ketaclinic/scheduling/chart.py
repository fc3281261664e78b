"""The scheduling section of the patient chart: courses and upcoming appointments (three
queries, whatever the history).

Registered with patients/chart.py in SchedulingConfig.ready; the template tag
`scheduling_chart` only lays the result out.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import (
    HOLDING,
    Appointment,
    DoseOrder,
    InductionReview,
    TreatmentCourse,
)

UPCOMING = 8


def chart_section(actor: Actor, patient: Patient, allowed: frozenset[str]) -> dict[str, Any] | None:
    if "schedule.view" not in allowed:
        return None
    courses = (
        TreatmentCourse.objects.filter(clinic_id=patient.clinic_id, patient=patient)
        .exclude(status__in=["completed", "stopped"])
        .annotate(
            booked=Count("appointments", filter=Q(appointments__status__in=HOLDING)),
            completed=Count(
                "appointments",
                filter=Q(appointments__status="completed", appointments__kind="treatment"),
            ),
            reviewed=Exists(InductionReview.objects.filter(course=OuterRef("pk"))),
        )
        .order_by("-start_date", "-pk")
    )
    # Dose orders are loaded only for a role that may see them (dose.view).
    if "dose.view" in allowed:
        orders = DoseOrder.objects.order_by("-signed_at", "-pk")
        courses = courses.prefetch_related(Prefetch("orders", queryset=orders))
    rows = list(courses[:5])
    for course in rows:
        if "dose.view" in allowed:
            current = list(course.orders.all())
            course.current_order = current[0] if current else None
        # Every shipped protocol asks for the review; its page checks the course's own file.
        course.review_due = (
            course.status == "active"
            and course.phase == "induction"
            and course.completed >= course.planned_sessions
            and not course.reviewed
        )
    upcoming = list(
        Appointment.objects.filter(
            clinic_id=patient.clinic_id,
            patient=patient,
            end__gte=timezone.now(),
            status__in=["booked", "checked_in", "in_progress"],
        )
        .select_related("room")
        .order_by("start")[: UPCOMING + 1]
    )
    return {
        "patient": patient,
        "courses": rows,
        "upcoming": upcoming[:UPCOMING],
        "more": len(upcoming) > UPCOMING,
    }
