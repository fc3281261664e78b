"""Courses, dose orders, rooms, appointments and series: each write owns its transaction.

Booking safety. Every booking (single, move, or a whole series) and every course
end runs inside one transaction that first locks the clinic's
ClinicSchedulingSettings row and the room rows (SELECT ... FOR UPDATE on PostgreSQL;
on SQLite the IMMEDIATE transaction already holds the database write lock). The
conflict checks then read the floor and write the appointment under that lock, so
two people booking the last free chair at once are serialized: the second sees the
first's appointment and is refused. Locking the clinic row (not only the room) also
serializes the nurse-capacity and the patient-overlap checks, which span rooms.

Lock order, always: the clinic row, then rooms, then the course, then appointments.
A status change alone (check-in, start, cancel) takes only its appointment's lock:
it checks nothing on the floor, and the treatment app calls it while it already holds
that appointment's lock.

Nurses. A treatment booked without a chosen staff member is given a nurse who works
the whole session, has no other appointment then and is under the clinic's nurse
capacity; a move keeps the nurse when she is still free and otherwise picks another.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import time as time_module
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic, Membership
from ketaclinic.accounts.services import check_text
from ketaclinic.audit.services import record, record_system
from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.clinical.dosing import DoseError, calculate_dose
from ketaclinic.clinical.protocols import Protocol, load_protocol_text, load_protocols
from ketaclinic.clinical.scheduling import (
    LATE_DAYS,
    Conflict,
    Floor,
    Plan,
    Preferences,
    SeriesRule,
    Span,
    series_rule,
    slot_conflicts,
    spans_for_days,
)
from ketaclinic.clinical.scheduling_cpsat import plan_series_best
from ketaclinic.datadirs import clinic_data_dirs
from ketaclinic.measures import services as measures_services
from ketaclinic.patients.changes import patient_changed
from ketaclinic.patients.models import Condition, Patient
from ketaclinic.scheduling import hooks, reviews
from ketaclinic.scheduling.models import (
    THERAPY_KINDS,
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    CalendarFeed,
    ClinicClosure,
    ClinicSchedulingSettings,
    CourseStatus,
    DoseOrder,
    OpeningHours,
    ProtocolSnapshot,
    Room,
    RoomKind,
    StaffException,
    StaffHours,
    TreatmentCourse,
)
from ketaclinic.screening import gates

T = TypeVar("T")

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


class BookingConflict(Exception):
    """The booking was refused; ``conflicts`` says why (nothing was written)."""

    def __init__(self, conflicts: list[dict[str, Any]]) -> None:
        super().__init__("The booking was refused.")
        self.conflicts = conflicts


class CourseBlocked(Exception):
    """The course cannot be activated: ``missing`` lists what is missing."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__("The course cannot be activated yet.")
        self.missing = missing


# --- protocols and doses ----------------------------------------------------------


def clinic_today(clinic: Clinic) -> date:
    """Today's date where the clinic is.

    Not ``timezone.localdate()``: outside a session request (API tokens, the worker,
    the demo) the active zone is UTC, which is already tomorrow on a US clinic's evening.
    """
    return timezone.localdate(timezone=clinic.tz)


def protocols() -> dict[str, Protocol]:
    return load_protocols(clinic_data_dirs("protocols"))


def get_protocol(code: str, field: str = "protocol") -> Protocol:
    """The loaded protocol with this code, or a ValidationError naming ``field``."""
    found = protocols().get(code)
    if found is None:
        raise ValidationError({field: f"Unknown protocol {code!r}."})
    return found


def course_protocol(course: TreatmentCourse) -> Protocol:
    """The protocol the course runs under: the file it was started with, not today's file."""
    if course.protocol_hash:
        return frozen_protocol(course.protocol_hash)
    return get_protocol(course.protocol_code)


@functools.lru_cache(maxsize=64)
def frozen_protocol(sha256: str) -> Protocol:
    """The protocol stored under this hash (snapshots never change, so caching is safe)."""
    snapshot = ProtocolSnapshot.objects.get(sha256=sha256)
    return load_protocol_text(snapshot.text, origin=f"snapshot {snapshot}")


def freeze_protocol(protocol: Protocol) -> str:
    """Store the protocol's file text once (keyed by its hash) and return the hash."""
    if not protocol.file_hash:
        raise ValueError(f"protocol {protocol.code} was not loaded from a file")
    ProtocolSnapshot.objects.get_or_create(
        sha256=protocol.file_hash,
        defaults={"code": protocol.code, "version": protocol.version, "text": protocol.file_text},
    )
    return protocol.file_hash


