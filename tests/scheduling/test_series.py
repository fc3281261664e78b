"""Series planning and booking: a proposal, all-or-nothing booking, re-planning after a move."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from ketaclinic.audit.models import AuditEvent
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling import services
from ketaclinic.scheduling.models import Appointment
from tests.scheduling.conftest import actor, at, next_monday

pytestmark = pytest.mark.django_db


def post(client, url, body):
    return client.post(url, body, content_type="application/json")


def local(clinic, value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(clinic.tz)


def test_it_proposes_the_whole_induction_series_and_saves_nothing(
    clinic, staff, floor, course, api_client
):
    response = post(
        api_client(staff["front_desk"]),
        f"/api/v1/courses/{course.pk}/plan",
        {"weekdays": [0, 2, 4], "earliest": "10:00", "latest_start": "12:00"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    monday = next_monday()
    assert [local(clinic, s["start"]) for s in body["sessions"]] == [
        at(clinic, monday + timedelta(days=d), 10) for d in (0, 2, 4, 7, 9, 11)
    ]
    assert {s["room_name"] for s in body["sessions"]} == {"Chair 1"}
    assert all(s["in_window"] for s in body["sessions"])
    assert (body["unplaced"], body["kept"]) == (0, 0)
    assert body["window_end"] == str(monday + timedelta(days=21))
    assert Appointment.objects.count() == 0


def test_booking_a_proposal_books_every_session(clinic, staff, floor, course, api_client):
    client = api_client(staff["front_desk"])
    proposal = post(client, f"/api/v1/courses/{course.pk}/plan", {}).json()
    sessions = [{"start": s["start"], "room": s["room"]} for s in proposal["sessions"]]
    response = post(client, f"/api/v1/courses/{course.pk}/book", {"sessions": sessions})
    assert response.status_code == 201, response.content
    assert len(response.json()) == 6
    assert Appointment.objects.filter(course=course, kind="treatment").count() == 6
    assert AuditEvent.objects.filter(action="book", patient_id=course.patient_id).count() == 6
    # The induction is fully booked: one more waits for the end-of-induction review.
    extra = post(
        client,
        f"/api/v1/courses/{course.pk}/book",
        {
            "sessions": [
                {
                    "start": at(clinic, next_monday() + timedelta(days=14), 9).isoformat(),
                    "room": floor["Chair 2"].pk,
                }
            ]
        },
    )
    assert extra.status_code == 409
    assert [c["code"] for c in extra.json()["conflicts"]] == ["induction_review_due"]
    assert Appointment.objects.filter(course=course, kind="treatment").count() == 6


def test_a_series_with_one_bad_session_books_nothing(clinic, staff, floor, course, api_client):
    client = api_client(staff["front_desk"])
    proposal = post(client, f"/api/v1/courses/{course.pk}/plan", {}).json()
    # Someone takes the chair of the fourth session meanwhile.
    fourth = proposal["sessions"][3]
    ben = Patient.objects.create(
        clinic=clinic,
        mrn="MRN000009",
        given_name="Ben",
        family_name="Okoro",
        birth_date=date(1990, 1, 2),
        sex_at_birth="male",
        weight_kg=80,
    )
    ben_course = services.create_course(
        actor=actor(staff["physician"]),
        patient=ben,
        protocol_code="ketamine-iv-mood",
        start_date=next_monday(),
        dose_mg_per_kg=0.5,
    )
    slot = services.make_slot(
        patient=ben,
        kind="treatment",
        room=floor["Chair 1"],
        start=datetime.fromisoformat(fourth["start"]),
        course=ben_course,
    )
    services.book_appointment(actor=actor(staff["front_desk"]), slot=slot)
    sessions = [{"start": s["start"], "room": s["room"]} for s in proposal["sessions"]]
    response = post(client, f"/api/v1/courses/{course.pk}/book", {"sessions": sessions})
    assert response.status_code == 409
    assert response.json()["conflicts"] == [
        {
            "code": "room_taken",
            "message": "That room or chair is already booked then.",
            "session": 4,
        }
    ]
    assert Appointment.objects.filter(course=course).count() == 0
    assert not AuditEvent.objects.filter(action="book", patient_id=course.patient_id).exists()


def test_moving_one_session_replans_the_rest_and_shows_the_changes_before_saving(
    clinic, staff, floor, course, api_client
):
    client = api_client(staff["front_desk"])
    proposal = post(client, f"/api/v1/courses/{course.pk}/plan", {}).json()
    post(
        client,
        f"/api/v1/courses/{course.pk}/book",
        {"sessions": [{"start": s["start"], "room": s["room"]} for s in proposal["sessions"]]},
    )
    booked = list(Appointment.objects.filter(course=course).order_by("start"))
    monday = next_monday()
    # Move the second session (Wednesday) to Thursday 14:00: the later ones must shift.
    new_start = at(clinic, monday + timedelta(days=3), 14)
    replan = post(
        client,
        f"/api/v1/courses/{course.pk}/plan",
        {"move": {"appointment": booked[1].pk, "start": new_start.isoformat()}},
    ).json()
    changes = [(s["appointment"], local(clinic, s["start"])) for s in replan["sessions"]]
    assert changes[0] == (booked[1].pk, new_start)
    assert [a for a, _ in changes[1:]] == [b.pk for b in booked[2:]]
    starts = [new_start] + [start for _, start in changes[1:]]
    assert all(b - a >= timedelta(hours=48) for a, b in zip(starts, starts[1:], strict=False))
    assert replan["kept"] == 1
    # Nothing moved yet.
    assert [a.start for a in Appointment.objects.filter(course=course).order_by("start")] == [
        b.start for b in booked
    ]
    confirm = post(
        client,
        f"/api/v1/courses/{course.pk}/book",
        {
            "sessions": [
                {"start": s["start"], "room": s["room"], "appointment": s["appointment"]}
                for s in replan["sessions"]
            ]
        },
    )
    assert confirm.status_code == 201, confirm.content
    after = list(Appointment.objects.filter(course=course).order_by("start"))
    assert len(after) == 6
    assert [a.start for a in after] == [booked[0].start, *starts]


def test_plan_refuses_a_move_into_a_conflict(clinic, staff, floor, course, api_client):
    client = api_client(staff["front_desk"])
    proposal = post(client, f"/api/v1/courses/{course.pk}/plan", {}).json()
    post(
        client,
        f"/api/v1/courses/{course.pk}/book",
        {"sessions": [{"start": s["start"], "room": s["room"]} for s in proposal["sessions"]]},
    )
    booked = list(Appointment.objects.filter(course=course).order_by("start"))
    saturday = next_monday() + timedelta(days=5)
    response = post(
        client,
        f"/api/v1/courses/{course.pk}/plan",
        {"move": {"appointment": booked[2].pk, "start": at(clinic, saturday, 10).isoformat()}},
    )
    assert response.status_code == 409
    assert "clinic_closed" in [c["code"] for c in response.json()["conflicts"]]


def test_therapists_cannot_plan_or_book(staff, floor, course, api_client):
    client = api_client(staff["therapist"])
    assert post(client, f"/api/v1/courses/{course.pk}/plan", {}).status_code == 403
    assert post(client, f"/api/v1/courses/{course.pk}/book", {"sessions": []}).status_code == 403
