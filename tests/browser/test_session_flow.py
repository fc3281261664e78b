"""A nurse runs a complete IV session and a complete esketamine session on a tablet."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone
from playwright.sync_api import expect

from ketaclinic.treatment import checklist as checklist_module
from ketaclinic.treatment.models import DeviceDose, Observation, TreatmentSession, VitalReading
from tests.browser.conftest import landed, log_in, snap
from tests.conftest import PASSWORD
from tests.treatment.conftest import make_appointment, make_course, questionnaire_today

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def floor(monkeypatch, clinic, staff, patient, chairs_and_esk):
    monkeypatch.setattr(checklist_module.gates, "missing_items", lambda **kw: [])
    clinic.address = "12 Harbor Road, Portland ME"
    clinic.phone = "+1 207 555 0100"
    clinic.save()
    staff["nurse"].user.email = "okafor@example.org"
    staff["nurse"].user.save()
    return chairs_and_esk


@pytest.fixture
def chairs_and_esk(clinic, staff, patient):
    from ketaclinic.patients.models import Patient
    from ketaclinic.scheduling.models import Room

    rooms = [
        Room.objects.create(clinic=clinic, name=f"Chair {i}", kind="treatment_chair", position=i)
        for i in (1, 2)
    ]
    patient.weight_measured_on = clinic.today()
    patient.save()
    iv_course = make_course(
        clinic,
        patient,
        staff["physician"],
        "ketamine-iv-mood",
        "ketamine-iv-mood",
        dose_mg_per_kg=0.5,
        weight_basis="actual",
    )
    esk_patient = Patient.objects.create(
        clinic=clinic,
        mrn="MRN000002",
        given_name="Tom",
        family_name="Berg",
        birth_date=clinic.today().replace(year=1960),
        sex_at_birth="male",
        weight_kg=80,
        height_cm=180,
        weight_measured_on=clinic.today(),
    )
    esk_course = make_course(
        clinic, esk_patient, staff["physician"], "esketamine-nasal", "esketamine-nasal", dose_mg=56
    )
    questionnaire_today(clinic, patient)
    questionnaire_today(clinic, esk_patient)
    return {
        "iv": make_appointment(clinic, patient, iv_course, rooms[0]),
        "esk": make_appointment(clinic, esk_patient, esk_course, rooms[1]),
        "esk_patient": esk_patient,
    }


def submit(page, button):
    """Click a submit button and wait for what it leads to.

    A session-page form posts with htmx and its panel is swapped in place; any other
    button or link leads to another page.
    """
    if button.evaluate("b => !!(b.closest && b.closest('form[hx-post]'))"):
        with page.expect_response(lambda r: r.request.method == "POST"):
            button.click()
        page.wait_for_function(
            "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
        )
        return
    with page.expect_navigation():
        button.click()


def confirm_checklist(page):
    """Confirm every item the nurse checks by hand; fasting as the patient reports it."""
    for _ in range(12):
        buttons = page.get_by_role("button", name="Confirm:")
        if buttons.count() == 0:
            return
        food = page.get_by_label("Hours since food")
        if food.count() and not food.input_value():
            food.fill("3")
            page.get_by_label("Hours since liquids").fill("1")
        submit(page, buttons.first)
    raise AssertionError("the checklist did not finish")


def save_vitals(page, systolic, diastolic, hr=72, spo2=98, rr=14):
    form = page.locator("#vitals form.vitals-form").first
    form.get_by_label("Systolic").fill(str(systolic))
    form.get_by_label("Diastolic").fill(str(diastolic))
    form.get_by_label("Heart rate").fill(str(hr))
    form.get_by_label("SpO2").fill(str(spo2))
    form.get_by_label("Resp. rate").fill(str(rr))
    submit(page, form.get_by_role("button", name="Save vitals"))


def observe(page, kind, value):
    form = page.locator("#vitals form.vitals-form").nth(1)
    form.get_by_label("Observation").select_option(kind)
    form.get_by_label("Score").fill(str(value))
    submit(page, form.get_by_role("button", name="Save observation"))


def assess_and_discharge(page):
    form = page.locator("form.assessment")
    for name in ("dissociation_resolved", "walks_steadily", "escort_present"):
        form.locator(f"input[name={name}][value=yes]").check()
    form.locator("input[name=respiratory_depression][value=no]").check()
    submit(page, form.get_by_role("button", name="Save assessment"))


def move_back(session_id, delta):
    """Pretend `delta` has passed: move the session's recorded times back by it."""
    TreatmentSession.objects.filter(pk=session_id).update(
        started_at=F("started_at") - delta,
        dose_started_at=F("dose_started_at") - delta,
        dose_ended_at=F("dose_ended_at") - delta,
    )
    DeviceDose.objects.filter(session_id=session_id).update(given_at=F("given_at") - delta)
    VitalReading.objects.filter(session_id=session_id).update(taken_at=F("taken_at") - delta)
    Observation.objects.filter(session_id=session_id).update(taken_at=F("taken_at") - delta)


