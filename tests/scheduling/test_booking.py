"""Appointments: each refusal reason, moves and status changes, rooms, and the last free chair."""

from __future__ import annotations

import threading
from datetime import date, time, timedelta

import pytest
from django.db import connection

from ketaclinic.accounts.services import add_staff
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling import services
from ketaclinic.scheduling.models import Appointment, Room, StaffException
from tests.conftest import PASSWORD
from tests.scheduling.conftest import actor, at, next_monday

pytestmark = pytest.mark.django_db


def book(client, **body):
    return client.post("/api/v1/appointments", body, content_type="application/json")


def other_patient(clinic, mrn="MRN000002", given="Ben"):
    return Patient.objects.create(
        clinic=clinic,
        mrn=mrn,
        given_name=given,
        family_name="Okoro",
        birth_date=date(1990, 1, 2),
        sex_at_birth="male",
        weight_kg=80,
        height_cm=180,
    )


def course_for(staff, patient, protocol="ketamine-iv-mood", **dose):
    return services.create_course(
        actor=actor(staff["physician"]),
        patient=patient,
        protocol_code=protocol,
        start_date=next_monday(),
        **(dose or {"dose_mg_per_kg": 0.5} if protocol != "esketamine-nasal" else {}),
    )


def codes(response):
    assert response.status_code == 409, response.content
    return [c["code"] for c in response.json()["conflicts"]]


def test_front_desk_books_a_treatment_whose_end_follows_the_protocol(
    clinic, staff, floor, patient, course, api_client
):
    monday = next_monday()
    response = book(
        api_client(staff["front_desk"]),
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, monday, 9).isoformat(),
        room=floor["Chair 1"].pk,
        course=course.pk,
    )
    assert response.status_code == 201, response.content
    body = response.json()
    # 15 pre-dose + 40 infusion + 30 observation + 15 turnover = 100 minutes.
    appointment = Appointment.objects.get(pk=body["id"])
    assert appointment.end - appointment.start == timedelta(minutes=100)
    assert body["status"] == "booked"


def test_a_consultation_gets_the_default_length_and_end_may_override(
    clinic, staff, floor, patient, api_client
):
    client = api_client(staff["front_desk"])
    monday = next_monday()
    first = book(
        client,
        patient=patient.pk,
        kind="consultation",
        start=at(clinic, monday, 9).isoformat(),
        room=floor["Consult 1"].pk,
    )
    assert Appointment.objects.get(pk=first.json()["id"]).end == at(clinic, monday, 10)
    second = book(
        client,
        patient=patient.pk,
        kind="follow_up",
        start=at(clinic, monday, 11).isoformat(),
        end=at(clinic, monday, 11, 20).isoformat(),
        room=floor["Consult 1"].pk,
    )
    assert Appointment.objects.get(pk=second.json()["id"]).end == at(clinic, monday, 11, 20)


def test_it_refuses_a_taken_chair(clinic, staff, floor, patient, course, api_client):
    client = api_client(staff["front_desk"])
    monday = next_monday()
    book(
        client,
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, monday, 9).isoformat(),
        room=floor["Chair 1"].pk,
        course=course.pk,
    )
    ben = other_patient(clinic)
    ben_course = course_for(staff, ben)
    response = book(
        client,
        patient=ben.pk,
        kind="treatment",
        start=at(clinic, monday, 10).isoformat(),
        room=floor["Chair 1"].pk,
        course=ben_course.pk,
    )
    assert codes(response) == ["room_taken"]
    assert response.json()["detail"] == "The booking was refused."
    assert Appointment.objects.filter(patient=ben).count() == 0


