"""Preparation and integration sessions planned and booked with a course.

A course whose protocol has an ``integration`` plan gets a ``PlannedSession`` per
window (clinical/integration.py). When the course's dosing sessions are booked,
each window is booked on a therapist's hours in a therapy room; when a dosing
session moves, its window moves, and a booked integration session that no longer
falls inside it is moved into it (or flagged when no time is free). Scheduling calls
``on_course_booked`` and ``on_appointment_moved`` inside its own transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.audit.services import record
from ketaclinic.clinical.integration import planned_windows
from ketaclinic.clinical.scheduling import Span
from ketaclinic.integration.models import PlannedSession, SessionDetail
from ketaclinic.scheduling import services as scheduling
from ketaclinic.scheduling.models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    Room,
    RoomKind,
    TreatmentCourse,
)

__all__ = [
    "PlannedRow",
    "on_appointment_moved",
    "on_course_booked",
    "plan_for_course",
    "planned_rows",
    "session_status",
]

SESSION_MINUTES = 60  # scheduling's default for preparation and integration
STEP = timedelta(minutes=30)
MAX_TRIES = 60  # candidate times tried per window before it is left to book by hand
LIVE = ("booked", "checked_in", "in_progress", "completed")
GONE = ("cancelled", "no_show")


def on_course_booked(actor: Actor, course: TreatmentCourse, appointments: Sequence[Any]) -> None:
    plan_for_course(actor, course)


def on_appointment_moved(actor: Actor, appointment: Appointment, moved_from: datetime) -> None:
    if appointment.kind == AppointmentKind.TREATMENT and appointment.course is not None:
        plan_for_course(actor, appointment.course)


def therapist_for(course: TreatmentCourse) -> Membership | None:
    """The patient's therapist: the one of their latest integration session, else the
    clinic's active therapist with the fewest upcoming sessions."""
    last = (
        Appointment.objects.for_clinic(course.clinic)
        .filter(
            patient=course.patient,
            kind__in=[AppointmentKind.INTEGRATION, AppointmentKind.PREPARATION],
            staff__role="therapist",
            staff__is_active=True,
        )
        .order_by("-start")
        .select_related("staff__user")
        .first()
    )
    if last is not None and last.staff is not None:
        return last.staff
    return _least_busy_therapist(course, timezone.now())


def _least_busy_therapist(course: TreatmentCourse, now: datetime) -> Membership | None:
    therapists = list(
        Membership.objects.filter(clinic=course.clinic, role="therapist", is_active=True)
        .select_related("user")
        .order_by("pk")
    )
    if not therapists:
        return None
    load = dict(
        Appointment.objects.for_clinic(course.clinic)
        .holding()
        .filter(staff__in=therapists, start__gte=now)
        .values_list("staff")
        .annotate(n=Count("pk"))
        .values_list("staff", "n")
    )
    return min(therapists, key=lambda m: (load.get(m.pk, 0), m.pk))


def _rooms(course: TreatmentCourse) -> list[Room]:
    """The clinic's therapy rooms: planned sessions are booked only there (a clinic without
    one sees its windows on the work list, to book by hand)."""
    return list(
        Room.objects.for_clinic(course.clinic)
        .filter(active=True, kind=RoomKind.THERAPY_ROOM)
        .order_by("position", "name")
    )


def _search_from(course: TreatmentCourse, kind: str, opens: datetime, closes: datetime) -> datetime:
    """Integration starts the day after dosing when the window allows (the dissociation
    of the day has passed; clinic policy); preparation as early as the window opens."""
    now = timezone.now() + timedelta(hours=1)
    start = max(opens, now)
    if kind == "integration":
        local = opens.astimezone(course.clinic.tz).date() + timedelta(days=1)
        next_day = datetime.combine(local, datetime.min.time(), tzinfo=course.clinic.tz)
        if next_day + timedelta(minutes=SESSION_MINUTES) < closes:
            start = max(start, next_day)
    return start


def _round_up(moment: datetime) -> datetime:
    base = moment.replace(second=0, microsecond=0)
    extra = base.minute % 30
    if extra or moment != base:
        base += timedelta(minutes=30 - extra)
    return base


def find_slot(
    course: TreatmentCourse,
    kind: str,
    opens: datetime,
    closes: datetime,
    therapist: Membership,
    rooms: Sequence[Room],
    exclude: Sequence[int] = (),
) -> scheduling.Slot | None:
    """The first free time in the window on the therapist's hours, in one of ``rooms``."""
    begin = _search_from(course, kind, opens, closes)
    if begin + timedelta(minutes=SESSION_MINUTES) > closes or not rooms:
        return None
    shifts = scheduling.staff_spans(
        course.clinic, Span(begin, closes), Q(membership=therapist)
    ).get(therapist.pk, [])
    tries = 0
    for shift in sorted(shifts, key=lambda s: s.start):
        at = _round_up(max(shift.start, begin))
        while at + timedelta(minutes=SESSION_MINUTES) <= min(shift.end, closes):
            for room in rooms:
                tries += 1
                if tries > MAX_TRIES:
                    return None
                slot = scheduling.make_slot(
                    patient=course.patient, kind=kind, room=room, start=at, staff=therapist
                )
                if not scheduling.check_slot(slot, exclude=exclude):
                    return slot
            at += STEP
    return None


