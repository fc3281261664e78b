"""A session from check-in to co-signature through the API, and the 409s on the way."""

from __future__ import annotations

import json
from datetime import timedelta

from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.scheduling.models import Appointment
from ketaclinic.treatment.models import SessionEvent, TreatmentSession

from .conftest import fasted, pdf_text, questionnaire_today


def post(client, url, body=None):
    return client.post(url, data=json.dumps(body or {}), content_type="application/json")


def start(client, appointment):
    return post(client, f"/api/v1/appointments/{appointment.pk}/session")


def tick(client, body):
    """Confirm every manual checklist item; returns the session body after."""
    for item in body["checklist"]:
        if not item["automatic"]:
            response = post(
                client,
                f"/api/v1/sessions/{body['id']}/checklist/{item['item']}",
                {"met": True, "version": body["version"], **fasted(item["item"])},
            )
            assert response.status_code == 200, response.content
            body = response.json()
    return body


def test_it_starts_a_session_from_a_checked_in_appointment(staff, api_client, iv_appointment):
    nurse = api_client(staff["nurse"])
    response = start(nurse, iv_appointment)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "pre_dose"
    assert body["protocol"] == {"code": "ketamine-iv-mood", "version": 2}
    items = [i["item"] for i in body["checklist"]]
    assert items[:3] == ["identity_confirmed", "consent_valid", "eligibility_accepted"]
    assert "pregnancy_test" in items  # a 42-year-old woman
    iv_appointment.refresh_from_db()
    assert iv_appointment.status == "in_progress"
    assert SessionEvent.objects.filter(session_id=body["id"], to_state="pre_dose").exists()
    assert AuditEvent.objects.filter(action="start", object_id=str(body["id"])).exists()


def test_it_refuses_a_booked_appointment_with_what_is_missing(staff, api_client, iv_appointment):
    Appointment.objects.filter(pk=iv_appointment.pk).update(status="booked")
    response = start(api_client(staff["nurse"]), iv_appointment)
    assert response.status_code == 409
    assert response.json()["missing"] == [
        "The patient is not checked in (the appointment is booked)."
    ]
    assert not TreatmentSession.objects.exists()


def test_it_refuses_a_second_session_and_a_paused_course(staff, api_client, iv_appointment):
    nurse = api_client(staff["nurse"])
    assert start(nurse, iv_appointment).status_code == 201
    again = start(nurse, iv_appointment)
    assert again.status_code == 409
    assert "A session has already been started for this appointment." in again.json()["missing"]


def test_it_refuses_an_inactive_course(staff, api_client, iv_appointment):
    iv_appointment.course.status = "paused"
    iv_appointment.course.save()
    response = start(api_client(staff["nurse"]), iv_appointment)
    assert response.status_code == 409
    assert response.json()["missing"] == ["The treatment course is paused, not active."]


def test_another_clinic_gets_404(outsider, api_client, iv_appointment):
    response = start(api_client(outsider), iv_appointment)
    assert response.status_code == 404
    assert not TreatmentSession.objects.exists()