def test_it_refuses_when_the_nurses_on_shift_are_at_capacity(
    clinic, staff, floor, patient, course, api_client
):
    # One nurse x capacity 2: a third patient in treatment at once is refused.
    client = api_client(staff["front_desk"])
    monday = next_monday()
    book(
        client,
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, monday, 9).isoformat(),
        room=floor["Chair 1"].pk,
        course=course.pk,
    )
    ben = other_patient(clinic)
    assert (
        book(
            client,
            patient=ben.pk,
            kind="treatment",
            start=at(clinic, monday, 9, 30).isoformat(),
            room=floor["Chair 2"].pk,
            course=course_for(staff, ben).pk,
        ).status_code
        == 201
    )
    cy = other_patient(clinic, "MRN000003", "Cy")
    response = book(
        client,
        patient=cy.pk,
        kind="treatment",
        start=at(clinic, monday, 10).isoformat(),
        room=floor["Chair 3"].pk,
        course=course_for(staff, cy).pk,
    )
    assert codes(response) == ["nurse_capacity"]
    assert "3 patients would be in treatment at once" in response.json()["conflicts"][0]["message"]
    # A second nurse on shift makes room.
    second = add_staff(username="nurse2", clinic=clinic, role="nurse", password=PASSWORD)
    from ketaclinic.scheduling.models import StaffHours

    StaffHours.objects.create(
        clinic=clinic, membership=second, weekday=0, starts=time(8), ends=time(18)
    )
    assert (
        book(
            client,
            patient=cy.pk,
            kind="treatment",
            start=at(clinic, monday, 10).isoformat(),
            room=floor["Chair 3"].pk,
            course=course_for(staff, cy).pk,
        ).status_code
        == 201
    )


def test_a_nurse_away_that_day_does_not_count(clinic, staff, floor, patient, course, api_client):
    monday = next_monday()
    StaffException.objects.create(
        clinic=clinic, membership=staff["nurse"], day=monday, note="leave"
    )
    response = book(
        api_client(staff["front_desk"]),
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, monday, 9).isoformat(),
        room=floor["Chair 1"].pk,
        course=course.pk,
    )
    assert codes(response) == ["nurse_capacity"]


def test_it_refuses_when_the_patient_already_has_an_appointment(
    clinic, staff, floor, patient, course, api_client
):
    client = api_client(staff["front_desk"])
    monday = next_monday()
    book(
        client,
        patient=patient.pk,
        kind="consultation",
        start=at(clinic, monday, 9).isoformat(),
        room=floor["Consult 1"].pk,
    )
    response = book(
        client,
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, monday, 9, 30).isoformat(),
        room=floor["Chair 1"].pk,
        course=course.pk,
    )
    assert codes(response) == ["patient_busy"]


def test_it_refuses_when_the_clinic_is_closed(clinic, staff, floor, patient, course, api_client):
    client = api_client(staff["front_desk"])
    monday = next_monday()
    saturday = monday + timedelta(days=5)
    assert codes(
        book(
            client,
            patient=patient.pk,
            kind="treatment",
            start=at(clinic, saturday, 9).isoformat(),
            room=floor["Chair 1"].pk,
            course=course.pk,
        )
    ) == ["clinic_closed", "nurse_capacity"]
    # Starts inside opening hours but runs past 18:00.
    assert "clinic_closed" in codes(
        book(
            client,
            patient=patient.pk,
            kind="treatment",
            start=at(clinic, monday, 17).isoformat(),
            room=floor["Chair 1"].pk,
            course=course.pk,
        )
    )


def test_it_refuses_sessions_closer_than_the_protocol_spacing(
    clinic, staff, floor, patient, course, api_client
):
    client = api_client(staff["front_desk"])
    monday = next_monday()
    book(
        client,
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, monday, 9).isoformat(),
        room=floor["Chair 1"].pk,
        course=course.pk,
    )
    response = book(
        client,
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, monday + timedelta(days=1), 9).isoformat(),
        room=floor["Chair 1"].pk,
        course=course.pk,
    )
    assert codes(response) == ["spacing"]
    assert (
        "at least 48 hours apart; another is 24.0 hours away"
        in response.json()["conflicts"][0]["message"]
    )
    assert (
        book(
            client,
            patient=patient.pk,
            kind="treatment",
            start=at(clinic, monday + timedelta(days=2), 9).isoformat(),
            room=floor["Chair 1"].pk,
            course=course.pk,
        ).status_code
        == 201
    )


def test_it_refuses_a_staff_member_who_is_off_or_busy(clinic, staff, floor, patient, api_client):
    client = api_client(staff["front_desk"])
    monday = next_monday()
    saturday_like = at(clinic, monday, 7)  # before the therapist's shift
    response = book(
        client,
        patient=patient.pk,
        kind="integration",
        start=saturday_like.isoformat(),
        room=floor["Consult 1"].pk,
        staff=staff["therapist"].pk,
    )
    assert "staff_off" in codes(response)
    ben = other_patient(clinic)
    book(
        client,
        patient=patient.pk,
        kind="integration",
        start=at(clinic, monday, 9).isoformat(),
        room=floor["Consult 1"].pk,
        staff=staff["therapist"].pk,
    )
    second_room = Room.objects.create(clinic=clinic, name="Consult 2", kind="consult_room")
    response = book(
        client,
        patient=ben.pk,
        kind="integration",
        start=at(clinic, monday, 9, 30).isoformat(),
        room=second_room.pk,
        staff=staff["therapist"].pk,
    )
    assert codes(response) == ["staff_busy"]