def plan_for_course(
    actor: Actor, course: TreatmentCourse, *, book: bool = True
) -> list[PlannedSession]:
    """Create or update the course's planned sessions and book (or move) them.

    Runs inside the caller's transaction; never raises for a window it cannot book
    (that window stays open on the work list).
    """
    rule = scheduling.course_protocol(course).integration
    if rule is None:
        return []
    dosing = list(
        Appointment.objects.holding()
        .filter(course=course, kind=AppointmentKind.TREATMENT)
        .order_by("start", "pk")
    )
    windows = planned_windows(rule, [(a.start, a.end) for a in dosing])
    existing = {
        (p.kind, p.dosing_number): p
        for p in PlannedSession.objects.filter(course=course).select_related("appointment")
    }
    therapist = None
    rooms: list[Room] | None = None
    result = []
    preparations = 0
    for window in windows:
        number = window.dosing
        if window.kind == "preparation":
            number, preparations = preparations, preparations + 1
        dose = dosing[window.dosing - 1] if window.dosing else None
        item = existing.get((window.kind, number))
        if item is None:
            item = PlannedSession.objects.create(
                clinic=course.clinic,
                course=course,
                patient=course.patient,
                kind=window.kind,
                dosing_number=number,
                dosing=dose,
                opens=window.opens,
                closes=window.closes,
            )
            record(
                actor,
                "integration_plan",
                patient_id=course.patient_id,
                obj=item,
                detail={"course": course.pk, "kind": window.kind, "dosing": number},
            )
        elif (item.opens, item.closes, item.dosing_id) != (
            window.opens,
            window.closes,
            dose.pk if dose else None,
        ):
            item.opens, item.closes, item.dosing = window.opens, window.closes, dose
            item.save(update_fields=["opens", "closes", "dosing"])
            record(
                actor,
                "integration_window_moved",
                patient_id=course.patient_id,
                obj=item,
                detail={"course": course.pk, "dosing": number},
            )
        result.append(item)
        if not book:
            continue
        current = item.appointment
        if current is not None and current.status in GONE:
            continue  # cancelled or missed: the work list shows it
        if current is not None and (
            current.status != AppointmentStatus.BOOKED
            or item.opens <= current.start
            and current.end <= item.closes
        ):
            continue  # held, or still inside its window
        if therapist is None:
            therapist = (current.staff if current else None) or therapist_for(course)
            rooms = _rooms(course)
        if therapist is None or not rooms:
            continue
        exclude = [current.pk] if current else []
        slot = find_slot(course, window.kind, item.opens, item.closes, therapist, rooms, exclude)
        if slot is None:
            continue
        if current is None:
            # Inside the course booking's transaction and clinic lock; checked just above.
            appointment = Appointment.objects.create(
                clinic=course.clinic,
                patient=course.patient,
                kind=slot.kind,
                room=slot.room,
                staff=slot.staff,
                start=slot.start,
                end=slot.end,
            )
            SessionDetail.objects.create(clinic=course.clinic, appointment=appointment)
            record(
                actor,
                "book_integration",
                patient_id=course.patient_id,
                obj=appointment,
                detail={"kind": slot.kind, "room": slot.room.pk, "planned": item.pk},
            )
            item.appointment = appointment
            item.save(update_fields=["appointment"])
        else:
            scheduling.update_appointment(
                actor=actor, appointment=current, start=slot.start, room=slot.room
            )
    return result


@dataclass(frozen=True)
class PlannedRow:
    item: PlannedSession
    status: str  # done | booked | outside_window | to_book | missed | not_needed
    label: str


LABELS = {
    "done": "Held",
    "booked": "Booked",
    "outside_window": "Booked outside its window",
    "to_book": "To book",
    "missed": "Missed",
    "not_needed": "Not needed (dose not given)",
}


def session_status(item: PlannedSession, now: datetime) -> str:
    dose = item.dosing
    if dose is not None and dose.status in GONE:
        return "not_needed"
    appointment = item.appointment
    if appointment is not None and appointment.status == AppointmentStatus.COMPLETED:
        return "done"
    if appointment is not None and appointment.status in LIVE:
        if appointment.start < item.opens or appointment.end > item.closes:
            return "outside_window"
        if appointment.end < now and item.closes < now:
            return "missed"  # the time passed and nobody marked it held
        return "booked"
    if item.closes < now:
        return "missed"
    return "to_book"


def planned_rows(items: QuerySet[PlannedSession] | Sequence[PlannedSession]) -> list[PlannedRow]:
    now = timezone.now()
    rows = []
    for item in items:
        status = session_status(item, now)
        rows.append(PlannedRow(item, status, LABELS[status]))
    return rows


def planned_for(clinic: Any) -> QuerySet[PlannedSession]:
    return (
        PlannedSession.objects.for_clinic(clinic)
        .select_related("appointment", "appointment__staff__user", "dosing", "patient")
        .order_by("opens", "pk")
    )


def missed_for(
    clinic: Any, membership: Membership | None = None, limit: int = 50
) -> list[PlannedRow]:
    """Planned sessions whose window has closed without a held session (newest first)."""
    now = timezone.now()
    rows = (
        planned_for(clinic)
        .filter(closes__lt=now, closes__gte=now - timedelta(days=60))
        .exclude(appointment__status=AppointmentStatus.COMPLETED)
        .exclude(dosing__status__in=GONE)
        .order_by("-closes", "-pk")
    )
    if membership is not None:
        rows = rows.filter(Q(appointment__staff=membership) | Q(appointment__isnull=True))
    return [r for r in planned_rows(rows[:limit]) if r.status == "missed"]
