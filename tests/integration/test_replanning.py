"""Issue #15's remaining rules: a circle keeps the clinic's hours and closures; a dosing
session booked on its own plans integration as a series does; a dropped dosing session
re-anchors or cancels the integration planned from it, and the therapist is told."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from ketaclinic.audit.models import AuditEvent
from ketaclinic.integration import circles, planning
from ketaclinic.integration.models import Circle, PlanChange, PlannedSession
from ketaclinic.scheduling import services
from ketaclinic.scheduling.models import Appointment, ClinicClosure
from tests.integration.conftest import actor, at, next_monday
from tests.integration.test_planning import book_series
from tests.scheduling.conftest import as_if_today  # noqa: F401, F811

pytestmark = pytest.mark.django_db


def make_circle(staff, therapy, patient, start, minutes=90):
    return circles.create_circle(
        actor=actor(staff["therapist"]),
        title="Circle",
        therapist=staff["therapist"],
        room=therapy["Therapy 1"],
        start=start,
        minutes=minutes,
        patients=[patient],
    )


# --- 1. circles keep the clinic's opening hours and closures ------------------------------


def test_a_circle_outside_opening_hours_is_refused_naming_the_start(
    clinic, staff, therapy, patient
):
    monday = next_monday()
    with pytest.raises(ValidationError) as refused:
        make_circle(staff, therapy, patient, at(clinic, monday, 17), minutes=90)  # ends 18:30
    assert (
        "The clinic is closed for part or all of that time."
        in refused.value.message_dict["start"][0]
    )
    saturday = monday + timedelta(days=5)
    with pytest.raises(ValidationError) as weekend:
        make_circle(staff, therapy, patient, at(clinic, saturday, 10))
    assert "closed" in weekend.value.message_dict["start"][0]
    assert not Circle.objects.exists()
    make_circle(staff, therapy, patient, at(clinic, monday, 16), minutes=120)  # until 18:00


def test_a_circle_on_a_closure_day_is_refused_with_the_closures_reason(
    clinic, staff, therapy, patient
):
    tuesday = next_monday() + timedelta(days=1)
    ClinicClosure.objects.create(
        clinic=clinic, starts_on=tuesday, ends_on=tuesday, reason="Staff day"
    )
    with pytest.raises(ValidationError) as refused:
        make_circle(staff, therapy, patient, at(clinic, tuesday, 10))
    message = refused.value.message_dict["start"][0]
    assert "The clinic is closed on Tuesday" in message and "(Staff day)" in message
    # The very same words a single appointment is refused with.
    slot = services.make_slot(
        patient=patient,
        kind="integration",
        room=therapy["Therapy 1"],
        start=at(clinic, tuesday, 10),
    )
    assert [c.message for c in services.check_slot(slot) if c.code == "clinic_closed"] == [message]
    assert not Circle.objects.exists()


def test_the_circle_api_answers_422_on_the_start_field_when_the_clinic_is_closed(
    clinic, staff, therapy, patient, api_client
):
    sunday = next_monday() + timedelta(days=6)
    response = api_client(staff["therapist"]).post(
        "/api/v1/integration/circles",
        {
            "title": "Sunday circle",
            "therapist_id": staff["therapist"].pk,
            "room_id": therapy["Therapy 1"].pk,
            "start": at(clinic, sunday, 10).isoformat(),
            "patient_ids": [patient.pk],
        },
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "start" in str(response.json()["detail"]) and "closed" in str(response.json()["detail"])
    assert not Circle.objects.exists()


# --- 2. a dosing session booked on its own plans integration ------------------------------


def book_one(course, staff, clinic, day_offset, hour=9):
    slot = services.make_slot(
        patient=course.patient,
        kind="treatment",
        room=services.Room.objects.get(clinic=clinic, name="Chair 1"),
        start=at(clinic, next_monday() + timedelta(days=day_offset), hour),
        course=course,
    )
    return services.book_appointment(actor=actor(staff["front_desk"]), slot=slot)


def test_a_dose_booked_alone_books_its_preparation_and_integration(clinic, staff, therapy, course):
    dose = book_one(course, staff, clinic, 0)
    sessions = list(
        Appointment.objects.filter(
            patient=course.patient, kind__in=["preparation", "integration"]
        ).order_by("start")
    )
    assert [a.kind for a in sessions] == ["preparation", "integration"]
    preparation, integration = sessions
    assert preparation.end <= dose.start
    assert dose.end <= integration.start <= integration.end <= dose.start + timedelta(hours=72)
    assert {a.staff_id for a in sessions} == {staff["therapist"].pk}
    item = PlannedSession.objects.get(course=course, kind="integration", dosing_number=1)
    assert item.dosing_id == dose.pk and item.appointment_id == integration.pk
    # A second dose booked alone gets its own integration, as the series would.
    second = book_one(course, staff, clinic, 2)
    after_second = PlannedSession.objects.get(course=course, kind="integration", dosing_number=2)
    assert after_second.dosing_id == second.pk
    assert after_second.appointment.start >= second.end
    assert AuditEvent.objects.filter(action="book_integration").count() == 3


def test_a_dose_booked_alone_without_a_therapy_room_leaves_windows_to_book(
    clinic, staff, floor, course
):
    book_one(course, staff, clinic, 0)
    rows = planning.planned_rows(PlannedSession.objects.filter(course=course))
    assert [r.status for r in rows] == ["to_book", "to_book"]


# --- 3. a dropped dosing session ----------------------------------------------------------


def test_cancelling_a_dose_re_anchors_the_later_windows_and_moves_their_sessions(
    clinic, staff, therapy, course, login
):
    doses = book_series(course, staff, clinic, days=(0, 2, 4, 7))
    second = PlannedSession.objects.get(course=course, kind="integration", dosing_number=2)
    was = second.appointment.start
    services.update_appointment(
        actor=actor(staff["front_desk"]), appointment=doses[1], status="cancelled", reason="Ill"
    )
    # The plan counts the doses given: the old third dose is now the second.
    second.refresh_from_db()
    assert second.dosing_id == doses[2].pk
    moved = Appointment.objects.get(pk=second.appointment_id)
    assert moved.status == "booked" and moved.start != was
    assert doses[2].end <= moved.start and moved.end <= doses[2].start + timedelta(hours=72)
    third = PlannedSession.objects.get(course=course, kind="integration", dosing_number=3)
    assert third.dosing_id == doses[3].pk
    assert {c.action for c in PlanChange.objects.all()} == {"moved"}
    assert {c.therapist_id for c in PlanChange.objects.all()} == {staff["therapist"].pk}
    page = login(staff["therapist"]).get("/integration/").content.decode()
    assert "Changed because a dosing session was dropped" in page and "Moved" in page


def test_a_dropped_last_dose_cancels_its_orphaned_integration_and_tells_the_therapist(
    clinic, staff, therapy, course, login
):
    doses = book_series(course, staff, clinic, days=(0, 2))
    item = PlannedSession.objects.get(course=course, kind="integration", dosing_number=2)
    orphan = item.appointment
    services.update_appointment(
        actor=actor(staff["front_desk"]), appointment=doses[1], status="cancelled", reason="Ill"
    )
    orphan.refresh_from_db()
    assert orphan.status == "cancelled" and "dosing session" in orphan.cancel_reason
    item.refresh_from_db()
    assert item.dosing_id == doses[1].pk and item.appointment_id is None
    statuses = {
        r.item.dosing_number: r.status
        for r in planning.planned_rows(
            PlannedSession.objects.filter(course=course, kind="integration")
        )
    }
    assert statuses == {1: "booked", 2: "not_needed"}
    change = PlanChange.objects.get()
    assert (change.action, change.session_id, change.dropped_id) == (
        "cancelled",
        orphan.pk,
        doses[1].pk,
    )
    # The freed hour is really free: the therapist can be booked then.
    slot = services.make_slot(
        patient=course.patient,
        kind="integration",
        room=orphan.room,
        start=orphan.start,
        staff=staff["therapist"],
    )
    assert services.check_slot(slot) == []
    page = login(staff["therapist"]).get("/integration/").content.decode()
    assert "Cancelled" in page and "Maria Garcia" in page
    # Booking a dose again books the window again, from the same planner.
    again = book_one(course, staff, clinic, 3)
    item.refresh_from_db()
    assert item.dosing_id == again.pk and item.appointment is not None
    assert item.appointment.status == "booked"


def test_a_no_show_re_anchors_integration_to_the_next_dose(
    clinic,
    staff,
    therapy,
    course,
    as_if_today,  # noqa: F811
):
    doses = book_series(course, staff, clinic, days=(0, 3, 7, 10))
    first = PlannedSession.objects.get(course=course, kind="integration", dosing_number=1)
    as_if_today(next_monday())
    services.update_appointment(actor=actor(staff["nurse"]), appointment=doses[0], status="no_show")
    first.refresh_from_db()
    # No dose was given: the first integration follows the first dose actually given.
    assert first.dosing_id == doses[1].pk
    session = Appointment.objects.get(pk=first.appointment_id)
    assert doses[1].end <= session.start and session.end <= doses[1].start + timedelta(hours=72)


def test_stopping_a_course_cancels_the_integration_of_its_cut_doses(clinic, staff, therapy, course):
    book_series(course, staff, clinic, days=(0, 2, 4, 7))
    planned = list(
        Appointment.objects.filter(kind__in=["preparation", "integration"]).values_list(
            "pk", flat=True
        )
    )
    assert len(planned) == 4
    services.end_course(
        actor=actor(staff["physician"]), course=course, status="stopped", reason="Side effects"
    )
    assert set(Appointment.objects.filter(pk__in=planned).values_list("status", flat=True)) == {
        "cancelled"
    }
    assert PlanChange.objects.filter(action="cancelled").count() == 4
    rows = planning.planned_rows(PlannedSession.objects.filter(course=course))
    assert {r.status for r in rows} == {"not_needed"}


def test_a_failed_cancellation_changes_no_plan(clinic, staff, therapy, course):
    doses = book_series(course, staff, clinic, days=(0, 2))
    with pytest.raises(ValidationError):
        services.update_appointment(
            actor=actor(staff["front_desk"]), appointment=doses[1], status="cancelled", reason=" "
        )
    assert not PlanChange.objects.exists()
    assert not Appointment.objects.filter(status="cancelled").exists()