def test_invalid_bookings_are_422_naming_the_field(
    clinic, staff, floor, patient, course, api_client
):
    client = api_client(staff["front_desk"])
    monday = next_monday()
    wrong_room = book(
        client,
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, monday, 9).isoformat(),
        room=floor["Consult 1"].pk,
        course=course.pk,
    )
    assert wrong_room.status_code == 422 and wrong_room.json()["detail"][0]["loc"] == [
        "body",
        "room",
    ]
    no_course = book(
        client,
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, monday, 9).isoformat(),
        room=floor["Chair 1"].pk,
    )
    assert no_course.json()["detail"][0]["loc"] == ["body", "course"]
    past = book(
        client,
        patient=patient.pk,
        kind="consultation",
        start="2020-01-06T09:00:00-05:00",
        room=floor["Consult 1"].pk,
    )
    assert past.json()["detail"][0]["loc"] == ["body", "start"]
    assert Appointment.objects.count() == 0


def test_roles_that_may_not_book_are_refused(clinic, staff, floor, patient, api_client):
    response = book(
        api_client(staff["therapist"]),
        patient=patient.pk,
        kind="consultation",
        start=at(clinic, next_monday(), 9).isoformat(),
        room=floor["Consult 1"].pk,
    )
    assert response.status_code == 403
    assert Appointment.objects.count() == 0


def test_a_move_gets_the_same_checks_and_status_changes_follow_the_flow(
    clinic, staff, floor, patient, course, api_client, as_if_today
):
    client = api_client(staff["front_desk"])
    monday = next_monday()
    as_if_today(monday)
    first = book(
        client,
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, monday, 9).isoformat(),
        room=floor["Chair 1"].pk,
        course=course.pk,
    ).json()
    second = book(
        client,
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, monday + timedelta(days=2), 9).isoformat(),
        room=floor["Chair 1"].pk,
        course=course.pk,
    ).json()
    url = f"/api/v1/appointments/{second['id']}"
    refused = client.patch(
        url,
        {"start": at(clinic, monday + timedelta(days=1), 9).isoformat()},
        content_type="application/json",
    )
    assert codes(refused) == ["spacing"]
    moved = client.patch(
        url,
        {
            "start": at(clinic, monday + timedelta(days=2), 13).isoformat(),
            "room": floor["Chair 2"].pk,
        },
        content_type="application/json",
    )
    assert moved.status_code == 200, moved.content
    appointment = Appointment.objects.get(pk=second["id"])
    assert (appointment.start, appointment.end, appointment.room_id) == (
        at(clinic, monday + timedelta(days=2), 13),
        at(clinic, monday + timedelta(days=2), 14, 40),
        floor["Chair 2"].pk,
    )
    first_url = f"/api/v1/appointments/{first['id']}"
    assert (
        client.patch(
            first_url, {"status": "completed"}, content_type="application/json"
        ).status_code
        == 422
    )
    assert client.patch(first_url, {"status": "cancelled"}, content_type="application/json").json()[
        "detail"
    ][0]["loc"] == ["body", "reason"]
    checked_in = client.patch(first_url, {"status": "checked_in"}, content_type="application/json")
    assert checked_in.json()["status"] == "checked_in"
    # In progress / completed come from the treatment session (tested below), not the desk.
    for status in ("in_progress", "completed"):
        refused = client.patch(first_url, {"status": status}, content_type="application/json")
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["body", "status"]
    assert Appointment.objects.get(pk=first["id"]).status == "checked_in"


def test_a_cancelled_appointment_frees_its_chair(clinic, staff, floor, patient, course, api_client):
    client = api_client(staff["front_desk"])
    monday = next_monday()
    first = book(
        client,
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, monday, 9).isoformat(),
        room=floor["Chair 1"].pk,
        course=course.pk,
    ).json()
    client.patch(
        f"/api/v1/appointments/{first['id']}",
        {"status": "cancelled", "reason": "Patient unwell."},
        content_type="application/json",
    )
    ben = other_patient(clinic)
    assert (
        book(
            client,
            patient=ben.pk,
            kind="treatment",
            start=at(clinic, monday, 9).isoformat(),
            room=floor["Chair 1"].pk,
            course=course_for(staff, ben).pk,
        ).status_code
        == 201
    )


