"""Follow-up calls after dosing and the end-of-induction review gate (issue 12)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.measures.models import Alert
from ketaclinic.scheduling.models import Appointment, InductionReview, TreatmentCourse
from ketaclinic.treatment import followup
from ketaclinic.treatment.models import FollowUpAttempt, FollowUpCall, TreatmentSession

from .conftest import api_post


def dosed_session(iv_appointment, staff, *, dosed=True):
    """A discharged session of the IV course (written directly: the call hangs off its end)."""
    now = timezone.now()
    session = TreatmentSession.objects.create(
        clinic=iv_appointment.clinic,
        patient=iv_appointment.patient,
        appointment=iv_appointment,
        course=iv_appointment.course,
        room=iv_appointment.room,
        protocol_code="ketamine-iv-mood",
        protocol_version=2,
        drug="racemic_ketamine",
        route="iv",
        state="discharged",
        started_at=now - timedelta(hours=2),
        started_by=staff["nurse"].user,
        dose_started_at=(now - timedelta(hours=1, minutes=45)) if dosed else None,
        discharged_at=now,
    )
    from ketaclinic.treatment.services import session_protocol

    followup.create_follow_up(session, session_protocol(session), at=now)
    return session


def test_a_dosed_session_gets_a_call_due_the_next_day(iv_appointment, staff, clinic):
    session = dosed_session(iv_appointment, staff)
    call = FollowUpCall.objects.get(session=session)
    today = clinic.today()
    assert (call.due_on, call.completed_at) == (today + timedelta(days=1), None)
    # Idempotent: ending twice never makes two calls.
    from ketaclinic.treatment.services import session_protocol

    followup.create_follow_up(session, session_protocol(session), at=timezone.now())
    assert FollowUpCall.objects.filter(session=session).count() == 1


def test_a_session_without_a_dose_gets_no_call(iv_appointment, staff):
    dosed_session(iv_appointment, staff, dosed=False)
    assert not FollowUpCall.objects.exists()


def test_an_unanswered_call_stays_on_the_list_with_its_age(iv_appointment, staff, api_client):
    session = dosed_session(iv_appointment, staff)
    call = FollowUpCall.objects.get(session=session)
    FollowUpCall.objects.filter(pk=call.pk).update(due_on=call.due_on - timedelta(days=4))
    nurse = api_client(staff["nurse"])
    response = api_post(nurse, f"/api/v1/follow-up-calls/{call.pk}/attempts", {"reached": False})
    assert response.status_code == 201, response.content
    listed = nurse.get("/api/v1/follow-up-calls").json()
    assert [(c["id"], c["age_days"], c["attempts"]) for c in listed] == [(call.pk, 3, 1)]


def test_a_reached_call_with_new_suicidality_opens_an_urgent_alert_and_closes_the_task(
    iv_appointment, staff, api_client, django_capture_on_commit_callbacks
):
    staff["physician"].user.email = "doctor@example.org"
    staff["physician"].user.save()
    call = FollowUpCall.objects.get(session=dosed_session(iv_appointment, staff))
    with django_capture_on_commit_callbacks(execute=True):
        response = api_post(
            api_client(staff["nurse"]),
            f"/api/v1/follow-up-calls/{call.pk}/attempts",
            {
                "reached": True,
                "suicidality": True,
                "side_effects": ["urinary"],
                "symptoms": "Burning on passing urine; low mood overnight.",
            },
        )
    assert response.status_code == 201, response.content
    alert = Alert.objects.get()
    assert (alert.code, alert.level, alert.status, alert.origin, alert.response_id) == (
        "suicidality",
        "urgent",
        "open",
        "Follow-up call",
        None,
    )
    assert response.json()["alert_id"] == alert.pk
    assert response.json()["call"]["completed_at"] is not None
    assert FollowUpAttempt.objects.get().side_effects == ["urinary"]
    assert len(mail.outbox) == 1
    assert AuditEvent.objects.filter(action="follow_up_call").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reached": True}, "suicidality"),
        ({"reached": False, "side_effects": ["urinary"]}, "reached"),
        ({"reached": True, "suicidality": False, "side_effects": ["tinnitus"]}, "side_effects"),
        ({"reached": True, "suicidality": False, "side_effects": ["other"]}, "symptoms"),
    ],
)
def test_a_bad_call_record_names_the_field_and_stores_nothing(
    iv_appointment, staff, api_client, body, field
):
    call = FollowUpCall.objects.get(session=dosed_session(iv_appointment, staff))
    response = api_post(
        api_client(staff["nurse"]), f"/api/v1/follow-up-calls/{call.pk}/attempts", body
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field
    assert not FollowUpAttempt.objects.exists() and not Alert.objects.exists()


@pytest.mark.parametrize("role", ["therapist", "front_desk", "admin"])
def test_only_nurses_and_physicians_record_calls(iv_appointment, staff, api_client, role):
    call = FollowUpCall.objects.get(session=dosed_session(iv_appointment, staff))
    response = api_post(
        api_client(staff[role]),
        f"/api/v1/follow-up-calls/{call.pk}/attempts",
        {"reached": True, "suicidality": False},
    )
    assert response.status_code == 403
    assert not FollowUpAttempt.objects.exists()


def test_another_clinics_call_is_not_found(iv_appointment, staff, api_client, outsider):
    call = FollowUpCall.objects.get(session=dosed_session(iv_appointment, staff))
    response = api_post(
        api_client(outsider),
        f"/api/v1/follow-up-calls/{call.pk}/attempts",
        {"reached": True, "suicidality": False},
    )
    assert response.status_code == 404
    assert not FollowUpAttempt.objects.exists()


# --- the end-of-induction review ------------------------------------------------------------


def finish_induction(course):
    start = timezone.now() - timedelta(days=20)
    Appointment.objects.bulk_create(
        Appointment(
            clinic=course.clinic,
            patient=course.patient,
            kind="treatment",
            room=course.appointments.first().room,
            course=course,
            start=start + timedelta(days=2 * i),
            end=start + timedelta(days=2 * i, hours=2),
            status="completed",
        )
        for i in range(course.planned_sessions)
    )


def test_the_review_is_not_due_before_the_induction_ends(iv_appointment, staff, api_client):
    course = iv_appointment.course
    body = (
        api_client(staff["physician"]).get(f"/api/v1/courses/{course.pk}/induction-review").json()
    )
    assert (body["required"], body["due"], body["completed_sessions"]) == (True, False, 0)
    response = api_post(
        api_client(staff["physician"]),
        f"/api/v1/courses/{course.pk}/induction-review",
        {"decision": "continue", "maintenance_sessions": 4},
    )
    assert response.status_code == 422
    assert "0 of 6 sessions done" in response.json()["detail"][0]["msg"]
    assert not InductionReview.objects.exists()


def test_a_signed_continue_opens_maintenance_and_booking(iv_appointment, staff, api_client):
    course = iv_appointment.course
    finish_induction(course)
    physician = api_client(staff["physician"])
    assert physician.get(f"/api/v1/courses/{course.pk}/induction-review").json()["due"] is True
    nurse_try = api_post(
        api_client(staff["nurse"]),
        f"/api/v1/courses/{course.pk}/induction-review",
        {"decision": "continue"},
    )
    assert nurse_try.status_code == 403
    response = api_post(
        physician,
        f"/api/v1/courses/{course.pk}/induction-review",
        {"decision": "continue", "maintenance_sessions": 4},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["decision"], body["maintenance_sessions"], body["due"]) == ("continue", 4, False)
    course.refresh_from_db()
    assert (course.phase, course.planned_sessions) == ("maintenance", 6 + 4)
    review = InductionReview.objects.get()
    assert review.signed_by == staff["physician"].user
    assert AuditEvent.objects.filter(action="sign", object_id=str(review.pk)).count() == 1
    again = api_post(
        physician,
        f"/api/v1/courses/{course.pk}/induction-review",
        {"decision": "continue", "maintenance_sessions": 4},
    )
    assert again.status_code == 422
    assert InductionReview.objects.count() == 1


def test_stop_and_change_need_a_reason_and_stop_ends_the_course(iv_appointment, staff, api_client):
    course = iv_appointment.course
    finish_induction(course)
    physician = api_client(staff["physician"])
    url = f"/api/v1/courses/{course.pk}/induction-review"
    for decision in ("stop", "change"):
        response = api_post(physician, url, {"decision": decision, "reason": "  "})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"][-1] == "reason"
    assert not InductionReview.objects.exists()
    response = api_post(
        physician, url, {"decision": "stop", "reason": "No response: MADRS unchanged."}
    )
    assert response.status_code == 201, response.content
    assert TreatmentCourse.objects.get(pk=course.pk).status == "stopped"


def test_the_mdsi_course_cannot_continue_beyond_four_weeks(staff, esk_appointment, api_client):
    course = esk_appointment.course
    TreatmentCourse.objects.filter(pk=course.pk).update(protocol_code="esketamine-nasal-mdsi")
    course.refresh_from_db()
    finish_induction(course)
    response = api_post(
        api_client(staff["physician"]),
        f"/api/v1/courses/{course.pk}/induction-review",
        {"decision": "continue", "maintenance_sessions": 4},
    )
    assert response.status_code == 422
    assert "no maintenance phase" in response.json()["detail"][0]["msg"]
