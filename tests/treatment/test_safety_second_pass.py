"""Issue 12 in a running clinic: low BP and bradycardia alerts, escalation, frozen protocols, MDSI."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import yaml
from django.core import mail
from django.utils import timezone

from ketaclinic.clinical.protocols import loader as protocol_loader
from ketaclinic.patients.models import Condition
from ketaclinic.scheduling import services as scheduling
from ketaclinic.scheduling.models import Appointment, ProtocolSnapshot, TreatmentCourse
from ketaclinic.treatment.models import SessionAlert, SessionEvent, TreatmentSession

from .conftest import actor, api_post, clinic_today, fasted, make_appointment, questionnaire_today

GOOD = {"systolic": 128, "diastolic": 80, "heart_rate": 72, "spo2": 98, "respiratory_rate": 14}


def session_under_way(staff, api_client, appointment, clinic, patient):
    nurse = api_client(staff["nurse"])
    questionnaire_today(clinic, patient)
    body = api_post(nurse, f"/api/v1/appointments/{appointment.pk}/session").json()
    TreatmentSession.objects.filter(pk=body["id"]).update(
        started_at=timezone.now() - timedelta(minutes=30)
    )
    return nurse, body["id"]


def vitals(nurse, sid, minutes_ago=0, **values):
    body = {
        **GOOD,
        **values,
        "taken_at": (timezone.now() - timedelta(minutes=minutes_ago)).isoformat(),
    }
    response = api_post(nurse, f"/api/v1/sessions/{sid}/vitals", body)
    assert response.status_code == 201, response.content
    return response.json()


def test_78_over_45_raises_one_hypotension_alert_with_its_action(
    staff, api_client, iv_appointment, clinic, patient
):
    nurse, sid = session_under_way(staff, api_client, iv_appointment, clinic, patient)
    body = vitals(nurse, sid, systolic=78, diastolic=45)
    assert [(a["code"], a["level"]) for a in body["alerts"]] == [("hypotension", "high")]
    assert body["alerts"][0]["message"] == (
        "Systolic BP 78 mmHg is below 90 mmHg and diastolic BP 45 mmHg is below 60 mmHg "
        "(high): do not start the infusion, or pause it; lay the patient down, notify the "
        "physician and recheck BP."
    )
    assert SessionAlert.objects.filter(session_id=sid).count() == 1


def test_a_heart_rate_of_38_raises_a_bradycardia_alert(
    staff, api_client, esk_appointment, clinic, esk_patient
):
    nurse, sid = session_under_way(staff, api_client, esk_appointment, clinic, esk_patient)
    body = vitals(nurse, sid, heart_rate=38)
    assert [(a["code"], a["level"]) for a in body["alerts"]] == [("bradycardia", "high")]
    assert body["alerts"][0]["message"] == (
        "Heart rate 38 /min is below 50 /min (high): notify the physician."
    )


def test_hypertension_still_there_on_the_recheck_is_raised_to_urgent_and_mailed_again(
    staff, api_client, iv_appointment, clinic, patient, django_capture_on_commit_callbacks
):
    staff["physician"].user.email = "doctor@example.org"
    staff["physician"].user.save()
    nurse, sid = session_under_way(staff, api_client, iv_appointment, clinic, patient)
    first = vitals(nurse, sid, minutes_ago=10, systolic=184, diastolic=100)
    assert [(a["code"], a["level"]) for a in first["alerts"]] == [("hypertension", "high")]
    with django_capture_on_commit_callbacks(execute=True):
        recheck = vitals(nurse, sid, minutes_ago=5, systolic=182, diastolic=112)
    assert [(a["code"], a["level"]) for a in recheck["alerts"]] == [("hypertension", "urgent")]
    assert "still on the recheck" in recheck["alerts"][0]["message"]
    assert [m.subject for m in mail.outbox] == [
        f"[ketaclinic] Alert persists on recheck in treatment session {sid}"
    ]
    assert patient.family_name not in mail.outbox[0].body
    assert SessionEvent.objects.filter(session_id=sid, kind="alert").count() == 1
    # Back in range: nothing raised, nothing mailed.
    with django_capture_on_commit_callbacks(execute=True):
        settled = vitals(nurse, sid, systolic=135, diastolic=85)
    assert settled["alerts"] == [] and len(mail.outbox) == 1


# --- a course keeps the protocol it was started with ------------------------------------


def write_protocol(directory, data):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "iv.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    protocol_loader._load_cached.cache_clear()


@pytest.fixture
def clinic_protocols(settings, tmp_path):
    settings.KETACLINIC_DATA_DIR = str(tmp_path)
    data = json.loads(scheduling.get_protocol("ketamine-iv-mood").model_dump_json())
    data["version"] = 10
    write_protocol(tmp_path / "protocols", data)
    yield tmp_path / "protocols", data
    protocol_loader._load_cached.cache_clear()


def test_a_running_course_keeps_its_protocol_when_the_file_is_edited(
    clinic_protocols, staff, patient, clinic, chairs, api_client
):
    directory, data = clinic_protocols
    patient.weight_measured_on = clinic_today()
    patient.save()
    course = scheduling.create_course(
        actor=actor(staff["physician"]),
        patient=patient,
        protocol_code="ketamine-iv-mood",
        start_date=clinic_today(),
        dose_mg_per_kg=Decimal("0.5"),
    )
    started_with = scheduling.get_protocol("ketamine-iv-mood").file_hash
    assert (course.protocol_version, course.protocol_hash) == (10, started_with)
    assert ProtocolSnapshot.objects.get(sha256=started_with).version == 10

    # The clinic edits the file in place, same version: a lower BP now alerts below 100.
    for rule in data["thresholds"]:
        if rule["id"] == "sbp-low":
            rule["value"] = "100"
    write_protocol(directory, data)
    edited = scheduling.get_protocol("ketamine-iv-mood")
    assert edited.version == 10 and edited.file_hash != started_with

    course = TreatmentCourse.objects.get(pk=course.pk)
    running = scheduling.course_protocol(course)
    assert running.file_hash == started_with
    assert next(t.value for t in running.thresholds if t.id == "sbp-low") == 90

    # A session of the running course alerts by the course's protocol, not the edited file.
    TreatmentCourse.objects.filter(pk=course.pk).update(status="active")
    appointment = make_appointment(clinic, patient, course, chairs[0])
    nurse, sid = session_under_way(staff, api_client, appointment, clinic, patient)
    assert vitals(nurse, sid, systolic=95, diastolic=65)["alerts"] == []

    # A course started now takes the edited file.
    later = scheduling.create_course(
        actor=actor(staff["physician"]),
        patient=patient,
        protocol_code="ketamine-iv-mood",
        start_date=clinic_today(),
        dose_mg_per_kg=Decimal("0.5"),
    )
    assert later.protocol_hash == edited.file_hash
    assert ProtocolSnapshot.objects.count() == 2


# --- esketamine for depression with acute suicidal ideation (MDSI) ------------------------


def post_course(client, patient, **body):
    return api_post(client, f"/api/v1/patients/{patient.pk}/courses", body)


def test_the_mdsi_protocol_needs_the_indication_on_the_record(
    staff, api_client, esk_patient, clinic
):
    physician = api_client(staff["physician"])
    body = {"protocol": "esketamine-nasal-mdsi", "start_date": str(clinic_today())}
    response = post_course(physician, esk_patient, **body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "protocol"
    assert "Major depressive disorder" in response.json()["detail"][0]["msg"]
    assert not TreatmentCourse.objects.filter(patient=esk_patient).exists()

    for code in ("mdd", "suicidal_ideation"):
        Condition.objects.create(clinic=clinic, patient=esk_patient, code=code)
    response = post_course(physician, esk_patient, **body)
    assert response.status_code == 201, response.content
    assert response.json()["current_dose"]["dose_mg"] == "84.00"
    assert response.json()["planned_sessions"] == 8


def test_the_mdsi_course_doses_84_mg_on_the_first_day(
    staff, api_client, esk_patient, clinic, chairs
):
    for code in ("mdd", "suicidal_ideation"):
        Condition.objects.create(clinic=clinic, patient=esk_patient, code=code)
    course = scheduling.create_course(
        actor=actor(staff["physician"]),
        patient=esk_patient,
        protocol_code="esketamine-nasal-mdsi",
        start_date=clinic_today(),
    )
    TreatmentCourse.objects.filter(pk=course.pk).update(status="active")
    appointment = make_appointment(clinic, esk_patient, course, chairs[1])
    nurse, sid = session_under_way(staff, api_client, appointment, clinic, esk_patient)
    body = nurse.get(f"/api/v1/sessions/{sid}").json()
    items = [row["item"] for row in body["checklist"]]
    assert "oral_antidepressant" in items
    vitals(nurse, sid, minutes_ago=2)
    body = nurse.get(f"/api/v1/sessions/{sid}").json()
    for row in body["checklist"]:
        if not row["automatic"] and row["status"] == "pending":
            body = api_post(
                nurse,
                f"/api/v1/sessions/{sid}/checklist/{row['item']}",
                {"met": True, "version": body["version"], **fasted(row["item"])},
            ).json()
    assert [r["item"] for r in body["checklist"] if r["blocks"]] == []
    response = api_post(
        nurse,
        f"/api/v1/sessions/{sid}/dosing",
        {"product": "Spravato 28 mg", "lot_number": "ESK84", "version": body["version"]},
    )
    assert response.status_code == 200, response.content
    administration = response.json()["administration"]
    assert (administration["dose_mg"], administration["devices_planned"]) == (84, 3)


def test_the_trd_course_still_refuses_84_mg_on_the_first_day(staff, esk_patient):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        scheduling.create_course(
            actor=actor(staff["physician"]),
            patient=esk_patient,
            protocol_code="esketamine-nasal",
            start_date=clinic_today(),
            dose_mg=Decimal("84"),
        )
    assert "56 mg" in str(refused.value)
    assert not Appointment.objects.exists()
