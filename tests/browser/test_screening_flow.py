"""Done means: a clinician takes a referred patient through intake, a baseline questionnaire,
an explained eligibility evaluation, the physician's decision and a signed consent."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from ketaclinic.patients.models import Patient
from ketaclinic.screening.gates import missing_for_course
from ketaclinic.screening.models import Consent, IntakeVersion, Screening
from tests.browser.conftest import PHONE, SCREENSHOTS, landed, log_in, log_out, snap
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_referred_patient_goes_from_intake_to_signed_consent(page, staff, patient):
    assert patient.status == "referred"
    log_in(page, "okafor", PASSWORD)
    landed(page)

    # 1. Intake, filled in by the nurse on one screen.
    page.goto(f"/patients/{patient.pk}/")
    page.get_by_role("link", name="Intake").first.click()
    page.wait_for_url(f"**/screening/patients/{patient.pk}/intake/")
    page.get_by_label("Diagnoses reviewed").check()
    page.get_by_label("Major depressive disorder (including treatment-resistant)").check()
    page.get_by_label("Antidepressant trials asked").check()
    page.get_by_label("Trial 1 antidepressant").fill("Sertraline")
    page.get_by_label("Trial 1 dose").fill("150 mg/day")
    page.get_by_label("Trial 1 weeks").fill("8")
    page.locator("input[name='trial-0-adequate_dose']").check()
    page.get_by_label("Trial 1 response").select_option("none")
    page.get_by_role("button", name="+ Add a trial").click()
    page.get_by_label("Trial 2 antidepressant").fill("Venlafaxine XR")
    page.get_by_label("Trial 2 dose").fill("225 mg/day")
    page.get_by_label("Trial 2 weeks").fill("10")
    page.locator("input[name='trial-1-adequate_dose']").check()
    page.get_by_label("Trial 2 response").select_option("partial")
    page.get_by_label("Medical history checklist asked (every item)").check()
    page.get_by_label("Current medications asked (every class)").check()
    page.get_by_label("Oral antidepressant").check()
    page.get_by_label("Systolic BP (mmHg)").fill("128")
    page.get_by_label("Diastolic BP (mmHg)").fill("82")
    page.get_by_label("Heart rate (bpm)").fill("72")
    page.get_by_label("Today's C-SSRS risk").select_option("low")
    snap(page, "screening-intake-form")
    page.get_by_role("button", name="Save intake").click()
    page.get_by_text("Intake saved as version 1.").wait_for()
    intake = IntakeVersion.objects.get(patient=patient)
    assert [t["drug"] for t in intake.data["trials"]] == ["Sertraline", "Venlafaxine XR"]

    # 2. Baseline questionnaire: PHQ-9 entered by the nurse, 2 ("more than half the days")
    # on items 1-8 and 0 on item 9, so 16 (moderately severe) with no suicidality alert.
    page.goto(reverse("measure_entry", args=[patient.pk]) + "?instrument=phq9")
    items = page.locator(".q-item")
    expect(items).to_have_count(9)
    for index in range(8):
        items.nth(index).locator("label.q-option").nth(2).click()
    items.nth(8).locator("label.q-option").nth(0).click()
    page.get_by_role("button", name="Save and score").click()
    page.get_by_role("link", name="Back to the chart").first.wait_for()

    # 3. An explained eligibility evaluation.
    page.goto(f"/screening/patients/{patient.pk}/intake/")
    page.get_by_label("Protocol").select_option("ketamine-iv-mood")
    page.get_by_role("button", name="Evaluate eligibility").click()
    page.wait_for_url("**/screening/*/")
    screening = Screening.objects.get(patient=patient)
    assert screening.result == "eligible"
    expect(page.get_by_text("✓ Eligible").first).to_be_visible()
    expect(
        page.get_by_text("Ketamine for mood and anxiety disorders is off-label.")
    ).to_be_visible()
    expect(page.get_by_text("Source: ASKP3")).to_be_visible()
    expect(page.get_by_text("… Awaiting physician decision")).to_be_visible()
    assert page.get_by_role("button", name="Sign decision").count() == 0  # nurses do not decide
    snap(page, "screening-result")
    log_out(page)

    # 4. The physician decides.
    log_in(page, "drchen", PASSWORD)
    landed(page)
    page.goto(f"/screening/{screening.pk}/")
    page.get_by_label("Accept").check()
    page.get_by_role("button", name="Sign decision").click()
    page.get_by_text("Decision signed.").wait_for()
    expect(page.get_by_text("✓ Accepted").first).to_be_visible()
    expect(page.locator(".signoff")).to_contain_text("by Lena Chen")
    snap(page, "screening-decided")
    patient.refresh_from_db()
    assert patient.status == "active"

    # The consultation note ties intake, baseline scores and the decision together.
    page.goto(f"/screening/patients/{patient.pk}/consultation/")
    page.get_by_label("Screening decision").select_option(str(screening.pk))
    page.get_by_label("Consultation note").fill(
        "TRD, two failed adequate trials. Discussed IV ketamine."
    )
    page.get_by_role("button", name="Sign note").click()
    page.get_by_text("Consultation note signed.").wait_for()
    # The signed note carries the baseline score it was signed with.
    expect(page.locator(".note").first).to_contain_text("PHQ9 16 (Moderately severe)")
    snap(page, "screening-consultation")

    # 5. Signed consent on the tablet, witnessed by the logged-in physician.
    page.goto(f"/patients/{patient.pk}/")
    expect(page.get_by_text("⚠ No consent")).to_be_visible()
    page.get_by_text("Sign a consent").click()
    page.get_by_role("link", name="Sign consent: IV ketamine (mood)").click()
    expect(page.get_by_text("off-label").first).to_be_visible()
    for box in page.locator(".consent-form input[type=checkbox]").all():
        box.check()
    page.get_by_label("Type your full name to sign").fill("Maria Garcia")
    snap(page, "screening-consent-sign")
    page.get_by_role("button", name="Sign consent").click()
    page.get_by_text("Consent signed for IV ketamine (mood).").wait_for()
    consent = Consent.objects.get(patient=patient)
    assert consent.witness_name == "Lena Chen"
    header = page.get_by_role("region", name="Patient", exact=True).inner_text()
    assert f"✓ Consent: IV ketamine (mood), valid to {consent.expires_on:%Y-%m-%d}" in header
    snap(page, "screening-consent-signed")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    assert open(download.value.path(), "rb").read() == bytes(consent.pdf)

    page.get_by_role("link", name="Back to chart").click()
    section = page.get_by_role("region", name="Consultation and eligibility")
    expect(section).to_contain_text("✓ Accepted")
    expect(section).to_contain_text("Version 1")
    snap(page, "screening-chart")

    assert (
        missing_for_course(
            patient=Patient.objects.get(pk=patient.pk),
            family="ketamine-iv-mood",
            on=patient.clinic.today(),
        )
        == []
    )


def test_the_consent_page_reads_on_a_phone(page, staff, patient):
    page.set_viewport_size(PHONE)
    log_in(page, "okafor", PASSWORD)
    landed(page)
    page.goto(f"/screening/patients/{patient.pk}/consent/esketamine-nasal/")
    expect(page.get_by_text("SPRAVATO REMS patient enrollment")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    snap(page, "screening-consent-phone")


def test_the_chart_section_and_intake_read_on_a_phone(page, staff, patient):
    from ketaclinic.accounts.access import Actor
    from ketaclinic.screening import services

    nurse = Actor(staff["nurse"].user, staff["nurse"])
    doctor = Actor(staff["physician"].user, staff["physician"])
    screening = services.run_screening(
        actor=nurse,
        patient=patient,
        protocol="ketamine-iv-mood",
        overrides={"history": ["psychosis_current"]},
    )
    services.decide(
        actor=doctor,
        screening=screening,
        decision="override",
        reason="Psychosis resolved; treating psychiatrist agrees after review.",
    )
    page.set_viewport_size(PHONE)
    log_in(page, "okafor", PASSWORD)
    landed(page)
    page.goto(f"/patients/{patient.pk}/")
    section = page.get_by_role("region", name="Consultation and eligibility")
    expect(section).to_contain_text("⚑ Accepted (override)")
    box = section.bounding_box()
    assert box["x"] + box["width"] <= PHONE["width"]
    assert (
        page.evaluate(
            "Math.max(...[...document.querySelectorAll('.screening-panel *')]"
            ".map(e => e.getBoundingClientRect().right))"
        )
        <= PHONE["width"]
    )
    snap(page, "screening-chart-phone")
    section.screenshot(path=str(SCREENSHOTS / "screening-chart-section-phone.png"))
    page.goto(f"/screening/patients/{patient.pk}/intake/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    snap(page, "screening-intake-phone")
