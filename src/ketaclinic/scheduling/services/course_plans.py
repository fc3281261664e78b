"""Planning and booking a whole course of sessions at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.audit.services import record
from ketaclinic.clinical.scheduling import LATE_DAYS, Plan, Preferences, SeriesRule, Span
from ketaclinic.clinical.scheduling_cpsat import plan_series_best
from ketaclinic.scheduling import hooks
from ketaclinic.scheduling.models import (
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    CourseStatus,
    Room,
    TreatmentCourse,
)

from .booking import (
    BookingConflict,
    _as_dicts,
    _check,
    _course_full,
    _course_rule,
    _create,
    _current_course,
    _is_nurse,
    make_slot,
)
from .floor import _audit_appointment, _aware, _lock_floor, _serialized, load_floor

# --- series planning ----------------------------------------------------------------


@dataclass(frozen=True)
class ProposedSession:
    index: int
    start: datetime
    end: datetime
    room: Room
    in_window: bool
    appointment: int | None = None  # an existing appointment that moves here
    moved_from: datetime | None = None
    staff: Membership | None = None  # the nurse who would monitor it


@dataclass(frozen=True)
class Proposal:
    course: TreatmentCourse
    sessions: tuple[ProposedSession, ...]
    kept: int
    unplaced: int
    window_start: date
    window_end: date
    notes: tuple[str, ...]


def plan_course(
    *,
    actor: Actor,
    course: TreatmentCourse,
    prefs: Preferences,
    move: tuple[Appointment, datetime] | None = None,
) -> Proposal:
    """Propose the course's remaining sessions; nothing is saved.

    With ``move`` (an appointment of the course and its new start) that session is
    kept at its new time and the course's later booked sessions are re-planned
    around it; each proposed session then says which appointment moves there.
    """
    actor.check("schedule.view")
    if course.status not in (CourseStatus.PLANNED, CourseStatus.ACTIVE):
        raise ValidationError({"course": f"The course is {course.get_status_display().lower()}."})
    clinic = course.clinic
    existing = list(
        Appointment.objects.holding()
        .filter(course=course, kind=AppointmentKind.TREATMENT)
        .select_related("room")
        .order_by("start")
    )
    rule = _course_rule(course)
    now = timezone.now()
    replan: list[Appointment] = []
    kept_starts = [a.start for a in existing]
    not_before = now
    moved_session: ProposedSession | None = None
    if move is not None:
        moved, new_start = move
        if moved.course_id != course.pk or moved.status != AppointmentStatus.BOOKED:
            raise ValidationError({"appointment": "Choose a booked session of this course."})
        new_start = _aware(new_start, "start")
        replan = [
            a for a in existing if a.start > moved.start and a.status == AppointmentStatus.BOOKED
        ]
        kept = [a for a in existing if a not in replan and a.pk != moved.pk]
        kept_starts = [a.start for a in kept] + [new_start]
        not_before = max(now, new_start + (moved.end - moved.start))
    # The window the planner may use: from the course start to its horizon.
    first_day = max(course.start_date, clinic.today())
    horizon = course.start_date + timedelta(days=rule.span_days + LATE_DAYS)
    window = Span(
        datetime.combine(first_day, time(0), tzinfo=clinic.tz),
        datetime.combine(max(horizon, first_day) + timedelta(days=1), time(0), tzinfo=clinic.tz),
    )
    moving_ids = [a.pk for a in replan] + ([move[0].pk] if move else [])
    floor = load_floor(clinic, window, exclude=moving_ids)
    if move is not None:
        moved, new_start = move
        span = Span(new_start, new_start + (moved.end - moved.start))
        slot = make_slot(
            patient=course.patient,
            kind=moved.kind,
            room=moved.room,
            start=span.start,
            end=span.end,
            course=course,
        )
        # The moved session's own checks, with the re-planned ones out of the way.
        keep = moved.staff_id if _is_nurse(moved.staff) else None
        if keep is None and moved.staff is not None:
            slot = replace(slot, staff=moved.staff)
        conflicts, slot = _check(slot, exclude=moving_ids, prefer_nurse=keep)
        if conflicts:
            raise BookingConflict(_as_dicts(conflicts, session=0))
        floor.hold(
            moved.room_id,
            span,
            treatment=True,
            nurse=slot.staff.pk if slot.staff and slot.staff.pk in floor.rota else None,
        )
        moved_session = ProposedSession(
            index=0,
            start=span.start,
            end=span.end,
            room=moved.room,
            in_window=span.start.astimezone(clinic.tz).date()
            < course.start_date + timedelta(days=rule.span_days),
            appointment=moved.pk,
            moved_from=moved.start,
            staff=slot.staff,
        )
    patient_busy = [
        Span(s, e)
        for s, e in Appointment.objects.holding()
        .filter(patient=course.patient, end__gt=window.start, start__lt=window.end)
        .exclude(pk__in=moving_ids)
        .exclude(course=course, kind=AppointmentKind.TREATMENT)
        .values_list("start", "end")
    ]
    patient_busy += [Span(a.start, a.end) for a in existing if a.pk not in moving_ids]
    if move is not None:
        rule = SeriesRule(
            sessions=len(kept_starts) + len(replan),
            chair_minutes=rule.chair_minutes,
            min_hours=rule.min_hours,
            max_per_week=rule.max_per_week,
            span_days=rule.span_days,
            notes=rule.notes,
        )
    else:
        rule = SeriesRule(
            sessions=course.planned_sessions,
            chair_minutes=rule.chair_minutes,
            min_hours=rule.min_hours,
            max_per_week=rule.max_per_week,
            span_days=rule.span_days,
            notes=rule.notes,
        )
    plan: Plan = plan_series_best(
        floor,
        rule=rule,
        prefs=prefs,
        start_date=course.start_date,
        patient_busy=patient_busy,
        kept_starts=kept_starts,
        not_before=not_before,
    )
    rooms = {r.pk: r for r in Room.objects.for_clinic(clinic)}
    nurses = {
        m.pk: m
        for m in Membership.objects.select_related("user").filter(
            pk__in=[p.nurse for p in plan.sessions if p.nurse is not None]
        )
    }
    sessions = []
    if moved_session is not None:
        sessions.append(moved_session)
    for i, planned in enumerate(plan.sessions):
        previous = replan[i] if i < len(replan) else None
        sessions.append(
            ProposedSession(
                index=planned.index,
                start=planned.start,
                end=planned.end,
                room=rooms[planned.room],
                in_window=planned.in_window,
                appointment=previous.pk if previous else None,
                moved_from=previous.start if previous else None,
                staff=nurses.get(planned.nurse) if planned.nurse is not None else None,
            )
        )
    record(
        actor,
        "plan",
        patient_id=course.patient_id,
        obj=course,
        detail={"proposed": len(sessions), "unplaced": plan.unplaced},
    )
    return Proposal(
        course=course,
        sessions=tuple(sessions),
        kept=len(kept_starts) - (1 if move else 0),
        unplaced=plan.unplaced,
        window_start=plan.window_start,
        window_end=plan.window_end,
        notes=plan.notes,
    )


@dataclass(frozen=True)
class SessionRequest:
    start: datetime
    room: Room
    appointment: Appointment | None = None  # move this appointment; None = a new one
    staff: Membership | None = None  # this member, checked as chosen; None = a free nurse


def book_course(
    *, actor: Actor, course: TreatmentCourse, sessions: Sequence[SessionRequest]
) -> list[Appointment]:
    """Book (or move) all the given sessions in one transaction, or none of them.

    Every session gets the same checks as a single booking; a refusal lists each
    session's conflicts (``session`` = its 1-based position in the request).
    """
    actor.check("schedule.book")
    if not sessions:
        raise ValidationError({"sessions": "Nothing to book."})
    moving = [s.appointment.pk for s in sessions if s.appointment is not None]
    if len(set(moving)) != len(moving):
        raise ValidationError({"sessions": "An appointment appears twice."})
    for request in sessions:
        if request.appointment is not None and request.appointment.course_id != course.pk:
            raise ValidationError({"sessions": "An appointment belongs to another course."})

    def work() -> list[Appointment]:
        _lock_floor(course.clinic, sorted({s.room.pk for s in sessions}))
        _current_course(course)
        new = sum(1 for s in sessions if s.appointment is None)
        full = _course_full(course, adding=new)
        if full:
            raise BookingConflict(_as_dicts(full))
        conflicts: list[dict[str, Any]] = []
        booked: list[Appointment] = []
        pending = set(moving)
        last_nurse: int | None = None
        for number, request in enumerate(sorted(sessions, key=lambda s: s.start), start=1):
            # A moved session keeps its nurse when she is free; a new one continues
            # with the previous session's nurse when possible.
            previous = request.appointment.staff if request.appointment else None
            prefer = previous.pk if _is_nurse(previous) and previous else last_nurse
            chosen = request.staff
            if chosen is None and previous is not None and not _is_nurse(previous):
                chosen = previous
            try:
                slot = make_slot(
                    patient=course.patient,
                    kind=AppointmentKind.TREATMENT,
                    room=request.room,
                    start=request.start,
                    course=course,
                    staff=chosen,
                )
            except ValidationError as exc:
                conflicts.append(
                    {"code": "invalid", "message": " ".join(exc.messages), "session": number}
                )
                continue
            if request.appointment is not None:
                pending.discard(request.appointment.pk)
                exclude = [*pending, request.appointment.pk]
            else:
                exclude = list(pending)
            found, slot = _check(slot, exclude=exclude, prefer_nurse=prefer)
            if found:
                conflicts.extend(_as_dicts(found, session=number))
                continue
            if _is_nurse(slot.staff) and slot.staff is not None:
                last_nurse = slot.staff.pk
            if request.appointment is not None:
                appointment = Appointment.objects.select_for_update().get(pk=request.appointment.pk)
                if appointment.status != AppointmentStatus.BOOKED:
                    conflicts.append(
                        {
                            "code": "invalid",
                            "message": "That session can no longer move.",
                            "session": number,
                        }
                    )
                    continue
                moved_from = appointment.start
                appointment.start, appointment.end, appointment.room, appointment.staff = (
                    slot.start,
                    slot.end,
                    slot.room,
                    slot.staff,
                )
                appointment.reminded_at = None
                appointment.save()
                _audit_appointment(
                    actor,
                    "move",
                    appointment,
                    moved_from=moved_from.isoformat(),
                    series=True,
                    staff=appointment.staff_id,
                )
            else:
                appointment = _create(slot)
                _audit_appointment(
                    actor, "book", appointment, series=True, staff=appointment.staff_id
                )
            booked.append(appointment)
        if conflicts:
            raise BookingConflict(conflicts)
        hooks.course_booked(actor, course, booked)
        return booked

    return _serialized(work)
