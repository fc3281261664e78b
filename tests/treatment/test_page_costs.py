"""The chart, the chair board and the session page cost as many queries at 5, 50 and 500 past sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ketaclinic.scheduling.models import Appointment
from ketaclinic.treatment import services
from ketaclinic.treatment.models import TreatmentSession, VitalReading
from tests.treatment.conftest import actor

pytestmark = pytest.mark.django_db

HISTORY = (5, 50, 500)


def _add_past_sessions(template: TreatmentSession, count: int, already: int) -> None:
    """`count` more discharged sessions of the same patient, weeks apart, one reading each."""
    appointment = template.appointment
    appointments = []
    for n in range(already, already + count):
        start = appointment.start - timedelta(days=7 * (n + 1))
        appointments.append(
            Appointment(
                clinic_id=appointment.clinic_id,
                patient_id=appointment.patient_id,
                kind="treatment",
                room_id=appointment.room_id,
                course_id=appointment.course_id,
                start=start,
                end=start + timedelta(hours=2),
                status="completed",
            )
        )
    Appointment.objects.bulk_create(appointments)
    sessions = []
    for booked in appointments:
        past = TreatmentSession.objects.get(pk=template.pk)
        past.pk = past.id = None
        past.appointment_id = booked.pk
        past.state = "discharged"
        past.started_at = booked.start
        past.dose_started_at = booked.start + timedelta(minutes=15)
        past.discharged_at = booked.start + timedelta(hours=2)
        sessions.append(past)
    TreatmentSession.objects.bulk_create(sessions)
    VitalReading.objects.bulk_create(
        VitalReading(
            session_id=past.pk,
            taken_at=past.dose_started_at + timedelta(minutes=20),
            phase="during",
            systolic=130,
            diastolic=80,
            heart_rate=70,
            spo2=98,
            recorded_by_id=past.started_by_id,
            recorded_at=past.dose_started_at + timedelta(minutes=20),
        )
        for past in sessions
    )


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_page_query_counts_stay_flat_as_history_grows(login, staff, iv_appointment, patient):
    session = services.start_session(actor=actor(staff["nurse"]), appointment=iv_appointment)
    client = login(staff["nurse"])
    pages = {
        "chart": f"/patients/{patient.pk}/",
        "board": "/treatment/board/",
        "session page": f"/treatment/sessions/{session.pk}/",
    }
    counts: dict[str, list[int]] = {name: [] for name in pages}
    have = 0
    for history in HISTORY:
        _add_past_sessions(session, history - have, have)
        have = history
        for name, url in pages.items():
            client.get(url)  # the same warm state (session refresh, caches) each time
            counts[name].append(_queries(client, url))

    for name, seen in counts.items():
        assert len(set(seen)) == 1, f"{name}: {seen} queries at {HISTORY} past sessions"
    # Today's figures, so a page that starts costing more is noticed (issue #13).
    # (the tests write audit events synchronously: two statements of each count)
    # The chart gained the integration plan, long-term monitoring and allergy-state panels and
    # the restricted-chart check with the merge of issues #10, #12, #14 and #15; one more for the
    # story authorizations (#18) and one for the portal's session summaries (#16), flat with
    # history. Two fewer since a record fetched in the actor's clinic reuses the actor's clinic.
    assert counts["chart"][0] <= 33
    assert counts["board"][0] <= 10
    assert counts["session page"][0] <= 35  # + long-term monitoring (#12), portal check-in (#16)