def test_rooms_are_listed_for_staff_and_created_by_admins(clinic, staff, floor, api_client):
    listed = api_client(staff["front_desk"]).get("/api/v1/rooms").json()
    assert [r["name"] for r in listed] == ["Chair 1", "Chair 2", "Chair 3", "Consult 1"]
    created = api_client(staff["admin"]).post(
        "/api/v1/rooms",
        {"name": "Chair 4", "kind": "treatment_chair"},
        content_type="application/json",
    )
    assert created.status_code == 201 and created.json()["kind"] == "treatment_chair"
    duplicate = api_client(staff["admin"]).post(
        "/api/v1/rooms",
        {"name": "Chair 4", "kind": "treatment_chair"},
        content_type="application/json",
    )
    assert duplicate.status_code == 422
    refused = api_client(staff["front_desk"]).post(
        "/api/v1/rooms",
        {"name": "Chair 5", "kind": "treatment_chair"},
        content_type="application/json",
    )
    assert refused.status_code == 403
    assert Room.objects.filter(clinic=clinic).count() == 5


@pytest.mark.django_db(transaction=True)
def test_two_people_booking_the_last_free_chair_at_once_exactly_one_succeeds(
    clinic, staff, floor, patient
):
    Room.objects.filter(name__in=["Chair 2", "Chair 3"]).update(active=False)
    ben = other_patient(clinic)
    courses = {patient.pk: course_for(staff, patient), ben.pk: course_for(staff, ben)}
    start = at(clinic, next_monday(), 9)
    barrier = threading.Barrier(2)
    results: dict[int, str] = {}

    def attempt(who: Patient, membership) -> None:
        try:
            slot = services.make_slot(
                patient=who,
                kind="treatment",
                room=floor["Chair 1"],
                start=start,
                course=courses[who.pk],
            )
            barrier.wait()
            services.book_appointment(actor=actor(membership), slot=slot)
            results[who.pk] = "booked"
        except services.BookingConflict as exc:
            results[who.pk] = ",".join(c["code"] for c in exc.conflicts)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=attempt, args=(patient, staff["front_desk"])),
        threading.Thread(target=attempt, args=(ben, staff["nurse"])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == ["booked", "room_taken"]
    assert Appointment.objects.filter(room=floor["Chair 1"]).count() == 1


def test_admins_set_opening_hours_staff_hours_exceptions_and_capacity(
    clinic, staff, floor, patient, course, api_client
):
    admin = api_client(staff["admin"])
    saturday = {"hours": [{"weekday": 5, "starts": "09:00", "ends": "13:00"}]}
    assert admin.put(
        "/api/v1/opening-hours", saturday, content_type="application/json"
    ).json() == saturday | {"hours": [{"weekday": 5, "starts": "09:00:00", "ends": "13:00:00"}]}
    overlap = {
        "hours": [
            {"weekday": 1, "starts": "09:00", "ends": "13:00"},
            {"weekday": 1, "starts": "12:00", "ends": "15:00"},
        ]
    }
    refused = admin.put("/api/v1/opening-hours", overlap, content_type="application/json")
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "hours"]
    nurse = staff["nurse"].pk
    admin.put(f"/api/v1/staff/{nurse}/hours", saturday, content_type="application/json")
    assert (
        admin.patch(
            "/api/v1/scheduling-settings", {"nurse_capacity": 1}, content_type="application/json"
        ).json()["nurse_capacity"]
        == 1
    )
    assert (
        admin.patch(
            "/api/v1/scheduling-settings", {"nurse_capacity": 9}, content_type="application/json"
        ).status_code
        == 422
    )
    saturday_date = next_monday() + timedelta(days=5)
    client = api_client(staff["front_desk"])
    first = book(
        client,
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, saturday_date, 9).isoformat(),
        room=floor["Chair 1"].pk,
        course=course.pk,
    )
    assert first.status_code == 201, first.content
    ben = other_patient(clinic)
    second = book(
        client,
        patient=ben.pk,
        kind="treatment",
        start=at(clinic, saturday_date, 9).isoformat(),
        room=floor["Chair 2"].pk,
        course=course_for(staff, ben).pk,
    )
    assert codes(second) == ["nurse_capacity"]
    away = admin.post(
        f"/api/v1/staff/{nurse}/hour-exceptions",
        {"day": str(saturday_date + timedelta(days=7))},
        content_type="application/json",
    )
    assert away.status_code == 201
    later = book(
        client,
        patient=ben.pk,
        kind="treatment",
        start=at(clinic, saturday_date + timedelta(days=7), 9).isoformat(),
        room=floor["Chair 2"].pk,
        course=course_for(staff, ben).pk,
    )
    assert codes(later) == ["nurse_capacity"]
    assert (
        api_client(staff["front_desk"])
        .put("/api/v1/opening-hours", saturday, content_type="application/json")
        .status_code
        == 403
    )


