"""A dosing session dropped from a course (cancelled, no-show, cut when the course ends):
what happens to the integration planned from it.

The protocol's plan counts dosing sessions *given*: "an integration session within 72 h
after each of the first N dosing sessions, then after every k-th" (clinical/integration.py
numbers the held doses 1, 2, 3 ...). When a dose drops out, the doses after it move up
one place, so the plan is simply worked out again by the planner (planning.plan_for_course,
the same code path a booked or moved series takes):

- windows that still exist are re-anchored to the dose that now holds their number, and a
  booked integration session outside its new window is moved into it (the planner's
  ``find_slot`` on the therapist's hours), or left to rebook when no time is free;
- the windows the plan no longer asks for (there is one dose fewer) are orphaned: their
  booked session is cancelled (its room and the therapist's hour are freed) and the
  planned session points at the dropped dose, so the course view shows "Not needed".

Each change the therapist did not make is written as a ``PlanChange`` that their work
list shows. Runs inside scheduling's transaction (scheduling/hooks.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.integration import planning
from ketaclinic.integration.models import PlanChange, PlanChangeAction, PlannedSession
from ketaclinic.scheduling import services as scheduling
from ketaclinic.scheduling.models import Appointment, AppointmentKind, AppointmentStatus

__all__ = ["on_appointments_dropped", "recent_changes", "replan_after_drop"]

CANCEL_REASON = "The dosing session this integration session followed was dropped."
SHOWN_DAYS = 14  # how long the work list shows a change


def on_appointments_dropped(actor: Actor, appointments: Sequence[Appointment]) -> None:
    """The scheduling hook: replan each course that lost a dosing session."""
    by_course: dict[int, tuple[Any, list[Appointment]]] = {}
    for appointment in appointments:
        if appointment.kind == AppointmentKind.TREATMENT and appointment.course_id is not None:
            by_course.setdefault(appointment.course_id, (appointment.course, []))[1].append(
                appointment
            )
    for course, dropped in by_course.values():
        replan_after_drop(actor, course, dropped)


def _therapist(item: PlannedSession, course: Any) -> Membership | None:
    appointment = item.appointment
    if appointment is not None and appointment.staff_id is not None:
        return appointment.staff
    return planning.therapist_for(course)


def replan_after_drop(
    actor: Actor, course: Any, dropped: Sequence[Appointment]
) -> list[PlanChange]:
    """Re-anchor the course's integration windows and cancel the orphaned sessions."""
    items = list(PlannedSession.objects.filter(course=course).select_related("appointment"))
    if not items or not dropped:
        return []
    before = {i.pk: (i.dosing_id, i.appointment.start if i.appointment else None) for i in items}
    kept = {p.pk for p in planning.plan_for_course(actor, course)}
    # Windows are booked in dose order: a later session the first pass moved on may have
    # freed the hour an earlier window needs (the therapist's slot after a weekend).
    planning.plan_for_course(actor, course)
    dropped_ids = {a.pk for a in dropped}
    spare = list(dropped)
    changes: list[PlanChange] = []
    now = timezone.now()
    current = (
        PlannedSession.objects.filter(course=course)
        .select_related("appointment__staff__user", "dosing")
        .order_by("-kind", "dosing_number")  # integration windows first, in dose order
    )
    for item in current:
        session = item.appointment
        if item.pk in kept:
            was_dosing, was_start = before.get(item.pk, (None, None))
            if session is None or session.status != AppointmentStatus.BOOKED:
                continue
            if was_start is not None and session.start != was_start:
                action = PlanChangeAction.MOVED
            elif not (item.opens <= session.start and session.end <= item.closes):
                action = PlanChangeAction.TO_REBOOK
            else:
                continue
            changes.append(_change(item, dropped[0], session, action, course))
            continue
        # Orphaned: the plan no longer asks for this window.
        dose = item.dosing
        if dose is not None and dose.pk not in dropped_ids and dose.status in planning.GONE:
            continue  # orphaned by an earlier drop
        if session is not None and session.status not in (
            AppointmentStatus.BOOKED,
            AppointmentStatus.CANCELLED,
            AppointmentStatus.NO_SHOW,
        ):
            continue  # held or under way: it stays as it was
        if dose is not None and dose.pk in dropped_ids:
            anchor = dose
        else:
            anchor = spare[-1] if spare else dropped[-1]
        if anchor in spare:
            spare.remove(anchor)
        item.dosing = anchor
        update = ["dosing"]
        if (
            session is not None
            and session.status == AppointmentStatus.BOOKED
            and (session.start > now)
        ):
            therapist = _therapist(item, course)
            scheduling.update_appointment(
                actor=actor, appointment=session, status="cancelled", reason=CANCEL_REASON
            )
            item.appointment = None  # a dose booked again later books this window again
            update.append("appointment")
            changes.append(
                _change(item, anchor, session, PlanChangeAction.CANCELLED, course, therapist)
            )
        item.save(update_fields=update)
    return changes


def _change(
    item: PlannedSession,
    dropped: Appointment,
    session: Appointment,
    action: str,
    course: Any,
    therapist: Membership | None = None,
) -> PlanChange:
    return PlanChange.objects.create(
        clinic=item.clinic,
        patient_id=item.patient_id,
        planned=item,
        dropped=dropped,
        session=session,
        therapist=therapist or _therapist(item, course),
        action=action,
    )


def recent_changes(clinic: Any, membership: Membership | None = None) -> QuerySet[PlanChange]:
    """Changes of the last two weeks, newest first (one therapist's, or everyone's)."""
    rows = PlanChange.objects.for_clinic(clinic).filter(
        created_at__gte=timezone.now() - timedelta(days=SHOWN_DAYS)
    )
    if membership is not None:
        rows = rows.filter(Q(therapist=membership) | Q(therapist__isnull=True))
    return rows.select_related("patient", "session", "dropped", "planned").order_by(
        "-created_at", "-pk"
    )
