"""A course's rules on single bookings and moves: session count, window, chair time, its end."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from ketaclinic.audit.models import AuditEvent
from ketaclinic.scheduling import services
from ketaclinic.scheduling.models import Appointment
from tests.scheduling.conftest import actor, at, next_monday

pytestmark = pytest.mark.django_db


def book(client, **body):
    return client.post("/api/v1/appointments", body, content_type="application/json")


def book_treatment(staff, patient, course, room, start):
    return services.book_appointment(
        actor=actor(staff["front_desk"]),
        slot=services.make_slot(
            patient=patient, kind="treatment", room=room, start=start, course=course
        ),
    )


def conflicts(response):
    assert response.status_code == 409, response.content
    return [(c["code"], c["message"]) for c in response.json()["conflicts"]]


# --- the session count and the window apply to a single booking too ------------------------


def test_a_single_booking_beyond_the_courses_session_count_is_refused(
    clinic, staff, floor, patient, course, api_client
):
    monday = next_monday()
    for days in (0, 2, 4, 7, 9, 11):  # the six planned IV infusions
        book_treatment(
            staff, patient, course, floor["Chair 1"], at(clinic, monday, 9) + timedelta(days=days)
        )
    response = book(
        api_client(staff["front_desk"]),
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, monday + timedelta(days=14), 9).isoformat(),
        room=floor["Chair 1"].pk,
        course=course.pk,
    )
    # A seventh session is maintenance: it waits for the end-of-induction review.
    assert conflicts(response) == [
        (
            "induction_review_due",
            "The induction series has 6 sessions. A physician records the end-of-induction "
            "review (benefit, and continue, change or stop) before any maintenance session can "
            "be booked.",
        )
    ]
    assert Appointment.objects.filter(course=course).count() == 6


def test_a_cancelled_session_frees_its_place_in_the_course(
    clinic, staff, floor, patient, course, api_client
):
    monday = next_monday()
    booked = [
        book_treatment(
            staff, patient, course, floor["Chair 1"], at(clinic, monday, 9) + timedelta(days=d)
        )
        for d in (0, 2, 4, 7, 9, 11)
    ]
    services.update_appointment(
        actor=actor(staff["front_desk"]), appointment=booked[-1], status="cancelled", reason="Ill."
    )
    response = book(
        api_client(staff["front_desk"]),
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, monday + timedelta(days=14), 9).isoformat(),
        room=floor["Chair 1"].pk,
        course=course.pk,
    )
    assert response.status_code == 201, response.content


def test_a_single_booking_outside_the_courses_window_is_refused(
    clinic, staff, floor, patient, api_client
):
    client = api_client(staff["front_desk"])
    monday = next_monday(2)  # the course starts on this Monday; 21-day window + 28 days late
    course = services.create_course(
        actor=actor(staff["physician"]),
        patient=patient,
        protocol_code="ketamine-iv-mood",
        start_date=monday,
        dose_mg_per_kg=0.5,
    )
    before = book(
        client,
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, monday - timedelta(days=5), 9).isoformat(),  # the Wednesday before
        room=floor["Chair 1"].pk,
        course=course.pk,
    )
    assert conflicts(before) == [
        (
            "course_window",
            f"The course starts on {monday:%a %d %b %Y}; a session cannot be before it.",
        )
    ]
    too_late = monday + timedelta(days=21 + 28)  # a Monday, the first day past the limit
    after = book(
        client,
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, too_late, 9).isoformat(),
        room=floor["Chair 1"].pk,
        course=course.pk,
    )
    assert conflicts(after) == [
        (
            "course_window",
            f"The protocol's window for this course ends on "
            f"{monday + timedelta(days=20):%a %d %b %Y}; a session may be at most 28 days "
            f"after it (until {too_late - timedelta(days=1):%a %d %b %Y}, clinic policy).",
        )
    ]
    assert not Appointment.objects.exists()
    last_allowed = book(
        client,
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, too_late - timedelta(days=3), 9).isoformat(),  # the Friday before
        room=floor["Chair 1"].pk,
        course=course.pk,
    )
    assert last_allowed.status_code == 201, last_allowed.content


def test_a_move_outside_the_window_is_refused(clinic, staff, floor, patient, course, api_client):
    monday = next_monday()
    appointment = book_treatment(staff, patient, course, floor["Chair 1"], at(clinic, monday, 9))
    response = api_client(staff["front_desk"]).patch(
        f"/api/v1/appointments/{appointment.pk}",
        {"start": at(clinic, monday + timedelta(days=56), 9).isoformat()},
        content_type="application/json",
    )
    assert [code for code, _ in conflicts(response)] == ["course_window"]
    appointment.refresh_from_db()
    assert appointment.start == at(clinic, monday, 9)


# --- a treatment's length --------------------------------------------------------------------


def test_a_treatment_cannot_be_shorter_than_the_protocols_chair_time(
    clinic, staff, floor, patient, course, api_client
):
    client = api_client(staff["front_desk"])
    monday = next_monday()
    short = book(
        client,
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, monday, 9).isoformat(),
        end=at(clinic, monday, 10, 39).isoformat(),  # 99 of the 100 minutes
        room=floor["Chair 1"].pk,
        course=course.pk,
    )
    assert short.status_code == 422
    [error] = short.json()["detail"]
    assert error["loc"] == ["body", "end"]
    assert error["msg"] == (
        "A treatment under ketamine-iv-mood needs at least 100 minutes in the chair "
        "(dose, observation and turnover)."
    )
    assert not Appointment.objects.exists()
    longer = book(
        client,
        patient=patient.pk,
        kind="treatment",
        start=at(clinic, monday, 9).isoformat(),
        end=at(clinic, monday, 11, 30).isoformat(),
        room=floor["Chair 1"].pk,
        course=course.pk,
    )
    assert longer.status_code == 201, longer.content
    shortened = client.patch(
        f"/api/v1/appointments/{longer.json()['id']}",
        {"end": at(clinic, monday, 10).isoformat()},
        content_type="application/json",
    )
    assert shortened.status_code == 422
    assert shortened.json()["detail"][0]["loc"] == ["body", "end"]
    assert Appointment.objects.get(pk=longer.json()["id"]).end == at(clinic, monday, 11, 30)


# --- ending a course -------------------------------------------------------------------------


def test_stopping_a_course_cancels_its_future_sessions_with_the_reason(
    clinic, staff, floor, patient, course, api_client, as_if_today
):
    monday = next_monday()
    as_if_today(monday)
    here = book_treatment(staff, patient, course, floor["Chair 1"], at(clinic, monday, 9))
    later = [
        book_treatment(
            staff, patient, course, floor["Chair 1"], at(clinic, monday, 9) + timedelta(days=d)
        )
        for d in (2, 4)
    ]
    services.update_appointment(
        actor=actor(staff["front_desk"]), appointment=here, status="checked_in"
    )
    consult = services.book_appointment(
        actor=actor(staff["front_desk"]),
        slot=services.make_slot(
            patient=patient,
            kind="consultation",
            room=floor["Consult 1"],
            start=at(clinic, monday, 13),
        ),
    )
    response = api_client(staff["physician"]).post(
        f"/api/v1/courses/{course.pk}/end",
        {"status": "stopped", "reason": "Blood pressure rose above 180/110."},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    for appointment in later:
        appointment.refresh_from_db()
        assert (appointment.status, appointment.cancel_reason) == (
            "cancelled",
            "Blood pressure rose above 180/110.",
        )
    here.refresh_from_db()
    consult.refresh_from_db()
    assert (here.status, consult.status) == ("checked_in", "booked")  # untouched
    cancelled = AuditEvent.objects.filter(action="status", detail__status="cancelled")
    assert sorted(int(e.object_id) for e in cancelled) == sorted(a.pk for a in later)
    assert all(e.detail["course"] == "stopped" for e in cancelled)
    stopped = AuditEvent.objects.get(action="stopped")
    assert sorted(stopped.detail["cancelled"]) == sorted(a.pk for a in later)


def test_a_refused_stop_cancels_nothing(clinic, staff, floor, patient, course, api_client):
    appointment = book_treatment(
        staff, patient, course, floor["Chair 1"], at(clinic, next_monday(), 9)
    )
    response = api_client(staff["physician"]).post(
        f"/api/v1/courses/{course.pk}/end", {"status": "stopped"}, content_type="application/json"
    )
    assert response.status_code == 422
    appointment.refresh_from_db()
    course.refresh_from_db()
    assert (appointment.status, course.status) == ("booked", "planned")
    assert not AuditEvent.objects.filter(action="status").exists()


def test_a_stopped_or_paused_course_gets_no_reminders(
    clinic, staff, floor, patient, course, mailoutbox, no_gate
):
    patient.email = "maria@example.org"
    patient.save()
    physician = actor(staff["physician"])
    start = at(clinic, next_monday(), 9)
    appointment = book_treatment(staff, patient, course, floor["Chair 1"], start)
    services.end_course(actor=physician, course=course, status="paused")
    appointment.refresh_from_db()
    assert appointment.status == "booked"  # a pause keeps the sessions
    assert services.send_due_reminders(start - timedelta(hours=47)) == 0
    assert mailoutbox == []
    services.activate_course(actor=physician, course=course)  # resumed: the reminder goes
    assert services.send_due_reminders(start - timedelta(hours=47)) == 1
    services.end_course(actor=physician, course=course, status="stopped", reason="Moved away.")
    appointment.refresh_from_db()
    assert (appointment.status, appointment.cancel_reason) == ("cancelled", "Moved away.")
    Appointment.objects.filter(pk=appointment.pk).update(reminded_at=None)
    assert services.send_due_reminders(start - timedelta(hours=47)) == 0
    assert len(mailoutbox) == 1


def test_a_booking_for_a_course_stopped_meanwhile_is_refused(clinic, staff, floor, patient, course):
    # The slot was checked against the course as it was; the booking re-reads it under the lock.
    slot = services.make_slot(
        patient=patient,
        kind="treatment",
        room=floor["Chair 1"],
        start=at(clinic, next_monday(), 9),
        course=course,
    )
    services.end_course(
        actor=actor(staff["physician"]), course=course, status="stopped", reason="Declined."
    )
    with pytest.raises(ValidationError) as refused:
        services.book_appointment(actor=actor(staff["front_desk"]), slot=slot)
    assert refused.value.message_dict == {"course": ["The course is stopped."]}
    assert not Appointment.objects.exists()
