"""Integration support: the scheduling floor plus a therapy room and a second therapist."""

from __future__ import annotations

from datetime import time

import pytest

from ketaclinic.accounts.services import add_staff
from ketaclinic.integration import notes
from ketaclinic.scheduling.models import Room, StaffHours
from tests.conftest import PASSWORD
from tests.scheduling.conftest import actor, at, course, floor, next_monday, no_gate  # noqa: F401, F811

SECRET = "Zebra-Lantern transference 7731"  # the psychotherapy note's text, searched for everywhere


@pytest.fixture
def therapy(floor, clinic):  # noqa: F811
    floor["Therapy 1"] = Room.objects.create(
        clinic=clinic, name="Therapy 1", kind="therapy_room", position=9
    )
    return floor


@pytest.fixture
def second_therapist(clinic):
    member = add_staff(
        username="kim",
        clinic=clinic,
        role="therapist",
        password=PASSWORD,
        first_name="Jo",
        last_name="Kim",
        check_password=False,
    )
    for weekday in range(5):
        StaffHours.objects.create(
            clinic=clinic, membership=member, weekday=weekday, starts=time(8), ends=time(18)
        )
    return member


@pytest.fixture
def private_note(staff, patient):
    return notes.write_psychotherapy_note(
        actor=actor(staff["therapist"]), patient=patient, text=SECRET
    )