def check_indication(protocol: Protocol, patient: Patient) -> None:
    """Refuse a protocol limited to an indication the patient's active diagnoses do not show."""
    if not protocol.requires_diagnoses:
        return
    active = set(
        Condition.objects.filter(
            clinic_id=patient.clinic_id, patient=patient, is_active=True
        ).values_list("code", flat=True)
    )
    missing = [code for code in protocol.requires_diagnoses if code not in active]
    if missing:
        names = ", ".join(
            CONDITIONS[code].display if code in CONDITIONS else code for code in missing
        )
        raise ValidationError(
            {
                "protocol": f"{protocol.title} needs these diagnoses on the patient's record: "
                f"{names}."
            }
        )


def dose_error(exc: DoseError) -> ValidationError:
    return ValidationError({exc.field: exc.message})


def _check_prescription(
    protocol: Protocol,
    *,
    patient: Patient,
    dose_mg_per_kg: Decimal | None,
    dose_mg: Decimal | None,
    weight_basis: str | None,
    first: bool,
) -> None:
    """Refuse a prescription the dose calculator would refuse for this patient."""
    if (dose_mg_per_kg is None) == (dose_mg is None):
        if protocol.dose.kind == "fixed_mg" and dose_mg_per_kg is None:
            return  # no dose: the protocol's starting dose
        raise ValidationError({"dose_mg_per_kg": "Give dose_mg_per_kg or dose_mg (one of them)."})
    rule = protocol.dose
    try:
        if rule.kind == "mg_per_kg" and patient.weight_kg is None:
            if dose_mg is not None:
                raise ValidationError(
                    {"dose_mg": "A dose in mg needs the patient's weight on record."}
                )
            assert dose_mg_per_kg is not None
            if not rule.min_mg_per_kg.value <= dose_mg_per_kg <= rule.hard_max_mg_per_kg.value:
                raise ValidationError(
                    {
                        "dose_mg_per_kg": f"{dose_mg_per_kg} mg/kg is outside the protocol's "
                        f"{rule.min_mg_per_kg.value}–{rule.hard_max_mg_per_kg.value} mg/kg."
                    }
                )
            return
        calculate_dose(
            protocol,
            weight_kg=patient.weight_kg,
            height_cm=patient.height_cm,
            sex_at_birth=patient.sex_at_birth,
            dose_mg_per_kg=dose_mg_per_kg,
            dose_mg=dose_mg,
            weight_basis=weight_basis,
            weight_measured_on=patient.weight_measured_on,
            today=clinic_today(patient.clinic),
            first_session=first and rule.kind == "fixed_mg",
        )
    except DoseError as exc:
        raise dose_error(exc) from None


def current_order(course: TreatmentCourse) -> DoseOrder | None:
    return course.orders.order_by("-signed_at", "-pk").first()


@transaction.atomic
def create_course(
    *,
    actor: Actor,
    patient: Patient,
    protocol_code: str,
    start_date: date,
    dose_mg_per_kg: Decimal | None = None,
    dose_mg: Decimal | None = None,
    weight_basis: str | None = None,
) -> TreatmentCourse:
    """Prescribe a course (status planned) with its first signed dose order."""
    actor.check("medical.sign")
    protocol = get_protocol(protocol_code)
    check_indication(protocol, patient)
    if start_date < clinic_today(actor.clinic):
        raise ValidationError({"start_date": "The start date is in the past."})
    if protocol.dose.kind == "fixed_mg":
        if weight_basis:
            raise ValidationError({"weight_basis": "A fixed-dose protocol has no weight basis."})
        if dose_mg is None and dose_mg_per_kg is None:
            dose_mg = protocol.dose.starting_dose_mg.value
    elif weight_basis is None:
        weight_basis = protocol.dose.default_weight_basis
    _check_prescription(
        protocol,
        patient=patient,
        dose_mg_per_kg=dose_mg_per_kg,
        dose_mg=dose_mg,
        weight_basis=weight_basis,
        first=True,
    )
    rule = series_rule(protocol)
    now = timezone.now()
    course = TreatmentCourse.objects.create(
        clinic=actor.clinic,
        patient=patient,
        protocol_code=protocol.code,
        protocol_version=protocol.version,
        protocol_hash=freeze_protocol(protocol),
        family=protocol.family,
        planned_sessions=rule.sessions,
        start_date=start_date,
        prescriber=actor.user,
        signed_at=now,
    )
    order = DoseOrder.objects.create(
        clinic=actor.clinic,
        course=course,
        dose_mg_per_kg=dose_mg_per_kg,
        dose_mg=dose_mg,
        weight_basis=weight_basis or "",
        reason="Initial prescription.",
        signed_by=actor.user,
        signed_at=now,
    )
    record(
        actor,
        "create",
        patient_id=patient.pk,
        obj=course,
        detail={
            "protocol": protocol.code,
            "version": protocol.version,
            "hash": protocol.file_hash,
            "order": order.pk,
        },
    )
    patient_changed(patient.pk)
    return course


