"""Closures: a closed day refuses single bookings and series, and the planner skips it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ketaclinic.audit.models import AuditEvent
from ketaclinic.scheduling import services
from ketaclinic.scheduling.models import Appointment, ClinicClosure
from tests.scheduling.conftest import actor, at, next_monday

pytestmark = pytest.mark.django_db


def post(client, url, body):
    return client.post(url, body, content_type="application/json")


def close(staff, day, ends_on=None, reason="Christmas Day"):
    return services.add_closure(
        actor=actor(staff["admin"]), starts_on=day, ends_on=ends_on, reason=reason
    )


def spoken(day):
    return f"{day:%A} {day.day} {day:%B %Y}"


def test_a_closed_day_refuses_a_booking_and_says_why(clinic, staff, floor, patient, api_client):
    wednesday = next_monday() + timedelta(days=2)
    close(staff, wednesday)
    response = post(
        api_client(staff["front_desk"]),
        "/api/v1/appointments",
        {
            "patient": patient.pk,
            "kind": "consultation",
            "room": floor["Consult 1"].pk,
            "start": at(clinic, wednesday, 10).isoformat(),
        },
    )
    assert response.status_code == 409
    assert response.json()["conflicts"] == [
        {
            "code": "clinic_closed",
            "message": f"The clinic is closed on {spoken(wednesday)} (Christmas Day).",
        }
    ]
    assert Appointment.objects.count() == 0


def test_the_day_after_a_closure_books_normally(clinic, staff, floor, patient, api_client):
    wednesday = next_monday() + timedelta(days=2)
    close(staff, wednesday)
    response = post(
        api_client(staff["front_desk"]),
        "/api/v1/appointments",
        {
            "patient": patient.pk,
            "kind": "consultation",
            "room": floor["Consult 1"].pk,
            "start": at(clinic, wednesday + timedelta(days=1), 10).isoformat(),
        },
    )
    assert response.status_code == 201, response.content


def test_the_series_planner_skips_a_closed_range(clinic, staff, floor, course, api_client):
    monday = next_monday()
    # Closed Wednesday to the next Monday: the series jumps over all five days.
    close(staff, monday + timedelta(days=2), monday + timedelta(days=7), reason="Holidays")
    response = post(
        api_client(staff["front_desk"]),
        f"/api/v1/courses/{course.pk}/plan",
        {"weekdays": [0, 2, 4], "earliest": "10:00", "latest_start": "12:00"},
    )
    assert response.status_code == 200, response.content
    starts = [s["start"] for s in response.json()["sessions"]]
    days = [clinic.today().fromisoformat(s[:10]) for s in starts]
    assert days == [monday + timedelta(days=d) for d in (0, 9, 11, 14, 16, 18)]
    assert Appointment.objects.count() == 0


def test_a_series_with_a_session_on_a_closed_day_books_nothing(
    clinic, staff, floor, course, api_client
):
    monday = next_monday()
    client = api_client(staff["front_desk"])
    proposal = post(client, f"/api/v1/courses/{course.pk}/plan", {}).json()
    first_day = clinic.today().fromisoformat(proposal["sessions"][1]["start"][:10])
    close(staff, first_day, reason="Staff training")
    sessions = [{"start": s["start"], "room": s["room"]} for s in proposal["sessions"]]
    response = post(client, f"/api/v1/courses/{course.pk}/book", {"sessions": sessions})
    assert response.status_code == 409
    messages = [c["message"] for c in response.json()["conflicts"]]
    assert f"The clinic is closed on {spoken(first_day)} (Staff training)." in messages
    assert Appointment.objects.count() == 0
    assert monday <= first_day


def test_closures_api_adds_lists_and_removes(clinic, staff, api_client):
    client = api_client(staff["admin"])
    day = next_monday() + timedelta(days=3)
    created = post(client, "/api/v1/closures", {"starts_on": str(day), "reason": "Inventory day"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["starts_on"], body["ends_on"], body["reason"]) == (
        str(day),
        str(day),
        "Inventory day",
    )
    assert body["booked_on_these_days"] == 0
    listed = api_client(staff["front_desk"]).get("/api/v1/closures").json()
    assert [c["id"] for c in listed] == [body["id"]]
    gone = client.delete(f"/api/v1/closures/{body['id']}")
    assert gone.status_code == 204
    assert ClinicClosure.objects.count() == 0
    assert list(
        AuditEvent.objects.filter(object_type="scheduling.clinicclosure")
        .values_list("action", flat=True)
        .order_by("pk")
    ) == ["create", "delete"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": "x"}, "starts_on"),
        ({"starts_on": "NEXT", "reason": ""}, "reason"),
        ({"starts_on": "NEXT", "reason": "   "}, "reason"),
        ({"starts_on": "NEXT", "reason": "a\u0000b"}, "reason"),
        ({"starts_on": "NEXT", "ends_on": "PAST", "reason": "x"}, "ends_on"),
        ({"starts_on": "PAST", "reason": "x"}, "starts_on"),
        ({"starts_on": "9999-12-31", "reason": "x"}, "starts_on"),
        ({"starts_on": "NEXT", "ends_on": "FAR", "reason": "x"}, "ends_on"),
        ({"starts_on": "NEXT", "reason": "x" * 10_000}, "reason"),
    ],
)
def test_closures_api_refuses_bad_input_naming_the_field(staff, api_client, body, field):
    monday = next_monday()
    swap = {
        "NEXT": str(monday),
        "PAST": str(monday - timedelta(days=30)),
        "FAR": str(monday + timedelta(days=400)),
    }
    body = {k: swap.get(v, v) for k, v in body.items()}
    response = post(api_client(staff["admin"]), "/api/v1/closures", body)
    assert response.status_code == 422, response.content
    assert field in [d["loc"][-1] for d in response.json()["detail"]]
    assert ClinicClosure.objects.count() == 0


def test_an_overlapping_closure_is_refused(staff, api_client):
    day = next_monday()
    close(staff, day, day + timedelta(days=2))
    response = post(
        api_client(staff["admin"]),
        "/api/v1/closures",
        {"starts_on": str(day + timedelta(days=1)), "reason": "Again"},
    )
    assert response.status_code == 422
    assert ClinicClosure.objects.count() == 1


@pytest.mark.parametrize("role", ["physician", "nurse", "therapist", "front_desk"])
def test_only_admins_close_the_clinic(staff, api_client, login, role):
    day = str(next_monday())
    response = post(api_client(staff[role]), "/api/v1/closures", {"starts_on": day, "reason": "x"})
    assert response.status_code == 403
    page = login(staff[role]).post("/setup/closures/", {"starts_on": day, "reason": "x"})
    assert page.status_code == 403
    assert ClinicClosure.objects.count() == 0


def test_another_clinics_closure_is_not_found(staff, outsider, api_client, other_clinic):
    from ketaclinic.accounts.services import add_staff

    closure = close(staff, next_monday())
    their_admin = add_staff(username="admin.north", clinic=other_clinic, role="admin")
    response = api_client(their_admin).delete(f"/api/v1/closures/{closure.pk}")
    assert response.status_code == 404
    assert ClinicClosure.objects.count() == 1


def test_the_page_warns_about_appointments_already_booked_then(
    clinic, staff, floor, patient, login
):
    wednesday = next_monday() + timedelta(days=2)
    slot = services.make_slot(
        patient=patient,
        kind="consultation",
        room=floor["Consult 1"],
        start=at(clinic, wednesday, 9),
    )
    services.book_appointment(actor=actor(staff["front_desk"]), slot=slot)
    response = login(staff["admin"]).post(
        "/setup/closures/",
        {"starts_on": str(wednesday), "reason": "Burst pipe"},
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "Closed: Burst pipe." in text
    assert "1 appointment is booked on these days: move or cancel them from the schedule." in text
    assert Appointment.objects.get().status == "booked"
