"""Treatments get a nurse: on booking, in a series, on a move; the nurse's feed and filter show them."""

from __future__ import annotations

import re
from datetime import date, time, timedelta

import pytest

from ketaclinic.accounts.services import add_staff
from ketaclinic.audit.models import AuditEvent
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling import services
from ketaclinic.scheduling.models import Appointment, StaffException, StaffHours
from tests.conftest import PASSWORD
from tests.scheduling.conftest import actor, at, next_monday

pytestmark = pytest.mark.django_db


def post(client, url, body):
    return client.post(url, body, content_type="application/json")


def second_nurse(clinic):
    nurse = add_staff(
        username="adeyemi",
        clinic=clinic,
        role="nurse",
        password=PASSWORD,
        first_name="Tolu",
        last_name="Adeyemi",
    )
    for weekday in range(5):
        StaffHours.objects.create(
            clinic=clinic, membership=nurse, weekday=weekday, starts=time(8), ends=time(18)
        )
    return nurse


def new_patient(clinic, n):
    return Patient.objects.create(
        clinic=clinic,
        mrn=f"MRN00010{n}",
        given_name=f"Pat{n}",
        family_name="Okoro",
        birth_date=date(1990, 1, 2),
        sex_at_birth="male",
        weight_kg=80,
        height_cm=180,
    )


def new_course(staff, patient):
    return services.create_course(
        actor=actor(staff["physician"]),
        patient=patient,
        protocol_code="ketamine-iv-mood",
        start_date=next_monday(),
        dose_mg_per_kg=0.5,
    )


def book_treatment(client, patient, course, room, start):
    return post(
        client,
        "/api/v1/appointments",
        {
            "patient": patient.pk,
            "kind": "treatment",
            "start": start.isoformat(),
            "room": room.pk,
            "course": course.pk,
        },
    )


@pytest.fixture
def desk(staff, api_client):
    """The front desk's API client."""
    return api_client(staff["front_desk"])


def test_a_single_treatment_gets_a_nurse_with_room_for_one_more_patient(
    clinic, staff, floor, patient, course, desk
):
    adeyemi = second_nurse(clinic)
    monday = next_monday()
    start = at(clinic, monday, 9)
    chairs = [floor["Chair 1"], floor["Chair 2"], floor["Chair 3"]]
    patients = [patient, new_patient(clinic, 1), new_patient(clinic, 2)]
    courses = [course, new_course(staff, patients[1]), new_course(staff, patients[2])]
    assigned = []
    for who, their_course, chair in zip(patients, courses, chairs, strict=True):
        response = book_treatment(desk, who, their_course, chair, start)
        assert response.status_code == 201, response.content
        assigned.append(response.json()["staff"])
    # The least loaded nurse each time (the lower id on a tie): 1 + 1, then 2 + 1.
    okafor = staff["nurse"].pk
    assert assigned == [okafor, adeyemi.pk, okafor]
    assert list(Appointment.objects.order_by("pk").values_list("staff_id", flat=True)) == assigned
    book_audit = AuditEvent.objects.filter(action="book").order_by("pk")
    assert [e.detail["staff"] for e in book_audit] == assigned


def test_no_booking_when_no_single_nurse_can_take_the_whole_session(
    clinic, staff, floor, patient, course, desk
):
    # Capacity 1, two nurses: Okafor has a patient 09:00-10:40, Adeyemi one 10:40-12:20.
    # A 09:50-11:30 session always has a nurse's place free overall, but no one nurse
    # is free for all of it.
    services.update_settings(actor=actor(staff["admin"]), nurse_capacity=1)
    adeyemi = second_nurse(clinic)
    monday = next_monday()
    for n, (nurse, chair, hour, minute) in enumerate(
        [(staff["nurse"], "Chair 2", 9, 0), (adeyemi, "Chair 3", 10, 40)], start=1
    ):
        other = new_patient(clinic, n)
        response = post(
            desk,
            "/api/v1/appointments",
            {
                "patient": other.pk,
                "kind": "treatment",
                "start": at(clinic, monday, hour, minute).isoformat(),
                "room": floor[chair].pk,
                "course": new_course(staff, other).pk,
                "staff": nurse.pk,
            },
        )
        assert response.status_code == 201, response.content
    response = book_treatment(desk, patient, course, floor["Chair 1"], at(clinic, monday, 9, 50))
    assert response.status_code == 409
    assert [c["code"] for c in response.json()["conflicts"]] == ["nurse_capacity"]
    assert response.json()["conflicts"][0]["message"].startswith(
        "No nurse is free for the whole session"
    )
    assert not Appointment.objects.filter(patient=patient).exists()


def test_a_series_is_planned_and_booked_with_its_nurse(clinic, staff, floor, course, api_client):
    client = api_client(staff["front_desk"])
    proposal = post(client, f"/api/v1/courses/{course.pk}/plan", {}).json()
    nurse = staff["nurse"]
    assert {(s["staff"], s["staff_name"]) for s in proposal["sessions"]} == {
        (nurse.pk, "Grace Okafor")
    }
    sessions = [{"start": s["start"], "room": s["room"]} for s in proposal["sessions"]]
    booked = post(client, f"/api/v1/courses/{course.pk}/book", {"sessions": sessions})
    assert booked.status_code == 201, booked.content
    assert {a["staff"] for a in booked.json()} == {nurse.pk}
    assert set(Appointment.objects.values_list("staff_id", flat=True)) == {nurse.pk}


