"""Integration planned and booked with the course; a moved dose moves its window; missed
integration on the work list and the chart; circles hold their room in every booking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.integration import circles, planning
from ketaclinic.integration.models import PlannedSession
from ketaclinic.scheduling import services
from ketaclinic.scheduling.models import Appointment
from tests.integration.conftest import actor, at, next_monday

pytestmark = pytest.mark.django_db


def book_series(course, staff, clinic, days=(0, 2, 4, 7)):
    monday = next_monday()
    chair = services.Room.objects.get(clinic=clinic, name="Chair 1")
    requests = [
        services.SessionRequest(start=at(clinic, monday + timedelta(days=d), 9), room=chair)
        for d in days
    ]
    return services.book_course(actor=actor(staff["front_desk"]), course=course, sessions=requests)


def test_booking_a_course_books_preparation_and_integration_on_the_therapists_hours(
    clinic, staff, therapy, course
):
    doses = book_series(course, staff, clinic)
    therapy_sessions = list(
        Appointment.objects.filter(
            patient=course.patient, kind__in=["preparation", "integration"]
        ).order_by("start")
    )
    # One preparation before the first dose; integration after doses 1, 2 and 3 (policy:
    # the first three, then every second: dose 5, 7 ...); none after dose 4.
    kinds = [a.kind for a in therapy_sessions]
    assert kinds == ["preparation", "integration", "integration", "integration"]
    assert therapy_sessions[0].end <= doses[0].start
    for dose, integration in zip(doses[:3], therapy_sessions[1:], strict=True):
        assert dose.end <= integration.start
        assert integration.end <= dose.start + timedelta(hours=72)
    assert {a.room.name for a in therapy_sessions} == {"Therapy 1"}
    assert {a.staff_id for a in therapy_sessions} == {staff["therapist"].pk}
    assert AuditEvent.objects.filter(action="book_integration").count() == 4


def test_a_clinic_without_a_therapy_room_gets_windows_to_book_by_hand(clinic, staff, floor, course):
    book_series(course, staff, clinic)
    assert not Appointment.objects.filter(kind__in=["preparation", "integration"]).exists()
    rows = planning.planned_rows(PlannedSession.objects.filter(course=course))
    assert [r.status for r in rows] == ["to_book"] * 4


def test_moving_a_dose_moves_its_integration_window_and_session(clinic, staff, therapy, course):
    doses = book_series(course, staff, clinic, days=(0, 3, 7, 10))
    first = doses[0]
    window = PlannedSession.objects.get(course=course, kind="integration", dosing_number=1)
    before = window.appointment.start
    new_start = first.start + timedelta(days=1)
    services.update_appointment(
        actor=actor(staff["front_desk"]), appointment=first, start=new_start
    )
    window.refresh_from_db()
    assert window.opens >= new_start
    assert window.closes == new_start + timedelta(hours=72)
    moved = window.appointment
    moved.refresh_from_db()
    assert window.opens <= moved.start and moved.end <= window.closes
    assert moved.start != before
    assert AuditEvent.objects.filter(action="integration_window_moved").exists()


def test_a_missed_integration_shows_on_the_work_list_and_the_chart(
    clinic, staff, therapy, course, login, api_client
):
    book_series(course, staff, clinic)
    item = PlannedSession.objects.get(course=course, kind="integration", dosing_number=1)
    # The window closed and nobody held the session: it was marked a no-show.
    Appointment.objects.filter(pk=item.appointment_id).update(status="no_show")
    PlannedSession.objects.filter(pk=item.pk).update(
        opens=timezone.now() - timedelta(days=4), closes=timezone.now() - timedelta(days=1)
    )
    body = api_client(staff["therapist"]).get("/api/v1/integration/worklist").json()
    assert [m["id"] for m in body["missed"]] == [item.pk]
    page = login(staff["therapist"]).get("/integration/").content.decode()
    assert "Missed" in page and "Maria Garcia" in page
    chart = login(staff["physician"]).get(f"/patients/{course.patient_id}/").content.decode()
    assert "1 integration session missed" in chart
    course_rows = api_client(staff["nurse"]).get(f"/api/v1/courses/{course.pk}/integration").json()
    assert [r["status"] for r in course_rows if r["id"] == item.pk] == ["missed"]


def test_a_circle_holds_its_room_therapist_and_patients_in_every_booking(
    clinic, staff, therapy, patient
):
    monday = next_monday()
    circles.create_circle(
        actor=actor(staff["therapist"]),
        title="Circle",
        therapist=staff["therapist"],
        room=therapy["Therapy 1"],
        start=at(clinic, monday, 14),
        minutes=90,
        patients=[patient],
    )
    slot = services.make_slot(
        patient=patient,
        kind="integration",
        room=therapy["Therapy 1"],
        start=at(clinic, monday, 14, 30),
        staff=staff["therapist"],
    )
    codes = {c.code for c in services.check_slot(slot)}
    assert {"room_taken", "staff_busy", "patient_busy"} <= codes
