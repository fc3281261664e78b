"""Booking one appointment: the slot, its conflicts with the floor and the course, the booking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.clinical.scheduling import Conflict, SeriesRule, Span, series_rule, slot_conflicts
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling import hooks, reviews
from ketaclinic.scheduling.models import (
    THERAPY_KINDS,
    Appointment,
    AppointmentKind,
    CourseStatus,
    Room,
    RoomKind,
    TreatmentCourse,
)

from .courses import course_protocol
from .floor import (
    _audit_appointment,
    _aware,
    _lock_floor,
    _serialized,
    load_floor,
    settings_for,
    staff_spans,
)

# Minutes reserved when the caller gives no end (clinic policy).
DEFAULT_MINUTES = {"consultation": 60, "integration": 60, "follow_up": 30, "preparation": 60}


# Talking appointments (preparation and integration therapy included) take a consult
# room; only a treatment takes a chair.
ROOM_KIND_FOR = {
    "treatment": RoomKind.TREATMENT_CHAIR,
    "consultation": RoomKind.CONSULT_ROOM,
    "integration": RoomKind.CONSULT_ROOM,
    "follow_up": RoomKind.CONSULT_ROOM,
    "preparation": RoomKind.CONSULT_ROOM,
}


class BookingConflict(Exception):
    """The booking was refused; ``conflicts`` says why (nothing was written)."""

    def __init__(self, conflicts: list[dict[str, Any]]) -> None:
        super().__init__("The booking was refused.")
        self.conflicts = conflicts


@dataclass(frozen=True)
class Slot:
    """What is to be booked (or moved to)."""

    patient: Patient
    kind: str
    room: Room
    start: datetime
    end: datetime
    course: TreatmentCourse | None = None
    staff: Membership | None = None


def make_slot(
    *,
    patient: Patient,
    kind: str,
    room: Room,
    start: datetime,
    course: TreatmentCourse | None = None,
    staff: Membership | None = None,
    end: datetime | None = None,
) -> Slot:
    """Validate the input of a booking (422s) and work out its end."""
    if kind not in AppointmentKind.values:
        raise ValidationError(
            {"kind": "Choose consultation, follow_up, preparation, integration or treatment."}
        )
    start = _aware(start, "start")
    if start < timezone.now():
        raise ValidationError({"start": "That time has passed."})
    therapy = kind in THERAPY_KINDS and room.kind == RoomKind.THERAPY_ROOM
    if (room.kind != ROOM_KIND_FOR[kind] and not therapy) or not room.active:
        raise ValidationError(
            {
                "room": f"A {kind.replace('_', '-')} needs an active {ROOM_KIND_FOR[kind].label.lower()}."
            }
        )
    if kind == AppointmentKind.TREATMENT:
        if course is None:
            raise ValidationError({"course": "A treatment is booked for a course."})
        if course.patient_id != patient.pk:
            raise ValidationError({"course": "This course belongs to another patient."})
        if course.status not in (CourseStatus.PLANNED, CourseStatus.ACTIVE):
            raise ValidationError(
                {"course": f"The course is {course.get_status_display().lower()}."}
            )
    elif course is not None:
        raise ValidationError({"course": "Only treatments belong to a course."})
    minutes = (
        course_protocol(course).total_chair_minutes if course is not None else DEFAULT_MINUTES[kind]
    )
    if end is None:
        end = start + timedelta(minutes=minutes)
    end = _aware(end, "end")
    if end <= start:
        raise ValidationError({"end": "The end must be after the start."})
    if course is not None and end - start < timedelta(minutes=minutes):
        # The chair, and a nurse, are needed for dose + observation + turnover.
        raise ValidationError(
            {
                "end": f"A treatment under {course.protocol_code} needs at least {minutes} "
                "minutes in the chair (dose, observation and turnover)."
            }
        )
    if end - start > timedelta(hours=12):
        raise ValidationError({"end": "An appointment cannot last more than 12 hours."})
    if staff is not None and staff.role not in ("physician", "nurse", "therapist"):
        raise ValidationError({"staff": "Assign a physician, nurse or therapist."})
    return Slot(
        patient=patient, kind=kind, room=room, start=start, end=end, course=course, staff=staff
    )


def _as_dicts(conflicts: list[Conflict], **extra: Any) -> list[dict[str, Any]]:
    return [{"code": c.code, "message": c.message, **extra} for c in conflicts]


def _course_rule(course: TreatmentCourse) -> SeriesRule:
    return series_rule(course_protocol(course), course.phase)


def check_slot(slot: Slot, *, exclude: Sequence[int] = ()) -> list[Conflict]:
    """Every reason ``slot`` cannot be booked now ([] = it can); reads the database."""
    return _check(slot, exclude)[0]


def _check(
    slot: Slot, exclude: Sequence[int] = (), prefer_nurse: int | None = None
) -> tuple[list[Conflict], Slot]:
    """Return the slot's conflicts and the slot to write.

    A treatment with no staff member chosen comes back with a free nurse
    (``prefer_nurse`` when she is free); a chosen one is checked as chosen.
    """
    clinic = slot.patient.clinic
    span = Span(slot.start, slot.end)
    # The floor during the slot only; the spacing rule reads the course's sessions
    # directly below, however far away they are.
    floor = load_floor(clinic, span, exclude=exclude)
    assign = slot.kind == AppointmentKind.TREATMENT and slot.staff is None
    patient_busy = [
        Span(s, e)
        for s, e in Appointment.objects.for_clinic(clinic)
        .holding()
        .filter(patient=slot.patient)
        .overlapping(slot.start, slot.end)
        .exclude(pk__in=exclude)
        .values_list("start", "end")
    ]
    rule = None
    course_starts: list[datetime] = []
    if slot.course is not None:
        rule = _course_rule(slot.course)
        course_starts = list(
            Appointment.objects.holding()
            .filter(course=slot.course, kind=AppointmentKind.TREATMENT)
            .exclude(pk__in=exclude)
            .values_list("start", flat=True)
        )
    conflicts = slot_conflicts(
        floor,
        room=slot.room.pk,
        span=span,
        treatment=slot.kind == AppointmentKind.TREATMENT,
        patient_busy=patient_busy,
        rule=rule,
        course_starts=course_starts,
        course_anchor=slot.course.start_date if slot.course else None,
        assign_nurse=assign,
    )
    if slot.staff is not None:
        conflicts.extend(_staff_conflicts(slot, span, exclude))
    conflicts.extend(hooks.extra_conflicts(slot, exclude))
    if assign and not conflicts:
        nurse = floor.free_nurse(span, prefer_nurse)
        if nurse is not None:
            slot = replace(slot, staff=Membership.objects.select_related("user").get(pk=nurse))
    return conflicts, slot


def _course_full(course: TreatmentCourse, adding: int) -> list[Conflict]:
    """Refuse more treatment sessions than the course's planned count."""
    held = (
        Appointment.objects.holding().filter(course=course, kind=AppointmentKind.TREATMENT).count()
    )
    waiting = reviews.review_conflict(course, held=held, adding=adding)
    if waiting is not None:
        return [Conflict("induction_review_due", waiting)]
    if held + adding <= course.planned_sessions:
        return []
    return [
        Conflict(
            "course_full",
            f"The course has {course.planned_sessions} planned sessions; {held} are booked "
            f"and {adding} more {'was' if adding == 1 else 'were'} asked for.",
        )
    ]


