"""The clinic's floor: its today, opening hours, closures and staff hours as spans, and the lock.

Bookings are serialized per clinic (`_serialized`, `_lock_floor`) so two desks cannot
take the same chair."""

from __future__ import annotations

import time as time_module
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic
from ketaclinic.audit.services import record
from ketaclinic.clinical.scheduling import Conflict, Floor, Span, opening_conflicts, spans_for_days
from ketaclinic.scheduling.models import (
    Appointment,
    AppointmentKind,
    ClinicClosure,
    ClinicSchedulingSettings,
    OpeningHours,
    Room,
    RoomKind,
    StaffException,
    StaffHours,
)

T = TypeVar("T")


# --- protocols and doses ----------------------------------------------------------


# --- the floor -----------------------------------------------------------------------


def settings_for(clinic: Clinic) -> ClinicSchedulingSettings:
    found, _ = ClinicSchedulingSettings.objects.get_or_create(clinic=clinic)
    return found


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
    for off in StaffException.objects.filter(clinic=clinic, day__in=days).filter(memberships):
        hours = exceptions[off.membership_id][off.day]
        if off.starts is not None and off.ends is not None:
            hours.append((off.starts, off.ends))
    result = {}
    for membership_id in set(weekly) | set(exceptions):
        result[membership_id] = spans_for_days(
            days, clinic.tz, weekly.get(membership_id, {}), exceptions.get(membership_id, {})
        )
    return result


def hours_conflicts(clinic: Clinic, span: Span) -> list[Conflict]:
    """Whether the clinic is open (its hours, no closure) for all of ``span``: the same
    check a single booking gets in ``slot_conflicts``, for bookings that hold no chair
    (a group circle)."""
    floor = Floor.build(
        tz=clinic.tz,
        opening=opening_pattern(clinic),
        closed_days=closed_days(clinic, _local_days(clinic, span)),
        chairs=[],
    )
    return opening_conflicts(floor, span)


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


def _audit_appointment(actor: Actor, action: str, appointment: Appointment, **detail: Any) -> None:
    record(
        actor,
        action,
        patient_id=appointment.patient_id,
        obj=appointment,
        detail={"kind": appointment.kind, "room": appointment.room_id, **detail},
    )