def test_the_series_page_shows_the_nurse_of_each_session(clinic, staff, floor, course, login):
    page = login(staff["front_desk"]).post(
        "/schedule/series/",
        {
            "action": "plan",
            "course": course.pk,
            "weekdays": ["0", "2", "4"],
            "earliest": "09:00",
            "latest_start": "16:00",
        },
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert '<th scope="col">Nurse</th>' in html
    assert html.count("<td>Grace Okafor</td>") == 6


def test_a_move_keeps_the_nurse_when_free_and_else_takes_another(
    clinic, staff, floor, patient, course, desk
):
    adeyemi = second_nurse(clinic)
    client = desk
    monday = next_monday()
    created = book_treatment(desk, patient, course, floor["Chair 1"], at(clinic, monday, 9))
    url = f"/api/v1/appointments/{created.json()['id']}"
    assert created.json()["staff"] == staff["nurse"].pk
    kept = client.patch(
        url, {"start": at(clinic, monday, 13).isoformat()}, content_type="application/json"
    )
    assert kept.json()["staff"] == staff["nurse"].pk
    wednesday = monday + timedelta(days=2)
    StaffException.objects.create(clinic=clinic, membership=staff["nurse"], day=wednesday)
    moved = client.patch(
        url, {"start": at(clinic, wednesday, 9).isoformat()}, content_type="application/json"
    )
    assert moved.status_code == 200, moved.content
    assert moved.json()["staff"] == adeyemi.pk  # Okafor is away that day


def test_a_chosen_nurse_is_checked_as_chosen_and_null_means_any_free_nurse(
    clinic, staff, floor, patient, course, desk
):
    adeyemi = second_nurse(clinic)
    client = desk
    monday = next_monday()
    StaffException.objects.create(clinic=clinic, membership=adeyemi, day=monday)
    created = book_treatment(desk, patient, course, floor["Chair 1"], at(clinic, monday, 9))
    url = f"/api/v1/appointments/{created.json()['id']}"
    refused = client.patch(url, {"staff": adeyemi.pk}, content_type="application/json")
    assert refused.status_code == 409
    assert [c["code"] for c in refused.json()["conflicts"]] == ["staff_off"]
    assert Appointment.objects.get(pk=created.json()["id"]).staff_id == staff["nurse"].pk
    tuesday = monday + timedelta(days=1)
    chosen = client.patch(
        url,
        {"start": at(clinic, tuesday, 9).isoformat(), "staff": adeyemi.pk},
        content_type="application/json",
    )
    assert chosen.json()["staff"] == adeyemi.pk
    any_free = client.patch(url, {"staff": None}, content_type="application/json")
    assert any_free.status_code == 200, any_free.content
    assert any_free.json()["staff"] == staff["nurse"].pk  # the lower id, both free


def test_the_move_form_can_change_the_nurse(clinic, staff, floor, patient, course, login, desk):
    adeyemi = second_nurse(clinic)
    monday = next_monday()
    created = book_treatment(desk, patient, course, floor["Chair 1"], at(clinic, monday, 9))
    appointment = Appointment.objects.get(pk=created.json()["id"])
    client = login(staff["front_desk"])
    page = client.get(f"/schedule/appointments/{appointment.pk}/").content.decode()
    assert "Any free nurse" in page and "Tolu Adeyemi (nurse)" in page
    moved = client.post(
        f"/schedule/appointments/{appointment.pk}/",
        {
            "day": str(monday),
            "start_time": "09:00",
            "room": floor["Chair 1"].pk,
            "staff": adeyemi.pk,
        },
    )
    assert moved.status_code == 302
    appointment.refresh_from_db()
    assert appointment.staff_id == adeyemi.pk


def test_the_nurses_feed_and_the_staff_filter_show_her_treatments(
    clinic, staff, floor, patient, course, login, client, desk
):
    monday = next_monday()
    created = book_treatment(desk, patient, course, floor["Chair 1"], at(clinic, monday, 9))
    appointment_id = created.json()["id"]
    nurse = login(staff["nurse"])
    board = nurse.get(f"/schedule/?day={monday}&staff={staff['nurse'].pk}").content.decode()
    assert patient.display_name in board
    page = nurse.post("/schedule/calendar-feed/")
    url = re.search(r"http://127.0.0.1:8000(/ics/[^<\s]+\.ics)", page.content.decode()).group(1)
    feed = client.get(url, REMOTE_ADDR="203.0.113.9")
    body = feed.content.decode()
    assert f"UID:appointment-{appointment_id}@ketaclinic" in body
    assert "SUMMARY:Treatment · Chair 1" in body and "Garcia" not in body
    [event] = AuditEvent.objects.filter(action="calendar_feed_read")
    assert (event.user_id, event.clinic_id, event.ip) == (
        staff["nurse"].user_id,
        clinic.pk,
        "203.0.113.9",
    )
    assert event.detail == {"membership": staff["nurse"].pk, "appointments": [appointment_id]}
    assert event.patient_id is None
