"""Treatment courses: prescription by physicians, signed dose orders with history, activation gate."""

from __future__ import annotations

import pytest

from ketaclinic.audit.models import AuditEvent
from ketaclinic.scheduling import services
from ketaclinic.scheduling.models import DoseOrder, TreatmentCourse
from tests.scheduling.conftest import actor, next_monday

pytestmark = pytest.mark.django_db


def post_course(client, patient, **body):
    return client.post(
        f"/api/v1/patients/{patient.pk}/courses", body, content_type="application/json"
    )


def test_a_physician_prescribes_a_course_with_its_first_signed_order(staff, patient, api_client):
    response = post_course(
        api_client(staff["physician"]),
        patient,
        protocol="ketamine-iv-mood",
        dose_mg_per_kg=0.5,
        start_date=str(next_monday()),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["protocol"] == "ketamine-iv-mood"
    assert body["protocol_version"] == 2
    assert body["planned_sessions"] == 6
    assert body["status"] == "planned"
    assert body["phase"] == "induction"
    assert body["prescriber"] == staff["physician"].user.pk
    assert body["current_dose"]["dose_mg_per_kg"] == "0.500"
    assert body["current_dose"]["weight_basis"] == "actual"
    course = TreatmentCourse.objects.get(pk=body["id"])
    assert AuditEvent.objects.filter(
        action="create", object_id=str(course.pk), patient_id=patient.pk
    ).exists()


def test_esketamine_course_defaults_to_the_56_mg_starting_dose(staff, patient, api_client):
    body = post_course(
        api_client(staff["physician"]),
        patient,
        protocol="esketamine-nasal",
        start_date=str(next_monday()),
    ).json()
    assert body["planned_sessions"] == 8
    assert body["current_dose"]["dose_mg"] == "56.00"


def test_it_refuses_a_first_esketamine_dose_of_84_mg(staff, patient, api_client):
    response = post_course(
        api_client(staff["physician"]),
        patient,
        protocol="esketamine-nasal",
        dose_mg=84,
        start_date=str(next_monday()),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "dose_mg"]
    assert TreatmentCourse.objects.count() == 0


def test_it_refuses_a_prescription_above_the_hard_maximum(staff, patient, api_client):
    response = post_course(
        api_client(staff["physician"]),
        patient,
        protocol="ketamine-iv-mood",
        dose_mg_per_kg=1.5,
        start_date=str(next_monday()),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "dose_mg_per_kg"]
    assert TreatmentCourse.objects.count() == 0 and DoseOrder.objects.count() == 0


@pytest.mark.parametrize("role", ["nurse", "front_desk", "therapist", "admin"])
def test_only_physicians_prescribe(role, staff, patient, api_client):
    response = post_course(
        api_client(staff[role]),
        patient,
        protocol="ketamine-iv-mood",
        dose_mg_per_kg=0.5,
        start_date=str(next_monday()),
    )
    assert response.status_code == 403
    assert TreatmentCourse.objects.count() == 0


def test_a_physician_of_another_clinic_cannot_see_the_patient(outsider, patient, api_client):
    response = post_course(
        api_client(outsider),
        patient,
        protocol="ketamine-iv-mood",
        dose_mg_per_kg=0.5,
        start_date=str(next_monday()),
    )
    assert response.status_code == 404


def test_a_dose_change_is_a_new_order_and_the_history_stays(course, staff, api_client):
    client = api_client(staff["physician"])
    response = client.post(
        f"/api/v1/courses/{course.pk}/dose-orders",
        {"dose_mg_per_kg": 0.75, "reason": "Partial response after two infusions."},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    orders = client.get(f"/api/v1/courses/{course.pk}/dose-orders").json()
    assert [(o["dose_mg_per_kg"], o["reason"]) for o in orders] == [
        ("0.750", "Partial response after two infusions."),
        ("0.500", "Initial prescription."),
    ]
    assert (
        client.get(f"/api/v1/courses/{course.pk}").json()["current_dose"]["dose_mg_per_kg"]
        == "0.750"
    )


def test_a_dose_change_needs_a_reason_and_a_physician(course, staff, api_client):
    url = f"/api/v1/courses/{course.pk}/dose-orders"
    no_reason = api_client(staff["physician"]).post(
        url, {"dose_mg_per_kg": 0.6, "reason": " "}, content_type="application/json"
    )
    assert no_reason.status_code == 422
    nurse = api_client(staff["nurse"]).post(
        url, {"dose_mg_per_kg": 0.6, "reason": "x"}, content_type="application/json"
    )
    assert nurse.status_code == 403
    assert DoseOrder.objects.filter(course=course).count() == 1


def test_activation_lists_what_the_real_gate_says_is_missing(course, staff, api_client):
    response = api_client(staff["physician"]).post(f"/api/v1/courses/{course.pk}/activate")
    assert response.status_code == 409
    body = response.json()
    assert body["detail"] == "The course cannot be activated until these are in place."
    assert body["missing"] == [
        "An eligibility evaluation for IV ketamine (mood) accepted by a physician.",
        "A signed consent for IV ketamine (mood).",
    ]
    course.refresh_from_db()
    assert course.status == "planned"


def test_esketamine_activation_also_needs_rems(staff, patient, api_client):
    course = services.create_course(
        actor=actor(staff["physician"]),
        patient=patient,
        protocol_code="esketamine-nasal",
        start_date=next_monday(),
    )
    body = api_client(staff["physician"]).post(f"/api/v1/courses/{course.pk}/activate").json()
    assert (
        body["missing"][-1]
        == "The REMS patient enrollment signed by the patient and the prescriber."
    )
    assert len(body["missing"]) == 3


def test_activation_succeeds_when_nothing_is_missing(course, staff, api_client, no_gate):
    response = api_client(staff["physician"]).post(f"/api/v1/courses/{course.pk}/activate")
    assert response.status_code == 200
    assert response.json()["status"] == "active"


def test_a_stop_needs_a_reason(course, staff, api_client):
    client = api_client(staff["physician"])
    url = f"/api/v1/courses/{course.pk}/end"
    assert (
        client.post(url, {"status": "stopped"}, content_type="application/json").status_code == 422
    )
    response = client.post(
        url, {"status": "stopped", "reason": "Patient moved away."}, content_type="application/json"
    )
    assert response.json()["status"] == "stopped"
    assert response.json()["stop_reason"] == "Patient moved away."


def test_a_dose_change_without_a_dose_is_refused_naming_the_field(staff, patient, api_client):
    # An esketamine course's change with no dose used to break the one-kind constraint: 500.
    client = api_client(staff["physician"])
    course = post_course(
        client, patient, protocol="esketamine-nasal", start_date=str(next_monday())
    ).json()
    response = client.post(
        f"/api/v1/courses/{course['id']}/dose-orders",
        {"reason": "Tolerating well"},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "dose_mg"]
    assert DoseOrder.objects.filter(course_id=course["id"]).count() == 1
