"""Audit findings on the monitored session: overrides, discharge timing, stops, the ledger, locking."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from ketaclinic.inventory import services as inventory
from ketaclinic.inventory.models import LedgerEntry
from ketaclinic.treatment import reports, services
from ketaclinic.treatment.models import (
    Administration,
    ChecklistResult,
    SessionEvent,
    TreatmentSession,
    VitalReading,
)
from ketaclinic.treatment.session_fields import latest_clock_time

from .conftest import (
    actor,
    api_post,
    clear_to_dose,
    clinic_today,
    fasted,
    pdf_text,
    questionnaire_today,
    stock_lot,
)

GOOD = {"systolic": 128, "diastolic": 80, "heart_rate": 72, "spo2": 98, "respiratory_rate": 14}


def get(client, sid):
    return client.get(f"/api/v1/sessions/{sid}").json()


def item(body, item_id):
    return next(i for i in body["checklist"] if i["item"] == item_id)


def ago(minutes):
    return timezone.now() - timedelta(minutes=minutes)


def tick(nurse, body):
    for row in body["checklist"]:
        if not row["automatic"] and row["status"] == "pending":
            body = api_post(
                nurse,
                f"/api/v1/sessions/{body['id']}/checklist/{row['item']}",
                {"met": True, "version": body["version"], **fasted(row["item"])},
            ).json()
    return body


def start_iv(staff, api_client, iv_appointment, clinic, patient, *, began=100):
    """An IV session started `began` minutes ago, checklist ticked, no reading yet."""
    nurse, physician = api_client(staff["nurse"]), api_client(staff["physician"])
    questionnaire_today(clinic, patient)
    body = api_post(nurse, f"/api/v1/appointments/{iv_appointment.pk}/session").json()
    TreatmentSession.objects.filter(pk=body["id"]).update(started_at=ago(began + 15))
    return nurse, physician, tick(nurse, get(nurse, body["id"]))


def vitals(nurse, sid, taken_at=None, **values):
    body = {**GOOD, **values}
    if taken_at is not None:
        body["taken_at"] = taken_at.isoformat()
    response = api_post(nurse, f"/api/v1/sessions/{sid}/vitals", body)
    assert response.status_code == 201, response.content
    return response.json()


def iv_dosing(staff, api_client, iv_appointment, clinic, patient, *, began=100, **dosing):
    """An IV infusion that started `began` minutes ago (pre-dose vitals in range)."""
    nurse, physician, body = start_iv(
        staff, api_client, iv_appointment, clinic, patient, began=began
    )
    sid = body["id"]
    vitals(nurse, sid, ago(began + 5))
    body = get(nurse, sid)
    response = api_post(
        nurse,
        f"/api/v1/sessions/{sid}/dosing",
        {
            "product": "Ketamine 10 mg/mL",
            "lot_number": "L1",
            "started_at": ago(began).isoformat(),
            "version": body["version"],
            **dosing,
        },
    )
    assert response.status_code == 200, response.content
    return nurse, physician, response.json()


def iv_monitoring(staff, api_client, iv_appointment, clinic, patient, *, ended=60):
    """Infusion from 100 to `ended` minutes ago; nothing recorded after it yet."""
    nurse, physician, body = iv_dosing(staff, api_client, iv_appointment, clinic, patient)
    response = api_post(
        nurse,
        f"/api/v1/sessions/{body['id']}/dosing/end",
        {
            "drawn": 3.5,
            "given": 3.5,
            "left_over": 0,
            "ended_at": ago(ended).isoformat(),
            "version": body["version"],
        },
    )
    assert response.status_code == 200, response.content
    return nurse, physician, response.json()["id"]


def observe(nurse, sid, kind, value, taken_at=None):
    body = {"kind": kind, "value": value}
    if taken_at is not None:
        body["taken_at"] = taken_at.isoformat()
    response = api_post(nurse, f"/api/v1/sessions/{sid}/observations", body)
    assert response.status_code == 201, response.content


def assess(nurse, sid, **answers):
    body = {
        "dissociation_resolved": True,
        "walks_steadily": True,
        "escort_present": True,
        "respiratory_depression": False,
        **answers,
        "version": get(nurse, sid)["version"],
    }
    response = api_post(nurse, f"/api/v1/sessions/{sid}/assessment", body)
    assert response.status_code == 200, response.content
    return response.json()


# --- 1. an override covers the finding it was given for ---------------------------------------


def test_an_override_lapses_when_a_worse_reading_changes_the_finding(
    staff, api_client, iv_appointment, clinic, patient
):
    nurse, physician, body = start_iv(staff, api_client, iv_appointment, clinic, patient)
    sid = body["id"]
    vitals(nurse, sid, systolic=145, diastolic=85)
    body = get(nurse, sid)
    assert item(body, "predose_vitals_in_range")["blocks"]
    overridden = api_post(
        physician,
        f"/api/v1/sessions/{sid}/checklist/predose_vitals_in_range/override",
        {"reason": "White-coat rise, known to me", "version": body["version"]},
    ).json()
    assert not item(overridden, "predose_vitals_in_range")["blocks"]

    vitals(nurse, sid, systolic=210, diastolic=125)
    body = get(nurse, sid)
    row = item(body, "predose_vitals_in_range")
    assert (row["status"], row["overridden"], row["blocks"]) == ("failed", False, True)
    assert row["finding"].startswith("Systolic BP 210 mmHg")
    lapsed = [e["text"] for e in body["timeline"] if e["kind"] == "override_lapsed"]
    assert len(lapsed) == 1
    assert lapsed[0].startswith(f"Override of '{row['label']}' no longer applies: the finding ")
    assert "changed to: Systolic BP 210 mmHg" in lapsed[0]
    assert (
        ChecklistResult.objects.get(
            session_id=sid, item_id="predose_vitals_in_range"
        ).override_by_id
        is None
    )

    refused = api_post(
        nurse,
        f"/api/v1/sessions/{sid}/dosing",
        {"product": "Ketamine 10 mg/mL", "lot_number": "L1", "version": body["version"]},
    )
    assert refused.status_code == 409
    assert [b["item"] for b in refused.json()["blocking"]] == ["predose_vitals_in_range"]
    after = get(nurse, sid)
    assert (after["state"], after["administration"]) == ("pre_dose", None)


def test_an_override_stored_for_another_finding_does_not_unblock():
    """The model itself: an override applies to the finding it names, nothing else."""
    row = ChecklistResult(
        hard_stop=True,
        status="failed",
        finding="Systolic BP 210 mmHg ...",
        override_by_id=1,
        override_reason="seen",
        override_finding="Systolic BP 145 mmHg ...",
    )
    assert row.blocks
    row.override_finding = row.finding
    assert not row.blocks


# --- 4. only a failed item can be overridden ----------------------------------------------------


def test_a_physician_cannot_override_an_item_nobody_has_checked(staff, api_client, iv_appointment):
    nurse, physician = api_client(staff["nurse"]), api_client(staff["physician"])
    body = api_post(nurse, f"/api/v1/appointments/{iv_appointment.pk}/session").json()
    assert item(body, "identity_confirmed")["status"] == "pending"
    refused = api_post(
        physician,
        f"/api/v1/sessions/{body['id']}/checklist/identity_confirmed/override",
        {"reason": "I know her", "version": body["version"]},
    )
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("Only a failed item can be overridden")
    stored = ChecklistResult.objects.get(session_id=body["id"], item_id="identity_confirmed")
    assert (stored.override_by_id, stored.override_reason) == (None, "")
    assert get(nurse, body["id"])["version"] == body["version"]


# --- 2. discharge counts only what was checked after the dose, recently --------------------------


def test_discharge_refuses_stale_pre_dose_or_missing_checks_and_respiratory_depression(
    staff, api_client, iv_appointment, clinic, patient
):
    nurse, _, sid = iv_monitoring(staff, api_client, iv_appointment, clinic, patient, ended=60)
    observe(nurse, sid, "moaas", 5, ago(105))  # before the dose only
    vitals(nurse, sid, ago(55))  # after the infusion ended, 55 minutes ago
    assess(nurse, sid, respiratory_depression=True)
    body = get(nurse, sid)
    assert body["state"] == "monitoring"
    assert any(d["overdue"] for d in body["due"])

    refused = api_post(nurse, f"/api/v1/sessions/{sid}/discharge", {"version": body["version"]})
    assert refused.status_code == 409
    assert refused.json()["unmet"] == [
        {
            "code": "sedation",
            "message": "MOAA/S: last recorded before the dose ended; record again.",
        },
        {
            "code": "dissociation",
            "message": "CADSS-6: not recorded since the dose ended.",
        },
        {
            "code": "vitals",
            "message": "Vital signs: last recorded 55 minutes ago; they count for 15 minutes, "
            "record again.",
        },
        {
            "code": "respiratory_depression",
            "message": "Respiratory depression was recorded in this session: a physician "
            "reviews the patient before discharge.",
        },
    ]
    # The session's own view (from the rows it loaded) says the same as the refusal.
    assert get(nurse, sid)["discharge"]["unmet"] == refused.json()["unmet"]
    stored = TreatmentSession.objects.get(pk=sid)
    assert (stored.state, stored.discharged_at) == ("monitoring", None)

    vitals(nurse, sid)
    observe(nurse, sid, "moaas", 5)
    observe(nurse, sid, "moaas", 3, ago(30))  # older than the 5 just recorded: not the latest
    observe(nurse, sid, "cadss6", 0)
    assert assess(nurse, sid)["state"] == "ready_for_discharge"
    assert get(nurse, sid)["discharge"]["unmet"] == []
    done = api_post(
        nurse, f"/api/v1/sessions/{sid}/discharge", {"version": get(nurse, sid)["version"]}
    )
    assert done.status_code == 200, done.content
    assert done.json()["state"] == "discharged"


# --- 12. a new alert while ready for discharge ------------------------------------------------------


def test_a_new_alert_while_ready_for_discharge_returns_the_patient_to_monitoring(
    staff, api_client, iv_appointment, clinic, patient
):
    nurse, _, sid = iv_monitoring(staff, api_client, iv_appointment, clinic, patient)
    vitals(nurse, sid)
    observe(nurse, sid, "moaas", 5)
    observe(nurse, sid, "cadss6", 0)
    assert assess(nurse, sid)["state"] == "ready_for_discharge"

    high = vitals(nurse, sid, systolic=186, diastolic=100)
    assert [a["code"] for a in high["alerts"]] == ["hypertension"]
    body = get(nurse, sid)
    assert body["state"] == "monitoring"
    last = body["timeline"][-1]
    assert (last["from"], last["to"]) == ("ready_for_discharge", "monitoring")
    assert last["text"].startswith("New alert (hypertension): back to monitoring")


def test_unknown_vitals_fields_are_refused_by_name(
    staff, api_client, iv_appointment, clinic, patient
):
    nurse, _, body = start_iv(staff, api_client, iv_appointment, clinic, patient)
    response = api_post(
        nurse, f"/api/v1/sessions/{body['id']}/vitals", {"systolic": 120, "pulse": 80}
    )
    assert response.status_code == 422
    # Refused by the schema (StrictIn), before the handler runs: ninja names the parameter.
    assert response.json()["detail"][0]["loc"] == ["body", "payload", "pulse"]
    assert not VitalReading.objects.exists()


@pytest.mark.parametrize(
    ("now_local", "typed", "expected_local"),
    [
        # Just after midnight, a time just before it is a few minutes ago, not tomorrow.
        (datetime(2026, 3, 3, 0, 5), time(23, 58), datetime(2026, 3, 2, 23, 58)),
        (datetime(2026, 3, 3, 10, 0), time(9, 40), datetime(2026, 3, 3, 9, 40)),
        # Up to the clock skew ahead is today; later than that is yesterday's.
        (datetime(2026, 3, 3, 10, 0), time(10, 2), datetime(2026, 3, 3, 10, 2)),
        (datetime(2026, 3, 3, 10, 0), time(10, 3), datetime(2026, 3, 2, 10, 3)),
    ],
)
def test_a_typed_clock_time_is_the_most_recent_one(clinic, now_local, typed, expected_local):
    tz = clinic.tz
    now = now_local.replace(tzinfo=tz)
    assert latest_clock_time(typed, now=now, tz=tz) == expected_local.replace(tzinfo=tz)


# --- 3a / 14. stopping during dosing; the ledger is required once it holds the drug ---------------


@pytest.fixture
def ketamine_lot(staff):
    return lambda number, expiry: stock_lot(staff["nurse"], "ketamine", number, expiry=expiry)


def test_stopping_an_infusion_records_the_amounts_and_posts_them_to_the_ledger(
    staff, api_client, iv_appointment, clinic, patient, ketamine_lot
):
    lot = ketamine_lot("K2401", date(2030, 6, 30))
    nurse, _, body = iv_dosing(
        staff, api_client, iv_appointment, clinic, patient, began=20, ledger_lot_id=lot.pk
    )
    sid = body["id"]
    url = f"/api/v1/sessions/{sid}/stop"

    missing = api_post(nurse, url, {"reason": "Chest pain", "version": body["version"]})
    assert missing.status_code == 422
    assert {e["loc"][1] for e in missing.json()["detail"]} == {"drawn", "given", "left_over"}
    no_manner = api_post(
        nurse,
        url,
        {
            "reason": "Chest pain",
            "drawn": 4,
            "given": 2,
            "left_over": 2,
            "version": body["version"],
        },
    )
    assert no_manner.status_code == 422
    assert no_manner.json()["detail"][0]["loc"] == ["body", "waste_manner"]
    stored = TreatmentSession.objects.get(pk=sid)
    assert (stored.state, stored.version, stored.dose_ended_at) == (
        "dosing",
        body["version"],
        None,
    )
    assert not LedgerEntry.objects.filter(session_ref=str(sid)).exists()

    stopped = api_post(
        nurse,
        url,
        {
            "reason": "Chest pain",
            "drawn": 4,
            "given": 2,
            "left_over": 2,
            "waste_manner": "drug-disposal container",
            "version": body["version"],
        },
    )
    assert stopped.status_code == 200, stopped.content
    out = stopped.json()
    assert out["state"] == "stopped" and out["dose_ended_at"] is not None
    adm = out["administration"]
    assert (adm["drawn"], adm["given"], adm["left_over"], adm["total_given_mg"]) == (4, 2, 2, 20)
    assert adm["posted_to_ledger"] is True
    entries = {e.kind: e.quantity for e in LedgerEntry.objects.filter(session_ref=str(sid))}
    assert entries == {"administer": Decimal("0.400"), "waste": Decimal("0.400")}


def test_once_the_ledger_holds_the_drug_a_dose_must_name_a_ledger_lot(
    staff, api_client, iv_appointment, clinic, patient, ketamine_lot
):
    nurse, physician, body = start_iv(staff, api_client, iv_appointment, clinic, patient)
    sid = body["id"]
    vitals(nurse, sid, ago(5))
    body = get(nurse, sid)
    expired = ketamine_lot("OLD1", clinic_today() - timedelta(days=1))
    url = f"/api/v1/sessions/{sid}/dosing"

    free_text = api_post(
        nurse, url, {"product": "Ketamine", "lot_number": "L1", "version": body["version"]}
    )
    assert free_text.status_code == 422
    assert free_text.json()["detail"][0]["loc"] == ["body", "ledger_lot_id"]
    out_of_date = api_post(
        nurse, url, {"product": "Ketamine", "ledger_lot_id": expired.pk, "version": body["version"]}
    )
    assert out_of_date.status_code == 422
    assert out_of_date.json()["detail"][0]["loc"] == ["body", "ledger_lot_id"]
    assert "expired" in out_of_date.json()["detail"][0]["msg"]
    assert not Administration.objects.exists()
    assert TreatmentSession.objects.get(pk=sid).state == "pre_dose"

    current = ketamine_lot("K2401", date(2030, 6, 30))
    ok = api_post(
        nurse, url, {"product": "Ketamine", "ledger_lot_id": current.pk, "version": body["version"]}
    )
    assert ok.status_code == 200, ok.content
    assert ok.json()["administration"]["lot_number"] == "K2401"


# --- 5. the pregnancy test is not removed silently --------------------------------------------------


def test_removing_the_pregnancy_test_needs_a_reason_and_shows_on_the_record(
    staff, login, iv_appointment
):
    session = services.start_session(actor=actor(staff["nurse"]), appointment=iv_appointment)
    assert session.checklist.filter(item_id="pregnancy_test").exists()
    page = login(staff["nurse"])
    url = f"/treatment/sessions/{session.pk}/do/pregnancy/"

    refused = page.post(url, {"applies": "no", "version": session.version}, follow=True)
    assert "reason: Say why pregnancy is not possible" in refused.content.decode()
    session.refresh_from_db()
    assert session.pregnancy_possible is True
    assert session.checklist.filter(item_id="pregnancy_test").exists()

    page.post(
        url,
        {"applies": "no", "reason": "Hysterectomy in 2019 <per chart>", "version": session.version},
    )
    session.refresh_from_db()
    assert not session.checklist.filter(item_id="pregnancy_test").exists()
    event = SessionEvent.objects.get(session=session, kind="checklist_change")
    assert event.text == (
        "Removed from the checklist (pregnancy not possible): Pregnancy test negative, or the "
        "physician has reviewed (was not checked). Reason: Hysterectomy in 2019 <per chart>"
    )
    html = page.get(f"/treatment/sessions/{session.pk}/").content.decode()
    assert "⚑ Removed from the checklist (pregnancy not possible)" in html
    assert "Hysterectomy in 2019 &lt;per chart&gt;" in html
    story = reports.summary_story(TreatmentSession.objects.get(pk=session.pk))
    texts = [getattr(f, "text", "") for f in story]
    assert any("Removed from the checklist" in t and "&lt;per chart&gt;" in t for t in texts)


# --- 10. typed text in the PDFs ---------------------------------------------------------------------


def test_typed_markup_in_reasons_does_not_break_the_summary_pdf(
    staff, api_client, iv_appointment, clinic, patient
):
    nurse, _, body = iv_dosing(staff, api_client, iv_appointment, clinic, patient, began=10)
    sid = body["id"]
    observation = api_post(
        nurse, f"/api/v1/sessions/{sid}/observations", {"kind": "note", "text": "pain<br>3"}
    )
    assert observation.status_code == 201
    stopped = api_post(
        nurse,
        f"/api/v1/sessions/{sid}/stop",
        {
            "reason": "Nausea <b>severe & rising",
            "drawn": 3.5,
            "given": 1,
            "left_over": 2.5,
            "waste_manner": "sink <witnessed>",
            "version": get(nurse, sid)["version"],
        },
    )
    assert stopped.status_code == 200, stopped.content
    pdf = nurse.get(f"/api/v1/sessions/{sid}/summary.pdf")
    assert pdf.status_code == 200
    text = pdf_text(pdf.content)
    assert "Note: pain<br>3" in text
    assert "stopped: Nausea <b>severe & rising" in text
    assert "total given 10 mg" in text


# --- 13. esketamine devices on the ledger -----------------------------------------------------------


def test_an_unused_esketamine_device_stays_in_stock(
    staff, api_client, esk_appointment, clinic, esk_patient
):
    lot = stock_lot(staff["nurse"], "esketamine", "E1", containers=6)
    nurse, physician = api_client(staff["nurse"]), api_client(staff["physician"])
    questionnaire_today(clinic, esk_patient)
    body = api_post(nurse, f"/api/v1/appointments/{esk_appointment.pk}/session").json()
    sid = body["id"]
    TreatmentSession.objects.filter(pk=sid).update(started_at=ago(30))
    vitals(nurse, sid, ago(20))
    body = clear_to_dose(nurse, physician, get(nurse, sid))
    dosed = api_post(
        nurse,
        f"/api/v1/sessions/{sid}/dosing",
        {"product": "Spravato", "ledger_lot_id": lot.pk, "version": body["version"]},
    )
    assert dosed.status_code == 200, dosed.content
    for minutes in (10, 5):
        assert (
            api_post(
                nurse, f"/api/v1/sessions/{sid}/devices", {"given_at": ago(minutes).isoformat()}
            ).status_code
            == 201
        )
    ended = api_post(
        nurse,
        f"/api/v1/sessions/{sid}/dosing/end",
        {"drawn": 3, "given": 2, "left_over": 1, "version": get(nurse, sid)["version"]},
    )
    assert ended.status_code == 200, ended.content
    entries = list(LedgerEntry.objects.filter(session_ref=str(sid)).values_list("kind", "quantity"))
    assert entries == [("administer", Decimal("2.000"))]
    location = inventory.default_location(clinic)
    assert inventory.current_balance(lot, location) == Decimal("4.000")
