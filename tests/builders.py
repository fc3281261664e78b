"""Builders for the rows many tests need: a floor, a course, an appointment, a session.

One place instead of a copy in each conftest and browser test. Each builder writes the rows
directly (no service, no audit event), with the values a test would otherwise spell out,
and every value can be given: a test states what matters to it and takes the rest.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from ketaclinic.accounts.access import Actor
from ketaclinic.accounts.models import Clinic, Membership, User
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import (
    Appointment,
    DoseOrder,
    OpeningHours,
    Room,
    StaffHours,
    TreatmentCourse,
)
from ketaclinic.treatment.models import TreatmentSession

IV = "ketamine-iv-mood"
# The `clinic` fixture's zone (tests/conftest.py). New York's date lags UTC's for four or five
# hours each night, so a test meaning "today at the clinic" asks the clinic, never the server.
CLINIC_TZ = "America/New_York"


def clinic_today() -> date:
    """Today at the test clinic, for helpers given no clinic. The real calendar's day, read
    as `Clinic.today()` reads it, even where a test pretends (as_if_today) that the clinic's
    today is another day."""
    return timezone.localdate(timezone=zoneinfo.ZoneInfo(CLINIC_TZ))


def actor(membership: Membership) -> Actor:
    """The member acting (as a view would build them), for calling services directly."""
    return Actor(user=membership.user, membership=membership)


def chair(clinic: Clinic, name: str = "Chair 1", position: int = 1) -> Room:
    """The clinic's treatment chair `name` (made once)."""
    room, _ = Room.objects.get_or_create(
        clinic=clinic, name=name, defaults={"kind": "treatment_chair", "position": position}
    )
    return room


FLOOR_ROOMS = [
    ("Chair 1", "treatment_chair"),
    ("Chair 2", "treatment_chair"),
    ("Chair 3", "treatment_chair"),
    ("Consult 1", "consult_room"),
]


def floor(
    clinic: Clinic,
    staff: dict[str, Membership],
    *,
    on_shift: tuple[str, ...] = ("nurse", "physician", "therapist"),
) -> dict[str, Room]:
    """Three chairs and a consult room, open Mon-Fri 08-18, `on_shift` working those hours."""
    rooms = {
        name: Room.objects.create(clinic=clinic, name=name, kind=kind, position=i)
        for i, (name, kind) in enumerate(FLOOR_ROOMS, start=1)
    }
    for weekday in range(5):
        OpeningHours.objects.create(clinic=clinic, weekday=weekday, opens=time(8), closes=time(18))
        for role in on_shift:
            StaffHours.objects.create(
                clinic=clinic,
                membership=staff[role],
                weekday=weekday,
                starts=time(8),
                ends=time(18),
            )
    return rooms


def course(
    clinic: Clinic,
    patient: Patient,
    prescriber: User,
    *,
    protocol_code: str = IV,
    family: str | None = None,
    protocol_version: int = 1,
    planned_sessions: int = 6,
    start_date: date | None = None,
    status: str = "active",
    activated_at: datetime | None = None,
    **dose: Any,
) -> TreatmentCourse:
    """An active course (activated now unless told); with `dose` (dose_mg_per_kg=...,
    weight_basis=..., or dose_mg=...) its first dose order, signed by the prescriber."""
    made = TreatmentCourse.objects.create(
        clinic=clinic,
        patient=patient,
        protocol_code=protocol_code,
        protocol_version=protocol_version,
        family=family or protocol_code,
        planned_sessions=planned_sessions,
        start_date=start_date or clinic.today(),
        status=status,
        prescriber=prescriber,
        activated_at=activated_at,
    )
    if dose:
        DoseOrder.objects.create(
            clinic=clinic, course=made, reason="initial", signed_by=prescriber, **dose
        )
    return made


def iv_dose() -> dict[str, Any]:
    """The usual IV order: 0.5 mg/kg of actual weight."""
    return {"dose_mg_per_kg": Decimal("0.5"), "weight_basis": "actual"}


def appointment(
    clinic: Clinic,
    patient: Patient,
    of_course: TreatmentCourse | None,
    room: Room,
    *,
    start: datetime | None = None,
    minutes: int = 125,
    status: str = "checked_in",
    **more: Any,
) -> Appointment:
    """A treatment appointment (from five minutes ago unless told) in `room`."""
    begins = start or timezone.now() - timedelta(minutes=5)
    return Appointment.objects.create(
        clinic=clinic,
        patient=patient,
        kind="treatment",
        room=room,
        course=of_course,
        start=begins,
        end=begins + timedelta(minutes=minutes),
        status=status,
        **more,
    )


def session(
    visit: Appointment,
    started_by: User,
    *,
    drug: str = "racemic_ketamine",
    route: str = "iv",
    state: str = "discharged",
    started_at: datetime | None = None,
    **more: Any,
) -> TreatmentSession:
    """The treatment session of `visit` (its patient, course, room and protocol), started at
    the appointment's start unless told; give dose_started_at=..., discharged_at=... as
    the test needs."""
    assert visit.course is not None, "a treatment session belongs to a course"
    return TreatmentSession.objects.create(
        clinic=visit.clinic,
        patient=visit.patient,
        appointment=visit,
        course=visit.course,
        room=visit.room,
        protocol_code=visit.course.protocol_code,
        protocol_version=visit.course.protocol_version,
        drug=drug,
        route=route,
        state=state,
        started_at=started_at or visit.start,
        started_by=started_by,
        **more,
    )