@transaction.atomic
def change_dose(
    *,
    actor: Actor,
    course: TreatmentCourse,
    reason: str,
    dose_mg_per_kg: Decimal | None = None,
    dose_mg: Decimal | None = None,
    weight_basis: str | None = None,
) -> DoseOrder:
    """Sign a new dose order for the course; earlier orders stay as history."""
    actor.check("medical.sign")
    if not reason.strip():
        raise ValidationError({"reason": "Say why the dose changes."})
    if course.status in (CourseStatus.COMPLETED, CourseStatus.STOPPED):
        raise ValidationError({"course": "The course has ended."})
    protocol = course_protocol(course)
    if dose_mg_per_kg is None and dose_mg is None:
        # Only a course's first order may default to the protocol's starting dose.
        field = "dose_mg_per_kg" if protocol.dose.kind == "mg_per_kg" else "dose_mg"
        raise ValidationError({field: "Give the new dose."})
    if protocol.dose.kind == "mg_per_kg" and weight_basis is None:
        weight_basis = protocol.dose.default_weight_basis
    _check_prescription(
        protocol,
        patient=course.patient,
        dose_mg_per_kg=dose_mg_per_kg,
        dose_mg=dose_mg,
        weight_basis=weight_basis,
        first=False,
    )
    order = DoseOrder.objects.create(
        clinic=course.clinic,
        course=course,
        dose_mg_per_kg=dose_mg_per_kg,
        dose_mg=dose_mg,
        weight_basis=weight_basis or "",
        reason=reason.strip(),
        signed_by=actor.user,
    )
    record(
        actor, "dose_change", patient_id=course.patient_id, obj=order, detail={"course": course.pk}
    )
    return order


@transaction.atomic
def activate_course(*, actor: Actor, course: TreatmentCourse) -> TreatmentCourse:
    """Activate a planned or paused course, or raise CourseBlocked with what is missing."""
    actor.check("medical.sign")
    locked = TreatmentCourse.objects.select_for_update().get(pk=course.pk)
    if locked.status not in (CourseStatus.PLANNED, CourseStatus.PAUSED):
        raise ValidationError(
            {"status": f"A {locked.get_status_display().lower()} course cannot be activated."}
        )
    on = max(locked.start_date, clinic_today(actor.clinic))
    missing = gates.missing_for_course(patient=course.patient, family=locked.family, on=on)
    if missing:
        record(
            actor,
            "activate_refused",
            patient_id=course.patient_id,
            obj=locked,
            detail={"missing": len(missing)},
        )
        raise CourseBlocked(missing)
    locked.status = CourseStatus.ACTIVE
    locked.activated_at = timezone.now()
    locked.save(update_fields=["status", "activated_at"])
    record(actor, "activate", patient_id=course.patient_id, obj=locked)
    patient_changed(course.patient_id)
    return locked


@transaction.atomic
def end_course(
    *, actor: Actor, course: TreatmentCourse, status: str, reason: str = ""
) -> TreatmentCourse:
    """Pause, complete or stop a course (a stop needs a reason).

    Completing or stopping cancels the course's future booked sessions in the same
    transaction (the reason is the stop reason), so their chairs and nurses are free
    and no reminder goes out. A pause keeps them booked (the course may resume);
    reminders skip them while it is paused.
    """
    actor.check("medical.sign")
    if status not in (CourseStatus.PAUSED, CourseStatus.COMPLETED, CourseStatus.STOPPED):
        raise ValidationError({"status": "Choose paused, completed or stopped."})
    if status == CourseStatus.STOPPED and not reason.strip():
        raise ValidationError({"reason": "Say why the course stops."})
    _lock_floor(course.clinic)
    # NO KEY UPDATE: a session or booking being written for this course (a foreign key
    # to it) is not blocked by the status change, so it cannot deadlock against us.
    locked = TreatmentCourse.objects.select_for_update(no_key=True).get(pk=course.pk)
    if locked.status in (CourseStatus.COMPLETED, CourseStatus.STOPPED):
        raise ValidationError({"status": "The course has already ended."})
    locked.status = status
    locked.stop_reason = reason.strip()
    locked.save(update_fields=["status", "stop_reason"])
    cancelled: list[int] = []
    if status != CourseStatus.PAUSED:
        why = locked.stop_reason or "The course was completed."
        future = Appointment.objects.select_for_update().filter(
            course=locked, status=AppointmentStatus.BOOKED, start__gte=timezone.now()
        )
        for appointment in future:
            appointment.status = AppointmentStatus.CANCELLED
            appointment.cancel_reason = why[:300]
            appointment.save(update_fields=["status", "cancel_reason", "updated_at"])
            _audit_appointment(
                actor, "status", appointment, status=AppointmentStatus.CANCELLED, course=status
            )
            cancelled.append(appointment.pk)
    record(actor, status, patient_id=course.patient_id, obj=locked, detail={"cancelled": cancelled})
    patient_changed(course.patient_id)
    return locked