def test_a_complete_iv_session(staff, api_client, iv_appointment, clinic, patient):
    nurse = api_client(staff["nurse"])
    physician = api_client(staff["physician"])
    questionnaire_today(clinic, patient)
    body = start(nurse, iv_appointment).json()
    sid = body["id"]
    # Hard stops still open: dosing is refused.
    refused = post(
        nurse,
        f"/api/v1/sessions/{sid}/dosing",
        {"product": "Ketamine 10 mg/mL", "lot_number": "L1", "version": body["version"]},
    )
    assert refused.status_code == 409
    blocking = {b["item"] for b in refused.json()["blocking"]}
    assert {"identity_confirmed", "predose_vitals_in_range", "escort_confirmed"} <= blocking

    body = tick(nurse, body)
    started = timezone.now() - timedelta(minutes=95)
    TreatmentSession.objects.filter(pk=sid).update(started_at=started - timedelta(minutes=15))
    vit = post(
        nurse,
        f"/api/v1/sessions/{sid}/vitals",
        {
            "systolic": 128,
            "diastolic": 80,
            "heart_rate": 72,
            "spo2": 98,
            "respiratory_rate": 14,
            "taken_at": (started - timedelta(minutes=5)).isoformat(),
        },
    )
    assert vit.status_code == 201, vit.content
    assert vit.json()["alerts"] == []
    body = nurse.get(f"/api/v1/sessions/{sid}").json()
    assert [i for i in body["checklist"] if i["blocks"]] == []

    dosed = post(
        nurse,
        f"/api/v1/sessions/{sid}/dosing",
        {
            "product": "Ketamine 10 mg/mL",
            "lot_number": "L1",
            "started_at": started.isoformat(),
            "version": body["version"],
        },
    )
    assert dosed.status_code == 200, dosed.content
    body = dosed.json()
    assert body["state"] == "dosing"
    assert body["administration"]["dose_mg"] == 35  # 0.5 mg/kg x 70 kg
    assert body["administration"]["rate_ml_per_h"] == 5.25  # 3.5 mL over 40 min

    high = post(
        nurse,
        f"/api/v1/sessions/{sid}/vitals",
        {
            "systolic": 182,
            "diastolic": 100,
            "heart_rate": 88,
            "spo2": 97,
            "respiratory_rate": 14,
            "taken_at": (started + timedelta(minutes=38)).isoformat(),
        },
    )
    assert high.status_code == 201
    assert [(a["code"], a["level"]) for a in high.json()["alerts"]] == [("hypertension", "high")]
    assert "notify the physician" in high.json()["alerts"][0]["message"]

    body = nurse.get(f"/api/v1/sessions/{sid}").json()
    ended = post(
        nurse,
        f"/api/v1/sessions/{sid}/dosing/end",
        {
            "drawn": 3.5,
            "given": 3.5,
            "left_over": 0,
            "ended_at": (started + timedelta(minutes=40)).isoformat(),
            "version": body["version"],
        },
    )
    assert ended.status_code == 200, ended.content
    body = ended.json()
    assert body["state"] == "monitoring"
    assert body["administration"]["total_given_mg"] == 35

    for kind, value in (("moaas", 5), ("cadss6", 0)):
        assert (
            post(
                nurse, f"/api/v1/sessions/{sid}/observations", {"kind": kind, "value": value}
            ).status_code
            == 201
        )
    assert (
        post(
            nurse,
            f"/api/v1/sessions/{sid}/vitals",
            {
                "systolic": 130,
                "diastolic": 82,
                "heart_rate": 70,
                "spo2": 98,
                "respiratory_rate": 14,
            },
        ).status_code
        == 201
    )
    body = nurse.get(f"/api/v1/sessions/{sid}").json()
    refused = post(nurse, f"/api/v1/sessions/{sid}/discharge", {"version": body["version"]})
    assert refused.status_code == 409
    assert {u["code"] for u in refused.json()["unmet"]} == {"dissociation", "gait", "escort"}

    assessed = post(
        nurse,
        f"/api/v1/sessions/{sid}/assessment",
        {
            "dissociation_resolved": True,
            "walks_steadily": True,
            "escort_present": True,
            "version": body["version"],
        },
    )
    assert assessed.json()["state"] == "ready_for_discharge"
    done = post(nurse, f"/api/v1/sessions/{sid}/discharge", {"version": assessed.json()["version"]})
    assert done.status_code == 200
    body = done.json()
    assert body["state"] == "discharged"
    assert body["discharge"]["discharged_at"] is not None
    iv_appointment.refresh_from_db()
    assert iv_appointment.status == "completed"

    signed = post(nurse, f"/api/v1/sessions/{sid}/sign", {"version": body["version"]})
    assert signed.status_code == 200
    cosigned = post(
        physician, f"/api/v1/sessions/{sid}/sign", {"version": signed.json()["version"]}
    )
    assert cosigned.status_code == 200
    assert cosigned.json()["signed"]["physician_at"] is not None
    transitions = list(
        SessionEvent.objects.filter(session_id=sid, kind="transition")
        .order_by("pk")
        .values_list("to_state", flat=True)
    )
    assert transitions == ["pre_dose", "dosing", "monitoring", "ready_for_discharge", "discharged"]
    pdf = nurse.get(f"/api/v1/sessions/{sid}/summary.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    text = pdf_text(pdf.content)
    assert "Ketamine 10 mg/mL lot L1 · iv · dose 35 mg (0.5 mg/kg on 70 kg)" in text
    assert "total given 35 mg · drawn 3.5 / given" in text and "left over 0 mL" in text
    assert "182/100" in text and "hypertension (high)" in text  # the alerting reading
