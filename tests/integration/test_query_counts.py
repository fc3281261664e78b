"""Page cost does not grow with history: the workspace, a patient's timeline and the chart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic.integration import notes, plans
from ketaclinic.scheduling.models import Appointment
from tests.integration.conftest import actor

pytestmark = pytest.mark.django_db


def add_history(clinic, staff, therapy, patient, n):
    now = timezone.now()
    for i in range(n):
        start = now - timedelta(days=2 + i)
        appointment = Appointment.objects.create(
            clinic=clinic,
            patient=patient,
            kind="integration",
            room=therapy["Therapy 1"],
            staff=staff["therapist"],
            start=start,
            end=start + timedelta(hours=1),
            status="completed",
        )
        notes.create_progress_note(
            actor=actor(staff["therapist"]),
            patient=patient,
            template="dap",
            fields={"data": f"Session {i}", "risk": "none"},
            appointment=appointment,
        )
        notes.write_psychotherapy_note(
            actor=actor(staff["therapist"]), patient=patient, text=f"p{i}"
        )
        plans.add_homework(
            actor=actor(staff["therapist"]), patient=patient, kind="journal", title=f"Prompt {i}"
        )


def cost(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_pages_cost_the_same_with_three_or_thirty_sessions_of_history(
    clinic, staff, therapy, patient, login
):
    plans.save_plan(
        actor=actor(staff["therapist"]),
        patient=patient,
        goals=[{"words": "Sleep", "measure": "personal", "target": 7}],
        interventions="",
        review_on=clinic.today() + timedelta(days=30),
    )
    client = login(staff["therapist"])
    urls = ["/integration/", f"/integration/patients/{patient.pk}/", f"/patients/{patient.pk}/"]
    add_history(clinic, staff, therapy, patient, 3)
    small = [cost(client, u) for u in urls]
    add_history(clinic, staff, therapy, patient, 27)
    large = [cost(client, u) for u in urls]
    assert large == small, (small, large)