# --- the floor -----------------------------------------------------------------------


def settings_for(clinic: Clinic) -> ClinicSchedulingSettings:
    found, _ = ClinicSchedulingSettings.objects.get_or_create(clinic=clinic)
    return found


@transaction.atomic
def create_room(*, actor: Actor, name: str, kind: str) -> Room:
    actor.check("floor.manage")
    check_text(name=name)
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the room a name."})
    if kind not in RoomKind.values:
        raise ValidationError({"kind": "Choose treatment_chair or consult_room."})
    if Room.objects.for_clinic(actor.clinic).filter(name=name).exists():
        raise ValidationError({"name": "A room with this name exists."})
    position = Room.objects.for_clinic(actor.clinic).filter(kind=kind).count() + 1
    room = Room.objects.create(clinic=actor.clinic, name=name, kind=kind, position=position)
    record(actor, "create", obj=room)
    return room


@transaction.atomic
def update_room(
    *,
    actor: Actor,
    room: Room,
    name: str | None = None,
    kind: str | None = None,
    active: bool | None = None,
    position: int | None = None,
) -> Room:
    """Rename, re-kind, re-order or (de)activate a room; a room is never deleted.

    A room's kind cannot change while it holds future appointments (a treatment would
    sit in a consult room); deactivating keeps past appointments and refuses new ones.
    """
    actor.check("floor.manage")
    check_text(name=name)
    locked = Room.objects.select_for_update().get(pk=room.pk, clinic=actor.clinic)
    changed: list[str] = []
    if name is not None:
        name = name.strip()
        if not name:
            raise ValidationError({"name": "Give the room a name."})
        if len(name) > 60:
            raise ValidationError({"name": "At most 60 characters."})
        if (
            name != locked.name
            and Room.objects.for_clinic(actor.clinic).filter(name=name).exclude(pk=room.pk).exists()
        ):
            raise ValidationError({"name": "A room with this name exists."})
        locked.name = name
        changed.append("name")
    if kind is not None and kind != locked.kind:
        if kind not in RoomKind.values:
            raise ValidationError({"kind": "Choose treatment_chair or consult_room."})
        future = locked.appointments.holding().filter(end__gt=timezone.now()).exists()
        if future:
            raise ValidationError(
                {"kind": "This room has booked appointments: move them before changing its kind."}
            )
        locked.kind = kind
        changed.append("kind")
    if active is not None and active != locked.active:
        locked.active = active
        changed.append("active")
    if position is not None:
        if not 0 <= position <= 999:
            raise ValidationError({"position": "Between 0 and 999."})
        locked.position = position
        changed.append("position")
    if changed:
        locked.save(update_fields=changed)
        record(actor, "update", obj=locked, detail={"fields": changed})
    return locked


# --- closures ---------------------------------------------------------------------------


def closed_days(clinic: Clinic, days: Sequence[date]) -> dict[date, str]:
    """Each of ``days`` on which the clinic is closed, with the closure's reason."""
    if not days:
        return {}
    first, last = min(days), max(days)
    found: dict[date, str] = {}
    for starts, ends, reason in ClinicClosure.objects.filter(
        clinic=clinic, starts_on__lte=last, ends_on__gte=first
    ).values_list("starts_on", "ends_on", "reason"):
        day = max(starts, first)
        while day <= min(ends, last):
            found.setdefault(day, reason)
            day += timedelta(days=1)
    return found


# A closure longer than this is almost certainly a typo in the year (policy).
MAX_CLOSURE_DAYS = 62