def test_a_treatment_goes_in_progress_and_completed_only_through_its_session(
    clinic, staff, floor, patient, course, api_client, login, no_gate, as_if_today
):
    as_if_today(next_monday())
    from ketaclinic.treatment import services as treatment

    services.activate_course(actor=actor(staff["physician"]), course=course)
    desk = api_client(staff["front_desk"])
    booked = book(
        desk,
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, next_monday(), 9).isoformat(),
        room=floor["Chair 1"].pk,
        course=course.pk,
    ).json()
    url = f"/api/v1/appointments/{booked['id']}"
    desk.patch(url, {"status": "checked_in"}, content_type="application/json")
    # The page offers no shortcut either.
    page = login(staff["front_desk"]).get(f"/schedule/appointments/{booked['id']}/")
    assert 'value="in_progress"' not in page.content.decode()
    assert 'value="no_show"' in page.content.decode()
    refused = desk.patch(url, {"status": "in_progress"}, content_type="application/json")
    assert refused.status_code == 422
    assert "through its treatment session" in refused.json()["detail"][0]["msg"]
    assert Appointment.objects.get(pk=booked["id"]).status == "checked_in"
    # The nurse starts the session: the treatment app moves the appointment on itself.
    treatment.start_session(
        actor=actor(staff["nurse"]), appointment=Appointment.objects.get(pk=booked["id"])
    )
    assert Appointment.objects.get(pk=booked["id"]).status == "in_progress"


def test_a_move_takes_the_clinic_lock_before_the_appointments(
    clinic, staff, floor, patient, course
):
    """Lock order (clinic, rooms, then appointments) is the same as a series booking's."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    appointment = services.book_appointment(
        actor=actor(staff["front_desk"]),
        slot=services.make_slot(
            patient=patient,
            kind="treatment",
            room=floor["Chair 1"],
            start=at(clinic, next_monday(), 9),
            course=course,
        ),
    )
    with CaptureQueriesContext(connection) as queries:
        services.update_appointment(
            actor=actor(staff["front_desk"]),
            appointment=appointment,
            start=at(clinic, next_monday(), 11),
        )
    sql = [q["sql"] for q in queries.captured_queries]
    clinic_lock = next(
        i for i, q in enumerate(sql) if 'FROM "scheduling_clinicschedulingsettings"' in q
    )
    appointment_lock = next(
        i
        for i, q in enumerate(sql)
        if q.startswith('SELECT "scheduling_appointment"') and f'"id" = {appointment.pk}' in q
    )
    assert clinic_lock < appointment_lock
    if connection.features.has_select_for_update:  # PostgreSQL: the locks themselves
        locks = [q for q in sql if "FOR UPDATE" in q]
        assert 'FROM "scheduling_clinicschedulingsettings"' in locks[0]
        assert 'FROM "scheduling_room"' in locks[1]
        assert locks[2] == sql[appointment_lock]


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_the_move_page_refuses_a_day_years_away_by_field_and_moves_nothing(
    clinic, staff, floor, patient, api_client, login, as_if_today, day
):
    monday = next_monday()
    as_if_today(monday)
    booked = book(
        api_client(staff["front_desk"]),
        patient=patient.pk,
        kind="consultation",
        start=at(clinic, monday, 9).isoformat(),
        room=floor["Consult 1"].pk,
    ).json()
    before = Appointment.objects.filter(pk=booked["id"]).values().get()
    page = login(staff["front_desk"]).post(
        f"/schedule/appointments/{booked['id']}/",
        {"day": day, "start_time": "22:30", "room": floor["Consult 1"].pk},
    )
    assert page.status_code == 200
    assert "Choose a day within two years of today." in page.content.decode()
    assert Appointment.objects.filter(pk=booked["id"]).values().get() == before
