"""The synthetic history generator keeps inside the days it is given."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from ketaclinic.measures.models import Response
from ketaclinic.outcomes.synthetic import build_history
from ketaclinic.scheduling.models import Appointment, Room, TreatmentCourse

pytestmark = pytest.mark.django_db


def test_a_history_that_ends_before_today_writes_nothing_after_its_last_day(clinic, staff):
    chair = Room.objects.create(clinic=clinic, name="Chair 1", kind="treatment_chair", position=1)
    today = clinic.today()
    last_day = today - timedelta(days=30)
    built = build_history(
        clinic,
        patients=40,
        rng=random.Random(3),
        first_day=last_day - timedelta(days=120),
        last_day=last_day,
        physicians=[staff["physician"].user],
        nurse=staff["nurse"].user,
        chairs=[chair],
        mrn_prefix="SY",
    )
    assert built.counts["appointments"] > 100
    days = [clinic.date_of(a.start) for a in Appointment.objects.filter(clinic=clinic)]
    days += [clinic.date_of(r.taken_at) for r in Response.objects.filter(clinic=clinic)]
    assert all(d <= last_day for d in days)
    assert max(days) > last_day - timedelta(days=10)  # it does run up to its end
    # A course still inside its induction at the end stays open, not stopped.
    assert TreatmentCourse.objects.filter(clinic=clinic, status="active").exists()