@transaction.atomic
def add_closure(
    *, actor: Actor, starts_on: date, ends_on: date | None, reason: str
) -> ClinicClosure:
    """Close the clinic on a day or a range of days; booked appointments then are listed.

    Existing bookings on those days are not cancelled here (each needs a call to the
    patient); ``booked_on_closure`` lists them so the desk can move them.
    """
    actor.check("floor.manage")
    ends_on = ends_on or starts_on
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the clinic is closed (e.g. Christmas Day)."})
    check_text(reason=reason)
    if len(reason) > 100:
        raise ValidationError({"reason": "At most 100 characters."})
    if ends_on < starts_on:
        raise ValidationError({"ends_on": "The last day must be on or after the first day."})
    if (ends_on - starts_on).days + 1 > MAX_CLOSURE_DAYS:
        raise ValidationError({"ends_on": f"A closure lasts at most {MAX_CLOSURE_DAYS} days."})
    today = clinic_today(actor.clinic)
    if starts_on < today:
        raise ValidationError({"starts_on": "A closure starts today or later."})
    if starts_on.year > today.year + 5:
        raise ValidationError({"starts_on": "At most five years ahead."})
    overlapping = ClinicClosure.objects.for_clinic(actor.clinic).filter(
        starts_on__lte=ends_on, ends_on__gte=starts_on
    )
    if overlapping.exists():
        raise ValidationError({"starts_on": "The clinic is already closed on some of these days."})
    closure = ClinicClosure.objects.create(
        clinic=actor.clinic, starts_on=starts_on, ends_on=ends_on, reason=reason
    )
    record(actor, "create", obj=closure, detail={"days": (ends_on - starts_on).days + 1})
    return closure


@transaction.atomic
def remove_closure(*, actor: Actor, closure: ClinicClosure) -> None:
    actor.check("floor.manage")
    record(
        actor,
        "delete",
        obj=closure,
        detail={"starts_on": closure.starts_on.isoformat(), "ends_on": closure.ends_on.isoformat()},
    )
    closure.delete()


def booked_on_closure(closure: ClinicClosure) -> int:
    """How many held appointments fall on the closure's days (to move or cancel by hand)."""
    start, _ = day_window(closure.clinic, closure.starts_on)
    _, end = day_window(closure.clinic, closure.ends_on)
    return Appointment.objects.for_clinic(closure.clinic).holding().overlapping(start, end).count()


def _check_pattern(hours: Sequence[tuple[int, time, time]], field: str) -> None:
    """Refuse a weekly pattern with a bad weekday, a backwards interval or an overlap."""
    by_day: dict[int, list[tuple[time, time]]] = defaultdict(list)
    for weekday, starts, ends in hours:
        if not 0 <= weekday <= 6:
            raise ValidationError({field: "A weekday is 0 (Monday) to 6 (Sunday)."})
        if starts >= ends:
            raise ValidationError({field: "Each interval must end after it starts."})
        by_day[weekday].append((starts, ends))
    for intervals in by_day.values():
        intervals.sort()
        for (_, first_end), (second_start, _) in zip(intervals, intervals[1:], strict=False):
            if second_start < first_end:
                raise ValidationError({field: "Two intervals on one day overlap."})


@transaction.atomic
def set_opening_hours(*, actor: Actor, hours: Sequence[tuple[int, time, time]]) -> None:
    """Replace the clinic's weekly opening hours (existing bookings are not re-checked)."""
    actor.check("floor.manage")
    _check_pattern(hours, "hours")
    OpeningHours.objects.filter(clinic=actor.clinic).delete()
    OpeningHours.objects.bulk_create(
        OpeningHours(clinic=actor.clinic, weekday=d, opens=a, closes=b) for d, a, b in hours
    )
    record(actor, "update", object_type="scheduling.openinghours", detail={"intervals": len(hours)})


@transaction.atomic
def set_staff_hours(
    *, actor: Actor, membership: Membership, hours: Sequence[tuple[int, time, time]]
) -> None:
    """Replace a staff member's weekly working pattern."""
    actor.check("floor.manage")
    _check_pattern(hours, "hours")
    StaffHours.objects.filter(membership=membership).delete()
    StaffHours.objects.bulk_create(
        StaffHours(clinic=actor.clinic, membership=membership, weekday=d, starts=a, ends=b)
        for d, a, b in hours
    )
    record(actor, "update", obj=membership, detail={"staff_hours": len(hours)})


