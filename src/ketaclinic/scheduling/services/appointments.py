"""Changing an appointment: allowed status changes, moves, cancellations."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.scheduling import hooks
from ketaclinic.scheduling.models import Appointment, AppointmentKind, AppointmentStatus, Room

from .booking import BookingConflict, _as_dicts, _check, _current_course, _is_nurse, make_slot
from .floor import _audit_appointment, _lock_floor, _serialized

# Allowed status changes; a move is only possible while booked. Checked in -> booked
# undoes a mistaken check-in (nothing has started: a session makes it in progress).
TRANSITIONS = {
    "booked": {"checked_in", "no_show", "cancelled"},
    "checked_in": {"booked", "in_progress", "no_show", "cancelled"},
    "in_progress": {"completed"},
    "completed": set(),
    "no_show": set(),
    "cancelled": set(),
}


def has_treatment_session(appointment: Appointment) -> bool:
    """Whether the treatment app has opened a session for this appointment.

    Scheduling sits below treatment and does not import it: treatment answers through
    scheduling/hooks.py (SESSIONS_OPENED), registered when the app starts.
    """
    return appointment.pk in hooks.with_sessions([appointment.pk])


# A treatment is in progress / completed only through its treatment session.
NEEDS_SESSION = {AppointmentStatus.IN_PROGRESS, AppointmentStatus.COMPLETED}


def allowed_statuses(appointment: Appointment) -> set[str]:
    """The statuses this appointment may change to now."""
    allowed = set(TRANSITIONS.get(appointment.status, set()))
    if appointment.kind == AppointmentKind.TREATMENT and allowed & NEEDS_SESSION:
        if not has_treatment_session(appointment):
            allowed -= NEEDS_SESSION
    return allowed - set(_day_refusals(appointment))


def _day_refusals(appointment: Appointment) -> dict[str, str]:
    """Status changes the appointment's day rules out, with the reason.

    A patient arrives on the day of the appointment: checking in (or undoing a
    check-in) another day's appointment is a slip of the finger on the wrong row, and a
    no-show cannot be known before the day.
    """
    day = appointment.start.astimezone(appointment.clinic.tz).date()
    today = appointment.clinic.today()
    refused = {}
    if day != today:
        when = "tomorrow or later" if day > today else "on an earlier day"
        refused["checked_in"] = f"Only today's appointments can be checked in; this one is {when}."
        if appointment.status == AppointmentStatus.CHECKED_IN:
            refused["booked"] = "A check-in can only be undone on the day."
    if day > today:
        refused["no_show"] = "A no-show can only be marked on or after the appointment's day."
    return refused


def update_appointment(
    *,
    actor: Actor,
    appointment: Appointment,
    start: datetime | None = None,
    end: datetime | None = None,
    room: Room | None = None,
    staff: Membership | None = None,
    reassign_staff: bool = False,
    status: str | None = None,
    reason: str = "",
) -> Appointment:
    """Move an appointment (same checks as booking) and/or change its status.

    ``staff`` assigns that member (checked as chosen). Without it the current one is
    kept, except that a treatment's nurse who cannot take the new time is replaced by
    a free nurse. ``reassign_staff`` with no ``staff`` clears the assignment: a
    treatment then gets any free nurse, another kind nobody.

    A treatment becomes in progress or completed only once its treatment session
    exists (the treatment app sets these statuses itself when the session starts and
    ends).
    """
    actor.check("schedule.book")
    moving = (
        start is not None
        or end is not None
        or room is not None
        or staff is not None
        or reassign_staff
    )

    def work() -> Appointment:
        if moving:
            # The clinic lock first (the module docstring's lock order).
            _lock_floor(actor.clinic, sorted({appointment.room_id, (room or appointment.room).pk}))
        locked = Appointment.objects.select_for_update().get(pk=appointment.pk)
        if moving:
            _move(locked)
        if status is not None and status != locked.status:
            if status not in TRANSITIONS.get(locked.status, set()):
                raise ValidationError(
                    {
                        "status": f"A {locked.get_status_display().lower()} appointment cannot become {status}."
                    }
                )
            if reason_refused := _day_refusals(locked).get(status):
                raise ValidationError({"status": reason_refused})
            if status in NEEDS_SESSION and status not in allowed_statuses(locked):
                raise ValidationError(
                    {
                        "status": "A treatment becomes in progress or completed through its "
                        "treatment session: start the session on the treatment screen."
                    }
                )
            if status == AppointmentStatus.CANCELLED and not reason.strip():
                raise ValidationError({"reason": "Say why the appointment is cancelled."})
            locked.status = status
            if status == AppointmentStatus.CANCELLED:
                locked.cancel_reason = reason.strip()
            locked.save(update_fields=["status", "cancel_reason", "updated_at"])
            _audit_appointment(actor, "status", locked, status=status)
            if status in (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW):
                hooks.appointments_dropped(actor, [locked])
        return locked

    def _move(locked: Appointment) -> None:
        if locked.status != AppointmentStatus.BOOKED:
            raise ValidationError(
                {"start": f"A {locked.get_status_display().lower()} appointment cannot move."}
            )
        new_start = start or locked.start
        new_end = end
        if new_end is None:
            new_end = new_start + (locked.end - locked.start) if start is not None else locked.end
        treatment = locked.kind == AppointmentKind.TREATMENT
        current = locked.staff
        keep_nurse = treatment and staff is None and not reassign_staff and _is_nurse(current)
        if staff is not None:
            chosen = staff
        elif reassign_staff or keep_nurse:
            chosen = None  # a treatment gets a free nurse (the current one first)
        else:
            chosen = current
        slot = make_slot(
            patient=locked.patient,
            kind=locked.kind,
            room=room or locked.room,
            start=new_start,
            end=new_end,
            course=locked.course,
            staff=chosen,
        )
        if locked.course is not None:
            _current_course(locked.course)
        conflicts, slot = _check(
            slot, exclude=[locked.pk], prefer_nurse=current.pk if keep_nurse and current else None
        )
        if conflicts:
            raise BookingConflict(_as_dicts(conflicts))
        moved_from = locked.start
        locked.start, locked.end, locked.room, locked.staff = (
            slot.start,
            slot.end,
            slot.room,
            slot.staff,
        )
        locked.reminded_at = None
        locked.save()
        _audit_appointment(
            actor, "move", locked, moved_from=moved_from.isoformat(), staff=locked.staff_id
        )
        hooks.appointment_moved(actor, locked, moved_from)

    return _serialized(work)
