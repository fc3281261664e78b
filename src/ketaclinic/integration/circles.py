"""Group integration circles: one appointment-like booking, one therapist, several patients.

A circle holds its room and its therapist; ``circle_conflicts`` adds that to every
booking check in scheduling (through scheduling/hooks.py), and a circle itself is
refused where an appointment or another circle already holds the room, the therapist
or a patient. Attendance is per patient; each patient's note is their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.audit.services import record
from ketaclinic.clinical.scheduling import Conflict, Span
from ketaclinic.integration.models import (
    Attendance,
    Circle,
    CircleSeat,
    CircleStatus,
    Mode,
)
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling import services as scheduling
from ketaclinic.scheduling.models import Appointment, ClinicSchedulingSettings, Room, RoomKind

MAX_SEATS = 12
MAX_MINUTES = 240


def circle_conflicts(slot: Any, exclude: Sequence[int]) -> list[Conflict]:
    """Conflicts a booked circle causes for an appointment slot (the scheduling hook)."""
    circles = Circle.objects.for_clinic(slot.patient.clinic).filter(
        status=CircleStatus.BOOKED, start__lt=slot.end, end__gt=slot.start
    )
    found = []
    if circles.filter(room=slot.room).exists():
        found.append(Conflict("room_taken", "The room holds a group circle then."))
    if slot.staff is not None and circles.filter(therapist=slot.staff).exists():
        found.append(Conflict("staff_busy", "The assigned staff member runs a group circle then."))
    if (
        circles.filter(seats__patient=slot.patient)
        .exclude(seats__attendance__in=[Attendance.EXCUSED])
        .exists()
    ):
        found.append(Conflict("patient_busy", "The patient is in a group circle then."))
    return found


def _check_link(mode: str, meeting_url: str) -> str:
    meeting_url = (meeting_url or "").strip()
    if mode not in Mode.values:
        raise ValidationError({"mode": "Choose in_person or video."})
    if mode == Mode.VIDEO:
        parsed = urlparse(meeting_url)
        if parsed.scheme != "https" or not parsed.netloc or len(meeting_url) > 300:
            raise ValidationError({"meeting_url": "A video session needs an https meeting link."})
    elif meeting_url:
        raise ValidationError({"meeting_url": "Only a video session has a meeting link."})
    return meeting_url


def check_meeting_link(mode: str, meeting_url: str) -> str:
    return _check_link(mode, meeting_url)


def circles_for(clinic: Any) -> QuerySet[Circle]:
    return Circle.objects.for_clinic(clinic).select_related("room", "therapist__user")


def get_circle_for(actor: Actor, circle_id: int | str, action: str = "integration.view") -> Circle:
    actor.check(action)
    try:
        pk = int(circle_id)
    except (TypeError, ValueError):
        raise Http404("No such circle.") from None
    found = circles_for(actor.clinic).filter(pk=pk).first()
    if found is None:
        raise Http404("No such circle in this clinic.")
    return found


def _busy(
    clinic: Any,
    start: datetime,
    end: datetime,
    room: Room,
    therapist: Membership,
    patients: Sequence[Patient],
    exclude_circle: int | None = None,
) -> list[str]:
    problems = []
    appointments = Appointment.objects.for_clinic(clinic).holding().overlapping(start, end)
    circles = Circle.objects.for_clinic(clinic).filter(
        status=CircleStatus.BOOKED, start__lt=end, end__gt=start
    )
    if exclude_circle is not None:
        circles = circles.exclude(pk=exclude_circle)
    if appointments.filter(room=room).exists() or circles.filter(room=room).exists():
        problems.append("The room is taken then.")
    if (
        appointments.filter(staff=therapist).exists()
        or circles.filter(therapist=therapist).exists()
    ):
        problems.append("The therapist has another appointment then.")
    shifts = scheduling.staff_spans(clinic, Span(start, end), Q(membership=therapist)).get(
        therapist.pk, []
    )
    if not any(s.covers(Span(start, end)) for s in shifts):
        problems.append("The therapist is not working then.")
    busy = set(
        appointments.filter(patient__in=patients).values_list("patient_id", flat=True)
    ) | set(circles.filter(seats__patient__in=patients).values_list("seats__patient_id", flat=True))
    if busy:
        problems.append(f"{len(busy)} patient(s) have another appointment then.")
    return problems


@transaction.atomic
def create_circle(
    *,
    actor: Actor,
    title: str,
    therapist: Membership,
    room: Room,
    start: datetime | None,
    minutes: int = 90,
    mode: str = Mode.IN_PERSON,
    meeting_url: str = "",
    capacity: int = 8,
    patients: Sequence[Patient] = (),
) -> Circle:
    actor.check("integration.circle")
    errors: dict[str, str] = {}
    title = (title or "").replace("\x00", "").strip()
    if not title or len(title) > 80:
        errors["title"] = "Give the circle a name (up to 80 characters)."
    if therapist.clinic_id != actor.clinic.pk or therapist.role not in ("therapist", "physician"):
        errors["therapist"] = "Choose a therapist of this clinic."
    if (
        room.clinic_id != actor.clinic.pk
        or not room.active
        or room.kind
        not in (
            RoomKind.THERAPY_ROOM,
            RoomKind.CONSULT_ROOM,
        )
    ):
        errors["room"] = "Choose an active therapy room."
    if start is None:
        errors["start"] = "Give the start time."
    elif timezone.is_naive(start):
        errors["start"] = "Give a time with its UTC offset."
    elif start < timezone.now():
        errors["start"] = "That time has passed."
    if not isinstance(minutes, int) or not 15 <= minutes <= MAX_MINUTES:
        errors["minutes"] = f"A circle lasts 15 to {MAX_MINUTES} minutes."
    if not isinstance(capacity, int) or not 2 <= capacity <= MAX_SEATS:
        errors["capacity"] = f"A circle seats 2 to {MAX_SEATS} patients."
    elif len(patients) > capacity:
        errors["patients"] = f"The circle seats {capacity}; {len(patients)} were chosen."
    if len({p.pk for p in patients}) != len(patients):
        errors["patients"] = "A patient appears twice."
    if any(p.clinic_id != actor.clinic.pk for p in patients):
        errors["patients"] = "Choose patients of this clinic."
    try:
        meeting_url = _check_link(mode, meeting_url)
    except ValidationError as exc:
        errors.update({k: " ".join(v) for k, v in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    assert start is not None
    end = start + timedelta(minutes=minutes)
    scheduling.settings_for(actor.clinic)
    ClinicSchedulingSettings.objects.select_for_update().filter(clinic=actor.clinic).first()
    problems = [c.message for c in scheduling.hours_conflicts(actor.clinic, Span(start, end))]
    problems += _busy(actor.clinic, start, end, room, therapist, patients)
    if problems:
        raise ValidationError({"start": " ".join(problems)})
    circle = Circle.objects.create(
        clinic=actor.clinic,
        title=title,
        therapist=therapist,
        room=room,
        start=start,
        end=end,
        mode=mode,
        meeting_url=meeting_url,
        capacity=capacity,
    )
    for patient in patients:
        CircleSeat.objects.create(clinic=actor.clinic, circle=circle, patient=patient)
    record(
        actor,
        "circle_create",
        obj=circle,
        detail={"patients": sorted(p.pk for p in patients), "room": room.pk},
    )
    return circle


@transaction.atomic
def add_to_circle(*, actor: Actor, circle: Circle, patient: Patient) -> CircleSeat:
    actor.check("integration.circle")
    locked = Circle.objects.select_for_update().get(pk=circle.pk)
    if locked.status != CircleStatus.BOOKED:
        raise ValidationError({"patient": "This circle is no longer open."})
    if patient.clinic_id != actor.clinic.pk:
        raise ValidationError({"patient": "Choose a patient of this clinic."})
    if locked.seats.filter(patient=patient).exists():
        raise ValidationError({"patient": "This patient is already in the circle."})
    if locked.seats.count() >= locked.capacity:
        raise ValidationError({"patient": f"The circle is full ({locked.capacity} seats)."})
    busy = (
        Appointment.objects.for_clinic(actor.clinic)
        .holding()
        .overlapping(locked.start, locked.end)
        .filter(patient=patient)
        .exists()
    )
    if busy:
        raise ValidationError({"patient": "The patient has another appointment then."})
    seat = CircleSeat.objects.create(clinic=actor.clinic, circle=locked, patient=patient)
    record(actor, "circle_seat", patient_id=patient.pk, obj=locked, detail={"seat": seat.pk})
    return seat


@transaction.atomic
def mark_attendance(*, actor: Actor, circle: Circle, marks: Mapping[int, str]) -> list[CircleSeat]:
    """Set attendance per patient id; a circle with every seat marked is completed."""
    actor.check("integration.attend")
    locked = Circle.objects.select_for_update().get(pk=circle.pk)
    if locked.status == CircleStatus.CANCELLED:
        raise ValidationError({"attendance": "This circle was cancelled."})
    if locked.start > timezone.now():
        raise ValidationError({"attendance": "Attendance is marked once the circle has started."})
    seats = {s.patient_id: s for s in locked.seats.select_for_update()}
    for patient_id, value in marks.items():
        if patient_id not in seats:
            raise ValidationError({"attendance": "A patient is not in this circle."})
        if value not in Attendance.values:
            raise ValidationError({"attendance": "Choose expected, attended, absent or excused."})
    now = timezone.now()
    for patient_id, value in marks.items():
        seat = seats[patient_id]
        if seat.attendance != value:
            seat.attendance, seat.marked_at = value, now
            seat.save(update_fields=["attendance", "marked_at"])
            record(
                actor,
                "circle_attendance",
                patient_id=patient_id,
                obj=locked,
                detail={"attendance": value},
            )
    if seats and all(s.attendance != Attendance.EXPECTED for s in seats.values()):
        locked.status = CircleStatus.COMPLETED
        locked.save(update_fields=["status"])
    return list(seats.values())


@transaction.atomic
def cancel_circle(*, actor: Actor, circle: Circle, reason: str) -> Circle:
    actor.check("integration.circle")
    reason = (reason or "").replace("\x00", "").strip()
    if not reason or len(reason) > 300:
        raise ValidationError({"reason": "Say why the circle is cancelled (up to 300 characters)."})
    locked = Circle.objects.select_for_update().get(pk=circle.pk)
    if locked.status != CircleStatus.BOOKED:
        raise ValidationError({"reason": "Only a booked circle can be cancelled."})
    locked.status, locked.cancel_reason = CircleStatus.CANCELLED, reason
    locked.save(update_fields=["status", "cancel_reason"])
    record(actor, "circle_cancel", obj=locked)
    return locked