@transaction.atomic
def add_staff_exception(
    *,
    actor: Actor,
    membership: Membership,
    day: date,
    starts: time | None = None,
    ends: time | None = None,
    note: str = "",
) -> StaffException:
    """Record a dated change: away all day (no times) or working exactly these hours."""
    actor.check("floor.manage")
    check_text(note=note)
    if (starts is None) != (ends is None):
        raise ValidationError({"ends": "Give both times, or neither for a day away."})
    if starts is not None and ends is not None and starts >= ends:
        raise ValidationError({"ends": "The end must be after the start."})
    StaffException.objects.filter(membership=membership, day=day).delete()
    found = StaffException.objects.create(
        clinic=actor.clinic, membership=membership, day=day, starts=starts, ends=ends, note=note
    )
    record(actor, "create", obj=found, detail={"membership": membership.pk})
    return found


@transaction.atomic
def update_settings(
    *, actor: Actor, nurse_capacity: int | None = None, reminder_hours_before: int | None = None
) -> ClinicSchedulingSettings:
    """Change the clinic's nurse capacity (patients per nurse at once) or reminder lead time."""
    actor.check("floor.manage")
    found = settings_for(actor.clinic)
    changed = []
    if nurse_capacity is not None:
        # More than four patients per nurse is outside any monitoring model we know of (policy).
        if not 1 <= nurse_capacity <= 4:
            raise ValidationError({"nurse_capacity": "A nurse monitors 1 to 4 patients at once."})
        found.nurse_capacity = nurse_capacity
        changed.append("nurse_capacity")
    if reminder_hours_before is not None:
        if not 1 <= reminder_hours_before <= 168:
            raise ValidationError({"reminder_hours_before": "Between 1 and 168 hours."})
        found.reminder_hours_before = reminder_hours_before
        changed.append("reminder_hours_before")
    if changed:
        found.save(update_fields=changed)
        record(actor, "update", obj=found, detail={"fields": changed})
    return found


def _weekly(rows: Sequence[Any], start: str, end: str) -> dict[int, list[tuple[time, time]]]:
    pattern: dict[int, list[tuple[time, time]]] = defaultdict(list)
    for row in rows:
        pattern[row.weekday].append((getattr(row, start), getattr(row, end)))
    return dict(pattern)


def opening_pattern(clinic: Clinic) -> dict[int, list[tuple[time, time]]]:
    return _weekly(list(OpeningHours.objects.filter(clinic=clinic)), "opens", "closes")


def day_window(clinic: Clinic, day: date) -> tuple[datetime, datetime]:
    """The aware start and end of a local day in the clinic's zone (23-25 h around DST)."""
    start = datetime.combine(day, time(0), tzinfo=clinic.tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=clinic.tz)
    return start, end


