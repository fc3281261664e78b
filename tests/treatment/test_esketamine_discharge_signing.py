"""Esketamine: devices and spacing, the 2-hour rule (119 vs 120 min), REMS form, signing, amendments, locking."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.core import mail
from django.db.models import F
from django.utils import timezone

from ketaclinic.audit.models import AuditEvent
from ketaclinic.patients.models import Medication
from ketaclinic.treatment.models import (
    Administration,
    Amendment,
    DeviceDose,
    RemsForm,
    TreatmentSession,
    VitalReading,
)

from .conftest import clinic_today, fasted, pdf_text, questionnaire_today


def post(client, url, body=None):
    return client.post(url, data=json.dumps(body or {}), content_type="application/json")


def get(client, sid):
    return client.get(f"/api/v1/sessions/{sid}").json()


@pytest.fixture
def esk(staff, api_client, esk_appointment, clinic, esk_patient):
    """An esketamine session, checklist done, pre-dose BP taken, first device 119 minutes ago."""
    nurse = api_client(staff["nurse"])
    questionnaire_today(clinic, esk_patient)
    Medication.objects.create(
        clinic=clinic, patient=esk_patient, name="Lorazepam", med_class="benzodiazepine"
    )
    body = post(nurse, f"/api/v1/appointments/{esk_appointment.pk}/session").json()
    sid = body["id"]
    first = timezone.now() - timedelta(minutes=119)
    TreatmentSession.objects.filter(pk=sid).update(started_at=first - timedelta(minutes=20))
    for row in body["checklist"]:
        if not row["automatic"]:
            body = post(
                nurse,
                f"/api/v1/sessions/{sid}/checklist/{row['item']}",
                {"met": True, "version": body["version"], **fasted(row["item"])},
            ).json()
    post(
        nurse,
        f"/api/v1/sessions/{sid}/vitals",
        {
            "systolic": 132,
            "diastolic": 84,
            "heart_rate": 70,
            "spo2": 98,
            "taken_at": (first - timedelta(minutes=10)).isoformat(),
        },
    )
    body = get(nurse, sid)
    assert [r["item"] for r in body["checklist"] if r["blocks"]] == []
    response = post(
        nurse,
        f"/api/v1/sessions/{sid}/dosing",
        {"product": "Spravato 28 mg", "lot_number": "ESK123", "version": body["version"]},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (
        body["administration"]["dose_mg"] == 56 and body["administration"]["devices_planned"] == 2
    )
    return {"nurse": nurse, "sid": sid, "first": first}


def finish_monitoring(nurse, sid, first):
    d1 = post(nurse, f"/api/v1/sessions/{sid}/devices", {"given_at": first.isoformat()})
    assert d1.status_code == 201 and d1.json()["warnings"] == []
    d2 = post(
        nurse,
        f"/api/v1/sessions/{sid}/devices",
        {"given_at": (first + timedelta(minutes=5)).isoformat()},
    )
    assert d2.json()["warnings"] == []
    body = get(nurse, sid)
    ended = post(
        nurse,
        f"/api/v1/sessions/{sid}/dosing/end",
        {"drawn": 2, "given": 2, "left_over": 0, "version": body["version"]},
    )
    assert ended.status_code == 200, ended.content
    assert ended.json()["administration"]["total_given_mg"] == 56
    assert ended.json()["dose_started_at"] == first.isoformat()
    post(
        nurse,
        f"/api/v1/sessions/{sid}/vitals",
        {
            "systolic": 150,
            "diastolic": 92,
            "heart_rate": 80,
            "spo2": 97,
            "taken_at": (first + timedelta(minutes=40)).isoformat(),
        },
    )
    post(
        nurse,
        f"/api/v1/sessions/{sid}/observations",
        {"kind": "moaas", "value": 4, "taken_at": (first + timedelta(minutes=40)).isoformat()},
    )
    post(
        nurse,
        f"/api/v1/sessions/{sid}/observations",
        {"kind": "cadss6", "value": 6, "taken_at": (first + timedelta(minutes=40)).isoformat()},
    )
    post(
        nurse,
        f"/api/v1/sessions/{sid}/vitals",
        {"systolic": 128, "diastolic": 80, "heart_rate": 70, "spo2": 98, "respiratory_rate": 14},
    )
    post(nurse, f"/api/v1/sessions/{sid}/observations", {"kind": "moaas", "value": 5})
    post(nurse, f"/api/v1/sessions/{sid}/observations", {"kind": "cadss6", "value": 0})
    body = get(nurse, sid)
    assessed = post(
        nurse,
        f"/api/v1/sessions/{sid}/assessment",
        {
            "dissociation_resolved": True,
            "walks_steadily": True,
            "escort_present": True,
            "respiratory_depression": False,
            "could_have_left_at": (first + timedelta(minutes=95)).isoformat(),
            "version": body["version"],
        },
    )
    assert assessed.status_code == 200
    return assessed.json()


def test_a_device_inside_the_interval_is_refused_unless_a_physician_overrides(
    esk, staff, api_client
):
    nurse, sid, first = esk["nurse"], esk["sid"], esk["first"]
    post(nurse, f"/api/v1/sessions/{sid}/devices", {"given_at": first.isoformat()})
    too_soon = {"given_at": (first + timedelta(minutes=4)).isoformat()}
    before = AuditEvent.objects.count()
    refused = post(nurse, f"/api/v1/sessions/{sid}/devices", too_soon)
    assert refused.status_code == 422
    assert refused.json()["detail"] == [
        {
            "loc": ["body", "given_at"],
            "msg": "Device 2 was given 4 min 0 s after device 1; wait at least 5 minutes "
            "between devices (SPRAVATO-LABEL). Not recorded: a physician may record it with "
            "an override reason.",
        }
    ]
    nurse_override = post(
        nurse, f"/api/v1/sessions/{sid}/devices", {**too_soon, "override_reason": "Urgent"}
    )
    assert nurse_override.status_code == 422
    assert nurse_override.json()["detail"][0]["loc"] == ["body", "override_reason"]
    assert DeviceDose.objects.filter(session_id=sid).count() == 1
    assert AuditEvent.objects.count() == before
    physician = api_client(staff["physician"])
    second = post(
        physician,
        f"/api/v1/sessions/{sid}/devices",
        {**too_soon, "override_reason": "Patient sneezed; re-dosed on my order"},
    )
    assert second.status_code == 201
    assert second.json()["warnings"] == [
        "Device 2 was given 4 min 0 s after device 1; wait at least 5 minutes between devices (SPRAVATO-LABEL)."
    ]
    event = AuditEvent.objects.filter(action="device").latest("pk")
    assert event.detail["override_reason"] == "Patient sneezed; re-dosed on my order"
    third = post(nurse, f"/api/v1/sessions/{sid}/devices", {})
    assert third.status_code == 422  # 56 mg = 2 devices
    assert DeviceDose.objects.filter(session_id=sid).count() == 2


def test_the_page_offers_no_device_after_the_last_and_refuses_one_too_soon_without_a_tick(
    esk, staff, login
):
    nurse, sid, first = esk["nurse"], esk["sid"], esk["first"]
    post(nurse, f"/api/v1/sessions/{sid}/devices", {"given_at": first.isoformat()})
    page = login(staff["nurse"])
    session = TreatmentSession.objects.get(pk=sid)
    clock = timezone.localtime(first + timedelta(minutes=3), session.clinic.tz)
    refused = page.post(
        f"/treatment/sessions/{sid}/do/device/",
        {"given_at": clock.isoformat(), "version": session.version},
    )
    html = refused.content.decode()
    assert refused.status_code == 422
    assert "Device 2 was given 3 min 0 s after device 1" in html
    assert "Device 2 recorded" not in html and "✓ All" not in html
    post(
        nurse,
        f"/api/v1/sessions/{sid}/devices",
        {"given_at": (first + timedelta(minutes=6)).isoformat()},
    )
    done = page.get(f"/treatment/sessions/{sid}/").content.decode()
    assert "✓ All 2 devices given." in done
    assert "Device 3 given" not in done


def test_discharge_is_refused_at_119_minutes_and_allowed_at_120(esk):
    nurse, sid, first = esk["nurse"], esk["sid"], esk["first"]
    body = finish_monitoring(nurse, sid, first)
    assert body["state"] == "monitoring"
    refused = post(nurse, f"/api/v1/sessions/{sid}/discharge", {"version": body["version"]})
    assert refused.status_code == 409
    unmet = refused.json()["unmet"]
    assert [u["code"] for u in unmet] == ["observation_time"]
    assert unmet[0]["message"].startswith("Observed 119 of 120 minutes since the first dose")
    assert get(nurse, sid)["state"] == "monitoring"

    # One minute later (moved back in time by a minute).
    TreatmentSession.objects.filter(pk=sid).update(
        dose_started_at=F("dose_started_at") - timedelta(minutes=1)
    )
    DeviceDose.objects.filter(session_id=sid).update(given_at=F("given_at") - timedelta(minutes=1))
    body = get(nurse, sid)
    allowed = post(nurse, f"/api/v1/sessions/{sid}/discharge", {"version": body["version"]})
    assert allowed.status_code == 200, allowed.content
    assert allowed.json()["state"] == "discharged"


def test_a_physician_may_override_discharge_with_a_reason(esk, staff, api_client):
    nurse, sid, first = esk["nurse"], esk["sid"], esk["first"]
    body = finish_monitoring(nurse, sid, first)
    nurse_try = post(
        nurse,
        f"/api/v1/sessions/{sid}/discharge",
        {"override_reason": "I say so", "version": body["version"]},
    )
    assert nurse_try.status_code == 403
    physician = api_client(staff["physician"])
    done = post(
        physician,
        f"/api/v1/sessions/{sid}/discharge",
        {"override_reason": "Transfer to ED for unrelated injury", "version": body["version"]},
    )
    assert done.status_code == 200
    overrides = done.json()["overrides"]
    assert overrides == [
        {
            "kind": "discharge",
            "item": "observation_time",
            "reason": "Transfer to ED for unrelated injury",
            "by": "Lena Chen",
            "at": overrides[0]["at"],
        }
    ]


def test_the_rems_form_must_be_complete_before_signing(esk, clinic, staff, api_client):
    nurse, sid, first = esk["nurse"], esk["sid"], esk["first"]
    finish_monitoring(nurse, sid, first)
    TreatmentSession.objects.filter(pk=sid).update(
        dose_started_at=F("dose_started_at") - timedelta(minutes=1)
    )
    DeviceDose.objects.filter(session_id=sid).update(given_at=F("given_at") - timedelta(minutes=1))
    body = post(
        nurse, f"/api/v1/sessions/{sid}/discharge", {"version": get(nurse, sid)["version"]}
    ).json()
    refused = post(nurse, f"/api/v1/sessions/{sid}/sign", {"version": body["version"]})
    assert refused.status_code == 409
    assert {m["field"] for m in refused.json()["missing"]} == {
        "clinician_phone",
        "clinician_email",
        "setting_address",
    }
    assert TreatmentSession.objects.get(pk=sid).nurse_signed_at is None

    clinic.address = "12 Harbor Road, Portland ME"
    clinic.phone = "+1 207 555 0100"
    clinic.save()
    staff["nurse"].user.email = "okafor@example.org"
    staff["nurse"].user.save()
    signed = post(nurse, f"/api/v1/sessions/{sid}/sign", {"version": body["version"]})
    assert signed.status_code == 200, signed.content
    form = RemsForm.objects.get(session_id=sid)
    data = form.data
    assert (
        data["bp_before"] == "132/84"
        and data["bp_40_min"] == "150/92"
        and data["bp_end"] == "128/80"
    )
    assert data["dose"] == "56 mg" and data["lot_number"] == "ESK123"
    assert data["minutes_monitored"] == 120  # first device moved a minute earlier
    assert data["minutes_until_ready"] == 96
    assert data["concomitant_benzodiazepine"] is True and data["concomitant_maoi"] is False
    assert data["sedation_occurred"] is True and data["sedation_resolved"] is True
    assert data["dissociation_occurred"] is True and data["dissociation_resolved"] is True
    assert data["respiratory_depression_occurred"] is False
    assert data["setting_address"] == "12 Harbor Road, Portland ME"
    assert form.due_on == clinic_today() + timedelta(days=7)

    admin = api_client(staff["admin"])
    listing = admin.get("/api/v1/rems-forms").json()
    assert listing == [
        {
            "id": form.pk,
            "session_id": sid,
            "due_on": form.due_on.isoformat(),
            "submitted_on": None,
            "status": "due",
        }
    ]
    marked = post(
        admin,
        f"/api/v1/rems-forms/{form.pk}/submitted",
        {"submitted_on": clinic_today().isoformat()},
    )
    assert marked.status_code == 200
    assert admin.get("/api/v1/rems-forms").json()[0]["status"] == "submitted"


def test_signed_sessions_are_read_only_and_corrected_by_amendment(esk, clinic, staff, api_client):
    clinic.address, clinic.phone = "1 Main St", "555"
    clinic.save()
    staff["nurse"].user.email = "n@example.org"
    staff["nurse"].user.save()
    nurse, sid, first = esk["nurse"], esk["sid"], esk["first"]
    body = finish_monitoring(nurse, sid, first)
    physician = api_client(staff["physician"])
    body = post(
        physician,
        f"/api/v1/sessions/{sid}/discharge",
        {"override_reason": "test", "version": body["version"]},
    ).json()
    body = post(nurse, f"/api/v1/sessions/{sid}/sign", {"version": body["version"]}).json()
    readings = VitalReading.objects.filter(session_id=sid).count()

    late = post(nurse, f"/api/v1/sessions/{sid}/vitals", {"systolic": 120, "diastolic": 80})
    assert late.status_code == 409
    assert "read-only" in late.json()["detail"]
    assert VitalReading.objects.filter(session_id=sid).count() == readings

    reading = VitalReading.objects.filter(session_id=sid).order_by("taken_at").last()
    amended = post(
        nurse,
        f"/api/v1/sessions/{sid}/amendments",
        {
            "target": f"reading:{reading.pk}",
            "field": "systolic",
            "new_value": "126",
            "reason": "Transcription error",
            "version": body["version"],
        },
    )
    assert amended.status_code == 201, amended.content
    reading.refresh_from_db()
    assert reading.systolic == 128  # the original is kept
    assert amended.json()["amendments"] == [
        {
            "target": f"reading:{reading.pk}",
            "field": "systolic",
            "old_value": "128",
            "new_value": "126",
            "reason": "Transcription error",
            "at": amended.json()["amendments"][0]["at"],
        }
    ]
    impossible = post(
        nurse,
        f"/api/v1/sessions/{sid}/amendments",
        {
            "target": f"reading:{reading.pk}",
            "field": "systolic",
            "new_value": "400",
            "reason": "x",
            "version": amended.json()["version"],
        },
    )
    assert impossible.status_code == 422
    assert Amendment.objects.count() == 1


def test_two_people_editing_the_second_save_is_refused(esk, staff, api_client):
    nurse, sid = esk["nurse"], esk["sid"]
    other = api_client(staff["physician"])
    loaded = get(nurse, sid)["version"]
    first = post(
        other,
        f"/api/v1/sessions/{sid}/infusion",
        {"kind": "pause", "reason": "x", "version": loaded},
    )
    assert first.status_code == 422  # nasal spray has no infusion; nothing was written
    assert get(nurse, sid)["version"] == loaded
    stop = post(
        other, f"/api/v1/sessions/{sid}/stop", {"reason": "Patient unwell", "version": loaded}
    )
    assert stop.status_code == 200
    second = post(
        nurse, f"/api/v1/sessions/{sid}/stop", {"reason": "Other reason", "version": loaded}
    )
    assert second.status_code == 409
    assert second.json()["detail"].startswith("Someone else saved this record")
    session = TreatmentSession.objects.get(pk=sid)
    assert session.stop_reason == "Patient unwell"


def test_a_serious_adverse_event_emails_the_physicians_without_patient_data(
    esk, staff, esk_patient, django_capture_on_commit_callbacks
):
    staff["physician"].user.email = "chen@example.org"
    staff["physician"].user.save()
    nurse, sid = esk["nurse"], esk["sid"]
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            nurse,
            f"/api/v1/sessions/{sid}/adverse-events",
            {
                "type": "hypertension",
                "severity": "severe",
                "outcome": "resolving",
                "interventions": ["physician_called", "drug_given"],
                "drug_given": "labetalol 10 mg IV",
                "serious": True,
            },
        )
    assert response.status_code == 201, response.content
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["chen@example.org"]
    text = message.subject + message.body
    assert str(sid) in text
    for private in (esk_patient.family_name, esk_patient.given_name, esk_patient.mrn):
        assert private not in text


def section(html, heading_id):
    """The HTML of the listing section whose heading has this id."""
    start = html.index(f'id="{heading_id}"')
    return html[start : html.index("</section>", start)]


def test_the_rems_form_downloads_as_csv_and_pdf(esk, staff, login, esk_patient):
    nurse, sid, first = esk["nurse"], esk["sid"], esk["first"]
    finish_monitoring(nurse, sid, first)
    body = ready_to_leave(nurse, sid)
    discharged = post(nurse, f"/api/v1/sessions/{sid}/discharge", {"version": body["version"]})
    assert discharged.status_code == 200, discharged.content
    form = RemsForm.objects.get(session_id=sid)
    page = login(staff["admin"])
    rows = list(
        csv.reader(io.StringIO(page.get(f"/treatment/rems/{form.pk}/form.csv").content.decode()))
    )
    assert rows[0] == ["form_version", "field", "label", "value"]
    values = {row[1]: row[3] for row in rows[1:]}
    assert {key: values[key] for key in ("bp_before", "bp_40_min", "bp_end")} == {
        "bp_before": "132/84",
        "bp_40_min": "150/92",
        "bp_end": "128/80",
    }
    assert values["dose"] == "56 mg" and values["lot_number"] == "ESK123"
    assert values["minutes_monitored"] == "120" and values["minutes_until_ready"] == "96"
    assert values["patient_name"] == "Tom Berg"
    assert values["concomitant_benzodiazepine"] == "Yes" and values["concomitant_maoi"] == "No"
    pdf = pdf_text(page.get(f"/treatment/rems/{form.pk}/form.pdf").content)
    assert "Tom Berg" in pdf and "150/92" in pdf and "ESK123" in pdf

    listing = page.get("/treatment/rems/").content.decode()
    due = section(listing, "due-h")
    assert "→ Due</span> 1" in due and "Tom Berg" in due
    assert f"/treatment/rems/{form.pk}/form.csv" in due
    assert "None." in section(listing, "overdue-h") and "None." in section(listing, "submitted-h")


def test_csv_cells_that_look_like_formulas_are_quoted(esk, staff, login, esk_patient):
    esk_patient.given_name = '=HYPERLINK("http://evil.example","x")'
    esk_patient.family_name = "+Berg"
    esk_patient.save()
    nurse, sid, first = esk["nurse"], esk["sid"], esk["first"]
    finish_monitoring(nurse, sid, first)
    body = ready_to_leave(nurse, sid)
    post(nurse, f"/api/v1/sessions/{sid}/discharge", {"version": body["version"]})
    form = RemsForm.objects.get(session_id=sid)
    text = login(staff["admin"]).get(f"/treatment/rems/{form.pk}/form.csv").content.decode()
    values = {row[1]: row[3] for row in csv.reader(io.StringIO(text))}
    assert values["patient_name"] == '\'=HYPERLINK("http://evil.example","x") +Berg'
    assert values["minutes_monitored"] == "120"  # numbers are left alone


def ready_to_leave(nurse, sid):
    """Move the first device a minute earlier: 120 minutes have passed."""
    TreatmentSession.objects.filter(pk=sid).update(
        dose_started_at=F("dose_started_at") - timedelta(minutes=1)
    )
    DeviceDose.objects.filter(session_id=sid).update(given_at=F("given_at") - timedelta(minutes=1))
    return get(nurse, sid)


def test_discharge_asks_for_the_could_have_left_estimate_and_never_invents_it(esk):
    nurse, sid, first = esk["nurse"], esk["sid"], esk["first"]
    finish_monitoring(nurse, sid, first)
    TreatmentSession.objects.filter(pk=sid).update(could_have_left_at=None)
    body = ready_to_leave(nurse, sid)

    refused = post(nurse, f"/api/v1/sessions/{sid}/discharge", {"version": body["version"]})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "could_have_left_at"]
    stored = TreatmentSession.objects.get(pk=sid)
    # Still monitoring (the assessment at 119 minutes was too early), nothing written.
    assert (stored.state, stored.discharged_at, stored.version) == (
        "monitoring",
        None,
        body["version"],
    )
    assert not RemsForm.objects.filter(session_id=sid).exists()

    estimate = first + timedelta(minutes=80)
    done = post(
        nurse,
        f"/api/v1/sessions/{sid}/discharge",
        {"could_have_left_at": estimate.isoformat(), "version": body["version"]},
    )
    assert done.status_code == 200, done.content
    assert done.json()["discharge"]["could_have_left_at"] == estimate.isoformat()


def test_the_physician_who_signed_cannot_also_cosign(esk, clinic, staff, api_client):
    clinic.address, clinic.phone = "1 Main St", "555"
    clinic.save()
    staff["nurse"].user.email = "okafor@example.org"
    staff["nurse"].user.save()
    nurse, sid, first = esk["nurse"], esk["sid"], esk["first"]
    finish_monitoring(nurse, sid, first)
    body = ready_to_leave(nurse, sid)
    body = post(nurse, f"/api/v1/sessions/{sid}/discharge", {"version": body["version"]}).json()
    physician = api_client(staff["physician"])
    signed = post(physician, f"/api/v1/sessions/{sid}/sign", {"version": body["version"]})
    assert signed.status_code == 200, signed.content
    again = post(physician, f"/api/v1/sessions/{sid}/sign", {"version": signed.json()["version"]})
    assert again.status_code == 409
    assert again.json()["detail"] == (
        "You signed this session; the co-signature must come from another physician."
    )
    stored = TreatmentSession.objects.get(pk=sid)
    assert stored.physician_signed_at is None and stored.version == signed.json()["version"]


def test_a_stopped_esketamine_session_counts_monitoring_until_the_stop(esk, staff, api_client):
    from ketaclinic.treatment.rems import form_data

    nurse, sid, first = esk["nurse"], esk["sid"], esk["first"]
    finish_monitoring(nurse, sid, first)
    body = get(nurse, sid)
    stopped = post(
        nurse,
        f"/api/v1/sessions/{sid}/stop",
        {"reason": "Transferred to the emergency department", "version": body["version"]},
    )
    assert stopped.status_code == 200
    session = TreatmentSession.objects.get(pk=sid)
    assert form_data(session)["minutes_monitored"] == 119
    assert RemsForm.objects.filter(session_id=sid).exists()


def rems_ready(clinic, staff):
    """The clinic and clinician details the form asks for."""
    clinic.address, clinic.phone = "12 Harbor Road, Portland ME", "+1 207 555 0100"
    clinic.save()
    staff["nurse"].user.email = "okafor@example.org"
    staff["nurse"].user.save()


def test_a_session_stopped_after_the_first_device_can_be_signed_honestly(
    esk, clinic, staff, api_client
):
    rems_ready(clinic, staff)
    nurse, sid = esk["nurse"], esk["sid"]
    given = timezone.now() - timedelta(minutes=10)
    assert (
        post(nurse, f"/api/v1/sessions/{sid}/devices", {"given_at": given.isoformat()}).status_code
        == 201
    )
    refused = post(
        nurse,
        f"/api/v1/sessions/{sid}/stop",
        {"reason": "Severe nausea", "version": get(nurse, sid)["version"]},
    )
    assert refused.status_code == 422  # the amounts are owed once a device was given
    stopped = post(
        nurse,
        f"/api/v1/sessions/{sid}/stop",
        {
            "reason": "Severe nausea",
            "drawn": 2,
            "given": 1,
            "left_over": 1,
            "version": get(nurse, sid)["version"],
        },
    )
    assert stopped.status_code == 200, stopped.content
    assert stopped.json()["administration"]["total_given_mg"] == 28
    signed = post(nurse, f"/api/v1/sessions/{sid}/sign", {"version": stopped.json()["version"]})
    assert signed.status_code == 200, signed.content

    stop_at = TreatmentSession.objects.get(pk=sid).events.get(to_state="stopped").at
    note = f"Not applicable: session stopped at {timezone.localtime(stop_at, clinic.tz):%H:%M}"
    data = RemsForm.objects.get(session_id=sid).data
    for field in (
        "minutes_until_ready",
        "bp_40_min",
        "bp_end",
        "vitals_acceptable_end",
        "sedation_occurred",
        "dissociation_occurred",
    ):
        assert data[field] == note, field
    assert data["bp_before"] == "132/84" and data["minutes_monitored"] == 10
    assert data["dose"] == "other (28 mg)"


def signed_esk(esk, clinic, staff):
    rems_ready(clinic, staff)
    nurse, sid, first = esk["nurse"], esk["sid"], esk["first"]
    finish_monitoring(nurse, sid, first)
    body = ready_to_leave(nurse, sid)
    body = post(nurse, f"/api/v1/sessions/{sid}/discharge", {"version": body["version"]}).json()
    body = post(nurse, f"/api/v1/sessions/{sid}/sign", {"version": body["version"]}).json()
    assert body["signed"]["nurse_at"], body
    return nurse, sid, body


def amend(nurse, sid, target, field, value, reason="Correction"):
    return post(
        nurse,
        f"/api/v1/sessions/{sid}/amendments",
        {
            "target": target,
            "field": field,
            "new_value": value,
            "reason": reason,
            "version": get(nurse, sid)["version"],
        },
    )


def test_amendments_reach_an_unsubmitted_rems_form(esk, clinic, staff):
    nurse, sid, _ = signed_esk(esk, clinic, staff)
    form = RemsForm.objects.get(session_id=sid)
    assert (form.data["lot_number"], form.data["bp_40_min"]) == ("ESK123", "150/92")

    assert amend(nurse, sid, "session", "lot_number", "ESK124").status_code == 201
    at_40 = VitalReading.objects.get(session_id=sid, systolic=150)
    assert amend(nurse, sid, f"reading:{at_40.pk}", "systolic", "158").status_code == 201
    first = TreatmentSession.objects.get(pk=sid).dose_started_at
    estimate = (first + timedelta(minutes=70)).isoformat()
    assert amend(nurse, sid, "session", "could_have_left_at", estimate).status_code == 201
    form.refresh_from_db()
    assert (form.data["lot_number"], form.data["bp_40_min"]) == ("ESK124", "158/92")
    assert form.data["minutes_until_ready"] == 70
    assert Administration.objects.get(session_id=sid).lot_number == "ESK123"  # original kept


def test_an_amended_could_have_left_at_must_be_a_time_in_the_session(esk, clinic, staff):
    nurse, sid, _ = signed_esk(esk, clinic, staff)
    for value in ("soon", "25:00", (timezone.now() + timedelta(hours=2)).isoformat()):
        refused = amend(nurse, sid, "session", "could_have_left_at", value)
        assert refused.status_code == 422, value
        assert refused.json()["detail"][0]["loc"] == ["body", "new_value"]
    assert not Amendment.objects.filter(session_id=sid).exists()


def test_an_amendment_after_submission_is_flagged_on_the_form(esk, clinic, staff, login):
    nurse, sid, _ = signed_esk(esk, clinic, staff)
    form = RemsForm.objects.get(session_id=sid)
    page = login(staff["admin"])
    page.post(
        f"/treatment/rems/{form.pk}/submitted/",
        {"submitted_on": clinic.today().isoformat()},
    )
    form.refresh_from_db()
    assert form.submitted_on is not None
    assert (
        "Amended after submission" not in page.get(f"/treatment/rems/{form.pk}/").content.decode()
    )

    assert amend(nurse, sid, "session", "lot_number", "ESK999").status_code == 201
    form.refresh_from_db()
    assert form.data["lot_number"] == "ESK123"  # what was reported stays as reported
    html = page.get(f"/treatment/rems/{form.pk}/").content.decode()
    assert "Amended after submission" in html
    assert "Lot number: reported “ESK123”, now “ESK999”" in html
    assert "Amended after submission: Lot number: reported ESK123, now ESK999." in pdf_text(
        page.get(f"/treatment/rems/{form.pk}/form.pdf").content
    )


def test_bp_end_is_a_reading_after_the_40_minute_one(esk):
    from ketaclinic.treatment.rems import form_data, missing_fields

    nurse, sid, first = esk["nurse"], esk["sid"], esk["first"]
    for minutes in (0, 5):
        post(
            nurse,
            f"/api/v1/sessions/{sid}/devices",
            {"given_at": (first + timedelta(minutes=minutes)).isoformat()},
        )
    post(
        nurse,
        f"/api/v1/sessions/{sid}/dosing/end",
        {"drawn": 2, "given": 2, "left_over": 0, "version": get(nurse, sid)["version"]},
    )
    post(
        nurse,
        f"/api/v1/sessions/{sid}/vitals",
        {"systolic": 150, "diastolic": 92, "taken_at": (first + timedelta(minutes=40)).isoformat()},
    )
    session = TreatmentSession.objects.get(pk=sid)
    data = form_data(session)
    assert (data["bp_40_min"], data["bp_end"]) == ("150/92", None)
    assert "bp_end" in {m["field"] for m in missing_fields(data)}
    post(nurse, f"/api/v1/sessions/{sid}/vitals", {"systolic": 126, "diastolic": 80})
    assert form_data(session)["bp_end"] == "126/80"


def test_the_rems_listing_shows_every_unsubmitted_form_and_pages_submitted_ones(
    monkeypatch, clinic, staff, esk_appointment, esk_patient, login, api_client
):
    from ketaclinic.scheduling.models import Appointment
    from ketaclinic.treatment import rems

    monkeypatch.setattr(rems, "SUBMITTED_PER_PAGE", 2)
    today = clinic.today()

    def form(days_ago, submitted_days_ago=None):
        appointment = Appointment.objects.create(
            clinic=clinic,
            patient=esk_patient,
            kind="treatment",
            room=esk_appointment.room,
            course=esk_appointment.course,
            start=esk_appointment.start - timedelta(days=days_ago),
            end=esk_appointment.end - timedelta(days=days_ago),
            status="completed",
        )
        session = TreatmentSession.objects.create(
            clinic=clinic,
            patient=esk_patient,
            appointment=appointment,
            course=esk_appointment.course,
            room=esk_appointment.room,
            protocol_code="esketamine-nasal",
            protocol_version=1,
            drug="esketamine",
            route="intranasal",
            state="discharged",
            started_at=appointment.start,
            started_by=staff["nurse"].user,
        )
        return RemsForm.objects.create(
            clinic=clinic,
            session=session,
            form_version="PMF-2025",
            data={"patient_name": "Tom Berg"},
            due_on=today - timedelta(days=days_ago - 7),
            submitted_on=None
            if submitted_days_ago is None
            else today - timedelta(days=submitted_days_ago),
            submitted_by=None if submitted_days_ago is None else staff["nurse"].user,
        )

    oldest, older, old = form(40, 30), form(30, 20), form(20, 10)
    overdue, due = form(10), form(0)
    admin = api_client(staff["admin"])
    first_page = [f["id"] for f in admin.get("/api/v1/rems-forms").json()]
    assert first_page == [overdue.pk, due.pk, old.pk, older.pk]
    second_page = [f["id"] for f in admin.get("/api/v1/rems-forms?page=2").json()]
    assert second_page == [overdue.pk, due.pk, oldest.pk]

    html = login(staff["admin"]).get("/treatment/rems/").content.decode()
    assert f"/treatment/rems/{overdue.pk}/form.csv" in section(html, "overdue-h")
    assert f"/treatment/rems/{due.pk}/form.csv" in section(html, "due-h")
    submitted = section(html, "submitted-h")
    assert "✓ Submitted</span> 3" in submitted and "Page 1 of 2" in submitted
    assert f"/treatment/rems/{oldest.pk}/form.csv" not in submitted
