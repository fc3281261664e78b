"""Setting up the floor: rooms, closures, opening and staff hours, scheduling settings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, time

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.accounts.services import check_text
from ketaclinic.audit.services import record
from ketaclinic.scheduling.models import (
    Appointment,
    ClinicClosure,
    ClinicSchedulingSettings,
    OpeningHours,
    Room,
    RoomKind,
    StaffException,
    StaffHours,
)

from .floor import day_window, settings_for


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
    today = actor.clinic.today()
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
