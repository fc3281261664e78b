"""Schedule pages: the day board (constant queries), week, move form, series booking, chart, feed."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ketaclinic.audit.models import AuditEvent
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling import services
from ketaclinic.scheduling.models import Appointment, TreatmentCourse
from tests.scheduling.conftest import actor, at, next_monday

pytestmark = pytest.mark.django_db


def book_consults(clinic, staff, floor, n, day):
    for i in range(n):
        p = Patient.objects.create(
            clinic=clinic,
            mrn=f"MRN1{i:05d}",
            given_name=f"P{i}",
            family_name="Test",
            birth_date=date(1980, 1, 1),
            sex_at_birth="female",
        )
        slot = services.make_slot(
            patient=p,
            kind="follow_up",
            room=floor["Consult 1"],
            start=at(clinic, day, 8) + timedelta(minutes=30 * i),
        )
        services.book_appointment(actor=actor(staff["front_desk"]), slot=slot)


def board_queries(client, day):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/schedule/?day={day}")
    assert response.status_code == 200
    return len(ctx.captured_queries), response


def test_the_day_board_shows_appointments_by_chair_in_constant_queries(
    clinic, staff, floor, patient, course, login
):
    monday = next_monday()
    client = login(staff["front_desk"])
    book_consults(clinic, staff, floor, 1, monday)
    few, _ = board_queries(client, monday)
    for i in range(1, 10):
        p = Patient.objects.create(
            clinic=clinic,
            mrn=f"MRN2{i:05d}",
            given_name=f"Q{i}",
            family_name="Test",
            birth_date=date(1980, 1, 1),
            sex_at_birth="male",
        )
        slot = services.make_slot(
            patient=p,
            kind="follow_up",
            room=floor["Consult 1"],
            start=at(clinic, monday, 8, 30) + timedelta(minutes=30 * i),
        )
        services.book_appointment(actor=actor(staff["front_desk"]), slot=slot)
    many, response = board_queries(client, monday)
    assert many == few
    html = response.content.decode()
    assert "Chair 1" in html and "Consult 1" in html
    assert "P0 Test" in html and "Q9 Test" in html
    assert AuditEvent.objects.filter(action="view", detail__view="day_board").exists()


def test_the_board_can_show_one_staff_member(clinic, staff, floor, patient, login):
    monday = next_monday()
    slot = services.make_slot(
        patient=patient,
        kind="integration",
        room=floor["Consult 1"],
        start=at(clinic, monday, 9),
        staff=staff["therapist"],
    )
    services.book_appointment(actor=actor(staff["front_desk"]), slot=slot)
    client = login(staff["front_desk"])
    assert (
        "Maria Garcia"
        in client.get(f"/schedule/?day={monday}&staff={staff['therapist'].pk}").content.decode()
    )
    assert (
        "Maria Garcia"
        not in client.get(f"/schedule/?day={monday}&staff={staff['nurse'].pk}").content.decode()
    )
    week = client.get(f"/schedule/week/?day={monday}").content.decode()
    assert "Maria Garcia" in week


def test_the_move_form_applies_the_same_checks(clinic, staff, floor, patient, course, login):
    monday = next_monday()
    a1 = services.book_appointment(
        actor=actor(staff["front_desk"]),
        slot=services.make_slot(
            patient=patient,
            kind="treatment",
            room=floor["Chair 1"],
            start=at(clinic, monday, 9),
            course=course,
        ),
    )
    a2 = services.book_appointment(
        actor=actor(staff["front_desk"]),
        slot=services.make_slot(
            patient=patient,
            kind="treatment",
            room=floor["Chair 1"],
            start=at(clinic, monday + timedelta(days=2), 9),
            course=course,
        ),
    )
    client = login(staff["front_desk"])
    refused = client.post(
        f"/schedule/appointments/{a2.pk}/",
        {
            "day": str(monday + timedelta(days=1)),
            "start_time": "09:00",
            "room": floor["Chair 2"].pk,
        },
    )
    assert refused.status_code == 200
    assert "at least 48 hours apart" in refused.content.decode()
    a2.refresh_from_db()
    assert a2.start == at(clinic, monday + timedelta(days=2), 9)
    moved = client.post(
        f"/schedule/appointments/{a2.pk}/",
        {
            "day": str(monday + timedelta(days=2)),
            "start_time": "11:00",
            "room": floor["Chair 2"].pk,
        },
    )
    assert moved.status_code == 302
    a2.refresh_from_db()
    assert (a2.start, a2.room_id) == (
        at(clinic, monday + timedelta(days=2), 11),
        floor["Chair 2"].pk,
    )
    assert a1.pk


def test_the_series_page_proposes_then_books(clinic, staff, floor, patient, course, login):
    client = login(staff["front_desk"])
    page = client.get(f"/schedule/series/?patient={patient.pk}")
    assert "Maria Garcia (MRN000001)" in page.content.decode()
    proposal = client.post(
        "/schedule/series/",
        {
            "action": "plan",
            "course": course.pk,
            "weekdays": ["0", "2", "4"],
            "earliest": "10:00",
            "latest_start": "15:00",
        },
    )
    html = proposal.content.decode()
    assert "Book these 6 sessions" in html
    assert Appointment.objects.count() == 0
    fields = {"action": "book", "course": course.pk, "session_count": 6}
    for name, value in re.findall(
        r'name="(session-\d-(?:start|room|appointment))" value="([^"]*)"', html
    ):
        fields[name] = value.replace("&#x27;", "'").replace("&#43;", "+")
    booked = client.post("/schedule/series/", fields)
    assert booked.status_code == 302, booked.content.decode()[:2000]
    assert Appointment.objects.filter(course=course).count() == 6
    first = Appointment.objects.filter(course=course).order_by("start").first()
    assert first.start == at(clinic, next_monday(), 10)


def test_the_chart_shows_the_course_and_upcoming_sessions_in_constant_queries(
    clinic, staff, floor, patient, course, login
):
    client = login(staff["nurse"])
    with CaptureQueriesContext(connection) as before:
        client.get(f"/patients/{patient.pk}/")
    monday = next_monday()
    for d in (0, 2, 4):
        services.book_appointment(
            actor=actor(staff["front_desk"]),
            slot=services.make_slot(
                patient=patient,
                kind="treatment",
                room=floor["Chair 1"],
                start=at(clinic, monday + timedelta(days=d), 9),
                course=course,
            ),
        )
    services.change_dose(
        actor=actor(staff["physician"]), course=course, reason="Tolerated well.", dose_mg_per_kg=0.6
    )
    with CaptureQueriesContext(connection) as after:
        response = client.get(f"/patients/{patient.pk}/")
    html = response.content.decode()
    assert (
        "IV ketamine infusion for depression" in html
        and "0.6 mg/kg (actual weight)" in html
        and "3 of 6" in html
    )
    assert "Planned, not activated" in html
    assert len(after.captured_queries) == len(before.captured_queries)


def test_a_calendar_feed_lists_the_members_appointments_without_patient_names(
    clinic, staff, floor, patient, login, client
):
    monday = next_monday()
    services.book_appointment(
        actor=actor(staff["front_desk"]),
        slot=services.make_slot(
            patient=patient,
            kind="integration",
            room=floor["Consult 1"],
            start=at(clinic, monday, 9),
            staff=staff["therapist"],
        ),
    )
    page = login(staff["therapist"]).post("/schedule/calendar-feed/")
    url = re.search(r"http://127.0.0.1:8000(/ics/[^<\s]+\.ics)", page.content.decode()).group(1)
    feed = client.get(url)
    assert feed.status_code == 200 and feed["Content-Type"].startswith("text/calendar")
    body = feed.content.decode()
    assert "SUMMARY:Integration · Consult 1" in body and "Garcia" not in body
    assert client.get("/ics/not-a-token.ics").status_code == 404
    # A new address stops the old one.
    login(staff["therapist"]).post("/schedule/calendar-feed/")
    assert client.get(url).status_code == 404


def test_reminders_go_once_with_the_protocol_instructions(
    clinic, staff, floor, patient, mailoutbox
):
    patient.email = "maria@example.org"
    patient.save()
    course = services.create_course(
        actor=actor(staff["physician"]),
        patient=patient,
        protocol_code="esketamine-nasal",
        start_date=next_monday(),
    )
    start = at(clinic, next_monday(), 9)
    services.book_appointment(
        actor=actor(staff["front_desk"]),
        slot=services.make_slot(
            patient=patient, kind="treatment", room=floor["Chair 1"], start=start, course=course
        ),
    )
    assert services.send_due_reminders(start - timedelta(hours=72)) == 0
    assert services.send_due_reminders(start - timedelta(hours=47)) == 1
    assert services.send_due_reminders(start - timedelta(hours=46)) == 0
    [mail] = mailoutbox
    assert mail.to == ["maria@example.org"]
    assert (
        "Do not drive or operate machinery until the next day, after a restful sleep." in mail.body
    )
    assert "Do not eat for 2 hours" in mail.body


def test_a_physician_prescribes_and_activation_shows_what_is_missing(clinic, staff, patient, login):
    client = login(staff["physician"])
    start = next_monday()
    refused = client.post(
        f"/schedule/patients/{patient.pk}/course/",
        {"protocol": "ketamine-iv-mood", "start_date": str(start), "dose_mg_per_kg": "1.5"},
    )
    assert refused.status_code == 200 and "hard maximum" in refused.content.decode()
    assert not TreatmentCourse.objects.exists()
    done = client.post(
        f"/schedule/patients/{patient.pk}/course/",
        {"protocol": "ketamine-iv-mood", "start_date": str(start)},
    )
    assert done.status_code == 302
    course = TreatmentCourse.objects.get()
    assert course.orders.get().dose_mg_per_kg == Decimal("0.5")
    chart = client.post(f"/schedule/courses/{course.pk}/activate/", follow=True).content.decode()
    assert "The course cannot be activated yet. Missing: An eligibility evaluation" in chart
    course.refresh_from_db()
    assert course.status == "planned"
    assert (
        login(staff["nurse"])
        .post(
            f"/schedule/patients/{patient.pk}/course/",
            {"protocol": "ketamine-iv-mood", "start_date": str(start)},
        )
        .status_code
        == 403
    )


def test_before_appointment_questionnaires_go_once_24_hours_ahead(
    clinic, staff, floor, patient, mailoutbox, django_capture_on_commit_callbacks
):
    from ketaclinic.measures.models import QuestionnaireLink, Schedule

    patient.email = "maria@example.org"
    patient.save()
    Schedule.objects.create(
        clinic=clinic,
        patient=patient,
        instruments=["phq9", "gad7"],
        kind="before_appointment",
        created_by=staff["nurse"].user,
    )
    course = services.create_course(
        actor=actor(staff["physician"]),
        patient=patient,
        protocol_code="ketamine-iv-mood",
        start_date=next_monday(),
        dose_mg_per_kg=Decimal("0.5"),
    )
    start = at(clinic, next_monday(), 9)
    services.book_appointment(
        actor=actor(staff["front_desk"]),
        slot=services.make_slot(
            patient=patient, kind="treatment", room=floor["Chair 1"], start=start, course=course
        ),
    )
    assert services.send_pre_appointment_questionnaires(start - timedelta(hours=25)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert services.send_pre_appointment_questionnaires(start - timedelta(hours=23)) == 1
    assert services.send_pre_appointment_questionnaires(start - timedelta(hours=22)) == 0
    link = QuestionnaireLink.objects.get(patient=patient)
    assert link.instruments == ["phq9", "gad7"]
    assert [m.to for m in mailoutbox] == [["maria@example.org"]]