def _current_course(course: TreatmentCourse) -> TreatmentCourse:
    """Re-read the course under the clinic lock and refuse one that is no longer bookable.

    The caller's copy may be stale: the course may have been paused or stopped since.
    """
    fresh = TreatmentCourse.objects.get(pk=course.pk)
    if fresh.status not in (CourseStatus.PLANNED, CourseStatus.ACTIVE):
        raise ValidationError({"course": f"The course is {fresh.get_status_display().lower()}."})
    return fresh


def _staff_conflicts(slot: Slot, span: Span, exclude: Sequence[int]) -> list[Conflict]:
    assert slot.staff is not None
    clinic = slot.patient.clinic
    shifts = staff_spans(clinic, span, Q(membership=slot.staff)).get(slot.staff.pk, [])
    found = []
    if not any(s.covers(span) for s in shifts):
        found.append(Conflict("staff_off", "The assigned staff member is not working then."))
    others = (
        Appointment.objects.for_clinic(clinic)
        .holding()
        .filter(staff=slot.staff)
        .overlapping(slot.start, slot.end)
        .exclude(pk__in=exclude)
    )
    if slot.kind == AppointmentKind.TREATMENT:
        capacity = settings_for(clinic).nurse_capacity
        busy = others.exclude(kind=AppointmentKind.TREATMENT).exists()
        if busy or others.filter(kind=AppointmentKind.TREATMENT).count() + 1 > capacity:
            found.append(Conflict("staff_busy", "The assigned staff member is fully booked then."))
    elif others.exists():
        found.append(
            Conflict("staff_busy", "The assigned staff member has another appointment then.")
        )
    return found


def book_appointment(*, actor: Actor, slot: Slot) -> Appointment:
    """Book one appointment, or raise BookingConflict (nothing is written)."""
    actor.check("schedule.book")

    def work() -> Appointment:
        _lock_floor(actor.clinic, [slot.room.pk])
        course_conflicts = []
        if slot.course is not None:
            _current_course(slot.course)
            course_conflicts = _course_full(slot.course, adding=1)
        conflicts, staffed = _check(slot)
        conflicts = course_conflicts + conflicts
        if conflicts:
            raise BookingConflict(_as_dicts(conflicts))
        appointment = _create(staffed)
        _audit_appointment(actor, "book", appointment, staff=appointment.staff_id)
        if appointment.course is not None:
            # A dosing session booked on its own plans integration as a series does.
            hooks.course_booked(actor, appointment.course, [appointment])
        return appointment

    return _serialized(work)


def _create(slot: Slot) -> Appointment:
    return Appointment.objects.create(
        clinic=slot.patient.clinic,
        patient=slot.patient,
        kind=slot.kind,
        room=slot.room,
        course=slot.course,
        staff=slot.staff,
        start=slot.start,
        end=slot.end,
    )


def _is_nurse(member: Membership | None) -> bool:
    return member is not None and member.role == "nurse"
