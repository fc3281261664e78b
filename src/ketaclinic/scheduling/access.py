"""Fetch scheduling records only through the acting user's clinic and role (404 outside it)."""

from __future__ import annotations

from django.http import Http404

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Membership
from ketaclinic.patients.restricted import check_chart
from ketaclinic.scheduling.models import Appointment, ClinicClosure, Room, TreatmentCourse


def _pk(value: int | str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404 from None


def get_course_for(
    actor: Actor, course_id: int | str, action: str = "schedule.view"
) -> TreatmentCourse:
    """The course with this id in the actor's clinic, or 404."""
    actor.check(action)
    found = (
        TreatmentCourse.objects.for_clinic(actor.clinic)
        .select_related("patient", "prescriber")
        .filter(pk=_pk(course_id))
        .first()
    )
    if found is None:
        raise Http404("No such course in this clinic.")
    check_chart(actor, found.patient)
    return found


def get_appointment_for(
    actor: Actor, appointment_id: int | str, action: str = "schedule.view"
) -> Appointment:
    """The appointment with this id in the actor's clinic, or 404."""
    actor.check(action)
    found = (
        Appointment.objects.for_clinic(actor.clinic)
        .select_related("patient", "room", "course", "staff__user")
        .filter(pk=_pk(appointment_id))
        .first()
    )
    if found is None:
        raise Http404("No such appointment in this clinic.")
    check_chart(actor, found.patient)
    return found


def get_room_for(actor: Actor, room_id: int | str, action: str = "schedule.view") -> Room:
    actor.check(action)
    found = Room.objects.for_clinic(actor.clinic).filter(pk=_pk(room_id)).first()
    if found is None:
        raise Http404("No such room in this clinic.")
    return found


def get_staff_for(actor: Actor, membership_id: int | str, *, active: bool = True) -> Membership:
    """A staff membership of the actor's clinic (active only, unless asked), or 404."""
    found = Membership.objects.active() if active else Membership.objects.all()
    found = (
        found.select_related("user")
        .filter(clinic=actor.clinic, pk=_pk(membership_id))
        .exclude(role="patient")
        .first()
    )
    if found is None:
        raise Http404("No such staff member in this clinic.")
    return found


def get_closure_for(actor: Actor, closure_id: int | str) -> ClinicClosure:
    """A closure of the actor's clinic, or 404."""
    found = ClinicClosure.objects.for_clinic(actor.clinic).filter(pk=_pk(closure_id)).first()
    if found is None:
        raise Http404("No such closure in this clinic.")
    return found
