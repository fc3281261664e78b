"""Checklist hard stops and the physician override; the vitals contract and its alerts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from ketaclinic.measures.models import Alert as MeasureAlert
from ketaclinic.screening import gates
from ketaclinic.screening.gates import GateItem
from ketaclinic.screening.gates import missing_items as real_missing_items
from ketaclinic.screening.models import Consent, Screening
from ketaclinic.treatment import checklist as checklist_module
from ketaclinic.treatment.models import (
    ChecklistResult,
    SessionAlert,
    TreatmentSession,
    VitalReading,
)

from .conftest import clear_to_dose, clinic_today, questionnaire_today


def post(client, url, body=None):
    return client.post(url, data=json.dumps(body or {}), content_type="application/json")


@pytest.fixture
def session_body(staff, api_client, iv_appointment):
    response = post(api_client(staff["nurse"]), f"/api/v1/appointments/{iv_appointment.pk}/session")
    assert response.status_code == 201
    return response.json()


def item(body, item_id):
    return next(i for i in body["checklist"] if i["item"] == item_id)


def test_the_gate_fills_consent_and_eligibility_itself(
    monkeypatch, staff, api_client, iv_appointment
):
    monkeypatch.setattr(
        checklist_module.gates,
        "missing_items",
        lambda **kw: [
            GateItem(
                gates.CONSENT,
                "A signed consent for IV ketamine (the latest expired on 2026-01-01).",
            )
        ],
    )
    body = post(
        api_client(staff["nurse"]), f"/api/v1/appointments/{iv_appointment.pk}/session"
    ).json()
    consent = item(body, "consent_valid")
    assert consent["status"] == "failed" and consent["automatic"] and consent["blocks"]
    assert consent["finding"] == (
        "A signed consent for IV ketamine (the latest expired on 2026-01-01)."
    )
    assert item(body, "eligibility_accepted")["status"] == "met"


def test_the_checklist_reads_the_real_gate_by_code(
    monkeypatch, clinic, staff, api_client, esk_appointment, esk_patient
):
    """Accepted screening, valid consent, REMS enrollment signed by the patient only."""
    monkeypatch.setattr(checklist_module.gates, "missing_items", real_missing_items)
    doctor = staff["physician"].user
    Screening.objects.create(
        clinic=clinic,
        patient=esk_patient,
        protocol="esketamine-nasal",
        ruleset_version=1,
        facts={},
        result="eligible",
        findings=[],
        missing=[],
        created_by=doctor,
        decision="accept",
        decided_by=doctor,
        decided_by_name="Lena Chen",
        decided_at=timezone.now(),
    )
    today = clinic_today()
    Consent.objects.create(
        clinic=clinic,
        patient=esk_patient,
        family="esketamine-nasal",
        template_key="esketamine-nasal",
        template_version=1,
        title="t",
        text="x",
        risks=[],
        signed_name="Tom Berg",
        signed_at=timezone.now() - timedelta(days=1),
        signed_on=today - timedelta(days=1),
        via="tablet",
        expires_on=today + timedelta(days=365),
        rems_enrollment=True,
        pdf=b"%PDF-1.4 test",
        pdf_sha256="0" * 64,
    )
    body = post(
        api_client(staff["nurse"]), f"/api/v1/appointments/{esk_appointment.pk}/session"
    ).json()
    assert item(body, "eligibility_accepted")["status"] == "met"
    assert item(body, "consent_valid")["status"] == "met"
    rems_item = item(body, "rems_enrolled")
    assert (rems_item["status"], rems_item["finding"]) == (
        "failed",
        "The REMS patient enrollment co-signed by the prescriber.",
    )


def test_the_nurse_cannot_tick_an_automatic_item(staff, api_client, session_body):
    response = post(
        api_client(staff["nurse"]),
        f"/api/v1/sessions/{session_body['id']}/checklist/consent_valid",
        {"met": True, "version": session_body["version"]},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "item"]


def test_a_suicidality_item_left_blank_blocks_the_dose_too(
    staff, api_client, session_body, clinic, patient
):
    questionnaire_today(clinic, patient)
    MeasureAlert.objects.create(
        clinic=clinic,
        patient=patient,
        response=patient.measure_responses.first(),
        code="suicidality_unanswered",
        level="high",
        message="item 9 left blank",
        opened_at=session_body["started_at"],
    )
    body = api_client(staff["nurse"]).get(f"/api/v1/sessions/{session_body['id']}").json()
    row = item(body, "questionnaires_done_no_open_suicidality_alert")
    assert row["status"] == "failed" and row["blocks"] is True
    assert "1 open suicidality alert(s)" in row["finding"]


def test_an_open_suicidality_alert_blocks_until_overridden(
    staff, api_client, session_body, clinic, patient
):
    questionnaire_today(clinic, patient)
    response = MeasureAlert.objects.create(
        clinic=clinic,
        patient=patient,
        response=patient.measure_responses.first(),
        code="suicidality",
        level="urgent",
        message="item 9",
        opened_at=session_body["started_at"],
    )
    assert response.pk
    nurse, physician = api_client(staff["nurse"]), api_client(staff["physician"])
    body = nurse.get(f"/api/v1/sessions/{session_body['id']}").json()
    row = item(body, "questionnaires_done_no_open_suicidality_alert")
    assert row["status"] == "failed"
    assert "1 open suicidality alert(s)" in row["finding"]

    # A nurse may not override; nothing changes.
    denied = post(
        nurse,
        f"/api/v1/sessions/{body['id']}/checklist/questionnaires_done_no_open_suicidality_alert/override",
        {"reason": "seen", "version": body["version"]},
    )
    assert denied.status_code == 403
    assert not ChecklistResult.objects.filter(override_by__isnull=False).exists()

    no_reason = post(
        physician,
        f"/api/v1/sessions/{body['id']}/checklist/questionnaires_done_no_open_suicidality_alert/override",
        {"reason": "  ", "version": body["version"]},
    )
    assert no_reason.status_code == 422
    ok = post(
        physician,
        f"/api/v1/sessions/{body['id']}/checklist/questionnaires_done_no_open_suicidality_alert/override",
        {
            "reason": "Assessed in person: passive ideation, safety plan in place",
            "version": body["version"],
        },
    )
    assert ok.status_code == 200
    after = item(ok.json(), "questionnaires_done_no_open_suicidality_alert")
    assert after["overridden"] and not after["blocks"]
    assert ok.json()["overrides"][0]["reason"].startswith("Assessed in person")


def test_a_failed_hard_stop_blocks_dosing_and_changes_nothing(staff, api_client, session_body):
    nurse = api_client(staff["nurse"])
    response = post(
        nurse,
        f"/api/v1/sessions/{session_body['id']}/dosing",
        {"product": "Ketamine", "lot_number": "L1", "version": session_body["version"]},
    )
    assert response.status_code == 409
    assert response.json()["detail"].startswith("A hard-stop checklist item is not met")
    after = nurse.get(f"/api/v1/sessions/{session_body['id']}").json()
    assert after["state"] == "pre_dose"
    assert after["administration"] is None
    assert after["version"] == session_body["version"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("systolic", 301),
        ("diastolic", 19),
        ("heart_rate", 251),
        ("spo2", 101),
        ("respiratory_rate", 3),
        ("temperature_c", 46),
    ],
)
def test_implausible_vitals_are_refused_naming_the_field(
    staff, api_client, session_body, field, value
):
    reading = {
        "systolic": 120,
        "diastolic": 80,
        "heart_rate": 70,
        "spo2": 98,
        "respiratory_rate": 14,
    }
    reading[field] = value
    response = post(
        api_client(staff["nurse"]), f"/api/v1/sessions/{session_body['id']}/vitals", reading
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert not VitalReading.objects.exists()


def test_systolic_below_diastolic_is_an_entry_error(staff, api_client, session_body):
    response = post(
        api_client(staff["nurse"]),
        f"/api/v1/sessions/{session_body['id']}/vitals",
        {"systolic": 80, "diastolic": 90},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "systolic"]


def test_a_fractional_heart_rate_is_refused(staff, api_client, session_body):
    response = post(
        api_client(staff["nurse"]),
        f"/api/v1/sessions/{session_body['id']}/vitals",
        {"heart_rate": 72.5},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "heart_rate"]


def start_dosing(nurse, physician, body):
    """Clear the checklist (nurse ticks, physician overrides what failed) and start the infusion."""
    body = clear_to_dose(nurse, physician, body)
    response = post(
        nurse,
        f"/api/v1/sessions/{body['id']}/dosing",
        {"product": "Ketamine 10 mg/mL", "lot_number": "L1", "version": body["version"]},
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_systolic_179_does_not_alert_and_180_does(staff, api_client, session_body):
    nurse, physician = api_client(staff["nurse"]), api_client(staff["physician"])
    start_dosing(nurse, physician, session_body)
    url = f"/api/v1/sessions/{session_body['id']}/vitals"
    below = post(
        nurse,
        url,
        {"systolic": 179, "diastolic": 95, "heart_rate": 80, "spo2": 97, "respiratory_rate": 14},
    )
    assert below.status_code == 201
    assert below.json()["alerts"] == []
    at = post(
        nurse,
        url,
        {"systolic": 180, "diastolic": 95, "heart_rate": 80, "spo2": 97, "respiratory_rate": 14},
    )
    assert at.status_code == 201
    body = at.json()
    assert body["systolic"] == 180 and body["diastolic"] == 95
    assert [(a["code"], a["level"]) for a in body["alerts"]] == [("hypertension", "high")]
    assert body["alerts"][0]["message"] == (
        "Systolic BP 180 mmHg is at or above 180 mmHg (high): pause the infusion, notify the physician."
    )
    assert SessionAlert.objects.filter(code="hypertension").count() == 1
    session = nurse.get(f"/api/v1/sessions/{session_body['id']}").json()
    assert [r["systolic"] for r in session["readings"]] == [179, 180]
    assert session["readings"][1]["alerts"][0]["code"] == "hypertension"
    assert session["alerts"][0]["open"] is True


def test_spo2_below_88_is_urgent(staff, api_client, session_body):
    nurse, physician = api_client(staff["nurse"]), api_client(staff["physician"])
    start_dosing(nurse, physician, session_body)
    response = post(nurse, f"/api/v1/sessions/{session_body['id']}/vitals", {"spo2": 87})
    assert [(a["code"], a["level"]) for a in response.json()["alerts"]] == [
        ("desaturation", "urgent")
    ]


def test_the_get_shows_what_is_due_next(staff, api_client, session_body):
    nurse, physician = api_client(staff["nurse"]), api_client(staff["physician"])
    start_dosing(nurse, physician, session_body)
    body = nurse.get(f"/api/v1/sessions/{session_body['id']}").json()
    labels = [d["label"] for d in body["due"]]
    assert labels[0] == "Baseline BP/HR/SpO2"
    assert body["due"][0]["overdue"] is False


def test_the_therapist_cannot_record_a_dose_and_nothing_changes(staff, api_client, session_body):
    therapist = api_client(staff["therapist"])
    response = post(
        therapist,
        f"/api/v1/sessions/{session_body['id']}/dosing",
        {"product": "Ketamine", "lot_number": "L1", "version": session_body["version"]},
    )
    assert response.status_code == 403
    vitals = post(
        therapist,
        f"/api/v1/sessions/{session_body['id']}/vitals",
        {"systolic": 120, "diastolic": 80},
    )
    assert vitals.status_code == 403
    after = api_client(staff["nurse"]).get(f"/api/v1/sessions/{session_body['id']}").json()
    assert after["administration"] is None and after["readings"] == []
    assert after["version"] == session_body["version"]
    # The therapist may read the session.
    assert therapist.get(f"/api/v1/sessions/{session_body['id']}").status_code == 200
    assert (
        api_client(staff["front_desk"]).get(f"/api/v1/sessions/{session_body['id']}").status_code
        == 403
    )


def test_the_medication_item_shows_the_classes_on_the_list(
    staff, api_client, iv_appointment, clinic, patient
):
    from ketaclinic.patients.models import Medication

    Medication.objects.create(
        clinic=clinic, patient=patient, name="Clonazepam", med_class="benzodiazepine"
    )
    Medication.objects.create(
        clinic=clinic, patient=patient, name="Phenelzine", med_class="maoi", is_active=False
    )
    body = post(
        api_client(staff["nurse"]), f"/api/v1/appointments/{iv_appointment.pk}/session"
    ).json()
    assert (
        item(body, "medication_changes_reviewed")["finding"]
        == "On the medication list: benzodiazepine."
    )


def test_esketamine_fasting_is_judged_by_the_protocols_times(staff, api_client, esk_appointment):
    nurse = api_client(staff["nurse"])
    body = post(nurse, f"/api/v1/appointments/{esk_appointment.pk}/session").json()
    url = f"/api/v1/sessions/{body['id']}/checklist/fasting"

    missing = post(nurse, url, {"met": True, "version": body["version"]})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "hours_since_food"]
    assert item(nurse.get(f"/api/v1/sessions/{body['id']}").json(), "fasting")["status"] == (
        "pending"
    )

    # Ate 1.5 h ago, drank 20 minutes ago: the tick does not make it met.
    early = post(
        nurse,
        url,
        {
            "met": True,
            "hours_since_food": 1.5,
            "hours_since_liquids": 0.3,
            "version": body["version"],
        },
    ).json()
    row = item(early, "fasting")
    assert (row["status"], row["finding"]) == (
        "failed",
        "Last food 1.5 h ago, last liquids 0.3 h ago. Not fasted long enough: the protocol asks "
        "for no food for 2 h and no liquids for 30 min.",
    )
    assert early["fasting"] == {"hours_since_food": 1.5, "hours_since_liquids": 0.3}
    assert not row["blocks"]  # not a hard stop: the physician and nurse see it flagged

    exact = post(
        nurse,
        url,
        {
            "met": True,
            "hours_since_food": 2,
            "hours_since_liquids": 0.5,
            "version": early["version"],
        },
    ).json()
    row = item(exact, "fasting")
    assert (row["status"], row["finding"]) == (
        "met",
        "Last food 2 h ago, last liquids 0.5 h ago.",
    )


def test_iv_fasting_records_the_hours_and_the_nurse_judges(staff, api_client, session_body):
    body = post(
        api_client(staff["nurse"]),
        f"/api/v1/sessions/{session_body['id']}/checklist/fasting",
        {
            "met": True,
            "hours_since_food": 6,
            "hours_since_liquids": 2,
            "version": session_body["version"],
        },
    ).json()
    row = item(body, "fasting")
    assert (row["status"], row["finding"]) == ("met", "Last food 6 h ago, last liquids 2 h ago.")


def test_negative_fasting_hours_are_refused(staff, api_client, session_body):
    response = post(
        api_client(staff["nurse"]),
        f"/api/v1/sessions/{session_body['id']}/checklist/fasting",
        {
            "met": True,
            "hours_since_food": 3,
            "hours_since_liquids": -1,
            "version": session_body["version"],
        },
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "hours_since_liquids"]
    assert TreatmentSession.objects.get(pk=session_body["id"]).hours_since_food is None


def test_a_heart_rate_too_large_for_any_column_is_refused_naming_it(
    staff, api_client, session_body
):
    # 1e308 used to reach the database and answer 500 (issue 14).
    response = api_client(staff["nurse"]).post(
        f"/api/v1/sessions/{session_body['id']}/vitals",
        '{"heart_rate": 1e308, "spo2": 98}',
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "heart_rate"]
    assert not VitalReading.objects.exists()