def messages_text(page):
    return page.locator(".messages").inner_text()


def form_errors_text(page):
    """What a refused form says, above its fields (the page came back as typed)."""
    return page.locator(".form-errors").first.inner_text()


def test_a_nurse_runs_an_iv_and_an_esketamine_session(page, floor, staff):
    page.set_default_timeout(30_000)  # a busy machine: the first page can take long
    log_in(page, "okafor", PASSWORD)
    landed(page)
    page.get_by_role("link", name="Chair board").click()
    page.wait_for_url("**/treatment/board/")
    waiting = page.locator(".waiting li")
    assert waiting.count() == 2
    snap(page, "treatment-board-waiting")

    # Start both sessions from the board.
    waiting.filter(has_text="Maria Garcia").get_by_role("button", name="Start session").click()
    page.wait_for_url("**/treatment/sessions/*/")
    iv_id = TreatmentSession.objects.get(patient__family_name="Garcia").pk
    page.goto("/treatment/board/")
    page.locator(".waiting li").filter(has_text="Tom Berg").get_by_role(
        "button", name="Start session"
    ).click()
    page.wait_for_url("**/treatment/sessions/*/")
    esk_id = TreatmentSession.objects.get(patient__family_name="Berg").pk

    # The board shows both, and updates without reloading.
    page.goto("/treatment/board/")
    board = page.locator("#board")
    expect(board).to_contain_text("Maria Garcia")
    expect(board).to_contain_text("Tom Berg")
    nurse = staff["nurse"].user
    VitalReading.objects.create(
        session_id=iv_id,
        taken_at=timezone.now(),
        phase="pre_dose",
        systolic=141,
        diastolic=85,
        heart_rate=70,
        spo2=98,
        respiratory_rate=14,
        recorded_by=nurse,
        recorded_at=timezone.now(),
    )
    page.locator("#board").get_by_text("BP 141/85").wait_for(timeout=15_000)
    snap(page, "treatment-board-live")

    # --- IV session ---------------------------------------------------------------------
    page.get_by_role("link", name="Chair 1: Maria Garcia, open the session").click()
    page.wait_for_url(f"**/treatment/sessions/{iv_id}/")
    expect(page.locator("#checklist")).to_contain_text("Dosing is blocked")
    confirm_checklist(page)
    save_vitals(page, 128, 80)
    expect(page.locator("#checklist")).not_to_contain_text("Dosing is blocked")
    snap(page, "treatment-iv-checklist")
    dose = page.locator("#dose form")
    assert dose.get_by_label("Dose (mg)").input_value() == "35"
    dose.get_by_label("Lot number").fill("KET24031")
    submit(page, dose.get_by_role("button", name="Start infusion"))
    expect(page.locator(".state-badge")).to_contain_text("Dosing")

    save_vitals(page, 182, 100, hr=88)
    assert "HIGH hypertension" in messages_text(page)
    expect(page.locator("#alerts")).to_contain_text("pause the infusion, notify the physician")
    snap(page, "treatment-iv-alert")

    end = page.locator("#dose form").last
    end.get_by_label("Drawn (mL)").fill("3.5")
    end.get_by_label("Given (mL)").fill("3.5")
    submit(page, end.get_by_role("button", name="Stop infusion: start monitoring"))
    expect(page.locator(".state-badge")).to_contain_text("Monitoring")

    save_vitals(page, 130, 82)
    observe(page, "moaas", 5)
    observe(page, "cadss6", 0)
    assess_and_discharge(page)
    submit(page, page.get_by_role("button", name="Discharge"))
    assert "does not yet meet the discharge criteria" in form_errors_text(page)
    listed = page.locator(".form-errors .hard-stops").inner_text()
    assert "observation lasts 30 minutes" in listed or "Observed 0 of 30" in listed
    snap(page, "treatment-iv-discharge-refused")

    # Forty minutes later (the clock is moved back in the database).
    TreatmentSession.objects.filter(pk=iv_id).update(
        dose_started_at=F("dose_started_at") - timedelta(minutes=80),
        dose_ended_at=F("dose_ended_at") - timedelta(minutes=40),
    )
    page.goto(f"/treatment/sessions/{iv_id}/")
    submit(page, page.get_by_role("button", name="Discharge"))
    assert "Patient discharged." in messages_text(page)
    submit(page, page.get_by_role("button", name="Sign session"))
    assert "Signed — read-only" in page.content()
    snap(page, "treatment-iv-signed")

    # --- esketamine session ------------------------------------------------------------------
    page.goto(f"/treatment/sessions/{esk_id}/")
    confirm_checklist(page)
    save_vitals(page, 132, 84)
    dose = page.locator("#dose form")
    dose.get_by_label("Lot number").fill("ESK24117")
    submit(page, dose.get_by_role("button", name="Start dosing"))
    submit(page, page.get_by_role("button", name="Device 1 given"))
    submit(page, page.get_by_role("button", name="Device 2 given"))
    assert "wait at least 5 minutes between devices" in page.locator("#dose").inner_text()
    assert DeviceDose.objects.filter(session_id=esk_id).count() == 1  # seconds apart: refused
    snap(page, "treatment-esketamine-device-too-soon")
    move_back(esk_id, timedelta(minutes=6))
    page.goto(f"/treatment/sessions/{esk_id}/")
    submit(page, page.get_by_role("button", name="Device 2 given"))
    assert "Device 2 recorded." in messages_text(page)
    expect(page.get_by_text("✓ All 2 devices given.")).to_be_visible()
    end = page.locator("#dose form").last
    end.get_by_label("Drawn (device)").fill("2")
    end.get_by_label("Given (device)").fill("2")
    submit(page, end.get_by_role("button", name="All devices given: start monitoring"))
    # 45 minutes later: the 40-minute BP (the clock is moved back in the database).
    move_back(esk_id, timedelta(minutes=45))
    page.reload()
    save_vitals(page, 150, 92)
    observe(page, "moaas", 5)
    observe(page, "cadss6", 0)
    save_vitals(page, 126, 80)
    assess_and_discharge(page)

    # 119 minutes after the first device: refused; at 120: allowed. The REMS form asks
    # when the patient could have left without the 2-hour rule: 95 minutes after the first.
    # The checks taken at 45 minutes are too old to count: before discharge they are taken
    # again (vitals, MOAA/S, CADSS-6).
    # (The first device went in 6 minutes before the second: 45 + 6 + 68 = 119.)
    move_back(esk_id, timedelta(minutes=119 - 45 - 6))
    page.reload()
    expect(page.locator("#discharge")).to_contain_text("Vital signs: last recorded 68 minutes ago")
    save_vitals(page, 124, 78)
    observe(page, "moaas", 5)
    observe(page, "cadss6", 0)
    could_have_left = page.get_by_label("Could have left at without the 2-hour rule")
    could_have_left.fill((timezone.now() - timedelta(minutes=24)).isoformat())
    submit(page, page.get_by_role("button", name="Discharge"))
    assert "Observed 119 of 120 minutes" in page.locator(".form-errors .hard-stops").inner_text()
    snap(page, "treatment-esk-discharge-refused")
    move_back(esk_id, timedelta(minutes=1))
    page.goto(f"/treatment/sessions/{esk_id}/")
    could_have_left.fill((timezone.now() - timedelta(minutes=25)).isoformat())
    submit(page, page.get_by_role("button", name="Discharge"))
    assert "Patient discharged." in messages_text(page)
    submit(page, page.get_by_role("button", name="Sign session"))
    snap(page, "treatment-esk-signed")
    assert "Signed — read-only" in page.content(), messages_text(page)

    submit(page, page.get_by_role("link", name="REMS Patient Monitoring Form"))
    text = page.content()
    assert "132/84" in text and "ESK24117" in text
    snap(page, "treatment-rems-form")