def _local_days(clinic: Clinic, window: Span) -> list[date]:
    first = window.start.astimezone(clinic.tz).date()
    last = window.end.astimezone(clinic.tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def staff_spans(clinic: Clinic, window: Span, memberships: Q) -> dict[int, list[Span]]:
    """Working spans per membership id in the window (weekly pattern + dated exceptions)."""
    days = _local_days(clinic, window)
    weekly: dict[int, dict[int, list[tuple[time, time]]]] = defaultdict(lambda: defaultdict(list))
    for row in StaffHours.objects.filter(clinic=clinic).filter(memberships):
        weekly[row.membership_id][row.weekday].append((row.starts, row.ends))
    exceptions: dict[int, dict[date, list[tuple[time, time]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for row in StaffException.objects.filter(clinic=clinic, day__in=days).filter(memberships):
        hours = exceptions[row.membership_id][row.day]
        if row.starts is not None and row.ends is not None:
            hours.append((row.starts, row.ends))
    result = {}
    for membership_id in set(weekly) | set(exceptions):
        result[membership_id] = spans_for_days(
            days, clinic.tz, weekly.get(membership_id, {}), exceptions.get(membership_id, {})
        )
    return result


def load_floor(clinic: Clinic, window: Span, *, exclude: Sequence[int] = ()) -> Floor:
    """The floor around ``window``: opening hours, chairs, held time, nurses on shift.

    Nurses are named (their shifts, the treatments assigned to each and their other
    appointments), so a treatment can be given a nurse who is free for all of it.
    """
    settings = settings_for(clinic)
    held = list(
        Appointment.objects.for_clinic(clinic)
        .holding()
        .overlapping(window.start, window.end)
        .exclude(pk__in=exclude)
        .values_list("room_id", "start", "end", "kind", "staff_id")
    )
    busy: dict[int, list[Span]] = defaultdict(list)
    treatments = []
    by_staff: dict[int, list[Span]] = defaultdict(list)
    other_by_staff: dict[int, list[Span]] = defaultdict(list)
    for room_id, start, end, kind, staff_id in held:
        busy[room_id].append(Span(start, end))
        if kind == AppointmentKind.TREATMENT:
            treatments.append(Span(start, end))
            if staff_id is not None:
                by_staff[staff_id].append(Span(start, end))
        elif staff_id is not None:
            other_by_staff[staff_id].append(Span(start, end))
    chairs = list(
        Room.objects.for_clinic(clinic)
        .filter(kind=RoomKind.TREATMENT_CHAIR, active=True)
        .order_by("position", "name")
        .values_list("pk", flat=True)
    )
    nurses = Q(membership__role="nurse", membership__is_active=True)
    rota = staff_spans(clinic, window, nurses)
    return Floor.build(
        tz=clinic.tz,
        opening=opening_pattern(clinic),
        closed_days=closed_days(clinic, _local_days(clinic, window)),
        chairs=chairs,
        busy=busy,
        treatments=treatments,
        nurse_capacity=settings.nurse_capacity,
        rota=rota,
        nurse_load={n: by_staff.get(n, []) for n in rota},
        nurse_busy={n: other_by_staff.get(n, []) for n in rota},
    )


# --- appointments ------------------------------------------------------------------


def _serialized(work: Callable[[], T]) -> T:
    """Run ``work`` in its own transaction, retrying while SQLite reports a lock.

    A file database waits for its write lock (IMMEDIATE + busy timeout); a shared-cache
    database (the in-memory test database) answers "table is locked" at once instead, so
    the writer retries here for up to about five seconds. Inside a caller's transaction
    there is nothing to retry: the error goes up.
    """
    for attempt in range(50):
        try:
            with transaction.atomic():
                return work()
        except OperationalError as exc:
            locked = "locked" in str(exc)
            if not locked or connection.in_atomic_block or attempt == 49:
                raise
            time_module.sleep(0.1)
    raise AssertionError("unreachable")


def _lock_floor(clinic: Clinic, room_ids: Sequence[int] = ()) -> None:
    """Serialize bookings in this clinic (see the module docstring)."""
    settings_for(clinic)
    ClinicSchedulingSettings.objects.select_for_update().filter(clinic=clinic).first()
    if room_ids:
        list(Room.objects.select_for_update().filter(pk__in=room_ids).order_by("pk"))


def _aware(value: datetime, field: str) -> datetime:
    if timezone.is_naive(value):
        raise ValidationError({field: "Give a time with its UTC offset."})
    return value


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


def _audit_appointment(actor: Actor, action: str, appointment: Appointment, **detail: Any) -> None:
    record(
        actor,
        action,
        patient_id=appointment.patient_id,
        obj=appointment,
        detail={"kind": appointment.kind, "room": appointment.room_id, **detail},
    )


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


def has_treatment_session(appointment: Appointment) -> bool:
    """Whether the treatment app has opened a session for this appointment.

    Looked up by name: scheduling sits below treatment and must not import it.
    """
    session_model = apps.get_model("treatment", "TreatmentSession")
    return bool(session_model.objects.filter(appointment_id=appointment.pk).exists())


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
    today = clinic_today(appointment.clinic)
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


def _is_nurse(member: Membership | None) -> bool:
    return member is not None and member.role == "nurse"


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
    first_day = max(course.start_date, clinic_today(clinic))
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


# --- reminders and calendar feeds ----------------------------------------------------


def reminder_text(appointment: Appointment, protocol: Protocol | None) -> str:
    """The reminder e-mail body: when, where, and the protocol's instructions."""
    tz = appointment.clinic.tz
    when = appointment.start.astimezone(tz)
    lines = [
        f"Hello {appointment.patient.preferred_name or appointment.patient.given_name},",
        "",
        f"This is a reminder of your {appointment.get_kind_display().lower()} at "
        f"{appointment.clinic.name} on {when:%A %d %B %Y at %H:%M}.",
    ]
    if protocol is not None:
        lines += ["", "Before your treatment:"]
        lines += [f"- {item.text}" for item in protocol.patient_instructions]
    lines += [
        "",
        f"To change the time, call us{' on ' + appointment.clinic.phone if appointment.clinic.phone else ''}.",
    ]
    return "\n".join(lines)


def send_due_reminders(now: datetime) -> int:
    """E-mail every patient whose booked session is due a reminder; returns e-mails sent.

    A reminder is due ``reminder_hours_before`` (clinic setting, default 48) before the
    start. Each appointment is claimed with a conditional UPDATE first, so two workers
    never send the same reminder; a move clears ``reminded_at`` so the new time is sent.
    """
    sent = 0
    horizon = now + timedelta(hours=168)
    due = (
        Appointment.objects.filter(
            status=AppointmentStatus.BOOKED,
            reminded_at__isnull=True,
            start__gt=now,
            start__lte=horizon,
        )
        # No reminder for a session of a paused or ended course.
        .filter(
            Q(course__isnull=True)
            | Q(course__status__in=[CourseStatus.PLANNED, CourseStatus.ACTIVE])
        )
        .exclude(patient__email="")
        .select_related("patient", "clinic", "course", "clinic__scheduling_settings")
    )
    for appointment in due:
        settings = getattr(appointment.clinic, "scheduling_settings", None)
        hours = settings.reminder_hours_before if settings else 48
        if appointment.start > now + timedelta(hours=hours):
            continue
        claimed = Appointment.objects.filter(pk=appointment.pk, reminded_at__isnull=True).update(
            reminded_at=now
        )
        if not claimed:
            continue
        protocol = course_protocol(appointment.course) if appointment.course else None
        try:
            send_mail(
                subject=f"Your appointment at {appointment.clinic.name}",
                message=reminder_text(appointment, protocol),
                from_email=None,
                recipient_list=[appointment.patient.email],
            )
        except Exception:  # noqa: BLE001 - the mail server failed: release the claim, retry next run
            Appointment.objects.filter(pk=appointment.pk).update(reminded_at=None)
            continue
        record_system(
            "reminder_sent", clinic=appointment.clinic, detail={"appointment": appointment.pk}
        )
        sent += 1
    return sent


# Questionnaires "before every appointment" go out this long before it starts (issue 3).
QUESTIONNAIRE_HOURS_BEFORE = 24


def send_pre_appointment_questionnaires(now: datetime) -> int:
    """Send each patient's before-appointment questionnaires for sessions starting within 24 h."""
    sent = 0
    due = Appointment.objects.filter(
        status=AppointmentStatus.BOOKED,
        questionnaires_sent_at__isnull=True,
        start__gt=now,
        start__lte=now + timedelta(hours=QUESTIONNAIRE_HOURS_BEFORE),
    ).select_related("patient")
    for appointment in due:
        # Claim first (compare-and-set) so two workers never send twice.
        claimed = Appointment.objects.filter(
            pk=appointment.pk, questionnaires_sent_at__isnull=True
        ).update(questionnaires_sent_at=now)
        if claimed:
            sent += measures_services.send_before_appointment(patient=appointment.patient, now=now)
    return sent


def _feed_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def issue_calendar_feed(*, actor: Actor) -> str:
    """Create (or replace) the actor's calendar feed; returns the raw token, shown once."""
    actor.check("schedule.view")
    raw = secrets.token_urlsafe(32)
    CalendarFeed.objects.update_or_create(
        membership=actor.membership, defaults={"digest": _feed_digest(raw)}
    )
    record(actor, "calendar_feed_issued", obj=actor.membership)
    return raw


def feed_membership(raw: str) -> Membership | None:
    feed = (
        CalendarFeed.objects.select_related("membership__clinic", "membership__user")
        .filter(
            digest=_feed_digest(raw), membership__is_active=True, membership__user__is_active=True
        )
        .first()
    )
    return feed.membership if feed else None


def _ics_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


@transaction.atomic
def calendar_ics(membership: Membership, now: datetime, *, ip: str | None = None) -> str:
    """An iCalendar feed of the member's appointments (no patient names leave the system).

    Each fetch is audited (the appointment ids it showed; no patient data).
    """
    appointments = list(
        Appointment.objects.for_clinic(membership.clinic)
        .holding()
        .filter(
            staff=membership, end__gt=now - timedelta(days=7), start__lt=now + timedelta(days=90)
        )
        .select_related("room")
        .order_by("start")
    )
    record_system(
        "calendar_feed_read",
        user=membership.user,
        clinic=membership.clinic,
        ip=ip,
        detail={"membership": membership.pk, "appointments": [a.pk for a in appointments]},
    )
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//ketaclinic//scheduling//EN",
        "CALSCALE:GREGORIAN",
        f"X-WR-CALNAME:{_ics_escape(membership.clinic.name)}",
    ]
    for a in appointments:
        lines += [
            "BEGIN:VEVENT",
            f"UID:appointment-{a.pk}@ketaclinic",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{a.start.astimezone(UTC):%Y%m%dT%H%M%SZ}",
            f"DTEND:{a.end.astimezone(UTC):%Y%m%dT%H%M%SZ}",
            f"SUMMARY:{_ics_escape(a.get_kind_display() + ' · ' + a.room.name)}",
            f"DESCRIPTION:{_ics_escape('Appointment ' + str(a.pk) + '. Open ketaclinic for details.')}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"
