"""Fetch scheduling records only through the acting user's clinic and role (404 outside it)."""

from __future__ import annotations

from typing import Any

from ketaclinic.accounts.access import Actor, get_for
from ketaclinic.accounts.models import Membership
from ketaclinic.patients.restricted import check_chart
from ketaclinic.scheduling.models import Appointment, ClinicClosure, Room, TreatmentCourse


def _chart_guard(actor: Actor, found: TreatmentCourse | Appointment) -> None:
    check_chart(actor, found.patient)


def get_course_for(
    actor: Actor,
    course_id: int | str,
    action: str = "schedule.view",
    *,
    read: str | bool = False,
    read_detail: dict[str, Any] | None = None,
) -> TreatmentCourse:
    """The course with this id in the actor's clinic, or 404 (`read`: audit the read here)."""
    return get_for(
        actor,
        TreatmentCourse,
        course_id,
        action,
        related=("patient", "prescriber"),
        what="course",
        guard=_chart_guard,
        read=read,
        read_detail=read_detail,
    )


def get_appointment_for(
    actor: Actor,
    appointment_id: int | str,
    action: str = "schedule.view",
    *,
    read: bool = False,
) -> Appointment:
    """The appointment with this id in the actor's clinic, or 404 (`read`: audit the read here)."""
    return get_for(
        actor,
        Appointment,
        appointment_id,
        action,
        related=("patient", "room", "course", "staff__user"),
        what="appointment",
        guard=_chart_guard,
        read=read,
    )


def get_room_for(actor: Actor, room_id: int | str, action: str = "schedule.view") -> Room:
    return get_for(actor, Room, room_id, action, what="room")


def get_staff_for(actor: Actor, membership_id: int | str, *, active: bool = True) -> Membership:
    """A staff membership of the actor's clinic (active only, unless asked), or 404."""
    rows = Membership.objects.active() if active else Membership.objects.all()
    return get_for(
        actor,
        Membership,
        membership_id,
        None,
        query=rows.exclude(role="patient"),
        related=("user",),
        what="staff member",
    )


def get_closure_for(actor: Actor, closure_id: int | str) -> ClinicClosure:
    """A closure of the actor's clinic, or 404."""
    return get_for(actor, ClinicClosure, closure_id, None, what="closure")
